//! The tokenizer: one sans-IO state machine ([`Core`](state::Core)) and two thin shells over
//! it, the streaming [`Tokenizer`] (input as [`Bytes`](bytes::Bytes) chunks, payloads as
//! zero-copy slices), the borrowed [`SliceTokenizer`] (one in-memory `&[u8]`) and the
//! [`BytesTokenizer`] (one in-memory [`Bytes`](bytes::Bytes), payloads as slices of it).
//!
//! - `state`: the state machine (modes, the stack of open elements, the step functions,
//!   resynchronisation) and its [`Options`];
//! - `stream`: the streaming shell, [`Tokenizer`];
//! - `slice`: the whole-input shells, [`SliceTokenizer`] and [`BytesTokenizer`].

mod slice;
mod state;
mod stream;

pub use slice::{BytesTokenizer, SliceTokenizer};
pub use state::{MAX_TRAILER, OpenElement, Options};
pub use stream::Tokenizer;
