//! The streaming shell: [`Tokenizer`] takes [`Bytes`] chunks and hands out [`Token`]s whose
//! payloads are zero-copy slices of them.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::state::{Core, Options, Step, to_u64};
use crate::ElementId;
use crate::error::Error;
use crate::matroska::MatroskaSchema;
use crate::schema::Schema;
use crate::token::{ElementHeader, Token};

/// The streaming tokenizer: feed [`Bytes`] chunks of any size, pull [`Token`]s.
///
/// Running out of input is not an error: [`Tokenizer::next_token`] returns `Ok(None)` until
/// more is fed. After [`Tokenizer::finish`], an element cut short is reported as
/// [`ErrorKind::UnexpectedEof`](crate::ErrorKind::UnexpectedEof). Payloads that lie inside one input chunk come out as
/// zero-copy slices of it; an element whose header or payload spans chunks is gathered once.
///
/// ```
/// use bytes::Bytes;
/// use kvs_ebml::{Token, Tokenizer, ids};
///
/// // EBML header { DocType "webm" }, then a Segment of unknown size holding an empty Cluster.
/// let data = b"\x1A\x45\xDF\xA3\x87\x42\x82\x84webm\x18\x53\x80\x67\xFF\x1F\x43\xB6\x75\x80";
/// let mut tokenizer = Tokenizer::new();
/// let mut starts = Vec::new();
/// for chunk in data.chunks(3) {
///     tokenizer.feed(Bytes::copy_from_slice(chunk));
///     while let Some(token) = tokenizer.next_token()? {
///         if let Token::MasterStart(h) = token {
///             starts.push(h.id);
///         }
///     }
/// }
/// tokenizer.finish();
/// while let Some(_token) = tokenizer.next_token()? {}
/// assert_eq!(starts, [ids::EBML, ids::SEGMENT, ids::CLUSTER]);
/// # Ok::<(), kvs_ebml::Error>(())
/// ```
pub struct Tokenizer<S: Schema = MatroskaSchema> {
    core: Core<S>,
    chunks: VecDeque<Bytes>,
    queued: u64,
    eof: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    /// A tokenizer for Matroska/WebM with default [`Options`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_schema(MatroskaSchema::new(), Options::default())
    }

    /// A tokenizer for Matroska/WebM with the given options.
    #[must_use]
    pub fn with_options(opts: Options) -> Self {
        Self::with_schema(MatroskaSchema::new(), opts)
    }
}

impl<S: Schema> Tokenizer<S> {
    /// A tokenizer for any EBML document type.
    pub fn with_schema(schema: S, opts: Options) -> Self {
        Self { core: Core::new(schema, opts), chunks: VecDeque::new(), queued: 0, eof: false }
    }

