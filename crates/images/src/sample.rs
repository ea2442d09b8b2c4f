//! Sampling: which frame each sample time shows, decoding each group of pictures once (the
//! groups on a bounded pool of threads, leaving out the pictures no later one refers to),
//! and the images of a page.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use bytes::Bytes;
use kvs_chunk::{Fragment, Frame};

use crate::codec::{self, CodecConfig, VideoCodec};
use crate::error::ImagesError;
use crate::refs;
use crate::render;
use crate::request::{ImageSelector, ImagesRequest, Limits, Plan};
use crate::timeline::{FragmentClock, Timeline};

/// How a request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleOptions {
    /// The limits requests are validated against.
    pub limits: Limits,
    /// Show the last keyframe at or before each sample time instead of the exact frame:
    /// only keyframes are decoded (fast), at the cost of up to a group of pictures of lag.
    pub keyframes_only: bool,
    /// How many groups of pictures are decoded (and their images resized and encoded) at
    /// once, each on its own thread; `0` (the default) means one per available core
    /// ([`std::thread::available_parallelism`]). The images are the same for every count;
    /// memory grows with it (each group in flight holds its access units and a decoder).
    pub threads: usize,
    /// Decode every frame of a decoding run, the ones no later frame refers to included
    /// (H.264 `nal_ref_idc` 0, H.265 sub-layer non-reference pictures, VP8/VP9 frames that
    /// change nothing a later frame reads). By default they are
    /// left out unless a sample shows them: the same images, with less work. For checking
    /// and measuring that.
    pub decode_all_frames: bool,
}

impl SampleOptions {
    /// The number of threads [`SampleOptions::threads`] means.
    #[must_use]
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n,
        }
    }
}

/// Why a sample has no image (`Error` in the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageError {
    /// `NO_MEDIA`: no media at that time (a gap, before the first or after the last frame).
    NoMedia,
    /// `MEDIA_ERROR`: there is media, but no picture can be made of it (audio only, an
    /// unsupported codec, a frame that does not decode).
    MediaError,
}

impl ImageError {
    /// The API's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoMedia => "NO_MEDIA",
            Self::MediaError => "MEDIA_ERROR",
        }
    }

    /// The error of an API name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "NO_MEDIA" => Some(Self::NoMedia),
            "MEDIA_ERROR" => Some(Self::MediaError),
            _ => None,
        }
    }
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample: its time, and its image or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The sample time (`TimeStamp`), epoch ms.
    pub timestamp_ms: i64,
    /// `Error`, when there is no image.
    pub error: Option<ImageError>,
    /// `ImageContent`: the encoded image (JPEG or PNG bytes, not base64).
    pub content: Option<Bytes>,
    /// The time of the frame the image shows, on the request's clock (computed locally;
    /// the cloud API does not say).
    pub frame_timestamp_ms: Option<i64>,
    /// Why there is no image, in words (computed locally; the cloud API does not say).
    pub detail: Option<String>,
}

impl Image {
    fn missing(timestamp_ms: i64, error: ImageError, detail: Option<String>) -> Self {
        Self { timestamp_ms, error: Some(error), content: None, frame_timestamp_ms: None, detail }
    }
}

/// One page of a GetImages answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImagesPage {
    /// `Images`: one per sample of the page, in time order.
    pub images: Vec<Image>,
    /// `NextToken`: resumes after this page's last sample; `None` on the last page.
    pub next_token: Option<String>,
}

impl Timeline {
    /// Answers a GetImages request from this media: validates it, samples its page, and
    /// returns the images and the next token.
    ///
    /// # Errors
    ///
    /// The request errors of [`ImagesRequest::plan`]. Samples without an image are not
    /// errors: they carry [`ImageError`].
    pub fn get_images(
        &self,
        request: &ImagesRequest,
        options: &SampleOptions,
    ) -> Result<ImagesPage, ImagesError> {
        let plan = request.plan(&options.limits)?;
        let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
        Ok(ImagesPage { images: self.sample_with(&plan, &times, options), next_token: plan.next_token() })
    }

