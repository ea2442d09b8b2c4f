//! Replays the `tokenizer` fuzz target's inputs on stable Rust through the same differential
//! check as `fuzz/fuzz_targets/tokenizer.rs` (streaming `Tokenizer` in chunks versus
//! `SliceTokenizer` on the whole input, with and without resynchronisation): every committed
//! file of `fuzz/regressions/tokenizer/` (hand-made seeds and minimised fuzzer finds; at least
//! the number listed in `kvs_checks::replay`, so a clean checkout always replays them),
//! then the local corpus `fuzz/corpus/tokenizer/`.
//!
//! The local corpus is optional: it is ignored by git and grown by `fuzz/run.sh`. Where it is
//! missing or empty (a clean checkout, CI) it is simply not part of the test; where it is
//! there, up to 3,000 of its files are replayed after the committed ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use kvs_checks::replay;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn fuzz_regressions_and_local_corpus_pass_the_differential_check() {
    replay::replay(&fuzz_dir(), "tokenizer", kvs_checks::differential::check);
}

/// The regression inputs are not vacuous: between them they reach the tokens and errors the
/// check is about.
#[test]
fn fuzz_regressions_cover_errors_resync_and_documents() {
    use kvs_checks::differential::{chunks_from_seed, options_from_flags, stream_events};
    use kvs_ebml::Token;
    let dir = fuzz_dir().join("regressions/tokenizer");
    let files = replay::files(&dir);
    assert!(files.len() >= replay::minimum("tokenizer"), "{} inputs in {}", files.len(), dir.display());
    let mut seen = std::collections::BTreeSet::new();
    for path in files {
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
