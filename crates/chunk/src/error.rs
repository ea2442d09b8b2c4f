//! Errors of the event decoder.

use crate::aws::AwsTag;
use crate::block::BlockError;

/// A decoding error. Every variant but [`Error::Io`] and [`Error::Transport`] carries the
/// byte offset of the element at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The EBML structure is malformed, or the input ended inside an element.
    #[error(transparent)]
    Ebml(#[from] kvs_ebml::Error),
    /// A block's header or lacing is malformed; the block was skipped.
    #[error("{kind} in block at byte offset {offset}")]
    Block {
        /// The absolute offset of the SimpleBlock or Block element.
        offset: u64,
        /// What is wrong.
        kind: BlockError,
    },
    /// A frame's timestamp does not fit in 64-bit nanoseconds; the frame was skipped.
    #[error("timestamp out of range in block at byte offset {offset}")]
    TimestampOverflow {
        /// The absolute offset of the block.
        offset: u64,
    },
    /// A service tag's value could not be parsed (e.g. a non-numeric timestamp); the value
    /// was ignored.
    #[error("invalid value for {tag} at byte offset {offset}")]
    InvalidTagValue {
        /// The tag.
        tag: AwsTag,
        /// The absolute offset of the SimpleTag.
        offset: u64,
    },
    /// A frame of a track with ContentEncodings could not be decoded (invalid zlib data, or
    /// more than `Limits::max_binary_size` bytes once decoded); the frame was skipped.
    #[error("cannot decode frame of track {track} in block at byte offset {offset}: {what}")]
    ContentEncoding {
        /// The absolute offset of the block.
        offset: u64,
        /// The track number.
        track: u64,
        /// What failed.
        what: &'static str,
    },
    /// The input is not Matroska/EBML: it does not begin with an EBML header (or a
    /// Segment or top-level Matroska element, for a capture that starts mid-document). A text
    /// file, an HTML error page, a JSON document. Fatal; nothing was decoded.
    #[error("not Matroska/EBML: no EBML header at byte offset {offset}")]
    NotEbml {
        /// Where the EBML header was expected (0).
        offset: u64,
    },
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// The byte stream an adapter polls failed.
    #[error("transport error: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Whether the input ended inside an element: a truncated file, or a connection cut
    /// mid-fragment (everything complete before it was delivered). So callers need not reach
    /// into [`kvs_ebml::Error`] to tell a cut from damage.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        matches!(self, Error::Ebml(e) if e.is_eof())
    }

    /// Whether decoding goes on after this error (a bad block or tag value, a CRC mismatch).
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        match self {
            Error::Ebml(e) => e.is_recoverable(),
            Error::Block { .. }
            | Error::TimestampOverflow { .. }
            | Error::InvalidTagValue { .. }
            | Error::ContentEncoding { .. } => true,
            Error::NotEbml { .. } | Error::Io(_) | Error::Transport(_) => false,
        }
    }

    /// The id and Matroska name of the element at fault, where known (for a CRC-32
    /// mismatch: the element whose data failed the check, e.g. `(0x1F43B675, Some("Cluster"))`).
    #[must_use]
    pub fn element(&self) -> Option<(kvs_ebml::ElementId, Option<&'static str>)> {
        match self {
            Error::Ebml(e) => e.id.map(|id| (id, e.element_name())),
            _ => None,
        }
    }

    /// The absolute byte offset the error refers to, where there is one.
    #[must_use]
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Ebml(e) => Some(e.offset),
            Error::Block { offset, .. }
            | Error::TimestampOverflow { offset }
            | Error::InvalidTagValue { offset, .. }
            | Error::ContentEncoding { offset, .. }
            | Error::NotEbml { offset } => Some(*offset),
            Error::Io(_) | Error::Transport(_) => None,
        }
    }
}
