//! Unit tests of the pieces that need no server: back-off, the rate limiter, positions and
//! selectors, and the exactly-once tracker fed with kvs-fixtures payloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::time::Duration;

use bytes::Bytes;
use kvs_chunk::{ErrorId, Event, Events, FragmentNumber, Fragments};
use kvs_sdk::{
    Backoff, Checkpoint, ConsumerEvent, ErrorPolicy, Granularity, Jitter, Metrics, Position, RateLimiter,
    StartSelector, StreamId, Tracker,
};
use tokio::time::Instant;

// ---- back-off ----

#[test]
fn backoff_ceiling_doubles_up_to_the_cap() {
    let b = Backoff::default();
    assert_eq!(b.ceiling(0), Duration::ZERO);
    let expected = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000];
    for (n, ms) in expected.iter().enumerate() {
        assert_eq!(b.ceiling(u32::try_from(n).unwrap() + 1), Duration::from_millis(*ms), "failure {}", n + 1);
    }
    assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
    let small = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
    assert_eq!(small.ceiling(3), Duration::from_millis(35));
    assert_eq!(Backoff::default().with_cap(Duration::from_secs(1)).ceiling(20), Duration::from_secs(1));
}

#[test]
fn backoff_full_jitter_stays_in_range_and_spreads() {
    let b = Backoff::default();
    let mut j = Jitter::new(42);
    for failures in 1..12 {
        let ceiling = b.ceiling(failures);
        let delays: Vec<Duration> = (0..500).map(|_| b.delay(failures, &mut j)).collect();
        assert!(delays.iter().all(|d| *d <= ceiling));
        // Full jitter: both halves of the range are used.
        assert!(delays.iter().any(|d| *d < ceiling / 2));
        assert!(delays.iter().any(|d| *d > ceiling / 2));
    }
    assert_eq!(b.delay(0, &mut j), Duration::ZERO);
    // The same seed gives the same delays.
    let (mut a, mut c) = (Jitter::new(7), Jitter::new(7));
    for n in 1..20 {
        assert_eq!(b.delay(n, &mut a), b.delay(n, &mut c));
    }
    assert_eq!(Jitter::new(1).below_inclusive(0), 0);
    let mut e = Jitter::from_entropy();
    assert!(e.below_inclusive(10) <= 10);
}

// ---- rate limiter ----

#[test]
fn limiter_spaces_reservations() {
    let l = RateLimiter::per_second(5);
    assert_eq!(l.interval(), Duration::from_millis(200));
    let t0 = Instant::now();
    let slots: Vec<Instant> = (0..10).map(|_| l.reserve(t0)).collect();
    for (i, s) in slots.iter().enumerate() {
        assert_eq!(*s, t0 + Duration::from_millis(200) * u32::try_from(i).unwrap());
    }
    // After a quiet period the next call goes at once.
    let later = t0 + Duration::from_secs(60);
    assert_eq!(l.reserve(later), later);
    assert_eq!(l.reserve(later), later + Duration::from_millis(200));
    assert_eq!(RateLimiter::per_second(0).interval(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn limiter_allows_at_most_five_calls_per_second() {
    let l = std::sync::Arc::new(RateLimiter::default());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            l.acquire().await;
            Instant::now()
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(200));
    }
    // In any one-second window at most 5 calls.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|u| **u - *t < Duration::from_secs(1)).count();
        assert!(in_window <= 5);
    }
    assert_eq!(*times.last().unwrap() - start, Duration::from_millis(200 * 19));
}

// ---- selectors and positions ----

