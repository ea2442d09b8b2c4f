// Shared helpers of the kvs-local tests: SDK clients pointed at a local server, fixtures,
// and decoding of GetMedia payloads with kvs-chunk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    dead_code
)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

use aws_sdk_kinesisvideomedia as kvm;
use bytes::Bytes;
use kvm::types::{StartSelector, StartSelectorType};
use kvs_chunk::{Event, EventDecoder, Events, Fragment, Fragments};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{LoadOptions, Source};

/// A GetMedia client for `url`: static credentials, plain HTTP, no retries.
pub fn media_client(url: &str) -> kvm::Client {
    let config = kvm::Config::builder()
        .behavior_version(kvm::config::BehaviorVersion::latest())
        .region(kvm::config::Region::new("us-east-1"))
        .credentials_provider(kvm::config::Credentials::from_keys("AKIDLOCAL", "secret", None))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(kvm::config::retry::RetryConfig::disabled())
        .endpoint_url(url)
        .build();
    kvm::Client::from_conf(config)
}

/// A Kinesis Video (control plane) client for `url`.
pub fn video_client(url: &str) -> aws_sdk_kinesisvideo::Client {
    use aws_sdk_kinesisvideo as kv;
    let config = kv::Config::builder()
        .behavior_version(kv::config::BehaviorVersion::latest())
        .region(kv::config::Region::new("us-east-1"))
        .credentials_provider(kv::config::Credentials::from_keys("AKIDLOCAL", "secret", None))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(kv::config::retry::RetryConfig::disabled())
        .endpoint_url(url)
        .build();
    kv::Client::from_conf(config)
}

/// A StartSelector of a type with nothing else.
pub fn selector(kind: StartSelectorType) -> StartSelector {
    StartSelector::builder().start_selector_type(kind).build().unwrap()
}

/// The synthetic plain MKV most tests use: 5 clusters of 10 frames, 40 ms apart (400 ms
/// per fragment).
pub fn sample_spec() -> SyntheticSpec {
    SyntheticSpec::default()
}

/// The sample as a source.
pub fn sample_source(spec: &SyntheticSpec) -> Source {
    Source::from_bytes(spec.plain_mkv().unwrap(), &LoadOptions::default()).unwrap()
}

/// A committed fixture of `testdata/`.
pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

/// GetMedia, the whole body.
pub async fn get_media(client: &kvm::Client, stream: &str, sel: StartSelector) -> Bytes {
    let out = client.get_media().stream_name(stream).start_selector(sel).send().await.unwrap();
    assert_eq!(out.content_type(), Some("video/webm"));
    out.payload.collect().await.unwrap().into_bytes()
}

/// The fragments (documents) of a payload.
pub fn fragments(payload: &Bytes) -> Vec<Fragment> {
    Fragments::new(Events::new(payload.clone())).collect::<Result<_, _>>().unwrap()
}

/// The fragments of a payload that may be cut: those decoded before the first error (a cut
/// fragment ends incomplete).
pub fn fragments_lossy(payload: &Bytes) -> Vec<Fragment> {
    Fragments::new(Events::new(payload.clone())).filter_map(Result::ok).collect()
}

/// The fragment numbers of a payload, in order.
pub fn numbers(payload: &Bytes) -> Vec<String> {
    fragments(payload).iter().filter_map(|f| f.fragment_number().map(|n| n.to_string())).collect()
}

/// Reads a GetMedia body chunk by chunk and decodes it on the fly; each event with the
/// time it was decoded (relative to `t0`, in ms). Also the body error, if the body failed.
pub async fn timed_events(
    mut payload: aws_smithy_types_bytestream::ByteStream,
    t0: Instant,
) -> (Vec<(u128, Event)>, Vec<(u128, usize)>, Option<String>) {
    let mut decoder = EventDecoder::default();
    let mut events = Vec::new();
    let mut chunks = Vec::new();
    let mut error = None;
    loop {
        match payload.try_next().await {
            Ok(Some(chunk)) => {
                chunks.push((t0.elapsed().as_millis(), chunk.len()));
                decoder.feed(chunk);
            }
            Ok(None) => {
                decoder.finish();
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                decoder.finish();
                break;
            }
        }
        while let Some(e) = decoder.next_event().unwrap() {
            events.push((t0.elapsed().as_millis(), e));
        }
    }
    while let Ok(Some(e)) = decoder.next_event() {
        events.push((t0.elapsed().as_millis(), e));
    }
    (events, chunks, error)
}

/// The ByteStream type of the SDK's GetMedia output.
pub mod aws_smithy_types_bytestream {
    pub use aws_sdk_kinesisvideomedia::primitives::ByteStream;
}

/// Runs `aws ARGS` with local credentials and no config files; `None` if there is no `aws`.
pub async fn aws(args: Vec<String>) -> Option<Output> {
    tokio::task::spawn_blocking(move || {
        Command::new("aws")
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .output()
            .ok()
    })
    .await
    .unwrap()
}
