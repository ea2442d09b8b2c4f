//! Matroska elements: the EBML header, TrackEntry elements rebuilt from decoded [`Track`]s,
//! SimpleTags (the workspace's one SimpleTag writer), and the header of a (Simple)Block, with
//! [`kvs_ebml::Writer`]. Every master element gets the shortest size field unless a width is
//! asked for. [`crate::mkv`], [`crate::getmedia`] and kvs-local write with these.
//!
//! ```
//! use kvs_mux::elements::{TrackEntryOptions, write_ebml_header, write_tracks};
//! use kvs_chunk::{Track, TrackType};
//! use kvs_ebml::Writer;
//!
//! let mut w = Writer::new();
//! write_ebml_header(&mut w, "matroska")?;
//! let mut track = Track::default();
//! track.number = 1;
//! track.kind = TrackType::Video;
//! write_tracks(&mut w, &[track], TrackEntryOptions::AS_DECODED)?;
//! assert!(w.as_bytes().starts_with(&[0x1A, 0x45, 0xDF, 0xA3]));
//! # Ok::<(), kvs_ebml::writer::WriteError>(())
//! ```

use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError};
use kvs_ebml::{Writer, ids, vint};

use kvs_chunk::{TagValue, Track, TrackType};

const KNOWN: MasterSize = MasterSize::Known(SizeWidth::Minimal);

/// The EBML header: EBMLVersion 1, EBMLReadVersion 1, EBMLMaxIDLength 4,
/// EBMLMaxSizeLength 8, `doc_type`, DocTypeVersion 4, DocTypeReadVersion 2.
///
/// # Errors
/// What the writer refuses.
pub fn write_ebml_header(w: &mut Writer, doc_type: &str) -> Result<(), WriteError> {
    w.master(ids::EBML, KNOWN, |w| {
        w.unsigned(ids::EBML_VERSION, 1)?;
        w.unsigned(ids::EBML_READ_VERSION, 1)?;
        w.unsigned(ids::EBML_MAX_ID_LENGTH, 4)?;
        w.unsigned(ids::EBML_MAX_SIZE_LENGTH, 8)?;
        w.string(ids::DOC_TYPE, doc_type)?;
        w.unsigned(ids::DOC_TYPE_VERSION, 4)?;
        w.unsigned(ids::DOC_TYPE_READ_VERSION, 2)
    })
}

/// How [`write_track_entry`] fills in what a decoded track may lack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackEntryOptions {
    /// Always write a TrackUID: the track's, else its number, and at least 1. Otherwise a
    /// TrackUID is written only when the track has one, as it is.
    pub always_uid: bool,
    /// Without a known TrackType, write 1 (video) for a track with Video settings, else 2
    /// (audio). Otherwise the TrackType is left out.
    pub infer_type: bool,
    /// A FlagLacing value to write after the TrackType.
    pub flag_lacing: Option<u64>,
}

impl TrackEntryOptions {
    /// The track as it was decoded: nothing added.
    pub const AS_DECODED: Self = Self { always_uid: false, infer_type: false, flag_lacing: None };
    /// A complete entry for a standalone file: a TrackUID, a TrackType and FlagLacing 0.
    pub const STANDALONE: Self = Self { always_uid: true, infer_type: true, flag_lacing: Some(0) };
}

