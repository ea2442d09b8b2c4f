//! The hostile corpus (`testdata/hostile/`, described in its `MANIFEST.md`) through kvs-chunk:
//! every input gives the errors and the documents and frames the manifest says, the same
//! whether it comes whole (`Events`), through `ReadEvents` (64 KiB and 1-byte reads) or fed
//! to `EventDecoder` one byte at a time; with resynchronisation it ends too; all in bounded
//! time and a bounded number of events. Each input, run in a child process under a 64 MiB
//! data limit (`prlimit`, when installed), peaks at 64 MiB of resident memory or less.

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
use kvs_chunk::{Error, Event, EventDecoder, Events, Options, ReadEvents};

const MAX_PEAK_KIB: u64 = 64 * 1024;
const MAX_TIME: Duration = Duration::from_secs(5);

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostile")
}

/// The manifest's rows: file name and the kvs-chunk column.
fn manifest() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            (cols[0].trim_start_matches("| ").trim_matches('`').to_owned(), cols[4].to_owned())
        })
        .collect()
}

fn read(name: &str) -> Bytes {
    Bytes::from(std::fs::read(dir().join(name)).unwrap())
}

fn variant(debug: &str) -> String {
    debug.split([' ', '{', '(']).next().unwrap().to_owned()
}

/// An error as the manifest names it.
fn error_name(e: &Error) -> String {
    match e {
        Error::Ebml(inner) => format!("Ebml:{}", variant(&format!("{:?}", inner.kind))),
        Error::Block { kind, .. } => format!("Block:{kind:?}"),
        Error::InvalidTagValue { tag, .. } => format!("InvalidTagValue:{tag:?}"),
        other => variant(&format!("{other:?}")),
    }
}

/// The manifest's summary of a result sequence, checking that it does not run away.
fn outcome(items: impl Iterator<Item = Result<Event, Error>>, len: usize) -> String {
    let cap = len * 64 + 64;
    let mut errors = Vec::new();
    let (mut docs, mut frames, mut n) = (0u64, 0u64, 0usize);
    for item in items {
        n += 1;
        assert!(n <= cap, "runaway: more than {cap} items from {len} bytes");
        match item {
            Ok(Event::DocumentStart { .. }) => docs += 1,
            Ok(Event::Frame(_)) => frames += 1,
            Ok(_) => {}
            Err(e) => errors.push(error_name(&e)),
        }
    }
    let errors = if errors.is_empty() { "clean".to_owned() } else { errors.join(", ") };
    format!("{errors}; {docs} docs, {frames} frames")
}

/// `EventDecoder` fed one byte at a time.
fn bytewise(data: &Bytes, opts: Options) -> Vec<Result<Event, Error>> {
    let mut decoder = EventDecoder::with_options(opts);
    let mut out = Vec::new();
    let cap = data.len() * 64 + 64;
    let pull = |decoder: &mut EventDecoder, out: &mut Vec<Result<Event, Error>>| {
        while let Some(item) = decoder.next_event().transpose() {
            out.push(item);
            assert!(out.len() <= cap, "runaway");
        }
    };
    for i in 0..data.len() {
        decoder.feed(data.slice(i..i + 1));
        pull(&mut decoder, &mut out);
    }
    decoder.finish();
    pull(&mut decoder, &mut out);
    out
}

/// Every way of reading one input: all must agree, and finish in time.
fn run_all_modes(name: &str, data: &Bytes) -> String {
    let started = Instant::now();
    let expected = outcome(Events::new(data.clone()), data.len());
    let read64 = outcome(ReadEvents::new(std::io::Cursor::new(data.to_vec())), data.len());
    assert_eq!(read64, expected, "{name}: ReadEvents (64 KiB) differs");
    let read1 = outcome(ReadEvents::new(std::io::Cursor::new(data.to_vec())).read_size(1), data.len());
    assert_eq!(read1, expected, "{name}: ReadEvents (1 byte) differs");
    let fed = outcome(bytewise(data, Options::default()).into_iter(), data.len());
    assert_eq!(fed, expected, "{name}: EventDecoder fed bytewise differs");
    let resync = Options::default().resync(true);
    let a = outcome(Events::with_options(data.clone(), resync), data.len());
    let b = outcome(bytewise(data, resync).into_iter(), data.len());
    assert_eq!(a, b, "{name}: with resync, bytewise differs");
    assert!(started.elapsed() < MAX_TIME * 3, "{name}: too slow: {:?}", started.elapsed());
    expected
}

#[test]
fn every_hostile_input_ends_as_the_manifest_says_in_every_mode() {
    let rows = manifest();
    assert!(rows.len() >= 30, "{} inputs", rows.len());
    for (name, expected) in rows {
        let data = read(&name);
        assert_eq!(run_all_modes(&name, &data), expected, "{name}");
    }
}

/// With resynchronisation, the inputs whose defect sits between valid elements go on past it.
#[test]
fn resync_reads_past_the_defect() {
    let data = read("zero_lead_id_in_segment.mkv");
    let events: Vec<_> = Events::with_options(data, Options::default().resync(true)).collect();
    assert!(events.iter().any(|e| matches!(e, Ok(Event::Resynced { .. }))), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Ok(Event::Cluster { .. }))), "{events:?}");
}

/// The child half of [`each_hostile_input_peaks_under_64_mib`].
#[test]
fn child_run_one_input() {
    let Ok(name) = std::env::var("KVS_HOSTILE_FILE") else { return };
    let data = read(&name);
    run_all_modes(&name, &data);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    println!("\nPEAK {}", hwm.split_whitespace().nth(1).unwrap_or("0"));
}

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
