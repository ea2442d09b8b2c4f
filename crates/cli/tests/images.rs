//! `kvs-mkv images`: the AWS-CLI-shaped JSON from a file, pages with --max-items and
//! --starting-token, --output-dir files and manifest, validation errors, and the same answer
//! from an in-process kvs-local through the GetImages API and through GetMedia; and the
//! pictures checked against the frames FFmpeg decodes from the source file.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::sync::mpsc;

use common::bin;

use base64::Engine as _;
use kvs_local::{LocalKvs, Source};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    common::testdata().join("images").join(name)
}

/// A server on its own thread over the H.264 fixture as stream `cam`; returns its URL.
fn serve() -> String {
    let source = Source::file(testdata("h264.mkv")).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let server = LocalKvs::builder().stream("cam", source).bind("127.0.0.1:0").await.unwrap();
            tx.send(server.url().to_owned()).unwrap();
            let _ = server.wait().await;
        });
    });
    rx.recv().unwrap()
}

/// The common arguments: 2023-11-14T22:13:19.5Z to +5 s, every 500 ms, JPEG at 60, 120 high.
const REQUEST: [&str; 14] = [
    "--image-selector-type",
    "PRODUCER_TIMESTAMP",
    "--start-timestamp",
    "2023-11-14T22:13:19.500Z",
    "--end-timestamp",
    "1700000004.5",
    "--sampling-interval",
    "500",
    "--format",
    "JPEG",
    "--format-config",
    "JPEGQuality=60",
    "--height-pixels",
    "120",
];

fn images(source: &[&str], extra: &[&str]) -> Output {
    bin().arg("images").args(source).args(REQUEST).args(extra).output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn file() -> String {
    testdata("h264.mkv").display().to_string()
}

#[test]
fn prints_what_the_aws_cli_prints() {
    let v = json(&images(&[&file()], &[]));
    let list = v["Images"].as_array().unwrap();
    assert_eq!(list.len(), 11);
    assert!(v.get("NextToken").is_none());
    assert_eq!(list[0]["TimeStamp"], "2023-11-14T22:13:19.500000+00:00");
    assert_eq!(list[0]["Error"], "NO_MEDIA");
    assert!(list[0].get("ImageContent").is_none());
    assert_eq!(list[1]["TimeStamp"], "2023-11-14T22:13:20+00:00");
    for image in &list[1..9] {
        assert!(image.get("Error").is_none(), "{image}");
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(image["ImageContent"].as_str().unwrap())
            .unwrap();
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (160, 120));
    }
    assert_eq!(list[9]["Error"], "NO_MEDIA");
    // From standard input too.
    let stdin = std::fs::File::open(testdata("h264.mkv")).unwrap();
    let out = bin().arg("images").arg("-").args(REQUEST).stdin(stdin).output().unwrap();
    assert_eq!(json(&out), v);
}

