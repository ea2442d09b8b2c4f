//! The library's writers on a real payload: [`Merger`] and [`Splitter`] on
//! `testdata/getmedia_basic.mkv` (five GetMedia fragments of 30 H.264 frames each), with and
//! without their Tracks before the clusters; what they write reads back with every frame.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};

use kvs_chunk::{Event, Events};
use kvs_mux::merge::nth_path;
use kvs_mux::{Merger, Outcome, Splitter};

const BASIC: &[u8] = include_bytes!("../../../testdata/getmedia_basic.mkv");

fn events() -> Vec<Event> {
    Events::new(bytes::Bytes::from_static(BASIC)).collect::<Result<_, _>>().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-mux-writers-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Frames per document of a written file.
fn frames_of(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    Events::new(bytes.into()).filter(|e| matches!(e, Ok(Event::Frame(_)))).count()
}

/// A writer taking events, which may ask for Tracks before a Cluster.
trait Writer {
    fn push(&mut self, e: Event);
    fn needs_tracks(&self) -> bool;
}

impl Writer for Merger {
    fn push(&mut self, e: Event) {
        self.event(e).unwrap();
    }
    fn needs_tracks(&self) -> bool {
        Merger::needs_tracks(self)
    }
}

/// A splitter and the outcomes it gave.
struct Split(Splitter, Vec<Outcome>);

impl Writer for Split {
    fn push(&mut self, e: Event) {
        self.1.extend(self.0.event(e).unwrap());
    }
    fn needs_tracks(&self) -> bool {
        self.0.needs_tracks()
    }
}

/// Pushes the events with every Tracks event held back until the Cluster that needs it, as
/// a caller reading Tracks ahead does; returns how often the writer asked for them.
fn tracks_late(w: &mut impl Writer) -> u64 {
    let mut held = None;
    let mut asked = 0;
    for e in events() {
        match e {
            Event::Tracks(t) => held = Some(t),
            Event::Cluster { .. } if w.needs_tracks() => {
                asked += 1;
                w.push(Event::Tracks(held.take().unwrap()));
                w.push(e);
            }
            e => w.push(e),
        }
    }
    asked
}

#[test]
fn the_merger_writes_one_continuous_file() {
    let dir = scratch("merge");
    let base = dir.join("merged.mkv");
    let mut merger = Merger::new(&base);
    assert!(merger.needs_tracks());
    for e in events() {
        merger.event(e).unwrap();
    }
    let (files, dropped) = merger.finish();
    let files = files.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, base);
    assert_eq!((files[0].frames, files[0].clusters), (150, 5));
    // Five fragments of 30 frames at 30 fps, one after the other from 0.
    assert!((4_900_000_000..=5_100_000_000).contains(&files[0].duration_ns), "{}", files[0].duration_ns);
    assert!(dropped.lines().is_empty(), "{:?}", dropped.lines());
    assert_eq!(frames_of(&base), 150);
    assert_eq!(std::fs::metadata(&base).unwrap().len(), files[0].bytes);
}

#[test]
fn the_merger_takes_tracks_read_ahead_before_a_cluster() {
    let dir = scratch("merge-late");
    let base = dir.join("late.mkv");
    let mut merger = Merger::new(&base);
    assert_eq!(tracks_late(&mut merger), 5, "once per document");
    let (files, dropped) = merger.finish();
    let files = files.unwrap();
    assert_eq!((files.len(), files[0].frames), (1, 150));
    assert!(dropped.lines().is_empty(), "{:?}", dropped.lines());
    assert_eq!(frames_of(&base), 150);
}

#[test]
fn merged_files_are_numbered_after_the_first() {
    let base = Path::new("out/merged.mkv");
    assert_eq!(nth_path(base, 0), base);
    assert_eq!(nth_path(base, 2), Path::new("out/merged-2.mkv"));
    assert_eq!(nth_path(Path::new("noext"), 1), Path::new("noext-1.mkv"));
}

#[test]
fn the_splitter_writes_a_file_per_fragment_named_by_number_and_producer_time() {
    let dir = scratch("split");
    let mut splitter = Splitter::new(&dir);
    let mut written = Vec::new();
    for e in events() {
        match splitter.event(e).unwrap() {
            Some(Outcome::Written { stats, kvs, complete }) => {
                assert!(kvs && complete);
                written.push(stats);
            }
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    let (last, dropped) = splitter.finish();
    assert!(last.unwrap().is_none(), "every fragment ended");
    assert!(dropped.lines().is_empty(), "{:?}", dropped.lines());
    assert_eq!(written.len(), 5);
    assert_eq!(
        written[0].path.file_name().and_then(|n| n.to_str()),
        Some("91343852333181500000000000000000000000000000001_20231114T221319.513Z.mkv")
    );
    for stats in &written {
        assert_eq!(stats.frames, 30);
        assert_eq!(frames_of(&stats.path), 30);
    }
}

#[test]
fn the_splitter_takes_tracks_read_ahead_and_skips_a_fragment_without_frames() {
    let dir = scratch("split-late");
    let mut split = Split(Splitter::new(&dir), Vec::new());
    assert_eq!(tracks_late(&mut split), 5, "once per document");
    let outcomes = split.1;
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Written { stats, .. } if stats.frames == 30)));

    // A document that ends before any cluster writes nothing.
    let mut splitter = Splitter::new(&dir);
    let mut skipped = None;
    for e in events().into_iter().take_while(|e| !matches!(e, Event::Cluster { .. })) {
        assert!(splitter.event(e).unwrap().is_none());
    }
    let end = events().into_iter().find(|e| matches!(e, Event::FragmentEnd(_))).unwrap();
    if let Some(Outcome::Skipped { index, reason }) = splitter.event(end).unwrap() {
        skipped = Some((index, reason));
    }
    assert_eq!(skipped, Some((0, "no frames")));
}

#[test]
fn the_connect_writer_writes_both_call_tracks_per_contact() {
    use kvs_mux::ConnectWriter;
    use kvs_mux::wav::parse_mime;
    let dir = scratch("connect");
    let input = bytes::Bytes::from_static(include_bytes!("../../../testdata/connect_audio.mkv"));
    let mut c = ConnectWriter::new(&dir);
    for e in Events::new(input) {
        match e.unwrap() {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => c.document_start(),
            Event::Tracks(t) => c.set_tracks(t).unwrap(),
            Event::Tag(t) if t.name == "ContactId" => c.set_contact(t.value.as_text().as_deref()),
            Event::Tag(t) if t.name == "MimeType" => {
                c.set_mime(t.value.as_text().and_then(|m| parse_mime(&m)))
            }
            Event::Frame(f) => c.frame(&f).unwrap(),
            _ => {}
        }
    }
    c.close().unwrap();
    assert_eq!(c.orphans(), 0);
    assert!(c.frames() > 0);
    let names: Vec<String> =
        c.written().iter().map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "5f0c9a3e-1b2d-4c6e-8f7a-0d1e2f3a4b5c_AUDIO_FROM_CUSTOMER.wav",
            "5f0c9a3e-1b2d-4c6e-8f7a-0d1e2f3a4b5c_AUDIO_TO_CUSTOMER.wav"
        ]
    );
    for w in c.written() {
        assert_eq!(w.bytes, 15360);
        assert_eq!(std::fs::metadata(&w.path).unwrap().len(), 44 + w.bytes);
        assert_eq!((w.pcm.rate, w.pcm.channels, w.pcm.bits), (8000, 1, 16));
    }
}
