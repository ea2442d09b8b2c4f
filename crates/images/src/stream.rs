//! Sampling media as it is read, in bounded memory: the streaming counterpart of
//! [`Timeline`](crate::Timeline) for an input read once (a file, stdin).
//!
//! See [`StreamingSampler`] for what is held and when a sample is settled.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;

use bytes::Bytes;
use kvs_chunk::{ClusterStart, Event, Fragment, Frame, ReadEvents};

use crate::error::ImagesError;
use crate::request::{ImagesRequest, Plan};
use crate::sample::{Content, Image, ImagesPage, Index, Prepared, SampleOptions, complete, prepare};
use crate::timeline::FragmentClock;

/// The default [`StreamLimits::max_held_bytes`]: 256 MiB.
pub const DEFAULT_MAX_HELD_BYTES: usize = 256 * 1024 * 1024;

/// How much held media grows between two prunings (each costs a pass over what is held).
const PRUNE_STEP: usize = 256 * 1024;

/// The memory bound of a [`StreamingSampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// The most media held at once, bytes: frame data plus [`FRAME_COST`] per frame.
    pub max_held_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self { max_held_bytes: DEFAULT_MAX_HELD_BYTES }
    }
}

/// What one held frame counts for besides its data (its metadata).
pub const FRAME_COST: usize = std::mem::size_of::<Frame>();

/// Answers a GetImages request from media read from `reader` (a file, stdin), reading only
/// as far as the request's page needs and holding only the media its samples can still
/// show: the streaming [`Timeline::get_images`](crate::Timeline::get_images).
///
/// ```
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions};
///
/// let file = std::fs::File::open("../../testdata/images/h264.mkv")?;
/// let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, 1_700_000_000_000, 1_700_000_001_000, 500, ImageFormat::Png)
///     .height_pixels(60);
/// let page = kvs_images::sample_reader(file, &request, &SampleOptions::default())?;
/// assert_eq!(page.images.len(), 3);
/// assert!(page.images.iter().all(|i| i.content.is_some()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The request errors of [`ImagesRequest::plan`]; [`ImagesError::Media`] for malformed input
/// met before the page's samples are settled, [`ImagesError::Io`] if reading fails.
pub fn sample_reader(
    reader: impl Read,
    request: &ImagesRequest,
    options: &SampleOptions,
) -> Result<ImagesPage, ImagesError> {
    let plan = request.plan(&options.limits)?;
    let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
    let next_token = plan.next_token();
    let sampler = StreamingSampler::new(plan, &times, options, StreamLimits::default());
    Ok(ImagesPage { images: sampler.read(reader)?, next_token })
}

