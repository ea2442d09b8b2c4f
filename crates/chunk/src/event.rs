//! The events a GetMedia payload (or any Matroska/WebM stream) decodes into.

use bytes::Bytes;

use crate::ids::{ContinuationToken, ErrorId, FragmentNumber};

/// One event, in stream order.
///
/// For a GetMedia payload each document is one fragment: `DocumentStart`, `Tracks`,
/// `FragmentMetadata` (as soon as the service's pre-cluster tags are complete), the frames
/// and tags, `FragmentEnd` (as soon as the continuation token arrives after a cluster, else
/// at the end of the document), `DocumentEnd`. A plain Matroska file is one document without
/// metadata.
///
/// A document can hold several fragments one after the other (a merged file, such as the
/// output of `kvs-mkv merge` or of the Java parser's `OutputSegmentMerger`: one Segment whose
/// fragments each have their start tags, clusters and end tags). When a Cluster, or a service
/// start tag (fragment number, server or producer timestamp), follows a fragment's
/// `FragmentEnd` inside the same document, the next fragment starts: `FragmentStart` (with
/// its position in the document, from 1), `Tracks` again (the document's tracks, so that each
/// fragment reads like a document of its own), the non-service tags read between the two
/// fragments, then `FragmentMetadata`, frames, tags and `FragmentEnd` as above. So every
/// frame of a document comes between a fragment's start (`DocumentStart` or
/// `FragmentStart`) and its `FragmentEnd`; no frame ever follows a `FragmentEnd` before the
/// next start. A document's first fragment has no `FragmentStart`: GetMedia payloads (one
/// fragment per document) give exactly the same events as before.
///
/// `D` is what a frame's data is: [`Bytes`] (a zero-copy, reference-counted slice of the
/// input) from [`EventDecoder`](crate::EventDecoder), [`Events`](crate::Events) and
/// [`ReadEvents`](crate::ReadEvents); a [`Cow<[u8]>`](std::borrow::Cow) borrowing from the
/// caller's buffer from [`SliceEvents`](crate::SliceEvents). Every other field is the same.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<D = Bytes> {
    /// A document (EBML header + Segment; in GetMedia output, one fragment) begins.
    DocumentStart {
        /// Its index in the stream, from 0.
        index: u64,
        /// The absolute offset of its first byte.
        offset: u64,
    },
    /// The document's track list is complete.
    Tracks(Vec<Track>),
    /// The fragment's service-written metadata is complete.
    FragmentMetadata(FragmentMetadata),
    /// A cluster begins: emitted when its Timestamp has been read (or at its first block if
    /// it has none), so every frame that follows belongs to it.
    Cluster {
        /// The absolute offset of the Cluster element.
        offset: u64,
        /// The cluster's Timestamp, in TimestampScale units.
        timestamp: u64,
        /// The TimestampScale in force (nanoseconds per unit).
        timestamp_scale: u64,
    },
    /// One frame (a laced block gives one event per frame).
    Frame(Frame<D>),
    /// A tag that is not one of the service's own (producer tags, nested ones too).
    ///
    /// Boxed: a `Tag` is twice the size of a `Frame`, and every event is as large as its
    /// largest variant; frames are the hot path, tags are rare.
    Tag(Box<Tag>),
    /// A further fragment begins inside the same document (a merged file): it follows the
    /// previous fragment's `FragmentEnd` and is followed by the document's `Tracks` again.
    /// Never sent for a document's first fragment, which starts with `DocumentStart`.
    FragmentStart {
        /// The document's index in the stream.
        index: u64,
        /// The fragment's position in the document: 1 for the second fragment, and so on.
        fragment: u64,
        /// The absolute offset of the element that started it (its Cluster, or the Tag
        /// holding its service start tags).
        offset: u64,
    },
    /// The service reported an error inside the stream: an error chunk
    /// (`AWS_KINESISVIDEO_ERROR_ID`, or GetMediaForFragmentList's
    /// `AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE`).
    ErrorChunk(ErrorChunk),
    /// The fragment ends: complete when its continuation token arrived.
    FragmentEnd(FragmentEnd),
    /// The document ends.
    DocumentEnd {
        /// Its index in the stream.
        index: u64,
        /// The absolute offset of its first byte.
        offset: u64,
        /// The absolute offset just past its last byte.
        end: u64,
    },
    /// The input broke a rule the decoder read around: the events stay consistent, and this
    /// says what was dropped, kept or replaced (see [`WarningKind`]).
    Warning(Warning),
    /// After malformed input the decoder skipped bytes and resumed at a top-level element
    /// (only with resynchronisation on).
    Resynced {
        /// Where reading resumed.
        offset: u64,
        /// How many bytes were skipped.
        skipped: u64,
    },
}

