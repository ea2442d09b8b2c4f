//! Replays the kvs-chunk fuzz targets' inputs on stable Rust through the same checks as the
//! fuzz targets (`kvs_checks::fuzzing`): for `block`, `decoder` and `aws_tags`, every
//! committed file of `fuzz/regressions/<target>/` (hand-made seeds and minimised fuzzer finds;
//! each target must have at least the number listed in `kvs_checks::replay`, so a clean
//! checkout always replays them), then the local corpus `fuzz/corpus/<target>/`.
//!
//! The local corpus is optional: it is ignored by git and grown by `fuzz/run.sh`. Where it is
//! missing or empty (a clean checkout, CI) it is simply not part of these tests; where it is
//! there, up to 3,000 of its files per target are replayed after the committed ones.
//!
//! `every_fuzz_target_has_committed_regression_inputs` also checks the other two replays'
//! sets (tokenizer in kvs-ebml, images_request in kvs-images) and that no fuzz target is
//! without a replay.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use kvs_checks::{fuzzing, replay};

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn block_regressions_and_local_corpus() {
    replay::replay(&fuzz_dir(), "block", fuzzing::check_block);
}

#[test]
fn decoder_regressions_and_local_corpus() {
    replay::replay(&fuzz_dir(), "decoder", fuzzing::check_decoder);
}

#[test]
fn aws_tags_regressions_and_local_corpus() {
    replay::replay(&fuzz_dir(), "aws_tags", fuzzing::check_aws);
}

/// Every target of `fuzz/fuzz_targets/` is listed in `kvs_checks::replay::TARGETS`, has at least
/// that many committed regression inputs, and is replayed by the test file listed there.
#[test]
fn every_fuzz_target_has_committed_regression_inputs() {
    let fuzz = fuzz_dir();
    let listed: Vec<&str> = {
        let mut v: Vec<&str> = replay::TARGETS.iter().map(|(t, _, _)| *t).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(replay::fuzz_targets(&fuzz), listed, "fuzz/fuzz_targets/ and replay.rs TARGETS differ");
    for &(target, at_least, test_file) in replay::TARGETS {
        assert!(at_least > 0, "{target}: a minimum of 0 committed inputs");
        let dir = fuzz.join("regressions").join(target);
        let committed = replay::files(&dir).len();
        assert!(committed >= at_least, "{target}: {committed} inputs in {}, want {at_least}", dir.display());
        let source = std::fs::read_to_string(fuzz.join("..").join(test_file)).unwrap();
        assert!(
            source.contains("replay::replay(") && source.contains(&format!("\"{target}\"")),
            "{test_file} does not replay {target} with kvs_checks::replay"
        );
    }
}
