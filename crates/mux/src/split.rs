//! Each fragment (document) as a standalone, playable MKV file ([`Splitter`], `kvs-mkv
//! split`).
//!
//! Files are named `<fragment number>_<producer time>.mkv` (the producer time as
//! `YYYYMMDDTHHMMSS.mmmZ`; the server time when there is no producer time; nothing when
//! neither is known). A document without a fragment number (a plain Matroska file) is
//! `document-<index>` instead. The fragment number comes from the producer's stream, so
//! every character outside `[0-9A-Za-z._-]` becomes `_` (and a leading `.` too), and one
//! longer than 64 characters keeps its first 48 followed by `-h` and the CRC-32 of the whole
//! number in hex: a name always fits the file system and stays inside the output directory.
//! A name already used in this run gets `-1`, `-2`, ... added (counted in a map, without
//! asking the file system). A file that cannot be written fails that fragment only.
//! Timestamps, tracks and tags (the service's and the producer's) are kept as they were,
//! so each file reads back as the same fragment with the same frames.
//!
//! Each Tracks event replaces the document's track list (the last one before its first
//! cluster is the file's). Only tracks a block can refer to are written, each number once
//! (the first TrackEntry of a number is kept), and only frames of the tracks the file
//! declares; tags larger than kvs-mkv reads are left out. What was left out is counted in
//! [`Dropped`] (one line per kind at the end of the run). A document whose Tracks come after
//! its clusters: [`Splitter::needs_tracks`] says so before its first Cluster is pushed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kvs_chunk::{Event, FragmentMetadata, Track};

use kvs_chunk::analysis::Durations;

use crate::mkv::{Dropped, FileStats, MkvFile, OutError, TagCollector, aws_end_tags, aws_start_tags, group};

/// What one document became.
#[derive(Debug)]
pub enum Outcome {
    /// A file was written.
    Written {
        /// The file.
        stats: FileStats,
        /// The document is a KVS fragment (it has a fragment number).
        kvs: bool,
        /// It ended with its continuation token.
        complete: bool,
    },
    /// The document had no frames (an error chunk, or cut before its cluster).
    Skipped {
        /// The document's index in the input.
        index: u64,
        /// Why: `an in-stream error chunk` or `no frames`.
        reason: &'static str,
    },
    /// Its file could not be written: this document is lost, the run goes on (the partial
    /// file is removed; the rest of the document is ignored).
    Failed {
        /// The document's index in the input.
        index: u64,
        /// What went wrong.
        error: OutError,
    },
}

#[derive(Default)]
struct Doc {
    index: u64,
    tracks: Vec<Track>,
    metadata: Option<FragmentMetadata>,
    error: Option<kvs_chunk::ErrorChunk>,
    pre_tags: TagCollector,
    post_tags: TagCollector,
    scale: u64,
    clusters: u64,
    file: Option<MkvFile>,
    /// Where `file` is written.
    path: Option<PathBuf>,
    /// Writing this document's file failed (already reported).
    failed: bool,
    /// A Tracks event came for this document.
    saw_tracks: bool,
}

/// Splits events into one file per document: push every event of the input
/// ([`Splitter::event`]); each document's end gives its [`Outcome`].
pub struct Splitter {
    dir: PathBuf,
    /// Every name used in this run, with the last `-N` suffix tried for it.
    names: HashMap<String, u32>,
    doc: Doc,
    durations: Durations,
    /// What was left out of the files.
    pub dropped: Dropped,
}

/// `20171128T065509.126Z`.
pub fn compact_time(ms: i64) -> String {
    crate::text::iso_ms(ms).replace(['-', ':'], "")
}

/// Fragment numbers longer than this are shortened (the service's are 47 digits).
const MAX_ID_CHARS: usize = 64;
/// How much of a shortened fragment number is kept before its hash.
const KEPT_ID_CHARS: usize = 48;

