//! The hostile corpus (`testdata/hostile/`): small inputs built byte by byte, each with one
//! defect, that every layer (kvs-ebml, kvs-chunk, the `kvs-mkv` command) must survive with a
//! typed error or a clean end, no panic, no hang, and bounded memory.
//!
//! Each input comes with its expected outcome ([`Expect`]), written by hand from the defect it
//! was built with: the kind of error, at the byte offset where this module placed the defect
//! (computed from the bytes it laid out, never by running a reader), or a clean end with so
//! many documents and frames. [`manifest`] prints them as the table of
//! `testdata/hostile/MANIFEST.md`, which the `hostile` tests of kvs-ebml, kvs-chunk and kvs-cli
//! compare with what each layer actually does; `benches/tests/hostile.rs` checks that the
//! committed files and MANIFEST are what this module makes, byte for byte.
//!
//! ```sh
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile          # write
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile --check  # compare
//! cargo run -p kvs-benches --bin hostile-corpus -- --survey                  # readers vs expectations
//! cargo run --release -p kvs-benches --bin hostile-corpus -- --peaks         # peak memory and time
//! ```

// A generator of small fixed inputs: sizes and offsets are constants far from any overflow.
#![allow(clippy::arithmetic_side_effects)]

use bytes::Bytes;
use kvs_ebml::writer::WriteError;

use crate::{GetMediaShape, getmedia_fragment};

/// kvs-ebml's default `Limits::max_depth`, written down here rather than read from the
/// library: the most masters open at once. Opening one more is `TooDeep`.
pub const KVS_EBML_MAX_DEPTH: usize = 32;

/// What the readers must make of one input, written by hand from its defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Nothing is wrong for any layer: kvs-ebml ends cleanly, kvs-chunk delivers `docs`
    /// documents and `frames` frames without an error, `kvs-mkv fragments` exits 0.
    Clean {
        /// `DocumentStart` events.
        docs: u64,
        /// `Frame` events.
        frames: u64,
    },
    /// The EBML structure is broken: kvs-ebml's tokenizer stops with the error `kind` (an
    /// `ErrorKind` variant) at byte `offset`; kvs-chunk delivers `docs` and `frames`, then
    /// the same error (`Ebml:kind` at `offset`) and nothing more; `kvs-mkv` exits 1.
    Fatal {
        /// The `kvs_ebml::ErrorKind` variant.
        kind: &'static str,
        /// The error's byte offset.
        offset: u64,
        /// `DocumentStart` events before the error.
        docs: u64,
        /// `Frame` events before the error.
        frames: u64,
    },
    /// The EBML structure is sound, its content is not: kvs-ebml ends cleanly; kvs-chunk
    /// reports the recoverable `error` (as the MANIFEST names it: `Block:LaceOverflow`,
    /// `InvalidTagValue:ServerTimestamp`, `TimestampOverflow`) at byte `offset`, skips what it
    /// refers to and goes on, delivering `docs` and `frames` in all; `kvs-mkv` exits 1.
    Recovered {
        /// The kvs-chunk error.
        error: &'static str,
        /// The error's byte offset.
        offset: u64,
        /// `DocumentStart` events.
        docs: u64,
        /// `Frame` events.
        frames: u64,
    },
    /// The input does not begin like Matroska (no EBML header, Segment or top-level
    /// element in its first bytes): kvs-ebml's tokenizer, which reads any EBML, stops with
    /// the error `kind` at byte `offset`; kvs-chunk refuses it at once (`NotEbml at 0`, no
    /// document, no frame); `kvs-mkv` exits 1.
    NotEbml {
        /// The `kvs_ebml::ErrorKind` variant the tokenizer stops with.
        kind: &'static str,
        /// The tokenizer's error offset.
        offset: u64,
    },
}

impl Expect {
    /// The MANIFEST's kvs-ebml column: `clean`, or `Kind at OFFSET`.
    #[must_use]
    pub fn ebml(&self) -> String {
        match self {
            Expect::Clean { .. } | Expect::Recovered { .. } => "clean".to_owned(),
            Expect::Fatal { kind, offset, .. } | Expect::NotEbml { kind, offset } => {
                format!("{kind} at {offset}")
            }
        }
    }

    /// The MANIFEST's kvs-chunk column: the errors (`Name at OFFSET`) or `clean`, then the
    /// documents and frames delivered, e.g. `Block:LaceOverflow at 288; 1 docs, 2 frames`.
    #[must_use]
    pub fn chunk(&self) -> String {
        let (errors, docs, frames) = match self {
            Expect::Clean { docs, frames } => ("clean".to_owned(), docs, frames),
            Expect::Fatal { kind, offset, docs, frames } => {
                (format!("Ebml:{kind} at {offset}"), docs, frames)
            }
            Expect::Recovered { error, offset, docs, frames } => {
                (format!("{error} at {offset}"), docs, frames)
            }
            Expect::NotEbml { .. } => ("NotEbml at 0".to_owned(), &0, &0),
        };
        format!("{errors}; {docs} docs, {frames} frames")
    }

    /// The MANIFEST's exit column: what `kvs-mkv fragments` exits with (1 after any error,
    /// and for an input without a single document, which is not Matroska/EBML to the
    /// commands).
    #[must_use]
    pub const fn exit(&self) -> i32 {
        match self {
            Expect::Clean { docs: 0, .. } => 1,
            Expect::Clean { .. } => 0,
            Expect::Fatal { .. } | Expect::Recovered { .. } | Expect::NotEbml { .. } => 1,
        }
    }
}

/// One hostile input: its file name, its defect in one line, its bytes and what the readers
/// must make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostileInput {
    /// The file name under `testdata/hostile/`.
    pub name: &'static str,
    /// The defect, in one line.
    pub defect: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The outcome the defect implies, per layer.
    pub expect: Expect,
    /// The warnings kvs-chunk must report, as the MANIFEST writes them
    /// (`references-dropped x1, undeclared-track x2`), or empty.
    pub warnings: &'static str,
}

impl HostileInput {
    /// The MANIFEST's kvs-chunk column: [`Expect::chunk`], then `; warnings: ...` when the
    /// input must give warnings.
    #[must_use]
    pub fn chunk(&self) -> String {
        if self.warnings.is_empty() {
            self.expect.chunk()
        } else {
            format!("{}; warnings: {}", self.expect.chunk(), self.warnings)
        }
    }
}

