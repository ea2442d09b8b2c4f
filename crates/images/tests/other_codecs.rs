// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

//! VP8, VP9 and AV1 in WebM, encoded at test time by the system's ffmpeg. With the `ffmpeg`
//! feature every sample shows the picture FFmpeg itself decodes at the sample's time; in the
//! default build every sample is a MEDIA_ERROR naming the missing feature.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions, Timeline};

/// 4 s of 320x240 testsrc2 at 10 fps, keyframes every second, encoded with `codec_args` into
/// a fresh `name`.webm.
fn encode(ffmpeg: &Path, name: &str, codec_args: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-images-other-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.webm"));
    let out = Command::new(ffmpeg)
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=10:duration=4",
        ])
        .args(["-pix_fmt", "yuv420p", "-g", "10", "-b:v", "1M"])
        .args(codec_args)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg {codec_args:?}: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// Samples every 200 ms from 50 ms in (the WebM's own clock counts from 0), as PNG.
fn sample(file: &Path) -> kvs_images::ImagesPage {
    let timeline = Timeline::from_bytes(Bytes::from(std::fs::read(file).unwrap())).unwrap();
    let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, 50, 3950, 200, ImageFormat::Png);
    timeline.get_images(&request, &SampleOptions::default()).unwrap()
}

#[cfg(feature = "ffmpeg")]
mod with_ffmpeg {
    use super::*;
    use kvs_testkit::oracle::{closest, temp_file, thumbnails};

    fn thumbnail_of(ffmpeg: &Path, png: &[u8], k: usize) -> Vec<f64> {
        let path =
            temp_file(&format!("sample-{}-{k}.png", std::thread::current().name().unwrap_or("t")), png);
        let mut t = thumbnails(ffmpeg, &path);
        assert_eq!(t.len(), 1);
        t.remove(0)
    }

    /// Every sample is the frame at its time, as FFmpeg decodes it from the same file.
    fn every_sample_is_ffmpegs_frame(name: &str, codec_args: &[&str]) {
        let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
        let file = encode(&ffmpeg, name, codec_args);
        let frames = thumbnails(&ffmpeg, &file);
        assert_eq!(frames.len(), 40, "{name}: FFmpeg decodes 40 frames");
        let page = sample(&file);
        assert_eq!(page.images.len(), 20, "{name}");
        for (k, image) in page.images.iter().enumerate() {
            let t = 50 + 200 * k as i64;
            assert_eq!(image.error, None, "{name} at {t}: {:?}", image.detail);
            assert_eq!(image.frame_timestamp_ms, Some(t - 50), "{name}");
            let png = image.content.as_ref().unwrap();
            let (index, err) = closest(&thumbnail_of(&ffmpeg, png, k), &frames);
            assert_eq!(index, 2 * k, "{name}: sample {k} shows FFmpeg's frame {index} (mse {err:.2})");
            // Same decoder, same frame: only the RGB conversion and PNG round trip differ.
            assert!(err < 4.0, "{name}: sample {k} differs from FFmpeg's frame (mse {err:.2})");
        }
    }

    #[test]
    fn vp8_samples_are_ffmpegs_frames() {
        every_sample_is_ffmpegs_frame("vp8", &["-c:v", "libvpx"]);
    }

    #[test]
    fn vp9_samples_are_ffmpegs_frames() {
        // Good-quality mode: alt-ref (hidden) frames in superframes.
        every_sample_is_ffmpegs_frame("vp9", &["-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "5"]);
    }

    /// libvpx's two temporal layers: every other frame is in the enhancement layer and
    /// updates no reference (the layout of WebRTC's temporal scalability).
    const TWO_LAYERS: [&str; 2] = [
        "-ts-parameters",
        "ts_number_layers=2:ts_target_bitrate=500,1000:ts_rate_decimator=2,1:ts_periodicity=2:ts_layer_id=0,1:ts_layering_mode=2",
    ];

    /// The frames no later frame needs are left out (VP8: read header only; VP9: before a
    /// frame that resets the decoder's state), and the images are the bytes decoding every
    /// frame gives, each FFmpeg's own frame at its time.
    fn leaving_frames_out_changes_nothing(name: &str, codec_args: &[&str]) {
        let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
        let args: Vec<&str> = codec_args.iter().chain(TWO_LAYERS.iter()).copied().collect();
        every_sample_is_ffmpegs_frame(name, &args);
        let file = encode(&ffmpeg, name, &args);
        let timeline = Timeline::from_bytes(Bytes::from(std::fs::read(&file).unwrap())).unwrap();
        // Every 400 ms: every fourth frame, so base-layer frames between samples are decoded
        // for the frames after them while the enhancement frames are left out.
        let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, 50, 3950, 400, ImageFormat::Png);
        let pruned = timeline.get_images(&request, &SampleOptions::default()).unwrap();
        let all = SampleOptions { decode_all_frames: true, ..SampleOptions::default() };
        let every = timeline.get_images(&request, &all).unwrap();
        assert_eq!(pruned.images.len(), 10, "{name}");
        for (a, b) in pruned.images.iter().zip(&every.images) {
            assert_eq!(a.error, None, "{name} at {}: {:?}", a.timestamp_ms, a.detail);
            assert!(
                a.content == b.content,
                "{name} at {}: not the image decoding everything gives",
                a.timestamp_ms
            );
        }
    }

    #[test]
    fn vp8_temporal_layers_give_the_same_images() {
        leaving_frames_out_changes_nothing("vp8-layers", &["-c:v", "libvpx"]);
    }

    #[test]
    fn vp9_temporal_layers_give_the_same_images() {
        leaving_frames_out_changes_nothing(
            "vp9-layers-er",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-error-resilient", "1"],
        );
        leaving_frames_out_changes_nothing(
            "vp9-layers",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
        );
    }

    #[test]
    fn av1_samples_are_ffmpegs_frames() {
        let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
        let encoders = Command::new(&ffmpeg).args(["-hide_banner", "-encoders"]).output().unwrap();
        let encoders = String::from_utf8_lossy(&encoders.stdout).into_owned();
        if encoders.contains("libaom-av1") {
            every_sample_is_ffmpegs_frame("av1", &["-c:v", "libaom-av1", "-cpu-used", "8"]);
        } else if encoders.contains("libsvtav1") {
            every_sample_is_ffmpegs_frame("av1", &["-c:v", "libsvtav1", "-preset", "12"]);
        } else {
            kvs_testkit::skip("an AV1 encoder in ffmpeg", "an ffmpeg built with libaom or libsvtav1");
        }
    }

    #[test]
    fn the_backend_names_ffmpeg() {
        let backend = kvs_images::decoder_backend();
        assert!(backend.starts_with("FFmpeg libavcodec "), "{backend}");
        assert!(backend.ends_with("(H.264, H.265, VP8, VP9, AV1)"), "{backend}");
    }
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn vp9_without_the_ffmpeg_feature_is_a_media_error_naming_it() {
    use kvs_images::ImageError;
    assert_eq!(kvs_images::decoder_backend(), "pure Rust (rusty_h264, rusty_h265)");
    let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
    let file = encode(&ffmpeg, "vp9", &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]);
    let page = sample(&file);
    assert_eq!(page.images.len(), 20);
    for image in &page.images {
        assert_eq!(image.error, Some(ImageError::MediaError), "{image:?}");
        assert!(image.content.is_none());
        assert_eq!(
            image.detail.as_deref(),
            Some("VP9 needs kvs-images built with the `ffmpeg` feature"),
            "{image:?}"
        );
    }
}
