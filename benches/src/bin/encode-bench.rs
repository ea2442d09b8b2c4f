//! The per-image work of GetImages, candidate by candidate: YUV 4:2:0 to RGB, resizing,
//! JPEG at quality 80 and PNG, on pictures ffmpeg makes.
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin encode-bench -- [REPEATS]
//! ```
//!
//! Inputs: `testsrc2` at 1280x720 and 1920x1080, flat (it flatters encoders) and with
//! `noise=alls=20` (closer to a camera's picture), as yuv420p (what a decoder gives) and as
//! rgb24 (ffmpeg's conversion). Each candidate of a row group runs once per round, rounds
//! interleaved (default 11), and the table gives the median: on a loaded machine the
//! absolute times move, the order within one group is what the run measures.
//!
//! - YUV->RGB: kvs-images' former per-pixel loop, the row-wise one `yuv_to_rgb` now uses
//!   (both copied here; the same bytes), and `yuvutils-rs` (SIMD; its bytes differ, the
//!   largest difference is printed).
//! - Resize: `fast_image_resize` bilinear convolution (what kvs-images uses) to 640x360 and
//!   to height 480 (width from the aspect ratio), and its interpolation mode for scale.
//! - JPEG, quality 80: `image`'s `JpegEncoder` (4:4:4, baseline, standard tables with IJG
//!   quality scaling) and `jpeg-encoder` with the same sampling and tables, with and without
//!   its AVX2 code (`encode` on RGB bytes against `encode_image` on an `RgbImage`, whose
//!   colour conversion is scalar; its DCT is AVX2 either way in this build, which enables
//!   the `simd` feature), and at its default 4:2:0 for scale. PSNR is against the rgb24
//!   source, each image decoded back with `image`.
//! - PNG: `image`'s `PngEncoder` at its default (png's `Balanced`, adaptive filter) and at
//!   `CompressionType::Fast` (fdeflate), and the `png` crate directly. Every PNG must decode
//!   back to the source bytes (checked).
//! - The whole path (yuv420p to a JPEG at the original size) before and after.

// A benchmark driver may stop on a missing tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::ImageEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};

/// One picture in the two forms the pipeline sees.
struct Input {
    name: String,
    width: usize,
    height: usize,
    yuv: Vec<u8>,
    rgb: Vec<u8>,
}