#[test]
fn max_items_and_starting_token_page_through() {
    let whole = json(&images(&[&file()], &[]));
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut extra = vec!["--max-items".to_owned(), "4".to_owned()];
        if let Some(t) = &token {
            extra.extend(["--starting-token".to_owned(), t.clone()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let v = json(&images(&[&file()], &extra));
        all.extend(v["Images"].as_array().unwrap().iter().cloned());
        token = v.get("NextToken").and_then(Value::as_str).map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(Value::Array(all), whole["Images"]);
}

#[test]
fn output_dir_holds_files_and_a_manifest() {
    let dir = std::env::temp_dir().join(format!("kvs-mkv-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = images(&[&file()], &["--output-dir", dir.to_str().unwrap(), "--max-items", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let list = manifest["Images"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(manifest["NextToken"].is_string());
    assert_eq!(list[0]["Error"], "NO_MEDIA");
    assert_eq!(list[1]["File"], "2023-11-14T22-13-20.000Z.jpg");
    assert_eq!(list[2]["FrameTimeStamp"], "2023-11-14T22:13:20.500000+00:00");
    for entry in &list[1..] {
        let bytes = std::fs::read(dir.join(entry["File"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, entry["Bytes"].as_u64().unwrap());
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 5); // 4 images + manifest
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_requests_fail_with_the_service_error() {
    let out = bin()
        .args(["images", &file(), "--image-selector-type", "SERVER_TIMESTAMP", "--start-timestamp", "0"])
        .args([
            "--end-timestamp",
            "1",
            "--sampling-interval",
            "1000",
            "--format",
            "PNG",
            "--width-pixels",
            "100",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValidationException"));
    let out = bin()
        .args(["images", &file(), "--image-selector-type", "SERVER_TIMESTAMP", "--start-timestamp", "0"])
        .args(["--end-timestamp", "301", "--sampling-interval", "1000", "--format", "PNG"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidArgumentException"));
    let out = images(&[&file()], &["--starting-token", "bogus"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("NextToken"));
    let out = bin()
        .args(["images", &file(), "--image-selector-type", "SERVER_TIMESTAMP", "--start-timestamp", "soon"])
        .args(["--end-timestamp", "1", "--sampling-interval", "1000", "--format", "PNG"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_local_stream_gives_the_same_answer_by_get_images_and_by_get_media() {
    let url = serve();
    let from_file = json(&images(&[&file()], &[]));
    let by_api = json(&images(&["--endpoint-url", &url, "--stream-name", "cam"], &[]));
    assert_eq!(by_api, from_file);
    let paged = json(&images(&["--endpoint-url", &url, "--stream-name", "cam"], &["--max-items", "3"]));
    assert_eq!(paged["Images"].as_array().unwrap()[..], from_file["Images"].as_array().unwrap()[..3]);
    assert!(paged["NextToken"].is_string());
    let by_get_media =
        json(&images(&["--endpoint-url", &url, "--stream-name", "cam", "--from-get-media"], &[]));
    assert_eq!(by_get_media, from_file);
}

/// Oracle: FFmpeg, and the fixture's documented spec. Every image `kvs-mkv images` prints,
/// from the file, from kvs-local's GetImages API and from its GetMedia (`--from-get-media`),
/// decoded with the `image` crate and shrunk to 8x6 box averages, is closest to (and near)
/// the picture ffmpeg decodes from testdata/images/h264.mkv at the sample time, whose index
/// comes from how the fixture was made (make.sh: 10 fps from producer time
/// 1700000000.000, so a sample at +500 k ms shows frame 5 k), and is 160x120 for
/// --height-pixels 120 of a 320x240 source.
#[test]
fn images_show_the_frame_ffmpeg_decodes_at_their_time() {
    let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
    let source = kvs_testkit::oracle::thumbnails(&ffmpeg, &testdata("h264.mkv"));
    assert_eq!(source.len(), 40, "4 s at 10 fps");
    let url = serve();
    let local = ["--endpoint-url", url.as_str(), "--stream-name", "cam"];
    for (how, args, extra) in [
        ("file", vec![file()], None),
        ("GetImages", local.iter().map(|s| (*s).to_owned()).collect(), None),
        ("GetMedia", local.iter().map(|s| (*s).to_owned()).collect(), Some("--from-get-media")),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = json(&images(&args, extra.as_slice()));
        let list = v["Images"].as_array().unwrap();
        // 1700000000 - 0.5 s to + 4.5 s every 500 ms: none before the media, 8 pictures, none after.
        assert_eq!(list.len(), 11, "{how}");
        for (k, image) in list.iter().enumerate() {
            let what = format!("{how} sample {k}");
            let Some(content) = image["ImageContent"].as_str() else {
                assert!(k == 0 || k >= 9, "{what}: {image}");
                assert_eq!(image["Error"], "NO_MEDIA", "{what}");
                continue;
            };
            let jpeg = base64::engine::general_purpose::STANDARD.decode(content).unwrap();
            let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (160, 120), "{what}");
            let shown = thumbnail(&img);
            let (index, err) = source
                .iter()
                .enumerate()
                .map(|(i, f)| (i, kvs_testkit::oracle::mse(&shown, f)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert_eq!(index, 5 * (k - 1), "{what} shows source frame {index} (mse {err:.1})");
            // Measured up to 7; two adjacent source frames are 17 or more apart.
            assert!(err < 15.0, "{what}: mse {err:.1} from the source frame");
        }
    }
}

/// The 8x6 box averages of a picture whose sides are multiples of 8 and 6.
fn thumbnail(img: &image::RgbImage) -> Vec<f64> {
    let (w, h) = img.dimensions();
    let mut out = vec![0.0; 8 * 6 * 3];
    for (x, y, p) in img.enumerate_pixels() {
        let cell = ((y * 6 / h) * 8 + x * 8 / w) as usize;
        for c in 0..3 {
            out[cell * 3 + c] += f64::from(p[c]);
        }
    }
    let n = f64::from((w / 8) * (h / 6));
    out.iter().map(|v| v / n).collect()
}

#[test]
fn version_and_help_name_the_decoder_backend() {
    let backend =
        if cfg!(feature = "ffmpeg") { "FFmpeg libavcodec " } else { "pure Rust (rusty_h264, rusty_h265)" };
    let version = bin().arg("--version").output().unwrap();
    assert!(version.status.success());
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(version.contains(&format!("images decoder: {backend}")), "{version}");
    let help = bin().args(["images", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(help.contains(&format!("Images computed here are decoded by: {backend}")), "{help}");
}