/// Samples given times of a plan from events pushed in (sans I/O) or read from a reader,
/// holding only what the samples not settled yet can need.
///
/// The sampler keeps only what a sample still to be settled can need: the fragments whose
/// time span can still contain one, and the frame data from the keyframe before the first
/// frame such a sample can show (and the keyframe before that one, which the decoding run
/// falls back to) onwards. Frame data older than that is dropped as it passes, and whole
/// fragments once no pending sample can fall in them. Reading stops as soon as every sample
/// is settled.
///
/// # When a sample is settled
///
/// The input is assumed to be in time order (fragments, and frames apart from the
/// reordering of B-frames inside a group of pictures). A sample time is settled, with the
/// media held at that moment, when
///
/// - a fragment whose earliest frame is after it has been read to its end (nothing later
///   in a time-ordered input can show that time), or
/// - the fragment being read has given two video keyframes after it (every frame shown at
///   or before that time has been read: reordering never crosses two keyframes), or
/// - the input ends.
///
/// For such an input the images are exactly the ones [`Timeline::get_images`](
/// crate::Timeline::get_images) gives for the same request. When the input is not in time
/// order (producer timestamps going back), media that arrives after a sample was settled
/// does not change that sample, where the in-memory path would show the later fragment that
/// covers it; a fragment whose in-stream error chunk (or a new document without its end)
/// arrives after two later keyframes has already served its samples, where the in-memory
/// path drops it; and a fragment whose last frame has no known duration (a one-frame
/// fragment without BlockDuration or DefaultDuration) ends after the median frame interval of
/// the media held, not of the whole input. Frames of tracks other than the fragment's video
/// track (as declared before them: a Tracks element after the frames it declares is not
/// followed) are held without their data. In a stream that switches codec (H.264, H.265)
/// inside the window, the data kept is reckoned with the codec of the earliest frame a
/// pending sample can show, so a frame of the other codec may lose the decoder's fallback
/// run from an earlier keyframe. Input after the point where reading stops is never read:
/// malformed bytes there are no error, where the in-memory path fails on them.
///
/// # Bounds
///
/// What is held is capped by [`StreamLimits::max_held_bytes`] (frame data plus a fixed cost
/// per frame). Past it (a group of pictures, or a run of frames inside the sample window
/// without a keyframe, longer than the cap), the samples before the latest frame read are
/// settled at once, and if that does not free enough, everything held is dropped:
/// [`StreamingSampler::degraded`] then says that the answer may differ from the in-memory
/// one.
///
/// Besides what is held, the decoding runs of settled samples wait in a queue until there
/// are [`SampleOptions::threads`] of them (or the input ends), and are then decoded together,
/// each on its own thread: each queued run holds a copy of its frames, from the keyframe
/// before its group's keyframe (the run it falls back to) to the last frame it shows, so
/// memory grows by at most that many such runs (two groups of pictures each) over the cap.
/// With one thread every run is decoded as soon as its samples are settled.
#[derive(Debug)]
pub struct StreamingSampler {
    plan: Plan,
    options: SampleOptions,
    limits: StreamLimits,
    /// The times asked for, in the caller's order.
    times: Vec<i64>,
    /// The times not settled yet, ascending, without repeats.
    pending: VecDeque<i64>,
    settled: BTreeMap<i64, Image>,
    /// Fragments held, in stream order; the last one is in progress when `open`.
    held: Vec<Fragment>,
    /// Per held fragment, how many of its leading frames have had their data dropped.
    floors: Vec<usize>,
    open: bool,
    /// An error chunk arrived in the fragment in progress.
    error: bool,
    /// The times of the last two video keyframes of the fragment in progress, ns.
    keyframes: [Option<i64>; 2],
    /// Settled samples whose decoding runs wait to be decoded together (fewer runs than
    /// [`SampleOptions::thread_count`]).
    queued: Vec<Prepared>,
    held_bytes: usize,
    peak_held_bytes: usize,
    pruned_at: usize,
    degraded: bool,
}

impl StreamingSampler {
    /// A sampler of `times` (epoch ms on `plan`'s clock, rendered as `plan` says), with the
    /// `keyframes_only` mode, thread count and frame skipping of `options`.
    #[must_use]
    pub fn new(plan: Plan, times: &[i64], options: &SampleOptions, limits: StreamLimits) -> Self {
        let mut pending: Vec<i64> = times.to_vec();
        pending.sort_unstable();
        pending.dedup();
        Self {
            plan,
            options: *options,
            limits,
            times: times.to_vec(),
            pending: pending.into(),
            settled: BTreeMap::new(),
            held: Vec::new(),
            floors: Vec::new(),
            open: false,
            error: false,
            keyframes: [None, None],
            queued: Vec::new(),
            held_bytes: 0,
            peak_held_bytes: 0,
            pruned_at: 0,
            degraded: false,
        }
    }

    /// Whether every sample is settled (nothing more needs to be read).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// The media held now, bytes: frame data plus [`FRAME_COST`] per frame.
    #[must_use]
    pub const fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The most media held at any time so far, bytes.
    #[must_use]
    pub const fn peak_held_bytes(&self) -> usize {
        self.peak_held_bytes
    }

    /// How many fragments are held now (the one in progress included).
    #[must_use]
    pub fn held_fragments(&self) -> usize {
        self.held.len()
    }

    /// Whether [`StreamLimits::max_held_bytes`] forced media to be dropped that a sample
    /// could have needed: the answer may then differ from the in-memory path's.
    #[must_use]
    pub const fn degraded(&self) -> bool {
        self.degraded
    }

