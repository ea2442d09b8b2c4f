// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

//! GetImages over the generated H.264/H.265 fixtures of `testdata/images/`: sample counts
//! and times, the picture each sample shows, NO_MEDIA in gaps and outside the media,
//! MEDIA_ERROR for audio and undecodable video, pagination, sizes, JPEG quality.

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use kvs_chunk::Fragment;
use kvs_images::{
    ImageError, ImageFormat, ImageSelector, ImagesErrorKind, ImagesPage, ImagesRequest, Limits,
    SampleOptions, Timeline,
};

/// The producer timestamp of every fixture's first fragment.
const BASE: i64 = 1_700_000_000_000;
/// Server timestamps run this far behind producer ones in the fixtures.
const SERVER_DELAY: i64 = 120;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

fn load(name: &str) -> Timeline {
    Timeline::from_bytes(Bytes::from(std::fs::read(testdata(name)).unwrap())).unwrap()
}

fn h264() -> &'static Timeline {
    static T: OnceLock<Timeline> = OnceLock::new();
    T.get_or_init(|| load("images/h264.mkv"))
}

fn h265() -> &'static Timeline {
    static T: OnceLock<Timeline> = OnceLock::new();
    T.get_or_init(|| load("images/h265.mkv"))
}

fn request(start: i64, end: i64, interval: i64, format: ImageFormat) -> ImagesRequest {
    ImagesRequest::new(ImageSelector::ProducerTimestamp, start, end, interval, format)
}

fn get(timeline: &Timeline, r: &ImagesRequest) -> ImagesPage {
    timeline.get_images(r, &SampleOptions::default()).unwrap()
}

