//! Issue 12: every reading command keeps its memory flat on an endless input. Each command
//! reads a generated stream on stdin (a thread writes at least `MIN_BYTES` of it, then goes
//! on for up to `SECONDS` or `BYTES`, whichever comes first, and closes it) and its peak resident memory, measured by GNU time,
//! stays within the growth its documentation states over the same command's peak on an empty
//! stdin (the process itself: a debug binary maps and touches 11-13 MiB before it reads a byte,
//! and that grows with the code, so an absolute bound would measure the binary):
//!
//! | command | growth bound |
//! |---|---|
//! | `fragments`, `fragments --json`, `events`, `events --json` | 8 MiB |
//! | `inspect` | 8 MiB |
//! | `split`, `extract` | 16 MiB (a fragment's frames are written as they come) |
//! | `merge` | 16 MiB (plus one cue point, 24 bytes, per cluster written) |
//!
//! The streams: one endless Tag of SimpleTags, one endless fragment of clusters, endless
//! GetMedia-shaped fragments, endless frames each on a new track number, endless Tracks
//! elements, and random bytes (read with `--resync`, which scans on through them).

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

use kvs_testkit::mkv::{UNKNOWN, doc_start, el, simple_tag};

/// How long each stream is written at most.
const SECONDS: u64 = 3;
/// How many bytes each stream is written at most.
const BYTES: usize = 48 << 20;
/// How many bytes each stream is written at least, however long it takes (a busy machine
/// must not make the test weaker or flaky).
const MIN_BYTES: usize = 2 << 20;

fn tracks() -> Vec<u8> {
    let entry =
        [el(&[0xD7], &[1]), el(&[0x73, 0xC5], &[1]), el(&[0x83], &[1]), el(&[0x86], b"V_MS/VFW/FOURCC")]
            .concat();
    el(&[0x16, 0x54, 0xAE, 0x6B], &el(&[0xAE], &entry))
}

fn tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let simple: Vec<u8> = pairs.iter().flat_map(|(n, v)| simple_tag(n, v)).collect();
    el(&[0x12, 0x54, 0xC3, 0x67], &el(&[0x73, 0x73], &simple))
}

/// A cluster at `ms` of 10 keyframes of 1,000 bytes on track `track`.
fn cluster(ms: u64, track: u8) -> Vec<u8> {
    let mut body = el(&[0xE7], &ms.to_be_bytes());
    for i in 0..10u8 {
        let [hi, lo] = (u16::from(i) * 33).to_be_bytes();
        let mut block = vec![0x80 | track, hi, lo, 0x80];
        block.extend(std::iter::repeat_n(i, 1000));
        body.extend(el(&[0xA3], &block));
    }
    el(&[0x1F, 0x43, 0xB6, 0x75], &body)
}

/// A GetMedia-shaped fragment numbered `n`, complete with its continuation token.
fn fragment(n: u64) -> Vec<u8> {
    let number = format!("9134385233318143239268206260774392{n:013}");
    let server = format!("{}.{:03}", 1_700_000_000 + n, 0);
    let mut v = doc_start();
    v.extend(tracks());
    v.extend(tags(&[
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", &number),
        ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", &server),
        ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", &server),
    ]));
    v.extend(cluster(n * 1000, 1));
    v.extend(tags(&[
        ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "100"),
        ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", &number),
    ]));
    v
}

/// The kinds of endless input.
#[derive(Clone, Copy, Debug)]
enum Stream {
    /// One document, one unknown-size Tag, SimpleTags for ever.
    Tags,
    /// One document (one fragment that never ends), clusters for ever.
    Clusters,
    /// Complete GetMedia fragments for ever.
    Fragments,
    /// One document, frames each on a new track number for ever.
    NewTracks,
    /// One document, Tracks elements for ever.
    TracksElements,
    /// Pseudo-random bytes for ever.
    Random,
}

