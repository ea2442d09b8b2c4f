//! `kvs-mkv split`: each fragment (document) as a standalone, playable MKV file.
//!
//! Files are named `<fragment number>_<producer time>.mkv` (the producer time as
//! `YYYYMMDDTHHMMSS.mmmZ`; the server time when there is no producer time; nothing when
//! neither is known). A document without a fragment number (a plain Matroska file) is
//! `document-<index>` instead. A name already used in this run gets `-1`, `-2`, ... added.
//! Timestamps, tracks and tags (the service's and the producer's) are kept as they were,
//! so each file reads back as the same fragment with the same frames.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use kvs_chunk::{Event, FragmentMetadata, Track};

use crate::mkvout::{
    Durations, FileStats, MkvFile, OutError, TagCollector, aws_end_tags, aws_start_tags, group,
};

/// What one document became.
pub enum Outcome {
    /// A file was written.
    Written { stats: FileStats, complete: bool },
    /// The document had no frames (an error chunk, or cut before its cluster).
    Skipped { index: u64, reason: &'static str },
}

#[derive(Default)]
struct Doc {
    index: u64,
    tracks: Vec<Track>,
    metadata: Option<FragmentMetadata>,
    error: Option<kvs_chunk::StreamError>,
    pre_tags: TagCollector,
    post_tags: TagCollector,
    scale: u64,
    clusters: u64,
    file: Option<MkvFile>,
}

/// Splits events into one file per document.
pub struct Splitter {
    dir: PathBuf,
    names: HashSet<String>,
    doc: Doc,
    durations: Durations,
}

/// `20171128T065509.126Z`.
pub fn compact_time(ms: i64) -> String {
    crate::table::iso_ms(ms).replace(['-', ':'], "")
}

fn base_name(doc: &Doc, first_cluster_ms: i64) -> String {
    let id = doc
        .metadata
        .as_ref()
        .and_then(|m| m.fragment_number.as_ref())
        .map_or_else(|| format!("document-{:05}", doc.index), |n| n.as_str().to_owned());
    let time = doc.metadata.as_ref().and_then(|m| m.producer_timestamp_ms.or(m.server_timestamp_ms));
    match time {
        Some(ms) => format!("{id}_{}", compact_time(ms)),
        None if doc.metadata.is_none() => format!("{id}_{}", compact_time(first_cluster_ms)),
        None => id,
    }
}

impl Splitter {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            names: HashSet::new(),
            doc: Doc::default(),
            durations: Durations::default(),
        }
    }

    fn unique_path(&mut self, base: &str) -> PathBuf {
        let safe: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        let mut name = safe.clone();
        let mut n = 0u32;
        while self.names.contains(&name) {
            n = n.saturating_add(1);
            name = format!("{safe}-{n}");
        }
        self.names.insert(name.clone());
        self.dir.join(format!("{name}.mkv"))
    }

    /// Takes one event; returns what a document became when it ends.
    pub fn event(&mut self, event: Event) -> Result<Option<Outcome>, OutError> {
        match event {
            Event::DocumentStart { index, .. } => {
                self.doc = Doc { index, ..Doc::default() };
                self.durations.reset();
            }
            Event::Tracks(tracks) => {
                self.durations.tracks(&tracks);
                self.doc.tracks = tracks;
            }
            Event::FragmentMetadata(m) => self.doc.metadata = Some(m),
            Event::StreamError(e) => self.doc.error = Some(e),
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
                    let mut f = MkvFile::create(&path, &self.doc.tracks, timestamp_scale)?;
                    f.tags(&self.doc.pre_tags.take())?;
                    f.tags(&group(self.doc.metadata.as_ref().map(aws_start_tags).unwrap_or_default()))?;
                    self.doc.file = Some(f);
                }
                self.doc.clusters = self.doc.clusters.saturating_add(1);
                if let Some(f) = self.doc.file.as_mut() {
                    f.begin_cluster(ns)?;
                }
            }
            Event::Frame(frame) => {
                if let Some(f) = self.doc.file.as_mut() {
                    let d = self.durations.of(&frame, frame.timestamp_ns);
                    f.frame(&frame, frame.timestamp_ns, self.doc.scale, d)?;
                }
            }
            Event::FragmentEnd(end) => {
                let doc = std::mem::take(&mut self.doc);
                let Some(mut f) = doc.file else {
                    let reason = if doc.error.is_some() { "an in-stream error chunk" } else { "no frames" };
                    return Ok(Some(Outcome::Skipped { index: doc.index, reason }));
                };
                let mut post = doc.post_tags;
                f.tags(&post.take())?;
                f.tags(&group(aws_end_tags(&end, doc.error.as_ref())))?;
                let stats = f.finish()?;
                return Ok(Some(Outcome::Written { stats, complete: end.complete }));
            }
            _ => {}
        }
        Ok(None)
    }

    /// Finishes a document left open (input ended or interrupted before its end).
    pub fn finish(mut self) -> Result<Option<FileStats>, OutError> {
        match self.doc.file.take() {
            Some(f) => f.finish().map(Some),
            None => Ok(None),
        }
    }
}

