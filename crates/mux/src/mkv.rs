//! Writing playable Matroska files from events: the muxer under [`Merger`](crate::Merger)
//! and [`Splitter`](crate::Splitter) (`kvs-mkv merge` and `kvs-mkv split`).
//!
//! A file is an EBML header and one Segment (its size patched when the file is finished)
//! holding a SeekHead (Info, Tracks, Cues), Info (TimestampScale, Duration patched at the
//! end, MuxingApp/WritingApp), Tracks rebuilt from the input's track entries, then Clusters
//! and Tags in stream order, and one Cues element at the end (one CuePoint per cluster that
//! starts with a keyframe of the cue track, the first video track or else the first track).
//!
//! Every frame is written as its own block (lacing is not kept: a laced block of N frames
//! becomes N blocks): a SimpleBlock, or a BlockGroup when the input frame had a
//! BlockDuration or ReferenceBlocks (both are kept). Frames are written through as they
//! come, never gathered: a Cluster's header gets an 8-byte size field that is patched when
//! the cluster closes, so a file costs a few KiB of memory beyond the frame being written
//! (whatever the frame and cluster sizes).
//!
//! What a command writes, kvs-mkv reads back with its default [`kvs_ebml::Limits`]:
//! - only tracks a block can refer to are written (numbers 1 to 2^56-2, the largest an
//!   8-byte VINT holds), each number once (the first TrackEntry of a number is kept), and
//!   only frames of the tracks the file declares ([`MkvFile::declares`]);
//! - a tag whose name or value is larger than the reader accepts (1 MiB for a TagString,
//!   32 MiB for a TagBinary) is not written.
//!
//! What was left out is counted in [`Dropped`]; [`Dropped::lines`] gives one line per kind,
//! for the caller to report once per run.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::elements::{
    SimpleTag, TrackEntryOptions, block_flags, write_block_header, write_ebml_header, write_simple_tag,
    write_tracks,
};
use kvs_chunk::{ErrorChunk, FragmentEnd, FragmentMetadata, Frame, Tag, TagValue, Targets, Track, TrackType};
use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError, write_header};
use kvs_ebml::{Writer, ids};

/// What went wrong while writing an output file.
#[derive(Debug, thiserror::Error)]
pub enum OutError {
    /// The file system refused.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An element could not be encoded (a size beyond what EBML allows).
    #[error("cannot encode an element of {path}: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: WriteError,
    },
}

/// A Seek entry for the Cues: 21 bytes (Seek header 3, SeekID 7, SeekPosition 11).
const CUES_SEEK_LEN: usize = 21;
/// The largest cluster written before a new one is started (a frame never splits).
const MAX_CLUSTER_BYTES: u64 = 32 * 1024 * 1024;
/// The largest track number a block header can carry: an 8-byte VINT holds 2^56-2 (its
/// all-ones pattern is reserved).
pub const MAX_TRACK_NUMBER: u64 = (1 << 56) - 2;
/// How many track numbers or tag names a warning lists.
const LISTED: usize = 4;

/// A few distinct values, and whether there were more.
#[derive(Debug, Clone)]
struct Few<T> {
    list: Vec<T>,
    more: bool,
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Self { list: Vec::new(), more: false }
    }
}

impl<T: PartialEq + std::fmt::Display> Few<T> {
    fn note(&mut self, v: T) {
        if self.list.contains(&v) {
            return;
        }
        if self.list.len() < LISTED {
            self.list.push(v);
        } else {
            self.more = true;
        }
    }

    /// `1, 2, 3` (with `, ...` when there were more).
    fn show(&self) -> String {
        let mut s = self.list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        if self.more {
            s.push_str(", ...");
        }
        s
    }
}