    /// Takes one kvs-chunk event.
    pub fn push_event(&mut self, event: Event) {
        if self.is_done() {
            return;
        }
        match event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                if self.open {
                    self.pop_last();
                }
                self.held.push(Fragment::default());
                self.floors.push(0);
                self.open = true;
                self.error = false;
                self.keyframes = [None, None];
            }
            Event::Tracks(tracks) => {
                if let Some(f) = self.current_mut() {
                    f.tracks = tracks;
                }
            }
            Event::FragmentMetadata(m) => {
                if let Some(f) = self.current_mut() {
                    f.metadata = Some(m);
                }
            }
            Event::Cluster { offset, timestamp, timestamp_scale } => {
                if let Some(f) = self.current_mut()
                    && f.first_cluster.is_none_or(|c| c.timestamp_ns().is_none())
                {
                    f.first_cluster = Some(ClusterStart::new(offset, timestamp, timestamp_scale));
                }
            }
            Event::Frame(frame) => self.push_frame(frame),
            Event::ErrorChunk(_) => self.error = true,
            Event::FragmentEnd(_) => self.end_fragment(),
            _ => {}
        }
    }

    /// The input ended: every sample left is settled with what has been read; returns one
    /// image per time asked for, in the same order.
    #[must_use]
    pub fn finish(mut self) -> Vec<Image> {
        if self.open {
            self.end_fragment();
        }
        let n = self.pending.len();
        self.settle(n);
        self.decode_queued();
        self.times.iter().filter_map(|t| self.settled.get(t).cloned()).collect()
    }

    /// Reads events from `reader` until every sample is settled or the input ends, then
    /// [`StreamingSampler::finish`]es.
    ///
    /// # Errors
    ///
    /// [`ImagesError::Media`] for malformed input (a stream cut at its end is fine),
    /// [`ImagesError::Io`] if reading fails.
    pub fn read(mut self, reader: impl Read) -> Result<Vec<Image>, ImagesError> {
        self.read_from(reader)?;
        Ok(self.finish())
    }

    /// Reads events from `reader` until every sample is settled or the input ends (then
    /// [`StreamingSampler::finish`] gives the images).
    ///
    /// # Errors
    ///
    /// As [`StreamingSampler::read`].
    pub fn read_from(&mut self, reader: impl Read) -> Result<(), ImagesError> {
        let mut events = ReadEvents::new(reader);
        while !self.is_done() {
            match events.next() {
                None => break,
                Some(Ok(event)) => self.push_event(event),
                Some(Err(e)) if e.is_recoverable() => {}
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(kvs_chunk::Error::Io(e))) => return Err(ImagesError::Io(e)),
                Some(Err(e)) => return Err(ImagesError::Media(e)),
            }
        }
        Ok(())
    }

    /// The fragment in progress (a new one if none is).
    fn current_mut(&mut self) -> Option<&mut Fragment> {
        if !self.open {
            self.held.push(Fragment::default());
            self.floors.push(0);
            self.open = true;
            self.keyframes = [None, None];
        }
        self.held.last_mut()
    }

    fn pop_last(&mut self) {
        if let Some(f) = self.held.pop() {
            self.held_bytes = self.held_bytes.saturating_sub(fragment_bytes(&f));
        }
        self.floors.pop();
        self.open = false;
    }

    fn push_frame(&mut self, mut frame: Frame) {
        let selector = self.plan.selector;
        let Some(f) = self.current_mut() else { return };
        let video = f.video_track().map(|t| t.number);
        frame.references = Default::default();
        // A copy, so that the reader's chunk it was a slice of is not pinned.
        frame.data =
            if video == Some(frame.track) { Bytes::copy_from_slice(&frame.data) } else { Bytes::new() };
        let keyframe_time =
            (video == Some(frame.track) && frame.keyframe).then(|| f.time_ns(frame.timestamp_ns, selector));
        let cost = frame.data.len().saturating_add(FRAME_COST);
        f.frames.push(frame);
        self.held_bytes = self.held_bytes.saturating_add(cost);
        self.peak_held_bytes = self.peak_held_bytes.max(self.held_bytes);
        if let Some(time) = keyframe_time {
            let [_, last] = self.keyframes;
            self.keyframes = [last, time];
            if let [Some(a), Some(b)] = self.keyframes {
                let horizon = a.min(b);
                self.settle_before(|t| t.checked_mul(1_000_000).is_some_and(|t| t < horizon));
            }
        }
        self.maybe_prune();
    }

    fn end_fragment(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let error = std::mem::take(&mut self.error);
        let empty = self.held.last().is_none_or(|f| f.frames.is_empty());
        if error || empty {
            if let Some(f) = self.held.pop() {
                self.held_bytes = self.held_bytes.saturating_sub(fragment_bytes(&f));
            }
            self.floors.pop();
            return;
        }
        let selector = self.plan.selector;
        let start = self
            .held
            .last()
            .and_then(|f| f.frames.iter().filter_map(|fr| f.time_ns(fr.timestamp_ns, selector)).min());
        if let Some(start) = start {
            let horizon = start.div_euclid(1_000_000);
            self.settle_before(|t| t < horizon);
        }
        self.maybe_prune();
    }

    /// Settles the pending times `settled` says (a prefix of them).
    fn settle_before(&mut self, settled: impl Fn(i64) -> bool) {
        let n = self.pending.iter().take_while(|&&t| settled(t)).count();
        if n > 0 {
            self.settle(n);
            self.prune();
        }
    }

    fn settle(&mut self, n: usize) {
        let times: Vec<i64> = self.pending.drain(..n.min(self.pending.len())).collect();
        if times.is_empty() {
            return;
        }
        let prepared = prepare(&self.held, &self.floors, &self.plan, &times, &self.options);
        self.queued.push(prepared);
        let runs = self.queued.iter().map(Prepared::runs).fold(0, usize::saturating_add);
        if runs >= self.options.thread_count() {
            self.decode_queued();
        }
    }

    /// Decodes the queued runs, on up to [`SampleOptions::threads`] threads.
    fn decode_queued(&mut self) {
        let queued = std::mem::take(&mut self.queued);
        for image in complete(queued, &self.plan, &self.options) {
            self.settled.insert(image.timestamp_ms, image);
        }
    }

    fn maybe_prune(&mut self) {
        // At least PRUNE_STEP, and at least doubling: pruning costs linear time overall.
        if self.held_bytes >= self.pruned_at.saturating_add(PRUNE_STEP.max(self.pruned_at)) {
            self.prune();
        }
        if self.held_bytes > self.limits.max_held_bytes {
            self.over_limit();
        }
    }

    /// Drops the frame data and the fragments no pending sample can need.
    fn prune(&mut self) {
        let Some(&first) = self.pending.front() else {
            self.held.clear();
            self.floors.clear();
            self.open = false;
            self.held_bytes = 0;
            self.pruned_at = 0;
            return;
        };
        let t0 = first.saturating_mul(1_000_000);
        let current = self.open.then(|| self.held.len().saturating_sub(1));
        let (keep_from, removable) = {
            let index = Index::new(&self.held, &self.floors, self.plan.selector);
            retention(&index, t0, self.options.keyframes_only, current, self.held.len())
        };
        // Drop the data before `keep_from` (a (fragment, position) in stream order).
        let (fk, pk) = keep_from;
        for (fi, (fragment, floor)) in self.held.iter_mut().zip(self.floors.iter_mut()).enumerate() {
            let upto = match fi.cmp(&fk) {
                std::cmp::Ordering::Less => fragment.frames.len(),
                std::cmp::Ordering::Equal => pk.min(fragment.frames.len()),
                std::cmp::Ordering::Greater => break,
            };
            if upto > *floor {
                for frame in fragment.frames.get_mut(*floor..upto).unwrap_or_default() {
                    frame.data = Bytes::new();
                }
                *floor = upto;
            }
        }
        let n = removable.min(self.held.len());
        self.held.drain(..n);
        self.floors.drain(..n);
        self.held_bytes = self.held.iter().map(fragment_bytes).fold(0, usize::saturating_add);
        self.pruned_at = self.held_bytes;
    }

    /// More than the limit is held: settle what the latest frame read allows, then drop
    /// everything if that is not enough.
    fn over_limit(&mut self) {
        let selector = self.plan.selector;
        let latest = self
            .held
            .iter()
            .flat_map(|f| f.frames.iter().filter_map(move |fr| f.time_ns(fr.timestamp_ns, selector)))
            .max();
        if let Some(latest) = latest {
            self.settle_before(|t| t.checked_mul(1_000_000).is_some_and(|t| t < latest));
        }
        // Half the limit at most, so that the next pass over what is held is as far away.
        if self.held_bytes <= self.limits.max_held_bytes / 2 {
            return;
        }
        self.degraded = true;
        let keep = if self.open { self.held.pop() } else { None };
        self.held.clear();
        self.floors.clear();
        if let Some(mut f) = keep {
            f.frames.clear();
            self.held.push(f);
            self.floors.push(0);
        }
        self.held_bytes = 0;
        self.pruned_at = 0;
    }
}

