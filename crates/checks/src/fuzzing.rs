//! The checks of the kvs-chunk fuzz targets, shared by `crates/chunk/tests/fuzz_regressions.rs`
//! and `fuzz/fuzz_targets/{block,decoder,aws_tags}.rs`: one source of truth, nothing new
//! exposed by the library. It needs only `kvs_chunk` (without its tokio adapters), `kvs_ebml`,
//! `bytes` and the tokenizer check [`crate::differential`] (chunkings and option flags).
//!
//! - [`check_block`]: a block payload's header and frames, against a naive reference
//!   implementation of RFC 9559's lacing written here with wide integers and no shortcuts.
//! - [`check_decoder`]: the event decoder fed in chunks (and through `ReadEvents`) gives exactly
//!   what it gives on the whole input; the events are well formed.
//! - [`check_aws`]: the AWS tag value parsers against references; `FragmentNumber`'s order is
//!   a total order consistent with its equality.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::BuildHasher;

use bytes::Bytes;
use kvs_chunk::block::{self, BlockError, BlockHeader, Lacing};
use kvs_chunk::{Event, EventDecoder, Events, FragmentAssembler, ReadEvents, SliceEvents};

use crate::differential;

// ---------------------------------------------------------------------------------------------
// Blocks and lacing.

/// The reference block header: the same fields, read the long way.
fn ref_header(data: &[u8]) -> Result<BlockHeader, BlockError> {
    let first = *data.first().ok_or(BlockError::Truncated)?;
    if first == 0 {
        return Err(BlockError::InvalidTrackNumber);
    }
    let w = first.leading_zeros() as usize + 1;
    if data.len() < w + 3 {
        return Err(BlockError::Truncated);
    }
    let mut track = u64::from(first) & (0xFF >> w);
    for &b in &data[1..w] {
        track = track * 256 + u64::from(b);
    }
    let relative_timestamp = i16::from_be_bytes([data[w], data[w + 1]]);
    let flags = data[w + 2];
    let lacing = [Lacing::None, Lacing::Xiph, Lacing::Fixed, Lacing::Ebml][usize::from((flags >> 1) & 3)];
    Ok(BlockHeader { track, relative_timestamp, flags, lacing, len: w + 3 })
}

/// A lace-size VINT at `pos`: (value, width), the all-ones pattern being a plain value.
fn ref_vint(data: &[u8], pos: usize) -> Result<(u64, usize), BlockError> {
    let first = *data.get(pos).ok_or(BlockError::Truncated)?;
    if first == 0 {
        return Err(BlockError::InvalidLaceSize);
    }
    let w = first.leading_zeros() as usize + 1;
    if data.len() < pos + w {
        return Err(BlockError::Truncated);
    }
    let mut v = u64::from(first) & (0xFF >> w);
    for &b in &data[pos + 1..pos + w] {
        v = v * 256 + u64::from(b);
    }
    Ok((v, w))
}

