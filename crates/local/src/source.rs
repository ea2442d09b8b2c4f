//! Backing data: a GetMedia payload, a plain Matroska/WebM file or a directory of fragment
//! files, loaded into memory as a list of fragments.
//!
//! - A GetMedia payload (documents back to back, each with the service's tags) keeps its
//!   fragment numbers and its server and producer timestamps: one document is one fragment.
//! - A plain Matroska or WebM file (no service tags) becomes one fragment per Cluster. Its
//!   fragments get increasing synthesized 47-digit fragment numbers, and server and producer
//!   timestamps of `base + (cluster time - first cluster time)`, where `base` is
//!   [`LoadOptions::base_time_ms`] or by default `1_700_000_000_000 + first cluster time`
//!   (epoch milliseconds).
//! - A directory is read file by file in name order (`.mkv`, `.mka`, `.webm`), as one stream.
//!   Synthesized timestamps never go backwards: a file whose clusters restart at zero is
//!   shifted to follow the previous file.
//!
//! In-stream error chunks of a GetMedia payload are skipped (and counted), and so is a last
//! fragment cut short by the end of the file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kvs_chunk::{Event, Events, FragmentMetadata, FragmentNumber, Frame, Track};
use kvs_mux::elements::SimpleTag;
use kvs_mux::getmedia::FragmentParts;

/// The default base of synthesized timestamps, in epoch milliseconds (2023-11-14T22:13:20Z):
/// a plain file's cluster at time `t` ms gets the timestamp `DEFAULT_BASE_TIME_MS + t`.
pub const DEFAULT_BASE_TIME_MS: i64 = 1_700_000_000_000;

/// The first synthesized fragment number (a real one, from the GetMedia documentation's
/// examples), used when the backing data carries none.
pub const BASE_FRAGMENT_NUMBER: &str = "91343852333181432392682062607743920146159169392";

/// The difference between consecutive synthesized fragment numbers.
pub const FRAGMENT_NUMBER_STRIDE: u64 = 1_000_000_000_000_000_003;

/// The `k`th synthesized fragment number: `BASE_FRAGMENT_NUMBER + k * FRAGMENT_NUMBER_STRIDE`.
#[must_use]
pub fn synthesized(k: u64) -> Option<String> {
    let mut n = FragmentNumber::new(BASE_FRAGMENT_NUMBER);
    // k * stride may overflow u64: add it in steps of at most u64::MAX / stride.
    let step = u64::MAX / FRAGMENT_NUMBER_STRIDE;
    let mut left = k;
    while left > 0 {
        let take = left.min(step);
        n = n.checked_add(take.checked_mul(FRAGMENT_NUMBER_STRIDE)?)?;
        left = left.checked_sub(take)?;
    }
    Some(n.as_str().to_owned())
}

/// How to load backing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// The server and producer timestamp (epoch milliseconds) of the first cluster of a
    /// plain Matroska file; `None`: [`DEFAULT_BASE_TIME_MS`] + the first cluster's time.
    pub base_time_ms: Option<i64>,
}

impl LoadOptions {
    /// Sets [`LoadOptions::base_time_ms`].
    #[must_use]
    pub const fn base_time_ms(mut self, ms: i64) -> Self {
        self.base_time_ms = Some(ms);
        self
    }
}

/// Why backing data could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data is not valid Matroska.
    #[error("{origin}: {source}")]
    Parse {
        /// The file (or `<memory>`).
        origin: String,
        /// The decoding error.
        source: kvs_chunk::Error,
    },
    /// The data holds no cluster, so no fragment.
    #[error("{0}: no fragment (no Cluster) in the data")]
    NoFragments(String),
    /// A number or timestamp went out of range.
    #[error("{0}: a timestamp or fragment number is out of range")]
    OutOfRange(String),
}

/// One fragment of the backing data.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFragment {
    /// The fragment number.
    pub fragment_number: FragmentNumber,
    /// The server timestamp, epoch milliseconds.
    pub server_timestamp_ms: i64,
    /// The producer timestamp, epoch milliseconds.
    pub producer_timestamp_ms: i64,
    /// The time until the next fragment starts (or the span of the last one's frames).
    pub duration_ms: u64,
    /// The TimestampScale (nanoseconds per unit) of the source.
    pub timestamp_scale: u64,
    /// The Cluster's Timestamp, in TimestampScale units.
    pub cluster_timestamp: u64,
    /// The tracks.
    pub tracks: Vec<Track>,
    /// The frames in stream order, as decoded (payloads are slices of the loaded file; the
    /// frames of one lace are written back as one laced block).
    pub frames: Vec<Frame>,
    /// Producer tags (any SimpleTag that is not the service's own) before the cluster.
    pub tags_before: Vec<SimpleTag>,
    /// Producer tags after the cluster.
    pub tags_after: Vec<SimpleTag>,
}

