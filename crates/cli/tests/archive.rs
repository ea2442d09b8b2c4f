//! The archive from the command line, against an in-process kvs-local: `list-fragments` and
//! `get-media-for-fragment-list` compared with the real AWS CLI (`aws
//! kinesis-video-archived-media ...`, through kvs-testkit: a visible skip without it, a
//! failure under CI=true), and `archive` (raw payload, one file per fragment, merged, JSON
//! lines, resumed, through cuts) compared with what `get-media-for-fragment-list` fetches.
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
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::bin;
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{Faults, LoadOptions, LocalKvs, Source};
use serde_json::Value;

/// What a test's server serves, and the fragments of each stream as it reports them
/// (number, server ms, producer ms).
struct Served {
    url: String,
    basic: Vec<(String, i64, i64)>,
    many: Vec<(String, i64, i64)>,
    /// The ARN of `many`.
    many_arn: String,
}

/// 30 fragments of 4 frames, 40 ms apart: 160 ms each.
fn many_spec() -> SyntheticSpec {
    SyntheticSpec { clusters: 30, frames_per_cluster: 4, frame_size: 64, ..SyntheticSpec::default() }
}

/// A server on its own thread (it stops when the test process ends): stream `basic` (the
/// GetMedia fixture: five H.264 fragments) and `many` (30 synthetic fragments).
fn serve(faults: Faults, shuffle: Option<u64>) -> Served {
    serve_with(faults, shuffle, false)
}

/// [`serve`], in live mode when `live` (fragments arrive paced by their timestamps, which
/// are shifted to the wall clock).
fn serve_with(faults: Faults, shuffle: Option<u64>, live: bool) -> Served {
    serve_missing(faults, shuffle, live, Vec::new())
}

/// [`serve_with`], GetMediaForFragmentList answering the fragments of these indexes (in
/// every stream) with an exception chunk while ListFragments still lists them.
fn serve_missing(faults: Faults, shuffle: Option<u64>, live: bool, missing: Vec<usize>) -> Served {
    let basic = Source::file(common::testdata().join("getmedia_basic.mkv")).unwrap();
    let many = Source::from_bytes(many_spec().plain_mkv().unwrap(), &LoadOptions::default()).unwrap();
    let h264 = Source::file(common::testdata().join("images/h264.mkv")).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut builder = LocalKvs::builder()
                .stream("basic", basic)
                .stream("many", many)
                .stream("h264", h264)
                .faults(faults)
                .chunk_size(700)
                .live(live)
                .missing_media(missing);
            if let Some(seed) = shuffle {
                builder = builder.shuffle_list_fragments(seed);
            }
            let server = builder.bind("127.0.0.1:0").await.unwrap();
            let list = |name: &str| {
                server
                    .fragments(name)
                    .unwrap()
                    .iter()
                    .map(|f| (f.fragment_number.to_string(), f.server_timestamp_ms, f.producer_timestamp_ms))
                    .collect::<Vec<_>>()
            };
            let many_arn = server.stream_arn("many").unwrap().to_owned();
            tx.send(Served {
                url: server.url().to_owned(),
                basic: list("basic"),
                many: list("many"),
                many_arn,
            })
            .unwrap();
            let _ = server.wait().await;
        });
    });
    rx.recv().unwrap()
}

/// Runs `cmd` with local credentials and no AWS config files, killed after 120 s.
fn run(mut cmd: Command) -> Output {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Read the pipes on threads so that a large output cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).unwrap();
        v
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn kvs(url: &str, command: &str, args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg(command).args(["--endpoint-url", url]).args(args);
    run(cmd)
}

/// `kvs-mkv ARGS` (a command that reads files).
fn local(args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    run(cmd)
}

fn aws(aws: &Path, url: &str, command: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(aws);
    cmd.args(["kinesis-video-archived-media", command, "--endpoint-url", url]).args(args);
    run(cmd)
}

fn ok(out: &Output) -> &Output {
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&ok(out).stdout).unwrap()
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-cli-archive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn selector(kind: &str, start: &str, end: &str) -> String {
    format!("FragmentSelectorType={kind},TimestampRange={{StartTimestamp={start},EndTimestamp={end}}}")
}

/// The whole stream on either clock.
fn everything(kind: &str) -> String {
    selector(kind, "0", "4000000000")
}

