//! The whole-input shells: [`SliceTokenizer`] reads one in-memory `&[u8]`, payloads borrowing
//! from it; [`BytesTokenizer`] reads one [`Bytes`], payloads as zero-copy `Bytes` slices of it.
//! Both are one generic shell, `Whole`, over the state machine.

use std::ops::Range;

use bytes::Bytes;

use super::state::{Core, Options, Step};
use crate::error::Error;
use crate::id::ElementId;
use crate::matroska::MatroskaSchema;
use crate::schema::Schema;
use crate::token::{ElementHeader, Token};

/// A whole input held in memory: its bytes, and a payload made of a range of them.
trait Buffer {
    type Payload;
    /// Whether [`Whole::next_leaf_in`] touches the next element's first byte (see there).
    const TOUCH_AHEAD: bool;
    fn all(&self) -> &[u8];
    /// The payload at `range` of [`Buffer::all`] (empty if out of range, which the state
    /// machine never asks for).
    fn payload(&self, range: Range<usize>) -> Self::Payload;
}

impl<'a> Buffer for &'a [u8] {
    type Payload = &'a [u8];
    const TOUCH_AHEAD: bool = true;

    #[inline(always)]
    fn all(&self) -> &[u8] {
        self
    }

    #[inline(always)]
    fn payload(&self, range: Range<usize>) -> &'a [u8] {
        let input: &'a [u8] = self;
        input.get(range).unwrap_or_default()
    }
}

impl Buffer for Bytes {
    type Payload = Bytes;
    const TOUCH_AHEAD: bool = false;

    #[inline(always)]
    fn all(&self) -> &[u8] {
        self
    }

    #[inline(always)]
    fn payload(&self, range: Range<usize>) -> Bytes {
        if range.start <= range.end && range.end <= self.len() { self.slice(range) } else { Bytes::new() }
    }
}

/// The shell both whole-input tokenizers are: the state machine, the input, the position.
struct Whole<I, S> {
    core: Core<S>,
    input: I,
    pos: usize,
    stopped: bool,
}

impl<I: Buffer, S: Schema> Whole<I, S> {
    fn new(input: I, schema: S, opts: Options) -> Self {
        Self { core: Core::new(schema, opts), input, pos: 0, stopped: false }
    }

    fn next_token(&mut self) -> Result<Option<Token<I::Payload>>, Error> {
        loop {
            let rest = self.input.all().get(self.pos..).unwrap_or_default();
            match self.core.step(rest, true)? {
                Step::Token(token, consumed) => {
                    let base = self.pos;
                    self.pos = self.pos.saturating_add(consumed);
                    let input = &self.input;
                    return Ok(Some(token.map_payload(|r| {
                        input.payload(base.saturating_add(r.start)..base.saturating_add(r.end))
                    })));
                }
                Step::Progress(consumed) => self.pos = self.pos.saturating_add(consumed),
                Step::NeedMore(_) | Step::Done => return Ok(None),
            }
        }
    }

    #[inline(always)]
    fn next_leaf_in(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, I::Payload)> {
        let base = self.pos;
        let rest = self.input.all().get(base..)?;
        let (header, range) = self.core.step_leaf_fast(rest, id, parent)?;
        self.pos = base.saturating_add(range.end);
        // Borrowed input: touch the next element's first byte now, so that its cache line
        // (a new one, past this payload) arrives while the caller handles this leaf rather
        // than when the next call needs it. Not for `Bytes`: making its payload takes a
        // locked increment of the reference count, which waits for that load to complete,
        // so the touch would only put the miss earlier (3% slower over five interleaved runs).
        if I::TOUCH_AHEAD {
            std::hint::black_box(self.input.all().get(self.pos).copied());
        }
        Some((header, self.input.payload(base.saturating_add(range.start)..self.pos)))
    }

