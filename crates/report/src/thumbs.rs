//! Thumbnails: one keyframe of a fragment, through kvs-images' GetImages.

use kvs_images::{FragmentClock, ImageFormat, ImageSelector, ImagesRequest, SampleOptions, Timeline};

/// A small JPEG of one keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The keyframe's time on the producer clock (plain Matroska: its timestamp), ms.
    pub at_ms: i64,
    /// The JPEG.
    pub jpeg: Vec<u8>,
}

/// The thumbnail of the first video keyframe of `fragment` (which holds only the frames
/// kept for it), `height` pixels high, or `None` when it does not decode.
pub(crate) fn make(fragment: &kvs_chunk::Fragment, height: u32) -> Option<Thumbnail> {
    let track = fragment.video_track()?.number;
    let key = fragment.frames.iter().find(|f| f.track == track && f.keyframe)?;
    let at_ns = fragment.time_ns(key.timestamp_ns, ImageSelector::ProducerTimestamp)?;
    // The first whole millisecond at or after the frame: the sample that shows it.
    let at_ms = at_ns.div_euclid(1_000_000).saturating_add(i64::from(at_ns.rem_euclid(1_000_000) != 0));
    let mut timeline = Timeline::new();
    timeline.push(fragment.clone());
    let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, at_ms, at_ms, 200, ImageFormat::Jpeg)
        .jpeg_quality(60)
        .height_pixels(i64::from(height.clamp(16, 720)))
        .max_results(1);
    let options = SampleOptions { keyframes_only: true, threads: 1, ..SampleOptions::default() };
    let page = timeline.get_images(&request, &options).ok()?;
    let image = page.images.into_iter().next()?;
    Some(Thumbnail { at_ms: at_ns.div_euclid(1_000_000), jpeg: image.content?.to_vec() })
}
