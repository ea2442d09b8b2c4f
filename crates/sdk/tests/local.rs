//! Integration tests against kvs-local: every StartSelector, and the consumer over a server
//! that cuts, stalls, throttles and sends in-stream errors. Each asserts that every fragment
//! arrives exactly once, in order, with the frames of a direct decode of the backing
//! payload (CRC-32 by CRC-32), and checks the counters and the typed terminal errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::time::Duration;

use common::{Digest, consumer, direct, document_sizes, payload, run, run_until, serve, serve_with};
use futures_util::StreamExt;
use futures_util::future::join_all;
use kvs_chunk::Event;
use kvs_local::{CutStyle, ErrorAfterFragment, FailWith, Faults, ServiceErrorKind};
use kvs_sdk::{
    ApiName, ConsumerError, ErrorPolicy, MediaConsumer, Position, ReconnectReason, StartSelector, StreamId,
};

const LIMIT: Duration = Duration::from_secs(12);

async fn numbers_of(client: &kvs_sdk::KvsClient, stream: &StreamId, selector: &StartSelector) -> Vec<String> {
    let payload = client.get_media(stream, selector).await.unwrap();
    assert_eq!(payload.content_type(), Some("video/webm"));
    let mut events = payload.into_events();
    let mut numbers = Vec::new();
    while let Some(e) = events.next().await {
        if let Event::FragmentEnd(end) = e.unwrap() {
            assert!(end.complete);
            numbers.push(end.continuation_token.unwrap().into_string());
        }
    }
    numbers
}

#[tokio::test]
async fn every_start_selector_by_name_and_by_arn() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let server = serve(&bytes, Faults::default()).await;
    let client = common::client(&server);
    let info = server.fragments("cam").unwrap();
    assert_eq!(info.len(), 5);
    let numbers: Vec<String> = info.iter().map(|f| f.fragment_number.to_string()).collect();
    assert_eq!(numbers, expected.iter().map(|d| d.0.clone().unwrap()).collect::<Vec<_>>());
    let from = |i: usize| numbers[i..].to_vec();
    let cases = [
        (StartSelector::Earliest, from(0)),
        (StartSelector::Now, from(4)),
        (StartSelector::after_fragment(&numbers[1]), from(2)),
        (StartSelector::server_timestamp_ms(info[2].server_timestamp_ms), from(2)),
        (StartSelector::server_timestamp_ms(info[2].server_timestamp_ms + 1), from(2)),
        (StartSelector::producer_timestamp_ms(info[3].producer_timestamp_ms), from(3)),
        (StartSelector::continuation_token(&numbers[0]), from(1)),
        (StartSelector::continuation_token(&numbers[4]), Vec::new()),
    ];
    let arn = StreamId::arn(server.stream_arn("cam").unwrap());
    for stream in [StreamId::name("cam"), arn] {
        assert_eq!(client.data_endpoint(&stream, ApiName::GetMedia).await.unwrap(), server.url());
        for (selector, want) in &cases {
            assert_eq!(&numbers_of(&client, &stream, selector).await, want, "{selector} on {stream:?}");
        }
    }
    // The same through the consumer, which also compares the frames.
    for (selector, want) in &cases {
        let c = consumer(&server).start(selector.clone()).fragments_only(true).build();
        let (r, _) = run(c, LIMIT).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        let got: Vec<String> = r.fragments.iter().map(|d| d.0.clone().unwrap()).collect();
        assert_eq!(&got, want);
        let skip = 5 - want.len();
        assert_eq!(r.fragments, expected[skip..]);
    }
}

