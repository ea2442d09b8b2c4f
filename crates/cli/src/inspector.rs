//! The `inspect` report: [`Inspector`] turns decoder events (from a file, stdin or a live
//! stream) into the tracks, a table of fragments, and what looks wrong.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use kvs_chunk::{Codec, Event, FragmentMetadata, ErrorChunk, Track, TrackType};
use kvs_mux::mkv::Durations;
use kvs_mux::text::{escape, quoted};

/// Text with an optional style.
#[derive(Clone, Copy)]
struct Paint {
    on: bool,
}

impl Paint {
    fn paint(self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }
}

const BOLD: Style = Style::new().bold();
const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const BAD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red))).bold();
const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));

/// One fragment being gathered.
#[derive(Default)]
struct Frag {
    offset: u64,
    metadata: FragmentMetadata,
    frames: u64,
    keys: u64,
    bytes: u64,
    first_ns: Option<i64>,
    end_ns: Option<i64>,
    error: Option<ErrorChunk>,
    /// Problems in the input before it began (see [`Inspector::problems`]).
    problems_before: u64,
}

/// What the next fragment is compared with.
struct Prev {
    producer_ms: Option<i64>,
    first_ns: Option<i64>,
    end_ns: Option<i64>,
}

/// Totals for the closing summary.
#[derive(Default)]
struct Totals {
    fragments: u64,
    complete: u64,
    incomplete: u64,
    errors: u64,
    gaps: u64,
    gap_ms: i64,
    jumps: u64,
    frames: u64,
    bytes: u64,
    media_ns: i64,
    resyncs: u64,
    /// Documents without KVS fragment tags (plain Matroska/WebM).
    plain: u64,
    /// Rows with damage inside them.
    damaged: u64,
    /// Rows the input ended or stopped inside of.
    cut: u64,
}

/// Renders events as the `inspect` report.
pub struct Inspector {
    paint: Paint,
    name: String,
    tracks: Option<Vec<Track>>,
    current: Option<Frag>,
    durations: Durations,
    prev: Option<Prev>,
    totals: Totals,
    header_done: bool,
    /// Problems in the input so far (decoder errors, skipped parts), set by the caller
    /// before each event: a row whose document saw the count rise is marked damaged.
    pub problems: u64,
}

/// `2017-11-28 06:55:08.513`, or `+5.000 s` for a producer time that is clearly relative
/// (before 1973).
fn time(ms: i64) -> String {
    if ms.abs() < 100_000_000_000 {
        return format!("+{}", secs(ms));
    }
    kvs_mux::text::iso_ms(ms).replace('T', " ").trim_end_matches('Z').to_owned()
}

/// `2.000 s`.
fn secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", a / 1000, a % 1000)
}

/// `502.3 KiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut v = bytes as f64 / 1024.0;
    let mut unit = "KiB";
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `913438…169392`.
fn short_number(n: &str) -> String {
    if n.chars().count() <= 15 {
        return n.to_owned();
    }
    let head: String = n.chars().take(6).collect();
    let tail: String = n.chars().skip(n.chars().count().saturating_sub(6)).collect();
    format!("{head}…{tail}")
}

fn ns_to_ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

