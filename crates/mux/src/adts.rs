//! AAC as ADTS: a 7-byte header before each frame (what ffmpeg, ffplay and players read as
//! `.aac`), from the track's AudioSpecificConfig or its `A_AAC/MPEG*/*` codec id and Audio
//! element: profile = object type - 1 (the core's for HE-AAC), the sampling frequency index,
//! the channel configuration, the frame length counting the header.
//!
//! ```
//! use kvs_mux::adts::{Adts, adts_header, parse_asc};
//!
//! // AudioSpecificConfig 0x1408: AAC-LC, 16 kHz, mono.
//! let fields = parse_asc(&[0x14, 0x08]);
//! assert_eq!(fields, Some(Adts { profile: 1, sampling_index: 8, channels: 1 }));
//! let header = fields.and_then(|a| adts_header(a, 100));
//! assert_eq!(header.map(|h| h[..2].to_vec()), Some(vec![0xFF, 0xF1]));
//! ```

use kvs_chunk::{Codec, Track};

use crate::wav::is_connect;

/// The fields of an ADTS header, from an AAC track's AudioSpecificConfig (ISO/IEC 14496-3
/// 1.6.2.1) or, without one, from a Matroska A_AAC/MPEG*/* codec id and its Audio element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    /// The ADTS profile: the (core) audio object type minus one (0 Main, 1 LC, 2 SSR, 3 LTP).
    pub profile: u8,
    /// The sampling frequency index (of the core AAC stream: for HE-AAC, half the output
    /// rate).
    pub sampling_index: u8,
    /// The channel configuration, 1 to 7.
    pub channels: u8,
}

/// The ADTS sampling frequencies, by index.
const ADTS_RATES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// Reads big-endian bit fields.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let shift = 7usize.saturating_sub(self.pos.checked_rem(8).unwrap_or(0));
            let bit = byte.checked_shr(u32::try_from(shift).unwrap_or(0)).unwrap_or(0) & 1;
            v = v.checked_shl(1).unwrap_or(0) | u32::from(bit);
            self.pos = self.pos.checked_add(1)?;
        }
        Some(v)
    }

    fn object_type(&mut self) -> Option<u32> {
        let t = self.read(5)?;
        if t == 31 { self.read(6).map(|e| e.saturating_add(32)) } else { Some(t) }
    }

    fn rate_index(&mut self) -> Option<u8> {
        let i = self.read(4)?;
        if i == 15 {
            let rate = self.read(24)?;
            return ADTS_RATES.iter().position(|r| *r == rate).and_then(|p| u8::try_from(p).ok());
        }
        u8::try_from(i).ok().filter(|i| usize::from(*i) < ADTS_RATES.len())
    }
}

/// The ADTS fields of an AudioSpecificConfig, if ADTS can carry its stream (object types 1
/// to 4, also as the core of HE-AAC (5) and HE-AACv2 (29); channel configurations 1 to 7).
pub fn parse_asc(asc: &[u8]) -> Option<Adts> {
    let mut b = Bits { data: asc, pos: 0 };
    let mut object = b.object_type()?;
    let sampling_index = b.rate_index()?;
    let channels = u8::try_from(b.read(4)?).ok()?;
    if object == 5 || object == 29 {
        // Explicit SBR/PS: the extension rate, then the core object type.
        b.rate_index()?;
        object = b.object_type()?;
    }
    if !(1..=4).contains(&object) || !(1..=7).contains(&channels) {
        return None;
    }
    Some(Adts { profile: u8::try_from(object.checked_sub(1)?).ok()?, sampling_index, channels })
}

/// The ADTS fields of an AAC track: from its CodecPrivate, else from a Matroska
/// `A_AAC/MPEG2/LC`-style codec id with the Audio element's rate and channels.
pub fn adts(track: &Track) -> Option<Adts> {
    let codec = track.codec_id.as_deref()?;
    if !matches!(Codec::of(codec), Some(Codec::Aac | Codec::AacLegacy)) || is_connect(track) {
        return None;
    }
    if let Some(cp) = track.codec_private.as_deref().filter(|c| !c.is_empty()) {
        return parse_asc(cp);
    }
    let profile = match codec.rsplit('/').find(|p| !p.is_empty() && *p != "SBR")? {
        "MAIN" => 0,
        "LC" => 1,
        "SSR" => 2,
        "LTP" => 3,
        _ => return None,
    };
    let audio = track.audio?;
    let mut rate = audio.sampling_frequency.filter(|r| r.is_finite())?;
    if codec.ends_with("/SBR") {
        rate /= 2.0;
    }
    let sampling_index =
        u8::try_from(ADTS_RATES.iter().position(|r| (f64::from(*r) - rate).abs() < 0.5)?).ok()?;
    let channels = u8::try_from(audio.channels.unwrap_or(1)).ok().filter(|c| (1..=7).contains(c))?;
    Some(Adts { profile, sampling_index, channels })
}

