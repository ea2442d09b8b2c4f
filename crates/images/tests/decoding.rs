// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

//! How the images are decoded changes nothing in them: leaving out the pictures no later
//! picture refers to gives the same bytes as decoding every frame, and any number of threads
//! gives the same pages as one, on the `testdata/images` fixtures (B-frames, an open GOP)
//! and on clips ffmpeg makes here (more B-frames, non-reference pictures, several GOPs).

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use kvs_chunk::annexb::nal_units;
use kvs_images::{
    FragmentClock, Image, ImageFormat, ImageSelector, ImagesPage, ImagesRequest, Limits, SampleOptions,
    StreamLimits, StreamingSampler, Timeline,
};

/// The producer timestamp of every fixture's first fragment.
const BASE: i64 = 1_700_000_000_000;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/images").join(name)
}

fn fixture(name: &str) -> (Vec<u8>, Timeline) {
    let bytes = std::fs::read(testdata(name)).unwrap();
    let timeline = Timeline::from_bytes(Bytes::from(bytes.clone())).unwrap();
    (bytes, timeline)
}

fn options(threads: usize, decode_all_frames: bool) -> SampleOptions {
    SampleOptions {
        limits: Limits { min_sampling_interval_ms: 100, ..Limits::default() },
        threads,
        decode_all_frames,
        ..SampleOptions::default()
    }
}

fn get(timeline: &Timeline, request: &ImagesRequest, options: &SampleOptions) -> ImagesPage {
    timeline.get_images(request, options).unwrap()
}

/// How many video frames of `timeline` are pictures no other picture refers to (every
/// slice H.264 `nal_ref_idc` 0, or H.265 TRAIL_N/TSA_N/STSA_N/RADL_N/RASL_N), read here from
/// the length-prefixed NAL units of the frames.
fn non_reference_frames(timeline: &Timeline) -> usize {
    let mut n = 0;
    for fragment in timeline.fragments() {
        let track = fragment.video_track().unwrap();
        let hevc = track.codec_id.as_deref() == Some("V_MPEGH/ISO/HEVC");
        let cp = track.codec_private.as_deref().unwrap();
        let length_size = usize::from(if hevc { cp[21] } else { cp[4] } & 3) + 1;
        for frame in fragment.frames.iter().filter(|f| f.track == track.number) {
            let slices: Vec<u8> = nal_units(&frame.data, length_size)
                .map(|nal| nal.unwrap())
                .filter_map(|nal| {
                    let kind = if hevc { (nal[0] >> 1) & 0x3F } else { nal[0] & 0x1F };
                    let vcl = if hevc { kind < 32 } else { (1..=5).contains(&kind) };
                    vcl.then_some(if hevc { u8::from(kind >= 16 || kind % 2 == 1) } else { nal[0] >> 5 })
                })
                .collect();
            if !slices.is_empty() && slices.iter().all(|&r| r == 0) {
                n += 1;
            }
        }
    }
    n
}

/// Requests that want one frame of each group of pictures, at every position in it in turn
/// (so that non-reference pictures before the wanted one are left out), and one that wants
/// every frame.
fn requests(
    start: i64,
    gop_ms: i64,
    frame_ms: i64,
    length_ms: i64,
    format: ImageFormat,
) -> Vec<ImagesRequest> {
    let mut out: Vec<ImagesRequest> = (0..gop_ms / frame_ms)
        .map(|k| {
            let first = start + k * frame_ms;
            ImagesRequest::new(ImageSelector::ProducerTimestamp, first, start + length_ms - 1, gop_ms, format)
        })
        .collect();
    out.push(
        ImagesRequest::new(ImageSelector::ProducerTimestamp, start, start + length_ms - 1, frame_ms, format)
            .max_results(100),
    );
    out
}

/// The same images (saying which differs first, without printing their bytes).
fn assert_same(images: &[Image], expected: &[Image], what: &str) {
    assert_eq!(images.len(), expected.len(), "{what}");
    for (k, (a, b)) in images.iter().zip(expected).enumerate() {
        assert!(
            a == b,
            "{what}: sample {k} at {} differs ({:?} vs {:?})",
            b.timestamp_ms,
            a.detail,
            b.detail
        );
    }
}

