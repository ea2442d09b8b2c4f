//! The commands that write files (`split`, `merge`, `extract`) on inputs a hostile producer
//! would write (issue 12): what they write is complete, readable back by kvs-mkv (and
//! FFmpeg where it is installed), never truncates a file written earlier in the run, and
//! holds at most a small multiple of the largest frame in memory.
//!
//! The inputs are built here, element by element, with the project's own writers
//! (`kvs_ebml::Writer`, `kvs_mux::elements`): [`Doc`] is one Matroska document (EBML header,
//! unknown-size Segment, Info) holding [`Part`]s in any order, so Tracks can come twice or
//! after the frames, a BlockGroup can hold two Blocks and a track number can be one that no
//! block header can carry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use common::bin;
use kvs_chunk::{AudioSettings, Track, TrackType, VideoSettings};
use kvs_ebml::writer::{MasterSize, SizeWidth};
use kvs_ebml::{Writer, ids};
use kvs_mux::elements::{TrackEntryOptions, write_ebml_header, write_tracks};

// ---------------------------------------------------------------------------------------
// Fixture builders.

/// One block of a cluster.
#[derive(Clone)]
enum Blk {
    /// A SimpleBlock: track, relative timestamp, keyframe, payload.
    Simple(u64, i16, bool, Vec<u8>),
    /// A BlockGroup holding one Block per (track, payload), in order.
    Group(i16, Vec<(u64, Vec<u8>)>),
}

/// A top-level part of a document's Segment.
#[derive(Clone)]
enum Part {
    Tracks(Vec<Track>),
    /// A Cluster with its Timestamp (ms) and blocks.
    Cluster(u64, Vec<Blk>),
    /// A Tags element: one Tag per (name, value), TagString when `false`, TagBinary when
    /// `true`.
    Tags(Vec<(String, Vec<u8>, bool)>),
}

/// A track number as a block header's VINT: the shortest width, or 8 bytes for values an
/// 8-byte VINT only holds as its all-ones pattern (2^56-1), which a block may still carry.
fn track_vint(n: u64) -> Vec<u8> {
    if n == (1 << 56) - 1 {
        return vec![0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    }
    let (b, len) = kvs_ebml::vint::encode_size(n, kvs_ebml::vint::size_width(n).unwrap()).unwrap();
    b[..len].to_vec()
}

fn block_payload(track: u64, rel: i16, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut v = track_vint(track);
    v.extend_from_slice(&rel.to_be_bytes());
    v.push(flags);
    v.extend_from_slice(data);
    v
}

/// One document: EBML header, unknown-size Segment, Info (TimestampScale 1 ms), the parts.
fn doc(parts: &[Part]) -> Vec<u8> {
    let mut w = Writer::new();
    write_ebml_header(&mut w, "matroska").unwrap();
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8)).unwrap();
    w.master(ids::INFO, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.unsigned(ids::TIMESTAMP_SCALE, 1_000_000)
    })
    .unwrap();
    for p in parts {
        match p {
            Part::Tracks(t) => write_tracks(&mut w, t, TrackEntryOptions::AS_DECODED).unwrap(),
            Part::Cluster(ts, blocks) => {
                w.master(ids::CLUSTER, MasterSize::Known(SizeWidth::Minimal), |w| {
                    w.unsigned(ids::TIMESTAMP, *ts)?;
                    for b in blocks {
                        match b {
                            Blk::Simple(track, rel, key, data) => {
                                let flags = if *key { 0x80 } else { 0 };
                                w.binary(ids::SIMPLE_BLOCK, &block_payload(*track, *rel, flags, data))?;
                            }
                            Blk::Group(rel, blocks) => {
                                w.master(ids::BLOCK_GROUP, MasterSize::Known(SizeWidth::Minimal), |w| {
                                    for (track, data) in blocks {
                                        w.binary(ids::BLOCK, &block_payload(*track, *rel, 0, data))?;
                                    }
                                    Ok(())
                                })?;
                            }
                        }
                    }
                    Ok(())
                })
                .unwrap();
            }
            Part::Tags(tags) => {
                w.master(ids::TAGS, MasterSize::Known(SizeWidth::Minimal), |w| {
                    for (name, value, binary) in tags {
                        w.master(ids::TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
                            w.master(ids::TARGETS, MasterSize::Known(SizeWidth::Minimal), |_| Ok(()))?;
                            w.master(ids::SIMPLE_TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
                                w.utf8(ids::TAG_NAME, name)?;
                                if *binary {
                                    w.binary(ids::TAG_BINARY, value)
                                } else {
                                    w.leaf(ids::TAG_STRING, value, SizeWidth::Minimal)
                                }
                            })
                        })?;
                    }
                    Ok(())
                })
                .unwrap();
            }
        }
    }
    w.into_inner()
}