/// Runs one consumer against a server with `faults` and checks it delivered `expected`.
async fn delivers_all(bytes: &[u8], faults: Faults, fragments_only: bool) -> (common::Run, kvs_sdk::Metrics) {
    let expected = direct(bytes);
    let server = serve(bytes, faults.clone()).await;
    let (r, c) = run(consumer(&server).fragments_only(fragments_only).build(), LIMIT).await;
    assert!(r.error.is_none(), "{faults:?}: {:?}", r.error);
    assert_eq!(r.fragments, expected, "{faults:?} fragments_only={fragments_only}");
    let m = c.metrics().clone();
    assert_eq!(m.fragments(), u64::try_from(expected.len()).unwrap());
    assert_eq!(m.reconnects(), u64::try_from(r.reconnecting.len()).unwrap());
    // Throttled calls, and resets before the response head, are calls without a connection.
    assert!(m.connections() <= server.get_media_calls("cam").unwrap());
    if faults.fail_with.is_none() && faults.throttle_rate.is_none() && faults.cut_style == CutStyle::Eof {
        assert_eq!(m.connections(), server.get_media_calls("cam").unwrap());
    }
    assert!(m.bytes() >= u64::try_from(bytes.len()).unwrap() / 2);
    assert!(m.millis_behind_now().is_some());
    server.shutdown().await;
    (r, m)
}

#[tokio::test]
async fn cuts_after_n_bytes_are_resumed_exactly_once() {
    for name in ["getmedia_basic", "getmedia_unknown_clusters"] {
        let bytes = payload(name);
        let server = serve(&bytes, Faults::default()).await;
        let sizes = document_sizes(&server).await;
        server.shutdown().await;
        let max = *sizes.iter().max().unwrap();
        let min = *sizes.iter().min().unwrap();
        // Every response holds at least one whole fragment, and is cut inside a later one
        // (or, for the largest values, at or near a boundary).
        let mut runs = Vec::new();
        for (cut, style) in [
            (max + 1, CutStyle::Eof),
            (max + min / 2, CutStyle::Eof),
            (2 * max - 1, CutStyle::Eof),
            (2 * max + 1, CutStyle::Eof),
            (3 * max + 7, CutStyle::Eof),
            // A reset loses whatever the client had not read yet (the kernel drops it), so
            // how much of a reset response arrives varies: leave a wide margin.
            (3 * max + 7, CutStyle::Reset),
            (4 * max / 2 + min, CutStyle::Reset),
        ] {
            for fragments_only in [false, true] {
                let faults = Faults { cut_after_bytes: Some(cut), cut_style: style, ..Faults::default() };
                let bytes = bytes.clone();
                runs.push(async move {
                    let (r, m) = delivers_all(&bytes, faults, fragments_only).await;
                    assert!(m.reconnects() >= 1, "cut at {cut} caused no reconnect");
                    if style == CutStyle::Reset {
                        assert!(r.reconnecting.iter().any(|x| matches!(x, ReconnectReason::Error(_))));
                    }
                    (cut, r.aborted.len())
                });
            }
        }
        let results = join_all(runs).await;
        // Cuts inside a fragment were reported as aborts in event mode at least once.
        assert!(results.iter().any(|(_, aborted)| *aborted > 0), "{name}: {results:?}");
    }
}

#[tokio::test]
async fn a_cut_inside_the_first_fragment_of_every_response_delivers_nothing_partial() {
    let bytes = payload("getmedia_basic");
    let server = serve(&bytes, Faults::default()).await;
    let first = document_sizes(&server).await[0];
    server.shutdown().await;
    let mut runs = Vec::new();
    for cut in [1, 40, first / 2, first - 1] {
        for fragments_only in [false, true] {
            let bytes = bytes.clone();
            runs.push(async move {
                let server = serve(&bytes, Faults { cut_after_bytes: Some(cut), ..Faults::default() }).await;
                let c = consumer(&server).fragments_only(fragments_only).max_retries(Some(3)).build();
                let (r, c) = run(c, LIMIT).await;
                // No progress is possible: the consumer retries, then gives up.
                assert!(r.fragments.is_empty());
                match r.error {
                    Some(ConsumerError::RetriesExhausted { attempts: 4, .. }) => {}
                    other => panic!("cut at {cut}: {other:?}"),
                }
                assert_eq!(c.metrics().reconnects(), 3);
                assert_eq!(server.get_media_calls("cam"), Some(4));
                assert_eq!(c.position().last, None);
                if !fragments_only && cut > first / 3 {
                    // Its frames had started to flow: each cut was reported.
                    assert_eq!(r.aborted.len(), 4, "cut at {cut}");
                    assert!(r.aborted.iter().all(|(n, frames)| n.is_some() && *frames > 0));
                }
                server.shutdown().await;
            });
        }
    }
    join_all(runs).await;
}

