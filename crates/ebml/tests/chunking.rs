//! Property tests (proptest): write-then-read round trips of generated element trees, and
//! chunking invariance: any split of the input fed to the streaming `Tokenizer` gives exactly
//! the events the `SliceTokenizer` gives on the whole input (for generated trees, for corrupted
//! trees with and without resynchronisation, and for every conformance file). Also: payloads
//! that lie inside one fed chunk come out as slices of that chunk's memory.

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
use kvs_checks::differential::{Event, first_difference, slice_events, split, stream_events};
use kvs_ebml::matroska::ELEMENTS;
use kvs_ebml::writer::{MasterSize, SizeWidth};
use kvs_ebml::{
    ElementHeader, ElementId, ElementType, MatroskaSchema, Options, Parent, Schema, Size, Token, Tokenizer,
    Value, Writer, ids,
};
use proptest::prelude::*;

// ---- Generated element trees ----

/// Ids the Matroska schema does not know: the reader skips them (`Value::Skipped`).
const UNKNOWN_IDS: [ElementId; 3] = [ElementId(0x81), ElementId(0x4FFE), ElementId(0x10AB_CDEF)];

/// A generated element before it is mapped onto the schema: `pick` chooses the element among
/// those allowed where it stands (a master when it has children), `width` the size field's
/// width (widened if the size needs more), `unknown` asks for an unknown size (kept only where
/// the reader can tell the end), `payload` becomes a leaf's value.
#[derive(Debug, Clone)]
struct Shape {
    pick: u16,
    width: u8,
    unknown: bool,
    payload: Vec<u8>,
    children: Vec<Shape>,
}

fn shape() -> impl Strategy<Value = Shape> {
    let fields = || (any::<u16>(), 1u8..=8, any::<bool>(), prop::collection::vec(any::<u8>(), 0..20));
    let leaf = fields().prop_map(|(pick, width, unknown, payload)| Shape {
        pick,
        width,
        unknown,
        payload,
        children: Vec::new(),
    });
    leaf.prop_recursive(8, 200, 4, move |inner| {
        (fields(), prop::collection::vec(inner, 1..6)).prop_map(
            |((pick, width, unknown, payload), children)| Shape { pick, width, unknown, payload, children },
        )
    })
}

/// An element of the tree as it is written.
#[derive(Debug, Clone)]
enum Node {
    Master { id: ElementId, unknown: bool, width: u8, children: Vec<Node> },
    Leaf { id: ElementId, width: u8, payload: Vec<u8>, value: Value },
}

impl Node {
    fn id(&self) -> ElementId {
        match self {
            Node::Master { id, .. } | Node::Leaf { id, .. } => *id,
        }
    }

    fn payload_len(&self) -> u64 {
        match self {
            Node::Master { children, .. } => children.iter().map(Node::total_len).sum(),
            Node::Leaf { payload, .. } => payload.len() as u64,
        }
    }

    /// The size field's width: as generated, widened to fit a known size.
    fn size_width(&self) -> u8 {
        match self {
            Node::Master { unknown: true, width, .. } => *width,
            Node::Master { width, .. } | Node::Leaf { width, .. } => {
                let needed = kvs_ebml::vint::size_width(self.payload_len()).unwrap() as u8;
                (*width).max(needed)
            }
        }
    }

    fn total_len(&self) -> u64 {
        self.id().width() as u64 + u64::from(self.size_width()) + self.payload_len()
    }
}

/// The elements allowed inside `parent` (`None`: at the top level).
fn candidates(parent: Option<ElementId>) -> Vec<ElementId> {
    let schema = MatroskaSchema::new();
    let mut out: Vec<ElementId> = match parent {
        None => vec![ids::EBML, ids::SEGMENT, ids::CLUSTER, ids::TAGS],
        Some(p) => {
            let mut v: Vec<ElementId> =
                ELEMENTS.iter().filter(|r| r.parent == Parent::Element(p)).map(|r| r.id).collect();
            if schema.lookup(p).is_some_and(|i| i.recursive) {
                v.push(p);
            }
            v
        }
    };
    out.extend([ids::VOID, ids::CRC32]);
    out.extend(UNKNOWN_IDS);
    out
}

fn is_master(id: ElementId) -> bool {
    MatroskaSchema::new().lookup(id).is_some_and(|i| i.ty == ElementType::Master)
}