impl<D> Event<D> {
    /// Whether this event begins a fragment: `DocumentStart` (a document's first fragment)
    /// or `FragmentStart` (a further fragment of a merged document). A consumer that keeps
    /// per-fragment state resets it here.
    #[must_use]
    pub const fn starts_fragment(&self) -> bool {
        matches!(self, Event::DocumentStart { .. } | Event::FragmentStart { .. })
    }

    /// The same event with its frame's data (if it is a frame) passed through `f`; every
    /// other event is moved as it is. For example, a [`SliceEvents`](crate::SliceEvents)
    /// event made owned: `event.map_data(|d| Bytes::copy_from_slice(&d))`.
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> Event<E> {
        match self {
            Event::DocumentStart { index, offset } => Event::DocumentStart { index, offset },
            Event::Tracks(t) => Event::Tracks(t),
            Event::FragmentMetadata(m) => Event::FragmentMetadata(m),
            Event::Cluster { offset, timestamp, timestamp_scale } => {
                Event::Cluster { offset, timestamp, timestamp_scale }
            }
            Event::Frame(frame) => Event::Frame(frame.map_data(f)),
            Event::Tag(t) => Event::Tag(t),
            Event::FragmentStart { index, fragment, offset } => {
                Event::FragmentStart { index, fragment, offset }
            }
            Event::ErrorChunk(e) => Event::ErrorChunk(e),
            Event::FragmentEnd(e) => Event::FragmentEnd(e),
            Event::DocumentEnd { index, offset, end } => Event::DocumentEnd { index, offset, end },
            Event::Warning(w) => Event::Warning(w),
            Event::Resynced { offset, skipped } => Event::Resynced { offset, skipped },
        }
    }
}

/// A track's type (Matroska TrackType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TrackType {
    /// 1: video.
    Video,
    /// 2: audio.
    Audio,
    /// 3: complex (combined audio and video).
    Complex,
    /// 16: logo.
    Logo,
    /// 17: subtitle.
    Subtitle,
    /// 18: buttons.
    Buttons,
    /// 32: control.
    Control,
    /// 33: metadata.
    Metadata,
    /// Not given.
    #[default]
    Unknown,
    /// Any other value.
    Other(u64),
}

/// The Matroska TrackType value of each named type: the one table both ways read.
const TRACK_TYPE_NUMBERS: [(TrackType, u64); 8] = [
    (TrackType::Video, 1),
    (TrackType::Audio, 2),
    (TrackType::Complex, 3),
    (TrackType::Logo, 16),
    (TrackType::Subtitle, 17),
    (TrackType::Buttons, 18),
    (TrackType::Control, 32),
    (TrackType::Metadata, 33),
];

impl TrackType {
    /// The type for a TrackType value.
    #[must_use]
    pub fn from_u64(v: u64) -> Self {
        TRACK_TYPE_NUMBERS.iter().find(|(_, n)| *n == v).map_or(Self::Other(v), |(t, _)| *t)
    }

