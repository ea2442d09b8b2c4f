//! Writes the hostile corpus (`kvs_benches::hostile`) into a folder, or checks it.
//!
//! ```sh
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile          # write
//! cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile --check  # compare
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut dir = PathBuf::from("testdata/hostile");
    let mut check = false;
    let mut survey = false;
    for arg in std::env::args().skip(1) {
        if arg == "--check" {
            check = true;
        } else if arg == "--survey" {
            survey = true;
        } else {
            dir = PathBuf::from(arg);
        }
    }
    let corpus = match kvs_benches::hostile::corpus() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hostile-corpus: {e}");
            return ExitCode::FAILURE;
        }
    };
    if survey {
        for i in &corpus {
            println!(
                "{} | {} | {}",
                i.name,
                kvs_benches::hostile::ebml_outcome(&i.bytes),
                kvs_benches::hostile::chunk_outcome(&i.bytes)
            );
        }
        return ExitCode::SUCCESS;
    }
    let mut files: Vec<(String, Vec<u8>)> =
        corpus.iter().map(|i| (i.name.to_owned(), i.bytes.clone())).collect();
    files.push(("MANIFEST.md".to_owned(), kvs_benches::hostile::manifest(&corpus).into_bytes()));
    let mut status = ExitCode::SUCCESS;
    if !check && let Err(e) = std::fs::create_dir_all(&dir) {
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
