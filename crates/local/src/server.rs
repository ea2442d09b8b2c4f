//! The HTTP server: the builder, the running server, the three operations.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use kvs_chunk::{Codec, FragmentNumber, PcmKind, Track};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::{
    API_NAMES, ApiError, GetDataEndpointRequest, GetMediaRequest, ServiceErrorKind, StartSelector, StreamRef,
    insert_request_id,
};
use crate::body::{MediaBody, Start};
use crate::faults::{self, Faults, SplitMix64};
use crate::render::{self, RenderError};
use crate::sigv4::{self, SigV4Credentials};
use crate::source::Source;

pub(crate) mod conn;
mod images;
mod scopes;
mod tls;

pub use conn::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Limits, MAX_REQUEST_BODY,
};
pub use scopes::{CredentialScope, MAX_RECORDED_SCOPES};
pub use tls::{TlsConfig, TlsError};

/// The account id in the ARNs the server makes up.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region in the ARNs the server makes up.
pub const REGION: &str = "us-east-1";
/// The default size of the HTTP chunks a GetMedia body is sent in.
pub const DEFAULT_CHUNK_SIZE: usize = 32 * 1024;
/// The default number of GetImages calls waiting for a decoding slot (beyond
/// [`Builder::max_image_jobs`] running) before more are refused: 32.
pub const DEFAULT_IMAGE_QUEUE: usize = 32;

/// The default [`Builder::max_image_jobs`]: the number of CPUs the process may use (1 if
/// unknown).
#[must_use]
pub fn default_image_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// What a GetMedia call naming a fragment the stream does not have (`FRAGMENT_NUMBER` or
/// `CONTINUATION_TOKEN` with a well-formed number) gets.
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

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// A fragment could not be written.
    #[error("stream {stream}: {source}")]
    Render {
        /// The stream.
        stream: String,
        /// Why.
        source: RenderError,
    },
    /// Two streams have the same name.
    #[error("stream {0} is given twice")]
    DuplicateStream(String),
    /// A stream name is not 1 to 256 of `[a-zA-Z0-9_.-]`, as the service requires.
    #[error("invalid stream name {0:?}: use 1 to 256 of a-z, A-Z, 0-9, '_', '.', '-'")]
    InvalidStreamName(String),
}

/// The entry point: `LocalKvs::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct LocalKvs;

impl LocalKvs {
    /// A builder with no stream, not live, no faults.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Configures and starts a server.
#[derive(Debug, Clone)]
pub struct Builder {
    streams: Vec<(String, Source)>,
    live: bool,
    faults: Faults,
    unknown_fragment: UnknownFragment,
    chunk_size: usize,
    advertised_url: Option<String>,
    limits: Limits,
    sigv4: Option<SigV4Credentials>,
    image_jobs: usize,
    image_queue: usize,
    tls: Option<TlsConfig>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            streams: Vec::new(),
            live: false,
            faults: Faults::default(),
            unknown_fragment: UnknownFragment::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            advertised_url: None,
            limits: Limits::default(),
            sigv4: None,
            image_jobs: default_image_jobs(),
            image_queue: DEFAULT_IMAGE_QUEUE,
            tls: None,
        }
    }
}

impl Builder {
    /// Adds a stream.
    #[must_use]
    pub fn stream(mut self, name: impl Into<String>, source: Source) -> Self {
        self.streams.push((name.into(), source));
        self
    }

    /// Live mode: every stream starts when the server starts, and each fragment becomes
    /// available when its (shifted) server timestamp comes; see the crate documentation.
    #[must_use]
    pub fn live(mut self, on: bool) -> Self {
        self.live = on;
        self
    }

    /// The faults to inject.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// What a call naming an unknown fragment gets.
    #[must_use]
    pub fn unknown_fragment(mut self, answer: UnknownFragment) -> Self {
        self.unknown_fragment = answer;
        self
    }

    /// The largest HTTP chunk of a GetMedia body, at least 1 byte (default
    /// [`DEFAULT_CHUNK_SIZE`]); each fragment is sent in chunks of at most this size.
    #[must_use]
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// The URL GetDataEndpoint answers with, instead of `http://` + the bound address.
    #[must_use]
    pub fn advertised_url(mut self, url: impl Into<String>) -> Self {
        self.advertised_url = Some(url.into());
        self
    }