/// What the writers left out of their files so that kvs-mkv (and other readers) can read
/// them, counted over a run and reported once ([`Dropped::lines`]).
#[derive(Debug, Default, Clone)]
pub struct Dropped {
    /// Frames of tracks the file does not declare, and the first few of those tracks.
    undeclared_frames: u64,
    undeclared_tracks: Few<u64>,
    /// TrackEntries whose number was already taken in the same Tracks.
    duplicate_entries: u64,
    duplicate_tracks: Few<u64>,
    /// TrackEntries numbered 0 or above [`MAX_TRACK_NUMBER`], and their frames.
    unaddressable_entries: u64,
    unaddressable_frames: u64,
    unaddressable_tracks: Few<u64>,
    /// Tags not written, and the first few (escaped, shortened name and size).
    tags: u64,
    tag_names: Few<String>,
    /// Tag groups of media-less fragments held for a file not yet open, over the cap.
    unplaced_groups: u64,
    /// TrackEntries whose ContentEncoding kvs-chunk cannot undo (bzlib, lzo1x, encryption):
    /// their frames would be unreadable without it, so neither is written.
    encoded_entries: u64,
    encoded_frames: u64,
    encoded_tracks: Few<String>,
    /// The numbers of such tracks in the current Tracks (at most `Limits::max_track_entries`).
    current_encoded: Vec<u64>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Dropped {
    /// The tracks a file can declare: numbers 1 to [`MAX_TRACK_NUMBER`], each once (the
    /// first TrackEntry of a number is kept). What is left out is counted.
    /// A track stored with an encoding kvs-chunk cannot undo (`Track::unsupported_encoding`)
    /// is left out too, with its frames.
    pub fn usable_tracks(&mut self, tracks: Vec<Track>) -> Vec<Track> {
        let mut seen = std::collections::HashSet::with_capacity(tracks.len());
        let mut kept = Vec::with_capacity(tracks.len());
        self.current_encoded.clear();
        for t in tracks {
            if let Some(why) = &t.unsupported_encoding {
                self.encoded_entries = self.encoded_entries.saturating_add(1);
                self.encoded_tracks.note(format!("{}: {}", t.number, crate::text::escape(why)));
                self.current_encoded.push(t.number);
            } else if t.number == 0 || t.number > MAX_TRACK_NUMBER {
                self.unaddressable_entries = self.unaddressable_entries.saturating_add(1);
                self.unaddressable_tracks.note(t.number);
            } else if !seen.insert(t.number) {
                self.duplicate_entries = self.duplicate_entries.saturating_add(1);
                self.duplicate_tracks.note(t.number);
            } else {
                kept.push(t);
            }
        }
        kept
    }

    /// Counts a frame that was not written: its track is not in the file.
    pub fn frame(&mut self, track: u64) {
        if self.current_encoded.contains(&track) {
            self.encoded_frames = self.encoded_frames.saturating_add(1);
        } else if track == 0 || track > MAX_TRACK_NUMBER {
            self.unaddressable_frames = self.unaddressable_frames.saturating_add(1);
            self.unaddressable_tracks.note(track);
        } else {
            self.undeclared_frames = self.undeclared_frames.saturating_add(1);
            self.undeclared_tracks.note(track);
        }
    }

    /// Removes every SimpleTag (with the ones nested in it) whose name or value the reader
    /// would refuse, counting it.
    pub fn fit_tags(&mut self, groups: &mut Vec<TagGroup>) {
        for g in groups.iter_mut() {
            self.fit_level(&mut g.tags);
        }
        groups.retain(|g| !g.tags.is_empty());
    }

    fn fit_level(&mut self, level: &mut Vec<SimpleTag>) {
        let limits = kvs_ebml::Limits::DEFAULT;
        level.retain_mut(|t| {
            let value = match &t.value {
                TagValue::String(b) => len64(b.len()) > limits.max_string_size,
                TagValue::Binary(b) => len64(b.len()) > limits.max_binary_size,
                _ => false,
            };
            let strings = len64(t.name.len()) > limits.max_string_size
                || t.language.as_ref().is_some_and(|l| len64(l.len()) > limits.max_string_size);
            if value || strings {
                self.tags = self.tags.saturating_add(1);
                let head: String = t.name.chars().take(64).collect();
                let shown = crate::text::escape(&head);
                let size = t.value.raw().map_or(0, |b| len64(b.len())).max(len64(t.name.len()));
                self.tag_names.note(format!("{shown} ({size} bytes)"));
                return false;
            }
            self.fit_level(&mut t.children);
            true
        });
    }

    /// Counts tag groups that could not be held for a file not yet open.
    pub fn unplaced(&mut self, groups: u64) {
        self.unplaced_groups = self.unplaced_groups.saturating_add(groups);
    }

    /// One line per kind of thing left out (none when nothing was), e.g.
    /// `2 frames of tracks that Tracks does not declare not written (track 7)`.
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.undeclared_frames > 0 {
            v.push(format!(
                "{} of tracks that Tracks does not declare not written (track {})",
                plural(self.undeclared_frames, "frame", "frames"),
                self.undeclared_tracks.show()
            ));
        }
        if self.duplicate_entries > 0 {
            v.push(format!(
                "{} repeating a track number of the same Tracks not written, the first of each kept (track {})",
                plural(self.duplicate_entries, "TrackEntry", "TrackEntries"),
                self.duplicate_tracks.show()
            ));
        }
        if self.unaddressable_entries > 0 || self.unaddressable_frames > 0 {
            let mut what = Vec::new();
            if self.unaddressable_entries > 0 {
                what.push(plural(self.unaddressable_entries, "TrackEntry", "TrackEntries"));
            }
            if self.unaddressable_frames > 0 {
                what.push(plural(self.unaddressable_frames, "frame", "frames"));
            }
            v.push(format!(
                "{} of tracks numbered 0 or above 2^56-2 (no block can refer to them) not written (track {})",
                what.join(" and "),
                self.unaddressable_tracks.show()
            ));
        }
        if self.encoded_entries > 0 {
            v.push(format!(
                "{} and {} stored with an encoding kvs-mkv cannot undo not written (track {})",
                plural(self.encoded_entries, "TrackEntry", "TrackEntries"),
                plural(self.encoded_frames, "frame", "frames"),
                self.encoded_tracks.show()
            ));
        }
        if self.unplaced_groups > 0 {
            v.push(format!(
                "{} of fragments without media before the first frame not written (at most {MAX_PENDING_TAG_GROUPS} are held)",
                plural(self.unplaced_groups, "tag group", "tag groups"),
            ));
        }
        if self.tags > 0 {
            v.push(format!(
                "{} larger than kvs-mkv reads (1 MiB for a TagString, 32 MiB for a TagBinary) not written: {}",
                plural(self.tags, "tag", "tags"),
                self.tag_names.show()
            ));
        }
        v
    }
}

