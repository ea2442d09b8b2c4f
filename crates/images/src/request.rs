//! The GetImages request, its validation, and the plan a valid request gives: the sample
//! times, the page, the output size and format.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::error::ImagesError;
use crate::token;

/// The default JPEG quality (`FormatConfig` without `JPEGQuality`).
pub const DEFAULT_JPEG_QUALITY: u8 = 80;
/// The largest `WidthPixels`.
pub const MAX_WIDTH_PIXELS: u32 = 3840;
/// The largest `HeightPixels`.
pub const MAX_HEIGHT_PIXELS: u32 = 2160;
/// The `FormatConfig` key of the JPEG quality.
pub const JPEG_QUALITY_KEY: &str = "JPEGQuality";

/// Which clock the sample times are on (`ImageSelectorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageSelector {
    /// `PRODUCER_TIMESTAMP`: the producer's (camera's) clock.
    ProducerTimestamp,
    /// `SERVER_TIMESTAMP`: the time the service received the media.
    ServerTimestamp,
}

impl ImageSelector {
    /// The API's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProducerTimestamp => "PRODUCER_TIMESTAMP",
            Self::ServerTimestamp => "SERVER_TIMESTAMP",
        }
    }

    /// The selector of an API name (exact, as the service requires).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PRODUCER_TIMESTAMP" => Some(Self::ProducerTimestamp),
            "SERVER_TIMESTAMP" => Some(Self::ServerTimestamp),
            _ => None,
        }
    }
}

impl fmt::Display for ImageSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The image format (`Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// `JPEG`.
    Jpeg,
    /// `PNG`.
    Png,
}

impl ImageFormat {
    /// The API's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
        }
    }

    /// The format of an API name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "JPEG" => Some(Self::Jpeg),
            "PNG" => Some(Self::Png),
            _ => None,
        }
    }

    /// The usual file extension (`jpg`, `png`).
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits a request is validated against. The defaults are the service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The smallest sampling interval, ms (default 200: the AWS CLI reference's minimum; an
    /// older API page says 3000 as a soft limit).
    pub min_sampling_interval_ms: i64,
    /// The longest range from start to end, ms (default 300 000: 300 s).
    pub max_range_ms: i64,
    /// The largest page, and the page size when `MaxResults` is absent (default 100).
    pub max_results: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { min_sampling_interval_ms: 200, max_range_ms: 300_000, max_results: 100 }
    }
}

/// A GetImages request: the API's fields (the stream aside, which the source names).
///
/// Numbers are kept as the caller gave them, so that [`ImagesRequest::plan`] can refuse
/// the ones the service refuses.
///
/// ```
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest};
///
/// let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, 1_700_000_000_000, 1_700_000_004_000, 500, ImageFormat::Jpeg)
///     .jpeg_quality(60)
///     .height_pixels(120)
///     .max_results(5);
/// let plan = request.plan(&Default::default())?;
/// assert_eq!(plan.sample_count(), 9);
/// assert_eq!(plan.page(), 0..5);
/// # Ok::<(), kvs_images::ImagesError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesRequest {
    /// `ImageSelectorType`.
    pub image_selector: ImageSelector,
    /// `StartTimestamp`, epoch milliseconds.
    pub start_ms: i64,
    /// `EndTimestamp`, epoch milliseconds.
    pub end_ms: i64,
    /// `SamplingInterval`, ms.
    pub sampling_interval_ms: i64,
    /// `Format`.
    pub format: ImageFormat,
    /// `FormatConfig` (`JPEGQuality` -> `"1"` .. `"100"`).
    pub format_config: BTreeMap<String, String>,
    /// `WidthPixels`.
    pub width_pixels: Option<i64>,
    /// `HeightPixels`.
    pub height_pixels: Option<i64>,
    /// `MaxResults`.
    pub max_results: Option<i64>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

impl ImagesRequest {
    /// A request with the required fields.
    #[must_use]
    pub fn new(
        image_selector: ImageSelector,
        start_ms: i64,
        end_ms: i64,
        sampling_interval_ms: i64,
        format: ImageFormat,
    ) -> Self {
        Self {
            image_selector,
            start_ms,
            end_ms,
            sampling_interval_ms,
            format,
            format_config: BTreeMap::new(),
            width_pixels: None,
            height_pixels: None,
            max_results: None,
            next_token: None,
        }
    }

    /// Sets `FormatConfig` `JPEGQuality`.
    #[must_use]
    pub fn jpeg_quality(mut self, quality: u8) -> Self {
        self.format_config.insert(JPEG_QUALITY_KEY.to_owned(), quality.to_string());
        self
    }

    /// Sets `WidthPixels`.
    #[must_use]
    pub fn width_pixels(mut self, width: i64) -> Self {
        self.width_pixels = Some(width);
        self
    }

