//! The archived-media APIs, `POST /listFragments` and `POST /getMediaForFragmentList`, through
//! the AWS SDK for Rust (aws-sdk-kinesisvideoarchivedmedia) and the AWS CLI
//! (`aws kinesis-video-archived-media list-fragments`, `get-media-for-fragment-list`); the
//! payloads decoded with kvs-chunk. Without `aws` on PATH the CLI test fails under CI=true and
//! records a visible skip elsewhere (kvs-testkit).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeSet;

use aws_sdk_kinesisvideoarchivedmedia as kvam;
use bytes::Bytes;
use common::*;
use kvam::primitives::DateTime;
use kvam::types::{FragmentSelector, FragmentSelectorType, TimestampRange};
use kvs_chunk::{ErrorId, Event, Events, FragmentNumber};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{FailWith, Faults, LocalKvs, RunningServer, ServiceErrorKind, Source, UnknownFragment};

/// An archived-media client for `url`: static credentials, plain HTTP, no retries.
fn archive_client(url: &str) -> kvam::Client {
    let config = kvam::Config::builder()
        .behavior_version(kvam::config::BehaviorVersion::latest())
        .region(kvam::config::Region::new("us-east-1"))
        .credentials_provider(kvam::config::Credentials::from_keys("AKIDLOCAL", "secret", None))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(kvam::config::retry::RetryConfig::disabled())
        .endpoint_url(url)
        .build();
    kvam::Client::from_conf(config)
}

/// 1001 one-frame fragments, 40 ms apart.
fn big_spec() -> SyntheticSpec {
    SyntheticSpec { clusters: 1001, frames_per_cluster: 1, frame_size: 16, ..SyntheticSpec::default() }
}

