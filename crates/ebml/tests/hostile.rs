//! The hostile corpus (`testdata/hostile/`, described in its `MANIFEST.md`) through kvs-ebml:
//! every input ends with a typed error or cleanly, as the manifest says, in every mode (the
//! `SliceTokenizer`, the streaming `Tokenizer` in 64 KiB and 1-byte chunks, with and without
//! resynchronisation), in bounded time and a bounded number of tokens; and each input, run in
//! a child process under a 64 MiB data limit (`prlimit`, when installed), peaks at 64 MiB of
//! resident memory or less.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kvs_ebml::{Error, Options, SliceTokenizer, Tokenizer};

/// The memory bound of the issue: 64 MiB.
const MAX_PEAK_KIB: u64 = 64 * 1024;
/// No input may take longer than this in any one mode.
const MAX_TIME: Duration = Duration::from_secs(5);

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostile")
}

/// The manifest's rows: file name and the kvs-ebml column.
fn manifest() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            (cols[0].trim_start_matches("| ").trim_matches('`').to_owned(), cols[3].to_owned())
        })
        .collect()
}

fn read(name: &str) -> Bytes {
    Bytes::from(std::fs::read(dir().join(name)).unwrap())
}

fn variant(e: &Error) -> String {
    format!("{:?}", e.kind).split([' ', '{', '(']).next().unwrap().to_owned()
}

/// Pulls tokens from a streaming tokenizer fed `chunk`-byte pieces; returns the variant of the
/// error that stopped it, or `clean`, and the number of tokens. Panics on a runaway.
fn stream(data: &Bytes, chunk: usize, opts: Options) -> (String, usize) {
    let cap = data.len() * 8 + 64;
    let mut tokenizer = Tokenizer::with_options(opts);
    let mut tokens = 0;
    let mut last_error = None;
    let mut pull = |tokenizer: &mut Tokenizer, tokens: &mut usize| -> Option<String> {
        loop {
            match tokenizer.next_token() {
                Ok(Some(_)) => *tokens += 1,
                Ok(None) => return None,
                Err(e) if e.is_recoverable() => {}
                Err(e) => {
                    let resyncs = opts.resync
                        && !e.is_eof()
                        && !matches!(e.kind, kvs_ebml::ErrorKind::ResyncLimit { .. });
                    if !resyncs {
                        return Some(variant(&e));
                    }
                    last_error = Some(variant(&e));
                }
            }
            assert!(*tokens <= cap, "runaway: more than {cap} tokens from {} bytes", data.len());
        }
    };
    let mut at = 0;
    while at < data.len() {
        let end = data.len().min(at + chunk);
        tokenizer.feed(data.slice(at..end));
        at = end;
        if let Some(stop) = pull(&mut tokenizer, &mut tokens) {
            return (stop, tokens);
        }
    }
    tokenizer.finish();
    let stop = pull(&mut tokenizer, &mut tokens);
    (stop.or(last_error.map(|e| format!("resynced after {e}"))).unwrap_or_else(|| "clean".into()), tokens)
}

/// The `SliceTokenizer`'s outcome, as [`stream`]'s.
fn slice(data: &[u8], opts: Options) -> (String, usize) {
    let cap = data.len() * 8 + 64;
    let mut tokens = 0;
    let mut stop = None;
    for item in SliceTokenizer::with_options(data, opts) {
        match item {
            Ok(_) => tokens += 1,
            Err(e) if e.is_recoverable() => {}
            Err(e) => stop = Some(variant(&e)),
        }
        assert!(tokens <= cap, "runaway: more than {cap} tokens from {} bytes", data.len());
    }
    (stop.unwrap_or_else(|| "clean".into()), tokens)
}

/// Every mode on one input: the outcomes must agree with each other and finish in time.
fn run_all_modes(name: &str, data: &Bytes) -> String {
    let started = Instant::now();
    let (expected, tokens) = stream(data, 64 << 10, Options::default());
    let (whole, whole_tokens) = slice(data, Options::default());
    assert_eq!((&whole, whole_tokens), (&expected, tokens), "{name}: SliceTokenizer differs");
    let (bytewise, byte_tokens) = stream(data, 1, Options::default());
    assert_eq!((&bytewise, byte_tokens), (&expected, tokens), "{name}: 1-byte chunks differ");
    assert!(started.elapsed() < MAX_TIME * 3, "{name}: too slow without resync: {:?}", started.elapsed());
    let started = Instant::now();
    let resync = Options::default().resync(true);
    let (a, _) = stream(data, 64 << 10, resync);
    let (b, _) = stream(data, 1, resync);
    let _ = slice(data, resync);
    assert_eq!(a, b, "{name}: with resync, 1-byte chunks differ");
    assert!(started.elapsed() < MAX_TIME * 3, "{name}: too slow with resync: {:?}", started.elapsed());
    expected
}

#[test]
fn the_manifest_lists_every_file_once() {
    let listed: Vec<String> = manifest().into_iter().map(|(n, _)| n).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "MANIFEST.md")
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "a file is listed twice");
    assert_eq!(sorted, on_disk);
    assert!(listed.len() >= 30, "{} inputs", listed.len());
}

#[test]
fn every_hostile_input_ends_as_the_manifest_says_in_every_mode() {
    for (name, expected) in manifest() {
        let data = read(&name);
        let got = run_all_modes(&name, &data);
        assert_eq!(got, expected, "{name}");
    }
}

/// The child half of [`each_hostile_input_peaks_under_64_mib`]: runs every mode on the file
/// named by `KVS_HOSTILE_FILE`, then prints its peak resident memory.
#[test]
fn child_run_one_input() {
    let Ok(name) = std::env::var("KVS_HOSTILE_FILE") else { return };
    let data = read(&name);
    run_all_modes(&name, &data);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    println!("\nPEAK {}", hwm.split_whitespace().nth(1).unwrap_or("0"));
}

/// Whether `prlimit` (util-linux) can run a command.
fn has_prlimit() -> bool {
    Command::new("prlimit").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[test]
fn each_hostile_input_peaks_under_64_mib() {
    if !Path::new("/proc/self/status").exists() {
        println!("skipped: no /proc (peak memory is read from /proc/self/status)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let limit = has_prlimit();
    if !limit {
        println!("prlimit not found: measuring peaks without a hard limit");
    }
    let mut report = Vec::new();
    for (name, _) in manifest() {
        let mut cmd = if limit {
            let mut c = Command::new("prlimit");
            c.arg(format!("--data={}", MAX_PEAK_KIB * 1024)).arg("--").arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(["--exact", "child_run_one_input", "--nocapture", "--test-threads=1"])
            .env("KVS_HOSTILE_FILE", &name)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > MAX_TIME * 6 {
                child.kill().unwrap();
                panic!("{name}: the child did not finish in {:?} (a hang?)", MAX_TIME * 6);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: child failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let peak: u64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("PEAK "))
            .unwrap_or_else(|| panic!("{name}: no peak reported:\n{stdout}"))
            .trim()
            .parse()
            .unwrap();
        assert!(peak <= MAX_PEAK_KIB, "{name}: peak {peak} KiB");
        report.push(format!("{name}: {peak} KiB"));
    }
    println!("peak resident memory per input (all modes):\n{}", report.join("\n"));
}
