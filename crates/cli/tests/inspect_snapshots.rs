//! Snapshot tests of `kvs-mkv inspect`: its output on every fixture, compared exactly with
//! `tests/snapshots/inspect_<fixture>.txt`. After a deliberate change of the output,
//! regenerate them with `UPDATE_SNAPSHOTS=1 cargo test -p kvs-cli --test inspect_snapshots`
//! and review the diff. Only `UPDATE_SNAPSHOTS=1` rewrites (any other value compares), and never
//! under `CI=true`; `.ci/run` unsets it and fails when the tests leave tracked files changed.
//! A snapshot whose fixture is gone fails `every_snapshot_has_its_fixture`.
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
use std::process::Stdio;

use common::{bin, testdata};

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Whether the snapshots are to be rewritten: `UPDATE_SNAPSHOTS=1` exactly, and not under CI.
fn updating() -> bool {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    assert!(
        !(update && kvs_testkit::in_ci()),
        "UPDATE_SNAPSHOTS=1 under CI=true: CI compares snapshots, it never rewrites them"
    );
    update
}

/// Compares `actual` with the snapshot `name`, or writes it with UPDATE_SNAPSHOTS=1.
fn check(name: &str, actual: &str) {
    let path = snapshots().join(name);
    if updating() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("{} is missing: run with UPDATE_SNAPSHOTS=1 to create it", path.display())
    });
    if expected != actual {
        panic!(
            "inspect output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}\n\
             (if the change is intended: UPDATE_SNAPSHOTS=1 cargo test -p kvs-cli --test inspect_snapshots)",
            path.display()
        );
    }
}

/// stdout of `inspect` (stderr must hold at most the one-line error of a cut input).
fn inspect(args: &[&str], stdin: Option<&Path>) -> String {
    let mut cmd = bin();
    cmd.arg("inspect").args(args);
    if let Some(p) = stdin {
        cmd.stdin(std::fs::File::open(p).unwrap());
    } else {
        cmd.stdin(Stdio::null());
    }
    let o = cmd.output().unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.lines().count() <= 1, "{err}");
    assert_eq!(o.status.success(), err.is_empty(), "exit status matches stderr: {err}");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn inspect_every_fixture() {
    let mut n = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mkv") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let out = inspect(&["--color", "never", path.to_str().unwrap()], None);
        check(&format!("inspect_{stem}.txt"), &out);
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn inspect_stdin_is_named_stdin_and_matches_the_file() {
    let path = testdata().join("getmedia_basic.mkv");
    let from_stdin = inspect(&["--color", "never", "-"], Some(&path));
    let from_file = inspect(&["--color", "never", path.to_str().unwrap()], None);
    assert_eq!(from_stdin, from_file.replace("getmedia_basic.mkv", "stdin"));
}

#[test]
fn inspect_colour_only_when_asked_or_on_a_terminal() {
    let path = testdata().join("cut_stream.mkv");
    // stdout is a pipe here: no colour by default.
    let plain = inspect(&[path.to_str().unwrap()], None);
    assert!(!plain.contains('\u{1b}'));
    let coloured = inspect(&["--color", "always", path.to_str().unwrap()], None);
    check("inspect_cut_stream.color.txt", &coloured);
    assert!(coloured.contains("\u{1b}["));
    let stripped: String = {
        // Remove the escape sequences: the text is the same.
        let mut s = String::new();
        let mut chars = coloured.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                s.push(c);
            }
        }
        s
    };
    assert_eq!(stripped, plain);
}

/// The real captures with a snapshot (from `../shared/conformance/kvs-java`).
const JAVA_CAPTURES: [&str; 2] =
    ["output_get_media_sparse_fragments", "output-get-media-non-increasing-timecode"];

#[test]
fn inspect_java_captures() {
    let Some(java) = kvs_testkit::conformance_path("kvs-java") else { return };
    for name in JAVA_CAPTURES {
        let out = inspect(&["--color", "never", java.join(format!("{name}.mkv")).to_str().unwrap()], None);
        check(&format!("inspect_java_{name}.txt"), &out);
    }
}

/// Every file in `tests/snapshots` belongs to a fixture that still exists and is still
/// snapshotted: `inspect_<stem>.txt` (and `.color.txt`) to `testdata/<stem>.mkv`,
/// `inspect_java_<name>.txt` to a capture of [`JAVA_CAPTURES`]. A stale snapshot fails.
#[test]
fn every_snapshot_has_its_fixture() {
    let mut stale = Vec::new();
    let mut n = 0;
    for entry in std::fs::read_dir(snapshots()).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        n += 1;
        let known =
            if let Some(name) = file.strip_prefix("inspect_java_").and_then(|f| f.strip_suffix(".txt")) {
                JAVA_CAPTURES.contains(&name)
            } else if let Some(stem) = file
                .strip_prefix("inspect_")
                .and_then(|f| f.strip_suffix(".color.txt").or_else(|| f.strip_suffix(".txt")))
            {
                testdata().join(format!("{stem}.mkv")).is_file()
            } else {
                false
            };
        if !known {
            stale.push(file);
        }
    }
    assert!(n >= 12, "{n} snapshots");
    assert!(stale.is_empty(), "snapshots whose fixture is gone (delete them): {stale:?}");
}