    fn next(&mut self) -> Option<Result<Token<I::Payload>, Error>> {
        if self.stopped {
            return None;
        }
        match self.next_token() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.stopped = true;
                None
            }
            Err(e) => {
                if !e.is_recoverable() && !self.core.is_resyncing() {
                    self.stopped = true;
                }
                Some(Err(e))
            }
        }
    }
}

/// A tokenizer over one in-memory buffer: payloads borrow from it.
///
/// It is an [`Iterator`] of `Result<Token<&[u8]>, Error>`; after a fatal error (without
/// resynchronisation) it ends. [`BytesTokenizer`] is the same over one [`Bytes`].
///
/// ```
/// use kvs_ebml::{SliceTokenizer, Token, ids};
///
/// let data = b"\x1A\x45\xDF\xA3\x84\x42\x86\x81\x01";
/// let tokens: Vec<_> = SliceTokenizer::new(data).collect::<Result<_, _>>()?;
/// assert!(matches!(tokens[2], Token::Leaf { header, .. } if header.id == ids::EBML_VERSION));
/// # Ok::<(), kvs_ebml::Error>(())
/// ```
pub struct SliceTokenizer<'a, S: Schema = MatroskaSchema> {
    whole: Whole<&'a [u8], S>,
}

/// A tokenizer over one whole input held in a [`Bytes`]: payloads are zero-copy `Bytes`
/// slices of it, as the streaming [`Tokenizer`](crate::Tokenizer)'s are, without its chunk
/// queue (nothing is ever split or gathered).
///
/// It gives the same tokens and errors as [`SliceTokenizer`] over the same bytes, and as the
/// streaming tokenizer fed the input in any chunks and finished. It is an [`Iterator`] of
/// `Result<Token<Bytes>, Error>`; after a fatal error (without resynchronisation) it ends.
///
/// ```
/// use bytes::Bytes;
/// use kvs_ebml::{BytesTokenizer, Token, Value, ids};
///
/// // An EBML header holding EBMLVersion 1, then a Void of two bytes.
/// let data = Bytes::from_static(b"\x1A\x45\xDF\xA3\x84\x42\x86\x81\x01\xEC\x82\xAB\xCD");
/// let tokens: Vec<_> = BytesTokenizer::new(data.clone()).collect::<Result<_, _>>()?;
/// assert!(matches!(tokens[2], Token::Leaf { header, .. } if header.id == ids::EBML_VERSION));
/// let Token::Leaf { value: Value::Binary(void), .. } = &tokens[4] else { unreachable!() };
/// assert_eq!(void.as_ptr(), data[11..].as_ptr()); // a slice of the input, not a copy
/// # Ok::<(), kvs_ebml::Error>(())
/// ```
pub struct BytesTokenizer<S: Schema = MatroskaSchema> {
    whole: Whole<Bytes, S>,
}

impl<'a> SliceTokenizer<'a> {
    /// A Matroska/WebM tokenizer over `input` with default options.
    #[must_use]
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_schema(input, MatroskaSchema::new(), Options::default())
    }

    /// A Matroska/WebM tokenizer over `input` with the given options.
    #[must_use]
    pub fn with_options(input: &'a [u8], opts: Options) -> Self {
        Self::with_schema(input, MatroskaSchema::new(), opts)
    }
}

impl BytesTokenizer {
    /// A Matroska/WebM tokenizer over `input` with default options.
    #[must_use]
    pub fn new(input: Bytes) -> Self {
        Self::with_schema(input, MatroskaSchema::new(), Options::default())
    }

    /// A Matroska/WebM tokenizer over `input` with the given options.
    #[must_use]
    pub fn with_options(input: Bytes, opts: Options) -> Self {
        Self::with_schema(input, MatroskaSchema::new(), opts)
    }
}

