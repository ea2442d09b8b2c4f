//! Conformance: the tokenizer against third-party files and the numbers published with them.
//!
//! The data lives in `../shared/conformance` (beside the workspace root) and is read at run time,
//! never copied into the repository; without it every test here prints a skip line and passes.
//! - kvs-java: 13 MKV files from the AWS Kinesis Video Streams Java parser library's tests, with
//!   element counts measured by an independent walker (`EXPECTED_derived.json`).
//! - yacchi-ebml: 19 synthetic KVS-shaped fixtures plus `tiny.mkv`, with golden traces of another
//!   EBML reader (`golden/**/*.jsonl`), per-fixture numbers (`fixtures/kvs/README.json`) and the
//!   chunking patterns that reader is tested under (`tests/split_patterns.json`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use common::{conformance_dir, mkv_files};
use kvs_checks::differential::{XorShift, first_difference, slice_events, split, stream_events};
use kvs_ebml::{ElementHeader, ElementId, Error, ErrorKind, Options, Size, SliceTokenizer, Token, ids};

/// The element names `EXPECTED_derived.json` counts, with their ids (it says `Timecode` for
/// `0xE7`, which RFC 9559 and this crate call `Timestamp`).
const COUNTED: [(&str, ElementId); 12] = [
    ("EBML", ids::EBML),
    ("Segment", ids::SEGMENT),
    ("Cluster", ids::CLUSTER),
    ("SimpleBlock", ids::SIMPLE_BLOCK),
    ("TagName", ids::TAG_NAME),
    ("Tags", ids::TAGS),
    ("Tag", ids::TAG),
    ("SimpleTag", ids::SIMPLE_TAG),
    ("Tracks", ids::TRACKS),
    ("TrackEntry", ids::TRACK_ENTRY),
    ("Timecode", ids::TIMESTAMP),
    ("Cues", ids::CUES),
];

/// The two kvs-java captures that end in the middle of a SimpleBlock.
const TRUNCATED: [&str; 2] =
    ["output-get-media-non-increasing-timecode.mkv", "output-get-media-equal-timecode.mkv"];

/// Every token of `input` up to the end or the first error, and that error.
fn read_all(input: &[u8], opts: Options) -> (Vec<Token<&[u8]>>, Option<Error>) {
    let mut tokens = Vec::new();
    for event in SliceTokenizer::with_options(input, opts) {
        match event {
            Ok(t) => tokens.push(t),
            Err(e) => return (tokens, Some(e)),
        }
    }
    (tokens, None)
}

/// The headers of every element start (MasterStart and Leaf), in order.
fn headers<B>(tokens: &[Token<B>]) -> Vec<ElementHeader> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::MasterStart(h) | Token::Leaf { header: h, .. } => Some(*h),
            _ => None,
        })
        .collect()
}

/// Checks that the documents' byte ranges tile `0..len`: each starts where the previous one
/// ended, and the last one ends at `len` (or, if `open_at_end`, is still open at the end).
fn assert_documents_tile<B>(name: &str, tokens: &[Token<B>], len: u64, open_at_end: bool) -> usize {
    let mut covered = 0u64;
    let mut open: Option<u64> = None;
    let mut documents = 0;
    for t in tokens {
        match t {
            Token::DocumentStart { offset } => {
                assert!(open.is_none(), "{name}: nested DocumentStart at {offset}");
                assert_eq!(*offset, covered, "{name}: gap or overlap before the document at {offset}");
                open = Some(*offset);
                documents += 1;
            }
            Token::DocumentEnd { offset } => {
                let start = open.take().unwrap_or_else(|| panic!("{name}: DocumentEnd without start"));
                assert!(*offset > start, "{name}: empty document at {start}");
                covered = *offset;
            }
            _ => {}
        }
    }
    if open_at_end {
        let start = open.unwrap_or_else(|| panic!("{name}: no document open at the truncation"));
        assert!(start < len, "{name}");
    } else {
        assert!(open.is_none(), "{name}: a document is left open");
        assert_eq!(covered, len, "{name}: the documents cover {covered} of {len} bytes");
    }
    documents
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn kvs_java_element_counts_match_expected_derived() {
    let Some(root) = conformance_dir() else { return };
    let dir = root.join("kvs-java");
    let expected = read_json(&dir.join("EXPECTED_derived.json"));
    let files = mkv_files(&dir);
    assert_eq!(files.len(), 13);
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let data = std::fs::read(&path).unwrap();
        let want = &expected[name];
        assert_eq!(want["size"].as_u64(), Some(data.len() as u64), "{name}");
        let (tokens, error) = read_all(&data, Options::default());

        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for h in headers(&tokens) {
            if let Some((n, _)) = COUNTED.iter().find(|(_, id)| *id == h.id) {
                *counts.entry(n).or_default() += 1;
            }
        }
        let truncated = TRUNCATED.contains(&name);
        for (n, _) in COUNTED {
            let mut want_n = want["counts"][n].as_u64().unwrap_or(0);
            if truncated && n == "SimpleBlock" {
                // The independent walker counts an element when it meets its header, so its
                // SimpleBlock count includes the last block, whose header is in the file but
                // whose payload is cut off (its chunk table says 120 + 120 and 11 x 30 + 29
                // blocks). The tokenizer delivers only complete blocks: one fewer.
                want_n -= 1;
            }
            assert_eq!(counts.get(n).copied().unwrap_or(0), want_n, "{name}: {n}");
        }

        if truncated {
            // Every complete token came out; then the end of input inside the last SimpleBlock.
            let e = error.unwrap_or_else(|| panic!("{name}: no error at the truncation"));
            assert!(e.is_eof(), "{name}: {e}");
            assert_eq!(e.id, Some(ids::SIMPLE_BLOCK), "{name}");
            let ErrorKind::UnexpectedEof { missing, open } = e.kind else { unreachable!() };
            assert_eq!(open, 3, "{name}: Segment, Cluster and the SimpleBlock");
            let last = headers(&tokens).last().map(|h| h.end_offset().unwrap()).unwrap();
            assert!(e.offset >= last && e.offset < data.len() as u64, "{name}: error at {}", e.offset);
            // The block's header is complete, so the error knows exactly how much is missing:
            // the block's declared end minus the file's length.
            let (size, size_len) = kvs_ebml::vint::read_size(&data[e.offset as usize + 1..]).unwrap();
            let end = e.offset + 1 + size_len as u64 + size.known().unwrap();
            assert_eq!(missing, end - data.len() as u64, "{name}");
        } else {
            assert_eq!(error, None, "{name}");
        }
    }
}

