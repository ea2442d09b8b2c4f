//! H.264 and H.265 as Annex B byte streams: each length-prefixed NAL unit (the length size
//! from the CodecPrivate's lengthSizeMinusOne) gets a start code, and the parameter sets from
//! the CodecPrivate (SPS/PPS; VPS/SPS/PPS for H.265) go before every keyframe that does not
//! carry its own, so any keyframe is a starting point (`kvs-mkv extract --format annexb`).
//!
//! ```
//! use kvs_chunk::annexb::ParameterSets;
//! use kvs_mux::annexb::AnnexB;
//!
//! let ps = ParameterSets { length_size: 2, nals: vec![vec![0x67, 1], vec![0x68, 2]], hevc: false };
//! let writer = AnnexB::new(ps);
//! let mut out = Vec::new();
//! // A keyframe of one 2-byte IDR slice: the SPS and PPS go first.
//! assert_eq!(writer.write_frame(&[0, 2, 0x65, 9], true, &mut out)?, Some(18));
//! assert_eq!(out, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 9]);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};

use kvs_chunk::annexb::{ParameterSets, START_CODE, configuration_version, is_parameter_set, nal_units};
use kvs_chunk::{Codec, Track};

/// Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), version 1 only.
pub fn parse_avcc(cp: &[u8]) -> Option<ParameterSets> {
    if configuration_version(cp)? != 1 {
        return None;
    }
    ParameterSets::from_avcc(cp)
}

/// Parses an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), version 1 only.
pub fn parse_hvcc(cp: &[u8]) -> Option<ParameterSets> {
    if configuration_version(cp)? != 1 {
        return None;
    }
    ParameterSets::from_hvcc(cp)
}

/// The parameter sets of a track, if it is H.264 or H.265 with a usable CodecPrivate.
pub fn parameter_sets(track: &Track) -> Option<ParameterSets> {
    let cp = track.codec_private.as_deref()?;
    match track.codec()? {
        Codec::H264 => parse_avcc(cp),
        Codec::H265 => parse_hvcc(cp),
        _ => None,
    }
}

/// Writes one length-prefixed frame as Annex B to `out`, NAL unit by NAL unit (nothing is
/// copied): the parameter sets `ps_annexb` first when it is a keyframe that carries none.
/// Returns the bytes written, or `None` with nothing written when a NAL length runs past
/// the end of the frame.
pub fn write_annexb(
    ps: &ParameterSets,
    ps_annexb: &[u8],
    data: &[u8],
    keyframe: bool,
    out: &mut dyn Write,
) -> io::Result<Option<u64>> {
    let mut carries_ps = false;
    for nal in nal_units(data, ps.length_size) {
        match nal {
            Ok(n) => carries_ps |= is_parameter_set(n, ps.hevc),
            Err(_) => return Ok(None),
        }
    }
    let mut bytes = 0u64;
    if keyframe && !carries_ps {
        out.write_all(ps_annexb)?;
        bytes = bytes.saturating_add(len64(ps_annexb.len()));
    }
    for n in nal_units(data, ps.length_size).flatten() {
        out.write_all(&START_CODE)?;
        out.write_all(n)?;
        bytes = bytes.saturating_add(len64(n.len())).saturating_add(4);
    }
    Ok(Some(bytes))
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// An Annex B writer for one track: its parameter sets, and those as Annex B (written
/// before keyframes that carry none).
#[derive(Debug, Clone)]
pub struct AnnexB {
    ps: ParameterSets,
    prefix: Vec<u8>,
}

impl AnnexB {
    /// A writer for frames whose NAL units and parameter sets are `ps`.
    pub fn new(ps: ParameterSets) -> Self {
        let prefix = ps.to_annexb();
        Self { ps, prefix }
    }

    /// A writer for `track`, if it is H.264 or H.265 with a usable CodecPrivate.
    pub fn for_track(track: &Track) -> Option<Self> {
        parameter_sets(track).map(Self::new)
    }

    /// The track's parameter sets.
    pub fn parameter_sets(&self) -> &ParameterSets {
        &self.ps
    }

    /// Writes one frame's NAL units to `out` (see [`write_annexb`]): the bytes written, or
    /// `None` with nothing written when a NAL length runs past the end of the frame.
    pub fn write_frame(&self, data: &[u8], keyframe: bool, out: &mut dyn Write) -> io::Result<Option<u64>> {
        write_annexb(&self.ps, &self.prefix, data, keyframe, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_and_hvcc() {
        // The 54-byte CodecPrivate of the Java library's output_get_media.mkv.
        let cp: Vec<u8> = (0..54)
            .map(|i| {
                let hex = "014d401e03010027274d401eb9101405ff2e02d4040407c0000003004000000f38a0003d090007a13bdee03e1108d401000428fe3c80";
                u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0)
            })
            .collect();
        let ps = parse_avcc(&cp).unwrap_or_default();
        assert_eq!(ps.length_size, 4);
        assert_eq!(ps.nals.len(), 2);
        assert_eq!(ps.nals.first().and_then(|n| n.first()).map(|b| b & 0x1F), Some(7));
        assert_eq!(ps.nals.get(1).and_then(|n| n.first()).map(|b| b & 0x1F), Some(8));
        assert!(parse_avcc(&[]).is_none());
        assert!(parse_avcc(&[1, 2, 3]).is_none());
        assert!(parse_hvcc(&[1; 10]).is_none());
    }

    #[test]
    fn annexb_conversion() {
        let ps = ParameterSets { length_size: 2, nals: vec![vec![0x67, 1], vec![0x68, 2]], hevc: false };
        let pa = ps.to_annexb();
        let mut out = Vec::new();
        let n = write_annexb(&ps, &pa, &[0, 2, 0x65, 9, 0, 1, 0x06], true, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x06]);
        assert_eq!(n, Some(23));
        out.clear();
        write_annexb(&ps, &pa, &[0, 1, 0x41], false, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
        out.clear();
        let r = write_annexb(&ps, &pa, &[0, 5, 1], false, &mut out).ok().flatten();
        assert!(r.is_none() && out.is_empty(), "a length past the end");
        // A keyframe that carries its own SPS gets none added.
        write_annexb(&ps, &pa, &[0, 2, 0x67, 3], true, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x67, 3]);
    }

    #[test]
    fn a_writer_for_a_track_and_one_for_none() {
        let track = Track::new(1, kvs_chunk::TrackType::Video, "V_MPEG4/ISO/AVC");
        assert!(AnnexB::for_track(&track).is_none(), "no CodecPrivate");
        let ps = ParameterSets { length_size: 4, nals: vec![vec![0x67, 1], vec![0x68, 2]], hevc: false };
        let w = AnnexB::new(ps);
        assert_eq!(w.parameter_sets().length_size, 4);
        let mut out = Vec::new();
        assert_eq!(w.write_frame(&[0, 0, 0, 1, 0x41], false, &mut out).ok().flatten(), Some(5));
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
    }
}
