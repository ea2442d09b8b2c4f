//! Typed, cheap errors: every one carries the byte offset and, where known, the element id.

use crate::ElementId;

/// A tokenizer error: what went wrong, where (absolute stream offset) and in which element.
///
/// `Error` is `Copy` and allocation-free. Fatal errors (all but
/// [`ErrorKind::CrcMismatch`]) stop the tokenizer unless resynchronisation is enabled; the
/// tokens before the error have all been delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte offset {offset}{}", element_text(*.id))]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The absolute stream offset of the element (or byte) at fault.
    pub offset: u64,
    /// The id of the element at fault, where known.
    pub id: Option<ElementId>,
}

/// ` (element 0x1F43B675 Cluster)`, or without the name for an id the Matroska schema does
/// not know, or nothing.
fn element_text(id: Option<ElementId>) -> String {
    match id {
        Some(id) => match crate::matroska::name_of(id) {
            Some(name) => format!(" (element {id} {name})"),
            None => format!(" (element {id})"),
        },
        None => String::new(),
    }
}

impl Error {
    /// The Matroska name of the element at fault (`"Cluster"` for a CRC-32 mismatch in a
    /// Cluster), where the id is known and the schema names it.
    #[must_use]
    pub fn element_name(&self) -> Option<&'static str> {
        self.id.and_then(crate::matroska::name_of)
    }

    pub(crate) const fn new(kind: ErrorKind, offset: u64, id: Option<ElementId>) -> Self {
        Self { kind, offset, id }
    }

    /// Whether the tokenizer can go on after this error without resynchronising.
    #[must_use]
    pub const fn is_recoverable(&self) -> bool {
        matches!(self.kind, ErrorKind::CrcMismatch { .. })
    }

    /// Whether this is [`ErrorKind::UnexpectedEof`]: the input ended inside an element.
    #[must_use]
    pub const fn is_eof(&self) -> bool {
        matches!(self.kind, ErrorKind::UnexpectedEof { .. })
    }
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A VINT (element size) whose first byte is `0x00`.
    #[error("invalid size VINT (0x00 lead byte)")]
    InvalidSizeVint,
    /// An id whose first byte is `0x00`.
    #[error("invalid element id (0x00 lead byte)")]
    InvalidIdLeadByte,
    /// An id longer than four bytes (Matroska's EBMLMaxIDLength).
    #[error("element id of {width} bytes exceeds the maximum of 4")]
    IdTooLong {
        /// The width the id's first byte announced.
        width: u8,
    },
    /// An id with all data bits zero or one, or not in its shortest form.
    #[error("invalid element id {raw:#X}")]
    InvalidId {
        /// The id's raw bytes, marker included.
        raw: u32,
    },
    /// The unknown-size marker on an element that is not a master.
    #[error("unknown size on a non-master element")]
    UnknownSizeNotAllowed,
    /// An element larger than the limit for its type.
    #[error("element of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The size the element claims.
        size: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// More bytes would have to be held than [`crate::Limits::max_buffered`] allows.
    #[error("element needs {needed} bytes buffered, limit {limit}")]
    BufferLimit {
        /// Bytes that would be held.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// Masters nested deeper than [`crate::Limits::max_depth`].
    #[error("nesting deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: u32,
    },
    /// A child element extends past the end of its known-size parent.
    #[error("child element ends at {child_end}, past its parent's end at {parent_end}")]
    ChildOverflow {
        /// Where the child would end.
        child_end: u64,
        /// Where the parent ends.
        parent_end: u64,
    },
    /// An integer of more than 8 bytes, or a float that is not 0, 4 or 8 bytes, or a date
    /// that is not 0 or 8 bytes.
    #[error("{size}-byte payload is not a valid {what}")]
    InvalidValueSize {
        /// The payload size.
        size: u64,
        /// The value type expected.
        what: &'static str,
    },
    /// The input ended inside an element.
    #[error(
        "unexpected end of input inside an element ({missing} more bytes expected, {open} elements open)"
    )]
    UnexpectedEof {
        /// How many more bytes the innermost incomplete element needed (at least).
        missing: u64,
        /// How many elements were open, the incomplete one included.
        open: u32,
    },
    /// A CRC-32 element did not match its parent's data (only with CRC verification on). The
    /// error's `offset` and `id` are the parent's: the element whose data failed the check
    /// (see [`Error::element_name`]).
    #[error("CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The value in the CRC-32 element.
        stored: u32,
        /// The value computed over the parent's data.
        computed: u32,
    },
    /// Resynchronisation scanned [`crate::Limits::max_resync_scan`] bytes without finding
    /// a top-level element.
    #[error("no top-level element found in {scanned} bytes")]
    ResyncLimit {
        /// Bytes scanned.
        scanned: u64,
    },
}