/// The tracks of a file, reduced to what decides whether two documents can share a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TracksKey(Vec<TrackKey>);

/// Number, type, codec id, codec private, video size, audio format.
type TrackKey = (u64, TrackType, Option<String>, Option<Vec<u8>>, Option<(u64, u64)>, Option<u64>);

impl TracksKey {
    /// The key of a track list: number, type, codec id, codec private, video size, audio
    /// rate/channels/bit depth (names and UIDs may differ).
    pub fn of(tracks: &[Track]) -> Self {
        Self(
            tracks
                .iter()
                .map(|t| {
                    let audio = t.audio.map(|a| {
                        let rate = a.sampling_frequency.map_or(0, f64::to_bits);
                        rate ^ a.channels.unwrap_or(0).rotate_left(48)
                            ^ a.bit_depth.unwrap_or(0).rotate_left(56)
                    });
                    (
                        t.number,
                        t.kind,
                        t.codec_id.clone(),
                        t.codec_private.as_ref().map(|b| b.to_vec()),
                        t.video.map(|v| (v.width.unwrap_or(0), v.height.unwrap_or(0))),
                        audio,
                    )
                })
                .collect(),
        )
    }
}

/// One Tag element: its Targets and SimpleTags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagGroup {
    /// What the tags are about.
    pub targets: Targets,
    /// Its SimpleTags, in order.
    pub tags: Vec<SimpleTag>,
}

/// Rebuilds Tag elements from tag events: consecutive events with the same targets share a
/// Tag; an event with parents nests under the latest SimpleTag of that path.
#[derive(Debug, Default, Clone)]
pub struct TagCollector {
    groups: Vec<TagGroup>,
}

impl TagCollector {
    /// Adds one tag event.
    pub fn push(&mut self, tag: &Tag) {
        let node = SimpleTag {
            name: tag.name.clone(),
            value: tag.value.clone(),
            language: tag.language.clone(),
            default: tag.default,
            children: Vec::new(),
        };
        let same_group = self.groups.last().is_some_and(|g| g.targets == tag.targets);
        if !same_group {
            self.groups.push(TagGroup { targets: tag.targets.clone(), tags: Vec::new() });
        }
        if let Some(group) = self.groups.last_mut() {
            nest(&mut group.tags, &tag.parents, node);
        }
    }

    /// The groups collected so far, leaving none.
    pub fn take(&mut self) -> Vec<TagGroup> {
        std::mem::take(&mut self.groups)
    }
}

/// Puts `node` under the latest SimpleTag named by each of `parents` in turn (as far as
/// they match).
fn nest(level: &mut Vec<SimpleTag>, parents: &[String], node: SimpleTag) {
    match (parents.split_first(), level.last_mut()) {
        (Some((first, rest)), Some(last)) if &last.name == first => nest(&mut last.children, rest, node),
        _ => level.push(node),
    }
}