async fn server_with(builder: kvs_local::Builder) -> RunningServer {
    builder
        .stream("small", sample_source(&sample_spec()))
        .stream("big", sample_source(&big_spec()))
        .stream("basic", Source::file(testdata("getmedia_basic.mkv")).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn ms(t: i64) -> DateTime {
    DateTime::from_millis(t)
}

fn selector(kind: FragmentSelectorType, start_ms: i64, end_ms: i64) -> FragmentSelector {
    FragmentSelector::builder()
        .fragment_selector_type(kind)
        .timestamp_range(
            TimestampRange::builder()
                .start_timestamp(ms(start_ms))
                .end_timestamp(ms(end_ms))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// Everything: a selector over all time.
fn everything() -> FragmentSelector {
    selector(FragmentSelectorType::ServerTimestamp, 0, 4_000_000_000_000)
}

/// Every page of a listing; the fragment numbers in the order listed, and the page sizes.
async fn list_all(
    client: &kvam::Client,
    stream: &str,
    sel: FragmentSelector,
    max: Option<i64>,
) -> (Vec<String>, Vec<usize>) {
    let mut numbers = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = client.list_fragments().stream_name(stream).set_max_results(max);
        call = match &token {
            // The SDK's paginator sends the selector again; a token alone must do too.
            Some(t) if pages.len() % 2 == 1 => call.next_token(t),
            Some(t) => call.next_token(t).fragment_selector(sel.clone()),
            None => call.fragment_selector(sel.clone()),
        };
        let out = call.send().await.unwrap();
        pages.push(out.fragments().len());
        numbers.extend(out.fragments().iter().map(|f| f.fragment_number().unwrap().to_owned()));
        match out.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        assert!(pages.len() <= 2000, "a listing that does not end");
    }
    (numbers, pages)
}

/// A listed timestamp in epoch ms, rounded: the JSON's epoch seconds pass through an f64 in
/// the SDK (as they do with the service), so 1700000000.800 reads as ...0.7999999.
fn millis(t: &DateTime) -> i64 {
    t.secs() * 1000 + i64::from((t.subsec_nanos() + 500_000) / 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fragments_reports_every_fragment_as_served() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    for stream in ["small", "basic"] {
        let served = server.fragments(stream).unwrap();
        let out =
            client.list_fragments().stream_name(stream).fragment_selector(everything()).send().await.unwrap();
        assert!(out.next_token().is_none());
        let listed = out.fragments();
        assert_eq!(listed.len(), served.len());
        for (f, s) in listed.iter().zip(&served) {
            assert_eq!(f.fragment_number(), Some(s.fragment_number.as_str()));
            assert_eq!(millis(f.server_timestamp().unwrap()), s.server_timestamp_ms);
            assert_eq!(millis(f.producer_timestamp().unwrap()), s.producer_timestamp_ms);
            assert!(f.fragment_size_in_bytes() > 0);
        }
    }
    // The sample's fragments last 10 frames of 40 ms.
    let out =
        client.list_fragments().stream_name("small").fragment_selector(everything()).send().await.unwrap();
    assert!(out.fragments().iter().all(|f| f.fragment_length_in_milliseconds() == 400));
    // By ARN as well.
    let arn = server.stream_arn("small").unwrap().to_owned();
    let out = client.list_fragments().stream_arn(arn).fragment_selector(everything()).send().await.unwrap();
    assert_eq!(out.fragments().len(), 5);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fragments_selects_by_either_clock_both_ends_included() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    for stream in ["small", "basic"] {
        let served = server.fragments(stream).unwrap();
        for kind in [FragmentSelectorType::ServerTimestamp, FragmentSelectorType::ProducerTimestamp] {
            let t = |i: usize| match kind {
                FragmentSelectorType::ServerTimestamp => served[i].server_timestamp_ms,
                _ => served[i].producer_timestamp_ms,
            };
            let numbers = |range: std::ops::RangeInclusive<usize>| -> BTreeSet<String> {
                range.map(|i| served[i].fragment_number.to_string()).collect()
            };
            let (listed, _) = list_all(&client, stream, selector(kind.clone(), t(1), t(3)), None).await;
            assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), numbers(1..=3), "{stream} {kind:?}");
            let (listed, _) =
                list_all(&client, stream, selector(kind.clone(), t(1) + 1, t(3) - 1), None).await;
            assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), numbers(2..=2), "{stream} {kind:?}");
            // A range of one instant.
            let (listed, _) = list_all(&client, stream, selector(kind.clone(), t(4), t(4)), None).await;
            assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), numbers(4..=4), "{stream} {kind:?}");
            // Before everything: nothing, and no token.
            let (listed, pages) = list_all(&client, stream, selector(kind.clone(), 0, t(0) - 1), None).await;
            assert!(listed.is_empty());
            assert_eq!(pages, [0]);
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fragments_pages_of_1_and_of_1000() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    let all: Vec<String> =
        server.fragments("big").unwrap().iter().map(|f| f.fragment_number.to_string()).collect();
    assert_eq!(all.len(), 1001);

    let (listed, pages) = list_all(&client, "big", everything(), Some(1000)).await;
    assert_eq!(pages, [1000, 1]);
    assert_eq!(listed, all);

    // No MaxResults: pages of 100.
    let (listed, pages) = list_all(&client, "big", everything(), None).await;
    assert_eq!(pages.len(), 11);
    assert!(pages[..10].iter().all(|&p| p == 100));
    assert_eq!(pages[10], 1);
    assert_eq!(listed, all);

    let (listed, pages) = list_all(&client, "small", everything(), Some(1)).await;
    assert_eq!(pages, [1, 1, 1, 1, 1]);
    let small: Vec<String> =
        server.fragments("small").unwrap().iter().map(|f| f.fragment_number.to_string()).collect();
    assert_eq!(listed, small);

    // The SDK's own paginator.
    let pages: Vec<_> = client
        .list_fragments()
        .stream_name("big")
        .fragment_selector(everything())
        .max_results(400)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.fragments().len()).collect::<Vec<_>>(), [400, 400, 201]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fragments_order_can_be_shuffled_deterministically() {
    let plain = server_with(LocalKvs::builder()).await;
    let a = server_with(LocalKvs::builder().shuffle_list_fragments(7)).await;
    let b = server_with(LocalKvs::builder().shuffle_list_fragments(7)).await;
    let (stream_order, _) = list_all(&archive_client(plain.url()), "big", everything(), Some(64)).await;
    let (first, _) = list_all(&archive_client(a.url()), "big", everything(), Some(64)).await;
    let (again, _) = list_all(&archive_client(a.url()), "big", everything(), Some(1000)).await;
    let (other_server, _) = list_all(&archive_client(b.url()), "big", everything(), Some(7)).await;
    // Deterministic: the same order for the same seed, whatever the page size.
    assert_eq!(first, again);
    assert_eq!(first, other_server);
    // Shuffled, every fragment once: sorting by fragment number restores the stream's order.
    assert_ne!(first, stream_order);
    let mut sorted: Vec<FragmentNumber> = first.iter().map(|n| FragmentNumber::new(n.as_str())).collect();
    sorted.sort();
    assert_eq!(sorted.iter().map(ToString::to_string).collect::<Vec<_>>(), stream_order);
    for s in [plain, a, b] {
        s.shutdown().await;
    }
}

