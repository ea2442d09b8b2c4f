//! Chunking invariance (proptest): feeding a file to `EventDecoder::feed` in pieces split at
//! random points (and, for the small files, one byte at a time) gives exactly the event
//! sequence `Events::new(whole)` gives, errors included, for every kvs-java and yacchi-ebml
//! conformance file and every `testdata/*.mkv`. A frame whose bytes lie inside one fed piece
//! must come out as a slice of that piece (no copy); only a frame that spans pieces is
//! gathered. The borrowed reader, `SliceEvents`, gives the same events over the whole input,
//! its frames borrowed from the same bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::sync::OnceLock;

use bytes::Bytes;
use common::{Item, items, read};
use kvs_chunk::{Event, EventDecoder, Events};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// One input, what the whole-buffer reader gives for it, where each frame's bytes lie in
/// the input, and where its block element lies (from its id to the end of its last frame).
struct Case {
    name: String,
    input: Bytes,
    expected: Vec<Item>,
    frame_spans: Vec<(usize, usize)>,
    block_spans: Vec<(usize, usize)>,
}

/// The inputs, loaded once. Each test (each test thread) asks for `../shared` once itself, so
/// each one records its skip (or fails under CI) when it is missing; the committed files are
/// checked either way.
fn corpus() -> &'static [Case] {
    static CORPUS: OnceLock<Vec<Case>> = OnceLock::new();
    thread_local!(static ASKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    // A thread's later calls find the corpus loaded (its first call loaded it, or waited).
    let mut conformance = Vec::new();
    if !ASKED.replace(true) && common::conformance_dir().is_some() {
        let subs = ["kvs-java", "yacchi-ebml/fixtures/kvs"];
        conformance.extend(subs.into_iter().filter_map(common::conformance_path));
    }
    CORPUS.get_or_init(|| {
        let mut paths = Vec::new();
        for dir in &conformance {
            paths.extend(common::mkv_files(dir));
        }
        paths.extend(common::testdata_mkv_files());
        paths
            .iter()
            .map(|p| {
                let input = read(p);
                let expected = items(Events::new(input.clone()));
                let base = input.as_ptr().addr();
                let frame_spans = expected
                    .iter()
                    .filter_map(|e| match e {
                        Ok(Event::Frame(f)) => {
                            assert!(common::is_slice_of(&f.data, &input));
                            let at = f.data.as_ptr().addr().wrapping_sub(base);
                            Some((at, at + f.data.len()))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>();
                let offsets: Vec<usize> = expected
                    .iter()
                    .filter_map(|e| {
                        if let Ok(Event::Frame(f)) = e { Some(f.block_offset as usize) } else { None }
                    })
                    .collect();
                let block_spans = offsets
                    .iter()
                    .map(|&b| {
                        let end = offsets
                            .iter()
                            .zip(&frame_spans)
                            .filter(|(o, _)| **o == b)
                            .map(|(_, s)| s.1)
                            .max();
                        (b, end.unwrap())
                    })
                    .collect();
                Case { name: common::name(p), input, expected, frame_spans, block_spans }
            })
            .collect()
    })
}

/// Feeds `pieces` one by one, draining the events after each, then finishes.
fn decode_in_pieces(pieces: &[Bytes]) -> Vec<Item> {
    let mut d = EventDecoder::new();
    let mut out = Vec::new();
    let drain = |d: &mut EventDecoder, out: &mut Vec<Item>| {
        loop {
            match d.next_event() {
                Ok(Some(e)) => out.push(Ok(e)),
                Ok(None) => break,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
    };
    for p in pieces {
        d.feed(p.clone());
        drain(&mut d, &mut out);
    }
    d.finish();
    drain(&mut d, &mut out);
    out
}

/// The pieces of `input` cut at `cuts` (any order, duplicates allowed): zero-copy slices.
fn pieces(input: &Bytes, cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(0);
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| input.slice(w[0]..w[1])).collect()
}

/// Checks one chunked decoding of `case` against the whole-buffer one.
fn check(case: &Case, cuts: &[usize]) {
    let pieces = pieces(&case.input, cuts);
    let got = decode_in_pieces(&pieces);
    if got != case.expected {
        let at = got
            .iter()
            .zip(&case.expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(case.expected.len()));
        panic!(
            "{}: {} pieces: event {at} differs (got {} events, expected {}):\n got {:?}\nwant {:?}",
            case.name,
            pieces.len(),
            got.len(),
            case.expected.len(),
            got.get(at),
            case.expected.get(at)
        );
    }
    // Zero copy: a frame whose block element lies inside one piece is that piece's memory.
    let mut bounds: Vec<usize> = pieces
        .iter()
        .scan(0, |at, p| {
            *at += p.len();
            Some(*at)
        })
        .collect();
    bounds.insert(0, 0);
    let frames = got.iter().filter_map(|e| if let Ok(Event::Frame(f)) = e { Some(f) } else { None });
    for ((f, &(start, _)), &(block, end)) in frames.zip(&case.frame_spans).zip(&case.block_spans) {
        let piece = bounds.partition_point(|&b| b <= block) - 1;
        if end <= bounds[piece + 1] {
            assert_eq!(
                f.data.as_ptr().addr(),
                case.input.as_ptr().addr() + start,
                "{}: frame at {} was copied although it lies in one piece",
                case.name,
                f.block_offset
            );
        }
    }
}

/// Cut points as fractions of a file's length (so one generated case applies to every file),
/// plus a window split finely: a start fraction, a length and a seed for 1..=7-byte pieces.
fn cut_plan() -> impl Strategy<Value = (Vec<u32>, u32, usize, u64)> {
    (prop::collection::vec(any::<u32>(), 0..200), any::<u32>(), 0usize..16_384, any::<u64>())
}

fn cuts_for(len: usize, plan: &(Vec<u32>, u32, usize, u64)) -> Vec<usize> {
    let (fractions, window_start, window_len, seed) = plan;
    let scale = |f: u32| ((len as u128 * u128::from(f)) >> 32) as usize;
    let mut cuts: Vec<usize> = fractions.iter().map(|&f| scale(f)).collect();
    // The fine window: consecutive pieces of 1 to 7 bytes.
    let mut at = scale(*window_start);
    let end = (at + window_len).min(len);
    let mut state = *seed | 1;
    while at < end {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        at += 1 + (state % 7) as usize;
        cuts.push(at);
    }
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn any_split_gives_the_same_events(plan in cut_plan()) {
        for case in corpus() {
            check(case, &cuts_for(case.input.len(), &plan));
        }
    }
}

#[test]
fn one_byte_pieces_over_the_small_files() {
    let mut n = 0;
    for case in corpus().iter().filter(|c| c.input.len() < 50 * 1024) {
        let cuts: Vec<usize> = (1..case.input.len()).collect();
        check(case, &cuts);
        n += 1;
    }
    println!("{n} small files fed one byte at a time");
}

/// Pieces of a few KiB, the size a network read gives, over a GetMedia payload whose frames
/// are 4 to 40 KB (the committed fixtures' `getmedia_basic`, its frames enlarged): nearly every
/// frame spans several pieces, so the tokenizer gathers it part by part as they come (and the
/// decoder waits on its hot path meanwhile). The events must be the whole-input ones, and a
/// frame inside one piece still a slice of it.
#[test]
fn pieces_of_a_few_kilobytes_split_the_large_frames() {
    let mut fragments = kvs_fixtures::scenarios::getmedia_basic().unwrap().fragments;
    let mut n = 0usize;
    for fragment in &mut fragments {
        for block in fragment.cluster.iter_mut().flat_map(|c| c.blocks.iter_mut()) {
            if let kvs_fixtures::model::Block::Simple { frames, .. } = block {
                n += 1;
                frames[0].resize(4_000 + n * 7_919 % 36_000, n as u8);
            }
        }
    }
    let input = Bytes::from(kvs_fixtures::payload(&fragments).unwrap());
    let expected = items(Events::new(input.clone()));
    let frames = expected.iter().filter(|e| matches!(e, Ok(Event::Frame(_)))).count();
    assert_eq!(frames, n);
    for step in [1_500usize, 3_001, 16_384, 65_536] {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        let pieces = pieces(&input, &cuts);
        assert_eq!(decode_in_pieces(&pieces), expected, "pieces of {step} bytes");
    }
}

#[test]
fn cuts_at_every_document_and_frame_boundary() {
    // The splits most likely to matter: right before and right after each document start
    // and each frame's bytes.
    for case in corpus() {
        let mut cuts = Vec::new();
        for e in case.expected.iter().flatten() {
            if let Event::DocumentStart { offset, .. } = e {
                let o = *offset as usize;
                cuts.extend([o.saturating_sub(1), o, o + 1, o + 4]);
            }
        }
        for &(start, end) in &case.frame_spans {
            cuts.extend([start.saturating_sub(1), start, end, end + 1]);
        }
        check(case, &cuts);
    }
}

#[test]
fn the_borrowed_reader_gives_the_same_events_with_frames_in_place() {
    // `SliceEvents` over the whole input: the same events and errors as `Events`, and every
    // frame (none of these files has a ContentEncoding that rewrites frames) borrowed from
    // the input at the same place as the owned reader's slice.
    for case in corpus() {
        let got: Vec<Item> = kvs_chunk::SliceEvents::new(&case.input)
            .map(|item| {
                item.map(|e| {
                    e.map_data(|d| match d {
                        std::borrow::Cow::Borrowed(b) => case.input.slice_ref(b),
                        std::borrow::Cow::Owned(v) => Bytes::from(v),
                    })
                })
                .map_err(|e| e.to_string())
            })
            .collect();
        assert_eq!(got.len(), case.expected.len(), "{}: number of events", case.name);
        for (i, (a, b)) in got.iter().zip(&case.expected).enumerate() {
            assert_eq!(a, b, "{}: event {i}", case.name);
            if let (Ok(Event::Frame(a)), Ok(Event::Frame(b))) = (a, b) {
                assert_eq!(a.data.as_ptr(), b.data.as_ptr(), "{}: frame {i} not in place", case.name);
            }
        }
    }
}
