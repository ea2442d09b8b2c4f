//! The tokenizer: one sans-IO state machine ([`Core`](state::Core)) and two thin shells over
//! it, the streaming [`Tokenizer`] (input as [`Bytes`](bytes::Bytes) chunks, payloads as
//! zero-copy slices) and the borrowed [`SliceTokenizer`] (one in-memory `&[u8]`).
//!
//! - `state`: the state machine (modes, the stack of open elements, the step functions,
//!   resynchronisation) and its [`Options`];
//! - `stream`: the streaming shell, [`Tokenizer`];
//! - `slice`: the slice shell, [`SliceTokenizer`].

mod slice;
mod state;
mod stream;

pub use slice::SliceTokenizer;
pub use state::{MAX_TRAILER, OpenElement, Options};
pub use stream::Tokenizer;