/// The fragment number as a safe, bounded part of a file name: characters outside
/// `[0-9A-Za-z._-]` (and a leading `.`) become `_`; beyond [`MAX_ID_CHARS`] the first
/// [`KEPT_ID_CHARS`] are kept and `-h` with the CRC-32 of the whole original number added.
fn safe_id(number: &str) -> String {
    let mut safe: String =
        number
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || (c == '.' && i > 0) { c } else { '_' }
            })
            .collect();
    if safe.is_empty() {
        safe.push('_');
    }
    if safe.len() > MAX_ID_CHARS {
        // All ASCII now, so any byte index is a character boundary.
        safe.truncate(KEPT_ID_CHARS);
        safe.push_str(&format!("-h{:08x}", crc32fast::hash(number.as_bytes())));
    }
    safe
}

/// `<fragment number>_<time>`, as [`Splitter`] names a fragment's file (without the `-N`
/// it adds when a name repeats): the number made safe for a file name (or `fragment` when
/// there is none) and the time as [`compact_time`], if known.
pub fn file_stem(fragment_number: Option<&str>, time_ms: Option<i64>) -> String {
    let id = fragment_number.map_or_else(|| "fragment".to_owned(), safe_id);
    match time_ms {
        Some(ms) => format!("{id}_{}", compact_time(ms)),
        None => id,
    }
}

fn base_name(doc: &Doc, first_cluster_ms: i64) -> String {
    let id = doc
        .metadata
        .as_ref()
        .and_then(|m| m.fragment_number.as_ref())
        .map_or_else(|| format!("document-{:05}", doc.index), |n| safe_id(n.as_str()));
    let time = doc.metadata.as_ref().and_then(|m| m.producer_timestamp_ms.or(m.server_timestamp_ms));
    match time {
        Some(ms) => format!("{id}_{}", compact_time(ms)),
        None if doc.metadata.is_none() => format!("{id}_{}", compact_time(first_cluster_ms)),
        None => id,
    }
}