/// `1511852109.126` from epoch milliseconds, as the service writes its timestamps.
pub fn seconds_text(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// The service's tags written before a fragment's cluster.
pub fn aws_start_tags(m: &FragmentMetadata) -> Vec<SimpleTag> {
    let mut v = Vec::new();
    if let Some(n) = &m.fragment_number {
        v.push(SimpleTag::text("AWS_KINESISVIDEO_FRAGMENT_NUMBER", n.as_str()));
    }
    // GetMediaForFragmentList's spellings stay its own: a reader then knows the fragment
    // carries no continuation token by design.
    let (server, producer) = if m.from_fragment_list {
        ("AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP", "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP")
    } else {
        ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")
    };
    if let Some(t) = m.server_timestamp_ms {
        v.push(SimpleTag::text(server, seconds_text(t)));
    }
    if let Some(t) = m.producer_timestamp_ms {
        v.push(SimpleTag::text(producer, seconds_text(t)));
    }
    v
}

/// The service's tags written after a fragment's cluster (and an error chunk's).
pub fn aws_end_tags(end: &FragmentEnd, error: Option<&ErrorChunk>) -> Vec<SimpleTag> {
    let mut v = Vec::new();
    if let Some(e) = error {
        if let Some(n) = &e.fragment_number {
            v.push(SimpleTag::text("AWS_KINESISVIDEO_FRAGMENT_NUMBER", n.as_str()));
        }
        match (e.id, &e.raw_id) {
            (Some(id), _) => v.push(SimpleTag::text("AWS_KINESISVIDEO_ERROR_ID", id.code().to_string())),
            (None, Some(raw)) => v.push(SimpleTag::text("AWS_KINESISVIDEO_ERROR_ID", raw.as_str())),
            (None, None) => {}
        }
        if let Some(code) = &e.code {
            v.push(SimpleTag::text("AWS_KINESISVIDEO_ERROR_CODE", code.as_str()));
        }
    }
    if let Some(m) = end.millis_behind_now {
        v.push(SimpleTag::text("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", m.to_string()));
    }
    if let Some(t) = &end.continuation_token {
        v.push(SimpleTag::text("AWS_KINESISVIDEO_CONTINUATION_TOKEN", t.as_str()));
    }
    v
}

/// A cluster being written: its header goes out with its first block (an 8-byte size
/// field, patched when it closes), so a cluster without blocks leaves nothing in the file.
struct OpenCluster {
    /// Its Timestamp, in TimestampScale units.
    timestamp: u64,
    /// Whether its first block is a keyframe of the cue track.
    cue: bool,
    blocks: u64,
    /// File offset of its size field, once its header is written.
    size_at: Option<u64>,
}

/// The Cluster ID and its 8-byte size field.
const CLUSTER_HEADER_LEN: u64 = 12;

/// What a finished file holds.
#[derive(Debug, Clone, Default)]
pub struct FileStats {
    /// Where it was written.
    pub path: PathBuf,
    /// Frames (blocks) written.
    pub frames: u64,
    /// Clusters written.
    pub clusters: u64,
    /// The file's size.
    pub bytes: u64,
    /// The end of its last frame (timestamp plus duration), in ns.
    pub duration_ns: u64,
}

/// One output Matroska file, written as events arrive.
pub struct MkvFile {
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes written so far.
    pos: u64,
    /// File offset of the Segment's payload (every Seek and Cue position is relative to it).
    segment_data: u64,
    /// File offset of the Duration float's payload.
    duration_at: u64,
    /// File offset of the Cues Seek entry.
    cues_seek_at: u64,
    /// TimestampScale, nanoseconds per unit.
    scale: u64,
    cue_track: Option<u64>,
    /// The track numbers the file declares, sorted.
    declared: Vec<u64>,
    cluster: Option<OpenCluster>,
    cues: Vec<(u64, u64, u64)>,
    /// The end of the latest frame (timestamp + duration), in ns.
    end_ns: i64,
    stats: FileStats,
}

/// The track used for cue points: the first video track, else the first track.
fn cue_track(tracks: &[Track]) -> Option<u64> {
    tracks.iter().find(|t| t.kind == TrackType::Video).or_else(|| tracks.first()).map(|t| t.number)
}

fn enc(path: &Path) -> impl Fn(WriteError) -> OutError + '_ {
    move |source| OutError::Encode { path: path.to_path_buf(), source }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl MkvFile {
    /// Creates `path` and writes the header: EBML header, Segment, SeekHead, Info, Tracks.
    /// `tracks` should have passed [`Dropped::usable_tracks`].
    pub fn create(path: &Path, tracks: &[Track], scale: u64) -> Result<Self, OutError> {
        let e = enc(path);
        let scale = scale.max(1);
        let mut head = Writer::with_capacity(4096);
        write_ebml_header(&mut head, "matroska").map_err(&e)?;
        // The Segment's size: eight bytes, patched by `finish`.
        head.header(ids::SEGMENT, kvs_ebml::Size::Known(0), SizeWidth::Fixed(8)).map_err(&e)?;
        let segment_data = len64(head.len());

        let mut info = Writer::new();
        info.master(ids::INFO, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.unsigned(ids::TIMESTAMP_SCALE, scale)?;
            w.utf8(ids::MUXING_APP, concat!("kvs-mkv ", env!("CARGO_PKG_VERSION")))?;
            w.utf8(ids::WRITING_APP, concat!("kvs-mkv ", env!("CARGO_PKG_VERSION")))?;
            // Last, so its payload is the last eight bytes of Info.
            w.float(ids::DURATION, 0.0)
        })
        .map_err(&e)?;
        let mut tracks_w = Writer::new();
        write_tracks(&mut tracks_w, tracks, TrackEntryOptions::STANDALONE).map_err(&e)?;

        let seek_head = |info_at: u64, tracks_at: u64| -> Result<Vec<u8>, WriteError> {
            let mut w = Writer::new();
            w.master(ids::SEEK_HEAD, MasterSize::Known(SizeWidth::Minimal), |w| {
                for (id, at) in [(ids::INFO, info_at), (ids::TRACKS, tracks_at), (ids::CUES, 0)] {
                    w.master(ids::SEEK, MasterSize::Known(SizeWidth::Minimal), |w| {
                        w.binary(ids::SEEK_ID, &id.0.to_be_bytes())?;
                        w.unsigned_with(ids::SEEK_POSITION, at, 8, SizeWidth::Minimal)
                    })?;
                }
                Ok(())
            })?;
            w.finish()
        };
        let sh_len = len64(seek_head(0, 0).map_err(&e)?.len());
        let info_at = sh_len;
        let tracks_at = info_at.saturating_add(len64(info.len()));
        let sh = seek_head(info_at, tracks_at).map_err(&e)?;
        let cues_seek_at = segment_data.saturating_add(sh_len).saturating_sub(len64(CUES_SEEK_LEN));
        let duration_at = segment_data.saturating_add(tracks_at).saturating_sub(8);
        head.raw(&sh).map_err(&e)?;
        head.raw(info.as_bytes()).map_err(&e)?;
        head.raw(tracks_w.as_bytes()).map_err(&e)?;
        let bytes = head.into_inner();

        let io_err = |source| OutError::Io { path: path.to_path_buf(), source };
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(path).map_err(io_err)?);
        out.write_all(&bytes).map_err(io_err)?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
            pos: len64(bytes.len()),
            segment_data,
            duration_at,
            cues_seek_at,
            scale,
            cue_track: cue_track(tracks),
            declared: {
                let mut d: Vec<u64> = tracks.iter().map(|t| t.number).collect();
                d.sort_unstable();
                d
            },
            cluster: None,
            cues: Vec::new(),
            end_ns: 0,
            stats: FileStats { path: path.to_path_buf(), ..FileStats::default() },
        })
    }

    /// The TimestampScale of the file.
    pub fn scale(&self) -> u64 {
        self.scale
    }

    fn io(&self) -> impl Fn(io::Error) -> OutError + '_ {
        move |source| OutError::Io { path: self.path.clone(), source }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), OutError> {
        self.out.write_all(bytes).map_err(|source| OutError::Io { path: self.path.clone(), source })?;
        self.pos = self.pos.saturating_add(len64(bytes.len()));
        Ok(())
    }

    /// Whether the file declares `track` (only its frames can be written).
    pub fn declares(&self, track: u64) -> bool {
        self.declared.binary_search(&track).is_ok()
    }

    /// Starts a cluster at `timestamp_ns` (rounded down to the TimestampScale, at least 0).
    pub fn begin_cluster(&mut self, timestamp_ns: i64) -> Result<(), OutError> {
        self.close_cluster()?;
        let units = u64::try_from(timestamp_ns.max(0)).unwrap_or(0).checked_div(self.scale).unwrap_or(0);
        self.cluster = Some(OpenCluster { timestamp: units, cue: false, blocks: 0, size_at: None });
        Ok(())
    }

    /// Ends the open cluster, if any: patches its size.
    pub fn close_cluster(&mut self) -> Result<(), OutError> {
        let Some(c) = self.cluster.take() else { return Ok(()) };
        let Some(size_at) = c.size_at else { return Ok(()) };
        let size = self.pos.saturating_sub(size_at.saturating_add(8));
        let (field, n) = kvs_ebml::vint::encode_size(size, 8).ok_or(OutError::Encode {
            path: self.path.clone(),
            source: WriteError::SizeTooLarge { id: ids::CLUSTER, size, width: 8 },
        })?;
        self.patch(size_at, field.get(..n).unwrap_or(&[]))?;
        self.stats.clusters = self.stats.clusters.saturating_add(1);
        Ok(())
    }

    /// Writes the open cluster's header (before its first block).
    fn cluster_header(&mut self) -> Result<(), OutError> {
        let Some(c) = self.cluster.as_ref() else { return Ok(()) };
        if c.size_at.is_some() {
            return Ok(());
        }
        let (timestamp, cue) = (c.timestamp, c.cue);
        let at = self.pos.saturating_sub(self.segment_data);
        let mut w = Writer::with_capacity(32);
        w.header(ids::CLUSTER, kvs_ebml::Size::Known(0), SizeWidth::Fixed(8)).map_err(enc(&self.path))?;
        w.unsigned(ids::TIMESTAMP, timestamp).map_err(enc(&self.path))?;
        let size_at = self.pos.saturating_add(4);
        self.write(w.as_bytes())?;
        if let (true, Some(track)) = (cue, self.cue_track) {
            self.cues.push((timestamp, track, at));
        }
        if let Some(c) = self.cluster.as_mut() {
            c.size_at = Some(size_at);
        }
        Ok(())
    }

    /// Writes one frame at `timestamp_ns` (output time), straight to the file. `in_scale` is
    /// the TimestampScale its ReferenceBlocks are counted in; `duration_ns` its duration, if
    /// known, for the file's Duration. The caller checks [`MkvFile::declares`] first; a track
    /// number no block header can carry is an error.
    pub fn frame(
        &mut self,
        frame: &Frame,
        timestamp_ns: i64,
        in_scale: u64,
        duration_ns: u64,
    ) -> Result<(), OutError> {
        let scale = i64::try_from(self.scale).unwrap_or(i64::MAX);
        let relative = |c: &OpenCluster| -> Option<i16> {
            let cluster_ns = i64::try_from(c.timestamp).ok()?.checked_mul(scale)?;
            let delta = timestamp_ns.checked_sub(cluster_ns)?;
            i16::try_from(delta.div_euclid(scale)).ok()
        };
        let written = |c: &OpenCluster| c.size_at.map_or(0, |at| self.pos.saturating_sub(at));
        let fits = self.cluster.as_ref().is_some_and(|c| {
            relative(c).is_some() && written(c) < MAX_CLUSTER_BYTES.saturating_sub(CLUSTER_HEADER_LEN)
        });
        if !fits {
            self.begin_cluster(timestamp_ns)?;
        }
        let cue_track = self.cue_track;
        let Some(c) = self.cluster.as_mut() else { return Ok(()) };
        // A frame before its cluster's start by more than i16 units cannot happen: a new
        // cluster starts at the frame (or at 0 for a negative time, which then fits).
        let rel = relative(c).unwrap_or(0);
        if c.blocks == 0 && frame.keyframe && Some(frame.track) == cue_track {
            c.cue = true;
        }
        let group = frame.duration_ns.is_some() || !frame.references.is_empty();
        let flags = block_flags(frame.keyframe, frame.invisible, frame.discardable, group);
        let mut block = Vec::with_capacity(16);
        write_block_header(&mut block, frame.track, rel, flags).ok_or(OutError::Encode {
            path: self.path.clone(),
            source: WriteError::VintTooLarge(frame.track),
        })?;
        let block_len = len64(block.len().saturating_add(frame.data.len()));
        let path = self.path.clone();
        let e = enc(&path);
        // Everything but the payload, before and after it.
        let mut head = Vec::with_capacity(48);
        let mut tail = Writer::new();
        if group {
            let in_scale = i64::try_from(in_scale.max(1)).unwrap_or(1);
            if let Some(d) = frame.duration_ns {
                tail.unsigned(ids::BLOCK_DURATION, d.div_ceil(self.scale)).map_err(&e)?;
            }
            for r in &frame.references {
                let ns = r.saturating_mul(in_scale);
                tail.signed(ids::REFERENCE_BLOCK, ns.div_euclid(scale)).map_err(&e)?;
            }
            let mut inner = Vec::with_capacity(16);
            write_header(&mut inner, ids::BLOCK, kvs_ebml::Size::Known(block_len), SizeWidth::Minimal)
                .map_err(&e)?;
            let group_len = len64(inner.len()).saturating_add(block_len).saturating_add(len64(tail.len()));
            write_header(&mut head, ids::BLOCK_GROUP, kvs_ebml::Size::Known(group_len), SizeWidth::Minimal)
                .map_err(&e)?;
            head.extend_from_slice(&inner);
        } else {
            write_header(&mut head, ids::SIMPLE_BLOCK, kvs_ebml::Size::Known(block_len), SizeWidth::Minimal)
                .map_err(&e)?;
        }
        head.extend_from_slice(&block);
        self.cluster_header()?;
        self.write(&head)?;
        self.write(&frame.data)?;
        self.write(tail.as_bytes())?;
        if let Some(c) = self.cluster.as_mut() {
            c.blocks = c.blocks.saturating_add(1);
        }
        self.stats.frames = self.stats.frames.saturating_add(1);
        let end = timestamp_ns.saturating_add(i64::try_from(duration_ns).unwrap_or(0));
        self.end_ns = self.end_ns.max(end);
        Ok(())
    }

    /// Writes a Tags element (closing the open cluster first); nothing for no groups. A tag
    /// the reader would refuse is left out and counted in `dropped`.
    pub fn tags(&mut self, groups: &[TagGroup], dropped: &mut Dropped) -> Result<(), OutError> {
        if groups.iter().all(|g| g.tags.is_empty()) {
            return Ok(());
        }
        let mut fitted;
        let mut groups = groups;
        if groups.iter().any(|g| !fits(&g.tags)) {
            fitted = groups.to_vec();
            dropped.fit_tags(&mut fitted);
            groups = &fitted;
            if groups.is_empty() {
                return Ok(());
            }
        }
        self.close_cluster()?;
        let mut w = Writer::new();
        write_tags(&mut w, groups).map_err(enc(&self.path))?;
        let bytes = w.into_inner();
        self.write(&bytes)
    }

    /// Writes the Cues, patches the sizes and the duration, and flushes.
    pub fn finish(mut self) -> Result<FileStats, OutError> {
        self.close_cluster()?;
        let cues_at = self.pos.saturating_sub(self.segment_data);
        if self.cues.is_empty() {
            // No cue points: the Cues Seek entry becomes a Void of the same length.
            let mut void = vec![0u8; CUES_SEEK_LEN];
            let payload = u8::try_from(CUES_SEEK_LEN.saturating_sub(2)).unwrap_or(0);
            void.splice(0..2, [0xEC, 0x80 | payload]);
            self.patch(self.cues_seek_at, &void)?;
        } else {
            let mut w = Writer::new();
            let cues = std::mem::take(&mut self.cues);
            w.master(ids::CUES, MasterSize::Known(SizeWidth::Minimal), |w| {
                for (time, track, at) in &cues {
                    w.master(ids::CUE_POINT, MasterSize::Known(SizeWidth::Minimal), |w| {
                        w.unsigned(ids::CUE_TIME, *time)?;
                        w.master(ids::CUE_TRACK_POSITIONS, MasterSize::Known(SizeWidth::Minimal), |w| {
                            w.unsigned(ids::CUE_TRACK, *track)?;
                            w.unsigned(ids::CUE_CLUSTER_POSITION, *at)
                        })
                    })?;
                }
                Ok(())
            })
            .map_err(enc(&self.path))?;
            let bytes = w.into_inner();
            self.write(&bytes)?;
            self.patch(
                self.cues_seek_at.saturating_add(len64(CUES_SEEK_LEN)).saturating_sub(8),
                &cues_at.to_be_bytes(),
            )?;
        }
        let segment_size = self.pos.saturating_sub(self.segment_data);
        let (size_field, n) = kvs_ebml::vint::encode_size(segment_size, 8).ok_or(OutError::Encode {
            path: self.path.clone(),
            source: WriteError::SizeTooLarge { id: ids::SEGMENT, size: segment_size, width: 8 },
        })?;
        self.patch(self.segment_data.saturating_sub(8), size_field.get(..n).unwrap_or(&[]))?;
        // Duration is a float in TimestampScale units.
        #[allow(clippy::cast_precision_loss)]
        let units = self.end_ns.max(0) as f64 / self.scale as f64;
        self.patch(self.duration_at, &units.to_be_bytes())?;
        self.out.flush().map_err(self.io())?;
        self.stats.bytes = self.pos;
        self.stats.duration_ns = u64::try_from(self.end_ns.max(0)).unwrap_or(0);
        Ok(self.stats)
    }

    fn patch(&mut self, at: u64, bytes: &[u8]) -> Result<(), OutError> {
        let path = self.path.clone();
        let io = |source| OutError::Io { path: path.clone(), source };
        self.out.seek(SeekFrom::Start(at)).map_err(io)?;
        self.out.write_all(bytes).map_err(io)?;
        self.out.seek(SeekFrom::Start(self.pos)).map_err(io)?;
        Ok(())
    }
}