#[test]
fn selectors_from_parts_and_to_sdk() {
    use aws_sdk_kinesisvideomedia::types::StartSelectorType as T;
    let cases = [
        (StartSelector::from_parts("NOW", None, None, None).unwrap(), T::Now),
        (StartSelector::from_parts("earliest", None, None, None).unwrap(), T::Earliest),
        (StartSelector::from_parts("FRAGMENT_NUMBER", Some("123"), None, None).unwrap(), T::FragmentNumber),
        (
            StartSelector::from_parts("SERVER_TIMESTAMP", None, Some("1700000000.126"), None).unwrap(),
            T::ServerTimestamp,
        ),
        (
            StartSelector::from_parts("PRODUCER_TIMESTAMP", None, Some("2023-11-14T22:13:20.5Z"), None)
                .unwrap(),
            T::ProducerTimestamp,
        ),
        (
            StartSelector::from_parts("CONTINUATION_TOKEN", None, None, Some("tok")).unwrap(),
            T::ContinuationToken,
        ),
    ];
    for (s, t) in &cases {
        let sdk = s.to_sdk().unwrap();
        assert_eq!(sdk.start_selector_type(), t);
        assert_eq!(s.type_name(), t.as_str());
    }
    assert_eq!(cases[2].0.to_sdk().unwrap().after_fragment_number(), Some("123"));
    assert_eq!(cases[3].0, StartSelector::server_timestamp_ms(1_700_000_000_126));
    assert_eq!(cases[4].0, StartSelector::producer_timestamp_ms(1_700_000_000_500));
    assert_eq!(
        cases[3].0.to_sdk().unwrap().start_timestamp().unwrap().to_millis().unwrap(),
        1_700_000_000_126
    );
    assert_eq!(cases[5].0.to_sdk().unwrap().continuation_token(), Some("tok"));
    for bad in [
        StartSelector::from_parts("FRAGMENT_NUMBER", None, None, None),
        StartSelector::from_parts("SERVER_TIMESTAMP", None, None, None),
        StartSelector::from_parts("SERVER_TIMESTAMP", None, Some("yesterday"), None),
        StartSelector::from_parts("CONTINUATION_TOKEN", None, None, None),
        StartSelector::from_parts("LATEST", None, None, None),
    ] {
        assert!(matches!(bad, Err(kvs_sdk::ConsumerError::InvalidArgument { .. })), "{bad:?}");
    }
    let at = std::time::UNIX_EPOCH + Duration::from_millis(1_500);
    assert_eq!(StartSelector::server_timestamp(at), StartSelector::server_timestamp_ms(1_500));
    assert_eq!(StartSelector::producer_timestamp(at), StartSelector::producer_timestamp_ms(1_500));
}

#[test]
fn positions_round_trip_through_json() {
    let selectors = [
        StartSelector::Now,
        StartSelector::Earliest,
        StartSelector::after_fragment("91343852333181432392682062607743920146159169392"),
        StartSelector::server_timestamp_ms(1_511_852_109_126),
        StartSelector::producer_timestamp_ms(-5),
        StartSelector::continuation_token("abc"),
    ];
    for start in selectors {
        for stream in
            [StreamId::name("cam-1"), StreamId::arn("arn:aws:kinesisvideo:us-east-1:1:stream/cam/0")]
        {
            let mut p = Position::new(stream.clone(), start.clone());
            let text = serde_json::to_string(&p).unwrap();
            let back: Position = serde_json::from_str(&text).unwrap();
            assert_eq!(back, p);
            assert_eq!(StartSelector::from(&back), start);

            p.last = Some(Checkpoint {
                fragment_number: Some("17".into()),
                continuation_token: None,
                server_timestamp_ms: Some(1),
                producer_timestamp_ms: None,
            });
            let back: Position = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
            assert_eq!(back, p);
            assert_eq!(StartSelector::from(&back), StartSelector::after_fragment("17"));
            assert_eq!(back.fragment_number(), Some(FragmentNumber::new("17")));

            p.last.as_mut().unwrap().continuation_token = Some("tok-17".into());
            assert_eq!(StartSelector::from(p.clone()), StartSelector::continuation_token("tok-17"));
        }
    }
    // The serialised form uses the API's names.
    let v = serde_json::to_value(StartSelector::continuation_token("t")).unwrap();
    assert_eq!(v, serde_json::json!({"type": "CONTINUATION_TOKEN", "continuation_token": "t"}));
}

// ---- the tracker ----

fn scenario(name: &str) -> kvs_fixtures::Scenario {
    kvs_fixtures::scenarios::by_name(name).unwrap().unwrap()
}

fn tracker(granularity: Granularity, policy: ErrorPolicy) -> Tracker {
    Tracker::new(StreamId::name("s"), StartSelector::Earliest, granularity, policy, Metrics::new())
}

/// An event-mode tracker that surfaces errors, counting into `metrics`.
fn events_tracker(metrics: &Metrics) -> Tracker {
    Tracker::new(
        StreamId::name("s"),
        StartSelector::Earliest,
        Granularity::Events,
        ErrorPolicy::Surface,
        metrics.clone(),
    )
}

