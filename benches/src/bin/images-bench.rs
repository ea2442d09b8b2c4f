//! GetImages work over a clip ffmpeg makes, through kvs-images' API: every decoded frame
//! against leaving out the pictures no later picture refers to, and one thread against
//! several, at one image every second and every 3 s (the service's minimum sampling
//! interval is 200 ms; 3 s is the live sampler's usual rate).
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin images-bench -- [SECONDS] [WxH] [h264|h265] [THREADS]
//! ```
//!
//! Defaults: 20 s of 1280x720 H.264 at 25 fps, a keyframe every 2 s, 3 B-frames (x264's
//! B-pyramid: two of each three are not references), threads 1 and 2. Every configuration
//! must give the same images (checked); one timed pass each, and `ffmpeg -threads 1 -vf
//! fps=...` writing JPEGs of the same clip for scale. `streaming` is the streaming sampler
//! (`kvs-mkv images` on a file) reading the clip, non-reference pictures left out.

// A benchmark driver may stop on a bad argument or a missing tool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::arithmetic_side_effects, clippy::panic)]

use std::process::Command;

use kvs_benches::proc::cpu_seconds;
use std::time::Instant;

use bytes::Bytes;
use kvs_images::{
    ImageFormat, ImageSelector, ImagesRequest, SampleOptions, StreamLimits, StreamingSampler, Timeline,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let size = args.next().unwrap_or_else(|| "1280x720".into());
    let codec = args.next().unwrap_or_else(|| "h264".into());
    let max_threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let dir = std::env::temp_dir().join(format!("kvs-images-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("clip.mkv");
    let encoder: &[&str] = match codec.as_str() {
        "h265" => &[
            "-c:v",
            "libx265",
            "-preset",
            "fast",
            "-x265-params",
            "keyint=50:min-keyint=50:scenecut=0:bframes=3:log-level=error",
        ],
        _ => &[
            "-c:v",
            "libx264",
            "-preset",
            "fast",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-bf",
            "3",
        ],
    };
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25"))
        .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p"])
        .args(encoder)
        .arg(&clip)
        .status()
        .expect("ffmpeg on PATH");
    assert!(status.success());
    let bytes = std::fs::read(&clip).unwrap();
    println!(
        "clip: {seconds} s of {size} {codec} at 25 fps, GOP 2 s, 3 B-frames; {} KiB, made in {:.1} s",
        bytes.len() / 1024,
        started.elapsed().as_secs_f64()
    );
    let timeline = Timeline::from_bytes(Bytes::from(bytes.clone())).unwrap();
    let end = i64::from(seconds) * 1000 - 1;
    println!(
        "{:>9} {:>14} {:>7} {:>7} {:>9} {:>9}",
        "interval", "decoding", "threads", "images", "seconds", "images/s"
    );
    for interval in [1000, 3000] {
        let request =
            ImagesRequest::new(ImageSelector::ProducerTimestamp, 0, end, interval, ImageFormat::Jpeg)
                .max_results(100);
        let mut reference = None;
        for decode_all_frames in [true, false] {
            for threads in [1, max_threads] {
                let options = SampleOptions { threads, decode_all_frames, ..SampleOptions::default() };
                let (started, cpu) = (Instant::now(), cpu_seconds());
                let page = timeline.get_images(&request, &options).unwrap();
                let elapsed = started.elapsed().as_secs_f64();
                let cpu = cpu_seconds() - cpu;
                let images = page.images.iter().filter(|i| i.content.is_some()).count();
                assert!(images > 0);
                match &reference {
                    None => reference = Some(page),
                    Some(r) => assert!(*r == page, "different images: {decode_all_frames} {threads}"),
                }
                let decoding = if decode_all_frames { "every frame" } else { "references" };
                println!(
                    "{:>7}ms {decoding:>14} {threads:>7} {images:>7} {elapsed:>9.2} {:>9.2} {cpu:>9.2}",
                    interval,
                    images as f64 / elapsed
                );
            }
        }
        // The streaming sampler (what `kvs-mkv images` runs on a file), reading the clip.
        for threads in [1, max_threads] {
            let options = SampleOptions { threads, ..SampleOptions::default() };
            let plan = request.plan(&options.limits).unwrap();
            let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let sampler = StreamingSampler::new(plan, &times, &options, StreamLimits::default());
            let images = sampler.read(bytes.as_slice()).unwrap();
            let elapsed = started.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu;
            assert!(images == reference.as_ref().unwrap().images, "streaming differs");
            let n = images.iter().filter(|i| i.content.is_some()).count();
            println!(
                "{interval:>7}ms {:>14} {threads:>7} {n:>7} {elapsed:>9.2} {:>9.2} {cpu:>9.2}",
                "streaming",
                n as f64 / elapsed
            );
        }
        for threads in ["1", "0"] {
            let out = dir.join("ffmpeg");
            std::fs::create_dir_all(&out).unwrap();
            let started = Instant::now();
            let status = Command::new("ffmpeg")
                .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", threads, "-i"])
                .arg(&clip)
                .args(["-vf", &format!("fps=1000/{interval}"), "-q:v", "4"])
                .arg(out.join("%04d.jpg"))
                .status()
                .unwrap();
            let elapsed = started.elapsed().as_secs_f64();
            assert!(status.success());
            let images = std::fs::read_dir(&out).unwrap().count();
            std::fs::remove_dir_all(&out).unwrap();
            let label = if threads == "1" { "ffmpeg -threads 1" } else { "ffmpeg (default)" };
            println!(
                "{interval:>7}ms {label:>22} {images:>7} {elapsed:>9.2} {:>9.2}",
                images as f64 / elapsed
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
