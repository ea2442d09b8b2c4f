//! Live mode: fragments arrive paced by their timestamps from the server's start, NOW
//! follows the newest fragment, and millis-behind-now stays small for a caught-up reader.
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
use kvs_chunk::Event;
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{LocalKvs, RunningServer};

/// Four 300 ms fragments (5 frames, 60 ms apart).
fn spec() -> SyntheticSpec {
    SyntheticSpec { clusters: 4, frames_per_cluster: 5, frame_interval_ms: 60, ..SyntheticSpec::default() }
}

async fn live_server() -> (RunningServer, Instant) {
    let t0 = Instant::now();
    let server = LocalKvs::builder()
        .stream("cam", sample_source(&spec()))
        .live(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    (server, t0)
}

/// (arrival ms, fragment number, millis behind now) of each complete fragment.
fn arrivals(events: &[(u128, Event)]) -> Vec<(u128, String, u64)> {
    let mut number = String::new();
    let mut out = Vec::new();
    for (t, e) in events {
        match e {
            Event::FragmentMetadata(m) => number = m.fragment_number.as_ref().unwrap().to_string(),
            Event::FragmentEnd(end) if end.complete => {
                out.push((*t, number.clone(), end.millis_behind_now.unwrap()))
            }
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn earliest_is_paced_by_the_fragment_timestamps() {
    let (server, t0) = live_server().await;
    let infos = server.fragments("cam").unwrap();
    assert_eq!(infos.iter().map(|f| f.available_after.as_millis()).collect::<Vec<_>>(), [0, 300, 600, 900]);
    // Timestamps follow the wall clock: the first fragment's server time is the start.
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now_ms - infos[0].server_timestamp_ms).abs() < 2_000);

    let client = media_client(server.url());
    let out = client
        .get_media()
        .stream_name("cam")
        .start_selector(selector(StartSelectorType::Earliest))
        .send()
        .await;
    let (events, _, error) = timed_events(out.unwrap().payload, t0).await;
    assert!(error.is_none());
    let got = arrivals(&events);
    assert_eq!(got.len(), 4);
    for (k, (t, number, behind)) in got.iter().enumerate() {
        let due = 300 * k as u128;
        assert!(*t + 20 >= due, "fragment {k} came at {t} ms, before {due} ms");
        assert!(*t < due + 400, "fragment {k} came at {t} ms, long after {due} ms");
        assert_eq!(number, &infos[k].fragment_number.to_string());
        assert!(*behind < 400, "fragment {k} is {behind} ms behind now");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn now_starts_at_the_newest_available_fragment_and_follows() {
    let (server, t0) = live_server().await;
    let infos = server.fragments("cam").unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let client = media_client(server.url());
    let out =
        client.get_media().stream_name("cam").start_selector(selector(StartSelectorType::Now)).send().await;
    let (events, _, _) = timed_events(out.unwrap().payload, t0).await;
    let got = arrivals(&events);
    let numbers: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
    let expected: Vec<&str> = infos[1..].iter().map(|f| f.fragment_number.as_str()).collect();
    assert_eq!(numbers, expected, "fragment 1 was the newest at 450 ms; 2 and 3 follow as they arrive");
    assert!(got[0].0 < 750, "the newest is sent at once, not when fragment 2 arrives");
    assert!(got[0].2 >= 100, "fragment 1 arrived at 300 ms, so it is behind by about 150 ms: {}", got[0].2);
    assert!(got[2].0 + 20 >= 900, "fragment 3 waits for its time");
    server.shutdown().await;
}

#[tokio::test]
async fn an_archived_start_catches_up_then_paces() {
    let (server, t0) = live_server().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let client = media_client(server.url());
    let out = client
        .get_media()
        .stream_name("cam")
        .start_selector(selector(StartSelectorType::Earliest))
        .send()
        .await;
    let (events, _, _) = timed_events(out.unwrap().payload, t0).await;
    let got = arrivals(&events);
    assert_eq!(got.len(), 4);
    // Fragments 0..=2 were available: sent at once, the oldest furthest behind.
    assert!(got[2].0 < 850);
    assert!(got[0].2 >= 650 && got[0].2 > got[1].2 && got[1].2 > got[2].2, "{got:?}");
    assert!(got[3].0 + 20 >= 900);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_a_waiting_live_response() {
    let spec = SyntheticSpec {
        clusters: 3,
        frames_per_cluster: 5,
        frame_interval_ms: 1000,
        ..SyntheticSpec::default()
    };
    let server = LocalKvs::builder()
        .stream("slow", sample_source(&spec))
        .live(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = media_client(server.url());
    let out =
        client.get_media().stream_name("slow").start_selector(selector(StartSelectorType::Now)).send().await;
    let reader = tokio::spawn(timed_events(out.unwrap().payload, Instant::now()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    server.shutdown().await;
    let (events, _, _) = tokio::time::timeout(Duration::from_secs(3), reader).await.unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(arrivals(&events).len(), 1, "only the fragment that had arrived");
}
