//! Media on the request's clock: kvs-chunk [`Fragment`]s (from a [`FragmentAssembler`]),
//! each frame placed at its producer or server time.

use std::io::Read;

use bytes::Bytes;
use kvs_chunk::{Event, Events, Fragment, FragmentAssembler, ReadEvents, Track, TrackType};

use crate::error::ImagesError;
use crate::request::ImageSelector;

/// A fragment's media on a request's clock (implemented for [`Fragment`]).
pub trait FragmentClock {
    /// The time of a frame timestamp on `selector`'s clock, ns since the epoch: the
    /// fragment's timestamp plus the frame's offset from the fragment's first cluster (or,
    /// without one, its earliest frame). Without service timestamps (a plain Matroska file)
    /// both clocks are the frame's own timestamp.
    fn time_ns(&self, frame_timestamp_ns: i64, selector: ImageSelector) -> Option<i64>;

    /// The track images come from: the first video track (by TrackType, or by a `V_` codec
    /// id when the type is missing).
    fn video_track(&self) -> Option<&Track>;
}

impl FragmentClock for Fragment {
    fn time_ns(&self, frame_timestamp_ns: i64, selector: ImageSelector) -> Option<i64> {
        let (producer, server) = (self.producer_timestamp_ms(), self.server_timestamp_ms());
        let base_ms = match selector {
            ImageSelector::ProducerTimestamp => producer.or(server),
            ImageSelector::ServerTimestamp => server.or(producer),
        };
        let Some(base_ms) = base_ms else { return Some(frame_timestamp_ns) };
        let origin = match self.first_cluster_timestamp_ns() {
            Some(c) => c,
            None => self
                .frames
                .iter()
                .map(|f| f.timestamp_ns)
                .min()
                .or(self.stats.first_ns)
                .unwrap_or(frame_timestamp_ns),
        };
        base_ms.checked_mul(1_000_000)?.checked_add(frame_timestamp_ns.checked_sub(origin)?)
    }

    fn video_track(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == TrackType::Video).or_else(|| {
            self.tracks.iter().find(|t| {
                t.kind == TrackType::Unknown && t.codec_id.as_deref().is_some_and(|c| c.starts_with("V_"))
            })
        })
    }
}

/// Whether a fragment has media to sample: frames, and no in-stream error (an error chunk
/// gives no fragment to sample).
pub(crate) fn samplable(fragment: &Fragment) -> bool {
    fragment.errors.is_empty() && !fragment.frames.is_empty()
}

/// The media a GetImages request samples: fragments in stream order.
///
/// ```
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions, Timeline};
///
/// let timeline = Timeline::from_bytes(std::fs::read("../../testdata/images/h264.mkv")?.into())?;
/// let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, 1_700_000_000_000, 1_700_000_003_000, 1000, ImageFormat::Png)
///     .height_pixels(60);
/// let page = timeline.get_images(&request, &SampleOptions::default())?;
/// assert_eq!(page.images.len(), 4);
/// assert!(page.images.iter().all(|i| i.error.is_none() && i.content.is_some()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    fragments: Vec<Fragment>,
}

impl Timeline {
    /// An empty timeline.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The media of a GetMedia payload or a Matroska/WebM file held in memory (frames stay
    /// slices of `bytes`).
    ///
    /// # Errors
    ///
    /// [`ImagesError::Media`] for malformed input (a stream cut at its end is fine).
    pub fn from_bytes(bytes: Bytes) -> Result<Self, ImagesError> {
        Self::from_events(Events::new(bytes))
    }

    /// The media read from `reader` (a file, stdin).
    ///
    /// # Errors
    ///
    /// As [`Timeline::from_bytes`], and [`ImagesError::Io`] if reading fails.
    pub fn from_reader(reader: impl Read) -> Result<Self, ImagesError> {
        Self::from_events(ReadEvents::new(reader))
    }

    /// The media of a sequence of kvs-chunk events.
    ///
    /// # Errors
    ///
    /// As [`Timeline::from_bytes`].
    pub fn from_events(
        events: impl IntoIterator<Item = Result<Event, kvs_chunk::Error>>,
    ) -> Result<Self, ImagesError> {
        let mut assembler = FragmentAssembler::new();
        let mut timeline = Self::new();
        for item in events {
            match item {
                Ok(event) => {
                    if let Some(f) = assembler.push(event).filter(samplable) {
                        timeline.push(f);
                    }
                }
                Err(e) if e.is_recoverable() => {}
                Err(e) if e.is_eof() => break,
                Err(kvs_chunk::Error::Io(e)) => return Err(ImagesError::Io(e)),
                Err(e) => return Err(ImagesError::Media(e)),
            }
        }
        // The fragment in progress, cut short at the end of the input: its frames are whole.
        if let Some(f) = assembler.finish().filter(samplable) {
            timeline.push(f);
        }
        Ok(timeline)
    }

    /// Appends a fragment.
    pub fn push(&mut self, fragment: Fragment) {
        self.fragments.push(fragment);
    }

    /// The fragments, in stream order.
    #[must_use]
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// Drops the first `n` fragments.
    pub fn drop_front(&mut self, n: usize) {
        self.fragments.drain(..n.min(self.fragments.len()));
    }

    /// Whether there is no fragment.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }
}