    /// How long a request head may take to arrive (counted from the accept for a
    /// connection's first request, from the head's first byte for the later ones), and its
    /// body after it; a connection that sends nothing, a partial head or a partial body is
    /// closed when it runs out (default [`DEFAULT_HEADER_TIMEOUT`], 10 s; at least 1 ms). See
    /// [`Limits`].
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a keep-alive connection may wait for its next request before it is closed
    /// (default [`DEFAULT_IDLE_TIMEOUT`], 60 s; at least 1 ms). A response being sent (a long
    /// or live GetMedia body) is never cut by it, unless the client has read nothing of it
    /// for this long. See [`Limits`].
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most connections open at once (default [`DEFAULT_MAX_CONNECTIONS`], 512; at least
    /// 1). Connections beyond it wait in the listen backlog, holding no descriptor of the
    /// server, and are accepted as others close. See [`Limits`].
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// All three connection limits at once (header timeout, idle timeout, connection cap), with
    /// the same floors as the single setters.
    #[must_use]
    pub fn limits(self, limits: Limits) -> Self {
        self.header_timeout(limits.header_timeout)
            .idle_timeout(limits.idle_timeout)
            .max_connections(limits.max_connections)
    }

    /// Requires every request to be signed (AWS Signature Version 4) with these credentials;
    /// see [`crate::sigv4`] for what is checked and the errors. Off by default: a local
    /// server answers anyone.
    #[must_use]
    pub fn require_sigv4(mut self, credentials: SigV4Credentials) -> Self {
        self.sigv4 = Some(credentials);
        self
    }

    /// The most GetImages calls decoding at once (default [`default_image_jobs`], the number
    /// of CPUs; at least 1). Calls beyond it wait for a slot, up to [`Builder::image_queue`]
    /// of them.
    #[must_use]
    pub fn max_image_jobs(mut self, jobs: usize) -> Self {
        self.image_jobs = jobs.max(1);
        self
    }

    /// How many GetImages calls may wait for a decoding slot (default
    /// [`DEFAULT_IMAGE_QUEUE`], 32); a call that finds the queue full is answered 400
    /// `ClientLimitExceededException` at once, as the service answers calls over its limits.
    #[must_use]
    pub fn image_queue(mut self, waiting: usize) -> Self {
        self.image_queue = waiting;
        self
    }

    /// Serves HTTPS with this certificate and key instead of plain HTTP: the URL (and what
    /// GetDataEndpoint answers) becomes `https://`. The TLS handshake must end within the
    /// header timeout.
    #[must_use]
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Binds the address (`"127.0.0.1:0"` for any free port) and starts serving on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ServeError`] if a stream is invalid or the address cannot be bound.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<RunningServer, ServeError> {
        let start = Instant::now();
        let start_epoch_ms = epoch_ms_now();
        let mut streams = HashMap::new();
        for (name, source) in &self.streams {
            if !valid_stream_name(name) {
                return Err(ServeError::InvalidStreamName(name.clone()));
            }
            if streams.contains_key(name) {
                return Err(ServeError::DuplicateStream(name.clone()));
            }
            let state = StreamState::new(name, source, self.live, start_epoch_ms)
                .map_err(|source| ServeError::Render { stream: name.clone(), source })?;
            streams.insert(name.clone(), Arc::new(state));
        }
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let url = self.advertised_url.clone().unwrap_or_else(|| url_for(scheme, local_addr));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            streams,
            live: self.live,
            start,
            start_epoch_ms,
            faults: self.faults,
            unknown_fragment: self.unknown_fragment,
            chunk_size: self.chunk_size,
            url: url.clone(),
            requests: AtomicU64::new(0),
            cut_requests: AtomicU64::new(0),
            shutdown: shutdown_rx.clone(),
            sigv4: self.sigv4.clone(),
            image_jobs: Arc::new(Semaphore::new(self.image_jobs.clamp(1, Semaphore::MAX_PERMITS))),
            image_jobs_max: self.image_jobs,
            image_waiting: AtomicUsize::new(0),
            image_queue: self.image_queue,
            scopes: scopes::ScopeLog::default(),
        });
        let app = Router::new()
            .route("/getDataEndpoint", post(get_data_endpoint))
            .route("/describeStream", post(describe_stream))
            .route("/getMedia", post(get_media))
            .route("/getImages", post(images::get_images))
            .fallback(unknown_operation)
            .with_state(Arc::clone(&shared));
        let acceptor = self.tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server));
        let serve = conn::serve(listener, app, Arc::clone(&shared), self.limits, acceptor, shutdown_rx);
        let task = tokio::spawn(serve);
        Ok(RunningServer { local_addr, url, shutdown: shutdown_tx, task: Some(task), shared })
    }
}

/// A stream name as the service accepts it.
fn valid_stream_name(name: &str) -> bool {
    (1..=256).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `http://` or `https://` + the address, with an unspecified IP (`0.0.0.0`, `::`) replaced by
/// loopback.
fn url_for(scheme: &str, addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        other => other,
    };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// The wall clock in epoch milliseconds.
fn epoch_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// A server that is running; dropping it stops it (as [`RunningServer::shutdown`] does,
/// without waiting).
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    url: String,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    shared: Arc<Shared>,
}

impl RunningServer {
    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's URL (`http://127.0.0.1:PORT`, `https://` with [`Builder::tls`]): the
    /// endpoint URL for the SDK or the CLI, and what GetDataEndpoint answers.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The ARN of a stream (`arn:aws:kinesisvideo:us-east-1:000000000000:stream/NAME/0`).
    #[must_use]
    pub fn stream_arn(&self, name: &str) -> Option<&str> {
        self.shared.streams.get(name).map(|s| s.arn.as_str())
    }

