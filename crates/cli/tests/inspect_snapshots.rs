//! Snapshot tests of `kvs-mkv inspect`: its output on every fixture, compared exactly with
//! `tests/snapshots/inspect_<fixture>.txt`. After a deliberate change of the output,
//! regenerate them with `UPDATE_SNAPSHOTS=1 cargo test -p kvs-cli --test inspect_snapshots`
//! and review the diff.
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

/// Compares `actual` with the snapshot `name`, or writes it with UPDATE_SNAPSHOTS=1.
fn check(name: &str, actual: &str) {
    let path = snapshots().join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
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

#[test]
fn inspect_java_captures() {
    let java = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/kvs-java");
    if !java.is_dir() {
        eprintln!("skipped: ../shared/conformance/kvs-java not found");
        return;
    }
    for name in ["output_get_media_sparse_fragments", "output-get-media-non-increasing-timecode"] {
        let out = inspect(&["--color", "never", java.join(format!("{name}.mkv")).to_str().unwrap()], None);
        check(&format!("inspect_java_{name}.txt"), &out);
    }
}
