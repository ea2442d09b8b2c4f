//! `split` file names from hostile fragment numbers (issue 12): a 300-digit number gets a
//! shortened, hashed name and the fragments after it are still written; thousands of
//! documents with one number all get distinct names, quickly; `/`, `..` and control
//! characters cannot leave the output directory; a file that cannot be created loses that
//! fragment only (reported, exit status non-zero) and the run goes on.
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

use common::bin;
use kvs_fixtures::{Fragment, payload};

const NORMAL: &str = "91343852333181432392682062607743920146159169392";
/// `1511852108.513` as the name's time.
const STAMP: &str = "_20171128T065508.513Z.mkv";

fn fragment(number: &str) -> Fragment {
    common::one_frame_fragment(number)
}

/// A fresh directory holding `input.mkv` (the fragments) and an empty `out/`.
fn setup(test: &str, numbers: &[String]) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvs-mkv-split-names").join(test);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("out")).unwrap();
    let frags: Vec<Fragment> = numbers.iter().map(|n| fragment(n)).collect();
    std::fs::write(root.join("input.mkv"), payload(&frags).unwrap()).unwrap();
    (root.clone(), root.join("out"))
}

fn split(root: &Path, out: &Path) -> Output {
    bin().arg("split").arg(root.join("input.mkv")).arg("--output-dir").arg(out).output().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// Every name is a plain `[0-9A-Za-z._-]` file name, not hidden, well under 255 bytes.
fn assert_safe(name: &str) {
    assert!(name.len() < 160, "{name}: {} bytes", name.len());
    assert!(!name.starts_with('.'), "{name}");
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{name}");
    assert!(name.ends_with(".mkv"), "{name}");
}

/// The paths `split` listed on stdout, each of which must be a file in `out`.
fn listed(o: &Output, out: &Path) -> Vec<String> {
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    text.lines()
        .map(|l| {
            let p = PathBuf::from(l.split('\t').next().unwrap());
            assert_eq!(p.parent().unwrap(), out, "{l}");
            assert!(p.is_file(), "{l}");
            p.file_name().unwrap().to_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_300_digit_fragment_number_gets_a_short_hashed_name_and_the_run_goes_on() {
    let long: String = "1234567890".repeat(30);
    let numbers = [NORMAL.to_owned(), long.clone(), format!("{NORMAL}7")];
    let (root, out) = setup("long", &numbers);
    let o = split(&root, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = listed(&o, &out);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], format!("{NORMAL}{STAMP}"));
    assert_eq!(got[2], format!("{NORMAL}7{STAMP}"));
    let short = &got[1];
    assert_safe(short);
    assert!(short.starts_with(&long[..48]), "{short}: keeps a prefix of the number");
    let hash = format!("-h{:08x}{STAMP}", crc32fast_hash(long.as_bytes()));
    assert!(short.ends_with(&hash), "{short} ends with {hash}");
    assert_eq!(names(&out).len(), 3);
    // The same input again names the long fragment the same way (a stable hash).
    let (root2, out2) = setup("long-again", &numbers);
    assert_eq!(listed(&split(&root2, &out2), &out2), got);
}

/// CRC-32 (IEEE), as `crc32fast::hash` computes it, written out so the test does not
/// depend on the binary's dependency.
fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn thousands_of_documents_with_one_number_all_get_distinct_names() {
    let numbers = vec!["42".to_owned(); 3000];
    let (root, out) = setup("same", &numbers);
    let started = std::time::Instant::now();
    let o = split(&root, &out);
    let took = started.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = listed(&o, &out);
    assert_eq!(got.len(), 3000);
    assert_eq!(got[0], format!("42{STAMP}"));
    assert_eq!(got[1], format!("42_20171128T065508.513Z-1.mkv"));
    assert_eq!(got[2999], format!("42_20171128T065508.513Z-2999.mkv"));
    let on_disk = names(&out);
    assert_eq!(on_disk.len(), 3000, "distinct names");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, on_disk);
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_name_made_of_a_suffixed_name_is_not_reused() {
    // Without timestamps a name is the number alone: "7-1" is what a producer can write
    // and what a second "7" would get.
    let frags: Vec<Fragment> = ["7", "7-1", "7", "7"]
        .iter()
        .map(|n| Fragment { server_ts: None, producer_ts: None, ..fragment(n) })
        .collect();
    let (root, out) = setup("suffix", &[]);
    std::fs::write(root.join("input.mkv"), payload(&frags).unwrap()).unwrap();
    let o = split(&root, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(listed(&o, &out), ["7.mkv", "7-1.mkv", "7-2.mkv", "7-3.mkv"]);
    assert_eq!(names(&out).len(), 4);
}

#[test]
fn hostile_fragment_numbers_stay_in_the_output_directory() {
    let numbers: Vec<String> = [
        "../../escape",
        "..",
        ".",
        "/etc/passwd",
        "a/b/c",
        "..\\..\\win",
        "\u{1b}]0;t\u{7}\n\r\0",
        "",
        "é/∕",
        ".hidden",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (root, out) = setup("hostile", &numbers);
    let o = split(&root, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = listed(&o, &out);
    assert_eq!(got.len(), numbers.len(), "{got:?}");
    let on_disk = names(&out);
    assert_eq!(on_disk.len(), numbers.len(), "{on_disk:?}");
    for name in &on_disk {
        assert_safe(name);
        assert!(out.join(name).is_file(), "{name}");
    }
    assert_eq!(names(&root), ["input.mkv", "out"], "nothing written beside the output directory");
}

#[test]
fn a_file_that_cannot_be_created_loses_that_fragment_only() {
    let numbers = ["111".to_owned(), "222".to_owned(), "333".to_owned()];
    let (root, out) = setup("blocked", &numbers);
    // A directory where the first fragment's file would go.
    let blocked = out.join(format!("111{STAMP}"));
    std::fs::create_dir(&blocked).unwrap();
    let o = split(&root, &out);
    assert!(!o.status.success(), "a lost fragment is a failure");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("could not be written"), "{err}");
    assert_eq!(listed(&o, &out), [format!("222{STAMP}"), format!("333{STAMP}")]);
    assert!(blocked.is_dir(), "what was there is left alone");
}