    /// The fragments a stream serves, in order: number and the server and producer
    /// timestamps it reports (shifted to the wall clock in live mode).
    #[must_use]
    pub fn fragments(&self, name: &str) -> Option<Vec<FragmentInfo>> {
        let s = self.shared.streams.get(name)?;
        Some(
            s.fragments
                .iter()
                .map(|f| FragmentInfo {
                    fragment_number: f.number.clone(),
                    server_timestamp_ms: f.server_ms,
                    producer_timestamp_ms: f.producer_ms,
                    available_after: f.available_after,
                })
                .collect(),
        )
    }

    /// How many GetMedia calls a stream has had (accepted or not, throttled ones included).
    #[must_use]
    pub fn get_media_calls(&self, name: &str) -> Option<u64> {
        self.shared.streams.get(name).map(|s| s.calls.load(Ordering::Relaxed))
    }

    /// The SigV4 credential scope (access key id, date, region, service) of each signed
    /// request so far, oldest first; the latest [`MAX_RECORDED_SCOPES`] are kept. Recorded
    /// whether or not [`Builder::require_sigv4`] is on, so a test can see which credentials
    /// and region a client picked.
    #[must_use]
    pub fn credential_scopes(&self) -> Vec<CredentialScope> {
        self.shared.scopes.snapshot()
    }

    /// Stops accepting connections, ends the responses in progress, and waits (at most 5 s)
    /// for the server to stop.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err()
        {
            task.abort();
        }
    }

    /// Waits until the server stops (after [`RunningServer::shutdown`] from elsewhere, or an
    /// error); for a command-line server, with a signal handler around it.
    ///
    /// # Errors
    ///
    /// The server's I/O error, if it failed.
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// A fragment as a server serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// The fragment number.
    pub fragment_number: String,
    /// The server timestamp, epoch ms.
    pub server_timestamp_ms: i64,
    /// The producer timestamp, epoch ms.
    pub producer_timestamp_ms: i64,
    /// When it becomes available after the server starts (zero unless live).
    pub available_after: Duration,
}

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    streams: HashMap<String, Arc<StreamState>>,
    pub(crate) live: bool,
    pub(crate) start: Instant,
    pub(crate) start_epoch_ms: i64,
    pub(crate) faults: Faults,
    unknown_fragment: UnknownFragment,
    pub(crate) chunk_size: usize,
    url: String,
    requests: AtomicU64,
    cut_requests: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
    sigv4: Option<SigV4Credentials>,
    /// Decoding slots of GetImages.
    pub(crate) image_jobs: Arc<Semaphore>,
    pub(crate) image_jobs_max: usize,
    /// GetImages calls waiting for a slot.
    pub(crate) image_waiting: AtomicUsize,
    pub(crate) image_queue: usize,
    /// The credential scopes of signed requests.
    pub(crate) scopes: scopes::ScopeLog,
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
    fn resolve(&self, r: &StreamRef) -> Result<Arc<StreamState>, ApiError> {
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
    pub(crate) number: String,
    pub(crate) server_ms: i64,
    pub(crate) producer_ms: i64,
    /// Everything up to the closing service tags.
    pub(crate) head: Bytes,
    /// When it becomes available, after the server starts (live mode).
    pub(crate) available_after: Duration,
}

