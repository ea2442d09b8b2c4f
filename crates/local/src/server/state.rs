//! The state every request shares: the streams as served (their fragments rendered once),
//! the counters, the limits on image work, and the stream lookup the operations use.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::response::Response;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::scopes;
use crate::api::{ApiError, ServiceErrorKind, StreamRef};
use kvs_ebml::rng::SplitMix64;

use crate::faults::Faults;
use crate::sigv4::{self, SigV4Credentials};
use crate::source::Source;
use kvs_chunk::{Codec, FragmentNumber, PcmKind, Track};
use kvs_mux::getmedia::{self, RenderError, TagNames};

/// The account id in the ARNs the server makes up.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region in the ARNs the server makes up.
pub const REGION: &str = "us-east-1";

/// What a GetMedia call naming a fragment the stream does not have (`FRAGMENT_NUMBER` or
/// `CONTINUATION_TOKEN` with a well-formed number) gets; likewise a GetMediaForFragmentList
/// call listing one (there the error chunk is the API's exception chunk,
/// `AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE` 4000, in the missing fragment's place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownFragment {
    /// 200 with one in-stream error chunk: `AWS_KINESISVIDEO_ERROR_ID` 4000 ("Requested
    /// fragment is not found") and the requested number as `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    /// The documented meaning of error 4000, and what GetMediaForFragmentList is seen doing.
    #[default]
    ErrorChunk,
    /// 400 `InvalidArgumentException`.
    InvalidArgument,
}

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) streams: HashMap<String, Arc<StreamState>>,
    /// The stream names, sorted (ListStreams).
    pub(super) names: Vec<String>,
    pub(crate) live: bool,
    pub(crate) start: Instant,
    pub(crate) start_epoch_ms: i64,
    pub(crate) faults: Faults,
    pub(super) unknown_fragment: UnknownFragment,
    /// ListFragments: shuffle each listing with this seed (`None`: stream order).
    pub(super) list_shuffle: Option<u64>,
    /// GetMediaForFragmentList: these fragment indexes get an exception chunk.
    pub(super) missing_media: Vec<usize>,
    /// ListFragments: answer the first calls with this error.
    pub(super) fail_list: Option<crate::faults::FailWith>,
    /// ListFragments calls so far.
    pub(super) list_calls: AtomicU64,
    pub(crate) chunk_size: usize,
    pub(super) url: String,
    pub(super) requests: AtomicU64,
    pub(super) cut_requests: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(super) sigv4: Option<SigV4Credentials>,
    /// Decoding slots of GetImages.
    pub(crate) image_jobs: Arc<Semaphore>,
    pub(crate) image_jobs_max: usize,
    /// GetImages calls waiting for a slot.
    pub(crate) image_waiting: AtomicUsize,
    pub(crate) image_queue: usize,
    /// The credential scopes of signed requests.
    pub(crate) scopes: scopes::ScopeLog,
    /// Whether the dashboard is served.
    pub(crate) dashboard: bool,
    /// The dashboard's thumbnails.
    pub(crate) thumbnails: super::dashboard::Thumbnails,
}

impl Shared {
    /// A fresh request id, shaped like a UUID.
    pub(crate) fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut rng = SplitMix64::new(n ^ self.start_epoch_ms.unsigned_abs().rotate_left(17));
        let (a, b) = (rng.next_u64(), rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0x0FFF,
            0x8000 | ((b >> 48) & 0x3FFF),
            b & 0xFFFF_FFFF_FFFF
        )
    }

    /// Checks a request's SigV4 signature when the server requires one: `None` to go on, the
    /// error answer otherwise.
    pub(crate) fn refuse_signature(
        &self,
        parts: &axum::http::request::Parts,
        body: &[u8],
    ) -> Option<Response> {
        let credentials = self.sigv4.as_ref()?;
        let e = sigv4::verify(credentials, parts, body, SystemTime::now()).err()?;
        Some(crate::api::error_response(
            e.type_name(),
            e.status(),
            &e.message(),
            &self.request_id(),
            crate::api::COMMON_ERROR_NAMESPACE,
        ))
    }

    /// The time since the server started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// "Now" in epoch milliseconds, on the server's monotonic clock.
    pub(crate) fn now_epoch_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.start_epoch_ms.saturating_add(elapsed)
    }

    /// The stream a request names.
    pub(super) fn resolve(&self, r: &StreamRef) -> Result<Arc<StreamState>, ApiError> {
        let name = match (&r.stream_name, &r.stream_arn) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid("Specify either StreamName or StreamARN, not both"));
            }
            (None, None) => return Err(ApiError::invalid("StreamName or StreamARN is required")),
            (Some(name), None) => name.as_str(),
            (None, Some(arn)) => {
                stream_name_of_arn(arn).ok_or_else(|| ApiError::invalid(format!("Invalid ARN {arn}")))?
            }
        };
        self.streams.get(name).cloned().ok_or_else(|| {
            ApiError::new(
                ServiceErrorKind::ResourceNotFound,
                format!("The requested stream {name} is not found or not active."),
            )
        })
    }
}

