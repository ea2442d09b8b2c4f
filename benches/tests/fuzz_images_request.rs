//! Replays `fuzz/regressions/images_request/` (and the local corpus `fuzz/corpus/images_request/`
//! when present) through the `images_request` fuzz target's check on stable Rust.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

#[path = "../../fuzz/checks/images_request.rs"]
mod images_request;

use std::path::Path;

fn replay(dir: &Path, at_least: usize) {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    assert!(files.len() >= at_least, "{} inputs in {}", files.len(), dir.display());
    files.truncate(3000);
    for path in files {
        let Ok(data) = std::fs::read(&path) else { continue };
        let ok = std::panic::catch_unwind(|| images_request::check(&data)).is_ok();
        assert!(ok, "fuzz input {} fails the check", path.display());
    }
}

#[test]
fn images_request_regressions() {
    replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/images_request"), 4);
}

#[test]
fn images_request_corpus() {
    replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/images_request"), 0);
}
