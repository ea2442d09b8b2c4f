//! `split`, `merge`, `extract`, `completions` and `--help` run on the fixtures, their
//! outputs read back and checked (and handed to ffprobe/ffmpeg when they are installed).
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
use std::process::{Command, Output};

use common::{bin, testdata};

use bytes::Bytes;
use kvs_chunk::{Event, Events, Fragment, Fragments};
use serde_json::Value;

/// `../shared/conformance/kvs-java`: fails the test under `CI=true` when absent, else a
/// recorded skip (`kvs_testkit`).
#[track_caller]
fn java() -> Option<PathBuf> {
    kvs_testkit::conformance_path("kvs-java")
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mkv"))
        .collect();
    v.sort();
    assert!(v.len() >= 10);
    v
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvs-mkv-commands").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).output().unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fragments(path: &Path) -> Vec<Fragment> {
    let bytes = Bytes::from(std::fs::read(path).unwrap());
    Fragments::new(Events::new(bytes)).filter_map(Result::ok).collect()
}

fn events(path: &Path) -> Vec<Event> {
    let bytes = Bytes::from(std::fs::read(path).unwrap());
    Events::new(bytes).filter_map(Result::ok).collect()
}

/// What identifies a frame across a rewrite: track, flags, payload.
fn frame_id(f: &kvs_chunk::Frame) -> (u64, bool, bool, bool, usize, u32) {
    (f.track, f.keyframe, f.invisible, f.discardable, f.data.len(), crc32fast::hash(&f.data))
}

/// Whether `name` (ffmpeg or ffprobe) is installed: fails the test under `CI=true` when it is
/// not, else a recorded skip of the check (`kvs_testkit`).
#[track_caller]
fn tool(name: &str) -> bool {
    kvs_testkit::tool(name, "apt-get install -y ffmpeg").is_some()
}

/// Packets per stream, as ffprobe counts them; panics if ffprobe rejects the file.
fn ffprobe_packets(path: &Path) -> u64 {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "ffprobe rejects {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_end_matches(',').parse::<u64>().unwrap())
        .sum()
}

// ---------------------------------------------------------------------------------------
// split

