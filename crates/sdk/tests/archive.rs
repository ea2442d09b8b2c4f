//! The archive through kvs-sdk against kvs-local: ListFragments (both clocks, every page,
//! sorted whatever order the server lists in), GetMediaForFragmentList (named fragments, an
//! exception chunk for a missing one), and the `ArchiveReader`: every fragment of a range
//! once and in order, with calls in flight, under random cuts, throttling, a resume from a
//! saved position, and the handover to the live stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::time::Duration;

use common::client;
use futures_util::StreamExt;
use kvs_chunk::{Event, FragmentNumber};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{CutStyle, FailWith, Faults, LoadOptions, LocalKvs, RunningServer, ServiceErrorKind, Source};
use kvs_sdk::{
    ArchiveItem, ArchivePosition, ArchiveReader, ArchiveReaderBuilder, Backoff, ConsumerError, ConsumerEvent,
    FragmentClock, FragmentSelector, StreamId,
};

/// `n` one-cluster fragments of 5 frames, 40 ms apart (200 ms a fragment).
fn spec(n: usize) -> SyntheticSpec {
    SyntheticSpec { clusters: n, frames_per_cluster: 5, frame_size: 64, ..SyntheticSpec::default() }
}

fn source(n: usize) -> Source {
    Source::from_bytes(spec(n).plain_mkv().unwrap(), &LoadOptions::default()).unwrap()
}

/// A server with stream `cam` of `n` fragments.
async fn serve_cam(n: usize, more: impl FnOnce(kvs_local::Builder) -> kvs_local::Builder) -> RunningServer {
    more(LocalKvs::builder().stream("cam", source(n)).chunk_size(512)).bind("127.0.0.1:0").await.unwrap()
}

/// The server's fragment numbers whose timestamp on `clock` is in `start..=end`.
fn served(server: &RunningServer, clock: FragmentClock, start: i64, end: i64) -> Vec<String> {
    server
        .fragments("cam")
        .unwrap()
        .iter()
        .filter(|f| {
            let t = match clock {
                FragmentClock::Server => f.server_timestamp_ms,
                FragmentClock::Producer => f.producer_timestamp_ms,
            };
            (start..=end).contains(&t)
        })
        .map(|f| f.fragment_number.to_string())
        .collect()
}

/// A reader with test settings: tiny back-off and call spacing, a fixed jitter seed, a
/// bounded number of retries.
fn reader(server: &RunningServer, selector: FragmentSelector) -> ArchiveReaderBuilder {
    ArchiveReader::builder(client(server), StreamId::name("cam"), selector)
        .backoff(Backoff::new(Duration::from_millis(1), Duration::from_millis(10)))
        .call_interval(Duration::from_millis(1))
        .idle_timeout(Duration::from_secs(5))
        .jitter_seed(7)
        .max_retries(Some(100))
}

/// What a reader gave.
#[derive(Debug, Default)]
struct Read {
    /// Fragment numbers of `Fragment` items, in order.
    fragments: Vec<String>,
    /// Fragment numbers of `Missing` items.
    missing: Vec<String>,
    /// Fragment numbers of live fragments.
    live: Vec<String>,
    retrying: usize,
    listed: Vec<(u64, bool)>,
    archive_end: Option<(u64, u64)>,
    documents: usize,
    error: Option<ConsumerError>,
}