    /// The images of the given sample times (epoch ms on the plan's clock), rendered as the
    /// plan says. Every time gives exactly one [`Image`], in the same order.
    #[must_use]
    pub fn sample(&self, plan: &Plan, times: &[i64], keyframes_only: bool) -> Vec<Image> {
        self.sample_with(plan, times, &SampleOptions { keyframes_only, ..SampleOptions::default() })
    }

    /// [`Timeline::sample`] with the decoding `options` (their `limits` are not used: the
    /// plan is made).
    #[must_use]
    pub fn sample_with(&self, plan: &Plan, times: &[i64], options: &SampleOptions) -> Vec<Image> {
        sample_fragments(self.fragments(), &[], plan, times, options)
    }
}

/// The images of `times` from `fragments`, of which `floors[i]` leading frames of fragment
/// `i` (none when absent) have had their data dropped: no decoding run starts at or passes
/// through them.
pub(crate) fn sample_fragments(
    fragments: &[Fragment],
    floors: &[usize],
    plan: &Plan,
    times: &[i64],
    options: &SampleOptions,
) -> Vec<Image> {
    let index = Index::new(fragments, floors, plan.selector);
    let (slots, runs) = index.slots(times, options);
    let all = options.decode_all_frames;
    // Each run's frames are cut from the media in its own task: only the runs in progress
    // hold a copy of theirs.
    // The run from the keyframe before is cut only if the run needs it.
    let results = parallel_map(&runs, options.thread_count(), |(start, ids)| {
        index.job(*start, ids, false).execute(plan, all, &|missing| index.fallback(*start, missing))
    });
    fill(slots, &results)
}

/// The samples of `times` from `fragments` (as [`sample_fragments`]) with their decoding
/// runs cut from the media but not decoded yet: [`complete`] decodes them.
pub(crate) fn prepare(
    fragments: &[Fragment],
    floors: &[usize],
    plan: &Plan,
    times: &[i64],
    options: &SampleOptions,
) -> Prepared {
    let index = Index::new(fragments, floors, plan.selector);
    let (slots, runs) = index.slots(times, options);
    let jobs = runs.iter().map(|(start, ids)| index.job(*start, ids, true)).collect();
    Prepared { slots, jobs }
}

/// The images of prepared samples, in order: every decoding run of them on up to
/// [`SampleOptions::threads`] threads at once.
pub(crate) fn complete(prepared: Vec<Prepared>, plan: &Plan, options: &SampleOptions) -> Vec<Image> {
    let jobs: Vec<&Job> = prepared.iter().flat_map(|p| &p.jobs).collect();
    let all = options.decode_all_frames;
    let mut results = parallel_map(&jobs, options.thread_count(), |job| {
        job.execute(plan, all, &|missing| job.fallback(missing))
    })
    .into_iter();
    let mut out = Vec::new();
    for p in prepared {
        let mine: Vec<Option<Rendered>> = results.by_ref().take(p.jobs.len()).collect();
        out.extend(fill(p.slots, &mine));
    }
    out
}

/// Samples whose decoding runs are cut from the media, waiting to be decoded.
pub(crate) struct Prepared {
    slots: Vec<Slot>,
    jobs: Vec<Job>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("samples", &self.slots.len())
            .field("runs", &self.jobs.len())
            .finish()
    }
}

impl Prepared {
    /// How many decoding runs wait.
    pub(crate) fn runs(&self) -> usize {
        self.jobs.len()
    }
}

/// What a sample shows, before decoding.
enum Slot {
    /// No image, or one that is known without decoding.
    Ready(Image),
    /// Frame `id`, which decoding run `run` gives.
    Frame { timestamp_ms: i64, run: usize, id: usize, frame_timestamp_ms: Option<i64> },
}

/// The images (or why none) of a run's frames.
type Rendered = BTreeMap<usize, Result<Bytes, String>>;