fn ffmpeg(size: &str, noise: bool, pix_fmt: &str) -> Vec<u8> {
    let mut filter = "format=yuv420p".to_owned();
    if noise {
        filter.push_str(",noise=alls=20:allf=t");
    }
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=25")])
        .args(["-vf", &filter, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// kvs-images' YUV->RGB before: one pixel at a time (a division, two bounds-checked
/// lookups and a push per pixel).
fn yuv_per_pixel(y: &[u8], u: &[u8], v: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (cw, ch) = ((w / 2).max(1), (h / 2).max(1));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for (row, luma) in y.chunks_exact(w).take(h).enumerate() {
        let crow = (row / 2).min(ch - 1);
        let start = crow * cw;
        let urow = u.get(start..start + cw).unwrap_or(&[]);
        let vrow = v.get(start..start + cw).unwrap_or(&[]);
        for (x, &yv) in luma.iter().enumerate() {
            let cx = (x / 2).min(cw - 1);
            let uu = urow.get(cx).copied().unwrap_or(128);
            let vv = vrow.get(cx).copied().unwrap_or(128);
            let c = 298 * (i32::from(yv) - 16);
            let d = i32::from(uu) - 128;
            let e = i32::from(vv) - 128;
            let clamp = |x: i32| u8::try_from(((x + 128) >> 8).clamp(0, 255)).unwrap_or(u8::MAX);
            rgb.extend_from_slice(&[clamp(c + 409 * e), clamp(c - 100 * d - 208 * e), clamp(c + 516 * d)]);
        }
    }
    rgb.resize(w * h * 3, 0);
    rgb
}

/// kvs-images' YUV->RGB now (`codec::yuv_to_rgb` for 4:2:0): row by row, each chroma
/// sample's products once per two pixels, clamped by a table lookup, written in place.
fn yuv_row_wise(y: &[u8], u: &[u8], v: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (cw, ch) = ((w / 2).max(1), (h / 2).max(1));
    let mut rgb = vec![0; w * h * 3];
    for (row, (luma, out)) in y.chunks_exact(w).zip(rgb.chunks_exact_mut(w * 3)).take(h).enumerate() {
        let start = (row / 2).min(ch - 1) * cw;
        let urow = u.get(start..start + cw).unwrap_or(&[]);
        let vrow = v.get(start..start + cw).unwrap_or(&[]);
        let us = urow.iter().copied().chain(std::iter::repeat(urow.last().copied().unwrap_or(128)));
        let vs = vrow.iter().copied().chain(std::iter::repeat(vrow.last().copied().unwrap_or(128)));
        for ((ys, px), (uu, vv)) in luma.chunks(2).zip(out.chunks_mut(6)).zip(us.zip(vs)) {
            let d = i32::from(uu) - 128;
            let e = i32::from(vv) - 128;
            let (r, g, b) = (409 * e, -100 * d - 208 * e, 516 * d);
            for (&yv, px) in ys.iter().zip(px.chunks_exact_mut(3)) {
                let c = 298 * (i32::from(yv) - 16) + 128;
                let clamp = |x: i32| CLAMP.get(((x >> 8) + 320) as usize).copied().unwrap_or(0);
                px.copy_from_slice(&[clamp(c + r), clamp(c + g), clamp(c + b)]);
            }
        }
    }
    rgb
}

/// `CLAMP[i]` is `i - 320` clamped to 0..=255: a lookup instead of a comparison (LLVM turns
/// the comparisons of `clamp` into branches, mispredicted on a noisy picture).
const CLAMP: [u8; 896] = {
    let mut t = [0; 896];
    let mut i = 0;
    while i < 896 {
        t[i] = if i < 320 {
            0
        } else if i > 575 {
            255
        } else {
            (i - 320) as u8
        };
        i += 1;
    }
    t
};

fn yuv_yuvutils(y: &[u8], u: &[u8], v: &[u8], w: usize, h: usize) -> Vec<u8> {
    let cw = w.div_ceil(2) as u32;
    let planes = yuvutils_rs::YuvPlanarImage {
        y_plane: y,
        y_stride: w as u32,
        u_plane: u,
        u_stride: cw,
        v_plane: v,
        v_stride: cw,
        width: w as u32,
        height: h as u32,
    };
    let mut rgb = vec![0; w * h * 3];
    yuvutils_rs::yuv420_to_rgb(
        &planes,
        &mut rgb,
        w as u32 * 3,
        yuvutils_rs::YuvRange::Limited,
        yuvutils_rs::YuvStandardMatrix::Bt601,
    )
    .unwrap();
    rgb
}

fn resize(rgb: &[u8], (w, h): (usize, usize), (dw, dh): (u32, u32), alg: ResizeAlg) -> Vec<u8> {
    let src = FirImage::from_vec_u8(w as u32, h as u32, rgb.to_vec(), PixelType::U8x3).unwrap();
    let mut dst = FirImage::new(dw, dh, PixelType::U8x3);
    Resizer::new().resize(&src, &mut dst, &ResizeOptions::new().resize_alg(alg)).unwrap();
    dst.into_vec()
}

fn jpeg_image(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 80)
        .write_image(rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// RGB bytes through jpeg-encoder's scalar `rgb_to_ycbcr` (what its `encode` does without
/// the `simd` feature).
struct ScalarRgb<'a>(&'a [u8], u16, u16);

impl jpeg_encoder::ImageBuffer for ScalarRgb<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.1
    }
    fn height(&self) -> u16 {
        self.2
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = usize::from(self.1) * 3;
        for px in self.0[usize::from(y) * w..][..w].chunks_exact(3) {
            let (l, cb, cr) = jpeg_encoder::rgb_to_ycbcr(px[0], px[1], px[2]);
            buffers[0].push(l);
            buffers[1].push(cb);
            buffers[2].push(cr);
        }
    }
}

fn jpeg_encoder(
    rgb: &[u8],
    w: usize,
    h: usize,
    sampling: jpeg_encoder::SamplingFactor,
    simd_rgb: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
    enc.set_sampling_factor(sampling);
    if simd_rgb {
        enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    } else {
        enc.encode_image(ScalarRgb(rgb, w as u16, h as u16)).unwrap();
    }
    out
}

fn png_image(rgb: &[u8], w: usize, h: usize, compression: CompressionType, filter: PngFilter) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, compression, filter)
        .write_image(rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn png_direct(rgb: &[u8], w: usize, h: usize, compression: png::Compression, filter: png::Filter) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(compression);
    enc.set_filter(filter);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(rgb).unwrap();
    writer.finish().unwrap();
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let se: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    let mse = se / a.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn decoded(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes).unwrap().to_rgb8().into_raw()
}

