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
/// zero-copy slices of it; an element whose header or payload spans chunks is gathered once,
/// part by part as its chunks are fed once its header has been read (elements up to 8 MiB
/// and within [`Limits::max_buffered`](crate::Limits::max_buffered)), else when it is whole.
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
    /// An element that spans chunks, being gathered as its chunks arrive: the buffer and the
    /// length it needs. While it is pending, it holds all the queued bytes (`chunks` is empty).
    pending: Option<(BytesMut, usize)>,
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
        Self { core: Core::new(schema, opts), chunks: VecDeque::new(), pending: None, queued: 0, eof: false }
    }

    /// Appends a chunk of input. Empty chunks are ignored.
    pub fn feed(&mut self, mut chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.queued = self.queued.saturating_add(to_u64(chunk.len()));
        if let Some((buf, n)) = &mut self.pending {
            // The next part of the element being gathered is copied now, while it is fresh.
            let take = n.saturating_sub(buf.len()).min(chunk.len());
            buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
            if buf.len() < *n {
                return;
            }
            bytes::Buf::advance(&mut chunk, take);
            self.unpend();
            if chunk.is_empty() {
                return;
            }
        }
        self.chunks.push_back(chunk);
    }

    /// Declares the end of input: what is still open is closed or reported.
    pub fn finish(&mut self) {
        self.eof = true;
        // An element still being gathered is cut short: the core reports it from the bytes.
        self.unpend();
    }

    /// Queues the element being gathered (complete, or cut short at the end of input) as the
    /// front chunk.
    fn unpend(&mut self) {
        if let Some((buf, _)) = self.pending.take() {
            self.chunks.push_front(buf.freeze());
        }
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

    /// Whether the tokenizer holds the first part of an element split across chunks and can
    /// return nothing until the rest is fed (or [`Tokenizer::finish`] is called):
    /// [`Tokenizer::next_token`] would return `Ok(None)`, and a caller may skip asking.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use kvs_ebml::Tokenizer;
    ///
    /// // A Cluster of unknown size holding a 10,000-byte SimpleBlock, of which 100 bytes came.
    /// let mut data = b"\x1F\x43\xB6\x75\xFF\xA3\x67\x10".to_vec();
    /// data.extend([0u8; 100]);
    /// let mut tokenizer = Tokenizer::new();
    /// tokenizer.feed(Bytes::from(data));
    /// while tokenizer.next_token()?.is_some() {}
    /// assert!(tokenizer.needs_input());
    /// tokenizer.feed(Bytes::from(vec![0u8; 9_900]));
    /// assert!(!tokenizer.needs_input());
    /// assert!(tokenizer.next_token()?.is_some()); // the SimpleBlock, whole
    /// # Ok::<(), kvs_ebml::Error>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn needs_input(&self) -> bool {
        self.pending.is_some()
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
                        if !self.eof {
                            self.start_gather(n);
                        }
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
        let Some((header, range)) = self.core.step_leaf_fast(front, id, parent) else {
            // A leaf of this kind that is not whole yet: gather it as it arrives.
            let short = self.core.take_short();
            if short != 0 && !self.eof && self.chunks.len() == 1 {
                self.start_gather(short);
            }
            return None;
        };
        let end = range.end;
        if end == front.len() {
            let front = self.chunks.pop_front().unwrap_or_default();
            self.queued = self.queued.saturating_sub(to_u64(end));
            return Some((header, tail_of(front, range)));
        }
        let payload = front.slice(range);
        self.advance(end);
        // Touch the next element's first byte now, so that its cache line arrives while the
        // caller handles this leaf. The whole-input tokenizer does this over borrowed input
        // only, where it came before the payload's locked increment; here it comes after it
        // (removing it changed nothing measurable on the chunked GetMedia case).
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

    /// The window (one chunk) holds the start of an element of `n` bytes: if most of it is
    /// still to come, starts gathering it now, copying each part as its chunk is fed (as a
    /// hand-written reader would), rather than all of it once the last part has arrived. The
    /// copy then reads each chunk while it is fresh in the cache. A short remainder is left to
    /// [`Tokenizer::gather`], and so is an element larger than [`EAGER_GATHER_MAX`] or
    /// [`Limits::max_buffered`](crate::Limits::max_buffered) (the core reports the latter when
    /// it comes to it).
    fn start_gather(&mut self, n: usize) {
        let Some(front) = self.chunks.front() else { return };
        if n.saturating_sub(front.len()) < EAGER_GATHER
            || n > EAGER_GATHER_MAX
            || to_u64(n) > self.core.max_buffered()
            || self.pending.is_some()
        {
            return;
        }
        let mut buf = page_matched(front.as_ptr() as usize, n);
        buf.extend_from_slice(front);
        self.chunks.pop_front();
        self.pending = Some((buf, n));
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
        let mut joined = page_matched(src, n);
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

/// How much of an element must still be missing for [`Tokenizer::start_gather`] to start
/// copying it before it is complete.
const EAGER_GATHER: usize = 4096;

/// The largest element [`Tokenizer::start_gather`] allocates for before it is complete (larger
/// ones wait for their last byte, so a header alone never reserves more than this).
const EAGER_GATHER_MAX: usize = 8 << 20;

/// An empty buffer for `n` bytes that starts at the same offset within a page as `src`.
fn page_matched(src: usize, n: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(n.saturating_add(PAGE));
    let skip = src.wrapping_sub(buf.as_ptr() as usize) & (PAGE - 1);
    if skip != 0 {
        buf = buf.split_off(skip);
    }
    buf
}

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

    /// A 10,000-byte SimpleBlock in a Cluster of unknown size, as in the test above.
    fn one_block() -> Bytes {
        let mut data = b"\x1F\x43\xB6\x75\xFF\xA3\x67\x10".to_vec();
        data.extend((0..10_000u32).map(|i| (i % 251) as u8));
        Bytes::from(data)
    }

    /// An element that arrives over several chunks, pulled after each, is copied part by part
    /// as the chunks come (the first part once the tokenizer knows the element's length), and
    /// comes out whole, at its source's page offset, with `buffered` counting what is held.
    #[test]
    fn element_gathered_as_its_chunks_arrive() {
        let data = one_block();
        for cuts in [&[9usize, 5_000][..], &[20, 3_000, 6_000, 9_000, 10_007], &[1, 2, 3, 8, 4_000]] {
            let mut tokenizer = Tokenizer::new();
            let mut at = 0;
            let mut payload = None;
            for &cut in cuts.iter().chain([&data.len()]) {
                tokenizer.feed(data.slice(at..cut));
                at = cut;
                assert_eq!(tokenizer.buffered() + tokenizer.offset(), at as u64, "cuts {cuts:?}");
                while let Some(token) = tokenizer.next_token().unwrap() {
                    if let Token::Leaf { value: Value::Binary(b), .. } = token {
                        payload = Some(b);
                    }
                }
                // Once the header is read, the part fed so far is already in one buffer.
                if (9..data.len()).contains(&at) {
                    assert!(
                        tokenizer.chunks.is_empty() && tokenizer.pending.is_some(),
                        "cuts {cuts:?} at {at}"
                    );
                }
            }
            tokenizer.finish();
            while tokenizer.next_token().unwrap().is_some() {}
            assert!(tokenizer.is_done());
            let payload = payload.unwrap();
            assert_eq!(payload, data.slice(8..), "cuts {cuts:?}");
            let src = data.as_ptr() as usize + 5;
            let dst = payload.as_ptr() as usize - 3;
            assert_eq!(dst & (PAGE - 1), src & (PAGE - 1), "cuts {cuts:?}");
        }
    }

    /// The input ends while an element is being gathered: the same error, at the same offset,
    /// as when the element's parts were all queued at the end.
    #[test]
    fn input_ending_inside_a_gathered_element() {
        let data = one_block();
        let cut = data.slice(..7_000);
        let mut eager = Tokenizer::new();
        eager.feed(cut.slice(..3_000));
        while eager.next_token().unwrap().is_some() {}
        assert!(eager.pending.is_some());
        eager.feed(cut.slice(3_000..));
        eager.finish();
        let mut queued = Tokenizer::new();
        queued.feed(cut.slice(..3_000));
        queued.feed(cut.slice(3_000..));
        queued.finish();
        let drain = |t: &mut Tokenizer| loop {
            match t.next_token() {
                Ok(Some(_)) => {}
                other => return other.map(|_| ()),
            }
        };
        let (a, b) = (drain(&mut eager), drain(&mut queued));
        assert!(matches!(a, Err(e) if e.offset == 5), "{a:?}");
        assert_eq!(a, b);
    }

    /// An element over `max_buffered` is not gathered early either: the limit is reported,
    /// whichever way the element is pulled.
    #[test]
    fn element_over_the_buffer_limit_is_reported_not_gathered() {
        let data = one_block();
        for fast in [false, true] {
            let opts = Options { limits: crate::Limits::default().max_buffered(6_000), ..Options::default() };
            let mut tokenizer = Tokenizer::with_options(opts);
            let mut result = Ok(());
            for part in [data.slice(..2_000), data.slice(2_000..)] {
                tokenizer.feed(part);
                loop {
                    if fast && tokenizer.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_some() {
                        continue;
                    }
                    match tokenizer.next_token() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                assert!(tokenizer.pending.is_none(), "fast {fast}");
            }
            assert!(
                matches!(result, Err(e) if matches!(e.kind, crate::ErrorKind::BufferLimit { .. }) && e.offset == 5),
                "fast {fast}: {result:?}"
            );
        }
    }

    /// The fast path (`next_leaf_in`) starts the gathering too, and the element comes back to
    /// it whole.
    #[test]
    fn fast_path_gathers_a_split_leaf() {
        let data = one_block();
        let mut tokenizer = Tokenizer::new();
        tokenizer.feed(data.slice(..3_000));
        assert!(matches!(tokenizer.next_token().unwrap(), Some(Token::DocumentStart { .. })));
        assert!(matches!(tokenizer.next_token().unwrap(), Some(Token::MasterStart(_))));
        assert!(tokenizer.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_none());
        assert!(tokenizer.pending.is_some() && tokenizer.chunks.is_empty());
        tokenizer.feed(data.slice(3_000..));
        let (header, payload) = tokenizer.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).unwrap();
        assert_eq!((header.offset, payload), (5, data.slice(8..)));
    }

    /// A header alone never reserves more than `EAGER_GATHER_MAX`: a larger element waits
    /// until it has arrived, as before.
    #[test]
    fn huge_element_is_not_reserved_early() {
        // SimpleBlock of 16 MiB (size 0x1000000 in a 4-byte vint), 100 bytes of it fed.
        let mut data = b"\x1F\x43\xB6\x75\xFF\xA3\x11\x00\x00\x00".to_vec();
        data.extend([0u8; 100]);
        let mut tokenizer = Tokenizer::new();
        tokenizer.feed(Bytes::from(data));
        while tokenizer.next_token().unwrap().is_some() {}
        assert!(tokenizer.pending.is_none());
        assert_eq!(tokenizer.chunks.len(), 1);
    }
}
