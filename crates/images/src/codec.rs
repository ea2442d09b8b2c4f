//! From Matroska frames to pictures: the codec configuration in CodecPrivate (AVCC for
//! H.264, HVCC for H.265, av1C for AV1), length-prefixed NAL units rewritten as Annex B
//! access units, and the decoders: rusty_h264 and rusty_h265 (pure Rust) by default, the
//! system's libavcodec with the `ffmpeg` feature (which adds VP8, VP9 and AV1).

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use kvs_chunk::annexb::{ParameterSets, START_CODE, nal_units};
use kvs_chunk::{Codec, Track};

/// The video codecs this crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 / AVC (`V_MPEG4/ISO/AVC`).
    H264,
    /// H.265 / HEVC (`V_MPEGH/ISO/HEVC`).
    H265,
    /// VP8 (`V_VP8`): decoded with the `ffmpeg` feature only.
    Vp8,
    /// VP9 (`V_VP9`): decoded with the `ffmpeg` feature only.
    Vp9,
    /// AV1 (`V_AV1`): decoded with the `ffmpeg` feature only.
    Av1,
}

impl VideoCodec {
    /// The codec of a Matroska CodecID, if it is one this crate decodes.
    #[must_use]
    pub fn from_codec_id(codec_id: &str) -> Option<Self> {
        match Codec::of(codec_id)? {
            Codec::H264 => Some(Self::H264),
            Codec::H265 => Some(Self::H265),
            Codec::Vp8 => Some(Self::Vp8),
            Codec::Vp9 => Some(Self::Vp9),
            Codec::Av1 => Some(Self::Av1),
            _ => None,
        }
    }

    /// The codec's usual name ("H.264", "VP9", ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
            Self::Vp8 => "VP8",
            Self::Vp9 => "VP9",
            Self::Av1 => "AV1",
        }
    }

    /// Whether frames are NAL units (H.264, H.265) rather than whole coded frames.
    fn is_nal(self) -> bool {
        matches!(self, Self::H264 | Self::H265)
    }

    /// Whether this build decodes the codec: H.264 and H.265 always, VP8, VP9 and AV1 with
    /// the `ffmpeg` feature.
    #[must_use]
    pub fn is_decodable(self) -> bool {
        self.is_nal() || cfg!(feature = "ffmpeg")
    }

    /// Why this build does not decode the codec.
    fn missing_feature(self) -> String {
        format!("{} needs kvs-images built with the `ffmpeg` feature", self.name())
    }
}

/// The decoder backend this build uses: "pure Rust (rusty_h264, rusty_h265)", or with the
/// `ffmpeg` feature "FFmpeg libavcodec N.N (H.264, H.265, VP8, VP9, AV1)" naming the
/// libavcodec version linked.
#[must_use]
pub fn decoder_backend() -> &'static str {
    #[cfg(feature = "ffmpeg")]
    {
        crate::ffmpeg::backend()
    }
    #[cfg(not(feature = "ffmpeg"))]
    {
        "pure Rust (rusty_h264, rusty_h265)"
    }
}

/// A track's decoding configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodecConfig {
    pub(crate) codec: VideoCodec,
    /// The size of the NAL unit length prefix (1, 2 or 4 bytes; 0 for VP8/VP9/AV1).
    nal_length_size: usize,
    /// The parameter sets of CodecPrivate (SPS/PPS, VPS/SPS/PPS), as Annex B; for AV1 the
    /// configOBUs of av1C (the sequence header).
    parameter_sets: Vec<u8>,
}

/// Parses an AVCDecoderConfigurationRecord: (NAL length size, SPS and PPS as Annex B).
fn avcc(cp: &[u8]) -> Option<(usize, Vec<u8>)> {
    let ps = ParameterSets::from_avcc(cp)?;
    Some((ps.length_size, ps.to_annexb()))
}