impl StoredFragment {
    /// What [`kvs_mux::getmedia::fragment_head`] writes of this fragment.
    #[must_use]
    pub fn parts(&self) -> FragmentParts<'_> {
        FragmentParts {
            fragment_number: &self.fragment_number,
            timestamp_scale: self.timestamp_scale,
            cluster_timestamp: self.cluster_timestamp,
            tracks: &self.tracks,
            frames: &self.frames,
            tags_before: &self.tags_before,
            tags_after: &self.tags_after,
        }
    }
}

/// A stream's backing data: fragments in order. Clones share the fragments (and a server
/// renders them once for every stream given a clone of the same source).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Source {
    fragments: Arc<Vec<StoredFragment>>,
    origin: String,
    skipped: usize,
}

impl Source {
    /// Loads a file or a directory of fragment files with default options.
    ///
    /// # Errors
    ///
    /// As [`Source::load`].
    pub fn file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load(path, &LoadOptions::default())
    }

    /// Loads a file (GetMedia payload or plain Matroska/WebM) or a directory of them.
    ///
    /// # Errors
    ///
    /// [`LoadError::Io`] if a file cannot be read, [`LoadError::Parse`] for malformed data
    /// (a fragment cut by the end of a file is dropped instead), [`LoadError::NoFragments`]
    /// if there is no cluster at all.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let io = |source| LoadError::Io { path: path.to_owned(), source };
        let origin = path.display().to_string();
        let mut loader = Loader::new(opts, origin.clone());
        if fs::metadata(path).map_err(io)?.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(path)
                .map_err(io)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| ["mkv", "mka", "webm"].iter().any(|x| e.eq_ignore_ascii_case(x)))
                })
                .collect();
            files.sort();
            for file in files {
                let bytes = fs::read(&file).map_err(|source| LoadError::Io { path: file.clone(), source })?;
                loader.file(Bytes::from(bytes), &file.display().to_string())?;
            }
        } else {
            let bytes = fs::read(path).map_err(io)?;
            loader.file(Bytes::from(bytes), &origin)?;
        }
        loader.finish()
    }

    /// Loads one in-memory file (GetMedia payload or plain Matroska/WebM).
    ///
    /// # Errors
    ///
    /// As [`Source::load`].
    pub fn from_bytes(bytes: impl Into<Bytes>, opts: &LoadOptions) -> Result<Self, LoadError> {
        let mut loader = Loader::new(opts, "<memory>".to_owned());
        loader.file(bytes.into(), "<memory>")?;
        loader.finish()
    }

    /// A source made of the given fragments, as they are.
    ///
    /// # Errors
    ///
    /// [`LoadError::NoFragments`] for an empty list.
    pub fn from_fragments(fragments: Vec<StoredFragment>) -> Result<Self, LoadError> {
        if fragments.is_empty() {
            return Err(LoadError::NoFragments("<fragments>".to_owned()));
        }
        Ok(Self { fragments: Arc::new(fragments), origin: "<fragments>".to_owned(), skipped: 0 })
    }

    /// The fragments, in stream order.
    #[must_use]
    pub fn fragments(&self) -> &[StoredFragment] {
        &self.fragments
    }

    /// Whether two sources share their fragments (one is a clone of the other).
    #[must_use]
    pub fn shares_fragments_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.fragments, &other.fragments)
    }

    /// The address of the shared fragments: equal for clones of one source.
    pub(crate) fn fragments_id(&self) -> usize {
        Arc::as_ptr(&self.fragments).addr()
    }

    /// Where the data came from (a path, `<memory>` or `<fragments>`).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many documents were skipped (in-stream error chunks, a fragment cut by the end of
    /// a file).
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// A fragment being gathered.
struct Pending {
    /// The file and document it belongs to.
    doc: (usize, u64),
    meta: Option<FragmentMetadata>,
    cluster_timestamp: u64,
    timestamp_scale: u64,
    tracks: Vec<Track>,
    frames: Vec<Frame>,
    tags_before: Vec<SimpleTag>,
    tags_after: Vec<SimpleTag>,
}

