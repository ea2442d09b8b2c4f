//! The tokenizer: one sans-IO state machine ([`Core`]) and two thin shells over it, the
//! streaming [`Tokenizer`] (input as [`Bytes`] chunks, payloads as zero-copy slices) and the
//! borrowed [`SliceTokenizer`] (one in-memory `&[u8]`).

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::error::{Error, ErrorKind};
use crate::matroska::{MatroskaSchema, ids};
use crate::schema::{ElementType, Parent, Schema};
use crate::token::{ElementHeader, Token, Value};
use crate::vint::{self, Size, VintError};
use crate::{ElementId, Limits};

/// How the tokenizer behaves beyond its [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Options {
    /// Resource limits.
    pub limits: Limits,
    /// After a fatal error, scan for the next top-level element and go on (emitting
    /// [`Token::Resynced`]) instead of stopping.
    pub resync: bool,
    /// Verify CRC-32 elements that are the first child of a known-size master.
    pub verify_crc: bool,
}

impl Options {
    /// Sets the limits.
    #[must_use]
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Turns resynchronisation on or off.
    #[must_use]
    pub const fn resync(mut self, on: bool) -> Self {
        self.resync = on;
        self
    }

    /// Turns CRC-32 verification on or off.
    #[must_use]
    pub const fn verify_crc(mut self, on: bool) -> Self {
        self.verify_crc = on;
        self
    }
}

/// A master element that is open, as [`Tokenizer::open_elements`] shows it.
#[derive(Debug, Clone)]
pub struct OpenElement {
    /// Its header.
    pub header: ElementHeader,
    /// The innermost known end among this master and its ancestors.
    bound: Option<u64>,
    /// The stored CRC-32 and the running hash of the data after it.
    crc: Option<(u32, crc32fast::Hasher)>,
}

/// What one step of the state machine produced. Ranges are relative to the window.
pub(crate) enum Step {
    Token(Token<Range<usize>>, usize),
    Progress(usize),
    NeedMore(usize),
    Done,
}

enum Mode {
    Normal,
    /// Skipping the payload of an element the schema does not know, which starts at `start`.
    Skip {
        remaining: u64,
        start: u64,
        id: ElementId,
    },
    Resync {
        error_offset: u64,
        scanned: u64,
    },
    Failed(Error),
    Done,
}

/// The sans-IO state machine shared by both shells.
pub(crate) struct Core<S> {
    schema: S,
    opts: Options,
    offset: u64,
    stack: Vec<OpenElement>,
    mode: Mode,
    doc_start: Option<u64>,
    hashing: bool,
}

/// The longest JSON trailer recognised after the last document (see [`Token::Trailer`]).
pub const MAX_TRAILER: usize = 64 * 1024;

/// Whether `buf` (the rest of the input, starting with `{`) reads as a JSON object: UTF-8
/// text without control characters other than whitespace, ending with `}` (whitespace
/// after it allowed).
fn is_json_trailer(buf: &[u8]) -> bool {
    let text = buf.trim_ascii_end();
    text.first() == Some(&b'{')
        && text.last() == Some(&b'}')
        && std::str::from_utf8(text).is_ok()
        && text.iter().all(|&c| c >= 0x20 || matches!(c, b'\t' | b'\n' | b'\r'))
}