/// Parses an HEVCDecoderConfigurationRecord: (NAL length size, VPS/SPS/PPS/SEI as Annex B).
fn hvcc(cp: &[u8]) -> Option<(usize, Vec<u8>)> {
    let ps = ParameterSets::from_hvcc(cp)?;
    Some((ps.length_size, ps.to_annexb()))
}

impl CodecConfig {
    /// The configuration of a video track; `Err` says why its frames cannot give images.
    pub(crate) fn of_track(track: &Track) -> Result<Self, String> {
        let id = track.codec_id.as_deref().unwrap_or("");
        let codec = VideoCodec::from_codec_id(id).ok_or_else(|| format!("unsupported video codec {id:?}"))?;
        if !codec.is_decodable() {
            return Err(codec.missing_feature());
        }
        let (nal_length_size, parameter_sets) = match (codec, track.codec_private.as_deref()) {
            // VP8 and VP9 frames carry everything; so may AV1's (the sequence header is
            // also in keyframes).
            (VideoCodec::Vp8 | VideoCodec::Vp9, _) | (VideoCodec::Av1, None | Some([])) => (0, Vec::new()),
            // av1C: 4 bytes of fields, then configOBUs.
            (VideoCodec::Av1, Some(cp)) => (0, cp.get(4..).unwrap_or_default().to_vec()),
            // Without CodecPrivate the parameter sets must come in-band.
            (_, None | Some([])) => (4, Vec::new()),
            (VideoCodec::H264, Some(cp)) => avcc(cp).ok_or_else(|| format!("malformed {id} CodecPrivate"))?,
            (VideoCodec::H265, Some(cp)) => hvcc(cp).ok_or_else(|| format!("malformed {id} CodecPrivate"))?,
        };
        Ok(Self { codec, nal_length_size, parameter_sets })
    }

    /// A frame as an Annex B access unit, with the parameter sets in front if asked.
    /// A frame that is already Annex B (some producers write it so) is taken as it is. A
    /// VP8, VP9 or AV1 frame is taken as it is (AV1's after the sequence header if asked).
    pub(crate) fn access_unit(&self, data: &[u8], with_parameter_sets: bool) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(data.len().saturating_add(self.parameter_sets.len()).saturating_add(16));
        if with_parameter_sets {
            out.extend_from_slice(&self.parameter_sets);
        }
        if !self.codec.is_nal() {
            out.extend_from_slice(data);
            return out;
        }
        let start = out.len();
        let mut ok = true;
        for nal in nal_units(data, self.nal_length_size) {
            let Ok(nal) = nal else {
                ok = false;
                break;
            };
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        if !ok && (data.starts_with(&START_CODE) || data.starts_with(&[0, 0, 1])) {
            out.truncate(start);
            out.extend_from_slice(data);
        }
        out
    }
}

/// A decoded picture as 8-bit RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Picture {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `width * height * 3` bytes, row by row.
    pub(crate) rgb: Vec<u8>,
}

/// Decodes `units` (an id and an Annex B access unit each, in decode order, from a
/// keyframe on) and hands the picture of each `wanted` id to `sink` as soon as it is
/// decoded. Returns the last decoder error, if any. A decoder that panics on hostile input
/// stops the run: the caller reports the pictures it did not get as media errors.
pub(crate) fn decode(
    codec: VideoCodec,
    units: &[(usize, Vec<u8>)],
    wanted: &BTreeSet<usize>,
    header_only: &BTreeSet<usize>,
    sink: &mut dyn FnMut(usize, Picture),
) -> Option<String> {
    #[cfg(feature = "ffmpeg")]
    let run = || crate::ffmpeg::decode(codec, units, wanted, header_only, sink);
    #[cfg(not(feature = "ffmpeg"))]
    let _ = header_only;
    #[cfg(not(feature = "ffmpeg"))]
    let run = || match codec {
        VideoCodec::H264 => decode_h264(units, wanted, sink),
        VideoCodec::H265 => decode_h265(units, wanted, sink),
        VideoCodec::Vp8 | VideoCodec::Vp9 | VideoCodec::Av1 => Some(codec.missing_feature()),
    };
    catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Some("the decoder failed on this media".to_owned()))
}

