//! Issue 13, "never lose a frame, never say anything false", on the command side: every
//! summary depends on what happened (plain Matroska, truncated, damaged, interrupted input),
//! the commands people read skip past damage by default and say what they skipped, input
//! that is not EBML is refused by every command, `--verify-crc` failures reach the JSON, AAC
//! is extracted as ADTS that FFmpeg decodes, `events` shows both fragment times alike, and
//! every third-party file in `../shared/conformance/matroska-real` gives FFmpeg's frames.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{bin, testdata};
use kvs_fixtures::{Fragment, payload};
use serde_json::Value;

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvs-mkv-truthful").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// A plain Matroska document: one H.264 track, one cluster of one frame, no KVS tags.
fn plain_mkv() -> Vec<u8> {
    let fragment = Fragment {
        fragment_number: None,
        server_ts: None,
        producer_ts: None,
        continuation_token: None,
        ..common::one_frame_fragment("1")
    };
    payload(&[fragment]).unwrap()
}

/// The byte offsets of the documents of `path`, from `fragments --json`.
fn document_offsets(path: &Path) -> Vec<usize> {
    let out = run(&["fragments", "--json", path.to_str().unwrap()]);
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["offset"].as_u64().unwrap() as usize)
        .collect()
}

/// getmedia_basic.mkv (5 complete fragments, 150 frames) with 32 bytes of junk between its
/// second and third fragments.
fn junk_between_fragments(dir: &Path) -> (PathBuf, usize) {
    let src = testdata().join("getmedia_basic.mkv");
    let offsets = document_offsets(&src);
    assert_eq!(offsets.len(), 5);
    let at = offsets[2];
    let mut data = std::fs::read(&src).unwrap();
    data.splice(at..at, [0u8; 32]);
    let path = dir.join("junk.mkv");
    std::fs::write(&path, data).unwrap();
    (path, at)
}