/// The images of `slots`, given the results of their runs (`None`: the run failed).
fn fill(slots: Vec<Slot>, results: &[Option<Rendered>]) -> Vec<Image> {
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Ready(image) => image,
            Slot::Frame { timestamp_ms: t, run, id, frame_timestamp_ms } => {
                match results.get(run).map(|r| r.as_ref().map(|r| r.get(&id))) {
                    Some(Some(Some(Ok(bytes)))) => Image {
                        timestamp_ms: t,
                        error: None,
                        content: Some(bytes.clone()),
                        frame_timestamp_ms,
                        detail: None,
                    },
                    Some(Some(Some(Err(why)))) => {
                        Image::missing(t, ImageError::MediaError, Some(why.clone()))
                    }
                    Some(None) => Image::missing(
                        t,
                        ImageError::MediaError,
                        Some("the decoder failed on this media".to_owned()),
                    ),
                    Some(Some(None)) | None => Image::missing(
                        t,
                        ImageError::MediaError,
                        Some("the decoder gave no picture for this frame".to_owned()),
                    ),
                }
            }
        })
        .collect()
}

/// A decoding run cut from the media (its access units copied out), ready to decode
/// anywhere: from keyframe `start` to the last of `ids`, and (when cut with the run before),
/// for the frames that run does not give (an open GOP's leading pictures), once more from
/// the keyframe before.
pub(crate) struct Job {
    /// The codec of the run's keyframe (`None`: nothing to decode).
    codec: Option<VideoCodec>,
    start: usize,
    ids: BTreeSet<usize>,
    /// The access units from the keyframe before `start` (or from `start` when there is
    /// none) to the last of `ids`.
    units: Vec<(usize, Vec<u8>)>,
    /// When `units` starts before `start`: the position of `start` in them, its access unit
    /// with the parameter sets in front, and the codec of the keyframe before.
    own: Option<(usize, Vec<u8>, VideoCodec)>,
}

/// A run from the keyframe before a run's own: its codec and access units.
type Fallback = Option<(VideoCodec, Vec<(usize, Vec<u8>)>)>;

impl Job {
    /// The run from the keyframe before this one's through the last of `missing`, if it was
    /// cut with it.
    fn fallback(&self, missing: &BTreeSet<usize>) -> Fallback {
        let (last, (_, _, codec)) = (missing.last()?, self.own.as_ref()?);
        Some((*codec, self.units.iter().take_while(|u| u.0 <= *last).cloned().collect()))
    }

    /// The images of the run's frames; those it does not give are tried once more over the
    /// run `fallback` gives for them.
    fn execute(
        &self,
        plan: &Plan,
        decode_all: bool,
        fallback: &dyn Fn(&BTreeSet<usize>) -> Fallback,
    ) -> Rendered {
        let mut out = BTreeMap::new();
        let mut error = None;
        if let Some(codec) = self.codec {
            let units: Vec<(usize, Vec<u8>)> = match &self.own {
                None => self.units.clone(),
                Some((pos, head, _)) => std::iter::once((self.start, head.clone()))
                    .chain(self.units.get(pos.saturating_add(1)..).unwrap_or_default().iter().cloned())
                    .collect(),
            };
            error = run(codec, units, &self.ids, plan, decode_all, &mut out);
        }
        let missing: BTreeSet<usize> = self.ids.iter().copied().filter(|id| !out.contains_key(id)).collect();
        if !missing.is_empty()
            && let Some((codec, units)) = fallback(&missing)
        {
            error = run(codec, units, &missing, plan, decode_all, &mut out).or(error);
        }
        for &id in &self.ids {
            out.entry(id).or_insert_with(|| {
                Err(error.clone().unwrap_or_else(|| "the decoder gave no picture for this frame".to_owned()))
            });
        }
        out
    }
}

