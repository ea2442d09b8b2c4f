#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod analysis;
pub mod annexb;
pub mod aws;
pub mod block;
#[cfg(feature = "tokio")]
mod codec;
mod codec_id;
mod decoder;
mod encoding;
mod error;
mod event;
mod explain;
mod fragment;
mod ids;
mod read;
mod slice;

#[cfg(feature = "tokio")]
pub use codec::{EventStream, FragmentStream, MkvCodec, read_events};
pub use codec_id::{Codec, PcmKind};
pub use decoder::{EventDecoder, Options, is_stream_start};
pub use error::Error;
pub use event::{
    AudioSettings, ContentEncoding, ErrorChunk, Event, FragmentEnd, FragmentMetadata, Frame, References, Tag,
    TagValue, Targets, Track, TrackType, VideoSettings, Warning, WarningKind,
};
pub use explain::Hint;
pub use fragment::{ClusterStart, Fragment, FragmentAssembler, FragmentStats, Fragments, MAX_COUNTED_TRACKS};
pub use ids::{ContinuationToken, ErrorId, FragmentNumber};
pub use kvs_ebml::Limits;
pub use read::{DEFAULT_READ_SIZE, Events, ReadEvents};
pub use slice::{SliceEvent, SliceEvents};

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