/// An element: id bytes, a minimal size VINT, the body.
fn el(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&size(body.len() as u64));
    v.extend_from_slice(body);
    v
}

/// A minimal-width size VINT.
fn size(n: u64) -> Vec<u8> {
    let w = (1..=8usize).find(|&w| n < (1u64 << (7 * w)) - 1).unwrap_or(8);
    let v = n | (1u64 << (7 * w));
    v.to_be_bytes().get(8 - w..).map(<[u8]>::to_vec).unwrap_or_default()
}

/// An 8-byte size VINT.
fn size8(n: u64) -> [u8; 8] {
    (n | (1u64 << 56)).to_be_bytes()
}

/// `v.len()` as a stream offset: where the next byte placed in `v` will sit.
fn here(v: &[u8]) -> u64 {
    v.len() as u64
}

const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];
const SEGMENT: &[u8] = &[0x18, 0x53, 0x80, 0x67];
const CLUSTER: &[u8] = &[0x1F, 0x43, 0xB6, 0x75];
const TRACKS: &[u8] = &[0x16, 0x54, 0xAE, 0x6B];
const TAGS: &[u8] = &[0x12, 0x54, 0xC3, 0x67];
const UNKNOWN: &[u8] = &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// EBML header (DocType "matroska") and an unknown-size Segment header.
fn doc_start() -> Vec<u8> {
    let mut v = el(EBML, &el(&[0x42, 0x82], b"matroska"));
    v.extend_from_slice(SEGMENT);
    v.extend_from_slice(UNKNOWN);
    v
}

/// A document whose unknown-size Segment holds `rest`, and the offset of `rest`'s first byte.
fn inside_segment(rest: &[u8]) -> (Vec<u8>, u64) {
    let mut v = doc_start();
    let at = here(&v);
    v.extend_from_slice(rest);
    (v, at)
}

/// A document whose unknown-size Cluster holds a Timestamp then `rest`, and the offset of
/// `rest`'s first byte.
fn in_cluster(rest: &[u8]) -> (Vec<u8>, u64) {
    let mut v = doc_start();
    v.extend_from_slice(CLUSTER);
    v.extend_from_slice(UNKNOWN);
    v.extend_from_slice(&el(&[0xE7], &[0]));
    let at = here(&v);
    v.extend_from_slice(rest);
    (v, at)
}

/// Tracks with one video track (number 1).
fn tracks() -> Vec<u8> {
    el(TRACKS, &track_entry(&[1], b"V_MPEG4/ISO/AVC"))
}

/// A video TrackEntry with the TrackNumber bytes `number` and the CodecID `codec`.
fn track_entry(number: &[u8], codec: &[u8]) -> Vec<u8> {
    el(&[0xAE], &[el(&[0xD7], number), el(&[0x83], &[1]), el(&[0x86], codec)].concat())
}

/// A document: a Tracks with one video track, then a Cluster (Timestamp 0) holding `cluster`.
fn doc_with_cluster(cluster: &[u8]) -> Vec<u8> {
    let mut v = doc_start();
    v.extend(tracks());
    v.extend(el(CLUSTER, &[el(&[0xE7], &[0]), cluster.to_vec()].concat()));
    v
}

/// A SimpleBlock element on `track` (a 1-byte track VINT) holding one keyframe of 3 bytes.
fn simple_block_on(track: u8) -> Vec<u8> {
    el(&[0xA3], &[0x80 | track, 0, 0, 0x80, 1, 2, 3])
}

/// Tags > Tag > one SimpleTag per (name, value), and each SimpleTag's offset from the start
/// of the Tags element.
fn tags(pairs: &[(&str, &str)]) -> (Vec<u8>, Vec<u64>) {
    let simple: Vec<Vec<u8>> = pairs
        .iter()
        .map(|(n, v)| {
            el(&[0x67, 0xC8], &[el(&[0x45, 0xA3], n.as_bytes()), el(&[0x44, 0x87], v.as_bytes())].concat())
        })
        .collect();
    let body = simple.concat();
    let tag = el(&[0x73, 0x73], &body);
    let tags = el(TAGS, &tag);
    // Tags header, Tag header, then the SimpleTags one after another.
    let mut at = (tags.len() - tag.len()) as u64 + (tag.len() - body.len()) as u64;
    let offsets = simple
        .iter()
        .map(|s| {
            let this = at;
            at += here(s);
            this
        })
        .collect();
    (tags, offsets)
}

/// A whole fragment whose Cluster holds a good keyframe, then `block` (a SimpleBlock payload),
/// then a good frame: the defect sits between two frames that must survive it. Also returns
/// the offset of the SimpleBlock element that holds `block`.
fn fragment_with_block(block: &[u8]) -> (Vec<u8>, u64) {
    let mut v = doc_start();
    v.extend(tracks());
    v.extend(
        tags(&[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146159169392"),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "1511852109.126"),
            ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1511852108.513"),
        ])
        .0,
    );
    let before = [el(&[0xE7], &[0]), el(&[0xA3], &[0x81, 0, 0, 0x80, 1, 2, 3, 4])].concat();
    let body = [before.clone(), el(&[0xA3], block), el(&[0xA3], &[0x81, 0, 33, 0x00, 5, 6, 7, 8])].concat();
    let cluster = el(CLUSTER, &body);
    // The Cluster's header, then the Timestamp and the good keyframe, then the defect.
    let at = here(&v) + (cluster.len() - body.len()) as u64 + here(&before);
    v.extend(cluster);
    v.extend(
        tags(&[
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "15858"),
            ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "91343852333181432392682062607743920146159169392"),
        ])
        .0,
    );
    (v, at)
}

/// A whole fragment with the given service tags before a Cluster of one frame, and the offset
/// of each of those SimpleTags.
fn fragment_with_tags(pairs: &[(&str, &str)]) -> (Vec<u8>, Vec<u64>) {
    let mut v = doc_start();
    v.extend(tracks());
    let (t, offsets) = tags(pairs);
    let base = here(&v);
    v.extend(t);
    v.extend(el(CLUSTER, &[el(&[0xE7], &[0]), el(&[0xA3], &[0x81, 0, 0, 0x80, 1, 2, 3])].concat()));
    (v, offsets.into_iter().map(|o| base + o).collect())
}

