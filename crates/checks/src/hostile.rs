//! The harness of the hostile-corpus tests, shared by the `hostile` tests of kvs-ebml,
//! kvs-chunk and kvs-cli: where the corpus is, its manifest's columns (the
//! expectations `kvs_benches::hostile` writes from each input's defect), and running a child
//! process under the 64 MiB data limit (`prlimit`) and a time limit, with its peak resident
//! memory read back. A missing `prlimit` or `/proc` fails the test under `CI=true` and is a
//! visible, logged skip of that bound elsewhere (`kvs_testkit::skip`), never a silent one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The memory bound of the issue: 64 MiB.
pub const MAX_PEAK_KIB: u64 = 64 * 1024;

/// `testdata/hostile/` (from this crate's directory, `crates/checks/`).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostile")
}

/// The manifest's rows: each file's name and the text of its column `column` (0 is the name).
pub fn manifest(column: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            let name = cols[0].trim_start_matches("| ").trim_matches('`').to_owned();
            (name, cols[column].trim_end_matches(" |").trim().to_owned())
        })
        .collect()
}

/// One input of the corpus.
pub fn read(name: &str) -> Bytes {
    Bytes::from(std::fs::read(dir().join(name)).unwrap())
}

/// The command line prefix that puts a child under the 64 MiB data limit (`prlimit`,
/// util-linux). Without `prlimit` it fails the test under CI; elsewhere it records a visible
/// skip of the hard limit (the peak is still measured and bounded) and returns no prefix.
/// Call it once per test.
#[track_caller]
pub fn limit_prefix() -> Vec<String> {
    match kvs_testkit::prlimit() {
        Some(prlimit) => vec![
            prlimit.to_string_lossy().into_owned(),
            format!("--data={}", MAX_PEAK_KIB * 1024),
            "--".into(),
        ],
        None => Vec::new(),
    }
}

/// Waits for `child`, killing it (and failing the test) after `limit`: a hang is a failure.
pub fn wait_or_kill(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    // Drained while the child runs: output larger than a pipe's buffer must not block it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("{what}: did not finish in {limit:?} (a hang?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The child half of [`each_input_peaks_under_64_mib`]: when this process was started for the
/// input named by `KVS_HOSTILE_FILE`, runs `run` on it and prints its peak resident memory.
pub fn child_run_one_input(run: impl FnOnce(&str, &Bytes)) {
    let Ok(name) = std::env::var("KVS_HOSTILE_FILE") else { return };
    run(&name, &read(&name));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    println!("\nPEAK {}", hwm.split_whitespace().nth(1).unwrap_or("0"));
}

/// Runs this test binary's test `child_test` (which calls [`child_run_one_input`]) once per
/// input, each in its own process under the data limit and `time_limit`; every child must
/// succeed and peak at 64 MiB or less. Prints the peaks.
pub fn each_input_peaks_under_64_mib(child_test: &str, time_limit: Duration) {
    if !Path::new("/proc/self/status").exists() {
        kvs_testkit::skip("/proc/self/status", "peak memory is read from it: run the tests on Linux");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let prefix = limit_prefix();
    let mut report = Vec::new();
    for (name, _) in manifest(0) {
        let mut argv: Vec<String> = prefix.clone();
        argv.push(exe.to_str().unwrap().to_owned());
        argv.extend(["--exact", child_test, "--nocapture", "--test-threads=1"].map(String::from));
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("KVS_HOSTILE_FILE", &name)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_or_kill(child, time_limit, &name);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: child failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let peak: u64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("PEAK "))
            .unwrap_or_else(|| panic!("{name}: no peak reported:\n{stdout}"))
            .trim()
            .parse()
            .unwrap();
        assert!(peak <= MAX_PEAK_KIB, "{name}: peak {peak} KiB");
        report.push(format!("{name}: {peak} KiB"));
    }
    println!("peak resident memory per input (all modes):\n{}", report.join("\n"));
}
