#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod faults;
mod server;
pub mod sigv4;
pub mod source;
pub mod synthetic;

pub use api::ServiceErrorKind;
pub use faults::{CutStyle, ErrorAfterFragment, FailWith, Faults};
pub use server::{
    ACCOUNT_ID, Builder, DEFAULT_CHUNK_SIZE, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_IMAGE_QUEUE, DEFAULT_MAX_CONNECTIONS, FragmentInfo, Limits, LocalKvs, MAX_REQUEST_BODY, REGION,
    RunningServer, ServeError, UnknownFragment, default_image_jobs,
};
pub use server::{CredentialScope, MAX_RECORDED_SCOPES, TlsConfig, TlsError};
pub use sigv4::{CredentialsError, SigV4Credentials};
pub use source::{LoadError, LoadOptions, Source, StoredFragment};