    /// Sets `HeightPixels`.
    #[must_use]
    pub fn height_pixels(mut self, height: i64) -> Self {
        self.height_pixels = Some(height);
        self
    }

    /// Sets `MaxResults`.
    #[must_use]
    pub fn max_results(mut self, n: i64) -> Self {
        self.max_results = Some(n);
        self
    }

    /// Sets (or clears) `NextToken`.
    #[must_use]
    pub fn next_token(mut self, token: Option<String>) -> Self {
        self.next_token = token;
        self
    }

    /// Validates the request exactly as the API reference describes, and plans its page.
    ///
    /// # Errors
    ///
    /// `ValidationException` ([`ImagesErrorKind::Validation`](crate::ImagesErrorKind)):
    /// a `FormatConfig` key other than `JPEGQuality` or a quality outside 1..100,
    /// `WidthPixels` outside 1..3840 or given without `HeightPixels`, `HeightPixels`
    /// outside 1..2160, `MaxResults` outside 1..`limits.max_results`.
    /// `InvalidArgumentException`: a sampling interval below `limits.min_sampling_interval_ms`,
    /// an end before the start, a range longer than `limits.max_range_ms`, a `NextToken`
    /// that does not parse, was made for another request or points past the end.
    pub fn plan(&self, limits: &Limits) -> Result<Plan, ImagesError> {
        let mut jpeg_quality = DEFAULT_JPEG_QUALITY;
        for (key, value) in &self.format_config {
            if key != JPEG_QUALITY_KEY {
                return Err(ImagesError::validation(format!(
                    "1 validation error detected: Value '{key}' at 'formatConfig' failed to satisfy constraint: \
                     Map keys must satisfy enum value set: [{JPEG_QUALITY_KEY}]"
                )));
            }
            jpeg_quality =
                value.trim().parse::<u8>().ok().filter(|q| (1..=100).contains(q)).ok_or_else(|| {
                    ImagesError::validation(format!(
                        "FormatConfig {JPEG_QUALITY_KEY} must be an integer from 1 to 100, not {value:?}"
                    ))
                })?;
        }
        let width = match self.width_pixels {
            Some(w) => Some(in_range(w, 1, MAX_WIDTH_PIXELS, "widthPixels")?),
            None => None,
        };
        let height = match self.height_pixels {
            Some(h) => Some(in_range(h, 1, MAX_HEIGHT_PIXELS, "heightPixels")?),
            None => None,
        };
        let size = match (width, height) {
            (Some(w), Some(h)) => OutputSize::Exact { width: w, height: h },
            (None, Some(h)) => OutputSize::Height(h),
            (None, None) => OutputSize::Original,
            (Some(_), None) => {
                return Err(ImagesError::validation(
                    "WidthPixels was given without HeightPixels: give both (stretch to that size), \
                     HeightPixels alone (keep the aspect ratio) or neither (the original size)",
                ));
            }
        };
        let page_max = limits.max_results.max(1);
        let page_len = match self.max_results {
            Some(n) if n < 1 || n > page_max => {
                return Err(ImagesError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: \
                     Member must have value between 1 and {page_max}"
                )));
            }
            Some(n) => n,
            None => page_max,
        };
        if self.sampling_interval_ms < limits.min_sampling_interval_ms || self.sampling_interval_ms < 1 {
            return Err(ImagesError::invalid_argument(format!(
                "SamplingInterval {} ms is below the minimum of {} ms",
                self.sampling_interval_ms,
                limits.min_sampling_interval_ms.max(1)
            )));
        }
        let range = self.end_ms.checked_sub(self.start_ms).ok_or_else(|| {
            ImagesError::invalid_argument("StartTimestamp and EndTimestamp are out of range")
        })?;
        if range < 0 {
            return Err(ImagesError::invalid_argument("EndTimestamp must not be before StartTimestamp"));
        }
        if range > limits.max_range_ms {
            return Err(ImagesError::invalid_argument(format!(
                "The time range between StartTimestamp and EndTimestamp must not be more than {} seconds",
                limits.max_range_ms / 1000
            )));
        }
        // range >= 0 and interval >= 1.
        let steps = range.checked_div(self.sampling_interval_ms).unwrap_or(0);
        let sample_count = usize::try_from(steps).ok().and_then(|s| s.checked_add(1)).unwrap_or(1);
        let fingerprint = self.fingerprint(jpeg_quality, size);
        let first = match &self.next_token {
            None => 0,
            Some(t) => {
                let index = token::decode(t, fingerprint).ok_or_else(|| {
                    ImagesError::invalid_argument("NextToken is not valid for this request")
                })?;
                if index >= sample_count {
                    return Err(ImagesError::invalid_argument("NextToken is not valid for this request"));
                }
                index
            }
        };
        let page_len = usize::try_from(page_len).unwrap_or(usize::MAX);
        Ok(Plan {
            selector: self.image_selector,
            start_ms: self.start_ms,
            interval_ms: self.sampling_interval_ms,
            format: self.format,
            jpeg_quality,
            size,
            sample_count,
            first,
            last: first.saturating_add(page_len).min(sample_count),
            fingerprint,
        })
    }

    /// A digest of everything that decides the sample list and the images (not the page
    /// size): a next token is only accepted by the request it was made for.
    fn fingerprint(&self, quality: u8, size: OutputSize) -> u32 {
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{:?}",
            self.image_selector,
            self.start_ms,
            self.end_ms,
            self.sampling_interval_ms,
            self.format,
            quality,
            size
        );
        crc32fast::hash(text.as_bytes())
    }
}

