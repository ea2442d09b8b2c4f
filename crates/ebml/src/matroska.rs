//! The Matroska (and `WebM`) schema, as data.
//!
//! [`ELEMENTS`] has one row per element of the EBML header (RFC 8794), the global `Void`
//! and `CRC-32` elements, and every element of Matroska (RFC 9559), deprecated ones included
//! (`EncryptedBlock`, `SilentTracks`, the `DivX` trick-track elements, ...) since real files
//! still carry them. Names are the RFC 9559 names (`Timestamp` for `0xE7`, `TimestampScale`
//! for `0x2AD7B1`, `SegmentUUID` for `0x73A4`, `FileMediaType` for `0x4660`, ...).
//!
//! [`ids`] names every id as a constant, [`RESYNC_ANCHORS`] lists the ids a reader may
//! resynchronise on, and [`MatroskaSchema`] is a cheap handle to the table, built once.

use std::sync::OnceLock;

use crate::ElementId;
use crate::schema::{ElementInfo, ElementType, Parent, Schema, TableSchema};

/// `Parent::Root`, `Parent::Global`, or the parent element named by its [`ids`] constant.
macro_rules! parent {
    (Root) => {
        Parent::Root
    };
    (Global) => {
        Parent::Global
    };
    ($p:ident) => {
        Parent::Element(ids::$p)
    };
}

/// A row, marked recursive when asked.
macro_rules! row {
    ($row:expr) => {
        $row
    };
    ($row:expr, recursive) => {
        $row.recursive()
    };
}

/// Generates both [`ids`] and [`ELEMENTS`] from one list, so that they cannot disagree.
///
/// Each entry is `CONST = id, "SpecName", ElementType variant, parent[, recursive];` where
/// the parent is `Root`, `Global` or the [`ids`] constant of the parent master.
macro_rules! matroska_elements {
    ($($konst:ident = $id:literal, $name:literal, $ty:ident, $parent:tt $(, $rec:ident)?;)*) => {
        /// The id of every element of [`ELEMENTS`], named after its specification name
        /// (`SimpleBlock` is [`ids::SIMPLE_BLOCK`], `CRC-32` is [`ids::CRC32`]).
        pub mod ids {
            use crate::ElementId;

            $(
                #[doc = concat!(
                    "`", $name, "` (", stringify!($ty), "), id `", stringify!($id), "`."
                )]
                pub const $konst: ElementId = ElementId($id);
            )*
        }

        /// Every element of the EBML header, the global elements and Matroska (RFC 9559), in
        /// specification order.
        pub static ELEMENTS: &[ElementInfo] = &[
            $(row!(ElementInfo::new($id, $name, ElementType::$ty, parent!($parent)) $(, $rec)?),)*
        ];
    };
}

