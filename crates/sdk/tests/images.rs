// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

//! GetImages through the real AWS SDK (aws-sdk-kinesisvideoarchivedmedia, its paginator)
//! against kvs-local's `POST /getImages`, and images sampled from a GetMedia stream: both
//! give what kvs-images computes from the file directly.

mod common;

use std::path::PathBuf;

use common::client;

use bytes::Bytes;
use kvs_local::{LocalKvs, RunningServer, Source};
use kvs_sdk::kvs_images::{
    ImageError, ImageFormat, ImageSelector, ImagesError, ImagesErrorKind, ImagesRequest, SampleOptions,
    Timeline,
};
use kvs_sdk::{LiveImages, StreamId};

const BASE: i64 = 1_700_000_000_000;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/images").join(name)
}

async fn server() -> RunningServer {
    LocalKvs::builder()
        .stream("h264", Source::file(testdata("h264.mkv")).unwrap())
        .stream("h265", Source::file(testdata("h265.mkv")).unwrap())
        .stream("gap", Source::file(testdata("h264_gap.mkv")).unwrap())
        .stream("audio", Source::file(testdata("audio_only.mkv")).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn direct(name: &str, request: &ImagesRequest) -> Vec<kvs_sdk::kvs_images::Image> {
    let timeline = Timeline::from_bytes(Bytes::from(std::fs::read(testdata(name)).unwrap())).unwrap();
    let r = request.clone().max_results(100).next_token(None);
    timeline.get_images(&r, &SampleOptions::default()).unwrap().images
}

/// What a remote source can say: time, error, content (not the local-only details).
fn visible(images: &[kvs_sdk::kvs_images::Image]) -> Vec<(i64, Option<ImageError>, Option<Bytes>)> {
    images.iter().map(|i| (i.timestamp_ms, i.error, i.content.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_pages_through_kvs_local_equal_the_direct_result() {
    let server = server().await;
    let client = client(&server);
    for (stream, file) in
        [("h264", "h264.mkv"), ("h265", "h265.mkv"), ("gap", "h264_gap.mkv"), ("audio", "audio_only.mkv")]
    {
        let request = ImagesRequest::new(
            ImageSelector::ProducerTimestamp,
            BASE - 300,
            BASE + 5700,
            300,
            ImageFormat::Jpeg,
        )
        .jpeg_quality(50)
        .height_pixels(60)
        .max_results(7);
        let expected = direct(file, &request);
        assert_eq!(expected.len(), 21);
        // The paginator: 3 pages of 7.
        let mut pages = client.get_images_pages(&StreamId::name(stream), &request).await.unwrap();
        let mut all = Vec::new();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.unwrap();
            assert!(page.images.len() <= 7);
            count += 1;
            all.extend(page.images);
        }
        assert_eq!(count, 3, "{stream}");
        assert_eq!(visible(&all), visible(&expected), "{stream}");
        // One page at a time, by hand, with the next token.
        let first = client.get_images_page(&StreamId::name(stream), &request).await.unwrap();
        assert_eq!(visible(&first.images), visible(&expected[..7]));
        let second = client
            .get_images_page(&StreamId::name(stream), &request.clone().next_token(first.next_token))
            .await
            .unwrap();
        assert_eq!(visible(&second.images), visible(&expected[7..14]));
    }
    // The ARN works too, and the server clock.
    let arn = server.stream_arn("h264").unwrap().to_owned();
    let request =
        ImagesRequest::new(ImageSelector::ServerTimestamp, BASE + 120, BASE + 1120, 500, ImageFormat::Png);
    let page = client.get_images_page(&StreamId::arn(arn), &request).await.unwrap();
    assert_eq!(visible(&page.images), visible(&direct("h264.mkv", &request)));
    assert!(page.images.iter().all(|i| i.error.is_none()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_are_typed() {
    let server = server().await;
    let client = client(&server);
    let ok = ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE, BASE + 1000, 200, ImageFormat::Jpeg);
    let kind = |r: Result<_, ImagesError>| match r {
        Err(ImagesError::Service { kind, .. }) => kind,
        other => panic!("expected a service error, got {other:?}"),
    };
    let h264 = StreamId::name("h264");
    assert_eq!(
        kind(client.get_images_page(&h264, &ok.clone().width_pixels(100)).await),
        ImagesErrorKind::Validation
    );
    assert_eq!(
        kind(client.get_images_page(&h264, &ok.clone().height_pixels(0)).await),
        ImagesErrorKind::Validation
    );
    assert_eq!(
        kind(client.get_images_page(&h264, &ok.clone().jpeg_quality(101)).await),
        ImagesErrorKind::Validation
    );
    let long =
        ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE, BASE + 300_001, 200, ImageFormat::Jpeg);
    assert_eq!(kind(client.get_images_page(&h264, &long).await), ImagesErrorKind::InvalidArgument);
    let fast =
        ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE, BASE + 1000, 100, ImageFormat::Jpeg);
    assert_eq!(kind(client.get_images_page(&h264, &fast).await), ImagesErrorKind::InvalidArgument);
    let bad_token = ok.clone().next_token(Some("not-a-token".into()));
    assert_eq!(kind(client.get_images_page(&h264, &bad_token).await), ImagesErrorKind::InvalidArgument);
    assert_eq!(
        kind(client.get_images_page(&StreamId::name("nope"), &ok).await),
        ImagesErrorKind::ResourceNotFound
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_images_from_get_media_equal_the_direct_result() {
    let server = server().await;
    for (stream, file) in [("h264", "h264.mkv"), ("gap", "h264_gap.mkv"), ("h265", "h265.mkv")] {
        let request =
            ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE, BASE + 6000, 400, ImageFormat::Jpeg)
                .height_pixels(48);
        let mut live = LiveImages::new(
            client(&server),
            StreamId::name(stream),
            &request,
            &SampleOptions::default(),
            false,
        )
        .unwrap();
        let mut got = Vec::new();
        while let Some(image) = live.next().await {
            got.push(image.unwrap());
        }
        let expected = direct(file, &request);
        assert_eq!(got.len(), 16);
        assert_eq!(got, expected, "{stream}");
    }
    server.shutdown().await;
}

/// Oracle: FFmpeg, and the fixtures' documented spec. Every image the SDK returns, by the
/// GetImages paginator against kvs-local and by sampling a GetMedia stream (LiveImages), is
/// decoded by ffmpeg and shrunk to 8x6; it must be closest to, and near, the picture ffmpeg
/// itself decodes from the backing file at the sample time, whose index comes from how the
/// fixture was made (testdata/images/make.sh: 10 fps from producer time 1700000000.000; the
/// last frame at or before the sample). ffprobe reads each image's format and size (PNG
/// 320x240, JPEG 64x48 for HeightPixels 48).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_images_show_the_frame_ffmpeg_decodes_at_their_time() {
    let Some((ffmpeg, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let server = server().await;
    let client = client(&server);
    for (stream, file) in [("h264", "h264.mkv"), ("h265", "h265.mkv")] {
        let source = kvs_testkit::oracle::thumbnails(&ffmpeg, &testdata(file));
        assert_eq!(source.len(), 40, "{stream}: 4 s at 10 fps");
        // Samples at 50, 400, 750, ... ms: frames 0, 4, 7, ...
        let request = |format| {
            ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE + 50, BASE + 3900, 350, format)
        };
        let png = request(ImageFormat::Png);
        let jpeg = request(ImageFormat::Jpeg).height_pixels(48);
        let mut cases = Vec::new();
        let mut pages = client.get_images_pages(&StreamId::name(stream), &png).await.unwrap();
        while let Some(page) = pages.next().await {
            cases.extend(page.unwrap().images.into_iter().map(|i| ("paged PNG", i)));
        }
        let mut live = LiveImages::new(
            self::client(&server),
            StreamId::name(stream),
            &jpeg,
            &SampleOptions::default(),
            false,
        )
        .unwrap();
        while let Some(image) = live.next().await {
            cases.push(("GetMedia JPEG", image.unwrap()));
        }
        assert_eq!(cases.len(), 24, "{stream}: 12 samples each way");
        for (k, (how, image)) in cases.iter().enumerate() {
            let t = image.timestamp_ms - BASE;
            let what = format!("{stream} {how} at +{t} ms");
            assert_eq!(t, 50 + 350 * (k as i64 % 12), "{what}");
            let bytes = image.content.as_ref().unwrap_or_else(|| panic!("{what}: {:?}", image.error));
            let path = kvs_testkit::oracle::temp_file(&format!("{stream}-{k}.img"), bytes);
            let (codec, size) = if how.ends_with("PNG") { ("png", (320, 240)) } else { ("mjpeg", (64, 48)) };
            assert_eq!(
                kvs_testkit::oracle::ffprobe_streams(&ffprobe, &path),
                [("video".to_owned(), codec.to_owned(), size.0, size.1)],
                "{what}"
            );
            let shown = kvs_testkit::oracle::thumbnails(&ffmpeg, &path);
            std::fs::remove_file(&path).ok();
            let (index, err) = kvs_testkit::oracle::closest(&shown[0], &source);
            assert_eq!(index as i64, t / 100, "{what} shows source frame {index} (mse {err:.1})");
            // Measured up to 7; two adjacent source frames are 17 or more apart.
            assert!(err < 15.0, "{what}: mse {err:.1} from the source frame");
        }
    }
    server.shutdown().await;
}
