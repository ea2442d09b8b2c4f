//! `StreamSet` against kvs-local: every fragment of many streams once and in order, add and
//! remove while running (a removed stream's position resumes exactly after what was
//! yielded), round-robin fairness, back-pressure per stream, positions as a lone consumer
//! gives them, and the set's end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::client;
use futures_util::{FutureExt, StreamExt};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{LoadOptions, LocalKvs, RunningServer, Source};
use kvs_sdk::{
    Backoff, ConsumerError, ConsumerEvent, MediaConsumer, MediaConsumerBuilder, Metrics, Position, SetItem,
    StartSelector, StreamId, StreamSet, StreamSetBuilder,
};

/// `n` one-cluster fragments of 5 small frames.
fn source(n: usize) -> Source {
    let spec =
        SyntheticSpec { clusters: n, frames_per_cluster: 5, frame_size: 64, ..SyntheticSpec::default() };
    Source::from_bytes(spec.plain_mkv().unwrap(), &LoadOptions::default()).unwrap()
}

/// A server with streams `cam0`, `cam1`, ... of `fragments[i]` fragments each.
async fn serve(fragments: &[usize]) -> RunningServer {
    let mut b = LocalKvs::builder().chunk_size(512);
    for (i, &n) in fragments.iter().enumerate() {
        b = b.stream(format!("cam{i}"), source(n));
    }
    b.bind("127.0.0.1:0").await.unwrap()
}

fn cam(i: usize) -> StreamId {
    StreamId::name(format!("cam{i}"))
}

/// Test settings for every consumer: fragments, short back-off, stop at the stored end.
fn settings(b: MediaConsumerBuilder) -> MediaConsumerBuilder {
    b.fragments_only(true)
        .idle_timeout(Duration::from_secs(3))
        .backoff(Backoff::new(Duration::from_millis(10), Duration::from_millis(100)))
        .jitter_seed(1)
        .max_retries(Some(30))
        .reconnect_on_end(false)
}

fn set(server: &RunningServer) -> StreamSetBuilder {
    StreamSet::builder(client(server)).configure(settings)
}

/// The server's fragment numbers of a stream.
fn numbers(server: &RunningServer, i: usize) -> Vec<String> {
    server.fragments(&format!("cam{i}")).unwrap().iter().map(|f| f.fragment_number.to_string()).collect()
}

/// The fragment number of a fragment item (None for anything else), checking its position.
fn fragment(item: &SetItem) -> Option<String> {
    match &item.item {
        Ok(ConsumerEvent::Fragment(f)) => {
            let n = f.fragment_number().unwrap().to_string();
            let p = item.position.as_ref().expect("a fragment carries its position");
            assert_eq!(p.stream, item.stream);
            assert_eq!(p.last.as_ref().unwrap().fragment_number.as_deref(), Some(n.as_str()));
            Some(n)
        }
        Ok(ConsumerEvent::Reconnecting { .. }) => None,
        other => panic!("unexpected item {other:?}"),
    }
}

/// Every item until the set ends (at most 60 s).
async fn drain(mut set: StreamSet) -> Vec<SetItem> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, set.next()).await {
            Ok(Some(item)) => out.push(item),
            Ok(None) => return out,
            Err(_) => panic!("the set did not end; {} items so far", out.len()),
        }
    }
}

fn by_stream(items: &[SetItem]) -> HashMap<StreamId, Vec<String>> {
    let mut out: HashMap<StreamId, Vec<String>> = HashMap::new();
    for item in items {
        if let Some(n) = fragment(item) {
            out.entry(item.stream.clone()).or_default().push(n);
        }
    }
    out
}

#[tokio::test]
async fn every_fragment_of_twenty_streams_once_and_in_order() {
    let server = serve(&[6; 20]).await;
    let set = set(&server).queue(4).build();
    let handle = set.handle();
    for i in 0..20 {
        assert!(handle.add(cam(i), StartSelector::Earliest));
    }
    assert!(!handle.add(cam(3), StartSelector::Earliest), "already in the set");
    assert_eq!(handle.len(), 20);
    let mut want: Vec<StreamId> = (0..20).map(cam).collect();
    want.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(handle.streams(), want);
    let watcher = handle.clone();
    drop(handle);
    // Each consumer ends at the stored end and leaves; with no handle left, the set ends.
    drop(watcher);
    let items = drain(set).await;
    let got = by_stream(&items);
    assert_eq!(got.len(), 20);
    for i in 0..20 {
        assert_eq!(got[&cam(i)], numbers(&server, i), "cam{i}");
    }
}

