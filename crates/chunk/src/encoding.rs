//! Undoing a track's ContentEncodings: header stripping and zlib.

use std::io::Read;

use bytes::{Bytes, BytesMut};

use crate::event::{ContentEncoding, Track};

/// ContentEncodings kept per track; a track with more is marked unsupported.
pub(crate) const MAX_ENCODINGS: usize = 8;

/// Whether the decoder must undo encodings on `track`'s frames.
pub(crate) fn decodes_frames(track: &Track) -> bool {
    track.unsupported_encoding.is_none()
        && track.content_encodings.iter().any(ContentEncoding::applies_to_frames)
}

/// Finishes a TrackEntry's encodings: sorts them in decoding order, marks what cannot be
/// undone, and decodes CodecPrivate where an encoding applies to it.
pub(crate) fn finish_track(track: &mut Track, max: u64) {
    if track.content_encodings.is_empty() {
        return;
    }
    // The highest ContentEncodingOrder is undone first (stable for equal orders).
    track.content_encodings.sort_by_key(|e| std::cmp::Reverse(e.order));
    if track.unsupported_encoding.is_none() {
        track.unsupported_encoding = track.content_encodings.iter().find_map(ContentEncoding::unsupported);
    }
    if track.unsupported_encoding.is_some() {
        return;
    }
    if let Some(private) = track.codec_private.take() {
        match decode(
            &track.content_encodings,
            private.clone(),
            max,
            ContentEncoding::applies_to_codec_private,
        ) {
            Ok(p) => track.codec_private = Some(p),
            Err(what) => {
                track.codec_private = Some(private);
                track.unsupported_encoding = Some(format!("CodecPrivate cannot be decoded: {what}"));
            }
        }
    }
}

/// Undoes the encodings that `applies` selects on `data`; the result is at most `max` bytes.
pub(crate) fn decode(
    encodings: &[ContentEncoding],
    mut data: Bytes,
    max: u64,
    applies: fn(&ContentEncoding) -> bool,
) -> Result<Bytes, &'static str> {
    for e in encodings.iter().filter(|e| applies(e)) {
        data = match e.comp_algo.unwrap_or(0) {
            3 => {
                let settings = e.comp_settings.as_deref().unwrap_or_default();
                if settings.is_empty() {
                    continue;
                }
                let len = settings.len().saturating_add(data.len());
                if len as u64 > max {
                    return Err("header stripping gives more bytes than the binary limit");
                }
                let mut out = BytesMut::with_capacity(len);
                out.extend_from_slice(settings);
                out.extend_from_slice(&data);
                out.freeze()
            }
            _ => inflate(&data, max)?,
        };
    }
    Ok(data)
}

/// zlib-inflates `data`, refusing more than `max` bytes of output.
fn inflate(data: &[u8], max: u64) -> Result<Bytes, &'static str> {
    let mut out = Vec::new();
    let mut z = flate2::read::ZlibDecoder::new(data).take(max.saturating_add(1));
    z.read_to_end(&mut out).map_err(|_| "invalid zlib data")?;
    if out.len() as u64 > max {
        return Err("zlib data inflates past the binary limit");
    }
    Ok(Bytes::from(out))
}