    /// The Matroska TrackType value of this type, or `None` for [`TrackType::Unknown`].
    #[must_use]
    pub fn number(self) -> Option<u64> {
        match self {
            Self::Other(v) => Some(v),
            kind => TRACK_TYPE_NUMBERS.iter().find(|(t, _)| *t == kind).map(|(_, n)| *n),
        }
    }
}

/// Video settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VideoSettings {
    /// PixelWidth.
    pub width: Option<u64>,
    /// PixelHeight.
    pub height: Option<u64>,
    /// DisplayWidth.
    pub display_width: Option<u64>,
    /// DisplayHeight.
    pub display_height: Option<u64>,
}

impl VideoSettings {
    /// Settings with PixelWidth and PixelHeight, no display size.
    #[must_use]
    pub fn new(width: u64, height: u64) -> Self {
        Self { width: Some(width), height: Some(height), ..Self::default() }
    }
}

/// Audio settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct AudioSettings {
    /// SamplingFrequency in Hz.
    pub sampling_frequency: Option<f64>,
    /// Channels.
    pub channels: Option<u64>,
    /// BitDepth.
    pub bit_depth: Option<u64>,
}

impl AudioSettings {
    /// Settings with SamplingFrequency and Channels, no BitDepth.
    #[must_use]
    pub fn new(sampling_frequency: f64, channels: u64) -> Self {
        Self { sampling_frequency: Some(sampling_frequency), channels: Some(channels), bit_depth: None }
    }
}

/// A track (Matroska TrackEntry).
///
/// Built by the decoder; to make one elsewhere, start from [`Track::new`] and set the other
/// fields (the struct is `#[non_exhaustive]`, so new fields are not breaking changes).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Track {
    /// TrackNumber, as blocks refer to it.
    pub number: u64,
    /// TrackUID.
    pub uid: Option<u64>,
    /// TrackType.
    pub kind: TrackType,
    /// CodecID (e.g. `V_MPEG4/ISO/AVC`), NUL padding removed.
    pub codec_id: Option<String>,
    /// CodecPrivate, raw (AVCC/HVCC configuration, AudioSpecificConfig ...).
    pub codec_private: Option<Bytes>,
    /// Name (Amazon Connect names its tracks `AUDIO_FROM_CUSTOMER`, `AUDIO_TO_CUSTOMER`).
    pub name: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// DefaultDuration in nanoseconds.
    pub default_duration_ns: Option<u64>,
    /// Video settings, if the track has a Video element.
    pub video: Option<VideoSettings>,
    /// Audio settings, if the track has an Audio element.
    pub audio: Option<AudioSettings>,
    /// The track's ContentEncodings, in the order they are undone (highest
    /// ContentEncodingOrder first). The decoder undoes header stripping and zlib, so frames
    /// (and CodecPrivate) are the codec's own bytes, as FFmpeg gives them.
    pub content_encodings: Vec<ContentEncoding>,
    /// Why the track's frames cannot be decoded, when an encoding is not supported (bzlib or
    /// lzo1x compression, encryption, an unknown method): its frames are then delivered as
    /// stored, and tools should refuse to extract them (e.g. `"bzlib compression"`).
    pub unsupported_encoding: Option<String>,
}

impl Track {
    /// A track numbered `number`, of type `kind`, with CodecID `codec_id`; every other field
    /// empty.
    ///
    /// ```
    /// use kvs_chunk::{Codec, Track, TrackType, VideoSettings};
    ///
    /// let mut t = Track::new(1, TrackType::Video, "V_MPEG4/ISO/AVC");
    /// t.video = Some(VideoSettings::new(1280, 720));
    /// assert_eq!(t.codec(), Some(Codec::H264));
    /// ```
    #[must_use]
    pub fn new(number: u64, kind: TrackType, codec_id: impl Into<String>) -> Self {
        Self { number, kind, codec_id: Some(codec_id.into()), ..Self::default() }
    }
}

