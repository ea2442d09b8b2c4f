#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod limits;
pub mod matroska;
mod reader;
pub mod rng;
pub mod schema;
pub mod token;
pub mod vint;
pub mod writer;

pub use error::{Error, ErrorKind};
pub use limits::Limits;
pub use matroska::{MatroskaSchema, ids};
pub use reader::{MAX_TRAILER, OpenElement, Options, SliceTokenizer, Tokenizer};
pub use schema::{ElementInfo, ElementType, Parent, Schema, TableSchema};
pub use token::{ElementHeader, Token, Value};
pub use vint::Size;
pub use writer::Writer;

/// An EBML element id, marker bits included, as it appears in the file (`0x1A45DFA3`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u32);

impl ElementId {
    /// The id's width in bytes (1..=4), from its marker bit.
    #[inline]
    #[must_use]
    pub const fn width(self) -> usize {
        if self.0 > 0x00FF_FFFF {
            4
        } else if self.0 > 0xFFFF {
            3
        } else if self.0 > 0xFF {
            2
        } else {
            1
        }
    }
}

impl std::fmt::Debug for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ElementId({:#X})", self.0)
    }
}

impl std::fmt::Display for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#X}", self.0)
    }
}
