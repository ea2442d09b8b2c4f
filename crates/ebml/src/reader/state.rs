//! The sans-IO state machine shared by both shells: modes, the stack of open elements, the
//! step functions and resynchronisation.

use std::ops::Range;

use crate::error::{Error, ErrorKind};
use crate::matroska::ids;
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

/// A master element that is open, as
/// [`Tokenizer::open_elements`](super::Tokenizer::open_elements) shows it.
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
    /// What the schema says of the last (leaf, parent) pair `step_leaf_fast` was asked about:
    /// whether the leaf is a known `Binary` element, and whether it belongs to that parent
    /// (which matters inside an unknown-size parent). The schema never changes, so this
    /// stays true.
    leaf_memo: Option<LeafMemo>,
    /// What `step_leaf_fast` worked out for the leaves it takes now (see `LeafRun`); cleared
    /// by every [`Core::step`] that does more than wait for input (the only other way the
    /// state changes).
    run: Option<LeafRun>,
    /// The length of the last leaf `step_leaf_fast` found valid but not yet whole in its
    /// window (see [`Core::take_short`]).
    short: usize,
}

/// The state `step_leaf_fast` checks once for a run of leaves `id` in `parent` rather than
/// for each: while only such leaves are taken, the mode, the open masters and therefore the
/// parent's bound and depth stay as they are.
#[derive(Clone, Copy)]
struct LeafRun {
    id: ElementId,
    parent: ElementId,
    /// The id's one byte.
    lead: u8,
    /// The innermost known end of the open masters (`u64::MAX` if none is known).
    bound: u64,
    depth: u16,
    /// The largest `Binary` payload allowed.
    max_size: u64,
}

/// See `Core::leaf_memo`.
#[derive(Clone, Copy)]
struct LeafMemo {
    id: ElementId,
    parent: ElementId,
    binary: bool,
    belongs: bool,
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
pub(super) fn to_u64(n: usize) -> u64 {
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
            leaf_memo: None,
            run: None,
            short: 0,
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

    /// Whether the machine is scanning for the next top-level element after an error.
    pub(crate) fn is_resyncing(&self) -> bool {
        matches!(self.mode, Mode::Resync { .. })
    }

    /// One step over `buf`, the unconsumed input starting at `self.offset`. `eof` says that
    /// no byte will ever follow `buf`.
    #[inline]
    pub(crate) fn step(&mut self, buf: &[u8], eof: bool) -> Result<Step, Error> {
        let step = self.step_mode(buf, eof);
        // Waiting for more input in the normal mode changes nothing: the run still holds (an
        // element split across chunks comes back to the fast path once it is whole).
        if !matches!(step, Ok(Step::NeedMore(_))) || !matches!(self.mode, Mode::Normal) {
            self.run = None;
        }
        step
    }

    #[inline]
    fn step_mode(&mut self, buf: &[u8], eof: bool) -> Result<Step, Error> {
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
    /// but the normal one) returns `None` and consumes nothing, for `step` to handle.
    #[inline(always)]
    pub(crate) fn step_leaf_fast(
        &mut self,
        buf: &[u8],
        id: ElementId,
        parent: ElementId,
    ) -> Option<(ElementHeader, Range<usize>)> {
        let run = match self.run {
            Some(run) if run.id == id && run.parent == parent => run,
            _ => self.leaf_run(id, parent)?,
        };
        if *buf.first()? != run.lead {
            return None;
        }
        // The size: one or two bytes in the common case (read here), else the general read.
        let (size, size_len) = match buf.get(1..3) {
            Some(&[a, _]) if a >= 0x80 && a != 0xFF => (u64::from(a & 0x7F), 1),
            Some(&[a, b]) if (0x40..0x80).contains(&a) && !(a == 0x7F && b == 0xFF) => {
                ((u64::from(a & 0x3F) << 8) | u64::from(b), 2)
            }
            _ => match vint::read_size(buf.get(1..)?).ok()? {
                (Size::Known(size), w) => (size, w),
                (Size::Unknown, _) => return None,
            },
        };
        if size > run.max_size {
            return None;
        }
        let header_len = size_len.checked_add(1)?;
        let end = self.offset.checked_add(to_u64(header_len))?.checked_add(size)?;
        if end > run.bound {
            return None;
        }
        let total = usize::try_from(size).ok()?.checked_add(header_len)?;
        if buf.len() < total {
            self.short = total;
            return None;
        }
        let header = ElementHeader {
            id,
            size: Size::Known(size),
            header_len: u8::try_from(header_len).ok()?,
            offset: self.offset,
            depth: run.depth,
            ty: Some(ElementType::Binary),
        };
        self.consume(buf, total);
        Some((header, header_len..total))
    }

    /// The length of the element [`Core::step_leaf_fast`] last declined because its window
    /// did not hold all of it (once: 0 after), for a streaming shell that gathers it as the
    /// rest arrives; the element is as valid as `step` would find it, so far as its header
    /// goes.
    pub(crate) fn take_short(&mut self) -> usize {
        std::mem::take(&mut self.short)
    }

    /// The most bytes the shell may hold for one element ([`crate::Limits::max_buffered`]).
    pub(crate) fn max_buffered(&self) -> u64 {
        self.opts.limits.max_buffered
    }

    /// What [`Core::step_leaf_fast`] needs to know of the state for leaves `id` in `parent`,
    /// worked out once and kept in `run` until the next [`Core::step`]: `None` when such a
    /// leaf cannot take the fast path now (another mode, another open master, not a known
    /// one-byte-id `Binary` element, or one that would end an unknown-size parent).
    #[inline(never)]
    fn leaf_run(&mut self, id: ElementId, parent: ElementId) -> Option<LeafRun> {
        if !matches!(self.mode, Mode::Normal) || id == ids::CRC32 {
            return None;
        }
        let lead = u8::try_from(id.0).ok().filter(|&b| b >= 0x80 && b != 0xFF)?;
        if self.stack.last()?.header.id != parent {
            return None;
        }
        let memo = match self.leaf_memo {
            Some(m) if m.id == id && m.parent == parent => m,
            _ => {
                let info = self.schema.lookup(id)?;
                let belongs = info.parent == Parent::Element(parent) || self.schema.is_descendant(id, parent);
                let m = LeafMemo { id, parent, binary: info.ty == ElementType::Binary, belongs };
                self.leaf_memo = Some(m);
                m
            }
        };
        let top = self.stack.last()?;
        if (top.header.size == Size::Unknown && !memo.belongs) || !memo.binary {
            return None;
        }
        let run = LeafRun {
            id,
            parent,
            lead,
            bound: top.bound.unwrap_or(u64::MAX),
            depth: u16::try_from(self.stack.len()).unwrap_or(u16::MAX),
            max_size: self.opts.limits.max_binary_size,
        };
        self.run = Some(run);
        Some(run)
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
