//! The differential check of the tokenizer, shared by kvs-ebml's tests
//! (`crates/ebml/tests/fuzz_regressions.rs` replays the fuzz inputs through [`check`]; the
//! chunking, conformance, edge-case and issue tests use its pieces), the kvs-chunk checks
//! (`fuzzing`) and the cargo-fuzz target `fuzz/fuzz_targets/tokenizer.rs`: one source
//! of truth, nothing new exposed by the library. It needs only `kvs_ebml` and `bytes`.
//!
//! The check: the streaming `Tokenizer`, fed the input in chunks chosen by a seed, gives exactly
//! the events (tokens and errors) the `SliceTokenizer` gives on the whole input, with and without
//! resynchronisation; the events also obey a few structural invariants. The streaming side
//! also takes the `Tokenizer::next_leaf_in` fast path on every other pull, for one of a few
//! (element, parent) pairs in turn, so the fast path must give exactly what `next_token`
//! gives, and refuse what it cannot take. The `BytesTokenizer` over the whole input, pulled
//! the same way, must give the same events again, every payload a slice of the input.

use bytes::Bytes;
use kvs_ebml::{
    BytesTokenizer, ElementHeader, ElementId, Error, ErrorKind, Limits, Options, SliceTokenizer, Token,
    Tokenizer, Value, ids,
};

/// The (element, parent) pairs the streaming side tries `next_leaf_in` with: the hot one
/// (SimpleBlock in a Cluster), other Binary leaves (Block, CodecPrivate, the global Void),
/// and two it must always refuse (Timestamp is an unsigned integer; CRC-32 is checked on the
/// general path).
const FAST_PATHS: [(ElementId, ElementId); 6] = [
    (ids::SIMPLE_BLOCK, ids::CLUSTER),
    (ids::BLOCK, ids::BLOCK_GROUP),
    (ids::CODEC_PRIVATE, ids::TRACK_ENTRY),
    (ids::VOID, ids::CLUSTER),
    (ids::TIMESTAMP, ids::CLUSTER),
    (ids::CRC32, ids::CLUSTER),
];

/// One pull from a tokenizer: a token or an error.
pub type Event = Result<Token, Error>;

/// Whether the tokenizer stops for good after `e` (the documented contract: fatal errors stop
/// it unless resynchronisation is on; end of input and an exhausted resync scan always do).
pub fn is_final(e: &Error, opts: &Options) -> bool {
    !e.is_recoverable() && (!opts.resync || e.is_eof() || matches!(e.kind, ErrorKind::ResyncLimit { .. }))
}

/// The most events an input of `len` bytes can produce: every token but the zero-width ones
/// consumes a header, so a runaway tokenizer is caught instead of hanging the test.
pub fn event_cap(len: usize) -> usize {
    len.saturating_mul(8).saturating_add(64)
}

/// All events of the `SliceTokenizer` over `input`, payloads copied to `Bytes`.
pub fn slice_events(input: &[u8], opts: Options) -> Vec<Event> {
    let cap = event_cap(input.len());
    let mut out = Vec::new();
    for event in SliceTokenizer::with_options(input, opts) {
        out.push(event.map(Token::into_owned));
        assert!(
            out.len() <= cap,
            "SliceTokenizer runaway: more than {cap} events from {} bytes",
            input.len()
        );
    }
    out
}

/// All events of the streaming `Tokenizer` fed `chunks`, then `finish()`ed.
pub fn stream_events(chunks: impl IntoIterator<Item = Bytes>, opts: Options) -> Vec<Event> {
    let mut tokenizer = Tokenizer::with_options(opts);
    let mut out = Vec::new();
    let mut fed = 0usize;
    for chunk in chunks {
        fed += chunk.len();
        tokenizer.feed(chunk);
        if drain(&mut tokenizer, &mut out, &opts, event_cap(fed)) {
            return out;
        }
    }
    tokenizer.finish();
    drain(&mut tokenizer, &mut out, &opts, event_cap(fed));
    out
}

/// All events of the `BytesTokenizer` over `input`, pulled as the streaming tokenizer is
/// (the `next_leaf_in` fast path on every other pull); every payload must be a slice of
/// `input`, not a copy.
pub fn bytes_events(input: &Bytes, opts: Options) -> Vec<Event> {
    let mut tokenizer = BytesTokenizer::with_options(input.clone(), opts);
    let mut out = Vec::new();
    drain(&mut tokenizer, &mut out, &opts, event_cap(input.len()));
    let inside = input.as_ptr_range();
    for event in &out {
        if let Ok(Token::Leaf { value: Value::Binary(b), .. }) = event
            && !b.is_empty()
        {
            let r = b.as_ptr_range();
            assert!(
                inside.start <= r.start && r.end <= inside.end,
                "BytesTokenizer payload is not a slice of the input"
            );
        }
    }
    out
}