/// `depth` nested SimpleTags in Segment > Tags > Tag, with known sizes (8-byte size fields) or
/// unknown ones, and the offset of each SimpleTag. Every master header here is 10 or 12
/// bytes: its id and an 8-byte size.
fn deep_simple_tags(depth: usize, known: bool) -> (Vec<u8>, Vec<u64>) {
    let mut v = doc_start();
    let tags_at = here(&v);
    let first = tags_at + (TAGS.len() + 8) as u64 + (2 + 8);
    let offsets = (0..depth as u64).map(|i| first + i * (2 + 8)).collect();
    if known {
        // Built inside out: each SimpleTag holds the next.
        let mut inner = Vec::new();
        for _ in 0..depth {
            let mut outer = vec![0x67, 0xC8];
            outer.extend_from_slice(&size8(inner.len() as u64));
            outer.extend_from_slice(&inner);
            inner = outer;
        }
        let mut tag = vec![0x73, 0x73];
        tag.extend_from_slice(&size8(inner.len() as u64));
        tag.extend_from_slice(&inner);
        v.extend_from_slice(TAGS);
        v.extend_from_slice(&size8(tag.len() as u64));
        v.extend_from_slice(&tag);
    } else {
        v.extend_from_slice(TAGS);
        v.extend_from_slice(UNKNOWN);
        v.extend_from_slice(&[0x73, 0x73]);
        v.extend_from_slice(UNKNOWN);
        for _ in 0..depth {
            v.extend_from_slice(&[0x67, 0xC8]);
            v.extend_from_slice(UNKNOWN);
        }
    }
    (v, offsets)
}

/// `n` pseudo-random bytes (xorshift32 from `seed`).
fn random(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes().first().copied().unwrap_or(0)
        })
        .collect()
}

