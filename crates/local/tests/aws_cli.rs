//! The AWS CLI (`aws kinesis-video-media get-media`, `aws kinesisvideo ...`) talks to the
//! server. Skipped, with a message, when `aws` is not on PATH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use common::*;
use kvs_local::{LocalKvs, Source};

async fn have_aws() -> bool {
    match aws(vec!["--version".into()]).await {
        Some(out) if out.status.success() => true,
        _ => {
            eprintln!("skipped: the AWS CLI (`aws`) is not on PATH; `pip install awscli` to run this test");
            false
        }
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_get_media_earliest_writes_the_stream() {
    if !have_aws().await {
        return;
    }
    let server = LocalKvs::builder()
        .stream("plain", sample_source(&sample_spec()))
        .stream("basic", Source::file(testdata("getmedia_basic.mkv")).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = server.url().to_owned();
    let out_file = std::env::temp_dir().join(format!("kvs-local-cli-{}.mkv", std::process::id()));
    let out_path = out_file.to_str().unwrap();

    for (stream, count) in [("plain", 5), ("basic", 5)] {
        let out = aws(strings(&[
            "kinesis-video-media",
            "get-media",
            "--endpoint-url",
            &url,
            "--stream-name",
            stream,
            "--start-selector",
            "StartSelectorType=EARLIEST",
            out_path,
        ]))
        .await
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("video/webm"));
        let payload = bytes::Bytes::from(std::fs::read(&out_file).unwrap());
        let frags = fragments(&payload);
        assert_eq!(frags.len(), count);
        assert!(frags.iter().all(|f| f.is_complete() && f.metadata.is_some()));
    }

    // FRAGMENT_NUMBER through the CLI's shorthand syntax.
    let second = server.fragments("basic").unwrap()[1].fragment_number.clone();
    let out = aws(strings(&[
        "kinesis-video-media",
        "get-media",
        "--endpoint-url",
        &url,
        "--stream-name",
        "basic",
        "--start-selector",
        &format!("StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber={second}"),
        out_path,
    ]))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let payload = bytes::Bytes::from(std::fs::read(&out_file).unwrap());
    assert_eq!(fragments(&payload).len(), 3);

    // Errors as the CLI reports them.
    let out = aws(strings(&[
        "kinesis-video-media",
        "get-media",
        "--endpoint-url",
        &url,
        "--stream-name",
        "nope",
        "--start-selector",
        "StartSelectorType=EARLIEST",
        out_path,
    ]))
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));

    // The control plane.
    let out = aws(strings(&[
        "kinesisvideo",
        "get-data-endpoint",
        "--endpoint-url",
        &url,
        "--stream-name",
        "plain",
        "--api-name",
        "GET_MEDIA",
    ]))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["DataEndpoint"], url.as_str());
    let out =
        aws(strings(&["kinesisvideo", "describe-stream", "--endpoint-url", &url, "--stream-name", "plain"]))
            .await
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["StreamInfo"]["Status"], "ACTIVE");

    std::fs::remove_file(&out_file).ok();
    server.shutdown().await;
}