/// Maps a shape onto the schema below `parent`.
fn resolve(shape: &Shape, parent: Option<ElementId>) -> Node {
    let all = candidates(parent);
    let masters: Vec<ElementId> = all.iter().copied().filter(|&id| is_master(id)).collect();
    let pool = if shape.children.is_empty() || masters.is_empty() { &all } else { &masters };
    let id = pool[usize::from(shape.pick) % pool.len()];
    if is_master(id) {
        return Node::Master {
            id,
            unknown: shape.unknown,
            width: shape.width,
            children: shape.children.iter().map(|s| resolve(s, Some(id))).collect(),
        };
    }
    let mut payload = shape.payload.clone();
    let ty = MatroskaSchema::new().lookup(id).map(|i| i.ty);
    let value = match ty {
        None => Value::Skipped,
        Some(ElementType::Unsigned) => {
            payload.truncate(8);
            Value::Unsigned(payload.iter().fold(0, |a, &b| (a << 8) | u64::from(b)))
        }
        Some(ElementType::Signed) => {
            payload.truncate(8);
            let init = if payload.first().is_some_and(|b| b & 0x80 != 0) { -1i64 } else { 0 };
            Value::Signed(payload.iter().fold(init, |a, &b| (a << 8) | i64::from(b)))
        }
        Some(ElementType::Float) => {
            let n = match payload.len() {
                0..4 => 0,
                4..8 => 4,
                _ => 8,
            };
            payload.truncate(n);
            Value::Float(match n {
                0 => 0.0,
                4 => f64::from(f32::from_be_bytes(payload[..].try_into().unwrap())),
                _ => f64::from_be_bytes(payload[..].try_into().unwrap()),
            })
        }
        Some(ElementType::Date) => {
            payload.truncate(if payload.len() < 8 { 0 } else { 8 });
            Value::Date(if payload.is_empty() {
                0
            } else {
                i64::from_be_bytes(payload[..].try_into().unwrap())
            })
        }
        Some(ElementType::String) => Value::String(Bytes::from(payload.clone())),
        Some(ElementType::Utf8) => Value::Utf8(Bytes::from(payload.clone())),
        Some(ElementType::Binary | ElementType::Master) => Value::Binary(Bytes::from(payload.clone())),
    };
    Node::Leaf { id, width: shape.width, payload, value }
}

/// Keeps an unknown size only where the reader can find the end: the element that follows
/// the master in document order (`None`: the end of a known-size parent or of the input) must
/// not belong inside it.
fn settle_sizes(nodes: &mut [Node], after_parent: Option<ElementId>, parent_known: bool) {
    let schema = MatroskaSchema::new();
    let following: Vec<Option<ElementId>> = (0..nodes.len())
        .map(|i| match nodes.get(i + 1) {
            Some(next) => Some(next.id()),
            None if parent_known => None,
            None => after_parent,
        })
        .collect();
    for (node, next) in nodes.iter_mut().zip(following) {
        if let Node::Master { id, unknown, children, .. } = node {
            if *unknown && next.is_some_and(|f| schema.is_descendant(f, *id)) {
                *unknown = false;
            }
            settle_sizes(children, next, !*unknown);
        }
    }
}

/// A tree ready to write: top-level nodes with settled sizes.
fn tree(shapes: &[Shape]) -> Vec<Node> {
    let mut nodes: Vec<Node> = shapes.iter().map(|s| resolve(s, None)).collect();
    settle_sizes(&mut nodes, None, false);
    nodes
}

/// Writes the tree with the `Writer` and returns the bytes and the tokens a reader must give.
fn write_tree(nodes: &[Node]) -> (Vec<u8>, Vec<Token>) {
    let mut w = Writer::new();
    let mut expected = Vec::new();
    for node in nodes {
        let at = w.len() as u64;
        if expected.is_empty() {
            expected.push(Token::DocumentStart { offset: 0 });
        } else if node.id() == ids::EBML {
            expected.push(Token::DocumentEnd { offset: at });
            expected.push(Token::DocumentStart { offset: at });
        }
        write_node(&mut w, node, 0, &mut expected);
    }
    let data = w.finish().unwrap();
    if !expected.is_empty() {
        expected.push(Token::DocumentEnd { offset: data.len() as u64 });
    }
    (data, expected)
}

fn write_node(w: &mut Writer, node: &Node, depth: u16, expected: &mut Vec<Token>) {
    let id = node.id();
    let width = node.size_width();
    let header = ElementHeader {
        id,
        size: match node {
            Node::Master { unknown: true, .. } => Size::Unknown,
            _ => Size::Known(node.payload_len()),
        },
        header_len: id.width() as u8 + width,
        offset: w.len() as u64,
        depth,
        ty: MatroskaSchema::new().lookup(id).map(|i| i.ty),
    };
    match node {
        Node::Master { unknown, children, .. } => {
            let size = if *unknown {
                MasterSize::Unknown(width)
            } else {
                MasterSize::Known(SizeWidth::Fixed(width))
            };
            w.start_master(id, size).unwrap();
            expected.push(Token::MasterStart(header));
            for child in children {
                write_node(w, child, depth + 1, expected);
            }
            w.end_master().unwrap();
            expected.push(Token::MasterEnd { header, end: w.len() as u64 });
        }
        Node::Leaf { payload, value, .. } => {
            w.leaf(id, payload, SizeWidth::Fixed(width)).unwrap();
            expected.push(Token::Leaf { header, value: value.clone() });
        }
    }
}

