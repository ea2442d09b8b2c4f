//! What a sequence of fragments says about the stream: per-fragment rows (status, media
//! duration, counts, lag), what looks wrong against the fragment before (gaps in producer
//! time, timestamps that restart or jump) and totals. Push [`Fragment`]s into a
//! [`StreamAnalysis`] (from a [`FragmentAssembler`](crate::FragmentAssembler), which need
//! not keep frames); no I/O, no formatting.
//!
//! ```
//! use kvs_chunk::analysis::{Reading, RowStatus, StreamAnalysis};
//! use kvs_chunk::{Events, Fragments};
//!
//! let input = std::fs::read("../../testdata/getmedia_basic.mkv")?;
//! let mut analysis = StreamAnalysis::new();
//! for fragment in Fragments::without_frames(Events::new(input.into())) {
//!     let row = analysis.push(&fragment?, Reading::default());
//!     assert_eq!(row.status, RowStatus::Complete);
//!     assert!(row.findings.is_empty());
//! }
//! assert_eq!(analysis.totals().complete, analysis.totals().fragments);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::{ErrorChunk, Fragment, FragmentNumber, Frame, Track};

/// The most track numbers whose last frame [`Durations`] remembers (per document).
const MAX_TIMED_TRACKS: usize = 256;

/// An estimate of each track's frame duration, from durations, DefaultDuration or the
/// spacing of its frames. Bounded: at most 256 track numbers are remembered.
#[derive(Debug, Default, Clone)]
pub struct Durations {
    last: HashMap<u64, (i64, u64)>,
    default: HashMap<u64, u64>,
}

impl Durations {
    /// Takes the DefaultDurations of a new track list.
    pub fn tracks(&mut self, tracks: &[Track]) {
        self.default = tracks.iter().filter_map(|t| Some((t.number, t.default_duration_ns?))).collect();
    }

    /// The duration of `frame` (at `timestamp_ns`), best known: its own, else its track's
    /// DefaultDuration, else the spacing from the track's previous frame (or that frame's
    /// duration when the timestamps do not advance).
    pub fn of(&mut self, frame: &Frame, timestamp_ns: i64) -> u64 {
        let spacing = self.last.get(&frame.track).map_or(0, |&(prev_ts, prev_d)| {
            let d = timestamp_ns.saturating_sub(prev_ts);
            if d > 0 { u64::try_from(d).unwrap_or(0) } else { prev_d }
        });
        let d = frame
            .duration_ns
            .or_else(|| self.default.get(&frame.track).copied())
            .filter(|&d| d > 0)
            .unwrap_or(spacing);
        // Bounded: a producer can put every block on a new track number.
        if self.last.len() < MAX_TIMED_TRACKS || self.last.contains_key(&frame.track) {
            self.last.insert(frame.track, (timestamp_ns, d));
        }
        d
    }

    /// Forgets the frames seen (a new document or file begins).
    pub fn reset(&mut self) {
        self.last.clear();
    }
}

/// How a fragment was read, as the caller knows it (the analysis sees only fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Part of it was unreadable or skipped (the reader reported a problem inside it).
    pub damaged: bool,
    /// The input ended, or reading stopped, inside it (it has no `FragmentEnd`).
    pub cut: bool,
}

/// What a fragment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    /// An in-stream error chunk (its first error).
    Error(ErrorChunk),
    /// A KVS fragment whose continuation token arrived.
    Complete,
    /// A KVS fragment (it has a fragment number) without its continuation token: the
    /// stream was cut.
    Incomplete,
    /// A document without KVS fragment tags (plain Matroska/WebM): complete when read whole.
    Plain,
}

/// Something wrong against the fragment before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// Producer time skips ahead of where the previous fragment ended: `ms` missing.
    Gap {
        /// How much, ms.
        ms: i64,
    },
    /// Producer time goes back from where the previous fragment ended.
    ProducerTimeBack {
        /// How far, ms.
        ms: i64,
    },
    /// Media timestamps start again at or before the previous fragment's first.
    TimestampsRestart {
        /// This fragment's first frame timestamp, ms.
        first_ms: i64,
        /// The previous fragment's media end, ms.
        after_ms: i64,
    },
    /// Media timestamps jump by more than producer time explains.
    TimestampsJump {
        /// The unexplained difference, ms (negative: back).
        ms: i64,
    },
}

