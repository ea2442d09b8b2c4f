#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod date;
pub mod error;
mod id;
pub mod limits;
pub mod matroska;
mod reader;
pub mod rng;
pub mod schema;
pub mod token;
pub mod vint;
pub mod writer;

pub use error::{Error, ErrorKind};
pub use id::ElementId;
pub use limits::Limits;
pub use matroska::{MatroskaSchema, ids};
pub use reader::{BytesTokenizer, MAX_TRAILER, OpenElement, Options, SliceTokenizer, Tokenizer};
pub use schema::{ElementInfo, ElementType, Parent, Schema, TableSchema};
pub use token::{ElementHeader, Token, Value};
pub use vint::Size;
pub use writer::Writer;