fn as_events(tokens: Vec<Token>) -> Vec<Event> {
    tokens.into_iter().map(Ok).collect()
}

// ---- Chunkings ----

/// Chunk sizes, cycled over the input: 1-byte chunks, tiny ones, small ones with empty chunks
/// mixed in, or large ones.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        prop::collection::vec(1usize..8, 1..16),
        prop::collection::vec(0usize..300, 1..16),
        prop::collection::vec(1usize..5000, 1..8),
    ]
    .prop_map(|mut v| {
        if v.iter().all(|&n| n == 0) {
            v.push(1);
        }
        v
    })
}

/// Chunk sizes for the (large) conformance files: mostly large chunks with runs of tiny ones,
/// so that every kind of boundary occurs without feeding megabytes one byte at a time.
fn file_chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..4, 1usize..80, 1usize..70_000, 60_000usize..300_000], 1..32)
}

fn chunked(data: &Bytes, sizes: &[usize]) -> Vec<Bytes> {
    split(data, sizes.iter().copied().cycle())
}

/// Random single-byte overwrites: (position as a fraction of the length, new byte).
fn mutations() -> impl Strategy<Value = Vec<(u32, u8)>> {
    prop::collection::vec((any::<u32>(), prop_oneof![Just(0u8), Just(0xFF), Just(0x1A), any::<u8>()]), 1..5)
}

fn mutate(data: &[u8], mutations: &[(u32, u8)]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.is_empty() {
        return out;
    }
    for &(at, byte) in mutations {
        let i = ((u64::from(at) * out.len() as u64) >> 32) as usize;
        out[i] = byte;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Write then read: the slice tokenizer gives back exactly the tree that was written
    /// (ids, sizes known or unknown, header lengths, offsets, depths, values, document
    /// boundaries).
    #[test]
    fn written_trees_read_back_identically(shapes in prop::collection::vec(shape(), 1..5)) {
        let nodes = tree(&shapes);
        let (data, expected) = write_tree(&nodes);
        let got = slice_events(&data, Options::default());
        if let Some(diff) = first_difference(&as_events(expected), &got) {
            panic!("{diff}\ntree: {nodes:#?}");
        }
    }

    /// Any chunking of a written tree gives the slice tokenizer's tokens.
    #[test]
    fn any_chunking_of_a_tree_gives_the_same_tokens(
        shapes in prop::collection::vec(shape(), 1..5),
        sizes in chunk_sizes(),
    ) {
        let (data, _) = write_tree(&tree(&shapes));
        let data = Bytes::from(data);
        let whole = slice_events(&data, Options::default());
        let streamed = stream_events(chunked(&data, &sizes), Options::default());
        prop_assert_eq!(first_difference(&whole, &streamed), None);
    }

    /// The same for corrupted trees: errors, their offsets and (with resynchronisation) the
    /// recovery are the same whatever the chunking.
    #[test]
    fn any_chunking_of_a_corrupted_tree_gives_the_same_events(
        shapes in prop::collection::vec(shape(), 1..5),
        damage in mutations(),
        sizes in chunk_sizes(),
        flags in any::<u8>(),
    ) {
        let (data, _) = write_tree(&tree(&shapes));
        let data = Bytes::from(mutate(&data, &damage));
        for resync in [false, true] {
            let opts = kvs_checks::differential::options_from_flags(flags).resync(resync);
            let whole = slice_events(&data, opts);
            let streamed = stream_events(chunked(&data, &sizes), opts);
            prop_assert_eq!(first_difference(&whole, &streamed), None, "resync {}", resync);
            if let Err(e) = kvs_checks::differential::check_invariants(&whole, data.len() as u64) {
                panic!("{e}");
            }
        }
    }
}

/// A conformance file: its name, its bytes and its slice-tokenizer events.
type ConformanceFile = (String, Bytes, Vec<Event>);

/// The conformance files and their slice-tokenizer events, computed once.
fn conformance_events() -> Option<&'static [ConformanceFile]> {
    static FILES: OnceLock<Option<Vec<ConformanceFile>>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let files = common::all_conformance_files()?;
            Some(
                files
                    .into_iter()
                    .map(|(name, data)| {
                        let events = slice_events(&data, Options::default());
                        (name, data, events)
                    })
                    .collect(),
            )
        })
        .as_deref()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Every conformance file, split at random points (runs of 1-byte chunks included), gives
    /// the slice tokenizer's events.
    #[test]
    fn any_chunking_of_a_conformance_file_gives_the_same_tokens(sizes in file_chunk_sizes()) {
        let Some(files) = conformance_events() else { return Ok(()) };
        for (name, data, whole) in files {
            let streamed = stream_events(chunked(data, &sizes), Options::default());
            prop_assert_eq!(first_difference(whole, &streamed), None, "{}", name);
        }
    }
}