/// One ContentEncoding of a track (Matroska ContentEncoding), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContentEncoding {
    /// ContentEncodingOrder (0 by default).
    pub order: u64,
    /// ContentEncodingScope: 1 frames, 2 CodecPrivate, 4 the next encoding (1 by default).
    pub scope: u64,
    /// ContentEncodingType: 0 compression, 1 encryption.
    pub kind: u64,
    /// ContentCompAlgo (0 zlib, 1 bzlib, 2 lzo1x, 3 header stripping), for compression.
    pub comp_algo: Option<u64>,
    /// ContentCompSettings (for header stripping: the bytes stripped from each frame).
    pub comp_settings: Option<Bytes>,
    /// ContentEncAlgo, for encryption.
    pub enc_algo: Option<u64>,
}

impl Default for ContentEncoding {
    fn default() -> Self {
        Self { order: 0, scope: 1, kind: 0, comp_algo: None, comp_settings: None, enc_algo: None }
    }
}

impl ContentEncoding {
    /// Whether the encoding applies to the frames (scope bit 1).
    #[must_use]
    pub const fn applies_to_frames(&self) -> bool {
        self.scope & 1 != 0
    }

    /// Whether the encoding applies to CodecPrivate (scope bit 2).
    #[must_use]
    pub const fn applies_to_codec_private(&self) -> bool {
        self.scope & 2 != 0
    }

    /// What the decoder cannot undo in this encoding, if anything (`"bzlib compression"`,
    /// `"encryption (ContentEncAlgo 5)"` ...).
    #[must_use]
    pub fn unsupported(&self) -> Option<String> {
        match (self.kind, self.comp_algo.unwrap_or(0)) {
            (0, 0 | 3) => None,
            (0, 1) => Some("bzlib compression".to_owned()),
            (0, 2) => Some("lzo1x compression".to_owned()),
            (0, n) => Some(format!("compression algorithm {n}")),
            (1, _) => Some(format!("encryption (ContentEncAlgo {})", self.enc_algo.unwrap_or(0))),
            (n, _) => Some(format!("ContentEncodingType {n}")),
        }
    }
}

/// One frame.
///
/// Built by the decoder; to make one elsewhere (a test, a writer's input), start from
/// [`Frame::new`] or `Frame::default()` and set the fields (the struct is `#[non_exhaustive]`,
/// so new fields are not breaking changes).
///
/// `D` is the data's type: [`Bytes`] by default, a [`Cow<[u8]>`](std::borrow::Cow) borrowing
/// the caller's buffer from [`SliceEvents`](crate::SliceEvents).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Frame<D = Bytes> {
    /// The track number.
    pub track: u64,
    /// Absolute timestamp in nanoseconds: (cluster timestamp + block offset) x TimestampScale,
    /// plus the track's DefaultDuration per preceding frame of the same lace.
    pub timestamp_ns: i64,
    /// Keyframe: the SimpleBlock flag, or a BlockGroup without ReferenceBlock.
    pub keyframe: bool,
    /// The invisible flag.
    pub invisible: bool,
    /// SimpleBlock's discardable flag.
    pub discardable: bool,
    /// BlockDuration x TimestampScale, in nanoseconds (BlockGroup only).
    pub duration_ns: Option<u64>,
    /// ReferenceBlock values (relative timestamps, TimestampScale units; BlockGroup only),
    /// at most [`Limits::max_references`](kvs_ebml::Limits::max_references) of them; the
    /// frames of one lace share one list.
    pub references: References,
    /// The frame's index within its lace, from 0 (0 when unlaced).
    pub lace_index: u16,
    /// The number of frames in its lace (1 when unlaced).
    pub lace_count: u16,
    /// The absolute offset of the SimpleBlock or Block element.
    pub block_offset: u64,
    /// The frame's payload: a zero-copy slice of the input (a new buffer for a track whose
    /// ContentEncodings the decoder undid: header stripping, zlib).
    pub data: D,
}

