//! Each fault behaves as its flag says: cuts (clean end and dropped connection, fixed and
//! seeded random), stalls, throttling and in-stream error chunks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_kinesisvideomedia::types::StartSelectorType;
use common::*;
use kvs_chunk::{ErrorId, Event};
use kvs_local::{CutStyle, ErrorAfterFragment, Faults, LocalKvs, RunningServer};

async fn server(faults: Faults) -> RunningServer {
    LocalKvs::builder()
        .stream("s", sample_source(&sample_spec()))
        .faults(faults)
        .chunk_size(1000)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// The full, unfaulted payload.
async fn full_payload() -> bytes::Bytes {
    let server = server(Faults::default()).await;
    let payload = get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
    server.shutdown().await;
    payload
}

#[tokio::test]
async fn cut_after_bytes_ends_the_body_cleanly_there() {
    let full = full_payload().await;
    let n = 3000u64;
    let server = server(Faults { cut_after_bytes: Some(n), ..Faults::default() }).await;
    let client = media_client(server.url());
    for _ in 0..2 {
        let payload = get_media(&client, "s", selector(StartSelectorType::Earliest)).await;
        assert_eq!(payload.len() as u64, n);
        assert_eq!(payload, full.slice(..n as usize), "a prefix of the real body");
        let frags = fragments_lossy(&payload);
        assert!(frags[0].is_complete());
        assert!(!frags.last().unwrap().is_complete(), "the cut fragment has no continuation token");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cut_with_reset_style_drops_the_connection() {
    let server =
        server(Faults { cut_after_bytes: Some(4000), cut_style: CutStyle::Reset, ..Faults::default() }).await;
    let client = media_client(server.url());
    let out = client
        .get_media()
        .stream_name("s")
        .start_selector(selector(StartSelectorType::Earliest))
        .send()
        .await;
    let (events, chunks, error) = timed_events(out.unwrap().payload, Instant::now()).await;
    assert!(error.is_some(), "the body fails instead of ending");
    let received: usize = chunks.iter().map(|c| c.1).sum();
    assert_eq!(received, 4000, "every byte before the cut arrives");
    assert!(events.iter().any(|(_, e)| matches!(e, Event::FragmentEnd(end) if end.complete)));
    server.shutdown().await;
}

#[tokio::test]
async fn cut_random_is_seeded_uniform_and_reproducible() {
    let full = full_payload().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let server = server(Faults { cut_random: Some(7), ..Faults::default() }).await;
        let client = media_client(server.url());
        let mut lens = Vec::new();
        for _ in 0..6 {
            let payload = get_media(&client, "s", selector(StartSelectorType::Earliest)).await;
            assert!(!payload.is_empty() && payload.len() < full.len());
            assert_eq!(payload, full.slice(..payload.len()));
            lens.push(payload.len());
        }
        server.shutdown().await;
        runs.push(lens);
    }
    assert_eq!(runs[0], runs[1], "the same seed cuts at the same points");
    let mut distinct = runs[0].clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 5, "each request draws its own point: {:?}", runs[0]);

    let server = server(Faults { cut_random: Some(8), ..Faults::default() }).await;
    let other = get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
    assert_ne!(other.len(), runs[0][0], "another seed, another point");
    server.shutdown().await;
}

#[tokio::test]
async fn stall_goes_silent_mid_response() {
    let server = server(Faults { stall: Some(Duration::from_secs(1)), ..Faults::default() }).await;
    let client = media_client(server.url());
    let t0 = Instant::now();
    let out = client
        .get_media()
        .stream_name("s")
        .start_selector(selector(StartSelectorType::Earliest))
        .send()
        .await;
    let (events, chunks, error) = timed_events(out.unwrap().payload, t0).await;
    assert!(error.is_none());
    let gaps: Vec<u128> = chunks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let longest = gaps.iter().copied().max().unwrap();
    assert!(longest >= 950, "a silence of about 1 s: {gaps:?}");
    assert_eq!(gaps.iter().filter(|&&g| g >= 500).count(), 1, "one stall per response");
    // The stall is inside the first fragment: its metadata came before, its end after.
    let first_end = events.iter().find(|(_, e)| matches!(e, Event::FragmentEnd(_))).unwrap().0;
    let first_meta = events.iter().find(|(_, e)| matches!(e, Event::FragmentMetadata(_))).unwrap().0;
    assert!(first_end - first_meta >= 950, "the stall splits the first fragment");
    assert_eq!(events.iter().filter(|(_, e)| matches!(e, Event::FragmentEnd(f) if f.complete)).count(), 5);
    server.shutdown().await;
}

#[tokio::test]
async fn throttle_answers_connection_limit_exceeded_above_the_rate() {
    let server = server(Faults { throttle_rate: Some(2), ..Faults::default() }).await;
    let client = media_client(server.url());
    let call = || async {
        client.get_media().stream_name("s").start_selector(selector(StartSelectorType::Now)).send().await
    };
    let t0 = Instant::now();
    assert!(call().await.is_ok());
    assert!(call().await.is_ok());
    let err = call().await.unwrap_err().into_service_error();
    assert!(err.is_connection_limit_exceeded_exception(), "{err:?}");
    assert!(t0.elapsed() < Duration::from_millis(900), "the three calls were within a second");
    // The window slides: a second later calls are accepted again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(call().await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn error_after_fragment_sends_an_error_chunk_and_ends() {
    let faults = Faults {
        error_after_fragment: Some(ErrorAfterFragment { fragment_index: 2, error_id: 5000 }),
        ..Faults::default()
    };
    let first = server(faults).await;
    let client = media_client(first.url());
    let payload = get_media(&client, "s", selector(StartSelectorType::Earliest)).await;
    let events: Vec<Event> = kvs_chunk::Events::new(payload.clone()).collect::<Result<_, _>>().unwrap();
    let errors: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StreamError(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].id, Some(ErrorId::InternalError));
    assert_eq!(errors[0].code.as_deref(), Some("Internal error"));
    assert_eq!(
        errors[0].fragment_number.as_ref().unwrap().as_str(),
        kvs_local::decimal::synthesized(3).unwrap()
    );
    let frags = fragments(&payload);
    assert_eq!(frags.iter().filter(|f| f.is_complete()).count(), 3, "fragments 0, 1, 2, then the error");
    assert!(matches!(events.last(), Some(Event::DocumentEnd { .. })));

    // A response that starts after fragment 2 is not affected.
    let token = frags[2].end.continuation_token.clone().unwrap();
    let sel = aws_sdk_kinesisvideomedia::types::StartSelector::builder()
        .start_selector_type(StartSelectorType::ContinuationToken)
        .continuation_token(token)
        .build()
        .unwrap();
    let rest = get_media(&client, "s", sel).await;
    let rest = fragments(&rest);
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|f| f.errors.is_empty() && f.is_complete()));

    // Any id, known or not.
    let faults = Faults {
        error_after_fragment: Some(ErrorAfterFragment { fragment_index: 0, error_id: 4242 }),
        ..Faults::default()
    };
    let server2 = server(faults).await;
    let payload = get_media(&media_client(server2.url()), "s", selector(StartSelectorType::Earliest)).await;
    let frags = fragments(&payload);
    assert_eq!(frags.len(), 2);
    assert_eq!(frags[1].errors[0].id, Some(ErrorId::Other(4242)));
    server2.shutdown().await;
    first.shutdown().await;
}
