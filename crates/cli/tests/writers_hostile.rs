//! The commands that write files (`split`, `merge`, `extract`) on inputs a hostile producer
//! would write (issue 12): what they write is complete, readable back by kvs-mkv (and
//! FFmpeg where it is installed), never truncates a file written earlier in the run, and
//! holds at most a small multiple of the largest frame in memory.
//!
//! The inputs are built here, element by element, with the project's own writers
//! (`kvs_ebml::Writer`, `kvs_chunk::mux`): [`Doc`] is one Matroska document (EBML header,
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
use kvs_chunk::mux::{TrackEntryOptions, write_ebml_header, write_tracks};
use kvs_chunk::{AudioSettings, Track, TrackType, VideoSettings};
use kvs_ebml::writer::{MasterSize, SizeWidth};
use kvs_ebml::{Writer, ids};

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
    Track {
        number,
        uid: Some(number.max(1)),
        kind: TrackType::Video,
        codec_id: Some(codec.to_owned()),
        codec_private: Some(Bytes::copy_from_slice(private)),
        video: Some(VideoSettings { width: Some(640), height: Some(360), ..VideoSettings::default() }),
        ..Track::default()
    }
}

/// A Connect-shaped audio track: `A_AAC` named `name`, 8000 Hz mono 16-bit PCM inside.
fn connect_track(number: u64, name: &str) -> Track {
    Track {
        number,
        uid: Some(number),
        kind: TrackType::Audio,
        codec_id: Some("A_AAC".to_owned()),
        name: Some(name.to_owned()),
        audio: Some(AudioSettings {
            sampling_frequency: Some(8000.0),
            channels: Some(1),
            bit_depth: Some(16),
        }),
        ..Track::default()
    }
}

fn pcm_track(number: u64) -> Track {
    Track {
        number,
        uid: Some(number),
        kind: TrackType::Audio,
        codec_id: Some("A_PCM/INT/LIT".to_owned()),
        audio: Some(AudioSettings {
            sampling_frequency: Some(8000.0),
            channels: Some(1),
            bit_depth: Some(16),
        }),
        ..Track::default()
    }
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
    if !path.exists() {
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
}
