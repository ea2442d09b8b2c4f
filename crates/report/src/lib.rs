#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Chart coordinates are floating point; counts become f64 for plotting only.
#![allow(clippy::cast_precision_loss)]

mod charts;
mod html;
mod thumbs;

use std::collections::VecDeque;
use std::io::{self, Write};

use kvs_chunk::analysis::{FragmentRow, FrameTally, Reading, RowStatus, StreamAnalysis, Totals, TrackTally};
use kvs_chunk::{ErrorChunk, Event, Fragment, FragmentAssembler, TagValue, Track, TrackType};

pub use html::escape as escape_html;
pub use thumbs::Thumbnail;

/// How a report is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The title (the input's name: a file, `stdin`, a stream).
    pub title: String,
    /// The least time between two thumbnails, ms, on the producer clock (plain Matroska: the
    /// media timestamps; `0`: every fragment may have one).
    /// It doubles each time the report would hold more than [`ReportOptions::max_thumbnails`],
    /// so the thumbnails stay evenly spaced over the whole input.
    pub thumbnails_every_ms: u64,
    /// The most thumbnails kept (`0`: none are made).
    pub max_thumbnails: usize,
    /// The thumbnails' height in pixels (the width keeps the aspect ratio).
    pub thumbnail_height: u32,
    /// The most fragments the report holds; past it the earliest are dropped (and counted).
    pub max_fragments: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            title: "stream".to_owned(),
            thumbnails_every_ms: 1000,
            max_thumbnails: 200,
            thumbnail_height: 90,
            max_fragments: 100_000,
        }
    }
}

/// One fragment of the report: its [`FragmentRow`] (the numbers `inspect` prints) and what
/// the charts add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The analysis row, as `inspect` prints it.
    pub row: FragmentRow,
    /// Where the fragment starts on the report's time axis, ms: its producer time, else
    /// (plain Matroska) its first frame's timestamp, else where the fragment before ended.
    pub at_ms: i64,
    /// Per-track frame counts, bytes, largest frame and keyframe intervals.
    pub tracks: Vec<TrackTally>,
    /// The fragment's tags (name, value as text), at most [`MAX_TAGS`] of them.
    pub tags: Vec<(String, String)>,
    /// The index of its thumbnail in [`ReportBuilder::thumbnails`], if it has one.
    pub thumbnail: Option<usize>,
}

/// The most tags kept per fragment.
pub const MAX_TAGS: usize = 16;
/// The longest tag value kept, in characters.
const MAX_TAG_CHARS: usize = 120;

/// Data kept for a fragment between its events and its analysis row.
#[derive(Debug)]
struct Pending {
    index: u64,
    offset: u64,
    tracks: Vec<TrackTally>,
    thumbnail: Option<Thumbnail>,
}

/// Builds the HTML report of one payload or stream, incrementally and in bounded memory.
///
/// Feed it every decoder event ([`ReportBuilder::event`], before the caller's own
/// [`FragmentAssembler`] takes it) and the analysis row of every fragment
/// ([`ReportBuilder::fragment`], from the caller's [`StreamAnalysis`]); then write the page
/// ([`ReportBuilder::write_html`]). Frames are not kept: a frame counts in the per-track
/// tallies as it passes, and only the one keyframe a thumbnail is made from is held until its
/// fragment ends. [`Report`] does all of this for a plain event source.
#[derive(Debug)]
pub struct ReportBuilder {
    options: ReportOptions,
    tally: FrameTally,
    /// Assembles fragments holding only the frames a thumbnail needs.
    assembler: FragmentAssembler,
    pending: VecDeque<Pending>,
    tracks: Vec<Track>,
    video_track: Option<u64>,
    /// Video frames still to keep in the fragment in progress (a keyframe and the frame after it).
    keep_frames: u8,
    /// The fragment in progress has its thumbnail's keyframe (one per fragment: a single
    /// fragment of any length holds one keyframe).
    has_keyframe: bool,
    /// The time of the last thumbnail's keyframe, ns: its fragment's producer time (the
    /// report's time axis), else (plain Matroska) the frame's timestamp.
    last_thumbnail_ns: Option<i64>,
    /// The producer time of the fragment in progress, ms, once its metadata has arrived.
    producer_ms: Option<i64>,
    thumbnails_every_ns: i64,
    thumbnails: Vec<Option<Thumbnail>>,
    rows: VecDeque<ReportRow>,
    dropped: u64,
    next_at_ms: Option<i64>,
    notes: Vec<String>,
}

impl ReportBuilder {
    /// A report of nothing yet.
    #[must_use]
    pub fn new(options: ReportOptions) -> Self {
        let every = i64::try_from(options.thumbnails_every_ms).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        Self {
            options,
            tally: FrameTally::default(),
            assembler: FragmentAssembler::new(),
            pending: VecDeque::new(),
            tracks: Vec::new(),
            video_track: None,
            keep_frames: 0,
            has_keyframe: false,
            last_thumbnail_ns: None,
            producer_ms: None,
            thumbnails_every_ns: every,
            thumbnails: Vec::new(),
            rows: VecDeque::new(),
            dropped: 0,
            next_at_ms: None,
            notes: Vec::new(),
        }
    }