/// A stream as served.
#[derive(Debug)]
pub(crate) struct StreamState {
    name: String,
    arn: String,
    creation_time_ms: i64,
    media_type: String,
    pub(crate) fragments: Vec<Served>,
    by_number: HashMap<FragmentNumber, usize>,
    throttle: Mutex<VecDeque<Instant>>,
    calls: AtomicU64,
}

impl StreamState {
    fn new(name: &str, source: &Source, live: bool, start_epoch_ms: i64) -> Result<Self, RenderError> {
        let first_server = source.fragments().first().map_or(0, |f| f.server_timestamp_ms);
        // Live: shift every timestamp so that the first fragment arrives as the server starts.
        let shift = if live { start_epoch_ms.saturating_sub(first_server) } else { 0 };
        let mut fragments = Vec::with_capacity(source.fragments().len());
        let mut by_number = HashMap::new();
        let mut latest_offset = 0u64;
        for (i, f) in source.fragments().iter().enumerate() {
            let server_ms = f.server_timestamp_ms.saturating_add(shift);
            let producer_ms = f.producer_timestamp_ms.saturating_add(shift);
            let head = render::fragment_head(f, server_ms, producer_ms)?;
            let offset = u64::try_from(f.server_timestamp_ms.saturating_sub(first_server)).unwrap_or(0);
            latest_offset = latest_offset.max(offset);
            by_number.entry(FragmentNumber::new(f.fragment_number.as_str())).or_insert(i);
            fragments.push(Served {
                number: f.fragment_number.clone(),
                server_ms,
                producer_ms,
                head: Bytes::from(head),
                available_after: if live { Duration::from_millis(latest_offset) } else { Duration::ZERO },
            });
        }
        let creation_time_ms =
            fragments.first().map_or(start_epoch_ms, |f| f.server_ms).saturating_sub(60_000);
        Ok(Self {
            name: name.to_owned(),
            arn: format!("arn:aws:kinesisvideo:{REGION}:{ACCOUNT_ID}:stream/{name}/0"),
            creation_time_ms,
            media_type: media_type(source),
            fragments,
            by_number,
            throttle: Mutex::new(VecDeque::new()),
            calls: AtomicU64::new(0),
        })
    }

    /// How many fragments are available `elapsed` after the server started.
    pub(crate) fn available(&self, elapsed: Duration) -> usize {
        self.fragments.partition_point(|f| f.available_after <= elapsed)
    }

    /// The index of a fragment number, if it is available.
    fn index_of(&self, number: &str, available: usize) -> Option<usize> {
        self.by_number.get(&FragmentNumber::new(number)).copied().filter(|&i| i < available)
    }

    /// Applies the throttle: whether one more call fits the last second.
    fn admit(&self, rate: u32) -> bool {
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

/// A JSON 200 answer with a request id.
fn json_ok(value: &serde_json::Value, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_request_id(response.headers_mut(), request_id);
    response
}

/// Parses a JSON body, answering `SerializationException` for one that is not.
fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(ServiceErrorKind::Serialization, format!("Cannot parse the request body: {e}"))
    })
}