#[inline]
fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<S: Schema> Core<S> {
    pub(crate) fn new(schema: S, opts: Options) -> Self {
        Self {
            schema,
            opts,
            offset: 0,
            stack: Vec::new(),
            mode: Mode::Normal,
            doc_start: None,
            hashing: false,
        }
    }

    #[cold]
    #[inline(never)]
    fn err(&self, kind: ErrorKind, id: Option<ElementId>) -> Error {
        Error::new(kind, self.offset, id)
    }

    /// Records a fatal error and chooses what comes next.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: Error) -> Error {
        if self.opts.resync && !e.is_eof() {
            self.mode = Mode::Resync { error_offset: self.offset, scanned: 0 };
        } else {
            self.mode = Mode::Failed(e);
        }
        e
    }

    /// Marks `n` bytes of `buf` consumed, hashing them for open CRC-32 checks.
    #[inline]
    fn consume(&mut self, buf: &[u8], n: usize) {
        if self.hashing {
            self.hash(buf, n);
        }
        self.offset = self.offset.saturating_add(to_u64(n));
    }

    /// Feeds the first `n` bytes of `buf` to the open CRC-32 checks (rare: off by default).
    #[cold]
    #[inline(never)]
    fn hash(&mut self, buf: &[u8], n: usize) {
        if let Some(data) = buf.get(..n) {
            for open in &mut self.stack {
                if let Some((_, h)) = &mut open.crc {
                    h.update(data);
                }
            }
        }
    }

    fn need(&mut self, buf: &[u8], n: usize, eof: bool, id: Option<ElementId>) -> Result<Step, Error> {
        if eof {
            let missing = to_u64(n.saturating_sub(buf.len()));
            let open = u32::try_from(self.stack.len().saturating_add(1)).unwrap_or(u32::MAX);
            let e = self.err(ErrorKind::UnexpectedEof { missing, open }, id);
            return Err(self.fail(e));
        }
        let limit = self.opts.limits.max_buffered;
        if to_u64(n) > limit {
            let e = self.err(ErrorKind::BufferLimit { needed: to_u64(n), limit }, id);
            return Err(self.fail(e));
        }
        Ok(Step::NeedMore(n))
    }

    pub(crate) fn open_elements(&self) -> impl Iterator<Item = &OpenElement> {
        self.stack.iter()
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.mode, Mode::Done)
    }

    /// One step over `buf`, the unconsumed input starting at `self.offset`. `eof` says that
    /// no byte will ever follow `buf`.
    #[inline]
    pub(crate) fn step(&mut self, buf: &[u8], eof: bool) -> Result<Step, Error> {
        match self.mode {
            Mode::Normal => self.step_normal(buf, eof),
            Mode::Skip { remaining, start, id } => {
                if remaining == 0 {
                    self.mode = Mode::Normal;
                    return Ok(Step::Progress(0));
                }
                let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
                if n == 0 {
                    if eof {
                        // The input ends inside the skipped element: report the element, as
                        // for one whose payload is awaited (its offset, id and missing bytes).
                        let open = u32::try_from(self.stack.len().saturating_add(1)).unwrap_or(u32::MAX);
                        let kind = ErrorKind::UnexpectedEof { missing: remaining, open };
                        return Err(self.fail(Error::new(kind, start, Some(id))));
                    }
                    return self.need(buf, 1, eof, None);
                }
                self.consume(buf, n);
                self.mode = Mode::Skip { remaining: remaining.saturating_sub(to_u64(n)), start, id };
                Ok(Step::Progress(n))
            }
            Mode::Resync { error_offset, scanned } => self.step_resync(buf, eof, error_offset, scanned),
            Mode::Failed(e) => Err(e),
            Mode::Done => Ok(Step::Done),
        }
    }

    fn pop(&mut self) -> Result<Step, Error> {
        let Some(mut open) = self.stack.pop() else { return Ok(Step::Progress(0)) };
        if let Some((stored, hasher)) = open.crc.take() {
            self.hashing = self.stack.iter().any(|o| o.crc.is_some());
            let computed = hasher.finalize();
            if computed != stored {
                // Report the mismatch now, end the master on the next step.
                let id = open.header.id;
                let at = open.header.offset;
                self.stack.push(open);
                return Err(Error::new(ErrorKind::CrcMismatch { stored, computed }, at, Some(id)));
            }
        }
        Ok(Step::Token(Token::MasterEnd { header: open.header, end: self.offset }, 0))
    }

    fn step_normal(&mut self, buf: &[u8], eof: bool) -> Result<Step, Error> {
        // A known-size master (or an unknown-size one inside it) ends here.
        if let Some(top) = self.stack.last()
            && top.bound == Some(self.offset)
        {
            return self.pop();
        }
        if buf.is_empty() {
            if !eof {
                return Ok(Step::NeedMore(1));
            }
            if let Some(top) = self.stack.last() {
                if top.header.size == Size::Unknown {
                    return self.pop();
                }
                let missing = top.bound.map_or(0, |b| b.saturating_sub(self.offset));
                let open = u32::try_from(self.stack.len()).unwrap_or(u32::MAX);
                let e = self.err(ErrorKind::UnexpectedEof { missing, open }, Some(top.header.id));
                return Err(self.fail(e));
            }
            if self.doc_start.take().is_some() {
                return Ok(Step::Token(Token::DocumentEnd { offset: self.offset }, 0));
            }
            self.mode = Mode::Done;
            return Ok(Step::Done);
        }
        if buf.first() == Some(&b'{')
            && let Some(step) = self.trailer(buf, eof)
        {
            return Ok(step);
        }

        // The header.
        let (id, id_len) = match vint::read_id(buf) {
            Ok(v) => v,
            Err(VintError::Incomplete(n)) => return self.need(buf, n, eof, None),
            Err(e) => {
                let kind = match e {
                    VintError::IdTooLong(w) => {
                        ErrorKind::IdTooLong { width: u8::try_from(w).unwrap_or(u8::MAX) }
                    }
                    VintError::InvalidId(raw) => ErrorKind::InvalidId { raw },
                    _ => ErrorKind::InvalidIdLeadByte,
                };
                let e = self.err(kind, None);
                return Err(self.fail(e));
            }
        };
        let (size, size_len) = match vint::read_size(buf.get(id_len..).unwrap_or_default()) {
            Ok(v) => v,
            Err(VintError::Incomplete(n)) => return self.need(buf, id_len.saturating_add(n), eof, Some(id)),
            Err(_) => {
                let e = self.err(ErrorKind::InvalidSizeVint, Some(id));
                return Err(self.fail(e));
            }
        };
        let header_len = id_len.saturating_add(size_len);

        // An unknown-size master ends at the first element that does not belong in it.
        if let Some(top) = self.stack.last()
            && top.header.size == Size::Unknown
            && (id == ids::EBML || !self.schema.is_descendant(id, top.header.id))
        {
            return self.pop();
        }

        // Document boundaries.
        if self.stack.is_empty() {
            match self.doc_start {
                Some(start) if id == ids::EBML && start != self.offset => {
                    self.doc_start = None;
                    return Ok(Step::Token(Token::DocumentEnd { offset: self.offset }, 0));
                }
                None => {
                    self.doc_start = Some(self.offset);
                    return Ok(Step::Token(Token::DocumentStart { offset: self.offset }, 0));
                }
                Some(_) => {}
            }
        }

        let ty = self.schema.lookup(id).map(|i| i.ty);
        let header = ElementHeader {
            id,
            size,
            header_len: u8::try_from(header_len).unwrap_or(u8::MAX),
            offset: self.offset,
            depth: u16::try_from(self.stack.len()).unwrap_or(u16::MAX),
            ty,
        };

        // The element must fit its parent.
        let parent_bound = self.stack.last().and_then(|t| t.bound);
        let end = match size {
            Size::Known(s) => {
                Some(self.offset.checked_add(to_u64(header_len)).and_then(|d| d.checked_add(s)))
            }
            Size::Unknown => None,
        };
        if let Some(bound) = parent_bound {
            let child_end = match end {
                Some(Some(e)) => e,
                Some(None) => u64::MAX,
                None => self.offset.saturating_add(to_u64(header_len)),
            };
            if child_end > bound {
                let e = self.err(ErrorKind::ChildOverflow { child_end, parent_end: bound }, Some(id));
                return Err(self.fail(e));
            }
        }

        let limits = self.opts.limits;
        match ty {
            Some(ElementType::Master) => {
                if self.stack.len() >= limits.max_depth {
                    let limit = u32::try_from(limits.max_depth).unwrap_or(u32::MAX);
                    let e = self.err(ErrorKind::TooDeep { limit }, Some(id));
                    return Err(self.fail(e));
                }
                if let Size::Known(s) = size
                    && s > limits.max_master_size
                {
                    let e =
                        self.err(ErrorKind::TooLarge { size: s, limit: limits.max_master_size }, Some(id));
                    return Err(self.fail(e));
                }
                self.consume(buf, header_len);
                let bound = match end {
                    Some(e) => e,
                    None => parent_bound,
                };
                self.stack.push(OpenElement { header, bound, crc: None });
                Ok(Step::Token(Token::MasterStart(header), header_len))
            }
            _ => {
                let Size::Known(size) = size else {
                    let e = self.err(ErrorKind::UnknownSizeNotAllowed, Some(id));
                    return Err(self.fail(e));
                };
                let Some(ty) = ty else {
                    // An id the schema does not know: skip it by size, without buffering.
                    self.consume(buf, header_len);
                    self.mode = Mode::Skip { remaining: size, start: header.offset, id };
                    return Ok(Step::Token(Token::Leaf { header, value: Value::Skipped }, header_len));
                };
                let bad_size = |what: &'static str| ErrorKind::InvalidValueSize { size, what };
                let check = match ty {
                    ElementType::Unsigned | ElementType::Signed if size > 8 => Err(bad_size("integer")),
                    ElementType::Float if !matches!(size, 0 | 4 | 8) => Err(bad_size("float")),
                    ElementType::Date if !matches!(size, 0 | 8) => Err(bad_size("date")),
                    ElementType::String | ElementType::Utf8 if size > limits.max_string_size => {
                        Err(ErrorKind::TooLarge { size, limit: limits.max_string_size })
                    }
                    ElementType::Binary if size > limits.max_binary_size => {
                        Err(ErrorKind::TooLarge { size, limit: limits.max_binary_size })
                    }
                    _ => Ok(()),
                };
                if let Err(kind) = check {
                    let e = self.err(kind, Some(id));
                    return Err(self.fail(e));
                }
                let total = usize::try_from(size).ok().and_then(|s| s.checked_add(header_len));
                let Some(total) = total else {
                    let e = self.err(ErrorKind::TooLarge { size, limit: to_u64(usize::MAX) }, Some(id));
                    return Err(self.fail(e));
                };
                let Some(payload) = buf.get(header_len..total) else {
                    return self.need(buf, total, eof, Some(id));
                };
                let range = header_len..total;
                let value = match ty {
                    ElementType::Unsigned => Value::Unsigned(be_u64(payload)),
                    ElementType::Signed => Value::Signed(be_i64(payload)),
                    ElementType::Date => Value::Date(be_i64(payload)),
                    ElementType::Float => Value::Float(be_float(payload)),
                    ElementType::String => Value::String(range),
                    ElementType::Utf8 => Value::Utf8(range),
                    ElementType::Binary | ElementType::Master => Value::Binary(range),
                };
                let crc = if self.opts.verify_crc && id == ids::CRC32 && payload.len() == 4 {
                    let stored = payload.try_into().map(u32::from_le_bytes).ok();
                    match self.stack.last() {
                        Some(top)
                            if top.header.size != Size::Unknown
                                && top.header.data_offset() == self.offset =>
                        {
                            stored
                        }
                        _ => None,
                    }
                } else {
                    None
                };
                self.consume(buf, total);
                if let (Some(stored), Some(top)) = (crc, self.stack.last_mut()) {
                    top.crc = Some((stored, crc32fast::Hasher::new()));
                    self.hashing = true;
                }
                Ok(Step::Token(Token::Leaf { header, value }, total))
            }
        }
    }

    /// A JSON trailer at `buf` (which starts with `{`), at the top level after a document:
    /// waits for the end of input (at most [`MAX_TRAILER`] bytes), closes what is open (the
    /// unknown-size masters and the document), then consumes it as [`Token::Trailer`].
    /// `None` where it is not one: the bytes are then read as elements.
    #[cold]
    fn trailer(&mut self, buf: &[u8], eof: bool) -> Option<Step> {
        // Only after a document, with nothing open but unknown-size masters.
        if self.offset == 0 || self.stack.iter().any(|o| o.header.size != Size::Unknown) {
            return None;
        }
        if !eof {
            let max = usize::try_from(self.opts.limits.max_buffered).unwrap_or(usize::MAX).min(MAX_TRAILER);
            return (buf.len() < max).then(|| Step::NeedMore(buf.len().saturating_add(1)));
        }
        if buf.len() > MAX_TRAILER || !is_json_trailer(buf) {
            return None;
        }
        if let Some(open) = self.stack.pop() {
            return Some(Step::Token(Token::MasterEnd { header: open.header, end: self.offset }, 0));
        }
        if self.doc_start.take().is_some() {
            return Some(Step::Token(Token::DocumentEnd { offset: self.offset }, 0));
        }
        let offset = self.offset;
        self.consume(buf, buf.len());
        Some(Step::Token(Token::Trailer { offset, len: to_u64(buf.len()) }, buf.len()))
    }

    /// The hot path for one kind of leaf: when the next element of `buf` is a complete,
    /// valid one-byte-id `Binary` element `id` directly inside the open master `parent`,
    /// consumes it and returns what [`Core::step`] would have put in its `Token::Leaf`
    /// (the header and the payload's range in `buf`). In every other case (another element,
    /// another parent, a master that ends here, an incomplete or oversized element, any mode
    /// but the normal one) returns `None` and changes nothing, for `step` to handle.
    #[inline]
    pub(crate) fn step_leaf_fast(
        &mut self,
        buf: &[u8],
        id: ElementId,
        parent: ElementId,
    ) -> Option<(ElementHeader, Range<usize>)> {
        if !matches!(self.mode, Mode::Normal) || id == ids::CRC32 {
            return None;
        }
        let lead = u8::try_from(id.0).ok().filter(|&b| b >= 0x80 && b != 0xFF)?;
        let top = self.stack.last()?;
        if top.header.id != parent || *buf.first()? != lead {
            return None;
        }
        let (size, size_len) = vint::read_size(buf.get(1..)?).ok()?;
        let Size::Known(size) = size else { return None };
        let info = self.schema.lookup(id)?;
        if top.header.size == Size::Unknown
            && info.parent != Parent::Element(parent)
            && !self.schema.is_descendant(id, parent)
        {
            return None;
        }
        if info.ty != ElementType::Binary || size > self.opts.limits.max_binary_size {
            return None;
        }
        let header_len = size_len.checked_add(1)?;
        let end = self.offset.checked_add(to_u64(header_len))?.checked_add(size)?;
        if top.bound.is_some_and(|bound| end > bound) {
            return None;
        }
        let total = usize::try_from(size).ok()?.checked_add(header_len)?;
        if buf.len() < total {
            return None;
        }
        let header = ElementHeader {
            id,
            size: Size::Known(size),
            header_len: u8::try_from(header_len).ok()?,
            offset: self.offset,
            depth: u16::try_from(self.stack.len()).unwrap_or(u16::MAX),
            ty: Some(ElementType::Binary),
        };
        self.consume(buf, total);
        Some((header, header_len..total))
    }

    fn step_resync(&mut self, buf: &[u8], eof: bool, error_offset: u64, scanned: u64) -> Result<Step, Error> {
        let max = self.opts.limits.max_resync_scan;
        // Never find the element that failed again: start one byte past it (once that byte
        // has arrived: the error may come with no input at hand).
        let start = usize::from(self.offset == error_offset).min(buf.len());
        let mut i = start;
        while let Some(window) = buf.get(i..) {
            if window.is_empty() {
                break;
            }
            if window.len() < vint::MAX_HEADER_LEN && !eof {
                break;
            }
            if let Some(kept) = self.anchor_at(window, self.offset.saturating_add(to_u64(i))) {
                self.consume(buf, i);
                let skipped = scanned.saturating_add(to_u64(i));
                self.stack.truncate(kept);
                for open in &mut self.stack {
                    open.crc = None;
                }
                self.hashing = false;
                self.mode = Mode::Normal;
                let depth = u16::try_from(kept).unwrap_or(u16::MAX);
                return Ok(Step::Token(Token::Resynced { offset: self.offset, skipped, depth }, i));
            }
            i = i.saturating_add(1);
            if scanned.saturating_add(to_u64(i)) > max {
                self.consume(buf, i);
                let e = Error::new(
                    ErrorKind::ResyncLimit { scanned: scanned.saturating_add(to_u64(i)) },
                    error_offset,
                    None,
                );
                self.mode = Mode::Failed(e);
                return Err(e);
            }
        }
        // Nothing here: drop what was scanned and wait for more.
        self.consume(buf, i);
        let scanned = scanned.saturating_add(to_u64(i));
        if eof && buf.len() <= i {
            // The input ended while scanning: abandon what was open.
            self.stack.clear();
            self.hashing = false;
            self.mode = Mode::Normal;
            return Ok(Step::Token(Token::Resynced { offset: self.offset, skipped: scanned, depth: 0 }, i));
        }
        self.mode = Mode::Resync { error_offset, scanned };
        if i == 0 {
            return Ok(Step::NeedMore(vint::MAX_HEADER_LEN));
        }
        Ok(Step::Progress(i))
    }

    /// If a plausible top-level element starts `window` (at absolute offset `here`), how many
    /// open masters stay open.
    fn anchor_at(&self, window: &[u8], here: u64) -> Option<usize> {
        let (id, id_len) = vint::read_id(window).ok()?;
        if id_len != 4 || !self.schema.is_resync_anchor(id) {
            return None;
        }
        let (size, size_len) = vint::read_size(window.get(id_len..)?).ok()?;
        let info = self.schema.lookup(id)?;
        if let Size::Known(s) = size
            && (s > self.opts.limits.max_master_size || (id == ids::EBML && s > 4096))
        {
            return None;
        }
        let kept = match info.parent {
            Parent::Element(p) => {
                self.stack.iter().position(|o| o.header.id == p).map_or(0, |i| i.saturating_add(1))
            }
            _ => 0,
        };
        // The element must fit what stays open.
        if let Some(bound) = kept.checked_sub(1).and_then(|i| self.stack.get(i)).and_then(|o| o.bound) {
            let len = to_u64(id_len.saturating_add(size_len));
            let end = match size {
                Size::Known(s) => here.checked_add(len)?.checked_add(s)?,
                Size::Unknown => here.checked_add(len)?,
            };
            if end > bound {
                return None;
            }
        }
        Some(kept)
    }
}