/// Reads to the end (at most `limit`), or until `stop_after` fragments, checking on the way
/// that each fragment has its listed number and its 5 frames, and that the position follows.
async fn read(reader: &mut ArchiveReader, limit: Duration, stop_after: usize) -> Read {
    let mut out = Read::default();
    let deadline = tokio::time::Instant::now() + limit;
    while out.fragments.len() + out.live.len() < stop_after {
        let item = match tokio::time::timeout_at(deadline, reader.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) => panic!("the reader did not end within {limit:?}; so far {out:?}"),
        };
        match item {
            Err(e) => {
                out.error = Some(e);
                assert!(reader.next().await.is_none(), "the stream ends after its error");
                break;
            }
            Ok(ArchiveItem::Fragment { info, fragment, document }) => {
                assert_eq!(fragment.fragment_number(), Some(&info.fragment_number));
                assert_eq!(fragment.server_timestamp_ms(), Some(info.server_timestamp_ms));
                assert_eq!(fragment.stats.total_frames(), 5);
                if let Some(doc) = document {
                    // The document decodes to the same fragment.
                    let again: Vec<_> =
                        kvs_chunk::Fragments::new(kvs_chunk::Events::new(doc)).map(|f| f.unwrap()).collect();
                    assert_eq!(again.len(), 1);
                    assert_eq!(again[0].fragment_number(), Some(&info.fragment_number));
                    assert_eq!(again[0].frames.len(), 5);
                    out.documents += 1;
                }
                let last = reader.position().last.unwrap();
                assert_eq!(last.fragment_number, info.fragment_number.as_str());
                out.fragments.push(info.fragment_number.to_string());
            }
            Ok(ArchiveItem::Missing { info, error }) => {
                assert_eq!(error.fragment_number.as_ref(), Some(&info.fragment_number));
                assert_eq!(reader.position().last.unwrap().fragment_number, info.fragment_number.as_str());
                out.missing.push(info.fragment_number.to_string());
            }
            Ok(ArchiveItem::Retrying { .. }) => out.retrying += 1,
            Ok(ArchiveItem::Listed { fragments, complete, .. }) => out.listed.push((fragments, complete)),
            Ok(ArchiveItem::ArchiveEnd { fragments, bytes }) => {
                assert!(out.archive_end.is_none());
                out.archive_end = Some((fragments, bytes));
            }
            Ok(ArchiveItem::Live(ConsumerEvent::Fragment(f))) => {
                let n = f.fragment_number().unwrap().to_string();
                assert_eq!(reader.position().last.unwrap().fragment_number, n);
                out.live.push(n);
            }
            Ok(ArchiveItem::Live(_)) => {}
            Ok(other) => panic!("unexpected item {other:?}"),
        }
    }
    out
}

fn range_of(server: &RunningServer, clock: FragmentClock, first: usize, last: usize) -> FragmentSelector {
    let f = server.fragments("cam").unwrap();
    let t = |i: usize| match clock {
        FragmentClock::Server => f[i].server_timestamp_ms,
        FragmentClock::Producer => f[i].producer_timestamp_ms,
    };
    FragmentSelector::new(clock, t(first), t(last)).unwrap()
}