#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
fn decode_h264(
    units: &[(usize, Vec<u8>)],
    wanted: &BTreeSet<usize>,
    sink: &mut dyn FnMut(usize, Picture),
) -> Option<String> {
    let mut error = None;
    let mut decoder = rusty_h264_decoder::Decoder::new();
    let last = wanted.last().copied();
    for (id, au) in units {
        // rusty_h264 returns each access unit's own picture, in decode order.
        match decoder.decode(au) {
            Ok(Some(frame)) if wanted.contains(id) => {
                let planes = Planes {
                    width: frame.width,
                    height: frame.height,
                    y: &frame.y,
                    u: &frame.u,
                    v: &frame.v,
                };
                sink(*id, yuv_to_rgb(planes, (2, 2)));
            }
            Ok(_) => {}
            Err(e) => error = Some(format!("H.264: {e}")),
        }
        if Some(*id) == last {
            break;
        }
    }
    error
}

#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
fn decode_h265(
    units: &[(usize, Vec<u8>)],
    wanted: &BTreeSet<usize>,
    sink: &mut dyn FnMut(usize, Picture),
) -> Option<String> {
    let mut error = None;
    let mut decoder = rusty_h265::Decoder::new();
    let mut keep = |frame: rusty_h265::frame::Frame, error: &mut Option<String>| {
        let Some(id) = frame.pts.and_then(|p| usize::try_from(p).ok()) else { return };
        if wanted.contains(&id) {
            match h265_picture(&frame) {
                Some(picture) => sink(id, picture),
                None => *error = Some("H.265: unsupported picture format".to_owned()),
            }
        }
    };
    for (id, au) in units {
        let pts = i64::try_from(*id).ok();
        if let Err(e) = decoder.push_annexb(au, pts) {
            error = Some(format!("H.265: {e}"));
        }
        while let Ok(frame) = decoder.next_frame() {
            keep(frame, &mut error);
        }
    }
    decoder.flush();
    while let Ok(frame) = decoder.next_frame() {
        keep(frame, &mut error);
    }
    error
}

/// An H.265 picture (cropped, 8 to 16 bits, 4:0:0 to 4:4:4) as RGB.
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
fn h265_picture(frame: &rusty_h265::frame::Frame) -> Option<Picture> {
    let p = &frame.picture;
    let mut raw = Vec::new();
    frame.write_yuv(&mut raw);
    let wide = p.bit_depth_luma > 8 || p.bit_depth_chroma > 8;
    let samples: Vec<u8> = if wide {
        let shift = u32::from(p.bit_depth_luma.max(p.bit_depth_chroma).saturating_sub(8));
        raw.chunks_exact(2)
            .map(|b| {
                let v = u16::from_le_bytes([*b.first().unwrap_or(&0), *b.get(1).unwrap_or(&0)]);
                u8::try_from(v.checked_shr(shift).unwrap_or(0)).unwrap_or(u8::MAX)
            })
            .collect()
    } else {
        raw
    };
    let (w, h) = (frame.width, frame.height);
    let (sw, sh) = match p.chroma_format_idc {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let luma = w.checked_mul(h)?;
    let (y, chroma) = samples.split_at_checked(luma)?;
    let (u, v) = if p.chroma_format_idc == 0 {
        (&[][..], &[][..])
    } else {
        let c = w.checked_div(sw)?.checked_mul(h.checked_div(sh)?)?;
        let (u, rest) = chroma.split_at_checked(c)?;
        (u, rest.get(..c)?)
    };
    Some(yuv_to_rgb(Planes { width: w, height: h, y, u, v }, (sw, sh)))
}

/// Tightly packed planes (chroma `width / sx` x `height / sy`).
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
struct Planes<'a> {
    width: usize,
    height: usize,
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
}