type Run<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;

/// Runs every candidate once per round, `rounds` rounds; (milliseconds, median first, and
/// the last output) per candidate.
fn measure(candidates: &[(String, Run<'_>)], rounds: usize) -> Vec<(f64, Vec<u8>)> {
    let mut times = vec![Vec::new(); candidates.len()];
    let mut outputs = vec![Vec::new(); candidates.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in candidates.iter().enumerate() {
            let t = Instant::now();
            let out = black_box(run());
            times[i].push(t.elapsed().as_secs_f64() * 1000.0);
            outputs[i] = out;
        }
    }
    times
        .into_iter()
        .zip(outputs)
        .map(|(mut t, out)| {
            t.sort_by(f64::total_cmp);
            (t[t.len() / 2], out)
        })
        .collect()
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(11);
    let mut inputs = Vec::new();
    for (w, h) in [(1280, 720), (1920, 1080)] {
        for noise in [false, true] {
            let size = format!("{w}x{h}");
            inputs.push(Input {
                name: format!("{size} {}", if noise { "noise" } else { "flat" }),
                width: w,
                height: h,
                yuv: ffmpeg(&size, noise, "yuv420p"),
                rgb: ffmpeg(&size, noise, "rgb24"),
            });
        }
    }
    println!(
        "fast_image_resize CPU extensions: {:?}; AVX2: {}; rounds: {rounds}\n",
        Resizer::new().cpu_extensions(),
        std::arch::is_x86_feature_detected!("avx2")
    );
    println!("| picture | step | candidate | ms (median) | bytes | PSNR dB / check |");
    println!("|---|---|---|---:|---:|---|");
    for input in &inputs {
        let (w, h) = (input.width, input.height);
        let (y, rest) = input.yuv.split_at(w * h);
        let (u, v) = rest.split_at(rest.len() / 2);
        let row = |step: &str, name: &str, ms: f64, bytes: usize, note: String| {
            println!("| {} | {step} | {name} | {ms:.2} | {bytes} | {note} |", input.name);
        };

        let yuv: Vec<(String, Run<'_>)> = vec![
            ("per-pixel loop (before)".into(), Box::new(|| yuv_per_pixel(y, u, v, w, h))),
            ("row-wise (now)".into(), Box::new(|| yuv_row_wise(y, u, v, w, h))),
            ("yuvutils-rs 0.8".into(), Box::new(|| yuv_yuvutils(y, u, v, w, h))),
        ];
        let results = measure(&yuv, rounds);
        let before = &results[0].1;
        for ((name, _), (ms, out)) in yuv.iter().zip(&results) {
            let max = out.iter().zip(before).map(|(&a, &b)| a.abs_diff(b)).max().unwrap_or(0);
            row("YUV->RGB", name, *ms, out.len(), format!("max diff vs before {max}"));
        }

        let height_only = ((w * 480 + h / 2) / h) as u32;
        let resizes: Vec<(String, Run<'_>)> = vec![
            (
                "fir bilinear conv. 640x360 (now)".into(),
                Box::new(|| {
                    resize(&input.rgb, (w, h), (640, 360), ResizeAlg::Convolution(FilterType::Bilinear))
                }),
            ),
            (
                format!("fir bilinear conv. {height_only}x480 (now)"),
                Box::new(|| {
                    resize(
                        &input.rgb,
                        (w, h),
                        (height_only, 480),
                        ResizeAlg::Convolution(FilterType::Bilinear),
                    )
                }),
            ),
            (
                "fir bilinear interp. 640x360".into(),
                Box::new(|| {
                    resize(&input.rgb, (w, h), (640, 360), ResizeAlg::Interpolation(FilterType::Bilinear))
                }),
            ),
        ];
        for ((name, _), (ms, out)) in resizes.iter().zip(measure(&resizes, rounds)) {
            row("resize", name, ms, out.len(), String::new());
        }

        let rgb = &input.rgb;
        use jpeg_encoder::SamplingFactor::{F_1_1, F_2_2};
        let jpegs: Vec<(String, Run<'_>)> = vec![
            ("image JpegEncoder 4:4:4 (before)".into(), Box::new(|| jpeg_image(rgb, w, h))),
            ("jpeg-encoder 4:4:4, scalar colour".into(), Box::new(|| jpeg_encoder(rgb, w, h, F_1_1, false))),
            ("jpeg-encoder 4:4:4, AVX2 (now)".into(), Box::new(|| jpeg_encoder(rgb, w, h, F_1_1, true))),
            ("jpeg-encoder 4:2:0, AVX2".into(), Box::new(|| jpeg_encoder(rgb, w, h, F_2_2, true))),
        ];
        for ((name, _), (ms, out)) in jpegs.iter().zip(measure(&jpegs, rounds)) {
            row("JPEG q80", name, ms, out.len(), format!("{:.2}", psnr(&decoded(&out), rgb)));
        }

        let pngs: Vec<(String, Run<'_>)> = vec![
            (
                "image PngEncoder default (before)".into(),
                Box::new(|| png_image(rgb, w, h, CompressionType::Default, PngFilter::Adaptive)),
            ),
            (
                "image PngEncoder Fast, adaptive".into(),
                Box::new(|| png_image(rgb, w, h, CompressionType::Fast, PngFilter::Adaptive)),
            ),
            (
                "png Fast, adaptive".into(),
                Box::new(|| png_direct(rgb, w, h, png::Compression::Fast, png::Filter::Adaptive)),
            ),
            (
                "png Fast, Up".into(),
                Box::new(|| png_direct(rgb, w, h, png::Compression::Fast, png::Filter::Up)),
            ),
            (
                "png Fast, Paeth".into(),
                Box::new(|| png_direct(rgb, w, h, png::Compression::Fast, png::Filter::Paeth)),
            ),
        ];
        for ((name, _), (ms, out)) in pngs.iter().zip(measure(&pngs, rounds)) {
            assert!(decoded(&out) == *rgb, "{name} is not lossless");
            row("PNG", name, ms, out.len(), "lossless".into());
        }

        let paths: Vec<(String, Run<'_>)> = vec![
            (
                "per-pixel + image JPEG (before)".into(),
                Box::new(|| jpeg_image(&yuv_per_pixel(y, u, v, w, h), w, h)),
            ),
            (
                "row-wise + jpeg-encoder 4:4:4 (now)".into(),
                Box::new(|| jpeg_encoder(&yuv_row_wise(y, u, v, w, h), w, h, F_1_1, true)),
            ),
        ];
        for ((name, _), (ms, out)) in paths.iter().zip(measure(&paths, rounds)) {
            row("yuv420p->JPEG q80", name, ms, out.len(), format!("{:.2}", psnr(&decoded(&out), rgb)));
        }
    }
}