#[test]
fn truncated_captures_stream_every_complete_token_then_eof() {
    let Some(root) = conformance_dir() else { return };
    for name in TRUNCATED {
        let data = Bytes::from(std::fs::read(root.join("kvs-java").join(name)).unwrap());
        let whole = slice_events(&data, Options::default());
        // Streamed in 64 KiB chunks: nothing is reported until `finish()`, then the same
        // tokens and the same error.
        let mut tokenizer = kvs_ebml::Tokenizer::new();
        let mut before_finish = Vec::new();
        for chunk in split(&data, std::iter::repeat(64 << 10)) {
            tokenizer.feed(chunk);
            while let Some(t) = tokenizer.next_token().unwrap() {
                before_finish.push(Ok(t));
            }
        }
        assert!(tokenizer.buffered() > 0, "{name}: the partial block is held");
        tokenizer.finish();
        let mut after = before_finish.clone();
        loop {
            match tokenizer.next_token() {
                Ok(Some(t)) => after.push(Ok(t)),
                Ok(None) => panic!("{name}: finished without an error"),
                Err(e) => {
                    after.push(Err(e));
                    break;
                }
            }
        }
        assert_eq!(first_difference(&whole, &after), None, "{name}");
        let Some(Err(e)) = whole.last() else { panic!("{name}: no error") };
        assert!(e.is_eof(), "{name}: {e}");
        // Everything before the last (incomplete) block was delivered before finish().
        let complete = whole.len() - 1;
        assert_eq!(before_finish.len(), complete, "{name}");
    }
}

#[test]
fn documents_tile_every_conformance_file() {
    let Some(files) = common::all_conformance_files() else { return };
    for (name, data) in files {
        let (tokens, error) = read_all(&data, Options::default());
        let truncated = TRUNCATED.iter().any(|t| name.ends_with(t));
        assert_eq!(error.is_some(), truncated, "{name}: {error:?}");
        let documents = assert_documents_tile(&name, &tokens, data.len() as u64, truncated);
        let ebml_headers = headers(&tokens).iter().filter(|h| h.id == ids::EBML).count();
        assert_eq!(documents, ebml_headers.max(1), "{name}: one document per EBML header");
    }
}