impl<D: Default> Default for Frame<D> {
    fn default() -> Self {
        Self {
            track: 0,
            timestamp_ns: 0,
            keyframe: false,
            invisible: false,
            discardable: false,
            duration_ns: None,
            references: References::default(),
            lace_index: 0,
            lace_count: 1,
            block_offset: 0,
            data: D::default(),
        }
    }
}

impl<D: Default> Frame<D> {
    /// An unlaced frame of `track` at `timestamp_ns` holding `data`, every other field at
    /// its default (not a keyframe, no flags, no duration, no references, offset 0).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use kvs_chunk::Frame;
    ///
    /// let mut f = Frame::new(1, 40_000_000, Bytes::from_static(b"\x00\x00\x00\x01"));
    /// f.keyframe = true;
    /// assert_eq!((f.lace_index, f.lace_count), (0, 1));
    /// assert_eq!(f.timestamp_ms(), 40);
    /// ```
    #[must_use]
    pub fn new(track: u64, timestamp_ns: i64, data: D) -> Self {
        Self { track, timestamp_ns, data, ..Self::default() }
    }
}

impl<D> Frame<D> {
    /// The same frame with its data passed through `f` (every other field as it is).
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> Frame<E> {
        Frame {
            track: self.track,
            timestamp_ns: self.timestamp_ns,
            keyframe: self.keyframe,
            invisible: self.invisible,
            discardable: self.discardable,
            duration_ns: self.duration_ns,
            references: self.references,
            lace_index: self.lace_index,
            lace_count: self.lace_count,
            block_offset: self.block_offset,
            data: f(self.data),
        }
    }

    /// The timestamp in whole milliseconds (rounded towards negative infinity).
    #[must_use]
    pub const fn timestamp_ms(&self) -> i64 {
        self.timestamp_ns.div_euclid(1_000_000)
    }
}

/// The service's metadata of one fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FragmentMetadata {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    pub fragment_number: Option<FragmentNumber>,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, epoch milliseconds (exact).
    pub server_timestamp_ms: Option<i64>,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, milliseconds (exact; may be relative).
    pub producer_timestamp_ms: Option<i64>,
    /// The timestamps came with GetMediaForFragmentList's spellings
    /// (`AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`, `..._PRODUCER_SIDE_TIMESTAMP`): that API
    /// sends no continuation token, and its fragment is complete when its document ends
    /// whole (see [`FragmentEnd::complete`]). Writers keep the spelling.
    pub from_fragment_list: bool,
}

