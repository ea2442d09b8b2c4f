//! The sans-IO event decoder: tokens from kvs-ebml in, [`Event`]s out.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;

use bytes::Bytes;
use kvs_ebml::{
    BytesTokenizer, ElementHeader, ElementId, Limits, SliceTokenizer, Token, Tokenizer, Value, ids,
};

use crate::aws::{self, AwsFacts, AwsTag};
use crate::block;
use crate::encoding;
use crate::error::Error;
use crate::event::{
    AudioSettings, ContentEncoding, Event, FragmentEnd, Frame, References, Tag, TagValue, Targets, Track,
    TrackType, VideoSettings, Warning, WarningKind,
};

pub use kvs_ebml::Options;

/// The default TimestampScale: 1 ms ticks.
const DEFAULT_TIMESTAMP_SCALE: u64 = 1_000_000;

/// The largest track number a block can carry: an 8-byte VINT holds 2^56 - 2 (all ones is
/// reserved).
const MAX_TRACK_NUMBER: u64 = (1 << 56) - 2;

/// Undeclared track numbers warned about per document; later ones are not reported again.
const MAX_UNDECLARED_WARNINGS: usize = 16;

/// A SimpleTag being read.
#[derive(Default)]
struct SimpleTagState {
    offset: u64,
    name: Option<Bytes>,
    value: TagValue,
    language: Option<String>,
    default: Option<bool>,
    /// Index of the enclosing SimpleTag in `TagState::simple`.
    parent: Option<usize>,
}

/// An open SimpleTag: kept (an index into `TagState::simple`), or over the document's tag
/// budget and read only to find the service's own tags.
enum OpenTag {
    Kept(usize),
    Over(Box<SimpleTagState>),
}

/// A Tag being read.
#[derive(Default)]
struct TagState {
    offset: u64,
    targets: Targets,
    simple: Vec<SimpleTagState>,
    open: Vec<OpenTag>,
    /// SimpleTags dropped over the budget, and their bytes.
    dropped: u64,
    dropped_bytes: u64,
    /// The first invalid service tag value read in an over-budget SimpleTag.
    error: Option<Error>,
}

/// A BlockGroup being read.
#[derive(Default)]
struct GroupState<B> {
    block: Option<(B, u64)>,
    extra_blocks: u64,
    duration: Option<u64>,
    references: Vec<i64>,
    references_seen: u64,
}

/// What a BlockGroup adds to its Block's frames.
struct GroupInfo {
    duration: Option<u64>,
    references: References,
    keyframe: bool,
}

/// Per-document state.
struct Document<B> {
    index: u64,
    offset: u64,
    timestamp_scale: u64,
    /// The last complete Tracks element's tracks.
    tracks: Vec<Track>,
    /// Whether a Tracks element has completed in this document.
    tracks_seen: bool,
    /// Whether a track of `tracks` has encodings to undo on its frames.
    encoded: bool,
    /// The entries of the Tracks element being read.
    pending_tracks: Vec<Track>,
    /// TrackEntries dropped over `Limits::max_track_entries` in the Tracks being read.
    entries_dropped: u64,
    track: Option<Track>,
    /// The last block track number found in `tracks` (the check is then one comparison).
    last_declared: Option<u64>,
    /// Undeclared track numbers already warned about.
    undeclared_warned: Vec<u64>,
    /// SimpleTags kept in this document, and the bytes of their names and values.
    tags_kept: usize,
    tag_bytes: u64,
    cluster_timestamp: Option<u64>,
    /// The open cluster's offset, until its `Event::Cluster` has been sent.
    cluster_pending: Option<u64>,
    /// Whether a Cluster has begun: a continuation token read before any cluster (a layout
    /// some producers write) ends the fragment only when the document ends, so that the
    /// frames that follow it stay inside the fragment.
    cluster_seen: bool,
    group: Option<GroupState<B>>,
    tag: Option<TagState>,
    aws: AwsFacts,
    /// The current fragment's position in the document (0, then 1, 2 ... in a merged file).
    fragment: u64,
    /// Bytes of track text repeated so far in `Tracks` events after `FragmentStart`s: bounded
    /// by the document's size (see `Document::start_fragment`).
    tracks_repeated: u64,
    /// Non-service tag events read after the fragment ended: they go to the next fragment
    /// when one starts, else after the `FragmentEnd` when the document ends. Bounded by the
    /// document's tag budget.
    // Boxed as `Event::Tag` holds them: they move into their events as they are.
    #[allow(clippy::vec_box)]
    held_tags: Vec<Box<Tag>>,
}

impl<B: Input> Document<B> {
    fn new(index: u64, offset: u64) -> Self {
        Self {
            index,
            offset,
            timestamp_scale: DEFAULT_TIMESTAMP_SCALE,
            tracks: Vec::new(),
            tracks_seen: false,
            encoded: false,
            pending_tracks: Vec::new(),
            entries_dropped: 0,
            track: None,
            last_declared: None,
            undeclared_warned: Vec::new(),
            tags_kept: 0,
            tag_bytes: 0,
            cluster_timestamp: None,
            cluster_pending: None,
            cluster_seen: false,
            group: None,
            tag: None,
            aws: AwsFacts::default(),
            fragment: 0,
            tracks_repeated: 0,
            held_tags: Vec::new(),
        }
    }

    /// A further fragment begins in this document (a merged file) if the current one has
    /// ended: queues `FragmentStart`, the document's tracks again and the held tags.
    fn start_fragment(&mut self, queue: &mut VecDeque<Ev<B>>, offset: u64) {
        if !self.aws.end_sent {
            return;
        }
        self.fragment = self.fragment.saturating_add(1);
        self.aws = AwsFacts::default();
        self.cluster_seen = false;
        queue.push_back(Event::FragmentStart { index: self.index, fragment: self.fragment, offset });
        // Repeating the tracks copies their text: a hostile file of many tiny fragments and
        // huge track names must not turn a few bytes into megabytes of copies. The copies
        // stay within 8 times the document's bytes so far (plus 1 MiB), then stop, said so.
        let weight = self.tracks.iter().map(track_weight).fold(0u64, u64::saturating_add);
        let budget = offset.saturating_sub(self.offset).saturating_mul(8).saturating_add(1 << 20);
        let repeated = self.tracks_repeated.saturating_add(weight);
        if repeated <= budget {
            self.tracks_repeated = repeated;
            queue.push_back(Event::Tracks(self.tracks.clone()));
        } else {
            queue.push_back(warning(self, offset, WarningKind::TracksNotRepeated));
        }
        queue.extend(self.held_tags.drain(..).map(Event::Tag));
    }

