//! Differential tests against the `matroska-demuxer` crate (0.8), a peer Matroska reader:
//! on plain MKV files both must give the same frames in the same order, with the same track,
//! timestamp, flags (where the peer reports them) and bytes.
//!
//! The peer reads one Segment and reports timestamps in TimestampScale units, every frame
//! of a lace with the lace's timestamp, a negative timestamp clamped at 0, and keyframe and
//! discardable flags for SimpleBlocks only (`None` for a BlockGroup's Block). kvs-chunk
//! reports nanoseconds and steps a lace's frames by the track's DefaultDuration; the
//! comparison undoes that step and compares in nanoseconds.
//!
//! The yacchi-ebml fixtures are not compared: their EBML headers have no DocTypeVersion,
//! which the peer requires.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use bytes::Bytes;
use common::{decode_all, name, read};
use kvs_chunk::{Event, Frame};
use matroska_demuxer::{Frame as PeerFrame, MatroskaFile};

/// What kvs-chunk gives for the first document: its frames and TimestampScale (a defect
/// later in the stream does not matter here).
struct Ours {
    frames: Vec<Frame>,
    scale: u64,
    default_durations: BTreeMap<u64, u64>,
    documents: usize,
}

fn ours(input: Bytes) -> Ours {
    let (events, _) = decode_all(input);
    let mut out =
        Ours { frames: Vec::new(), scale: 1_000_000, default_durations: BTreeMap::new(), documents: 0 };
    for e in events {
        match e {
            Event::DocumentStart { .. } => out.documents += 1,
            _ if out.documents > 1 => {}
            Event::Tracks(tracks) => {
                for t in tracks {
                    if let Some(d) = t.default_duration_ns {
                        out.default_durations.insert(t.number, d);
                    }
                }
            }
            Event::Cluster { timestamp_scale, .. } => out.scale = timestamp_scale,
            Event::Frame(f) => out.frames.push(f),
            _ => {}
        }
    }
    out
}

