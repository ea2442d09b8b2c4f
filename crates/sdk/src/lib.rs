#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod archive;
mod archive_reader;
mod backoff;
mod client;
#[cfg(feature = "rustls")]
mod client_tls;
mod consumer;
mod error;
#[cfg(feature = "images")]
mod images;
#[cfg(feature = "http")]
mod lean_http;
mod limiter;
mod metrics;
pub mod save;
mod selector;
#[cfg(feature = "aws-config")]
mod settings;
mod stream_set;
pub mod tracker;

pub use archive::{
    DEFAULT_ARCHIVE_CALL_INTERVAL, FragmentClock, FragmentInfo, FragmentPage, FragmentSelector,
    ListFragmentsRequest, MAX_FRAGMENTS_PER_CALL, sort_fragments,
};
pub use archive_reader::{
    ArchiveCheckpoint, ArchiveItem, ArchivePosition, ArchiveReader, ArchiveReaderBuilder,
    DEFAULT_ARCHIVE_WINDOW, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_FRAGMENTS, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_PAGE_SIZE, MAX_WINDOW_FRAGMENTS,
};
pub use aws_sdk_kinesisvideo::types::ApiName;
pub use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
pub use backoff::{Backoff, Jitter};
pub use client::{DEFAULT_ENDPOINT_MAX_AGE, KvsClient, KvsClientBuilder, MediaPayload, default_http_client};
#[cfg(feature = "rustls")]
pub use client_tls::{TlsOptions, https_client};
pub use consumer::{
    ConsumerItem, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_RAW_DOCUMENT, LiveFragments, MediaConsumer,
    MediaConsumerBuilder,
};
pub use error::{ConsumerError, ThrottleKind};
#[cfg(feature = "images")]
pub use images::{CloudImagePages, ImagePool, LiveImages, PoolStats};
/// kvs-images (feature `images`): the GetImages request, pages and images.
#[cfg(feature = "images")]
pub use kvs_images;
#[cfg(feature = "http")]
pub use lean_http::{DEFAULT_READ_BUFFER, http_client_with_read_buffer};
pub use limiter::RateLimiter;
pub use metrics::{Metrics, MetricsSnapshot};
pub use selector::{Checkpoint, Position, StartSelector, StreamId};
#[cfg(feature = "aws-config")]
pub use settings::{AwsSettings, ConfigError, FALLBACK_REGION};
pub use stream_set::{DEFAULT_SET_QUEUE, SetItem, StreamSet, StreamSetBuilder, StreamSetHandle};
pub use tracker::{ConnectionSummary, ConsumerEvent, ErrorPolicy, Granularity, ReconnectReason, Tracker};

/// The SDK crates this one is built on, for callers who need their types.
pub mod sdk {
    pub use aws_credential_types;
    pub use aws_sdk_kinesisvideo as kinesisvideo;
    pub use aws_sdk_kinesisvideoarchivedmedia as kinesisvideoarchivedmedia;
    pub use aws_sdk_kinesisvideomedia as kinesisvideomedia;
    pub use aws_smithy_http_client;
    pub use aws_types;
}