    /// Records a service tag; a start tag (fragment number, timestamps) read after the
    /// fragment ended starts the next fragment first.
    fn record_service(
        &mut self,
        queue: &mut VecDeque<Ev<B>>,
        tag: AwsTag,
        value: &TagValue,
        offset: u64,
        tag_offset: u64,
    ) -> Result<(), Error> {
        if matches!(tag, AwsTag::FragmentNumber | AwsTag::ServerTimestamp | AwsTag::ProducerTimestamp) {
            self.start_fragment(queue, tag_offset);
        }
        self.aws.record(tag, value, offset)
    }
}

/// The event decoder: feed `Bytes` chunks of any size, pull [`Event`]s.
///
/// ```
/// use bytes::Bytes;
/// use kvs_chunk::{Event, EventDecoder};
///
/// # let input = Bytes::from_static(b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF");
/// let mut decoder = EventDecoder::new();
/// decoder.feed(input);
/// decoder.finish();
/// let mut documents = 0;
/// while let Some(event) = decoder.next_event()? {
///     if let Event::DocumentStart { .. } = event {
///         documents += 1;
///     }
/// }
/// assert_eq!(documents, 1);
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
pub struct EventDecoder {
    core: Core<Tokenizer>,
}

/// What the decoder reads its tokens from: the streaming [`Tokenizer`] (payloads as `Bytes`),
/// the [`BytesTokenizer`] (payloads as `Bytes` slices of one whole input) or the
/// [`SliceTokenizer`] (payloads borrowed from one `&[u8]`).
pub(crate) trait Source {
    /// What the source's payloads are.
    type B: Input;
    fn next_token(&mut self) -> Result<Option<Token<Self::B>>, kvs_ebml::Error>;
    fn next_leaf_in(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, Self::B)>;
    fn is_done(&self) -> bool;
    fn offset(&self) -> u64;
    /// Whether the source can return nothing until it is fed more (an element split across
    /// chunks being gathered): `next_token` would return `Ok(None)`.
    fn waiting(&self) -> bool {
        false
    }
}

/// `Source` for a kvs-ebml tokenizer whose payloads are `$b`: its own methods.
macro_rules! source {
    ($t:ty, $b:ty $(, $l:lifetime)? $(; waiting: $w:path)?) => {
        impl$(<$l>)? Source for $t {
            type B = $b;
            #[inline]
            fn next_token(&mut self) -> Result<Option<Token<$b>>, kvs_ebml::Error> {
                <$t>::next_token(self)
            }
            #[inline(always)]
            fn next_leaf_in(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, $b)> {
                <$t>::next_leaf_in(self, id, parent)
            }
            fn is_done(&self) -> bool {
                <$t>::is_done(self)
            }
            fn offset(&self) -> u64 {
                <$t>::offset(self)
            }
            $(
                #[inline]
                fn waiting(&self) -> bool {
                    $w(self)
                }
            )?
        }
    };
}

source!(Tokenizer, Bytes; waiting: Tokenizer::needs_input);
source!(BytesTokenizer, Bytes);
source!(SliceTokenizer<'a>, &'a [u8], 'a);

/// What a payload is, and how frames and owned values are made of it: `Bytes` (frames are
/// `Bytes` slices) or `&[u8]` (frames are borrowed `Cow`s).
pub(crate) trait Input: Clone + AsRef<[u8]> + Default {
    /// A frame's data.
    type Data;
    /// The bytes `r` of the payload (within it).
    fn sub(&self, r: Range<usize>) -> Self;
    /// The payload past its first `n` bytes.
    fn skip(self, n: usize) -> Self;
    /// The payload as a frame's data.
    fn data(self) -> Self::Data;
    /// A frame's data made anew (a decoded ContentEncoding).
    fn decoded(b: Bytes) -> Self::Data;
    /// The payload as `Bytes`: itself, or a copy of borrowed bytes.
    fn into_bytes(self) -> Bytes;
}

impl Input for Bytes {
    type Data = Bytes;
    #[inline]
    fn sub(&self, r: Range<usize>) -> Self {
        self.slice(r)
    }
    #[inline]
    fn skip(mut self, n: usize) -> Self {
        // Advancing in place: no reference count to touch.
        let n = n.min(self.len());
        bytes::Buf::advance(&mut self, n);
        self
    }
    #[inline]
    fn data(self) -> Bytes {
        self
    }
    fn decoded(b: Bytes) -> Bytes {
        b
    }
    fn into_bytes(self) -> Bytes {
        self
    }
}

impl<'a> Input for &'a [u8] {
    type Data = Cow<'a, [u8]>;
    #[inline]
    fn sub(&self, r: Range<usize>) -> Self {
        self.get(r).unwrap_or_default()
    }
    #[inline]
    fn skip(self, n: usize) -> Self {
        self.get(n..).unwrap_or_default()
    }
    #[inline]
    fn data(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self)
    }
    fn decoded(b: Bytes) -> Cow<'a, [u8]> {
        Cow::Owned(Vec::from(b))
    }
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

/// What the hot path needs of the open cluster: the track of the last block (declared), the
/// cluster's timestamp and the document's scale.
#[derive(Clone, Copy)]
struct Hot {
    track: u64,
    cluster_ticks: i64,
    scale: i64,
}

impl Hot {
    /// The hot state of `doc`'s open cluster, if the document allows it: the cluster
    /// announced, no encodings, the last block's track declared, a cluster timestamp and
    /// scale that fit i64.
    fn of<B>(doc: &Document<B>) -> Option<Self> {
        if doc.cluster_pending.is_some() || doc.encoded {
            return None;
        }
        Some(Self {
            track: doc.last_declared?,
            cluster_ticks: i64::try_from(doc.cluster_timestamp.unwrap_or(0)).ok()?,
            scale: i64::try_from(doc.timestamp_scale).ok()?,
        })
    }

    /// The SimpleBlock `payload` as its frame, when it is an unlaced block of `track` whose
    /// timestamp computes in i64 arithmetic; else the payload back, for the general path.
    #[inline(always)]
    fn frame<B: Input>(self, payload: B, offset: u64) -> Result<Ev<B>, B> {
        match self.check(payload.as_ref()) {
            Some((header, timestamp_ns)) => {
                Ok(Event::Frame(Self::make(header, timestamp_ns, payload, offset)))
            }
            None => Err(payload),
        }
    }

    /// The block header and timestamp of the SimpleBlock `payload` when it is an unlaced
    /// block of `track` whose timestamp computes in i64 arithmetic.
    #[inline(always)]
    fn check(self, payload: &[u8]) -> Option<(block::BlockHeader, i64)> {
        let header = block::parse_header(payload).ok()?;
        if header.lacing != block::Lacing::None || header.track != self.track {
            return None;
        }
        let timestamp_ns =
            self.cluster_ticks.checked_add(i64::from(header.relative_timestamp))?.checked_mul(self.scale)?;
        Some((header, timestamp_ns))
    }

