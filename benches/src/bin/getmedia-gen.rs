//! Writes a generated GetMedia payload (`kvs_benches::getmedia_fragment`, fragment after
//! fragment) to standard output or a file, without holding more than one fragment in memory:
//! the input of `benches/memory.sh` and of the `compare` harness's process case.
//!
//! ```sh
//! getmedia-gen --bytes 1073741824 | kvs-mkv fragments -
//! getmedia-gen --bytes 500000000 --output /tmp/payload.mkv
//! ```
//!
//! Options: `--bytes N` (stop after the fragment that reaches N bytes; default 1 GiB),
//! `--frames N` per fragment (default 60), `--frame-len N` bytes (default 40,000),
//! `--output FILE` (default standard output).
//!
//! When done it says on standard error how many fragments and bytes it wrote
//! (`getmedia-gen: wrote N fragments, B bytes`), so a reader's count can be checked against it.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use kvs_benches::{GetMediaShape, getmedia_fragment};

fn main() -> ExitCode {
    let mut bytes: u64 = 1 << 30;
    let mut shape = GetMediaShape::default();
    let mut output: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), number) {
            ("--bytes", Some(n)) => bytes = n,
            ("--frames", Some(n)) => shape.frames = usize::try_from(n).unwrap_or(usize::MAX),
            ("--frame-len", Some(n)) => shape.frame_len = usize::try_from(n).unwrap_or(usize::MAX),
            ("--output", _) if value.is_some() => output = value,
            _ => {
                eprintln!("usage: getmedia-gen [--bytes N] [--frames N] [--frame-len N] [--output FILE]");
                return ExitCode::from(2);
            }
        }
    }
    let sink: Box<dyn Write> = match &output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("getmedia-gen: cannot create {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let mut written = 0u64;
    let mut index = 0u64;
    while written < bytes {
        let fragment = match getmedia_fragment(index, &shape) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("getmedia-gen: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = out.write_all(&fragment) {
            // A closed pipe ends the run quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("getmedia-gen: {e}");
            return ExitCode::FAILURE;
        }
        written = written.saturating_add(u64::try_from(fragment.len()).unwrap_or(u64::MAX));
        index = index.saturating_add(1);
    }
    match out.flush() {
        Ok(()) => {
            eprintln!("getmedia-gen: wrote {index} fragments, {written} bytes");
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("getmedia-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
