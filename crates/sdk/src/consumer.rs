//! The continuous consumer: GetMedia after GetMedia, each fragment once and in order.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use kvs_chunk::{Event, EventDecoder, Options};
use tokio::time::Instant;
use tracing::Instrument;

use crate::backoff::{Backoff, Jitter};
use crate::client::{KvsClient, MediaPayload};
use crate::error::ConsumerError;
use crate::metrics::Metrics;
use crate::selector::{Position, StartSelector, StreamId};
use crate::tracker::{ConsumerEvent, ErrorPolicy, Granularity, ReconnectReason, Tracker};

/// The default idle timeout: a response that sends no byte for this long is dropped and
/// GetMedia called again.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit of [`MediaConsumerBuilder::max_raw_document_bytes`]: 256 MiB.
pub const DEFAULT_MAX_RAW_DOCUMENT: usize = 256 << 20;

/// What the consumer's stream yields.
pub type ConsumerItem = Result<ConsumerEvent, ConsumerError>;

/// Builds a [`MediaConsumer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MediaConsumerBuilder {
    client: KvsClient,
    stream: StreamId,
    start: StartSelector,
    resume: Option<Position>,
    idle_timeout: Duration,
    backoff: Backoff,
    policy: ErrorPolicy,
    granularity: Granularity,
    reconnect_on_end: bool,
    max_retries: Option<u32>,
    max_without_progress: Option<u32>,
    raw_documents: bool,
    max_raw_document: usize,
    options: Options,
    metrics: Option<Metrics>,
    jitter_seed: Option<u64>,
}

impl MediaConsumerBuilder {
    /// Where to start (default [`StartSelector::Now`]). Ignored after [`Self::resume`].
    pub fn start(mut self, start: StartSelector) -> Self {
        self.start = start;
        self
    }

    /// Continue from a saved position: after its last fragment (which is never delivered
    /// again), or at its original selector if nothing had been delivered.
    pub fn resume(mut self, position: Position) -> Self {
        self.resume = Some(position);
        self
    }

    /// Drop a response that sends no byte for this long and reconnect (default 30 s). The
    /// SDK's own timeouts do not cover a streaming body; this does (and the wait for the
    /// response headers).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The back-off between failed attempts (default 100 ms base, 10 s cap, full jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// What to do with in-stream error chunks (default [`ErrorPolicy::Surface`]).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Yield only complete fragments ([`ConsumerEvent::Fragment`]) instead of events.
    pub fn fragments_only(mut self, yes: bool) -> Self {
        self.granularity = if yes { Granularity::Fragments } else { Granularity::Events };
        self
    }

    /// Whether a response that ends cleanly is followed by another GetMedia call (default
    /// true: a continuous consumer). With false the stream ends at a clean end on a fragment
    /// boundary whose last fragment said it was not behind (millis-behind-now 0 or absent);
    /// a response cut mid-fragment, or one that ended while the service said newer
    /// fragments exist, is still resumed.
    pub fn reconnect_on_end(mut self, yes: bool) -> Self {
        self.reconnect_on_end = yes;
        self
    }

