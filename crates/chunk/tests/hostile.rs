//! The hostile corpus (`testdata/hostile/`, described in its `MANIFEST.md`) through kvs-chunk:
//! every input gives the errors (kind and byte offset) and the documents and frames the
//! manifest says (written from its defect by `kvs_benches::hostile`), the same
//! whether it comes whole (`Events`), through `ReadEvents` (64 KiB and 1-byte reads) or fed
//! to `EventDecoder` one byte at a time; with resynchronisation it ends too; all in bounded
//! time and a bounded number of events. Each input, run in a child process under a 64 MiB
//! data limit (`prlimit`; without it the test fails under `CI=true` and records a visible skip
//! of the hard limit elsewhere), peaks at 64 MiB of resident memory or less.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use kvs_chunk::{Error, Event, EventDecoder, Events, Options, ReadEvents};

use kvs_checks::hostile as harness;

use harness::{manifest, read};

/// No input may take longer than this in any one mode.
const MAX_TIME: Duration = Duration::from_secs(5);

fn variant(debug: &str) -> String {
    debug.split([' ', '{', '(']).next().unwrap().to_owned()
}

/// An error as the manifest writes it: its name and its offset
/// (`Block:LaceOverflow at 288`).
fn error_name(e: &Error) -> String {
    let at = e.offset().map_or_else(|| "no offset".to_owned(), |o| o.to_string());
    format!("{} at {at}", name(e))
}

/// An error's name as the manifest writes it (`Ebml:TooDeep`, `InvalidTagValue:ServerTimestamp`).
fn name(e: &Error) -> String {
    match e {
        Error::Ebml(inner) => format!("Ebml:{}", variant(&format!("{:?}", inner.kind))),
        Error::Block { kind, .. } => format!("Block:{kind:?}"),
        Error::InvalidTagValue { tag, .. } => format!("InvalidTagValue:{tag:?}"),
        other => variant(&format!("{other:?}")),
    }
}

/// The manifest's summary of a result sequence, checking that it does not run away.
fn outcome(items: impl Iterator<Item = Result<Event, Error>>, len: usize) -> String {
    let cap = len * 64 + 64;
    let mut errors = Vec::new();
    let (mut docs, mut frames, mut n) = (0u64, 0u64, 0usize);
    // Warning kinds in order of first appearance, with counts.
    let mut warnings: Vec<(&str, u64)> = Vec::new();
    for item in items {
        n += 1;
        assert!(n <= cap, "runaway: more than {cap} items from {len} bytes");
        match item {
            Ok(Event::DocumentStart { .. }) => docs += 1,
            Ok(Event::Frame(_)) => frames += 1,
            Ok(Event::Warning(w)) => match warnings.iter_mut().find(|(k, _)| *k == w.kind.name()) {
                Some((_, c)) => *c += 1,
                None => warnings.push((w.kind.name(), 1)),
            },
            Ok(_) => {}
            Err(e) => errors.push(error_name(&e)),
        }
    }
    let errors = if errors.is_empty() { "clean".to_owned() } else { errors.join(", ") };
    let warnings = if warnings.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = warnings.iter().map(|(k, c)| format!("{k} x{c}")).collect();
        format!("; warnings: {}", list.join(", "))
    };
    format!("{errors}; {docs} docs, {frames} frames{warnings}")
}

/// `EventDecoder` fed one byte at a time.
fn bytewise(data: &Bytes, opts: Options) -> Vec<Result<Event, Error>> {
    let mut decoder = EventDecoder::with_options(opts);
    let mut out = Vec::new();
    let cap = data.len() * 64 + 64;
    let pull = |decoder: &mut EventDecoder, out: &mut Vec<Result<Event, Error>>| {
        while let Some(item) = decoder.next_event().transpose() {
            out.push(item);
            assert!(out.len() <= cap, "runaway");
        }
    };
    for i in 0..data.len() {
        decoder.feed(data.slice(i..i + 1));
        pull(&mut decoder, &mut out);
    }
    decoder.finish();
    pull(&mut decoder, &mut out);
    out
}

/// Every way of reading one input: all must agree, and finish in time.
fn run_all_modes(name: &str, data: &Bytes) -> String {
    let started = Instant::now();
    let expected = outcome(Events::new(data.clone()), data.len());
    let read64 = outcome(ReadEvents::new(std::io::Cursor::new(data.to_vec())), data.len());
    assert_eq!(read64, expected, "{name}: ReadEvents (64 KiB) differs");
    let read1 = outcome(ReadEvents::new(std::io::Cursor::new(data.to_vec())).read_size(1), data.len());
    assert_eq!(read1, expected, "{name}: ReadEvents (1 byte) differs");
    let fed = outcome(bytewise(data, Options::default()).into_iter(), data.len());
    assert_eq!(fed, expected, "{name}: EventDecoder fed bytewise differs");
    let resync = Options::default().resync(true);
    let a = outcome(Events::with_options(data.clone(), resync), data.len());
    let b = outcome(bytewise(data, resync).into_iter(), data.len());
    assert_eq!(a, b, "{name}: with resync, bytewise differs");
    assert!(started.elapsed() < MAX_TIME * 3, "{name}: too slow: {:?}", started.elapsed());
    expected
}

#[test]
fn every_hostile_input_ends_as_the_manifest_says_in_every_mode() {
    let rows = manifest(4);
    assert!(rows.len() >= 30, "{} inputs", rows.len());
    for (name, expected) in rows {
        let data = read(&name);
        assert_eq!(run_all_modes(&name, &data), expected, "{name}");
    }
}

/// With resynchronisation, the inputs whose defect sits between valid elements go on past it.
#[test]
fn resync_reads_past_the_defect() {
    let data = read("zero_lead_id_in_segment.mkv");
    let events: Vec<_> = Events::with_options(data, Options::default().resync(true)).collect();
    assert!(events.iter().any(|e| matches!(e, Ok(Event::Resynced { .. }))), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Ok(Event::Cluster { .. }))), "{events:?}");
}

/// The child half of [`each_hostile_input_peaks_under_64_mib`].
#[test]
fn child_run_one_input() {
    harness::child_run_one_input(|name, data| {
        run_all_modes(name, data);
    });
}

#[test]
fn each_hostile_input_peaks_under_64_mib() {
    harness::each_input_peaks_under_64_mib("child_run_one_input", MAX_TIME * 6);
}
