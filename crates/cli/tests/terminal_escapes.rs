//! Producer text cannot drive the terminal (issue 12): a file whose CodecID, track name,
//! fragment number, tag names and values and in-stream error texts hold escape sequences
//! (set the title, clear the screen), carriage returns and forged line ends is printed by
//! `inspect`, `events` and `fragments` with every control character escaped, while `--json`
//! still carries the exact original strings.
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

use common::bin;
use kvs_fixtures::{Fragment, payload};
use serde_json::Value;

const CODEC: &str = "V_EVIL\u{1b}]0;title\u{7}\u{1b}[2J";
const TRACK_NAME: &str = "cam\r\n   9  forged row\u{9b}2J";
const NUMBER: &str = "9134\u{1b}[2J\n  1  forged";
const TAG_NAME: &str = "TITLE\u{1b}]0;pwned\u{7}";
const TAG_VALUE: &str = "v\u{1b}[31mred\r\n      tag FORGED = \"x\"\u{7f}\u{85}\u{0}";
const ERROR_ID: &str = "E\u{1b}[1m";
const ERROR_CODE: &str = "oops\u{1b}]0;t\u{7}\nforged line";

fn hostile_payload() -> Vec<u8> {
    let mut media = common::one_frame_fragment(NUMBER);
    media.tracks[0].codec_id = CODEC.to_owned();
    media.tracks[0].name = Some(TRACK_NAME.to_owned());
    media.producer_tags_before = vec![(TAG_NAME.to_owned(), TAG_VALUE.to_owned())];
    let error = Fragment {
        error_id: Some(ERROR_ID.to_owned()),
        error_code: Some(ERROR_CODE.to_owned()),
        ..Fragment::default()
    };
    payload(&[media, error]).unwrap()
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, data: &[u8]) -> Self {
        let dir = std::env::temp_dir().join(format!("kvs-mkv-escapes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// stdout of `kvs-mkv args path`, as text.
fn stdout(args: &[&str], path: &Path) -> String {
    let out = bin().args(args).arg(path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// No control character but the line ends (and, with `sgr`, no ESC but in an SGR colour
/// sequence `ESC [ digits/; m`, which kvs-mkv writes itself).
fn assert_inert(what: &str, text: &str, sgr: bool) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\u{1b}' && sgr {
            let mut j = i + 1;
            assert_eq!(chars.get(j), Some(&'['), "{what}: ESC not starting a colour at char {i}:\n{text}");
            j += 1;
            while chars.get(j).is_some_and(|c| c.is_ascii_digit() || *c == ';') {
                j += 1;
            }
            assert_eq!(chars.get(j), Some(&'m'), "{what}: ESC sequence other than a colour at {i}:\n{text}");
            i = j + 1;
            continue;
        }
        assert!(
            c == '\n' || !c.is_control(),
            "{what}: raw control U+{:04X} at char {i}:\n{text}",
            u32::from(c)
        );
        i += 1;
    }
    // Every line is one the tool wrote: the forged line ends stayed inside their lines.
    assert!(!text.lines().any(|l| l.trim_start().starts_with("forged")), "{what}: a forged line:\n{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("tag FORGED")),
        "{what}: a forged tag line:\n{text}"
    );
}

#[test]
fn text_output_escapes_producer_strings() {
    let file = TempFile::new("hostile.mkv", &hostile_payload());
    let path = &file.0;

    let inspect = stdout(&["inspect", "--color", "never"], path);
    assert_inert("inspect", &inspect, false);
    assert!(inspect.contains("V_EVIL\\u{1b}]0;title\\u{7}\\u{1b}[2J"), "{inspect}");
    assert!(inspect.contains("\"cam\\u{d}\\u{a}   9  forged row\\u{9b}2J\""), "{inspect}");
    // Shortened to its first and last six characters, then escaped.
    assert!(inspect.contains("9134\\u{1b}[…forged"), "{inspect}");
    assert!(inspect.contains("ERROR E\\u{1b}[1m oops\\u{1b}]0;t\\u{7}\\u{a}forged line"), "{inspect}");

    let events = stdout(&["events"], path);
    assert_inert("events", &events, false);
    assert!(events.contains("track 1 V_EVIL\\u{1b}]0;title\\u{7}\\u{1b}[2J 640x360"), "{events}");
    assert!(events.contains("fragment 9134\\u{1b}[2J\\u{a}  1  forged server"), "{events}");
    assert!(
        events.contains(
            "tag TITLE\\u{1b}]0;pwned\\u{7} = \"v\\u{1b}[31mred\\u{d}\\u{a}      tag FORGED = \\\"x\\\"\\u{7f}\\u{85}\\u{0}\""
        ),
        "{events}"
    );
    assert!(events.contains("oops\\u{1b}]0;t\\u{7}\\u{a}forged line"), "{events}");

    let fragments = stdout(&["fragments"], path);
    assert_inert("fragments", &fragments, false);
    assert!(fragments.contains("tag TITLE\\u{1b}]0;pwned\\u{7} = \"v\\u{1b}[31mred"), "{fragments}");
    assert!(fragments.contains("9134\\u{1b}[…forged"), "{fragments}");
}

#[test]
fn inspect_colours_are_still_written_around_escaped_text() {
    let file = TempFile::new("hostile-color.mkv", &hostile_payload());
    let text = stdout(&["inspect", "--color", "always"], &file.0);
    assert!(text.contains("\u{1b}[1m"), "bold headings: {text:?}");
    assert!(text.contains("\u{1b}[0m"), "resets: {text:?}");
    assert_inert("inspect --color always", &text, true);
    // The error note is red and bold, its producer text escaped inside the colour.
    assert!(text.contains("ERROR E\\u{1b}[1m oops\\u{1b}]0;t\\u{7}\\u{a}forged line\u{1b}[0m"), "{text:?}");
}

#[test]
fn json_output_keeps_the_exact_strings() {
    let file = TempFile::new("hostile-json.mkv", &hostile_payload());
    let path = &file.0;
    let parse =
        |text: String| -> Vec<Value> { text.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };

    let fragments = parse(stdout(&["fragments", "--json"], path));
    assert_eq!(fragments.len(), 2);
    assert_eq!(fragments[0]["fragment_number"], NUMBER);
    assert_eq!(fragments[0]["tracks"][0]["codec_id"], CODEC);
    assert_eq!(fragments[0]["tags"][0]["name"], TAG_NAME);
    assert_eq!(fragments[0]["tags"][0]["value"], TAG_VALUE);
    assert_eq!(fragments[1]["error"]["raw_id"], ERROR_ID);
    assert_eq!(fragments[1]["error"]["code"], ERROR_CODE);

    let events = parse(stdout(&["events", "--json"], path));
    let of = |kind: &str| events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("{kind}"));
    assert_eq!(of("tracks")["tracks"][0]["codec_id"], CODEC);
    assert_eq!(of("tracks")["tracks"][0]["name"], TRACK_NAME);
    assert_eq!(of("fragment_metadata")["fragment_number"], NUMBER);
    assert_eq!(of("tag")["name"], TAG_NAME);
    assert_eq!(of("tag")["value"], TAG_VALUE);
    assert_eq!(of("stream_error")["code"], ERROR_CODE);
}
