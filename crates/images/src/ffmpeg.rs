//! The FFmpeg backend (feature `ffmpeg`): frames decoded by the system's libavcodec through
//! the safe `ffmpeg-next` binding, converted to RGB by libswscale.
//!
//! Each run opens one single-threaded decoder (parallelism is the caller's business). A
//! frame goes in as a packet whose pts is its unit id, so pictures come out matched to their
//! ids whatever the codec's reordering (B-frames, hidden VP9/AV1 frames).

use std::collections::BTreeSet;
use std::sync::{Once, OnceLock};

use ff::Discard;
use ff::codec::Id;
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;

use crate::codec::{Picture, VideoCodec};

/// The libavcodec decoder id of a codec.
fn codec_id(codec: VideoCodec) -> Id {
    match codec {
        VideoCodec::H264 => Id::H264,
        VideoCodec::H265 => Id::HEVC,
        VideoCodec::Vp8 => Id::VP8,
        VideoCodec::Vp9 => Id::VP9,
        VideoCodec::Av1 => Id::AV1,
    }
}

/// The linked libavcodec, e.g. "FFmpeg libavcodec 59.37 (H.264, H.265, VP8, VP9, AV1)".
pub(crate) fn backend() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let v = ff::codec::version();
        format!(
            "FFmpeg libavcodec {}.{} (H.264, H.265, VP8, VP9, AV1)",
            v.checked_shr(16).unwrap_or(0),
            v.checked_shr(8).unwrap_or(0) & 0xFF
        )
    })
}

/// Initialises the binding (its error strings) once. FFmpeg's own log stays quiet: a
/// decoding problem reaches the caller as the sample's MEDIA_ERROR, not as lines on stderr.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails when registering devices, a feature this crate leaves off.
        ff::init().ok();
        ff::util::log::set_level(ff::util::log::Level::Quiet);
    });
}

/// A decoder for one run, opened single-threaded.
fn open(codec: VideoCodec) -> Result<ff::decoder::Video, String> {
    let name = codec.name();
    let found = ff::decoder::find(codec_id(codec))
        .ok_or_else(|| format!("{name}: this FFmpeg has no {name} decoder"))?;
    let mut context = ff::codec::Context::new_with_codec(found);
    context.set_threading(ff::threading::Config::count(1));
    // A frame with errors is an error, as with the pure-Rust decoders, not a picture with
    // concealed blocks: `err_detect=explode`.
    let mut options = ff::Dictionary::new();
    options.set("err_detect", "explode");
    context
        .decoder()
        .open_as_with(found, options)
        .and_then(ff::codec::decoder::Opened::video)
        .map_err(|e| format!("{name}: opening FFmpeg's decoder: {e}"))
}

/// Converts decoded frames to packed RGB24, keeping one scaler while the format holds.
#[derive(Default)]
struct Converter {
    scaler: Option<(Pixel, u32, u32, scaling::Context)>,
}

impl Converter {
    fn picture(&mut self, frame: &ff::frame::Video) -> Result<Picture, String> {
        let (format, width, height) = (frame.format(), frame.width(), frame.height());
        let reuse = matches!(&self.scaler, Some((f, w, h, _)) if (*f, *w, *h) == (format, width, height));
        if !reuse {
            let scaler = scaling::Context::get(
                format,
                width,
                height,
                Pixel::RGB24,
                width,
                height,
                scaling::Flags::BILINEAR,
            )
            .map_err(|e| format!("converting a {format:?} picture to RGB: {e}"))?;
            self.scaler = Some((format, width, height, scaler));
        }
        let Some((_, _, _, scaler)) = self.scaler.as_mut() else {
            return Err("no RGB converter".to_owned());
        };
        let mut out = ff::frame::Video::empty();
        scaler.run(frame, &mut out).map_err(|e| format!("converting a picture to RGB: {e}"))?;
        let row = usize::try_from(width).unwrap_or(0).saturating_mul(3);
        let rows = usize::try_from(height).unwrap_or(0);
        let stride = out.stride(0);
        let data = out.data(0);
        let mut rgb = Vec::with_capacity(row.saturating_mul(rows));
        for r in 0..rows {
            let start = r.saturating_mul(stride);
            let line = data
                .get(start..start.saturating_add(row))
                .ok_or_else(|| "a converted picture shorter than its size".to_owned())?;
            rgb.extend_from_slice(line);
        }
        Ok(Picture { width, height, rgb })
    }
}

/// Decodes `units` (in decode order from a keyframe) with libavcodec and hands the picture
/// of each `wanted` id to `sink`; the `header_only` ones are sent with `skip_frame=nonref`
/// (VP8 frames that update no reference: FFmpeg reads their headers only). Returns the last
/// error, if any.
pub(crate) fn decode(
    codec: VideoCodec,
    units: &[(usize, Vec<u8>)],
    wanted: &BTreeSet<usize>,
    header_only: &BTreeSet<usize>,
    sink: &mut dyn FnMut(usize, Picture),
) -> Option<String> {
    init();
    let name = codec.name();
    let mut decoder = match open(codec) {
        Ok(d) => d,
        Err(e) => return Some(e),
    };
    let mut error = None;
    let mut converter = Converter::default();
    let mut pending: BTreeSet<usize> = wanted.clone();
    let mut frame = ff::frame::Video::empty();
    let mut drain =
        |decoder: &mut ff::decoder::Video, error: &mut Option<String>, pending: &mut BTreeSet<usize>| {
            while decoder.receive_frame(&mut frame).is_ok() {
                let Some(id) = frame.pts().and_then(|p| usize::try_from(p).ok()) else { continue };
                if frame.is_corrupt() {
                    // A picture FFmpeg concealed errors in: not the frame the media holds.
                    *error = Some(format!("{name}: the frame has decoding errors"));
                    continue;
                }
                if pending.remove(&id) {
                    match converter.picture(&frame) {
                        Ok(picture) => sink(id, picture),
                        Err(e) => *error = Some(format!("{name}: {e}")),
                    }
                }
            }
        };
    let last = wanted.last().copied();
    for (id, unit) in units {
        let mut packet = ff::Packet::copy(unit);
        packet.set_pts(i64::try_from(*id).ok());
        // The decoder is single-threaded: the setting applies to this packet.
        decoder.skip_frame(if header_only.contains(id) { Discard::NonReference } else { Discard::Default });
        if let Err(e) = decoder.send_packet(&packet) {
            error = Some(format!("{name}: {e}"));
        }
        drain(&mut decoder, &mut error, &mut pending);
        if pending.is_empty() || Some(*id) == last {
            break;
        }
    }
    if !pending.is_empty() {
        // The pictures still held for reordering.
        if decoder.send_eof().is_ok() {
            drain(&mut decoder, &mut error, &mut pending);
        }
    }
    error
}