/// Whether every SimpleTag of `level` (nested ones too) is within the reader's limits.
fn fits(level: &[SimpleTag]) -> bool {
    let limits = kvs_ebml::Limits::DEFAULT;
    level.iter().all(|t| {
        let value = match &t.value {
            TagValue::String(b) => len64(b.len()) <= limits.max_string_size,
            TagValue::Binary(b) => len64(b.len()) <= limits.max_binary_size,
            _ => true,
        };
        value
            && len64(t.name.len()) <= limits.max_string_size
            && t.language.as_ref().is_none_or(|l| len64(l.len()) <= limits.max_string_size)
            && fits(&t.children)
    })
}

/// One Tags element holding each group as a Tag.
fn write_tags(w: &mut Writer, groups: &[TagGroup]) -> Result<(), WriteError> {
    w.master(ids::TAGS, MasterSize::Known(SizeWidth::Minimal), |w| {
        for g in groups.iter().filter(|g| !g.tags.is_empty()) {
            w.master(ids::TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.master(ids::TARGETS, MasterSize::Known(SizeWidth::Minimal), |w| {
                    if let Some(v) = g.targets.type_value {
                        w.unsigned(ids::TARGET_TYPE_VALUE, v)?;
                    }
                    if let Some(n) = &g.targets.type_name {
                        w.string(ids::TARGET_TYPE, n)?;
                    }
                    for uid in &g.targets.track_uids {
                        w.unsigned(ids::TAG_TRACK_UID, *uid)?;
                    }
                    Ok(())
                })?;
                for t in &g.tags {
                    write_simple_tag(w, t)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
}

/// A plain group of SimpleTags (no targets).
pub fn group(tags: Vec<SimpleTag>) -> Vec<TagGroup> {
    if tags.is_empty() { Vec::new() } else { vec![TagGroup { targets: Targets::default(), tags }] }
}

/// The most tag groups `merge` holds for a file it has not opened yet (tags of fragments
/// without media before the first frame).
pub const MAX_PENDING_TAG_GROUPS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn track(number: u64, codec: &str) -> Track {
        Track::new(number, kvs_chunk::TrackType::Unknown, codec)
    }

    #[test]
    fn usable_tracks_keep_the_first_of_a_number_and_only_numbers_a_block_can_carry() {
        let mut d = Dropped::default();
        let kept = d.usable_tracks(vec![
            track(1, "AVC"),
            track(1, "HEVC"),
            track(0, "X"),
            track(MAX_TRACK_NUMBER, "MAX"),
            track(MAX_TRACK_NUMBER + 1, "TOO"),
            track(u64::MAX, "TOO"),
        ]);
        let got: Vec<(u64, &str)> =
            kept.iter().map(|t| (t.number, t.codec_id.as_deref().unwrap_or(""))).collect();
        assert_eq!(got, [(1, "AVC"), (MAX_TRACK_NUMBER, "MAX")]);
        d.frame(7);
        d.frame(7);
        d.frame(1 << 56);
        let lines = d.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("2 frames of tracks that Tracks does not declare")
                && lines[0].ends_with("(track 7)")
        );
        assert!(lines[1].contains("1 TrackEntry repeating") && lines[1].ends_with("(track 1)"));
        assert!(
            lines[2].starts_with("3 TrackEntries and 1 frame") && lines[2].contains("2^56-2"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn a_few_tracks_are_listed_then_an_ellipsis() {
        let mut d = Dropped::default();
        for n in 10..20 {
            d.frame(n);
        }
        assert!(d.lines()[0].ends_with("(track 10, 11, 12, 13, ...)"), "{:?}", d.lines());
    }

    #[test]
    fn tags_over_the_reader_limits_are_left_out_with_their_children() {
        let big = "x".repeat(usize::try_from(kvs_ebml::Limits::DEFAULT.max_string_size).unwrap_or(0) + 1);
        let mut parent = SimpleTag::text("PARENT", big);
        parent.children.push(SimpleTag::text("CHILD", "c"));
        let mut groups =
            vec![TagGroup { targets: Targets::default(), tags: vec![SimpleTag::text("KEEP", "k"), parent] }];
        assert!(!groups.iter().all(|g| fits(&g.tags)));
        let mut d = Dropped::default();
        d.fit_tags(&mut groups);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].tags.len(), 1);
        assert_eq!(groups[0].tags[0].name, "KEEP");
        let lines = d.lines();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("1 tag larger than kvs-mkv reads")
                && lines[0].ends_with("PARENT (1048577 bytes)"),
            "{}",
            lines[0]
        );
        // A TagBinary may be larger than a TagString.
        let mut ok = vec![TagGroup {
            targets: Targets::default(),
            tags: vec![SimpleTag {
                name: "B".into(),
                value: TagValue::Binary(vec![0; 2 << 20].into()),
                ..SimpleTag::default()
            }],
        }];
        assert!(fits(&ok[0].tags));
        d.fit_tags(&mut ok);
        assert_eq!(ok[0].tags.len(), 1);
    }
}