/// The end of a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FragmentEnd {
    /// The document's index.
    pub index: u64,
    /// The fragment's position in its document: 0, or 1, 2 ... after a
    /// [`Event::FragmentStart`] (a merged file).
    pub fragment: u64,
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW`.
    pub millis_behind_now: Option<u64>,
    /// `AWS_KINESISVIDEO_CONTINUATION_TOKEN`: resume GetMedia after this fragment with it.
    pub continuation_token: Option<ContinuationToken>,
    /// Whether the fragment is whole: its continuation token arrived (GetMedia), or, in a
    /// GetMediaForFragmentList payload (which has no continuation tokens; its documents
    /// carry `AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`-style tags), its document ended
    /// cleanly after a cluster. False for a cut stream, a truncated capture or a plain
    /// Matroska file.
    pub complete: bool,
}

/// An error chunk: an in-stream error reported by the service (the payload of
/// [`Event::ErrorChunk`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ErrorChunk {
    /// The fragment number the error chunk carries, if any.
    pub fragment_number: Option<FragmentNumber>,
    /// `AWS_KINESISVIDEO_ERROR_ID` (or a numeric `..._EXCEPTION_ERROR_CODE`).
    pub id: Option<ErrorId>,
    /// The raw id text when it is not a number.
    pub raw_id: Option<String>,
    /// `AWS_KINESISVIDEO_ERROR_CODE` or `..._EXCEPTION_MESSAGE`: the description.
    pub code: Option<String>,
}

/// A tag's value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TagValue {
    /// TagString, raw (trailing NULs kept).
    String(Bytes),
    /// TagBinary.
    Binary(Bytes),
    /// Neither (a SimpleTag that only holds nested SimpleTags).
    #[default]
    None,
}

impl TagValue {
    /// The raw bytes of a String or Binary value.
    #[must_use]
    pub fn raw(&self) -> Option<&[u8]> {
        match self {
            Self::String(b) | Self::Binary(b) => Some(b),
            Self::None => None,
        }
    }

    /// A String value as text (invalid UTF-8 replaced; NULs kept, as the raw value has them).
    #[must_use]
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::String(b) => Some(String::from_utf8_lossy(b)),
            _ => None,
        }
    }
}

/// What a tag applies to (Matroska Targets).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Targets {
    /// TargetTypeValue (50 = episode/track level by default).
    pub type_value: Option<u64>,
    /// TargetType.
    pub type_name: Option<String>,
    /// TagTrackUIDs.
    pub track_uids: Vec<u64>,
    /// TagEditionUIDs, TagChapterUIDs and TagAttachmentUIDs, in order.
    pub other_uids: Vec<u64>,
}

/// A SimpleTag that is not one of the service's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Tag {
    /// The document's index.
    pub index: u64,
    /// TagName.
    pub name: String,
    /// TagString or TagBinary.
    pub value: TagValue,
    /// TagLanguage.
    pub language: Option<String>,
    /// TagDefault.
    pub default: Option<bool>,
    /// The Tag's Targets.
    pub targets: Targets,
    /// The names of the enclosing SimpleTags, outermost first (empty for a top-level one).
    pub parents: Vec<String>,
    /// The absolute offset of the SimpleTag element.
    pub offset: u64,
}

/// A BlockGroup's ReferenceBlock values, shared by the frames of one lace.
///
/// Derefs to `[i64]`; empty (and allocation-free) for SimpleBlocks.
///
/// ```
/// use kvs_chunk::References;
///
/// let r = References::from(vec![-33, 40]);
/// assert_eq!(r.len(), 2);
/// assert_eq!(r, [-33, 40]);
/// assert!(References::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct References(Option<std::sync::Arc<[i64]>>);

