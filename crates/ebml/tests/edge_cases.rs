//! Edge cases of the tokenizer, through the public API only: how unknown-size masters close,
//! document boundaries, malformed headers, limits checked before buffering, deep nesting,
//! skipping unknown elements, resynchronisation and sticky errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use bytes::Bytes;
use common::{ebml_header, getmedia_stream, master_starts, outline, tag, tokens};
use kvs_checks::differential::{first_difference, slice_events, split, stream_events};
use kvs_ebml::writer::{MasterSize, SizeWidth, write_header};
use kvs_ebml::{
    ElementId, Error, ErrorKind, Limits, Options, Size, SliceTokenizer, Token, Tokenizer, Value, Writer, ids,
};

/// An id the Matroska schema does not know (valid: two bytes, shortest form).
const UNKNOWN_ID: ElementId = ElementId(0x4FFE);

fn header(id: ElementId, size: Size) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, id, size, SizeWidth::Minimal).unwrap();
    out
}

/// The first error of the slice tokenizer over `input`, with the tokens before it.
fn first_error(input: &[u8]) -> (Vec<Token>, Error) {
    let mut tokens = Vec::new();
    for event in SliceTokenizer::new(input) {
        match event {
            Ok(t) => tokens.push(t.into_owned()),
            Err(e) => return (tokens, e),
        }
    }
    panic!("no error; tokens: {:?}", outline(&tokens));
}

/// EBML header + unknown-size Segment, the start of every GetMedia fragment.
fn fragment_start(w: &mut Writer) {
    ebml_header(w).unwrap();
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8)).unwrap();
}

fn unknown_cluster(w: &mut Writer, timestamp: u64, blocks: usize) {
    w.start_master(ids::CLUSTER, MasterSize::Unknown(8)).unwrap();
    w.unsigned(ids::TIMESTAMP, timestamp).unwrap();
    for i in 0..blocks {
        w.binary(ids::SIMPLE_BLOCK, &[0x81, 0, i as u8, 0x80, 0xAA, 0xBB]).unwrap();
    }
    w.end_master().unwrap();
}

/// The offset just after the EBML header written by `ebml_header` (12-byte header + payload).
fn segment_offset(tokens: &[Token]) -> u64 {
    tokens
        .iter()
        .find_map(|t| match t {
            Token::MasterStart(h) if h.id == ids::SEGMENT => Some(h.offset),
            _ => None,
        })
        .unwrap()
}

/// The `MasterEnd` offsets of every master with `id`, in order.
fn ends_of(tokens: &[Token], id: ElementId) -> Vec<u64> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::MasterEnd { header, end } if header.id == id => Some(*end),
            _ => None,
        })
        .collect()
}

fn starts_of(tokens: &[Token], id: ElementId) -> Vec<u64> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::MasterStart(h) | Token::Leaf { header: h, .. } if h.id == id => Some(h.offset),
            _ => None,
        })
        .collect()
}

// ---- Unknown-size masters: what closes them ----

#[test]
fn unknown_size_cluster_is_closed_by_the_next_cluster() {
    let mut w = Writer::new();
    fragment_start(&mut w);
    unknown_cluster(&mut w, 0, 2);
    unknown_cluster(&mut w, 2000, 1);
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    let clusters = starts_of(&t, ids::CLUSTER);
    assert_eq!(clusters.len(), 2);
    assert_eq!(ends_of(&t, ids::CLUSTER), [clusters[1], data.len() as u64]);
    // The first Cluster's end comes before the second Cluster's start, both at depth 1.
    let o = outline(&t);
    let end1 = o.iter().position(|s| s == &format!("-Cluster@{}", clusters[1])).unwrap();
    assert_eq!(o[end1 + 1], format!("+Cluster@{}", clusters[1]));
    assert!(t.iter().all(|t| !matches!(t, Token::MasterStart(h) if h.id == ids::CLUSTER && h.depth != 1)));
    assert_eq!(o.last().unwrap(), &format!("/doc@{}", data.len()));
}

