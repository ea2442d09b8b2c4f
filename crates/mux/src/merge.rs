//! GetMedia fragments into one playable MKV ([`Merger`]), the job of the Java parser
//! library's `OutputSegmentMerger` (`kvs-mkv merge`).
//!
//! - One EBML header, one Segment, one Info, one Tracks per output file.
//! - Cluster Timestamps are rewritten so the timeline is continuous and monotonic: the first
//!   cluster is at 0 and each fragment starts where the previous one ended (its last frame
//!   plus that frame's duration), so gaps between fragments and timestamps that go back
//!   (a producer restarting at 0) disappear. Within a fragment, relative timing is kept.
//! - Every tag is kept: per fragment, its producer tags and the service's tags
//!   (`AWS_KINESISVIDEO_*`) as Tags elements before and after its clusters, as GetMedia
//!   delivered them.
//! - A change of tracks (codec id, codec private data, size, audio format) finishes the
//!   current file and starts the next one: `OUT.mkv`, then `OUT-1.mkv`, `OUT-2.mkv`, ...
//! - Frames are written one per block (lacing is not kept); see [`crate::mkv`].
//! - Each Tracks event replaces the track list (the last one wins). Only tracks a block can
//!   refer to are written, each number once (the first TrackEntry of a number is kept), and
//!   only frames of the tracks the output file declares; tags larger than kvs-mkv reads are
//!   left out. What was left out is counted in [`Dropped`] (one line per kind at the end).
//! - A document whose Tracks come after its clusters: [`Merger::needs_tracks`] says so before
//!   its first Cluster is pushed; push its Tracks (read ahead, if the input allows) first.

use std::path::{Path, PathBuf};

use kvs_chunk::{ErrorChunk, Event, FragmentMetadata, Track};

use kvs_chunk::analysis::Durations;

use crate::mkv::{
    Dropped, FileStats, MAX_PENDING_TAG_GROUPS, MkvFile, OutError, TagCollector, TagGroup, TracksKey,
    aws_end_tags, aws_start_tags, group,
};

/// The per-document state.
#[derive(Default)]
struct Doc {
    tracks: Vec<Track>,
    metadata: Option<FragmentMetadata>,
    error: Option<ErrorChunk>,
    pre_tags: TagCollector,
    post_tags: TagCollector,
    /// The TimestampScale of its clusters.
    scale: u64,
    /// input ns - output ns, once its first cluster has been seen.
    shift: Option<i64>,
    clusters: u64,
    /// A Tracks event came for this document.
    saw_tracks: bool,
}

/// The name of the `n`th output: `OUT.mkv`, `OUT-1.mkv`, `OUT-2.mkv`, ...
pub fn nth_path(base: &Path, n: u64) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let stem = base.file_stem().map_or_else(|| "merged".into(), |s| s.to_string_lossy().into_owned());
    let ext = base.extension().map_or_else(|| "mkv".into(), |s| s.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-{n}.{ext}"))
}

/// Merges events into one file per run of equal tracks: push every event of the input
/// ([`Merger::event`]), then [`Merger::finish`] gives the files written.
///
/// The first file is the base path given to [`Merger::new`]; a change of tracks continues
/// in [`nth_path`] `1`, `2`, ... (`OUT-1.mkv`, `OUT-2.mkv`, ...).
pub struct Merger {
    base: PathBuf,
    outputs: u64,
    file: Option<MkvFile>,
    key: Option<TracksKey>,
    doc: Doc,
    durations: Durations,
    /// The end of the output timeline so far (ns).
    end_ns: i64,
    /// The latest cluster start written (ns).
    last_cluster_ns: i64,
    /// Tags of documents seen before any output file was open.
    pending: Vec<TagGroup>,
    finished: Vec<FileStats>,
    /// What was left out of the files.
    pub dropped: Dropped,
}

impl Merger {
    /// A merger writing `base` (then `base-1`, `base-2`, ... on a change of tracks). Nothing
    /// is created before the first Cluster.
    pub fn new(base: &Path) -> Self {
        Self {
            base: base.to_path_buf(),
            outputs: 0,
            file: None,
            key: None,
            doc: Doc::default(),
            durations: Durations::default(),
            end_ns: 0,
            last_cluster_ns: 0,
            pending: Vec::new(),
            finished: Vec::new(),
            dropped: Dropped::default(),
        }
    }

    fn close_file(&mut self) -> Result<(), OutError> {
        if let Some(f) = self.file.take() {
            self.finished.push(f.finish()?);
        }
        self.end_ns = 0;
        self.last_cluster_ns = 0;
        self.durations.reset();
        Ok(())
    }

    /// Whether the current document has had no Tracks yet: a Cluster pushed now would be
    /// written with the previous document's tracks (or none). A caller that can read the
    /// document's Tracks ahead (a regular file) pushes them as [`Event::Tracks`] first.
    pub fn needs_tracks(&self) -> bool {
        !self.doc.saw_tracks
    }

