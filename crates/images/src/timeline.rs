//! Media on the request's clock: fragments gathered from kvs-chunk events, each frame placed
//! at its producer or server time.

use std::io::Read;

use bytes::Bytes;
use kvs_chunk::{Event, Events, Frame, ReadEvents, Track, TrackType};

use crate::error::ImagesError;
use crate::request::ImageSelector;

/// One fragment's media (for a GetMedia payload, one document; for a plain Matroska file,
/// the whole Segment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaFragment {
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, epoch ms.
    pub producer_timestamp_ms: Option<i64>,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, epoch ms.
    pub server_timestamp_ms: Option<i64>,
    /// The first Cluster's timestamp, ns (the fragment's timestamps count from it).
    pub cluster_timestamp_ns: Option<i64>,
    /// The tracks the fragment's document declares.
    pub tracks: Vec<Track>,
    /// Every frame, in stream (decode) order.
    pub frames: Vec<Frame>,
}

impl MediaFragment {
    /// The time of a frame timestamp on `selector`'s clock, ns since the epoch:
    /// the fragment's timestamp plus the frame's offset from the fragment's first cluster.
    /// Without service timestamps (a plain Matroska file) both clocks are the frame's own
    /// timestamp.
    #[must_use]
    pub fn time_ns(&self, frame_timestamp_ns: i64, selector: ImageSelector) -> Option<i64> {
        let base_ms = match selector {
            ImageSelector::ProducerTimestamp => self.producer_timestamp_ms.or(self.server_timestamp_ms),
            ImageSelector::ServerTimestamp => self.server_timestamp_ms.or(self.producer_timestamp_ms),
        };
        let Some(base_ms) = base_ms else { return Some(frame_timestamp_ns) };
        let origin = match self.cluster_timestamp_ns {
            Some(c) => c,
            None => self.frames.iter().map(|f| f.timestamp_ns).min().unwrap_or(frame_timestamp_ns),
        };
        base_ms.checked_mul(1_000_000)?.checked_add(frame_timestamp_ns.checked_sub(origin)?)
    }

    /// The track images come from: the first video track (by TrackType, or by a `V_` codec
    /// id when the type is missing).
    #[must_use]
    pub fn video_track(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == TrackType::Video).or_else(|| {
            self.tracks.iter().find(|t| {
                t.kind == TrackType::Unknown && t.codec_id.as_deref().is_some_and(|c| c.starts_with("V_"))
            })
        })
    }
}

/// Gathers kvs-chunk events into [`MediaFragment`]s (push events in, take fragments out).
#[derive(Debug, Default)]
pub struct FragmentCollector {
    current: Option<MediaFragment>,
    error: bool,
}

impl FragmentCollector {
    /// An empty collector.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event; returns a fragment at its end (`FragmentEnd`), if it had frames.
    /// In-stream error chunks give nothing.
    pub fn push(&mut self, event: Event) -> Option<MediaFragment> {
        match event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                self.current = Some(MediaFragment::default());
                self.error = false;
            }
            Event::Tracks(tracks) => self.current_mut().tracks = tracks,
            Event::FragmentMetadata(m) => {
                let f = self.current_mut();
                f.producer_timestamp_ms = m.producer_timestamp_ms;
                f.server_timestamp_ms = m.server_timestamp_ms;
            }
            Event::Cluster { timestamp, timestamp_scale, .. } => {
                let f = self.current_mut();
                if f.cluster_timestamp_ns.is_none() {
                    f.cluster_timestamp_ns = u128::from(timestamp)
                        .checked_mul(u128::from(timestamp_scale))
                        .and_then(|ns| i64::try_from(ns).ok());
                }
            }
            Event::Frame(frame) => self.current_mut().frames.push(frame),
            Event::ErrorChunk(_) => self.error = true,
            Event::FragmentEnd(_) => return self.take(),
            _ => {}
        }
        None
    }

    /// The fragment in progress, cut short (at the end of the input): returned if it has
    /// frames, whose data are complete.
    pub fn finish(&mut self) -> Option<MediaFragment> {
        self.take()
    }

    /// Drops the fragment in progress (it will be delivered again, as a consumer does after
    /// a cut).
    pub fn abort(&mut self) {
        self.current = None;
        self.error = false;
    }

    fn current_mut(&mut self) -> &mut MediaFragment {
        self.current.get_or_insert_with(MediaFragment::default)
    }

    fn take(&mut self) -> Option<MediaFragment> {
        let f = self.current.take()?;
        let error = std::mem::take(&mut self.error);
        (!error && !f.frames.is_empty()).then_some(f)
    }
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
    fragments: Vec<MediaFragment>,
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
        let mut collector = FragmentCollector::new();
        let mut timeline = Self::new();
        for item in events {
            match item {
                Ok(event) => {
                    if let Some(f) = collector.push(event) {
                        timeline.push(f);
                    }
                }
                Err(e) if e.is_recoverable() => {}
                Err(e) if e.is_eof() => break,
                Err(kvs_chunk::Error::Io(e)) => return Err(ImagesError::Io(e)),
                Err(e) => return Err(ImagesError::Media(e)),
            }
        }
        if let Some(f) = collector.finish() {
            timeline.push(f);
        }
        Ok(timeline)
    }

    /// Appends a fragment.
    pub fn push(&mut self, fragment: MediaFragment) {
        self.fragments.push(fragment);
    }

    /// The fragments, in stream order.
    #[must_use]
    pub fn fragments(&self) -> &[MediaFragment] {
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
