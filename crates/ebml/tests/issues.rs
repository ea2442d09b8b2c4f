//! Regression tests: one per bug or surprising case found, named after what went wrong, with
//! the smallest input that shows it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use bytes::Bytes;
use common::{outline, tokens};
use kvs_checks::differential::{first_difference, slice_events, split, stream_events};
use kvs_ebml::{Error, ErrorKind, Options, Token, ids};

/// 0x80 is a valid one-byte id (Matroska's ChapterDisplay): RFC 8794 section 5 forbade
/// all-zero data bits, and its erratum (cellar ebml-specification #407) allows 0x80 because
/// Matroska uses it. A reader that rejects it cannot read files with chapters.
#[test]
fn chapter_display_0x80_is_a_valid_one_byte_id() {
    // Chapters > EditionEntry > ChapterAtom > ChapterDisplay > ChapString "Intro".
    let data = [
        0x10, 0x43, 0xA7, 0x70, 0x90, // Chapters, 16 bytes
        0x45, 0xB9, 0x8D, // EditionEntry, 13 bytes
        0xB6, 0x8B, // ChapterAtom, 11 bytes
        0x80, 0x89, // ChapterDisplay, 9 bytes
        0x85, 0x85, b'I', b'n', b't', b'r', b'o', // ChapString
        0xEC, 0x80, // Void, empty: still inside ChapterDisplay
    ];
    let t = tokens(&data);
    assert_eq!(
        outline(&t),
        [
            "doc@0",
            "+Chapters@0",
            "+EditionEntry@5",
            "+ChapterAtom@8",
            "+ChapterDisplay@10",
            "ChapString@12",
            "Void@19",
            "-ChapterDisplay@21",
            "-ChapterAtom@21",
            "-EditionEntry@21",
            "-Chapters@21",
            "/doc@21",
        ]
    );
    let display = t.iter().find_map(|t| match t {
        Token::MasterStart(h) if h.id == ids::CHAPTER_DISPLAY => Some(*h),
        _ => None,
    });
    assert_eq!(display.map(|h| (h.header_len, h.depth)), Some((2, 3)));

    // Unknown-size ChapterDisplay: closed by the next ChapterAtom child that is not its own.
    let data = [
        0xB6, 0xFF, // ChapterAtom, unknown size
        0x80, 0xFF, // ChapterDisplay, unknown size
        0x85, 0x81, b'A', // ChapString
        0x91, 0x81, 0x00, // ChapterTimeStart: a ChapterAtom child, closes ChapterDisplay
    ];
    let o = outline(&tokens(&data));
    assert_eq!(
        o,
        [
            "doc@0",
            "+ChapterAtom@0",
            "+ChapterDisplay@2",
            "ChapString@4",
            "-ChapterDisplay@7",
            "ChapterTimeStart@7",
            "-ChapterAtom@10",
            "/doc@10"
        ]
    );
}

/// Found by the chunking property test (`any_chunking_of_a_corrupted_tree_gives_the_same_events`).
///
/// While resynchronising, the check that a candidate element fits the masters that stay open
/// used the offset where the scan *started* instead of the candidate's own offset. A candidate
/// lying past the end of a known-size Segment was then accepted as the Segment's child (the
/// Segment kept open), and the next step failed again with a spurious ChildOverflow; and since
/// the scan start depends on how the input was chunked, the streaming and slice tokenizers
/// disagreed. Fixed in `reader.rs` (`anchor_at` takes the candidate's offset).
#[test]
fn resync_checks_the_fit_of_an_anchor_at_its_own_offset() {
    let mut data = vec![0x18, 0x53, 0x80, 0x67, 0x8A]; // Segment, known size 10: ends at 15
    data.extend([0u8; 10]); // garbage inside it: an error at 5
    data.extend([0u8; 20]); // more garbage after its end
    data.extend([0x1F, 0x43, 0xB6, 0x75, 0x80]); // an empty Cluster at 35: past the Segment
    let opts = Options::default().resync(true);
    let events = slice_events(&data, opts);
    assert_eq!(events[2], Err(Error { kind: ErrorKind::InvalidIdLeadByte, offset: 5, id: None }));
    // The Cluster does not fit the Segment that would stay open: it is not an anchor, and
    // the scan runs to the end of the input. Before the fix: Resynced at 35 with depth 1,
    // then ChildOverflow { child_end: 40, parent_end: 15 }.
    assert_eq!(events[3], Ok(Token::Resynced { offset: 40, skipped: 35, depth: 0 }));
    assert_eq!(events[4..], [Ok(Token::DocumentEnd { offset: 40 })]);
    let data = Bytes::from(data);
    for size in 1..=12 {
        let streamed = stream_events(split(&data, std::iter::repeat(size)), opts);
        assert_eq!(first_difference(&events, &streamed), None, "chunks of {size}");
    }

    // Inside the Segment's bounds the same Cluster is still an anchor, with the Segment kept.
    let mut data = vec![0x18, 0x53, 0x80, 0x67, 0xA0]; // Segment, known size 32: ends at 37
    data.extend([0u8; 20]);
    data.extend([0x1F, 0x43, 0xB6, 0x75, 0x80, 0xEC, 0x85, 0, 0, 0, 0, 0]); // Cluster, Void
    let events = slice_events(&data, opts);
    assert_eq!(events[3], Ok(Token::Resynced { offset: 25, skipped: 20, depth: 1 }));
    assert!(events[4..].iter().all(Result::is_ok), "{events:?}");
}

/// Found while reviewing the resync scan for the fuzz target's limit profiles.
///
/// With `max_buffered` at 0, waiting for the rest of a skipped element is refused with
/// `BufferLimit` at a moment when no input is at hand. The resync scan then started "one byte
/// past the failed element" by consuming a byte that was not there: every later offset was one
/// too far (a `Resynced` and a `DocumentEnd` past the end of the input). Fixed in `reader.rs`
/// (`step_resync` starts past the failed byte only once that byte has arrived).
#[test]
fn resync_after_an_error_with_no_input_at_hand_counts_only_real_bytes() {
    use kvs_ebml::{Limits, Tokenizer};

    let opts = Options::default().resync(true).limits(Limits::default().max_buffered(0));
    let mut t = Tokenizer::with_options(opts);
    t.feed(Bytes::from_static(&[0x4F, 0xFE, 0x83])); // an unknown id, 3 bytes to skip
    assert_eq!(t.next_token(), Ok(Some(Token::DocumentStart { offset: 0 })));
    assert!(matches!(t.next_token(), Ok(Some(Token::Leaf { .. }))));
    let e = t.next_token().unwrap_err();
    assert_eq!(e, Error { kind: ErrorKind::BufferLimit { needed: 1, limit: 0 }, offset: 3, id: None });
    assert_eq!(t.next_token(), Ok(None));
    assert_eq!(t.offset(), 3, "no byte has arrived since the error");
    t.feed(Bytes::from_static(&[0, 0, 0]));
    assert_eq!(t.next_token(), Ok(None));
    t.finish();
    assert_eq!(t.next_token(), Ok(Some(Token::Resynced { offset: 6, skipped: 3, depth: 0 })));
    assert_eq!(t.next_token(), Ok(Some(Token::DocumentEnd { offset: 6 })));
    assert_eq!(t.next_token(), Ok(None));
    assert_eq!(t.offset(), 6);
}