/// The methods both whole-input tokenizers share, documented once for each.
macro_rules! whole_methods {
    ($payload:ty, $Name:ident) => {
        /// The absolute offset of the next unconsumed byte.
        #[must_use]
        pub fn offset(&self) -> u64 {
            self.whole.core.offset()
        }

        /// Whether every token has been returned.
        #[must_use]
        pub fn is_done(&self) -> bool {
            self.whole.core.is_done()
        }

        /// The masters open now, outermost first.
        pub fn open_elements(&self) -> impl Iterator<Item = &ElementHeader> {
            self.whole.core.open_elements().map(|o| &o.header)
        }

        /// The next token, or `Ok(None)` at the end.
        pub fn next_token(&mut self) -> Result<Option<Token<$payload>>, Error> {
            self.whole.next_token()
        }

        #[doc = concat!(
                    "The fast path of [`Tokenizer::next_leaf_in`](crate::Tokenizer::next_leaf_in) over \
             the whole input: if the next element is a complete `Binary` element `id` (a \
             one-byte id) directly inside the open master `parent`, returns its header and \
             payload exactly as [`", stringify!($Name), "::next_token`] would have returned \
             them in a [`Token::Leaf`], without building the token. Otherwise returns `None` \
             and consumes nothing."
                )]
        #[inline(always)]
        pub fn next_leaf_in(
            &mut self,
            id: ElementId,
            parent: ElementId,
        ) -> Option<(ElementHeader, $payload)> {
            self.whole.next_leaf_in(id, parent)
        }
    };
}

impl<'a, S: Schema> SliceTokenizer<'a, S> {
    /// A tokenizer for any EBML document type over `input`.
    pub fn with_schema(input: &'a [u8], schema: S, opts: Options) -> Self {
        Self { whole: Whole::new(input, schema, opts) }
    }

    whole_methods!(&'a [u8], SliceTokenizer);
}

impl<S: Schema> BytesTokenizer<S> {
    /// A tokenizer for any EBML document type over `input`.
    pub fn with_schema(input: Bytes, schema: S, opts: Options) -> Self {
        Self { whole: Whole::new(input, schema, opts) }
    }

    whole_methods!(Bytes, BytesTokenizer);
}

impl<'a, S: Schema> Iterator for SliceTokenizer<'a, S> {
    type Item = Result<Token<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.whole.next()
    }
}

impl<S: Schema> Iterator for BytesTokenizer<S> {
    type Item = Result<Token<Bytes>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.whole.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids;

    /// A Cluster of unknown size with two SimpleBlocks (ids 0xA3) of two bytes each, then a
    /// Timestamp (not a binary element: not the fast path's).
    const CLUSTER: &[u8] = b"\x1F\x43\xB6\x75\xFF\xA3\x82\x81\x00\xA3\x82\x81\x01\xE7\x81\x05";

    #[test]
    fn next_leaf_in_takes_binary_leaves_of_the_parent_and_nothing_else() {
        let mut slice = SliceTokenizer::new(CLUSTER);
        let mut whole = BytesTokenizer::new(Bytes::from_static(CLUSTER));
        // Before the Cluster is open, nothing is taken.
        assert!(slice.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_none());
        assert!(whole.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_none());
        assert!(matches!(slice.next_token().unwrap(), Some(Token::DocumentStart { offset: 0 })));
        assert!(matches!(whole.next_token().unwrap(), Some(Token::DocumentStart { offset: 0 })));
        assert!(matches!(slice.next_token().unwrap(), Some(Token::MasterStart(h)) if h.id == ids::CLUSTER));
        assert!(matches!(whole.next_token().unwrap(), Some(Token::MasterStart(h)) if h.id == ids::CLUSTER));
        for expected in [&b"\x81\x00"[..], b"\x81\x01"] {
            let (hs, ps) = slice.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).unwrap();
            let (hb, pb) = whole.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).unwrap();
            assert_eq!((hs, ps), (hb, &pb[..]));
            assert_eq!(ps, expected);
            assert_eq!(slice.offset(), whole.offset());
        }
        // The Timestamp is left for `next_token`.
        assert!(slice.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_none());
        assert!(whole.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER).is_none());
        assert!(
            matches!(whole.next_token().unwrap(), Some(Token::Leaf { header, .. }) if header.id == ids::TIMESTAMP)
        );
    }
}
