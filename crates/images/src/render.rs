//! From a decoded picture to image bytes: resized with `fast_image_resize` (bilinear
//! convolution), encoded with `jpeg-encoder` (JPEG at the requested quality) or `png` (PNG).
//!
//! JPEG: baseline, 4:4:4 (no chroma subsampling, as the `image` crate's encoder this
//! replaces wrote), the standard (Annex K) tables scaled by the IJG quality formula, so a
//! quality means what it does in libjpeg; `jpeg-encoder`'s AVX2 code is used where the CPU
//! has it. PNG: 8-bit RGB, lossless, `png`'s `Fast` compression (fdeflate) with adaptive
//! filtering. `benches/src/bin/encode-bench.rs` measures these against the alternatives.

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use crate::codec::Picture;
use crate::request::{ImageFormat, OutputSize};

/// Resizes and encodes a picture; `Err` says why it could not be.
pub(crate) fn render(
    picture: Picture,
    size: OutputSize,
    format: ImageFormat,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let (w, h) = size.apply(picture.width, picture.height);
    let rgb = if (w, h) == (picture.width, picture.height) {
        picture.rgb
    } else {
        let src = FirImage::from_vec_u8(picture.width, picture.height, picture.rgb, PixelType::U8x3)
            .map_err(|e| format!("cannot resize: {e}"))?;
        let mut dst = FirImage::new(w, h, PixelType::U8x3);
        Resizer::new()
            .resize(
                &src,
                &mut dst,
                &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            )
            .map_err(|e| format!("cannot resize: {e}"))?;
        dst.into_vec()
    };
    match format {
        ImageFormat::Jpeg => jpeg(&rgb, w, h, quality),
        ImageFormat::Png => png(&rgb, w, h),
    }
    .map_err(|e| format!("cannot encode {format}: {e}"))
}

/// A baseline 4:4:4 JPEG at `quality` (clamped to 1..=100).
fn jpeg(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>, String> {
    let too_large = || format!("{w}x{h} is over JPEG's 65535 pixels a side");
    let (w, h) = (u16::try_from(w).map_err(|_| too_large())?, u16::try_from(h).map_err(|_| too_large())?);
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::F_1_1);
    encoder.encode(rgb, w, h, ColorType::Rgb).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A lossless 8-bit RGB PNG.
fn png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::cast_precision_loss, clippy::cast_possible_truncation)]

    use super::*;

    /// A 160x90 picture with gradients, edges and a little noise.
    fn source() -> Picture {
        let (w, h) = (160u32, 90u32);
        let mut seed = 0x9e37_79b9_u32;
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = (seed >> 28) as u8;
                let block = if (x / 20 + y / 15) % 2 == 0 { 200 } else { 40 };
                rgb.extend_from_slice(&[((x * 200 / w) as u8) + n, (y * 255 / h) as u8, block]);
            }
        }
        Picture { width: w, height: h, rgb }
    }

    fn decode(bytes: &[u8]) -> image::RgbImage {
        image::load_from_memory(bytes).map(|i| i.to_rgb8()).unwrap_or_default()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let se: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
        10.0 * (255.0 * 255.0 / (se / a.len() as f64)).log10()
    }

    #[test]
    fn jpeg_at_quality_80_decodes_close_to_the_source() {
        let src = source();
        let bytes = render(src.clone(), OutputSize::Original, ImageFormat::Jpeg, 80).unwrap_or_default();
        assert!(bytes.starts_with(&[0xFF, 0xD8]), "a JPEG");
        let img = decode(&bytes);
        assert_eq!(img.dimensions(), (160, 90));
        let db = psnr(img.as_raw(), &src.rgb);
        assert!(db > 30.0, "quality 80: {db:.2} dB");
        // Quality keeps its meaning: lower quality, fewer bytes and a lower PSNR.
        let low = render(src.clone(), OutputSize::Original, ImageFormat::Jpeg, 20).unwrap_or_default();
        assert!(low.len() < bytes.len());
        assert!(psnr(decode(&low).as_raw(), &src.rgb) < db);
    }

    #[test]
    fn jpeg_is_baseline_4_4_4() {
        let bytes = render(source(), OutputSize::Original, ImageFormat::Jpeg, 80).unwrap_or_default();
        // SOF0 (baseline): precision 8, height 90, width 160, 3 components (an id, sampling
        // 1x1, a quantization table each: luma 0, chroma 1).
        let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC0]).map(|i| &bytes[i + 4..i + 19]);
        let sof = sof.unwrap_or_default();
        assert_eq!(sof.get(..6), Some(&[8, 0, 90, 0, 160, 3][..]));
        let components: Vec<_> = sof.chunks(3).skip(2).map(|c| c.get(1..)).collect();
        assert_eq!(components, [Some(&[0x11, 0][..]), Some(&[0x11, 1][..]), Some(&[0x11, 1][..])]);
    }

    #[test]
    fn png_decodes_back_exactly() {
        let src = source();
        let bytes = render(src.clone(), OutputSize::Original, ImageFormat::Png, 80).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let img = decode(&bytes);
        assert_eq!(img.dimensions(), (160, 90));
        assert!(img.as_raw() == &src.rgb);
    }

    #[test]
    fn resized_to_the_size_rules() {
        let bytes = render(source(), OutputSize::Height(45), ImageFormat::Png, 80).unwrap_or_default();
        assert_eq!(decode(&bytes).dimensions(), (80, 45));
        let exact = OutputSize::Exact { width: 33, height: 17 };
        let bytes = render(source(), exact, ImageFormat::Jpeg, 80).unwrap_or_default();
        assert_eq!(decode(&bytes).dimensions(), (33, 17));
    }
}
