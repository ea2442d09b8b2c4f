//! The hostile corpus (`testdata/hostile/`): small inputs built byte by byte, each with one
//! defect, that every layer (kvs-ebml, kvs-chunk, the `kvs-mkv` command) must survive with a
//! typed error or a clean end, no panic, no hang, and bounded memory.
//!
//! `cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile` writes the files;
//! `--check` compares the committed ones with what this module makes. The expected outcome of
//! each input at each layer is written by hand in `testdata/hostile/MANIFEST.md` and asserted
//! by the `hostile` tests of kvs-ebml, kvs-chunk and kvs-cli.

// A generator of small fixed inputs: sizes are constants far from any overflow.
#![allow(clippy::arithmetic_side_effects)]

use kvs_ebml::writer::WriteError;

use crate::{GetMediaShape, getmedia_fragment};

/// One hostile input: its file name, its defect in one line, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostileInput {
    /// The file name under `testdata/hostile/`.
    pub name: &'static str,
    /// The defect, in one line.
    pub defect: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
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

/// Tracks with one video track (number 1).
fn tracks() -> Vec<u8> {
    let entry = [el(&[0xD7], &[1]), el(&[0x83], &[1]), el(&[0x86], b"V_MPEG4/ISO/AVC")].concat();
    el(TRACKS, &el(&[0xAE], &entry))
}

/// Tags > Tag > one SimpleTag per (name, value).
fn tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let simple: Vec<u8> = pairs
        .iter()
        .flat_map(|(n, v)| {
            el(&[0x67, 0xC8], &[el(&[0x45, 0xA3], n.as_bytes()), el(&[0x44, 0x87], v.as_bytes())].concat())
        })
        .collect();
    el(TAGS, &el(&[0x73, 0x73], &simple))
}

/// A whole fragment whose Cluster holds a good keyframe, then `block` (a SimpleBlock payload),
/// then a good frame: the defect sits between two frames that must survive it.
fn fragment_with_block(block: &[u8]) -> Vec<u8> {
    let mut v = doc_start();
    v.extend(tracks());
    v.extend(tags(&[
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146159169392"),
        ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "1511852109.126"),
        ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1511852108.513"),
    ]));
    let body = [
        el(&[0xE7], &[0]),
        el(&[0xA3], &[0x81, 0, 0, 0x80, 1, 2, 3, 4]),
        el(&[0xA3], block),
        el(&[0xA3], &[0x81, 0, 33, 0x00, 5, 6, 7, 8]),
    ]
    .concat();
    v.extend(el(CLUSTER, &body));
    v.extend(tags(&[
        ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "15858"),
        ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "91343852333181432392682062607743920146159169392"),
    ]));
    v
}

/// A whole fragment with the given service tags before the Cluster.
fn fragment_with_tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut v = doc_start();
    v.extend(tracks());
    v.extend(tags(pairs));
    v.extend(el(CLUSTER, &[el(&[0xE7], &[0]), el(&[0xA3], &[0x81, 0, 0, 0x80, 1, 2, 3])].concat()));
    v
}