    /// End the stream with [`ConsumerError::RetriesExhausted`] after this many consecutive
    /// attempts without a delivered fragment (default: never).
    pub fn max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }

    /// Give up when this many GetMedia calls in a row complete no new fragment: the stream
    /// then ends with [`ConsumerError::NoProgress`] (default: never). A call counts when it
    /// fails, is throttled, stalls, carries an in-stream error, or ends (cut or not) without
    /// completing a fragment not delivered before; a clean end on a fragment boundary with
    /// the service saying nothing newer exists (an idle live stream, with
    /// [`Self::reconnect_on_end`]) does not count, and any new complete fragment starts the
    /// count again. `Some(0)` counts as `Some(1)`. This ends, for instance, a stream whose
    /// next fragment is cut in every response, which would otherwise be asked for again and
    /// again for ever.
    pub fn max_attempts_without_progress(mut self, attempts: Option<u32>) -> Self {
        self.max_without_progress = attempts.map(|a| a.max(1));
        self
    }

    /// Also yield each delivered fragment's document, byte for byte as the service sent
    /// it, as [`ConsumerEvent::Document`] after the fragment's other items (default false).
    /// A fragment cut mid-way gives none (it comes again, whole, after the resume), and a
    /// fragment received again gives none: the documents concatenated are the stream
    /// without cuts or repeats. The consumer keeps the current document's bytes meanwhile,
    /// up to [`Self::max_raw_document_bytes`].
    pub fn raw_documents(mut self, yes: bool) -> Self {
        self.raw_documents = yes;
        self
    }

    /// The most bytes kept for one document with [`Self::raw_documents`] (default
    /// [`DEFAULT_MAX_RAW_DOCUMENT`]); a larger one ends the stream with
    /// [`ConsumerError::DocumentTooLarge`].
    pub fn max_raw_document_bytes(mut self, bytes: usize) -> Self {
        self.max_raw_document = bytes;
        self
    }

    /// The decoder's options (limits, CRC checks, resynchronisation).
    pub fn decoder_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Count into this handle (to share one across consumers); default a new one.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A fixed seed for the back-off jitter (reproducible tests).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The consumer. Nothing is sent until the stream is first polled.
    #[must_use]
    pub fn build(self) -> MediaConsumer {
        let metrics = self.metrics.unwrap_or_default();
        let position = match self.resume {
            Some(p) => Position { stream: self.stream.clone(), ..p },
            None => Position::new(self.stream.clone(), self.start),
        };
        let shared = Arc::new(Mutex::new((position.clone(), 0)));
        let tracker = Tracker::resume(position, self.granularity, self.policy, metrics.clone());
        let driver = Driver {
            client: self.client,
            stream: self.stream,
            idle: self.idle_timeout,
            backoff: self.backoff,
            policy: self.policy,
            reconnect_on_end: self.reconnect_on_end,
            max_retries: self.max_retries,
            max_without_progress: self.max_without_progress,
            without_progress: 0,
            raw: self.raw_documents.then(|| RawDocs::new(self.max_raw_document)),
            options: self.options,
            jitter: self.jitter_seed.map_or_else(Jitter::from_entropy, Jitter::new),
            metrics: metrics.clone(),
            tracker,
            shared: Arc::clone(&shared),
            published: 0,
            state: State::Connect,
            failures: 0,
            reconnects: 0,
            connections: 0,
            last_call: None,
        };
        MediaConsumer { driver: Some(Box::new(driver)), pending: None, position: shared, metrics }
    }
}

/// A continuous GetMedia consumer: a `Stream` of [`ConsumerEvent`]s.
///
/// It calls GetMedia, feeds each payload chunk to kvs-chunk's decoder as it arrives (no
/// copy), and when the response ends cleanly, breaks, stalls past the idle timeout, is
/// throttled or fails with a 5xx, calls GetMedia again after the last complete fragment
/// (its continuation token), with exponential back-off and at most 5 calls per second per
/// stream. Fragments are delivered exactly once and in order: one cut mid-way is reported
/// ([`ConsumerEvent::FragmentAborted`]) and delivered again in full; one received again is
/// dropped (by numeric fragment number). Terminal errors (`ResourceNotFound`,
/// `NotAuthorized`, `InvalidArgument`, ...) end the stream with that error.
///
/// [`MediaConsumer::position`] is the position after the last item yielded: persist it and
/// resume from it later ([`MediaConsumerBuilder::resume`]).
pub struct MediaConsumer {
    driver: Option<Box<Driver>>,
    #[allow(clippy::type_complexity)] // A boxed future that hands the driver back.
    pending: Option<Pin<Box<dyn Future<Output = (Box<Driver>, Option<ConsumerItem>)> + Send>>>,
    /// The position after the last item yielded, and how many times it has moved.
    position: Arc<Mutex<(Position, u64)>>,
    metrics: Metrics,
}

impl std::fmt::Debug for MediaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConsumer").field("position", &self.position()).finish_non_exhaustive()
    }
}

