#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod annexb;
pub mod aws;
pub mod block;
#[cfg(feature = "tokio")]
pub mod codec;
mod codec_id;
mod decoder;
mod encoding;
mod error;
mod event;
mod fragment;
pub mod mux;
mod read;

pub use aws::{AwsTag, ErrorId, FragmentNumber};
pub use codec_id::{Codec, PcmKind};
pub use decoder::{EventDecoder, Options, is_stream_start};
pub use error::Error;
pub use event::{
    AudioSettings, ContentEncoding, Event, FragmentEnd, FragmentMetadata, Frame, References, ErrorChunk,
    Tag, TagValue, Targets, Track, TrackType, VideoSettings, Warning, WarningKind,
};
pub use fragment::{Fragment, FragmentAssembler, Fragments};
pub use kvs_ebml::Limits;
pub use read::{DEFAULT_READ_SIZE, Events, ReadEvents};

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