fn fragment_bytes(f: &Fragment) -> usize {
    f.frames.iter().map(|fr| fr.data.len().saturating_add(FRAME_COST)).fold(0, usize::saturating_add)
}

/// What pending samples from `t0` (ns) on can still need, given the media indexed: the
/// (fragment, position) from which frame data must be kept, and how many leading fragments
/// can go entirely.
fn retention(
    index: &Index<'_>,
    t0: i64,
    keyframes_only: bool,
    current: Option<usize>,
    fragments: usize,
) -> ((usize, usize), usize) {
    let choosable: Vec<&crate::sample::Span> =
        index.spans.iter().filter(|s| s.end > t0 || Some(s.fragment) == current).collect();
    // A span can serve a sample when it is choosable, or (keyframes only) as the previous
    // fragment of a choosable one that starts within it (`choosable` is sorted by start).
    let serves = |s: &crate::sample::Span| {
        if s.end > t0 || Some(s.fragment) == current {
            return true;
        }
        if !keyframes_only {
            return false;
        }
        let from = choosable.partition_point(|c| c.start < s.start);
        choosable
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.start <= s.end)
            .any(|c| c.fragment != s.fragment)
    };
    let time = |id: usize| index.frames.get(id).map_or(i64::MAX, |f| f.time_ns);
    let keyframe = |id: usize| index.frames.get(id).is_some_and(|f| f.frame.keyframe);
    // The first frame (decode order) a pending sample can show.
    let mut first: Option<usize> = None;
    let mut needed = vec![false; fragments];
    for span in index.spans.iter().filter(|s| serves(s)) {
        if let Some(n) = needed.get_mut(span.fragment) {
            *n = true;
        }
        let Content::Video(ids) = &span.content else { continue };
        let ids: Vec<usize> = ids.iter().copied().filter(|&id| !keyframes_only || keyframe(id)).collect();
        let below = ids.partition_point(|&id| time(id) < t0);
        let from = below.saturating_sub(1);
        if let Some(m) = ids.get(from..).and_then(|c| c.iter().copied().min()) {
            first = Some(first.map_or(m, |f| f.min(m)));
        }
    }
    // A decoding run starts at the keyframe before the frame, and falls back to the one
    // before that.
    let start_of = |id: usize| match index.keyframe_before(id) {
        None => id,
        Some(k) => k.checked_sub(1).and_then(|i| index.keyframe_before(i)).unwrap_or(k),
    };
    // Frames still to come decode from the last keyframes held.
    let future = index.frames.len().checked_sub(1).map(start_of);
    let keep = match (first.map(start_of), future) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let keep_from = match keep.and_then(|id| index.frames.get(id)) {
        Some(f) => (f.fragment, f.pos),
        // No video frame held: no data is needed.
        None => (fragments, 0),
    };
    let removable = (0..fragments)
        .take_while(|&fi| Some(fi) != current && fi < keep_from.0 && !needed.get(fi).copied().unwrap_or(true))
        .count();
    (keep_from, removable)
}
