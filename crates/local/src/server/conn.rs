//! The connection loop: accepts connections up to a cap, serves each with hyper's HTTP/1, and
//! closes the ones that hold a descriptor without using it.
//!
//! - **Connection cap** ([`Limits::max_connections`]): the listener accepts a connection only
//!   while fewer than the cap are open. The others wait in the kernel's accept queue (the
//!   listen backlog), not in the server: they hold no descriptor of the server, and each is
//!   accepted, in order, as an open connection closes. A client beyond the cap sees a slow
//!   connect, never a refused one; the timeouts below make sure a slot always frees up.
//! - **Header timeout** ([`Limits::header_timeout`]): a request head (request line and
//!   headers) must arrive within this time, counted from the accept for the first request of
//!   a connection and from the first byte of the head for the later ones, and its body within
//!   as long again. A connection that sends nothing, a partial head or a partial body is
//!   closed when it runs out.
//! - **Idle timeout** ([`Limits::idle_timeout`]): a keep-alive connection with no request in
//!   progress is closed after this long without the first byte of a new request. A response
//!   being sent is never cut by it (a live GetMedia body may be silent for a long time
//!   between fragments), except when the client stops reading: a response whose write has
//!   been blocked (the socket's send buffer full) for the idle timeout is dropped.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::state::Shared;
use crate::api::{ApiError, ServiceErrorKind};

/// The default [`Limits::header_timeout`]: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Limits::idle_timeout`]: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default [`Limits::max_connections`]: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The largest request body read (the operations take small JSON documents): 2 MiB, as axum's
/// default body limit. A larger one is answered 400 `SerializationException`.
pub const MAX_REQUEST_BODY: usize = 2 * 1024 * 1024;

/// How the server treats connections; see [`crate::Builder::header_timeout`],
/// [`crate::Builder::idle_timeout`] and [`crate::Builder::max_connections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a request head may take to arrive, and its body after it (default
    /// [`DEFAULT_HEADER_TIMEOUT`]).
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request (default
    /// [`DEFAULT_IDLE_TIMEOUT`]); also how long a response may wait for a client that does
    /// not read.
    pub idle_timeout: Duration,
    /// The most connections open at once (default [`DEFAULT_MAX_CONNECTIONS`]); the others
    /// wait in the accept queue.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Limits {
    /// The cap as semaphore permits: at least 1, at most what a semaphore (and
    /// `acquire_many`) takes.
    fn permits(&self) -> u32 {
        let max = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        u32::try_from(self.max_connections.clamp(1, max)).unwrap_or(u32::MAX)
    }

    /// How often a busy connection is looked at again.
    fn recheck(&self) -> Duration {
        self.header_timeout.min(self.idle_timeout).max(Duration::from_millis(10))
    }
}

