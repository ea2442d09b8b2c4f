//! Fuzz target `aws_tags`: the input goes through every AWS tag value parser (`trimmed`,
//! `parse_u64`, `parse_timestamp_ms`, `ErrorId`, `AwsTag::from_name`), each checked against a
//! reference; byte 0 splits the rest into two `FragmentNumber`s whose order must be total,
//! numeric, and consistent with equality and hashing.
//!
//! The check is `kvs_checks::fuzzing` (`crates/checks/src/fuzzing.rs`), shared with the stable
//! test `crates/chunk/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/aws_tags/`.

#![no_main]

use kvs_checks::fuzzing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::check_aws(data));