matroska_elements! {
    // ---- EBML header (RFC 8794 section 11.2) ----
    EBML = 0x1A45DFA3, "EBML", Master, Root;
    EBML_VERSION = 0x4286, "EBMLVersion", Unsigned, EBML;
    EBML_READ_VERSION = 0x42F7, "EBMLReadVersion", Unsigned, EBML;
    EBML_MAX_ID_LENGTH = 0x42F2, "EBMLMaxIDLength", Unsigned, EBML;
    EBML_MAX_SIZE_LENGTH = 0x42F3, "EBMLMaxSizeLength", Unsigned, EBML;
    DOC_TYPE = 0x4282, "DocType", String, EBML;
    DOC_TYPE_VERSION = 0x4287, "DocTypeVersion", Unsigned, EBML;
    DOC_TYPE_READ_VERSION = 0x4285, "DocTypeReadVersion", Unsigned, EBML;
    DOC_TYPE_EXTENSION = 0x4281, "DocTypeExtension", Master, EBML;
    DOC_TYPE_EXTENSION_NAME = 0x4283, "DocTypeExtensionName", String, DOC_TYPE_EXTENSION;
    DOC_TYPE_EXTENSION_VERSION = 0x4284, "DocTypeExtensionVersion", Unsigned, DOC_TYPE_EXTENSION;

    // ---- Global elements (RFC 8794 section 11.3) ----
    CRC32 = 0xBF, "CRC-32", Binary, Global;
    VOID = 0xEC, "Void", Binary, Global;

    // ---- Segment ----
    SEGMENT = 0x18538067, "Segment", Master, Root;

    // ---- SeekHead ----
    SEEK_HEAD = 0x114D9B74, "SeekHead", Master, SEGMENT;
    SEEK = 0x4DBB, "Seek", Master, SEEK_HEAD;
    SEEK_ID = 0x53AB, "SeekID", Binary, SEEK;
    SEEK_POSITION = 0x53AC, "SeekPosition", Unsigned, SEEK;

    // ---- Info ----
    INFO = 0x1549A966, "Info", Master, SEGMENT;
    SEGMENT_UUID = 0x73A4, "SegmentUUID", Binary, INFO;
    SEGMENT_FILENAME = 0x7384, "SegmentFilename", Utf8, INFO;
    PREV_UUID = 0x3CB923, "PrevUUID", Binary, INFO;
    PREV_FILENAME = 0x3C83AB, "PrevFilename", Utf8, INFO;
    NEXT_UUID = 0x3EB923, "NextUUID", Binary, INFO;
    NEXT_FILENAME = 0x3E83BB, "NextFilename", Utf8, INFO;
    SEGMENT_FAMILY = 0x4444, "SegmentFamily", Binary, INFO;
    CHAPTER_TRANSLATE = 0x6924, "ChapterTranslate", Master, INFO;
    CHAPTER_TRANSLATE_ID = 0x69A5, "ChapterTranslateID", Binary, CHAPTER_TRANSLATE;
    CHAPTER_TRANSLATE_CODEC = 0x69BF, "ChapterTranslateCodec", Unsigned, CHAPTER_TRANSLATE;
    CHAPTER_TRANSLATE_EDITION_UID = 0x69FC, "ChapterTranslateEditionUID", Unsigned,
        CHAPTER_TRANSLATE;
    TIMESTAMP_SCALE = 0x2AD7B1, "TimestampScale", Unsigned, INFO;
    DURATION = 0x4489, "Duration", Float, INFO;
    DATE_UTC = 0x4461, "DateUTC", Date, INFO;
    TITLE = 0x7BA9, "Title", Utf8, INFO;
    MUXING_APP = 0x4D80, "MuxingApp", Utf8, INFO;
    WRITING_APP = 0x5741, "WritingApp", Utf8, INFO;

    // ---- Cluster ----
    CLUSTER = 0x1F43B675, "Cluster", Master, SEGMENT;
    TIMESTAMP = 0xE7, "Timestamp", Unsigned, CLUSTER;
    SILENT_TRACKS = 0x5854, "SilentTracks", Master, CLUSTER;
    SILENT_TRACK_NUMBER = 0x58D7, "SilentTrackNumber", Unsigned, SILENT_TRACKS;
    POSITION = 0xA7, "Position", Unsigned, CLUSTER;
    PREV_SIZE = 0xAB, "PrevSize", Unsigned, CLUSTER;
    SIMPLE_BLOCK = 0xA3, "SimpleBlock", Binary, CLUSTER;
    BLOCK_GROUP = 0xA0, "BlockGroup", Master, CLUSTER;
    BLOCK = 0xA1, "Block", Binary, BLOCK_GROUP;
    BLOCK_VIRTUAL = 0xA2, "BlockVirtual", Binary, BLOCK_GROUP;
    BLOCK_ADDITIONS = 0x75A1, "BlockAdditions", Master, BLOCK_GROUP;
    BLOCK_MORE = 0xA6, "BlockMore", Master, BLOCK_ADDITIONS;
    BLOCK_ADDITIONAL = 0xA5, "BlockAdditional", Binary, BLOCK_MORE;
    BLOCK_ADD_ID = 0xEE, "BlockAddID", Unsigned, BLOCK_MORE;
    BLOCK_DURATION = 0x9B, "BlockDuration", Unsigned, BLOCK_GROUP;
    REFERENCE_PRIORITY = 0xFA, "ReferencePriority", Unsigned, BLOCK_GROUP;
    REFERENCE_BLOCK = 0xFB, "ReferenceBlock", Signed, BLOCK_GROUP;
    REFERENCE_VIRTUAL = 0xFD, "ReferenceVirtual", Signed, BLOCK_GROUP;
    CODEC_STATE = 0xA4, "CodecState", Binary, BLOCK_GROUP;
    DISCARD_PADDING = 0x75A2, "DiscardPadding", Signed, BLOCK_GROUP;
    SLICES = 0x8E, "Slices", Master, BLOCK_GROUP;
    TIME_SLICE = 0xE8, "TimeSlice", Master, SLICES;
    LACE_NUMBER = 0xCC, "LaceNumber", Unsigned, TIME_SLICE;
    FRAME_NUMBER = 0xCD, "FrameNumber", Unsigned, TIME_SLICE;
    BLOCK_ADDITION_ID = 0xCB, "BlockAdditionID", Unsigned, TIME_SLICE;
    DELAY = 0xCE, "Delay", Unsigned, TIME_SLICE;
    SLICE_DURATION = 0xCF, "SliceDuration", Unsigned, TIME_SLICE;
    REFERENCE_FRAME = 0xC8, "ReferenceFrame", Master, BLOCK_GROUP;
    REFERENCE_OFFSET = 0xC9, "ReferenceOffset", Unsigned, REFERENCE_FRAME;
    REFERENCE_TIMESTAMP = 0xCA, "ReferenceTimestamp", Unsigned, REFERENCE_FRAME;
    ENCRYPTED_BLOCK = 0xAF, "EncryptedBlock", Binary, CLUSTER;

    // ---- Tracks ----
    TRACKS = 0x1654AE6B, "Tracks", Master, SEGMENT;
    TRACK_ENTRY = 0xAE, "TrackEntry", Master, TRACKS;
    TRACK_NUMBER = 0xD7, "TrackNumber", Unsigned, TRACK_ENTRY;
    TRACK_UID = 0x73C5, "TrackUID", Unsigned, TRACK_ENTRY;
    TRACK_TYPE = 0x83, "TrackType", Unsigned, TRACK_ENTRY;
    FLAG_ENABLED = 0xB9, "FlagEnabled", Unsigned, TRACK_ENTRY;
    FLAG_DEFAULT = 0x88, "FlagDefault", Unsigned, TRACK_ENTRY;
    FLAG_FORCED = 0x55AA, "FlagForced", Unsigned, TRACK_ENTRY;
    FLAG_HEARING_IMPAIRED = 0x55AB, "FlagHearingImpaired", Unsigned, TRACK_ENTRY;
    FLAG_VISUAL_IMPAIRED = 0x55AC, "FlagVisualImpaired", Unsigned, TRACK_ENTRY;
    FLAG_TEXT_DESCRIPTIONS = 0x55AD, "FlagTextDescriptions", Unsigned, TRACK_ENTRY;
    FLAG_ORIGINAL = 0x55AE, "FlagOriginal", Unsigned, TRACK_ENTRY;
    FLAG_COMMENTARY = 0x55AF, "FlagCommentary", Unsigned, TRACK_ENTRY;
    FLAG_LACING = 0x9C, "FlagLacing", Unsigned, TRACK_ENTRY;
    MIN_CACHE = 0x6DE7, "MinCache", Unsigned, TRACK_ENTRY;
    MAX_CACHE = 0x6DF8, "MaxCache", Unsigned, TRACK_ENTRY;
    DEFAULT_DURATION = 0x23E383, "DefaultDuration", Unsigned, TRACK_ENTRY;
    DEFAULT_DECODED_FIELD_DURATION = 0x234E7A, "DefaultDecodedFieldDuration", Unsigned,
        TRACK_ENTRY;
    TRACK_TIMESTAMP_SCALE = 0x23314F, "TrackTimestampScale", Float, TRACK_ENTRY;
    TRACK_OFFSET = 0x537F, "TrackOffset", Signed, TRACK_ENTRY;
    MAX_BLOCK_ADDITION_ID = 0x55EE, "MaxBlockAdditionID", Unsigned, TRACK_ENTRY;
    BLOCK_ADDITION_MAPPING = 0x41E4, "BlockAdditionMapping", Master, TRACK_ENTRY;
    BLOCK_ADD_ID_VALUE = 0x41F0, "BlockAddIDValue", Unsigned, BLOCK_ADDITION_MAPPING;
    BLOCK_ADD_ID_NAME = 0x41A4, "BlockAddIDName", String, BLOCK_ADDITION_MAPPING;
    BLOCK_ADD_ID_TYPE = 0x41E7, "BlockAddIDType", Unsigned, BLOCK_ADDITION_MAPPING;
    BLOCK_ADD_ID_EXTRA_DATA = 0x41ED, "BlockAddIDExtraData", Binary, BLOCK_ADDITION_MAPPING;
    NAME = 0x536E, "Name", Utf8, TRACK_ENTRY;
    LANGUAGE = 0x22B59C, "Language", String, TRACK_ENTRY;
    LANGUAGE_BCP47 = 0x22B59D, "LanguageBCP47", String, TRACK_ENTRY;
    CODEC_ID = 0x86, "CodecID", String, TRACK_ENTRY;
    CODEC_PRIVATE = 0x63A2, "CodecPrivate", Binary, TRACK_ENTRY;
    CODEC_NAME = 0x258688, "CodecName", Utf8, TRACK_ENTRY;
    ATTACHMENT_LINK = 0x7446, "AttachmentLink", Unsigned, TRACK_ENTRY;
    CODEC_SETTINGS = 0x3A9697, "CodecSettings", Utf8, TRACK_ENTRY;
    CODEC_INFO_URL = 0x3B4040, "CodecInfoURL", String, TRACK_ENTRY;
    CODEC_DOWNLOAD_URL = 0x26B240, "CodecDownloadURL", String, TRACK_ENTRY;
    CODEC_DECODE_ALL = 0xAA, "CodecDecodeAll", Unsigned, TRACK_ENTRY;
    TRACK_OVERLAY = 0x6FAB, "TrackOverlay", Unsigned, TRACK_ENTRY;
    CODEC_DELAY = 0x56AA, "CodecDelay", Unsigned, TRACK_ENTRY;
    SEEK_PRE_ROLL = 0x56BB, "SeekPreRoll", Unsigned, TRACK_ENTRY;
    TRACK_TRANSLATE = 0x6624, "TrackTranslate", Master, TRACK_ENTRY;
    TRACK_TRANSLATE_TRACK_ID = 0x66A5, "TrackTranslateTrackID", Binary, TRACK_TRANSLATE;
    TRACK_TRANSLATE_CODEC = 0x66BF, "TrackTranslateCodec", Unsigned, TRACK_TRANSLATE;
    TRACK_TRANSLATE_EDITION_UID = 0x66FC, "TrackTranslateEditionUID", Unsigned, TRACK_TRANSLATE;

    // ---- TrackEntry / Video ----
    VIDEO = 0xE0, "Video", Master, TRACK_ENTRY;
    FLAG_INTERLACED = 0x9A, "FlagInterlaced", Unsigned, VIDEO;
    FIELD_ORDER = 0x9D, "FieldOrder", Unsigned, VIDEO;
    STEREO_MODE = 0x53B8, "StereoMode", Unsigned, VIDEO;
    ALPHA_MODE = 0x53C0, "AlphaMode", Unsigned, VIDEO;
    OLD_STEREO_MODE = 0x53B9, "OldStereoMode", Unsigned, VIDEO;
    PIXEL_WIDTH = 0xB0, "PixelWidth", Unsigned, VIDEO;
    PIXEL_HEIGHT = 0xBA, "PixelHeight", Unsigned, VIDEO;
    PIXEL_CROP_BOTTOM = 0x54AA, "PixelCropBottom", Unsigned, VIDEO;
    PIXEL_CROP_TOP = 0x54BB, "PixelCropTop", Unsigned, VIDEO;
    PIXEL_CROP_LEFT = 0x54CC, "PixelCropLeft", Unsigned, VIDEO;
    PIXEL_CROP_RIGHT = 0x54DD, "PixelCropRight", Unsigned, VIDEO;
    DISPLAY_WIDTH = 0x54B0, "DisplayWidth", Unsigned, VIDEO;
    DISPLAY_HEIGHT = 0x54BA, "DisplayHeight", Unsigned, VIDEO;
    DISPLAY_UNIT = 0x54B2, "DisplayUnit", Unsigned, VIDEO;
    ASPECT_RATIO_TYPE = 0x54B3, "AspectRatioType", Unsigned, VIDEO;
    UNCOMPRESSED_FOURCC = 0x2EB524, "UncompressedFourCC", Binary, VIDEO;
    GAMMA_VALUE = 0x2FB523, "GammaValue", Float, VIDEO;
    FRAME_RATE = 0x2383E3, "FrameRate", Float, VIDEO;
    COLOUR = 0x55B0, "Colour", Master, VIDEO;
    MATRIX_COEFFICIENTS = 0x55B1, "MatrixCoefficients", Unsigned, COLOUR;
    BITS_PER_CHANNEL = 0x55B2, "BitsPerChannel", Unsigned, COLOUR;
    CHROMA_SUBSAMPLING_HORZ = 0x55B3, "ChromaSubsamplingHorz", Unsigned, COLOUR;
    CHROMA_SUBSAMPLING_VERT = 0x55B4, "ChromaSubsamplingVert", Unsigned, COLOUR;
    CB_SUBSAMPLING_HORZ = 0x55B5, "CbSubsamplingHorz", Unsigned, COLOUR;
    CB_SUBSAMPLING_VERT = 0x55B6, "CbSubsamplingVert", Unsigned, COLOUR;
    CHROMA_SITING_HORZ = 0x55B7, "ChromaSitingHorz", Unsigned, COLOUR;
    CHROMA_SITING_VERT = 0x55B8, "ChromaSitingVert", Unsigned, COLOUR;
    RANGE = 0x55B9, "Range", Unsigned, COLOUR;
    TRANSFER_CHARACTERISTICS = 0x55BA, "TransferCharacteristics", Unsigned, COLOUR;
    PRIMARIES = 0x55BB, "Primaries", Unsigned, COLOUR;
    MAX_CLL = 0x55BC, "MaxCLL", Unsigned, COLOUR;
    MAX_FALL = 0x55BD, "MaxFALL", Unsigned, COLOUR;
    MASTERING_METADATA = 0x55D0, "MasteringMetadata", Master, COLOUR;
    PRIMARY_R_CHROMATICITY_X = 0x55D1, "PrimaryRChromaticityX", Float, MASTERING_METADATA;
    PRIMARY_R_CHROMATICITY_Y = 0x55D2, "PrimaryRChromaticityY", Float, MASTERING_METADATA;
    PRIMARY_G_CHROMATICITY_X = 0x55D3, "PrimaryGChromaticityX", Float, MASTERING_METADATA;
    PRIMARY_G_CHROMATICITY_Y = 0x55D4, "PrimaryGChromaticityY", Float, MASTERING_METADATA;
    PRIMARY_B_CHROMATICITY_X = 0x55D5, "PrimaryBChromaticityX", Float, MASTERING_METADATA;
    PRIMARY_B_CHROMATICITY_Y = 0x55D6, "PrimaryBChromaticityY", Float, MASTERING_METADATA;
    WHITE_POINT_CHROMATICITY_X = 0x55D7, "WhitePointChromaticityX", Float, MASTERING_METADATA;
    WHITE_POINT_CHROMATICITY_Y = 0x55D8, "WhitePointChromaticityY", Float, MASTERING_METADATA;
    LUMINANCE_MAX = 0x55D9, "LuminanceMax", Float, MASTERING_METADATA;
    LUMINANCE_MIN = 0x55DA, "LuminanceMin", Float, MASTERING_METADATA;
    PROJECTION = 0x7670, "Projection", Master, VIDEO;
    PROJECTION_TYPE = 0x7671, "ProjectionType", Unsigned, PROJECTION;
    PROJECTION_PRIVATE = 0x7672, "ProjectionPrivate", Binary, PROJECTION;
    PROJECTION_POSE_YAW = 0x7673, "ProjectionPoseYaw", Float, PROJECTION;
    PROJECTION_POSE_PITCH = 0x7674, "ProjectionPosePitch", Float, PROJECTION;
    PROJECTION_POSE_ROLL = 0x7675, "ProjectionPoseRoll", Float, PROJECTION;

    // ---- TrackEntry / Audio ----
    AUDIO = 0xE1, "Audio", Master, TRACK_ENTRY;
    SAMPLING_FREQUENCY = 0xB5, "SamplingFrequency", Float, AUDIO;
    OUTPUT_SAMPLING_FREQUENCY = 0x78B5, "OutputSamplingFrequency", Float, AUDIO;
    CHANNELS = 0x9F, "Channels", Unsigned, AUDIO;
    CHANNEL_POSITIONS = 0x7D7B, "ChannelPositions", Binary, AUDIO;
    BIT_DEPTH = 0x6264, "BitDepth", Unsigned, AUDIO;
    EMPHASIS = 0x52F1, "Emphasis", Unsigned, AUDIO;

    // ---- TrackEntry / TrackOperation ----
    TRACK_OPERATION = 0xE2, "TrackOperation", Master, TRACK_ENTRY;
    TRACK_COMBINE_PLANES = 0xE3, "TrackCombinePlanes", Master, TRACK_OPERATION;
    TRACK_PLANE = 0xE4, "TrackPlane", Master, TRACK_COMBINE_PLANES;
    TRACK_PLANE_UID = 0xE5, "TrackPlaneUID", Unsigned, TRACK_PLANE;
    TRACK_PLANE_TYPE = 0xE6, "TrackPlaneType", Unsigned, TRACK_PLANE;
    TRACK_JOIN_BLOCKS = 0xE9, "TrackJoinBlocks", Master, TRACK_OPERATION;
    TRACK_JOIN_UID = 0xED, "TrackJoinUID", Unsigned, TRACK_JOIN_BLOCKS;

    // ---- TrackEntry / DivX trick tracks ----
    TRICK_TRACK_UID = 0xC0, "TrickTrackUID", Unsigned, TRACK_ENTRY;
    TRICK_TRACK_SEGMENT_UID = 0xC1, "TrickTrackSegmentUID", Binary, TRACK_ENTRY;
    TRICK_TRACK_FLAG = 0xC6, "TrickTrackFlag", Unsigned, TRACK_ENTRY;
    TRICK_MASTER_TRACK_UID = 0xC7, "TrickMasterTrackUID", Unsigned, TRACK_ENTRY;
    TRICK_MASTER_TRACK_SEGMENT_UID = 0xC4, "TrickMasterTrackSegmentUID", Binary, TRACK_ENTRY;

    // ---- TrackEntry / ContentEncodings ----
    CONTENT_ENCODINGS = 0x6D80, "ContentEncodings", Master, TRACK_ENTRY;
    CONTENT_ENCODING = 0x6240, "ContentEncoding", Master, CONTENT_ENCODINGS;
    CONTENT_ENCODING_ORDER = 0x5031, "ContentEncodingOrder", Unsigned, CONTENT_ENCODING;
    CONTENT_ENCODING_SCOPE = 0x5032, "ContentEncodingScope", Unsigned, CONTENT_ENCODING;
    CONTENT_ENCODING_TYPE = 0x5033, "ContentEncodingType", Unsigned, CONTENT_ENCODING;
    CONTENT_COMPRESSION = 0x5034, "ContentCompression", Master, CONTENT_ENCODING;
    CONTENT_COMP_ALGO = 0x4254, "ContentCompAlgo", Unsigned, CONTENT_COMPRESSION;
    CONTENT_COMP_SETTINGS = 0x4255, "ContentCompSettings", Binary, CONTENT_COMPRESSION;
    CONTENT_ENCRYPTION = 0x5035, "ContentEncryption", Master, CONTENT_ENCODING;
    CONTENT_ENC_ALGO = 0x47E1, "ContentEncAlgo", Unsigned, CONTENT_ENCRYPTION;
    CONTENT_ENC_KEY_ID = 0x47E2, "ContentEncKeyID", Binary, CONTENT_ENCRYPTION;
    CONTENT_ENC_AES_SETTINGS = 0x47E7, "ContentEncAESSettings", Master, CONTENT_ENCRYPTION;
    AES_SETTINGS_CIPHER_MODE = 0x47E8, "AESSettingsCipherMode", Unsigned,
        CONTENT_ENC_AES_SETTINGS;
    CONTENT_SIGNATURE = 0x47E3, "ContentSignature", Binary, CONTENT_ENCRYPTION;
    CONTENT_SIG_KEY_ID = 0x47E4, "ContentSigKeyID", Binary, CONTENT_ENCRYPTION;
    CONTENT_SIG_ALGO = 0x47E5, "ContentSigAlgo", Unsigned, CONTENT_ENCRYPTION;
    CONTENT_SIG_HASH_ALGO = 0x47E6, "ContentSigHashAlgo", Unsigned, CONTENT_ENCRYPTION;

    // ---- Cues ----
    CUES = 0x1C53BB6B, "Cues", Master, SEGMENT;
    CUE_POINT = 0xBB, "CuePoint", Master, CUES;
    CUE_TIME = 0xB3, "CueTime", Unsigned, CUE_POINT;
    CUE_TRACK_POSITIONS = 0xB7, "CueTrackPositions", Master, CUE_POINT;
    CUE_TRACK = 0xF7, "CueTrack", Unsigned, CUE_TRACK_POSITIONS;
    CUE_CLUSTER_POSITION = 0xF1, "CueClusterPosition", Unsigned, CUE_TRACK_POSITIONS;
    CUE_RELATIVE_POSITION = 0xF0, "CueRelativePosition", Unsigned, CUE_TRACK_POSITIONS;
    CUE_DURATION = 0xB2, "CueDuration", Unsigned, CUE_TRACK_POSITIONS;
    CUE_BLOCK_NUMBER = 0x5378, "CueBlockNumber", Unsigned, CUE_TRACK_POSITIONS;
    CUE_CODEC_STATE = 0xEA, "CueCodecState", Unsigned, CUE_TRACK_POSITIONS;
    CUE_REFERENCE = 0xDB, "CueReference", Master, CUE_TRACK_POSITIONS;
    CUE_REF_TIME = 0x96, "CueRefTime", Unsigned, CUE_REFERENCE;
    CUE_REF_CLUSTER = 0x97, "CueRefCluster", Unsigned, CUE_REFERENCE;
    CUE_REF_NUMBER = 0x535F, "CueRefNumber", Unsigned, CUE_REFERENCE;
    CUE_REF_CODEC_STATE = 0xEB, "CueRefCodecState", Unsigned, CUE_REFERENCE;

    // ---- Attachments ----
    ATTACHMENTS = 0x1941A469, "Attachments", Master, SEGMENT;
    ATTACHED_FILE = 0x61A7, "AttachedFile", Master, ATTACHMENTS;
    FILE_DESCRIPTION = 0x467E, "FileDescription", Utf8, ATTACHED_FILE;
    FILE_NAME = 0x466E, "FileName", Utf8, ATTACHED_FILE;
    FILE_MEDIA_TYPE = 0x4660, "FileMediaType", String, ATTACHED_FILE;
    FILE_DATA = 0x465C, "FileData", Binary, ATTACHED_FILE;
    FILE_UID = 0x46AE, "FileUID", Unsigned, ATTACHED_FILE;
    FILE_REFERRAL = 0x4675, "FileReferral", Binary, ATTACHED_FILE;
    FILE_USED_START_TIME = 0x4661, "FileUsedStartTime", Unsigned, ATTACHED_FILE;
    FILE_USED_END_TIME = 0x4662, "FileUsedEndTime", Unsigned, ATTACHED_FILE;

    // ---- Chapters (ChapterAtom is recursive) ----
    CHAPTERS = 0x1043A770, "Chapters", Master, SEGMENT;
    EDITION_ENTRY = 0x45B9, "EditionEntry", Master, CHAPTERS;
    EDITION_UID = 0x45BC, "EditionUID", Unsigned, EDITION_ENTRY;
    EDITION_FLAG_HIDDEN = 0x45BD, "EditionFlagHidden", Unsigned, EDITION_ENTRY;
    EDITION_FLAG_DEFAULT = 0x45DB, "EditionFlagDefault", Unsigned, EDITION_ENTRY;
    EDITION_FLAG_ORDERED = 0x45DD, "EditionFlagOrdered", Unsigned, EDITION_ENTRY;
    EDITION_DISPLAY = 0x4520, "EditionDisplay", Master, EDITION_ENTRY;
    EDITION_STRING = 0x4521, "EditionString", Utf8, EDITION_DISPLAY;
    EDITION_LANGUAGE_IETF = 0x45E4, "EditionLanguageIETF", String, EDITION_DISPLAY;
    CHAPTER_ATOM = 0xB6, "ChapterAtom", Master, EDITION_ENTRY, recursive;
    CHAPTER_UID = 0x73C4, "ChapterUID", Unsigned, CHAPTER_ATOM;
    CHAPTER_STRING_UID = 0x5654, "ChapterStringUID", Utf8, CHAPTER_ATOM;
    CHAPTER_TIME_START = 0x91, "ChapterTimeStart", Unsigned, CHAPTER_ATOM;
    CHAPTER_TIME_END = 0x92, "ChapterTimeEnd", Unsigned, CHAPTER_ATOM;
    CHAPTER_FLAG_HIDDEN = 0x98, "ChapterFlagHidden", Unsigned, CHAPTER_ATOM;
    CHAPTER_FLAG_ENABLED = 0x4598, "ChapterFlagEnabled", Unsigned, CHAPTER_ATOM;
    CHAPTER_SEGMENT_UUID = 0x6E67, "ChapterSegmentUUID", Binary, CHAPTER_ATOM;
    CHAPTER_SKIP_TYPE = 0x4588, "ChapterSkipType", Unsigned, CHAPTER_ATOM;
    CHAPTER_SEGMENT_EDITION_UID = 0x6EBC, "ChapterSegmentEditionUID", Unsigned, CHAPTER_ATOM;
    CHAPTER_PHYSICAL_EQUIV = 0x63C3, "ChapterPhysicalEquiv", Unsigned, CHAPTER_ATOM;
    CHAPTER_TRACK = 0x8F, "ChapterTrack", Master, CHAPTER_ATOM;
    CHAPTER_TRACK_UID = 0x89, "ChapterTrackUID", Unsigned, CHAPTER_TRACK;
    CHAPTER_DISPLAY = 0x80, "ChapterDisplay", Master, CHAPTER_ATOM;
    CHAP_STRING = 0x85, "ChapString", Utf8, CHAPTER_DISPLAY;
    CHAP_LANGUAGE = 0x437C, "ChapLanguage", String, CHAPTER_DISPLAY;
    CHAP_LANGUAGE_BCP47 = 0x437D, "ChapLanguageBCP47", String, CHAPTER_DISPLAY;
    CHAP_COUNTRY = 0x437E, "ChapCountry", String, CHAPTER_DISPLAY;
    CHAP_PROCESS = 0x6944, "ChapProcess", Master, CHAPTER_ATOM;
    CHAP_PROCESS_CODEC_ID = 0x6955, "ChapProcessCodecID", Unsigned, CHAP_PROCESS;
    CHAP_PROCESS_PRIVATE = 0x450D, "ChapProcessPrivate", Binary, CHAP_PROCESS;
    CHAP_PROCESS_COMMAND = 0x6911, "ChapProcessCommand", Master, CHAP_PROCESS;
    CHAP_PROCESS_TIME = 0x6922, "ChapProcessTime", Unsigned, CHAP_PROCESS_COMMAND;
    CHAP_PROCESS_DATA = 0x6933, "ChapProcessData", Binary, CHAP_PROCESS_COMMAND;

    // ---- Tags (SimpleTag is recursive) ----
    TAGS = 0x1254C367, "Tags", Master, SEGMENT;
    TAG = 0x7373, "Tag", Master, TAGS;
    TARGETS = 0x63C0, "Targets", Master, TAG;
    TARGET_TYPE_VALUE = 0x68CA, "TargetTypeValue", Unsigned, TARGETS;
    TARGET_TYPE = 0x63CA, "TargetType", String, TARGETS;
    TAG_TRACK_UID = 0x63C5, "TagTrackUID", Unsigned, TARGETS;
    TAG_EDITION_UID = 0x63C9, "TagEditionUID", Unsigned, TARGETS;
    TAG_CHAPTER_UID = 0x63C4, "TagChapterUID", Unsigned, TARGETS;
    TAG_ATTACHMENT_UID = 0x63C6, "TagAttachmentUID", Unsigned, TARGETS;
    SIMPLE_TAG = 0x67C8, "SimpleTag", Master, TAG, recursive;
    TAG_NAME = 0x45A3, "TagName", Utf8, SIMPLE_TAG;
    TAG_LANGUAGE = 0x447A, "TagLanguage", String, SIMPLE_TAG;
    TAG_LANGUAGE_BCP47 = 0x447B, "TagLanguageBCP47", String, SIMPLE_TAG;
    TAG_DEFAULT = 0x4484, "TagDefault", Unsigned, SIMPLE_TAG;
    TAG_DEFAULT_BOGUS = 0x44B4, "TagDefaultBogus", Unsigned, SIMPLE_TAG;
    TAG_STRING = 0x4487, "TagString", Utf8, SIMPLE_TAG;
    TAG_BINARY = 0x4485, "TagBinary", Binary, SIMPLE_TAG;
}

