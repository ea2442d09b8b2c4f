//! `kvs-mkv get-media` against an in-process kvs-local: the same JSON contract as
//! `fragments --json` on the backing file, through cuts, by name and ARN, and an in-stream
//! error ending the command; and the printed fragments checked against oracles that are not
//! this project's decoder: the upstream Java parser library's values for a real capture, and
//! what ffprobe and mkvinfo read in the backing file.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::mpsc;

use common::bin;

use kvs_local::{ErrorAfterFragment, Faults, LocalKvs, Source};
use kvs_testkit::oracle::{Packet, ffprobe_packets, mkvinfo_tags, tag_values};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    common::testdata().join(name)
}

/// A server on its own thread over a fixture as stream `cam`; returns its URL and the ARN of
/// stream `cam`. It stops when the test process ends.
fn serve(file: &str, faults: Faults) -> (String, String) {
    serve_path(&testdata(file), faults)
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The contract's fields that do not depend on how the server renders or when it answers
/// (kvs-local recomputes millis-behind-now and re-renders the documents' headers).
fn stable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("offset");
    o.remove("millis_behind_now");
    v
}

fn get_media(url: &str, extra: &[&str]) -> Output {
    bin()
        .args(["get-media", "--endpoint-url", url, "--json", "--start-selector-type"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .unwrap()
}

#[test]
fn get_media_prints_the_fragments_contract() {
    let file = testdata("getmedia_basic.mkv");
    let want: Vec<Value> = lines(&bin().args(["fragments", "--json"]).arg(&file).output().unwrap());
    assert_eq!(want.len(), 5);
    let want: Vec<Value> = want.into_iter().map(stable).collect();
    // Cut after ~1.5 fragments: the command resumes and prints each fragment once.
    for faults in [Faults::default(), Faults { cut_after_bytes: Some(9000), ..Faults::default() }] {
        let (url, arn) = serve("getmedia_basic.mkv", faults.clone());
        for stream in [["--stream-name", "cam"], ["--stream-arn", arn.as_str()]] {
            let out = get_media(&url, &["EARLIEST", stream[0], stream[1]]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let got: Vec<Value> = lines(&out).into_iter().map(stable).collect();
            assert_eq!(got, want, "{faults:?}");
            if faults.cut_after_bytes.is_some() {
                assert!(String::from_utf8_lossy(&out.stderr).contains("reconnecting"));
            }
        }
        // Every selector that takes a value.
        let numbers: Vec<&str> = want.iter().map(|v| v["fragment_number"].as_str().unwrap()).collect();
        let out = get_media(
            &url,
            &["FRAGMENT_NUMBER", "--stream-name", "cam", "--after-fragment-number", numbers[2]],
        );
        assert_eq!(lines(&out).len(), 2);
        let out = get_media(
            &url,
            &["CONTINUATION_TOKEN", "--stream-name", "cam", "--continuation-token", numbers[0]],
        );
        assert_eq!(lines(&out).len(), 4);
        let out = get_media(
            &url,
            &["SERVER_TIMESTAMP", "--stream-name", "cam", "--start-timestamp", "1700000002.126"],
        );
        let got = lines(&out);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["server_timestamp_ms"], 1_700_000_002_126_i64);
        let out = get_media(&url, &["NOW", "--stream-name", "cam"]);
        assert_eq!(lines(&out).len(), 1);
    }
}

#[test]
fn get_media_reports_errors() {
    let faults = Faults {
        error_after_fragment: Some(ErrorAfterFragment { fragment_index: 1, error_id: 4000 }),
        ..Faults::default()
    };
    let (url, _) = serve("getmedia_basic.mkv", faults);
    let out = get_media(&url, &["EARLIEST", "--stream-name", "cam"]);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["error"]["id"], 4000);
    assert_eq!(got[2]["complete"], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("4000"));

    let out = get_media(&url, &["EARLIEST", "--stream-name", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
    let out = get_media(&url, &["FRAGMENT_NUMBER", "--stream-name", "cam"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AfterFragmentNumber"));
}

/// Oracle: the upstream Java parser library (../shared/conformance/kvs-java/EXPECTED.md).
/// `get-media` over kvs-local serving the real capture output_get_media.mkv, cleanly and cut
/// every 600000 bytes, prints the five fragments with the fragment numbers, server and
/// producer timestamps of the table there (the first three continuation tokens are asserted
/// by `FragmentMetadataVisitorTest.basicTest`), continuation token = fragment number, 60
/// frames and one keyframe each on one 640x360 V_MPEG4/ISO/AVC track, and the seven
/// non-AWS tags the Java test asserts at each segment end, DURATION with its two NULs.
#[test]
fn get_media_prints_the_upstream_values_of_a_real_capture() {
    let Some(capture) = kvs_testkit::conformance_path("kvs-java/output_get_media.mkv") else { return };
    let upstream = &kvs_testkit::upstream::OUTPUT_GET_MEDIA;
    let tags: Vec<Value> = kvs_testkit::upstream::OUTPUT_GET_MEDIA_PRODUCER_TAGS
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
        .collect();
    let tags = Value::Array(tags);
    // "1511852109.126" -> 1511852109126
    let ms = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
    for faults in [Faults::default(), Faults { cut_after_bytes: Some(600_000), ..Faults::default() }] {
        let (url, _) = serve_path(&capture, faults.clone());
        let out = get_media(&url, &["EARLIEST", "--stream-name", "cam"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got = lines(&out);
        assert_eq!(got.len(), 5, "{faults:?}");
        for (k, v) in got.iter().enumerate() {
            let what = format!("fragment {k}, {faults:?}");
            assert_eq!(v["fragment_number"], upstream[k].number, "{what}");
            assert_eq!(v["continuation_token"], upstream[k].number, "{what}");
            assert_eq!(v["server_timestamp_ms"], ms(upstream[k].server), "{what}");
            assert_eq!(v["producer_timestamp_ms"], ms(upstream[k].producer), "{what}");
            assert_eq!(v["complete"], true, "{what}");
            assert_eq!(v["frames"], serde_json::json!({"1": 60}), "{what}");
            assert_eq!(v["keyframes"], serde_json::json!({"1": 1}), "{what}");
            assert_eq!(
                v["tracks"],
                serde_json::json!([{"number": 1, "codec_id": "V_MPEG4/ISO/AVC", "width": 640, "height": 360}]),
                "{what}"
            );
            assert_eq!(v["tags"], tags, "{what}");
        }
        if faults.cut_after_bytes.is_some() {
            assert!(String::from_utf8_lossy(&out.stderr).contains("reconnecting"));
        }
    }
}

/// Oracle: ffprobe and mkvinfo reading the backing file, and its documented spec
/// (testdata/MANIFEST.md: 4 fragments 2 s apart of 10 H.264 frames with one keyframe and 32
/// AAC frames). For each fragment `get-media` prints (cleanly and cut every 8000 bytes, more
/// than one fragment's document, so every response completes at least one fragment), the
/// fragment number, continuation token and server and producer timestamps are the tag
/// strings mkvinfo reads in the file, and the frame and keyframe counts per track are those
/// of the packets ffprobe reads in that fragment's 2 s of the file.
#[test]
fn get_media_agrees_with_ffprobe_and_mkvinfo_on_the_backing_file() {
    let Some(mkvinfo) = kvs_testkit::mkvinfo() else { return };
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let file = testdata("getmedia_unknown_clusters.mkv");
    let tags = mkvinfo_tags(&mkvinfo, &file);
    let values = |name: &str| tag_values(&tags, name);
    let numbers = values("AWS_KINESISVIDEO_FRAGMENT_NUMBER");
    assert_eq!(numbers.len(), 4);
    // "1700000100.281" -> 1700000100281: epoch seconds with three decimals, as milliseconds.
    let ms = |s: &String| -> i64 {
        let (whole, frac) = s.split_once('.').unwrap();
        assert_eq!(frac.len(), 3);
        whole.parse::<i64>().unwrap() * 1000 + frac.parse::<i64>().unwrap()
    };
    let server: Vec<i64> = values("AWS_KINESISVIDEO_SERVER_TIMESTAMP").iter().map(ms).collect();
    let producer: Vec<i64> = values("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP").iter().map(ms).collect();
    assert_eq!(producer, [0, 2000, 4000, 6000]);
    let packets = ffprobe_packets(&ffprobe, &file);
    for faults in [Faults::default(), Faults { cut_after_bytes: Some(8000), ..Faults::default() }] {
        let (url, _) = serve("getmedia_unknown_clusters.mkv", faults.clone());
        let out = get_media(&url, &["EARLIEST", "--stream-name", "cam"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got = lines(&out);
        assert_eq!(got.len(), 4, "{faults:?}");
        for (k, v) in got.iter().enumerate() {
            let what = format!("fragment {k}, {faults:?}");
            assert_eq!(v["fragment_number"], numbers[k].as_str(), "{what}");
            assert_eq!(v["continuation_token"], numbers[k].as_str(), "{what}");
            assert_eq!(v["server_timestamp_ms"], server[k], "{what}");
            assert_eq!(v["producer_timestamp_ms"], producer[k], "{what}");
            let span = |p: &&Packet| p.pts_ms >= 2000 * k as i64 && p.pts_ms < 2000 * (k as i64 + 1);
            let count = |stream: u64, key: bool| {
                packets.iter().filter(span).filter(|p| p.stream == stream && (p.key || !key)).count()
            };
            assert_eq!((count(0, false), count(1, false)), (10, 32), "{what}");
            assert_eq!(
                v["frames"],
                serde_json::json!({"1": count(0, false), "2": count(1, false)}),
                "{what}"
            );
            assert_eq!(
                v["keyframes"],
                serde_json::json!({"1": count(0, true), "2": count(1, true)}),
                "{what}"
            );
        }
    }
}

/// A server on its own thread over any file as stream `cam`; returns its URL and ARN.
fn serve_path(path: &Path, faults: Faults) -> (String, String) {
    let source = Source::file(path).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let server =
                LocalKvs::builder().stream("cam", source).faults(faults).bind("127.0.0.1:0").await.unwrap();
            tx.send((server.url().to_owned(), server.stream_arn("cam").unwrap().to_owned())).unwrap();
            let _ = server.wait().await;
        });
    });
    rx.recv().unwrap()
}