/// Every request gives the same page whether all frames are decoded or not, on one thread
/// or several, and through the streaming sampler; returns how many images were compared.
fn same_images_every_way(bytes: &[u8], timeline: &Timeline, requests: &[ImagesRequest]) -> usize {
    let mut images = 0;
    for (k, request) in requests.iter().enumerate() {
        let reference = get(timeline, request, &options(1, true));
        assert!(reference.images.iter().any(|i| i.content.is_some()), "{request:?}");
        // Every thread count on the last request (every frame), two on the others.
        let ways: &[(usize, bool)] = if k + 1 == requests.len() {
            &[(1, false), (2, false), (3, false), (0, false), (2, true)]
        } else {
            &[(1, false), (2, false)]
        };
        for &(threads, all) in ways {
            let page = get(timeline, request, &options(threads, all));
            assert_same(
                &page.images,
                &reference.images,
                &format!("{request:?}, {threads} threads, all {all}"),
            );
            assert_eq!(page.next_token, reference.next_token);
        }
        for threads in [1, 2].into_iter().skip(usize::from(k + 1 < requests.len())) {
            let plan = request.plan(&options(threads, false).limits).unwrap();
            let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
            let sampler =
                StreamingSampler::new(plan, &times, &options(threads, false), StreamLimits::default());
            assert_same(
                &sampler.read(bytes).unwrap(),
                &reference.images,
                &format!("streaming, {threads} threads"),
            );
        }
        images += reference.images.iter().filter(|i| i.content.is_some()).count();
    }
    images
}

#[test]
fn fixtures_give_the_same_images_with_non_reference_pictures_left_out_and_on_any_thread_count() {
    for name in ["h264.mkv", "h265.mkv", "h264_gap.mkv"] {
        let (bytes, timeline) = fixture(name);
        // Else leaving them out would not be tested.
        assert!(non_reference_frames(&timeline) >= 4, "{name}: {}", non_reference_frames(&timeline));
        // 10 fps, a keyframe every second, 4 s (the gap one is longer).
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let n = same_images_every_way(&bytes, &timeline, &requests(BASE, 1000, 100, 6000, format));
            assert!(n >= 40, "{name}: {n} images compared");
        }
    }
}

/// A plain Matroska clip made by ffmpeg: 320x240 at 10 fps, `seconds` long, a keyframe every
/// 2 s, with `codec_args`; `None` (skipped) without ffmpeg.
fn clip(name: &str, seconds: u32, codec_args: &[&str]) -> Option<Vec<u8>> {
    let (ffmpeg, _) = kvs_testkit::ffmpeg()?;
    let path = std::env::temp_dir().join(format!("kvs-images-decoding-{}-{name}.mkv", std::process::id()));
    let status = Command::new(ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=10")
        .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p", "-threads", "1"])
        .args(codec_args)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {codec_args:?}");
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    Some(bytes)
}

#[test]
fn generated_clips_with_b_frames_give_the_same_images_every_way() {
    let clips: [(&str, &[&str]); 3] = [
        // Three B-frames, none of them a reference (no pyramid).
        (
            "h264-b3",
            &[
                "-c:v",
                "libx264",
                "-g",
                "20",
                "-sc_threshold",
                "0",
                "-bf",
                "3",
                "-x264-params",
                "b-pyramid=none",
            ],
        ),
        // A B-pyramid: some B-frames are references, some not.
        (
            "h264-pyramid",
            &[
                "-c:v",
                "libx264",
                "-g",
                "20",
                "-sc_threshold",
                "0",
                "-bf",
                "3",
                "-x264-params",
                "b-pyramid=normal",
            ],
        ),
        (
            "h265",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "keyint=20:min-keyint=20:scenecut=0:bframes=4:pools=none:frame-threads=1:log-level=error",
            ],
        ),
    ];
    for (name, args) in clips {
        let Some(bytes) = clip(name, 6, args) else { return };
        let timeline = Timeline::from_bytes(Bytes::from(bytes.clone())).unwrap();
        assert!(non_reference_frames(&timeline) >= 10, "{name}: {}", non_reference_frames(&timeline));
        // A plain Matroska file: the frames' own timestamps, from 0.
        let n = same_images_every_way(&bytes, &timeline, &requests(0, 2000, 100, 6000, ImageFormat::Png));
        assert!(n >= 60, "{name}: {n} images compared");
    }
}