/// A human name for a codec, with what the CodecPrivate says (H.264 profile and level).
fn codec_name(t: &Track) -> String {
    let cp = t.codec_private.as_deref().unwrap_or(&[]);
    match t.codec() {
        Some(Codec::H264) => {
            let profile = match cp.get(1) {
                Some(66) => "Baseline",
                Some(77) => "Main",
                Some(88) => "Extended",
                Some(100) => "High",
                Some(110) => "High 10",
                Some(122) => "High 4:2:2",
                Some(244) => "High 4:4:4",
                _ => "",
            };
            let level = cp.get(3).map(|l| format!("{}.{}", l / 10, l % 10));
            match (profile, level) {
                ("", _) | (_, None) => "H.264".to_owned(),
                (p, Some(l)) => format!("H.264 {p}@{l}"),
            }
        }
        Some(Codec::H265) => "H.265".to_owned(),
        Some(Codec::Vp8) => "VP8".to_owned(),
        Some(Codec::Vp9) => "VP9".to_owned(),
        Some(Codec::Av1) => "AV1".to_owned(),
        Some(Codec::MotionJpeg) => "Motion JPEG".to_owned(),
        Some(Codec::Aac) if kvs_mux::wav::is_connect(t) => "16-bit PCM (Amazon Connect)".to_owned(),
        Some(Codec::Aac) => "AAC".to_owned(),
        Some(Codec::Opus) => "Opus".to_owned(),
        Some(Codec::Vorbis) => "Vorbis".to_owned(),
        Some(Codec::Mp3) => "MP3".to_owned(),
        Some(Codec::MsAcm) => "ACM audio".to_owned(),
        Some(Codec::Pcm(_)) => "PCM".to_owned(),
        // The old profile-naming AAC ids keep the raw CodecID alone, as before.
        _ => String::new(),
    }
}

fn kind(t: &Track) -> &'static str {
    match t.kind {
        TrackType::Video => "video",
        TrackType::Audio => "audio",
        TrackType::Subtitle => "subtitle",
        TrackType::Metadata => "metadata",
        _ => "other",
    }
}

/// Size and rate: `640x360  30 fps`, `8000 Hz mono 16-bit`.
fn track_detail(t: &Track) -> String {
    let mut parts = Vec::new();
    if let Some(v) = t.video {
        parts.push(format!("{}x{}", v.width.unwrap_or(0), v.height.unwrap_or(0)));
    }
    if let Some(d) = t.default_duration_ns.filter(|d| *d > 0 && t.kind == TrackType::Video) {
        #[allow(clippy::cast_precision_loss)]
        let fps = 1e9 / d as f64;
        parts.push(if (fps - fps.round()).abs() < 0.01 {
            format!("{fps:.0} fps")
        } else {
            format!("{fps:.2} fps")
        });
    }
    if let Some(a) = t.audio {
        if let Some(r) = a.sampling_frequency {
            parts.push(format!("{r} Hz"));
        }
        match a.channels {
            Some(1) => parts.push("mono".to_owned()),
            Some(2) => parts.push("stereo".to_owned()),
            Some(n) => parts.push(format!("{n} channels")),
            None => {}
        }
        if let Some(b) = a.bit_depth {
            parts.push(format!("{b}-bit"));
        }
    } else if kvs_mux::wav::is_connect(t) {
        parts.push("8000 Hz mono (assumed: no Audio element)".to_owned());
    }
    parts.join("  ")
}

impl Inspector {
    pub fn new(name: String, color: bool) -> Self {
        Self {
            paint: Paint { on: color },
            name,
            tracks: None,
            current: None,
            durations: Durations::default(),
            prev: None,
            totals: Totals::default(),
            header_done: false,
            problems: 0,
        }
    }

    fn p(&self, style: Style, text: &str) -> String {
        self.paint.paint(style, text)
    }

    fn print_tracks(&self, out: &mut dyn Write, tracks: &[Track], index: u64) -> io::Result<()> {
        let title = if self.tracks.is_none() {
            format!("{}: tracks", self.name)
        } else {
            format!("tracks change at fragment {index}:")
        };
        writeln!(out, "{}", self.p(BOLD, &title))?;
        if tracks.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for t in tracks {
            let codec = escape(t.codec_id.as_deref().unwrap_or("?"));
            let nice = codec_name(t);
            let name = t.name.as_deref().map(|n| format!("  {}", quoted(n))).unwrap_or_default();
            // A ContentEncoding the reader cannot undo: the frames are not the codec's bytes.
            let stored = t
                .unsupported_encoding
                .as_deref()
                .map(|why| format!("  [stored with {}: frames not decoded]", escape(why)))
                .unwrap_or_default();
            writeln!(
                out,
                "  {:>2}  {:<5}  {:<16}  {:<28}  {}{}{}",
                t.number,
                kind(t),
                codec,
                nice,
                track_detail(t),
                name,
                stored
            )?;
        }
        Ok(())
    }