/// Every hostile input, in MANIFEST order, with its expected outcome.
///
/// # Errors
///
/// Never in practice (as [`getmedia_fragment`]).
pub fn corpus() -> Result<Vec<HostileInput>, WriteError> {
    use Expect::{Clean, Fatal, Recovered};
    let input = |name, defect, bytes, expect| HostileInput { name, defect, bytes, expect, warnings: "" };
    // An error in the first element: no document has started.
    let first = |kind| Fatal { kind, offset: 0, docs: 0, frames: 0 };
    // An error at `offset` inside the first document, before any frame.
    let fatal = |kind, offset| Fatal { kind, offset, docs: 1, frames: 0 };
    // A bad block between the two good frames of `fragment_with_block`: both come through.
    let bad_block =
        |(bytes, offset): (Vec<u8>, u64), error| (bytes, Recovered { error, offset, docs: 1, frames: 2 });
    // A bad service tag value in `fragment_with_tags`: its one frame comes through.
    let bad_tag = |(bytes, offsets): (Vec<u8>, Vec<u64>), index: usize, error| {
        let offset = offsets.get(index).copied().unwrap_or(u64::MAX);
        (bytes, Recovered { error, offset, docs: 1, frames: 1 })
    };

    let (truncated_vint_in_cluster, at) = in_cluster(&[0xA3, 0x10, 0x00]);
    let truncated_vint_in_cluster = (truncated_vint_in_cluster, fatal("UnexpectedEof", at));
    let (zero_lead_id_in_segment, at) =
        inside_segment(&[[0x00, 0x00, 0x00, 0x00].as_slice(), &el(CLUSTER, &el(&[0xE7], &[0]))].concat());
    let zero_lead_id_in_segment = (zero_lead_id_in_segment, fatal("InvalidIdLeadByte", at));
    let long_id = |id: &[u8]| {
        let (bytes, at) = inside_segment(&[id, &[0x80]].concat());
        (bytes, fatal("IdTooLong", at))
    };

    // Cluster (5-byte header, 12 bytes) > Timestamp (3 bytes), then a SimpleBlock claiming 100.
    let (child_larger, cluster_at) = inside_segment(
        &[CLUSTER, &[0x8C], &[0xE7, 0x81, 0x00], &[0xA3, 0xE4], &[0x81, 0, 0, 0x80, 1, 2, 3]].concat(),
    );
    let child_larger = (child_larger, fatal("ChildOverflow", cluster_at + 5 + 3));

    // SimpleBlock is a binary element: 2^56 - 2 is over the 32 MiB binary limit.
    let (huge_block, at) = in_cluster(
        &[[0xA3].as_slice(), &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE], &[0x81, 0, 0, 0x80]].concat(),
    );
    let huge_block = (huge_block, fatal("TooLarge", at));

    // Segment > Tracks > TrackEntry (unknown sizes) > TrackNumber, then the CodecPrivate.
    let mut track_entry = doc_start();
    track_entry.extend_from_slice(TRACKS);
    track_entry.extend_from_slice(UNKNOWN);
    track_entry.extend_from_slice(&[0xAE]);
    track_entry.extend_from_slice(UNKNOWN);
    track_entry.extend_from_slice(&el(&[0xD7], &[1]));
    let codec_private_at = here(&track_entry);
    let codec_private = |claim: u64| {
        let mut v = track_entry.clone();
        v.extend_from_slice(&[0x63, 0xA2]);
        v.extend_from_slice(&size8(claim));
        v.extend_from_slice(&[0x01, 0x4D, 0x40]);
        v
    };
    let claim_256 = (codec_private(256 << 20), fatal("TooLarge", codec_private_at));
    let claim_30 = (codec_private(30 << 20), fatal("UnexpectedEof", codec_private_at));

    // Segment, Tags and Tag are open before the first SimpleTag: the SimpleTag that would be
    // the (max_depth + 1)th open master is the one refused.
    let too_deep = |known| {
        let (bytes, offsets) = deep_simple_tags(20_000, known);
        let offset = offsets.get(KVS_EBML_MAX_DEPTH - 3).copied().unwrap_or(u64::MAX);
        (bytes, fatal("TooDeep", offset))
    };

    let (unknown_size_leaf, at) = in_cluster(&[0xA3, 0xFF, 0x81, 0, 0, 0x80]);
    let unknown_size_leaf = (unknown_size_leaf, fatal("UnknownSizeNotAllowed", at));

    // Segment > Tracks > TrackEntry (unknown sizes), then the CodecID.
    let (string_over_limit, at) =
        inside_segment(&[TRACKS, UNKNOWN, &[0xAE], UNKNOWN, &[0x86], &size8(2 << 20), b"V_"].concat());
    let string_over_limit = (string_over_limit, fatal("TooLarge", at + (4 + 8) + (1 + 8)));

    // Segment > Tracks > TrackEntry > Audio, each with a 1-byte size, then the value.
    let (float_of_3, at) =
        inside_segment(&el(TRACKS, &el(&[0xAE], &el(&[0xE1], &el(&[0xB5], &[0x45, 0xFA, 0x00])))));
    let float_of_3 = (float_of_3, fatal("InvalidValueSize", at + (4 + 1) + (1 + 1) + (1 + 1)));
    let (integer_of_9, at) = inside_segment(&el(TRACKS, &el(&[0xAE], &el(&[0xD7], &[1; 9]))));
    let integer_of_9 = (integer_of_9, fatal("InvalidValueSize", at + (4 + 1) + (1 + 1)));

    // The Cluster's Timestamp is fine for kvs-ebml; its frame's time in nanoseconds is not.
    let (cluster_overflow, cluster_at) = inside_segment(&el(
        CLUSTER,
        &[el(&[0xE7], &[0xFF; 8]), el(&[0xA3], &[0x81, 0, 0, 0x80, 1])].concat(),
    ));
    let cluster_overflow = (
        cluster_overflow,
        Recovered { error: "TimestampOverflow", offset: cluster_at + 5 + 10, docs: 1, frames: 0 },
    );

    // `random_64k.bin` starts `21 01 C5 4F D1`: a 3-byte id the schema does not know
    // (0x2101C5) with a 2-byte size of 0x0FD1 = 4,049, skipped to 5 + 4,049 = 4,054; there
    // `D0 3D 16 C5` is a 1-byte id the schema does not know (0xD0) with a 3-byte size of
    // 0x1D16C5 = 1,906,373, far past the end: the input ends inside it. (The test
    // `the_random_inputs_start_as_their_expectations_say` checks these bytes.)
    let random_64k = random(64 << 10, 1);
    // kvs-chunk refuses it at once: `21` cannot begin Matroska.
    let random_64k_expect = Expect::NotEbml { kind: "UnexpectedEof", offset: 5 + 0x0FD1 };
    // The random bytes after the valid fragment (seed 7) start `E7 07 43 45 FF 94 BA`: a
    // Timestamp (an unsigned integer, a descendant of the open unknown-size Segment) with the
    // 6-byte size 3,587,472,069,818, more than the 8 bytes an integer may have.
    let valid = getmedia_fragment(0, &GetMediaShape { frames: 10, frame_len: 600 })?;
    let random_after_expect = Fatal { kind: "InvalidValueSize", offset: here(&valid), docs: 1, frames: 10 };
    let random_after = [valid, random(64 << 10, 7)].concat();

    let fragment_number =
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146159169392");
    let cases = vec![
        ("empty.mkv", "an empty file", (Vec::new(), Clean { docs: 0, frames: 0 })),
        (
            "truncated_id.mkv",
            "the input ends inside the EBML header's 4-byte id",
            (vec![0x1A, 0x45], first("UnexpectedEof")),
        ),
        (
            "truncated_size_vint.mkv",
            "the input ends inside an 8-byte size VINT (3 of 8 bytes)",
            (vec![0x1A, 0x45, 0xDF, 0xA3, 0x01, 0x00, 0x00], first("UnexpectedEof")),
        ),
        (
            "truncated_vint_in_cluster.mkv",
            "a SimpleBlock id and the first 2 bytes of a 4-byte size VINT, then the end",
            truncated_vint_in_cluster,
        ),
        (
            "zero_lead_id.mkv",
            "the first byte is 0x00 (no VINT marker in an id)",
            (vec![0x00, 0x81, 0x00], Expect::NotEbml { kind: "InvalidIdLeadByte", offset: 0 }),
        ),
        (
            "zero_lead_id_in_segment.mkv",
            "a 0x00 id lead byte inside the Segment, followed by a valid Cluster",
            zero_lead_id_in_segment,
        ),
        (
            "zero_lead_size.mkv",
            "the EBML header's size VINT starts with 0x00",
            (vec![0x1A, 0x45, 0xDF, 0xA3, 0x00, 0x42, 0x86, 0x81, 0x01], first("InvalidSizeVint")),
        ),
        ("id_5_bytes.mkv", "a 5-byte element id inside the Segment", long_id(&[0x08, 1, 2, 3, 4])),
        ("id_6_bytes.mkv", "a 6-byte element id inside the Segment", long_id(&[0x04, 1, 2, 3, 4, 5])),
        ("id_7_bytes.mkv", "a 7-byte element id inside the Segment", long_id(&[0x02, 1, 2, 3, 4, 5, 6])),
        ("id_8_bytes.mkv", "an 8-byte element id inside the Segment", long_id(&[0x01, 1, 2, 3, 4, 5, 6, 7])),
        ("child_larger_than_parent.mkv", "a Cluster of 12 bytes whose SimpleBlock claims 100", child_larger),
        (
            "size_2pow56_minus_2.mkv",
            "a SimpleBlock claiming 2^56 - 2 bytes (the largest known size, over the 32 MiB binary limit), 4 bytes behind it",
            huge_block,
        ),
        (
            "codec_private_256mib.mkv",
            "a CodecPrivate claiming 256 MiB with 3 bytes behind it (over the 32 MiB binary limit)",
            claim_256,
        ),
        (
            "codec_private_30mib_no_data.mkv",
            "a CodecPrivate claiming 30 MiB (under the limit) with 3 bytes behind it: nothing may be reserved for it",
            claim_30,
        ),
        (
            "nesting_20000_known.mkv",
            "20,000 SimpleTags nested in each other, known sizes (8-byte size fields); the 30th is the 33rd open master",
            too_deep(true),
        ),
        (
            "nesting_20000_unknown.mkv",
            "20,000 SimpleTags nested in each other, unknown sizes; the 30th is the 33rd open master",
            too_deep(false),
        ),
        ("unknown_size_leaf.mkv", "a SimpleBlock with the unknown-size marker", unknown_size_leaf),
        (
            "string_over_limit.mkv",
            "a CodecID (string) claiming 2 MiB, over the 1 MiB string limit",
            string_over_limit,
        ),
        ("float_of_3_bytes.mkv", "a SamplingFrequency (float) of 3 bytes", float_of_3),
        ("integer_of_9_bytes.mkv", "a TrackNumber (unsigned integer) of 9 bytes", integer_of_9),
        (
            "lacing_xiph_truncated.mkv",
            "Xiph lacing of 3 frames whose size bytes run off the end of the block (FF FF)",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x02, 2, 0xFF, 0xFF]), "Block:Truncated"),
        ),
        (
            "lacing_xiph_overflow.mkv",
            "Xiph lacing whose first frame (200 bytes) is larger than the block",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x02, 1, 200, 1, 2, 3]), "Block:LaceOverflow"),
        ),
        (
            "lacing_ebml_zero_vint.mkv",
            "EBML lacing whose first size VINT starts with 0x00",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x06, 1, 0x00, 1, 2]), "Block:InvalidLaceSize"),
        ),
        (
            "lacing_ebml_truncated_vint.mkv",
            "EBML lacing whose first size is a 4-byte VINT cut after 2 bytes",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x06, 1, 0x10, 0x00]), "Block:Truncated"),
        ),
        (
            "lacing_ebml_negative_size.mkv",
            "EBML lacing whose second size (1 - 63) is negative",
            bad_block(
                fragment_with_block(&[0x81, 0, 10, 0x06, 2, 0x81, 0x80, 1, 2, 3]),
                "Block:LaceOverflow",
            ),
        ),
        (
            "lacing_ebml_huge_size.mkv",
            "EBML lacing whose first size is 2^56 - 2",
            bad_block(
                fragment_with_block(&[
                    0x81, 0, 10, 0x06, 1, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 1,
                ]),
                "Block:LaceOverflow",
            ),
        ),
        (
            "lacing_fixed_uneven.mkv",
            "fixed-size lacing of 2 frames over 3 bytes",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x04, 1, 1, 2, 3]), "Block:UnevenFixedLacing"),
        ),
        (
            "lacing_no_count_byte.mkv",
            "a laced SimpleBlock that ends before its frame-count byte",
            bad_block(fragment_with_block(&[0x81, 0, 10, 0x02]), "Block:Truncated"),
        ),
        (
            "block_header_truncated.mkv",
            "a SimpleBlock of 2 bytes (track number and half a timestamp)",
            bad_block(fragment_with_block(&[0x81, 0]), "Block:Truncated"),
        ),
        (
            "block_track_zero_lead.mkv",
            "a SimpleBlock whose track-number VINT starts with 0x00",
            bad_block(fragment_with_block(&[0x00, 0, 10, 0x80, 1]), "Block:InvalidTrackNumber"),
        ),
        (
            "aws_server_timestamp_not_a_number.mkv",
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP (the second SimpleTag) is \"yesterday\"",
            bad_tag(
                fragment_with_tags(&[fragment_number, ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "yesterday")]),
                1,
                "InvalidTagValue:ServerTimestamp",
            ),
        ),
        (
            "aws_producer_timestamp_exponent.mkv",
            "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP is \"1.5e9\"",
            bad_tag(
                fragment_with_tags(&[("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1.5e9")]),
                0,
                "InvalidTagValue:ProducerTimestamp",
            ),
        ),
        (
            "aws_millis_behind_now_negative.mkv",
            "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW is \"-5\"",
            bad_tag(
                fragment_with_tags(&[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "-5")]),
                0,
                "InvalidTagValue:MillisBehindNow",
            ),
        ),
        (
            "aws_timestamp_overflow.mkv",
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP is 99999999999999999999.000 (past i64 milliseconds)",
            bad_tag(
                fragment_with_tags(&[("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "99999999999999999999.000")]),
                0,
                "InvalidTagValue:ServerTimestamp",
            ),
        ),
        (
            "aws_error_id_text.mkv",
            "AWS_KINESISVIDEO_ERROR_ID is \"four thousand\" (kept as a raw id, not an error)",
            (
                fragment_with_tags(&[("AWS_KINESISVIDEO_ERROR_ID", "four thousand")]).0,
                Clean { docs: 1, frames: 1 },
            ),
        ),
        (
            "cluster_timestamp_overflow.mkv",
            "a Cluster Timestamp of 2^64 - 1: the frame's nanoseconds overflow",
            cluster_overflow,
        ),
        (
            "random_64k.bin",
            "65,536 pseudo-random bytes (xorshift32, seed 1): two elements of unknown ids, the second (at 4,054) claiming 1,906,373 bytes",
            (random_64k, random_64k_expect),
        ),
        (
            "random_after_valid_fragment.mkv",
            "one valid GetMedia fragment (10 frames), then 65,536 pseudo-random bytes (seed 7) starting with a Timestamp of 3.5 TB",
            (random_after, random_after_expect),
        ),
    ];
    let mut all: Vec<HostileInput> =
        cases.into_iter().map(|(name, defect, (bytes, expect))| input(name, defect, bytes, expect)).collect();
    // Its document has no Tracks: the block's track is undeclared.
    for i in &mut all {
        if i.name == "cluster_timestamp_overflow.mkv" {
            i.warnings = "undeclared-track x1";
        }
    }
    all.extend(bounded_inputs());
    Ok(all)
}

/// The inputs of issue 12: well-formed EBML whose content grows what a reader keeps (memory
/// or time in proportion to what a producer writes) or breaks a Matroska rule the writers rely
/// on. kvs-chunk reads each within its `Limits` and reports what it dropped as warnings.
fn bounded_inputs() -> Vec<HostileInput> {
    let warned = |name, defect, bytes, docs, frames, warnings| HostileInput {
        name,
        defect,
        bytes,
        expect: Expect::Clean { docs, frames },
        warnings,
    };
    // A Xiph-laced Block of 256 one-byte frames, then 40,000 ReferenceBlocks (-1).
    let mut lace = vec![0x81, 0, 0, 0x02, 255];
    lace.extend(std::iter::repeat_n(1u8, 255));
    lace.extend(std::iter::repeat_n(0xABu8, 256));
    let mut group = el(&[0xA1], &lace);
    for _ in 0..40_000 {
        group.extend(el(&[0xFB], &[0xFF]));
    }
    let references = doc_with_cluster(&el(&[0xA0], &group));

    // 3,000 Tracks elements, each declaring track 1 again, AVC and HEVC in turn.
    let mut repeated = doc_start();
    for i in 0..3000 {
        let codec: &[u8] = if i % 2 == 0 { b"V_MPEG4/ISO/AVC" } else { b"V_MPEGH/ISO/HEVC" };
        repeated.extend(el(TRACKS, &track_entry(&[1], codec)));
    }
    repeated.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));

    let mut duplicate = doc_start();
    duplicate.extend(el(
        TRACKS,
        &[track_entry(&[1], b"V_MPEG4/ISO/AVC"), track_entry(&[1], b"V_MPEGH/ISO/HEVC")].concat(),
    ));
    duplicate.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));

    let mut max_number = doc_start();
    max_number.extend(el(
        TRACKS,
        &[track_entry(&[0xFF; 8], b"V_MPEG4/ISO/AVC"), track_entry(&[1], b"V_MPEG4/ISO/AVC")].concat(),
    ));
    max_number.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));

    // One Tag of 5,000 SimpleTags ("N" = "v"), in a GetMedia-shaped fragment.
    let mut simple = Vec::new();
    for _ in 0..5000 {
        simple.extend(el(&[0x67, 0xC8], &[el(&[0x45, 0xA3], b"N"), el(&[0x44, 0x87], b"v")].concat()));
    }
    let mut many_tags = doc_start();
    many_tags.extend(tracks());
    many_tags.extend(el(TAGS, &el(&[0x73, 0x73], &simple)));
    many_tags.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));

    let two_blocks = doc_with_cluster(&el(
        &[0xA0],
        &[el(&[0xA1], &[0x81, 0, 0, 0x00, 1, 1, 1]), el(&[0xA1], &[0x81, 0, 0, 0x00, 2, 2, 2])].concat(),
    ));
    let undeclared = doc_with_cluster(&[simple_block_on(1), simple_block_on(2), simple_block_on(2)].concat());
    let mut tracks_after = doc_start();
    tracks_after.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));
    tracks_after.extend(tracks());

    // Control characters where text output prints producer data: an OSC that sets the
    // terminal title, a CSI that clears the screen, a C1 CSI, a DEL and a forged line.
    let mut escapes = doc_start();
    escapes.extend(el(TRACKS, &track_entry(&[1], b"V_\x1b]0;owned\x07\x1b[2J")));
    escapes.extend(
        tags(&[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "9\n1 fake fragment"),
            ("NAME\x7f\u{9b}2J", "v\r\x1b[1A"),
        ])
        .0,
    );
    escapes.extend(el(CLUSTER, &[el(&[0xE7], &[0]), simple_block_on(1)].concat()));

    // Three fragments: a 300-digit fragment number, then the same number twice more.
    let long_number = "7".repeat(300);
    let mut names = Vec::new();
    for _ in 0..3 {
        names.extend(
            fragment_with_tags(&[
                ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", long_number.as_str()),
                ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", long_number.as_str()),
            ])
            .0,
        );
    }

    vec![
        warned(
            "references_40000_laced.mkv",
            "a BlockGroup with 40,000 ReferenceBlocks and a 256-frame Xiph lace: 16 references kept (Limits::max_references), shared by the 256 frames",
            references,
            1,
            256,
            "references-dropped x1",
        ),
        warned(
            "tracks_repeated_3000.mkv",
            "3,000 Tracks elements in one document, each declaring track 1 again (AVC, HEVC in turn): the last wins, one track",
            repeated,
            1,
            1,
            "tracks-replaced x2999",
        ),
        warned(
            "tracks_duplicate_number.mkv",
            "one Tracks with two TrackEntries numbered 1 (AVC, HEVC): the first kept",
            duplicate,
            1,
            1,
            "duplicate-track-number x1",
        ),
        warned(
            "track_number_2pow64_minus_1.mkv",
            "a TrackEntry numbered 2^64 - 1, which no block can carry, beside track 1: the entry dropped",
            max_number,
            1,
            1,
            "invalid-track-number x1",
        ),
        warned(
            "tags_5000_in_one_tag.mkv",
            "one Tag of 5,000 SimpleTags: 1,024 kept (Limits::max_tags), the rest dropped and counted",
            many_tags,
            1,
            1,
            "tags-dropped x1",
        ),
        warned(
            "blockgroup_two_blocks.mkv",
            "a BlockGroup with two Blocks: the first kept",
            two_blocks,
            1,
            1,
            "extra-blocks x1",
        ),
        warned(
            "undeclared_track.mkv",
            "blocks for track 2, which Tracks does not declare (one warning for the track, the frames still delivered)",
            undeclared,
            1,
            3,
            "undeclared-track x1",
        ),
        warned(
            "tracks_after_frames.mkv",
            "a Cluster before the Tracks element: its frame's track is not declared yet",
            tracks_after,
            1,
            1,
            "undeclared-track x1",
        ),
        warned(
            "control_characters_in_text.mkv",
            "ESC, BEL, DEL, C1 CSI, CR and LF in a CodecID, a fragment number and a tag's name and value (text output escapes them)",
            escapes,
            1,
            1,
            "",
        ),
        warned(
            "fragment_number_300_digits_x3.mkv",
            "three fragments numbered with the same 300 digits (split shortens the name with a hash and numbers the repeats)",
            names,
            3,
            3,
            "",
        ),
    ]
}