/// `depth` nested SimpleTags in Segment > Tags > Tag, with known sizes (8-byte size fields) or
/// unknown ones.
fn deep_simple_tags(depth: usize, known: bool) -> Vec<u8> {
    let mut v = doc_start();
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
    v
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

/// Every hostile input, in MANIFEST order.
///
/// # Errors
///
/// Never in practice (as [`getmedia_fragment`]).
pub fn corpus() -> Result<Vec<HostileInput>, WriteError> {
    let valid = getmedia_fragment(0, &GetMediaShape { frames: 10, frame_len: 600 })?;
    let inside_segment = |rest: &[u8]| [doc_start(), rest.to_vec()].concat();
    let in_cluster = |rest: &[u8]| {
        let mut v = doc_start();
        v.extend_from_slice(CLUSTER);
        v.extend_from_slice(UNKNOWN);
        v.extend_from_slice(&el(&[0xE7], &[0]));
        v.extend_from_slice(rest);
        v
    };
    let input = |name, defect, bytes| HostileInput { name, defect, bytes };
    let mut huge_claim = doc_start();
    huge_claim.extend_from_slice(TRACKS);
    huge_claim.extend_from_slice(UNKNOWN);
    huge_claim.extend_from_slice(&[0xAE]);
    huge_claim.extend_from_slice(UNKNOWN);
    huge_claim.extend_from_slice(&el(&[0xD7], &[1]));
    let mut claim_256 = huge_claim.clone();
    claim_256.extend_from_slice(&[0x63, 0xA2]);
    claim_256.extend_from_slice(&size8(256 << 20));
    claim_256.extend_from_slice(&[0x01, 0x4D, 0x40]);
    let mut claim_30 = huge_claim;
    claim_30.extend_from_slice(&[0x63, 0xA2]);
    claim_30.extend_from_slice(&size8(30 << 20));
    claim_30.extend_from_slice(&[0x01, 0x4D, 0x40]);

    Ok(vec![
        input("empty.mkv", "an empty file", Vec::new()),
        input("truncated_id.mkv", "the input ends inside the EBML header's 4-byte id", vec![0x1A, 0x45]),
        input(
            "truncated_size_vint.mkv",
            "the input ends inside an 8-byte size VINT (3 of 8 bytes)",
            vec![0x1A, 0x45, 0xDF, 0xA3, 0x01, 0x00, 0x00],
        ),
        input(
            "truncated_vint_in_cluster.mkv",
            "a SimpleBlock id and the first 2 bytes of a 4-byte size VINT, then the end",
            in_cluster(&[0xA3, 0x10, 0x00]),
        ),
        input("zero_lead_id.mkv", "the first byte is 0x00 (no VINT marker in an id)", vec![0x00, 0x81, 0x00]),
        input(
            "zero_lead_id_in_segment.mkv",
            "a 0x00 id lead byte inside the Segment, followed by a valid Cluster",
            inside_segment(&[[0x00, 0x00, 0x00, 0x00].as_slice(), &el(CLUSTER, &el(&[0xE7], &[0]))].concat()),
        ),
        input(
            "zero_lead_size.mkv",
            "the EBML header's size VINT starts with 0x00",
            vec![0x1A, 0x45, 0xDF, 0xA3, 0x00, 0x42, 0x86, 0x81, 0x01],
        ),
        input(
            "id_5_bytes.mkv",
            "a 5-byte element id inside the Segment",
            inside_segment(&[0x08, 1, 2, 3, 4, 0x80]),
        ),
        input(
            "id_6_bytes.mkv",
            "a 6-byte element id inside the Segment",
            inside_segment(&[0x04, 1, 2, 3, 4, 5, 0x80]),
        ),
        input(
            "id_7_bytes.mkv",
            "a 7-byte element id inside the Segment",
            inside_segment(&[0x02, 1, 2, 3, 4, 5, 6, 0x80]),
        ),
        input(
            "id_8_bytes.mkv",
            "an 8-byte element id inside the Segment",
            inside_segment(&[0x01, 1, 2, 3, 4, 5, 6, 7, 0x80]),
        ),
        input(
            "child_larger_than_parent.mkv",
            "a Cluster of 12 bytes whose SimpleBlock claims 100",
            inside_segment(
                &[CLUSTER, &[0x8C], &[0xE7, 0x81, 0x00], &[0xA3, 0xE4], &[0x81, 0, 0, 0x80, 1, 2, 3]]
                    .concat(),
            ),
        ),
        input(
            "size_2pow56_minus_2.mkv",
            "a SimpleBlock claiming 2^56 - 2 bytes (the largest known size), 4 bytes behind it",
            in_cluster(
                &[[0xA3].as_slice(), &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE], &[0x81, 0, 0, 0x80]]
                    .concat(),
            ),
        ),
        input(
            "codec_private_256mib.mkv",
            "a CodecPrivate claiming 256 MiB with 3 bytes behind it (over the 32 MiB binary limit)",
            claim_256,
        ),
        input(
            "codec_private_30mib_no_data.mkv",
            "a CodecPrivate claiming 30 MiB (under the limit) with 3 bytes behind it: nothing may be reserved for it",
            claim_30,
        ),
        input(
            "nesting_20000_known.mkv",
            "20,000 SimpleTags nested in each other, known sizes (8-byte size fields)",
            deep_simple_tags(20_000, true),
        ),
        input(
            "nesting_20000_unknown.mkv",
            "20,000 SimpleTags nested in each other, unknown sizes",
            deep_simple_tags(20_000, false),
        ),
        input(
            "unknown_size_leaf.mkv",
            "a SimpleBlock with the unknown-size marker",
            in_cluster(&[0xA3, 0xFF, 0x81, 0, 0, 0x80]),
        ),
        input(
            "string_over_limit.mkv",
            "a CodecID (string) claiming 2 MiB, over the 1 MiB string limit",
            inside_segment(&[TRACKS, UNKNOWN, &[0xAE], UNKNOWN, &[0x86], &size8(2 << 20), b"V_"].concat()),
        ),
        input(
            "float_of_3_bytes.mkv",
            "a SamplingFrequency (float) of 3 bytes",
            inside_segment(&el(TRACKS, &el(&[0xAE], &el(&[0xE1], &el(&[0xB5], &[0x45, 0xFA, 0x00]))))),
        ),
        input(
            "integer_of_9_bytes.mkv",
            "a TrackNumber (unsigned integer) of 9 bytes",
            inside_segment(&el(TRACKS, &el(&[0xAE], &el(&[0xD7], &[1; 9])))),
        ),
        input(
            "lacing_xiph_truncated.mkv",
            "Xiph lacing of 3 frames whose size bytes run off the end of the block (FF FF)",
            fragment_with_block(&[0x81, 0, 10, 0x02, 2, 0xFF, 0xFF]),
        ),
        input(
            "lacing_xiph_overflow.mkv",
            "Xiph lacing whose first frame (200 bytes) is larger than the block",
            fragment_with_block(&[0x81, 0, 10, 0x02, 1, 200, 1, 2, 3]),
        ),
        input(
            "lacing_ebml_zero_vint.mkv",
            "EBML lacing whose first size VINT starts with 0x00",
            fragment_with_block(&[0x81, 0, 10, 0x06, 1, 0x00, 1, 2]),
        ),
        input(
            "lacing_ebml_truncated_vint.mkv",
            "EBML lacing whose first size is a 4-byte VINT cut after 2 bytes",
            fragment_with_block(&[0x81, 0, 10, 0x06, 1, 0x10, 0x00]),
        ),
        input(
            "lacing_ebml_negative_size.mkv",
            "EBML lacing whose second size (1 - 63) is negative",
            fragment_with_block(&[0x81, 0, 10, 0x06, 2, 0x81, 0x80, 1, 2, 3]),
        ),
        input(
            "lacing_ebml_huge_size.mkv",
            "EBML lacing whose first size is 2^56 - 2",
            fragment_with_block(&[0x81, 0, 10, 0x06, 1, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 1]),
        ),
        input(
            "lacing_fixed_uneven.mkv",
            "fixed-size lacing of 2 frames over 3 bytes",
            fragment_with_block(&[0x81, 0, 10, 0x04, 1, 1, 2, 3]),
        ),
        input(
            "lacing_no_count_byte.mkv",
            "a laced SimpleBlock that ends before its frame-count byte",
            fragment_with_block(&[0x81, 0, 10, 0x02]),
        ),
        input(
            "block_header_truncated.mkv",
            "a SimpleBlock of 2 bytes (track number and half a timestamp)",
            fragment_with_block(&[0x81, 0]),
        ),
        input(
            "block_track_zero_lead.mkv",
            "a SimpleBlock whose track-number VINT starts with 0x00",
            fragment_with_block(&[0x00, 0, 10, 0x80, 1]),
        ),
        input(
            "aws_server_timestamp_not_a_number.mkv",
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP is \"yesterday\"",
            fragment_with_tags(&[
                ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146159169392"),
                ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "yesterday"),
            ]),
        ),
        input(
            "aws_producer_timestamp_exponent.mkv",
            "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP is \"1.5e9\"",
            fragment_with_tags(&[("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1.5e9")]),
        ),
        input(
            "aws_millis_behind_now_negative.mkv",
            "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW is \"-5\"",
            fragment_with_tags(&[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "-5")]),
        ),
        input(
            "aws_timestamp_overflow.mkv",
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP is 99999999999999999999.000 (past i64 milliseconds)",
            fragment_with_tags(&[("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "99999999999999999999.000")]),
        ),
        input(
            "aws_error_id_text.mkv",
            "AWS_KINESISVIDEO_ERROR_ID is \"four thousand\" (kept as a raw id)",
            fragment_with_tags(&[("AWS_KINESISVIDEO_ERROR_ID", "four thousand")]),
        ),
        input(
            "cluster_timestamp_overflow.mkv",
            "a Cluster Timestamp of 2^64 - 1: the frame's nanoseconds overflow",
            inside_segment(&el(
                CLUSTER,
                &[el(&[0xE7], &[0xFF; 8]), el(&[0xA3], &[0x81, 0, 0, 0x80, 1])].concat(),
            )),
        ),
        input("random_64k.bin", "65,536 pseudo-random bytes (xorshift32, seed 1)", random(64 << 10, 1)),
        input(
            "random_after_valid_fragment.mkv",
            "one valid GetMedia fragment, then 65,536 pseudo-random bytes (seed 7)",
            [valid, random(64 << 10, 7)].concat(),
        ),
    ])
}

/// The name of an error kind's variant (`TooLarge` for `TooLarge { size: .., limit: .. }`).
fn variant(debug: &str) -> String {
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

/// What kvs-ebml's streaming `Tokenizer` (default options, 64 KiB chunks) makes of `bytes`:
/// `clean`, or the variant of the error that stopped it. The `hostile` test of kvs-ebml
/// computes the same.
#[must_use]
pub fn ebml_outcome(bytes: &[u8]) -> String {
    let data = bytes::Bytes::copy_from_slice(bytes);
    let mut tokenizer = kvs_ebml::Tokenizer::new();
    let mut at = 0;
    while at < data.len() {
        let end = data.len().min(at.saturating_add(64 << 10));
        tokenizer.feed(data.slice(at..end));
        at = end;
        loop {
            match tokenizer.next_token() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) if e.is_recoverable() => {}
                Err(e) => return variant(&format!("{:?}", e.kind)),
            }
        }
    }
    tokenizer.finish();
    loop {
        match tokenizer.next_token() {
            Ok(Some(_)) => {}
            Ok(None) => return "clean".to_owned(),
            Err(e) if e.is_recoverable() => {}
            Err(e) => return variant(&format!("{:?}", e.kind)),
        }
    }
}

