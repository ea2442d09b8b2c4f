#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aws;
pub mod block;
mod decoder;
mod error;
mod event;
mod fragment;
mod read;
#[cfg(feature = "tokio")]
pub mod codec;

pub use aws::{AwsTag, ErrorId, FragmentNumber};
pub use decoder::{EventDecoder, Options};
pub use error::Error;
pub use event::{
    AudioSettings, Event, Frame, FragmentEnd, FragmentMetadata, StreamError, Tag, TagValue, Targets, Track,
    TrackType, VideoSettings,
};
pub use fragment::{Fragment, FragmentAssembler, Fragments};
pub use kvs_ebml::Limits;
pub use read::{Events, ReadEvents};

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