/// The ids a reader may resynchronise on after malformed input: the 4-byte ids of the root
/// elements (`EBML`, `Segment`) and of the top-level elements (the children of `Segment`).
pub static RESYNC_ANCHORS: &[u32] = &[
    ids::EBML.0,
    ids::SEGMENT.0,
    ids::SEEK_HEAD.0,
    ids::INFO.0,
    ids::TRACKS.0,
    ids::CLUSTER.0,
    ids::CUES.0,
    ids::ATTACHMENTS.0,
    ids::CHAPTERS.0,
    ids::TAGS.0,
];

/// The Matroska table, built on first use and shared by every [`MatroskaSchema`].
static TABLE: OnceLock<TableSchema> = OnceLock::new();

/// The Matroska/`WebM` schema: a cheap, copyable handle to [`ELEMENTS`] and its lookup index,
/// which is built once per process.
#[derive(Debug, Clone, Copy)]
pub struct MatroskaSchema(&'static TableSchema);

impl MatroskaSchema {
    /// The schema (builds the shared lookup index on the first call).
    #[must_use]
    pub fn new() -> Self {
        Self(TABLE.get_or_init(|| TableSchema::new(ELEMENTS, RESYNC_ANCHORS)))
    }

    /// The underlying table.
    #[must_use]
    pub fn table(&self) -> &'static TableSchema {
        self.0
    }

    /// The row for `id`, borrowed from the static table.
    #[inline]
    #[must_use]
    pub fn info(&self, id: ElementId) -> Option<&'static ElementInfo> {
        self.0.lookup(id)
    }
}