/// One TrackEntry: TrackNumber, TrackUID, TrackType, FlagLacing (as `opts` say), Name,
/// Language, CodecID, CodecPrivate, DefaultDuration, Video and Audio, each when present.
///
/// # Errors
/// What the writer refuses.
pub fn write_track_entry(w: &mut Writer, t: &Track, opts: TrackEntryOptions) -> Result<(), WriteError> {
    w.master(ids::TRACK_ENTRY, KNOWN, |w| {
        w.unsigned(ids::TRACK_NUMBER, t.number)?;
        if opts.always_uid {
            w.unsigned(ids::TRACK_UID, t.uid.unwrap_or(t.number).max(1))?;
        } else if let Some(uid) = t.uid {
            w.unsigned(ids::TRACK_UID, uid)?;
        }
        let inferred = || if t.video.is_some() { TrackType::Video } else { TrackType::Audio };
        let kind = t.kind.number().or_else(|| opts.infer_type.then(inferred).and_then(TrackType::number));
        if let Some(v) = kind {
            w.unsigned(ids::TRACK_TYPE, v)?;
        }
        if let Some(lacing) = opts.flag_lacing {
            w.unsigned(ids::FLAG_LACING, lacing)?;
        }
        if let Some(name) = &t.name {
            w.utf8(ids::NAME, name)?;
        }
        if let Some(lang) = &t.language {
            w.string(ids::LANGUAGE, lang)?;
        }
        if let Some(codec) = &t.codec_id {
            w.string(ids::CODEC_ID, codec)?;
        }
        if let Some(private) = &t.codec_private {
            w.binary(ids::CODEC_PRIVATE, private)?;
        }
        if let Some(d) = t.default_duration_ns {
            w.unsigned(ids::DEFAULT_DURATION, d)?;
        }
        if let Some(v) = &t.video {
            w.master(ids::VIDEO, KNOWN, |w| {
                let fields = [
                    (ids::PIXEL_WIDTH, v.width),
                    (ids::PIXEL_HEIGHT, v.height),
                    (ids::DISPLAY_WIDTH, v.display_width),
                    (ids::DISPLAY_HEIGHT, v.display_height),
                ];
                for (id, value) in fields {
                    if let Some(value) = value {
                        w.unsigned(id, value)?;
                    }
                }
                Ok(())
            })?;
        }
        if let Some(a) = &t.audio {
            w.master(ids::AUDIO, KNOWN, |w| {
                if let Some(rate) = a.sampling_frequency {
                    w.float(ids::SAMPLING_FREQUENCY, rate)?;
                }
                if let Some(ch) = a.channels {
                    w.unsigned(ids::CHANNELS, ch)?;
                }
                if let Some(bits) = a.bit_depth {
                    w.unsigned(ids::BIT_DEPTH, bits)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
}

/// A Tracks element with a TrackEntry per track.
///
/// # Errors
/// What the writer refuses.
pub fn write_tracks(w: &mut Writer, tracks: &[Track], opts: TrackEntryOptions) -> Result<(), WriteError> {
    w.master(ids::TRACKS, KNOWN, |w| {
        for t in tracks {
            write_track_entry(w, t, opts)?;
        }
        Ok(())
    })
}

/// One SimpleTag with its nested ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimpleTag {
    /// TagName.
    pub name: String,
    /// TagString or TagBinary.
    pub value: TagValue,
    /// TagLanguage.
    pub language: Option<String>,
    /// TagDefault.
    pub default: Option<bool>,
    /// The SimpleTags nested in this one.
    pub children: Vec<SimpleTag>,
}

impl SimpleTag {
    /// A SimpleTag with a string value.
    pub fn text(name: &str, value: impl Into<String>) -> Self {
        Self::new(name, TagValue::String(value.into().into_bytes().into()))
    }

    /// A SimpleTag with a name and a value, nothing else.
    pub fn new(name: &str, value: TagValue) -> Self {
        Self { name: name.to_owned(), value, ..Self::default() }
    }
}

/// A SimpleTag (TagName, TagLanguage, TagDefault, its value as TagString or TagBinary, the
/// nested SimpleTags), every size field the shortest.
///
/// # Errors
/// What the writer refuses.
pub fn write_simple_tag(w: &mut Writer, t: &SimpleTag) -> Result<(), WriteError> {
    write_simple_tag_sized(w, t, SizeWidth::Minimal)
}

/// [`write_simple_tag`] with `width` for the size fields of the SimpleTag, its TagName and
/// its TagString (the service writes its own tags with 4-byte sizes).
///
/// # Errors
/// What the writer refuses.
pub fn write_simple_tag_sized(w: &mut Writer, t: &SimpleTag, width: SizeWidth) -> Result<(), WriteError> {
    w.master(ids::SIMPLE_TAG, MasterSize::Known(width), |w| {
        w.leaf(ids::TAG_NAME, t.name.as_bytes(), width)?;
        if let Some(l) = &t.language {
            w.string(ids::TAG_LANGUAGE, l)?;
        }
        if let Some(d) = t.default {
            w.unsigned(ids::TAG_DEFAULT, u64::from(d))?;
        }
        match &t.value {
            TagValue::String(b) => w.leaf(ids::TAG_STRING, b, width)?,
            TagValue::Binary(b) => w.binary(ids::TAG_BINARY, b)?,
            TagValue::None => {}
        }
        for c in &t.children {
            write_simple_tag_sized(w, c, width)?;
        }
        Ok(())
    })
}

/// The flags byte of a Block or SimpleBlock (no lacing): invisible 0x08 always; keyframe
/// 0x80 and discardable 0x01 only in a SimpleBlock (not `in_group`).
#[must_use]
pub fn block_flags(keyframe: bool, invisible: bool, discardable: bool, in_group: bool) -> u8 {
    let mut flags = 0u8;
    if invisible {
        flags |= 0x08;
    }
    if !in_group {
        if keyframe {
            flags |= 0x80;
        }
        if discardable {
            flags |= 0x01;
        }
    }
    flags
}

/// Appends a (Simple)Block header to `out`: the track number as the shortest VINT, the
/// timestamp relative to the cluster, and `flags`. `None`, with nothing appended, if the
/// track number does not fit a VINT.
pub fn write_block_header(out: &mut Vec<u8>, track: u64, relative: i16, flags: u8) -> Option<()> {
    let (vint, len) = vint::encode_size(track, vint::size_width(track)?)?;
    out.extend(vint.iter().take(len));
    out.extend_from_slice(&relative.to_be_bytes());
    out.push(flags);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_chunk::VideoSettings;

    fn bytes(f: impl FnOnce(&mut Writer) -> Result<(), WriteError>) -> Vec<u8> {
        let mut w = Writer::new();
        assert_eq!(f(&mut w), Ok(()));
        w.as_bytes().to_vec()
    }

    #[test]
    fn ebml_header() {
        let b = bytes(|w| write_ebml_header(w, "webm"));
        assert!(b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]));
        assert!(b.windows(6).any(|x| x == [0x42, 0x82, 0x84, b'w', b'e', b'b']));
    }

    #[test]
    fn track_entries() {
        let mut t = Track::default();
        t.number = 2;
        t.video = Some(VideoSettings::default());
        let decoded = bytes(|w| write_track_entry(w, &t, TrackEntryOptions::AS_DECODED));
        // TrackEntry, TrackNumber 2, Video (empty).
        assert_eq!(decoded, [0xAE, 0x85, 0xD7, 0x81, 2, 0xE0, 0x80]);
        let standalone = bytes(|w| write_track_entry(w, &t, TrackEntryOptions::STANDALONE));
        // ... TrackUID 2, TrackType 1 (from the Video settings), FlagLacing 0.
        assert_eq!(
            standalone,
            [0xAE, 0x8F, 0xD7, 0x81, 2, 0x73, 0xC5, 0x81, 2, 0x83, 0x81, 1, 0x9C, 0x81, 0, 0xE0, 0x80]
        );
        t.uid = Some(9);
        t.kind = TrackType::Audio;
        t.video = None;
        let decoded = bytes(|w| write_tracks(w, &[t], TrackEntryOptions::AS_DECODED));
        assert_eq!(
            decoded,
            [0x16, 0x54, 0xAE, 0x6B, 0x8C, 0xAE, 0x8A, 0xD7, 0x81, 2, 0x73, 0xC5, 0x81, 9, 0x83, 0x81, 2]
        );
        assert_eq!(TrackType::Other(7).number(), Some(7));
    }

    #[test]
    fn simple_tags() {
        let b = bytes(|w| write_simple_tag(w, &SimpleTag::text("A", "b")));
        assert_eq!(b, [0x67, 0xC8, 0x88, 0x45, 0xA3, 0x81, b'A', 0x44, 0x87, 0x81, b'b']);
        let b = bytes(|w| write_simple_tag(w, &SimpleTag::new("A", TagValue::None)));
        assert_eq!(b, [0x67, 0xC8, 0x84, 0x45, 0xA3, 0x81, b'A']);
        let b = bytes(|w| write_simple_tag_sized(w, &SimpleTag::text("A", "b"), SizeWidth::Fixed(4)));
        assert_eq!(
            b,
            [0x67, 0xC8, 0x10, 0, 0, 14, 0x45, 0xA3, 0x10, 0, 0, 1, b'A', 0x44, 0x87, 0x10, 0, 0, 1, b'b']
        );
        let mut nested = SimpleTag::new("P", TagValue::Binary(bytes::Bytes::from_static(&[7])));
        nested.language = Some("en".to_owned());
        nested.default = Some(true);
        nested.children.push(SimpleTag::new("C", TagValue::None));
        let b = bytes(|w| write_simple_tag(w, &nested));
        assert_eq!(
            b,
            [
                0x67, 0xC8, 0x98, 0x45, 0xA3, 0x81, b'P', 0x44, 0x7A, 0x82, b'e', b'n', 0x44, 0x84, 0x81, 1,
                0x44, 0x85, 0x81, 7, 0x67, 0xC8, 0x84, 0x45, 0xA3, 0x81, b'C'
            ]
        );
    }

    #[test]
    fn block_headers() {
        assert_eq!(block_flags(true, false, true, false), 0x81);
        assert_eq!(block_flags(true, true, true, true), 0x08);
        let mut out = Vec::new();
        assert!(write_block_header(&mut out, 1, -2, 0x80).is_some());
        assert_eq!(out, [0x81, 0xFF, 0xFE, 0x80]);
        out.clear();
        assert!(write_block_header(&mut out, 200, 0, 0).is_some());
        assert_eq!(out, [0x40, 200, 0, 0, 0]);
        assert!(write_block_header(&mut out, u64::MAX, 0, 0).is_none());
        assert_eq!(out.len(), 5);
    }
}