/// One decoding run over `units` (its frames that no later one refers to left out, unless
/// wanted or `decode_all`), the pictures of `ids` rendered into `out`.
fn run(
    codec: VideoCodec,
    units: Vec<(usize, Vec<u8>)>,
    ids: &BTreeSet<usize>,
    plan: &Plan,
    decode_all: bool,
    out: &mut Rendered,
) -> Option<String> {
    let (units, header_only) =
        if decode_all { (units, BTreeSet::new()) } else { refs::prune(codec, units, ids) };
    let mut sink = |id: usize, picture| {
        let image = render::render(picture, plan.size, plan.format, plan.jpeg_quality).map(Bytes::from);
        out.insert(id, image);
    };
    codec::decode(codec, &units, ids, &header_only, &mut sink)
}

/// A video frame placed on the request's clock.
pub(crate) struct VideoFrame<'a> {
    pub(crate) fragment: usize,
    /// Its position in its fragment's frames.
    pub(crate) pos: usize,
    /// Whether its data is held (not dropped by a streaming sampler).
    decodable: bool,
    pub(crate) frame: &'a Frame,
    pub(crate) time_ns: i64,
    /// Index into `Index::configs`.
    config: usize,
}

/// What a fragment holds for images.
pub(crate) enum Content {
    /// Video frames (ids into `Index::frames`), in presentation order.
    Video(Vec<usize>),
    /// Media that cannot give a picture (why).
    Unusable(String),
}

/// The time a fragment covers, `[start, end)`, ns.
pub(crate) struct Span {
    /// The fragment's index.
    pub(crate) fragment: usize,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) content: Content,
}

enum Choice {
    Frame(usize),
    NoMedia,
    MediaError(String),
}

/// The media of a timeline on one clock.
pub(crate) struct Index<'a> {
    /// Every video frame, in stream (decode) order.
    pub(crate) frames: Vec<VideoFrame<'a>>,
    /// Fragment spans, sorted by start (stream order among equals).
    pub(crate) spans: Vec<Span>,
    configs: Vec<CodecConfig>,
}

/// One millisecond in ns: the shortest time a frame is shown when nothing says more.
const MIN_FRAME_NS: i64 = 1_000_000;

