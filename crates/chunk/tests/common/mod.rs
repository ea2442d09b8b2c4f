//! Helpers shared by the kvs-chunk integration tests: where the third-party conformance
//! data lives (read at run time, never copied into the repository; its absence fails the test
//! under CI and is a recorded skip elsewhere, see `kvs_testkit`), where the committed
//! `testdata/` lives (its absence is a failure), decoding helpers that keep the events before
//! a fatal error, and exact timestamp parsing for expectations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use kvs_chunk::{Error, Event, Events, Fragment, Fragments};

/// `../shared/conformance` beside the workspace, or `None` after `kvs_testkit::skip` (which
/// fails the test under `CI=true`); the caller returns.
#[track_caller]
pub fn conformance_dir() -> Option<PathBuf> {
    kvs_testkit::conformance_dir()
}

/// A folder or file under `../shared/conformance`, or `None` after `kvs_testkit::skip` (also
/// when `shared/` is there without it); the caller returns.
#[track_caller]
pub fn conformance_path(rel: &str) -> Option<PathBuf> {
    kvs_testkit::conformance_path(rel)
}

/// The `testdata/` folder of the workspace. It is committed: if it is missing, the test fails.
pub fn testdata_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    assert!(dir.is_dir(), "the committed {} is missing", dir.display());
    dir
}

/// The committed `testdata/*.mkv` files, sorted by name; failing if there are none.
pub fn testdata_mkv_files() -> Vec<PathBuf> {
    let files = mkv_files(&testdata_dir());
    assert!(!files.is_empty(), "no testdata/*.mkv: the committed files are missing");
    files
}

/// The `*.mkv` and `*.webm` files of a folder, sorted by name (the folder must exist).
pub fn mkv_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mkv" || x == "webm"))
        .collect();
    files.sort();
    files
}

/// The file name of a path, as text.
pub fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Reads a whole file into `Bytes`.
pub fn read(path: &Path) -> Bytes {
    Bytes::from(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Every event of `input` and every error, in order (recoverable errors do not stop it; the
/// decoder stops by itself after a fatal one).
pub fn decode_all(input: Bytes) -> (Vec<Event>, Vec<Error>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for item in Events::new(input) {
        match item {
            Ok(e) => events.push(e),
            Err(e) => errors.push(e),
        }
    }
    (events, errors)
}

/// Every fragment of `input`, and the errors met.
pub fn fragments(input: Bytes) -> (Vec<Fragment>, Vec<Error>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for item in Fragments::new(Events::new(input)) {
        match item {
            Ok(f) => out.push(f),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

/// A result item rendered comparably: events by value, errors by their text (errors are
/// not `PartialEq`).
pub type Item = Result<Event, String>;

/// The event/error sequence of an iterator, errors rendered as text.
pub fn items(iter: impl Iterator<Item = Result<Event, Error>>) -> Vec<Item> {
    iter.map(|r| r.map_err(|e| e.to_string())).collect()
}

/// Decimal epoch seconds with a fraction (`"1511852109.126"`, `"0.000"`) to milliseconds,
/// exactly (string arithmetic, no floating point): an independent oracle for the crate's
/// own parser.
pub fn ts_ms(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 3, "{s}");
    let mut frac = frac.to_owned();
    while frac.len() < 3 {
        frac.push('0');
    }
    format!("{int}{frac}").parse().unwrap()
}

/// Count per track of the frames that satisfy `pred`.
pub fn per_track<'a>(
    frames: impl IntoIterator<Item = &'a kvs_chunk::Frame>,
    pred: impl Fn(&kvs_chunk::Frame) -> bool,
) -> std::collections::BTreeMap<u64, u64> {
    let mut m = std::collections::BTreeMap::new();
    for f in frames {
        if pred(f) {
            *m.entry(f.track).or_insert(0) += 1;
        }
    }
    m
}

/// Lowercase hex of some bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `part` lies inside `whole`'s memory (a zero-copy slice of it).
pub fn is_slice_of(part: &[u8], whole: &[u8]) -> bool {
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    part.is_empty() || (p.start.addr() >= w.start.addr() && p.end.addr() <= w.end.addr())
}