// ---- Zero copy ----

/// Feeds `data` in `chunks` and checks every non-empty payload: one whose element (header and
/// payload) lies inside one fed chunk is a slice of that chunk's memory; one that spans chunks
/// is a single gathered copy. Returns how many payloads were zero-copy and how many gathered.
fn check_zero_copy(data: &Bytes, chunks: Vec<Bytes>) -> (usize, usize) {
    // (absolute start, pointer, length) of each chunk.
    let mut at = 0u64;
    let fed: Vec<(u64, usize, usize)> = chunks
        .iter()
        .map(|c| {
            let r = (at, c.as_ptr() as usize, c.len());
            at += c.len() as u64;
            r
        })
        .collect();
    assert_eq!(at, data.len() as u64);
    // Kept alive to the end, so that no later allocation can reuse their memory.
    let _alive = chunks.clone();
    let mut t = Tokenizer::new();
    let mut payloads = Vec::new();
    for chunk in chunks {
        t.feed(chunk);
        while let Some(token) = t.next_token().unwrap() {
            if let Token::Leaf { header, value } = token
                && let Value::Binary(b) | Value::String(b) | Value::Utf8(b) = value
                && !b.is_empty()
            {
                payloads.push((header, b));
            }
        }
    }
    t.finish();
    while t.next_token().unwrap().is_some() {}
    let (mut zero_copy, mut gathered) = (0, 0);
    for (header, b) in payloads {
        let (start, end) = (header.offset, header.end_offset().unwrap());
        let p = b.as_ptr() as usize;
        let inside_fed = fed.iter().any(|&(_, ptr, len)| p >= ptr && p < ptr + len);
        match fed.iter().find(|&&(s, _, len)| start >= s && end <= s + len as u64) {
            Some(&(s, ptr, _)) => {
                assert_eq!(p, ptr + (header.data_offset() - s) as usize, "{header:?} was copied");
                zero_copy += 1;
            }
            None if fed.iter().any(|&(s, _, len)| header.data_offset() >= s && end <= s + len as u64) => {
                // Only the header straddles a boundary: the element is gathered whole today.
            }
            None => {
                assert!(!inside_fed, "{header:?} spans chunks but points into one");
                assert_eq!(&b[..], &data[header.data_offset() as usize..end as usize]);
                gathered += 1;
            }
        }
    }
    (zero_copy, gathered)
}

#[test]
fn frames_inside_one_chunk_are_slices_of_it() {
    let data = Bytes::from(common::getmedia_stream(4, 60, 700));
    // One chunk: every payload is a slice of it.
    let (zero_copy, gathered) = check_zero_copy(&data, vec![data.clone()]);
    assert_eq!(gathered, 0);
    assert!(zero_copy >= 4 * 60);
    // 64 KiB chunks, copied into fresh allocations so that pointers tell chunks apart.
    let chunks: Vec<Bytes> = data.chunks(64 << 10).map(Bytes::copy_from_slice).collect();
    let (zero_copy, gathered) = check_zero_copy(&data, chunks);
    assert!(gathered >= 2, "{gathered}");
    assert!(zero_copy > 200, "{zero_copy}");
    // Odd chunk sizes.
    let chunks: Vec<Bytes> = data.chunks(1001).map(Bytes::copy_from_slice).collect();
    let (zero_copy, gathered) = check_zero_copy(&data, chunks);
    assert!(gathered > 100 && zero_copy > 10, "{zero_copy} {gathered}");
}

#[test]
fn conformance_frames_inside_one_chunk_are_slices_of_it() {
    let Some(files) = conformance_events() else { return };
    for (name, data, _) in files.iter().filter(|(n, ..)| n.ends_with("output_get_media.mkv")) {
        let chunks: Vec<Bytes> = data.chunks(64 << 10).map(Bytes::copy_from_slice).collect();
        let (zero_copy, gathered) = check_zero_copy(data, chunks);
        assert!(zero_copy > 250 && gathered > 0, "{name}: {zero_copy} {gathered}");
    }
}