impl MediaConsumer {
    /// A builder for a consumer of `stream`.
    pub fn builder(client: KvsClient, stream: StreamId) -> MediaConsumerBuilder {
        MediaConsumerBuilder {
            client,
            stream,
            start: StartSelector::Now,
            resume: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            backoff: Backoff::default(),
            policy: ErrorPolicy::default(),
            granularity: Granularity::Events,
            reconnect_on_end: true,
            max_retries: None,
            max_without_progress: None,
            raw_documents: false,
            max_raw_document: DEFAULT_MAX_RAW_DOCUMENT,
            options: Options::default(),
            metrics: None,
            jitter_seed: None,
        }
    }

    /// A builder that resumes from a saved position (its stream, after its last fragment).
    pub fn resume(client: KvsClient, position: Position) -> MediaConsumerBuilder {
        Self::builder(client, position.stream.clone()).resume(position)
    }

    /// The position after the last item yielded.
    #[must_use]
    pub fn position(&self) -> Position {
        self.position.lock().unwrap_or_else(PoisonError::into_inner).0.clone()
    }

    /// How many times [`Self::position`] has moved (once per delivered fragment): a cheap
    /// test of whether the last item completed a fragment.
    #[must_use]
    pub fn position_moves(&self) -> u64 {
        self.position.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// The consumer's counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Only the complete fragments (use with [`MediaConsumerBuilder::fragments_only`]):
    /// other items are skipped; errors end the stream as usual.
    pub fn into_fragments(self) -> LiveFragments {
        LiveFragments { inner: self }
    }
}

impl Stream for MediaConsumer {
    type Item = ConsumerItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let Some(mut driver) = this.driver.take() else { return Poll::Ready(None) };
            this.pending = Some(Box::pin(async move {
                let item = driver.next().await;
                (driver, item)
            }));
        }
        let Some(fut) = this.pending.as_mut() else { return Poll::Ready(None) };
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((driver, item)) => {
                this.pending = None;
                if item.is_some() {
                    this.driver = Some(driver);
                }
                Poll::Ready(item)
            }
        }
    }
}

/// The complete fragments of a [`MediaConsumer`] (see [`MediaConsumer::into_fragments`]).
#[derive(Debug)]
pub struct LiveFragments {
    inner: MediaConsumer,
}

impl LiveFragments {
    /// The position after the last fragment yielded.
    #[must_use]
    pub fn position(&self) -> Position {
        self.inner.position()
    }

    /// The consumer's counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        self.inner.metrics()
    }
}

impl Stream for LiveFragments {
    type Item = Result<kvs_chunk::Fragment, ConsumerError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(ConsumerEvent::Fragment(f)))) => return Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Ok(_))) => {}
            }
        }
    }
}

/// The bytes of the current connection from the open document's start (or the end of the
/// last one), to hand out a delivered fragment's document byte for byte.
struct RawDocs {
    limit: usize,
    /// (offset in the connection, bytes) of each chunk still needed.
    chunks: VecDeque<(u64, Bytes)>,
    /// Bytes fed on this connection.
    fed: u64,
    /// Bytes held in `chunks`.
    held: usize,
    /// Where the open document starts.
    start: Option<u64>,
    /// Bytes before this offset are not needed any more.
    floor: u64,
    /// The open document's fragment was delivered: its bytes are due at its end.
    pending: bool,
}

impl RawDocs {
    fn new(limit: usize) -> Self {
        Self { limit, chunks: VecDeque::new(), fed: 0, held: 0, start: None, floor: 0, pending: false }
    }

    /// A new connection: offsets count from 0 again.
    fn reset(&mut self) {
        *self = Self::new(self.limit);
    }

