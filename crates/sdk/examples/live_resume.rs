//! A live consumer that survives restarts: it saves its `Position` after every complete
//! fragment, and a new run resumes right after the last fragment it saved (GetMedia with the
//! saved continuation token), so no fragment is missed or read twice.
//!
//! Self-contained: it starts kvs-local with a synthetic live stream (one fragment every
//! 300 ms), reads 4 fragments, "crashes" (drops the consumer), then resumes from the saved
//! checkpoint for 4 more, and shows the fragment numbers follow on.
//!
//! ```text
//! cargo run -p kvs-sdk --example live_resume
//! ```
//!
//! Against AWS, build the client with `KvsClient::new(&aws_config::load_from_env().await)`
//! (feature `rustls`) instead of the local endpoint; the rest is the same.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use kvs_chunk::Event;
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{LoadOptions, LocalKvs, Source};
use kvs_sdk::{ConsumerEvent, KvsClient, MediaConsumer, Position, StartSelector, StreamId};

/// Reads `count` complete fragments, saving the position to `checkpoint` after each one.
async fn consume(
    client: KvsClient,
    checkpoint: &Path,
    count: usize,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let builder = match std::fs::read_to_string(checkpoint) {
        Ok(text) => {
            let position: Position = serde_json::from_str(&text)?;
            println!("resuming after fragment {:?}", position.fragment_number().map(|n| n.to_string()));
            MediaConsumer::resume(client, position)
        }
        Err(_) => {
            println!("no checkpoint: starting at the oldest fragment");
            MediaConsumer::builder(client, StreamId::name("demo")).start(StartSelector::Earliest)
        }
    };
    let mut consumer = builder.idle_timeout(Duration::from_secs(2)).build();
    let mut seen = Vec::new();
    let mut current = None;
    while seen.len() < count {
        let Some(item) = tokio::time::timeout(Duration::from_secs(10), consumer.next()).await? else { break };
        match item? {
            ConsumerEvent::Event(Event::FragmentMetadata(m)) => {
                current = m.fragment_number.map(|n| n.to_string())
            }
            ConsumerEvent::Event(Event::FragmentEnd(end)) if end.complete => {
                // Save after the fragment is fully handled: a crash before this line reads it
                // again, a crash after it does not.
                std::fs::write(checkpoint, serde_json::to_string_pretty(&consumer.position())?)?;
                let n = current.take().unwrap_or_default();
                println!("  fragment {n} complete; checkpoint saved");
                seen.push(n);
            }
            ConsumerEvent::Reconnecting { reason, .. } => println!("  reconnecting ({reason})"),
            _ => {}
        }
    }
    Ok(seen)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec =
        SyntheticSpec { clusters: 40, frames_per_cluster: 10, frame_interval_ms: 30, ..SyntheticSpec::default() };
    let server = LocalKvs::builder()
        .stream("demo", Source::from_bytes(spec.plain_mkv()?, &LoadOptions::default())?)
        .live(true)
        .bind("127.0.0.1:0")
        .await?;
    let client = KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .build()?;
    let checkpoint = std::env::temp_dir().join("kvs-live-resume-checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);

    let first = consume(client.clone(), &checkpoint, 4).await?;
    println!("-- the consumer stops (a crash, a deploy) --");
    let second = consume(client, &checkpoint, 4).await?;

    let all: Vec<&String> = first.iter().chain(&second).collect();
    let in_order = all.windows(2).all(|w| matches!(w, [a, b] if kvs_chunk::FragmentNumber::new(a.as_str()) < kvs_chunk::FragmentNumber::new(b.as_str())));
    println!("{} fragments, each once and in order: {in_order}", all.len());
    Ok(())
}
