//! Fragment granularity: all of a fragment's events in one value.

use crate::{Error, Event, FragmentEnd, FragmentMetadata, FragmentNumber, Frame, ErrorChunk, Tag, Track};

/// One whole fragment (one document of a GetMedia payload, or one of the fragments of a
/// merged document).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fragment {
    /// The document's index in the stream.
    pub index: u64,
    /// The fragment's position in its document: 0 for the first (the only one in a GetMedia
    /// payload), 1, 2 ... for the next fragments of a merged document.
    pub fragment: u64,
    /// The absolute offset of its first byte: the document's for the first fragment, else
    /// the offset of the element that started it (see [`Event::FragmentStart`]).
    pub offset: u64,
    /// The tracks its document declares (empty for a document without Tracks, such as an
    /// error chunk).
    pub tracks: Vec<Track>,
    /// The service's metadata, if the document had any.
    pub metadata: Option<FragmentMetadata>,
    /// The frames, in stream order.
    pub frames: Vec<Frame>,
    /// The non-service tags, in stream order.
    pub tags: Vec<Tag>,
    /// In-stream errors.
    pub errors: Vec<ErrorChunk>,
    /// The end: millis-behind-now, continuation token, completeness.
    pub end: FragmentEnd,
}

impl Fragment {
    /// Whether the fragment's continuation token arrived.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.end.complete
    }

    /// The fragment number, if the service sent one.
    #[must_use]
    pub fn fragment_number(&self) -> Option<&FragmentNumber> {
        self.metadata.as_ref().and_then(|m| m.fragment_number.as_ref())
    }
}

/// Gathers events into [`Fragment`]s; push events in, take fragments out.
#[derive(Debug, Default)]
pub struct FragmentAssembler {
    current: Option<Fragment>,
}

// (A fragment after a `FragmentStart` takes the `Tracks` event that follows it; when the
// decoder did not repeat them, see `WarningKind::TracksNotRepeated`, its tracks stay empty.)

impl FragmentAssembler {
    /// An empty assembler.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event; returns a fragment when one is complete (at its `FragmentEnd`). A
    /// merged document gives one fragment per `FragmentEnd`.
    pub fn push(&mut self, event: Event) -> Option<Fragment> {
        match event {
            Event::DocumentStart { index, offset } => {
                self.current = Some(Fragment { index, offset, ..Fragment::default() });
            }
            Event::FragmentStart { index, fragment, offset } => {
                self.current = Some(Fragment { index, fragment, offset, ..Fragment::default() });
            }
            Event::Tracks(tracks) => {
                if let Some(f) = &mut self.current {
                    f.tracks = tracks;
                }
            }
            Event::FragmentMetadata(m) => {
                if let Some(f) = &mut self.current {
                    f.metadata = Some(m);
                }
            }
            Event::Frame(frame) => {
                if let Some(f) = &mut self.current {
                    f.frames.push(frame);
                }
            }
            Event::Tag(tag) => {
                if let Some(f) = &mut self.current {
                    f.tags.push(*tag);
                }
            }
            Event::ErrorChunk(e) => {
                if let Some(f) = &mut self.current {
                    f.errors.push(e);
                }
            }
            Event::FragmentEnd(end) => {
                let mut f = self.current.take()?;
                f.end = end;
                return Some(f);
            }
            _ => {}
        }
        None
    }
}

/// An iterator of [`Fragment`]s over an iterator of events.
///
/// ```
/// use bytes::Bytes;
/// use kvs_chunk::{Events, Fragments};
///
/// let input = Bytes::from_static(b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF");
/// let fragments: Vec<_> = Fragments::new(Events::new(input)).collect::<Result<_, _>>()?;
/// assert_eq!(fragments.len(), 1);
/// assert!(!fragments[0].is_complete());
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
pub struct Fragments<I> {
    events: I,
    assembler: FragmentAssembler,
}

impl<I> Fragments<I> {
    /// Fragments over `events`.
    pub fn new(events: I) -> Self {
        Self { events, assembler: FragmentAssembler::new() }
    }
}

impl<I: Iterator<Item = Result<Event, Error>>> Iterator for Fragments<I> {
    type Item = Result<Fragment, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.events.next()? {
                Ok(e) => {
                    if let Some(f) = self.assembler.push(e) {
                        return Some(Ok(f));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