impl Default for MatroskaSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema for MatroskaSchema {
    #[inline]
    fn lookup(&self, id: ElementId) -> Option<&ElementInfo> {
        self.0.lookup(id)
    }

    #[inline]
    fn is_resync_anchor(&self, id: ElementId) -> bool {
        self.0.is_resync_anchor(id)
    }

    #[inline]
    fn is_descendant(&self, id: ElementId, ancestor: ElementId) -> bool {
        self.0.is_descendant(id, ancestor)
    }
}

/// The Matroska name of `id` (`"SimpleBlock"` for `0xA3`), or `None` for an unknown id.
#[must_use]
pub fn name_of(id: ElementId) -> Option<&'static str> {
    MatroskaSchema::new().info(id).map(|info| info.name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::vint::{encode_id, read_id};

    fn schema() -> MatroskaSchema {
        MatroskaSchema::new()
    }

    #[test]
    fn every_id_is_a_valid_shortest_form_id() {
        for row in ELEMENTS {
            let (bytes, n) = encode_id(row.id);
            assert!((1..=4).contains(&n), "{} {}", row.name, row.id);
            assert_eq!(n, row.id.width(), "{}", row.name);
            // The marker bit sits where the width says, and the id is in its shortest form
            // with data bits not all ones (RFC 8794 section 5).
            let w = u32::try_from(n).unwrap();
            assert_eq!(u32::from(bytes[0]).leading_zeros() - 24, w - 1, "{}", row.name);
            let data = row.id.0 & ((1u32 << (7 * w)) - 1);
            assert_ne!(data, (1u32 << (7 * w)) - 1, "{}: all ones", row.name);
            if w > 1 {
                assert!(data >= (1u32 << (7 * (w - 1))) - 1, "{}: not shortest form", row.name);
            }
            if row.id == ids::CHAPTER_DISPLAY {
                // 0x80 has all-zero data bits, which RFC 8794 section 5 forbade; the RFC 8794
                // erratum (ebml-specification issue 407) makes it valid because Matroska uses
                // it. Accept either answer from the reader here.
                let read = read_id(&bytes[..n]);
                assert!(read == Ok((row.id, n)) || read == Err(crate::vint::VintError::InvalidId(0x80)));
                continue;
            }
            assert_eq!(read_id(&bytes[..n]), Ok((row.id, n)), "{} {}", row.name, row.id);
        }
    }

    #[test]
    fn ids_and_names_are_unique() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for row in ELEMENTS {
            assert!(ids.insert(row.id), "duplicate id {}", row.id);
            assert!(names.insert(row.name), "duplicate name {}", row.name);
        }
        assert!(ELEMENTS.len() > 250, "{} rows", ELEMENTS.len());
        assert!(ELEMENTS.len() < usize::from(u16::MAX));
    }

    #[test]
    fn parents_are_masters_of_the_table() {
        let s = schema();
        for row in ELEMENTS {
            match row.parent {
                Parent::Element(p) => {
                    let parent = s.lookup(p).unwrap_or_else(|| panic!("{}: no parent {p}", row.name));
                    assert_eq!(parent.ty, ElementType::Master, "{}: parent {}", row.name, parent.name);
                }
                Parent::Root => {
                    assert!(row.id == ids::EBML || row.id == ids::SEGMENT, "{}", row.name);
                }
                Parent::Global => {
                    assert!(row.id == ids::VOID || row.id == ids::CRC32, "{}", row.name)
                }
            }
            if row.recursive {
                assert_eq!(row.ty, ElementType::Master, "{}", row.name);
            }
        }
        let recursive: Vec<_> = ELEMENTS.iter().filter(|r| r.recursive).map(|r| r.name).collect();
        assert_eq!(recursive, ["ChapterAtom", "SimpleTag"]);
    }

    #[test]
    fn every_row_is_found_by_its_id_and_name() {
        let s = schema();
        for row in ELEMENTS {
            assert_eq!(s.lookup(row.id), Some(row), "{}", row.name);
            assert_eq!(s.table().by_name(row.name), Some(row));
            assert_eq!(name_of(row.id), Some(row.name));
        }
    }

    /// The lookup index agrees with a scan of the table: every id finds its row (by
    /// whichever index, one-byte or hashed), and ids not in it, of every width, find none.
    #[test]
    fn lookup_index_agrees_with_a_scan() {
        let s = schema();
        let rows = s.0.rows();
        for row in rows {
            assert_eq!(s.lookup(row.id).map(|r| r.id), Some(row.id), "{}", row.name);
        }
        let mut probe = 0x1234_5678u32;
        for _ in 0..200_000 {
            probe = probe.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            for id in [probe >> 24 | 0x80, probe >> 16 | 0x4000, probe >> 8 | 0x20_0000, probe | 0x1000_0000]
            {
                let id = ElementId(id);
                let scanned = rows.iter().find(|r| r.id == id).map(|r| r.id);
                assert_eq!(s.lookup(id).map(|r| r.id), scanned, "{id}");
            }
        }
    }

    #[test]
    fn lookups() {
        let s = schema();
        let check = |id: ElementId, name: &str, ty: ElementType| {
            let info = s.lookup(id).unwrap_or_else(|| panic!("{id} not found"));
            assert_eq!((info.name, info.ty), (name, ty), "{id}");
        };
        check(ElementId(0x1A45DFA3), "EBML", ElementType::Master);
        check(ElementId(0x4282), "DocType", ElementType::String);
        check(ElementId(0xEC), "Void", ElementType::Binary);
        check(ElementId(0xBF), "CRC-32", ElementType::Binary);
        check(ElementId(0x18538067), "Segment", ElementType::Master);
        check(ElementId(0x2AD7B1), "TimestampScale", ElementType::Unsigned);
        check(ElementId(0x4489), "Duration", ElementType::Float);
        check(ElementId(0x4461), "DateUTC", ElementType::Date);
        check(ElementId(0xE7), "Timestamp", ElementType::Unsigned);
        check(ElementId(0xA3), "SimpleBlock", ElementType::Binary);
        check(ElementId(0xFB), "ReferenceBlock", ElementType::Signed);
        check(ElementId(0x75A2), "DiscardPadding", ElementType::Signed);
        check(ElementId(0x86), "CodecID", ElementType::String);
        check(ElementId(0x536E), "Name", ElementType::Utf8);
        check(ElementId(0x63A2), "CodecPrivate", ElementType::Binary);
        check(ElementId(0xB5), "SamplingFrequency", ElementType::Float);
        check(ElementId(0x67C8), "SimpleTag", ElementType::Master);
        check(ElementId(0x4487), "TagString", ElementType::Utf8);
        check(ElementId(0x6FAB), "TrackOverlay", ElementType::Unsigned);
        assert_eq!(s.lookup(ElementId(0x4FFE)), None);
        assert_eq!(s.lookup(ElementId(0x80FF)), None);
        assert_eq!(name_of(ElementId(0x4FFE)), None);
        assert_eq!(name_of(ids::SIMPLE_BLOCK), Some("SimpleBlock"));
        assert_eq!(s.lookup(ids::SIMPLE_TAG).map(|i| i.parent), Some(Parent::Element(ids::TAG)));
        assert_eq!(s.lookup(ids::VOID).map(|i| i.parent), Some(Parent::Global));
        assert_eq!(s.lookup(ids::EBML_VERSION).map(|i| i.parent), Some(Parent::Element(ids::EBML)));
    }

    #[test]
    fn descendants() {
        let s = schema();
        assert!(s.is_descendant(ids::SIMPLE_BLOCK, ids::CLUSTER));
        assert!(s.is_descendant(ids::SIMPLE_BLOCK, ids::SEGMENT));
        assert!(s.is_descendant(ids::BLOCK, ids::CLUSTER));
        assert!(s.is_descendant(ids::TIMESTAMP, ids::CLUSTER));
        assert!(!s.is_descendant(ids::CLUSTER, ids::CLUSTER));
        assert!(s.is_descendant(ids::CLUSTER, ids::SEGMENT));
        assert!(!s.is_descendant(ids::TAGS, ids::CLUSTER));
        assert!(!s.is_descendant(ids::CUES, ids::CLUSTER));
        assert!(!s.is_descendant(ids::SEGMENT, ids::SEGMENT));
        assert!(!s.is_descendant(ids::EBML, ids::SEGMENT));
        assert!(!s.is_descendant(ids::SIMPLE_BLOCK, ids::TAGS));
        assert!(s.is_descendant(ids::VOID, ids::CLUSTER));
        assert!(s.is_descendant(ids::CRC32, ids::SEGMENT));
        assert!(s.is_descendant(ids::VOID, ids::SIMPLE_TAG));
        assert!(s.is_descendant(ElementId(0x4FFE), ids::CLUSTER));
        assert!(s.is_descendant(ElementId(0x4FFE), ids::SEGMENT));
        assert!(s.is_descendant(ids::SIMPLE_TAG, ids::SIMPLE_TAG));
        assert!(s.is_descendant(ids::SIMPLE_TAG, ids::TAGS));
        assert!(s.is_descendant(ids::TAG_STRING, ids::SIMPLE_TAG));
        assert!(s.is_descendant(ids::CHAPTER_ATOM, ids::CHAPTER_ATOM));
        assert!(!s.is_descendant(ids::TAG, ids::TAG));
    }

    #[test]
    fn resync_anchors() {
        let s = schema();
        assert_eq!(RESYNC_ANCHORS.len(), 10);
        for &id in RESYNC_ANCHORS {
            let id = ElementId(id);
            assert_eq!(id.width(), 4);
            assert!(s.is_resync_anchor(id));
            let info = s.lookup(id).unwrap();
            assert_eq!(info.ty, ElementType::Master);
            assert!(matches!(info.parent, Parent::Root | Parent::Element(ids::SEGMENT)), "{}", info.name);
        }
        // Every 4-byte element is an anchor.
        for row in ELEMENTS.iter().filter(|r| r.id.width() == 4) {
            assert!(s.is_resync_anchor(row.id), "{}", row.name);
        }
        assert!(!s.is_resync_anchor(ids::SIMPLE_BLOCK));
        assert!(!s.is_resync_anchor(ids::TIMESTAMP_SCALE));
    }

    #[test]
    fn the_table_is_built_once() {
        let a = MatroskaSchema::new();
        let b = MatroskaSchema::default();
        assert!(std::ptr::eq(a.table(), b.table()));
        assert_eq!(a.table().rows().len(), ELEMENTS.len());
    }
}