    /// The options it was made with.
    #[must_use]
    pub const fn options(&self) -> &ReportOptions {
        &self.options
    }

    /// Takes one decoder event (the caller still assembles and analyses it).
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Tracks(tracks) => {
                if &self.tracks != tracks {
                    self.tracks.clone_from(tracks);
                    self.video_track = tracks
                        .iter()
                        .find(|t| {
                            t.kind == TrackType::Video
                                && kvs_images::VideoCodec::from_codec_id(t.codec_id.as_deref().unwrap_or(""))
                                    .is_some_and(kvs_images::VideoCodec::is_decodable)
                        })
                        .map(|t| t.number);
                }
                self.push_to_assembler(event.clone());
            }
            Event::FragmentMetadata(m) => {
                self.producer_ms = m.producer_timestamp_ms;
                self.push_to_assembler(event.clone());
            }
            Event::Frame(frame) => {
                self.tally.frame(frame);
                if self.wants(frame) {
                    self.push_to_assembler(event.clone());
                }
            }
            _ => self.push_to_assembler(event.clone()),
        }
    }

    /// The input ended (or reading stopped) inside a fragment: it ends here.
    pub fn end_of_input(&mut self) {
        if let Some(f) = self.assembler.finish() {
            self.assembled(&f);
        }
    }

    /// Whether to keep `frame` for a thumbnail.
    fn wants(&mut self, frame: &kvs_chunk::Frame) -> bool {
        if self.options.max_thumbnails == 0 || Some(frame.track) != self.video_track {
            return false;
        }
        if self.keep_frames > 0 {
            self.keep_frames = self.keep_frames.saturating_sub(1);
            return true;
        }
        if !frame.keyframe || self.has_keyframe {
            return false;
        }
        let at_ns = self.producer_ms.map_or(frame.timestamp_ns, |ms| ms.saturating_mul(1_000_000));
        let due = self.last_thumbnail_ns.is_none_or(|last| {
            // Time that goes back (a restart) makes the next keyframe due at once.
            at_ns < last || at_ns >= last.saturating_add(self.thumbnails_every_ns)
        });
        if due {
            self.last_thumbnail_ns = Some(at_ns);
            self.keep_frames = 1;
            self.has_keyframe = true;
        }
        due
    }

    fn push_to_assembler(&mut self, event: Event) {
        let starts = matches!(event, Event::DocumentStart { .. } | Event::FragmentStart { .. });
        if starts {
            self.keep_frames = 0;
            self.has_keyframe = false;
            self.producer_ms = None;
        }
        if let Some(f) = self.assembler.push(event) {
            self.assembled(&f);
        }
    }

    /// A fragment ended in the event stream: its tallies and thumbnail wait for its row.
    fn assembled(&mut self, f: &Fragment) {
        self.keep_frames = 0;
        self.has_keyframe = false;
        let thumbnail =
            if f.frames.is_empty() { None } else { thumbs::make(f, self.options.thumbnail_height) };
        // Bounded: rows arrive right after their fragments; a caller that never sends them
        // does not make this grow.
        if self.pending.len() >= 64 {
            self.pending.pop_front();
        }
        self.pending.push_back(Pending {
            index: f.index,
            offset: f.offset,
            tracks: self.tally.take(),
            thumbnail,
        });
    }

    /// Takes the analysis row of `fragment` (the row [`StreamAnalysis::push`] returned for it).
    /// A fragment that came through [`ReportBuilder::event`] is matched with its tallies; one
    /// that did not (a live stream's error chunk) has none.
    pub fn fragment(&mut self, row: &FragmentRow, fragment: &Fragment) {
        let pending = match self.pending.front() {
            Some(p) if p.index == fragment.index && p.offset == fragment.offset => self.pending.pop_front(),
            _ => None,
        };
        let (tracks, thumbnail) = pending.map_or((Vec::new(), None), |p| (p.tracks, p.thumbnail));
        let at_ms = row
            .producer_timestamp_ms
            .or_else(|| fragment.stats.first_ns.map(|ns| ns.div_euclid(1_000_000)))
            .or(self.next_at_ms)
            .unwrap_or(0);
        if !row.is_error() {
            self.next_at_ms = Some(at_ms.saturating_add(row.duration_ms()));
        }
        let thumbnail = thumbnail.and_then(|t| self.keep_thumbnail(t));
        let tags = fragment
            .tags
            .iter()
            .take(MAX_TAGS)
            .map(|t| {
                let value = match &t.value {
                    TagValue::String(b) => String::from_utf8_lossy(b).trim_end_matches('\0').to_owned(),
                    TagValue::Binary(b) => format!("({} bytes)", b.len()),
                    TagValue::None => String::new(),
                };
                (t.name.clone(), value.chars().take(MAX_TAG_CHARS).collect())
            })
            .collect();
        if self.rows.len() >= self.options.max_fragments.max(1) {
            if let Some(slot) =
                self.rows.pop_front().and_then(|old| old.thumbnail).and_then(|i| self.thumbnails.get_mut(i))
            {
                *slot = None;
            }
            self.dropped = self.dropped.saturating_add(1);
        }
        self.rows.push_back(ReportRow { row: row.clone(), at_ms, tracks, tags, thumbnail });
    }

    /// Keeps a thumbnail, thinning the kept ones (every other one) and doubling the spacing
    /// when there are too many. Returns its index.
    fn keep_thumbnail(&mut self, t: Thumbnail) -> Option<usize> {
        let kept = self.thumbnails.iter().filter(|t| t.is_some()).count();
        if kept >= self.options.max_thumbnails {
            let mut n = 0usize;
            for slot in &mut self.thumbnails {
                if slot.is_some() {
                    if n % 2 == 1 {
                        *slot = None;
                    }
                    n = n.saturating_add(1);
                }
            }
            self.thumbnails_every_ns = self.thumbnails_every_ns.saturating_mul(2).max(1_000_000_000);
        }
        self.thumbnails.push(Some(t));
        Some(self.thumbnails.len().saturating_sub(1))
    }

    /// Adds a line to the report's notes (how the reading ended, warnings).
    pub fn note(&mut self, note: impl Into<String>) {
        if self.notes.len() < 100 {
            self.notes.push(note.into());
        }
    }

    /// The fragments held, oldest first.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &ReportRow> {
        self.rows.iter()
    }

    /// The thumbnails kept (a dropped one leaves `None`).
    #[must_use]
    pub fn thumbnails(&self) -> &[Option<Thumbnail>] {
        &self.thumbnails
    }

    /// The tracks last seen.
    #[must_use]
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Writes the page: one self-contained HTML file. `totals` are the analysis' totals.
    ///
    /// # Errors
    ///
    /// Writing to `out` failed.
    pub fn write_html(&self, totals: &Totals, out: &mut dyn Write) -> io::Result<()> {
        html::write(self, totals, out)
    }

    /// The page as a string (see [`ReportBuilder::write_html`]).
    #[must_use]
    pub fn html(&self, totals: &Totals) -> String {
        let mut out = Vec::new();
        // Writing to a Vec does not fail.
        let _ = self.write_html(totals, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The JSON data the page embeds: `{"title", "dropped", "tracks", "rows": [...]}`; each
    /// row has the [`FragmentRow`] fields as `inspect` prints them.
    #[must_use]
    pub fn data(&self) -> serde_json::Value {
        html::data(self)
    }
}

/// A report of a plain event source: assembles and analyses fragments itself (as `inspect`
/// does) and feeds a [`ReportBuilder`].
#[derive(Debug)]
pub struct Report {
    builder: ReportBuilder,
    assembler: FragmentAssembler,
    analysis: StreamAnalysis,
}

impl Report {
    /// A report of nothing yet.
    #[must_use]
    pub fn new(options: ReportOptions) -> Self {
        Self {
            builder: ReportBuilder::new(options),
            assembler: FragmentAssembler::without_frames(),
            analysis: StreamAnalysis::new(),
        }
    }

    /// Takes one event; returns the analysis row of the fragment it completes, if any.
    pub fn push(&mut self, event: Event) -> Option<FragmentRow> {
        self.builder.event(&event);
        if let Event::Resynced { .. } = event {
            self.analysis.resynced();
        }
        let f = self.assembler.push(event)?;
        Some(self.row(&f, Reading::default()))
    }

    /// Takes an in-stream error that came outside the events (a live stream's).
    pub fn error_chunk(&mut self, e: ErrorChunk) -> FragmentRow {
        self.row(&Fragment::of_error_chunk(e), Reading::default())
    }

    fn row(&mut self, f: &Fragment, reading: Reading) -> FragmentRow {
        let row = self.analysis.push(f, reading);
        self.builder.fragment(&row, f);
        row
    }

    /// Ends the input (a fragment it stopped inside of becomes a cut row) and returns the
    /// builder and the analysis' totals.
    pub fn finish(mut self) -> (ReportBuilder, Totals) {
        self.builder.end_of_input();
        if let Some(f) = self.assembler.finish() {
            self.row(&f, Reading { damaged: false, cut: true });
        }
        (self.builder, *self.analysis.totals())
    }

    /// Ends the input and returns the page.
    #[must_use]
    pub fn into_html(self) -> String {
        let (builder, totals) = self.finish();
        builder.html(&totals)
    }
}

/// A short status word of a row: `complete`, `incomplete`, `error` or `plain`.
#[must_use]
pub fn status_word(status: &RowStatus) -> &'static str {
    match status {
        RowStatus::Complete => "complete",
        RowStatus::Incomplete => "incomplete",
        RowStatus::Error(_) => "error",
        RowStatus::Plain => "plain",
    }
}