/// One kvs-chunk error as the manifest names it: `Ebml:TooDeep`, `Block:LaceOverflow`,
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

/// What kvs-chunk's `Events` (default options) makes of `bytes`: the errors in order, then
/// how many documents and frames came out, e.g. `Block:LaceOverflow; 1 docs, 2 frames`.
#[must_use]
pub fn chunk_outcome(bytes: &[u8]) -> String {
    let mut errors = Vec::new();
    let (mut docs, mut frames) = (0u64, 0u64);
    for item in kvs_chunk::Events::new(bytes::Bytes::copy_from_slice(bytes)) {
        match item {
            Ok(kvs_chunk::Event::DocumentStart { .. }) => docs = docs.saturating_add(1),
            Ok(kvs_chunk::Event::Frame(_)) => frames = frames.saturating_add(1),
            Ok(_) => {}
            Err(e) => errors.push(chunk_error_name(&e)),
        }
    }
    let errors = if errors.is_empty() { "clean".to_owned() } else { errors.join(", ") };
    format!("{errors}; {docs} docs, {frames} frames")
}

/// The manifest: one row per input with its defect and what kvs-ebml and kvs-chunk make of
/// it (computed by [`ebml_outcome`] and [`chunk_outcome`]; the tests recompute and compare).
#[must_use]
pub fn manifest(corpus: &[HostileInput]) -> String {
    let mut out = String::from(MANIFEST_HEAD);
    for i in corpus {
        let ebml = ebml_outcome(&i.bytes);
        let cli = if ebml == "clean" && chunk_outcome(&i.bytes).starts_with("clean") { 0 } else { 1 };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            i.name,
            i.bytes.len(),
            i.defect,
            ebml,
            chunk_outcome(&i.bytes),
            cli
        ));
    }
    out
}

const MANIFEST_HEAD: &str = "# Hostile corpus

Inputs built byte by byte by `kvs_benches::hostile` (`benches/src/hostile.rs`), one defect each.
Regenerate with `cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile`; check with
`--check`. Every layer must end each of them with a typed error or cleanly: no panic, no hang,
peak memory at most 64 MiB. The columns are asserted by tests:

- **kvs-ebml**: what the streaming `Tokenizer` (default options, 64 KiB chunks) stops with, or
  `clean` (`crates/ebml/tests/hostile.rs`, which also runs the `SliceTokenizer`, 1-byte chunks
  and resynchronisation, and each input in a child process under a 64 MiB data limit);
- **kvs-chunk**: the errors `Events` (default options) returns, in order, then the documents
  and frames it delivered (`crates/chunk/tests/hostile.rs`, same conditions);
- **exit**: the exit status of `kvs-mkv fragments FILE` and `kvs-mkv fragments - < FILE`, run
  under `prlimit --data=64MiB` with a time limit (`crates/cli/tests/hostile.rs`).

| file | bytes | defect | kvs-ebml | kvs-chunk | exit |
|---|---|---|---|---|---|
";