/// The reference frame split: byte ranges of the payload, in order.
fn ref_frames(payload: &[u8], h: &BlockHeader) -> Result<Vec<(usize, usize)>, BlockError> {
    if h.lacing == Lacing::None {
        return Ok(vec![(h.len.min(payload.len()), payload.len())]);
    }
    let data = payload.get(h.len..).ok_or(BlockError::Truncated)?;
    let count = usize::from(*data.first().ok_or(BlockError::Truncated)?) + 1;
    let mut pos = 1;
    let mut sizes: Vec<i128> = Vec::new();
    match h.lacing {
        Lacing::Xiph => {
            for _ in 0..count - 1 {
                let mut total: i128 = 0;
                loop {
                    let b = *data.get(pos).ok_or(BlockError::Truncated)?;
                    pos += 1;
                    total += i128::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(total);
            }
        }
        Lacing::Ebml => {
            if count > 1 {
                let (first, w) = ref_vint(data, pos)?;
                pos += w;
                let mut prev = i128::from(first);
                if prev > i128::from(i64::MAX) {
                    return Err(BlockError::LaceOverflow);
                }
                sizes.push(prev);
                for _ in 1..count - 1 {
                    let (raw, w) = ref_vint(data, pos)?;
                    pos += w;
                    let bias = (1i128 << (7 * w - 1)) - 1;
                    prev += i128::from(raw) - bias;
                    if prev < 0 || prev > i128::from(i64::MAX) {
                        return Err(BlockError::LaceOverflow);
                    }
                    sizes.push(prev);
                }
            }
        }
        Lacing::Fixed => {
            let rest = data.len() - pos;
            if rest % count != 0 {
                return Err(BlockError::UnevenFixedLacing);
            }
            sizes = vec![(rest / count) as i128; count - 1];
        }
        Lacing::None => unreachable!(),
    }
    let start = h.len + pos;
    let laced: i128 = sizes.iter().sum();
    if i128::try_from(start).unwrap() + laced > i128::try_from(payload.len()).unwrap() {
        return Err(BlockError::LaceOverflow);
    }
    let mut out = Vec::new();
    let mut at = start;
    for s in sizes {
        let end = at + usize::try_from(s).unwrap();
        out.push((at, end));
        at = end;
    }
    out.push((at, payload.len()));
    Ok(out)
}

/// The `block` target: `parse_header` and `for_each_frame` agree with the reference on every
/// payload; frames are zero-copy slices that tile the payload after the lace header.
pub fn check_block(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    let header = block::parse_header(&payload);
    assert_eq!(header, ref_header(data), "header of {data:02x?}");
    let Ok(header) = header else { return };
    let mut got = Vec::new();
    let base = payload.as_ptr().addr();
    let result = block::for_each_frame(&payload, &header, |i, count, frame| {
        assert_eq!(i, got.len(), "frame index");
        assert!((1..=block::MAX_LACED_FRAMES).contains(&count), "count {count}");
        assert!(frame.is_empty() || frame.as_ptr().addr() >= base, "frame is not a slice of the payload");
        let at = if frame.is_empty() { usize::MAX } else { frame.as_ptr().addr() - base };
        got.push((at, frame.len(), count));
    });
    let expected = ref_frames(data, &header);
    match (&result, &expected) {
        (Err(a), Err(b)) => {
            // The callback may have seen no frame, or (never) a prefix: frames are only handed
            // out once the whole lace is validated.
            assert_eq!(a, b, "lacing error of {data:02x?}");
            assert!(got.is_empty(), "frames handed out before the error: {got:?}");
        }
        (Ok(()), Ok(ranges)) => {
            assert_eq!(got.len(), ranges.len(), "frame count of {data:02x?}");
            for (&(at, len, count), &(s, e)) in got.iter().zip(ranges) {
                assert_eq!(count, ranges.len());
                assert_eq!(len, e - s, "frame size of {data:02x?}");
                if len > 0 {
                    assert_eq!(at, s, "frame offset of {data:02x?}");
                }
            }
        }
        _ => panic!("block {data:02x?}: got {result:?} with {} frames, reference {expected:?}", got.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// The event decoder.

/// One decoder result, errors as text (they are not `PartialEq`).
pub type Item = Result<Event, String>;

/// The most items an input of `len` bytes may produce: a 5-byte block can lace 256 empty
/// frames, so about 256 events per 4 bytes of input, plus a margin for document ends.
pub fn item_cap(len: usize) -> usize {
    len.saturating_mul(64).saturating_add(64)
}

/// The options a flag byte chooses: bit 3 turns resynchronisation on; bits 0..=2 as
/// [`differential::options_from_flags`] (CRC checks, limit profile).
pub fn decoder_options(flags: u8) -> kvs_chunk::Options {
    differential::options_from_flags(flags).resync(flags & 8 != 0)
}

/// Pulls every item from `decoder` until it needs more input; false once it has stopped.
fn drain(decoder: &mut EventDecoder, out: &mut Vec<Item>, cap: usize) -> bool {
    loop {
        match decoder.next_event() {
            Ok(Some(e)) => out.push(Ok(e)),
            Ok(None) => return !decoder.is_done(),
            Err(e) => {
                let fatal = !e.is_recoverable();
                out.push(Err(e.to_string()));
                if fatal && decoder.is_done() {
                    // Stopped for good: nothing more, ever.
                    assert!(matches!(decoder.next_event(), Ok(None)), "events after a fatal error");
                    return false;
                }
            }
        }
        assert!(out.len() <= cap, "decoder runaway: more than {cap} items");
    }
}

/// The items of the decoder fed `chunks`, then finished.
pub fn chunked_items(chunks: &[Bytes], opts: kvs_chunk::Options) -> Vec<Item> {
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let cap = item_cap(total);
    let mut decoder = EventDecoder::with_options(opts);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk.clone());
        if !drain(&mut decoder, &mut out, cap) {
            return out;
        }
    }
    decoder.finish();
    drain(&mut decoder, &mut out, cap);
    out
}

/// The items of `Events` over the whole input (capped).
pub fn whole_items(input: &Bytes, opts: kvs_chunk::Options) -> Vec<Item> {
    let cap = item_cap(input.len());
    let mut out = Vec::new();
    for item in Events::with_options(input.clone(), opts) {
        out.push(item.map_err(|e| e.to_string()));
        assert!(out.len() <= cap, "Events runaway: more than {cap} items from {} bytes", input.len());
    }
    out
}

/// The items of `SliceEvents` over the whole input (capped), made owned to compare; a
/// borrowed frame must be a slice of `input`.
pub fn slice_items(input: &[u8], opts: kvs_chunk::Options) -> Vec<Item> {
    let cap = item_cap(input.len());
    let range = input.as_ptr_range();
    let mut out = Vec::new();
    for item in SliceEvents::with_options(input, opts) {
        let item = item.map_err(|e| e.to_string()).map(|event| {
            event.map_data(|data| {
                if let Cow::Borrowed(b) = &data {
                    let p = b.as_ptr_range();
                    assert!(
                        b.is_empty() || (p.start >= range.start && p.end <= range.end),
                        "SliceEvents: a borrowed frame is not a slice of the input"
                    );
                }
                Bytes::copy_from_slice(&data)
            })
        });
        out.push(item);
        assert!(out.len() <= cap, "SliceEvents runaway: more than {cap} items from {} bytes", input.len());
    }
    out
}

/// The well-formedness of one item sequence over an input of `len` bytes (frames checked to
/// be slices of `input` when `zero_copy`).
pub fn check_items(items: &[Item], input: &Bytes, zero_copy: bool) -> Result<(), String> {
    let mut doc: Option<u64> = None;
    let mut next_index = 0u64;
    let mut fragment_ended = false;
    let mut metadata_seen = false;
    let range = input.as_ptr_range();
    for (i, item) in items.iter().enumerate() {
        let Ok(event) = item else { continue };
        match event {
            Event::DocumentStart { index, offset } => {
                if doc.is_some() {
                    return Err(format!("item {i}: DocumentStart inside a document"));
                }
                if *index != next_index {
                    return Err(format!("item {i}: document {index}, expected {next_index}"));
                }
                if *offset > input.len() as u64 {
                    return Err(format!("item {i}: document at {offset} past the input"));
                }
                next_index += 1;
                doc = Some(*index);
                fragment_ended = false;
                metadata_seen = false;
            }
            Event::DocumentEnd { index, offset, end } => {
                if doc.take() != Some(*index) {
                    return Err(format!("item {i}: DocumentEnd {index} does not match"));
                }
                if end < offset || *end > input.len() as u64 {
                    return Err(format!("item {i}: document {offset}..{end} of {} bytes", input.len()));
                }
                if !fragment_ended {
                    return Err(format!("item {i}: document ends without FragmentEnd"));
                }
            }
            Event::FragmentStart { index, .. } => {
                // A further fragment of a merged document: only after the previous one ended.
                if doc != Some(*index) || !fragment_ended {
                    return Err(format!("item {i}: FragmentStart {index} out of place"));
                }
                fragment_ended = false;
                metadata_seen = false;
            }
            Event::FragmentEnd(end) => {
                if doc != Some(end.index) || fragment_ended {
                    return Err(format!("item {i}: FragmentEnd {} out of place", end.index));
                }
                fragment_ended = true;
            }
            Event::FragmentMetadata(_) => {
                if doc.is_none() || metadata_seen {
                    return Err(format!("item {i}: FragmentMetadata out of place"));
                }
                metadata_seen = true;
            }
            Event::Frame(f) => {
                if doc.is_none() {
                    return Err(format!("item {i}: frame outside a document"));
                }
                if f.lace_index >= f.lace_count || usize::from(f.lace_count) > block::MAX_LACED_FRAMES {
                    return Err(format!("item {i}: lace {} of {}", f.lace_index, f.lace_count));
                }
                if f.data.len() > input.len() || f.block_offset >= input.len() as u64 {
                    return Err(format!("item {i}: frame of {} bytes at {}", f.data.len(), f.block_offset));
                }
                let p = f.data.as_ptr_range();
                if zero_copy
                    && !f.data.is_empty()
                    && (p.start.addr() < range.start.addr() || p.end.addr() > range.end.addr())
                {
                    return Err(format!("item {i}: frame is not a slice of the input"));
                }
            }
            Event::Tracks(_) | Event::Cluster { .. } | Event::Tag(_) | Event::ErrorChunk(_)
                if doc.is_none() =>
            {
                return Err(format!("item {i}: {event:?} outside a document"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `decoder` target: byte 0 chooses the chunking (as the `tokenizer` target), byte 1 the
/// options ([`decoder_options`]); the rest is decoded whole, in chunks, borrowed
/// (`SliceEvents`) and through `ReadEvents` with a small read size; all four must agree, item for item, and the items
/// must be well formed. The fragment assembler must take the events without trouble.
pub fn check_decoder(data: &[u8]) {
    let [seed, flags, input @ ..] = data else { return };
    let input = Bytes::copy_from_slice(input);
    let opts = decoder_options(*flags);
    let whole = whole_items(&input, opts);
    if let Err(e) = check_items(&whole, &input, true) {
        panic!("malformed events (flags {flags:#x}): {e}");
    }
    let chunks = differential::chunks_from_seed(&input, *seed);
    let chunked = chunked_items(&chunks, opts);
    compare("chunked", &whole, &chunked, *seed, *flags);
    let borrowed = slice_items(&input, opts);
    compare("SliceEvents", &whole, &borrowed, *seed, *flags);
    let read_size = usize::from(*seed % 61) + 1;
    let mut read = Vec::new();
    for item in ReadEvents::with_options(std::io::Cursor::new(input.to_vec()), opts).read_size(read_size) {
        read.push(item.map_err(|e| e.to_string()));
        assert!(read.len() <= item_cap(input.len()), "ReadEvents runaway");
    }
    compare("ReadEvents", &whole, &read, *seed, *flags);
    let mut assembler = FragmentAssembler::new();
    for event in whole.into_iter().flatten() {
        if let Some(fragment) = assembler.push(event) {
            assert!(fragment.frames.len() <= item_cap(input.len()));
        }
    }
}

fn compare(what: &str, expected: &[Item], got: &[Item], seed: u8, flags: u8) {
    for (i, (a, b)) in expected.iter().zip(got).enumerate() {
        assert!(
            same_item(a, b),
            "{what} differs at item {i} (seed {seed}, flags {flags:#x}):\n  whole {a:?}\n  {what} {b:?}"
        );
    }
    assert_eq!(
        expected.len(),
        got.len(),
        "{what}: item counts differ (seed {seed}, flags {flags:#x}); first extra: {:?}",
        expected.get(got.len()).or(got.get(expected.len()))
    );
}

/// Item equality with floats (audio sampling frequencies) compared bit for bit.
fn same_item(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Ok(Event::Tracks(x)), Ok(Event::Tracks(y))) => format!("{x:?}") == format!("{y:?}"),
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// AWS tag values.

/// The reference `trimmed`: strip trailing NULs and ASCII whitespace, then leading ASCII
/// whitespace.
fn ref_trimmed(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && (raw[end - 1] == 0 || raw[end - 1].is_ascii_whitespace()) {
        end -= 1;
    }
    let mut start = 0;
    while start < end && raw[start].is_ascii_whitespace() {
        start += 1;
    }
    &raw[start..end]
}

/// The reference decimal parser: all ASCII digits, at least one, value in `u64`.
fn ref_u64(raw: &[u8]) -> Option<u64> {
    let s = ref_trimmed(raw);
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The reference timestamp parser: `[-]digits[.digits]` seconds, fraction truncated to
/// milliseconds, computed in `i128` and checked against `i64` at the end.
fn ref_timestamp_ms(raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(ref_trimmed(raw)).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // The seconds must fit in i64 on their own (as the crate documents), so a long run of
    // digits is out of range even if it would fit in i128.
    let seconds: i64 = int.parse().ok()?;
    let millis: i128 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    let total = i128::from(seconds) * 1000 + millis;
    let total = if neg { -total } else { total };
    i64::try_from(total).ok()
}

/// The `aws_tags` target: byte 0 is a split point; the whole input goes through every value
/// parser (against references); the two halves are compared as fragment numbers.
pub fn check_aws(data: &[u8]) {
    use kvs_chunk::aws::{self, AwsTag};
    use kvs_chunk::{ErrorId, FragmentNumber};

    let trimmed = aws::trimmed(data);
    assert_eq!(trimmed, ref_trimmed(data), "trimmed({data:?})");
    assert_eq!(aws::trimmed(trimmed), trimmed, "trimmed is idempotent");
    assert_eq!(aws::parse_u64(data), ref_u64(data), "parse_u64({:?})", String::from_utf8_lossy(data));
    assert_eq!(
        aws::parse_timestamp_ms(data),
        ref_timestamp_ms(data),
        "parse_timestamp_ms({:?})",
        String::from_utf8_lossy(data)
    );
    if let Some(n) = aws::parse_u64(data) {
        let id = ErrorId::from_u64(n);
        assert_eq!(id.code(), n);
        assert!(!id.to_string().is_empty());
        assert_eq!(ErrorId::from_u64(id.code()), id);
    }
    if let Some(tag) = AwsTag::from_name(data) {
        assert!(data.starts_with(b"AWS_KINESISVIDEO_"));
        assert_eq!(AwsTag::from_name(tag.name().as_bytes()), Some(tag));
    }

    // Fragment numbers: a total order consistent with equality and hashing.
    let Some((&split, rest)) = data.split_first() else { return };
    let at = usize::from(split).min(rest.len());
    let (x, y) = rest.split_at(at);
    let a = FragmentNumber::new(String::from_utf8_lossy(x));
    let b = FragmentNumber::new(String::from_utf8_lossy(y));
    let ab = a.cmp(&b);
    assert_eq!(ab, b.cmp(&a).reverse(), "antisymmetry of {a:?} and {b:?}");
    assert_eq!(ab == Ordering::Equal, a == b, "cmp and == disagree on {a:?} and {b:?}");
    assert_eq!(a.partial_cmp(&b), Some(ab));
    assert_eq!(a.cmp(&a), Ordering::Equal);
    if a == b {
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&a), state.hash_one(&b), "equal numbers hash alike: {a:?} {b:?}");
    }
    // Numeric order where both are plain decimals.
    if let (Ok(p), Ok(q)) = (a.as_str().parse::<u128>(), b.as_str().parse::<u128>())
        && a.as_str().bytes().all(|c| c.is_ascii_digit())
        && b.as_str().bytes().all(|c| c.is_ascii_digit())
    {
        assert_eq!(ab, p.cmp(&q), "numeric order of {a:?} and {b:?}");
    }
}