#[inline]
fn be_u64(p: &[u8]) -> u64 {
    p.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn be_i64(p: &[u8]) -> i64 {
    let Some(&first) = p.first() else { return 0 };
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    p.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b))
}

fn be_float(p: &[u8]) -> f64 {
    if let Ok(b) = <[u8; 4]>::try_from(p) {
        f64::from(f32::from_be_bytes(b))
    } else if let Ok(b) = <[u8; 8]>::try_from(p) {
        f64::from_be_bytes(b)
    } else {
        0.0
    }
}

/// The streaming tokenizer: feed [`Bytes`] chunks of any size, pull [`Token`]s.
///
/// Running out of input is not an error: [`Tokenizer::next_token`] returns `Ok(None)` until
/// more is fed. After [`Tokenizer::finish`], an element cut short is reported as
/// [`ErrorKind::UnexpectedEof`]. Payloads that lie inside one input chunk come out as
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
    /// returned them in a [`Token::Leaf`] with a [`Value::Binary`], without building the
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
    #[inline]
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
    fn gather(&mut self, n: usize) {
        let mut joined = BytesMut::with_capacity(n);
        while joined.len() < n {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            let want = n.saturating_sub(joined.len());
            if chunk.len() > want {
                let rest = chunk.split_off(want);
                self.chunks.push_front(rest);
            }
            joined.extend_from_slice(&chunk);
        }
        self.chunks.push_front(joined.freeze());
    }
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
                if !e.is_recoverable() && !matches!(self.core.mode, Mode::Resync { .. }) {
                    self.stopped = true;
                }
                Some(Err(e))
            }
        }
    }
}
