//! The human-readable output.

use std::io::{self, Write};

use kvs_chunk::{Event, FragmentAssembler, TagValue};

use crate::Sink;
use kvs_mux::text::{escape, iso_ms, quoted};

/// `fragments` without `--json`: a table.
pub struct FragmentsTable {
    fragments: FragmentAssembler,
    header_done: bool,
}

impl Default for FragmentsTable {
    fn default() -> Self {
        Self { fragments: FragmentAssembler::without_frames(), header_done: false }
    }
}

impl Sink for FragmentsTable {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        let Some(s) = self.fragments.push(event) else { return Ok(()) };
        if !self.header_done {
            self.header_done = true;
            writeln!(
                out,
                "{:>4}  {:>10}  {:<15}  {:<23}  {:<23}  {:>6}  {:>4}  {:>10}  {:>8}  status",
                "#",
                "offset",
                "fragment",
                "producer time",
                "server time",
                "frames",
                "keys",
                "bytes",
                "behind"
            )?;
        }
        let frames: u64 = s.stats.frames.values().sum::<u64>().saturating_add(s.stats.other_frames);
        // Keyframes on the track numbers counted one by one, as the JSON `keyframes`.
        let keys: u64 = s.stats.keyframes.values().sum();
        let status = match (s.error(), s.end.complete) {
            (Some(e), _) => format!("error {}", e.id.map_or_else(|| "?".to_owned(), |i| i.to_string())),
            (None, true) => "complete".to_owned(),
            (None, false) if s.fragment_number().is_none() => "-".to_owned(),
            (None, false) => "INCOMPLETE".to_owned(),
        };
        writeln!(
            out,
            "{:>4}  {:>10}  {:<15}  {:<23}  {:<23}  {:>6}  {:>4}  {:>10}  {:>8}  {}",
            // A further fragment of a merged document: `0.1`, `0.2` ...
            if s.fragment > 0 { format!("{}.{}", s.index, s.fragment) } else { s.index.to_string() },
            s.offset,
            s.fragment_number().map_or_else(|| "-".to_owned(), |n| escape(&shorten(n.as_str())).into_owned()),
            s.producer_timestamp_ms().map_or_else(|| "-".to_owned(), iso_ms),
            s.server_timestamp_ms().map_or_else(|| "-".to_owned(), iso_ms),
            frames,
            keys,
            s.stats.bytes,
            s.end.millis_behind_now.map_or_else(|| "-".to_owned(), |m| format!("{m} ms")),
            status
        )?;
        for t in &s.tags {
            writeln!(out, "      tag {} = {}", escape(&t.name), tag_text(&t.value))?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if !self.header_done {
            writeln!(out, "no fragments")?;
        }
        Ok(())
    }
}

fn tag_text(v: &TagValue) -> String {
    match v {
        TagValue::String(_) => quoted(&v.as_text().unwrap_or_default()),
        TagValue::Binary(b) => format!("<{} bytes>", b.len()),
        TagValue::None => "-".to_owned(),
    }
}

/// `123456…654321` for long fragment numbers.
fn shorten(n: &str) -> String {
    if n.len() <= 15 {
        return n.to_owned();
    }
    let head: String = n.chars().take(6).collect();
    let tail: String = n.chars().skip(n.chars().count().saturating_sub(6)).collect();
    format!("{head}…{tail}")
}

/// A fragment's server and producer times, rendered the same way: both as ISO 8601 UTC with
/// milliseconds when every one given looks absolute, else both as raw milliseconds.
pub fn fragment_times(server: Option<i64>, producer: Option<i64>) -> (String, String) {
    let absolute = [server, producer].iter().flatten().all(|ms| kvs_mux::text::looks_absolute(*ms));
    let show = |t: Option<i64>| {
        t.map_or_else(|| "-".to_owned(), |ms| if absolute { iso_ms(ms) } else { format!("{ms} ms") })
    };
    (show(server), show(producer))
}

