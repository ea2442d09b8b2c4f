//! The slice shell: [`SliceTokenizer`] reads one in-memory buffer, payloads borrowing from it.

use super::state::{Core, Options, Step};
use crate::error::Error;
use crate::id::ElementId;
use crate::matroska::MatroskaSchema;
use crate::schema::Schema;
use crate::token::{ElementHeader, Token};

/// A tokenizer over one in-memory buffer: payloads borrow from it.
///
/// It is an [`Iterator`] of `Result<Token<&[u8]>, Error>`; after a fatal error (without
/// resynchronisation) it ends.
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
    core: Core<S>,
    input: &'a [u8],
    pos: usize,
    stopped: bool,
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

impl<'a, S: Schema> SliceTokenizer<'a, S> {
    /// A tokenizer for any EBML document type over `input`.
    pub fn with_schema(input: &'a [u8], schema: S, opts: Options) -> Self {
        Self { core: Core::new(schema, opts), input, pos: 0, stopped: false }
    }

    /// The absolute offset of the next unconsumed byte.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Whether every token has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The masters open now, outermost first.
    pub fn open_elements(&self) -> impl Iterator<Item = &ElementHeader> {
        self.core.open_elements().map(|o| &o.header)
    }

    /// The next token, or `Ok(None)` at the end.
    pub fn next_token(&mut self) -> Result<Option<Token<&'a [u8]>>, Error> {
        loop {
            let rest = self.input.get(self.pos..).unwrap_or_default();
            match self.core.step(rest, true)? {
                Step::Token(token, consumed) => {
                    self.pos = self.pos.saturating_add(consumed);
                    return Ok(Some(token.map_payload(|r| rest.get(r).unwrap_or_default())));
                }
                Step::Progress(consumed) => self.pos = self.pos.saturating_add(consumed),
                Step::NeedMore(_) | Step::Done => return Ok(None),
            }
        }
    }

    /// The fast path of [`Tokenizer::next_leaf_in`](crate::Tokenizer::next_leaf_in) over the
    /// slice: if the next element is a complete `Binary` element `id` (a one-byte id) directly
    /// inside the open master `parent`, returns its header and payload exactly as
    /// [`SliceTokenizer::next_token`] would have returned them in a [`Token::Leaf`], without
    /// building the token. Otherwise returns `None` and consumes nothing.
    ///
    /// ```
    /// use kvs_ebml::{SliceTokenizer, ids};
    ///
    /// // A Cluster of unknown size with two SimpleBlocks (ids 0xA3) of two bytes each.
    /// let data = b"\x1F\x43\xB6\x75\xFF\xA3\x82\x81\x00\xA3\x82\x81\x01";
    /// let mut tokenizer = SliceTokenizer::new(data);
    /// let mut payloads = Vec::new();
    /// loop {
    ///     if let Some((_header, payload)) = tokenizer.next_leaf_in(ids::SIMPLE_BLOCK, ids::CLUSTER) {
    ///         payloads.push(payload);
    ///         continue;
    ///     }
    ///     if tokenizer.next_token()?.is_none() {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(payloads, [&b"\x81\x00"[..], &b"\x81\x01"[..]]);
    /// # Ok::<(), kvs_ebml::Error>(())
    /// ```
    #[inline(always)]
    pub fn next_leaf_in(&mut self, id: ElementId, parent: ElementId) -> Option<(ElementHeader, &'a [u8])> {
        let rest = self.input.get(self.pos..)?;
        let (header, range) = self.core.step_leaf_fast(rest, id, parent)?;
        self.pos = self.pos.saturating_add(range.end);
        // Touch the next element's first byte now: its cache line (a new one, past this
        // payload) then arrives while the caller handles this leaf, rather than when the next
        // call needs it.
        std::hint::black_box(self.input.get(self.pos).copied());
        Some((header, rest.get(range)?))
    }
}

impl<'a, S: Schema> Iterator for SliceTokenizer<'a, S> {
    type Item = Result<Token<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
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
