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
            Event::ErrorChunk(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].id, Some(ErrorId::InternalError));
    assert_eq!(errors[0].code.as_deref(), Some("Internal error"));
    assert_eq!(
        errors[0].fragment_number.as_ref().unwrap().as_str(),
        kvs_local::source::synthesized(3).unwrap()
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

/// Reads the stream from the start with a raw reconnect loop: each response's complete
/// fragments are kept and the next call starts after the last of them. Returns the fragments
/// in arrival order, the number of calls and how many responses were cut; stops at the
/// stream's last fragment or after `max_calls` calls.
async fn read_to_end(server: &RunningServer, max_calls: usize) -> (Vec<kvs_chunk::Fragment>, usize, usize) {
    let last = server.fragments("s").unwrap().last().unwrap().fragment_number.to_string();
    let client = media_client(server.url());
    let mut got: Vec<kvs_chunk::Fragment> = Vec::new();
    let mut cut = 0;
    for call in 1..=max_calls {
        let sel = match got.last().and_then(|f| f.fragment_number()) {
            None => selector(StartSelectorType::Earliest),
            Some(n) => aws_sdk_kinesisvideomedia::types::StartSelector::builder()
                .start_selector_type(StartSelectorType::FragmentNumber)
                .after_fragment_number(n.to_string())
                .build()
                .unwrap(),
        };
        let payload = get_media(&client, "s", sel).await;
        let frags = fragments_lossy(&payload);
        let whole = kvs_chunk::Fragments::new(kvs_chunk::Events::new(payload.clone()))
            .all(|r| r.is_ok_and(|f| f.is_complete()));
        if !whole {
            cut += 1;
        }
        got.extend(frags.into_iter().filter(|f| f.is_complete()));
        if got.last().and_then(|f| f.fragment_number()).is_some_and(|n| n.to_string() == last) {
            return (got, call, cut);
        }
    }
    (got, max_calls, cut)
}

#[tokio::test]
async fn cut_probability_lets_a_cut_random_reader_reach_the_last_fragment() {
    let full = fragments(&full_payload().await);
    let expected: Vec<String> = full.iter().map(|f| f.fragment_number().unwrap().to_string()).collect();
    let (mut all_calls, mut all_cut) = (0, 0);
    for seed in 1..=8 {
        let faults = Faults { cut_random: Some(seed), cut_probability: 0.5, ..Faults::default() };
        let server = server(faults).await;
        let (got, calls, cut) = read_to_end(&server, 60).await;
        server.shutdown().await;
        let numbers: Vec<String> = got.iter().map(|f| f.fragment_number().unwrap().to_string()).collect();
        assert_eq!(numbers, expected, "seed {seed}: every fragment exactly once, in order, to the last");
        for (g, f) in got.iter().zip(&full) {
            assert_eq!(
                g.frames.len(),
                f.frames.len(),
                "seed {seed}: fragment {:?} whole",
                g.fragment_number()
            );
        }
        assert!(calls < 60, "seed {seed}: reached the end within the bound");
        all_calls += calls;
        all_cut += cut;
    }
    assert!(
        all_cut >= 2 && all_calls > 8,
        "responses were cut and readers reconnected: {all_cut} cut of {all_calls}"
    );
}

#[tokio::test]
async fn cut_probability_zero_never_cuts_and_one_is_the_default() {
    assert_eq!(Faults::default().cut_probability, 1.0);
    assert!(Faults::default().is_empty());
    let full = full_payload().await;
    let server = server(Faults { cut_random: Some(7), cut_probability: 0.0, ..Faults::default() }).await;
    let client = media_client(server.url());
    for _ in 0..20 {
        assert_eq!(get_media(&client, "s", selector(StartSelectorType::Earliest)).await, full);
    }
    let frags = fragments(&full);
    let sel = aws_sdk_kinesisvideomedia::types::StartSelector::builder()
        .start_selector_type(StartSelectorType::FragmentNumber)
        .after_fragment_number(frags[frags.len() - 2].fragment_number().unwrap().to_string())
        .build()
        .unwrap();
    let rest = fragments(&get_media(&client, "s", sel).await);
    assert_eq!(rest.len(), 1);
    assert!(rest[0].is_complete(), "a response holding only the last fragment is sent whole");
    server.shutdown().await;
}

#[tokio::test]
async fn cut_random_alone_never_delivers_the_last_fragment() {
    // Issue 12: with every response cut, a response holding only the last fragment is never
    // whole; this is what cut_probability is for.
    let server = server(Faults { cut_random: Some(7), ..Faults::default() }).await;
    let (got, calls, _) = read_to_end(&server, 30).await;
    let last = server.fragments("s").unwrap().last().unwrap().fragment_number.to_string();
    server.shutdown().await;
    assert_eq!(calls, 30);
    assert!(got.iter().all(|f| f.fragment_number().unwrap().to_string() != last));
}