impl References {
    /// The values as a slice.
    #[must_use]
    pub fn as_slice(&self) -> &[i64] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl std::ops::Deref for References {
    type Target = [i64];

    fn deref(&self) -> &[i64] {
        self.as_slice()
    }
}

impl std::fmt::Debug for References {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl From<Vec<i64>> for References {
    fn from(v: Vec<i64>) -> Self {
        if v.is_empty() { Self(None) } else { Self(Some(v.into())) }
    }
}

impl From<&[i64]> for References {
    fn from(v: &[i64]) -> Self {
        if v.is_empty() { Self(None) } else { Self(Some(v.into())) }
    }
}

impl<const N: usize> PartialEq<[i64; N]> for References {
    fn eq(&self, other: &[i64; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<[i64]> for References {
    fn eq(&self, other: &[i64]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<i64>> for References {
    fn eq(&self, other: &Vec<i64>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<'a> IntoIterator for &'a References {
    type Item = &'a i64;
    type IntoIter = std::slice::Iter<'a, i64>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

/// Something in the input that breaks a rule, read around by the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// The document's index.
    pub index: u64,
    /// The absolute offset of the element concerned.
    pub offset: u64,
    /// What happened.
    pub kind: WarningKind,
}

/// What a [`Warning`] is about. Each kind is bounded: the decoder never keeps more than its
/// [`Limits`](kvs_ebml::Limits) allow, whatever the input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A BlockGroup had more ReferenceBlocks than `Limits::max_references`: the first ones
    /// were kept (the frame stays a non-keyframe), the rest counted here.
    ReferencesDropped {
        /// How many were dropped.
        dropped: u64,
    },
    /// A BlockGroup had more than one Block: the first was kept, the others dropped.
    ExtraBlocks {
        /// How many Blocks were dropped.
        dropped: u64,
    },
    /// A document had more than one Tracks element: the last replaces the earlier ones (this
    /// warning comes before its `Event::Tracks`).
    TracksReplaced,
    /// A TrackEntry repeats a TrackNumber of the same Tracks: the first entry was kept.
    DuplicateTrackNumber {
        /// The repeated number.
        number: u64,
    },
    /// A TrackEntry has a TrackNumber no block can refer to (0, missing, or above the
    /// largest 8-byte VINT, 2^56 - 2): the entry was dropped.
    InvalidTrackNumber {
        /// The number read (0 when missing).
        number: u64,
    },
    /// A Tracks element had more TrackEntries than `Limits::max_track_entries`: the rest
    /// were dropped.
    TrackEntriesDropped {
        /// How many were dropped.
        dropped: u64,
    },
    /// A block refers to a track the document's Tracks does not declare (or comes before any
    /// Tracks). Its frames are still delivered; writers should not copy them. Sent once per
    /// track number and document (for the first 16 such numbers).
    UndeclaredTrack {
        /// The block's track number.
        track: u64,
    },
    /// A merged document's `FragmentStart` was not followed by the document's `Tracks` again:
    /// the copies of the tracks repeated for its fragments would have exceeded 8 times the
    /// document's size (plus 1 MiB), a hostile layout. The fragment uses the last `Tracks`.
    TracksNotRepeated,
    /// SimpleTags beyond `Limits::max_tags` or `Limits::max_tag_bytes` in one document were
    /// dropped (the service's own tags are still read). Sent at the end of the Tag element
    /// that dropped them.
    TagsDropped {
        /// SimpleTags dropped.
        count: u64,
        /// Bytes of names and values dropped.
        bytes: u64,
    },
}

impl WarningKind {
    /// A short stable name for the kind (`references-dropped`, `undeclared-track`, ...).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::ReferencesDropped { .. } => "references-dropped",
            Self::ExtraBlocks { .. } => "extra-blocks",
            Self::TracksReplaced => "tracks-replaced",
            Self::DuplicateTrackNumber { .. } => "duplicate-track-number",
            Self::InvalidTrackNumber { .. } => "invalid-track-number",
            Self::TrackEntriesDropped { .. } => "track-entries-dropped",
            Self::UndeclaredTrack { .. } => "undeclared-track",
            Self::TagsDropped { .. } => "tags-dropped",
            Self::TracksNotRepeated => "tracks-not-repeated",
        }
    }
}

impl std::fmt::Display for WarningKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ReferencesDropped { dropped } => {
                write!(f, "BlockGroup has too many ReferenceBlocks: {dropped} dropped")
            }
            Self::ExtraBlocks { dropped } => {
                write!(f, "BlockGroup has more than one Block: the first kept, {dropped} dropped")
            }
            Self::TracksReplaced => write!(f, "a second Tracks element replaces the first"),
            Self::DuplicateTrackNumber { number } => {
                write!(f, "TrackNumber {number} appears twice in Tracks: the first entry kept")
            }
            Self::InvalidTrackNumber { number } => {
                write!(f, "TrackNumber {number} cannot be used by a block: the entry dropped")
            }
            Self::TrackEntriesDropped { dropped } => {
                write!(f, "Tracks has too many TrackEntries: {dropped} dropped")
            }
            Self::UndeclaredTrack { track } => {
                write!(f, "block for track {track}, which no Tracks read so far declares")
            }
            Self::TagsDropped { count, bytes } => {
                write!(f, "tag limit reached: {count} SimpleTags ({bytes} bytes) dropped")
            }
            Self::TracksNotRepeated => {
                write!(f, "tracks not repeated for this fragment: too many copies for the document's size")
            }
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.kind, self.offset)
    }
}