fn decode(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

/// The 8x6 box average of an RGB picture.
fn thumbnail(img: &image::RgbImage) -> Vec<f64> {
    let (w, h) = img.dimensions();
    let mut out = vec![0.0; 8 * 6 * 3];
    for y in 0..h {
        for x in 0..w {
            let cell = ((y * 6 / h) * 8 + x * 8 / w) as usize;
            for c in 0..3 {
                out[cell * 3 + c] += f64::from(img.get_pixel(x, y)[c]);
            }
        }
    }
    let n = f64::from((w / 8) * (h / 6));
    out.iter().map(|v| v / n).collect()
}

/// The source frames (before encoding), 8x6 RGB each.
fn source_frames() -> Vec<Vec<f64>> {
    let raw = std::fs::read(testdata("images/testsrc2_8x6.rgb")).unwrap();
    raw.chunks_exact(8 * 6 * 3).map(|c| c.iter().map(|&b| f64::from(b)).collect()).collect()
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64
}

/// The source frame an image is closest to.
fn closest_frame(img: &image::RgbImage, frames: &[Vec<f64>]) -> (usize, f64) {
    let t = thumbnail(img);
    frames.iter().enumerate().map(|(i, f)| (i, mse(&t, f))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap()
}

#[test]
fn every_sample_shows_the_frame_at_its_time_h264_and_h265() {
    let frames = source_frames();
    assert_eq!(frames.len(), 40);
    for (name, timeline) in [("h264", h264()), ("h265", h265())] {
        // 4 s of 10 fps: samples every 200 ms from 50 ms in, so each falls inside a frame.
        let r = request(BASE + 50, BASE + 3950, 200, ImageFormat::Png);
        let page = get(timeline, &r);
        assert_eq!(page.images.len(), 20, "{name}");
        assert_eq!(page.next_token, None);
        for (k, image) in page.images.iter().enumerate() {
            let t = BASE + 50 + 200 * k as i64;
            assert_eq!(image.timestamp_ms, t);
            assert_eq!(image.error, None, "{name} at {t}: {:?}", image.detail);
            // The frame shown is the last one at or before the sample time.
            assert_eq!(image.frame_timestamp_ms, Some(t - 50), "{name}");
            let img = decode(image.content.as_ref().unwrap());
            assert_eq!(img.dimensions(), (320, 240));
            let (closest, err) = closest_frame(&img, &frames);
            assert_eq!(closest, 2 * k, "{name}: sample {k} shows source frame {closest} (mse {err:.1})");
            assert!(err < 30.0, "{name}: sample {k} is far from its source frame (mse {err:.1})");
        }
    }
}

#[test]
fn keyframes_only_shows_the_last_keyframe() {
    let options = SampleOptions { keyframes_only: true, ..SampleOptions::default() };
    for timeline in [h264(), h265()] {
        let page =
            timeline.get_images(&request(BASE, BASE + 3900, 300, ImageFormat::Jpeg), &options).unwrap();
        assert_eq!(page.images.len(), 14);
        for image in &page.images {
            let t = image.timestamp_ms;
            assert_eq!(image.error, None, "{t}: {:?}", image.detail);
            // Keyframes every second, from 0.
            assert_eq!(image.frame_timestamp_ms, Some(BASE + (t - BASE) / 1000 * 1000), "{t}");
        }
    }
}

#[test]
fn open_gop_leading_pictures_are_decoded() {
    // The H.265 fixture is open-GOP: its second fragment starts with leading pictures
    // (700, 800, 900 ms) that refer to the first fragment.
    let leading = timeline_fragment_starts(h265());
    assert!(leading.contains(&(BASE + 700)), "{leading:?}");
    let lax = SampleOptions {
        limits: Limits { min_sampling_interval_ms: 100, ..Limits::default() },
        ..Default::default()
    };
    let page = h265().get_images(&request(BASE + 700, BASE + 900, 100, ImageFormat::Png), &lax).unwrap();
    assert_eq!(page.images.len(), 3);
    let frames = source_frames();
    for (k, image) in page.images.iter().enumerate() {
        assert_eq!(image.error, None, "{:?}", image.detail);
        assert_eq!(closest_frame(&decode(image.content.as_ref().unwrap()), &frames).0, 7 + k);
    }
}

fn timeline_fragment_starts(t: &Timeline) -> Vec<i64> {
    t.fragments().iter().map(|f| f.producer_timestamp_ms().unwrap()).collect()
}

#[test]
fn no_media_before_after_and_in_gaps() {
    let page = get(h264(), &request(BASE - 1000, BASE + 5000, 500, ImageFormat::Jpeg));
    let errors: Vec<_> = page.images.iter().map(|i| (i.timestamp_ms - BASE, i.error)).collect();
    assert_eq!(page.images.len(), 13);
    for (t, e) in &errors {
        // Frames run 0..3900 ms, the last one shown for one frame (100 ms).
        let expected = if (0..4000).contains(t) { None } else { Some(ImageError::NoMedia) };
        assert_eq!(*e, expected, "{t}");
    }
    // Right at the edges.
    let edge = get(h264(), &request(BASE + 3999, BASE + 4000, 1000, ImageFormat::Jpeg));
    assert_eq!(edge.images.len(), 1);
    assert_eq!(edge.images[0].error, None);
    let edge = get(h264(), &request(BASE + 4000, BASE + 4000, 1000, ImageFormat::Jpeg));
    assert_eq!(edge.images[0].error, Some(ImageError::NoMedia));
    let edge = get(h264(), &request(BASE - 1, BASE, 200, ImageFormat::Jpeg));
    assert_eq!(edge.images[0].error, Some(ImageError::NoMedia));

    // h264_gap: fragments at 0-2 s, then nothing until 3.5 s, then 3.5-5.5 s.
    let gap = load("images/h264_gap.mkv");
    let page = get(&gap, &request(BASE, BASE + 5800, 250, ImageFormat::Jpeg));
    assert_eq!(page.images.len(), 24);
    for image in &page.images {
        let t = image.timestamp_ms - BASE;
        let media = (0..2000).contains(&t) || (3500..5500).contains(&t);
        assert_eq!(image.error.is_none(), media, "{t}: {:?}", image.error);
        if !media {
            assert_eq!(image.error, Some(ImageError::NoMedia));
        }
    }
}

#[test]
fn media_error_for_audio_only_and_undecodable_video() {
    let audio = load("images/audio_only.mkv");
    let page = get(&audio, &request(BASE - 500, BASE + 4500, 500, ImageFormat::Png));
    assert_eq!(page.images.len(), 11);
    for image in &page.images {
        let t = image.timestamp_ms - BASE;
        // AAC frames are 64 ms long: the last one ends just after 4 s.
        let expected = match t {
            0..=3500 => ImageError::MediaError,
            4000 => continue,
            _ => ImageError::NoMedia,
        };
        assert_eq!(image.error, Some(expected), "{t}");
        assert!(image.content.is_none());
    }
    assert!(page.images[1].detail.as_deref().unwrap().contains("audio"));

    // getmedia_basic.mkv: real SPS/PPS, but frames of random bytes.
    let fake = load("getmedia_basic.mkv");
    let first = fake.fragments()[0].producer_timestamp_ms().unwrap();
    let page = get(&fake, &request(first, first + 2000, 500, ImageFormat::Png));
    assert_eq!(page.images.len(), 5);
    assert!(page.images.iter().all(|i| i.error == Some(ImageError::MediaError)), "{page:?}");

    // An unsupported codec.
    let page = get(&relabelled("V_THEORA"), &request(BASE, BASE + 1000, 500, ImageFormat::Png));
    assert!(page.images.iter().all(|i| i.error == Some(ImageError::MediaError)));
    assert!(page.images[0].detail.as_deref().unwrap().contains("V_THEORA"));

    // H.264 frames labelled VP9: without the `ffmpeg` feature VP9 is not decoded at all;
    // with it, the frames are not VP9.
    let page = get(&relabelled("V_VP9"), &request(BASE, BASE + 1000, 500, ImageFormat::Png));
    assert!(page.images.iter().all(|i| i.error == Some(ImageError::MediaError)), "{page:?}");
    let detail = page.images[0].detail.as_deref().unwrap();
    if cfg!(feature = "ffmpeg") {
        assert!(detail.starts_with("VP9: "), "{detail}");
    } else {
        assert_eq!(detail, "VP9 needs kvs-images built with the `ffmpeg` feature");
    }
}

/// The H.264 fixture with every track's CodecID replaced.
fn relabelled(codec_id: &str) -> Timeline {
    let mut fragments: Vec<Fragment> = h264().fragments().to_vec();
    for f in &mut fragments {
        for track in &mut f.tracks {
            track.codec_id = Some(codec_id.into());
        }
    }
    let mut t = Timeline::new();
    for f in fragments {
        t.push(f);
    }
    t
}

#[test]
fn corrupt_frames_give_media_errors_or_images_never_a_panic() {
    let mut fragments: Vec<Fragment> = h265().fragments().to_vec();
    let mut h264_fragments: Vec<Fragment> = h264().fragments().to_vec();
    for f in fragments.iter_mut().chain(h264_fragments.iter_mut()) {
        for (i, frame) in f.frames.iter_mut().enumerate() {
            let mut data = frame.data.to_vec();
            // Keep the length prefix, scramble the slice data.
            for (j, b) in data.iter_mut().enumerate().skip(8) {
                *b ^= ((i * 31 + j * 7) % 251) as u8;
            }
            frame.data = Bytes::from(data);
        }
    }
    for fragments in [fragments, h264_fragments] {
        let mut t = Timeline::new();
        for f in fragments {
            t.push(f);
        }
        let page = get(&t, &request(BASE, BASE + 3900, 300, ImageFormat::Jpeg));
        assert_eq!(page.images.len(), 14);
        for i in &page.images {
            assert!(i.error.is_none() || i.error == Some(ImageError::MediaError));
        }
    }
}

#[test]
fn server_clock_is_the_producer_clock_shifted() {
    let r = ImagesRequest::new(
        ImageSelector::ServerTimestamp,
        BASE + SERVER_DELAY,
        BASE + SERVER_DELAY + 3900,
        300,
        ImageFormat::Png,
    );
    let server = get(h264(), &r);
    let producer = get(h264(), &request(BASE, BASE + 3900, 300, ImageFormat::Png));
    assert_eq!(server.images.len(), producer.images.len());
    for (s, p) in server.images.iter().zip(&producer.images) {
        assert_eq!(s.timestamp_ms, p.timestamp_ms + SERVER_DELAY);
        assert_eq!(s.frame_timestamp_ms.unwrap(), p.frame_timestamp_ms.unwrap() + SERVER_DELAY);
        assert_eq!(s.content, p.content);
    }
    // Just before the first frame on the server clock: nothing yet.
    let r = ImagesRequest::new(ImageSelector::ServerTimestamp, BASE + 50, BASE + 50, 200, ImageFormat::Png);
    assert_eq!(get(h264(), &r).images[0].error, Some(ImageError::NoMedia));
}

#[test]
fn plain_matroska_uses_the_frames_own_timestamps() {
    let mut t = Timeline::new();
    for f in h264().fragments() {
        let mut plain = f.clone();
        plain.metadata = None;
        t.push(plain);
    }
    // The fixture's cluster timestamps count from 0 ms.
    for selector in [ImageSelector::ProducerTimestamp, ImageSelector::ServerTimestamp] {
        let page = get(&t, &ImagesRequest::new(selector, 0, 3900, 1300, ImageFormat::Jpeg));
        let shown: Vec<_> = page.images.iter().map(|i| i.frame_timestamp_ms).collect();
        assert_eq!(shown, [Some(0), Some(1300), Some(2600), Some(3900)]);
    }
}

#[test]
fn validation_follows_the_reference() {
    let ok = request(BASE, BASE + 1000, 200, ImageFormat::Jpeg);
    let err =
        |r: ImagesRequest| h264().get_images(&r, &SampleOptions::default()).unwrap_err().kind().unwrap();
    use ImagesErrorKind::{InvalidArgument, Validation};
    // Range: at most 300 s; the end not before the start.
    assert!(
        h264()
            .get_images(&request(BASE, BASE + 300_000, 200, ImageFormat::Jpeg), &SampleOptions::default())
            .is_ok()
    );
    assert_eq!(err(request(BASE, BASE + 300_001, 200, ImageFormat::Jpeg)), InvalidArgument);
    assert_eq!(err(request(BASE, BASE - 1, 200, ImageFormat::Jpeg)), InvalidArgument);
    // Sampling interval: at least 200 ms by default, configurable.
    assert_eq!(err(request(BASE, BASE + 1000, 199, ImageFormat::Jpeg)), InvalidArgument);
    assert_eq!(err(request(BASE, BASE + 1000, 0, ImageFormat::Jpeg)), InvalidArgument);
    let strict = SampleOptions {
        limits: Limits { min_sampling_interval_ms: 3000, ..Limits::default() },
        ..Default::default()
    };
    assert_eq!(h264().get_images(&ok, &strict).unwrap_err().kind(), Some(InvalidArgument));
    let lax = SampleOptions {
        limits: Limits { min_sampling_interval_ms: 50, ..Limits::default() },
        ..Default::default()
    };
    assert_eq!(
        h264().get_images(&request(BASE, BASE + 100, 50, ImageFormat::Jpeg), &lax).unwrap().images.len(),
        3
    );
    // Width alone is a validation error; height alone, both, neither are fine.
    assert_eq!(err(ok.clone().width_pixels(100)), Validation);
    assert!(h264().get_images(&ok.clone().height_pixels(100), &SampleOptions::default()).is_ok());
    // Ranges.
    assert_eq!(err(ok.clone().width_pixels(0).height_pixels(10)), Validation);
    assert_eq!(err(ok.clone().width_pixels(3841).height_pixels(10)), Validation);
    assert_eq!(err(ok.clone().height_pixels(0)), Validation);
    assert_eq!(err(ok.clone().height_pixels(2161)), Validation);
    assert!(
        h264()
            .get_images(
                &ok.clone().width_pixels(3840).height_pixels(1).max_results(1),
                &SampleOptions::default()
            )
            .is_ok()
    );
    assert_eq!(err(ok.clone().jpeg_quality(0)), Validation);
    assert_eq!(err(ok.clone().jpeg_quality(101)), Validation);
    let mut bad_key = ok.clone();
    bad_key.format_config.insert("PNGLevel".into(), "3".into());
    assert_eq!(err(bad_key), Validation);
    let mut not_a_number = ok.clone();
    not_a_number.format_config.insert("JPEGQuality".into(), "high".into());
    assert_eq!(err(not_a_number), Validation);
    assert_eq!(err(ok.clone().max_results(0)), Validation);
    assert_eq!(err(ok.clone().max_results(101)), Validation);
    // A next token must be one of this request's.
    assert_eq!(err(ok.clone().next_token(Some("bm9wZQ".into()))), InvalidArgument);
    let page = get(h264(), &ok.clone().max_results(2));
    let other = request(BASE, BASE + 1200, 200, ImageFormat::Jpeg);
    assert_eq!(err(other.next_token(page.next_token.clone())), InvalidArgument);
    // ... but the page size may change between pages.
    assert!(
        h264().get_images(&ok.max_results(3).next_token(page.next_token), &SampleOptions::default()).is_ok()
    );
}

#[test]
fn range_shorter_than_the_interval_gives_the_image_at_start() {
    let page = get(h264(), &request(BASE + 1234, BASE + 1500, 1000, ImageFormat::Jpeg));
    assert_eq!(page.images.len(), 1);
    assert_eq!(page.images[0].timestamp_ms, BASE + 1234);
    assert_eq!(page.images[0].frame_timestamp_ms, Some(BASE + 1200));
    let page = get(h264(), &request(BASE + 1234, BASE + 1234, 1000, ImageFormat::Jpeg));
    assert_eq!(page.images.len(), 1);
}

#[test]
fn pages_concatenate_to_the_unpaged_result() {
    let r = request(BASE - 400, BASE + 4400, 200, ImageFormat::Jpeg).height_pixels(60);
    let whole = get(h264(), &r);
    assert_eq!(whole.images.len(), 25);
    for size in [1, 7, 24, 25] {
        let mut all = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let page = get(h264(), &r.clone().max_results(size).next_token(token));
            assert!(page.images.len() <= size as usize);
            all.extend(page.images);
            pages += 1;
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(pages, whole.images.len().div_ceil(size as usize));
        assert_eq!(all, whole.images, "page size {size}");
    }
    // The default page is 100: 1501 samples over 300 s give 16 pages.
    let big = request(BASE, BASE + 300_000, 200, ImageFormat::Jpeg);
    let page = get(h264(), &big);
    assert_eq!(page.images.len(), 100);
    assert!(page.next_token.is_some());
}

#[test]
fn sizes_follow_the_reference() {
    let one = |r: ImagesRequest| decode(get(h264(), &r).images[0].content.as_ref().unwrap()).dimensions();
    let r = request(BASE + 500, BASE + 500, 200, ImageFormat::Png);
    assert_eq!(one(r.clone()), (320, 240));
    assert_eq!(one(r.clone().height_pixels(120)), (160, 120));
    assert_eq!(one(r.clone().height_pixels(1000)), (1333, 1000));
    assert_eq!(one(r.clone().width_pixels(100).height_pixels(50)), (100, 50));
    assert_eq!(one(r.clone().width_pixels(33).height_pixels(200)), (33, 200));
    let jpeg = request(BASE + 500, BASE + 500, 200, ImageFormat::Jpeg).height_pixels(61);
    assert_eq!(one(jpeg), (81, 61));
    // H.265 too.
    let img = get(h265(), &r.height_pixels(48)).images[0].content.clone().unwrap();
    assert_eq!(decode(&img).dimensions(), (64, 48));
}

#[test]
fn formats_and_jpeg_quality() {
    let at = |format, quality: Option<u8>| {
        let mut r = request(BASE + 500, BASE + 500, 200, format);
        if let Some(q) = quality {
            r = r.jpeg_quality(q);
        }
        get(h264(), &r).images[0].content.clone().unwrap()
    };
    let png = at(ImageFormat::Png, None);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let sizes: Vec<usize> =
        [1, 10, 50, 80, 95, 100].iter().map(|&q| at(ImageFormat::Jpeg, Some(q)).len()).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "JPEG sizes by quality: {sizes:?}");
    // The default quality is 80.
    assert_eq!(at(ImageFormat::Jpeg, None), at(ImageFormat::Jpeg, Some(80)));
    assert!(at(ImageFormat::Jpeg, None).starts_with(&[0xFF, 0xD8, 0xFF]));
}

#[test]
fn live_sampling_matches_the_whole_timeline() {
    let r = request(BASE - 300, BASE + 4300, 200, ImageFormat::Jpeg).height_pixels(48);
    let whole = get(h264(), &r.clone().max_results(100));
    let mut live = kvs_images::LiveSampler::new(&r, &SampleOptions::default()).unwrap();
    let mut got = Vec::new();
    let bytes = Bytes::from(std::fs::read(testdata("images/h264.mkv")).unwrap());
    let mut settled_per_fragment = Vec::new();
    for event in kvs_chunk::Events::new(bytes) {
        let event = event.unwrap();
        let end = matches!(event, kvs_chunk::Event::FragmentEnd(_));
        got.extend(live.push_event(event));
        if end {
            settled_per_fragment.push(got.len());
        }
    }
    // Samples settle as fragments arrive: before fragment 2 starts (1 s), the samples up to
    // 0.9 s are out.
    assert_eq!(settled_per_fragment[..3], [2, 7, 12]);
    assert!(!live.is_done());
    got.extend(live.finish());
    assert!(live.is_done());
    assert_eq!(got, whole.images);
}

#[test]
fn live_sampling_of_whole_fragments_matches_the_events() {
    let r = request(BASE - 300, BASE + 4300, 200, ImageFormat::Jpeg).height_pixels(48);
    let whole = get(h264(), &r.clone().max_results(100));
    let mut live = kvs_images::LiveSampler::new(&r, &SampleOptions::default()).unwrap();
    let bytes = Bytes::from(std::fs::read(testdata("images/h264.mkv")).unwrap());
    let mut got = Vec::new();
    let mut settling = 0;
    for (i, fragment) in kvs_chunk::Fragments::new(kvs_chunk::Events::new(bytes)).enumerate() {
        let fragment = fragment.unwrap();
        assert!(fragment.first_cluster_timestamp_ns().is_some());
        // `settles` says beforehand whether the push gives images (what kvs-sdk's ImagePool
        // runs on a thread).
        let settles = live.settles(&fragment);
        settling += usize::from(settles);
        let images = live.push_fragment(&fragment);
        assert_eq!(settles, !images.is_empty(), "fragment {i}");
        got.extend(images);
        if i == 0 {
            // An error chunk is no fragment to sample: it settles nothing.
            let error = Fragment::of_error_chunk(kvs_chunk::ErrorChunk::default());
            assert!(!live.settles(&error));
            assert!(live.push_fragment(&error).is_empty());
        }
    }
    // Every fragment settles samples (the request starts before the first one).
    assert_eq!(settling, 4);
    got.extend(live.finish());
    assert_eq!(got, whole.images);
}

#[test]
fn fragments_before_the_next_sample_settle_nothing() {
    // Samples after the clip: no fragment starts after one, so none settles (or decodes).
    let r = request(BASE + 10_000, BASE + 12_000, 500, ImageFormat::Jpeg);
    let mut live = kvs_images::LiveSampler::new(&r, &SampleOptions::default()).unwrap();
    let bytes = Bytes::from(std::fs::read(testdata("images/h264.mkv")).unwrap());
    for fragment in kvs_chunk::Fragments::new(kvs_chunk::Events::new(bytes)) {
        let fragment = fragment.unwrap();
        assert!(!live.settles(&fragment));
        assert!(live.push_fragment(&fragment).is_empty());
    }
    let rest = live.finish();
    assert_eq!(rest.len(), 5);
    assert!(rest.iter().all(|i| i.error == Some(ImageError::NoMedia)));
}

#[test]
fn malformed_and_truncated_input() {
    let bytes = std::fs::read(testdata("images/h264.mkv")).unwrap();
    // Cut in the middle of the third fragment: the complete frames before the cut are used.
    let cut = Timeline::from_bytes(Bytes::copy_from_slice(&bytes[..60_000])).unwrap();
    let page = get(&cut, &request(BASE, BASE + 3000, 500, ImageFormat::Jpeg));
    assert!(page.images[..4].iter().all(|i| i.error.is_none()));
    assert_eq!(page.images[6].error, Some(ImageError::NoMedia));
    // Not media at all.
    assert!(
        Timeline::from_bytes(Bytes::from_static(b"hello, this is not matroska"))
            .map_or(true, |t| t.is_empty())
    );
    let empty = Timeline::new();
    let page = get(&empty, &request(BASE, BASE + 1000, 500, ImageFormat::Jpeg));
    assert!(page.images.iter().all(|i| i.error == Some(ImageError::NoMedia)));
}
