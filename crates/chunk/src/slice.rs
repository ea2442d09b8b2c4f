//! The borrowed reader: events from one `&[u8]`, frames borrowing from it.

use std::borrow::Cow;

use kvs_ebml::SliceTokenizer;

use crate::decoder::Core;
use crate::{Error, Event, Options};

/// An event of [`SliceEvents`]: frames borrow the input.
pub type SliceEvent<'a> = Event<Cow<'a, [u8]>>;

/// Events from one borrowed buffer, for a caller that holds the whole input (a file read or
/// mapped into memory, a response body): each frame's data is a [`Cow::Borrowed`] slice of
/// the input, with no reference count and no `Bytes` handle to make or drop.
///
/// It is the same decoder as [`EventDecoder`](crate::EventDecoder) and
/// [`Events`](crate::Events), over kvs-ebml's [`SliceTokenizer`]: the same events in the same
/// order, the same limits, warnings and errors. The one difference is the frame's data type:
/// a frame of a track whose ContentEncodings the decoder undoes (header stripping, zlib) is a
/// new buffer, [`Cow::Owned`]; every other frame is borrowed. Every other field of every
/// event is owned (tracks, tags and metadata are copied out of the input, as they are from
/// the owned decoders).
///
/// ```
/// use std::borrow::Cow;
/// use kvs_chunk::{Event, SliceEvents};
///
/// // An EBML header, a Segment, a Cluster at timestamp 0 and one SimpleBlock of track 1.
/// let input: &[u8] = b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF\
///     \x1F\x43\xB6\x75\xFF\xE7\x81\x00\xA3\x86\x81\x00\x00\x80\xAB\xCD";
/// let mut frames = Vec::new();
/// for event in SliceEvents::new(input) {
///     if let Event::Frame(frame) = event? {
///         assert!(matches!(frame.data, Cow::Borrowed(_)));
///         frames.push(frame.data);
///     }
/// }
/// assert_eq!(frames, [&b"\xAB\xCD"[..]]);
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
///
/// The iterator yields recoverable errors (a bad block) and goes on; after a fatal error it
/// ends, after the events completed before it.
pub struct SliceEvents<'a> {
    core: Core<SliceTokenizer<'a>>,
}

impl<'a> SliceEvents<'a> {
    /// Events from `input` with default options.
    #[must_use]
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_options(input, Options::default())
    }

    /// Events from `input` with the given options.
    #[must_use]
    pub fn with_options(input: &'a [u8], opts: Options) -> Self {
        let mut core = Core::new(SliceTokenizer::with_options(input, opts), opts);
        core.take_head(input);
        core.set_finished();
        Self { core }
    }

    /// The next event, `Ok(None)` at the end (and for ever after a fatal error's `Err`).
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<SliceEvent<'a>>, Error> {
        self.core.next_event()
    }

    /// The absolute offset of the next unread byte.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Whether the input was empty (see [`EventDecoder::is_empty_input`](crate::EventDecoder::is_empty_input)).
    #[must_use]
    pub fn is_empty_input(&self) -> bool {
        self.core.is_empty_input()
    }

    /// The JSON trailer after the last document, as `(offset, length)`, once read (see
    /// [`EventDecoder::trailer`](crate::EventDecoder::trailer)).
    #[must_use]
    pub fn trailer(&self) -> Option<(u64, u64)> {
        self.core.trailer()
    }
}

impl<'a> Iterator for SliceEvents<'a> {
    type Item = Result<SliceEvent<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.core.next_item()
    }
}