/// Accepts and serves connections until `shutdown` turns true (or its sender is dropped),
/// then waits for the open connections to end (their responses end on shutdown).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let permits_total = limits.permits();
    let slots = Arc::new(Semaphore::new(usize::try_from(permits_total).unwrap_or(1)));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stopped(&mut shutdown) => break,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(connection(
                    stream,
                    tls.clone(),
                    router.clone(),
                    Arc::clone(&shared),
                    limits,
                    shutdown.clone(),
                    permit,
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            // Out of descriptors (EMFILE) or the like: a connection closing frees one.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    drop(listener);
    // Every open connection holds a permit: all of them back means all are closed.
    let _all = slots.acquire_many(permits_total).await;
    Ok(())
}

/// Resolves when the shutdown flag is (or becomes) true, or its sender is gone.
async fn stopped(signal: &mut watch::Receiver<bool>) {
    while !*signal.borrow_and_update() {
        if signal.changed().await.is_err() {
            return;
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection (after a TLS handshake when the server has a certificate), closing
/// it when a timeout of [`Limits`] runs out.
async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    shared: Arc<Shared>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ConnState::new());
    let tracked = Tracked { inner: stream, state: Arc::clone(&state) };
    let Some(acceptor) = tls else {
        return serve_http(tracked, state, router, shared, limits, shutdown, permit).await;
    };
    // The handshake counts as part of the first request's head: it must end within the
    // header timeout. A failed one (a plain-HTTP client, a client that refuses the
    // certificate) just closes the connection.
    let handshake = tokio::select! {
        r = tokio::time::timeout(limits.header_timeout, acceptor.accept(tracked)) => r,
        () = stopped(&mut shutdown) => return,
    };
    if let Ok(Ok(tls_stream)) = handshake {
        serve_http(tls_stream, state, router, shared, limits, shutdown, permit).await;
    }
}

/// Serves HTTP/1 on `io` until the connection ends, a timeout runs out or the server stops.
async fn serve_http<S>(
    io: S,
    state: Arc<ConnState>,
    router: Router,
    shared: Arc<Shared>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = ConnService { router, shared, state: Arc::clone(&state), limits };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        let now = Instant::now();
        let next_check = match state.deadline(&limits) {
            Some(deadline) if deadline <= now => return, // dropping the connection closes it
            Some(deadline) => deadline,
            None => now.checked_add(limits.recheck()).unwrap_or(now),
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(next_check) => {}
            () = stopped(&mut shutdown), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the timeouts look at, for one connection.
#[derive(Debug)]
struct ConnState(Mutex<Activity>);

#[derive(Debug)]
struct Activity {
    /// Requests whose response has not ended (the service was called, the body not dropped).
    active: usize,
    /// When `active` last became 0.
    idle_since: Instant,
    /// When the head of the next request began: the accept for the first request, the first
    /// byte read while idle for the later ones.
    head_started: Option<Instant>,
    /// Since when a write has been waiting for the client to read.
    write_blocked_since: Option<Instant>,
}

impl ConnState {
    fn new() -> Self {
        let now = Instant::now();
        Self(Mutex::new(Activity {
            active: 0,
            idle_since: now,
            head_started: Some(now),
            write_blocked_since: None,
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Activity) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// When the connection must be closed if nothing changes; `None` while a response is
    /// being sent normally.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        self.with(|a| {
            if a.active > 0 {
                a.write_blocked_since.map(|t| t.checked_add(limits.idle_timeout).unwrap_or(t))
            } else if let Some(t) = a.head_started {
                Some(t.checked_add(limits.header_timeout).unwrap_or(t))
            } else {
                Some(a.idle_since.checked_add(limits.idle_timeout).unwrap_or(a.idle_since))
            }
        })
    }

    fn read(&self, n: usize) {
        if n > 0 {
            self.with(|a| {
                if a.active == 0 && a.head_started.is_none() {
                    a.head_started = Some(Instant::now());
                }
            });
        }
    }

    fn write(&self, blocked: bool) {
        self.with(|a| {
            if blocked {
                a.write_blocked_since.get_or_insert_with(Instant::now);
            } else {
                a.write_blocked_since = None;
            }
        });
    }

    fn begin_request(&self) {
        self.with(|a| {
            a.active = a.active.saturating_add(1);
            a.head_started = None;
        });
    }

    fn end_request(&self) {
        self.with(|a| {
            a.active = a.active.saturating_sub(1);
            if a.active == 0 {
                a.idle_since = Instant::now();
                a.write_blocked_since = None;
            }
        });
    }
}

/// The socket, noting reads and blocked writes in the connection's state.
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            self.state.read(buf.filled().len().saturating_sub(before));
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.state.write(poll.is_pending());
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.state.write(poll.is_pending());
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Ends a request's activity when dropped: with the response body (when it is sent, or the
/// connection is gone), or with the request's future.
struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// A response body that holds its request's guard.
struct GuardedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The per-connection service: reads the request body (within the header timeout, at most
/// [`MAX_REQUEST_BODY`]), checks the signature when the server requires one, then routes.
#[derive(Clone)]
struct ConnService {
    router: Router,
    shared: Arc<Shared>,
    state: Arc<ConnState>,
    limits: Limits,
}

/// Why a connection is dropped instead of answered.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(Duration),
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Dropped;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Dropped>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.state.begin_request();
        let guard = RequestGuard(Arc::clone(&self.state));
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let limited = http_body_util::Limited::new(body, MAX_REQUEST_BODY);
            let timeout = this.limits.header_timeout;
            let response = match tokio::time::timeout(timeout, limited.collect()).await {
                Err(_) => return Err(Dropped::BodyTimeout(timeout)),
                Ok(Err(e)) => {
                    let message = if e.is::<http_body_util::LengthLimitError>() {
                        format!("The request body is larger than {MAX_REQUEST_BODY} bytes")
                    } else {
                        format!("Cannot read the request body: {e}")
                    };
                    let request_id = this.shared.request_id();
                    ApiError::new(ServiceErrorKind::Serialization, message).into_response(&request_id)
                }
                Ok(Ok(collected)) => {
                    let body = collected.to_bytes();
                    this.shared.scopes.record(&parts);
                    // The dashboard is read-only and answers without a signature.
                    let exempt = this.shared.dashboard && super::dashboard::is_dashboard_request(&parts);
                    let refused = if exempt { None } else { this.shared.refuse_signature(&parts, &body) };
                    match refused {
                        Some(response) => response,
                        None => {
                            let req = Request::from_parts(parts, Body::from(body));
                            let mut router = this.router;
                            let routed: Result<Response<Body>, Infallible> =
                                tower_service::Service::call(&mut router, req).await;
                            match routed {
                                Ok(r) => r,
                                Err(never) => match never {},
                            }
                        }
                    }
                }
            };
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(parts, Body::new(GuardedBody { inner: body, _guard: guard })))
        })
    }
}