#[tokio::test]
async fn positions_are_those_of_a_lone_consumer() {
    let server = serve(&[7]).await;
    let mut lone =
        settings(MediaConsumer::builder(client(&server), cam(0)).start(StartSelector::Earliest)).build();
    let mut want = Vec::new();
    while let Some(item) = lone.next().await {
        if let ConsumerEvent::Fragment(_) = item.unwrap() {
            want.push(lone.position());
        }
    }
    assert_eq!(want.len(), 7);
    let set = set(&server).queue(2).build();
    assert!(set.handle().add(cam(0), StartSelector::Earliest));
    let items = drain(set).await;
    let got: Vec<Position> = items.into_iter().filter_map(|i| i.position).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn add_and_remove_while_running() {
    let server = serve(&[30, 30, 30, 30]).await;
    let mut set = set(&server).queue(2).build();
    let handle = set.handle();
    for i in 0..3 {
        assert!(handle.add(cam(i), StartSelector::Earliest));
    }
    let mut got: HashMap<StreamId, Vec<String>> = HashMap::new();
    let mut removed: Option<Position> = None;
    let mut added = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Some(item) = tokio::time::timeout_at(deadline, set.next()).await.unwrap() {
        // Adding from the loop that polls the set.
        if !added {
            assert!(handle.add(cam(3), StartSelector::Earliest));
            added = true;
        }
        assert!(removed.is_none() || item.stream != cam(0), "an item of cam0 after its removal");
        if let Some(n) = fragment(&item) {
            got.entry(item.stream.clone()).or_default().push(n);
        }
        if removed.is_none() && got.get(&cam(0)).is_some_and(|v| v.len() == 5) {
            // Let its task fill its queue first: what it read ahead is not yielded.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(handle.queued(&cam(0)), Some(2));
            removed = Some(handle.remove(&cam(0)).unwrap());
            assert!(!handle.contains(&cam(0)));
            assert_eq!(handle.remove(&cam(0)), None);
        }
        if removed.is_some() && (1..4).all(|i| got.get(&cam(i)).is_some_and(|v| v.len() == 30)) {
            break;
        }
    }
    let position = removed.unwrap();
    let want = numbers(&server, 0);
    assert_eq!(got[&cam(0)], want[..5]);
    assert_eq!(position.last.as_ref().unwrap().fragment_number.as_deref(), Some(want[4].as_str()));
    for i in 1..4 {
        assert_eq!(got[&cam(i)], numbers(&server, i), "cam{i}");
    }
    // Resumed from the returned position: the rest, without gap or repeat.
    assert!(handle.resume(position));
    drop(handle);
    let rest = by_stream(&drain(set).await);
    assert_eq!(rest[&cam(0)], want[5..]);
}

#[tokio::test]
async fn a_busy_stream_does_not_starve_quiet_ones_and_queues_are_bounded() {
    // cam0 has 200 fragments, cam1..cam9 three each.
    let mut sizes = vec![3; 10];
    sizes[0] = 200;
    let server = serve(&sizes).await;
    let mut set = set(&server).queue(8).build();
    let handle = set.handle();
    let busy = Metrics::new();
    let consumer = settings(MediaConsumer::builder(client(&server), cam(0)).start(StartSelector::Earliest))
        .metrics(busy.clone())
        .build();
    assert!(handle.add_consumer(consumer));
    for i in 1..10 {
        assert!(handle.add(cam(i), StartSelector::Earliest));
    }
    // Start the consumers without taking an item, and let every queue fill.
    assert!(set.next().now_or_never().is_none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while handle.queued(&cam(0)) != Some(8) || (1..10).any(|i| handle.queued(&cam(i)) != Some(3)) {
        assert!(tokio::time::Instant::now() < deadline, "the queues did not fill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Back-pressure: the busy stream's consumer stops reading with a full queue.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handle.queued(&cam(0)), Some(8));
    let read = busy.fragments();
    assert!(read <= 8 + 4, "the busy consumer read {read} fragments ahead of a queue of 8");
    drop(handle);
    let items = drain(set).await;
    let order: Vec<StreamId> =
        items.iter().filter(|i| fragment(i).is_some()).map(|i| i.stream.clone()).collect();
    // Round-robin: the first round has one item of every stream, and the quiet streams are
    // done within three rounds.
    let mut first: Vec<&str> = order[..10].iter().map(StreamId::as_str).collect();
    first.sort_unstable();
    first.dedup();
    assert_eq!(first.len(), 10, "first round: {first:?}");
    assert!(order[30..].iter().all(|s| *s == cam(0)), "quiet streams after the third round: {order:?}");
    assert_eq!(by_stream(&items)[&cam(0)], numbers(&server, 0));
}

#[tokio::test]
async fn the_set_ends_when_empty_and_every_handle_is_dropped() {
    let server = serve(&[2]).await;
    let mut set = set(&server).build();
    let handle = set.handle();
    // Empty with a handle: pending.
    assert!(tokio::time::timeout(Duration::from_millis(100), set.next()).await.is_err());
    // Added from another task while the set waits.
    let h = handle.clone();
    let waiting = tokio::spawn(async move {
        let first = set.next().await;
        (set, first)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.add(cam(0), StartSelector::Earliest));
    let (mut set, first) = waiting.await.unwrap();
    assert_eq!(first.unwrap().stream, cam(0));
    assert_eq!(set.next().await.map(|i| fragment(&i).is_some()), Some(true));
    // The consumer ended and left; the handles still hold the set open.
    assert!(tokio::time::timeout(Duration::from_millis(200), set.next()).await.is_err());
    assert!(handle.is_empty());
    drop(h);
    assert!(tokio::time::timeout(Duration::from_millis(100), set.next()).await.is_err());
    drop(handle);
    assert!(set.next().await.is_none());
}

#[tokio::test]
async fn a_terminal_error_reaches_the_application_and_the_stream_leaves() {
    let server = serve(&[2]).await;
    let mut set = set(&server).build();
    let handle = set.handle();
    assert!(handle.add(StreamId::name("nosuch"), StartSelector::Earliest));
    let item = tokio::time::timeout(Duration::from_secs(30), set.next()).await.unwrap().unwrap();
    assert_eq!(item.stream, StreamId::name("nosuch"));
    assert!(matches!(item.item, Err(ConsumerError::ResourceNotFound { .. })), "{:?}", item.item);
    assert!(!handle.contains(&StreamId::name("nosuch")));
    drop(handle);
    assert!(set.next().await.is_none());
}

#[tokio::test]
async fn a_dropped_set_refuses_new_streams() {
    let server = serve(&[2]).await;
    let set = set(&server).build();
    let handle = set.handle();
    drop(set);
    assert!(!handle.add(cam(0), StartSelector::Earliest));
    assert!(handle.is_empty());
}