/// `POST /getDataEndpoint`: this server's URL, for every stream it has.
async fn get_data_endpoint(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    let answer = (|| -> Result<serde_json::Value, ApiError> {
        let req: GetDataEndpointRequest = parse_body(&body)?;
        let api = req.api_name.as_deref().ok_or_else(|| ApiError::invalid("APIName is required"))?;
        if !API_NAMES.contains(&api) {
            return Err(ApiError::invalid(format!("Invalid APIName {api}")));
        }
        shared.resolve(&req.stream)?;
        Ok(serde_json::json!({ "DataEndpoint": shared.url }))
    })();
    match answer {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// `POST /describeStream`.
async fn describe_stream(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    let answer = (|| -> Result<serde_json::Value, ApiError> {
        let req: StreamRef = parse_body(&body)?;
        let s = shared.resolve(&req)?;
        #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit f64 exactly
        let creation = s.creation_time_ms as f64 / 1000.0;
        Ok(serde_json::json!({
            "StreamInfo": {
                "CreationTime": creation,
                "DataRetentionInHours": 24,
                "DeviceName": "kvs-local",
                "KmsKeyId": format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/aws/kinesisvideo"),
                "MediaType": s.media_type,
                "Status": "ACTIVE",
                "StreamARN": s.arn,
                "StreamName": s.name,
                "Version": "1",
            }
        }))
    })();
    match answer {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// Any other path.
async fn unknown_operation(State(shared): State<Arc<Shared>>) -> Response {
    let request_id = shared.request_id();
    ApiError::new(ServiceErrorKind::UnknownOperation, "Unknown operation").into_response(&request_id)
}

/// `POST /getMedia`.
async fn get_media(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    match start_media(&shared, &body) {
        Ok(start) => {
            let cut = random_cut(&shared, start_total(&start));
            let media = MediaBody::new(Arc::clone(&shared), start, cut);
            let mut response = Response::new(media.into_body());
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("video/webm"));
            insert_request_id(response.headers_mut(), &request_id);
            response
        }
        Err(e) => e.into_response(&request_id),
    }
}

/// Everything a GetMedia response would send, for the random cut.
fn start_total(start: &Start) -> u64 {
    match start {
        Start::Fragments { stream, index } => {
            let heads: usize =
                stream.fragments.iter().skip(*index).map(|f| f.head.len().saturating_add(180)).sum();
            u64::try_from(heads).unwrap_or(u64::MAX)
        }
        Start::Error(chunk) => u64::try_from(chunk.len()).unwrap_or(u64::MAX),
    }
}

/// The cut point of `--cut-random` for this request; `None` (sent whole) with probability
/// `1 - cut_probability`.
fn random_cut(shared: &Shared, total: u64) -> Option<u64> {
    let seed = shared.faults.cut_random?;
    let n = shared.cut_requests.fetch_add(1, Ordering::Relaxed);
    let mut rng = faults::SplitMix64::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next_u64();
    let cut = 1u64.saturating_add(rng.below(total.saturating_sub(1)));
    let p = shared.faults.cut_probability;
    // With the default 1.0 nothing more is drawn: the cut points stay as they were.
    if p >= 1.0 || p.is_nan() || rng.chance(p) { Some(cut) } else { None }
}

/// Validates a GetMedia call and finds where it starts.
fn start_media(shared: &Shared, body: &Bytes) -> Result<Start, ApiError> {
    let req: GetMediaRequest = parse_body(body)?;
    let stream = shared.resolve(&req.stream)?;
    let call = stream.calls.fetch_add(1, Ordering::Relaxed);
    if let Some(rate) = shared.faults.throttle_rate
        && !stream.admit(rate)
    {
        return Err(ApiError::new(
            ServiceErrorKind::ConnectionLimitExceeded,
            format!("Exceeded the limit of {rate} GetMedia calls per second on stream {}", stream.name),
        ));
    }
    if let Some(fail) = shared.faults.fail_with
        && fail.first_calls.is_none_or(|n| call < n)
    {
        return Err(ApiError::new(fail.error, format!("Injected {} (call {call})", fail.error)));
    }
    let selector = StartSelector::parse(req.start_selector.as_ref())?;
    let available = stream.available(shared.elapsed()).max(1);
    let last = available.saturating_sub(1);
    let after = |number: &str, what: &str| -> Result<Start, ApiError> {
        match stream.index_of(number, available) {
            Some(i) => Ok(Start::Fragments { stream: Arc::clone(&stream), index: i.saturating_add(1) }),
            None => match shared.unknown_fragment {
                UnknownFragment::InvalidArgument => Err(ApiError::invalid(format!(
                    "{what} {number} is not a fragment of stream {}",
                    stream.name
                ))),
                UnknownFragment::ErrorChunk => {
                    render::error_chunk(Some(number), 4000, render::error_description(4000))
                        .map(|chunk| Start::Error(Bytes::from(chunk)))
                        .map_err(|e| ApiError::invalid(e.to_string()))
                }
            },
        }
    };
    let at = |index: usize| Ok(Start::Fragments { stream: Arc::clone(&stream), index });
    match selector {
        StartSelector::Now => at(last),
        StartSelector::Earliest => at(0),
        StartSelector::FragmentNumber(n) => after(&n, "AfterFragmentNumber"),
        StartSelector::ContinuationToken(t) => after(&t, "ContinuationToken"),
        StartSelector::ServerTimestamp(ts) => {
            at(stream.fragments.iter().take(available).rposition(|f| f.server_ms <= ts).unwrap_or(0))
        }
        StartSelector::ProducerTimestamp(ts) => {
            at(stream.fragments.iter().take(available).rposition(|f| f.producer_ms <= ts).unwrap_or(0))
        }
    }
}
