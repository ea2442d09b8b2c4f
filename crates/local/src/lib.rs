#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod body;
pub mod decimal;
pub mod faults;
pub mod render;
pub mod sample;
mod server;
pub mod source;

pub use api::{ServiceErrorKind, StartSelector};
pub use faults::{CutStyle, ErrorAfterFragment, FailWith, Faults};
pub use server::{
    ACCOUNT_ID, Builder, DEFAULT_CHUNK_SIZE, FragmentInfo, LocalKvs, REGION, RunningServer, ServeError,
    UnknownFragment,
};
pub use source::{LoadError, LoadOptions, Source, StoredFragment, StoredFrame, StoredTag};