/// The loading state, kept across the files of a directory.
struct Loader<'a> {
    opts: &'a LoadOptions,
    origin: String,
    out: Vec<StoredFragment>,
    skipped: usize,
    /// The first synthesized cluster time, ms.
    first_cluster_ms: Option<i64>,
    /// How far this file's synthesized timestamps are shifted forward, once decided.
    file_shift_ms: Option<i64>,
    file_no: usize,
    doc: u64,
    doc_tracks: Vec<Track>,
    doc_tags: Vec<SimpleTag>,
    doc_meta: Option<FragmentMetadata>,
    doc_error: bool,
    pending: Option<Pending>,
}

impl<'a> Loader<'a> {
    fn new(opts: &'a LoadOptions, origin: String) -> Self {
        Self {
            opts,
            origin,
            out: Vec::new(),
            skipped: 0,
            first_cluster_ms: None,
            file_shift_ms: None,
            file_no: 0,
            doc: 0,
            doc_tracks: Vec::new(),
            doc_tags: Vec::new(),
            doc_meta: None,
            doc_error: false,
            pending: None,
        }
    }

    fn out_of_range(&self) -> LoadError {
        LoadError::OutOfRange(self.origin.clone())
    }

    /// Reads one file's events.
    fn file(&mut self, bytes: Bytes, origin: &str) -> Result<(), LoadError> {
        self.file_no = self.file_no.saturating_add(1);
        self.file_shift_ms = None;
        self.doc_tracks.clear();
        for item in Events::new(bytes) {
            let event = match item {
                Ok(e) => e,
                Err(e) if e.is_recoverable() => continue,
                Err(e) if e.is_eof() => {
                    // A fragment cut by the end of the file: drop it, keep the rest.
                    if self.pending.take().is_some() {
                        self.skipped = self.skipped.saturating_add(1);
                    }
                    break;
                }
                Err(source) => return Err(LoadError::Parse { origin: origin.to_owned(), source }),
            };
            self.event(event)?;
        }
        self.flush()
    }