#[test]
fn crc32_elements_of_output_get_media_verify() {
    let Some(root) = conformance_dir() else { return };
    let data = std::fs::read(root.join("kvs-java/output_get_media.mkv")).unwrap();
    let opts = Options::default().verify_crc(true);
    let (tokens, error) = read_all(&data, opts);
    assert_eq!(error, None);
    // The CRC-32s that are checked: first child of a known-size master.
    let mut checked = Vec::new();
    let mut parent: Vec<ElementHeader> = Vec::new();
    let mut payloads = Vec::new();
    for t in &tokens {
        match t {
            Token::MasterStart(h) => parent.push(*h),
            Token::MasterEnd { .. } => {
                parent.pop();
            }
            Token::Leaf { header, .. } => {
                payloads.push(header.data_offset()..header.end_offset().unwrap());
                if header.id == ids::CRC32 {
                    let p = parent.last().unwrap();
                    assert!(p.size.known().is_some() && p.data_offset() == header.offset);
                    checked.push(*p);
                }
            }
            _ => {}
        }
    }
    let clusters = checked.iter().filter(|h| h.id == ids::CLUSTER).count();
    assert_eq!(clusters, 5, "every Cluster starts with a CRC-32");

    // Flip the last byte of each checked master (a payload byte of its last leaf): each
    // reports a CrcMismatch, recoverable: the rest of the file still reads.
    for master in &checked {
        let last = master.end_offset().unwrap() - 1;
        assert!(payloads.iter().any(|r| r.contains(&last)), "{master:?}");
        let mut bad = data.clone();
        bad[last as usize] ^= 0x01;
        let events: Vec<_> = SliceTokenizer::with_options(&bad, opts).collect();
        let errors: Vec<Error> = events.iter().filter_map(|e| e.clone().err()).collect();
        assert_eq!(errors.len(), 1, "{master:?}: {errors:?}");
        assert!(matches!(errors[0].kind, ErrorKind::CrcMismatch { .. }), "{errors:?}");
        assert_eq!((errors[0].offset, errors[0].id), (master.offset, Some(master.id)));
        assert_eq!(events.len(), tokens.len() + 1, "every token is still delivered");
    }
}

#[test]
fn crc32_elements_verify_in_every_conformance_file_but_the_merged_one() {
    let Some(files) = common::all_conformance_files() else { return };
    for (name, data) in files {
        let opts = Options::default().verify_crc(true);
        let errors: Vec<Error> = SliceTokenizer::with_options(&data, opts).filter_map(Result::err).collect();
        if name.ends_with("output_get_media_sparse_fragments_merged.mkv") {
            // The Java library's OutputSegmentMerger rewrote the Timecode of the 2nd and 3rd
            // Clusters (4000 -> 2000, 8000 -> 4000) and kept their old CRC-32s (those of
            // chunks 2 and 4 of output_get_media.mkv): the file really has two stale CRCs.
            let clusters: Vec<(u64, Option<ElementId>)> = errors.iter().map(|e| (e.offset, e.id)).collect();
            assert_eq!(
                clusters,
                [(548_533, Some(ids::CLUSTER)), (1_030_916, Some(ids::CLUSTER))],
                "{errors:?}"
            );
            assert!(errors.iter().all(|e| matches!(e.kind, ErrorKind::CrcMismatch { .. })));
        } else if TRUNCATED.iter().any(|t| name.ends_with(t)) {
            assert!(errors.len() == 1 && errors[0].is_eof(), "{name}: {errors:?}");
        } else {
            assert_eq!(errors, [], "{name}");
        }
    }
}

/// One element start of a golden trace.
#[derive(Debug, PartialEq, Eq)]
struct Peek {
    id: u32,
    offset: u64,
    depth: u16,
    size: Option<u64>,
    header_len: u8,
}

fn golden_peeks(path: &Path) -> Vec<Peek> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["op"] == "peek" && v.get("id").is_some())
        .map(|v| Peek {
            id: u32::from_str_radix(v["id"].as_str().unwrap(), 16).unwrap(),
            offset: v["offset"].as_u64().unwrap(),
            depth: u16::try_from(v["depth"].as_u64().unwrap()).unwrap(),
            size: match v["size"].as_i64().unwrap() {
                -1 => None,
                n => Some(u64::try_from(n).unwrap()),
            },
            header_len: u8::try_from(v["header_len"].as_u64().unwrap()).unwrap(),
        })
        .collect()
}

#[test]
fn yacchi_golden_traces_match_element_for_element() {
    let Some(root) = conformance_dir() else { return };
    let base = root.join("yacchi-ebml");
    let mut pairs = vec![(base.join("golden/tiny.jsonl"), base.join("fixtures/tiny.mkv"))];
    let mut golden: Vec<_> =
        std::fs::read_dir(base.join("golden/kvs")).unwrap().map(|e| e.unwrap().path()).collect();
    golden.sort();
    for g in golden {
        let stem = g.file_stem().unwrap().to_str().unwrap().to_owned();
        pairs.push((g, base.join("fixtures/kvs").join(format!("{stem}.mkv"))));
    }
    assert_eq!(pairs.len(), 20);
    let mut compared = 0;
    for (golden, fixture) in pairs {
        let want = golden_peeks(&golden);
        let data = std::fs::read(&fixture).unwrap();
        let (tokens, error) = read_all(&data, Options::default());
        assert_eq!(error, None, "{}", fixture.display());
        let got: Vec<Peek> = headers(&tokens)
            .into_iter()
            .map(|h| Peek {
                id: h.id.0,
                offset: h.offset,
                depth: h.depth,
                size: h.size.known(),
                header_len: h.header_len,
            })
            .collect();
        assert!(!want.is_empty());
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(w, g, "{}: element {i}", fixture.display());
        }
        assert_eq!(want.len(), got.len(), "{}", fixture.display());
        compared += want.len();
    }
    assert!(compared > 1000, "{compared} elements compared");
}

