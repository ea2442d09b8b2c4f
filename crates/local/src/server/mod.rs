//! The HTTP server: the builder and the running server's handle. The state every request
//! shares is in `state`, the operations in `handlers` (GetImages in `images`, ListFragments
//! and GetMediaForFragmentList in `archive`), a GetMedia (or GetMediaForFragmentList) response
//! body in `body`, the connection handling in `conn`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::post;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::faults::{FailWith, Faults};
use crate::sigv4::SigV4Credentials;
use crate::source::Source;
use kvs_mux::getmedia::RenderError;

mod archive;
mod body;
pub(crate) mod conn;
mod dashboard;
mod handlers;
mod images;
mod scopes;
mod state;
mod streams;
mod tls;

use handlers::{describe_stream, get_data_endpoint, get_media, unknown_operation};
use state::{Rendered, Shared, StreamState};

pub use conn::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Limits, MAX_REQUEST_BODY,
};
pub use scopes::{CredentialScope, MAX_RECORDED_SCOPES};
pub use state::{ACCOUNT_ID, REGION, UnknownFragment};
pub use tls::{TlsConfig, TlsError};

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
    list_shuffle: Option<u64>,
    missing_media: Vec<usize>,
    fail_list: Option<FailWith>,
    chunk_size: usize,
    advertised_url: Option<String>,
    limits: Limits,
    sigv4: Option<SigV4Credentials>,
    image_jobs: usize,
    image_queue: usize,
    tls: Option<TlsConfig>,
    dashboard: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            streams: Vec::new(),
            live: false,
            faults: Faults::default(),
            unknown_fragment: UnknownFragment::default(),
            list_shuffle: None,
            missing_media: Vec::new(),
            fail_list: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            advertised_url: None,
            limits: Limits::default(),
            sigv4: None,
            image_jobs: default_image_jobs(),
            image_queue: DEFAULT_IMAGE_QUEUE,
            tls: None,
            dashboard: true,
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

    /// ListFragments answers in an order shuffled with this seed (the same for the same
    /// request and seed, pages included) instead of the stream's order: the service promises
    /// no order ("Results are in no specific order, even across pages"), so a client must
    /// sort, and this tests that it does.
    #[must_use]
    pub fn shuffle_list_fragments(mut self, seed: u64) -> Self {
        self.list_shuffle = Some(seed);
        self
    }

    /// GetMediaForFragmentList answers these fragments (0-based indexes in their stream, every
    /// stream) with an exception chunk (code 4000, as for a fragment the stream does not
    /// have) instead of their media, while ListFragments still lists them: media the
    /// archive lost, for testing that a reader reports it and goes on.
    #[must_use]
    pub fn missing_media(mut self, indexes: impl IntoIterator<Item = usize>) -> Self {
        self.missing_media.extend(indexes);
        self
    }

    /// Answers ListFragments calls with an error: the first `first_calls` calls to the server
    /// (all of them with `None`), counted over every stream. The [`Faults`] apply to the
    /// media calls only; this is ListFragments' own.
    #[must_use]
    pub fn fail_list_fragments(mut self, fail: FailWith) -> Self {
        self.fail_list = Some(fail);
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
    /// of them. The dashboard's thumbnails and reports ([`Builder::dashboard`]) decode in the
    /// same slots.
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

    /// The dashboard (on by default): a read-only HTML page at `GET /` showing every stream's
    /// live thumbnail, fragment rate, lag and faults, updated by server-sent events
    /// (`GET /dashboard/events`), with the same numbers at `GET /dashboard/state.json`. It
    /// answers `GET` only and needs no signature, even with [`Builder::require_sigv4`]: anyone
    /// who can reach the address can read it. `false` leaves it out (`GET /` is then an
    /// unknown operation, as for any other path).
    #[must_use]
    pub fn dashboard(mut self, on: bool) -> Self {
        self.dashboard = on;
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
        // Clones of one source are rendered once (the shift is the same for all: one start).
        let mut rendered: HashMap<usize, Arc<Rendered>> = HashMap::new();
        for (name, source) in &self.streams {
            if !valid_stream_name(name) {
                return Err(ServeError::InvalidStreamName(name.clone()));
            }
            if streams.contains_key(name) {
                return Err(ServeError::DuplicateStream(name.clone()));
            }
            let shared = match rendered.get(&source.fragments_id()) {
                Some(r) => Arc::clone(r),
                None => {
                    let r = Rendered::new(source, self.live, start_epoch_ms)
                        .map_err(|source| ServeError::Render { stream: name.clone(), source })?;
                    let r = Arc::new(r);
                    rendered.insert(source.fragments_id(), Arc::clone(&r));
                    r
                }
            };
            streams.insert(name.clone(), Arc::new(StreamState::new(name, shared)));
        }
        let mut names: Vec<String> = streams.keys().cloned().collect();
        names.sort_unstable();
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let url = self.advertised_url.clone().unwrap_or_else(|| url_for(scheme, local_addr));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            streams,
            names,
            live: self.live,
            start,
            start_epoch_ms,
            faults: self.faults,
            unknown_fragment: self.unknown_fragment,
            list_shuffle: self.list_shuffle,
            missing_media: self.missing_media.clone(),
            fail_list: self.fail_list,
            list_calls: AtomicU64::new(0),
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
            dashboard: self.dashboard,
            thumbnails: dashboard::Thumbnails::default(),
        });
        let app = Router::new()
            .route("/getDataEndpoint", post(get_data_endpoint))
            .route("/describeStream", post(describe_stream))
            .route("/listStreams", post(streams::list_streams))
            .route("/getMedia", post(get_media))
            .route("/getImages", post(images::get_images))
            .route("/listFragments", post(archive::list_fragments))
            .route("/getMediaForFragmentList", post(archive::get_media_for_fragment_list));
        let app = if self.dashboard { dashboard::routes(app) } else { app };
        let app = app.fallback(unknown_operation).with_state(Arc::clone(&shared));
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

    /// The dashboard's URL (the server's URL + `/`), if [`Builder::dashboard`] is on.
    #[must_use]
    pub fn dashboard_url(&self) -> Option<String> {
        self.shared.dashboard.then(|| format!("{}/", self.url))
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

    /// The stream names, sorted.
    #[must_use]
    pub fn stream_names(&self) -> &[String] {
        &self.shared.names
    }

    /// How many distinct sets of rendered fragments the server holds: one per source, however
    /// many names serve clones of it.
    #[must_use]
    pub fn rendered_sources(&self) -> usize {
        let mut seen: Vec<*const state::Rendered> =
            self.shared.streams.values().map(|s| Arc::as_ptr(&s.rendered)).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Whether two streams serve the same rendered fragments (`None` if either is unknown).
    #[must_use]
    pub fn shares_fragments(&self, a: &str, b: &str) -> Option<bool> {
        let (a, b) = (self.shared.streams.get(a)?, self.shared.streams.get(b)?);
        Some(Arc::ptr_eq(&a.rendered, &b.rendered))
    }

    /// How many GetMedia and GetMediaForFragmentList calls a stream has had (accepted or not,
    /// throttled ones included).
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
    /// The fragment number (a report for callers, as the service writes it).
    pub fragment_number: kvs_chunk::FragmentNumber,
    /// The server timestamp, epoch ms.
    pub server_timestamp_ms: i64,
    /// The producer timestamp, epoch ms.
    pub producer_timestamp_ms: i64,
    /// When it becomes available after the server starts (zero unless live).
    pub available_after: Duration,
}