/// The stream name in `arn:PARTITION:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION`, parsed
/// as strictly as the service's StreamARN pattern,
/// `arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+`, with the
/// resource type `stream` and a name of 1 to 256 characters. `None` for anything else (such
/// as `stream/demo/../../etc/passwd/0`, which is not the stream `demo`).
fn stream_name_of_arn(arn: &str) -> Option<&str> {
    fn all(s: &str, ok: fn(u8) -> bool) -> bool {
        !s.is_empty() && s.bytes().all(ok)
    }
    let lower_digit_dash = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (kind, rest) = resource.split_once('/')?;
    let (name, creation) = rest.split_once('/')?;
    let well_formed = arn_ == "arn"
        && all(partition, lower_digit_dash)
        && service == "kinesisvideo"
        && all(region, lower_digit_dash)
        && all(account, |b| b.is_ascii_digit())
        && kind == "stream"
        && name.len() <= 256
        && all(name, |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && all(creation, |b| b.is_ascii_digit());
    well_formed.then_some(name)
}

/// One fragment, ready to send.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) number: FragmentNumber,
    pub(crate) server_ms: i64,
    pub(crate) producer_ms: i64,
    /// Everything up to the closing service tags.
    pub(crate) head: Bytes,
    /// Where in `head` the service tags before the cluster are (GetMediaForFragmentList
    /// sends its own spelling of them there).
    pub(crate) tags: std::ops::Range<usize>,
    /// The fragment's duration, ms (ListFragments' FragmentLengthInMilliseconds).
    pub(crate) duration_ms: u64,
    /// When it becomes available, after the server starts (live mode).
    pub(crate) available_after: Duration,
}

/// The rendered fragments of one source, shared by every stream served from it.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) fragments: Vec<Served>,
    by_number: HashMap<FragmentNumber, usize>,
    creation_time_ms: i64,
    media_type: String,
}

impl Rendered {
    /// Renders every fragment of `source` (shifted to start at `start_epoch_ms` if live).
    pub(super) fn new(source: &Source, live: bool, start_epoch_ms: i64) -> Result<Self, RenderError> {
        let first_server = source.fragments().first().map_or(0, |f| f.server_timestamp_ms);
        // Live: shift every timestamp so that the first fragment arrives as the server starts.
        let shift = if live { start_epoch_ms.saturating_sub(first_server) } else { 0 };
        let mut fragments = Vec::with_capacity(source.fragments().len());
        let mut by_number = HashMap::new();
        let mut latest_offset = 0u64;
        for (i, f) in source.fragments().iter().enumerate() {
            let server_ms = f.server_timestamp_ms.saturating_add(shift);
            let producer_ms = f.producer_timestamp_ms.saturating_add(shift);
            let head = getmedia::fragment_head_with(&f.parts(), TagNames::GetMedia, server_ms, producer_ms)?;
            let offset = u64::try_from(f.server_timestamp_ms.saturating_sub(first_server)).unwrap_or(0);
            latest_offset = latest_offset.max(offset);
            by_number.entry(f.fragment_number.clone()).or_insert(i);
            fragments.push(Served {
                number: f.fragment_number.clone(),
                server_ms,
                producer_ms,
                head: Bytes::from(head.bytes),
                tags: head.service_tags,
                duration_ms: f.duration_ms,
                available_after: if live { Duration::from_millis(latest_offset) } else { Duration::ZERO },
            });
        }
        let creation_time_ms =
            fragments.first().map_or(start_epoch_ms, |f| f.server_ms).saturating_sub(60_000);
        Ok(Self { fragments, by_number, creation_time_ms, media_type: media_type(source) })
    }
}

/// A stream as served: its name and per-stream counters over fragments it may share with
/// other streams of the same source.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) rendered: Arc<Rendered>,
    throttle: Mutex<VecDeque<Instant>>,
    pub(super) calls: AtomicU64,
}

impl std::ops::Deref for StreamState {
    type Target = Rendered;

    fn deref(&self) -> &Rendered {
        &self.rendered
    }
}

impl StreamState {
    pub(super) fn new(name: &str, rendered: Arc<Rendered>) -> Self {
        Self {
            name: name.to_owned(),
            arn: format!("arn:aws:kinesisvideo:{REGION}:{ACCOUNT_ID}:stream/{name}/0"),
            rendered,
            throttle: Mutex::new(VecDeque::new()),
            calls: AtomicU64::new(0),
        }
    }

    /// When the stream was created, epoch ms (a minute before its first fragment).
    pub(super) fn creation_time_ms(&self) -> i64 {
        self.rendered.creation_time_ms
    }

    /// The stream's MediaType.
    pub(super) fn media_type(&self) -> &str {
        &self.rendered.media_type
    }

    /// How many fragments are available `elapsed` after the server started.
    pub(crate) fn available(&self, elapsed: Duration) -> usize {
        self.fragments.partition_point(|f| f.available_after <= elapsed)
    }

    /// The index of a fragment number, if it is available.
    pub(super) fn index_of(&self, number: &str, available: usize) -> Option<usize> {
        self.by_number.get(&FragmentNumber::new(number)).copied().filter(|&i| i < available)
    }

    /// Applies the throttle: whether one more call fits the last second.
    pub(super) fn admit(&self, rate: u32) -> bool {
        let mut window = self.throttle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while window.front().is_some_and(|&t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            window.pop_front();
        }
        if window.len() >= usize::try_from(rate).unwrap_or(usize::MAX) {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// The stream's MediaType from its first track's codec.
fn media_type(source: &Source) -> String {
    let codec = source.fragments().first().and_then(|f| f.tracks.first()).and_then(Track::codec);
    match codec {
        Some(Codec::H264) => "video/h264",
        Some(Codec::H265) => "video/h265",
        Some(Codec::Vp8) => "video/vp8",
        Some(Codec::Vp9) => "video/vp9",
        Some(Codec::Aac) => "audio/aac",
        Some(Codec::Opus) => "audio/opus",
        Some(Codec::Pcm(PcmKind::IntLittle)) => "audio/L16",
        _ => "video/webm",
    }
    .to_owned()
}
