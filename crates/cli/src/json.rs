//! The machine-readable output: one JSON object per line (see DESIGN.md, "The CLI's
//! machine-readable output").

use std::io::{self, Write};

use kvs_chunk::{ErrorChunk, Event, Fragment, FragmentAssembler, TagValue, Track, TrackType};
use serde_json::{Value, json};

use crate::Sink;

/// `fragments --json`.
pub struct FragmentsJson {
    fragments: FragmentAssembler,
}

impl Default for FragmentsJson {
    fn default() -> Self {
        Self { fragments: FragmentAssembler::without_frames() }
    }
}

impl Sink for FragmentsJson {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        if let Some(s) = self.fragments.push(event) {
            write_line(out, &fragment(&s))?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

fn write_line(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// The JSON object of one fragment (`other_frames` only when frames came on more track
/// numbers than are counted one by one).
pub fn fragment(s: &Fragment) -> Value {
    let mut v = fragment_fields(s);
    if s.fragment > 0
        && let Value::Object(map) = &mut v
    {
        // A further fragment of a merged document (the key is absent for the first).
        map.insert("fragment".into(), json!(s.fragment));
    }
    if s.stats.other_frames > 0
        && let Value::Object(map) = &mut v
    {
        map.insert("other_frames".into(), json!(s.stats.other_frames));
    }
    v
}

fn fragment_fields(s: &Fragment) -> Value {
    json!({
        "index": s.index,
        "offset": s.offset,
        "fragment_number": s.fragment_number().map(ToString::to_string),
        "server_timestamp_ms": s.server_timestamp_ms(),
        "producer_timestamp_ms": s.producer_timestamp_ms(),
        "millis_behind_now": s.end.millis_behind_now,
        "continuation_token": s.end.continuation_token.as_ref().map(ToString::to_string),
        "complete": s.end.complete,
        "tracks": s.tracks.iter().map(track_brief).collect::<Vec<_>>(),
        "frames": s.stats.frames,
        "keyframes": s.stats.keyframes,
        "tags": s.tags.iter().map(|t| tag(&t.name, &t.value)).collect::<Vec<_>>(),
        "error": s.error().map(stream_error),
    })
}

fn track_brief(t: &Track) -> Value {
    json!({
        "number": t.number,
        "codec_id": t.codec_id,
        "width": t.video.and_then(|v| v.width),
        "height": t.video.and_then(|v| v.height),
    })
}

fn track_full(t: &Track) -> Value {
    let kind = match t.kind {
        TrackType::Video => "video",
        TrackType::Audio => "audio",
        TrackType::Subtitle => "subtitle",
        TrackType::Metadata => "metadata",
        TrackType::Unknown => "unknown",
        _ => "other",
    };
    json!({
        "number": t.number,
        "uid": t.uid,
        "kind": kind,
        "codec_id": t.codec_id,
        "codec_private": t.codec_private.as_ref().map(|b| hex(b)),
        "name": t.name,
        "default_duration_ns": t.default_duration_ns,
        "width": t.video.and_then(|v| v.width),
        "height": t.video.and_then(|v| v.height),
        "sampling_frequency": t.audio.and_then(|a| a.sampling_frequency),
        "channels": t.audio.and_then(|a| a.channels),
        "bit_depth": t.audio.and_then(|a| a.bit_depth),
    })
}

fn tag(name: &str, value: &TagValue) -> Value {
    match value {
        TagValue::String(_) => json!({ "name": name, "value": value.as_text() }),
        TagValue::Binary(b) => json!({ "name": name, "value": null, "binary": hex(b) }),
        TagValue::None => json!({ "name": name, "value": null }),
    }
}

fn stream_error(e: &ErrorChunk) -> Value {
    json!({
        "id": e.id.map(|i| i.code()),
        "code": e.code,
        "raw_id": e.raw_id,
    })
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len().saturating_mul(2));
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// The JSON line of a decoder error: `{"type":"error","kind":"crc_mismatch","offset":N,
/// "element":"0x1F43B675","element_name":"Cluster","recoverable":true,"message":"..."}`
/// (`offset`, `element` and `element_name` only where known).
pub fn error_line(e: &kvs_chunk::Error) -> Value {
    use kvs_ebml::ErrorKind;
    let mut v = json!({"type": "error", "kind": e.code(), "offset": e.offset()});
    if let (Value::Object(map), Some((id, name))) = (&mut v, e.element()) {
        // The element at fault: for a CRC-32 mismatch, the one whose data failed the check.
        map.insert("element".into(), json!(format!("{:#X}", id.0)));
        if let Some(name) = name {
            map.insert("element_name".into(), json!(name));
        }
    }
    if let (Value::Object(map), kvs_chunk::Error::Ebml(inner)) = (&mut v, e)
        && let ErrorKind::CrcMismatch { stored, computed } = inner.kind
    {
        map.insert("stored_crc32".into(), json!(format!("{stored:08x}")));
        map.insert("computed_crc32".into(), json!(format!("{computed:08x}")));
    }
    if let Value::Object(map) = &mut v {
        map.insert("recoverable".into(), json!(e.is_recoverable()));
        map.insert("message".into(), json!(e.to_string()));
    }
    v
}

/// `events --json`.
pub struct EventsJson;

impl Sink for EventsJson {
    fn error(&mut self, out: &mut dyn Write, error: &kvs_chunk::Error) -> io::Result<()> {
        write_line(out, &error_line(error))
    }

    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        let v = match event {
            Event::Frame(f) => {
                // The hot path: formatted directly, no intermediate JSON value.
                return writeln!(
                    out,
                    "{{\"type\":\"frame\",\"track\":{},\"timestamp_ms\":{},\"keyframe\":{},\"size\":{},\"crc32\":\"{:08x}\"}}",
                    f.track,
                    f.timestamp_ms(),
                    f.keyframe,
                    f.data.len(),
                    crc32fast::hash(&f.data)
                );
            }
            Event::DocumentStart { index, offset } => {
                json!({"type": "document_start", "index": index, "offset": offset})
            }
            Event::FragmentStart { index, fragment, offset } => {
                json!({"type": "fragment_start", "index": index, "fragment": fragment, "offset": offset})
            }
            Event::Tracks(tracks) => {
                json!({"type": "tracks", "tracks": tracks.iter().map(track_full).collect::<Vec<_>>()})
            }
            Event::FragmentMetadata(m) => json!({
                "type": "fragment_metadata",
                "fragment_number": m.fragment_number.as_ref().map(ToString::to_string),
                "server_timestamp_ms": m.server_timestamp_ms,
                "producer_timestamp_ms": m.producer_timestamp_ms,
            }),
            Event::Tag(t) => {
                let mut v = json!({"type": "tag", "index": t.index});
                if let (Value::Object(map), Value::Object(fields)) = (&mut v, tag(&t.name, &t.value)) {
                    map.extend(fields);
                    if !t.parents.is_empty() {
                        map.insert("parents".into(), json!(t.parents));
                    }
                    if let Some(tv) = t.targets.type_value {
                        map.insert("target_type_value".into(), json!(tv));
                    }
                    if !t.targets.track_uids.is_empty() {
                        map.insert("track_uids".into(), json!(t.targets.track_uids));
                    }
                }
                v
            }
            Event::ErrorChunk(e) => {
                let mut v = json!({
                    "type": "stream_error",
                    "fragment_number": e.fragment_number.as_ref().map(ToString::to_string),
                });
                if let (Value::Object(map), Value::Object(fields)) = (&mut v, stream_error(&e)) {
                    map.extend(fields);
                }
                v
            }
            Event::FragmentEnd(end) => {
                let mut v = json!({
                    "type": "fragment_end",
                    "index": end.index,
                    "millis_behind_now": end.millis_behind_now,
                    "continuation_token": end.continuation_token.as_ref().map(ToString::to_string),
                    "complete": end.complete,
                });
                if end.fragment > 0
                    && let Value::Object(map) = &mut v
                {
                    map.insert("fragment".into(), json!(end.fragment));
                }
                v
            }
            Event::DocumentEnd { index, offset, end } => {
                json!({"type": "document_end", "index": index, "offset": offset, "end": end})
            }
            Event::Cluster { offset, timestamp, timestamp_scale } => {
                json!({"type": "cluster", "offset": offset, "timestamp": timestamp, "timestamp_scale": timestamp_scale})
            }
            Event::Resynced { offset, skipped } => {
                json!({"type": "resynced", "offset": offset, "skipped": skipped})
            }
            Event::Warning(w) => json!({
                "type": "warning",
                "index": w.index,
                "offset": w.offset,
                "kind": w.kind.name(),
                "message": w.kind.to_string(),
            }),
            _ => return Ok(()),
        };
        write_line(out, &v)
    }

    fn finish(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}