// ---- ListFragments and GetMediaForFragmentList through the SDK ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fragments_pages_and_sorts_on_both_clocks() {
    for shuffle in [None, Some(5u64)] {
        let server = serve_cam(50, |b| match shuffle {
            Some(seed) => b.shuffle_list_fragments(seed),
            None => b,
        })
        .await;
        let kvs = client(&server);
        let stream = StreamId::name("cam");
        for clock in [FragmentClock::Server, FragmentClock::Producer] {
            let all = range_of(&server, clock, 0, 49);
            for page in [Some(1), Some(7), Some(1000), None] {
                let got = kvs.list_fragments(&stream, all, page).await.unwrap();
                let numbers: Vec<String> = got.iter().map(|f| f.fragment_number.to_string()).collect();
                assert_eq!(numbers, served(&server, clock, all.start_ms(), all.end_ms()), "{clock} {page:?}");
                assert_eq!(numbers.len(), 50);
            }
            // Both ends are included: the range of fragments 10 to 20 exactly.
            let some = range_of(&server, clock, 10, 20);
            let got = kvs.list_fragments(&stream, some, Some(3)).await.unwrap();
            assert_eq!(got.len(), 11);
            let served_all = server.fragments("cam").unwrap();
            assert_eq!(got[0].fragment_number, served_all[10].fragment_number);
            assert_eq!(got[10].fragment_number, served_all[20].fragment_number);
            assert_eq!(got[0].server_timestamp_ms, served_all[10].server_timestamp_ms);
            assert_eq!(got[0].producer_timestamp_ms, served_all[10].producer_timestamp_ms);
            // One millisecond less at each end drops the end fragments.
            let inner = FragmentSelector::new(clock, some.start_ms() + 1, some.end_ms() - 1).unwrap();
            assert_eq!(kvs.list_fragments(&stream, inner, None).await.unwrap().len(), 9);
        }
        // Pages of one by hand: 50 pages, every fragment once.
        let all = range_of(&server, FragmentClock::Server, 0, 49);
        let mut request = kvs_sdk::ListFragmentsRequest::new(all).max_results(1);
        let mut seen = Vec::new();
        loop {
            let page = kvs.list_fragments_page(&stream, &request).await.unwrap();
            assert_eq!(page.fragments.len(), 1);
            seen.extend(page.fragments);
            match page.next_token {
                Some(t) => request = request.next_token(t),
                None => break,
            }
        }
        assert_eq!(seen.len(), 50);
        kvs_sdk::sort_fragments(&mut seen, FragmentClock::Server);
        let numbers: Vec<String> = seen.iter().map(|f| f.fragment_number.to_string()).collect();
        assert_eq!(numbers, served(&server, FragmentClock::Server, all.start_ms(), all.end_ms()));
        server.shutdown().await;
    }
    // A start after the end is refused before any call.
    assert!(matches!(
        FragmentSelector::new(FragmentClock::Server, 2, 1),
        Err(ConsumerError::InvalidArgument { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_media_for_fragment_list_sends_named_fragments_and_an_exception_for_a_missing_one() {
    let server = serve_cam(10, |b| b).await;
    let kvs = client(&server);
    let f = server.fragments("cam").unwrap();
    let numbers =
        vec![f[7].fragment_number.clone(), FragmentNumber::new("123"), f[2].fragment_number.clone()];
    let payload = kvs.get_media_for_fragment_list(&StreamId::name("cam"), &numbers).await.unwrap();
    let mut events = payload.into_events();
    let mut metadata = Vec::new();
    let mut errors = Vec::new();
    while let Some(e) = events.next().await {
        match e.unwrap() {
            Event::FragmentMetadata(m) => metadata.push(m.fragment_number.unwrap().to_string()),
            Event::ErrorChunk(c) => errors.push(c),
            _ => {}
        }
    }
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].fragment_number, Some(FragmentNumber::new("123")));
    assert_eq!(errors[0].id, Some(kvs_chunk::ErrorId::from_u64(4000)));
    let media: Vec<String> = metadata.into_iter().filter(|n| n != "123").collect();
    assert_eq!(media, [f[7].fragment_number.to_string(), f[2].fragment_number.to_string()]);
    // Out of limits: refused before any call.
    assert!(matches!(
        kvs.get_media_for_fragment_list(&StreamId::name("cam"), &[]).await,
        Err(ConsumerError::InvalidArgument { .. })
    ));
    server.shutdown().await;
}

// ---- The reader ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_delivers_the_range_once_in_order_with_any_number_in_flight() {
    let server = serve_cam(40, |b| b.shuffle_list_fragments(3)).await;
    for clock in [FragmentClock::Server, FragmentClock::Producer] {
        let range = range_of(&server, clock, 5, 34);
        let want = served(&server, clock, range.start_ms(), range.end_ms());
        assert_eq!(want.len(), 30);
        for in_flight in [1, 2, 4] {
            for (window, batch) in [(Duration::from_secs(3600), 100), (Duration::from_millis(700), 4)] {
                let mut r = reader(&server, range)
                    .max_in_flight(in_flight)
                    .batch_fragments(batch)
                    .window(window)
                    .page_size(3)
                    .raw_documents(in_flight == 2)
                    .build();
                let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
                assert!(got.error.is_none(), "{:?}", got.error);
                assert_eq!(got.fragments, want, "{clock} in flight {in_flight} window {window:?}");
                assert_eq!(got.archive_end.map(|e| e.0), Some(30));
                assert_eq!(got.documents, if in_flight == 2 { 30 } else { 0 });
                assert_eq!(got.listed.last(), Some(&(30, true)));
                assert_eq!(r.metrics().fragments(), 30);
                assert_eq!(r.metrics().frames(), 150);
                assert!(r.next().await.is_none());
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_by_bytes_and_summaries_without_frames() {
    let server = serve_cam(12, |b| b).await;
    let range = range_of(&server, FragmentClock::Server, 0, 11);
    let kvs = client(&server);
    let sizes = kvs.list_fragments(&StreamId::name("cam"), range, None).await.unwrap();
    // Room for two of the largest fragments a call.
    let largest = sizes.iter().map(|f| f.size_bytes).max().unwrap();
    let smallest = sizes.iter().map(|f| f.size_bytes).min().unwrap();
    assert!(largest < 2 * smallest, "{sizes:?}");
    let two = largest * 2;
    let mut r = reader(&server, range).batch_bytes(two).frames(false).build();
    let mut numbers = Vec::new();
    while let Some(item) = r.next().await {
        if let ArchiveItem::Fragment { info, fragment, .. } = item.unwrap() {
            assert!(fragment.frames.is_empty());
            assert_eq!(fragment.stats.total_frames(), 5);
            numbers.push(info.fragment_number.to_string());
        }
    }
    assert_eq!(numbers, served(&server, FragmentClock::Server, range.start_ms(), range.end_ms()));
    assert_eq!(r.metrics().connections(), 6);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_cuts_lose_and_repeat_nothing() {
    let mut retried = 0;
    for seed in 0..100u64 {
        let faults = Faults {
            cut_random: Some(seed),
            cut_probability: 0.6,
            cut_style: if seed % 3 == 0 { CutStyle::Reset } else { CutStyle::Eof },
            ..Faults::default()
        };
        let server = serve_cam(30, |b| b.faults(faults).chunk_size(200)).await;
        let range = range_of(&server, FragmentClock::Server, 0, 29);
        let want = served(&server, FragmentClock::Server, range.start_ms(), range.end_ms());
        let mut r = reader(&server, range)
            .batch_fragments(5)
            .max_in_flight(1 + (seed as usize % 3))
            .raw_documents(seed % 2 == 0)
            .jitter_seed(seed)
            .build();
        let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
        assert!(got.error.is_none(), "seed {seed}: {:?}", got.error);
        assert_eq!(got.fragments, want, "seed {seed}");
        retried += got.retrying;
        server.shutdown().await;
    }
    assert!(retried > 100, "the cuts were retried ({retried} retries)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_documents_are_the_service_bytes_even_after_cuts() {
    // Each fragment's document alone, as GetMediaForFragmentList sends it (no faults).
    let clean = serve_cam(12, |b| b.chunk_size(100)).await;
    let kvs = client(&clean);
    let mut expected = Vec::new();
    for f in clean.fragments("cam").unwrap() {
        let mut payload = kvs
            .get_media_for_fragment_list(&StreamId::name("cam"), std::slice::from_ref(&f.fragment_number))
            .await
            .unwrap();
        let mut doc = Vec::new();
        while let Some(chunk) = payload.next_chunk().await.unwrap() {
            doc.extend_from_slice(&chunk);
        }
        expected.push(doc);
    }
    clean.shutdown().await;
    for seed in 0..10u64 {
        let faults = Faults { cut_random: Some(seed), cut_probability: 0.5, ..Faults::default() };
        let server = serve_cam(12, |b| b.faults(faults).chunk_size(100)).await;
        let range = range_of(&server, FragmentClock::Server, 0, 11);
        let mut r = reader(&server, range).batch_fragments(5).raw_documents(true).build();
        let mut docs = Vec::new();
        while let Some(item) = r.next().await {
            if let ArchiveItem::Fragment { document, .. } = item.unwrap() {
                docs.push(document.unwrap().to_vec());
            }
        }
        assert_eq!(docs.len(), 12, "seed {seed}");
        assert!(docs == expected, "seed {seed}: a document differs from the service's bytes");
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_and_failed_calls_are_retried() {
    let faults = Faults {
        fail_with: Some(FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(3) }),
        ..Faults::default()
    };
    let server = serve_cam(20, |b| b.faults(faults)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 19);
    let mut r = reader(&server, range).batch_fragments(5).build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.fragments, served(&server, FragmentClock::Server, range.start_ms(), range.end_ms()));
    assert_eq!(r.metrics().throttles(), 3);
    assert_eq!(got.retrying, 3);
    server.shutdown().await;

    // A rate limit: more calls than it allows, all retried.
    let faults = Faults { throttle_rate: Some(4), ..Faults::default() };
    let server = serve_cam(20, |b| b.faults(faults)).await;
    let mut r = reader(&server, range)
        .batch_fragments(4)
        .max_in_flight(4)
        .backoff(Backoff::new(Duration::from_millis(100), Duration::from_millis(400)))
        .max_retries(None)
        .build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.fragments.len(), 20);
    assert!(r.metrics().throttles() > 0);
    server.shutdown().await;

    // Giving up: every call fails.
    let faults = Faults {
        fail_with: Some(FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: None }),
        ..Faults::default()
    };
    let server = serve_cam(5, |b| b.faults(faults)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 4);
    let mut r = reader(&server, range).max_retries(Some(3)).build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(
        matches!(got.error, Some(ConsumerError::RetriesExhausted { attempts: 4, .. })),
        "{:?}",
        got.error
    );
    assert!(got.fragments.is_empty());
    // A terminal error ends at once.
    let mut r = ArchiveReader::builder(client(&server), StreamId::name("nope"), range).build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(matches!(got.error, Some(ConsumerError::ResourceNotFound { .. })), "{:?}", got.error);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_media_is_reported_in_its_place_and_the_reader_goes_on() {
    let lost = [0usize, 6, 7, 14];
    let server = serve_cam(15, |b| b.missing_media(lost)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 14);
    let all = served(&server, FragmentClock::Server, range.start_ms(), range.end_ms());
    for in_flight in [1, 3] {
        let mut r = reader(&server, range).batch_fragments(4).max_in_flight(in_flight).build();
        let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
        assert!(got.error.is_none(), "{:?}", got.error);
        let missing: Vec<String> = lost.iter().map(|&i| all[i].clone()).collect();
        assert_eq!(got.missing, missing);
        let present: Vec<String> =
            all.iter().enumerate().filter(|(i, _)| !lost.contains(i)).map(|(_, n)| n.clone()).collect();
        assert_eq!(got.fragments, present);
        assert_eq!(got.archive_end.map(|e| e.0), Some(11));
        assert_eq!(r.metrics().stream_errors(), 4);
        // The last one was missing: the position is at it all the same.
        assert_eq!(r.position().last.unwrap().fragment_number, all[14]);
        assert_eq!(got.retrying, 0);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_listings_are_retried_or_end_the_read() {
    let fail = FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(3) };
    let server = serve_cam(12, |b| b.fail_list_fragments(fail)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 11);
    let mut r = reader(&server, range).window(Duration::from_millis(500)).page_size(2).build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.fragments, served(&server, FragmentClock::Server, range.start_ms(), range.end_ms()));
    assert_eq!(got.retrying, 3);
    assert_eq!(r.metrics().throttles(), 3);
    assert_eq!(got.listed.last(), Some(&(12, true)));
    assert!(got.listed.len() >= 5, "one Listed per window: {:?}", got.listed);
    server.shutdown().await;

    let fail = FailWith { error: ServiceErrorKind::NotAuthorized, first_calls: None };
    let server = serve_cam(3, |b| b.fail_list_fragments(fail)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 2);
    let mut r = reader(&server, range).build();
    let got = read(&mut r, Duration::from_secs(30), usize::MAX).await;
    assert!(matches!(got.error, Some(ConsumerError::NotAuthorized { .. })), "{:?}", got.error);
    assert_eq!(got.retrying, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_position_resumes_with_exactly_the_rest() {
    let server = serve_cam(30, |b| b.shuffle_list_fragments(9)).await;
    for clock in [FragmentClock::Server, FragmentClock::Producer] {
        let range = range_of(&server, clock, 2, 27);
        let want = served(&server, clock, range.start_ms(), range.end_ms());
        for stop in [1, 7, 13, 25, 26] {
            let mut r = reader(&server, range)
                .batch_fragments(4)
                .max_in_flight(3)
                .window(Duration::from_secs(1))
                .build();
            let first = read(&mut r, Duration::from_secs(30), stop).await;
            assert_eq!(first.fragments.len(), stop);
            let saved = serde_json::to_string(&r.position()).unwrap();
            drop(r);
            let position: ArchivePosition = serde_json::from_str(&saved).unwrap();
            assert_eq!(position.clock, clock);
            let mut r = reader(&server, range).batch_fragments(4).resume(position).build();
            let rest = read(&mut r, Duration::from_secs(30), usize::MAX).await;
            assert!(rest.error.is_none(), "{:?}", rest.error);
            let mut all = first.fragments.clone();
            all.extend(rest.fragments);
            assert_eq!(all, want, "{clock}, stopped after {stop}");
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_hands_over_to_live_without_gap_or_repeat() {
    // 40 fragments of 200 ms, served live from the server's start.
    let server = serve_cam(40, |b| b.live(true)).await;
    let served_all = server.fragments("cam").unwrap();
    let numbers: Vec<String> = served_all.iter().map(|f| f.fragment_number.to_string()).collect();
    // The range: from the first fragment to fragment 30, which is 6 s ahead.
    let range = range_of(&server, FragmentClock::Server, 0, 30);
    // Let some fragments become archive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut r = reader(&server, range).follow(true).batch_fragments(3).build();
    let got = read(&mut r, Duration::from_secs(40), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert!(got.archive_end.is_some());
    assert!(!got.fragments.is_empty(), "fragments became archive before the read");
    assert!(!got.live.is_empty(), "the range ends after the archive part: {got:?}");
    let mut all = got.fragments.clone();
    all.extend(got.live.iter().cloned());
    assert_eq!(all, numbers[..=30], "archive {:?} then live {:?}", got.fragments, got.live);
    assert!(r.next().await.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_goes_live_when_the_range_ended_during_the_archive_part() {
    // Each GetMediaForFragmentList response waits 1 s before its first byte: the range's end,
    // 400 ms after the listing, passes while the archive part is read. The fragments between
    // the listing and the end come from the live stream.
    let faults =
        Faults { stall: Some(Duration::from_secs(1)), stall_after_bytes: Some(0), ..Faults::default() };
    let server = serve_cam(40, |b| b.live(true).faults(faults)).await;
    let numbers: Vec<String> =
        server.fragments("cam").unwrap().iter().map(|f| f.fragment_number.to_string()).collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 7);
    let mut r = reader(&server, range).follow(true).batch_fragments(100).build();
    let got = read(&mut r, Duration::from_secs(40), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert!(!got.fragments.is_empty() && !got.live.is_empty(), "{got:?}");
    let mut all = got.fragments.clone();
    all.extend(got.live.iter().cloned());
    assert_eq!(all, numbers[..=7]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_reader_stops_its_calls() {
    // Every response is cut: the batches are retried for ever.
    let faults = Faults { cut_random: Some(1), ..Faults::default() };
    let server = serve_cam(10, |b| b.faults(faults)).await;
    let range = range_of(&server, FragmentClock::Server, 0, 9);
    let mut r = reader(&server, range).batch_fragments(2).max_in_flight(4).max_retries(None).build();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.get_media_calls("cam").unwrap() < 20 {
        assert!(tokio::time::timeout_at(deadline, r.next()).await.unwrap().is_some());
    }
    drop(r);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = server.get_media_calls("cam").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.get_media_calls("cam").unwrap(), calls, "a task of the dropped reader still calls");
    server.shutdown().await;
}

#[test]
fn the_reader_is_a_send_unpin_stream() {
    fn check<T: futures_util::Stream<Item = Result<ArchiveItem, ConsumerError>> + Send + Unpin>() {}
    check::<ArchiveReader>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_from_the_epoch_lists_in_a_few_dozen_calls_and_dense_windows_are_halved() {
    // A range from 1970 to an hour from now over a 30-fragment stream: the listing windows
    // grow over the empty decades (one-hour windows would take 490,000 calls).
    let server = serve_cam(30, |b| b).await;
    let want = served(&server, FragmentClock::Server, i64::MIN, i64::MAX);
    let now_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis(),
    )
    .unwrap();
    let everything = FragmentSelector::new(FragmentClock::Server, 0, now_ms + 3_600_000).unwrap();
    let mut r = reader(&server, everything).build();
    let got = read(&mut r, Duration::from_secs(60), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.fragments, want);
    assert!(got.listed.len() < 80, "{} listing windows", got.listed.len());
    // At most 7 fragments a window: every window holding more is listed again in halves,
    // and still every fragment comes once, in order.
    let range = range_of(&server, FragmentClock::Server, 0, 29);
    let mut r = reader(&server, range).window(Duration::from_secs(3600)).max_window_fragments(7).build();
    let got = read(&mut r, Duration::from_secs(60), usize::MAX).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.fragments, want);
    assert!(got.listed.len() >= 5, "the 30 fragments took {} windows of at most 7", got.listed.len());
    server.shutdown().await;
}