/// The median of the positive differences of sorted times.
fn median_gap(sorted: &[i64]) -> Option<i64> {
    let mut gaps: Vec<i64> =
        sorted.windows(2).filter_map(|w| w.get(1)?.checked_sub(*w.first()?)).filter(|g| *g > 0).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// How long the last of `frames` (by time) is shown: its BlockDuration, else its track's
/// DefaultDuration, else the median frame interval.
fn last_duration(fragment: &Fragment, last: Option<&Frame>, times: &[i64]) -> Option<i64> {
    let last = last?;
    let own = last.duration_ns.filter(|d| *d > 0).or_else(|| {
        fragment.tracks.iter().find(|t| t.number == last.track).and_then(|t| t.default_duration_ns)
    });
    own.and_then(|d| i64::try_from(d).ok()).filter(|d| *d > 0).or_else(|| median_gap(times))
}

impl<'a> Index<'a> {
    pub(crate) fn new(fragments: &'a [Fragment], floors: &[usize], selector: ImageSelector) -> Self {
        let mut index = Self { frames: Vec::new(), spans: Vec::new(), configs: Vec::new() };
        // Spans whose end is unknown yet (filled with the overall median frame interval).
        let mut open: Vec<(usize, i64)> = Vec::new();
        let mut all_gaps: Vec<i64> = Vec::new();
        for (fi, fragment) in fragments.iter().enumerate() {
            let timed: Vec<(i64, &Frame)> = fragment
                .frames
                .iter()
                .filter_map(|f| Some((fragment.time_ns(f.timestamp_ns, selector)?, f)))
                .collect();
            let video = fragment.video_track();
            let floor = floors.get(fi).copied().unwrap_or(0);
            let video_frames: Vec<(i64, &Frame)> = match video {
                Some(t) => timed.iter().filter(|(_, f)| f.track == t.number).copied().collect(),
                None => Vec::new(),
            };
            // Positions of the video frames in the fragment's frames.
            let positions: Vec<usize> = match video {
                Some(t) => fragment
                    .frames
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        f.track == t.number && fragment.time_ns(f.timestamp_ns, selector).is_some()
                    })
                    .map(|(i, _)| i)
                    .collect(),
                None => Vec::new(),
            };
            let (chosen, content) = match (video, video_frames.is_empty()) {
                (Some(track), false) => match CodecConfig::of_track(track) {
                    Ok(config) => {
                        let ci = match index.configs.iter().position(|c| *c == config) {
                            Some(i) => i,
                            None => {
                                index.configs.push(config);
                                index.configs.len().saturating_sub(1)
                            }
                        };
                        let first = index.frames.len();
                        for ((time_ns, frame), &pos) in video_frames.iter().zip(&positions) {
                            index.frames.push(VideoFrame {
                                fragment: fi,
                                pos,
                                decodable: pos >= floor,
                                frame,
                                time_ns: *time_ns,
                                config: ci,
                            });
                        }
                        let mut ids: Vec<usize> = (first..index.frames.len()).collect();
                        ids.sort_by_key(|&id| (index.frames.get(id).map_or(0, |f| f.time_ns), id));
                        (&video_frames, Content::Video(ids))
                    }
                    Err(why) => (&video_frames, Content::Unusable(why)),
                },
                (Some(_), true) if !timed.is_empty() => (
                    &timed,
                    Content::Unusable("no video frame in this fragment, only audio or other media".into()),
                ),
                (None, _) if !timed.is_empty() => {
                    (&timed, Content::Unusable("no video track: the media is audio only or not video".into()))
                }
                _ => continue,
            };
            let mut times: Vec<i64> = chosen.iter().map(|(t, _)| *t).collect();
            times.sort_unstable();
            let (Some(&start), Some(&last_time)) = (times.first(), times.last()) else { continue };
            let last_frame = chosen.iter().filter(|(t, _)| *t == last_time).map(|(_, f)| *f).next_back();
            if matches!(content, Content::Video(_)) {
                all_gaps.extend(times.windows(2).filter_map(|w| w.get(1)?.checked_sub(*w.first()?)));
            }
            let duration = last_duration(fragment, last_frame, &times);
            let end = duration.map(|d| last_time.saturating_add(d));
            if end.is_none() {
                open.push((index.spans.len(), last_time));
            }
            index.spans.push(Span { fragment: fi, start, end: end.unwrap_or(last_time), content });
        }
        all_gaps.retain(|g| *g > 0);
        all_gaps.sort_unstable();
        let fallback = all_gaps.get(all_gaps.len() / 2).copied().unwrap_or(MIN_FRAME_NS);
        for (si, last_time) in open {
            if let Some(span) = index.spans.get_mut(si) {
                span.end = last_time.saturating_add(fallback);
            }
        }
        for span in &mut index.spans {
            span.end = span.end.max(span.start.saturating_add(MIN_FRAME_NS));
        }
        index.spans.sort_by_key(|s| s.start);
        index
    }

    /// The frame sample time `t_ms` shows.
    fn choose(&self, t_ms: i64, keyframes_only: bool) -> Choice {
        let Some(t) = t_ms.checked_mul(1_000_000) else { return Choice::NoMedia };
        let upto = self.spans.partition_point(|s| s.start <= t);
        let Some(si) = (0..upto).rev().find(|&i| self.spans.get(i).is_some_and(|s| t < s.end)) else {
            return Choice::NoMedia;
        };
        let Some(span) = self.spans.get(si) else { return Choice::NoMedia };
        let ids = match &span.content {
            Content::Unusable(why) => return Choice::MediaError(why.clone()),
            Content::Video(ids) => ids,
        };
        let time = |id: &usize| self.frames.get(*id).map_or(i64::MAX, |f| f.time_ns);
        let shown = ids.partition_point(|id| time(id) <= t);
        let before = ids.get(..shown).unwrap_or(&[]);
        if !keyframes_only {
            return before.last().map_or(Choice::NoMedia, |&id| Choice::Frame(id));
        }
        let keyframe = |id: &&usize| self.frames.get(**id).is_some_and(|f| f.frame.keyframe);
        if let Some(&id) = before.iter().rev().find(keyframe) {
            return Choice::Frame(id);
        }
        // Leading pictures before the fragment's first keyframe: the previous fragment's
        // last keyframe, if that fragment runs up to this one.
        let previous = (0..si).rev().find_map(|i| {
            let s = self.spans.get(i)?;
            match &s.content {
                Content::Video(ids) if s.end >= span.start => {
                    let n = ids.partition_point(|id| time(id) <= t);
                    ids.get(..n)?.iter().rev().find(keyframe).copied()
                }
                _ => None,
            }
        });
        previous.map_or(Choice::NoMedia, Choice::Frame)
    }

    /// The last keyframe at or before frame `id` in decode order, with the same codec (and
    /// its data held).
    pub(crate) fn keyframe_before(&self, id: usize) -> Option<usize> {
        let codec = self.configs.get(self.frames.get(id)?.config)?.codec;
        (0..=id).rev().find(|&i| {
            self.frames.get(i).is_some_and(|f| {
                f.decodable
                    && f.frame.keyframe
                    && self.configs.get(f.config).is_some_and(|c| c.codec == codec)
            })
        })
    }

    /// Frames `from..=to` as Annex B access units, parameter sets in front of the first
    /// and of every fragment's first.
    fn units(&self, from: usize, to: usize) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let mut fragment = None;
        for id in from..=to {
            let Some(f) = self.frames.get(id) else { break };
            let Some(config) = self.configs.get(f.config) else { continue };
            let first = fragment != Some(f.fragment);
            fragment = Some(f.fragment);
            out.push((id, config.access_unit(&f.frame.data, first)));
        }
        out
    }

    /// What each of `times` shows, and the decoding runs that give the frames: one per
    /// group of pictures (keyed by its keyframe, with the frames wanted of it).
    fn slots(&self, times: &[i64], options: &SampleOptions) -> (Vec<Slot>, Vec<(usize, BTreeSet<usize>)>) {
        let choices: Vec<Choice> = times.iter().map(|&t| self.choose(t, options.keyframes_only)).collect();
        let mut runs: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for choice in &choices {
            if let Choice::Frame(id) = choice {
                let start = if options.keyframes_only { Some(*id) } else { self.keyframe_before(*id) };
                if let Some(k) = start {
                    runs.entry(k).or_default().insert(*id);
                }
            }
        }
        let runs: Vec<(usize, BTreeSet<usize>)> = runs.into_iter().collect();
        let run_of: BTreeMap<usize, usize> =
            runs.iter().enumerate().flat_map(|(r, (_, ids))| ids.iter().map(move |&id| (id, r))).collect();
        let slots = times
            .iter()
            .zip(choices)
            .map(|(&t, choice)| match choice {
                Choice::NoMedia => Slot::Ready(Image::missing(t, ImageError::NoMedia, None)),
                Choice::MediaError(why) => Slot::Ready(Image::missing(t, ImageError::MediaError, Some(why))),
                Choice::Frame(id) => match run_of.get(&id) {
                    Some(&run) => Slot::Frame {
                        timestamp_ms: t,
                        run,
                        id,
                        frame_timestamp_ms: self.frames.get(id).map(|f| f.time_ns.div_euclid(1_000_000)),
                    },
                    None => Slot::Ready(Image::missing(
                        t,
                        ImageError::MediaError,
                        Some("no keyframe before this frame: it cannot be decoded".to_owned()),
                    )),
                },
            })
            .collect();
        (slots, runs)
    }

    /// The codec of frame `id`.
    fn codec_of(&self, id: usize) -> Option<VideoCodec> {
        Some(self.configs.get(self.frames.get(id)?.config)?.codec)
    }

    /// The run from the keyframe before keyframe `start` through the last of `missing`.
    fn fallback(&self, start: usize, missing: &BTreeSet<usize>) -> Fallback {
        let earlier = start.checked_sub(1).and_then(|i| self.keyframe_before(i))?;
        Some((self.codec_of(earlier)?, self.units(earlier, *missing.last()?)))
    }

    /// The decoding run of the frames `ids` of the group of pictures of keyframe `start`,
    /// cut from the media, and with `before`, the frames from the keyframe before too (for
    /// [`Job::fallback`]).
    fn job(&self, start: usize, ids: &BTreeSet<usize>, before: bool) -> Job {
        let codec = self.codec_of(start);
        let Some(&last) = ids.last() else {
            return Job { codec: None, start, ids: ids.clone(), units: Vec::new(), own: None };
        };
        let earlier = start.checked_sub(1).and_then(|i| self.keyframe_before(i)).filter(|_| before);
        let own = earlier.and_then(|e| {
            let frame = self.frames.get(start)?;
            let head = self.configs.get(frame.config)?.access_unit(&frame.frame.data, true);
            Some((e, head, self.codec_of(e)?))
        });
        match own {
            Some((e, head, fallback)) => {
                let units = self.units(e, last);
                match units.iter().position(|u| u.0 == start) {
                    Some(pos) => {
                        Job { codec, start, ids: ids.clone(), units, own: Some((pos, head, fallback)) }
                    }
                    None => Job { codec, start, ids: ids.clone(), units: self.units(start, last), own: None },
                }
            }
            None => Job { codec, start, ids: ids.clone(), units: self.units(start, last), own: None },
        }
    }
}

