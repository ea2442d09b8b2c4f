//! Replaying the fuzz targets' inputs through their checks on stable Rust, shared by the tests
//! that do it: `crates/ebml/tests/fuzz_regressions.rs` (`tokenizer`),
//! `crates/chunk/tests/fuzz_regressions.rs` (`block`, `decoder`, `aws_tags`) and
//! `crates/images/tests/fuzz_regressions.rs` (`images_request`).
//!
//! Two sets of inputs per target:
//!
//! - `fuzz/regressions/<target>/`, committed: hand-made seeds and minimised finds. A clean
//!   checkout replays them; each target must have at least the number in [`TARGETS`], so a
//!   set that went missing or was emptied fails the test instead of replaying nothing.
//! - `fuzz/corpus/<target>/`, the local fuzzing corpus that `fuzz/run.sh` grows. It is ignored
//!   by git and optional: where it is missing or empty (a clean checkout, CI) it is simply not
//!   part of the replay, and the test is the committed set alone. Where it is there, its first
//!   [`CORPUS_CAP`] files (in name order) are replayed too.

use std::path::{Path, PathBuf};

/// Every fuzz target (`fuzz/fuzz_targets/<target>.rs`), the least number of committed
/// regression inputs it must have, and the test file that replays them.
pub const TARGETS: &[(&str, usize, &str)] = &[
    ("tokenizer", 13, "crates/ebml/tests/fuzz_regressions.rs"),
    ("block", 15, "crates/chunk/tests/fuzz_regressions.rs"),
    ("decoder", 12, "crates/chunk/tests/fuzz_regressions.rs"),
    ("aws_tags", 15, "crates/chunk/tests/fuzz_regressions.rs"),
    ("images_request", 6, "crates/images/tests/fuzz_regressions.rs"),
];

/// At most this many local corpus files are replayed per target, so that a large corpus does
/// not slow the test suite down.
pub const CORPUS_CAP: usize = 3000;

/// How many inputs a replay ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Committed inputs of `fuzz/regressions/<target>/`.
    pub regressions: usize,
    /// Local corpus inputs of `fuzz/corpus/<target>/` (0 where there is none).
    pub corpus: usize,
}

/// The regular files of `dir`, sorted by name; none when `dir` does not exist.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// The least number of committed regression inputs of `target`, from [`TARGETS`].
pub fn minimum(target: &str) -> usize {
    match TARGETS.iter().find(|(t, _, _)| *t == target) {
        Some(&(_, at_least, _)) => at_least,
        None => panic!("fuzz target {target} is not in crates/checks/src/replay.rs TARGETS"),
    }
}

fn run(path: &Path, data: &[u8], check: fn(&[u8])) {
    let result = std::panic::catch_unwind(|| check(data));
    assert!(result.is_ok(), "fuzz input {} fails the check", path.display());
}

/// Replays `fuzz/regressions/<target>/` (at least [`minimum`] inputs, asserted) and then the
/// optional local corpus `fuzz/corpus/<target>/` through `check`; `fuzz` is the `fuzz/`
/// directory. Panics, naming the input, when the check fails on one.
pub fn replay(fuzz: &Path, target: &str, check: fn(&[u8])) -> Replayed {
    let dir = fuzz.join("regressions").join(target);
    let committed = files(&dir);
    let at_least = minimum(target).max(1);
    assert!(
        committed.len() >= at_least,
        "fuzz target {target}: {} committed regression inputs in {}, expected at least {at_least}",
        committed.len(),
        dir.display()
    );
    for path in &committed {
        let data = std::fs::read(path).unwrap();
        run(path, &data, check);
    }

    let mut corpus = files(&fuzz.join("corpus").join(target));
    corpus.truncate(CORPUS_CAP);
    let mut replayed_corpus = 0;
    for path in &corpus {
        // A running fuzzer may remove corpus files while they are read.
        let Ok(data) = std::fs::read(path) else { continue };
        run(path, &data, check);
        replayed_corpus += 1;
    }
    let replayed = Replayed { regressions: committed.len(), corpus: replayed_corpus };
    println!(
        "fuzz target {target}: replayed {} committed regression inputs and {} local corpus inputs",
        replayed.regressions, replayed.corpus
    );
    replayed
}

/// The fuzz targets of `fuzz/fuzz_targets/`, sorted.
pub fn fuzz_targets(fuzz: &Path) -> Vec<String> {
    let mut names: Vec<String> = files(&fuzz.join("fuzz_targets"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}
