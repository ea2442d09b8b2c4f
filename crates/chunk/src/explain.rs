//! What a decoding error means to someone reading the input: a stable name for its kind
//! (to count errors of one kind together, or to key a machine-readable report on), and what
//! it means for the rest of the input ([`Hint`]).

use kvs_ebml::ErrorKind;

use crate::Error;

/// What an error means for the input around it, as a reader of the report wants to know.
///
/// Its `Display` is one lowercase clause (`the input is truncated; everything before it was
/// read`), to follow the error's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// The input ended inside an element: everything before it was delivered.
    Truncated,
    /// An element's CRC-32 does not match its data; the data was still read.
    CrcMismatch {
        /// `the Cluster element`, `element 0x1F43B675` or `the element`.
        element: String,
    },
    /// The reader gave up looking for something readable after it.
    NothingFollows,
    /// The reader skips past it to the next element it can read ([`crate::Options::resync`]).
    Skipping,
    /// The input is malformed here and the reader stops (without resynchronisation).
    Malformed,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hint::Truncated => f.write_str("the input is truncated; everything before it was read"),
            Hint::CrcMismatch { element } => write!(
                f,
                "{element} does not match its CRC-32: its data is damaged; what it holds was still read, \
                 so check it"
            ),
            Hint::NothingFollows => f.write_str("nothing readable follows it: reading stopped there"),
            Hint::Skipping => f.write_str("skipping to the next element that can be read"),
            Hint::Malformed => f.write_str("the input is malformed here"),
        }
    }
}

impl Error {
    /// What this error means for the rest of the input, when the reader resynchronises
    /// after malformed input (`resyncing`) or not; `None` for errors that say it all
    /// themselves (an I/O error, a bad block, an invalid tag value...).
    #[must_use]
    pub fn hint(&self, resyncing: bool) -> Option<Hint> {
        if self.is_eof() {
            return Some(Hint::Truncated);
        }
        let Error::Ebml(inner) = self else { return None };
        Some(match inner.kind {
            ErrorKind::CrcMismatch { .. } => Hint::CrcMismatch {
                element: inner.id.map_or_else(
                    || "the element".to_owned(),
                    |id| match kvs_ebml::matroska::name_of(id) {
                        Some(n) => format!("the {n} element"),
                        None => format!("element {id}"),
                    },
                ),
            },
            ErrorKind::ResyncLimit { .. } => Hint::NothingFollows,
            _ if resyncing => Hint::Skipping,
            _ => Hint::Malformed,
        })
    }

    /// A stable snake_case code for the error's kind: `crc_mismatch`, `truncated`,
    /// `resync_limit`, `malformed` (any other EBML error), `block`, `timestamp_overflow`,
    /// `invalid_tag_value`, `content_encoding`, `not_ebml`, `read_error`, else `other`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::Ebml(inner) => match inner.kind {
                ErrorKind::CrcMismatch { .. } => "crc_mismatch",
                ErrorKind::UnexpectedEof { .. } => "truncated",
                ErrorKind::ResyncLimit { .. } => "resync_limit",
                _ => "malformed",
            },
            Error::Block { .. } => "block",
            Error::TimestampOverflow { .. } => "timestamp_overflow",
            Error::InvalidTagValue { .. } => "invalid_tag_value",
            Error::ContentEncoding { .. } => "content_encoding",
            Error::NotEbml { .. } => "not_ebml",
            Error::Io(_) => "read_error",
            _ => "other",
        }
    }

    /// A finer name for the error's kind, to count errors of one kind together: the block
    /// defect (`lace sizes exceed the block`), `invalid value for <tag>`, `timestamp out of
    /// range`, the EBML error kind's name (`TooLarge`, `CrcMismatch`), `read error`,
    /// `transport error`, else `other`. Two errors of the same kind at different offsets
    /// have the same name.
    #[must_use]
    pub fn kind_name(&self) -> String {
        match self {
            Error::Block { kind, .. } => kind.to_string(),
            Error::InvalidTagValue { tag, .. } => format!("invalid value for {tag}"),
            Error::TimestampOverflow { .. } => "timestamp out of range".to_owned(),
            Error::Ebml(inner) => {
                let debug = format!("{:?}", inner.kind);
                debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
            }
            Error::Io(_) => "read error".to_owned(),
            Error::Transport(_) => "transport error".to_owned(),
            _ => "other".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockError;

    fn ebml(kind: ErrorKind, id: Option<kvs_ebml::ElementId>) -> Error {
        Error::Ebml(kvs_ebml::Error { offset: 7, kind, id })
    }

    #[test]
    fn hints_follow_the_kind_and_the_reading_mode() {
        let crc =
            ebml(ErrorKind::CrcMismatch { stored: 1, computed: 2 }, Some(kvs_ebml::ElementId(0x1F43_B675)));
        assert_eq!(
            crc.hint(false).map(|h| h.to_string()).as_deref(),
            Some(
                "the Cluster element does not match its CRC-32: its data is damaged; what it holds was \
                 still read, so check it"
            )
        );
        let anonymous = ebml(ErrorKind::CrcMismatch { stored: 1, computed: 2 }, None);
        assert_eq!(anonymous.hint(true), Some(Hint::CrcMismatch { element: "the element".to_owned() }));
        let limit = ebml(ErrorKind::ResyncLimit { scanned: 9 }, None);
        assert_eq!(limit.hint(true), Some(Hint::NothingFollows));
        let bad = ebml(ErrorKind::InvalidSizeVint, None);
        assert_eq!(bad.hint(true), Some(Hint::Skipping));
        assert_eq!(bad.hint(false), Some(Hint::Malformed));
        let block = Error::Block { offset: 3, kind: BlockError::LaceOverflow };
        assert_eq!(block.hint(false), None);
    }

    #[test]
    fn codes_and_kind_names_are_stable() {
        let block = |offset| Error::Block { offset, kind: BlockError::LaceOverflow };
        assert_eq!(block(1).code(), "block");
        assert_eq!(block(1).kind_name(), block(99).kind_name());
        assert_eq!(block(1).kind_name(), BlockError::LaceOverflow.to_string());
        assert_eq!(Error::TimestampOverflow { offset: 0 }.code(), "timestamp_overflow");
        assert_eq!(Error::TimestampOverflow { offset: 0 }.kind_name(), "timestamp out of range");
        let crc = ebml(ErrorKind::CrcMismatch { stored: 1, computed: 2 }, None);
        assert_eq!(crc.code(), "crc_mismatch");
        assert_eq!(crc.kind_name(), "CrcMismatch");
        assert_eq!(ebml(ErrorKind::InvalidSizeVint, None).code(), "malformed");
        assert_eq!(ebml(ErrorKind::InvalidSizeVint, None).kind_name(), "InvalidSizeVint");
        let io = Error::Io(std::io::Error::other("x"));
        assert_eq!((io.code(), io.kind_name().as_str()), ("read_error", "read error"));
    }
}