#[test]
fn split_outputs_read_back_as_their_fragments() {
    for mkv in fixtures() {
        let name = mkv.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("split-{name}"));
        let o = run(&[os("split"), mkv.as_os_str(), os("--output-dir"), dir.as_os_str()]);
        let originals: Vec<Fragment> = fragments(&mkv).into_iter().filter(|f| !f.frames.is_empty()).collect();
        let written: Vec<PathBuf> =
            stdout(&o).lines().map(|l| PathBuf::from(l.split('\t').next().unwrap())).collect();
        assert_eq!(written.len(), originals.len(), "{name}: one file per fragment with frames");
        for (path, orig) in written.iter().zip(&originals) {
            let back = fragments(path);
            assert_eq!(back.len(), 1, "{}: one fragment", path.display());
            let back = &back[0];
            assert_eq!(back.metadata, orig.metadata, "{}: metadata", path.display());
            assert_eq!(back.end.complete, orig.end.complete);
            assert_eq!(back.end.millis_behind_now, orig.end.millis_behind_now);
            assert_eq!(back.end.continuation_token, orig.end.continuation_token);
            assert_eq!(back.tracks.len(), orig.tracks.len());
            for (b, o) in back.tracks.iter().zip(&orig.tracks) {
                assert_eq!(
                    (b.number, &b.codec_id, &b.codec_private, b.video, b.audio),
                    (o.number, &o.codec_id, &o.codec_private, o.video, o.audio)
                );
            }
            let ids =
                |f: &Fragment| f.frames.iter().map(|f| (frame_id(f), f.timestamp_ms())).collect::<Vec<_>>();
            assert_eq!(ids(back), ids(orig), "{}: the original frames, timestamps included", path.display());
            let tags = |f: &Fragment| {
                f.tags
                    .iter()
                    .map(|t| (t.name.clone(), t.value.clone(), t.parents.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(tags(back), tags(orig), "{}: the producer tags", path.display());
            if let Some(n) = orig.fragment_number() {
                assert!(
                    path.file_name().unwrap().to_string_lossy().starts_with(n.as_str()),
                    "named by fragment number"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// merge

/// Checks a merge of `input` into `out`: every frame once, in order, each fragment's
/// timing kept, clusters monotonic from 0, fragments back to back, ffprobe agrees.
fn check_merge(input: &Path, out: &Path) {
    let o = run(&[os("merge"), input.as_os_str(), os("--output"), out.as_os_str()]);
    let name = input.display();
    let originals: Vec<Fragment> = fragments(input).into_iter().filter(|f| !f.frames.is_empty()).collect();
    if originals.is_empty() {
        assert!(!o.status.success(), "{name}: nothing to merge is an error");
        return;
    }
    let merged_events = events(out);
    let docs = merged_events.iter().filter(|e| matches!(e, Event::DocumentStart { .. })).count();
    // The decoder repeats the document's Tracks after each FragmentStart (a merged file holds
    // several fragments); a second Tracks element would come with a tracks-replaced warning.
    let tracks = merged_events.iter().filter(|e| matches!(e, Event::Tracks(_))).count();
    let starts = merged_events.iter().filter(|e| matches!(e, Event::FragmentStart { .. })).count();
    let replaced = merged_events
        .iter()
        .filter(|e| matches!(e, Event::Warning(w) if w.kind.name() == "tracks-replaced"))
        .count();
    assert_eq!(
        (docs, tracks - starts, replaced),
        (1, 1, 0),
        "{name}: one EBML header, one Segment, one Tracks"
    );
    let clusters: Vec<u64> = merged_events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster { timestamp, .. } => Some(*timestamp),
            _ => None,
        })
        .collect();
    assert_eq!(clusters.first(), Some(&0), "{name}: the first cluster is at 0");
    assert!(clusters.windows(2).all(|w| w[0] < w[1]), "{name}: cluster timestamps increase: {clusters:?}");
    let frames: Vec<&kvs_chunk::Frame> = merged_events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    let all: Vec<&kvs_chunk::Frame> = originals.iter().flat_map(|f| &f.frames).collect();
    assert_eq!(frames.len(), all.len(), "{name}: every frame once");
    assert_eq!(
        frames.iter().map(|f| frame_id(f)).collect::<Vec<_>>(),
        all.iter().map(|f| frame_id(f)).collect::<Vec<_>>(),
        "{name}: the same frames in the same order"
    );
    // Per fragment: one shift for all its frames (timing within it kept, to the ms), and
    // each fragment after the previous one.
    let mut at = 0;
    let mut prev_max = i64::MIN;
    for f in &originals {
        let n = f.frames.len();
        let out = &frames[at..at + n];
        let shift = out[0].timestamp_ms() - f.frames[0].timestamp_ms();
        for (m, o) in out.iter().zip(&f.frames) {
            assert!(
                (m.timestamp_ms() - o.timestamp_ms() - shift).abs() <= 1,
                "{name}: timing within a fragment"
            );
        }
        let min = out.iter().map(|f| f.timestamp_ms()).min().unwrap();
        assert!(
            min > prev_max || prev_max == i64::MIN,
            "{name}: fragments follow each other ({min} after {prev_max})"
        );
        prev_max = out.iter().map(|f| f.timestamp_ms()).max().unwrap();
        at += n;
    }
    if tool("ffprobe") {
        assert_eq!(ffprobe_packets(out), all.len() as u64, "{name}: ffprobe reads every frame");
    }
}

#[test]
fn merge_every_fixture() {
    let dir = scratch("merge");
    for mkv in fixtures() {
        let out = dir.join(format!("{}.merged.mkv", mkv.file_stem().unwrap().to_string_lossy()));
        check_merge(&mkv, &out);
    }
}

#[test]
fn merge_java_captures_and_the_sparse_expectation() {
    let Some(java) = java() else { return };
    let dir = scratch("merge-java");
    for name in [
        "output_get_media.mkv",
        "output_get_media_sparse_fragments.mkv",
        "output-get-media-non-increasing-timecode.mkv",
        "output-get-media-equal-timecode.mkv",
        "kinesis_video_renderer_example_output.mkv",
        "test_mixed_tags.mkv",
    ] {
        check_merge(&java.join(name), &dir.join(name));
    }
    // OutputSegmentMerger(packClusters) on the sparse file: the same frames at the same
    // times as the Java library's output (clusters 0, 2000, 4000).
    let ours = events(&dir.join("output_get_media_sparse_fragments.mkv"));
    let theirs = events(&java.join("output_get_media_sparse_fragments_merged.mkv"));
    let frames = |ev: &[Event]| {
        ev.iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some((frame_id(f), f.timestamp_ms())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(frames(&ours), frames(&theirs));
    let clusters = |ev: &[Event]| {
        ev.iter()
            .filter_map(|e| match e {
                Event::Cluster { timestamp, .. } => Some(*timestamp),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(clusters(&ours), [0, 2000, 4000]);
    // Every tag kept: 12 TagNames per fragment (7 producer, 3 + 2 service).
    let names = |p: &Path| {
        let data = std::fs::read(p).unwrap();
        kvs_ebml::SliceTokenizer::new(&data)
            .filter(|t| matches!(t, Ok(kvs_ebml::Token::Leaf { header, .. }) if header.id == kvs_ebml::ids::TAG_NAME))
            .count()
    };
    assert_eq!(names(&dir.join("output_get_media.mkv")), 60);
    assert_eq!(names(&dir.join("output_get_media_sparse_fragments.mkv")), 36);
    // The merged real video decodes.
    if tool("ffmpeg") {
        let o = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(dir.join("output_get_media.mkv"))
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // The file concatenated with itself (Java: mergeWithTimeCodeBackwards) is one file of
    // 600 frames on one timeline.
    let twice = dir.join("twice-input.mkv");
    let mut bytes = std::fs::read(java.join("output_get_media.mkv")).unwrap();
    bytes.extend_from_within(..);
    std::fs::write(&twice, bytes).unwrap();
    check_merge(&twice, &dir.join("twice.mkv"));
}

#[test]
fn merge_starts_a_new_file_when_the_tracks_change() {
    let dir = scratch("merge-tracks");
    let input = dir.join("h264-then-hevc.mkv");
    let mut bytes = std::fs::read(testdata().join("getmedia_basic.mkv")).unwrap();
    bytes.extend(std::fs::read(testdata().join("hevc.mkv")).unwrap());
    std::fs::write(&input, bytes).unwrap();
    let out = dir.join("out.mkv");
    let o = run(&[os("merge"), input.as_os_str(), os("-o"), out.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Vec<String> = stdout(&o).lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect();
    assert_eq!(listed, [out.display().to_string(), dir.join("out-1.mkv").display().to_string()]);
    let count = |p: &Path| events(p).iter().filter(|e| matches!(e, Event::Frame(_))).count();
    assert_eq!(count(&out), 150);
    assert_eq!(count(&dir.join("out-1.mkv")), 30);
    let codec = |p: &Path| {
        events(p).iter().find_map(|e| match e {
            Event::Tracks(t) => t[0].codec_id.clone(),
            _ => None,
        })
    };
    assert_eq!(codec(&out).as_deref(), Some("V_MPEG4/ISO/AVC"));
    assert_eq!(codec(&dir.join("out-1.mkv")).as_deref(), Some("V_MPEGH/ISO/HEVC"));
}

#[test]
fn merge_from_stdin() {
    let dir = scratch("merge-stdin");
    let out = dir.join("m.mkv");
    let o = bin()
        .args(["merge", "-", "-o"])
        .arg(&out)
        .stdin(std::fs::File::open(testdata().join("getmedia_basic.mkv")).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(events(&out).iter().filter(|e| matches!(e, Event::Frame(_))).count(), 150);
}

// ---------------------------------------------------------------------------------------
// extract

/// Makes a small real video with ffmpeg (None when ffmpeg or the encoder is missing).
fn encode(dir: &Path, codec: &str, name: &str) -> Option<PathBuf> {
    if !tool("ffmpeg") {
        return None;
    }
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=10",
        "-t",
        "3",
        "-c:v",
        codec,
    ]);
    if codec == "libx265" {
        cmd.args(["-x265-params", "log-level=error"]);
    }
    let o = cmd.args(["-g", "10"]).arg(&out).output().unwrap();
    if !o.status.success() {
        let why = format!("Debian's ffmpeg has it: {}", String::from_utf8_lossy(&o.stderr).trim());
        kvs_testkit::skip(&format!("ffmpeg's {codec} encoder"), &why);
        return None;
    }
    Some(out)
}

fn ffprobe_frames(path: &Path) -> u64 {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stdout(&o).trim().trim_end_matches(',').parse().unwrap()
}

fn decodes(path: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "ffmpeg decodes {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "no decoder errors: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn extracted_h264_and_h265_decode_in_ffmpeg() {
    let dir = scratch("extract-video");
    for (codec, ext) in [("libx264", "h264"), ("libx265", "h265")] {
        let Some(mkv) = encode(&dir, codec, &format!("{ext}.mkv")) else { continue };
        let out = dir.join(format!("out.{ext}"));
        let o = run(&[
            os("extract"),
            mkv.as_os_str(),
            os("--track"),
            os("1"),
            os("--format"),
            os("annexb"),
            os("--output"),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        decodes(&out);
        assert_eq!(ffprobe_frames(&out), 30, "{codec}: every frame");
        // Split into fragments, then merge back: still 30 decodable frames.
        let merged = dir.join(format!("merged-{ext}.mkv"));
        let o = run(&[os("merge"), mkv.as_os_str(), os("-o"), merged.as_os_str()]);
        assert!(o.status.success());
        decodes(&merged);
        assert_eq!(ffprobe_frames(&merged), 30);
    }
}

#[test]
fn annexb_carries_parameter_sets_before_keyframes() {
    let dir = scratch("extract-annexb");
    for (fixture, first_nal_type) in [("getmedia_basic.mkv", 7u8), ("hevc.mkv", 32)] {
        let out = dir.join(format!("{fixture}.es"));
        let o = run(&[os("extract"), testdata().join(fixture).as_os_str(), os("-o"), out.as_os_str()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let es = std::fs::read(&out).unwrap();
        assert_eq!(&es[..4], &[0, 0, 0, 1]);
        let t = if first_nal_type == 7 { es[4] & 0x1F } else { (es[4] >> 1) & 0x3F };
        assert_eq!(t, first_nal_type, "{fixture}: a parameter set first");
        let keyframes = fragments(&testdata().join(fixture))
            .iter()
            .flat_map(|f| &f.frames)
            .filter(|f| f.keyframe)
            .count();
        let sets = es
            .windows(5)
            .filter(|w| {
                w[..4] == [0, 0, 0, 1]
                    && (if first_nal_type == 7 { w[4] & 0x1F } else { (w[4] >> 1) & 0x3F }) == first_nal_type
            })
            .count();
        assert_eq!(sets, keyframes, "{fixture}: one set per keyframe");
    }
}

/// The fields of a 44-byte WAV header.
fn wav_fields(b: &[u8]) -> (u32, u16, u16, u32, u32, u16, u16, u32) {
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(&b[8..16], b"WAVEfmt ");
    assert_eq!(u32_at(16), 16);
    assert_eq!(&b[36..40], b"data");
    (u32_at(4), u16_at(20), u16_at(22), u32_at(24), u32_at(28), u16_at(32), u16_at(34), u32_at(40))
}

fn track_bytes(mkv: &Path, track: u64) -> Vec<u8> {
    fragments(mkv)
        .iter()
        .flat_map(|f| &f.frames)
        .filter(|f| f.track == track)
        .flat_map(|f| f.data.to_vec())
        .collect()
}

#[test]
fn connect_audio_becomes_correct_wav() {
    let dir = scratch("extract-wav");
    let mkv = testdata().join("connect_audio.mkv");
    for (track, selector) in [(1u64, "AUDIO_FROM_CUSTOMER"), (2, "2")] {
        let out = dir.join(format!("{selector}.wav"));
        let o = run(&[
            os("extract"),
            mkv.as_os_str(),
            os("--track"),
            os(selector),
            os("--format"),
            os("wav"),
            os("-o"),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let wav = std::fs::read(&out).unwrap();
        let pcm = track_bytes(&mkv, track);
        let (riff, format, channels, rate, byte_rate, align, bits, data) = wav_fields(&wav);
        assert_eq!((format, channels, rate, byte_rate, align, bits), (1, 1, 8000, 16000, 2, 16));
        assert_eq!(data as usize, pcm.len());
        assert_eq!(riff as usize, wav.len() - 8);
        assert_eq!(&wav[44..], &pcm[..], "the samples as they were (little-endian)");
    }
    // Both tracks at once, named after the ContactId.
    let o = run(&[os("extract"), mkv.as_os_str(), os("--connect"), os("--output-dir"), dir.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (track, name) in [(1, "AUDIO_FROM_CUSTOMER"), (2, "AUDIO_TO_CUSTOMER")] {
        let wav =
            std::fs::read(dir.join(format!("5f0c9a3e-1b2d-4c6e-8f7a-0d1e2f3a4b5c_{name}.wav"))).unwrap();
        assert_eq!(&wav[44..], &track_bytes(&mkv, track)[..]);
        if tool("ffprobe") {
            let o = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_name,sample_rate,channels",
                    "-of",
                    "csv=p=0",
                ])
                .arg(dir.join(format!("5f0c9a3e-1b2d-4c6e-8f7a-0d1e2f3a4b5c_{name}.wav")))
                .output()
                .unwrap();
            assert_eq!(stdout(&o).trim(), "pcm_s16le,8000,1");
        }
    }
}

#[test]
fn connect_real_shape_without_audio_element() {
    let Some(mkv) = kvs_testkit::conformance_path("yacchi-ebml/fixtures/kvs/connect_real_shape.mkv") else {
        return;
    };
    let dir = scratch("extract-connect-real");
    let o = run(&[os("extract"), mkv.as_os_str(), os("--connect"), os("--output-dir"), dir.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wav =
        std::fs::read(dir.join("00000000-0000-4000-8000-000000000001_AUDIO_FROM_CUSTOMER.wav")).unwrap();
    let (_, format, channels, rate, _, _, bits, data) = wav_fields(&wav);
    assert_eq!((format, channels, rate, bits), (1, 1, 8000, 16));
    assert_eq!(data as usize, track_bytes(&mkv, 1).len());
}

#[test]
fn extract_errors_are_one_sentence() {
    let dir = scratch("extract-errors");
    let cases: [(&[&str], &str); 3] = [
        (&["extract", "getmedia_basic.mkv", "--track", "9", "-o", "x"], "no track 9"),
        (
            &["extract", "getmedia_unknown_clusters.mkv", "--track", "2", "--format", "wav", "-o", "x.wav"],
            "use --format raw",
        ),
        (&["extract", "getmedia_basic.mkv", "--format", "wav", "-o", "x.wav"], "not PCM"),
    ];
    for (args, want) in cases {
        let o = bin()
            .current_dir(testdata())
            .args(
                args.iter().map(|a| if a.starts_with('x') { dir.join(a).into_os_string() } else { a.into() }),
            )
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    let o = run(&[os("extract"), os("/nonexistent.mkv"), os("-o"), os("x")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8(o.stderr).unwrap().contains("cannot open /nonexistent.mkv"));
}

// ---------------------------------------------------------------------------------------
// help and completions

#[test]
fn every_command_has_examples_in_its_help() {
    for cmd in [
        "inspect",
        "fragments",
        "events",
        "split",
        "merge",
        "extract",
        "get-media",
        "serve",
        "completions",
        "list-fragments",
        "list-streams",
        "get-media-for-fragment-list",
        "archive",
        "images",
    ] {
        let o = run(&[os(cmd), os("--help")]);
        assert!(o.status.success(), "{cmd}");
        assert!(stdout(&o).contains("Examples:"), "{cmd} --help has examples");
    }
    assert!(stdout(&run(&[os("--help")])).contains("Examples:"));
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&[os("completions"), os(shell)]);
        assert!(o.status.success());
        let text = stdout(&o);
        assert!(
            text.contains("kvs-mkv") && text.contains("merge") && text.contains("--output-dir"),
            "{shell}"
        );
    }
}

#[test]
fn split_names_files_by_fragment_number_and_time() {
    let dir = scratch("split-names");
    let o = run(&[os("split"), testdata().join("getmedia_basic.mkv").as_os_str(), os("-o"), dir.as_os_str()]);
    assert!(o.status.success());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5);
    let summary: Vec<Value> = String::from_utf8(
        run(&[os("fragments"), os("--json"), testdata().join("getmedia_basic.mkv").as_os_str()]).stdout,
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    for (name, s) in names.iter().zip(&summary) {
        let ms = s["producer_timestamp_ms"].as_i64().unwrap();
        let secs = ms / 1000;
        let stamp = format!("{:02}.{:03}Z", secs % 60, ms % 1000);
        assert!(name.starts_with(s["fragment_number"].as_str().unwrap()), "{name}");
        assert!(name.ends_with(&format!("{stamp}.mkv")), "{name} ends with {stamp}.mkv");
    }
}

// ---------------------------------------------------------------------------------------
// inspect a live stream

#[test]
fn inspect_a_live_stream_served_locally() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = bin()
        .args(["serve", "--port", &port.to_string(), "--stream"])
        .arg(format!("demo={}", testdata().join("getmedia_basic.mkv").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = bin()
        .args(["inspect", "--color", "never", "--stream-name", "demo", "--start-selector-type", "EARLIEST"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.starts_with("demo: tracks"), "{text}");
    assert!(text.contains("demo: 5 fragments (5 complete), 150 frames"), "{text}");
}
