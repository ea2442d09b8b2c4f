//! Which access units a decoding run can leave out: pictures no later picture refers to
//! (H.264 `nal_ref_idc` 0, H.265 sub-layer non-reference pictures), read from the NAL
//! headers of the Annex B access units the decoders are given; VP8 and VP9 frames that
//! change nothing a later frame reads ([`vpx`], from their frame headers).
//!
//! Leaving such a picture out changes nothing in the pictures decoded after it (it is what
//! FFmpeg's `skip_frame=nonref` does): H.264 counts `frame_num` over reference pictures only
//! and a non-reference picture carries no reference marking; an H.265 sub-layer
//! non-reference picture is never in the reference picture set of a later picture of its
//! own or a lower sub-layer, and is not the `prevTid0Pic` of the picture order count. A unit
//! is kept whenever it carries anything else a later unit may need (parameter sets, end of
//! sequence, extension layers) or cannot be read.

use std::collections::BTreeSet;

use crate::codec::VideoCodec;

mod vpx;

/// What an access unit is to the units after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    /// A picture no later picture of the same or a lower temporal sub-layer refers to, and
    /// nothing else a later unit needs.
    pub(crate) non_reference: bool,
    /// Its temporal sub-layer (H.265 `TemporalId`; 0 for H.264); [`u8::MAX`] when unknown,
    /// so that it may refer to any picture before it.
    pub(crate) temporal_id: u8,
}

impl Unit {
    /// An H.265 unit kept whatever follows, which may refer to anything before it.
    const KEPT: Self = Self { non_reference: false, temporal_id: u8::MAX };
}

/// The NAL units of an Annex B access unit, each from its header to the end of the unit
/// (only the first bytes are read).
fn nal_units(au: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(rest) = au.get(at..) {
        let Some(p) = rest.windows(3).position(|w| w == [0, 0, 1]) else { break };
        let Some(start) = at.checked_add(p).and_then(|s| s.checked_add(3)) else { break };
        let Some(nal) = au.get(start..) else { break };
        out.push(nal);
        at = start;
    }
    out
}

/// An H.264 access unit. H.264 has no temporal sub-layers here (a picture with
/// `nal_ref_idc` 0 is referred to by no picture at all): every unit is on sub-layer 0.
pub(crate) fn h264(au: &[u8]) -> Unit {
    const KEPT: Unit = Unit { non_reference: false, temporal_id: 0 };
    let mut pictures = 0usize;
    for nal in nal_units(au) {
        let Some(&header) = nal.first() else { return KEPT };
        if header & 0x80 != 0 {
            return KEPT;
        }
        let ref_idc = (header >> 5) & 0x3;
        match header & 0x1F {
            // Coded slices (non-IDR, data partitions A, B, C).
            1..=4 if ref_idc == 0 => pictures = pictures.saturating_add(1),
            // SEI, access unit delimiter, filler data.
            6 | 9 | 12 => {}
            // A reference slice, an IDR slice, parameter sets, end of sequence or stream,
            // SVC/MVC units, reserved types: kept.
            _ => return KEPT,
        }
    }
    Unit { non_reference: pictures > 0, temporal_id: 0 }
}

/// An H.265 access unit.
pub(crate) fn h265(au: &[u8]) -> Unit {
    let mut temporal_id: Option<u8> = None;
    let mut non_reference = true;
    let mut pictures = 0usize;
    for nal in nal_units(au) {
        let (Some(&b0), Some(&b1)) = (nal.first(), nal.get(1)) else { return Unit::KEPT };
        let kind = (b0 >> 1) & 0x3F;
        let layer = ((b0 & 1) << 5) | (b1 >> 3);
        let Some(tid) = (b1 & 0x7).checked_sub(1) else { return Unit::KEPT };
        if b0 & 0x80 != 0 || layer != 0 {
            return Unit::KEPT;
        }
        match kind {
            // VCL: the even types below 16 are sub-layer non-reference pictures (TRAIL_N,
            // TSA_N, STSA_N, RADL_N, RASL_N, RSV_VCL_N10/N12/N14).
            0..=31 => {
                if kind >= 16 || kind % 2 == 1 {
                    non_reference = false;
                }
                if temporal_id.is_some_and(|t| t != tid) {
                    return Unit::KEPT;
                }
                temporal_id = Some(tid);
                pictures = pictures.saturating_add(1);
            }
            // Access unit delimiter, filler data, SEI (prefix and suffix).
            35 | 38..=40 => {}
            // Parameter sets, end of sequence or bitstream, reserved and unspecified types.
            _ => return Unit::KEPT,
        }
    }
    match temporal_id {
        Some(tid) if pictures > 0 => Unit { non_reference, temporal_id: tid },
        _ => Unit::KEPT,
    }
}