fn in_range(v: i64, min: u32, max: u32, name: &str) -> Result<u32, ImagesError> {
    u32::try_from(v).ok().filter(|v| (min..=max).contains(v)).ok_or_else(|| {
        ImagesError::validation(format!(
            "1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: \
             Member must have value between {min} and {max}"
        ))
    })
}

/// The size of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputSize {
    /// The decoded picture's size.
    Original,
    /// Stretched to exactly this size.
    Exact {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// This height, and the width that keeps the picture's aspect ratio.
    Height(u32),
}

impl OutputSize {
    /// The output size of a `width` x `height` picture (never 0 in either direction).
    #[must_use]
    pub fn apply(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Self::Original => (width, height),
            Self::Exact { width, height } => (width, height),
            Self::Height(h) => {
                let w = u64::from(width)
                    .checked_mul(u64::from(h))
                    .and_then(|n| n.checked_add(u64::from(height) / 2))
                    .and_then(|n| n.checked_div(u64::from(height)))
                    .unwrap_or(u64::from(width));
                (u32::try_from(w).unwrap_or(u32::MAX).max(1), h)
            }
        }
    }
}

/// A valid request's plan: its samples, its page, and how to render each image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The clock of the sample times.
    pub selector: ImageSelector,
    start_ms: i64,
    interval_ms: i64,
    /// The encoding.
    pub format: ImageFormat,
    /// The JPEG quality, 1..100.
    pub jpeg_quality: u8,
    /// The size rule.
    pub size: OutputSize,
    sample_count: usize,
    first: usize,
    last: usize,
    fingerprint: u32,
}

impl Plan {
    /// How many samples the whole request has: `start`, `start + interval`, ... up to and
    /// including `end` (so one, at `start`, when the range is shorter than the interval).
    #[must_use]
    pub const fn sample_count(&self) -> usize {
        self.sample_count
    }

    /// The time of sample `index`, epoch ms.
    #[must_use]
    pub fn sample_time(&self, index: usize) -> i64 {
        let steps = i64::try_from(index).unwrap_or(i64::MAX);
        self.start_ms.saturating_add(steps.saturating_mul(self.interval_ms))
    }

    /// The samples of this page (indexes).
    #[must_use]
    pub const fn page(&self) -> Range<usize> {
        self.first..self.last
    }

    /// The next token after this page, or `None` on the last page.
    #[must_use]
    pub fn next_token(&self) -> Option<String> {
        (self.last < self.sample_count).then(|| token::encode(self.last, self.fingerprint))
    }

    /// Every sample time of the request, from the first of this page to the end (the live
    /// source samples them all).
    pub fn remaining_times(&self) -> impl Iterator<Item = i64> + '_ {
        (self.first..self.sample_count).map(|i| self.sample_time(i))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn height_alone_keeps_the_aspect_ratio() {
        assert_eq!(OutputSize::Height(120).apply(320, 240), (160, 120));
        assert_eq!(OutputSize::Height(100).apply(1920, 1080), (178, 100));
        assert_eq!(OutputSize::Height(1).apply(10, 2000), (1, 1));
        assert_eq!(OutputSize::Exact { width: 7, height: 9 }.apply(320, 240), (7, 9));
        assert_eq!(OutputSize::Original.apply(320, 240), (320, 240));
    }

    #[test]
    fn sample_counts() {
        let r = |end, interval| {
            ImagesRequest::new(ImageSelector::ServerTimestamp, 0, end, interval, ImageFormat::Png)
        };
        assert_eq!(r(0, 200).plan(&Limits::default()).unwrap().sample_count(), 1);
        assert_eq!(r(199, 200).plan(&Limits::default()).unwrap().sample_count(), 1);
        assert_eq!(r(200, 200).plan(&Limits::default()).unwrap().sample_count(), 2);
        assert_eq!(r(300_000, 200).plan(&Limits::default()).unwrap().sample_count(), 1501);
    }
}