/// `f` of each item, on up to `threads` threads (the caller's one included), in the items'
/// order: `None` for an item whose call panicked (the panic goes no further). At most
/// `threads` items are in progress at once.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let call = |item: &T| catch_unwind(AssertUnwindSafe(|| f(item))).ok();
    let workers = threads.min(items.len());
    if workers <= 1 {
        return items.iter().map(call).collect();
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let work = |tx: mpsc::Sender<(usize, R)>| {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            if let Some(result) = call(item)
                && tx.send((i, result)).is_err()
            {
                break;
            }
        }
    };
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 1..workers {
            let tx = tx.clone();
            // A thread that cannot be started leaves its share to the others.
            if let Ok(handle) = std::thread::Builder::new().spawn_scoped(scope, || work(tx)) {
                handles.push(handle);
            }
        }
        work(tx);
        for handle in handles {
            // A worker that panicked gave no result for the item it was on: `None`.
            let _ = handle.join();
        }
    });
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, result) in rx {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(result);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    #[test]
    fn parallel_map_keeps_the_order_and_survives_a_panicking_item() {
        let items: Vec<u32> = (0..50).collect();
        for threads in [0, 1, 2, 3, 64] {
            let out = parallel_map(&items, threads, |&i| {
                assert!(i != 7, "item 7 fails");
                i * 2
            });
            let expected: Vec<Option<u32>> = items.iter().map(|&i| (i != 7).then_some(i * 2)).collect();
            assert_eq!(out, expected, "{threads} threads");
        }
        assert!(parallel_map(&[] as &[u32], 4, |&i| i).is_empty());
    }

    /// How many calls of `parallel_map(items, threads, ..)` were in progress at once, at
    /// most: each call waits (up to 10 s, against a hang) until `threads` calls are.
    fn most_at_once(items: usize, threads: usize) -> usize {
        let state = (Mutex::new((0usize, 0usize)), Condvar::new());
        let items: Vec<usize> = (0..items).collect();
        parallel_map(&items, threads, |_| {
            let (lock, cvar) = &state;
            let mut g = lock.lock().unwrap();
            g.0 += 1;
            g.1 = g.1.max(g.0);
            cvar.notify_all();
            let (mut g, _) = cvar.wait_timeout_while(g, Duration::from_secs(10), |g| g.1 < threads).unwrap();
            g.0 -= 1;
        });
        state.0.lock().unwrap().1
    }

    #[test]
    fn parallel_map_runs_up_to_its_thread_count_at_once() {
        assert_eq!(most_at_once(6, 2), 2);
        assert_eq!(most_at_once(3, 3), 3);
        // Never more than asked for, nor more than there are items.
        assert_eq!(most_at_once(4, 1), 1);
    }
}
