//! Helpers shared by the integration tests: a kvs-local server over a fixture payload, a
//! client for it, what a direct decode of the backing payload says, and collectors that
//! check the consumer's delivery contract.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use kvs_chunk::{Event, Events, Fragments};
use kvs_local::{Faults, LoadOptions, LocalKvs, RunningServer, Source};
use kvs_sdk::{
    Backoff, ConsumerError, ConsumerEvent, KvsClient, MediaConsumer, MediaConsumerBuilder, StreamId,
};

/// (fragment number, CRC-32 of each frame) of one fragment.
pub type Digest = (Option<String>, Vec<u32>);

/// The complete fragments of a payload, decoded directly.
pub fn direct(bytes: &[u8]) -> Vec<Digest> {
    Fragments::new(Events::new(Bytes::copy_from_slice(bytes)))
        .map(|f| f.unwrap())
        .filter(|f| f.is_complete())
        .map(|f| digest(&f))
        .collect()
}

pub fn digest(f: &kvs_chunk::Fragment) -> Digest {
    (
        f.fragment_number().map(ToString::to_string),
        f.frames.iter().map(|x| crc32fast::hash(&x.data)).collect(),
    )
}

/// A fixture's payload.
pub fn payload(name: &str) -> Vec<u8> {
    kvs_fixtures::scenarios::by_name(name).unwrap().unwrap().bytes
}

/// A server with one stream `cam` backed by `payload`.
pub async fn serve(payload: &[u8], faults: Faults) -> RunningServer {
    serve_with(payload, faults, |b| b).await
}

/// As [`serve`], with more builder settings.
pub async fn serve_with(
    payload: &[u8],
    faults: Faults,
    more: impl FnOnce(kvs_local::Builder) -> kvs_local::Builder,
) -> RunningServer {
    let source = Source::from_bytes(payload.to_vec(), &LoadOptions::default()).unwrap();
    // Small HTTP chunks: frames span chunks, and hyper flushes before an injected reset
    // (it sends nothing of a response whose body fails before its first flush).
    more(LocalKvs::builder().stream("cam", source).faults(faults).chunk_size(256))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// A client for a server.
pub fn client(server: &RunningServer) -> KvsClient {
    KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .build()
        .unwrap()
}

/// A consumer builder with test-friendly settings: short back-off, fixed jitter, bounded
/// retries, stop at the end of the stored stream.
pub fn consumer(server: &RunningServer) -> MediaConsumerBuilder {
    MediaConsumer::builder(client(server), StreamId::name("cam"))
        .start(kvs_sdk::StartSelector::Earliest)
        .idle_timeout(Duration::from_secs(3))
        .backoff(Backoff::new(Duration::from_millis(10), Duration::from_millis(100)))
        .jitter_seed(1)
        .max_retries(Some(30))
        .reconnect_on_end(false)
}

/// What a consumer run gave.
#[derive(Debug, Default)]
pub struct Run {
    /// The delivered fragments, in order.
    pub fragments: Vec<Digest>,
    /// `FragmentAborted` events: (number, frames emitted).
    pub aborted: Vec<(Option<String>, u64)>,
    /// `Reconnecting` events.
    pub reconnecting: Vec<kvs_sdk::ReconnectReason>,
    /// `ErrorChunk` events (their ids).
    pub stream_errors: Vec<u64>,
    /// The error the stream ended with.
    pub error: Option<ConsumerError>,
}

/// Runs a consumer to its end (at most `limit`), checking the contract on every item:
/// event mode never shows an incomplete end, an abort retracts exactly the frames shown,
/// documents do not nest; fragment mode shows only complete fragments.
pub async fn run(consumer: MediaConsumer, limit: Duration) -> (Run, MediaConsumer) {
    run_until(consumer, limit, usize::MAX).await
}

/// As [`run`], stopping once `fragments` fragments were delivered.
pub async fn run_until(
    mut consumer: MediaConsumer,
    limit: Duration,
    fragments: usize,
) -> (Run, MediaConsumer) {
    let mut out = Run::default();
    let mut number: Option<String> = None;
    let mut frames: Vec<u32> = Vec::new();
    let mut open = false;
    let mut first = true;
    let mut last_attempt = None;
    let deadline = tokio::time::Instant::now() + limit;
    while out.fragments.len() < fragments {
        let item = match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) => panic!("the consumer did not end within {limit:?}; so far: {out:?}"),
        };
        let first_item = std::mem::replace(&mut first, false);
        let event = match item {
            Ok(e) => e,
            Err(e) => {
                out.error = Some(e);
                // The stream ends after its error.
                assert!(consumer.next().await.is_none());
                break;
            }
        };
        match event {
            ConsumerEvent::Event(Event::DocumentStart { .. }) => {
                assert!(!open && frames.is_empty(), "a document started inside another");
                open = true;
                number = None;
            }
            ConsumerEvent::Event(Event::FragmentMetadata(m)) => {
                assert!(open);
                number = m.fragment_number.as_ref().map(ToString::to_string);
            }
            ConsumerEvent::Event(Event::Frame(f)) => {
                assert!(open);
                frames.push(crc32fast::hash(&f.data));
            }
            ConsumerEvent::Event(Event::FragmentEnd(end)) => {
                assert!(end.complete, "an incomplete fragment end reached the user");
                out.fragments.push((number.take(), std::mem::take(&mut frames)));
                // The position already names it.
                let p = consumer.position();
                assert_eq!(p.last.as_ref().unwrap().fragment_number, out.fragments.last().unwrap().0);
            }
            ConsumerEvent::Event(Event::DocumentEnd { .. }) => {
                // (A run that continues another may begin with the end of its last document.)
                assert!((open || first_item) && frames.is_empty());
                open = false;
            }
            ConsumerEvent::Event(Event::ErrorChunk(_)) => panic!("stream errors are not passed as events"),
            ConsumerEvent::Event(_) => assert!(open),
            ConsumerEvent::FragmentAborted { fragment_number, frames_emitted } => {
                assert!(open, "an abort outside a document");
                assert_eq!(frames_emitted, u64::try_from(frames.len()).unwrap());
                assert_eq!(fragment_number.as_ref().map(ToString::to_string), number);
                out.aborted.push((number.take(), frames_emitted));
                frames.clear();
                open = false;
            }
            ConsumerEvent::Fragment(f) => {
                assert!(f.is_complete());
                out.fragments.push(digest(&f));
                let p = consumer.position();
                assert_eq!(p.last.as_ref().unwrap().fragment_number, out.fragments.last().unwrap().0);
            }
            ConsumerEvent::ErrorChunk(e) => out.stream_errors.push(e.id.map_or(0, |i| i.code())),
            ConsumerEvent::Reconnecting { reason, attempt, .. } => {
                assert!(!open || frames.is_empty(), "reconnecting inside a fragment without an abort");
                open = false;
                if let Some(prev) = last_attempt {
                    assert_eq!(attempt, prev + 1);
                }
                last_attempt = Some(attempt);
                out.reconnecting.push(reason);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (out, consumer)
}

/// The sizes of the documents of a clean EARLIEST response.
pub async fn document_sizes(server: &RunningServer) -> Vec<u64> {
    let client = client(server);
    let payload = client.get_media(&StreamId::name("cam"), &kvs_sdk::StartSelector::Earliest).await.unwrap();
    let mut events = payload.into_events();
    let mut sizes = Vec::new();
    while let Some(e) = events.next().await {
        if let Event::DocumentEnd { offset, end, .. } = e.unwrap() {
            sizes.push(end - offset);
        }
    }
    sizes
}