/// BT.601 limited range to RGB (what H.264/H.265 streams without colour information mean,
/// and what ffmpeg assumes). Chroma planes are `width / sx` x `height / sy`; empty chroma
/// planes give grey; each pixel takes the chroma sample above and left of it (the last
/// column and row of an odd-sized picture reuse the last sample).
///
/// Row by row: each chroma sample's three products are computed once for the `sx` pixels
/// that share it, and the output is written in place (no per-pixel division, bounds check
/// or push). The arithmetic is [`pixel`]'s, so the bytes are the same as pixel by pixel.
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
fn yuv_to_rgb(p: Planes<'_>, (sx, sy): (usize, usize)) -> Picture {
    let (w, h) = (p.width, p.height);
    let cw = w.checked_div(sx).unwrap_or(0).max(1);
    let ch = h.checked_div(sy).unwrap_or(0).max(1);
    let mut rgb = vec![0; w.saturating_mul(h).saturating_mul(3)];
    let rows = p.y.chunks_exact(w.max(1)).zip(rgb.chunks_exact_mut(w.max(1).saturating_mul(3)));
    for (row, (luma, out)) in rows.take(h).enumerate() {
        let crow = row.checked_div(sy).unwrap_or(0).min(ch.saturating_sub(1));
        let start = crow.saturating_mul(cw);
        let urow = p.u.get(start..start.saturating_add(cw)).unwrap_or(&[]);
        let vrow = p.v.get(start..start.saturating_add(cw)).unwrap_or(&[]);
        // Past the chroma row (an odd width's last column): its last sample; no row: grey.
        let us = urow.iter().copied().chain(std::iter::repeat(urow.last().copied().unwrap_or(128)));
        let vs = vrow.iter().copied().chain(std::iter::repeat(vrow.last().copied().unwrap_or(128)));
        let groups = luma.chunks(sx.max(1)).zip(out.chunks_mut(sx.max(1).saturating_mul(3)));
        for ((ys, px), (u, v)) in groups.zip(us.zip(vs)) {
            let chroma = Chroma::new(u, v);
            for (&y, px) in ys.iter().zip(px.chunks_exact_mut(3)) {
                px.copy_from_slice(&chroma.pixel(y));
            }
        }
    }
    Picture { width: u32::try_from(w).unwrap_or(u32::MAX), height: u32::try_from(h).unwrap_or(u32::MAX), rgb }
}

/// One chroma sample's contributions to R, G and B (BT.601 limited range, 8-bit fixed point).
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
struct Chroma {
    r: i32,
    g: i32,
    b: i32,
}

// Integer arithmetic on u8 inputs widened to i32: every intermediate value lies within
// +-2^18, far from overflow.
#[allow(clippy::arithmetic_side_effects)]
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
impl Chroma {
    fn new(u: u8, v: u8) -> Self {
        let d = i32::from(u) - 128;
        let e = i32::from(v) - 128;
        Self { r: 409 * e, g: -100 * d - 208 * e, b: 516 * d }
    }

    fn pixel(&self, y: u8) -> [u8; 3] {
        let c = 298 * (i32::from(y) - 16) + 128;
        // (c + any chroma term) >> 8 lies within -277..=534: always inside the table.
        let clamp = |x: i32| {
            usize::try_from((x >> 8) + CLAMP_OFFSET).ok().and_then(|i| CLAMP.get(i)).copied().unwrap_or(0)
        };
        [clamp(c + self.r), clamp(c + self.g), clamp(c + self.b)]
    }
}

/// Where 0 is in [`CLAMP`].
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
const CLAMP_OFFSET: i32 = 320;

/// `CLAMP[i]` is `i - CLAMP_OFFSET` clamped to 0..=255. A lookup rather than comparisons:
/// LLVM compiled those to branches, mispredicted on noisy pictures (the conversion took 2 to
/// 4 times as long; `encode-bench` measures it).
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
// Constant evaluation: an index or value out of range would fail the build.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
const CLAMP: [u8; 896] = {
    let mut table = [0; 896];
    let mut i = 0;
    while i < 896 {
        table[i] = if i < 320 {
            0
        } else if i > 575 {
            255
        } else {
            (i - 320) as u8
        };
        i += 1;
    }
    table
};

