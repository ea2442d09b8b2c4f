//! Fragment granularity: all of a fragment's events in one value.

use std::collections::BTreeMap;

use crate::analysis::Durations;
use crate::{Error, ErrorChunk, Event, FragmentEnd, FragmentMetadata, FragmentNumber, Frame, Tag, Track};

/// The most track numbers whose frames [`FragmentStats`] counts one by one; frames on
/// further track numbers (a producer can write a new one in every block) are counted
/// together.
pub const MAX_COUNTED_TRACKS: usize = 128;

/// A cluster's start, as the decoder reported it ([`Event::Cluster`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStart {
    /// The absolute offset of the Cluster element.
    pub offset: u64,
    /// The cluster's Timestamp, in TimestampScale units.
    pub timestamp: u64,
    /// The TimestampScale in force (nanoseconds per unit).
    pub timestamp_scale: u64,
}

impl ClusterStart {
    /// A cluster start, as [`Event::Cluster`] reports it.
    #[must_use]
    pub const fn new(offset: u64, timestamp: u64, timestamp_scale: u64) -> Self {
        Self { offset, timestamp, timestamp_scale }
    }
    /// The cluster's timestamp in nanoseconds, if it fits an `i64`.
    #[must_use]
    pub fn timestamp_ns(&self) -> Option<i64> {
        u128::from(self.timestamp)
            .checked_mul(u128::from(self.timestamp_scale))
            .and_then(|ns| i64::try_from(ns).ok())
    }
}

/// What a fragment's frames add up to, counted as they arrive (so also when the frames
/// themselves are not kept, see [`FragmentAssembler::without_frames`]). Bounded whatever
/// the input: at most [`MAX_COUNTED_TRACKS`] track numbers are counted one by one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FragmentStats {
    /// Frames per track number, for the first [`MAX_COUNTED_TRACKS`] track numbers seen.
    pub frames: BTreeMap<u64, u64>,
    /// Keyframes per track number, for the track numbers counted in `frames` (a track
    /// without keyframes has no entry).
    pub keyframes: BTreeMap<u64, u64>,
    /// Frames on track numbers past the first [`MAX_COUNTED_TRACKS`].
    pub other_frames: u64,
    /// Keyframes on track numbers past the first [`MAX_COUNTED_TRACKS`].
    pub other_keyframes: u64,
    /// Bytes of frame data.
    pub bytes: u64,
    /// The earliest frame timestamp, ns.
    pub first_ns: Option<i64>,
    /// The latest frame timestamp, ns.
    pub last_ns: Option<i64>,
    /// The latest frame end (timestamp plus its duration as [`Durations`] estimates it), ns.
    pub end_ns: Option<i64>,
    /// Clusters.
    pub clusters: u64,
}

impl FragmentStats {
    /// Counts one frame, whose duration is `duration_ns`.
    pub fn frame(&mut self, frame: &Frame, duration_ns: u64) {
        if self.frames.len() < MAX_COUNTED_TRACKS || self.frames.contains_key(&frame.track) {
            let n = self.frames.entry(frame.track).or_insert(0);
            *n = n.saturating_add(1);
            if frame.keyframe {
                let k = self.keyframes.entry(frame.track).or_insert(0);
                *k = k.saturating_add(1);
            }
        } else {
            self.other_frames = self.other_frames.saturating_add(1);
            self.other_keyframes = self.other_keyframes.saturating_add(u64::from(frame.keyframe));
        }
        self.bytes = self.bytes.saturating_add(u64::try_from(frame.data.len()).unwrap_or(u64::MAX));
        let ts = frame.timestamp_ns;
        self.first_ns = Some(self.first_ns.map_or(ts, |v| v.min(ts)));
        self.last_ns = Some(self.last_ns.map_or(ts, |v| v.max(ts)));
        let end = ts.saturating_add(i64::try_from(duration_ns).unwrap_or(0));
        self.end_ns = Some(self.end_ns.map_or(end, |v| v.max(end)));
    }

    /// All frames, on every track number.
    #[must_use]
    pub fn total_frames(&self) -> u64 {
        self.frames.values().fold(self.other_frames, |a, n| a.saturating_add(*n))
    }

    /// All keyframes, on every track number.
    #[must_use]
    pub fn total_keyframes(&self) -> u64 {
        self.keyframes.values().fold(self.other_keyframes, |a, n| a.saturating_add(*n))
    }

    /// The earliest frame timestamp in whole milliseconds (rounded towards negative
    /// infinity).
    #[must_use]
    pub fn first_ms(&self) -> Option<i64> {
        self.first_ns.map(|ns| ns.div_euclid(1_000_000))
    }