#[test]
fn unknown_size_cluster_is_closed_by_tags() {
    let mut w = Writer::new();
    fragment_start(&mut w);
    unknown_cluster(&mut w, 0, 3);
    tag(&mut w, "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "12").unwrap();
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    let tags = starts_of(&t, ids::TAGS);
    assert_eq!(ends_of(&t, ids::CLUSTER), tags);
    assert_eq!(ends_of(&t, ids::SEGMENT), [data.len() as u64]);
    let tags_header = t
        .iter()
        .find_map(|t| match t {
            Token::MasterStart(h) if h.id == ids::TAGS => Some(*h),
            _ => None,
        })
        .unwrap();
    assert_eq!(tags_header.depth, 1, "Tags is the Segment's child, not the Cluster's");
}

#[test]
fn unknown_size_cluster_and_segment_are_closed_by_a_new_ebml_header() {
    let mut w = Writer::new();
    fragment_start(&mut w);
    unknown_cluster(&mut w, 0, 1);
    w.end_master().unwrap();
    let second = w.len() as u64;
    fragment_start(&mut w);
    unknown_cluster(&mut w, 2000, 1);
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    let o = outline(&t);
    let at = o.iter().position(|s| s == &format!("+EBML@{second}")).unwrap();
    assert_eq!(
        o[at - 4..=at],
        [
            format!("-Cluster@{second}"),
            format!("-Segment@{second}"),
            format!("/doc@{second}"),
            format!("doc@{second}"),
            format!("+EBML@{second}"),
        ]
    );
}

#[test]
fn void_crc_and_unknown_ids_inside_an_unknown_size_cluster_do_not_close_it() {
    let mut w = Writer::new();
    fragment_start(&mut w);
    w.start_master(ids::CLUSTER, MasterSize::Unknown(1)).unwrap();
    w.unsigned(ids::TIMESTAMP, 0).unwrap();
    w.binary(ids::VOID, &[0; 5]).unwrap();
    w.binary(ids::SIMPLE_BLOCK, &[0x81, 0, 0, 0x80]).unwrap();
    w.binary(ids::CRC32, &[1, 2, 3, 4]).unwrap();
    w.binary(UNKNOWN_ID, &[9; 7]).unwrap();
    w.binary(ElementId(0x81), &[]).unwrap(); // an unknown one-byte id
    w.binary(ElementId(0x10AB_CDEF), &[1]).unwrap(); // an unknown four-byte id
    w.binary(ids::SIMPLE_BLOCK, &[0x81, 0, 1, 0]).unwrap();
    w.end_master().unwrap();
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    assert_eq!(ends_of(&t, ids::CLUSTER), [data.len() as u64]);
    let inside: Vec<_> = t
        .iter()
        .filter_map(|t| match t {
            Token::Leaf { header, value } if header.depth == 2 => Some((header.id, value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(inside.len(), 8, "all eight leaves are the Cluster's children");
    assert_eq!(inside[4], (UNKNOWN_ID, Value::Skipped));
    assert_eq!(inside[5], (ElementId(0x81), Value::Skipped));
    assert_eq!(inside[6], (ElementId(0x10AB_CDEF), Value::Skipped));
}

#[test]
fn unknown_size_cluster_inside_a_known_size_segment_closes_at_the_segment_end() {
    let mut w = Writer::new();
    ebml_header(&mut w).unwrap();
    w.start_master(ids::SEGMENT, MasterSize::Known(SizeWidth::Fixed(8))).unwrap();
    unknown_cluster(&mut w, 0, 2);
    w.end_master().unwrap();
    let segment_end = w.len() as u64;
    // A second Segment follows the first (same document: no new EBML header).
    w.start_master(ids::SEGMENT, MasterSize::Unknown(1)).unwrap();
    unknown_cluster(&mut w, 7, 1);
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    assert_eq!(ends_of(&t, ids::CLUSTER), [segment_end, data.len() as u64]);
    assert_eq!(ends_of(&t, ids::SEGMENT), [segment_end, data.len() as u64]);
    assert_eq!(t.iter().filter(|t| matches!(t, Token::DocumentStart { .. })).count(), 1);
}

#[test]
fn a_stream_starting_at_a_segment_or_a_cluster_is_a_document() {
    let mut w = Writer::new();
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8)).unwrap();
    unknown_cluster(&mut w, 0, 1);
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    assert_eq!(t[0], Token::DocumentStart { offset: 0 });
    assert!(matches!(t[1], Token::MasterStart(h) if h.id == ids::SEGMENT && h.depth == 0));
    assert_eq!(t.last(), Some(&Token::DocumentEnd { offset: data.len() as u64 }));

    // A capture that starts at a Cluster: the Cluster is at depth 0 of a document.
    let mut w = Writer::new();
    unknown_cluster(&mut w, 0, 1);
    unknown_cluster(&mut w, 1, 1);
    let data = w.finish().unwrap();
    let t = tokens(&data);
    assert_eq!(t[0], Token::DocumentStart { offset: 0 });
    assert_eq!(master_starts(&t), [ids::CLUSTER, ids::CLUSTER]);
    assert_eq!(t.iter().filter(|t| matches!(t, Token::DocumentStart { .. })).count(), 1);
}

#[test]
fn empty_input_gives_no_token() {
    assert!(tokens(&[]).is_empty());
    let mut t = Tokenizer::new();
    t.feed(Bytes::new());
    assert_eq!(t.next_token(), Ok(None));
    t.finish();
    assert_eq!(t.next_token(), Ok(None));
    assert!(t.is_done());
}

#[test]
fn unknown_size_marker_at_every_width() {
    for width in 1..=8u8 {
        let mut w = Writer::new();
        w.start_master(ids::SEGMENT, MasterSize::Unknown(width)).unwrap();
        w.start_master(ids::CLUSTER, MasterSize::Unknown(width)).unwrap();
        w.unsigned(ids::TIMESTAMP, 1).unwrap();
        w.end_master().unwrap();
        w.end_master().unwrap();
        let data = w.finish().unwrap();
        let t = tokens(&data);
        let hs: Vec<_> = t
            .iter()
            .filter_map(|t| match t {
                Token::MasterStart(h) => Some(*h),
                _ => None,
            })
            .collect();
        assert_eq!(hs.len(), 2);
        for h in hs {
            assert_eq!(h.size, Size::Unknown, "width {width}");
            assert_eq!(h.header_len, 4 + width, "width {width}");
        }
        // The same marker on a leaf is an error.
        let mut bad = header(ids::CLUSTER, Size::Unknown);
        let mut leaf = Vec::new();
        write_header(&mut leaf, ids::SIMPLE_BLOCK, Size::Unknown, SizeWidth::Fixed(width)).unwrap();
        bad.extend(&leaf);
        let (_, e) = first_error(&bad);
        assert_eq!(e.kind, ErrorKind::UnknownSizeNotAllowed, "width {width}");
        assert_eq!((e.offset, e.id), (5, Some(ids::SIMPLE_BLOCK)));
    }
}

// ---- Malformed headers ----

#[test]
fn zero_lead_bytes_are_typed_errors_with_offsets() {
    let mut data = header(ids::CLUSTER, Size::Unknown);
    data.extend([0xE7, 0x81, 0x00]); // Timestamp 0
    data.extend([0x00, 0x81, 0x00]); // an id with a 0x00 lead byte, at offset 8
    let (before, e) = first_error(&data);
    assert_eq!(e, Error { kind: ErrorKind::InvalidIdLeadByte, offset: 8, id: None });
    assert_eq!(outline(&before), ["doc@0", "+Cluster@0", "Timestamp@5"]);

    let mut data = header(ids::CLUSTER, Size::Unknown);
    data.extend([0xA3, 0x00, 0x81, 0x00]); // a SimpleBlock whose size has a 0x00 lead byte
    let (_, e) = first_error(&data);
    assert_eq!(e, Error { kind: ErrorKind::InvalidSizeVint, offset: 5, id: Some(ids::SIMPLE_BLOCK) });
    assert!(e.to_string().contains("at byte offset 5"), "{e}");
    assert!(e.to_string().contains("0xA3"), "{e}");
}

#[test]
fn ids_of_five_to_eight_bytes_are_rejected() {
    for width in 5..=8u8 {
        let mut data = header(ids::CLUSTER, Size::Unknown);
        let mut id = vec![0u8; usize::from(width)];
        id[0] = 0x80 >> (width - 1);
        id[usize::from(width) - 1] = 0x42;
        data.extend(&id);
        data.extend([0x80]);
        let (_, e) = first_error(&data);
        assert_eq!(e, Error { kind: ErrorKind::IdTooLong { width }, offset: 5, id: None });
    }
}

#[test]
fn reserved_and_overlong_ids_are_rejected() {
    for (raw, bytes) in [(0xFFu32, &[0xFFu8][..]), (0x4001, &[0x40, 0x01]), (0x7FFF, &[0x7F, 0xFF])] {
        let mut data = header(ids::CLUSTER, Size::Unknown);
        data.extend(bytes);
        data.extend([0x80]);
        let (_, e) = first_error(&data);
        assert_eq!(e, Error { kind: ErrorKind::InvalidId { raw }, offset: 5, id: None });
    }
}

#[test]
fn bad_value_sizes_are_typed_errors() {
    let cases: [(ElementId, usize, &str); 4] = [
        (ids::TIMESTAMP, 9, "integer"),
        (ids::REFERENCE_BLOCK, 9, "integer"),
        (ids::DURATION, 3, "float"),
        (ids::DATE_UTC, 4, "date"),
    ];
    for (id, len, what) in cases {
        let mut w = Writer::new();
        w.start_master(ids::SEGMENT, MasterSize::Unknown(1)).unwrap();
        w.leaf(id, &vec![0; len], SizeWidth::Minimal).unwrap();
        w.end_master().unwrap();
        let (_, e) = first_error(&w.finish().unwrap());
        assert_eq!(e.kind, ErrorKind::InvalidValueSize { size: len as u64, what }, "{id}");
        assert_eq!((e.offset, e.id), (5, Some(id)));
    }
}

#[test]
fn a_child_larger_than_its_parent_is_child_overflow() {
    let mut data = header(ids::CLUSTER, Size::Known(8));
    data.extend(header(ids::SIMPLE_BLOCK, Size::Known(20)));
    data.extend([0; 20]);
    let (before, e) = first_error(&data);
    assert_eq!(outline(&before), ["doc@0", "+Cluster@0"]);
    assert_eq!(
        e,
        Error {
            kind: ErrorKind::ChildOverflow { child_end: 5 + 2 + 20, parent_end: 5 + 8 },
            offset: 5,
            id: Some(ids::SIMPLE_BLOCK)
        }
    );
    // A master child too, and one whose size overflows u64 arithmetic.
    let mut data = header(ids::SEGMENT, Size::Known(10));
    data.extend(header(ids::CLUSTER, Size::Known(11)));
    let (_, e) = first_error(&data);
    assert!(matches!(e.kind, ErrorKind::ChildOverflow { child_end: 21, parent_end: 15 }), "{e}");
}

// ---- Limits, checked before buffering ----

#[test]
fn a_size_of_2_pow_56_minus_2_is_too_large_from_the_header_alone() {
    let huge = (1u64 << 56) - 2;
    // A SimpleBlock in an unknown-size Cluster: only its header is fed.
    let mut input = header(ids::CLUSTER, Size::Unknown);
    let block_at = input.len() as u64;
    input.extend(header(ids::SIMPLE_BLOCK, Size::Known(huge)));
    assert_eq!(input.len(), 5 + 1 + 8);
    let mut t = Tokenizer::new();
    t.feed(Bytes::from(input));
    assert!(matches!(t.next_token(), Ok(Some(Token::DocumentStart { .. }))));
    assert!(matches!(t.next_token(), Ok(Some(Token::MasterStart(_)))));
    let e = t.next_token().unwrap_err();
    assert_eq!(
        e,
        Error {
            kind: ErrorKind::TooLarge { size: huge, limit: Limits::DEFAULT.max_binary_size },
            offset: block_at,
            id: Some(ids::SIMPLE_BLOCK)
        }
    );
    assert!(t.buffered() <= 12, "nothing past the header is held: {}", t.buffered());

    // A master of that size: masters are never buffered, but the claim is still checked.
    let mut t = Tokenizer::new();
    t.feed(Bytes::from(header(ids::SEGMENT, Size::Known(huge))));
    assert!(matches!(t.next_token(), Ok(Some(Token::DocumentStart { .. }))));
    let e = t.next_token().unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLarge { size: huge, limit: Limits::DEFAULT.max_master_size });
}

#[test]
fn a_256_mib_codec_private_claim_is_too_large_with_default_limits() {
    let claim = 256u64 << 20;
    let mut input = header(ids::SEGMENT, Size::Unknown);
    input.extend(header(ids::TRACKS, Size::Unknown));
    input.extend(header(ids::TRACK_ENTRY, Size::Unknown));
    let at = input.len() as u64;
    input.extend(header(ids::CODEC_PRIVATE, Size::Known(claim)));
    let mut t = Tokenizer::new();
    t.feed(Bytes::from(input));
    let mut starts = 0;
    let e = loop {
        match t.next_token() {
            Ok(Some(Token::MasterStart(_))) => starts += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("waits for the payload instead of refusing it"),
            Err(e) => break e,
        }
    };
    assert_eq!(starts, 3);
    assert_eq!(
        e,
        Error {
            kind: ErrorKind::TooLarge { size: claim, limit: 32 << 20 },
            offset: at,
            id: Some(ids::CODEC_PRIVATE)
        }
    );
    // With a higher limit the claim is accepted and the payload awaited (but not buffered
    // past what has arrived).
    let limits = Limits::default().max_binary_size(claim).max_buffered(claim + 16);
    let mut t = Tokenizer::with_options(Options::default().limits(limits));
    let mut input = header(ids::CODEC_PRIVATE, Size::Known(claim));
    input.extend([1, 2, 3]);
    t.feed(Bytes::from(input));
    assert!(matches!(t.next_token(), Ok(Some(Token::DocumentStart { .. }))));
    assert_eq!(t.next_token(), Ok(None));
    t.finish();
    let e = t.next_token().unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnexpectedEof { missing: claim - 3, open: 1 });
}

#[test]
fn a_payload_longer_than_max_buffered_is_refused_when_it_spans_chunks() {
    let limits = Limits::default().max_buffered(100);
    let mut w = Writer::new();
    w.binary(ids::SIMPLE_BLOCK, &[7; 200]).unwrap();
    let data = Bytes::from(w.finish().unwrap());
    // In one chunk it needs no buffering at all ...
    let whole = stream_events([data.clone()], Options::default().limits(limits));
    assert!(whole.iter().all(Result::is_ok));
    // ... split, it would have to be gathered: refused once the need is known.
    let split_events = stream_events(split(&data, [50]), Options::default().limits(limits));
    let e = split_events.iter().find_map(|e| e.clone().err()).unwrap();
    assert_eq!(e.kind, ErrorKind::BufferLimit { needed: 203, limit: 100 });
}

#[test]
fn twenty_thousand_nested_masters_are_too_deep_without_recursion() {
    const LEVELS: usize = 20_000;
    for size in [MasterSize::Known(SizeWidth::Fixed(8)), MasterSize::Unknown(1)] {
        let mut w = Writer::with_capacity(LEVELS * 12 + 16);
        for _ in 0..LEVELS {
            w.start_master(ids::SIMPLE_TAG, size).unwrap();
        }
        w.utf8(ids::TAG_NAME, "deep").unwrap();
        for _ in 0..LEVELS {
            w.end_master().unwrap();
        }
        let data = w.finish().unwrap();
        let header_len = if matches!(size, MasterSize::Unknown(_)) { 3 } else { 10 };

        // Default limits: refused at depth 32.
        let (before, e) = first_error(&data);
        assert_eq!(before.len(), 1 + 32, "{size:?}");
        assert_eq!(e.kind, ErrorKind::TooDeep { limit: 32 }, "{size:?}");
        assert_eq!((e.offset, e.id), (32 * header_len, Some(ids::SIMPLE_TAG)), "{size:?}");

        // With the limit lifted, all levels open and close (no recursion, no stack overflow),
        // streamed one byte at a time too.
        let opts = Options::default().limits(Limits::default().max_depth(LEVELS + 1));
        let events = slice_events(&data, opts);
        assert!(events.iter().all(Result::is_ok), "{size:?}");
        assert_eq!(events.len(), 2 * LEVELS + 3, "{size:?}");
        let deepest = events
            .iter()
            .filter_map(|e| match e {
                Ok(Token::Leaf { header, .. }) => Some(header.depth),
                _ => None,
            })
            .next();
        assert_eq!(deepest, Some(LEVELS as u16));
        let data = Bytes::from(data);
        let streamed = stream_events(split(&data, std::iter::repeat(1)), opts);
        assert_eq!(first_difference(&events, &streamed), None, "{size:?}");
    }
}

#[test]
fn an_unknown_id_is_skipped_by_size_without_buffering() {
    let gib = 1u64 << 30;
    let mut input = header(ids::SEGMENT, Size::Known(2 * gib));
    input.extend(header(ids::CLUSTER, Size::Known(gib + 100)));
    let skipped_at = input.len() as u64;
    input.extend(header(UNKNOWN_ID, Size::Known(gib)));
    let header_end = input.len() as u64;
    let mut t = Tokenizer::new();
    t.feed(Bytes::from(input));
    let mut got = Vec::new();
    while let Some(token) = t.next_token().unwrap() {
        got.push(token);
    }
    let last = got.last().unwrap();
    assert!(
        matches!(last, Token::Leaf { header, value: Value::Skipped }
            if header.id == UNKNOWN_ID && header.offset == skipped_at && header.size == Size::Known(gib)),
        "{last:?}"
    );
    assert_eq!(t.buffered(), 0);
    assert_eq!(t.offset(), header_end);
    // Feed 1 MiB of the skipped payload: it is dropped as it arrives.
    for _ in 0..16 {
        t.feed(Bytes::from(vec![0u8; 64 << 10]));
        assert_eq!(t.next_token(), Ok(None));
        assert_eq!(t.buffered(), 0);
    }
    assert_eq!(t.offset(), header_end + (1 << 20));
    t.finish();
    let e = t.next_token().unwrap_err();
    assert!(e.is_eof(), "{e}");
}

// ---- Resynchronisation and sticky errors ----

/// A GetMedia-shaped stream of three fragments and the tokens of its clean form.
fn clean_stream() -> (Vec<u8>, Vec<Token>) {
    let data = getmedia_stream(3, 8, 50);
    let t = tokens(&data);
    (data, t)
}

/// `data` with `range` overwritten by zeros (0x00 is never a valid id or size lead byte).
fn zeroed(data: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let mut bad = data.to_vec();
    bad[range].fill(0);
    bad
}

fn resync_events(data: &[u8]) -> Vec<Result<Token, Error>> {
    slice_events(data, Options::default().resync(true))
}

#[test]
fn resync_after_garbage_resumes_at_the_next_ebml_header() {
    let (data, t) = clean_stream();
    let ebml = starts_of(&t, ids::EBML);
    let blocks = starts_of(&t, ids::SIMPLE_BLOCK);
    // Garbage from the middle of fragment 0's Cluster to the end of that fragment.
    let garbage_at = blocks[3] as usize;
    let bad = zeroed(&data, garbage_at..ebml[1] as usize);
    let events = resync_events(&bad);
    let err_pos = events.iter().position(Result::is_err).unwrap();
    assert_eq!(
        events[err_pos],
        Err(Error { kind: ErrorKind::InvalidIdLeadByte, offset: garbage_at as u64, id: None })
    );
    assert_eq!(
        events[err_pos + 1],
        Ok(Token::Resynced { offset: ebml[1], skipped: ebml[1] - garbage_at as u64, depth: 0 })
    );
    // The Segment and Cluster open at the error are abandoned; the document ends where the
    // next one begins; everything after is read as in the clean stream.
    assert_eq!(events[err_pos + 2], Ok(Token::DocumentEnd { offset: ebml[1] }));
    assert_eq!(events[err_pos + 3], Ok(Token::DocumentStart { offset: ebml[1] }));
    let rest: Vec<_> = events[err_pos + 3..].iter().map(|e| e.clone().unwrap()).collect();
    let clean_rest = &t[t.iter().position(|t| *t == Token::DocumentStart { offset: ebml[1] }).unwrap()..];
    assert_eq!(rest, clean_rest);
    assert_eq!(events.iter().filter(|e| e.is_err()).count(), 1);

    // Streamed in small chunks: the same.
    let bad = Bytes::from(bad);
    let streamed = stream_events(split(&bad, std::iter::repeat(7)), Options::default().resync(true));
    assert_eq!(first_difference(&events, &streamed), None);
}

#[test]
fn resync_after_garbage_resumes_at_the_next_cluster_inside_the_segment() {
    // One fragment with three unknown-size Clusters; garbage replaces the end of the first.
    let mut w = Writer::new();
    fragment_start(&mut w);
    unknown_cluster(&mut w, 0, 4);
    unknown_cluster(&mut w, 100, 4);
    unknown_cluster(&mut w, 200, 4);
    w.end_master().unwrap();
    let data = w.finish().unwrap();
    let t = tokens(&data);
    let clusters = starts_of(&t, ids::CLUSTER);
    let blocks = starts_of(&t, ids::SIMPLE_BLOCK);
    let garbage_at = blocks[2] as usize;
    let bad = zeroed(&data, garbage_at..clusters[1] as usize - 3);
    let events = resync_events(&bad);
    let err_pos = events.iter().position(Result::is_err).unwrap();
    assert_eq!(events[err_pos].clone().unwrap_err().offset, garbage_at as u64);
    // The Segment (depth 0) stays open: the Cluster is its child.
    assert_eq!(
        events[err_pos + 1],
        Ok(Token::Resynced { offset: clusters[1], skipped: clusters[1] - garbage_at as u64, depth: 1 })
    );
    let after: Vec<Token> = events[err_pos + 2..].iter().map(|e| e.clone().unwrap()).collect();
    assert_eq!(master_starts(&after), [ids::CLUSTER, ids::CLUSTER]);
    assert!(matches!(after[0], Token::MasterStart(h) if h.depth == 1));
    assert_eq!(ends_of(&after, ids::SEGMENT), [data.len() as u64]);
    assert_eq!(after.last(), Some(&Token::DocumentEnd { offset: data.len() as u64 }));
}

#[test]
fn resync_inside_a_cluster_resumes_at_the_end_tags() {
    // Tags are a top-level element too: garbage inside fragment 1's Cluster resumes there.
    let (data, t) = clean_stream();
    let tags = starts_of(&t, ids::TAGS);
    let blocks = starts_of(&t, ids::SIMPLE_BLOCK);
    let garbage_at = blocks[8 + 5] as usize; // fragment 1, block 5
    let end_tags = tags[3]; // fragment 1's end Tags (start, end per fragment)
    let bad = zeroed(&data, garbage_at..end_tags as usize);
    let events = resync_events(&bad);
    let err_pos = events.iter().position(Result::is_err).unwrap();
    assert_eq!(
        events[err_pos + 1],
        Ok(Token::Resynced { offset: end_tags, skipped: end_tags - garbage_at as u64, depth: 1 })
    );
    assert_eq!(events.iter().filter(|e| e.is_err()).count(), 1);
    let after: Vec<Token> = events[err_pos + 2..].iter().map(|e| e.clone().unwrap()).collect();
    assert_eq!(master_starts(&after)[0], ids::TAGS);
}

#[test]
fn resync_gives_up_after_max_resync_scan() {
    let (data, t) = clean_stream();
    let blocks = starts_of(&t, ids::SIMPLE_BLOCK);
    let ebml = starts_of(&t, ids::EBML);
    let garbage_at = blocks[1] as usize;
    let bad = zeroed(&data, garbage_at..ebml[1] as usize);
    let limits = Limits::default().max_resync_scan(100);
    let events = slice_events(&bad, Options::default().resync(true).limits(limits));
    let errors: Vec<_> = events.iter().filter_map(|e| e.clone().err()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].kind, ErrorKind::InvalidIdLeadByte);
    assert_eq!(errors[1].kind, ErrorKind::ResyncLimit { scanned: 101 });
    assert_eq!(errors[1].offset, garbage_at as u64);
    assert!(events.last().unwrap().is_err(), "nothing after giving up");
}