    /// The frame of a block [`Hot::check`] accepted.
    #[inline(always)]
    fn make<B: Input>(
        header: block::BlockHeader,
        timestamp_ns: i64,
        payload: B,
        offset: u64,
    ) -> Frame<B::Data> {
        Frame {
            track: header.track,
            timestamp_ns,
            keyframe: header.keyframe(),
            invisible: header.invisible(),
            discardable: header.discardable(),
            duration_ns: None,
            references: References::default(),
            lace_index: 0,
            lace_count: 1,
            block_offset: offset,
            data: payload.skip(header.len).data(),
        }
    }
}

/// The event of a decoder whose payloads are `B`.
type Ev<B> = Event<<B as Input>::Data>;

/// The decoder proper, over either token source: [`EventDecoder`] and
/// [`SliceEvents`](crate::SliceEvents) are thin shells over it.
pub(crate) struct Core<S: Source> {
    src: S,
    /// Set while the next SimpleBlock may take the hot path (see `Core::arm_hot`).
    hot: Option<Hot>,
    /// The queue and limits the document's handlers write with: a field apart from `doc`,
    /// so that both are borrowed at once and the document stays in place for every token.
    out: Sink<S::B>,
    /// Ids of the open masters, outermost first.
    path: Vec<ElementId>,
    /// The open document, borrowed in place by the handlers beside `out`; boxed, as it is
    /// large and absent between documents.
    doc: Option<Box<Document<S::B>>>,
    next_index: u64,
    /// A fatal error, returned once the events before it have been delivered.
    pending: Option<Error>,
    stopped: bool,
    resync: bool,
    /// The input's first bytes, until there are four to check against the ids a Matroska
    /// stream can begin with.
    head: Vec<u8>,
    /// Whether the input's beginning has been checked (or it was empty).
    head_checked: bool,
    /// Whether the input was declared ended.
    finished: bool,
    /// The JSON trailer after the last document, if the input had one.
    trailer: Option<(u64, u64)>,
}

/// The four-byte ids a Matroska stream can begin with: the EBML header, and (for a capture
/// that begins mid-document) the Segment and its top-level children.
const STREAM_STARTS: [[u8; 4]; 10] = [
    [0x1A, 0x45, 0xDF, 0xA3], // EBML
    [0x18, 0x53, 0x80, 0x67], // Segment
    [0x1F, 0x43, 0xB6, 0x75], // Cluster
    [0x16, 0x54, 0xAE, 0x6B], // Tracks
    [0x15, 0x49, 0xA9, 0x66], // Info
    [0x12, 0x54, 0xC3, 0x67], // Tags
    [0x11, 0x4D, 0x9B, 0x74], // SeekHead
    [0x1C, 0x53, 0xBB, 0x6B], // Cues
    [0x10, 0x43, 0xA7, 0x70], // Chapters
    [0x19, 0x41, 0xA4, 0x69], // Attachments
];

/// Whether an input whose first bytes are `head` (up to four; fewer when the input is that
/// short) can be read as Matroska: it begins with the EBML header, or (a capture taken
/// mid-document) with a Segment or one of its top-level elements. The decoder refuses any
/// other input with [`Error::NotEbml`]; a tool can ask the same question before it commits
/// to reading (an empty `head` is `false`: an empty input has nothing to read).
#[must_use]
pub fn is_stream_start(head: &[u8]) -> bool {
    let head = head.get(..4).unwrap_or(head);
    !head.is_empty() && STREAM_STARTS.iter().any(|s| s.starts_with(head))
}

impl Default for EventDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventDecoder {
    /// A decoder with default options (safe limits, no resynchronisation).
    #[must_use]
    pub fn new() -> Self {
        Self::with_options(Options::default())
    }

    /// A decoder with the given tokenizer options (limits, resynchronisation, CRC checks).
    #[must_use]
    pub fn with_options(opts: Options) -> Self {
        Self { core: Core::new(Tokenizer::with_options(opts), opts) }
    }

    /// Appends a chunk of input.
    pub fn feed(&mut self, chunk: Bytes) {
        self.core.take_head(&chunk);
        self.core.src.feed(chunk);
    }

    /// Declares the end of input.
    pub fn finish(&mut self) {
        self.core.finished = true;
        self.core.src.finish();
    }

    /// Whether the input was empty: [`EventDecoder::finish`] was called without a byte fed.
    /// The decoder then gives no event and no error (an empty GetMedia payload is valid);
    /// a command reading a file may want to refuse it as not Matroska.
    #[must_use]
    pub fn is_empty_input(&self) -> bool {
        self.core.is_empty_input()
    }

    /// The JSON trailer that followed the last document, as `(offset, length)`: the
    /// response the AWS CLI prints after a GetMedia payload written to standard output. It
    /// is recognised only at the end of input (see [`kvs_ebml::Token::Trailer`]) and gives
    /// no event.
    #[must_use]
    pub fn trailer(&self) -> Option<(u64, u64)> {
        self.core.trailer()
    }

    /// The absolute offset of the next unread byte.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Bytes fed but not yet decoded.
    #[must_use]
    pub fn buffered(&self) -> u64 {
        self.core.src.buffered()
    }

    /// Whether the decoder has delivered everything (after [`EventDecoder::finish`]) or
    /// stopped at a fatal error.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The next event; `Ok(None)` when more input is needed or the input is exhausted.
    ///
    /// After a fatal error, the events completed before it are delivered first (an open
    /// fragment ends as incomplete), then the error, then `Ok(None)` for ever.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        self.core.next_event()
    }
}

impl<S: Source> Core<S> {
    pub(crate) fn new(src: S, opts: Options) -> Self {
        Self {
            src,
            hot: None,
            out: Sink { queue: VecDeque::new(), limits: opts.limits },
            path: Vec::new(),
            doc: None,
            next_index: 0,
            pending: None,
            stopped: false,
            resync: opts.resync,
            head: Vec::new(),
            head_checked: false,
            finished: false,
            trailer: None,
        }
    }

    /// Keeps the input's first bytes (up to four) for the check of its beginning.
    pub(crate) fn take_head(&mut self, chunk: &[u8]) {
        if !self.head_checked && self.head.len() < 4 {
            let take = (4usize.saturating_sub(self.head.len())).min(chunk.len());
            self.head.extend_from_slice(chunk.get(..take).unwrap_or_default());
        }
    }

    /// Declares that the source holds the whole input (the slice decoder).
    pub(crate) fn set_finished(&mut self) {
        self.finished = true;
    }

    pub(crate) fn is_empty_input(&self) -> bool {
        self.finished && self.head.is_empty()
    }

    pub(crate) fn trailer(&self) -> Option<(u64, u64)> {
        self.trailer
    }

    pub(crate) fn offset(&self) -> u64 {
        self.src.offset()
    }