fn video(number: u64, codec: &str, private: &[u8]) -> Track {
    let mut t = Track::new(number, TrackType::Video, codec);
    t.uid = Some(number.max(1));
    t.codec_private = Some(Bytes::copy_from_slice(private));
    t.video = Some(VideoSettings::new(640, 360));
    t
}

/// 8000 Hz mono 16-bit audio: `codec`, numbered `number`.
fn audio(number: u64, codec: &str) -> Track {
    let mut t = Track::new(number, TrackType::Audio, codec);
    t.uid = Some(number);
    let mut audio = AudioSettings::new(8000.0, 1);
    audio.bit_depth = Some(16);
    t.audio = Some(audio);
    t
}

/// A Connect-shaped audio track: `A_AAC` named `name`, 8000 Hz mono 16-bit PCM inside.
fn connect_track(number: u64, name: &str) -> Track {
    let mut t = audio(number, "A_AAC");
    t.name = Some(name.to_owned());
    t
}

fn pcm_track(number: u64) -> Track {
    audio(number, "A_PCM/INT/LIT")
}

/// `AVCC_640X360`'s H.264 access unit of `len` bytes (4-byte NAL length prefix).
fn h264(len: usize, key: bool, seed: u64) -> Vec<u8> {
    let mut rng = kvs_fixtures::synth::SplitMix64::new(seed);
    kvs_fixtures::synth::h264_frame(&mut rng, len, key)
}

fn avc() -> Track {
    video(1, "V_MPEG4/ISO/AVC", kvs_fixtures::synth::AVCC_640X360)
}

// ---------------------------------------------------------------------------------------
// Running the binary.

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvs-mkv-writers-hostile").join(test);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn write_input(dir: &Path, docs: &[Vec<u8>]) -> PathBuf {
    let path = dir.join("input.mkv");
    std::fs::write(&path, docs.concat()).unwrap();
    path
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `kvs-mkv events --json FILE`: exit status and the frame events' (track, size).
fn events(file: &Path) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let o = bin().arg("events").arg("--json").arg(file).output().unwrap();
    let evs = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (o.status.code(), evs, text(&o.stderr))
}

fn frames_of(evs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    evs.iter().filter(|e| e["type"] == "frame").collect()
}