/// The position of the first Segment's unknown 8-byte size, if it has one.
const UNKNOWN_SEGMENT: [u8; 12] = [0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Rewrites that let the peer open a file without moving a byte (every offset and frame
/// stays where it was):
/// - the first Segment's unknown size (`01 FF FF FF FF FF FF FF`, which the peer cannot
///   open) becomes the same-width known size up to the end of input;
/// - with `void_seek_head`, a SeekHead that starts the Segment becomes a Void of the same
///   length, so the peer scans the top-level elements itself (clusters.mkv's SeekHead
///   points its Cues past the end of the file, and the peer gives up on that).
fn for_the_peer(input: &[u8], void_seek_head: bool) -> Vec<u8> {
    let mut v = input.to_vec();
    let Some(at) = v.windows(UNKNOWN_SEGMENT.len()).position(|w| w == UNKNOWN_SEGMENT) else { return v };
    let data = at + UNKNOWN_SEGMENT.len();
    let size = (v.len() - data) as u64;
    v[at + 5..data].copy_from_slice(&size.to_be_bytes()[1..]);
    if void_seek_head && v[data..].starts_with(&[0x11, 0x4D, 0x9B, 0x74]) {
        let first = v[data + 4];
        let width = first.leading_zeros() as usize + 1;
        let mut body = u64::from(first & (0xFF >> width));
        for b in &v[data + 5..data + 4 + width] {
            body = (body << 8) | u64::from(*b);
        }
        let total = 4 + width + body as usize;
        assert!(total >= 9);
        let mut void = vec![0xEC, 0x01];
        void.extend_from_slice(&((total - 9) as u64).to_be_bytes()[1..]);
        void.resize(total, 0);
        v[data..data + total].copy_from_slice(&void);
    }
    v
}

/// The peer's frames, up to `limit` of them (it may not stop cleanly after one Segment).
fn peer(input: &[u8], limit: usize) -> Result<(Vec<PeerFrame>, u64), String> {
    let mut file = match MatroskaFile::open(Cursor::new(for_the_peer(input, false))) {
        Ok(f) => f,
        Err(_) => {
            MatroskaFile::open(Cursor::new(for_the_peer(input, true))).map_err(|e| format!("open: {e:?}"))?
        }
    };
    let scale = file.info().timestamp_scale().get();
    let mut frames = Vec::new();
    let mut frame = PeerFrame::default();
    while frames.len() < limit {
        match file.next_frame(&mut frame) {
            Ok(true) => frames.push(frame.clone()),
            Ok(false) => break,
            Err(e) => return Err(format!("after {} frames: {e:?}", frames.len())),
        }
    }
    Ok((frames, scale))
}

/// Compares frame by frame; returns how many frames were compared.
fn compare(file: &str, ours: &Ours, theirs: &[PeerFrame], peer_scale: u64) -> usize {
    assert_eq!(ours.scale, peer_scale, "{file}: TimestampScale");
    for (i, (a, b)) in ours.frames.iter().zip(theirs).enumerate() {
        let ctx = format!("{file}: frame {i} (block at {})", a.block_offset);
        assert_eq!(a.track, b.track, "{ctx}: track");
        let step = ours.default_durations.get(&a.track).copied().unwrap_or(0) * u64::from(a.lace.0);
        let lace_ns = a.timestamp_ns - step as i64;
        if lace_ns >= 0 {
            assert_eq!(lace_ns, (b.timestamp * peer_scale) as i64, "{ctx}: timestamp");
        } else {
            assert_eq!(b.timestamp, 0, "{ctx}: the peer clamps negative timestamps at 0");
        }
        if let Some(k) = b.is_keyframe {
            assert_eq!(a.keyframe, k, "{ctx}: keyframe");
        }
        if let Some(d) = b.is_discardable {
            assert_eq!(a.discardable, d, "{ctx}: discardable");
        }
        assert_eq!(a.invisible, b.is_invisible, "{ctx}: invisible");
        assert!(a.data == b.data, "{ctx}: bytes ({} vs {})", a.data.len(), b.data.len());
    }
    ours.frames.len().min(theirs.len())
}

fn plain_file(path: &Path) {
    let file = name(path);
    let input = read(path);
    let (_, errors) = decode_all(input.clone());
    assert!(errors.is_empty(), "{file}: {errors:?}");
    let ours = ours(input.clone());
    assert_eq!(ours.documents, 1, "{file}");
    let (theirs, scale) = peer(&input, usize::MAX).unwrap_or_else(|e| panic!("{file}: peer failed: {e}"));
    assert_eq!(ours.frames.len(), theirs.len(), "{file}: frame count");
    let n = compare(&file, &ours, &theirs, scale);
    println!("{file}: {n} frames agree");
}

#[test]
fn kvs_java_plain_mkv_files_match_the_peer() {
    let Some(dir) = common::conformance_dir() else { return };
    let files = [
        "clusters.mkv",
        "vogels_480.mkv",
        "vogels_330.mkv",
        "bezos_vogels.mkv",
        // One Segment holding three fragments' clusters (the Java merger's output).
        "output_get_media_sparse_fragments_merged.mkv",
    ];
    for file in files {
        plain_file(&dir.join("kvs-java").join(file));
    }
}

/// GetMedia output is several Segments; the peer reads the first one (its next frames, if
/// any, come from beyond that Segment and are not compared).
fn first_fragments_match(dir: &Path) {
    for path in common::mkv_files(dir) {
        let file = name(&path);
        let input = read(&path);
        let (events, _) = decode_all(input.clone());
        let docs = events.iter().filter(|e| matches!(e, Event::DocumentStart { .. })).count();
        if docs < 2 {
            continue;
        }
        let ours = ours(input.clone());
        match peer(&input, ours.frames.len()) {
            Ok((theirs, scale)) => {
                assert_eq!(theirs.len(), ours.frames.len(), "{file}");
                let n = compare(&file, &ours, &theirs, scale);
                println!("{file}: {n} frames of the first fragment agree");
            }
            Err(e) => panic!("{file}: the peer cannot read it ({e})"),
        }
    }
}

#[test]
fn kvs_java_getmedia_first_fragment_matches_the_peer() {
    let Some(dir) = common::conformance_dir() else { return };
    first_fragments_match(&dir.join("kvs-java"));
}

#[test]
fn testdata_files_match_the_peer_where_it_reads_them() {
    let files = common::mkv_files(&common::testdata_dir());
    if files.is_empty() {
        println!("skipped: no testdata/*.mkv");
        return;
    }
    let mut compared = 0;
    for path in files {
        let file = name(&path);
        let input = read(&path);
        let ours = ours(input.clone());
        if ours.frames.is_empty() {
            continue;
        }
        match peer(&input, ours.frames.len()) {
            Ok((theirs, scale)) => {
                assert_eq!(theirs.len(), ours.frames.len(), "{file}: frames of the first document");
                compare(&file, &ours, &theirs, scale);
                println!("{file}: {} frames of the first document agree", ours.frames.len());
                compared += 1;
            }
            Err(e) => println!("{file}: the peer cannot read it ({e}); not compared"),
        }
    }
    assert!(compared > 0, "the peer read none of testdata/*.mkv");
}