#[tokio::test]
async fn random_cuts_are_resumed_exactly_once() {
    // A random cut falls strictly inside a response, so a response that holds only the
    // stream's last fragment is always cut: that fragment can never arrive whole. Every
    // other fragment must, exactly once and in order; the last one never partially.
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let n = expected.len() - 1;
    let mut runs = Vec::new();
    for seed in 1..=8u64 {
        for style in [CutStyle::Eof, CutStyle::Reset] {
            let (bytes, expected) = (bytes.clone(), expected.clone());
            runs.push(async move {
                let faults = Faults { cut_random: Some(seed), cut_style: style, ..Faults::default() };
                let server = serve(&bytes, faults.clone()).await;
                let c = consumer(&server).fragments_only(seed % 2 == 0).max_retries(Some(8)).build();
                let (r, c) = run_until(c, LIMIT, n).await;
                assert!(r.error.is_none(), "{faults:?}: {:?}", r.error);
                assert_eq!(r.fragments, expected[..n], "{faults:?}");
                // Then: the last fragment, cut every time, is never delivered; the consumer
                // gives up after its retries.
                let (rest, c) = run(c, LIMIT).await;
                assert!(rest.fragments.is_empty());
                assert!(
                    matches!(rest.error, Some(ConsumerError::RetriesExhausted { .. })),
                    "{:?}",
                    rest.error
                );
                assert!(c.metrics().reconnects() >= 8, "{faults:?}");
                assert_eq!(c.metrics().fragments(), u64::try_from(n).unwrap());
                server.shutdown().await;
            });
        }
    }
    join_all(runs).await;
}