/// A tokenizer whose payloads are `Bytes`, as [`drain`] pulls it.
trait Pull {
    fn leaf(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, Bytes)>;
    fn token(&mut self) -> Result<Option<Token>, Error>;
}

impl Pull for Tokenizer {
    fn leaf(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, Bytes)> {
        self.next_leaf_in(id, parent)
    }
    fn token(&mut self) -> Result<Option<Token>, Error> {
        self.next_token()
    }
}

impl Pull for BytesTokenizer {
    fn leaf(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, Bytes)> {
        self.next_leaf_in(id, parent)
    }
    fn token(&mut self) -> Result<Option<Token>, Error> {
        self.next_token()
    }
}

/// Pulls until more input is needed; returns `true` once the tokenizer has stopped for good.
fn drain(tokenizer: &mut impl Pull, out: &mut Vec<Event>, opts: &Options, cap: usize) -> bool {
    loop {
        if out.len().is_multiple_of(2) {
            let (id, parent) = FAST_PATHS[(out.len() / 2) % FAST_PATHS.len()];
            if let Some((header, payload)) = tokenizer.leaf(id, parent) {
                out.push(Ok(Token::Leaf { header, value: Value::Binary(payload) }));
                assert!(out.len() <= cap, "Tokenizer runaway: more than {cap} events");
                continue;
            }
        }
        match tokenizer.token() {
            Ok(None) => return false,
            Ok(Some(token)) => out.push(Ok(token)),
            Err(e) => {
                out.push(Err(e));
                if is_final(&e, opts) {
                    // A fatal error is sticky.
                    assert_eq!(tokenizer.token(), Err(e), "a fatal error must be sticky");
                    return true;
                }
            }
        }
        assert!(out.len() <= cap, "Tokenizer runaway: more than {cap} events");
    }
}

/// Token equality with floats compared bit for bit (a NaN payload equals itself).
pub fn same_event(a: &Event, b: &Event) -> bool {
    match (a, b) {
        (
            Ok(Token::Leaf { header: ha, value: Value::Float(x) }),
            Ok(Token::Leaf { header: hb, value: Value::Float(y) }),
        ) => ha == hb && x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// `None` if the sequences are equal, else a description of the first difference.
pub fn first_difference(expected: &[Event], got: &[Event]) -> Option<String> {
    for (i, (a, b)) in expected.iter().zip(got).enumerate() {
        if !same_event(a, b) {
            return Some(format!("event {i} differs:\n  expected {}\n  got      {}", show(a), show(b)));
        }
    }
    if expected.len() != got.len() {
        let n = expected.len().min(got.len());
        return Some(format!(
            "{} events expected, {} got; first extra: {}",
            expected.len(),
            got.len(),
            expected.get(n).or(got.get(n)).map_or_else(String::new, show)
        ));
    }
    None
}

/// An event, with long payloads abbreviated.
pub fn show(e: &Event) -> String {
    match e {
        Ok(Token::Leaf { header, value }) => match value.bytes() {
            Some(b) if b.len() > 16 => format!("Leaf {{ {header:?}, {} payload bytes }}", b.len()),
            _ => format!("Leaf {{ {header:?}, {value:?} }}"),
        },
        other => format!("{other:?}"),
    }
}

/// A small deterministic generator (xorshift64*), for chunk sizes.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator; any seed works (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `1..=max`.
    pub fn below_incl(&mut self, max: usize) -> usize {
        1 + (self.next_u64() % max.max(1) as u64) as usize
    }
}

/// Zero-copy slices of `data` of the given sizes (a size of 0 gives an empty chunk, which the
/// tokenizer must ignore); the last chunk takes what is left.
pub fn split(data: &Bytes, sizes: impl IntoIterator<Item = usize>) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.into_iter();
    while at < data.len() {
        let n = sizes.next().unwrap_or(data.len()).min(data.len() - at);
        out.push(data.slice(at..at + n));
        at += n;
    }
    out
}

/// The chunking a seed byte chooses: 1-byte chunks, fixed sizes, random small sizes, random
/// sizes with empty chunks mixed in, or the whole input at once.
pub fn chunks_from_seed(data: &Bytes, seed: u8) -> Vec<Bytes> {
    let mut rng = XorShift::new(u64::from(seed));
    match seed % 5 {
        0 => split(data, std::iter::repeat(1)),
        1 => split(data, std::iter::repeat(usize::from(seed / 5) + 1)),
        2 => split(data, std::iter::from_fn(|| Some(rng.below_incl(16)))),
        3 => split(data, std::iter::from_fn(|| Some(rng.below_incl(64) - 1))),
        _ => vec![data.clone()],
    }
}

