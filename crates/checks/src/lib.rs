//! The checks and harnesses that the workspace's tests and the cargo-fuzz targets share, one
//! source each: the fuzz targets in `fuzz/fuzz_targets/` and the stable tests that replay their
//! inputs call the same functions, and the hostile-corpus tests of kvs-ebml, kvs-chunk and
//! kvs-cli share one harness. Unpublished: nothing here is part of a library's API, and the
//! libraries expose nothing for it (every check goes through their public API).
//!
//! | module | what it holds | feature | used by |
//! |---|---|---|---|
//! | [`differential`] | the tokenizer check: streaming `Tokenizer` in chunks against the `SliceTokenizer` | always | fuzz target `tokenizer`, kvs-ebml's tests, `fuzzing` |
//! | [`replay`] | replaying `fuzz/regressions/<target>/` and the local corpus through a check | always | the `fuzz_regressions` tests of kvs-ebml, kvs-chunk, kvs-images |
//! | `fuzzing` | the kvs-chunk checks: `block`, `decoder`, `aws_tags` | `chunk` | those fuzz targets, kvs-chunk's `fuzz_regressions` |
//! | `images_request` | the GetImages request check | `images` | fuzz target `images_request`, kvs-images' `fuzz_regressions` |
//! | `hostile` | where `testdata/hostile/` is, its manifest, children under the 64 MiB limit | `hostile` | the `hostile` tests of kvs-ebml, kvs-chunk, kvs-cli |
//!
//! Each user turns on only the features it needs, so that the fuzz build and each crate's
//! tests build no dependency they do not use.

// A check fails by panicking (that is what libFuzzer and the test harness catch), and it is
// written the plain way, with indexing and arithmetic the inputs are known to allow: the
// lints that keep panics out of the shipped libraries do not apply to this crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod differential;
#[cfg(feature = "chunk")]
pub mod fuzzing;
#[cfg(feature = "hostile")]
pub mod hostile;
#[cfg(feature = "images")]
pub mod images_request;
pub mod replay;