/// `kvs-mkv split` on the command line.
#[derive(clap::Args)]
pub struct SplitArgs {
    /// The input file, or `-` for standard input.
    input: PathBuf,
    /// The directory to write the files to (created if missing).
    #[arg(long, short = 'o')]
    output_dir: PathBuf,
    /// After malformed input, skip to the next document or cluster instead of stopping.
    #[arg(long)]
    resync: bool,
}

pub const AFTER_HELP: &str = "\
Each fragment (one document of a GetMedia payload; one Segment of a plain MKV file) becomes
a standalone MKV file in the output directory, named <fragment number>_<producer time>.mkv
(e.g. 91343852333181432392682062607743920146159169392_20171128T065508.513Z.mkv), with its
tracks, frames, timestamps and tags (the service's and the producer's) as they were. One
line per file is printed on stdout. A fragment with no frames (an in-stream error chunk)
writes no file. Ctrl-C finishes the file being written and stops.

Examples:
  kvs-mkv split testdata/getmedia_basic.mkv --output-dir fragments/
  aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv split - -o fragments/";

pub fn run(args: &SplitArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let input = match crate::progress::Input::open(&args.input) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("kvs-mkv split: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.output_dir) {
        eprintln!("kvs-mkv split: cannot create the directory {}: {e}", args.output_dir.display());
        return ExitCode::from(2);
    }
    crate::progress::catch_ctrl_c();
    let mut splitter = Splitter::new(&args.output_dir);
    let mut written = 0u64;
    let opts = kvs_chunk::Options::default().resync(args.resync);
    let result = crate::progress::each_event("split", input, opts, |event, progress| {
        match splitter.event(event)? {
            Some(Outcome::Written { stats, complete }) => {
                written = written.saturating_add(1);
                progress.suspend(|| {
                    println!(
                        "{}\t{} frames{}",
                        stats.path.display(),
                        stats.frames,
                        if complete { "" } else { "\tincomplete" }
                    );
                });
            }
            Some(Outcome::Skipped { index, reason }) => {
                progress
                    .suspend(|| eprintln!("kvs-mkv split: document {index} has {reason}: no file written"));
            }
            None => {}
        }
        Ok::<(), OutError>(())
    });
    let last = splitter.finish();
    let ended = match (result, last) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            crate::mkvout::report("split", &e);
            return ExitCode::FAILURE;
        }
        (Ok(ended), Ok(last)) => {
            if let Some(stats) = last {
                written = written.saturating_add(1);
                println!("{}\t{} frames\tincomplete", stats.path.display(), stats.frames);
            }
            ended
        }
    };
    let files = if written == 1 { "file" } else { "files" };
    eprintln!("kvs-mkv split: {written} {files} in {}", args.output_dir.display());
    crate::progress::exit_status(ended)
}
