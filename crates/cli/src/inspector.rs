//! The `inspect` report: [`Inspector`] turns decoder events (from a file, stdin or a live
//! stream) into the tracks, a table of fragments, and what looks wrong. The numbers and
//! findings are kvs-chunk's [`StreamAnalysis`] over fragments assembled without their
//! frames; this module paints them.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use kvs_chunk::analysis::{Reading, RowStatus, StreamAnalysis};
use kvs_chunk::{Codec, ErrorChunk, Event, Fragment, FragmentAssembler, Track, TrackType};
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

/// Renders events as the `inspect` report.
pub struct Inspector {
    paint: Paint,
    name: String,
    tracks: Option<Vec<Track>>,
    assembler: FragmentAssembler,
    analysis: StreamAnalysis,
    header_done: bool,
    /// Problems in the input so far (decoder errors, skipped parts), set by the caller
    /// before each event: a row whose document saw the count rise is marked damaged.
    pub problems: u64,
    /// `problems` when the fragment in progress began.
    problems_at_start: u64,
    /// The HTML report (`--html`), fed the same events and rows as the table.
    report: Option<crate::report::HtmlReport>,
}

/// `2017-11-28 06:55:08.513`, or `+5.000 s` for a producer time that is clearly relative
/// (before 1973).
fn time(ms: i64) -> String {
    if !kvs_mux::text::looks_absolute(ms) {
        return format!("+{}", secs(ms));
    }
    kvs_mux::text::iso_ms(ms).replace('T', " ").trim_end_matches('Z').to_owned()
}

use kvs_chunk::analysis::secs;

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
        Some(Codec::H264) => match kvs_chunk::annexb::avc_profile_level(cp) {
            Some((profile, level)) => format!("H.264 {profile}@{}.{}", level / 10, level % 10),
            None => "H.264".to_owned(),
        },
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
            assembler: FragmentAssembler::without_frames(),
            analysis: StreamAnalysis::new(),
            header_done: false,
            problems: 0,
            problems_at_start: 0,
            report: None,
        }
    }

    /// Also builds the HTML report `args` ask for (if any).
    pub fn with_report(mut self, args: &crate::report::ReportArgs) -> Self {
        self.report = crate::report::HtmlReport::new(args, &self.name);
        self
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
        match &event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                self.problems_at_start = self.problems
            }
            Event::Tracks(tracks) if self.tracks.as_ref() != Some(tracks) => {
                self.print_tracks(out, tracks, self.analysis.totals().fragments)?;
                self.tracks = Some(tracks.clone());
                self.header_done = false;
            }
            Event::Resynced { offset, skipped } => {
                self.analysis.resynced();
                let msg = format!("      skipped {skipped} malformed bytes; resumed at byte {offset}");
                writeln!(out, "{}", self.p(BAD, &msg))?;
            }
            _ => {}
        }
        if let Some(report) = &mut self.report {
            report.event(&event);
        }
        if let Some(f) = self.assembler.push(event) {
            let damaged = self.problems > self.problems_at_start;
            self.row(out, &f, Reading { damaged, cut: false })?;
        }
        Ok(())
    }

    /// A fragment reported outside the event stream (a live stream's in-stream error).
    pub fn stream_error(&mut self, out: &mut dyn Write, e: ErrorChunk) -> io::Result<()> {
        self.row(out, &Fragment::of_error_chunk(e), Reading::default())
    }

    /// One row of the table.
    fn row(&mut self, out: &mut dyn Write, f: &Fragment, reading: Reading) -> io::Result<()> {
        self.header(out)?;
        let r = self.analysis.push(f, reading);
        if let Some(report) = &mut self.report {
            report.fragment(&r, f);
        }
        let mut notes: Vec<String> = Vec::new();
        match &r.status {
            RowStatus::Error(e) => {
                let id = e.id.map_or_else(
                    || escape(e.raw_id.as_deref().unwrap_or("?")).into_owned(),
                    |i| i.code().to_string(),
                );
                let code = escape(e.code.as_deref().unwrap_or(""));
                notes.push(self.p(BAD, &format!("ERROR {id} {code}")).trim_end().to_owned());
            }
            RowStatus::Incomplete => notes.push(self.p(WARN, "INCOMPLETE (no continuation token)")),
            RowStatus::Complete | RowStatus::Plain => {}
        }
        if r.damaged {
            notes.push(self.p(BAD, "DAMAGED (part of it was unreadable or skipped)"));
        }
        if r.cut {
            notes.push(self.p(BAD, "NOT READ TO ITS END"));
        }
        for finding in &r.findings {
            notes.push(self.p(WARN, &finding.to_string()));
        }
        let error = matches!(r.status, RowStatus::Error(_));
        let number = r.fragment_number.as_ref().map_or_else(
            || if error { "-".to_owned() } else { format!("@{}", r.offset) },
            |n| escape(&short_number(n.as_str())).into_owned(),
        );
        let dash = || "-".to_owned();
        let row = format!(
            "{:>4}  {:<13}  {:<23}  {:<23}  {:>9}  {:>6}  {:>4}  {:>10}  {:>9}  ",
            r.row,
            number,
            r.producer_timestamp_ms.map_or_else(dash, time),
            r.server_timestamp_ms.map_or_else(dash, time),
            if r.frames == 0 { dash() } else { secs(ns_to_ms(r.duration_ns)) },
            r.frames,
            r.keyframes,
            size(r.bytes),
            r.millis_behind_now.map_or_else(dash, |b| secs(i64::try_from(b).unwrap_or(i64::MAX))),
        );
        let line = format!("{row}{}", notes.join("; "));
        writeln!(out, "{}", line.trim_end())?;
        out.flush()
    }

    /// The closing summary: what was read, and whether it was all there is (`ended`: how
    /// the reading ended).
    /// With `--html`, the report is written last.
    pub fn finish(&mut self, out: &mut dyn Write, ended: &crate::progress::Ended) -> io::Result<()> {
        if let Some(report) = &mut self.report {
            report.end_of_input();
        }
        if let Some(f) = self.assembler.finish() {
            // A document the input stopped inside of (no FragmentEnd).
            let damaged = self.problems > self.problems_at_start;
            self.row(out, &f, Reading { damaged, cut: true })?;
        }
        let t = *self.analysis.totals();
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let kvs = t.kvs_fragments();
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
        out.flush()?;
        if let Some(mut report) = self.report.take() {
            for p in ended.problems() {
                report.note(format!("read only in part: {p}"));
            }
            if ended.warnings > 0 {
                report.note(format!("{} (see stderr)", plural(ended.warnings, "warning", "warnings")));
            }
            report.write(&t)?;
        }
        Ok(())
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
