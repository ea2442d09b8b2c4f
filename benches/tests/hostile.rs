//! The hostile corpus against its generator (`kvs_benches::hostile`): the committed
//! `testdata/hostile/` files and MANIFEST are what the generator makes, byte for byte (what
//! `hostile-corpus --check` checks, run by `cargo test`); each input's hand-written expectation
//! is what kvs-ebml and kvs-chunk do with it; and the comparison notices an outcome that
//! changes kind, offset, count, or turns from an error into a clean end.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::path::{Path, PathBuf};

use kvs_benches::hostile::{self, Expect, HostileInput};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile")
}

fn corpus() -> Vec<HostileInput> {
    hostile::corpus().unwrap()
}

#[test]
fn the_committed_corpus_and_manifest_are_what_the_generator_makes() {
    let corpus = corpus();
    let mut expected: Vec<(String, Vec<u8>)> =
        corpus.iter().map(|i| (i.name.to_owned(), i.bytes.clone())).collect();
    expected.push(("MANIFEST.md".to_owned(), hostile::manifest(&corpus).into_bytes()));
    let regenerate = "regenerate with `cargo run -p kvs-benches --bin hostile-corpus -- testdata/hostile`";
    for (name, bytes) in &expected {
        let on_disk = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}; {regenerate}"));
        if name == "MANIFEST.md" {
            // As text, so that a difference shows the rows.
            assert_eq!(String::from_utf8_lossy(&on_disk), String::from_utf8_lossy(bytes), "{regenerate}");
        }
        assert!(on_disk == *bytes, "testdata/hostile/{name} differs from the generator; {regenerate}");
    }
    let mut names: Vec<String> = expected.into_iter().map(|(n, _)| n).collect();
    names.sort();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, names, "testdata/hostile/ holds files the generator does not make");
}

/// Whether what kvs-ebml and kvs-chunk did (`ebml`, `chunk`, as the MANIFEST writes them)
/// is what `expect` says.
fn agrees(input: &HostileInput, ebml: &str, chunk: &str) -> bool {
    input.expect.ebml() == ebml && input.chunk() == chunk
}

#[test]
fn every_input_ends_as_its_defect_says() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "{} inputs", corpus.len());
    let mut wrong = Vec::new();
    for i in &corpus {
        let (ebml, chunk) = (hostile::observe_ebml(&i.bytes, 64 << 10), hostile::observe_chunk(&i.bytes));
        if !agrees(i, &ebml, &chunk) {
            wrong.push(format!(
                "{}: expected {} | {}, got {ebml} | {chunk}",
                i.name,
                i.expect.ebml(),
                i.chunk()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every way one expectation can be wrong by one step: another kind, another offset, another
/// count, an error instead of a clean end or the other way round.
fn mutants(e: Expect) -> Vec<Expect> {
    match e {
        Expect::Clean { docs, frames } => vec![
            Expect::Clean { docs: docs + 1, frames },
            Expect::Clean { docs, frames: frames + 1 },
            Expect::Fatal { kind: "UnexpectedEof", offset: 0, docs, frames },
            Expect::Recovered { error: "Block:Truncated", offset: 0, docs, frames },
        ],
        Expect::Fatal { kind, offset, docs, frames } => vec![
            Expect::Fatal {
                kind: if kind == "TooLarge" { "BufferLimit" } else { "TooLarge" },
                offset,
                docs,
                frames,
            },
            Expect::Fatal { kind, offset: offset + 1, docs, frames },
            Expect::Fatal { kind, offset, docs, frames: frames + 1 },
            Expect::Recovered { error: kind, offset, docs, frames },
            Expect::Clean { docs, frames },
        ],
        Expect::Recovered { error, offset, docs, frames } => vec![
            Expect::Recovered {
                error: if error == "Block:Truncated" { "Block:LaceOverflow" } else { "Block:Truncated" },
                offset,
                docs,
                frames,
            },
            Expect::Recovered { error, offset: offset + 1, docs, frames },
            Expect::Recovered { error, offset, docs, frames: frames + 1 },
            Expect::Fatal { kind: error, offset, docs, frames },
            Expect::Clean { docs, frames },
        ],
        Expect::NotEbml { kind, offset } => vec![
            Expect::NotEbml { kind: if kind == "TooLarge" { "BufferLimit" } else { "TooLarge" }, offset },
            Expect::NotEbml { kind, offset: offset + 1 },
            Expect::Fatal { kind, offset, docs: 0, frames: 0 },
            Expect::Clean { docs: 0, frames: 0 },
        ],
    }
}

/// The check above fails when an outcome changes: no wrong expectation agrees with what the
/// readers do.
#[test]
fn an_outcome_that_changes_kind_offset_count_or_ending_fails_the_check() {
    for i in &corpus() {
        let (ebml, chunk) = (hostile::observe_ebml(&i.bytes, 64 << 10), hostile::observe_chunk(&i.bytes));
        assert!(agrees(i, &ebml, &chunk), "{}", i.name);
        for wrong in mutants(i.expect) {
            let mutant = HostileInput { expect: wrong, ..i.clone() };
            assert!(!agrees(&mutant, &ebml, &chunk), "{}: {wrong:?} agrees with {ebml} | {chunk}", i.name);
        }
        // A warning expected and not given, or given and not expected, fails too.
        let other = if i.warnings.is_empty() { "tracks-replaced x1" } else { "" };
        let mutant = HostileInput { warnings: other, ..i.clone() };
        assert!(!agrees(&mutant, &ebml, &chunk), "{}: warnings {other:?} agree with {chunk}", i.name);
    }
}

/// The MANIFEST's table has one parseable row per input, with the columns the `hostile` tests
/// of kvs-ebml, kvs-chunk and kvs-cli read (3, 4 and 5).
#[test]
fn the_manifest_rows_are_the_expectations() {
    let corpus = corpus();
    let manifest = hostile::manifest(&corpus);
    let rows: Vec<Vec<&str>> = manifest
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_start_matches("| ").trim_end_matches(" |").split(" | ").collect())
        .collect();
    assert_eq!(rows.len(), corpus.len());
    for (row, i) in rows.iter().zip(&corpus) {
        assert_eq!(row.len(), 6, "{}: a ` | ` in the defect?", i.name);
        assert_eq!(row[0], format!("`{}`", i.name));
        assert_eq!(row[1], i.bytes.len().to_string());
        assert_eq!(row[3], i.expect.ebml());
        assert_eq!(row[4], i.chunk());
        assert_eq!(row[5], i.expect.exit().to_string());
    }
}