    fn feed(&mut self, chunk: &Bytes) -> Result<(), ConsumerError> {
        self.chunks.push_back((self.fed, chunk.clone()));
        self.fed = self.fed.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        self.held = self.held.saturating_add(chunk.len());
        self.trim();
        if self.held > self.limit {
            return Err(ConsumerError::DocumentTooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Drops the chunks wholly before the floor.
    fn trim(&mut self) {
        while let Some((start, bytes)) = self.chunks.front() {
            let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            if start.saturating_add(len) > self.floor {
                break;
            }
            self.held = self.held.saturating_sub(bytes.len());
            self.chunks.pop_front();
        }
    }

    fn open(&mut self, offset: u64) {
        self.start = Some(offset);
        self.floor = offset;
        self.pending = false;
        self.trim();
    }

    /// Ends the open document at `end`: its bytes if its fragment was delivered.
    fn close(&mut self, end: u64) -> Option<Bytes> {
        let start = self.start.take()?;
        let out = std::mem::take(&mut self.pending).then(|| self.slice(start, end));
        self.floor = end;
        self.trim();
        out
    }

    /// The bytes at `[from, to)` of the connection (those still held).
    fn slice(&self, from: u64, to: u64) -> Bytes {
        let pieces: Vec<Bytes> = self
            .chunks
            .iter()
            .filter_map(|(start, bytes)| {
                let len = u64::try_from(bytes.len()).ok()?;
                let a = from.max(*start);
                let b = to.min(start.saturating_add(len));
                if a >= b {
                    return None;
                }
                let a = usize::try_from(a.checked_sub(*start)?).ok()?;
                let b = usize::try_from(b.checked_sub(*start)?).ok()?;
                Some(bytes.slice(a..b))
            })
            .collect();
        match pieces.as_slice() {
            [one] => one.clone(),
            _ => {
                let mut out = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
                for p in &pieces {
                    out.extend_from_slice(p);
                }
                out.freeze()
            }
        }
    }
}

/// One open GetMedia response.
struct Connection {
    payload: MediaPayload,
    decoder: EventDecoder,
    span: tracing::Span,
    /// The response ended inside an element.
    truncated: bool,
}

/// What draining a decoder found.
struct Drained {
    /// A fatal decoding error (after the events completed before it).
    fatal: Option<kvs_chunk::Error>,
    /// The input ended inside an element.
    truncated: bool,
}

enum State {
    Connect,
    Wait(Instant),
    Read(Box<Connection>),
    Failed(ConsumerError),
    Done,
}

/// How a connection ended.
enum Ended {
    Clean,
    Idle,
    Failed(ConsumerError),
}

struct Driver {
    client: KvsClient,
    stream: StreamId,
    idle: Duration,
    backoff: Backoff,
    policy: ErrorPolicy,
    reconnect_on_end: bool,
    max_retries: Option<u32>,
    max_without_progress: Option<u32>,
    /// Consecutive calls that completed no new fragment.
    without_progress: u32,
    raw: Option<RawDocs>,
    options: Options,
    jitter: Jitter,
    metrics: Metrics,
    tracker: Tracker,
    shared: Arc<Mutex<(Position, u64)>>,
    published: u64,
    state: State,
    /// Consecutive attempts without a delivered fragment.
    failures: u32,
    reconnects: u64,
    connections: u64,
    last_call: Option<Instant>,
}

impl Driver {
    async fn next(&mut self) -> Option<ConsumerItem> {
        loop {
            if let Some(event) = self.tracker.pop() {
                if self.tracker.commits() != self.published {
                    self.published = self.tracker.commits();
                    let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
                    shared.0.clone_from(self.tracker.position());
                    shared.1 = shared.1.wrapping_add(1);
                }
                return Some(Ok(event));
            }
            self.state = match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return None,
                State::Failed(e) => return Some(Err(e)),
                State::Wait(until) => {
                    tokio::time::sleep_until(until).await;
                    State::Connect
                }
                // Boxed: the SDK call's state (kilobytes) is needed only while connecting,
                // not in every consumer's pending future.
                State::Connect => Box::pin(self.connect()).await,
                State::Read(conn) => self.read(conn).await,
            };
        }
    }

    async fn connect(&mut self) -> State {
        // This consumer's own spacing, on top of the client's per-stream limiter.
        if let Some(last) = self.last_call {
            tokio::time::sleep_until(last.checked_add(Duration::from_millis(200)).unwrap_or(last)).await;
        }
        self.last_call = Some(Instant::now());
        let selector = self.tracker.resume_selector();
        self.connections = self.connections.saturating_add(1);
        let span = tracing::info_span!(
            "get_media",
            stream = %self.stream,
            connection = self.connections,
            selector = %selector,
        );
        let call = self.client.get_media(&self.stream, &selector).instrument(span.clone());
        match tokio::time::timeout(self.idle, call).await {
            Ok(Ok(payload)) => {
                self.metrics.connection();
                if let Some(raw) = &mut self.raw {
                    raw.reset();
                }
                span.in_scope(|| tracing::debug!(content_type = payload.content_type(), "connected"));
                State::Read(Box::new(Connection {
                    payload,
                    decoder: EventDecoder::with_options(self.options),
                    span,
                    truncated: false,
                }))
            }
            Ok(Err(e)) => {
                if e.is_throttle() {
                    self.metrics.throttle();
                    span.in_scope(|| tracing::warn!(error = %e, "throttled"));
                } else {
                    span.in_scope(|| tracing::warn!(error = %e, "GetMedia failed"));
                }
                if !e.is_retryable() {
                    return State::Failed(e);
                }
                self.tracker.end_connection();
                self.schedule(ReconnectReason::Error(Arc::new(e)), false, false)
            }
            Err(_) => {
                self.metrics.idle_timeout();
                self.tracker.end_connection();
                self.schedule(ReconnectReason::IdleTimeout(self.idle), false, false)
            }
        }
    }

    async fn read(&mut self, mut conn: Box<Connection>) -> State {
        let next = conn.payload.next_chunk().instrument(conn.span.clone());
        let ended = match tokio::time::timeout(self.idle, next).await {
            Ok(Ok(Some(chunk))) => {
                self.metrics.add_bytes(chunk.len());
                if let Some(raw) = &mut self.raw
                    && let Err(e) = raw.feed(&chunk)
                {
                    return State::Failed(e);
                }
                conn.decoder.feed(chunk);
                let fatal = self.drain(&mut conn.decoder, false).fatal;
                if let Some(e) = self.tracker.stream_error().cloned() {
                    return self.after(conn, ReconnectReason::InStreamError(e));
                }
                match fatal {
                    Some(e) => Ended::Failed(ConsumerError::Decode(e)),
                    None => return State::Read(conn),
                }
            }
            Ok(Ok(None)) => Ended::Clean,
            Ok(Err(e)) => Ended::Failed(e),
            Err(_) => {
                self.metrics.idle_timeout();
                Ended::Idle
            }
        };
        conn.decoder.finish();
        let drained = self.drain(&mut conn.decoder, true);
        conn.truncated = drained.truncated;
        if let Some(e) = self.tracker.stream_error().cloned() {
            return self.after(conn, ReconnectReason::InStreamError(e));
        }
        let reason = match (ended, drained.fatal) {
            (Ended::Clean, Some(e)) => ReconnectReason::Error(Arc::new(ConsumerError::Decode(e))),
            (Ended::Clean, None) => ReconnectReason::EndOfStream,
            (Ended::Idle, _) => ReconnectReason::IdleTimeout(self.idle),
            (Ended::Failed(e), _) => ReconnectReason::Error(Arc::new(e)),
        };
        self.after(conn, reason)
    }

    /// Moves decoded events into the tracker. At the end of a cut response a truncation is
    /// expected: it is noted, not reported.
    fn drain(&mut self, decoder: &mut EventDecoder, finishing: bool) -> Drained {
        let mut out = Drained { fatal: None, truncated: false };
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => self.push(event),
                Ok(None) => return out,
                Err(e) if e.is_recoverable() => {
                    self.metrics.decode_error();
                    tracing::warn!(error = %e, "malformed element skipped");
                }
                Err(e) if finishing && e.is_eof() => out.truncated = true,
                Err(e) => {
                    self.metrics.decode_error();
                    tracing::warn!(error = %e, "malformed payload");
                    out.fatal = Some(e);
                }
            }
        }
    }

