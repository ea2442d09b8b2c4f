//! `kvs-mkv get-media` in the AWS CLI's shape, against an in-process kvs-local: the
//! `--start-selector` shorthand and JSON forms, the positional outfile (the raw MKV of every
//! complete fragment, byte for byte, each once, through random cuts; `-` for standard
//! output), `--max-fragments`, `--end-timestamp`, and the give-up rule (`--max-retries`).
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

use bytes::{Bytes, BytesMut};
use common::bin;
use kvs_chunk::Event;
use kvs_local::{Faults, LocalKvs, Source};
use kvs_sdk::{KvsClient, StartSelector, StreamId};
use serde_json::Value;

const FILE: &str = "getmedia_basic.mkv";

/// A server on its own thread over a fixture as stream `cam`; returns its URL. It stops
/// when the test process ends.
fn serve(faults: Faults) -> String {
    let source = Source::file(common::testdata().join(FILE)).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let server = LocalKvs::builder()
                .stream("cam", source)
                .faults(faults)
                .chunk_size(512)
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            tx.send(server.url().to_owned()).unwrap();
            let _ = server.wait().await;
        });
    });
    rx.recv().unwrap()
}

/// The stream as one clean GetMedia EARLIEST response sends it (read with the SDK's client,
/// not the command), and its documents' end offsets.
fn reference() -> (Bytes, Vec<usize>) {
    let url = serve(Faults::default());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body = rt.block_on(async move {
        let client = KvsClient::builder()
            .endpoint_url(url)
            .region("us-east-1")
            .static_credentials("AKIDLOCAL", "local", None)
            .build()
            .unwrap();
        let mut payload = client.get_media(&StreamId::name("cam"), &StartSelector::Earliest).await.unwrap();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next_chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        body.freeze()
    });
    let ends: Vec<usize> = kvs_chunk::Events::new(body.clone())
        .filter_map(|e| match e.unwrap() {
            Event::DocumentEnd { end, .. } => Some(usize::try_from(end).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 5);
    assert_eq!(*ends.last().unwrap(), body.len());
    (body, ends)
}

fn get_media(url: &str, args: &[&str]) -> Output {
    bin()
        .args(["get-media", "--endpoint-url", url, "--stream-name", "cam"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .unwrap()
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-get-media-shape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Through `serve --cut-random SEED --cut-probability 0.5`, the outfile is the stream's
/// fragments byte for byte, each once, and `--json` still lists them on standard output.
#[test]
fn the_outfile_holds_every_fragment_once_through_random_cuts() {
    let (want, _) = reference();
    let mut resumed = 0;
    for seed in 1..=5 {
        let url = serve(Faults { cut_random: Some(seed), cut_probability: 0.5, ..Faults::default() });
        let file = temp(&format!("cut-{seed}.mkv"));
        let out = get_media(
            &url,
            &["--start-selector", "StartSelectorType=EARLIEST", "--json"]
                .into_iter()
                .chain([file.to_str().unwrap()])
                .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        let got = read(&file);
        assert_eq!(got.len(), want.len(), "seed {seed}");
        assert!(got == want[..], "seed {seed}: the outfile differs from the stream");
        let lines = json_lines(&out.stdout);
        assert_eq!(lines.len(), 5, "seed {seed}");
        assert!(lines.iter().all(|l| l["complete"] == true));
        resumed += usize::from(stderr(&out).contains("reconnecting"));
    }
    assert!(resumed > 0, "no seed cut a response");
}

/// `-` writes the MKV to standard output (what `kvs-mkv fragments -` reads) and the JSON
/// lines to standard error.
#[test]
fn a_dash_outfile_is_standard_output_and_the_listing_moves_to_standard_error() {
    let (want, _) = reference();
    let url = serve(Faults { cut_random: Some(2), cut_probability: 0.5, ..Faults::default() });
    let out = get_media(&url, &["--start-selector", "StartSelectorType=EARLIEST", "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == want[..]);
    let listed: Vec<Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 5);
    // The saved stream reads back as five complete fragments.
    let mut child = bin()
        .args(["fragments", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &out.stdout).unwrap();
    let back = child.wait_with_output().unwrap();
    assert!(back.status.success());
    let back = json_lines(&back.stdout);
    assert_eq!(back.len(), 5);
    for (a, b) in back.iter().zip(&listed) {
        assert_eq!(a["fragment_number"], b["fragment_number"]);
        assert_eq!(a["offset"], b["offset"], "the listing's offsets are the outfile's");
    }
}

/// The last fragment is cut in every response (`--cut-random` without a probability): the
/// command gives up after --max-retries calls in a row without progress, with one line and
/// status 1, and the outfile holds exactly the complete fragments before.
#[test]
fn a_stream_that_never_completes_gives_up_with_one_line() {
    let (want, ends) = reference();
    for (seed, retries) in [(3, None), (11, Some("3"))] {
        let url = serve(Faults { cut_random: Some(seed), ..Faults::default() });
        let file = temp(&format!("give-up-{seed}.mkv"));
        let mut args = vec!["--start-selector-type", "EARLIEST", "--json", file.to_str().unwrap()];
        if let Some(n) = retries {
            args.extend(["--max-retries", n]);
        }
        let out = get_media(&url, &args);
        assert_eq!(out.status.code(), Some(1), "seed {seed}: {}", stderr(&out));
        let err = stderr(&out);
        let gave_up: Vec<&str> = err.lines().filter(|l| l.contains("gave up")).collect();
        assert_eq!(gave_up.len(), 1, "{err}");
        let n = retries.unwrap_or("5");
        assert!(
            gave_up[0].starts_with(&format!("kvs-mkv get-media: gave up after {n} GetMedia calls in a row")),
            "{err}"
        );
        let listed = json_lines(&out.stdout);
        assert!(listed.len() < 5);
        let saved = read(&file);
        let end = if listed.is_empty() { 0 } else { ends[listed.len() - 1] };
        assert!(
            saved == want[..end],
            "seed {seed}: the outfile is not the {} complete fragments",
            listed.len()
        );
        if let Some(last) = listed.last() {
            assert!(gave_up[0].contains(last["fragment_number"].as_str().unwrap()));
        }
    }
}

/// Every selector form of the AWS CLI: shorthand and JSON, timestamps as epoch seconds with
/// a fraction and as ISO 8601 with and without a zone; each starts where the separate flags
/// start. --start-selector and the separate flags exclude each other.
#[test]
fn start_selector_shorthand_and_json() {
    let url = serve(Faults::default());
    let all = json_lines(&get_media(&url, &["--start-selector-type", "EARLIEST", "--json"]).stdout);
    assert_eq!(all.len(), 5);
    let number = |k: usize| all[k]["fragment_number"].as_str().unwrap().to_owned();
    let numbers = |out: &Output| -> Vec<String> {
        assert!(out.status.success(), "{}", stderr(out));
        json_lines(&out.stdout).iter().map(|v| v["fragment_number"].as_str().unwrap().to_owned()).collect()
    };
    let from = |k: usize| (k..5).map(number).collect::<Vec<_>>();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("StartSelectorType=EARLIEST".into(), from(0)),
        ("StartSelectorType=NOW".into(), from(4)),
        (format!("StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber={}", number(1)), from(2)),
        (format!("StartSelectorType=CONTINUATION_TOKEN,ContinuationToken={}", number(0)), from(1)),
        ("StartSelectorType=SERVER_TIMESTAMP,StartTimestamp=1700000002.126".into(), from(2)),
        ("StartSelectorType=SERVER_TIMESTAMP,StartTimestamp=2023-11-14T22:13:22.126Z".into(), from(2)),
        ("StartSelectorType=SERVER_TIMESTAMP,StartTimestamp=2023-11-14T23:13:22.126+01:00".into(), from(2)),
        ("StartSelectorType=PRODUCER_TIMESTAMP,StartTimestamp=2023-11-14T22:13:21.513".into(), from(2)),
        (r#"{"StartSelectorType":"EARLIEST"}"#.into(), from(0)),
        (
            format!(r#"{{"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": "{}"}}"#, number(2)),
            from(3),
        ),
        (r#"{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1700000001.513}"#.into(), from(2)),
        (
            r#"{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":"2023-11-14T22:13:23.126Z"}"#.into(),
            from(3),
        ),
    ];
    for (selector, want) in cases {
        let got = numbers(&get_media(&url, &["--start-selector", &selector, "--json"]));
        assert_eq!(got, want, "{selector}");
    }
    for bad in [
        "StartSelectorType=FRAGMENT_NUMBER",
        "StartSelectorType=SOMETIME",
        "StartSelectorType=SERVER_TIMESTAMP,StartTimestamp=yesterday",
        "Type=NOW",
        r#"{"StartSelectorType": 3}"#,
    ] {
        let out = get_media(&url, &["--start-selector", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert_eq!(stderr(&out).lines().count(), 1, "{bad}: {}", stderr(&out));
    }
    let out =
        get_media(&url, &["--start-selector", "StartSelectorType=NOW", "--start-selector-type", "EARLIEST"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot be used with"));
}

/// --max-fragments N writes and lists N fragments; --end-timestamp stops before the first
/// fragment at or after it, on the server clock, or the producer clock for a
/// PRODUCER_TIMESTAMP selector.
#[test]
fn max_fragments_and_end_timestamp() {
    let (want, ends) = reference();
    let url = serve(Faults { cut_random: Some(5), cut_probability: 0.5, ..Faults::default() });
    let file = temp("max.mkv");
    let f = file.to_str().unwrap();
    let out = get_media(
        &url,
        &["--start-selector", "StartSelectorType=EARLIEST", "--json", "--max-fragments", "2", f],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&out.stdout).len(), 2);
    assert!(read(&file) == want[..ends[1]]);
    let out = get_media(&url, &["--start-selector-type", "EARLIEST", "--json", "--max-fragments", "3"]);
    assert_eq!(json_lines(&out.stdout).len(), 3);

    // Server timestamps 1700000000.126 + k; producer 1699999999.513 + k.
    let out = get_media(
        &url,
        &[
            "--start-selector",
            "StartSelectorType=EARLIEST",
            "--json",
            "--end-timestamp",
            "2023-11-14T22:13:23.126Z",
            f,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = json_lines(&out.stdout);
    assert_eq!(
        listed.iter().map(|v| v["server_timestamp_ms"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1_700_000_000_126, 1_700_000_001_126, 1_700_000_002_126]
    );
    assert!(read(&file) == want[..ends[2]]);
    let out = get_media(
        &url,
        &[
            "--start-selector",
            "StartSelectorType=PRODUCER_TIMESTAMP,StartTimestamp=1700000000.513",
            "--json",
            "--end-timestamp",
            "1700000002.513",
        ],
    );
    let listed = json_lines(&out.stdout);
    assert_eq!(
        listed.iter().map(|v| v["producer_timestamp_ms"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1_700_000_000_513, 1_700_000_001_513]
    );
    let out = get_media(&url, &["--start-selector-type", "EARLIEST", "--end-timestamp", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_describes_the_outfile_the_pipe_the_selectors_and_the_give_up_rule() {
    let out = bin().args(["get-media", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "[OUTFILE]",
        "`-` for standard output",
        "/dev/stdout | kvs-mkv fragments -",
        "StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber=",
        "StartSelectorType=CONTINUATION_TOKEN,ContinuationToken=",
        "ISO 8601",
        "Give-up rule",
        "--max-retries",
        "--max-fragments",
        "--end-timestamp",
        "each once",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

/// The AWS CLI with the payload written to `/dev/stdout` and standard output captured (a
/// pipe): the payload, then the CLI's JSON response.
fn aws_get_media_to_stdout(aws: &Path, url: &str) -> Vec<u8> {
    let out = std::process::Command::new(aws)
        .args(["kinesis-video-media", "get-media", "--endpoint-url", url, "--stream-name", "cam"])
        .args(["--start-selector", "StartSelectorType=EARLIEST", "/dev/stdout"])
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "aws get-media: {}", stderr(&out));
    out.stdout
}

/// Runs `kvs-mkv ARGS` with `stdin` on standard input (`None`: no input).
fn kvs_mkv(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The files of `dir`, by name, with their bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// `aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv <command> -`: the AWS CLI
/// writes the payload and then its JSON response (`{"ContentType": "video/webm"}`) to the
/// same pipe. Every reading command reads the payload whole, ignores the trailer, and says
/// and writes exactly what it says and writes for the payload saved to a file.
#[test]
fn the_aws_cli_piped_into_every_reading_command_reads_the_payload_and_ignores_its_response() {
    let Some(aws) = kvs_testkit::aws_cli() else { return };
    let url = serve(Faults::default());
    let (body, _) = reference();
    let piped = aws_get_media_to_stdout(&aws, &url);
    assert!(piped.starts_with(&body), "the pipe begins with the payload");
    let trailer = String::from_utf8(piped[body.len()..].to_vec()).unwrap();
    assert!(
        trailer.contains("\"ContentType\": \"video/webm\""),
        "the AWS CLI's response follows: {trailer:?}"
    );
    let file = temp("piped-payload.mkv");
    std::fs::write(&file, &body).unwrap();
    let file = file.to_str().unwrap().to_owned();
    // What names the input in a command's text: its path, or its file name.
    let as_stdin = |text: &str| text.replace(&file, "stdin").replace("piped-payload.mkv", "stdin");

    for args in [
        vec!["fragments", "--json"],
        vec!["fragments"],
        vec!["events", "--json"],
        vec!["inspect", "--color", "never"],
        vec!["extract", "-o", "-"],
        vec!["images"]
            .into_iter()
            .chain([
                "--image-selector-type",
                "PRODUCER_TIMESTAMP",
                "--start-timestamp",
                "1511852108.513",
                "--end-timestamp",
                "1511852113.513",
                "--sampling-interval",
                "1000",
                "--format",
                "PNG",
                "--height-pixels",
                "32",
            ])
            .collect(),
    ] {
        let from_file = kvs_mkv(&[&args[..], &[file.as_str()]].concat(), None);
        let from_pipe = kvs_mkv(&[&args[..], &["-"]].concat(), Some(&piped));
        assert_eq!(from_file.status.code(), Some(0), "{args:?} on the file: {}", stderr(&from_file));
        assert_eq!(from_pipe.status.code(), Some(0), "{args:?} on the pipe: {}", stderr(&from_pipe));
        // (The text names its input: the file's path, or stdin.)
        let same = from_pipe.stdout == from_file.stdout
            || String::from_utf8(from_pipe.stdout.clone()).ok()
                == String::from_utf8(from_file.stdout.clone()).ok().map(|t| as_stdin(&t));
        assert!(same, "{args:?}: the pipe and the file read alike");
        assert!(!from_pipe.stdout.is_empty(), "{args:?} printed nothing");
        assert_eq!(stderr(&from_pipe), as_stdin(&stderr(&from_file)), "{args:?}");
    }
    for command in ["split", "merge"] {
        let (a, b) = (temp(&format!("{command}-file")), temp(&format!("{command}-pipe")));
        for d in [&a, &b] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d).unwrap();
        }
        let target = |d: &Path| if command == "split" { d.to_path_buf() } else { d.join("all.mkv") };
        let from_file = kvs_mkv(&[command, &file, "-o", target(&a).to_str().unwrap()], None);
        let from_pipe = kvs_mkv(&[command, "-", "-o", target(&b).to_str().unwrap()], Some(&piped));
        assert_eq!(from_file.status.code(), Some(0), "{command}: {}", stderr(&from_file));
        assert_eq!(from_pipe.status.code(), Some(0), "{command}: {}", stderr(&from_pipe));
        let written = files(&b);
        assert_eq!(written.len(), if command == "split" { 5 } else { 1 }, "{command}");
        assert!(files(&a) == written, "{command}: the same files from the pipe and the file");
    }

    // Through a real shell pipe, as the README shows it.
    let kvs = env!("CARGO_BIN_EXE_kvs-mkv");
    let script = format!(
        "'{}' kinesis-video-media get-media --endpoint-url '{url}' --stream-name cam \
         --start-selector StartSelectorType=EARLIEST /dev/stdout | '{kvs}' fragments --json -",
        aws.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = json_lines(&out.stdout);
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|v| v["complete"] == true), "{listed:?}");
    assert_eq!(stderr(&out), "", "nothing to report");
}
