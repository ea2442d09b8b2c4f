//! The tokens the tokenizer emits.

use bytes::Bytes;

use crate::{ElementId, ElementType, Size};

/// An element's header, as read from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElementHeader {
    /// The id, marker bits included.
    pub id: ElementId,
    /// The declared payload size.
    pub size: Size,
    /// The header length (id + size VINT), in bytes.
    pub header_len: u8,
    /// The absolute stream offset of the element's first byte (its id).
    pub offset: u64,
    /// The nesting depth: 0 for top-level elements (EBML header, Segment).
    pub depth: u16,
    /// The type the schema gives the id, `None` for an id the schema does not know.
    pub ty: Option<ElementType>,
}

impl ElementHeader {
    /// The absolute offset of the first payload byte.
    #[inline]
    #[must_use]
    pub fn data_offset(&self) -> u64 {
        self.offset.saturating_add(u64::from(self.header_len))
    }

    /// The absolute offset just past the element, if its size is known.
    #[inline]
    #[must_use]
    pub fn end_offset(&self) -> Option<u64> {
        self.size.known().and_then(|s| self.data_offset().checked_add(s))
    }
}

/// A leaf element's value, typed as the schema says.
///
/// `B` is the payload type: [`Bytes`] (a zero-copy slice of the input) from
/// [`crate::Tokenizer`], `&[u8]` from [`crate::SliceTokenizer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value<B = Bytes> {
    /// An unsigned integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// A float (a 4-byte float is widened).
    Float(f64),
    /// Nanoseconds since 2001-01-01T00:00:00 UTC.
    Date(i64),
    /// A printable-ASCII string, raw (NUL padding included).
    String(B),
    /// A UTF-8 string, raw (NUL padding included; not validated).
    Utf8(B),
    /// Binary data.
    Binary(B),
    /// An element the schema does not know: its payload was skipped without being buffered.
    Skipped,
}

impl<B: AsRef<[u8]>> Value<B> {
    /// The raw payload of a String, UTF-8 or Binary value.
    #[must_use]
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(b) | Value::Utf8(b) | Value::Binary(b) => Some(b.as_ref()),
            _ => None,
        }
    }

    /// A String or UTF-8 value as text, trailing NULs removed, invalid UTF-8 replaced.
    #[must_use]
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::String(b) | Value::Utf8(b) => {
                let raw = b.as_ref();
                let end = raw.iter().rposition(|&c| c != 0).map_or(0, |p| p.saturating_add(1));
                Some(String::from_utf8_lossy(raw.get(..end).unwrap_or_default()))
            }
            _ => None,
        }
    }

    /// An Unsigned value.
    #[must_use]
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            Value::Unsigned(v) => Some(*v),
            _ => None,
        }
    }

    /// A Signed value.
    #[must_use]
    pub fn as_signed(&self) -> Option<i64> {
        match self {
            Value::Signed(v) => Some(*v),
            _ => None,
        }
    }

    /// A Float value.
    #[must_use]
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }
}

/// One token of the element stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Token<B = Bytes> {
    /// A document begins: at an EBML header, or at the first top-level element of a stream
    /// that starts mid-document (a capture that begins at a Segment).
    DocumentStart {
        /// The absolute offset of the document's first element.
        offset: u64,
    },
    /// A master element begins; its children follow, then [`Token::MasterEnd`].
    MasterStart(ElementHeader),
    /// A master element ends (at its known size, or where its unknown size was closed).
    MasterEnd {
        /// The master's header.
        header: ElementHeader,
        /// The absolute offset just past its last byte.
        end: u64,
    },
    /// A leaf element, header and value together.
    Leaf {
        /// The element's header.
        header: ElementHeader,
        /// Its value.
        value: Value<B>,
    },
    /// A document ends: at the next EBML header or at the end of input.
    DocumentEnd {
        /// The absolute offset just past the document.
        offset: u64,
    },
    /// After an error, the tokenizer skipped `skipped` bytes and found a top-level element
    /// at `offset`. Masters that were open below that element's level were abandoned
    /// without a [`Token::MasterEnd`].
    Resynced {
        /// Where reading resumes.
        offset: u64,
        /// How many bytes were skipped.
        skipped: u64,
        /// The depth that remains open (0: none; 1: the Segment).
        depth: u16,
    },
    /// The input ends with a JSON object after its last complete document: the response
    /// the AWS CLI prints after a GetMedia payload written to standard output
    /// (`{"ContentType": "video/webm"}`, possibly pretty-printed over several lines). At
    /// most [`MAX_TRAILER`](crate::MAX_TRAILER) bytes of text that starts with `{` at
    /// the top level (after a document, or where an unknown-size Segment ends) and ends with
    /// `}` at the end of input. It is not part of any document and is the last token.
    Trailer {
        /// The absolute offset of its `{`.
        offset: u64,
        /// Its length in bytes, up to the end of input.
        len: u64,
    },
}

impl<B> Token<B> {
    /// Maps the payload type.
    pub fn map_payload<C>(self, f: impl FnOnce(B) -> C) -> Token<C> {
        match self {
            Token::DocumentStart { offset } => Token::DocumentStart { offset },
            Token::MasterStart(h) => Token::MasterStart(h),
            Token::MasterEnd { header, end } => Token::MasterEnd { header, end },
            Token::Leaf { header, value } => Token::Leaf {
                header,
                value: match value {
                    Value::Unsigned(v) => Value::Unsigned(v),
                    Value::Signed(v) => Value::Signed(v),
                    Value::Float(v) => Value::Float(v),
                    Value::Date(v) => Value::Date(v),
                    Value::String(b) => Value::String(f(b)),
                    Value::Utf8(b) => Value::Utf8(f(b)),
                    Value::Binary(b) => Value::Binary(f(b)),
                    Value::Skipped => Value::Skipped,
                },
            },
            Token::DocumentEnd { offset } => Token::DocumentEnd { offset },
            Token::Resynced { offset, skipped, depth } => Token::Resynced { offset, skipped, depth },
            Token::Trailer { offset, len } => Token::Trailer { offset, len },
        }
    }
}

impl Token<&[u8]> {
    /// Copies borrowed payloads into owned [`Bytes`].
    #[must_use]
    pub fn into_owned(self) -> Token<Bytes> {
        self.map_payload(Bytes::copy_from_slice)
    }
}