    /// Passes an event to the tracker, and with raw documents, follows the documents' byte
    /// ranges and queues a delivered fragment's document after its end.
    fn push(&mut self, event: Event) {
        let Some(raw) = &mut self.raw else {
            self.tracker.push(event);
            return;
        };
        let end = match &event {
            Event::DocumentStart { offset, .. } => {
                raw.open(*offset);
                None
            }
            Event::DocumentEnd { end, .. } => Some(*end),
            _ => None,
        };
        let before = self.tracker.fragments_delivered();
        self.tracker.push(event);
        if self.tracker.fragments_delivered() != before {
            raw.pending = true;
        }
        if let Some(end) = end
            && let Some(bytes) = raw.close(end)
        {
            self.tracker.push_notice(ConsumerEvent::Document { bytes });
        }
    }

    /// After a connection: end, fail, or schedule the next one.
    fn after(&mut self, conn: Box<Connection>, reason: ReconnectReason) -> State {
        let span = conn.span.clone();
        let truncated = conn.truncated;
        drop(conn);
        // A delivered fragment whose document the decoder did not close (the response ended
        // right after its last tag): its bytes run to the end of the response.
        if let Some(raw) = &mut self.raw
            && let Some(bytes) = raw.close(raw.fed)
        {
            self.tracker.push_notice(ConsumerEvent::Document { bytes });
        }
        let summary = self.tracker.end_connection();
        let _entered = span.enter();
        if let ReconnectReason::InStreamError(e) = &reason
            && self.policy == ErrorPolicy::Fail
        {
            return State::Failed(ConsumerError::InStream(e.clone()));
        }
        // A clean end on a fragment boundary, with the service saying nothing newer exists.
        let caught_up = summary.millis_behind_now.is_none_or(|m| m == 0);
        if matches!(reason, ReconnectReason::EndOfStream)
            && !summary.cut
            && !truncated
            && caught_up
            && !self.reconnect_on_end
        {
            tracing::debug!(delivered = summary.delivered, "response ended; not reconnecting");
            return State::Done;
        }
        let waiting =
            matches!(reason, ReconnectReason::EndOfStream) && !summary.cut && !truncated && caught_up;
        let reason = match reason {
            ReconnectReason::EndOfStream if summary.cut || truncated => ReconnectReason::Cut,
            other => other,
        };
        self.schedule(reason, summary.delivered > 0, waiting)
    }

