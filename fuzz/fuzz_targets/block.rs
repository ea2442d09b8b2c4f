//! Fuzz target `block`: the input is a SimpleBlock/Block payload; `block::parse_header` and
//! `block::for_each_frame` must agree with a naive reference implementation of RFC 9559 lacing
//! (header fields, frame count, every frame's offset and size, every error kind), hand out
//! zero-copy slices that tile the payload, and never panic.
//!
//! The check is `kvs_checks::fuzzing` (`crates/checks/src/fuzzing.rs`), shared with the stable
//! test `crates/chunk/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/block/`.

#![no_main]

use kvs_checks::fuzzing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::check_block(data));