/// The units of a decoding run to decode (`true`) or leave out: a non-reference picture
/// that is not wanted and that no later unit of a higher temporal sub-layer may refer to
/// goes; everything else is kept.
pub(crate) fn needed(codec: VideoCodec, units: &[(usize, Vec<u8>)], wanted: &BTreeSet<usize>) -> Vec<bool> {
    let classify = match codec {
        VideoCodec::H264 => h264,
        VideoCodec::H265 => h265,
        // VP8 frames are left out by the decoder (header only): `prune`.
        VideoCodec::Vp8 => return vec![true; units.len()],
        VideoCodec::Vp9 => return vpx::vp9_needed(units, wanted),
        // AV1's OBUs are not read here: every frame is decoded.
        VideoCodec::Av1 => return vec![true; units.len()],
    };
    let kinds: Vec<Unit> = units.iter().map(|(_, au)| classify(au)).collect();
    let mut keep = vec![true; units.len()];
    // The highest temporal sub-layer among the units after the one at hand.
    let mut later_max: Option<u8> = None;
    for ((unit, (id, _)), keep) in kinds.iter().zip(units).zip(keep.iter_mut()).rev() {
        let referred = later_max.is_some_and(|m| m > unit.temporal_id);
        if unit.non_reference && !referred && !wanted.contains(id) {
            *keep = false;
        }
        later_max = Some(later_max.map_or(unit.temporal_id, |m| m.max(unit.temporal_id)));
    }
    keep
}