fn is_invalid_argument<E, R>(r: Result<E, kvam::error::SdkError<impl ServiceError, R>>) -> bool
where
    E: std::fmt::Debug,
    R: std::fmt::Debug,
{
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.as_service_error().is_some_and(ServiceError::invalid_argument),
    }
}

/// The typed errors of both operations, as the tests look at them.
trait ServiceError: std::fmt::Debug {
    fn invalid_argument(&self) -> bool;
    fn not_found(&self) -> bool;
}

impl ServiceError for kvam::operation::list_fragments::ListFragmentsError {
    fn invalid_argument(&self) -> bool {
        self.is_invalid_argument_exception()
    }
    fn not_found(&self) -> bool {
        self.is_resource_not_found_exception()
    }
}

impl ServiceError for kvam::operation::get_media_for_fragment_list::GetMediaForFragmentListError {
    fn invalid_argument(&self) -> bool {
        self.is_invalid_argument_exception()
    }
    fn not_found(&self) -> bool {
        self.is_resource_not_found_exception()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused_as_the_service_does() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    let list = || client.list_fragments().stream_name("small");
    for max in [0, 1001, -1] {
        assert!(
            is_invalid_argument(list().fragment_selector(everything()).max_results(max).send().await),
            "{max}"
        );
    }
    for max in [1, 1000] {
        assert!(list().fragment_selector(everything()).max_results(max).send().await.is_ok(), "{max}");
    }
    // End before start.
    let backwards = selector(FragmentSelectorType::ProducerTimestamp, 1_700_000_001_000, 1_700_000_000_000);
    assert!(is_invalid_argument(list().fragment_selector(backwards).send().await));
    // No selector and no token.
    assert!(is_invalid_argument(list().send().await));
    // Tokens: made up, or from another request (another selector, another stream).
    let page = list().fragment_selector(everything()).max_results(2).send().await.unwrap();
    let token = page.next_token().unwrap().to_owned();
    assert!(list().next_token(&token).max_results(2).send().await.is_ok());
    assert!(is_invalid_argument(list().next_token("abc").send().await));
    let other = selector(FragmentSelectorType::ProducerTimestamp, 0, 4_000_000_000_000);
    assert!(is_invalid_argument(list().next_token(&token).fragment_selector(other).send().await));
    assert!(is_invalid_argument(
        client.list_fragments().stream_name("basic").next_token(&token).send().await
    ));
    let mut edited = token.clone();
    edited.pop();
    edited.push(if token.ends_with('0') { '1' } else { '0' });
    assert!(is_invalid_argument(list().next_token(edited).send().await));

    let media = || client.get_media_for_fragment_list().stream_name("small");
    let first = server.fragments("small").unwrap()[0].fragment_number.to_string();
    assert!(is_invalid_argument(media().send().await));
    assert!(is_invalid_argument(media().set_fragments(Some(vec![first.clone(); 1001])).send().await));
    assert!(media().set_fragments(Some(vec![first.clone(); 1000])).send().await.is_ok());
    for bad in ["12a", "", "-1", &"9".repeat(129)] {
        assert!(is_invalid_argument(media().fragments(&first).fragments(bad).send().await), "{bad:?}");
    }

    // Unknown streams.
    let err =
        client.list_fragments().stream_name("nope").fragment_selector(everything()).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().not_found());
    let err =
        client.get_media_for_fragment_list().stream_name("nope").fragments(&first).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().not_found());
    server.shutdown().await;
}

/// One chunk as [`chunks`] reads it: (number, server ms, producer ms) of a fragment, (number,
/// code) of an exception, frames.
type Chunk = (Option<(String, i64, i64)>, Option<(String, ErrorId)>, usize);