/// The manifest: one row per input with its defect and its expected outcome at each layer
/// (from [`Expect`], written by hand; no reader runs here).
#[must_use]
pub fn manifest(corpus: &[HostileInput]) -> String {
    let mut out = String::from(MANIFEST_HEAD);
    for i in corpus {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            i.name,
            i.bytes.len(),
            i.defect,
            i.expect.ebml(),
            i.chunk(),
            i.expect.exit()
        ));
    }
    out.push_str(MANIFEST_TAIL);
    out
}

/// Issue 12's classes that are not one input file read by the three layers above, each with
/// the test that reproduces it where the defect lives.
const MANIFEST_TAIL: &str = "
## Classes tested without a file here

Each of these is built by its test (too large to commit, not a file at all, or a property of a
command's output), in the crate where the defect lived:

| class | test |
|---|---|
| 256-frame laces with 1,000 ReferenceBlocks each, endless Tracks elements, an endless Tag: peak memory of the decoder in a child process | `crates/chunk/tests/bounded.rs` |
| endless tags, clusters, fragments, new track numbers, Tracks elements and random bytes on stdin through `fragments`, `events`, `inspect` (16 MiB), `split`, `merge`, `extract` (24 MiB) | `crates/cli/tests/streaming.rs` |
| images: `kvs-mkv images` on an endless stdin and a 300 MiB file reads only what the window needs | `crates/cli/tests/images_streaming.rs` |
| writers: `extract --connect` with contacts A, B, A and two tracks of one name; 30 MiB frames through `split`, `merge`, `extract`; `merge` of a fragment number longer than the reader's string limit; blocks of undeclared tracks and tracks numbered 2^64 - 1 in `merge` and `split` outputs | `crates/cli/tests/writers_hostile.rs` |
| a NAL length size of 0 in `kvs_chunk::annexb` | `crates/chunk/src/annexb.rs` (unit tests) |
| StreamARNs with `..`, extra segments or a wrong service | `crates/local/tests/errors.rs` |
| faults: `serve --cut-random --cut-probability P`, a faulted stream read to its last fragment | `crates/local/tests/faults.rs` |
| idle sockets and slow request heads against `serve`; `--require-sigv4`; concurrent GetImages calls | `crates/local/tests/` (connection limits, SigV4, GetImages limit) |
";

const MANIFEST_HEAD: &str = "# Hostile corpus

Inputs built byte by byte by `kvs_benches::hostile` (`benches/src/hostile.rs`), one defect each.
Regenerate with `cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile`; `cargo test
-p kvs-benches --test hostile` checks that these files are what the generator makes. Every layer
must end each of them with a typed error or cleanly: no panic, no hang, peak memory at most
64 MiB.

The expected outcomes are written by hand in the generator from each input's defect (the kind
of error, at the byte offset where the generator placed the defect), not recorded from a run of
the readers. The columns are asserted by tests, which fail when an outcome changes kind, offset
or count, or turns from an error into a clean end or back:

- **kvs-ebml**: what the streaming `Tokenizer` (default options) stops with, `Kind at OFFSET`,
  or `clean` (`crates/ebml/tests/hostile.rs`, in every mode: 64 KiB and 1-byte chunks, the
  `SliceTokenizer`; with resynchronisation it must end too);
- **kvs-chunk**: the errors `Events` (default options) returns, in order, then the documents
  and frames it delivered (`crates/chunk/tests/hostile.rs`, also through `ReadEvents` and
  `EventDecoder` fed byte by byte);
- **exit**: the exit status of `kvs-mkv fragments FILE` and `kvs-mkv fragments - < FILE`
  (`crates/cli/tests/hostile.rs`).

Peak memory and time of every input through each layer: `cargo build --release -p kvs-cli &&
cargo run --release -p kvs-benches --bin hostile-corpus -- --peaks`.

| file | bytes | defect | kvs-ebml | kvs-chunk | exit |
|---|---|---|---|---|---|
";

// ---------------------------------------------------------------------------------------------
// Running the readers: for `hostile-corpus --survey` and `--peaks`, and the kvs-benches test.
// Nothing above uses these.

/// The name of an error's variant (`TooLarge` for `TooLarge { size: .., limit: .. }`).
fn variant(debug: &str) -> String {
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

/// What kvs-ebml's streaming `Tokenizer` (default options, `chunk`-byte pieces) does with
/// `bytes`, as the MANIFEST's kvs-ebml column: `clean`, or `Kind at OFFSET`.
#[must_use]
pub fn observe_ebml(bytes: &[u8], chunk: usize) -> String {
    observe_ebml_with(bytes, chunk, kvs_ebml::Options::default())
}

/// [`observe_ebml`] with `opts`. With resynchronisation the tokenizer goes on after errors;
/// this returns what stopped it for good (the end of input inside an element, the scan
/// limit) or `clean`.
fn observe_ebml_with(bytes: &[u8], chunk: usize, opts: kvs_ebml::Options) -> String {
    let data = Bytes::copy_from_slice(bytes);
    let mut tokenizer = kvs_ebml::Tokenizer::with_options(opts);
    // No input of the corpus makes more than 8 tokens a byte; more is a runaway.
    let cap = data.len().saturating_mul(8).saturating_add(64);
    let mut tokens = 0usize;
    let mut pull = |tokenizer: &mut kvs_ebml::Tokenizer| -> Option<String> {
        loop {
            match tokenizer.next_token() {
                Ok(Some(_)) => tokens = tokens.saturating_add(1),
                Ok(None) => return None,
                Err(e) if e.is_recoverable() => {}
                Err(e) => {
                    let goes_on = opts.resync
                        && !e.is_eof()
                        && !matches!(e.kind, kvs_ebml::ErrorKind::ResyncLimit { .. });
                    if !goes_on {
                        return Some(format!("{} at {}", variant(&format!("{:?}", e.kind)), e.offset));
                    }
                }
            }
            if tokens > cap {
                return Some(format!("runaway: more than {cap} tokens"));
            }
        }
    };
    let mut at = 0;
    while at < data.len() {
        let end = data.len().min(at.saturating_add(chunk.max(1)));
        tokenizer.feed(data.slice(at..end));
        at = end;
        if let Some(stop) = pull(&mut tokenizer) {
            return stop;
        }
    }
    tokenizer.finish();
    pull(&mut tokenizer).unwrap_or_else(|| "clean".to_owned())
}

/// One kvs-chunk error as the MANIFEST names it: `Ebml:TooDeep`, `Block:LaceOverflow`,
/// `InvalidTagValue:ServerTimestamp`, `TimestampOverflow`.
#[must_use]
pub fn chunk_error_name(e: &kvs_chunk::Error) -> String {
    match e {
        kvs_chunk::Error::Ebml(inner) => format!("Ebml:{}", variant(&format!("{:?}", inner.kind))),
        kvs_chunk::Error::Block { kind, .. } => format!("Block:{kind:?}"),
        kvs_chunk::Error::InvalidTagValue { tag, .. } => format!("InvalidTagValue:{tag:?}"),
        other => variant(&format!("{other:?}")),
    }
}

/// Warning kinds in order of first appearance with their counts, as the MANIFEST writes
/// them: `references-dropped x1, undeclared-track x2`.
#[derive(Debug, Default)]
pub struct WarningTally(Vec<(&'static str, u64)>);

impl WarningTally {
    /// Counts one warning.
    pub fn add(&mut self, w: &kvs_chunk::Warning) {
        let name = w.kind.name();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count = count.saturating_add(1),
            None => self.0.push((name, 1)),
        }
    }

    /// `; warnings: ...` when there were any, else nothing.
    #[must_use]
    pub fn suffix(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self.0.iter().map(|(n, c)| format!("{n} x{c}")).collect();
        format!("; warnings: {}", list.join(", "))
    }
}

/// The MANIFEST's kvs-chunk column for a sequence of results.
fn chunk_summary(items: impl Iterator<Item = Result<kvs_chunk::Event, kvs_chunk::Error>>) -> String {
    let mut errors = Vec::new();
    let (mut docs, mut frames) = (0u64, 0u64);
    let mut warnings = WarningTally::default();
    for item in items {
        match item {
            Ok(kvs_chunk::Event::DocumentStart { .. }) => docs = docs.saturating_add(1),
            Ok(kvs_chunk::Event::Frame(_)) => frames = frames.saturating_add(1),
            Ok(kvs_chunk::Event::Warning(w)) => warnings.add(&w),
            Ok(_) => {}
            Err(e) => {
                let at = e.offset().map_or_else(|| "no offset".to_owned(), |o| o.to_string());
                errors.push(format!("{} at {at}", chunk_error_name(&e)));
            }
        }
    }
    let errors = if errors.is_empty() { "clean".to_owned() } else { errors.join(", ") };
    format!("{errors}; {docs} docs, {frames} frames{}", warnings.suffix())
}

/// What kvs-chunk's `Events` (default options) makes of `bytes`, as the MANIFEST's kvs-chunk
/// column: the errors in order, then the documents and frames delivered.
#[must_use]
pub fn observe_chunk(bytes: &[u8]) -> String {
    chunk_summary(kvs_chunk::Events::new(Bytes::copy_from_slice(bytes)))
}

/// Every way the kvs-ebml `hostile` test reads an input (the streaming tokenizer in 64 KiB
/// and 1-byte pieces, the `SliceTokenizer`, each with and without resynchronisation), for
/// measuring its memory and time; returns the outcome of the first.
#[must_use]
pub fn run_ebml_modes(bytes: &[u8]) -> String {
    let first = observe_ebml(bytes, 64 << 10);
    let _ = observe_ebml(bytes, 1);
    let resync = kvs_ebml::Options::default().resync(true);
    let _ = observe_ebml_with(bytes, 64 << 10, resync);
    let _ = observe_ebml_with(bytes, 1, resync);
    for opts in [kvs_ebml::Options::default(), resync] {
        let cap = bytes.len().saturating_mul(8).saturating_add(64);
        let _ = kvs_ebml::SliceTokenizer::with_options(bytes, opts).take(cap).count();
    }
    first
}

/// Every way the kvs-chunk `hostile` test reads an input (`Events`, `ReadEvents` with 64 KiB
/// and 1-byte reads, `EventDecoder` fed byte by byte, and with resynchronisation), for
/// measuring its memory and time; returns the outcome of the first.
#[must_use]
pub fn run_chunk_modes(bytes: &[u8]) -> String {
    let data = Bytes::copy_from_slice(bytes);
    let first = observe_chunk(bytes);
    let _ = chunk_summary(kvs_chunk::ReadEvents::new(std::io::Cursor::new(bytes.to_vec())));
    let _ = chunk_summary(kvs_chunk::ReadEvents::new(std::io::Cursor::new(bytes.to_vec())).read_size(1));
    let resync = kvs_chunk::Options::default().resync(true);
    for opts in [kvs_chunk::Options::default(), resync] {
        let mut decoder = kvs_chunk::EventDecoder::with_options(opts);
        let mut out = Vec::new();
        for i in 0..data.len() {
            decoder.feed(data.slice(i..i.saturating_add(1)));
            while let Some(item) = decoder.next_event().transpose() {
                out.push(item);
            }
        }
        decoder.finish();
        while let Some(item) = decoder.next_event().transpose() {
            out.push(item);
        }
        let _ = chunk_summary(out.into_iter());
    }
    let _ = chunk_summary(kvs_chunk::Events::with_options(data, resync));
    first
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may crash on failure

    use super::*;

    const RANDOM_64K_SECOND_ELEMENT: usize = 4054;
    const RANDOM_AFTER_FRAGMENT_START: [u8; 7] = [0xE7, 0x07, 0x43, 0x45, 0xFF, 0x94, 0xBA];

    /// The hand derivations of the two random inputs' outcomes rest on their first bytes.
    #[test]
    fn the_random_inputs_start_as_their_expectations_say() {
        let r = random(64 << 10, 1);
        assert_eq!(r[..5], [0x21, 0x01, 0xC5, 0x4F, 0xD1]);
        assert_eq!(5 + 0x0FD1, RANDOM_64K_SECOND_ELEMENT);
        let second = &r[RANDOM_64K_SECOND_ELEMENT..RANDOM_64K_SECOND_ELEMENT + 4];
        assert_eq!(second, [0xD0, 0x3D, 0x16, 0xC5]);
        assert!(RANDOM_64K_SECOND_ELEMENT + 4 + 0x1D_16C5 > r.len());
        assert_eq!(random(64 << 10, 7)[..7], RANDOM_AFTER_FRAGMENT_START);
    }

    #[test]
    fn offsets_point_at_the_defect() {
        let corpus = corpus().unwrap();
        let at = |name: &str| {
            let i = corpus.iter().find(|i| i.name == name).unwrap();
            let offset = match i.expect {
                Expect::Fatal { offset, .. }
                | Expect::Recovered { offset, .. }
                | Expect::NotEbml { offset, .. } => offset,
                Expect::Clean { .. } => panic!("{name} is clean"),
            };
            i.bytes.get(usize::try_from(offset).unwrap()..).unwrap_or_default().to_vec()
        };
        assert!(at("child_larger_than_parent.mkv").starts_with(&[0xA3, 0xE4]));
        assert!(at("float_of_3_bytes.mkv").starts_with(&[0xB5, 0x83]));
        assert!(at("integer_of_9_bytes.mkv").starts_with(&[0xD7, 0x89]));
        assert!(at("string_over_limit.mkv").starts_with(&[0x86, 0x01, 0x00]));
        assert!(at("codec_private_256mib.mkv").starts_with(&[0x63, 0xA2]));
        assert!(at("nesting_20000_known.mkv").starts_with(&[0x67, 0xC8]));
        assert!(at("lacing_fixed_uneven.mkv").starts_with(&[0xA3, 0x88, 0x81, 0, 10, 0x04]));
        assert!(at("cluster_timestamp_overflow.mkv").starts_with(&[0xA3, 0x85]));
        assert!(at("aws_server_timestamp_not_a_number.mkv").starts_with(&[0x67, 0xC8]));
        assert!(at("random_after_valid_fragment.mkv").starts_with(&RANDOM_AFTER_FRAGMENT_START));
        assert!(at("random_64k.bin").starts_with(&[0xD0, 0x3D, 0x16, 0xC5]));
    }
}