/// `(number, server ms, producer ms)` of each listed fragment, in the order listed.
fn listed(v: &Value) -> Vec<(String, i64, i64)> {
    let ms = |t: &Value| (t.as_f64().unwrap() * 1000.0).round() as i64;
    v["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["FragmentNumber"].as_str().unwrap().to_owned(),
                ms(&f["ServerTimestamp"]),
                ms(&f["ProducerTimestamp"]),
            )
        })
        .collect()
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Without the AWS CLI: every fragment with the server's exact milliseconds (the service's
/// epoch seconds pass through an f64: 1700000000.126 must not become ...125), pages of 1,
/// the service's (shuffled) order kept, and --sorted sorting by the selector's clock.
#[test]
fn list_fragments_lists_every_fragment_with_exact_timestamps() {
    let served = serve(Faults::default(), Some(5));
    let all = json(&kvs(
        &served.url,
        "list-fragments",
        &["--stream-name", "basic", "--fragment-selector", &everything("SERVER_TIMESTAMP")],
    ));
    let got = listed(&all);
    assert_eq!(sorted(&got), sorted(&served.basic));
    assert_ne!(got, served.basic, "seed 5 shuffles five fragments");
    let f = &all["Fragments"][0];
    assert!(f["FragmentSizeInBytes"].as_u64().unwrap() > 1000);
    assert!(f["FragmentLengthInMilliseconds"].as_u64().is_some());
    // Pages of one fragment, in the same order; --sorted on the producer clock.
    let paged = json(&kvs(
        &served.url,
        "list-fragments",
        &[
            "--stream-name",
            "many",
            "--fragment-selector",
            &everything("PRODUCER_TIMESTAMP"),
            "--page-size",
            "1",
        ],
    ));
    assert_eq!(sorted(&listed(&paged)), sorted(&served.many));
    let by_clock = json(&kvs(
        &served.url,
        "list-fragments",
        &[
            "--stream-name",
            "many",
            "--fragment-selector",
            &everything("PRODUCER_TIMESTAMP"),
            "--page-size",
            "7",
            "--sorted",
        ],
    ));
    assert_eq!(listed(&by_clock), served.many, "the stream's order is its producer-time order");
    // By ARN.
    let by_arn = json(&kvs(
        &served.url,
        "list-fragments",
        &[
            "--stream-arn",
            &served.many_arn,
            "--fragment-selector",
            &everything("PRODUCER_TIMESTAMP"),
            "--sorted",
        ],
    ));
    assert_eq!(listed(&by_arn), served.many);
    // A range: both ends included, on the selector's clock; the JSON form of the selector.
    let (start, end) = (served.many[3].2, served.many[9].2);
    let range = format!(
        r#"{{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{{"StartTimestamp":{},"EndTimestamp":"{}"}}}}"#,
        start as f64 / 1000.0,
        end as f64 / 1000.0
    );
    let some = json(&kvs(
        &served.url,
        "list-fragments",
        &["--stream-name", "many", "--fragment-selector", &range, "--sorted"],
    ));
    assert_eq!(listed(&some), served.many[3..=9]);
    // Bad arguments: status 2 and one line.
    for bad in [
        vec!["--stream-name", "many"],
        vec!["--stream-name", "many", "--fragment-selector", "FragmentSelectorType=SERVER_TIMESTAMP"],
        vec![
            "--stream-name",
            "many",
            "--fragment-selector",
            "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=5,EndTimestamp=4}",
        ],
        vec!["--stream-name", "many", "--fragment-selector", "x", "--max-results", "1001"],
    ] {
        let out = kvs(&served.url, "list-fragments", &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    let out = kvs(
        &served.url,
        "list-fragments",
        &["--stream-name", "nope", "--fragment-selector", &everything("SERVER_TIMESTAMP")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ResourceNotFound"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// The real AWS CLI and `kvs-mkv list-fragments` against the same server, a shuffled
/// listing: the same output byte for byte, and field by field, for every pagination flag.
#[test]
fn list_fragments_prints_what_the_aws_cli_prints() {
    let Some(aws_cli) = kvs_testkit::aws_cli() else { return };
    let served = serve(Faults::default(), Some(3));
    // Whole seconds: the AWS CLI (v1) sends a timestamp's whole seconds only (botocore drops
    // the fraction), kvs-mkv sends its milliseconds.
    let range = selector("SERVER_TIMESTAMP", "1700000001", "2023-11-14T22:13:23Z");
    let mut compared = 0;
    for stream in ["basic", "many"] {
        for sel in [everything("SERVER_TIMESTAMP"), everything("PRODUCER_TIMESTAMP"), range.clone()] {
            for extra in [
                &[][..],
                &["--page-size", "1"],
                &["--page-size", "4"],
                &["--max-items", "3", "--page-size", "2"],
                &["--max-items", "4", "--page-size", "2"],
                &["--max-results", "2"],
                &["--no-paginate"],
            ] {
                let mut args = vec!["--stream-name", stream, "--fragment-selector", sel.as_str()];
                args.extend(extra);
                let theirs = aws(&aws_cli, &served.url, "list-fragments", &args);
                let ours = kvs(&served.url, "list-fragments", &args);
                let (a, b) = (json(&theirs), json(&ours));
                assert_eq!(a, b, "{stream} {args:?}");
                // Field by field, with the numbers as the JSON holds them.
                let (fa, fb) = (a["Fragments"].as_array().unwrap(), b["Fragments"].as_array().unwrap());
                assert_eq!(fa.len(), fb.len());
                for (x, y) in fa.iter().zip(fb) {
                    for key in [
                        "FragmentNumber",
                        "FragmentSizeInBytes",
                        "ProducerTimestamp",
                        "ServerTimestamp",
                        "FragmentLengthInMilliseconds",
                    ] {
                        assert_eq!(x[key], y[key], "{stream} {args:?} {key}");
                    }
                }
                assert_eq!(a.get("NextToken"), b.get("NextToken"), "{stream} {args:?}");
                assert!(
                    theirs.stdout == ours.stdout,
                    "{stream} {args:?}: not byte for byte:\n{}\n{}",
                    String::from_utf8_lossy(&theirs.stdout),
                    String::from_utf8_lossy(&ours.stdout)
                );
                // --max-items: the rest through --starting-token, with either CLI's token.
                if let Some(token) = a.get("NextToken").and_then(Value::as_str)
                    && extra.contains(&"--max-items")
                {
                    let mut rest = vec!["--stream-name", stream, "--fragment-selector", sel.as_str()];
                    rest.extend(["--starting-token", token, "--page-size", "2"]);
                    let theirs = json(&aws(&aws_cli, &served.url, "list-fragments", &rest));
                    let ours = json(&kvs(&served.url, "list-fragments", &rest));
                    assert_eq!(theirs, ours, "{stream} {rest:?}");
                    let mut both = listed(&a);
                    both.extend(listed(&ours));
                    let whole = json(&kvs(&served.url, "list-fragments", &args[..4]));
                    assert_eq!(both, listed(&whole), "{stream}: --max-items then --starting-token");
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 42);
    // The whole stream, in the AWS CLI's shuffled order, is the served stream.
    let all = json(&aws(
        &aws_cli,
        &served.url,
        "list-fragments",
        &["--stream-name", "many", "--fragment-selector", &everything("SERVER_TIMESTAMP")],
    ));
    assert_eq!(sorted(&listed(&all)), sorted(&served.many));
}

/// `get-media-for-fragment-list` saves the same payload as the AWS CLI's outfile, prints
/// the same response; a number that does not exist is an exception chunk in its place that
/// `kvs-mkv fragments` shows, with status 1.
#[test]
fn get_media_for_fragment_list_saves_what_the_aws_cli_saves() {
    let served = serve(Faults::default(), None);
    let numbers: Vec<&str> = [4, 1, 2].iter().map(|&i| served.basic[i].0.as_str()).collect();
    let ours_file = temp("gmffl-ours.mkv");
    let mut args = vec!["--stream-name", "basic", ours_file.to_str().unwrap(), "--fragments"];
    args.extend(&numbers);
    let ours = kvs(&served.url, "get-media-for-fragment-list", &args);
    ok(&ours);
    let saved = std::fs::read(&ours_file).unwrap();
    // The saved payload holds the three fragments in the order named.
    let back = json_lines(&ok(&local(&["fragments", "--json", ours_file.to_str().unwrap()])).stdout);
    let got: Vec<&str> = back.iter().map(|f| f["fragment_number"].as_str().unwrap()).collect();
    assert_eq!(got, numbers);
    if let Some(aws_cli) = kvs_testkit::aws_cli() {
        let theirs_file = temp("gmffl-theirs.mkv");
        let mut args = vec!["--stream-name", "basic", theirs_file.to_str().unwrap(), "--fragments"];
        args.extend(&numbers);
        let theirs = aws(&aws_cli, &served.url, "get-media-for-fragment-list", &args);
        ok(&theirs);
        assert!(std::fs::read(&theirs_file).unwrap() == saved, "the payloads differ");
        assert_eq!(theirs.stdout, ours.stdout, "the response JSON differs");
    }
    assert_eq!(String::from_utf8_lossy(&ours.stdout), "{\n    \"ContentType\": \"video/webm\"\n}\n");

    // A missing fragment: an exception chunk in its place, reported, status 1.
    let missing_file = temp("gmffl-missing.mkv");
    let out = kvs(
        &served.url,
        "get-media-for-fragment-list",
        &[
            "--stream-name",
            "basic",
            "--json",
            "--fragments",
            numbers[0],
            "123",
            numbers[1],
            "--",
            missing_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fragment 123: the service sent an exception chunk, error 4000"),
        "{}",
        stderr(&out)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 3);
    let back = json_lines(&local(&["fragments", "--json", missing_file.to_str().unwrap()]).stdout);
    assert_eq!(back, lines, "--json lists the outfile as `fragments --json` reads it");
    assert_eq!(back[1]["fragment_number"], "123");
    assert_eq!(back[1]["error"]["id"], 4000);
    assert_eq!(back[2]["fragment_number"], numbers[1]);
}

/// `--start-timestamp`/`--end-timestamp` of the producer times of `many[first]` and
/// `many[last]` (both ends included), as epoch seconds.
fn many_range(served: &Served, first: usize, last: usize) -> Vec<String> {
    let t = |i: usize| format!("{:.3}", served.many[i].2 as f64 / 1000.0);
    vec![
        "--stream-name".into(),
        "many".into(),
        "--start-timestamp".into(),
        t(first),
        "--end-timestamp".into(),
        t(last),
    ]
}

fn archive(url: &str, range: &[String], args: &[&str]) -> Output {
    let mut all: Vec<&str> = range.iter().map(String::as_str).collect();
    all.extend(args);
    kvs(url, "archive", &all)
}

/// Fragments `first..=last` of `many` as one GetMediaForFragmentList call saves them.
fn fetched(served: &Served, first: usize, last: usize) -> Vec<u8> {
    // A name of its own: tests run at once, each with its own server.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let file = temp(&format!("fetched-{n}-{first}-{last}.mkv"));
    let mut args = vec!["--stream-name", "many", file.to_str().unwrap(), "--fragments"];
    args.extend(served.many[first..=last].iter().map(|f| f.0.as_str()));
    ok(&kvs(&served.url, "get-media-for-fragment-list", &args));
    std::fs::read(&file).unwrap()
}

/// A range through `archive OUTFILE` (small batches, three calls in flight, a shuffled
/// listing) is byte for byte the same fragments fetched by `get-media-for-fragment-list`,
/// and its `--json` lines are what `fragments --json` reads from that file.
#[test]
fn archive_saves_the_range_once_in_order_as_fetched() {
    let served = serve(Faults::default(), Some(9));
    let want = fetched(&served, 3, 25);
    let range = many_range(&served, 3, 25);
    let file = temp("range.mkv");
    let out = archive(
        &served.url,
        &range,
        &["--batch-fragments", "4", "--max-in-flight", "3", "--json", file.to_str().unwrap()],
    );
    ok(&out);
    assert!(std::fs::read(&file).unwrap() == want, "the payload differs from the fetched fragments");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 23);
    let back = json_lines(&ok(&local(&["fragments", "--json", file.to_str().unwrap()])).stdout);
    assert_eq!(lines, back, "--json is the contract of `fragments --json` over the outfile");
    let numbers: Vec<&str> = lines.iter().map(|l| l["fragment_number"].as_str().unwrap()).collect();
    let served_numbers: Vec<&str> = served.many[3..=25].iter().map(|f| f.0.as_str()).collect();
    assert_eq!(numbers, served_numbers);
    // `-`: the payload on standard output, the JSON lines on standard error.
    let out = archive(&served.url, &range, &["--json", "-"]);
    assert!(ok(&out).stdout == want);
    assert_eq!(stderr(&out).lines().filter(|l| l.starts_with('{')).count(), 23);
    // The server clock selects too.
    let t = |i: usize| format!("{:.3}", served.many[i].1 as f64 / 1000.0);
    let out = kvs(
        &served.url,
        "archive",
        &[
            "--stream-name",
            "many",
            "--fragment-selector-type",
            "SERVER_TIMESTAMP",
            "--start-timestamp",
            &t(0),
            "--end-timestamp",
            &t(29),
            "--json",
        ],
    );
    assert_eq!(json_lines(&ok(&out).stdout).len(), 30);
}

/// Through `serve --cut-random` (half the calls cut at a random byte) every fragment of the
/// range still arrives once: the same file as without faults.
#[test]
fn archive_through_random_cuts_delivers_every_fragment_once() {
    let clean = serve(Faults::default(), None);
    let want = fetched(&clean, 0, 29);
    let mut retried = 0;
    for seed in 1..=3 {
        let served =
            serve(Faults { cut_random: Some(seed), cut_probability: 0.5, ..Faults::default() }, Some(seed));
        let file = temp(&format!("cut-{seed}.mkv"));
        let out = archive(
            &served.url,
            &many_range(&served, 0, 29),
            &["--batch-fragments", "6", "--max-retries", "0", file.to_str().unwrap()],
        );
        ok(&out);
        assert!(std::fs::read(&file).unwrap() == want, "seed {seed}: the payload differs");
        retried += stderr(&out).lines().filter(|l| l.contains("retrying")).count();
    }
    assert!(retried > 0, "no call was cut");
}

/// `--output-dir`: one playable file per fragment; `--merge`: one file that FFmpeg reads
/// with every frame of the range.
#[test]
fn archive_splits_and_merges() {
    let served = serve(Faults::default(), None);
    let range = basic_range();
    let dir = temp("split");
    let out = archive(&served.url, &range, &["--output-dir", dir.to_str().unwrap()]);
    ok(&out);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 5);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    for (f, s) in files.iter().zip(&served.basic) {
        assert!(f.file_name().unwrap().to_str().unwrap().starts_with(&s.0), "{f:?}");
        let back = json_lines(&ok(&local(&["fragments", "--json", f.to_str().unwrap()])).stdout);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0]["fragment_number"], s.0.as_str());
        assert_eq!(back[0]["frames"]["1"], 30);
    }
    let merged = temp("merged.mkv");
    let out = archive(&served.url, &range, &["--merge", merged.to_str().unwrap()]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("{}\t150 frames", merged.display())));
    if let Some((_, ffprobe)) = kvs_testkit::ffmpeg() {
        let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &merged);
        assert_eq!(packets.len(), 150);
        assert_eq!(packets.iter().filter(|p| p.key).count(), 5);
        assert!(packets.windows(2).all(|w| w[0].pts_ms < w[1].pts_ms), "one continuous timeline");
    }
}

/// `--resume`: a run stopped after 7 fragments, with a partly written fragment after them
/// (as a killed run leaves it), then run again, gives the file of one uninterrupted run;
/// a third run adds nothing; a state file of another range is refused.
#[test]
fn archive_resumes_after_a_stop() {
    let served = serve(Faults::default(), Some(4));
    let range = many_range(&served, 2, 27);
    let whole = temp("resume-whole.mkv");
    ok(&archive(&served.url, &range, &["--batch-fragments", "3", whole.to_str().unwrap()]));
    let whole = std::fs::read(&whole).unwrap();
    let file = temp("resume.mkv");
    let state = temp("resume.state");
    let _ = std::fs::remove_file(&state);
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        v.extend([
            "--batch-fragments".to_owned(),
            "3".to_owned(),
            "--json".to_owned(),
            "--resume".to_owned(),
            state.to_str().unwrap().to_owned(),
            file.to_str().unwrap().to_owned(),
        ]);
        v
    };
    let strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
    let first_args = strs(&args(&["--max-fragments", "7"]));
    let first = archive(&served.url, &range, &first_args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&first);
    let first_lines = json_lines(&first.stdout);
    assert_eq!(first_lines.len(), 7);
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["position"]["last"]["fragment_number"], served.many[8].0.as_str());
    assert_eq!(saved["bytes"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());
    // What a run killed inside the next fragment leaves behind.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(&whole[..100]).unwrap();
    }
    let rest_args = strs(&args(&[]));
    let rest = archive(&served.url, &range, &rest_args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&rest);
    assert!(std::fs::read(&file).unwrap() == whole, "the resumed file differs from one run's");
    // The JSON lines go on numbering as in the one file.
    let mut lines = first_lines;
    lines.extend(json_lines(&rest.stdout));
    let back = json_lines(&ok(&local(&["fragments", "--json", file.to_str().unwrap()])).stdout);
    assert_eq!(lines, back);
    // Nothing left: the file stays as it is.
    ok(&archive(&served.url, &range, &rest_args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(std::fs::read(&file).unwrap() == whole);
    // Another range with this state file: refused, the file untouched.
    let other = many_range(&served, 1, 27);
    let out = archive(&served.url, &other, &rest_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not this stream and range"), "{}", stderr(&out));
    assert!(std::fs::read(&file).unwrap() == whole);
}

/// Killed part-way (SIGKILL, no chance to clean up) and run again with the same state
/// file: the same file as one uninterrupted run.
#[test]
fn archive_resumes_after_being_killed() {
    let served = serve(Faults::default(), None);
    let range = many_range(&served, 0, 29);
    let whole = temp("killed-whole.mkv");
    ok(&archive(&served.url, &range, &["--batch-fragments", "1", whole.to_str().unwrap()]));
    let whole = std::fs::read(&whole).unwrap();
    let file = temp("killed.mkv");
    let state = temp("killed.state");
    let _ = std::fs::remove_file(&state);
    let mut args: Vec<&str> = range.iter().map(String::as_str).collect();
    // One fragment per call, 5 calls a second: about 6 s for the whole range.
    args.extend([
        "--batch-fragments",
        "1",
        "--max-in-flight",
        "1",
        "--resume",
        state.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let mut child = bin()
        .arg("archive")
        .args(["--endpoint-url", &served.url])
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has saved a position (or let it end, if it is quicker than this).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.exists() && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let after_kill = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    ok(&kvs(&served.url, "archive", &args));
    assert!(
        std::fs::read(&file).unwrap() == whole,
        "the resumed file differs (killed at {after_kill} bytes)"
    );
}

/// `--follow`: a range that ends in the future is read from the archive, then live, up to
/// the last fragment at or before its end: each fragment once, none missing.
#[test]
fn archive_follows_the_live_stream_to_the_end_of_the_range() {
    let served = serve_with(Faults::default(), None, true);
    let t = |i: usize| format!("{:.3}", served.basic[i].1 as f64 / 1000.0);
    let out = kvs(
        &served.url,
        "archive",
        &[
            "--stream-name",
            "basic",
            "--fragment-selector-type",
            "SERVER_TIMESTAMP",
            "--start-timestamp",
            &t(0),
            "--end-timestamp",
            &t(2),
            "--follow",
            "--json",
        ],
    );
    let lines = json_lines(&ok(&out).stdout);
    let numbers: Vec<&str> = lines.iter().map(|l| l["fragment_number"].as_str().unwrap()).collect();
    let want: Vec<&str> = served.basic[..=2].iter().map(|f| f.0.as_str()).collect();
    assert_eq!(numbers, want, "{}", stderr(&out));
}

/// The range of `basic` that holds all its fragments, as `--start-timestamp`/`--end-timestamp`.
fn basic_range() -> Vec<String> {
    [
        "--stream-name",
        "basic",
        "--start-timestamp",
        "2023-11-14T22:13:00Z",
        "--end-timestamp",
        "2023-11-14T22:14:00Z",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// `inspect --stream-name ... --start-timestamp ... --end-timestamp ...` reads the archived
/// range: the same report as `inspect` of the range saved by `archive`.
#[test]
fn inspect_reads_an_archived_range() {
    let served = serve(Faults::default(), Some(2));
    let range = many_range(&served, 4, 21);
    let file = temp("inspect.mkv");
    ok(&archive(&served.url, &range, &[file.to_str().unwrap()]));
    let mut args: Vec<&str> = range.iter().map(String::as_str).collect();
    args.extend(["--color", "never"]);
    let streamed = String::from_utf8(ok(&kvs(&served.url, "inspect", &args)).stdout.clone()).unwrap();
    let saved = String::from_utf8(
        ok(&local(&["inspect", "--color", "never", file.to_str().unwrap()])).stdout.clone(),
    )
    .unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(streamed.replace("many:", "NAME:"), saved.replace(&format!("{name}:"), "NAME:"));
    assert!(streamed.contains("many: 18 fragments"), "{streamed}");
}

/// `split --stream-name ...`: the files `split` makes of the range saved by `archive`.
#[test]
fn split_reads_an_archived_range() {
    let served = serve(Faults::default(), None);
    let file = temp("split-range.mkv");
    ok(&archive(&served.url, &basic_range(), &[file.to_str().unwrap()]));
    let from_file = temp("split-from-file");
    ok(&local(&["split", file.to_str().unwrap(), "-o", from_file.to_str().unwrap()]));
    let from_stream = temp("split-from-stream");
    let mut args: Vec<String> = basic_range();
    args.extend(["-o".to_owned(), from_stream.to_str().unwrap().to_owned()]);
    let out = kvs(&served.url, "split", &args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&out);
    let list = |dir: &Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    };
    let (a, b) = (list(&from_file), list(&from_stream));
    assert_eq!(a.len(), 5);
    assert_eq!(
        a.iter().map(|p| p.file_name().unwrap()).collect::<Vec<_>>(),
        b.iter().map(|p| p.file_name().unwrap()).collect::<Vec<_>>()
    );
    for (x, y) in a.iter().zip(&b) {
        assert!(std::fs::read(x).unwrap() == std::fs::read(y).unwrap(), "{y:?} differs");
    }
}

/// `images --stream-name ... --from-archive`: the images computed from the archived range
/// are those computed from the file the stream serves.
#[test]
fn images_from_the_archive_are_those_of_the_file() {
    let served = serve(Faults::default(), Some(6));
    let request = [
        "--image-selector-type",
        "PRODUCER_TIMESTAMP",
        "--start-timestamp",
        "2023-11-14T22:13:20.250Z",
        "--end-timestamp",
        "1700000003.5",
        "--sampling-interval",
        "500",
        "--format",
        "PNG",
        "--height-pixels",
        "60",
    ];
    let h264 = common::testdata().join("images/h264.mkv");
    let mut args = vec![h264.to_str().unwrap()];
    args.extend(request);
    let want = json(&local(&[&["images"][..], &args].concat()));
    let mut args = vec!["--stream-name", "h264", "--from-archive"];
    args.extend(request);
    let got = json(&kvs(&served.url, "images", &args));
    let images = want["Images"].as_array().unwrap();
    assert_eq!(images.len(), 7);
    assert!(images.iter().filter(|i| i.get("ImageContent").is_some()).count() >= 6, "{want}");
    assert_eq!(got, want);
}

/// Listed fragments whose media the archive has lost (exception chunks in their place):
/// each reported on stderr, a JSON line with its error, the others all saved, status 1.
#[test]
fn archive_reports_missing_fragments_and_goes_on() {
    let served = serve_missing(Faults::default(), None, false, vec![5, 11]);
    let file = temp("missing.mkv");
    let out = archive(
        &served.url,
        &many_range(&served, 0, 29),
        &["--batch-fragments", "4", "--json", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains("exception chunk, error 4000")).collect();
    assert_eq!(skipped.len(), 2, "{err}");
    assert!(skipped[0].contains(&served.many[5].0) && skipped[1].contains(&served.many[11].0), "{err}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 30);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["fragment_number"], served.many[i].0.as_str());
        assert_eq!(l["error"].is_null(), i != 5 && i != 11, "line {i}");
    }
    // The file holds the 28 others, as fetched.
    let mut want = Vec::new();
    for (first, last) in [(0, 4), (6, 10), (12, 29)] {
        want.extend(fetched(&served, first, last));
    }
    assert!(std::fs::read(&file).unwrap() == want);
}