fn feed(t: &mut Tracker, bytes: &[u8]) -> kvs_sdk::ConnectionSummary {
    let mut d = kvs_chunk::EventDecoder::new();
    d.feed(Bytes::copy_from_slice(bytes));
    d.finish();
    loop {
        match d.next_event() {
            Ok(Some(e)) => t.push(e),
            Ok(None) => break,
            Err(e) => assert!(matches!(&e, kvs_chunk::Error::Ebml(x) if x.is_eof()), "{e}"),
        }
    }
    t.end_connection()
}

fn drain(t: &mut Tracker) -> Vec<ConsumerEvent> {
    std::iter::from_fn(|| t.pop()).collect()
}

/// (fragment number, frame CRCs) of each complete fragment of a payload, decoded directly.
fn direct(bytes: &[u8]) -> Vec<(Option<String>, Vec<u32>)> {
    Fragments::new(Events::new(Bytes::copy_from_slice(bytes)))
        .map(|f| f.unwrap())
        .filter(|f| f.is_complete())
        .map(|f| {
            (
                f.fragment_number().map(ToString::to_string),
                f.frames.iter().map(|x| crc32fast::hash(&x.data)).collect(),
            )
        })
        .collect()
}

/// Rebuilds fragments from event-mode output, checking the abort contract on the way.
fn from_events(events: &[ConsumerEvent]) -> Vec<(Option<String>, Vec<u32>)> {
    let mut out = Vec::new();
    let mut number = None;
    let mut frames = Vec::new();
    for e in events {
        match e {
            ConsumerEvent::Event(Event::DocumentStart { .. }) => {
                assert!(frames.is_empty(), "a document started inside another");
                number = None;
            }
            ConsumerEvent::Event(Event::FragmentMetadata(m)) => {
                number = m.fragment_number.as_ref().map(ToString::to_string)
            }
            ConsumerEvent::Event(Event::Frame(f)) => frames.push(crc32fast::hash(&f.data)),
            ConsumerEvent::Event(Event::FragmentEnd(end)) => {
                assert!(end.complete, "an incomplete end reached the user");
                out.push((number.take(), std::mem::take(&mut frames)));
            }
            ConsumerEvent::FragmentAborted { fragment_number, frames_emitted } => {
                assert_eq!(*frames_emitted, u64::try_from(frames.len()).unwrap());
                assert_eq!(fragment_number.as_ref().map(ToString::to_string), number);
                frames.clear();
                number = None;
            }
            _ => {}
        }
    }
    assert!(frames.is_empty(), "frames left without an end or an abort");
    out
}

#[test]
fn overlapping_connections_deliver_each_fragment_once() {
    let s = scenario("getmedia_basic");
    let (bytes, layouts) = kvs_fixtures::payload_with_layout(&s.fragments).unwrap();
    let expected = direct(&bytes);
    assert_eq!(expected.len(), 5);
    let doc = |i: usize| &bytes[layouts[i].start..layouts[i].end];
    for granularity in [Granularity::Events, Granularity::Fragments] {
        let mut t = tracker(granularity, ErrorPolicy::Surface);
        // Connection 1: fragments 0..3; connection 2 re-sends 1..5 (a server that resumed
        // inclusively); connection 3 re-sends everything.
        let c1: Vec<u8> = (0..3).flat_map(|i| doc(i).to_vec()).collect();
        let c2: Vec<u8> = (1..5).flat_map(|i| doc(i).to_vec()).collect();
        assert_eq!(feed(&mut t, &c1).delivered, 3);
        assert_eq!(feed(&mut t, &c2).delivered, 2);
        assert_eq!(feed(&mut t, &bytes).delivered, 0);
        let events = drain(&mut t);
        let got = match granularity {
            Granularity::Events => from_events(&events),
            _ => events
                .iter()
                .map(|e| match e {
                    ConsumerEvent::Fragment(f) => (
                        f.fragment_number().map(ToString::to_string),
                        f.frames.iter().map(|x| crc32fast::hash(&x.data)).collect(),
                    ),
                    other => panic!("fragment mode yielded {other:?}"),
                })
                .collect(),
        };
        assert_eq!(got, expected);
        assert_eq!(t.position().last.as_ref().unwrap().fragment_number, expected[4].0);
    }
}

