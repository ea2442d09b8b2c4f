//! `kvs-mkv merge`: GetMedia fragments into one playable MKV, the job of the Java parser
//! library's `OutputSegmentMerger`.
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
//! - Frames are written one per block (lacing is not kept); see `mkvout`.
//! - Each Tracks event replaces the track list (the last one wins). Only tracks a block can
//!   refer to are written, each number once (the first TrackEntry of a number is kept), and
//!   only frames of the tracks the output file declares; tags larger than kvs-mkv reads are
//!   left out. What was left out is reported at the end, one stderr line per kind.

use std::path::{Path, PathBuf};

use kvs_chunk::{Event, FragmentMetadata, StreamError, Track};

use crate::mkvout::{
    Dropped, Durations, FileStats, MkvFile, OutError, TagCollector, TagGroup, TracksKey, aws_end_tags,
    aws_start_tags, group,
};

/// The per-document state.
#[derive(Default)]
struct Doc {
    tracks: Vec<Track>,
    metadata: Option<FragmentMetadata>,
    error: Option<StreamError>,
    pre_tags: TagCollector,
    post_tags: TagCollector,
    /// The TimestampScale of its clusters.
    scale: u64,
    /// input ns - output ns, once its first cluster has been seen.
    shift: Option<i64>,
    clusters: u64,
    /// A Tracks event came for this document (or was read ahead).
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

/// Merges events into one file per run of equal tracks.
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
    /// Tracks read ahead for a document whose frames come before them.
    pub late: crate::progress::LateTracks,
}

impl Merger {
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
            late: crate::progress::LateTracks::default(),
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

    pub fn event(&mut self, event: Event) -> Result<(), OutError> {
        match event {
            Event::DocumentStart { offset, .. } => {
                self.doc = Doc::default();
                self.late.document(offset);
            }
            Event::FragmentStart { .. } => self.doc = Doc::default(),
            Event::Tracks(tracks) => self.set_tracks(tracks)?,
            Event::FragmentMetadata(m) => self.doc.metadata = Some(m),
            Event::Tag(t) => {
                if self.doc.clusters == 0 {
                    self.doc.pre_tags.push(&t);
                } else {
                    self.doc.post_tags.push(&t);
                }
            }
            Event::StreamError(e) => self.doc.error = Some(e),
            Event::Cluster { timestamp, timestamp_scale, .. } => {
                if !self.doc.saw_tracks
                    && let Some(tracks) = self.late.fetch()
                {
                    // The document's Tracks come after its clusters: read ahead in the file.
                    self.set_tracks(tracks)?;
                }
                self.cluster(timestamp, timestamp_scale)?;
            }
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
                        let room = crate::mkvout::MAX_PENDING_TAG_GROUPS.saturating_sub(self.pending.len());
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

/// `kvs-mkv merge` on the command line.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The input file, or `-` for standard input.
    input: PathBuf,
    /// The output file; a change of tracks continues in OUT-1.mkv, OUT-2.mkv, ...
    #[arg(long, short = 'o')]
    output: PathBuf,
    #[command(flatten)]
    read: crate::ReadArgs,
}

pub const AFTER_HELP: &str = "\
Merges the fragments of a GetMedia payload into one playable MKV file: one EBML header,
one Segment, one Tracks, the clusters with their timestamps rewritten to one continuous
timeline starting at 0 (gaps between fragments and timestamps that go back are removed),
every tag kept (the service's AWS_KINESISVIDEO_* tags and the producer's, per fragment),
and Cues for seeking. Each frame is written as its own block (lacing is not kept). When
the tracks change (codec, codec private data, size, audio format) the current file is
finished and the merge continues in OUT-1.mkv, then OUT-2.mkv, ... The files written are
printed on stdout. Ctrl-C finishes the current file cleanly and stops. So that every file
reads back: tracks numbered 0 or above 2^56-2, a repeated track number (the first entry is
kept), frames of tracks that Tracks does not declare, and tags larger than kvs-mkv reads
are left out, with one warning line per kind on stderr. A document whose Tracks come after
its clusters (valid Matroska: players find them through the SeekHead) has them read ahead
when the input is a regular file (not standard input).

Damaged input (junk, a malformed or over-long element) is skipped: each skip is
reported on stderr with its offset and size, and the exit status is 1; --strict stops at
the first error instead. Input that is not Matroska/EBML is refused (status 1); a missing
file or a directory gives status 2.

Examples:
  kvs-mkv merge testdata/getmedia_basic.mkv --output merged.mkv
  aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv merge - -o merged.mkv
  ffprobe merged.mkv";

pub fn run(args: &MergeArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let input = match crate::progress::Input::open(&args.input) {
        Ok(i) => i,
        Err(refused) => return refused.report("merge"),
    };
    crate::progress::catch_ctrl_c();
    let mut merger = Merger::new(&args.output);
    merger.late = crate::progress::LateTracks::new(&input, args.read.options());
    let opts = args.read.options();
    let result = crate::progress::each_event("merge", input, opts, |event, _| merger.event(event));
    let (files, dropped) = merger.finish();
    dropped.report("merge");
    match (result, files) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            crate::mkvout::report("merge", &e);
            ExitCode::FAILURE
        }
        (Ok(ended), Ok(files)) => {
            if files.is_empty() {
                if ended.read_whole() {
                    eprintln!("kvs-mkv merge: the input has no frames: nothing written");
                } else {
                    eprintln!("kvs-mkv merge: no frames could be read: nothing written");
                }
                return ExitCode::FAILURE;
            }
            for f in &files {
                println!(
                    "{}\t{} frames\t{} clusters\t{:.3} s",
                    f.path.display(),
                    f.frames,
                    f.clusters,
                    seconds(f.duration_ns)
                );
            }
            if let Some(line) = ended.caveat("merge") {
                eprintln!("{line}");
            }
            crate::progress::exit_status(ended)
        }
    }
}

/// Nanoseconds as seconds, for display.
#[allow(clippy::cast_precision_loss)]
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}