/// `2.000 s`, `-1.500 s`: milliseconds as seconds with three decimals.
#[must_use]
pub fn secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", a / 1000, a % 1000)
}

impl fmt::Display for Finding {
    /// The note `inspect` prints (and the HTML report shows): `gap of 3.000 s before it`,
    /// `timestamps jump +10.000 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Finding::Gap { ms } => write!(f, "gap of {} before it", secs(ms)),
            Finding::ProducerTimeBack { ms } => write!(f, "producer time goes back {}", secs(ms)),
            Finding::TimestampsRestart { first_ms, after_ms } => {
                write!(f, "timestamps restart: {first_ms} after {after_ms}")
            }
            Finding::TimestampsJump { ms } => {
                write!(f, "timestamps jump {}{}", if ms > 0 { "+" } else { "" }, secs(ms))
            }
        }
    }
}

/// One fragment as the analysis sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentRow {
    /// Its position among the rows, from 0.
    pub row: u64,
    /// The fragment number, if the service sent one.
    pub fragment_number: Option<FragmentNumber>,
    /// The fragment's offset (see [`Fragment::offset`]).
    pub offset: u64,
    /// Producer time, epoch ms (may be relative).
    pub producer_timestamp_ms: Option<i64>,
    /// Server time, epoch ms.
    pub server_timestamp_ms: Option<i64>,
    /// Media duration (earliest frame to the latest frame's end), ns.
    pub duration_ns: i64,
    /// Frames.
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Bytes of frame data.
    pub bytes: u64,
    /// Millis-behind-now, if the service sent it.
    pub millis_behind_now: Option<u64>,
    /// What the fragment is.
    pub status: RowStatus,
    /// See [`Reading::damaged`].
    pub damaged: bool,
    /// See [`Reading::cut`].
    pub cut: bool,
    /// What looks wrong against the fragment before, in the order found.
    pub findings: Vec<Finding>,
}

impl FragmentRow {
    /// Server time minus producer time, ms: how far the producer's clock is behind the
    /// service's when the fragment arrived (upload delay plus clock drift), if both were sent.
    #[must_use]
    pub fn clock_offset_ms(&self) -> Option<i64> {
        Some(self.server_timestamp_ms?.saturating_sub(self.producer_timestamp_ms?))
    }

    /// Media duration in whole milliseconds (rounded down).
    #[must_use]
    pub fn duration_ms(&self) -> i64 {
        ns_to_ms(self.duration_ns)
    }

    /// Whether this is an in-stream error chunk.
    #[must_use]
    pub const fn is_error(&self) -> bool {
        matches!(self.status, RowStatus::Error(_))
    }

    /// Whether a finding says the media timestamps restarted before it.
    #[must_use]
    pub fn restarts(&self) -> bool {
        self.findings.iter().any(|f| matches!(f, Finding::TimestampsRestart { .. }))
    }

    /// The producer time missing before it (a [`Finding::Gap`]), ms.
    #[must_use]
    pub fn gap_ms(&self) -> Option<i64> {
        self.findings.iter().find_map(|f| match f {
            Finding::Gap { ms } => Some(*ms),
            _ => None,
        })
    }
}

/// One track's frames in one fragment, from [`FrameTally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackTally {
    /// The track number.
    pub track: u64,
    /// Frames.
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Bytes of frame data.
    pub bytes: u64,
    /// The largest frame, bytes.
    pub max_frame_bytes: u64,
    /// The longest interval between two keyframes of the track that ends in this fragment
    /// (the previous keyframe may be in an earlier fragment), ms; `None` without a keyframe
    /// after an earlier one.
    pub max_keyframe_interval_ms: Option<i64>,
}

impl TrackTally {
    /// The mean frame size, bytes (0 without frames).
    #[must_use]
    pub fn mean_frame_bytes(&self) -> u64 {
        self.bytes.checked_div(self.frames).unwrap_or(0)
    }
}

/// Per-track counts of the frames of each fragment (bytes, largest frame, keyframe
/// intervals), which [`FragmentStats`](crate::FragmentStats) does not split by track. Feed
/// it every frame ([`FrameTally::frame`]) and take each fragment's tallies at its end
/// ([`FrameTally::take`]). Bounded: at most 256 tracks per fragment are counted; keyframe
/// times are remembered for at most 256 tracks.
#[derive(Debug, Clone, Default)]
pub struct FrameTally {
    current: BTreeMap<u64, TrackTally>,
    last_keyframe_ns: HashMap<u64, i64>,
}