#[test]
fn inspect_calls_a_plain_file_plain_matroska() {
    let dir = scratch("plain");
    let path = dir.join("plain.mkv");
    std::fs::write(&path, plain_mkv()).unwrap();
    let out = run(&["inspect", "--color", "never", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("plain Matroska (no KVS fragments)"), "{stdout}");
    assert!(stdout.contains("1 track"), "{stdout}");
    assert!(stdout.contains("1 frames"), "{stdout}");
    assert!(!stdout.contains("0 complete"), "{stdout}");
    assert!(!stdout.contains("every fragment complete"), "{stdout}");
    assert!(!stdout.contains("INCOMPLETE"), "{stdout}");

    // `events` and `split` do not call it an incomplete fragment either.
    let out = run(&["events", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(!stdout.contains("INCOMPLETE"), "{stdout}");
    assert!(stdout.contains("plain Matroska document"), "{stdout}");
    let out = run(&["split", path.to_str().unwrap(), "-o", dir.join("out").to_str().unwrap()]);
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("incomplete"), "{}", text(&out.stdout));
}

#[test]
fn inspect_never_says_all_good_about_a_truncated_plain_file() {
    let dir = scratch("truncated_plain");
    let mut data = plain_mkv();
    data.truncate(data.len() - 3);
    let path = dir.join("cut.mkv");
    std::fs::write(&path, data).unwrap();
    let out = run(&["inspect", "--color", "never", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success());
    assert!(!stdout.contains("every fragment complete"), "{stdout}");
    assert!(!stdout.contains("read whole"), "{stdout}");
    assert!(stdout.contains("read only in part") && stdout.contains("truncated"), "{stdout}");
}

#[test]
fn inspect_skips_junk_by_default_and_never_says_all_good_about_it() {
    let dir = scratch("junk_inspect");
    let (path, at) = junk_between_fragments(&dir);
    let out = run(&["inspect", "--color", "never", path.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("5 fragments (5 complete)"), "every fragment is read past the junk: {stdout}");
    assert!(stdout.contains("150 frames"), "{stdout}");
    assert!(!stdout.contains("every fragment complete"), "{stdout}");
    assert!(stdout.contains("read only in part"), "{stdout}");
    assert!(
        stderr.contains("skipped 32 bytes") && stderr.contains(&format!("byte offset {}", at + 32)),
        "what was skipped, where: {stderr}"
    );

    // --strict stops at the junk, and says so.
    let out = run(&["inspect", "--strict", "--color", "never", path.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("2 fragments (2 complete)"), "{stdout}");
    assert!(!stdout.contains("every fragment complete"), "{stdout}");
    assert!(stdout.contains("read only in part: 1 error"), "{stdout}");
    assert!(stderr.contains("without --strict"), "the advice fits the command: {stderr}");
}

#[test]
fn human_commands_skip_junk_by_default_fragments_and_events_stay_strict() {
    let dir = scratch("junk_commands");
    let (path, _) = junk_between_fragments(&dir);
    let p = path.to_str().unwrap();

    let split = |extra: &[&str], name: &str| {
        let out_dir = dir.join(name);
        let mut args = vec!["split", p, "-o", out_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args);
        (out, std::fs::read_dir(&out_dir).unwrap().count())
    };
    let (out, files) = split(&[], "split");
    assert_eq!(files, 5, "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "skipping is not success");
    assert!(text(&out.stderr).contains("skipped 32 bytes"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("read only in part"), "{}", text(&out.stderr));
    let (out, files) = split(&["--strict"], "split-strict");
    assert_eq!(files, 2);
    assert_eq!(out.status.code(), Some(1));

    let merged = dir.join("merged.mkv");
    let out = run(&["merge", p, "-o", merged.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("150 frames"), "{}", text(&out.stdout));

    let h264 = dir.join("v.h264");
    let out = run(&["extract", p, "-o", h264.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("150 frames"), "{}", text(&out.stderr));
    let out = run(&["extract", "--strict", p, "-o", h264.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("60 frames"), "{}", text(&out.stderr));

    // fragments and events: strict unless --resync.
    let out = run(&["fragments", "--json", p]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(text(&out.stderr).contains("--resync"), "{}", text(&out.stderr));
    let out = run(&["fragments", "--json", "--resync", p]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 5);
    assert!(text(&out.stderr).contains("skipped 32 bytes"), "{}", text(&out.stderr));
    let out = run(&["events", "--json", "--resync", p]);
    let frames = text(&out.stdout).lines().filter(|l| l.contains("\"type\":\"frame\"")).count();
    assert_eq!(frames, 150);
}

#[test]
fn inspect_after_ctrl_c_says_it_read_only_part() {
    let data = std::fs::read(testdata().join("getmedia_basic.mkv")).unwrap();
    let offsets = document_offsets(&testdata().join("getmedia_basic.mkv"));
    let mut child = bin()
        .args(["inspect", "--color", "never", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two whole fragments: their rows are printed (so the Ctrl-C handler is in place).
    stdin.write_all(&data[..offsets[2]]).unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.lines().any(|l| l.trim_start().starts_with("1 ")) {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // The ctrlc crate sets its flag from a thread of its own: give it a (generous) moment
    // before the input ends, or the end could be seen first.
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    seen.push_str(&rest);
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(!seen.contains("every fragment complete"), "{seen}");
    assert!(seen.contains("interrupted"), "{seen}");
}

#[test]
fn input_that_is_not_ebml_is_refused_by_every_command() {
    let dir = scratch("not_ebml");
    let txt = dir.join("notes.txt");
    std::fs::write(&txt, "hello, this is not a video\n").unwrap();
    let empty = dir.join("empty.mkv");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.join("missing.mkv");
    let images = [
        "--image-selector-type",
        "PRODUCER_TIMESTAMP",
        "--start-timestamp",
        "1700000000",
        "--end-timestamp",
        "1700000002",
        "--sampling-interval",
        "1000",
        "--format",
        "JPEG",
    ];
    let out_dir = dir.join("out");
    let out_file = dir.join("out.bin");
    let commands: Vec<Vec<&str>> = vec![
        vec!["inspect"],
        vec!["fragments"],
        vec!["fragments", "--json"],
        vec!["events", "--json"],
        vec!["split", "-o", out_dir.to_str().unwrap()],
        vec!["merge", "-o", out_file.to_str().unwrap()],
        vec!["extract", "-o", out_file.to_str().unwrap()],
        [&["images"][..], &images[..]].concat(),
    ];
    for command in &commands {
        for input in [&txt, &empty] {
            let mut args = command.clone();
            args.push(input.to_str().unwrap());
            let out = run(&args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains("not Matroska/EBML"), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        }
        // A missing file and a directory: the same kind of error, status 2.
        for input in [&missing, &dir] {
            let mut args = command.clone();
            args.push(input.to_str().unwrap());
            let out = run(&args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(": cannot open"), "{args:?}: {stderr}");
        }
    }
    // Standard input that is not EBML, too.
    let mut child = bin()
        .args(["fragments", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{\"ContentType\": \"video/webm\"}\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("stdin: not Matroska/EBML"), "{}", text(&out.stderr));
}

#[test]
fn a_crc_failure_is_in_the_json_with_advice_that_fits() {
    let Some(path) = kvs_testkit::conformance_path(
        "matroska-real/matroska-test-files/invalid_ebml__crc_element_has_invalid_hash.mkv",
    ) else {
        return;
    };
    let out = run(&["events", "--json", "--verify-crc", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let errors: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{}", text(&out.stdout));
    let e = &errors[0];
    assert_eq!(e["kind"], "crc_mismatch");
    assert_eq!(e["element"], "0x1A45DFA3");
    assert_eq!(e["element_name"], "EBML");
    assert_eq!(e["offset"], 0);
    assert_eq!(e["recoverable"], true);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("--resync"), "resynchronising does not help a CRC mismatch: {stderr}");
    assert!(stderr.contains("does not match its CRC-32"), "{stderr}");
    // The frames are still all there.
    let frames = text(&out.stdout).lines().filter(|l| l.contains("\"type\":\"frame\"")).count();
    assert_eq!(frames, 18);
}

#[test]
fn aac_is_extracted_as_adts_that_ffmpeg_decodes() {
    let Some((ffmpeg, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let dir = scratch("adts");
    let input = testdata().join("images/audio_only.mkv");
    let out = run(&["fragments", "--json", input.to_str().unwrap()]);
    let frames: u64 = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["frames"]["1"].as_u64().unwrap())
        .sum();
    assert!(frames > 0);
    let aac = dir.join("audio.aac");
    let out = run(&["extract", input.to_str().unwrap(), "-o", aac.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data = std::fs::read(&aac).unwrap();
    // The first header: sync word, MPEG-4, AAC-LC (profile 1), 16 kHz (index 8), mono.
    assert_eq!(&data[..2], &[0xFF, 0xF1]);
    assert_eq!(data[2] >> 6, 1);
    assert_eq!((data[2] >> 2) & 0xF, 8);
    assert_eq!(((data[2] & 1) << 2) | (data[3] >> 6), 1);
    let probe = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,profile,sample_rate,channels,nb_read_packets",
        ])
        .args(["-of", "json"])
        .arg(&aac)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let s = &v["streams"][0];
    assert_eq!(s["codec_name"], "aac", "{v}");
    assert_eq!(s["profile"], "LC", "{v}");
    assert_eq!(s["sample_rate"], "16000", "{v}");
    assert_eq!(s["channels"], 1, "{v}");
    assert_eq!(s["nb_read_packets"], frames.to_string(), "one ADTS frame per Matroska frame: {v}");
    let decode = Command::new(ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(&aac)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success() && decode.stderr.is_empty(), "{}", text(&decode.stderr));
}

#[test]
fn events_renders_server_and_producer_time_alike() {
    // Absolute producer times: both ISO 8601.
    let out = run(&["events", testdata().join("getmedia_basic.mkv").to_str().unwrap()]);
    let line =
        text(&out.stdout).lines().find(|l| l.trim_start().starts_with("fragment ")).unwrap().to_owned();
    assert!(
        line.ends_with("server 2017-11-28T06:55:09.126Z producer 2017-11-28T06:55:08.513Z")
            || (line.matches('T').count() >= 2 && line.matches('Z').count() == 2),
        "{line}"
    );
    let server = line.split(" server ").nth(1).unwrap().split(" producer ").next().unwrap();
    let producer = line.split(" producer ").nth(1).unwrap();
    assert_eq!(server.len(), producer.len(), "{line}");
    assert!(producer.ends_with('Z'), "{line}");
    // Relative producer times (0.000, 2.000, ...): both raw milliseconds.
    let out = run(&["events", testdata().join("getmedia_unknown_clusters.mkv").to_str().unwrap()]);
    let line =
        text(&out.stdout).lines().find(|l| l.trim_start().starts_with("fragment ")).unwrap().to_owned();
    assert!(line.ends_with(" ms producer 0 ms"), "{line}");
    assert!(!line.contains('Z'), "{line}");
}

/// The frames of each file as the reference readers count them.
struct Reference {
    file: String,
    /// FFmpeg's packets in all, or `None` when FFmpeg could not read the file.
    ffmpeg: Option<u64>,
    /// mkvinfo's frames per TrackNumber.
    mkvinfo: std::collections::BTreeMap<u64, u64>,
}

/// Where a file's expected count is not FFmpeg's, and why: FFmpeg and mkvinfo differ there,
/// and kvs-mkv counts what is in the Matroska blocks, as mkvinfo does.
const NOT_FFMPEG: &[(&str, &str)] = &[
    (
        "matroska-demuxer/tests__data__multi_seekhead.mkv",
        "FFmpeg shows the attached cover picture (an Attachments entry, not a track) as a stream of 1 packet",
    ),
    (
        "libwebm/testing__testdata__metadata_block.webm",
        "FFmpeg drops the blocks of the WebVTT metadata track",
    ),
    (
        "libwebm/testing__testdata__invalid__invalid_vp9_bitstream-bug_1416.webm",
        "FFmpeg drops the 3 frames after the damaged block; mkvinfo reads them, as kvs-mkv does",
    ),
];

/// Known mismatches, by file and command, with the cause: each needs work outside the
/// commands (kept here, not silently: the test fails when one of them goes away too, so the
/// list stays true).
const KNOWN_MISMATCHES: &[(&str, &str, &str)] = &[
    // (none: matroska-demuxer's no_cluster_position.mkv, whose Tracks come after its
    // Cluster, is read ahead by split and extract since the file can be re-read.)
];

fn references(root: &Path) -> Vec<Reference> {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(root.join("EXPECTED.json")).unwrap()).unwrap();
    expected
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let ff = &v["ffprobe"];
            let ffmpeg = (ff["rc"] == 0).then(|| {
                ff["packets"].as_object().map_or(0, |p| p.values().map(|n| n.as_u64().unwrap()).sum())
            });
            let mkvinfo = v["mkvinfo_frames"]
                .as_object()
                .map(|m| m.iter().map(|(k, n)| (k.parse().unwrap(), n.as_u64().unwrap())).collect())
                .unwrap_or_default();
            Reference { file: v["file"].as_str().unwrap().to_owned(), ffmpeg, mkvinfo }
        })
        .collect()
}

/// `N frames` in a line of text (the last such count).
fn frames_in(s: &str) -> Option<u64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    words.windows(2).rev().filter(|w| w[1].trim_end_matches(',') == "frames").find_map(|w| w[0].parse().ok())
}

#[test]
fn every_command_gives_ffmpegs_frames_for_every_third_party_file() {
    let Some(root) = kvs_testkit::conformance_path("matroska-real") else { return };
    let refs = references(&root);
    assert_eq!(refs.len(), 69);
    let dir = scratch("conformance");
    let mut mismatches = Vec::new();
    for r in &refs {
        let path = root.join(&r.file);
        let p = path.to_str().unwrap();
        let mkvinfo_total: u64 = r.mkvinfo.values().sum();
        let want = match (NOT_FFMPEG.iter().find(|(f, _)| *f == r.file), r.ffmpeg) {
            (Some(_), _) | (None, None) => mkvinfo_total,
            (None, Some(n)) => n,
        };
        let known = |what: &str| KNOWN_MISMATCHES.iter().any(|(f, c, _)| *f == r.file && *c == what);
        let mut check = |what: &str, got: Option<u64>| {
            let ok = got == Some(want);
            if ok == known(what) {
                mismatches.push(format!(
                    "{}: {what} gave {got:?} frames, FFmpeg/mkvinfo {want}{}",
                    r.file,
                    if ok { " (listed as a known mismatch: take it off the list)" } else { "" }
                ));
            }
        };

        // inspect (skips past damage by default): its closing summary.
        let out = run(&["inspect", "--color", "never", p]);
        let stdout = text(&out.stdout);
        let summary = stdout.lines().find(|l| l.contains(" of media")).unwrap_or_default();
        check("inspect", frames_in(summary));
        assert!(summary.contains("plain Matroska (no KVS fragments)"), "{}: {stdout}", r.file);
        // Never an all-good line after a problem, and a problem means a non-zero status.
        if !out.status.success() {
            assert!(!stdout.contains("read whole"), "{}: {stdout}", r.file);
            assert!(stdout.contains("read only in part"), "{}: {stdout}", r.file);
        }
        // ... and "read only in part" only when it was (warnings alone are not that).
        assert_eq!(stdout.contains("read only in part"), !out.status.success(), "{}: {stdout}", r.file);

        // fragments --resync: the frames per track.
        let out = run(&["fragments", "--json", "--resync", p]);
        let total: u64 = text(&out.stdout)
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["frames"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>()
                    + v.get("other_frames").and_then(Value::as_u64).unwrap_or(0)
            })
            .sum();
        check("fragments --resync", Some(total));

        // events --resync --json: one line per frame.
        let out = run(&["events", "--json", "--resync", p]);
        let frames = text(&out.stdout).lines().filter(|l| l.contains("\"type\":\"frame\"")).count();
        check("events --resync", Some(frames as u64));

        // split: the frames in the files it wrote.
        let out_dir = dir.join("split");
        let _ = std::fs::remove_dir_all(&out_dir);
        let out = run(&["split", p, "-o", out_dir.to_str().unwrap()]);
        let split: u64 = text(&out.stdout).lines().filter_map(frames_in).sum();
        check("split", Some(split));

        // merge: the frames in the files it wrote (a change of tracks continues in OUT-1.mkv).
        let merged = dir.join("merged.mkv");
        let out = run(&["merge", p, "-o", merged.to_str().unwrap()]);
        let written: u64 = text(&out.stdout).lines().filter_map(frames_in).sum();
        check("merge", Some(written));

        // extract: the default track (the first video, else audio track), against mkvinfo's
        // count for that track number.
        let out_file = dir.join("extract.bin");
        let out = run(&["extract", p, "-f", "raw", "-o", out_file.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        let ok = match stderr.lines().find(|l| l.contains(" frames, ") && l.contains(": track ")) {
            Some(line) => {
                let track: u64 = line
                    .split(": track ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                frames_in(line) == Some(r.mkvinfo.get(&track).copied().unwrap_or(0))
            }
            // Nothing to extract is right only for a file without video or audio frames.
            None => stderr.contains("no track of video or audio") || mkvinfo_total == 0,
        };
        if ok == known("extract") {
            mismatches.push(format!("{}: extract: {}", r.file, stderr.lines().last().unwrap_or_default()));
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

/// Every real GetMedia capture of the Java library (`../shared/conformance/kvs-java`), the
/// Java merger's output among them (one Segment holding three fragments), through every
/// command that reads a file: the frames FFmpeg counts, every one of them, and fragment
/// boundaries that `fragments` and `split` agree on.
#[test]
fn every_command_gives_ffmpegs_frames_for_every_java_capture_merged_files_included() {
    let Some(root) = kvs_testkit::conformance_path("kvs-java") else { return };
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let dir = scratch("kvs-java");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mkv"))
        .collect();
    files.sort();
    assert!(files.len() >= 13, "{files:?}");
    let mut wrong = Vec::new();
    for path in &files {
        let p = path.to_str().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let packets = packet_streams(&ffprobe, path);
        let want = packets.len() as u64;
        let mut check = |what: &str, got: u64| {
            if got != want {
                wrong.push(format!("{name}: {what} gave {got} frames, FFmpeg {want}"));
            }
        };

        // (output-get-media-equal-timecode.mkv is cut inside its last block: the commands
        // exit 1 and say so, with every frame before the cut.)
        let out = run(&["fragments", "--json", p]);
        let lines: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let total: u64 = lines
            .iter()
            .map(|v| v["frames"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>())
            .sum();
        check("fragments", total);
        let with_frames =
            lines.iter().filter(|v| v["frames"].as_object().is_some_and(|m| !m.is_empty())).count();

        let out = run(&["events", "--json", p]);
        check(
            "events",
            text(&out.stdout).lines().filter(|l| l.contains("\"type\":\"frame\"")).count() as u64,
        );

        let out = run(&["inspect", "--color", "never", p]);
        let stdout = text(&out.stdout);
        let summary =
            stdout.lines().find(|l| l.contains(" of media") || l.contains("0 frames")).unwrap_or_default();
        check("inspect", frames_in(summary).unwrap_or(0));
        assert_eq!(stdout.contains("read only in part"), !out.status.success(), "{name}: {stdout}");

        let out_dir = dir.join(format!("{name}.split"));
        let out = run(&["split", p, "-o", out_dir.to_str().unwrap()]);
        let written: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
        check("split", written.iter().filter_map(|l| frames_in(l)).sum());
        assert_eq!(written.len(), with_frames, "{name}: one file per fragment with frames: {written:?}");

        if want > 0 {
            let merged = dir.join(format!("{name}.merged.mkv"));
            let out = run(&["merge", p, "-o", merged.to_str().unwrap()]);
            check("merge", frames_in(&text(&out.stdout)).unwrap_or(0));
            check(
                "ffprobe of merge's output",
                kvs_testkit::oracle::ffprobe_packets(&ffprobe, &merged).len() as u64,
            );

            // extract: the default (first video) track, as many frames as FFmpeg's stream 0.
            let raw = dir.join(format!("{name}.h264"));
            let out = run(&["extract", p, "-f", "raw", "-o", raw.to_str().unwrap()]);
            let stream0 = packets.iter().filter(|&&k| k == 0).count() as u64;
            let line = text(&out.stderr);
            if frames_in(&line) != Some(stream0) {
                wrong.push(format!("{name}: extract: {line} (FFmpeg: {stream0} in stream 0)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The stream index of every packet ffprobe reads from `file`; none when it finds no stream
/// at all (a capture of tags without Tracks, which ffprobe refuses).
fn packet_streams(ffprobe: &Path, file: &Path) -> Vec<u64> {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "packet=stream_index", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    if !out.status.success() {
        assert!(
            run(&["fragments", "--json", file.to_str().unwrap()])
                .stdout
                .windows(11)
                .all(|w| w != b"\"frames\":{\""),
            "ffprobe refused {} ({}) although kvs-mkv finds frames in it",
            file.display(),
            text(&out.stderr)
        );
        return Vec::new();
    }
    text(&out.stdout).lines().map(|l| l.trim().trim_end_matches(',').parse().unwrap()).collect()
}

/// The Java merger's file holds three fragments in one Segment: each is a fragment of its
/// own to `fragments` (the second and third with a `"fragment"` key), and `split` writes
/// three files of 60 frames.
#[test]
fn a_merged_capture_reads_as_its_three_fragments() {
    let Some(root) = kvs_testkit::conformance_path("kvs-java") else { return };
    let path = root.join("output_get_media_sparse_fragments_merged.mkv");
    let p = path.to_str().unwrap();
    let out = run(&["fragments", "--json", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines.iter().map(|v| v["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 0, 0]);
    assert_eq!(
        lines.iter().map(|v| v.get("fragment").and_then(Value::as_u64)).collect::<Vec<_>>(),
        [None, Some(1), Some(2)]
    );
    assert!(lines.iter().all(|v| v["frames"]["1"] == 60 && v["complete"] == true), "{lines:?}");
    let numbers: std::collections::HashSet<&str> =
        lines.iter().map(|v| v["fragment_number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 3, "three fragment numbers");
    let out = run(&["events", "--json", p]);
    let starts: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "fragment_start")
        .collect();
    assert_eq!(starts.iter().map(|v| v["fragment"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    let out = run(&["inspect", "--color", "never", p]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 fragments (3 complete), 180 frames"), "{stdout}");
    let dir = scratch("merged-split");
    let out = run(&["split", p, "-o", dir.to_str().unwrap()]);
    let files: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|l| frames_in(l) == Some(60)), "{files:?}");
    // images: the same pictures as from the payload before it was merged, in all three
    // fragments' spans (the NO_MEDIA samples fall in the gaps between them).
    let images = |file: &str| {
        let out = run(&[
            "images",
            root.join(file).to_str().unwrap(),
            "--image-selector-type",
            "PRODUCER_TIMESTAMP",
            "--start-timestamp",
            "1511852108.513",
            "--end-timestamp",
            "1511852120.513",
            "--sampling-interval",
            "1000",
            "--format",
            "JPEG",
            "--height-pixels",
            "32",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let merged = images("output_get_media_sparse_fragments_merged.mkv");
    assert_eq!(merged, images("output_get_media_sparse_fragments.mkv"));
    let with_picture: Vec<bool> =
        merged["Images"].as_array().unwrap().iter().map(|i| i.get("ImageContent").is_some()).collect();
    assert_eq!(
        with_picture,
        [true, true, true, false, true, true, true, false, true, true, true, false, false]
    );
}

/// A plain Matroska file whose video track 1 is stored with `encodings` (a ContentEncodings
/// element) and an audio track 2 that is not, one cluster with a frame of each.
fn encoded_mkv(encodings: &[u8]) -> Vec<u8> {
    use kvs_testkit::mkv::{doc_start, el};
    let entry = |number: u8, kind: u8, codec: &[u8], extra: &[u8]| {
        el(
            &[0xAE],
            &[el(&[0xD7], &[number]), el(&[0x83], &[kind]), el(&[0x86], codec), extra.to_vec()].concat(),
        )
    };
    let tracks = el(
        &[0x16, 0x54, 0xAE, 0x6B],
        &[entry(1, 1, b"V_MPEG4/ISO/AVC", encodings), entry(2, 2, b"A_PCM/INT/LIT", &[])].concat(),
    );
    let block = |track: u8, data: &[u8]| el(&[0xA3], &[&[0x80 | track, 0, 0, 0x80][..], data].concat());
    let cluster =
        el(&[0x1F, 0x43, 0xB6, 0x75], &[el(&[0xE7], &[0]), block(1, b"stored"), block(2, b"pcm!")].concat());
    [doc_start(), tracks, cluster].concat()
}

/// ContentEncodings: a track stored with an encoding kvs-mkv cannot undo (bzlib) is named in
/// `inspect`, refused by `extract` and left out of `split` with a warning, while the other
/// track is written; a track mkvmerge compressed with zlib gives the original's frames.
#[test]
fn encoded_tracks_are_decoded_or_refused_never_passed_off_as_the_codecs_bytes() {
    use kvs_testkit::mkv::el;
    let dir = scratch("encodings");
    // ContentEncoding > ContentCompression > ContentCompAlgo 1 (bzlib).
    let bzlib = el(&[0x6D, 0x80], &el(&[0x62, 0x40], &el(&[0x50, 0x34], &el(&[0x42, 0x54], &[1]))));
    let file = dir.join("bzlib.mkv");
    std::fs::write(&file, encoded_mkv(&bzlib)).unwrap();
    let p = file.to_str().unwrap();

    let out = run(&["inspect", "--color", "never", p]);
    assert!(
        text(&out.stdout).contains("[stored with bzlib compression: frames not decoded]"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["extract", p, "--track", "1", "-f", "raw", "-o", dir.join("x.bin").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bzlib compression") && err.contains("cannot undo"), "{err}");
    // The default track (the first video) is that one too: refused, not written as stored.
    let out = run(&["extract", p, "-f", "raw", "-o", dir.join("y.bin").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let split_dir = dir.join("split");
    let out = run(&["split", p, "-o", split_dir.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        err.contains("stored with an encoding kvs-mkv cannot undo") && err.contains("1: bzlib compression"),
        "{err}"
    );
    let written: Vec<PathBuf> = std::fs::read_dir(&split_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(written.len(), 1);
    let back = run(&["events", "--json", written[0].to_str().unwrap()]);
    let back = text(&back.stdout);
    assert!(back.contains("\"type\":\"frame\",\"track\":2"), "{back}");
    assert!(!back.contains("\"track\":1"), "the bzlib track is left out: {back}");

    // zlib, written by MKVToolNix: the frames are the uncompressed original's, byte for byte.
    let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
    let Some(mkvmerge) = kvs_testkit::tool("mkvmerge", "apt-get install -y mkvtoolnix") else { return };
    let original = dir.join("plain.mkv");
    let made = Command::new(ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "1"])
        .args(["-c:v", "libx264", "-g", "5", "-y"])
        .arg(&original)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let zlib = dir.join("zlib.mkv");
    let made = Command::new(mkvmerge)
        .args(["-q", "-o", zlib.to_str().unwrap(), "--compression", "0:zlib"])
        .arg(&original)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stdout));
    let frames = |path: &Path| -> Vec<String> {
        let out = run(&["events", "--json", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"type\":\"frame\""))
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                format!("{} {}", v["size"], v["crc32"])
            })
            .collect()
    };
    assert!(
        std::fs::read(&zlib).unwrap().windows(2).any(|w| w == [0x6D, 0x80]),
        "mkvmerge wrote ContentEncodings"
    );
    let want = frames(&original);
    assert!(!want.is_empty());
    assert_eq!(frames(&zlib), want);
    let a = dir.join("a.h264");
    let b = dir.join("b.h264");
    assert!(run(&["extract", original.to_str().unwrap(), "-o", a.to_str().unwrap()]).status.success());
    let out = run(&["extract", zlib.to_str().unwrap(), "-o", b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "the same Annex B from both");
}
