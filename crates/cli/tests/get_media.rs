//! `kvs-mkv get-media` against an in-process kvs-local: the same JSON contract as
//! `fragments --json` on the backing file, through cuts, by name and ARN, and an in-stream
//! error ending the command.
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

use kvs_local::{ErrorAfterFragment, Faults, LocalKvs, Source};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    common::testdata().join(name)
}

/// A server on its own thread; returns its URL and the ARN of stream `cam`. It stops when
/// the test process ends.
fn serve(file: &str, faults: Faults) -> (String, String) {
    let source = Source::file(testdata(file)).unwrap();
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