    /// Checks the input's first bytes once there are four (or the input ended): `false`
    /// while undecided.
    fn check_head(&mut self) -> bool {
        if self.head_checked {
            return true;
        }
        if self.head.len() < 4 && !self.finished {
            return false;
        }
        self.head_checked = true;
        if !self.head.is_empty() && !is_stream_start(&self.head) {
            self.stopped = true;
            self.pending = Some(Error::NotEbml { offset: 0 });
        }
        true
    }

    pub(crate) fn is_done(&self) -> bool {
        self.out.queue.is_empty() && self.pending.is_none() && (self.stopped || self.src.is_done())
    }

    /// The next event; `Ok(None)` when more input is needed or the input is exhausted.
    #[inline(always)]
    pub(crate) fn next_event(&mut self) -> Result<Option<Ev<S::B>>, Error> {
        self.next_as(|frame| Ok(Some(frame)), |next| next)
    }

    /// [`Core::next_event`] as an iterator's item (`next_event().transpose()`, for
    /// [`Events`](crate::Events) and [`SliceEvents`](crate::SliceEvents)).
    #[inline(always)]
    pub(crate) fn next_item(&mut self) -> Option<Result<Ev<S::B>, Error>> {
        self.next_as(|frame| Some(Ok(frame)), Result::transpose)
    }

    /// The next event in the caller's type: `frame` wraps a frame of the hot path, `other`
    /// whatever the other paths return. The hot path's frame is built straight into the
    /// caller's type: converting it afterwards (`transpose`) made the compiler copy the
    /// 96-byte event once more for every frame, which made `Events` over small blocks about
    /// 15% slower (`compare`, case 1: 28.4-29.6 against 33.4-34.2 M frames/s).
    #[inline(always)]
    fn next_as<T>(
        &mut self,
        frame: impl FnOnce(Ev<S::B>) -> T,
        other: impl FnOnce(Result<Option<Ev<S::B>>, Error>) -> T,
    ) -> T {
        // The hot path, small enough to inline into the caller's loop: while `hot` holds,
        // the next SimpleBlock of the open Cluster is made into a frame in place.
        if let Some(hot) = self.hot {
            if let Some((h, payload)) = self.src.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER) {
                return match hot.check(payload.as_ref()) {
                    Some((header, ts)) => frame(Event::Frame(Hot::make(header, ts, payload, h.offset))),
                    None => other(self.block_past_hot_path(payload, h.offset)),
                };
            }
            // A block split across chunks, its first part gathered: nothing until the rest
            // comes (with `hot` set, nothing is queued or pending either), and `hot` holds.
            if self.src.waiting() {
                return other(Ok(None));
            }
        }
        other(self.next_event_slow())
    }

    /// A SimpleBlock the hot path did not take: the general path, then `hot` again if it
    /// still holds.
    #[inline(never)]
    fn block_past_hot_path(&mut self, payload: S::B, offset: u64) -> Result<Option<Ev<S::B>>, Error> {
        self.hot = None;
        let Some(doc) = self.doc.as_deref_mut() else { return self.next_event_slow() };
        match self.out.emit_block(doc, payload, offset, None) {
            Ok(None) => self.next_event_slow(),
            Ok(Some(event)) => {
                self.arm_hot();
                Ok(Some(event))
            }
            Err(e) => Err(e),
        }
    }

    /// Sets `hot` when the state lets the next SimpleBlock go the hot path: nothing queued or
    /// pending, the input's start checked, inside a Cluster that has been announced, a
    /// document without encodings whose last block's track is declared, and a cluster
    /// timestamp and scale that fit i64. Every change of that state happens on the general
    /// paths, which clear `hot` first.
    fn arm_hot(&mut self) {
        self.hot = None;
        if !self.out.queue.is_empty()
            || self.pending.is_some()
            || self.stopped
            || !self.head_checked
            || self.path.last() != Some(&ids::CLUSTER)
        {
            return;
        }
        self.hot = self.doc.as_deref().and_then(Hot::of);
    }

    /// [`Core::next_event`] past its inline hot path.
    #[inline(never)]
    fn next_event_slow(&mut self) -> Result<Option<Ev<S::B>>, Error> {
        self.hot = None;
        let next = self.next_event_general();
        // After a frame, and when waiting for input (a block split across chunks comes back
        // whole to the hot path), the state usually still allows the hot path.
        if let Ok(Some(Event::Frame(_)) | None) = &next {
            self.arm_hot();
        }
        next
    }

    /// The general loop: queued events, pending errors, tokens.
    fn next_event_general(&mut self) -> Result<Option<Ev<S::B>>, Error> {
        loop {
            if let Some(e) = self.out.queue.pop_front() {
                return Ok(Some(e));
            }
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            let head_known = self.check_head();
            if self.stopped || !head_known {
                // (A refused input's error is pending: the next turn returns it.)
                if self.pending.is_some() {
                    continue;
                }
                return Ok(None);
            }
            // The hot path: a SimpleBlock inside a Cluster, whole in the current chunk, goes
            // straight to `emit_block`, as `on_token` would send its `Token::Leaf`.
            if self.path.last() == Some(&ids::CLUSTER)
                && let Some((h, payload)) = self.src.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER)
            {
                let Some(doc) = self.doc.as_deref_mut() else { continue };
                match self.out.emit_simple_block(doc, payload, h.offset)? {
                    Some(event) => return Ok(Some(event)),
                    None => continue,
                }
            }
            let token = match self.src.next_token() {
                Ok(Some(t)) => t,
                Ok(None) => return Ok(None),
                Err(e) if e.is_recoverable() => return Err(Error::Ebml(e)),
                Err(e) => {
                    // With resynchronisation the tokenizer goes on after an error, except at
                    // the end of input and when its scan gave up (`ResyncLimit`): those stop
                    // it for good, and it would return the same error for ever.
                    if self.tokenizer_resyncs()
                        && !e.is_eof()
                        && !matches!(e.kind, kvs_ebml::ErrorKind::ResyncLimit { .. })
                    {
                        return Err(Error::Ebml(e));
                    }
                    // Fatal: end what is open, then report.
                    self.stopped = true;
                    let at = e.offset;
                    self.close_document(at, false);
                    self.pending = Some(Error::Ebml(e));
                    continue;
                }
            };
            if let Some(event) = self.on_token(token)? {
                return Ok(Some(event));
            }
        }
    }

    fn tokenizer_resyncs(&self) -> bool {
        self.resync
    }

    /// Ends the open document at `at`: where it ended (`clean`), or where a fatal error
    /// stopped it (the fragment is then incomplete whatever tags it had).
    fn close_document(&mut self, at: u64, clean: bool) {
        self.path.clear();
        if let Some(mut doc) = self.doc.take() {
            // GetMedia ends a fragment with its continuation token; GetMediaForFragmentList
            // sends none, so one of its fragments is whole when its document ended cleanly
            // (the next document began, or the input ended between elements) after a
            // cluster. (A response cut exactly between two clusters of its last fragment
            // cannot be told from a whole one.)
            let complete = clean
                && (doc.aws.continuation_token.is_some() || (doc.aws.fragment_list && doc.cluster_seen));
            self.out.end_fragment(&mut doc, complete);
            self.out.queue.extend(doc.held_tags.drain(..).map(Event::Tag));
            self.out.queue.push_back(Event::DocumentEnd { index: doc.index, offset: doc.offset, end: at });
        }
    }

    fn parent(&self) -> Option<ElementId> {
        self.path.last().copied()
    }

    /// Takes one token. Events go to the queue, except that a frame which is the only event
    /// the token makes, with nothing queued before it, is handed back directly (the common
    /// case of a SimpleBlock without lacing: no round trip through the queue).
    fn on_token(&mut self, token: Token<S::B>) -> Result<Option<Ev<S::B>>, Error> {
        match token {
            Token::DocumentStart { offset } => {
                let index = self.next_index;
                self.next_index = index.saturating_add(1);
                self.doc = Some(Box::new(Document::new(index, offset)));
                self.out.queue.push_back(Event::DocumentStart { index, offset });
            }
            Token::DocumentEnd { offset } => self.close_document(offset, true),
            Token::MasterStart(h) => {
                let parent = self.parent();
                if let Some(doc) = self.doc.as_deref_mut() {
                    self.out.on_master_start(doc, parent, &h);
                }
                self.path.push(h.id);
            }
            Token::MasterEnd { header, .. } => {
                self.path.pop();
                if let Some(doc) = self.doc.as_deref_mut() {
                    self.out.on_master_end(doc, &header)?;
                }
            }
            Token::Leaf { header, value } => {
                let parent = self.parent();
                if let Some(doc) = self.doc.as_deref_mut() {
                    return self.out.on_leaf(doc, parent, &header, value);
                }
            }
            Token::Resynced { offset, skipped, depth } => {
                self.path.truncate(usize::from(depth));
                if let Some(doc) = &mut self.doc {
                    doc.track = None;
                    doc.group = None;
                    doc.tag = None;
                }
                self.out.queue.push_back(Event::Resynced { offset, skipped });
            }
            Token::Trailer { offset, len } => self.trailer = Some((offset, len)),
            _ => {}
        }
        Ok(None)
    }
}