    /// The latest frame timestamp in whole milliseconds.
    #[must_use]
    pub fn last_ms(&self) -> Option<i64> {
        self.last_ns.map(|ns| ns.div_euclid(1_000_000))
    }

    /// The media duration: from the earliest frame to the latest frame end, ns (0 without
    /// frames).
    #[must_use]
    pub fn duration_ns(&self) -> i64 {
        match (self.first_ns, self.end_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a).max(0),
            _ => 0,
        }
    }
}

/// One whole fragment (one document of a GetMedia payload, or one of the fragments of a
/// merged document).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Fragment {
    /// The document's index in the stream.
    pub index: u64,
    /// The fragment's position in its document: 0 for the first (the only one in a GetMedia
    /// payload), 1, 2 ... for the next fragments of a merged document.
    pub fragment: u64,
    /// The absolute offset of its first byte: the document's for the first fragment, else
    /// the offset of the element that started it (see [`Event::FragmentStart`]).
    pub offset: u64,
    /// The tracks its document declares (empty for a document without Tracks, such as an
    /// error chunk).
    pub tracks: Vec<Track>,
    /// The service's metadata, if the document had any.
    pub metadata: Option<FragmentMetadata>,
    /// The first cluster's start (its timestamp is where the fragment's media begins); when
    /// that cluster's timestamp does not fit an `i64` in nanoseconds, the first cluster's
    /// whose does.
    pub first_cluster: Option<ClusterStart>,
    /// The frames, in stream order (none when assembled
    /// [`without frames`](FragmentAssembler::without_frames)).
    pub frames: Vec<Frame>,
    /// What the frames add up to (filled whether the frames are kept or not). Boxed: a
    /// fragment travels inside enums (a consumer's events), and the statistics are half of
    /// its size.
    pub stats: Box<FragmentStats>,
    /// The non-service tags, in stream order.
    pub tags: Vec<Tag>,
    /// In-stream errors.
    pub errors: Vec<ErrorChunk>,
    /// The end: millis-behind-now, continuation token, completeness.
    pub end: FragmentEnd,
}

impl Fragment {
    /// The fragment an in-stream error reported outside the event stream stands for (a
    /// consumer's error chunk): no media, the error's fragment number, the error.
    #[must_use]
    pub fn of_error_chunk(error: ErrorChunk) -> Self {
        let mut metadata = FragmentMetadata::default();
        metadata.fragment_number.clone_from(&error.fragment_number);
        Self { metadata: Some(metadata), errors: vec![error], ..Self::default() }
    }

    /// Whether the fragment is whole: its continuation token arrived, or, from
    /// GetMediaForFragmentList, its document ended cleanly (see [`FragmentEnd::complete`]).
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.end.complete
    }

    /// The fragment number, if the service sent one.
    #[must_use]
    pub fn fragment_number(&self) -> Option<&FragmentNumber> {
        self.metadata.as_ref().and_then(|m| m.fragment_number.as_ref())
    }

    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, epoch ms (may be relative), if sent.
    #[must_use]
    pub fn producer_timestamp_ms(&self) -> Option<i64> {
        self.metadata.as_ref().and_then(|m| m.producer_timestamp_ms)
    }

    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, epoch ms, if sent.
    #[must_use]
    pub fn server_timestamp_ms(&self) -> Option<i64> {
        self.metadata.as_ref().and_then(|m| m.server_timestamp_ms)
    }

    /// The first cluster's timestamp in nanoseconds (the fragment's frame timestamps count
    /// from it), if a cluster began and its timestamp fits an `i64`.
    #[must_use]
    pub fn first_cluster_timestamp_ns(&self) -> Option<i64> {
        self.first_cluster.as_ref().and_then(ClusterStart::timestamp_ns)
    }

    /// The first in-stream error, if any.
    #[must_use]
    pub fn error(&self) -> Option<&ErrorChunk> {
        self.errors.first()
    }
}

/// Gathers events into [`Fragment`]s; push events in, take fragments out.
///
/// Every fragment gets its [`FragmentStats`]; the frames themselves are kept unless the
/// assembler was made [`without_frames`](FragmentAssembler::without_frames), which keeps
/// memory flat over a fragment of any size (a 2 GB single-fragment file).
#[derive(Debug)]
pub struct FragmentAssembler {
    current: Option<Fragment>,
    keep_frames: bool,
    durations: Durations,
}

