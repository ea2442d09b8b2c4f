//! `kvs-mkv serve --live --stream 'cam-{1..1000}=PATH'`: a thousand streams over one loaded
//! file, listed by ListStreams (every name once, sorted), and a GetMedia connection open on
//! every one of them at once, each reading its first fragment. Also the range syntax's
//! errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bin, testdata};
use kvs_chunk::{Event, EventDecoder};
use kvs_sdk::{KvsClient, StartSelector, StreamId};

const STREAMS: usize = 1000;

/// A `kvs-mkv serve` child on a free port, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn start(args: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = bin()
        .args(["serve", "--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "kvs-mkv serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port }
}

fn client(port: u16) -> KvsClient {
    KvsClient::builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .build()
        .unwrap()
}

/// Reads `stream`'s GetMedia body (EARLIEST) until its first fragment ends; the body is
/// returned still open.
async fn first_fragment(client: &KvsClient, stream: &str) -> (String, kvs_sdk::MediaPayload) {
    let mut payload = client.get_media(&StreamId::name(stream), &StartSelector::Earliest).await.unwrap();
    let mut decoder = EventDecoder::new();
    let mut number = None;
    loop {
        while let Some(event) = decoder.next_event().unwrap() {
            match event {
                Event::FragmentMetadata(m) => number = m.fragment_number.map(|n| n.as_str().to_owned()),
                Event::FragmentEnd(_) => return (number.expect("fragment metadata"), payload),
                _ => {}
            }
        }
        let chunk = payload.next_chunk().await.unwrap().expect("the body ended before a fragment");
        decoder.feed(chunk);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_streams_listed_and_read_at_once() {
    // The client side holds a thousand sockets too.
    rlimit::increase_nofile_limit(4096).unwrap();
    let clip = testdata().join("getmedia_basic.mkv");
    let spec = format!("cam-{{1..{STREAMS}}}={}", clip.display());
    let server = start(&["--live", "--stream", &spec]);
    let client = client(server.port);

    let names = client.list_streams(None).await.unwrap();
    let mut expected: Vec<String> = (1..=STREAMS).map(|i| format!("cam-{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(client.list_streams(Some("cam-99")).await.unwrap().len(), 11);

    // Every stream's body is held open until all of them have their first fragment: with
    // fewer connections allowed than streams, the last ones would wait forever.
    let started = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(STREAMS));
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let (client, name, barrier) = (client.clone(), name.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let (number, payload) = first_fragment(&client, &name).await;
                barrier.wait().await;
                drop(payload);
                number
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(60), futures_util::future::join_all(tasks))
        .await
        .expect("not every stream delivered its first fragment while all were open");
    let numbers: Vec<String> = all.into_iter().map(Result::unwrap).collect();
    // One backing file: the same first fragment on every stream.
    assert!(numbers.iter().all(|n| *n == numbers[0]), "{:?}", &numbers[..3]);
    eprintln!(
        "{STREAMS} GetMedia connections open at once, each with its first fragment, in {:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_ranges_are_refused() {
    for (spec, says) in [
        ("cam-{1..}=x.mkv", "not a non-negative integer"),
        ("cam-{5..2}=x.mkv", "5 is above 2"),
        ("cam-{1-5}=x.mkv", "no '..'"),
        ("cam-{1..5=x.mkv", "without '}'"),
        ("cam-1..5}=x.mkv", "without '{'"),
        ("cam-{1..2}-{3..4}=x.mkv", "only one range"),
        ("cam-{0..100000}=x.mkv", "100001 names, at most 100000"),
        ("cam-{a..b}=x.mkv", "not a non-negative integer"),
    ] {
        let out = bin().args(["serve", "--stream", spec]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{spec}: {stderr}");
        assert!(stderr.contains("e.g. cam-{1..1000}"), "{spec}: {stderr}");
    }
}

#[test]
fn ranges_expand_with_padding() {
    let dir = std::env::temp_dir().join(format!("kvs-serve-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = testdata().join("getmedia_basic.mkv");
    let server = start(&[
        "--stream",
        &format!("cam-{{0008..0011}}-hd={}", clip.display()),
        "--stream",
        &format!("lobby={}", clip.display()),
        "--stream",
        &format!("n{{9..10}}={}", clip.display()),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let names = rt.block_on(client(server.port).list_streams(None)).unwrap();
    assert_eq!(names, ["cam-0008-hd", "cam-0009-hd", "cam-0010-hd", "cam-0011-hd", "lobby", "n10", "n9"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// `cmd` with local credentials and no AWS config files.
fn with_local_credentials(mut cmd: std::process::Command) -> std::process::Output {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `kvs-mkv list-streams` prints the AWS CLI's JSON, follows pages, and resumes from its
/// --max-items token; where the AWS CLI is installed, its output is the same, byte for byte.
#[test]
fn list_streams_command_prints_the_aws_clis_json() {
    let clip = testdata().join("getmedia_basic.mkv");
    let server = start(&["--stream", &format!("cam-{{1..12}}={}", clip.display())]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let kvs = |args: &[&str]| {
        let mut cmd = bin();
        cmd.args(["list-streams", "--endpoint-url", &url]).args(args);
        let out = with_local_credentials(cmd);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let names = |bytes: &[u8]| -> (Vec<String>, Option<String>) {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let names = v["StreamInfoList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["StreamName"].as_str().unwrap().to_owned())
            .collect();
        (names, v.get("NextToken").and_then(|t| t.as_str()).map(str::to_owned))
    };
    let mut all: Vec<String> = (1..=12).map(|i| format!("cam-{i}")).collect();
    all.sort();
    let full = kvs(&["--page-size", "5"]);
    assert_eq!(names(&full), (all.clone(), None));
    let cam1 = kvs(&["--stream-name-condition", "ComparisonOperator=BEGINS_WITH,ComparisonValue=cam-1"]);
    assert_eq!(names(&cam1).0, ["cam-1", "cam-10", "cam-11", "cam-12"]);
    // --max-items and --starting-token.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut args = vec!["--max-items", "5", "--page-size", "3"];
        if let Some(t) = &token {
            args.extend(["--starting-token", t.as_str()]);
        }
        let (page, next) = names(&kvs(&args));
        seen.extend(page);
        token = next;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, all);

    let Some(aws) = kvs_testkit::aws_cli() else { return };
    for args in [
        &["--page-size", "5"][..],
        &["--stream-name-condition", "ComparisonOperator=BEGINS_WITH,ComparisonValue=cam-1"],
    ] {
        let mut cmd = std::process::Command::new(&aws);
        cmd.args(["kinesisvideo", "list-streams", "--output", "json", "--endpoint-url", &url]).args(args);
        let out = with_local_credentials(cmd);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ours = kvs(args);
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&out.stdout), "{args:?}");
    }
}