#[tokio::test]
async fn a_stall_longer_than_the_idle_timeout_reconnects() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let server = serve(&bytes, Faults::default()).await;
    let sizes = document_sizes(&server).await;
    server.shutdown().await;
    // Each response goes silent for 5 s halfway through its second fragment.
    let faults = Faults {
        stall: Some(Duration::from_secs(5)),
        stall_after_bytes: Some(sizes[0] + sizes[1] / 2),
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for fragments_only in [false, true] {
        let faults = faults.clone();
        let bytes = bytes.clone();
        let expected = expected.clone();
        runs.push(Box::pin(async move {
            let server = serve(&bytes, faults).await;
            let c = consumer(&server)
                .fragments_only(fragments_only)
                .idle_timeout(Duration::from_millis(400))
                .build();
            let started = tokio::time::Instant::now();
            let (r, c) = run(c, LIMIT).await;
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.fragments, expected);
            let m = c.metrics();
            // Responses starting at fragments 0, 1, 2 and 3 stall; the last one is too short.
            assert_eq!(m.idle_timeouts(), 4);
            assert_eq!(m.reconnects(), 4);
            assert!(r.reconnecting.iter().all(|x| matches!(x, ReconnectReason::IdleTimeout(_))));
            if !fragments_only {
                assert_eq!(r.aborted.len(), 4);
            }
            assert!(started.elapsed() < Duration::from_secs(5));
            server.shutdown().await;
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
    }
    // A stall shorter than the idle timeout is waited out.
    runs.push(Box::pin(async move {
        let faults = Faults { stall: Some(Duration::from_millis(300)), ..Faults::default() };
        let server = serve(&bytes, faults).await;
        let (r, c) = run(consumer(&server).idle_timeout(Duration::from_secs(2)).build(), LIMIT).await;
        assert!(r.error.is_none());
        assert_eq!(r.fragments, expected);
        assert_eq!(c.metrics().reconnects(), 0);
        server.shutdown().await;
    }));
    join_all(runs).await;
}

#[tokio::test]
async fn the_sdk_stalled_stream_protection_is_configurable() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let server = serve(&bytes, Faults::default()).await;
    let sizes = document_sizes(&server).await;
    server.shutdown().await;
    let faults = Faults {
        stall: Some(Duration::from_secs(4)),
        stall_after_bytes: Some(sizes[0] + sizes[1] + sizes[2] / 2),
        ..Faults::default()
    };
    let server = serve(&bytes, faults).await;
    // The consumer's idle timeout is long; the SDK's protection (1 s grace) cuts the stall.
    let client = kvs_sdk::KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .stalled_stream_grace_period(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let c = MediaConsumer::builder(client, StreamId::name("cam"))
        .start(StartSelector::Earliest)
        .idle_timeout(Duration::from_secs(30))
        .reconnect_on_end(false)
        .max_retries(Some(5))
        .fragments_only(true)
        .build();
    let started = tokio::time::Instant::now();
    let (r, c) = run(c, LIMIT).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.fragments, expected);
    assert_eq!(c.metrics().idle_timeouts(), 0);
    assert!(c.metrics().reconnects() >= 1);
    assert!(r.reconnecting.iter().all(|x| matches!(x, ReconnectReason::Error(_))), "{:?}", r.reconnecting);
    assert!(started.elapsed() < Duration::from_secs(8));
    server.shutdown().await;
}

#[tokio::test]
async fn throttling_is_backed_off_and_counted() {
    let bytes = payload("getmedia_basic");
    let server = serve(&bytes, Faults::default()).await;
    let sizes = document_sizes(&server).await;
    server.shutdown().await;
    let max = *sizes.iter().max().unwrap();
    let runs = vec![
        // The first three calls are throttled.
        Box::pin(async {
            for error in [ServiceErrorKind::ClientLimitExceeded, ServiceErrorKind::ConnectionLimitExceeded] {
                let faults =
                    Faults { fail_with: Some(FailWith { error, first_calls: Some(3) }), ..Faults::default() };
                let (r, m) = delivers_all(&bytes, faults, false).await;
                assert_eq!(m.throttles(), 3);
                assert_eq!(m.reconnects(), 3);
                assert!(
                    r.reconnecting.iter().all(|x| matches!(x, ReconnectReason::Error(e) if e.is_throttle()))
                );
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
        // A server that allows 2 calls per second, and cuts every response after about one
        // fragment: the consumer is throttled, backs off, and still gets everything.
        Box::pin(async {
            let faults =
                Faults { throttle_rate: Some(2), cut_after_bytes: Some(max + max / 2), ..Faults::default() };
            let started = tokio::time::Instant::now();
            let server = serve(&bytes, faults).await;
            let (r, c) = run(consumer(&server).build(), LIMIT).await;
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.fragments, direct(&bytes));
            let calls = server.get_media_calls("cam").unwrap();
            assert!(c.metrics().throttles() >= 1);
            assert_eq!(c.metrics().throttles() + c.metrics().connections(), calls);
            // Never more than 5 calls per second.
            let secs = started.elapsed().as_secs_f64();
            assert!((calls as f64) <= 5.0 * secs + 1.0, "{calls} calls in {secs} s");
            server.shutdown().await;
        }),
    ];
    join_all(runs).await;
}

#[tokio::test]
async fn an_in_stream_error_after_fragment_k_follows_the_policy() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let faults = Faults {
        error_after_fragment: Some(ErrorAfterFragment { fragment_index: 1, error_id: 4000 }),
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for policy in [ErrorPolicy::Surface, ErrorPolicy::Reconnect, ErrorPolicy::Fail] {
        for fragments_only in [false, true] {
            let (bytes, expected, faults) = (bytes.clone(), expected.clone(), faults.clone());
            runs.push(async move {
                let server = serve(&bytes, faults).await;
                let c = consumer(&server).error_policy(policy).fragments_only(fragments_only).build();
                let (r, c) = run(c, LIMIT).await;
                let m = c.metrics();
                assert_eq!(m.stream_errors(), 1);
                assert!(r.aborted.is_empty());
                match policy {
                    ErrorPolicy::Fail => {
                        match &r.error {
                            Some(ConsumerError::InStream(e)) => {
                                assert_eq!(e.id, Some(kvs_chunk::ErrorId::FragmentNotFound));
                                assert_eq!(e.fragment_number.as_ref().map(ToString::to_string), expected[2].0);
                            }
                            other => panic!("{other:?}"),
                        }
                        assert_eq!(r.fragments, expected[..2]);
                        assert_eq!(m.reconnects(), 0);
                        // The position is after fragment K: a resume goes on from there.
                        assert_eq!(c.position().last.unwrap().fragment_number, expected[1].0);
                    }
                    ErrorPolicy::Surface | ErrorPolicy::Reconnect => {
                        assert!(r.error.is_none(), "{:?}", r.error);
                        assert_eq!(r.fragments, expected);
                        assert_eq!(m.reconnects(), 1);
                        assert!(matches!(&r.reconnecting[0], ReconnectReason::InStreamError(e) if e.id.unwrap().code() == 4000));
                        let want: &[u64] = if policy == ErrorPolicy::Surface { &[4000] } else { &[] };
                        assert_eq!(r.stream_errors, want);
                    }
                    _ => unreachable!(),
                }
                server.shutdown().await;
            });
        }
    }
    join_all(runs).await;
}

#[tokio::test]
async fn terminal_errors_end_the_stream_with_a_typed_error() {
    let bytes = payload("getmedia_basic");
    let server = serve(&bytes, Faults::default()).await;
    // No such stream: GetDataEndpoint answers 404.
    let c = MediaConsumer::builder(common::client(&server), StreamId::name("nope"))
        .start(StartSelector::Earliest)
        .build();
    let (r, c) = run(c, LIMIT).await;
    assert!(
        matches!(r.error, Some(ConsumerError::ResourceNotFound { ref message }) if message.contains("nope")),
        "{:?}",
        r.error
    );
    assert_eq!(c.metrics().reconnects(), 0);
    // A malformed fragment number: 400 InvalidArgumentException.
    let c = consumer(&server).start(StartSelector::after_fragment("12x")).build();
    let (r, _) = run(c, LIMIT).await;
    assert!(matches!(r.error, Some(ConsumerError::InvalidArgument { .. })), "{:?}", r.error);
    server.shutdown().await;

    for (error, check) in [
        (
            ServiceErrorKind::NotAuthorized,
            (|e: &ConsumerError| matches!(e, ConsumerError::NotAuthorized { .. }))
                as fn(&ConsumerError) -> bool,
        ),
        (ServiceErrorKind::InvalidArgument, |e| matches!(e, ConsumerError::InvalidArgument { .. })),
        (ServiceErrorKind::ResourceNotFound, |e| matches!(e, ConsumerError::ResourceNotFound { .. })),
    ] {
        let faults = Faults { fail_with: Some(FailWith { error, first_calls: None }), ..Faults::default() };
        let server = serve(&bytes, faults).await;
        let (r, c) = run(consumer(&server).build(), LIMIT).await;
        let e = r.error.unwrap();
        assert!(check(&e), "{error:?}: {e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("Injected"), "{e}");
        assert!(r.fragments.is_empty());
        assert_eq!(c.metrics().reconnects(), 0);
        assert_eq!(server.get_media_calls("cam"), Some(1));
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_invalid_endpoint_answer_refreshes_the_endpoint() {
    let bytes = payload("getmedia_basic");
    let faults = Faults {
        fail_with: Some(FailWith { error: ServiceErrorKind::InvalidEndpoint, first_calls: Some(1) }),
        ..Faults::default()
    };
    let server = serve(&bytes, faults).await;
    let (r, c) = run(consumer(&server).build(), LIMIT).await;
    assert!(r.error.is_none());
    assert_eq!(r.fragments, direct(&bytes));
    // The client refreshed the endpoint and called again by itself.
    assert_eq!(c.metrics().reconnects(), 0);
    assert_eq!(server.get_media_calls("cam"), Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn a_saved_position_resumes_after_the_last_fragment() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let server = serve(&bytes, Faults::default()).await;
    let mut first = consumer(&server).fragments_only(true).build().into_fragments();
    let mut got: Vec<Digest> = Vec::new();
    while got.len() < 2 {
        got.push(common::digest(&first.next().await.unwrap().unwrap()));
    }
    let saved = serde_json::to_string(&first.position()).unwrap();
    drop(first);
    let position: Position = serde_json::from_str(&saved).unwrap();
    assert_eq!(position.last.as_ref().unwrap().fragment_number, expected[1].0);
    let resumed = MediaConsumer::resume(common::client(&server), position)
        .reconnect_on_end(false)
        .fragments_only(true)
        .build()
        .into_fragments();
    let rest: Vec<Digest> = resumed.map(|f| common::digest(&f.unwrap())).collect().await;
    got.extend(rest);
    assert_eq!(got, expected);
    server.shutdown().await;
}

#[tokio::test]
async fn a_live_stream_is_followed_from_now() {
    let bytes = payload("getmedia_basic");
    let expected = direct(&bytes);
    let server = serve(&bytes, Faults::default()).await;
    let max = *document_sizes(&server).await.iter().max().unwrap();
    server.shutdown().await;
    // Each response is cut inside its second fragment.
    let faults = Faults { cut_after_bytes: Some(max + max / 2), ..Faults::default() };
    let server = serve_with(&bytes, faults, |b| b.live(true)).await;
    // Fragments arrive one second apart; follow from NOW until the fifth.
    let c = consumer(&server)
        .start(StartSelector::Now)
        .reconnect_on_end(true)
        .max_retries(None)
        .fragments_only(true)
        .build();
    let mut fragments = c.into_fragments();
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while got.len() < expected.len() {
            got.push(common::digest(&fragments.next().await.unwrap().unwrap()));
        }
    })
    .await
    .unwrap();
    assert_eq!(got, expected);
    let m = fragments.metrics();
    assert!(m.millis_behind_now().is_some());
    assert_eq!(m.fragments(), 5);
    server.shutdown().await;
}

#[tokio::test]
async fn data_endpoints_are_cached_until_they_age() {
    let bytes = payload("getmedia_basic");
    let server = serve(&bytes, Faults::default()).await;
    let url = server.url().to_owned();
    let stream = StreamId::name("cam");
    let build = |age: Duration| {
        kvs_sdk::KvsClient::builder()
            .endpoint_url(&url)
            .region("us-east-1")
            .static_credentials("AKIDLOCAL", "secret", None)
            .endpoint_max_age(age)
            .build()
            .unwrap()
    };
    let cached = build(kvs_sdk::DEFAULT_ENDPOINT_MAX_AGE);
    let aging = build(Duration::ZERO);
    assert_eq!(cached.data_endpoint(&stream, ApiName::GetMedia).await.unwrap(), url);
    assert_eq!(aging.data_endpoint(&stream, ApiName::GetMedia).await.unwrap(), url);
    server.shutdown().await;
    // With the server gone, only the cache can answer.
    assert_eq!(cached.data_endpoint(&stream, ApiName::GetMedia).await.unwrap(), url);
    let e = aging.data_endpoint(&stream, ApiName::GetMedia).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    // Invalidation forgets it.
    cached.invalidate_endpoint(&stream, ApiName::GetMedia);
    assert!(cached.data_endpoint(&stream, ApiName::GetMedia).await.is_err());
    // Another API is another cache entry.
    assert!(
        build(kvs_sdk::DEFAULT_ENDPOINT_MAX_AGE).data_endpoint(&stream, ApiName::GetImages).await.is_err()
    );
}

/// Oracle: ffprobe reading the backing file. The frames the consumer delivers (fragment
/// mode, through a clean response and through responses cut every 9000 bytes and resumed)
/// are, in order, the packets ffprobe finds in the fixture the server serves: track
/// (ffprobe stream + 1), time in ms, size, and for the video track the key flag; and their
/// counts are the ones testdata/MANIFEST.md documents (getmedia_basic: 5 x 30 H.264 frames,
/// keyframes at 0, 1000, ... ms; getmedia_unknown_clusters: 4 x (10 H.264 + 32 AAC)).
#[tokio::test]
async fn delivered_frames_are_the_packets_ffprobe_reads_in_the_fixture() {
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    for (name, video, audio) in [("getmedia_basic", 150, 0), ("getmedia_unknown_clusters", 40, 128)] {
        let bytes = payload(name);
        let file = kvs_testkit::oracle::temp_file(&format!("{name}.mkv"), &bytes);
        let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &file);
        std::fs::remove_file(&file).ok();
        assert_eq!(packets.iter().filter(|p| p.stream == 0).count(), video, "{name}");
        assert_eq!(packets.iter().filter(|p| p.stream == 1).count(), audio, "{name}");
        let want: Vec<(u64, i64, u64, Option<bool>)> = packets
            .iter()
            .map(|p| (p.stream + 1, p.pts_ms, p.size, (p.stream == 0).then_some(p.key)))
            .collect();
        for faults in [Faults::default(), Faults { cut_after_bytes: Some(9000), ..Faults::default() }] {
            let server = serve(&bytes, faults.clone()).await;
            let mut c = consumer(&server).fragments_only(true).build();
            let mut got = Vec::new();
            while let Some(item) = tokio::time::timeout(LIMIT, c.next()).await.unwrap() {
                match item.unwrap() {
                    kvs_sdk::ConsumerEvent::Fragment(f) => got.extend(f.frames.iter().map(|x| {
                        (x.track, x.timestamp_ms(), x.data.len() as u64, (x.track == 1).then_some(x.keyframe))
                    })),
                    kvs_sdk::ConsumerEvent::Reconnecting { .. } => {}
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(got, want, "{name} {faults:?}");
            server.shutdown().await;
        }
    }
}

/// A provider that never has credentials (an unknown profile, an expired SSO session).
#[derive(Debug)]
struct NoCredentials;

impl kvs_sdk::sdk::aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> kvs_sdk::sdk::aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        kvs_sdk::sdk::aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            kvs_sdk::sdk::aws_credential_types::provider::error::CredentialsError::invalid_configuration(
                "profile `nope` was not defined",
            ),
        ))
    }
}

#[tokio::test]
async fn a_credentials_error_ends_the_stream_without_a_retry() {
    let bytes = payload("getmedia_basic");
    let server = serve(&bytes, Faults::default()).await;
    let client = kvs_sdk::KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .credentials_provider(NoCredentials)
        .build()
        .unwrap();
    let c = MediaConsumer::builder(client, StreamId::name("cam")).start(StartSelector::Earliest).build();
    let started = std::time::Instant::now();
    let (r, c) = run(c, LIMIT).await;
    let e = r.error.unwrap();
    assert!(matches!(e, ConsumerError::Credentials(_)), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().starts_with("no AWS credentials: ") && e.to_string().contains("`nope`"), "{e}");
    assert_eq!(c.metrics().reconnects(), 0);
    // No request reached the server, and no back-off was waited.
    assert_eq!(server.get_media_calls("cam"), Some(0));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    server.shutdown().await;
}
