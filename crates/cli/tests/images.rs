//! `kvs-mkv images`: the AWS-CLI-shaped JSON from a file, pages with --max-items and
//! --starting-token, --output-dir files and manifest, validation errors, and the same answer
//! from an in-process kvs-local through the GetImages API and through GetMedia.
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