/// `events` without `--json`: one line per event.
#[derive(Default)]
pub struct EventsText {
    /// Whether the current document has KVS fragment tags (a fragment number).
    kvs: bool,
}

impl Sink for EventsText {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        match event {
            Event::DocumentStart { index, offset } => {
                self.kvs = false;
                writeln!(out, "document {index} starts at {offset}")
            }
            Event::FragmentStart { index, fragment, offset } => {
                self.kvs = false;
                writeln!(out, "fragment {fragment} of document {index} starts at {offset}")
            }
            Event::Tracks(tracks) => {
                for t in tracks {
                    let size =
                        t.video.map(|v| format!(" {}x{}", v.width.unwrap_or(0), v.height.unwrap_or(0)));
                    let rate = t.audio.and_then(|a| a.sampling_frequency).map(|r| format!(" {r} Hz"));
                    writeln!(
                        out,
                        "  track {} {}{}{}",
                        t.number,
                        escape(t.codec_id.as_deref().unwrap_or("?")),
                        size.unwrap_or_default(),
                        rate.unwrap_or_default()
                    )?;
                }
                Ok(())
            }
            Event::FragmentMetadata(m) => {
                self.kvs |= m.fragment_number.is_some();
                let (server, producer) = fragment_times(m.server_timestamp_ms, m.producer_timestamp_ms);
                writeln!(
                    out,
                    "  fragment {} server {server} producer {producer}",
                    escape(m.fragment_number.as_ref().map_or("-", |n| n.as_str())),
                )
            }
            Event::Frame(f) => writeln!(
                out,
                "  frame track {} at {} ms{} {} bytes crc32 {:08x}",
                f.track,
                f.timestamp_ms(),
                if f.keyframe { " key" } else { "" },
                f.data.len(),
                crc32fast::hash(&f.data)
            ),
            Event::Tag(t) => writeln!(out, "  tag {} = {}", escape(&t.name), tag_text(&t.value)),
            Event::ErrorChunk(e) => writeln!(
                out,
                "  STREAM ERROR {} {}",
                e.id.map_or_else(|| "?".to_owned(), |i| i.to_string()),
                escape(e.code.as_deref().unwrap_or(""))
            ),
            Event::FragmentEnd(end) if !self.kvs && !end.complete && end.millis_behind_now.is_none() => {
                writeln!(out, "  end of a plain Matroska document (no KVS fragment tags)")
            }
            Event::FragmentEnd(end) => writeln!(
                out,
                "  fragment ends: {}, {} ms behind now",
                if end.complete { "complete" } else { "INCOMPLETE" },
                end.millis_behind_now.map_or_else(|| "?".to_owned(), |m| m.to_string())
            ),
            Event::DocumentEnd { index, end, .. } => writeln!(out, "document {index} ends at {end}"),
            Event::Resynced { offset, skipped } => {
                writeln!(out, "RESYNC: skipped {skipped} bytes, resumed at {offset}")
            }
            Event::Warning(w) => writeln!(out, "  WARNING {}: {}", w.kind.name(), escape(&w.to_string())),
            _ => Ok(()),
        }
    }

    fn finish(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_rendered_alike() {
        let (s, p) = fragment_times(Some(1_511_852_109_126), Some(1_511_852_108_513));
        assert_eq!((s.as_str(), p.as_str()), ("2017-11-28T06:55:09.126Z", "2017-11-28T06:55:08.513Z"));
        let (s, p) = fragment_times(Some(1_511_852_109_126), Some(2000));
        assert_eq!((s.as_str(), p.as_str()), ("1511852109126 ms", "2000 ms"));
        let (s, p) = fragment_times(None, Some(1_511_852_108_513));
        assert_eq!((s.as_str(), p.as_str()), ("-", "2017-11-28T06:55:08.513Z"));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("12345"), "12345");
        assert_eq!(shorten("91343852333181432392682062607743920146159169392"), "913438…169392");
    }
}