    /// Takes one event of the input, in order; writes what it can at once. An error is the
    /// file system's (or an element too large to encode): the merge cannot go on.
    pub fn event(&mut self, event: Event) -> Result<(), OutError> {
        match event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => self.doc = Doc::default(),
            Event::Tracks(tracks) => self.set_tracks(tracks)?,
            Event::FragmentMetadata(m) => self.doc.metadata = Some(m),
            Event::Tag(t) => {
                if self.doc.clusters == 0 {
                    self.doc.pre_tags.push(&t);
                } else {
                    self.doc.post_tags.push(&t);
                }
            }
            Event::ErrorChunk(e) => self.doc.error = Some(e),
            Event::Cluster { timestamp, timestamp_scale, .. } => self.cluster(timestamp, timestamp_scale)?,
            Event::Frame(f) => {
                let Some(shift) = self.doc.shift else { return Ok(()) };
                let Some(file) = self.file.as_mut() else { return Ok(()) };
                if !file.declares(f.track) {
                    self.dropped.frame(f.track);
                    return Ok(());
                }
                let ts = f.timestamp_ns.saturating_sub(shift);
                let d = self.durations.of(&f, ts);
                file.frame(&f, ts, self.doc.scale, d)?;
                self.end_ns = self.end_ns.max(ts.saturating_add(i64::try_from(d).unwrap_or(0)));
            }
            Event::FragmentEnd(end) => {
                let mut tags = if self.doc.clusters == 0 {
                    // No media (an error chunk, or a fragment cut before its cluster): all of
                    // its tags together.
                    let mut t = self.doc.pre_tags.take();
                    t.extend(group(self.doc.metadata.as_ref().map(aws_start_tags).unwrap_or_default()));
                    t
                } else {
                    Vec::new()
                };
                tags.extend(self.doc.post_tags.take());
                tags.extend(group(aws_end_tags(&end, self.doc.error.as_ref())));
                match self.file.as_mut() {
                    Some(f) => f.tags(&tags, &mut self.dropped)?,
                    None => {
                        // Bounded: an endless stream of media-less fragments has no file to go to.
                        let room = MAX_PENDING_TAG_GROUPS.saturating_sub(self.pending.len());
                        let over = tags.len().saturating_sub(room);
                        self.dropped.unplaced(u64::try_from(over).unwrap_or(u64::MAX));
                        self.pending.extend(tags.into_iter().take(room));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn set_tracks(&mut self, tracks: Vec<Track>) -> Result<(), OutError> {
        let tracks = self.dropped.usable_tracks(tracks);
        let key = TracksKey::of(&tracks);
        if self.key.as_ref().is_some_and(|k| *k != key) {
            self.close_file()?;
        }
        self.key = Some(key);
        self.durations.tracks(&tracks);
        self.doc.tracks = tracks;
        self.doc.saw_tracks = true;
        Ok(())
    }

    fn cluster(&mut self, timestamp: u64, scale: u64) -> Result<(), OutError> {
        let in_ns =
            i64::try_from(u128::from(timestamp).saturating_mul(u128::from(scale))).unwrap_or(i64::MAX);
        self.doc.scale = scale;
        let first_in_doc = self.doc.clusters == 0;
        self.doc.clusters = self.doc.clusters.saturating_add(1);
        if self.file.is_none() {
            let path = nth_path(&self.base, self.outputs);
            self.outputs = self.outputs.saturating_add(1);
            let mut f = MkvFile::create(&path, &self.doc.tracks, scale)?;
            let pending = std::mem::take(&mut self.pending);
            f.tags(&pending, &mut self.dropped)?;
            self.file = Some(f);
            self.doc.shift = Some(in_ns);
            self.end_ns = 0;
            self.last_cluster_ns = 0;
        } else if first_in_doc || self.doc.shift.is_none() {
            self.doc.shift = Some(in_ns.saturating_sub(self.next_start()));
        } else if let Some(shift) = self.doc.shift {
            // A later cluster of the same document: keep its spacing unless it goes back.
            if in_ns.saturating_sub(shift) < self.last_cluster_ns {
                self.doc.shift = Some(in_ns.saturating_sub(self.next_start()));
            }
        }
        let shift = self.doc.shift.unwrap_or(in_ns);
        let out_ns = in_ns.saturating_sub(shift);
        self.last_cluster_ns = out_ns;
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        if first_in_doc {
            let mut tags = self.doc.pre_tags.take();
            tags.extend(group(self.doc.metadata.as_ref().map(aws_start_tags).unwrap_or_default()));
            file.tags(&tags, &mut self.dropped)?;
        }
        file.begin_cluster(out_ns)
    }

    /// Where the next fragment starts: the end of the timeline so far, on the output's
    /// TimestampScale grid (rounded to the nearest unit, after the latest cluster).
    fn next_start(&self) -> i64 {
        let scale = self.file.as_ref().map_or(1_000_000, MkvFile::scale);
        let scale = i64::try_from(scale).unwrap_or(1_000_000).max(1);
        let rounded = self.end_ns.saturating_add(scale / 2).div_euclid(scale).saturating_mul(scale);
        rounded.max(self.last_cluster_ns.saturating_add(scale))
    }

    /// Finishes the last file; returns every file written and what was left out of them.
    pub fn finish(mut self) -> (Result<Vec<FileStats>, OutError>, Dropped) {
        let closed = self.close_file();
        (closed.map(|()| self.finished), self.dropped)
    }
}