/// Where the document's handlers send events, and the limits they keep to.
struct Sink<B: Input> {
    queue: VecDeque<Ev<B>>,
    limits: Limits,
}

impl<B: Input> Sink<B> {
    fn end_fragment(&mut self, doc: &mut Document<B>, complete: bool) {
        if doc.aws.end_sent {
            return;
        }
        doc.aws.end_sent = true;
        self.queue.push_back(Event::FragmentEnd(FragmentEnd {
            index: doc.index,
            fragment: doc.fragment,
            millis_behind_now: doc.aws.millis_behind_now,
            continuation_token: doc.aws.continuation_token.clone(),
            complete,
        }));
    }

    fn on_master_start(&mut self, doc: &mut Document<B>, parent: Option<ElementId>, h: &ElementHeader) {
        match h.id {
            ids::TRACKS => {
                doc.pending_tracks.clear();
                doc.entries_dropped = 0;
                if doc.tracks_seen {
                    let warning = warning(doc, h.offset, WarningKind::TracksReplaced);
                    self.queue.push_back(warning);
                }
            }
            ids::TRACK_ENTRY => doc.track = Some(Track::default()),
            ids::CONTENT_ENCODING => {
                if let Some(t) = &mut doc.track {
                    if t.content_encodings.len() < encoding::MAX_ENCODINGS {
                        t.content_encodings.push(ContentEncoding::default());
                    } else {
                        t.unsupported_encoding = Some("more than 8 ContentEncodings".to_owned());
                    }
                }
            }
            ids::VIDEO => {
                if let Some(t) = &mut doc.track {
                    t.video.get_or_insert_with(VideoSettings::default);
                }
            }
            ids::AUDIO => {
                if let Some(t) = &mut doc.track {
                    t.audio.get_or_insert_with(AudioSettings::default);
                }
            }
            ids::CLUSTER => {
                doc.start_fragment(&mut self.queue, h.offset);
                doc.cluster_timestamp = None;
                doc.cluster_pending = Some(h.offset);
                doc.cluster_seen = true;
            }
            ids::BLOCK_GROUP => doc.group = Some(GroupState::default()),
            ids::TAG => doc.tag = Some(TagState { offset: h.offset, ..TagState::default() }),
            ids::SIMPLE_TAG => {
                if let Some(tag) = &mut doc.tag {
                    let enclosing = if parent == Some(ids::SIMPLE_TAG) { tag.open.last() } else { None };
                    let within =
                        doc.tags_kept < self.limits.max_tags && doc.tag_bytes < self.limits.max_tag_bytes;
                    match enclosing {
                        // The children of a dropped SimpleTag are dropped with it.
                        Some(OpenTag::Over(_)) => {}
                        Some(&OpenTag::Kept(i)) if within => {
                            doc.tags_kept = doc.tags_kept.saturating_add(1);
                            tag.open.push(OpenTag::Kept(tag.simple.len()));
                            tag.simple.push(SimpleTagState {
                                offset: h.offset,
                                parent: Some(i),
                                ..Default::default()
                            });
                            return;
                        }
                        None if within => {
                            doc.tags_kept = doc.tags_kept.saturating_add(1);
                            tag.open.push(OpenTag::Kept(tag.simple.len()));
                            tag.simple.push(SimpleTagState { offset: h.offset, ..Default::default() });
                            return;
                        }
                        _ => {}
                    }
                    tag.open.push(OpenTag::Over(Box::new(SimpleTagState {
                        offset: h.offset,
                        ..Default::default()
                    })));
                }
            }
            _ => {}
        }
    }