impl Splitter {
    /// A splitter writing into `dir` (which must exist).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            names: HashMap::new(),
            doc: Doc::default(),
            durations: Durations::default(),
            dropped: Dropped::default(),
        }
    }

    /// `<base>.mkv` in the output directory, or `<base>-<n>.mkv` when `base` was used
    /// already: the map remembers the last `n` per base, so each name costs O(1) (amortised;
    /// a `-n` name that a fragment number produced on its own is stepped over).
    fn unique_path(&mut self, base: &str) -> PathBuf {
        let safe: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        let name = match self.names.get(&safe).copied() {
            None => safe,
            Some(last) => {
                let mut n = last;
                let name = loop {
                    n = n.saturating_add(1);
                    let candidate = format!("{safe}-{n}");
                    if !self.names.contains_key(&candidate) || n == u32::MAX {
                        break candidate;
                    }
                };
                if let Some(last) = self.names.get_mut(&safe) {
                    *last = n;
                }
                name
            }
        };
        let path = self.dir.join(format!("{name}.mkv"));
        self.names.entry(name).or_insert(0);
        path
    }

    /// Marks the current document failed: drops and removes its partial file.
    fn fail(&mut self, error: OutError) -> Outcome {
        self.doc.failed = true;
        if let Some(f) = self.doc.file.take() {
            drop(f);
        }
        if let Some(path) = self.doc.path.take() {
            let _ = std::fs::remove_file(path);
        }
        Outcome::Failed { index: self.doc.index, error }
    }

    /// Whether the current document has had no Tracks yet and its file is not open: a
    /// Cluster pushed now would open it without tracks. A caller that can read the
    /// document's Tracks ahead (a regular file) pushes them as [`Event::Tracks`] first.
    pub fn needs_tracks(&self) -> bool {
        !self.doc.failed && self.doc.file.is_none() && !self.doc.saw_tracks
    }

    /// Takes one event; returns what a document became when it ends (or when writing its
    /// file failed: the run goes on with the next document).
    pub fn event(&mut self, event: Event) -> Result<Option<Outcome>, OutError> {
        if self.doc.failed && !event.starts_fragment() {
            return Ok(None);
        }
        match self.write(event) {
            Ok(outcome) => Ok(outcome),
            Err(e) => Ok(Some(self.fail(e))),
        }
    }

    fn write(&mut self, event: Event) -> Result<Option<Outcome>, OutError> {
        match event {
            Event::DocumentStart { index, .. } | Event::FragmentStart { index, .. } => {
                self.doc = Doc { index, ..Doc::default() };
                self.durations.reset();
            }
            Event::Tracks(tracks) => self.set_tracks(tracks),
            Event::FragmentMetadata(m) => self.doc.metadata = Some(m),
            Event::ErrorChunk(e) => self.doc.error = Some(e),
            Event::Tag(t) => {
                if self.doc.clusters == 0 {
                    self.doc.pre_tags.push(&t);
                } else {
                    self.doc.post_tags.push(&t);
                }
            }
            Event::Cluster { timestamp, timestamp_scale, .. } => {
                let ns = i64::try_from(u128::from(timestamp).saturating_mul(u128::from(timestamp_scale)))
                    .unwrap_or(i64::MAX);
                self.doc.scale = timestamp_scale;
                if self.doc.file.is_none() {
                    let path = self.unique_path(&base_name(&self.doc, ns.div_euclid(1_000_000)));
                    let f = MkvFile::create(&path, &self.doc.tracks, timestamp_scale)?;
                    // Only a file this run created is removed when the fragment fails.
                    self.doc.path = Some(path);
                    let f = self.doc.file.insert(f);
                    f.tags(&self.doc.pre_tags.take(), &mut self.dropped)?;
                    let start = group(self.doc.metadata.as_ref().map(aws_start_tags).unwrap_or_default());
                    f.tags(&start, &mut self.dropped)?;
                }
                self.doc.clusters = self.doc.clusters.saturating_add(1);
                if let Some(f) = self.doc.file.as_mut() {
                    f.begin_cluster(ns)?;
                }
            }
            Event::Frame(frame) => {
                if let Some(f) = self.doc.file.as_mut() {
                    if !f.declares(frame.track) {
                        self.dropped.frame(frame.track);
                        return Ok(None);
                    }
                    let d = self.durations.of(&frame, frame.timestamp_ns);
                    f.frame(&frame, frame.timestamp_ns, self.doc.scale, d)?;
                }
            }
            Event::FragmentEnd(end) => {
                let Some(f) = self.doc.file.as_mut() else {
                    let doc = std::mem::take(&mut self.doc);
                    let reason = if doc.error.is_some() { "an in-stream error chunk" } else { "no frames" };
                    return Ok(Some(Outcome::Skipped { index: doc.index, reason }));
                };
                f.tags(&self.doc.post_tags.take(), &mut self.dropped)?;
                f.tags(&group(aws_end_tags(&end, self.doc.error.as_ref())), &mut self.dropped)?;
                let Some(f) = self.doc.file.take() else { return Ok(None) };
                let stats = f.finish()?;
                let kvs = self.doc.metadata.as_ref().is_some_and(|m| m.fragment_number.is_some());
                self.doc = Doc::default();
                return Ok(Some(Outcome::Written { stats, kvs, complete: end.complete }));
            }
            _ => {}
        }
        Ok(None)
    }

    fn set_tracks(&mut self, tracks: Vec<Track>) {
        let tracks = self.dropped.usable_tracks(tracks);
        self.durations.tracks(&tracks);
        self.doc.tracks = tracks;
        self.doc.saw_tracks = true;
    }

    /// Finishes a document left open (input ended or interrupted before its end); returns
    /// it and what was left out of the files.
    pub fn finish(mut self) -> (Result<Option<FileStats>, OutError>, Dropped) {
        let last = match self.doc.file.take() {
            Some(f) => f.finish().map(Some),
            None => Ok(None),
        };
        (last, self.dropped)
    }
}
