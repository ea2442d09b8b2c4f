//! `kvs-mkv images -` streams its input: an endless GetMedia stream on standard input with a
//! window in its first seconds gives its images and exits on its own, after reading little
//! more than the window, in bounded memory.
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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The peak resident memory allowed for `images -` on an endless stream: the read buffers,
/// the groups of pictures held, one decoder and the images (about 10 MiB measured).
const MAX_PEAK_KIB: u64 = 64 * 1024;

/// What the writer gives at most: an `images` that reads for ever stops it here.
const WRITE_CAP: usize = 64 * 1024 * 1024;

/// The H.264 fixture (four one-second fragments from producer time 1700000000) with every
/// `17000000SS.mmm` timestamp tag moved `4 * k` seconds later: copy `k` of an endless
/// time-ordered stream.
fn copy(base: &[u8], k: u64) -> Vec<u8> {
    let mut copy = base.to_vec();
    let mut i = 0;
    while i + 14 <= copy.len() {
        if copy[i..].starts_with(b"17000000") && copy[i + 10] == b'.' {
            let secs: u64 = std::str::from_utf8(&copy[i..i + 10]).unwrap().parse().unwrap();
            let moved = (secs + 4 * k).to_string();
            assert_eq!(moved.len(), 10);
            copy[i..i + 10].copy_from_slice(moved.as_bytes());
            i += 14;
        } else {
            i += 1;
        }
    }
    copy
}

const ARGS: [&str; 13] = [
    "images",
    "--image-selector-type",
    "PRODUCER_TIMESTAMP",
    "--start-timestamp",
    "1700000000.5",
    "--end-timestamp",
    "1700000003",
    "--sampling-interval",
    "500",
    "--format",
    "JPEG",
    "--height-pixels",
    "48",
];

/// Runs `kvs-mkv images -` under GNU time with ARGS (the window moved by `shift` seconds),
/// a writer thread giving it copies of the fixture until it stops reading or `cap` bytes are
/// written (then standard input closes); returns its JSON, the bytes written, whether the
/// writer was cut off, and the peak resident memory in KiB.
fn run_endless(time: &std::path::Path, shift: u64, cap: usize) -> (Value, usize, bool, u64) {
    let base = std::fs::read(common::testdata().join("images/h264.mkv")).unwrap();
    let mut args: Vec<String> = ARGS.iter().map(|s| (*s).to_owned()).collect();
    args[4] = format!("{}.5", 1_700_000_000 + shift);
    args[6] = format!("{}", 1_700_000_003 + shift);
    let mut child = Command::new(time)
        .args(["-f", "PEAK_KIB %M", env!("CARGO_BIN_EXE_kvs-mkv")])
        .args(&args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut written = 0usize;
        for k in 0.. {
            if written >= cap {
                return (written, false);
            }
            let chunk = copy(&base, k);
            if stdin.write_all(&chunk).is_err() {
                // The reader is gone: it stopped reading on its own.
                return (written, true);
            }
            written += chunk.len();
        }
        unreachable!()
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kvs-mkv images - did not exit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (written, cut) = writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let peak: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB "))
        .unwrap_or_else(|| panic!("no peak from GNU time: {stderr}"))
        .trim()
        .parse()
        .unwrap();
    (serde_json::from_slice(&out.stdout).unwrap(), written, cut, peak)
}

#[test]
fn an_endless_stream_on_stdin_gives_its_window_and_exits_in_bounded_memory() {
    let Some(time) = kvs_testkit::gnu_time() else { return };
    let fixture = common::testdata().join("images/h264.mkv");
    // The answer for the window from the fixture itself (the stream's first copy).
    let expected = common::bin().args(ARGS).arg(&fixture).output().unwrap();
    assert!(expected.status.success(), "{}", String::from_utf8_lossy(&expected.stderr));
    let expected: Value = serde_json::from_slice(&expected.stdout).unwrap();
    assert_eq!(expected["Images"].as_array().unwrap().len(), 6);

    let (got, written, cut, peak) = run_endless(&time, 0, WRITE_CAP);
    eprintln!("images - on an endless stream: {written} bytes written, peak {peak} KiB");
    assert!(cut, "the writer reached its cap of {WRITE_CAP} bytes: images read everything");
    assert!(written < 16 * 1024 * 1024, "{written} bytes written before images stopped reading");
    assert!(peak <= MAX_PEAK_KIB, "peak {peak} KiB");
    assert_eq!(got, expected);
}

#[test]
fn a_stream_that_passes_its_window_by_stays_in_bounded_memory() {
    let Some(time) = kvs_testkit::gnu_time() else { return };
    // The window an hour on: all 64 MiB written go through, none of it is held.
    let (got, written, cut, peak) = run_endless(&time, 3600, WRITE_CAP);
    eprintln!("images - with the window after the stream: {written} bytes written, peak {peak} KiB");
    assert!(!cut && written >= WRITE_CAP, "{written} bytes written");
    assert!(peak <= MAX_PEAK_KIB, "peak {peak} KiB");
    let images = got["Images"].as_array().unwrap();
    assert_eq!(images.len(), 6);
    assert!(images.iter().all(|i| i["Error"] == "NO_MEDIA"), "{got}");
}
