//! What every `kvs-mkv` test needs: the binary and the fixtures.

#![allow(dead_code)] // each test file needs a subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `kvs-mkv` binary this package builds.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvs-mkv"))
}

/// The project's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}