impl FrameTally {
    /// Counts one frame of the fragment in progress.
    pub fn frame(&mut self, frame: &Frame) {
        if self.current.len() >= MAX_TIMED_TRACKS && !self.current.contains_key(&frame.track) {
            return;
        }
        let t = self
            .current
            .entry(frame.track)
            .or_insert(TrackTally { track: frame.track, ..TrackTally::default() });
        let size = u64::try_from(frame.data.len()).unwrap_or(u64::MAX);
        t.frames = t.frames.saturating_add(1);
        t.bytes = t.bytes.saturating_add(size);
        t.max_frame_bytes = t.max_frame_bytes.max(size);
        if frame.keyframe {
            t.keyframes = t.keyframes.saturating_add(1);
            if let Some(prev) = self.last_keyframe_ns.get(&frame.track) {
                let d = frame.timestamp_ns.saturating_sub(*prev);
                // Timestamps that go back (a restart) say nothing about the interval.
                if d > 0 {
                    let ms = ns_to_ms(d);
                    t.max_keyframe_interval_ms = Some(t.max_keyframe_interval_ms.map_or(ms, |m| m.max(ms)));
                }
            }
            if self.last_keyframe_ns.len() < MAX_TIMED_TRACKS
                || self.last_keyframe_ns.contains_key(&frame.track)
            {
                self.last_keyframe_ns.insert(frame.track, frame.timestamp_ns);
            }
        }
    }

    /// The tallies of the fragment that just ended, by track number; the next fragment
    /// starts from nothing (keyframe times carry over).
    pub fn take(&mut self) -> Vec<TrackTally> {
        std::mem::take(&mut self.current).into_values().collect()
    }

    /// Forgets the keyframe times (a new, unrelated input begins).
    pub fn reset(&mut self) {
        self.current.clear();
        self.last_keyframe_ns.clear();
    }
}

/// What the rows add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Rows.
    pub fragments: u64,
    /// Complete KVS fragments.
    pub complete: u64,
    /// Incomplete KVS fragments.
    pub incomplete: u64,
    /// In-stream errors.
    pub errors: u64,
    /// Gaps in producer time.
    pub gaps: u64,
    /// Producer time missing in those gaps, ms.
    pub gap_ms: i64,
    /// Media timestamp jumps and restarts.
    pub jumps: u64,
    /// Frames.
    pub frames: u64,
    /// Bytes of frame data.
    pub bytes: u64,
    /// Media duration, ns.
    pub media_ns: i64,
    /// Resynchronisations ([`StreamAnalysis::resynced`]).
    pub resyncs: u64,
    /// Documents without KVS fragment tags (plain Matroska/WebM).
    pub plain: u64,
    /// Rows with damage inside them.
    pub damaged: u64,
    /// Rows the input ended or stopped inside of.
    pub cut: u64,
}

impl Totals {
    /// Rows that are KVS fragments (or error chunks): all but the plain documents.
    #[must_use]
    pub const fn kvs_fragments(&self) -> u64 {
        self.fragments.saturating_sub(self.plain)
    }
}

/// What the next fragment is compared with.
#[derive(Debug, Clone, Copy)]
struct Prev {
    producer_ms: Option<i64>,
    first_ns: Option<i64>,
    end_ns: Option<i64>,
}

/// The analysis of a stream, fragment by fragment (see the [module](self) docs).
#[derive(Debug, Clone, Default)]
pub struct StreamAnalysis {
    prev: Option<Prev>,
    totals: Totals,
}

fn ns_to_ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

impl StreamAnalysis {
    /// An analysis of nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The totals so far.
    #[must_use]
    pub const fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Counts a resynchronisation (the reader skipped malformed bytes).
    pub fn resynced(&mut self) {
        self.totals.resyncs = self.totals.resyncs.saturating_add(1);
    }