    fn header(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.header_done {
            return Ok(());
        }
        self.header_done = true;
        let h = format!(
            "{:>4}  {:<13}  {:<23}  {:<23}  {:>9}  {:>6}  {:>4}  {:>10}  {:>9}  {}",
            "#",
            "fragment",
            "producer time (UTC)",
            "server time (UTC)",
            "duration",
            "frames",
            "keys",
            "size",
            "lag",
            "notes"
        );
        writeln!(out, "{}", self.p(BOLD, &h))
    }

    pub fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        match event {
            Event::DocumentStart { offset, .. } | Event::FragmentStart { offset, .. } => {
                self.current = Some(Frag { offset, problems_before: self.problems, ..Frag::default() });
                self.durations.reset();
            }
            Event::Tracks(tracks) => {
                self.durations.tracks(&tracks);
                if self.tracks.as_ref() != Some(&tracks) {
                    self.print_tracks(out, &tracks, self.totals.fragments)?;
                    self.tracks = Some(tracks);
                    self.header_done = false;
                }
            }
            Event::FragmentMetadata(m) => {
                if let Some(f) = &mut self.current {
                    f.metadata = m;
                }
            }
            Event::Frame(frame) => {
                if let Some(f) = &mut self.current {
                    f.frames = f.frames.saturating_add(1);
                    f.keys = f.keys.saturating_add(u64::from(frame.keyframe));
                    f.bytes = f.bytes.saturating_add(u64::try_from(frame.data.len()).unwrap_or(0));
                    let ts = frame.timestamp_ns;
                    let d = i64::try_from(self.durations.of(&frame, ts)).unwrap_or(0);
                    f.first_ns = Some(f.first_ns.map_or(ts, |v| v.min(ts)));
                    let end = ts.saturating_add(d);
                    f.end_ns = Some(f.end_ns.map_or(end, |v| v.max(end)));
                }
            }
            Event::ErrorChunk(e) => {
                if let Some(f) = &mut self.current {
                    f.error.get_or_insert(e);
                }
            }
            Event::FragmentEnd(end) => {
                if let Some(f) = self.current.take() {
                    self.row(out, f, end.complete, end.millis_behind_now, false)?;
                }
            }
            Event::Resynced { offset, skipped } => {
                self.totals.resyncs = self.totals.resyncs.saturating_add(1);
                let msg = format!("      skipped {skipped} malformed bytes; resumed at byte {offset}");
                writeln!(out, "{}", self.p(BAD, &msg))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A fragment reported outside the event stream (a live stream's in-stream error).
    pub fn stream_error(&mut self, out: &mut dyn Write, e: ErrorChunk) -> io::Result<()> {
        let mut f = Frag::default();
        f.metadata.fragment_number = e.fragment_number.clone();
        f.problems_before = self.problems;
        f.error = Some(e);
        self.row(out, f, false, None, false)
    }

    /// One row of the table: `cut` when the input ended (or reading stopped) inside it.
    fn row(
        &mut self,
        out: &mut dyn Write,
        f: Frag,
        complete: bool,
        behind: Option<u64>,
        cut: bool,
    ) -> io::Result<()> {
        self.header(out)?;
        let index = self.totals.fragments;
        self.totals.fragments = self.totals.fragments.saturating_add(1);
        self.totals.frames = self.totals.frames.saturating_add(f.frames);
        self.totals.bytes = self.totals.bytes.saturating_add(f.bytes);
        let duration_ns = match (f.first_ns, f.end_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a).max(0),
            _ => 0,
        };
        self.totals.media_ns = self.totals.media_ns.saturating_add(duration_ns);

        let mut notes: Vec<String> = Vec::new();
        if let Some(e) = &f.error {
            self.totals.errors = self.totals.errors.saturating_add(1);
            let id = e.id.map_or_else(
                || escape(e.raw_id.as_deref().unwrap_or("?")).into_owned(),
                |i| i.code().to_string(),
            );
            let code = escape(e.code.as_deref().unwrap_or(""));
            notes.push(self.p(BAD, &format!("ERROR {id} {code}")).trim_end().to_owned());
        } else if complete {
            self.totals.complete = self.totals.complete.saturating_add(1);
        } else if f.metadata.fragment_number.is_some() {
            self.totals.incomplete = self.totals.incomplete.saturating_add(1);
            notes.push(self.p(WARN, "INCOMPLETE (no continuation token)"));
        } else {
            // No KVS fragment tags: a plain Matroska/WebM document, complete when read whole.
            self.totals.plain = self.totals.plain.saturating_add(1);
        }
        if self.problems > f.problems_before {
            self.totals.damaged = self.totals.damaged.saturating_add(1);
            notes.push(self.p(BAD, "DAMAGED (part of it was unreadable or skipped)"));
        }
        if cut {
            self.totals.cut = self.totals.cut.saturating_add(1);
            notes.push(self.p(BAD, "NOT READ TO ITS END"));
        }
        if f.error.is_none() {
            self.compare(&f, duration_ns, &mut notes);
            self.prev = Some(Prev {
                producer_ms: f.metadata.producer_timestamp_ms,
                first_ns: f.first_ns,
                end_ns: f.end_ns,
            });
        }
        let number = f.metadata.fragment_number.as_ref().map_or_else(
            || if f.error.is_some() { "-".to_owned() } else { format!("@{}", f.offset) },
            |n| escape(&short_number(n.as_str())).into_owned(),
        );
        let dash = || "-".to_owned();
        let row = format!(
            "{:>4}  {:<13}  {:<23}  {:<23}  {:>9}  {:>6}  {:>4}  {:>10}  {:>9}  ",
            index,
            number,
            f.metadata.producer_timestamp_ms.map_or_else(dash, time),
            f.metadata.server_timestamp_ms.map_or_else(dash, time),
            if f.frames == 0 { dash() } else { secs(ns_to_ms(duration_ns)) },
            f.frames,
            f.keys,
            size(f.bytes),
            behind.map_or_else(dash, |b| secs(i64::try_from(b).unwrap_or(i64::MAX))),
        );
        let line = format!("{row}{}", notes.join("; "));
        writeln!(out, "{}", line.trim_end())?;
        out.flush()
    }

    /// Gaps in producer time and jumps in media time against the previous fragment.
    fn compare(&mut self, f: &Frag, duration_ns: i64, notes: &mut Vec<String>) {
        let Some(prev) = &self.prev else { return };
        let tolerance_ms = |d_ns: i64| ns_to_ms(d_ns / 4).max(250);
        let prev_duration = match (prev.first_ns, prev.end_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let tol = tolerance_ms(prev_duration.max(duration_ns));
        // Producer time: the next fragment should start where the previous one ended.
        let producer_gap = match (prev.producer_ms, f.metadata.producer_timestamp_ms) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a.saturating_add(ns_to_ms(prev_duration)))),
            _ => None,
        };
        if let Some(gap) = producer_gap {
            if gap > tol {
                self.totals.gaps = self.totals.gaps.saturating_add(1);
                self.totals.gap_ms = self.totals.gap_ms.saturating_add(gap);
                notes.push(self.p(WARN, &format!("gap of {} before it", secs(gap))));
            } else if gap < tol.saturating_neg() {
                notes.push(self.p(WARN, &format!("producer time goes back {}", secs(gap.saturating_neg()))));
            }
        }
        // Media time: frames should continue from the previous fragment, as far as the
        // producer time says.
        if let (Some(end), Some(first)) = (prev.end_ns, f.first_ns) {
            let media_gap = ns_to_ms(first.saturating_sub(end));
            let unexplained = media_gap.saturating_sub(producer_gap.unwrap_or(0));
            if unexplained.abs() > tol {
                self.totals.jumps = self.totals.jumps.saturating_add(1);
                let text = if first <= prev.first_ns.unwrap_or(i64::MIN) {
                    format!("timestamps restart: {} after {}", ns_to_ms(first), ns_to_ms(end))
                } else {
                    format!("timestamps jump {}{}", if unexplained > 0 { "+" } else { "" }, secs(unexplained))
                };
                notes.push(self.p(WARN, &text));
            }
        }
    }

