//! Fuzz target `decoder`: byte 0 chooses how the rest is chunked, byte 1 the options (CRC
//! checks, limit profile, resynchronisation); the rest goes through kvs-chunk's `Events` (whole),
//! `EventDecoder` (in chunks), `SliceEvents` (borrowed) and `ReadEvents` (small reads): the four must give the same
//! events and errors, the events must be well formed (documents paired, one FragmentEnd per
//! document, frames inside the input), and nothing may panic, hang or run away.
//!
//! The check is `kvs_checks::fuzzing` (`crates/checks/src/fuzzing.rs`), shared with the stable
//! test `crates/chunk/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/decoder/`.

#![no_main]

use kvs_checks::fuzzing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::check_decoder(data));