fn tracks_of(evs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    evs.iter().filter(|e| e["type"] == "tracks").collect()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

// ---------------------------------------------------------------------------------------
// Item: frames of 30 MiB are written through.

const BIG: usize = 30 << 20;

/// Two fragments, each a cluster of three 30 MiB H.264 frames (one keyframe): 180 MiB.
fn big_frames(dir: &Path) -> PathBuf {
    let path = dir.join("big.mkv");
    {
        let mut docs = Vec::new();
        for d in 0..2u64 {
            let blocks =
                (0..3).map(|i| Blk::Simple(1, i * 40, i == 0, h264(BIG, i == 0, d * 3 + i as u64))).collect();
            docs.push(doc(&[Part::Tracks(vec![avc()]), Part::Cluster(d * 200, blocks)]));
        }
        std::fs::write(&path, docs.concat()).unwrap();
    }
    path
}

/// Runs `kvs-mkv args` under GNU time: its output and peak resident memory in KiB.
fn peak(time: &Path, args: &[&std::ffi::OsStr]) -> (Output, u64) {
    let mut o = Command::new(time)
        .args(["-f", "PEAK_KIB %M"])
        .arg(env!("CARGO_BIN_EXE_kvs-mkv"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    let kib = stderr.lines().find_map(|l| l.strip_prefix("PEAK_KIB ")?.trim().parse().ok()).unwrap();
    o.stderr = stderr
        .lines()
        .filter(|l| !l.starts_with("PEAK_KIB ") && !l.starts_with("Command exited"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    (o, kib)
}

/// The bound: twice the largest frame plus 32 MiB. The decoder alone (`kvs-mkv events`)
/// peaks at about 72 MiB on this input (it holds the frame's element while reading it);
/// the writers add a few KiB, where they used to gather a whole cluster (165 MiB for
/// `split` and `merge`) or convert a frame into a copy (104 MiB for `extract`).
const BOUND_KIB: u64 = (2 * BIG as u64 + (32 << 20)) / 1024;

#[test]
fn frames_of_30_mib_are_written_through_within_two_frames_and_32_mib() {
    let Some(time) = kvs_testkit::gnu_time() else { return };
    let dir = scratch("big-frames");
    let input = big_frames(&dir);
    let out = dir.join("out");
    let merged = dir.join("merged.mkv");
    let wav = dir.join("x.h264");
    let runs: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        ("split", vec![os("split"), input.as_os_str(), os("-o"), out.as_os_str()]),
        ("merge", vec![os("merge"), input.as_os_str(), os("-o"), merged.as_os_str()]),
        ("extract", vec![os("extract"), input.as_os_str(), os("-o"), wav.as_os_str()]),
        (
            "extract raw",
            vec![os("extract"), input.as_os_str(), os("-f"), os("raw"), os("-o"), wav.as_os_str()],
        ),
    ];
    let mut report = Vec::new();
    for (what, args) in runs {
        let (o, kib) = peak(&time, &args);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        report.push(format!("{what}: {kib} KiB"));
        assert!(kib <= BOUND_KIB, "{what}: peak {kib} KiB > {BOUND_KIB} KiB");
    }
    eprintln!("{}", report.join(", "));
    // What merge wrote reads back whole.
    let (code, evs, err) = events(&merged);
    assert_eq!(code, Some(0), "{err}");
    let frames = frames_of(&evs);
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| f["size"] == BIG as u64));
    // About 1 GB of input and outputs: not left behind.
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// extract --connect: contacts that come back, tracks that share a name.

/// 320 bytes (20 ms) of 16-bit PCM whose every sample is `tag`, so a file's audio shows
/// which frames it holds.
fn pcm_frame(tag: u16) -> Vec<u8> {
    tag.to_le_bytes().repeat(160)
}

/// A Connect-shaped document for `contact`: tracks `tracks`, one cluster at `ts` with one
/// frame per (track, sample value).
fn connect_doc(contact: &str, tracks: Vec<Track>, ts: u64, frames: &[(u64, u16)]) -> Vec<u8> {
    let blocks = frames
        .iter()
        .enumerate()
        .map(|(i, &(track, tag))| Blk::Simple(track, i as i16 * 20, true, pcm_frame(tag)))
        .collect();
    doc(&[
        Part::Tracks(tracks),
        Part::Tags(vec![("ContactId".to_owned(), contact.as_bytes().to_vec(), false)]),
        Part::Cluster(ts, blocks),
    ])
}

fn connect_tracks() -> Vec<Track> {
    vec![connect_track(1, "AUDIO_FROM_CUSTOMER"), connect_track(2, "AUDIO_TO_CUSTOMER")]
}

/// A WAV file's header fields (RIFF size, data size) and its samples.
fn wav(path: &Path) -> (u32, u32, Vec<u16>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..4], b"RIFF");
    assert_eq!(&b[36..40], b"data");
    let riff = u32::from_le_bytes(b[4..8].try_into().unwrap());
    let data = u32::from_le_bytes(b[40..44].try_into().unwrap());
    assert_eq!(riff as usize, b.len() - 8, "{}: RIFF size", path.display());
    assert_eq!(data as usize, b.len() - 44, "{}: data size", path.display());
    let samples = b[44..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    (riff, data, samples)
}

/// The distinct sample values of a file, in order of first appearance.
fn tags_in(samples: &[u16]) -> Vec<u16> {
    let mut v: Vec<u16> = Vec::new();
    for s in samples {
        if v.last() != Some(s) {
            v.push(*s);
        }
    }
    v
}

/// The paths `extract --connect` listed on stdout, each once, and each a file.
fn listed_files(o: &Output) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> =
        text(&o.stdout).lines().map(|l| PathBuf::from(l.split('\t').next().unwrap())).collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), paths.len(), "a file listed twice:\n{}", text(&o.stdout));
    for p in &paths {
        assert!(p.is_file(), "{} listed but not written", p.display());
    }
    paths
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn connect_a_contact_that_comes_back_is_appended_not_truncated() {
    let dir = scratch("connect-aba");
    let input = write_input(
        &dir,
        &[
            connect_doc("A", connect_tracks(), 0, &[(1, 1), (2, 2), (1, 3), (2, 4)]),
            connect_doc("B", connect_tracks(), 100, &[(1, 5), (2, 6)]),
            connect_doc("A", connect_tracks(), 200, &[(1, 7), (2, 8)]),
        ],
    );
    let out = dir.join("out");
    let o = run(&[os("extract"), input.as_os_str(), os("--connect"), os("--output-dir"), out.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed = listed_files(&o);
    assert_eq!(listed.len(), 4, "{}", text(&o.stdout));
    assert_eq!(
        names_in(&out),
        [
            "A_AUDIO_FROM_CUSTOMER.wav",
            "A_AUDIO_TO_CUSTOMER.wav",
            "B_AUDIO_FROM_CUSTOMER.wav",
            "B_AUDIO_TO_CUSTOMER.wav"
        ]
    );
    // A's audio is all there, in stream order, with sizes that say so.
    let (_, data, samples) = wav(&out.join("A_AUDIO_FROM_CUSTOMER.wav"));
    assert_eq!(data, 3 * 320);
    assert_eq!(tags_in(&samples), [1, 3, 7]);
    assert_eq!(tags_in(&wav(&out.join("A_AUDIO_TO_CUSTOMER.wav")).2), [2, 4, 8]);
    assert_eq!(tags_in(&wav(&out.join("B_AUDIO_FROM_CUSTOMER.wav")).2), [5]);
    // The summary gives each file's whole audio.
    let line = text(&o.stdout).lines().find(|l| l.contains("A_AUDIO_FROM_CUSTOMER")).unwrap().to_owned();
    assert!(line.ends_with("\t960 bytes of audio"), "{line}");
    assert!(text(&o.stderr).contains("4 WAV files in"), "{}", text(&o.stderr));
}

#[test]
fn connect_tracks_with_one_name_get_one_file_each() {
    let dir = scratch("connect-same-name");
    let tracks = vec![
        connect_track(1, "AUDIO_FROM_CUSTOMER"),
        connect_track(2, "AUDIO_TO_CUSTOMER"),
        connect_track(3, "AUDIO_FROM_CUSTOMER"),
    ];
    let input = write_input(
        &dir,
        &[
            connect_doc("A", tracks.clone(), 0, &[(1, 1), (2, 2), (3, 3)]),
            connect_doc("B", tracks, 100, &[(1, 4), (2, 5), (3, 6)]),
        ],
    );
    let out = dir.join("out");
    let o = run(&[os("extract"), input.as_os_str(), os("--connect"), os("--output-dir"), out.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed = listed_files(&o);
    assert_eq!(listed.len(), 6, "{}", text(&o.stdout));
    assert_eq!(names_in(&out).len(), 6, "{:?}", names_in(&out));
    let expect = [
        ("A_AUDIO_FROM_CUSTOMER.wav", 1),
        ("A_AUDIO_TO_CUSTOMER.wav", 2),
        ("A_AUDIO_FROM_CUSTOMER-3.wav", 3),
        ("B_AUDIO_FROM_CUSTOMER.wav", 4),
        ("B_AUDIO_TO_CUSTOMER.wav", 5),
        ("B_AUDIO_FROM_CUSTOMER-3.wav", 6),
    ];
    for (name, tag) in expect {
        assert_eq!(tags_in(&wav(&out.join(name)).2), [tag], "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// merge and split write what kvs-mkv reads back.

/// A fragment with a 10 MiB fragment number (a TagBinary, which the reader takes up to
/// 32 MiB) and one frame, then a normal one.
fn huge_fragment_number(dir: &Path) -> PathBuf {
    let number = vec![b'7'; 10 << 20];
    let tags = |n: Vec<u8>| {
        Part::Tags(vec![
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER".to_owned(), n, true),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP".to_owned(), b"1511852109.126".to_vec(), false),
        ])
    };
    let cluster = |ts| Part::Cluster(ts, vec![Blk::Simple(1, 0, true, h264(64, true, ts))]);
    write_input(
        dir,
        &[
            doc(&[Part::Tracks(vec![avc()]), tags(number), cluster(0)]),
            doc(&[
                Part::Tracks(vec![avc()]),
                tags(b"91343852333181432392682062607743920146159169392".to_vec()),
                cluster(40),
            ]),
        ],
    )
}

#[test]
fn merge_and_split_leave_out_a_tag_value_their_reader_refuses() {
    let dir = scratch("huge-tag");
    let input = huge_fragment_number(&dir);
    let merged = dir.join("merged.mkv");
    let o = run(&[os("merge"), input.as_os_str(), os("-o"), merged.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("AWS_KINESISVIDEO_FRAGMENT_NUMBER (10485760 bytes)") && err.contains("not written"),
        "{err}"
    );
    let (code, evs, e) = events(&merged);
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(frames_of(&evs).len(), 2);
    let bytes = std::fs::read(&merged).unwrap();
    let number = b"91343852333181432392682062607743920146159169392";
    assert!(bytes.windows(number.len()).any(|w| w == number), "the other fragment number is kept");
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());

    let out = dir.join("split");
    let o = run(&[os("split"), input.as_os_str(), os("-o"), out.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("AWS_KINESISVIDEO_FRAGMENT_NUMBER"), "{}", text(&o.stderr));
    let files = names_in(&out);
    assert_eq!(files.len(), 2, "{files:?}");
    for f in files {
        let (code, evs, e) = events(&out.join(&f));
        assert_eq!(code, Some(0), "{f}: {e}");
        assert_eq!(frames_of(&evs).len(), 1, "{f}");
    }
}

/// `merge` and `split` of `input` into `dir`: every output file (merged first).
fn merge_and_split(dir: &Path, input: &Path) -> (Output, Output, Vec<PathBuf>) {
    let merged = dir.join("merged.mkv");
    let m = run(&[os("merge"), input.as_os_str(), os("-o"), merged.as_os_str()]);
    let out = dir.join("split");
    let s = run(&[os("split"), input.as_os_str(), os("-o"), out.as_os_str()]);
    let mut files = vec![merged];
    if out.is_dir() {
        files.extend(names_in(&out).into_iter().map(|n| out.join(n)));
    }
    (m, s, files)
}

/// Checks an output file: kvs-mkv reads it with exit 0, one Tracks with track numbers
/// `tracks`, and frames of those tracks only, `frames` of them; FFmpeg (when installed)
/// reads the same number of packets.
fn check_output(file: &Path, tracks: &[u64], frames: usize) {
    let (code, evs, e) = events(file);
    assert_eq!(code, Some(0), "{}: {e}", file.display());
    let t = tracks_of(&evs);
    assert_eq!(t.len(), 1, "{}", file.display());
    let numbers: Vec<u64> =
        t[0]["tracks"].as_array().unwrap().iter().map(|t| t["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, tracks, "{}", file.display());
    let f = frames_of(&evs);
    assert_eq!(f.len(), frames, "{}", file.display());
    assert!(f.iter().all(|f| tracks.contains(&f["track"].as_u64().unwrap())), "{}", file.display());
    if let Some((_, ffprobe)) = kvs_testkit::ffmpeg() {
        let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, file);
        assert_eq!(packets.len(), frames, "{}: ffprobe", file.display());
    }
}

#[test]
fn frames_of_undeclared_tracks_are_not_written_and_counted_once() {
    let dir = scratch("undeclared");
    let blocks = vec![
        Blk::Simple(1, 0, true, h264(100, true, 1)),
        Blk::Simple(5, 0, true, vec![1, 2, 3]),
        Blk::Simple(1, 40, false, h264(100, false, 2)),
        Blk::Simple(9, 40, true, vec![4, 5, 6]),
        Blk::Simple(5, 80, true, vec![7, 8, 9]),
    ];
    let input = write_input(&dir, &[doc(&[Part::Tracks(vec![avc()]), Part::Cluster(0, blocks)])]);
    let (m, s, files) = merge_and_split(&dir, &input);
    for o in [&m, &s] {
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        // The decoder's warning (the first, then a count), and the writer's one line.
        assert!(err.contains("warning: block for track 5, which no Tracks read so far declares"), "{err}");
        let lines: Vec<&str> =
            err.lines().filter(|l| l.contains("not declare") && l.contains("not written")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains("3 frames") && lines[0].contains("track 5, 9"), "{err}");
    }
    assert_eq!(files.len(), 2);
    for f in &files {
        check_output(f, &[1], 2);
    }
}

#[test]
fn a_second_tracks_never_gives_two_track_entries_of_one_number() {
    let dir = scratch("two-tracks");
    let hevc = video(1, "V_MPEGH/ISO/HEVC", kvs_fixtures::synth::HVCC_LIKE);
    let mut rng = kvs_fixtures::synth::SplitMix64::new(7);
    let frame = kvs_fixtures::synth::hevc_frame(&mut rng, 200, true);
    let input = write_input(
        &dir,
        &[doc(&[
            Part::Tracks(vec![avc()]),
            Part::Tracks(vec![hevc]),
            Part::Cluster(0, vec![Blk::Simple(1, 0, true, frame)]),
        ])],
    );
    let (m, s, files) = merge_and_split(&dir, &input);
    assert!(m.status.success(), "{}", text(&m.stderr));
    assert!(s.status.success(), "{}", text(&s.stderr));
    for f in &files {
        let (code, evs, e) = events(f);
        assert_eq!(code, Some(0), "{e}");
        let t = tracks_of(&evs);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0]["tracks"].as_array().unwrap().len(), 1, "{}: {:?}", f.display(), t[0]);
        assert_eq!(frames_of(&evs).len(), 1);
    }

    // extract takes the codec of the last Tracks: H.265, so the VPS comes first.
    let h265 = dir.join("x.h265");
    let o = run(&[os("extract"), input.as_os_str(), os("-o"), h265.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("V_MPEGH/ISO/HEVC"), "{}", text(&o.stderr));
    let bytes = std::fs::read(&h265).unwrap();
    assert_eq!(&bytes[..6], &[0, 0, 0, 1, 0x40, 0x01], "a VPS first, not an H.264 SPS");
}

#[test]
fn tracks_no_block_can_refer_to_are_skipped_with_a_warning() {
    let dir = scratch("huge-track-number");
    let top = (1u64 << 56) - 1;
    let tracks = vec![
        avc(),
        video(top, "V_MPEG4/ISO/AVC", kvs_fixtures::synth::AVCC_640X360),
        video(u64::MAX, "V_MPEG4/ISO/AVC", kvs_fixtures::synth::AVCC_640X360),
    ];
    let blocks = vec![
        Blk::Simple(1, 0, true, h264(100, true, 1)),
        Blk::Simple(top, 0, true, h264(100, true, 2)),
        Blk::Simple(1, 40, false, h264(100, false, 3)),
    ];
    let input = write_input(&dir, &[doc(&[Part::Tracks(tracks), Part::Cluster(0, blocks)])]);
    let (m, s, files) = merge_and_split(&dir, &input);
    for o in [&m, &s] {
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(!err.contains("VINT width"), "{err}");
        // The decoder drops both TrackEntries (a warning, then a count of two); the writer
        // leaves out the frame of the one a block could name.
        assert!(err.contains(&format!("TrackNumber {top} cannot be used by a block")), "{err}");
        assert!(err.contains("2 warnings of the kind invalid-track-number"), "{err}");
        let line = err.lines().find(|l| l.contains("2^56-2")).unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("1 frame of tracks") && line.contains(&top.to_string()), "{line}");
    }
    for f in &files {
        check_output(f, &[1], 2);
    }
}

// ---------------------------------------------------------------------------------------
// extract: frames before Tracks.

/// `kvs-mkv ARGS` with standard input from `input` (a stream: nothing can be read ahead).
fn run_stdin(args: &[&std::ffi::OsStr], input: &std::path::Path) -> Output {
    bin().args(args).stdin(std::fs::File::open(input).unwrap()).output().unwrap()
}

/// On standard input the frames that come before their document's Tracks cannot be placed:
/// counted, and nothing extracted. From a regular file the Tracks are read ahead and every
/// frame is extracted.
#[test]
fn extract_fails_when_every_frame_comes_before_tracks() {
    let dir = scratch("tracks-after-frames");
    let blocks = vec![Blk::Simple(1, 0, true, pcm_frame(1)), Blk::Simple(1, 20, true, pcm_frame(2))];
    let input = write_input(&dir, &[doc(&[Part::Cluster(0, blocks), Part::Tracks(vec![pcm_track(1)])])]);
    for format in ["raw", "wav"] {
        let out = dir.join(format!("x.{format}"));
        let o = run(&[os("extract"), input.as_os_str(), os("-f"), os(format), os("-o"), out.as_os_str()]);
        assert!(o.status.success(), "{format}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("2 frames"), "{format}: read ahead: {}", text(&o.stderr));
        let o = run_stdin(&[os("extract"), os("-"), os("-f"), os(format), os("-o"), out.as_os_str()], &input);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains("2 frames came before any Tracks"), "{format}: {err}");
        assert!(err.contains("nothing extracted"), "{format}: {err}");
    }
    // Connect audio the same way.
    let blocks = vec![Blk::Simple(1, 0, true, pcm_frame(1))];
    let input = write_input(
        &dir,
        &[doc(&[
            Part::Tags(vec![("ContactId".to_owned(), b"A".to_vec(), false)]),
            Part::Cluster(0, blocks),
            Part::Tracks(connect_tracks()),
        ])],
    );
    let out = dir.join("connect");
    let o = run(&[os("extract"), input.as_os_str(), os("--connect"), os("--output-dir"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 frame came before any Tracks"), "{}", text(&o.stderr));
    assert!(text(&o.stdout).is_empty());

    // Frames after their Tracks in a later document are still extracted (exit 0), the
    // early ones counted.
    let late = doc(&[
        Part::Cluster(0, vec![Blk::Simple(1, 0, true, pcm_frame(1))]),
        Part::Tracks(vec![pcm_track(1)]),
    ]);
    let good = doc(&[
        Part::Tracks(vec![pcm_track(1)]),
        Part::Cluster(40, vec![Blk::Simple(1, 0, true, pcm_frame(3))]),
    ]);
    let input = write_input(&dir, &[late, good]);
    let out = dir.join("y.wav");
    let o = run_stdin(&[os("extract"), os("-"), os("-o"), out.as_os_str()], &input);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 frame came before any Tracks"), "{}", text(&o.stderr));
    assert_eq!(tags_in(&wav(&out).2), [3]);
    // From the file, the first document's Tracks are read ahead: both frames.
    let o = run(&[os("extract"), input.as_os_str(), os("-o"), out.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("before any Tracks"), "{}", text(&o.stderr));
    assert_eq!(tags_in(&wav(&out).2), [1, 3]);
}

// ---------------------------------------------------------------------------------------
// A BlockGroup with two Blocks: the writers write exactly the frames the decoder gives.

#[test]
fn a_block_group_with_two_blocks_is_written_as_the_events_give_it() {
    let dir = scratch("two-blocks");
    let blocks = vec![
        Blk::Simple(1, 0, true, h264(100, true, 1)),
        Blk::Group(40, vec![(1, h264(120, false, 2)), (1, h264(140, false, 3))]),
    ];
    let input = write_input(&dir, &[doc(&[Part::Tracks(vec![avc()]), Part::Cluster(0, blocks)])]);
    let (_, evs, _) = events(&input);
    let want: Vec<(u64, String)> = frames_of(&evs)
        .iter()
        .map(|f| (f["size"].as_u64().unwrap(), f["crc32"].as_str().unwrap().to_owned()))
        .collect();
    // The group's first Block is the one kept (the second used to replace it silently).
    let sizes: Vec<u64> = want.iter().map(|(n, _)| *n).collect();
    assert_eq!(sizes, [100, 120], "{want:?}");
    let (m, s, files) = merge_and_split(&dir, &input);
    assert!(m.status.success() && s.status.success(), "{}{}", text(&m.stderr), text(&s.stderr));
    assert!(text(&m.stderr).contains("BlockGroup has more than one Block"), "{}", text(&m.stderr));
    for f in &files {
        let (code, evs, e) = events(f);
        assert_eq!(code, Some(0), "{e}");
        let got: Vec<(u64, String)> = frames_of(&evs)
            .iter()
            .map(|f| (f["size"].as_u64().unwrap(), f["crc32"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(got, want, "{}", f.display());
    }
}

#[test]
fn connect_contact_ids_that_make_one_file_name_still_get_their_own_files() {
    let dir = scratch("connect-contact-names");
    let long = "9".repeat(5000);
    let contacts = ["a/b", "a:b", "a_b", long.as_str(), "../x"];
    let docs: Vec<Vec<u8>> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| connect_doc(c, connect_tracks(), i as u64 * 100, &[(1, i as u16 + 1)]))
        .collect();
    let input = write_input(&dir, &docs);
    let out = dir.join("out");
    let o = run(&[os("extract"), input.as_os_str(), os("--connect"), os("--output-dir"), out.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed = listed_files(&o);
    assert_eq!(listed.len(), contacts.len(), "{}", text(&o.stdout));
    let names = names_in(&out);
    assert_eq!(names.len(), contacts.len(), "{names:?}");
    for (i, p) in listed.iter().enumerate() {
        assert_eq!(p.parent().unwrap(), out);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.len() < 120 && !name.starts_with('.'), "{name}");
        assert_eq!(tags_in(&wav(p).2), [i as u16 + 1], "{name}");
    }
}
