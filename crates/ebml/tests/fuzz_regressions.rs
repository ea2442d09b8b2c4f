//! Replays the fuzz target's inputs on stable Rust: every file of `fuzz/regressions/tokenizer/`
//! (hand-made seeds and minimised fuzzer finds, kept in the repository) and of
//! `fuzz/corpus/tokenizer/` (the local fuzzing corpus, when present) goes through the same
//! differential check as `fuzz/fuzz_targets/tokenizer.rs`: streaming `Tokenizer` in chunks
//! versus `SliceTokenizer` on the whole input, with and without resynchronisation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn replay(files: &[PathBuf]) {
    for path in files {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| common::differential::check(&data));
        assert!(result.is_ok(), "fuzz input {} fails the check", path.display());
    }
}

#[test]
fn fuzz_regressions_pass_the_differential_check() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/regressions/tokenizer"));
    let files = inputs(dir);
    assert!(files.len() >= 10, "{} regression inputs in {}", files.len(), dir.display());
    replay(&files);
}

#[test]
fn fuzz_corpus_passes_the_differential_check() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/tokenizer"));
    let files = inputs(dir);
    if files.is_empty() {
        println!("skipped: no local fuzz corpus in {}", dir.display());
        return;
    }
    replay(&files);
}

/// The regression inputs are not vacuous: between them they reach the tokens and errors the
/// check is about.
#[test]
fn fuzz_regressions_cover_errors_resync_and_documents() {
    use common::differential::{chunks_from_seed, options_from_flags, stream_events};
    use kvs_ebml::Token;
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/regressions/tokenizer"));
    let mut seen = std::collections::BTreeSet::new();
    for path in inputs(dir) {
        let data = std::fs::read(&path).unwrap();
        let [seed, flags, input @ ..] = &data[..] else { continue };
        let input = bytes::Bytes::copy_from_slice(input);
        let events = stream_events(chunks_from_seed(&input, *seed), options_from_flags(*flags).resync(true));
        for e in events {
            seen.insert(match e {
                Ok(Token::Resynced { .. }) => "Resynced".to_owned(),
                Ok(Token::DocumentEnd { .. }) => "DocumentEnd".to_owned(),
                Ok(Token::Leaf { value: kvs_ebml::Value::Skipped, .. }) => "Skipped".to_owned(),
                Ok(_) => continue,
                Err(e) => format!("{:?}", e.kind).split([' ', '{']).next().unwrap().to_owned(),
            });
        }
    }
    for want in [
        "Resynced",
        "DocumentEnd",
        "Skipped",
        "UnexpectedEof",
        "TooDeep",
        "TooLarge",
        "CrcMismatch",
        "IdTooLong",
        "InvalidIdLeadByte",
    ] {
        assert!(seen.contains(want), "no regression input reaches {want}: {seen:?}");
    }
}
