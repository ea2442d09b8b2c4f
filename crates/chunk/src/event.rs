//! The events a GetMedia payload (or any Matroska/WebM stream) decodes into.

use bytes::Bytes;

use crate::aws::{ErrorId, FragmentNumber};

/// One event, in stream order.
///
/// For a GetMedia payload each document is one fragment: `DocumentStart`, `Tracks`,
/// `FragmentMetadata` (as soon as the service's pre-cluster tags are complete), the frames
/// and tags, `FragmentEnd` (as soon as the continuation token arrives after a cluster, else
/// at the end of the document), `DocumentEnd`. A plain Matroska file is one document without
/// metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
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
    Frame(Frame),
    /// A tag that is not one of the service's own (producer tags, nested ones too).
    ///
    /// Boxed: a `Tag` is twice the size of a `Frame`, and every event is as large as its
    /// largest variant; frames are the hot path, tags are rare.
    Tag(Box<Tag>),
    /// The service reported an error inside the stream (`AWS_KINESISVIDEO_ERROR_ID`).
    StreamError(StreamError),
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
    /// After malformed input the decoder skipped bytes and resumed at a top-level element
    /// (only with resynchronisation on).
    Resynced {
        /// Where reading resumed.
        offset: u64,
        /// How many bytes were skipped.
        skipped: u64,
    },
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

impl TrackType {
    /// The type for a TrackType value.
    #[must_use]
    pub const fn from_u64(v: u64) -> Self {
        match v {
            1 => Self::Video,
            2 => Self::Audio,
            3 => Self::Complex,
            16 => Self::Logo,
            17 => Self::Subtitle,
            18 => Self::Buttons,
            32 => Self::Control,
            33 => Self::Metadata,
            other => Self::Other(other),
        }
    }
}

/// Video settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// Audio settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AudioSettings {
    /// SamplingFrequency in Hz.
    pub sampling_frequency: Option<f64>,
    /// Channels.
    pub channels: Option<u64>,
    /// BitDepth.
    pub bit_depth: Option<u64>,
}

/// A track (Matroska TrackEntry).
#[derive(Debug, Clone, PartialEq, Default)]
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
}

/// One frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
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
    /// ReferenceBlock values (relative timestamps, TimestampScale units; BlockGroup only).
    pub references: Vec<i64>,
    /// The frame's index within its lace and the lace's frame count (0 of 1 when unlaced).
    pub lace: (u16, u16),
    /// The absolute offset of the SimpleBlock or Block element.
    pub block_offset: u64,
    /// The frame's payload: a zero-copy slice of the input.
    pub data: Bytes,
}

impl Frame {
    /// The timestamp in whole milliseconds (rounded towards negative infinity).
    #[must_use]
    pub const fn timestamp_ms(&self) -> i64 {
        self.timestamp_ns.div_euclid(1_000_000)
    }
}

/// The service's metadata of one fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentMetadata {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    pub fragment_number: Option<FragmentNumber>,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, epoch milliseconds (exact).
    pub server_timestamp_ms: Option<i64>,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, milliseconds (exact; may be relative).
    pub producer_timestamp_ms: Option<i64>,
}

/// The end of a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentEnd {
    /// The document's index.
    pub index: u64,
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW`.
    pub millis_behind_now: Option<u64>,
    /// `AWS_KINESISVIDEO_CONTINUATION_TOKEN`: resume GetMedia after this fragment with it.
    pub continuation_token: Option<String>,
    /// Whether the continuation token arrived: false for a cut stream, a truncated capture
    /// or a plain Matroska file.
    pub complete: bool,
}

/// An in-stream error reported by the service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamError {
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