    /// Queues a `Reconnecting` event and waits out the back-off. `waiting`: the call ended
    /// cleanly with nothing newer to read (it does not count against the give-up rule).
    fn schedule(&mut self, reason: ReconnectReason, progress: bool, waiting: bool) -> State {
        if progress {
            self.failures = 0;
            self.without_progress = 0;
        } else if !waiting {
            self.without_progress = self.without_progress.saturating_add(1);
        }
        if let Some(max) = self.max_without_progress
            && self.without_progress >= max
        {
            tracing::warn!(attempts = self.without_progress, %reason, "giving up: no progress");
            return State::Failed(ConsumerError::NoProgress {
                attempts: self.without_progress,
                after: self.tracker.last_fragment_number().map(str::to_owned),
                last: reason.to_string(),
            });
        }
        // A clean end after progress reconnects at once; anything else backs off.
        if !(progress && matches!(reason, ReconnectReason::EndOfStream)) {
            self.failures = self.failures.saturating_add(1);
        }
        if let Some(max) = self.max_retries
            && self.failures > max
        {
            let last = match reason {
                ReconnectReason::Error(e) => {
                    Arc::try_unwrap(e).unwrap_or_else(|e| ConsumerError::Transport(e.to_string().into()))
                }
                ReconnectReason::IdleTimeout(d) => ConsumerError::IdleTimeout(d),
                ReconnectReason::InStreamError(e) => ConsumerError::InStream(e),
                r @ (ReconnectReason::EndOfStream | ReconnectReason::Cut) => {
                    ConsumerError::Transport(format!("{r}, and no fragment completed").into())
                }
            };
            return State::Failed(ConsumerError::RetriesExhausted {
                attempts: self.failures,
                last: Box::new(last),
            });
        }
        let delay = self.backoff.delay(self.failures, &mut self.jitter);
        self.reconnects = self.reconnects.saturating_add(1);
        self.metrics.reconnect();
        tracing::info!(attempt = self.reconnects, %reason, delay_ms = delay.as_millis(), "reconnecting");
        self.tracker.push_notice(ConsumerEvent::Reconnecting { attempt: self.reconnects, reason, delay });
        State::Wait(Instant::now().checked_add(delay).unwrap_or_else(Instant::now))
    }
}