    /// The closing summary: what was read, and whether it was all there is (`ended`: how
    /// the reading ended).
    pub fn finish(&mut self, out: &mut dyn Write, ended: &crate::progress::Ended) -> io::Result<()> {
        if let Some(f) = self.current.take() {
            // A document the input stopped inside of (no FragmentEnd).
            self.row(out, f, false, None, true)?;
        }
        let t = &self.totals;
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let kvs = t.fragments.saturating_sub(t.plain);
        let what = if t.fragments == 0 && self.tracks.is_none() {
            None
        } else if kvs == 0 {
            let tracks = self.tracks.as_ref().map_or(0, Vec::len);
            Some(format!(
                "plain Matroska (no KVS fragments): {}, {}",
                plural(t.plain, "document", "documents"),
                plural(u64::try_from(tracks).unwrap_or(u64::MAX), "track", "tracks")
            ))
        } else {
            let mut status = vec![format!("{} complete", t.complete)];
            if t.incomplete > 0 {
                status.push(self.p(WARN, &format!("{} incomplete", t.incomplete)));
            }
            if t.errors > 0 {
                status.push(self.p(BAD, &plural(t.errors, "in-stream error", "in-stream errors")));
            }
            let mut s = format!("{} ({})", plural(kvs, "fragment", "fragments"), status.join(", "));
            if t.plain > 0 {
                s.push_str(&format!(
                    ", {} without KVS fragment tags",
                    plural(t.plain, "plain Matroska document", "plain Matroska documents")
                ));
            }
            Some(s)
        };
        match what {
            None => writeln!(out, "{}: nothing read: no tracks, no fragments", self.name)?,
            Some(what) => writeln!(
                out,
                "{}: {what}, {} frames, {} of frame data, {} of media",
                self.name,
                t.frames,
                size(t.bytes),
                secs(ns_to_ms(t.media_ns))
            )?,
        }
        let mut problems = Vec::new();
        if t.gaps > 0 {
            problems.push(format!(
                "{} in producer time ({} missing)",
                plural(t.gaps, "gap", "gaps"),
                secs(t.gap_ms)
            ));
        }
        if t.jumps > 0 {
            problems.push(plural(t.jumps, "timestamp jump", "timestamp jumps"));
        }
        if t.damaged > 0 {
            problems.push(plural(t.damaged, "damaged document", "damaged documents"));
        }
        let reading = ended.problems();
        if !reading.is_empty() {
            problems.push(format!("read only in part: {}", reading.join(", ")));
        } else if t.resyncs > 0 {
            problems.push(plural(t.resyncs, "resynchronisation", "resynchronisations"));
        }
        if ended.warnings > 0 {
            problems.push(format!("{} (see stderr)", plural(ended.warnings, "warning", "warnings")));
        }
        let all_good = problems.is_empty() && t.incomplete == 0 && t.errors == 0 && t.cut == 0;
        if all_good && t.fragments > 0 && ended.clean() {
            let line = if kvs == 0 {
                "read whole: no errors, no timestamp jumps".to_owned()
            } else if t.plain == 0 {
                "no gaps, no timestamp jumps, every fragment complete".to_owned()
            } else {
                "no gaps, no timestamp jumps, every KVS fragment complete".to_owned()
            };
            writeln!(out, "{}", self.p(GOOD, &line))?;
        } else if !problems.is_empty() {
            writeln!(out, "{}", self.p(WARN, &problems.join("; ")))?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(secs(2000), "2.000 s");
        assert_eq!(secs(-1500), "-1.500 s");
        assert_eq!(size(1000), "1000 B");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(time(5000), "+5.000 s");
        assert_eq!(time(1_511_852_109_126), "2017-11-28 06:55:09.126");
        assert_eq!(short_number("91343852333181432392682062607743920146159169392"), "913438…169392");
    }
}
