//! A thumbnailer: one JPEG every N milliseconds of a GetMedia payload or Matroska file,
//! named by its producer timestamp, through the same GetImages semantics kvs-local serves.
//!
//! ```sh
//! cargo run --release -p kvs-images --example thumbnails -- testdata/images/h264.mkv /tmp/thumbs 500
//! ```
//!
//! Arguments: INPUT [OUTPUT_DIR (default ./thumbnails)] [INTERVAL_MS (default 1000)]
//! [HEIGHT (default 120; the width keeps the aspect ratio)]. Long media is asked for in
//! windows of at most 300 s, as GetImages requires, and every page of each window is read.

use std::error::Error;
use std::path::PathBuf;

use kvs_images::{FragmentClock, ImageFormat, ImageSelector, ImagesRequest, SampleOptions, Timeline};

/// GetImages answers at most 300 s per request.
const WINDOW_MS: i64 = 300_000;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().ok_or("usage: thumbnails INPUT [OUTPUT_DIR] [INTERVAL_MS] [HEIGHT]")?;
    let out = PathBuf::from(args.next().unwrap_or_else(|| "thumbnails".to_owned()));
    let interval: i64 = args.next().map_or(Ok(1000), |s| s.parse())?;
    let height: i64 = args.next().map_or(Ok(120), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;

    let timeline = Timeline::from_reader(std::fs::File::open(&input)?)?;
    // The media's extent on the producer clock.
    let times: Vec<i64> = timeline
        .fragments()
        .iter()
        .flat_map(|f| {
            f.frames.iter().filter_map(|fr| f.time_ns(fr.timestamp_ns, ImageSelector::ProducerTimestamp))
        })
        .map(|ns| ns.div_euclid(1_000_000))
        .collect();
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Err("no frames in the input".into());
    };

    let options = SampleOptions::default();
    let (mut written, mut missing) = (0usize, 0usize);
    let mut start = first;
    while start <= last {
        let end = start.saturating_add(WINDOW_MS.saturating_sub(1)).min(last);
        let mut request =
            ImagesRequest::new(ImageSelector::ProducerTimestamp, start, end, interval, ImageFormat::Jpeg)
                .height_pixels(height)
                .jpeg_quality(75);
        loop {
            let page = timeline.get_images(&request, &options)?;
            for image in &page.images {
                match &image.content {
                    Some(jpeg) => {
                        std::fs::write(out.join(format!("{}.jpg", image.timestamp_ms)), jpeg)?;
                        written = written.saturating_add(1);
                    }
                    None => missing = missing.saturating_add(1),
                }
            }
            match page.next_token {
                Some(token) => request = request.next_token(Some(token)),
                None => break,
            }
        }
        // The next window starts on the sampling grid after this one.
        let samples = end.saturating_sub(start).checked_div(interval).ok_or("the interval must not be 0")?;
        start = start.saturating_add(samples.saturating_add(1).saturating_mul(interval));
    }
    println!("{written} thumbnails in {} ({missing} samples without an image)", out.display());
    Ok(())
}
