//! Writes the hostile corpus (`kvs_benches::hostile`) into a folder, checks it, compares the
//! readers with its expectations, or measures every input's peak memory and time.
//!
//! ```sh
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile          # write
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile --check  # compare files
//! cargo run -p kvs-benches --bin hostile-corpus -- --survey                  # readers vs MANIFEST
//! cargo build --release -p kvs-cli --bin kvs-mkv                              # then:
//! cargo run --release -p kvs-benches --bin hostile-corpus -- --peaks         # memory and time
//! ```
//!
//! `--peaks` runs each input of the folder (default `testdata/hostile`) in a child process per
//! layer and prints a table: kvs-ebml and kvs-chunk read it in every mode their `hostile`
//! tests use (the peak is the child's `VmHWM`), `kvs-mkv` (next to this binary, or
//! `--kvs-mkv PATH`) runs the five command lines of its `hostile` test under GNU time
//! (`/usr/bin/time`, the highest `%M` of the five). It ends with the highest peak of each
//! layer and where and on what it was measured.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use kvs_benches::hostile::{self, HostileInput};

/// The bound every layer must stay under, in KiB.
const BOUND_KIB: u64 = 64 * 1024;

fn main() -> ExitCode {
    let mut dir = PathBuf::from("testdata/hostile");
    let mut mode = "write";
    let mut kvs_mkv = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => mode = "check",
            "--survey" => mode = "survey",
            "--peaks" => mode = "peaks",
            "--kvs-mkv" => kvs_mkv = args.next().map(PathBuf::from),
            // Internal: the child half of `--peaks`.
            "--measure" => {
                let (Some(layer), Some(file)) = (args.next(), args.next()) else {
                    eprintln!("hostile-corpus: --measure LAYER FILE");
                    return ExitCode::FAILURE;
                };
                return measure(&layer, Path::new(&file));
            }
            _ if arg.starts_with("--") => {
                eprintln!("hostile-corpus: unknown option {arg}");
                return ExitCode::FAILURE;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    let corpus = match hostile::corpus() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hostile-corpus: {e}");
            return ExitCode::FAILURE;
        }
    };
    match mode {
        "survey" => survey(&corpus),
        "peaks" => peaks(&corpus, &dir, kvs_mkv),
        _ => write_or_check(&corpus, &dir, mode == "check"),
    }
}

fn write_or_check(corpus: &[HostileInput], dir: &Path, check: bool) -> ExitCode {
    let mut files: Vec<(String, Vec<u8>)> =
        corpus.iter().map(|i| (i.name.to_owned(), i.bytes.clone())).collect();
    files.push(("MANIFEST.md".to_owned(), hostile::manifest(corpus).into_bytes()));
    let mut status = ExitCode::SUCCESS;
    if !check && let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("hostile-corpus: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, bytes) in files {
        let path = dir.join(&name);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                eprintln!("hostile-corpus: {} differs from the generator", path.display());
                status = ExitCode::FAILURE;
            }
        } else if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("hostile-corpus: cannot write {}: {e}", path.display());
            status = ExitCode::FAILURE;
        }
    }
    status
}

/// Each input's expected and observed outcome at kvs-ebml and kvs-chunk; fails on a
/// difference.
fn survey(corpus: &[HostileInput]) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for i in corpus {
        let (ebml, chunk) = (hostile::observe_ebml(&i.bytes, 64 << 10), hostile::observe_chunk(&i.bytes));
        let same = ebml == i.expect.ebml() && chunk == i.chunk();
        println!("{} {} | {ebml} | {chunk}", if same { "ok  " } else { "DIFF" }, i.name);
        if !same {
            println!("     expected   | {} | {}", i.expect.ebml(), i.chunk());
            status = ExitCode::FAILURE;
        }
    }
    status
}

/// The child half of `--peaks`: reads `file` through `layer` in every mode, then prints the
/// time it took and this process's peak resident memory.
fn measure(layer: &str, file: &Path) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hostile-corpus: cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let outcome = match layer {
        "ebml" => hostile::run_ebml_modes(&bytes),
        "chunk" => hostile::run_chunk_modes(&bytes),
        _ => {
            eprintln!("hostile-corpus: unknown layer {layer}");
            return ExitCode::FAILURE;
        }
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some(kib) = vm_hwm_kib() else {
        eprintln!("hostile-corpus: no VmHWM in /proc/self/status");
        return ExitCode::FAILURE;
    };
    println!("PEAK_KIB {kib}\nMS {ms:.1}\nOUTCOME {outcome}");
    ExitCode::SUCCESS
}

/// This process's peak resident memory (`VmHWM`), in KiB.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One measurement: peak KiB and milliseconds.
#[derive(Clone, Copy, Default)]
struct Peak {
    kib: u64,
    ms: f64,
}

