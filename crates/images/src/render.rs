//! From a decoded picture to image bytes: resized with `fast_image_resize` (bilinear
//! convolution), encoded with `image` (JPEG at the requested quality, or PNG).

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

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
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100)).write_image(
            &rgb,
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
        ImageFormat::Png => PngEncoder::new(&mut out).write_image(&rgb, w, h, ExtendedColorType::Rgb8),
    }
    .map_err(|e| format!("cannot encode {format}: {e}"))?;
    Ok(out)
}