/// Makes the `i`th piece of a stream.
type Piece = Box<dyn FnMut(u64) -> Vec<u8> + Send>;

/// The stream's first bytes and a function making its `i`th piece.
fn pieces(stream: Stream) -> (Vec<u8>, Piece) {
    match stream {
        Stream::Tags => {
            let mut head = doc_start();
            head.extend(tracks());
            head.extend([0x12, 0x54, 0xC3, 0x67]);
            head.extend(UNKNOWN);
            head.extend([0x73, 0x73]);
            head.extend(UNKNOWN);
            let unit = simple_tag("PRODUCER_TAG", "0123456789abcdef").repeat(1000);
            (head, Box::new(move |_| unit.clone()))
        }
        Stream::Clusters => {
            let mut head = doc_start();
            head.extend(tracks());
            (head, Box::new(|i| cluster(i * 330, 1)))
        }
        Stream::Fragments => (Vec::new(), Box::new(fragment)),
        Stream::NewTracks => {
            let mut head = doc_start();
            head.extend(tracks());
            head.extend([0x1F, 0x43, 0xB6, 0x75]);
            head.extend(UNKNOWN);
            head.extend(el(&[0xE7], &[0]));
            (
                head,
                Box::new(|i| {
                    // 1,000 blocks on track numbers 2 + 1000 i + k, as 4-byte VINTs.
                    (0..1000u64)
                        .flat_map(|k| {
                            let track = (2 + i * 1000 + k) & 0x0FFF_FFFF;
                            let vint = (track | 0x1000_0000) as u32;
                            el(&[0xA3], &[&vint.to_be_bytes()[..], &[0, 0, 0x80, 7, 7, 7]].concat())
                        })
                        .collect()
                }),
            )
        }
        Stream::TracksElements => {
            let unit = tracks().repeat(1000);
            (doc_start(), Box::new(move |_| unit.clone()))
        }
        Stream::Random => {
            let mut x = 0x9E37_79B9u32;
            (
                // The EBML magic first (input that does not begin with it is refused at once,
                // issue 13), then random bytes for resynchronisation to scan.
                vec![0x1A, 0x45, 0xDF, 0xA3],
                Box::new(move |_| {
                    (0..65536)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 17;
                            x ^= x << 5;
                            x as u8
                        })
                        .collect()
                }),
            )
        }
    }
}

/// Runs `kvs-mkv args` with `stream` on stdin; returns its peak resident memory in KiB, the
/// bytes written to it and its exit code. `None` when GNU time is missing (a recorded skip).
fn peak_kib(args: &[&str], stream: Stream) -> Option<(u64, usize, i32)> {
    let time = kvs_testkit::gnu_time()?;
    let mut child = Command::new(time)
        .args(["-f", "PEAK_KIB %M", env!("CARGO_BIN_EXE_kvs-mkv")])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (head, mut next) = pieces(stream);
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let mut written = 0usize;
        if stdin.write_all(&head).is_err() {
            return written;
        }
        written += head.len();
        let mut i = 0u64;
        while written < BYTES && (written < MIN_BYTES || started.elapsed() < Duration::from_secs(SECONDS)) {
            let piece = next(i);
            // The command may stop reading (an error it cannot go past): that ends the stream.
            if stdin.write_all(&piece).is_err() {
                break;
            }
            written += piece.len();
            i += 1;
        }
        written
    });
    let stderr_reader = {
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut s).ok();
            s
        })
    };
    let written = writer.join().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("kvs-mkv {args:?} on {stream:?} did not end after its input did");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = stderr_reader.join().unwrap();
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB "))
        .unwrap_or_else(|| panic!("kvs-mkv {args:?}: no peak reported:\n{stderr}"))
        .trim()
        .parse()
        .unwrap();
    // Problems are summarised: a few lines, not one per element.
    let lines =
        stderr.lines().filter(|l| !l.starts_with("PEAK_KIB") && !l.starts_with("Command exited")).count();
    assert!(lines <= 12, "kvs-mkv {args:?} on {stream:?}: {lines} lines on stderr:\n{stderr}");
    Some((peak, written, status.code().unwrap_or(-1)))
}

