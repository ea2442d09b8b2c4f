//! Replays the `images_request` fuzz target's inputs on stable Rust through its check
//! (`kvs_checks::images_request`): every committed file of
//! `fuzz/regressions/images_request/` (at least the number listed in `kvs_checks::replay`,
//! so a clean checkout always replays them), then the local corpus
//! `fuzz/corpus/images_request/`.
//!
//! The local corpus is optional: it is ignored by git and grown by `fuzz/run.sh`. Where it is
//! missing or empty (a clean checkout, CI) it is simply not part of the test; where it is
//! there, up to 3,000 of its files are replayed after the committed ones.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use kvs_checks::{images_request, replay};

use std::path::Path;

#[test]
fn images_request_regressions_and_local_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    replay::replay(&fuzz, "images_request", images_request::check);
}