    /// Takes the next fragment (read as `reading` says); returns its row. An error chunk
    /// is not compared with the fragment before, nor is the next fragment compared with it.
    pub fn push(&mut self, fragment: &Fragment, reading: Reading) -> FragmentRow {
        let stats = &fragment.stats;
        let t = &mut self.totals;
        let row = t.fragments;
        let frames = stats.total_frames();
        t.fragments = t.fragments.saturating_add(1);
        t.frames = t.frames.saturating_add(frames);
        t.bytes = t.bytes.saturating_add(stats.bytes);
        let duration_ns = stats.duration_ns();
        t.media_ns = t.media_ns.saturating_add(duration_ns);
        let fragment_number = fragment.fragment_number().cloned();
        let status = if let Some(e) = fragment.error() {
            t.errors = t.errors.saturating_add(1);
            RowStatus::Error(e.clone())
        } else if fragment.is_complete() {
            t.complete = t.complete.saturating_add(1);
            RowStatus::Complete
        } else if fragment_number.is_some() {
            t.incomplete = t.incomplete.saturating_add(1);
            RowStatus::Incomplete
        } else {
            t.plain = t.plain.saturating_add(1);
            RowStatus::Plain
        };
        if reading.damaged {
            t.damaged = t.damaged.saturating_add(1);
        }
        if reading.cut {
            t.cut = t.cut.saturating_add(1);
        }
        let mut findings = Vec::new();
        if !matches!(status, RowStatus::Error(_)) {
            self.compare(fragment, duration_ns, &mut findings);
            self.prev = Some(Prev {
                producer_ms: fragment.producer_timestamp_ms(),
                first_ns: stats.first_ns,
                end_ns: stats.end_ns,
            });
        }
        FragmentRow {
            row,
            fragment_number,
            offset: fragment.offset,
            producer_timestamp_ms: fragment.producer_timestamp_ms(),
            server_timestamp_ms: fragment.server_timestamp_ms(),
            duration_ns,
            frames,
            keyframes: stats.total_keyframes(),
            bytes: stats.bytes,
            millis_behind_now: fragment.end.millis_behind_now,
            status,
            damaged: reading.damaged,
            cut: reading.cut,
            findings,
        }
    }

    /// Gaps in producer time and jumps in media time against the previous fragment. The
    /// tolerance is a quarter of the longer of the two fragments' durations, at least 250 ms.
    fn compare(&mut self, f: &Fragment, duration_ns: i64, findings: &mut Vec<Finding>) {
        let Some(prev) = self.prev else { return };
        let tolerance_ms = |d_ns: i64| ns_to_ms(d_ns / 4).max(250);
        let prev_duration = match (prev.first_ns, prev.end_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let tol = tolerance_ms(prev_duration.max(duration_ns));
        // Producer time: the next fragment should start where the previous one ended.
        let producer_gap = match (prev.producer_ms, f.producer_timestamp_ms()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a.saturating_add(ns_to_ms(prev_duration)))),
            _ => None,
        };
        if let Some(gap) = producer_gap {
            if gap > tol {
                self.totals.gaps = self.totals.gaps.saturating_add(1);
                self.totals.gap_ms = self.totals.gap_ms.saturating_add(gap);
                findings.push(Finding::Gap { ms: gap });
            } else if gap < tol.saturating_neg() {
                findings.push(Finding::ProducerTimeBack { ms: gap.saturating_neg() });
            }
        }
        // Media time: frames should continue from the previous fragment, as far as the
        // producer time says.
        if let (Some(end), Some(first)) = (prev.end_ns, f.stats.first_ns) {
            let media_gap = ns_to_ms(first.saturating_sub(end));
            let unexplained = media_gap.saturating_sub(producer_gap.unwrap_or(0));
            if unexplained.abs() > tol {
                self.totals.jumps = self.totals.jumps.saturating_add(1);
                findings.push(if first <= prev.first_ns.unwrap_or(i64::MIN) {
                    Finding::TimestampsRestart { first_ms: ns_to_ms(first), after_ms: ns_to_ms(end) }
                } else {
                    Finding::TimestampsJump { ms: unexplained }
                });
            }
        }
    }
}