impl Default for FragmentAssembler {
    fn default() -> Self {
        Self::new()
    }
}

// (A fragment after a `FragmentStart` takes the `Tracks` event that follows it; when the
// decoder did not repeat them, see `WarningKind::TracksNotRepeated`, its tracks stay empty.)

impl FragmentAssembler {
    /// An empty assembler that keeps frames.
    #[must_use]
    pub fn new() -> Self {
        Self { current: None, keep_frames: true, durations: Durations::default() }
    }

    /// An empty assembler that counts frames into [`Fragment::stats`] but does not keep
    /// them ([`Fragment::frames`] stays empty).
    #[must_use]
    pub fn without_frames() -> Self {
        Self { keep_frames: false, ..Self::new() }
    }

    /// Whether the fragments keep their frames.
    #[must_use]
    pub const fn keeps_frames(&self) -> bool {
        self.keep_frames
    }

    /// Takes one event; returns a fragment when one is complete (at its `FragmentEnd`). A
    /// merged document gives one fragment per `FragmentEnd`.
    pub fn push(&mut self, event: Event) -> Option<Fragment> {
        match event {
            Event::DocumentStart { index, offset } => {
                self.current = Some(Fragment { index, offset, ..Fragment::default() });
                self.durations.reset();
            }
            Event::FragmentStart { index, fragment, offset } => {
                self.current = Some(Fragment { index, fragment, offset, ..Fragment::default() });
                self.durations.reset();
            }
            Event::Tracks(tracks) => {
                self.durations.tracks(&tracks);
                if let Some(f) = &mut self.current {
                    f.tracks = tracks;
                }
            }
            Event::FragmentMetadata(m) => {
                if let Some(f) = &mut self.current {
                    f.metadata = Some(m);
                }
            }
            Event::Cluster { offset, timestamp, timestamp_scale } => {
                if let Some(f) = &mut self.current {
                    f.stats.clusters = f.stats.clusters.saturating_add(1);
                    if f.first_cluster.is_none_or(|c| c.timestamp_ns().is_none()) {
                        f.first_cluster = Some(ClusterStart { offset, timestamp, timestamp_scale });
                    }
                }
            }
            Event::Frame(frame) => {
                if let Some(f) = &mut self.current {
                    let d = self.durations.of(&frame, frame.timestamp_ns);
                    f.stats.frame(&frame, d);
                    if self.keep_frames {
                        f.frames.push(frame);
                    }
                }
            }
            Event::Tag(tag) => {
                if let Some(f) = &mut self.current {
                    f.tags.push(*tag);
                }
            }
            Event::ErrorChunk(e) => {
                if let Some(f) = &mut self.current {
                    f.errors.push(e);
                }
            }
            Event::FragmentEnd(end) => {
                let mut f = self.current.take()?;
                f.end = end;
                return Some(f);
            }
            _ => {}
        }
        None
    }

    /// The fragment in progress, as far as it has arrived.
    #[must_use]
    pub fn in_progress(&self) -> Option<&Fragment> {
        self.current.as_ref()
    }

    /// The fragment in progress, cut short (the input ended inside it): its end says it is
    /// not complete.
    pub fn finish(&mut self) -> Option<Fragment> {
        self.current.take()
    }

    /// Drops the fragment in progress (it was cut and will be delivered again, as a
    /// consumer does after a cut).
    pub fn abort(&mut self) {
        self.current = None;
    }
}

/// An iterator of [`Fragment`]s over an iterator of events.
///
/// ```
/// use bytes::Bytes;
/// use kvs_chunk::{Events, Fragments};
///
/// let input = Bytes::from_static(b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF");
/// let fragments: Vec<_> = Fragments::new(Events::new(input)).collect::<Result<_, _>>()?;
/// assert_eq!(fragments.len(), 1);
/// assert!(!fragments[0].is_complete());
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
pub struct Fragments<I> {
    events: I,
    assembler: FragmentAssembler,
}

impl<I> Fragments<I> {
    /// Fragments over `events`.
    pub fn new(events: I) -> Self {
        Self { events, assembler: FragmentAssembler::new() }
    }

    /// Fragments over `events`, without their frames (see
    /// [`FragmentAssembler::without_frames`]).
    pub fn without_frames(events: I) -> Self {
        Self { events, assembler: FragmentAssembler::without_frames() }
    }
}