    fn event(&mut self, event: Event) -> Result<(), LoadError> {
        match event {
            // Each fragment (a document's first, or a further one of a merged document) is
            // numbered apart, so that clusters of two fragments are never joined.
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                self.flush()?;
                self.doc = self.doc.wrapping_add(1);
                self.doc_tags.clear();
                self.doc_meta = None;
                self.doc_error = false;
            }
            Event::Tracks(tracks) => self.doc_tracks = tracks,
            Event::FragmentMetadata(m) => self.doc_meta = Some(m),
            Event::Cluster { timestamp, timestamp_scale, .. } => {
                if self.doc_error {
                    return Ok(());
                }
                let doc = (self.file_no, self.doc);
                // A GetMedia chunk is one fragment even if it has more than one cluster.
                let same = self.pending.as_ref().is_some_and(|p| p.doc == doc && p.meta.is_some());
                if !same {
                    self.flush()?;
                    self.pending = Some(Pending {
                        doc,
                        meta: self.doc_meta.take(),
                        cluster_timestamp: timestamp,
                        timestamp_scale,
                        tracks: self.doc_tracks.clone(),
                        frames: Vec::new(),
                        tags_before: self.doc_tags.clone(),
                        tags_after: Vec::new(),
                    });
                }
            }
            Event::Frame(f) => {
                if let Some(p) = &mut self.pending {
                    p.frames.push(f);
                }
            }
            Event::Tag(t) => {
                let tag = SimpleTag::new(&t.name, t.value);
                let doc = (self.file_no, self.doc);
                match &mut self.pending {
                    Some(p) if p.doc == doc => p.tags_after.push(tag),
                    _ => self.doc_tags.push(tag),
                }
            }
            Event::ErrorChunk(_) => {
                self.doc_error = true;
                let doc = (self.file_no, self.doc);
                if self.pending.as_ref().is_some_and(|p| p.doc == doc) {
                    self.pending = None;
                }
                self.skipped = self.skipped.saturating_add(1);
            }
            _ => {}
        }
        Ok(())
    }

    /// Turns the pending fragment into a stored one.
    fn flush(&mut self) -> Result<(), LoadError> {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let cluster_ms =
            units_to_ms(p.cluster_timestamp, p.timestamp_scale).ok_or_else(|| self.out_of_range())?;
        let meta = p.meta.unwrap_or_default();
        let fragment_number = match meta.fragment_number {
            Some(n) if n.is_well_formed() => n,
            _ => match self.out.last() {
                Some(last) => last
                    .fragment_number
                    .checked_add(FRAGMENT_NUMBER_STRIDE)
                    .ok_or_else(|| self.out_of_range())?,
                None => FragmentNumber::new(BASE_FRAGMENT_NUMBER),
            },
        };
        let (server, producer) = match (meta.server_timestamp_ms, meta.producer_timestamp_ms) {
            (Some(s), Some(p)) => (s, p),
            (Some(s), None) => (s, s),
            (None, Some(p)) => (p, p),
            (None, None) => {
                let t = self.synthesized_ms(cluster_ms)?;
                (t, t)
            }
        };
        self.out.push(StoredFragment {
            fragment_number,
            server_timestamp_ms: server,
            producer_timestamp_ms: producer,
            duration_ms: 0,
            timestamp_scale: p.timestamp_scale,
            cluster_timestamp: p.cluster_timestamp,
            tracks: p.tracks,
            frames: p.frames,
            tags_before: p.tags_before,
            tags_after: p.tags_after,
        });
        Ok(())
    }

    /// The synthesized timestamp of a cluster of a plain file.
    fn synthesized_ms(&mut self, cluster_ms: i64) -> Result<i64, LoadError> {
        let first = *self.first_cluster_ms.get_or_insert(cluster_ms);
        let base = match self.opts.base_time_ms {
            Some(b) => b,
            None => DEFAULT_BASE_TIME_MS.checked_add(first).ok_or_else(|| self.out_of_range())?,
        };
        let unshifted = cluster_ms
            .checked_sub(first)
            .and_then(|d| base.checked_add(d))
            .ok_or_else(|| self.out_of_range())?;
        let shift = match self.file_shift_ms {
            Some(s) => s,
            None => {
                // The first fragment of a file: never go back before the previous file's end.
                let prev_end = self.out.last().and_then(|last| {
                    last.producer_timestamp_ms.checked_add(i64::try_from(frame_span_ms(&last.frames)).ok()?)
                });
                let s = match prev_end {
                    Some(end) if unshifted < end => {
                        end.checked_sub(unshifted).ok_or_else(|| self.out_of_range())?
                    }
                    _ => 0,
                };
                self.file_shift_ms = Some(s);
                s
            }
        };
        unshifted.checked_add(shift).ok_or_else(|| self.out_of_range())
    }

    fn finish(mut self) -> Result<Source, LoadError> {
        self.flush()?;
        if self.out.is_empty() {
            return Err(LoadError::NoFragments(self.origin));
        }
        // Durations: until the next fragment starts, or the last one's frame span.
        let starts: Vec<i64> = self.out.iter().map(|f| f.producer_timestamp_ms).collect();
        for (i, f) in self.out.iter_mut().enumerate() {
            let next = i.checked_add(1).and_then(|j| starts.get(j));
            f.duration_ms = match next.and_then(|n| n.checked_sub(f.producer_timestamp_ms)) {
                Some(d) if d > 0 => u64::try_from(d).unwrap_or(0),
                _ => frame_span_ms(&f.frames),
            };
        }
        Ok(Source { fragments: Arc::new(self.out), origin: self.origin, skipped: self.skipped })
    }
}

/// `units * scale` nanoseconds in whole milliseconds.
fn units_to_ms(units: u64, scale: u64) -> Option<i64> {
    let ns = u128::from(units).checked_mul(u128::from(scale))?;
    i64::try_from(ns.checked_div(1_000_000)?).ok()
}

/// The time the frames cover: from the first to the last, plus one average frame gap (at
/// least 1 ms).
fn frame_span_ms(frames: &[Frame]) -> u64 {
    let min = frames.iter().map(|f| f.timestamp_ns).min();
    let max = frames.iter().map(|f| f.timestamp_ns).max();
    let (Some(min), Some(max)) = (min, max) else { return 1 };
    let span_ns = u64::try_from(i128::from(max).saturating_sub(i128::from(min))).unwrap_or(0);
    let gaps = u64::try_from(frames.len().saturating_sub(1)).unwrap_or(1).max(1);
    let gap_ns = span_ns.checked_div(gaps).unwrap_or(0);
    (span_ns.saturating_add(gap_ns) / 1_000_000).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn synthesized_numbers_increase() {
        let a = synthesized(0).unwrap();
        assert_eq!(a, BASE_FRAGMENT_NUMBER);
        let b = synthesized(1).unwrap();
        assert_eq!(b, "91343852333181432392682062608743920146159169395");
        let c = synthesized(1_000_000).unwrap();
        let [a, b, c] = [a, b, c].map(FragmentNumber::new);
        assert!(a < b);
        assert!(b < c);
        assert_eq!(c.as_str().len(), 47);
        assert!(c.is_well_formed());
    }
}