/// A fresh directory for one test's output, removed first.
fn out_dir(test: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvs-mkv-streaming").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ALL: [Stream; 6] = [
    Stream::Tags,
    Stream::Clusters,
    Stream::Fragments,
    Stream::NewTracks,
    Stream::TracksElements,
    Stream::Random,
];

/// The peak resident memory of `kvs-mkv args` on an empty stdin: the process itself (a debug
/// binary maps and touches more than a release one), the yardstick each stream's peak is
/// measured against. `None` when GNU time is missing.
fn baseline_kib(args: &[&str]) -> Option<u64> {
    let time = kvs_testkit::gnu_time()?;
    let out = Command::new(time)
        .args(["-f", "PEAK_KIB %M", env!("CARGO_BIN_EXE_kvs-mkv")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB "))
        .unwrap_or_else(|| panic!("kvs-mkv {args:?}: no peak reported:\n{stderr}"));
    Some(peak.trim().parse().unwrap())
}

/// Runs `args` on every endless stream: its peak stays within `growth_kib` of the same
/// command's peak on an empty input (the bound is on what the input makes it hold, not on the
/// size of the binary, which differs between debug and release builds and grows with the code).
fn check(args: &[&str], growth_kib: u64) {
    let Some(baseline) = baseline_kib(args) else { return };
    let bound_kib = baseline + growth_kib;
    let mut report = vec![format!("empty input: {baseline} KiB; bound {bound_kib} KiB")];
    for stream in ALL {
        // Random bytes stop a reader at the first fatal error; --resync scans on.
        let mut args = args.to_vec();
        if matches!(stream, Stream::Random) {
            args.insert(1, "--resync");
        }
        let Some((peak, written, code)) = peak_kib(&args, stream) else { return };
        report.push(format!("{stream:?}: {peak} KiB after {} MiB (exit {code})", written >> 20));
        assert!(peak <= bound_kib, "kvs-mkv {args:?} on {stream:?}: peak {peak} KiB over {bound_kib} KiB");
        assert!(code == 0 || code == 1, "kvs-mkv {args:?} on {stream:?} exited {code}");
        // Only the random bytes may stop a reader early (a fatal error it cannot scan past).
        if !matches!(stream, Stream::Random) {
            assert!(written >= MIN_BYTES, "kvs-mkv {args:?} on {stream:?} read only {written} bytes");
        }
    }
    println!("kvs-mkv {args:?}\n  {}", report.join("\n  "));
}

#[test]
fn fragments_stays_flat_on_endless_input() {
    check(&["fragments", "-"], 8 << 10);
    check(&["fragments", "--json", "-"], 8 << 10);
}

#[test]
fn events_stays_flat_on_endless_input() {
    check(&["events", "-"], 8 << 10);
    check(&["events", "--json", "-"], 8 << 10);
}

#[test]
fn inspect_stays_flat_on_endless_input() {
    check(&["inspect", "-"], 8 << 10);
}

#[test]
fn split_stays_flat_on_endless_input() {
    let dir = out_dir("split");
    check(&["split", "-", "--output-dir", dir.to_str().unwrap()], 16 << 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_stays_flat_on_endless_input() {
    let dir = out_dir("merge");
    check(&["merge", "-", "--output", dir.join("merged.mkv").to_str().unwrap()], 16 << 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn extract_stays_flat_on_endless_input() {
    let dir = out_dir("extract");
    let out = dir.join("track1.raw");
    check(&["extract", "-", "--track", "1", "--format", "raw", "--output", out.to_str().unwrap()], 16 << 10);
    let _ = std::fs::remove_dir_all(&dir);
}
