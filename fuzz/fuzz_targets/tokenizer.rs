//! Fuzz target `tokenizer`: byte 0 of the input chooses how the rest is chunked, byte 1 the
//! options (CRC checks, limit profile); the rest is fed to the streaming `Tokenizer` in those
//! chunks, with and without resynchronisation, and every token and error must equal what the
//! `SliceTokenizer` gives on the whole input; the events must also be well nested. No panic,
//! hang or runaway is allowed on any input.
//!
//! The check itself is `kvs_checks::differential` (`crates/checks/src/differential.rs`), shared
//! with the stable test `crates/ebml/tests/fuzz_regressions.rs`, which replays
//! `fuzz/regressions/tokenizer/` and `fuzz/corpus/tokenizer/`.

#![no_main]

use kvs_checks::differential;

libfuzzer_sys::fuzz_target!(|data: &[u8]| differential::check(data));