#[test]
fn errors_are_sticky_without_resync() {
    let (data, t) = clean_stream();
    let blocks = starts_of(&t, ids::SIMPLE_BLOCK);
    let garbage_at = blocks[4] as usize;
    let bad = Bytes::from(zeroed(&data, garbage_at..garbage_at + 10));
    let expected = Error { kind: ErrorKind::InvalidIdLeadByte, offset: garbage_at as u64, id: None };

    let mut tok = Tokenizer::new();
    let (head, tail) = (bad.slice(..garbage_at + 3), bad.slice(garbage_at + 3..));
    tok.feed(head);
    let mut n = 0;
    let e = loop {
        match tok.next_token() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    assert_eq!(e, expected);
    assert_eq!(
        n,
        t.iter()
            .position(|t| matches!(t, Token::Leaf { header, .. } if header.offset == garbage_at as u64))
            .unwrap()
    );
    // Again, and again after more input and after finish().
    assert_eq!(tok.next_token(), Err(expected));
    tok.feed(tail);
    assert_eq!(tok.next_token(), Err(expected));
    tok.finish();
    assert_eq!(tok.next_token(), Err(expected));
    assert!(!tok.is_done());

    // The slice tokenizer's iterator ends after the error.
    let events: Vec<_> = SliceTokenizer::new(&bad).collect();
    assert_eq!(events.last(), Some(&Err(expected)));
    let mut it = SliceTokenizer::new(&bad);
    for _ in 0..events.len() {
        it.next();
    }
    assert!(it.next().is_none());
    assert_eq!(it.next_token(), Err(expected), "next_token keeps reporting it");
}

#[test]
fn a_crc_mismatch_is_reported_and_reading_goes_on() {
    let mut w = Writer::new();
    ebml_header(&mut w).unwrap();
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8)).unwrap();
    let payload = [0x81u8, 0, 0, 0x80, 1, 2, 3];
    let mut cluster_body = Vec::new();
    write_header(&mut cluster_body, ids::TIMESTAMP, Size::Known(1), SizeWidth::Minimal).unwrap();
    cluster_body.push(0);
    write_header(&mut cluster_body, ids::SIMPLE_BLOCK, Size::Known(7), SizeWidth::Minimal).unwrap();
    cluster_body.extend(payload);
    for crc in [crc32fast::hash(&cluster_body), 0xDEAD_BEEF] {
        w.master(ids::CLUSTER, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.binary(ids::CRC32, &crc.to_le_bytes())?;
            w.raw(&cluster_body)
        })
        .unwrap();
    }
    w.end_master().unwrap();
    let data = Bytes::from(w.finish().unwrap());
    let opts = Options::default().verify_crc(true);
    let events = slice_events(&data, opts);
    let errors: Vec<_> = events.iter().filter_map(|e| e.clone().err()).collect();
    assert_eq!(errors.len(), 1);
    let good = crc32fast::hash(&cluster_body);
    assert_eq!(errors[0].kind, ErrorKind::CrcMismatch { stored: 0xDEAD_BEEF, computed: good });
    assert!(errors[0].is_recoverable());
    let clusters: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(Token::MasterStart(h)) if h.id == ids::CLUSTER => Some(h.offset),
            _ => None,
        })
        .collect();
    assert_eq!(errors[0].offset, clusters[1]);
    assert_eq!(errors[0].id, Some(ids::CLUSTER));
    // The mismatch comes just before the second Cluster's end; the document still ends.
    let err_pos = events.iter().position(Result::is_err).unwrap();
    assert!(matches!(&events[err_pos + 1], Ok(Token::MasterEnd { header, .. }) if header.id == ids::CLUSTER));
    assert_eq!(events.last(), Some(&Ok(Token::DocumentEnd { offset: data.len() as u64 })));
    // Without verification: no error. Streamed one byte at a time: the same events.
    assert!(slice_events(&data, Options::default()).iter().all(Result::is_ok));
    let streamed = stream_events(split(&data, std::iter::repeat(1)), opts);
    assert_eq!(first_difference(&events, &streamed), None);
}

#[test]
fn end_of_input_inside_a_header_or_a_known_size_master() {
    let data = getmedia_stream(1, 2, 10);
    // Cut inside the Segment's 12-byte header, then inside the Info (known size).
    let t = tokens(&data);
    let seg = segment_offset(&t);
    for cut in [seg + 3, seg + 13] {
        let (_, e) = first_error(&data[..cut as usize]);
        assert!(e.is_eof(), "cut at {cut}: {e}");
    }
    let (_, e) = first_error(&data[..seg as usize + 3]);
    assert_eq!(e.kind, ErrorKind::UnexpectedEof { missing: 1, open: 1 });
    assert_eq!(e.offset, seg);
}