    fn on_master_end(&mut self, doc: &mut Document<B>, h: &ElementHeader) -> Result<(), Error> {
        match h.id {
            ids::TRACK_ENTRY => {
                if let Some(mut t) = doc.track.take() {
                    encoding::finish_track(&mut t, self.limits.max_binary_size);
                    self.add_track(doc, t, h.offset);
                }
                Ok(())
            }
            ids::TRACKS => {
                if doc.entries_dropped > 0 {
                    let dropped = doc.entries_dropped;
                    let w = warning(doc, h.offset, WarningKind::TrackEntriesDropped { dropped });
                    self.queue.push_back(w);
                }
                doc.tracks = std::mem::take(&mut doc.pending_tracks);
                doc.encoded = doc.tracks.iter().any(encoding::decodes_frames);
                doc.tracks_seen = true;
                doc.last_declared = None;
                doc.undeclared_warned.clear();
                self.queue.push_back(Event::Tracks(doc.tracks.clone()));
                Ok(())
            }
            ids::BLOCK_GROUP => match doc.group.take() {
                Some(g) => {
                    let dropped = g.references_seen.saturating_sub(g.references.len() as u64);
                    if dropped > 0 {
                        let w = warning(doc, h.offset, WarningKind::ReferencesDropped { dropped });
                        self.queue.push_back(w);
                    }
                    if g.extra_blocks > 0 {
                        let w = warning(doc, h.offset, WarningKind::ExtraBlocks { dropped: g.extra_blocks });
                        self.queue.push_back(w);
                    }
                    match g.block {
                        Some((payload, offset)) => {
                            let info = GroupInfo {
                                duration: g.duration,
                                keyframe: g.references_seen == 0,
                                references: References::from(g.references),
                            };
                            self.emit_block(doc, payload, offset, Some(info))
                                .map(|direct| self.queue_direct(direct))
                        }
                        None => Ok(()),
                    }
                }
                None => Ok(()),
            },
            ids::SIMPLE_TAG => match doc.tag.as_mut().and_then(|tag| tag.open.pop()) {
                Some(OpenTag::Over(st)) => {
                    self.over_budget_tag(doc, &st);
                    Ok(())
                }
                _ => Ok(()),
            },
            ids::TAG => match doc.tag.take() {
                Some(mut tag) => {
                    let error = tag.error.take();
                    let result = self.finish_tag(doc, &tag);
                    if tag.dropped > 0 {
                        let kind = WarningKind::TagsDropped { count: tag.dropped, bytes: tag.dropped_bytes };
                        let w = warning(doc, tag.offset, kind);
                        self.queue.push_back(w);
                    }
                    error.map_or(result, Err)
                }
                None => Ok(()),
            },
            ids::TAGS => {
                self.after_tags(doc);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// After a Tags element: send what the service's tags made complete, and end the
    /// fragment when they carried its continuation token after a Cluster.
    fn after_tags(&mut self, doc: &mut Document<B>) {
        if doc.aws.after_tags(&mut self.queue) && doc.cluster_seen {
            self.end_fragment(doc, true);
        }
    }

    /// Adds a complete TrackEntry to the Tracks being read, unless no block can use it, it
    /// repeats a number, or the Tracks is full.
    fn add_track(&mut self, doc: &mut Document<B>, t: Track, offset: u64) {
        let kind = if t.number == 0 || t.number > MAX_TRACK_NUMBER {
            WarningKind::InvalidTrackNumber { number: t.number }
        } else if doc.pending_tracks.iter().any(|p| p.number == t.number) {
            WarningKind::DuplicateTrackNumber { number: t.number }
        } else if doc.pending_tracks.len() >= self.limits.max_track_entries {
            doc.entries_dropped = doc.entries_dropped.saturating_add(1);
            return;
        } else {
            doc.pending_tracks.push(t);
            return;
        };
        let w = warning(doc, offset, kind);
        self.queue.push_back(w);
    }

    /// A SimpleTag over the budget has ended: a service tag is still recorded, any other is
    /// counted as dropped.
    fn over_budget_tag(&mut self, doc: &mut Document<B>, st: &SimpleTagState) {
        let name = st.name.as_deref().unwrap_or_default();
        if let Some(aws_tag) = AwsTag::from_name(aws::trimmed(name)) {
            let tag_offset = doc.tag.as_ref().map_or(st.offset, |t| t.offset);
            let result = doc.record_service(&mut self.queue, aws_tag, &st.value, st.offset, tag_offset);
            if let (Err(e), Some(tag)) = (result, &mut doc.tag) {
                tag.error.get_or_insert(e);
            }
            return;
        }
        let Some(tag) = &mut doc.tag else { return };
        let bytes = (name.len() as u64).saturating_add(st.value.raw().map_or(0, |v| v.len() as u64));
        tag.dropped = tag.dropped.saturating_add(1);
        tag.dropped_bytes = tag.dropped_bytes.saturating_add(bytes);
    }

    /// A Tag is complete: service tags update the facts, others become events.
    fn finish_tag(&mut self, doc: &mut Document<B>, tag: &TagState) -> Result<(), Error> {
        let mut first_error = None;
        for st in &tag.simple {
            let name = st.name.as_deref().unwrap_or_default();
            if let Some(aws_tag) = AwsTag::from_name(aws::trimmed(name)) {
                if let Err(e) = doc.record_service(&mut self.queue, aws_tag, &st.value, st.offset, tag.offset)
                {
                    first_error.get_or_insert(e);
                }
                if aws::is_fragment_list_spelling(aws::trimmed(name)) {
                    doc.aws.fragment_list = true;
                }
                continue;
            }
            let mut parents = Vec::new();
            let mut p = st.parent;
            while let Some(pi) = p {
                let Some(ps) = tag.simple.get(pi) else { break };
                parents.push(text(ps.name.as_deref().unwrap_or_default()));
                // Parents always precede children, so this walk ends.
                p = ps.parent.filter(|&pp| pp < pi);
            }
            parents.reverse();
            let tag_event = Box::new(Tag {
                index: doc.index,
                name: text(name),
                value: st.value.clone(),
                language: st.language.clone(),
                default: st.default,
                targets: tag.targets.clone(),
                parents,
                offset: st.offset,
            });
            if doc.aws.end_sent {
                doc.held_tags.push(tag_event);
            } else {
                self.queue.push_back(Event::Tag(tag_event));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Queues a frame that [`EventDecoder::emit_block`] handed back (where a caller cannot
    /// return it directly).
    fn queue_direct(&mut self, direct: Option<Ev<B>>) {
        if let Some(event) = direct {
            self.queue.push_back(event);
        }
    }

    fn on_leaf(
        &mut self,
        doc: &mut Document<B>,
        parent: Option<ElementId>,
        h: &ElementHeader,
        value: Value<B>,
    ) -> Result<Option<Ev<B>>, Error> {
        match (parent, h.id) {
            (Some(ids::CLUSTER), ids::SIMPLE_BLOCK) => {
                if let Value::Binary(payload) = value {
                    return self.emit_simple_block(doc, payload, h.offset);
                }
            }
            (Some(ids::CLUSTER), ids::TIMESTAMP) => {
                doc.cluster_timestamp = value.as_unsigned();
                self.announce_cluster(doc);
            }
            (Some(ids::INFO), ids::TIMESTAMP_SCALE) => {
                if let Some(v) = value.as_unsigned().filter(|&v| v > 0) {
                    doc.timestamp_scale = v;
                }
            }
            (Some(ids::BLOCK_GROUP), id) => {
                if let Some(g) = &mut doc.group {
                    match (id, value) {
                        (ids::BLOCK, Value::Binary(b)) => {
                            if g.block.is_none() {
                                g.block = Some((b, h.offset));
                            } else {
                                g.extra_blocks = g.extra_blocks.saturating_add(1);
                            }
                        }
                        (ids::BLOCK_DURATION, Value::Unsigned(d)) => g.duration = Some(d),
                        (ids::REFERENCE_BLOCK, Value::Signed(r)) => {
                            g.references_seen = g.references_seen.saturating_add(1);
                            if g.references.len() < self.limits.max_references {
                                g.references.push(r);
                            }
                        }
                        _ => {}
                    }
                }
            }
            (Some(ids::TRACK_ENTRY), id) => {
                if let Some(t) = &mut doc.track {
                    track_field(t, id, &value);
                }
            }
            (Some(ids::CONTENT_ENCODING | ids::CONTENT_COMPRESSION | ids::CONTENT_ENCRYPTION), id) => {
                if let Some(e) = doc.track.as_mut().and_then(|t| t.content_encodings.last_mut()) {
                    match (id, value) {
                        (ids::CONTENT_ENCODING_ORDER, Value::Unsigned(v)) => e.order = v,
                        (ids::CONTENT_ENCODING_SCOPE, Value::Unsigned(v)) => e.scope = v,
                        (ids::CONTENT_ENCODING_TYPE, Value::Unsigned(v)) => e.kind = v,
                        (ids::CONTENT_COMP_ALGO, Value::Unsigned(v)) => e.comp_algo = Some(v),
                        // Copied: a track must not pin a read buffer.
                        (ids::CONTENT_COMP_SETTINGS, Value::Binary(b)) => {
                            e.comp_settings = Some(Bytes::copy_from_slice(b.as_ref()));
                        }
                        (ids::CONTENT_ENC_ALGO, Value::Unsigned(v)) => e.enc_algo = Some(v),
                        _ => {}
                    }
                }
            }
            (Some(ids::VIDEO), id) => {
                if let Some(v) = doc.track.as_mut().and_then(|t| t.video.as_mut()) {
                    let n = value.as_unsigned();
                    match id {
                        ids::PIXEL_WIDTH => v.width = n,
                        ids::PIXEL_HEIGHT => v.height = n,
                        ids::DISPLAY_WIDTH => v.display_width = n,
                        ids::DISPLAY_HEIGHT => v.display_height = n,
                        _ => {}
                    }
                }
            }
            (Some(ids::AUDIO), id) => {
                if let Some(a) = doc.track.as_mut().and_then(|t| t.audio.as_mut()) {
                    match id {
                        ids::SAMPLING_FREQUENCY => a.sampling_frequency = value.as_float(),
                        ids::CHANNELS => a.channels = value.as_unsigned(),
                        ids::BIT_DEPTH => a.bit_depth = value.as_unsigned(),
                        _ => {}
                    }
                }
            }
            (Some(ids::SIMPLE_TAG), id) => {
                let Some(tag) = &mut doc.tag else { return Ok(None) };
                let (st, kept) = match tag.open.last_mut() {
                    Some(OpenTag::Kept(i)) => match tag.simple.get_mut(*i) {
                        Some(st) => (st, true),
                        None => return Ok(None),
                    },
                    Some(OpenTag::Over(st)) => (&mut **st, false),
                    None => return Ok(None),
                };
                // Kept values are copied out of the input: a tag must not pin a whole read
                // buffer for as long as it is held.
                let own = |b: B| if kept { Bytes::copy_from_slice(b.as_ref()) } else { b.into_bytes() };
                let size = match &value {
                    Value::Utf8(b) | Value::String(b) | Value::Binary(b) => b.as_ref().len() as u64,
                    _ => 0,
                };
                match (id, value) {
                    (ids::TAG_NAME, Value::Utf8(b) | Value::String(b)) => st.name = Some(own(b)),
                    (ids::TAG_STRING, Value::Utf8(b) | Value::String(b)) => {
                        st.value = TagValue::String(own(b))
                    }
                    (ids::TAG_BINARY, Value::Binary(b)) => st.value = TagValue::Binary(own(b)),
                    (ids::TAG_LANGUAGE | ids::TAG_LANGUAGE_BCP47, Value::String(b) | Value::Utf8(b)) => {
                        st.language = Some(text(b.as_ref()));
                    }
                    (ids::TAG_DEFAULT, Value::Unsigned(d)) => st.default = Some(d != 0),
                    _ => return Ok(None),
                }
                if kept {
                    doc.tag_bytes = doc.tag_bytes.saturating_add(size);
                }
            }
            (Some(ids::TARGETS), id) => {
                if let Some(tag) = &mut doc.tag {
                    let t = &mut tag.targets;
                    match (id, value) {
                        (ids::TARGET_TYPE_VALUE, Value::Unsigned(v)) => t.type_value = Some(v),
                        (ids::TARGET_TYPE, Value::String(b) | Value::Utf8(b)) => {
                            t.type_name = Some(text(b.as_ref()))
                        }
                        // Bounded like a Tracks element: each tag event carries a copy.
                        (ids::TAG_TRACK_UID, Value::Unsigned(v))
                            if t.track_uids.len() < self.limits.max_track_entries =>
                        {
                            t.track_uids.push(v);
                        }
                        (
                            ids::TAG_EDITION_UID | ids::TAG_CHAPTER_UID | ids::TAG_ATTACHMENT_UID,
                            Value::Unsigned(v),
                        ) if t.other_uids.len() < self.limits.max_track_entries => {
                            t.other_uids.push(v);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// Sends the open cluster's `Event::Cluster` if it has not been sent.
    fn announce_cluster(&mut self, doc: &mut Document<B>) {
        if let Some(offset) = doc.cluster_pending.take() {
            self.queue.push_back(Event::Cluster {
                offset,
                timestamp: doc.cluster_timestamp.unwrap_or(0),
                timestamp_scale: doc.timestamp_scale,
            });
        }
    }

    /// A SimpleBlock: [`Sink::frame_in_place`], else [`Sink::emit_block`].
    #[inline(always)]
    fn emit_simple_block(
        &mut self,
        doc: &mut Document<B>,
        payload: B,
        offset: u64,
    ) -> Result<Option<Ev<B>>, Error> {
        match self.frame_in_place(doc, payload, offset) {
            Ok(event) => Ok(Some(event)),
            Err(payload) => self.emit_block(doc, payload, offset, None),
        }
    }

    /// The common case of a SimpleBlock as its frame, or the payload back for
    /// [`Sink::emit_block`]: an unlaced block of the track of the previous block, no
    /// encodings, the cluster announced, nothing queued, and a timestamp that i64 arithmetic
    /// computes (the general path gives the same frame, or the error, for everything else).
    #[inline(always)]
    fn frame_in_place(&self, doc: &Document<B>, payload: B, offset: u64) -> Result<Ev<B>, B> {
        match Hot::of(doc) {
            Some(hot) if self.queue.is_empty() => hot.frame(payload, offset),
            _ => Err(payload),
        }
    }

    /// Parses a SimpleBlock or a BlockGroup's Block and queues its frames; a single frame
    /// with nothing queued before it is handed back instead, for the caller to return.
    #[inline(never)]
    fn emit_block(
        &mut self,
        doc: &mut Document<B>,
        payload: B,
        offset: u64,
        group: Option<GroupInfo>,
    ) -> Result<Option<Ev<B>>, Error> {
        self.announce_cluster(doc);
        let header = block::parse_header(payload.as_ref()).map_err(|kind| Error::Block { offset, kind })?;
        if doc.last_declared != Some(header.track) {
            if doc.tracks.iter().any(|t| t.number == header.track) {
                doc.last_declared = Some(header.track);
            } else if !doc.undeclared_warned.contains(&header.track)
                && doc.undeclared_warned.len() < MAX_UNDECLARED_WARNINGS
            {
                doc.undeclared_warned.push(header.track);
                let w = warning(doc, offset, WarningKind::UndeclaredTrack { track: header.track });
                self.queue.push_back(w);
            }
        }
        let simple = group.is_none();
        let (duration, references, group_keyframe) = match group {
            Some(g) => (g.duration, g.references, g.keyframe),
            None => (None, References::default(), false),
        };
        // The encodings to undo on this block's frames (rare: only tracks that have them).
        let encodings = if doc.encoded {
            doc.tracks
                .iter()
                .find(|t| t.number == header.track)
                .filter(|t| encoding::decodes_frames(t))
                .map(|t| t.content_encodings.as_slice())
        } else {
            None
        };
        let max = self.limits.max_binary_size;
        let track = header.track;
        let decode = |data: B| match encodings {
            Some(e) => encoding::decode(e, data.into_bytes(), max, ContentEncoding::applies_to_frames)
                .map(B::decoded)
                .map_err(|what| Error::ContentEncoding { offset, track, what }),
            None => Ok(data.data()),
        };
        let scale = doc.timestamp_scale;
        let ticks = i128::from(doc.cluster_timestamp.unwrap_or(0))
            .saturating_add(i128::from(header.relative_timestamp));
        let base = ticks.checked_mul(i128::from(scale)).ok_or_else(|| Error::TimestampOverflow { offset })?;
        let keyframe = if simple { header.keyframe() } else { group_keyframe };
        let duration_ns = duration.and_then(|d| d.checked_mul(scale));
        let frame = |i: usize, count: usize, timestamp_ns: i64, references: References, data: B::Data| {
            Event::Frame(Frame {
                track: header.track,
                timestamp_ns,
                keyframe,
                invisible: header.invisible(),
                discardable: simple && header.discardable(),
                duration_ns,
                references,
                lace_index: u16::try_from(i).unwrap_or(u16::MAX),
                lace_count: u16::try_from(count).unwrap_or(u16::MAX),
                block_offset: offset,
                data,
            })
        };
        if header.lacing == block::Lacing::None {
            // One frame, at the block's own timestamp (the first frame of a lace has no
            // DefaultDuration step): no lace table, no track lookup.
            let timestamp_ns = i64::try_from(base).map_err(|_| Error::TimestampOverflow { offset })?;
            // The payload itself, past the block header: no reference count to touch.
            let data = decode(payload.skip(header.len))?;
            // Built where it goes (the caller's return slot, else the queue): no copy of the
            // event on the way.
            if self.queue.is_empty() {
                return Ok(Some(frame(0, 1, timestamp_ns, references, data)));
            }
            self.queue.push_back(frame(0, 1, timestamp_ns, references, data));
            return Ok(None);
        }
        let default_duration =
            doc.tracks.iter().find(|t| t.number == header.track).and_then(|t| t.default_duration_ns);
        let mut overflow = false;
        let mut failed = None;
        let queue = &mut self.queue;
        block::for_each_frame_range(payload.as_ref(), &header, |i, count, r| {
            let step =
                i128::from(default_duration.unwrap_or(0)).saturating_mul(i128::try_from(i).unwrap_or(0));
            let Ok(timestamp_ns) = i64::try_from(base.saturating_add(step)) else {
                overflow = true;
                return;
            };
            match decode(payload.sub(r)) {
                Ok(data) => queue.push_back(frame(i, count, timestamp_ns, references.clone(), data)),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        })
        .map_err(|kind| Error::Block { offset, kind })?;
        if overflow {
            return Err(Error::TimestampOverflow { offset });
        }
        failed.map_or(Ok(None), Err)
    }
}

/// A warning event about the document.
fn warning<B: Input>(doc: &Document<B>, offset: u64, kind: WarningKind) -> Ev<B> {
    Event::Warning(Warning { index: doc.index, offset, kind })
}

/// The bytes a copy of `t` duplicates (its text; shared buffers are not copied), plus a
/// fixed cost per track.
fn track_weight(t: &Track) -> u64 {
    let text = [t.codec_id.as_ref(), t.name.as_ref(), t.language.as_ref(), t.unsupported_encoding.as_ref()]
        .into_iter()
        .flatten()
        .map(|s| s.len() as u64)
        .fold(0u64, u64::saturating_add);
    text.saturating_add(256)
}

/// Sets a TrackEntry field.
fn track_field<B: Input>(t: &mut Track, id: ElementId, value: &Value<B>) {
    match (id, value) {
        (ids::TRACK_NUMBER, Value::Unsigned(v)) => t.number = *v,
        (ids::TRACK_UID, Value::Unsigned(v)) => t.uid = Some(*v),
        (ids::TRACK_TYPE, Value::Unsigned(v)) => t.kind = TrackType::from_u64(*v),
        (ids::CODEC_ID, Value::String(b) | Value::Utf8(b)) => t.codec_id = Some(text(b.as_ref())),
        (ids::CODEC_PRIVATE, Value::Binary(b)) => t.codec_private = Some(b.clone().into_bytes()),
        (ids::NAME, Value::Utf8(b) | Value::String(b)) => t.name = Some(text(b.as_ref())),
        (ids::LANGUAGE, Value::String(b) | Value::Utf8(b)) => t.language = Some(text(b.as_ref())),
        (ids::DEFAULT_DURATION, Value::Unsigned(v)) => t.default_duration_ns = Some(*v),
        _ => {}
    }
}

/// Text of a string value: trailing NULs removed, invalid UTF-8 replaced.
fn text(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|&c| c != 0).map_or(0, |p| p.saturating_add(1));
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned()
}
