//! A continuous consumer against a local KVS-compatible endpoint that misbehaves.
//!
//! Starts kvs-local with a synthetic live stream (one fragment every 400 ms) that cuts each
//! response at a random point and, in a response that lasts long enough, goes silent for
//! 3 s (longer than the consumer's idle timeout); then consumes it from `NOW` in event
//! mode, printing keyframes as they arrive, aborts, reconnections, and the position and
//! metrics at the end.
//!
//! ```text
//! cargo run -p kvs-sdk --example consume_local
//! RUST_LOG is not read: this example prints what it sees itself.
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use kvs_chunk::Event;
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{Faults, LoadOptions, LocalKvs, Source};
use kvs_sdk::{ConsumerEvent, KvsClient, MediaConsumer, StartSelector, StreamId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SyntheticSpec {
        clusters: 12,
        frames_per_cluster: 10,
        frame_interval_ms: 40,
        frame_size: 2000,
        ..SyntheticSpec::default()
    };
    let mkv = spec.plain_mkv()?;
    let fragment_bytes = u64::try_from(mkv.len())?.checked_div(12).unwrap_or(1);
    let server = LocalKvs::builder()
        .stream("demo", Source::from_bytes(mkv, &LoadOptions::default())?)
        .live(true)
        .faults(Faults {
            cut_random: Some(7),
            stall: Some(Duration::from_secs(3)),
            stall_after_bytes: Some(fragment_bytes.saturating_mul(5) / 2),
            ..Faults::default()
        })
        .bind("127.0.0.1:0")
        .await?;
    println!("kvs-local at {}", server.url());

    let client = KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .build()?;
    let mut consumer = MediaConsumer::builder(client, StreamId::name("demo"))
        .start(StartSelector::Now)
        .idle_timeout(Duration::from_millis(800))
        .build();

    let mut fragments = 0u32;
    let deadline = tokio::time::Instant::now().checked_add(Duration::from_secs(20)).ok_or("clock")?;
    while fragments < 8 {
        let Ok(Some(item)) = tokio::time::timeout_at(deadline, consumer.next()).await else { break };
        match item? {
            ConsumerEvent::Event(Event::FragmentMetadata(m)) => {
                println!("fragment {} begins", m.fragment_number.map(|n| n.to_string()).unwrap_or_default());
            }
            ConsumerEvent::Event(Event::Frame(f)) if f.keyframe => {
                println!("  keyframe at {} ms, {} bytes", f.timestamp_ms(), f.data.len());
            }
            ConsumerEvent::Event(Event::FragmentEnd(end)) => {
                fragments = fragments.saturating_add(1);
                println!("  complete ({:?} ms behind)", end.millis_behind_now);
            }
            ConsumerEvent::FragmentAborted { frames_emitted, .. } => {
                println!("  cut after {frames_emitted} frames: it will come again in full");
            }
            ConsumerEvent::Reconnecting { attempt, reason, delay } => {
                println!("reconnecting (#{attempt}, {reason}) in {} ms", delay.as_millis());
            }
            _ => {}
        }
    }
    println!("position: {}", serde_json::to_string(&consumer.position())?);
    println!("metrics: {:?}", consumer.metrics().snapshot());
    server.shutdown().await;
    Ok(())
}
