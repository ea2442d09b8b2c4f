//! GetMedia with every StartSelector through the real AWS SDK for Rust, GetDataEndpoint and
//! DescribeStream through the Kinesis Video SDK, and the payloads decoded with kvs-chunk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use aws_sdk_kinesisvideomedia::primitives::DateTime;
use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use common::*;
use kvs_chunk::{ErrorId, TagValue};
use kvs_local::source::synthesized;
use kvs_local::{LoadOptions, LocalKvs, RunningServer, Source, UnknownFragment};

/// The sample (plain MKV) as `plain` and the committed GetMedia fixture as `basic`.
async fn server() -> RunningServer {
    LocalKvs::builder()
        .stream("plain", sample_source(&sample_spec()))
        .stream("basic", Source::file(testdata("getmedia_basic.mkv")).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn after(number: &str) -> StartSelector {
    StartSelector::builder()
        .start_selector_type(StartSelectorType::FragmentNumber)
        .after_fragment_number(number)
        .build()
        .unwrap()
}

fn at_time(kind: StartSelectorType, ms: i64) -> StartSelector {
    StartSelector::builder()
        .start_selector_type(kind)
        .start_timestamp(DateTime::from_millis(ms))
        .build()
        .unwrap()
}

#[tokio::test]
async fn earliest_on_a_plain_mkv_carries_the_service_tags() {
    let server = server().await;
    let client = media_client(server.url());
    let spec = sample_spec();
    let payload = get_media(&client, "plain", selector(StartSelectorType::Earliest)).await;
    let frags = fragments(&payload);
    assert_eq!(frags.len(), 5);
    for (k, f) in frags.iter().enumerate() {
        let meta = f.metadata.as_ref().expect("service tags before the cluster");
        let number = synthesized(k as u64).unwrap();
        assert_eq!(meta.fragment_number.as_ref().unwrap().as_str(), number);
        let ts = 1_700_000_000_000 + 400 * k as i64;
        assert_eq!(meta.server_timestamp_ms, Some(ts));
        assert_eq!(meta.producer_timestamp_ms, Some(ts));
        assert!(f.end.complete, "the continuation token closes every chunk");
        assert_eq!(f.end.continuation_token.as_deref(), Some(number.as_str()));
        assert_eq!(f.end.millis_behind_now, Some(400 * (4 - k as u64)));
        assert_eq!(f.frames.len(), 10);
        for (i, frame) in f.frames.iter().enumerate() {
            assert_eq!(frame.data.as_ref(), spec.frame_payload(k, i).as_slice());
            assert_eq!(frame.timestamp_ms(), 400 * k as i64 + 40 * i as i64);
            assert_eq!(frame.keyframe, i == 0);
        }
        assert_eq!(f.tracks.len(), 1);
        assert_eq!(f.tracks[0].codec_id.as_deref(), Some("V_MPEG4/ISO/AVC"));
        assert_eq!(f.tracks[0].video.unwrap().width, Some(640));
        // The producer's tag travels with every fragment.
        assert_eq!(f.tags.len(), 1);
        assert_eq!(f.tags[0].name, "ENCODER");
        assert_eq!(f.tags[0].value, TagValue::String(bytes::Bytes::from_static(b"kvs-local sample")));
    }
    // The exact layout: Segment with the 8-byte unknown size, service tags with 4-byte sizes.
    assert!(
        payload
            .windows(12)
            .any(|w| w == [0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    );
    let service_simple_tag_name = b"\x45\xA3\x10\x00\x00\x20AWS_KINESISVIDEO_FRAGMENT_NUMBER";
    assert!(payload.windows(service_simple_tag_name.len()).any(|w| w == service_simple_tag_name));
    assert!(payload.windows(14).any(|w| w == b"1700000000.400"));
    server.shutdown().await;
}

#[tokio::test]
async fn earliest_on_a_getmedia_payload_keeps_its_numbers_and_timestamps() {
    let server = server().await;
    let client = media_client(server.url());
    let original = fragments(&bytes::Bytes::from(std::fs::read(testdata("getmedia_basic.mkv")).unwrap()));
    let payload = get_media(&client, "basic", selector(StartSelectorType::Earliest)).await;
    let served = fragments(&payload);
    assert_eq!(served.len(), original.len());
    for (s, o) in served.iter().zip(&original) {
        assert_eq!(s.metadata, o.metadata);
        assert_eq!(s.end.continuation_token, o.end.continuation_token);
        assert_eq!(s.frames.len(), o.frames.len());
        for (a, b) in s.frames.iter().zip(&o.frames) {
            assert_eq!(
                (a.track, a.timestamp_ns, a.keyframe, &a.data),
                (b.track, b.timestamp_ns, b.keyframe, &b.data)
            );
        }
        assert_eq!(s.tracks[0].codec_private, o.tracks[0].codec_private);
        let names = |f: &kvs_chunk::Fragment| f.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(s), names(o));
    }
    // Millis behind now: how far each chunk is behind the newest (1 s per fragment here).
    let behind: Vec<_> = served.iter().map(|f| f.end.millis_behind_now.unwrap()).collect();
    assert_eq!(behind, [4000, 3000, 2000, 1000, 0]);
    server.shutdown().await;
}

#[tokio::test]
async fn now_starts_at_the_newest_fragment() {
    let server = server().await;
    let client = media_client(server.url());
    let payload = get_media(&client, "plain", selector(StartSelectorType::Now)).await;
    assert_eq!(numbers(&payload), [synthesized(4).unwrap()]);
    let f = &fragments(&payload)[0];
    assert_eq!(f.end.millis_behind_now, Some(0));
    server.shutdown().await;
}

#[tokio::test]
async fn fragment_number_starts_after_it() {
    let server = server().await;
    let client = media_client(server.url());
    let payload = get_media(&client, "plain", after(&synthesized(1).unwrap())).await;
    assert_eq!(
        numbers(&payload),
        [synthesized(2).unwrap(), synthesized(3).unwrap(), synthesized(4).unwrap()]
    );
    // After the last fragment: an empty body.
    let payload = get_media(&client, "plain", after(&synthesized(4).unwrap())).await;
    assert!(payload.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn continuation_token_resumes_after_the_fragment_it_names() {
    let server = server().await;
    let client = media_client(server.url());
    let first = get_media(&client, "basic", selector(StartSelectorType::Earliest)).await;
    let frags = fragments(&first);
    let token = frags[2].end.continuation_token.clone().unwrap();
    let sel = StartSelector::builder()
        .start_selector_type(StartSelectorType::ContinuationToken)
        .continuation_token(token)
        .build()
        .unwrap();
    let rest = get_media(&client, "basic", sel).await;
    let expected: Vec<String> = frags[3..].iter().map(|f| f.fragment_number().unwrap().to_string()).collect();
    assert_eq!(numbers(&rest), expected);
    server.shutdown().await;
}

#[tokio::test]
async fn server_timestamp_starts_at_the_fragment_containing_it() {
    let server = server().await;
    let client = media_client(server.url());
    let base = 1_700_000_000_000;
    let cases = [
        (base, 0),             // exactly the first
        (base + 399, 0),       // inside the first
        (base + 400, 1),       // exactly the second
        (base + 1_000, 2),     // inside the third
        (base - 60_000, 0),    // before everything: the first
        (base + 3_600_000, 4), // after everything: the last
    ];
    for (ms, first) in cases {
        let payload = get_media(&client, "plain", at_time(StartSelectorType::ServerTimestamp, ms)).await;
        let expected: Vec<String> = (first..5).map(|k| synthesized(k).unwrap()).collect();
        assert_eq!(numbers(&payload), expected, "SERVER_TIMESTAMP {ms}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn producer_timestamp_uses_the_producer_clock() {
    let server = server().await;
    let client = media_client(server.url());
    let original = fragments(&bytes::Bytes::from(std::fs::read(testdata("getmedia_basic.mkv")).unwrap()));
    let meta = |k: usize| original[k].metadata.clone().unwrap();
    // Between fragment 1's producer and server timestamps: by producer time that is
    // fragment 1, by server time still fragment 0.
    let p1 = meta(1).producer_timestamp_ms.unwrap();
    let s1 = meta(1).server_timestamp_ms.unwrap();
    assert!(p1 < s1);
    let probe = p1 + (s1 - p1) / 2;
    let by_producer = get_media(&client, "basic", at_time(StartSelectorType::ProducerTimestamp, probe)).await;
    let by_server = get_media(&client, "basic", at_time(StartSelectorType::ServerTimestamp, probe)).await;
    assert_eq!(fragments(&by_producer)[0].metadata, Some(meta(1)));
    assert_eq!(fragments(&by_server)[0].metadata, Some(meta(0)));
    server.shutdown().await;
}

#[tokio::test]
async fn stream_arn_data_endpoint_and_describe_stream() {
    let server = server().await;
    let video = video_client(server.url());
    let endpoint = video
        .get_data_endpoint()
        .stream_name("plain")
        .api_name(aws_sdk_kinesisvideo::types::ApiName::GetMedia)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.data_endpoint(), Some(server.url()));

    let arn = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/plain/0";
    assert_eq!(server.stream_arn("plain"), Some(arn));
    let info = video.describe_stream().stream_arn(arn).send().await.unwrap();
    let info = info.stream_info().unwrap();
    assert_eq!(info.stream_name(), Some("plain"));
    assert_eq!(info.stream_arn(), Some(arn));
    assert_eq!(info.status(), Some(&aws_sdk_kinesisvideo::types::Status::Active));
    assert_eq!(info.media_type(), Some("video/h264"));
    assert_eq!(info.data_retention_in_hours(), Some(24));
    assert!(info.creation_time().is_some());

    // GetMedia by ARN, on the endpoint GetDataEndpoint gave.
    let client = media_client(endpoint.data_endpoint().unwrap());
    let out =
        client.get_media().stream_arn(arn).start_selector(selector(StartSelectorType::Earliest)).send().await;
    let payload = out.unwrap().payload.collect().await.unwrap().into_bytes();
    assert_eq!(numbers(&payload).len(), 5);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_fragment_number_gets_error_4000_in_the_stream() {
    let server = server().await;
    let client = media_client(server.url());
    let missing = "12345678901234567890";
    let payload = get_media(&client, "plain", after(missing)).await;
    let frags = fragments(&payload);
    assert_eq!(frags.len(), 1);
    assert_eq!(frags[0].errors.len(), 1);
    let e = &frags[0].errors[0];
    assert_eq!(e.id, Some(ErrorId::FragmentNotFound));
    assert_eq!(e.fragment_number.as_ref().unwrap().as_str(), missing);
    assert!(frags[0].frames.is_empty());
    server.shutdown().await;

    // Or, as configured, 400 InvalidArgumentException.
    let server = LocalKvs::builder()
        .stream("plain", sample_source(&sample_spec()))
        .unknown_fragment(UnknownFragment::InvalidArgument)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = media_client(server.url());
    let err =
        client.get_media().stream_name("plain").start_selector(after(missing)).send().await.unwrap_err();
    assert!(err.into_service_error().is_invalid_argument_exception());
    server.shutdown().await;
}

#[tokio::test]
async fn a_directory_of_plain_files_is_one_stream_with_increasing_timestamps() {
    let dir = std::env::temp_dir().join(format!("kvs-local-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Three files whose clusters all start at 0: each must follow the one before.
    let spec = kvs_local::synthetic::SyntheticSpec { clusters: 2, ..sample_spec() };
    for name in ["b.mkv", "a.mkv", "c.webm"] {
        std::fs::write(dir.join(name), spec.plain_mkv().unwrap()).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not media").unwrap();
    let source = Source::load(&dir, &LoadOptions::default().base_time_ms(1_600_000_000_000)).unwrap();
    let server = LocalKvs::builder().stream("dir", source).bind("127.0.0.1:0").await.unwrap();
    let client = media_client(server.url());
    let payload = get_media(&client, "dir", selector(StartSelectorType::Earliest)).await;
    let frags = fragments(&payload);
    assert_eq!(frags.len(), 6);
    let ts: Vec<i64> =
        frags.iter().map(|f| f.metadata.as_ref().unwrap().server_timestamp_ms.unwrap()).collect();
    assert_eq!(ts, (0..6).map(|k| 1_600_000_000_000 + 400 * k).collect::<Vec<_>>());
    let nums = numbers(&payload);
    assert_eq!(nums, (0..6).map(|k| synthesized(k).unwrap()).collect::<Vec<_>>());
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn error_chunks_and_cut_fragments_of_a_backing_file_are_skipped() {
    for name in ["error_chunks.mkv", "cut_stream.mkv"] {
        let source = Source::file(testdata(name)).unwrap();
        assert!(source.skipped() >= 1, "{name}");
        let expected: Vec<String> = source.fragments().iter().map(|f| f.fragment_number.clone()).collect();
        let server = LocalKvs::builder().stream("s", source).bind("127.0.0.1:0").await.unwrap();
        let payload =
            get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
        let frags = fragments(&payload);
        assert!(frags.iter().all(|f| f.is_complete() && f.errors.is_empty()), "{name}");
        assert_eq!(numbers(&payload), expected, "{name}");
        server.shutdown().await;
    }
}
