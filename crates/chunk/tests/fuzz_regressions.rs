//! Replays the kvs-chunk fuzz targets' inputs on stable Rust: every file of
//! `fuzz/regressions/{block,decoder,aws_tags}/` (hand-made seeds and minimised fuzzer finds,
//! kept in the repository) and of `fuzz/corpus/{block,decoder,aws_tags}/` (the local fuzzing
//! corpus, when present) goes through the same check as the fuzz target
//! (`tests/fuzzing/mod.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod fuzzing;

use std::path::{Path, PathBuf};

fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(kind).join(target)
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn replay(files: &[PathBuf], check: fn(&[u8])) {
    for path in files {
        // A running fuzzer may remove corpus files while they are read.
        let Ok(data) = std::fs::read(path) else { continue };
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "fuzz input {} fails the check", path.display());
    }
}

fn regressions(target: &str, check: fn(&[u8]), at_least: usize) {
    let dir = fuzz_dir("regressions", target);
    let files = inputs(&dir);
    assert!(files.len() >= at_least, "{} regression inputs in {}", files.len(), dir.display());
    replay(&files, check);
}

/// The local corpus, capped so that a large one does not slow the test suite down.
fn corpus(target: &str, check: fn(&[u8])) {
    let dir = fuzz_dir("corpus", target);
    let mut files = inputs(&dir);
    if files.is_empty() {
        println!("skipped: no local fuzz corpus in {}", dir.display());
        return;
    }
    files.truncate(3000);
    replay(&files, check);
}

#[test]
fn block_regressions() {
    regressions("block", fuzzing::check_block, 5);
}

#[test]
fn decoder_regressions() {
    regressions("decoder", fuzzing::check_decoder, 5);
}

#[test]
fn aws_tags_regressions() {
    regressions("aws_tags", fuzzing::check_aws, 5);
}

#[test]
fn block_corpus() {
    corpus("block", fuzzing::check_block);
}

#[test]
fn decoder_corpus() {
    corpus("decoder", fuzzing::check_decoder);
}

#[test]
fn aws_tags_corpus() {
    corpus("aws_tags", fuzzing::check_aws);
}