/// One BT.601 limited-range pixel (the reference the tests hold [`yuv_to_rgb`] to).
#[cfg(test)]
fn pixel(y: u8, u: u8, v: u8) -> [u8; 3] {
    Chroma::new(u, v).pixel(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_to_annex_b() {
        let cp = [1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9];
        let (n, ps) = avcc(&cp).unwrap_or_default();
        assert_eq!(n, 4);
        assert_eq!(ps, [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9]);
        assert!(avcc(&cp[..10]).is_none());
        let config = CodecConfig { codec: VideoCodec::H264, nal_length_size: 4, parameter_sets: ps };
        assert_eq!(
            config.access_unit(&[0, 0, 0, 2, 0x65, 7, 0, 0, 0, 1, 6], false),
            [0, 0, 0, 1, 0x65, 7, 0, 0, 0, 1, 6]
        );
        // Already Annex B: kept.
        assert_eq!(
            config.access_unit(&[0, 0, 0, 1, 0x65, 7, 8, 9, 10], false),
            [0, 0, 0, 1, 0x65, 7, 8, 9, 10]
        );
        assert_eq!(&config.access_unit(&[0, 0, 0, 1, 0x65], true)[..4], &[0, 0, 0, 1]);
    }

    #[test]
    fn pixels() {
        assert_eq!(pixel(16, 128, 128), [0, 0, 0]);
        assert_eq!(pixel(235, 128, 128), [255, 255, 255]);
        assert_eq!(pixel(81, 90, 240), [255, 0, 0]);
    }

    /// The former pixel-by-pixel conversion, which the row-wise one must match byte for byte.
    #[allow(clippy::arithmetic_side_effects)]
    fn reference(p: &Planes<'_>, (sx, sy): (usize, usize)) -> Vec<u8> {
        let (w, h) = (p.width, p.height);
        let cw = (w / sx).max(1);
        let ch = (h / sy).max(1);
        let mut rgb = Vec::new();
        for (row, luma) in p.y.chunks_exact(w.max(1)).take(h).enumerate() {
            let start = (row / sy).min(ch - 1) * cw;
            let urow = p.u.get(start..start + cw).unwrap_or(&[]);
            let vrow = p.v.get(start..start + cw).unwrap_or(&[]);
            for (x, &yv) in luma.iter().enumerate() {
                let cx = (x / sx).min(cw - 1);
                let u = urow.get(cx).copied().unwrap_or(128);
                let v = vrow.get(cx).copied().unwrap_or(128);
                rgb.extend_from_slice(&pixel(yv, u, v));
            }
        }
        rgb.resize(w * h * 3, 0);
        rgb
    }

    #[test]
    #[allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
    fn row_wise_conversion_matches_pixel_by_pixel() {
        let mut seed = 0x2545_f491_u32;
        let mut noise = |n: usize| {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed >> 24) as u8
                })
                .collect::<Vec<u8>>()
        };
        for (w, h) in [(1, 1), (2, 2), (7, 5), (16, 9), (33, 17)] {
            for (sx, sy) in [(2, 2), (2, 1), (1, 1)] {
                let (cw, ch) = ((w / sx).max(1), (h / sy).max(1));
                let (y, u, v) = (noise(w * h), noise(cw * ch), noise(cw * ch));
                let cases = [
                    Planes { width: w, height: h, y: &y, u: &u, v: &v },
                    // Grey (4:0:0), and planes shorter than the picture says.
                    Planes { width: w, height: h, y: &y, u: &[], v: &[] },
                    Planes { width: w, height: h, y: &y[..y.len() / 2], u: &u[..u.len() / 2], v: &v },
                ];
                for p in cases {
                    let want = reference(&p, (sx, sy));
                    assert_eq!(yuv_to_rgb(p, (sx, sy)).rgb, want, "{w}x{h} {sx}x{sy}");
                }
            }
        }
    }
}