/// The options a flag byte chooses: CRC checks on or off, and one of four limit profiles.
///
/// Every profile keeps `max_buffered` at least the largest leaf (string and binary limits; 8
/// bytes for numbers and dates) plus a 12-byte header, so that a `BufferLimit` error (which
/// depends on the chunking by design) cannot occur.
pub fn options_from_flags(flags: u8) -> Options {
    let limits = match (flags >> 1) & 3 {
        0 => Limits::default(),
        1 => Limits::default()
            .max_string_size(64)
            .max_binary_size(256)
            .max_buffered(256 + 12)
            .max_depth(4)
            .max_resync_scan(64),
        2 => Limits::default().max_depth(1).max_master_size(1000).max_resync_scan(1 << 10),
        _ => Limits::default().max_string_size(0).max_binary_size(0).max_buffered(8 + 12).max_resync_scan(0),
    };
    Options::default().limits(limits).verify_crc(flags & 1 != 0)
}

/// Structural invariants of one event sequence over an input of `len` bytes.
pub fn check_invariants(events: &[Event], len: u64) -> Result<(), String> {
    let mut last_header = 0u64;
    let mut open: Vec<u64> = Vec::new();
    let mut doc_start: Option<u64> = None;
    let mut covered = 0u64;
    let mut clean = true;
    for (i, event) in events.iter().enumerate() {
        match event {
            Ok(Token::DocumentStart { offset }) => {
                if doc_start.is_some() {
                    return Err(format!("event {i}: DocumentStart inside a document"));
                }
                if clean && *offset != covered {
                    return Err(format!(
                        "event {i}: document starts at {offset}, previous ended at {covered}"
                    ));
                }
                doc_start = Some(*offset);
            }
            Ok(Token::DocumentEnd { offset }) => {
                if doc_start.take().is_none() {
                    return Err(format!("event {i}: DocumentEnd outside a document"));
                }
                covered = *offset;
            }
            Ok(Token::MasterStart(h) | Token::Leaf { header: h, .. }) => {
                if h.offset < last_header {
                    return Err(format!("event {i}: header at {} after one at {last_header}", h.offset));
                }
                if doc_start.is_none() {
                    return Err(format!("event {i}: element outside a document"));
                }
                if usize::from(h.depth) != open.len() && h.depth != u16::MAX {
                    return Err(format!("event {i}: depth {} with {} masters open", h.depth, open.len()));
                }
                last_header = h.offset;
                if matches!(event, Ok(Token::MasterStart(_))) {
                    open.push(h.offset);
                }
            }
            Ok(Token::MasterEnd { header, end }) => {
                if open.pop() != Some(header.offset) {
                    return Err(format!("event {i}: MasterEnd of {:?} does not match", header.id));
                }
                if *end < header.data_offset() {
                    return Err(format!("event {i}: master ends at {end} before its data"));
                }
            }
            Ok(Token::Resynced { depth, .. }) => {
                clean = false;
                open.truncate(usize::from(*depth));
            }
            Ok(other) => return Err(format!("event {i}: unexpected token {other:?}")),
            Err(_) => clean = false,
        }
    }
    if clean && !events.is_empty() {
        if !open.is_empty() || doc_start.is_some() {
            return Err("clean input left masters or a document open".into());
        }
        if covered != len {
            return Err(format!("documents cover {covered} of {len} bytes"));
        }
    }
    Ok(())
}

/// The whole differential check for one fuzz input: byte 0 chooses the chunking, byte 1 the
/// options, the rest is the EBML input. Panics on any disagreement.
pub fn check(data: &[u8]) {
    let [seed, flags, input @ ..] = data else { return };
    let input = Bytes::copy_from_slice(input);
    let chunks = chunks_from_seed(&input, *seed);
    for resync in [false, true] {
        let opts = options_from_flags(*flags).resync(resync);
        let whole = slice_events(&input, opts);
        let streamed = stream_events(chunks.iter().cloned(), opts);
        if let Some(diff) = first_difference(&whole, &streamed) {
            panic!("stream differs from slice (seed {seed}, flags {flags:#x}, resync {resync}): {diff}");
        }
        if let Some(diff) = first_difference(&whole, &bytes_events(&input, opts)) {
            panic!("BytesTokenizer differs from slice (flags {flags:#x}, resync {resync}): {diff}");
        }
        if let Err(e) = check_invariants(&whole, input.len() as u64) {
            panic!("invariant broken (flags {flags:#x}, resync {resync}): {e}");
        }
    }
}