    /// Appends a chunk of input. Empty chunks are ignored.
    pub fn feed(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.queued = self.queued.saturating_add(to_u64(chunk.len()));
            self.chunks.push_back(chunk);
        }
    }

    /// Declares the end of input: what is still open is closed or reported.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Whether every token has been returned (after [`Tokenizer::finish`]).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The absolute offset of the next unconsumed byte.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Bytes fed but not yet consumed.
    #[must_use]
    pub fn buffered(&self) -> u64 {
        self.queued
    }

    /// The masters open now, outermost first.
    pub fn open_elements(&self) -> impl Iterator<Item = &ElementHeader> {
        self.core.open_elements().map(|o| &o.header)
    }

    /// The next token, `Ok(None)` when more input is needed (or, after
    /// [`Tokenizer::finish`], when the input is exhausted).
    pub fn next_token(&mut self) -> Result<Option<Token>, Error> {
        loop {
            let eof = self.eof && self.chunks.len() <= 1;
            let window: &[u8] = self.chunks.front().map_or(&[], |b| b.as_ref());
            match self.core.step(window, eof)? {
                Step::Token(token, consumed) => {
                    if self.chunks.front().is_some_and(|f| f.len() == consumed) {
                        // The token ends the front chunk (a gathered element always does):
                        // its payload is the chunk itself, without a reference count to
                        // touch, and a gathered buffer stays a plain one.
                        let front = self.chunks.pop_front().unwrap_or_default();
                        self.queued = self.queued.saturating_sub(to_u64(consumed));
                        return Ok(Some(token.map_payload(|r| tail_of(front, r))));
                    }
                    let chunks = &self.chunks;
                    let token = token.map_payload(|r| chunks.front().map(|f| f.slice(r)).unwrap_or_default());
                    self.advance(consumed);
                    return Ok(Some(token));
                }
                Step::Progress(consumed) => self.advance(consumed),
                Step::NeedMore(n) => {
                    if self.chunks.len() <= 1 {
                        return Ok(None);
                    }
                    let have = self.queued;
                    if have < to_u64(n) && !self.eof {
                        return Ok(None);
                    }
                    self.gather(usize::try_from(have.min(to_u64(n))).unwrap_or(n));
                }
                Step::Done => return Ok(None),
            }
        }
    }

    /// A fast path for a caller that expects many leaves of one kind (a demuxer reading
    /// SimpleBlocks): if the next element is a complete `Binary` element `id` (a one-byte id)
    /// directly inside the open master `parent`, and the input holds all of it in one chunk,
    /// returns its header and payload exactly as [`Tokenizer::next_token`] would have
    /// returned them in a [`Token::Leaf`] with a [`Value::Binary`](crate::Value::Binary), without building the
    /// token. Otherwise returns `None` and consumes nothing: call [`Tokenizer::next_token`].
    ///
    /// ```
    /// use bytes::Bytes;
    /// use kvs_ebml::{Token, Tokenizer, ids};
    ///
    /// // A Cluster of unknown size with two SimpleBlocks (ids 0xA3) of two bytes each.
    /// let data = b"\x1F\x43\xB6\x75\xFF\xA3\x82\x81\x00\xA3\x82\x81\x01";
    /// let mut tokenizer = Tokenizer::new();
    /// tokenizer.feed(Bytes::from_static(data));
    /// tokenizer.finish();
    /// let mut payloads = Vec::new();
    /// loop {
    ///     if let Some((_header, payload)) = tokenizer.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER) {
    ///         payloads.push(payload);
    ///         continue;
    ///     }
    ///     match tokenizer.next_token()? {
    ///         Some(_token) => {}
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(payloads, [&b"\x81\x00"[..], &b"\x81\x01"[..]]);
    /// # Ok::<(), kvs_ebml::Error>(())
    /// ```
    #[inline(always)]
    pub fn next_leaf_in(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, Bytes)> {
        let front = self.chunks.front()?;
        let (header, range) = self.core.step_leaf_fast(front, id, parent)?;
        let end = range.end;
        if end == front.len() {
            let front = self.chunks.pop_front().unwrap_or_default();
            self.queued = self.queued.saturating_sub(to_u64(end));
            return Some((header, tail_of(front, range)));
        }
        let payload = front.slice(range);
        self.advance(end);
        // Touch the next element's first byte now (see `SliceTokenizer::next_leaf_in`).
        std::hint::black_box(self.chunks.front().and_then(|c| c.first()).copied());
        Some((header, payload))
    }

    #[inline]
    fn advance(&mut self, mut n: usize) {
        self.queued = self.queued.saturating_sub(to_u64(n));
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else { return };
            if n < front.len() {
                bytes::Buf::advance(front, n);
                return;
            }
            n = n.saturating_sub(front.len());
            self.chunks.pop_front();
        }
    }

    /// Makes the first `n` queued bytes one contiguous chunk (one copy).
    ///
    /// The copy lands at the same offset within a page as its source: a copy whose
    /// destination sits a little after its source within a page runs several times slower on
    /// some CPUs (its loads wait on its own stores to the same page offsets), and chunks that
    /// end on page boundaries (`kvs_chunk::ReadEvents` reads so) keep the two in step for the
    /// rest of the gather. The buffer is allocated up to a page larger for that.
    fn gather(&mut self, n: usize) {
        let src = self.chunks.front().map_or(0, |c| c.as_ptr() as usize);
        let mut joined = BytesMut::with_capacity(n.saturating_add(PAGE));
        let skip = src.wrapping_sub(joined.as_ptr() as usize) & (PAGE - 1);
        if skip != 0 {
            joined = joined.split_off(skip);
        }
        while joined.len() < n {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            let want = n.saturating_sub(joined.len());
            if chunk.len() > want {
                // The rest of the chunk stays queued: advanced in place, no reference count
                // to touch.
                joined.extend_from_slice(chunk.get(..want).unwrap_or_default());
                bytes::Buf::advance(&mut chunk, want);
                self.chunks.push_front(chunk);
                break;
            }
            joined.extend_from_slice(&chunk);
        }
        self.chunks.push_front(joined.freeze());
    }
}

/// A memory page (the alignment [`Tokenizer::gather`] keeps between source and copy).
const PAGE: usize = 4096;

/// The bytes `r` of `chunk`: the chunk itself, advanced, when they run to its end (no
/// reference count touched), else a slice of it.
#[inline]
fn tail_of(mut chunk: Bytes, r: Range<usize>) -> Bytes {
    if r.end == chunk.len() && r.start <= r.end {
        bytes::Buf::advance(&mut chunk, r.start);
        chunk
    } else {
        chunk.slice(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Value, ids};

    /// An element split across chunks is gathered into a buffer at the same offset within a
    /// page as its first byte in the input (the copy the CPU does fastest), and comes out
    /// whole.
    #[test]
    fn gathered_element_keeps_its_page_offset() {
        // A Cluster of unknown size with one 10,000-byte SimpleBlock (header: A3 40 00 + 2 bytes).
        let mut data = b"\x1F\x43\xB6\x75\xFF\xA3\x67\x10".to_vec();
        data.extend((0..10_000u32).map(|i| (i % 251) as u8));
        let data = Bytes::from(data);
        for split in [9, 100, 4_000, 9_999] {
            let mut tokenizer = Tokenizer::new();
            tokenizer.feed(data.slice(..split));
            tokenizer.feed(data.slice(split..));
            tokenizer.finish();
            let mut payload = None;
            while let Some(token) = tokenizer.next_token().unwrap() {
                if let Token::Leaf { header, value: Value::Binary(b) } = token
                    && header.id == ids::SIMPLE_BLOCK
                {
                    payload = Some(b);
                }
            }
            let payload = payload.unwrap();
            assert_eq!(payload, data.slice(8..));
            let src = data.as_ptr() as usize + 5; // where the element's header starts
            let dst = payload.as_ptr() as usize - 3;
            assert_eq!(dst & (PAGE - 1), src & (PAGE - 1), "split at {split}");
        }
    }
}
