//! Test support shared by every test in the kvs-mkv workspace: the things a test needs from
//! outside the repository (the third-party conformance data in `../shared`, the real AWS CLI,
//! FFmpeg, `/usr/bin/time`, `prlimit`, mkvinfo, a PostgreSQL server: [`postgres`], a headless
//! chromium: [`browser`]) are either
//! there, or their absence is impossible to miss.
//!
//! - Under `CI=true` (or `CI=1`) a missing dependency **fails** the test, with a message that
//!   names what is missing and how `.ci/run` installs it.
//! - Elsewhere (a user's own clone without `../shared`, a laptop without FFmpeg) the test
//!   returns early, prints `SKIPPED: ...` on stderr and appends one line to the skip log
//!   (`$KVS_SKIP_LOG`, else `target/kvs-test-skips.log` of the workspace). `.ci/run` empties
//!   that log before the tests and prints it as one summary at the end, so a skip is never
//!   silent even where `cargo test` hides the output of passing tests.
//!
//! ```
//! // In a test: return early (or fail under CI) when a tool is missing; here the shell.
//! let Some(sh) = kvs_testkit::tool("sh", "apt-get install -y dash") else { return };
//! assert!(sh.is_file());
//! ```

#![allow(clippy::panic)] // failing the test is this crate's job

pub mod browser;
pub mod mkv;
pub mod oracle;
pub mod postgres;
pub mod upstream;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The workspace root (the folder of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the tests run in CI (`CI` is `true` or `1`, as `.ci/run` and most CI systems set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Where skipped tests are recorded: `$KVS_SKIP_LOG`, else `target/kvs-test-skips.log`.
pub fn skip_log() -> PathBuf {
    match std::env::var_os("KVS_SKIP_LOG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/kvs-test-skips.log"),
    }
}

/// The test that calls this cannot run because `what` is missing (`how` says how to get it).
///
/// Under CI this panics (the test fails, naming `what`); elsewhere it prints `SKIPPED` on
/// stderr and records the skip in [`skip_log`]. The caller returns right after it.
#[track_caller]
pub fn skip(what: &str, how: &str) {
    let test = current_test();
    let caller = std::panic::Location::caller();
    if in_ci() {
        panic!("missing test dependency under CI=true: {what} ({how}); test {test} at {caller}");
    }
    let line = format!("{test} ({caller}): {what} missing; {how}");
    eprintln!("SKIPPED: {line}");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&log) {
        // One write of the whole line: tests in parallel (threads and processes) append to
        // the same file, and O_APPEND keeps a single write whole.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// The `shared/` folder: `$KVS_SHARED_DIR` when set, else `../shared` beside the workspace.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("KVS_SHARED_DIR") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("../shared"),
    }
}

/// `conformance/` of [`shared_dir`] (the third-party captures and files, read at run time and
/// never copied into the repository), or `None` after [`skip`].
#[track_caller]
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = shared_dir().join("conformance");
    if dir.is_dir() {
        record_use("../shared/conformance");
        Some(dir)
    } else {
        let what = format!("the conformance data {}", dir.display());
        skip(&what, "clone the project with its shared/ folder beside it, or set KVS_SHARED_DIR");
        None
    }
}

/// A folder or file under `../shared/conformance`, or `None` after [`skip`] (also when it
/// is missing from a `shared/` that is otherwise there).
#[track_caller]
pub fn conformance_path(rel: &str) -> Option<PathBuf> {
    let dir = conformance_dir()?;
    let p = dir.join(rel);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("the conformance file {}", p.display()), "the shared/ folder is incomplete");
        None
    }
}

/// The test running on this thread, as `binary::test::path` (the test binary's name without
/// cargo's hash, and the thread name libtest gives the test).
pub fn current_test() -> String {
    let binary = std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let binary = match binary.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            stem.to_owned()
        }
        _ => binary,
    };
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    format!("{binary}::{test}")
}

/// Records that the running test uses `dependency`, when `$KVS_USE_LOG` names a file
/// (`.ci/run` sets it and prints, from it, how many tests ran the real AWS CLI, FFmpeg, ...).
pub fn record_use(dependency: &str) {
    let Some(log) = std::env::var_os("KVS_USE_LOG").filter(|p| !p.is_empty()) else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        // One write of the whole line (see `skip`).
        let _ = f.write_all(format!("{dependency}\t{}\n", current_test()).as_bytes());
    }
}

/// An executable found on `PATH` (or at `name` itself when it holds a `/`), or `None` after
/// [`skip`], naming `name` and `how` it is installed. A found tool is recorded with
/// [`record_use`].
#[track_caller]
pub fn tool(name: &str, how: &str) -> Option<PathBuf> {
    match find_on_path(name) {
        Some(p) => {
            record_use(name);
            Some(p)
        }
        None => {
            skip(&format!("`{name}`"), how);
            None
        }
    }
}

/// An executable on `PATH` (or `name` itself when it holds a `/`), without skipping.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real AWS CLI (`aws`), or `None` after [`skip`]. `.ci/run` installs it from PyPI into a
/// virtual environment and puts it on `PATH`.
#[track_caller]
pub fn aws_cli() -> Option<PathBuf> {
    tool("aws", "python3 -m venv V && V/bin/pip install awscli, with V/bin on PATH (.ci/run does this)")
}

/// `ffmpeg` and `ffprobe`, or `None` after [`skip`].
#[track_caller]
pub fn ffmpeg() -> Option<(PathBuf, PathBuf)> {
    let ffmpeg = tool("ffmpeg", "apt-get install -y ffmpeg")?;
    let ffprobe = tool("ffprobe", "apt-get install -y ffmpeg")?;
    Some((ffmpeg, ffprobe))
}

/// `mkvinfo` (MKVToolNix), or `None` after [`skip`].
#[track_caller]
pub fn mkvinfo() -> Option<PathBuf> {
    tool("mkvinfo", "apt-get install -y mkvtoolnix")
}

/// GNU time at `/usr/bin/time` (peak memory of a child), or `None` after [`skip`].
#[track_caller]
pub fn gnu_time() -> Option<PathBuf> {
    tool("/usr/bin/time", "apt-get install -y time")
}

/// `prlimit` (util-linux), or `None` after [`skip`].
#[track_caller]
pub fn prlimit() -> Option<PathBuf> {
    tool("prlimit", "apt-get install -y util-linux")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_on_path_and_not_a_made_up_name() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("kvs-testkit-no-such-tool").is_none());
        assert!(find_on_path("/bin/sh").is_some());
    }
}