/// Runs `--measure layer file` in a child process.
fn measure_in_child(exe: &Path, layer: &str, file: &Path) -> Result<Peak, String> {
    let out = Command::new(exe)
        .arg("--measure")
        .arg(layer)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{layer} on {} failed ({}): {}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let kib = field("PEAK_KIB ").and_then(|v| v.parse().ok());
    let ms = field("MS ").and_then(|v| v.parse().ok());
    match (kib, ms) {
        (Some(kib), Some(ms)) => Ok(Peak { kib, ms }),
        _ => Err(format!("{layer} on {}: no measurement in {stdout:?}", file.display())),
    }
}

/// The five command lines of the kvs-cli `hostile` test, each under GNU time: the highest
/// peak and the total time.
fn measure_kvs_mkv(kvs_mkv: &Path, time: &Path, file: &Path) -> Result<Peak, String> {
    let f = file.as_os_str();
    let runs: [(&[&str], bool); 5] = [
        (&["fragments"], false),
        (&["fragments", "--json", "-"], true),
        (&["fragments", "--json", "--resync"], false),
        (&["events", "--json"], false),
        (&["inspect"], false),
    ];
    let mut peak = Peak::default();
    for (args, stdin) in runs {
        let mut cmd = Command::new(time);
        cmd.args(["-f", "PEAK_KIB %M"]).arg(kvs_mkv).args(args);
        if stdin {
            let input = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
            cmd.stdin(input);
        } else {
            cmd.arg(f).stdin(Stdio::null());
        }
        let started = Instant::now();
        let out =
            cmd.stdout(Stdio::null()).output().map_err(|e| format!("cannot run {}: {e}", time.display()))?;
        peak.ms += started.elapsed().as_secs_f64() * 1000.0;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kib: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("PEAK_KIB "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("kvs-mkv {args:?} {}: no peak from GNU time: {stderr}", file.display()))?;
        if !matches!(out.status.code(), Some(0 | 1)) {
            return Err(format!("kvs-mkv {args:?} {}: {}: {stderr}", file.display(), out.status));
        }
        peak.kib = peak.kib.max(kib);
    }
    Ok(peak)
}

fn peaks(corpus: &[HostileInput], dir: &Path, kvs_mkv: Option<PathBuf>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hostile-corpus: {e}");
            return ExitCode::FAILURE;
        }
    };
    let kvs_mkv = kvs_mkv.unwrap_or_else(|| exe.with_file_name("kvs-mkv"));
    if !kvs_mkv.is_file() {
        eprintln!(
            "hostile-corpus: {} not found: build it first (cargo build --release -p kvs-cli --bin kvs-mkv) \
             or pass --kvs-mkv PATH",
            kvs_mkv.display()
        );
        return ExitCode::FAILURE;
    }
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        eprintln!("hostile-corpus: /usr/bin/time (GNU time) not found: apt-get install -y time");
        return ExitCode::FAILURE;
    }
    println!(
        "Hostile corpus ({}): peak resident memory and time of every input through each layer",
        dir.display()
    );
    println!("{}", kvs_benches::provenance());
    println!();
    println!(
        "| input | bytes | kvs-ebml KiB | ms | kvs-chunk KiB | ms | kvs-mkv KiB (highest of 5 runs) | ms (5 runs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut highest = [("", Peak::default()); 3];
    for i in corpus {
        let file = dir.join(i.name);
        let measured = [
            measure_in_child(&exe, "ebml", &file),
            measure_in_child(&exe, "chunk", &file),
            measure_kvs_mkv(&kvs_mkv, time, &file),
        ];
        let mut row = format!("| `{}` | {} ", i.name, i.bytes.len());
        for (m, top) in measured.into_iter().zip(highest.iter_mut()) {
            match m {
                Ok(p) => {
                    row.push_str(&format!("| {} | {:.1} ", p.kib, p.ms));
                    if p.kib > top.1.kib {
                        *top = (i.name, p);
                    }
                }
                Err(e) => {
                    eprintln!("hostile-corpus: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("{row}|");
    }
    println!();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let [ebml, chunk, cli] = highest;
    println!(
        "highest peaks: kvs-ebml {:.1} MiB ({}), kvs-chunk {:.1} MiB ({}), kvs-mkv {:.1} MiB ({}); bound {} MiB",
        mib(ebml.1.kib),
        ebml.0,
        mib(chunk.1.kib),
        chunk.0,
        mib(cli.1.kib),
        cli.0,
        BOUND_KIB / 1024
    );
    if [ebml, chunk, cli].iter().any(|(_, p)| p.kib > BOUND_KIB) {
        println!("OVER THE BOUND");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
