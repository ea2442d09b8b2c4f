//! Fuzz target `images_request`: the input becomes a GetImages request (selector, format,
//! timestamps, interval, sizes, MaxResults, FormatConfig, NextToken); `ImagesRequest::plan`
//! must validate it without panicking, and a plan must be coherent (page, sample times,
//! NextToken round trip). The check is `kvs_checks::images_request`
//! (`crates/checks/src/images_request.rs`), shared with the stable test
//! `crates/images/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/images_request/`.

#![no_main]

use kvs_checks::images_request;

libfuzzer_sys::fuzz_target!(|data: &[u8]| images_request::check(data));