#[test]
fn dedupe_compares_fragment_numbers_numerically() {
    // A resumed tracker whose floor is "99" must still deliver "100" (longer, so larger),
    // and drop "0099" and "98".
    let s = scenario("getmedia_basic");
    let mut fragments = s.fragments.clone();
    let numbers = ["98", "0099", "100", "1000"];
    for (f, n) in fragments.iter_mut().zip(numbers) {
        f.fragment_number = Some(n.into());
        f.continuation_token = Some(n.into());
    }
    fragments.truncate(4);
    let bytes = kvs_fixtures::payload(&fragments).unwrap();
    let mut position = Position::new(StreamId::name("s"), StartSelector::Earliest);
    position.last = Some(Checkpoint {
        fragment_number: Some("99".into()),
        continuation_token: Some("99".into()),
        server_timestamp_ms: None,
        producer_timestamp_ms: None,
    });
    let metrics = Metrics::new();
    let mut t = Tracker::resume(position, Granularity::Fragments, ErrorPolicy::Surface, metrics.clone());
    feed(&mut t, &bytes);
    let got: Vec<String> = drain(&mut t)
        .into_iter()
        .filter_map(|e| match e {
            ConsumerEvent::Fragment(f) => Some(f.fragment_number().unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(got, ["100", "1000"]);
    assert_eq!(metrics.duplicates_skipped(), 2);
    assert_eq!(metrics.fragments(), 2);
    assert_eq!(t.resume_selector(), StartSelector::continuation_token("1000"));
}

#[test]
fn a_cut_fragment_is_aborted_then_delivered_in_full() {
    let s = scenario("cut_stream");
    let full = kvs_fixtures::payload(&s.fragments).unwrap();
    let expected = direct(&full);
    assert_eq!(expected.len(), 3);
    let metrics = Metrics::new();
    let mut t = events_tracker(&metrics);
    let summary = feed(&mut t, &s.bytes);
    assert!(summary.cut);
    assert_eq!(summary.delivered, 2);
    let first = drain(&mut t);
    let aborted: Vec<_> = first
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::FragmentAborted { fragment_number, frames_emitted } => {
                Some((fragment_number.clone(), *frames_emitted))
            }
            _ => None,
        })
        .collect();
    assert_eq!(aborted, [(expected[2].0.clone().map(FragmentNumber::new), 10)]);
    // The position is after fragment 2 of 3, and the reconnection resumes there.
    assert_eq!(t.position().last.as_ref().unwrap().fragment_number, expected[1].0);
    assert_eq!(t.resume_selector(), StartSelector::continuation_token(expected[1].0.clone().unwrap()));
    // The server sends everything again.
    let summary = feed(&mut t, &full);
    assert!(!summary.cut);
    let mut all = first;
    all.extend(drain(&mut t));
    assert_eq!(from_events(&all), expected);
    assert_eq!(metrics.fragments_aborted(), 1);
    assert_eq!(metrics.duplicates_skipped(), 2);
    assert_eq!(metrics.fragments(), 3);
    // 10 provisional frames, then 3 x 20.
    assert_eq!(metrics.frames(), 70);
}

#[test]
fn fragment_mode_never_yields_a_partial_fragment() {
    let s = scenario("cut_stream");
    let mut t = tracker(Granularity::Fragments, ErrorPolicy::Surface);
    // Every prefix of the payload: only complete fragments ever come out, each once.
    let full = kvs_fixtures::payload(&s.fragments).unwrap();
    for cut in (1..full.len()).step_by(997) {
        feed(&mut t, &full[..cut]);
    }
    feed(&mut t, &full);
    let got: Vec<_> = drain(&mut t)
        .into_iter()
        .map(|e| match e {
            ConsumerEvent::Fragment(f) => {
                assert!(f.is_complete());
                (
                    f.fragment_number().map(ToString::to_string),
                    f.frames.iter().map(|x| crc32fast::hash(&x.data)).collect(),
                )
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, direct(&full));
}

#[test]
fn error_chunks_follow_the_policy() {
    let s = scenario("error_chunks");
    for policy in [ErrorPolicy::Surface, ErrorPolicy::Reconnect, ErrorPolicy::Fail] {
        for granularity in [Granularity::Events, Granularity::Fragments] {
            let metrics = Metrics::new();
            let mut t = Tracker::new(
                StreamId::name("s"),
                StartSelector::Earliest,
                granularity,
                policy,
                metrics.clone(),
            );
            let summary = feed(&mut t, &s.bytes);
            let first = summary.stream_error.expect("the connection carried an error");
            assert_eq!(first.id, Some(ErrorId::StreamWriteError));
            assert_eq!(summary.delivered, 1);
            let events = drain(&mut t);
            let surfaced: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    ConsumerEvent::ErrorChunk(e) => Some(e.id.unwrap().code()),
                    _ => None,
                })
                .collect();
            if policy == ErrorPolicy::Surface {
                assert_eq!(surfaced, [3002, 4000, 4500, 4501, 4502, 4503, 4504, 4505, 4506, 5000, 9999]);
            } else {
                assert!(surfaced.is_empty());
            }
            // Error chunks are not fragments: no document events of theirs reach the user.
            let starts = events
                .iter()
                .filter(|e| matches!(e, ConsumerEvent::Event(Event::DocumentStart { .. })))
                .count();
            assert_eq!(starts, usize::from(granularity == Granularity::Events));
            assert!(!events.iter().any(|e| matches!(e, ConsumerEvent::FragmentAborted { .. })));
            assert_eq!(metrics.stream_errors(), 11);
            assert_eq!(metrics.fragments(), 1);
        }
    }
}

/// The AWS CLI's `--start-selector` forms and its timestamps.
#[test]
fn start_selector_in_the_aws_cli_shape() {
    use kvs_sdk::StartSelector as S;
    let ok = |t: &str| S::parse_aws_cli(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(ok("StartSelectorType=NOW"), S::Now);
    assert_eq!(ok(" startselectortype = earliest "), S::Earliest);
    assert_eq!(ok("StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber=\"913\""), S::after_fragment("913"));
    assert_eq!(
        ok("ContinuationToken='9,13',StartSelectorType=CONTINUATION_TOKEN"),
        S::continuation_token("9,13")
    );
    let ms = 1_511_852_109_126;
    for t in [
        "1511852109.126",
        "1511852109.1269",
        "2017-11-28T06:55:09.126Z",
        "2017-11-28T06:55:09.126",
        "2017-11-28 06:55:09.126",
        "2017-11-28T08:55:09.126+02:00",
        "2017-11-28T01:55:09.126-0500",
        "2017-11-28T07:55:09.126+01",
    ] {
        assert_eq!(
            ok(&format!("StartSelectorType=SERVER_TIMESTAMP,StartTimestamp={t}")),
            S::server_timestamp_ms(ms),
            "{t}"
        );
        assert_eq!(S::parse_timestamp_ms(t), Some(ms), "{t}");
    }
    assert_eq!(S::parse_timestamp_ms("2017-11-28"), Some(1_511_827_200_000));
    assert_eq!(S::parse_timestamp_ms("2016-02-29T00:00Z"), Some(1_456_704_000_000));
    assert_eq!(S::parse_timestamp_ms("1.5e9"), Some(1_500_000_000_000));
    for bad in ["2017-02-29", "2017-13-01", "2017-11-28T25:00", "2017-11-28T06:55:09+2", "soon", ""] {
        assert_eq!(S::parse_timestamp_ms(bad), None, "{bad}");
    }
    assert_eq!(
        ok(r#"{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1511852109.126}"#),
        S::producer_timestamp_ms(ms)
    );
    for bad in [
        "StartSelectorType=FRAGMENT_NUMBER",
        "StartSelectorType=NOW,StartSelectorType=EARLIEST",
        "StartSelectorType=NOW,Bogus=1",
        "StartSelectorType",
        "StartSelectorType=\"NOW",
        "AfterFragmentNumber=1",
        r#"{"StartSelectorType": ["NOW"]}"#,
        "{not json",
    ] {
        assert!(
            matches!(S::parse_aws_cli(bad), Err(kvs_sdk::ConsumerError::InvalidArgument { .. })),
            "{bad}"
        );
    }
}

/// A document holding several fragments (the Java merger's output, which a faulty endpoint
/// could send): each fragment is delivered, checkpointed and deduplicated on its own.
#[test]
fn a_merged_document_is_tracked_fragment_by_fragment() {
    let Some(java) = kvs_testkit::conformance_path("kvs-java") else { return };
    let bytes = std::fs::read(java.join("output_get_media_sparse_fragments_merged.mkv")).unwrap();
    let expected = direct(&bytes);
    assert_eq!(expected.len(), 3);
    let metrics = Metrics::new();
    let mut t = events_tracker(&metrics);
    let summary = feed(&mut t, &bytes);
    assert_eq!(summary.delivered, 3);
    assert_eq!(from_events(&drain(&mut t)), expected);
    assert_eq!(t.position().last.as_ref().unwrap().fragment_number, expected[2].0);
    // Sent again: nothing new.
    let summary = feed(&mut t, &bytes);
    assert_eq!(summary.delivered, 0);
    assert_eq!(metrics.duplicates_skipped(), 3);
}