#[cfg(test)]
// The event structs are set field by field (not built by literal) so that the tests do not
// depend on every field they have; fixture numbers are small.
#[allow(clippy::field_reassign_with_default, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::{FragmentMetadata, FragmentStats};

    /// A fragment with service metadata and media from `first_ms` to `end_ms`.
    fn fragment(number: &str, producer_ms: i64, first_ms: i64, end_ms: i64, complete: bool) -> Fragment {
        let mut metadata = FragmentMetadata::default();
        metadata.fragment_number = Some(FragmentNumber::new(number));
        metadata.producer_timestamp_ms = Some(producer_ms);
        let mut stats = FragmentStats::default();
        stats.frames.insert(1, 10);
        stats.keyframes.insert(1, 1);
        stats.bytes = 1000;
        stats.first_ns = Some(first_ms * 1_000_000);
        stats.last_ns = Some((end_ms - 33) * 1_000_000);
        stats.end_ns = Some(end_ms * 1_000_000);
        let mut f = Fragment { metadata: Some(metadata), stats: Box::new(stats), ..Fragment::default() };
        f.end.complete = complete;
        f.end.millis_behind_now = Some(42);
        f
    }

    #[test]
    fn continuous_fragments_find_nothing() {
        let mut a = StreamAnalysis::new();
        let r0 = a.push(&fragment("1", 1_000_000, 0, 2000, true), Reading::default());
        let r1 = a.push(&fragment("2", 1_002_000, 2000, 4000, true), Reading::default());
        assert_eq!((r0.row, r1.row), (0, 1));
        assert_eq!(r1.status, RowStatus::Complete);
        assert!(r0.findings.is_empty() && r1.findings.is_empty());
        assert_eq!((r1.duration_ns, r1.frames, r1.keyframes, r1.bytes), (2_000_000_000, 10, 1, 1000));
        assert_eq!(r1.millis_behind_now, Some(42));
        let t = a.totals();
        assert_eq!((t.fragments, t.complete, t.frames, t.bytes, t.media_ns), (2, 2, 20, 2000, 4_000_000_000));
    }

    #[test]
    fn gaps_jumps_restarts_and_going_back() {
        let mut a = StreamAnalysis::new();
        a.push(&fragment("1", 1_000_000, 0, 2000, true), Reading::default());
        // Producer time skips 3 s; the media follow it: a gap, no jump.
        let r = a.push(&fragment("2", 1_005_000, 5000, 7000, true), Reading::default());
        assert_eq!(r.findings, [Finding::Gap { ms: 3000 }]);
        // Producer time continues, the media jump 10 s.
        let r = a.push(&fragment("3", 1_007_000, 17_000, 19_000, true), Reading::default());
        assert_eq!(r.findings, [Finding::TimestampsJump { ms: 10_000 }]);
        // The media start again from 0.
        let r = a.push(&fragment("4", 1_009_000, 0, 2000, false), Reading::default());
        assert_eq!(r.findings, [Finding::TimestampsRestart { first_ms: 0, after_ms: 19_000 }]);
        assert_eq!(r.status, RowStatus::Incomplete);
        // Producer time goes back 5 s, and the media with it.
        let r = a.push(&fragment("5", 1_006_000, -3000, -1000, true), Reading::default());
        assert_eq!(r.findings, [Finding::ProducerTimeBack { ms: 5000 }]);
        let t = a.totals();
        assert_eq!((t.gaps, t.gap_ms, t.jumps, t.incomplete, t.complete), (1, 3000, 2, 1, 4));
    }

    #[test]
    fn error_chunks_plain_documents_and_reading() {
        let mut a = StreamAnalysis::new();
        a.push(&fragment("1", 1_000_000, 0, 2000, true), Reading::default());
        let mut e = ErrorChunk::default();
        e.fragment_number = Some(FragmentNumber::new("9"));
        let r = a.push(&Fragment::of_error_chunk(e.clone()), Reading::default());
        assert_eq!(r.status, RowStatus::Error(e));
        assert_eq!(r.fragment_number, Some(FragmentNumber::new("9")));
        assert_eq!((r.frames, r.duration_ns), (0, 0));
        // Compared with the fragment before the error chunk: no gap.
        let r = a.push(&fragment("2", 1_002_000, 2000, 4000, true), Reading::default());
        assert!(r.findings.is_empty());
        let plain = Fragment::default();
        let r = a.push(&plain, Reading { damaged: true, cut: true });
        assert_eq!(r.status, RowStatus::Plain);
        assert!(r.damaged && r.cut);
        a.resynced();
        let t = a.totals();
        assert_eq!((t.errors, t.plain, t.damaged, t.cut, t.resyncs, t.kvs_fragments()), (1, 1, 1, 1, 1, 3));
    }

    #[test]
    fn findings_read_as_inspect_prints_them() {
        assert_eq!(Finding::Gap { ms: 3000 }.to_string(), "gap of 3.000 s before it");
        assert_eq!(Finding::ProducerTimeBack { ms: 1500 }.to_string(), "producer time goes back 1.500 s");
        assert_eq!(
            Finding::TimestampsRestart { first_ms: 0, after_ms: 11_015 }.to_string(),
            "timestamps restart: 0 after 11015"
        );
        assert_eq!(Finding::TimestampsJump { ms: 10_000 }.to_string(), "timestamps jump +10.000 s");
        assert_eq!(Finding::TimestampsJump { ms: -2001 }.to_string(), "timestamps jump -2.001 s");
        assert_eq!(secs(-1500), "-1.500 s");
    }

    #[test]
    fn row_helpers() {
        let mut a = StreamAnalysis::new();
        let mut f = fragment("1", 1_000_000, 0, 2000, true);
        f.metadata.as_mut().unwrap().server_timestamp_ms = Some(1_000_700);
        let r = a.push(&f, Reading::default());
        assert_eq!(
            (r.clock_offset_ms(), r.duration_ms(), r.is_error(), r.restarts(), r.gap_ms()),
            (Some(700), 2000, false, false, None)
        );
        let r = a.push(&fragment("2", 1_005_000, 0, 2000, true), Reading::default());
        assert_eq!((r.clock_offset_ms(), r.restarts(), r.gap_ms()), (None, true, Some(3000)));
    }

    #[test]
    fn frame_tally_counts_per_track_and_keyframe_intervals() {
        let frame = |track: u64, ms: i64, key: bool, len: usize| Frame {
            track,
            timestamp_ns: ms * 1_000_000,
            keyframe: key,
            data: bytes::Bytes::from(vec![0u8; len]),
            ..Frame::default()
        };
        let mut t = FrameTally::default();
        t.frame(&frame(1, 0, true, 100));
        t.frame(&frame(1, 40, false, 10));
        t.frame(&frame(2, 0, true, 7));
        t.frame(&frame(1, 1000, true, 90));
        let first = t.take();
        assert_eq!(first.len(), 2);
        assert_eq!(
            first[0],
            TrackTally {
                track: 1,
                frames: 3,
                keyframes: 2,
                bytes: 200,
                max_frame_bytes: 100,
                max_keyframe_interval_ms: Some(1000)
            }
        );
        assert_eq!(first[0].mean_frame_bytes(), 66);
        assert_eq!((first[1].track, first[1].frames, first[1].max_keyframe_interval_ms), (2, 1, None));
        // The next fragment: the interval counts from the previous fragment's keyframe.
        t.frame(&frame(1, 3000, true, 50));
        assert_eq!(t.take()[0].max_keyframe_interval_ms, Some(2000));
        // Timestamps that go back give no interval.
        t.frame(&frame(1, 0, true, 50));
        assert_eq!(t.take()[0].max_keyframe_interval_ms, None);
        t.reset();
        assert!(t.take().is_empty());
    }

    #[test]
    fn durations_come_from_blocks_defaults_or_spacing() {
        let input = bytes::Bytes::from_static(include_bytes!("../../../testdata/getmedia_basic.mkv"));
        let mut frame = crate::Events::new(input)
            .find_map(|e| match e {
                Ok(crate::Event::Frame(f)) => Some(f),
                _ => None,
            })
            .unwrap();
        frame.duration_ns = None;
        frame.track = 1;
        let mut d = Durations::default();
        assert_eq!(d.of(&frame, 0), 0);
        assert_eq!(d.of(&frame, 40), 40);
        assert_eq!(d.of(&frame, 40), 40, "no advance: the previous duration");
        let mut t = Track::default();
        t.number = 1;
        t.default_duration_ns = Some(33);
        d.tracks(&[t]);
        assert_eq!(d.of(&frame, 100), 33);
        frame.duration_ns = Some(7);
        assert_eq!(d.of(&frame, 200), 7);
        d.reset();
        frame.duration_ns = None;
        d.tracks(&[]);
        assert_eq!(d.of(&frame, 300), 0);
    }
}
