//! The `kvs-mkv` binary as users run it: the JSON contract on every shipped fixture, exit
//! status and stderr on truncated and malformed input, stdin.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{bin, testdata};

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mkv"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "testdata has its fixtures");
    v
}

fn run(args: &[&str], path: &Path) -> Output {
    bin().args(args).arg(path).output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn expected(mkv: &Path) -> Value {
    let p = mkv.with_extension("expected.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn fragments_json_matches_every_fixture() {
    for mkv in fixtures() {
        let out = run(&["fragments", "--json"], &mkv);
        let exp = expected(&mkv);
        let got = lines(&out);
        let want = exp["fragments"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{}: one line per fragment", mkv.display());
        for (g, w) in got.iter().zip(want) {
            for key in [
                "index",
                "offset",
                "fragment_number",
                "server_timestamp_ms",
                "producer_timestamp_ms",
                "millis_behind_now",
                "continuation_token",
                "complete",
                "frames",
                "keyframes",
            ] {
                assert_eq!(g[key], w[key], "{}: fragment {} field {key}", mkv.display(), w["index"]);
            }
            let tags: Vec<_> = g["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].clone(), t["value"].clone()))
                .collect();
            let want_tags: Vec<_> = w["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].clone(), t["value"].clone()))
                .collect();
            assert_eq!(tags, want_tags, "{}: tags of fragment {}", mkv.display(), w["index"]);
            assert_eq!(g["error"]["id"], w["error"]["id"], "{}: error", mkv.display());
            let tracks = g["tracks"].as_array().unwrap();
            let want_tracks = w["tracks"].as_array().unwrap();
            assert_eq!(tracks.len(), want_tracks.len());
            for (t, wt) in tracks.iter().zip(want_tracks) {
                for key in ["number", "codec_id", "width", "height"] {
                    assert_eq!(t[key], wt[key], "{}: track {key}", mkv.display());
                }
                // The contract's track object has exactly these fields.
                assert_eq!(t.as_object().unwrap().len(), 4);
            }
        }
        let cut = !exp["cut_at"].is_null();
        assert_eq!(out.status.success(), !cut, "{}: exit status", mkv.display());
    }
}

#[test]
fn events_json_frames_match_every_fixture() {
    for mkv in fixtures() {
        let out = run(&["events", "--json"], &mkv);
        let exp = expected(&mkv);
        let frames: Vec<_> = lines(&out).into_iter().filter(|e| e["type"] == "frame").collect();
        let want: Vec<_> = exp["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["frame_list"].as_array().unwrap().clone())
            .collect();
        assert_eq!(frames.len(), want.len(), "{}", mkv.display());
        for (g, w) in frames.iter().zip(&want) {
            assert_eq!(g["track"], w["track"]);
            assert_eq!(g["keyframe"], w["keyframe"]);
            assert_eq!(g["size"], w["size"]);
            assert_eq!(g["crc32"], w["crc32"]);
            assert_eq!(
                g["timestamp_ms"].as_i64().unwrap(),
                w["timestamp_ns"].as_i64().unwrap().div_euclid(1_000_000)
            );
            // Exactly the contract's fields, in its order.
            let keys: Vec<_> = g.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, ["type", "track", "timestamp_ms", "keyframe", "size", "crc32"]);
        }
    }
}

#[test]
fn truncated_input_prints_what_was_complete_then_fails_with_the_offset() {
    let mkv = testdata().join("cut_stream.mkv");
    let out = run(&["fragments", "--json"], &mkv);
    assert!(!out.status.success());
    let got = lines(&out);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["complete"], false);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.contains("byte offset"), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
}

#[test]
fn garbage_after_a_valid_fragment_is_reported_after_the_fragment() {
    let mut data = std::fs::read(testdata().join("nested_tags.mkv")).unwrap();
    let good = data.len();
    data.extend_from_slice(&[0x00, 0x12, 0x34, 0x56, 0x78, 0x9A]);
    let dir = std::env::temp_dir().join(format!("kvs-mkv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("garbage.mkv");
    std::fs::write(&path, &data).unwrap();
    let out = run(&["fragments", "--json"], &path);
    assert!(!out.status.success());
    let got = lines(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["complete"], true);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("byte offset {good}")), "{stderr}");

    // With --resync the tool skips the garbage and ends cleanly... but still reports it.
    let out = run(&["fragments", "--json", "--resync"], &path);
    assert_eq!(lines(&out).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdin_is_read_with_a_dash() {
    let data = std::fs::read(testdata().join("getmedia_basic.mkv")).unwrap();
    let mut child = bin()
        .args(["fragments", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(lines(&out).len(), 5);
}

#[test]
fn an_empty_input_is_refused_as_not_ebml() {
    // Issue 13: an empty input is not Matroska/EBML (it was once read as an empty stream).
    let out = bin().args(["fragments", "--json", "/dev/null"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not Matroska/EBML"));
}

#[test]
fn a_missing_file_is_a_plain_error() {
    let out = bin().args(["fragments", "/nonexistent/file.mkv"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot open"), "{stderr}");
}

#[test]
fn the_table_is_readable() {
    let out = run(&["fragments"], &testdata().join("error_chunks.mkv"));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("complete"));
    assert!(text.contains("error 4000 (requested fragment not found)"), "{text}");
    let out = run(&["events"], &testdata().join("lacing.mkv"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("frame track 2"), "{text}");
}

#[test]
fn serve_cut_probability_is_parsed_and_checked() {
    let serve = |extra: &[&str]| {
        bin()
            .args(["serve", "--stream", "s=/nonexistent/stream.mkv", "--cut-random", "7"])
            .args(extra)
            .output()
            .unwrap()
    };
    // A valid probability is accepted: the command gets as far as loading the stream.
    for p in ["0", "0.5", "1"] {
        let out = serve(&["--cut-probability", p]);
        assert_eq!(out.status.code(), Some(1), "--cut-probability {p}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("stream s:") && !stderr.contains("probability"), "{p}: {stderr}");
    }
    for p in ["1.5", "-0.1", "NaN", "inf", "half"] {
        let out = serve(&[&format!("--cut-probability={p}")]);
        assert_eq!(out.status.code(), Some(2), "--cut-probability {p}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("expected a probability between 0 and 1"), "{p}: {stderr}");
    }
    // It only means something with --cut-random.
    let out = bin()
        .args(["serve", "--stream", "s=/nonexistent/stream.mkv", "--cut-probability", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--cut-random"));
}