/// `units` without the ones [`needed`] leaves out, and the ids of the units to send header
/// only (VP8 frames that update no reference: the decoder reads their headers, which may
/// change what later frames read, and leaves out their macroblocks).
pub(crate) fn prune(
    codec: VideoCodec,
    units: Vec<(usize, Vec<u8>)>,
    wanted: &BTreeSet<usize>,
) -> (Vec<(usize, Vec<u8>)>, BTreeSet<usize>) {
    if codec == VideoCodec::Vp8 {
        let header_only = vpx::vp8_actions(&units, wanted)
            .iter()
            .zip(&units)
            .filter(|(a, _)| **a == vpx::Vp8Action::HeaderOnly)
            .map(|(_, (id, _))| *id)
            .collect();
        return (units, header_only);
    }
    let keep = needed(codec, &units, wanted);
    (units.into_iter().zip(keep).filter_map(|(unit, keep)| keep.then_some(unit)).collect(), BTreeSet::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects)]
    use super::*;

    /// An Annex B unit of NAL units given by their headers (and a byte of payload each).
    fn au(headers: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for h in headers {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(h);
            out.push(0x88);
        }
        out
    }

    /// An H.264 NAL header.
    fn avc(ref_idc: u8, kind: u8) -> [u8; 1] {
        [(ref_idc << 5) | kind]
    }

    /// An H.265 NAL header (layer 0).
    fn hevc(kind: u8, tid: u8) -> [u8; 2] {
        [kind << 1, tid + 1]
    }

    const NON_REF: Unit = Unit { non_reference: true, temporal_id: 0 };
    const REF: Unit = Unit { non_reference: false, temporal_id: 0 };

    #[test]
    fn h264_units() {
        // A non-reference slice, with an AUD and SEI around it; several slices.
        assert_eq!(h264(&au(&[&avc(0, 9), &avc(0, 6), &avc(0, 1)])), NON_REF);
        assert_eq!(h264(&au(&[&avc(0, 1), &avc(0, 1)])), NON_REF);
        // Data partitions of a non-reference picture.
        assert_eq!(h264(&au(&[&avc(0, 2), &avc(0, 3), &avc(0, 4)])), NON_REF);
        // Any reference slice, an IDR, parameter sets, end of sequence: kept.
        for kept in [
            au(&[&avc(2, 1)]),
            au(&[&avc(0, 1), &avc(1, 1)]),
            au(&[&avc(3, 5)]),
            au(&[&avc(3, 7), &avc(3, 8), &avc(0, 1)]),
            au(&[&avc(0, 1), &avc(0, 10)]),
            au(&[&avc(0, 20)]),
            au(&[&[0x80 | 1]]),
        ] {
            assert!(!h264(&kept).non_reference, "{kept:?}");
        }
        // No picture at all, or no start code: kept.
        assert!(!h264(&au(&[&avc(0, 9)])).non_reference);
        assert!(!h264(&[]).non_reference);
        assert!(!h264(&[1, 0x01, 2]).non_reference);
        // Three-byte start codes.
        assert_eq!(h264(&[0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x01, 0x88]), NON_REF);
        assert_eq!(h264(&[0, 0, 1, 0x41, 0x9A]), REF);
    }

    #[test]
    fn h265_units() {
        // TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N and the reserved N types.
        for kind in [0, 2, 4, 6, 8, 10, 12, 14] {
            assert_eq!(h265(&au(&[&hevc(35, 0), &hevc(kind, 0)])), NON_REF, "{kind}");
        }
        // Their R counterparts, IRAP pictures, reserved types above 15.
        for kind in [1, 3, 5, 7, 9, 11, 13, 15, 16, 19, 20, 21, 22, 24, 31] {
            assert_eq!(h265(&au(&[&hevc(kind, 0)])), REF, "{kind}");
        }
        // The temporal sub-layer, and SEI around the slices.
        assert_eq!(
            h265(&au(&[&hevc(39, 2), &hevc(0, 2), &hevc(0, 2), &hevc(40, 2)])),
            Unit { non_reference: true, temporal_id: 2 }
        );
        // Parameter sets, end of sequence, slices of two sub-layers, a higher layer,
        // TemporalId 0 (forbidden), a truncated header: kept whatever follows.
        for kept in [
            au(&[&hevc(32, 0), &hevc(33, 0), &hevc(34, 0), &hevc(0, 0)]),
            au(&[&hevc(0, 0), &hevc(36, 0)]),
            au(&[&hevc(0, 0), &hevc(0, 1)]),
            au(&[&[0, 1 | 8]]),
            au(&[&[0, 0]]),
            vec![0, 0, 1, 0],
            au(&[&hevc(35, 0)]),
        ] {
            assert_eq!(h265(&kept), Unit::KEPT, "{kept:?}");
        }
    }

    fn units(aus: Vec<Vec<u8>>) -> Vec<(usize, Vec<u8>)> {
        aus.into_iter().enumerate().collect()
    }

    #[test]
    fn runs_leave_out_unwanted_non_reference_pictures() {
        let (idr, p, b, b_ref) = (au(&[&avc(3, 5)]), au(&[&avc(2, 1)]), au(&[&avc(0, 1)]), au(&[&avc(2, 1)]));
        let run = units(vec![idr, p.clone(), b_ref, b.clone(), b.clone(), p, b]);
        let wanted: BTreeSet<usize> = [4].into();
        assert_eq!(needed(VideoCodec::H264, &run, &wanted), [true, true, true, false, true, true, false]);
        assert_eq!(
            prune(VideoCodec::H264, run.clone(), &wanted).0.iter().map(|u| u.0).collect::<Vec<_>>(),
            [0, 1, 2, 4, 5]
        );
        // Wanting everything keeps everything.
        let all: BTreeSet<usize> = (0..run.len()).collect();
        assert!(needed(VideoCodec::H264, &run, &all).iter().all(|k| *k));
    }

    #[test]
    fn higher_sub_layers_keep_the_non_reference_pictures_below_them() {
        let run = units(vec![
            au(&[&hevc(19, 0)]), // IDR_W_RADL, TemporalId 0
            au(&[&hevc(0, 0)]),  // TRAIL_N, TemporalId 0: a TemporalId 1 picture follows
            au(&[&hevc(1, 1)]),  // TRAIL_R, TemporalId 1
            au(&[&hevc(0, 1)]),  // TRAIL_N, TemporalId 1: nothing above it follows
            au(&[&hevc(2, 0)]),  // TSA_N, TemporalId 0: only TemporalId 0 follows
            au(&[&hevc(1, 0)]),
        ]);
        assert_eq!(needed(VideoCodec::H265, &run, &BTreeSet::new()), [true, true, true, false, false, true]);
        // A unit that cannot be read may refer to anything before it.
        let mut unknown = run;
        unknown.push((6, vec![0, 0, 1, 0x40]));
        assert_eq!(needed(VideoCodec::H265, &unknown, &BTreeSet::new()), [true; 7]);
    }
}