/// The largest AAC frame an ADTS header can describe (13-bit frame length, header
/// included).
pub const ADTS_MAX_PAYLOAD: usize = 8191 - 7;

/// The 7-byte ADTS header (MPEG-4, no CRC, one raw data block) for a `payload_len`-byte
/// frame, or `None` when the frame is too large for ADTS.
pub fn adts_header(a: Adts, payload_len: usize) -> Option<[u8; 7]> {
    if payload_len > ADTS_MAX_PAYLOAD {
        return None;
    }
    let len = u16::try_from(payload_len.checked_add(7)?).ok()?;
    let [hi, lo] = len.to_be_bytes();
    Some([
        0xFF,
        0xF1,
        (a.profile & 3) << 6 | (a.sampling_index & 0xF) << 2 | (a.channels >> 2) & 1,
        (a.channels & 3) << 6 | (hi >> 3) & 3,
        (hi << 5) | (lo >> 3),
        (lo & 7) << 5 | 0x1F,
        0xFC,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adts_fields() {
        // AAC-LC 16 kHz mono (0x1408): profile 1, index 8, 1 channel.
        let a = parse_asc(&[0x14, 0x08]);
        assert_eq!(a, Some(Adts { profile: 1, sampling_index: 8, channels: 1 }));
        // AAC-LC 48 kHz stereo (0x1190).
        assert_eq!(parse_asc(&[0x11, 0x90]), Some(Adts { profile: 1, sampling_index: 3, channels: 2 }));
        // HE-AAC (explicit SBR, object type 5): the core LC at 24 kHz, extension 48 kHz.
        // 00101 0110 0010 0011 00010 -> 0x2B 0x11 0x88 (padded).
        assert_eq!(parse_asc(&[0x2B, 0x11, 0x88]), Some(Adts { profile: 1, sampling_index: 6, channels: 2 }));
        // Channel configuration 0 (a PCE) and object type 42 (USAC) cannot be ADTS.
        assert_eq!(parse_asc(&[0x14, 0x00]), None);
        assert_eq!(parse_asc(&[0xF8, 0x50, 0x40]), None);
        assert_eq!(parse_asc(&[]), None);
        let h = adts_header(Adts { profile: 1, sampling_index: 8, channels: 1 }, 100).unwrap_or_default();
        // Sync word, MPEG-4, no CRC.
        assert_eq!(h[0], 0xFF);
        assert_eq!(h[1], 0xF1);
        assert_eq!(h[2] >> 6, 1, "profile");
        assert_eq!((h[2] >> 2) & 0xF, 8, "sampling index");
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 1, "channels");
        let len = (u32::from(h[3] & 3) << 11) | (u32::from(h[4]) << 3) | u32::from(h[5] >> 5);
        assert_eq!(len, 107, "the frame length counts the header");
        assert_eq!(((u32::from(h[5]) & 0x1F) << 6) | (u32::from(h[6]) >> 2), 0x7FF, "buffer fullness: VBR");
        assert_eq!(h[6] & 3, 0, "one raw data block");
        assert!(adts_header(Adts { profile: 1, sampling_index: 3, channels: 2 }, 8184).is_some());
        assert!(adts_header(Adts { profile: 1, sampling_index: 3, channels: 2 }, 8185).is_none());
    }

    #[test]
    fn adts_fields_of_tracks() {
        use kvs_chunk::{AudioSettings, TrackType};
        let mut t = Track::new(2, TrackType::Audio, "A_AAC");
        t.codec_private = Some(vec![0x11, 0x90].into());
        assert_eq!(adts(&t), Some(Adts { profile: 1, sampling_index: 3, channels: 2 }));
        // Without an AudioSpecificConfig: from the codec id and the Audio element.
        t.codec_private = None;
        t.codec_id = Some("A_AAC/MPEG4/LC/SBR".into());
        t.audio = Some(AudioSettings::new(44100.0, 2));
        assert_eq!(adts(&t), Some(Adts { profile: 1, sampling_index: 7, channels: 2 }));
        // Amazon Connect's PCM in A_AAC is not AAC.
        t.name = Some("AUDIO_FROM_CUSTOMER".into());
        assert_eq!(adts(&t), None);
    }
}