/// The chunks of a GetMediaForFragmentList payload: per document, its metadata (number,
/// server and producer timestamps) or its exception, and its frame count.
fn chunks(payload: &Bytes) -> Vec<Chunk> {
    fragments_lossy(payload)
        .iter()
        .map(|f| {
            // An exception chunk has a fragment number but no timestamps.
            let meta = f.metadata.as_ref().and_then(|m| {
                Some((
                    m.fragment_number.as_ref()?.to_string(),
                    m.server_timestamp_ms?,
                    m.producer_timestamp_ms?,
                ))
            });
            let error =
                f.errors.first().map(|e| (e.fragment_number.as_ref().unwrap().to_string(), e.id.unwrap()));
            (meta, error, f.frames.len())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_media_for_fragment_list_sends_the_listed_fragments_with_their_tags() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    let served = server.fragments("basic").unwrap();
    let wanted = [3usize, 0, 3];
    let numbers: Vec<String> = wanted.iter().map(|&i| served[i].fragment_number.to_string()).collect();
    let out = client
        .get_media_for_fragment_list()
        .stream_name("basic")
        .set_fragments(Some(numbers.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), Some("video/webm"));
    let payload = out.payload.collect().await.unwrap().into_bytes();
    // The API's own tag names, not GetMedia's, and no continuation tokens.
    let text = String::from_utf8_lossy(&payload);
    assert!(text.contains("AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"));
    assert!(text.contains("AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"));
    assert!(!text.contains("AWS_KINESISVIDEO_SERVER_TIMESTAMP"));
    assert!(!text.contains("AWS_KINESISVIDEO_CONTINUATION_TOKEN"));
    let got = chunks(&payload);
    assert_eq!(got.len(), 3);
    for (&i, (meta, error, frames)) in wanted.iter().zip(&got) {
        let s = &served[i];
        assert_eq!(
            meta.as_ref().unwrap(),
            &(s.fragment_number.to_string(), s.server_timestamp_ms, s.producer_timestamp_ms)
        );
        assert!(error.is_none());
        assert_eq!(*frames, 30, "getmedia_basic: 30 frames per fragment");
    }
    // The media is GetMedia's: the same frames as GetMedia sends for that fragment.
    let media = get_media(
        &media_client(server.url()),
        "basic",
        common::selector(aws_sdk_kinesisvideomedia::types::StartSelectorType::Earliest),
    )
    .await;
    let via_get_media = fragments(&media);
    let via_list = fragments_lossy(&payload);
    let data = |f: &kvs_chunk::Fragment| f.frames.iter().map(|fr| fr.data.clone()).collect::<Vec<_>>();
    assert_eq!(data(&via_list[1]), data(&via_get_media[0]));
    assert_eq!(data(&via_list[0]), data(&via_get_media[3]));

    // By ARN, from the synthetic stream.
    let small = server.fragments("small").unwrap();
    let out = client
        .get_media_for_fragment_list()
        .stream_arn(server.stream_arn("small").unwrap())
        .fragments(small[4].fragment_number.as_str())
        .send()
        .await
        .unwrap();
    let payload = out.payload.collect().await.unwrap().into_bytes();
    let got = chunks(&payload);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, 10);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_fragment_gets_an_exception_chunk_in_its_place() {
    let server = server_with(LocalKvs::builder()).await;
    let client = archive_client(server.url());
    let served = server.fragments("small").unwrap();
    let (a, b) = (served[0].fragment_number.to_string(), served[2].fragment_number.to_string());
    let out = client
        .get_media_for_fragment_list()
        .stream_name("small")
        .fragments(&a)
        .fragments("123")
        .fragments(&b)
        .send()
        .await
        .unwrap();
    let payload = out.payload.collect().await.unwrap().into_bytes();
    let text = String::from_utf8_lossy(&payload);
    assert!(text.contains("AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE"));
    assert!(text.contains("AWS_KINESISVIDEO_EXCEPTION_MESSAGE"));
    let errors: Vec<_> = Events::new(payload.clone())
        .filter_map(|e| match e {
            Ok(Event::ErrorChunk(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].fragment_number, Some(FragmentNumber::new("123")));
    assert_eq!(errors[0].id, Some(ErrorId::from_u64(4000)));
    assert_eq!(errors[0].code.as_deref(), Some("Requested fragment is not found"));
    let got = chunks(&payload);
    let listed: Vec<Option<String>> = got.iter().map(|c| c.0.as_ref().map(|m| m.0.clone())).collect();
    assert_eq!(listed.iter().flatten().cloned().collect::<Vec<_>>(), [a.clone(), b]);
    server.shutdown().await;

    // Or, as configured, a 400 InvalidArgumentException.
    let server = server_with(LocalKvs::builder().unknown_fragment(UnknownFragment::InvalidArgument)).await;
    let client = archive_client(server.url());
    let r =
        client.get_media_for_fragment_list().stream_name("small").fragments(&a).fragments("123").send().await;
    assert!(is_invalid_argument(r));
    server.shutdown().await;
}

/// GetMediaForFragmentList of `numbers` on stream "small", the payload read to its end.
async fn whole_list(server: &RunningServer, numbers: Vec<String>) -> bytes::Bytes {
    let out = archive_client(server.url())
        .get_media_for_fragment_list()
        .stream_name("small")
        .set_fragments(Some(numbers))
        .send()
        .await
        .unwrap();
    out.payload.collect().await.unwrap().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_media_faults_apply_to_get_media_for_fragment_list() {
    let numbers = |server: &RunningServer| -> Vec<String> {
        server.fragments("small").unwrap().iter().map(|f| f.fragment_number.to_string()).collect()
    };
    // A cut.
    let server =
        server_with(LocalKvs::builder().faults(Faults { cut_after_bytes: Some(700), ..Faults::default() }))
            .await;
    let payload = whole_list(&server, numbers(&server)).await;
    assert_eq!(payload.len(), 700);
    server.shutdown().await;

    // A stall of one second, halfway through the first chunk.
    let server = server_with(
        LocalKvs::builder()
            .faults(Faults { stall: Some(std::time::Duration::from_secs(1)), ..Faults::default() }),
    )
    .await;
    let t0 = std::time::Instant::now();
    let payload = whole_list(&server, numbers(&server)).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(950), "{:?}", t0.elapsed());
    assert_eq!(chunks(&payload).len(), 5);
    server.shutdown().await;

    // The throttle: one call per second per stream.
    let server =
        server_with(LocalKvs::builder().faults(Faults { throttle_rate: Some(1), ..Faults::default() })).await;
    let client = archive_client(server.url());
    let first = numbers(&server)[0].clone();
    assert!(client.get_media_for_fragment_list().stream_name("small").fragments(&first).send().await.is_ok());
    let err =
        client.get_media_for_fragment_list().stream_name("small").fragments(&first).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_client_limit_exceeded_exception(), "{err:?}");
    server.shutdown().await;

    // Injected failures, counted with GetMedia's calls.
    let fail = FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(1) };
    let server =
        server_with(LocalKvs::builder().faults(Faults { fail_with: Some(fail), ..Faults::default() })).await;
    let client = archive_client(server.url());
    let first = numbers(&server)[0].clone();
    let err =
        client.get_media_for_fragment_list().stream_name("small").fragments(&first).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_client_limit_exceeded_exception(), "{err:?}");
    assert!(client.get_media_for_fragment_list().stream_name("small").fragments(&first).send().await.is_ok());
    assert_eq!(server.get_media_calls("small"), Some(2));
    server.shutdown().await;

    // An error after fragment 1: that API's exception chunk, then the end.
    let server = server_with(
        LocalKvs::builder()
            .faults(Faults { error_after_fragment: Some("1:5000".parse().unwrap()), ..Faults::default() }),
    )
    .await;
    let payload = whole_list(&server, numbers(&server)).await;
    let got = chunks(&payload);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].1, Some((numbers(&server)[2].clone(), ErrorId::from_u64(5000))));
    assert!(String::from_utf8_lossy(&payload).contains("AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_data_endpoint_answers_for_the_archive_apis() {
    use aws_sdk_kinesisvideo::types::ApiName;
    let server = server_with(LocalKvs::builder()).await;
    let video = video_client(server.url());
    for api in [ApiName::ListFragments, ApiName::GetMediaForFragmentList] {
        let out = video.get_data_endpoint().stream_name("small").api_name(api).send().await.unwrap();
        assert_eq!(out.data_endpoint(), Some(server.url()));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_lists_and_gets_fragments() {
    let Some(_) = kvs_testkit::aws_cli() else { return };
    let server = server_with(LocalKvs::builder().shuffle_list_fragments(3)).await;
    let url = server.url().to_owned();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["kinesis-video-archived-media"].iter().chain(extra).map(|s| (*s).to_owned()).collect();
        v.extend(["--endpoint-url".to_owned(), url.clone()]);
        v
    };
    let selector = r#"{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":0,"EndTimestamp":4000000000}}"#;
    // The CLI pages by itself (MaxResults 7 per call, each later call with the token and the
    // selector again) and prints them all.
    let out = aws(args(&[
        "list-fragments",
        "--stream-name",
        "big",
        "--fragment-selector",
        selector,
        "--page-size",
        "7",
    ]))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: BTreeSet<String> = json["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FragmentNumber"].as_str().unwrap().to_owned())
        .collect();
    let all: BTreeSet<String> =
        server.fragments("big").unwrap().iter().map(|f| f.fragment_number.to_string()).collect();
    assert_eq!(listed, all);
    assert_eq!(json["Fragments"].as_array().unwrap().len(), 1001);
    assert!(json["Fragments"][0]["FragmentLengthInMilliseconds"].is_number());

    // Errors as the CLI reports them.
    let backwards = r#"{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1800000000,"EndTimestamp":1700000000}}"#;
    let out = aws(args(&["list-fragments", "--stream-name", "big", "--fragment-selector", backwards]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidArgumentException"));
    let out = aws(args(&["list-fragments", "--stream-name", "nope", "--fragment-selector", selector]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));

    // get-media-for-fragment-list writes the payload to a file.
    let served = server.fragments("basic").unwrap();
    let out_file = std::env::temp_dir().join(format!("kvs-local-archive-{}.mkv", std::process::id()));
    let out_path = out_file.to_str().unwrap();
    let (n1, n4) = (served[1].fragment_number.to_string(), served[4].fragment_number.to_string());
    let out = aws(args(&[
        "get-media-for-fragment-list",
        // The output file first: after --fragments it would be taken for one more number.
        out_path,
        "--stream-name",
        "basic",
        "--fragments",
        &n4,
        &n1,
    ]))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("video/webm"));
    let payload = Bytes::from(std::fs::read(&out_file).unwrap());
    let got = chunks(&payload);
    let want = |i: usize| {
        Some((
            served[i].fragment_number.to_string(),
            served[i].server_timestamp_ms,
            served[i].producer_timestamp_ms,
        ))
    };
    assert_eq!(got.iter().map(|c| c.0.clone()).collect::<Vec<_>>(), [want(4), want(1)]);
    assert!(got.iter().all(|c| c.2 == 30));
    std::fs::remove_file(&out_file).ok();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_media_and_list_failures_are_injected() {
    let fail = FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(2) };
    let server = server_with(LocalKvs::builder().missing_media([1, 3]).fail_list_fragments(fail)).await;
    let client = archive_client(server.url());
    let list = || client.list_fragments().stream_name("small").fragment_selector(everything()).send();
    // The first two ListFragments calls fail, the next ones answer.
    for _ in 0..2 {
        let e = list().await.unwrap_err();
        assert!(e.as_service_error().unwrap().is_client_limit_exceeded_exception(), "{e:?}");
    }
    let listed = list().await.unwrap();
    assert_eq!(listed.fragments().len(), 5, "the lost fragments are still listed");
    // Their media comes as exception chunks, in place; the others as media.
    let served = server.fragments("small").unwrap();
    let numbers: Vec<String> = served.iter().map(|f| f.fragment_number.to_string()).collect();
    let payload = whole_list(&server, numbers.clone()).await;
    let got = chunks(&payload);
    assert_eq!(got.len(), 5);
    for (i, (meta, error, frames)) in got.iter().enumerate() {
        if i == 1 || i == 3 {
            assert_eq!(error.as_ref().unwrap(), &(numbers[i].clone(), ErrorId::from_u64(4000)));
            assert_eq!(*frames, 0);
        } else {
            assert!(error.is_none());
            assert_eq!(meta.as_ref().unwrap().0, numbers[i]);
            assert_eq!(*frames, 10);
        }
    }
    server.shutdown().await;
}