#[test]
fn yacchi_fixture_numbers_match_readme() {
    let Some(root) = conformance_dir() else { return };
    let dir = root.join("yacchi-ebml/fixtures/kvs");
    let readme = read_json(&dir.join("README.json"));
    let fixtures = readme["fixtures"].as_object().unwrap();
    assert_eq!(fixtures.len(), 19);
    for (name, want) in fixtures {
        let data = std::fs::read(dir.join(format!("{name}.mkv"))).unwrap();
        assert_eq!(want["bytes"].as_u64(), Some(data.len() as u64), "{name}");
        let (tokens, error) = read_all(&data, Options::default());
        assert_eq!(error, None, "{name}");
        let hs = headers(&tokens);
        let of = |id: ElementId| hs.iter().filter(|h| h.id == id).collect::<Vec<_>>();
        let count = |key: &str| want[key].as_u64().unwrap() as usize;
        assert_eq!(of(ids::SEGMENT).len(), count("segments"), "{name}: segments");
        assert_eq!(of(ids::CLUSTER).len(), count("clusters"), "{name}: clusters");
        assert_eq!(of(ids::SIMPLE_BLOCK).len(), count("simple_blocks"), "{name}: simple_blocks");
        assert_eq!(of(ids::EBML).len(), count("ebml_headers"), "{name}: ebml_headers");
        if let Some(unknown) = want["unknown_size_segment"].as_bool() {
            assert!(of(ids::SEGMENT).iter().all(|h| (h.size == Size::Unknown) == unknown), "{name}");
        }
        if let Some(known) = want["known_size_cluster"].as_bool() {
            assert!(of(ids::CLUSTER).iter().all(|h| (h.size != Size::Unknown) == known), "{name}");
        }
    }
}

/// The chunk sizes of one pattern of `split_patterns.json`.
fn pattern_sizes(pattern: &serde_json::Value) -> Box<dyn Iterator<Item = usize>> {
    match pattern["type"].as_str().unwrap() {
        "fixed" => Box::new(std::iter::repeat(pattern["chunk_size"].as_u64().unwrap() as usize)),
        // 1, 1, 2, 3, 5, 8, ...
        "fibonacci" => {
            Box::new(std::iter::successors(Some((1usize, 1usize)), |&(a, b)| Some((b, a + b))).map(|p| p.0))
        }
        // Sizes uniform in 1..=max_chunk from a generator seeded as the file says (the other
        // reader's generator is not reproduced: any split must give the same tokens).
        "random" => {
            let mut rng = XorShift::new(pattern["seed"].as_u64().unwrap());
            let max = pattern["max_chunk"].as_u64().unwrap() as usize;
            Box::new(std::iter::from_fn(move || Some(rng.below_incl(max))))
        }
        other => panic!("unknown split pattern type {other}"),
    }
}

#[test]
fn yacchi_fixtures_under_every_split_pattern() {
    let Some(root) = conformance_dir() else { return };
    let base = root.join("yacchi-ebml");
    let patterns = read_json(&base.join("tests/split_patterns.json"));
    let patterns = patterns["patterns"].as_array().unwrap();
    assert_eq!(patterns.len(), 3);
    let files = mkv_files(&base.join("fixtures"));
    assert_eq!(files.len(), 20);
    for path in files {
        let data = Bytes::from(std::fs::read(&path).unwrap());
        let whole = slice_events(&data, Options::default());
        assert!(whole.iter().all(Result::is_ok), "{}", path.display());
        for pattern in patterns {
            let chunks = split(&data, pattern_sizes(pattern));
            let streamed = stream_events(chunks, Options::default());
            if let Some(diff) = first_difference(&whole, &streamed) {
                panic!("{} split {}: {diff}", path.display(), pattern["name"]);
            }
        }
    }
}

#[test]
fn kvs_java_files_one_byte_at_a_time() {
    let Some(root) = conformance_dir() else { return };
    for path in mkv_files(&root.join("kvs-java")) {
        let data = Bytes::from(std::fs::read(&path).unwrap());
        let whole = slice_events(&data, Options::default());
        let streamed = stream_events(split(&data, std::iter::repeat(1)), Options::default());
        if let Some(diff) = first_difference(&whole, &streamed) {
            panic!("{}: {diff}", path.display());
        }
    }
}