impl<I: Iterator<Item = Result<Event, Error>>> Iterator for Fragments<I> {
    type Item = Result<Fragment, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.events.next()? {
                Ok(e) => {
                    if let Some(f) = self.assembler.push(e) {
                        return Some(Ok(f));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
// The event structs are set field by field (not built by literal) so that the tests do not
// depend on every field they have; fixture numbers are small.
#[allow(clippy::field_reassign_with_default, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A frame to vary: the first of a fixture, its fields then set by hand.
    fn frame(track: u64, keyframe: bool, timestamp_ns: i64, len: usize) -> Frame {
        let input = Bytes::from_static(include_bytes!("../../../testdata/getmedia_basic.mkv"));
        let mut f = crate::Events::new(input)
            .find_map(|e| match e {
                Ok(Event::Frame(f)) => Some(f),
                _ => None,
            })
            .unwrap();
        f.track = track;
        f.keyframe = keyframe;
        f.timestamp_ns = timestamp_ns;
        f.duration_ns = None;
        f.data = Bytes::from(vec![0u8; len]);
        f
    }

    fn events(frames: Vec<Frame>) -> Vec<Event> {
        let mut v = vec![
            Event::DocumentStart { index: 0, offset: 7 },
            Event::Cluster { offset: 100, timestamp: 5, timestamp_scale: 1_000_000 },
            Event::Cluster { offset: 200, timestamp: 9, timestamp_scale: 1_000_000 },
        ];
        v.extend(frames.into_iter().map(Event::Frame));
        v.push(Event::FragmentEnd(FragmentEnd::default()));
        v
    }

    #[test]
    fn stats_are_the_same_with_and_without_frames() {
        let frames =
            vec![frame(1, true, 5_000_000, 10), frame(1, false, 38_000_000, 4), frame(2, true, 5_000_000, 3)];
        let mut with = FragmentAssembler::new();
        let mut without = FragmentAssembler::without_frames();
        let a = events(frames.clone()).into_iter().find_map(|e| with.push(e));
        let b = events(frames).into_iter().find_map(|e| without.push(e));
        let (Some(a), Some(b)) = (a, b) else { panic!("no fragment") };
        assert_eq!(a.frames.len(), 3);
        assert!(b.frames.is_empty());
        assert_eq!(a.stats, b.stats);
        assert_eq!(a.stats.total_frames(), 3);
        assert_eq!(a.stats.total_keyframes(), 2);
        assert_eq!(a.stats.bytes, 17);
        assert_eq!(a.stats.first_ms(), Some(5));
        assert_eq!(a.stats.last_ms(), Some(38));
        assert_eq!(a.stats.clusters, 2);
        // The second frame of track 1 lasts as long as the spacing before it.
        assert_eq!(a.stats.end_ns, Some(71_000_000));
        assert_eq!(a.first_cluster_timestamp_ns(), Some(5_000_000));
        assert_eq!(a.first_cluster.map(|c| c.offset), Some(100));
    }

    #[test]
    fn track_numbers_past_the_cap_are_counted_together() {
        let track_count = u64::try_from(MAX_COUNTED_TRACKS).unwrap_or(0) + 3;
        let frames = (1..=track_count).map(|t| frame(t, true, 0, 1)).collect();
        let mut a = FragmentAssembler::without_frames();
        let Some(f) = events(frames).into_iter().find_map(|e| a.push(e)) else { panic!("no fragment") };
        assert_eq!(f.stats.frames.len(), MAX_COUNTED_TRACKS);
        assert_eq!(f.stats.other_frames, 3);
        assert_eq!(f.stats.other_keyframes, 3);
        assert_eq!(f.stats.total_frames(), track_count);
        assert_eq!(f.stats.total_keyframes(), track_count);
    }

    #[test]
    fn finish_gives_the_fragment_in_progress_and_abort_drops_it() {
        let mut a = FragmentAssembler::new();
        for e in events(vec![frame(1, true, 0, 1)]).into_iter().take(4) {
            assert!(a.push(e).is_none());
        }
        assert_eq!(a.in_progress().map(|f| f.frames.len()), Some(1));
        let Some(f) = a.finish() else { panic!("nothing in progress") };
        assert!(!f.is_complete());
        assert!(a.finish().is_none());
        let _ = a.push(Event::DocumentStart { index: 1, offset: 0 });
        a.abort();
        assert!(a.in_progress().is_none());
    }

    #[test]
    fn a_stream_error_stands_for_a_fragment() {
        let mut e = ErrorChunk::default();
        e.code = Some("x".to_owned());
        let f = Fragment::of_error_chunk(e.clone());
        assert_eq!(f.error(), Some(&e));
        assert!(f.fragment_number().is_none());
        assert!(!f.is_complete());
    }
}
