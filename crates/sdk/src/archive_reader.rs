//! The archive reader: a stream and a time range in, every fragment of the range out, in
//! order, once; with ListFragments listed ahead window by window, GetMediaForFragmentList
//! batches fetched concurrently, retries that never lose or repeat a fragment, a position
//! to resume from, and an optional handover to the live stream.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use kvs_chunk::{ErrorChunk, Event, EventDecoder, Fragment, FragmentAssembler, FragmentNumber, Options};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::archive::{
    DEFAULT_ARCHIVE_CALL_INTERVAL, FragmentClock, FragmentInfo, FragmentSelector, ListFragmentsRequest,
    MAX_FRAGMENTS_PER_CALL, sort_fragments,
};
use crate::backoff::{Backoff, Jitter};
use crate::client::KvsClient;
use crate::consumer::{DEFAULT_IDLE_TIMEOUT, MediaConsumer};
use crate::error::ConsumerError;
use crate::limiter::RateLimiter;
use crate::metrics::Metrics;
use crate::selector::{StartSelector, StreamId};
use crate::tracker::ConsumerEvent;

/// The default listing window of [`ArchiveReaderBuilder::window`]: one hour of the clock.
pub const DEFAULT_ARCHIVE_WINDOW: Duration = Duration::from_secs(3600);
/// The default of [`ArchiveReaderBuilder::batch_fragments`].
pub const DEFAULT_BATCH_FRAGMENTS: usize = 100;
/// The default of [`ArchiveReaderBuilder::batch_bytes`]: 64 MiB.
pub const DEFAULT_BATCH_BYTES: u64 = 64 << 20;
/// The default of [`ArchiveReaderBuilder::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 2;
/// The default of [`ArchiveReaderBuilder::page_size`] (ListFragments `MaxResults`).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// What an [`ArchiveReader`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum ArchiveItem {
    /// Listing progress: fragments and bytes (their `FragmentSizeInBytes`) listed so far,
    /// and whether the listing of the whole range is complete. Sent after each listing
    /// window.
    Listed {
        /// Fragments listed so far (those a resumed reader skips are not counted).
        fragments: u64,
        /// The sum of their listed sizes.
        bytes: u64,
        /// Whether every window of the range has been listed.
        complete: bool,
    },
    /// One archived fragment, in order, once.
    Fragment {
        /// How ListFragments described it.
        info: FragmentInfo,
        /// The fragment as assembled from the GetMediaForFragmentList payload (its frames
        /// are slices of the received bytes, unless [`ArchiveReaderBuilder::frames`] is off).
        fragment: Fragment,
        /// With [`ArchiveReaderBuilder::raw_documents`]: the fragment's MKV document, byte
        /// for byte as the service sent it.
        document: Option<Bytes>,
    },
    /// A listed fragment the service sent as an exception chunk instead of media (e.g.
    /// code 4000, not found). It counts as delivered: the reader goes on after it.
    Missing {
        /// How ListFragments described it.
        info: FragmentInfo,
        /// The exception.
        error: ErrorChunk,
    },
    /// A failed, cut or throttled call is retried after `delay`.
    Retrying {
        /// The attempt of this call (1 for the first retry).
        attempt: u32,
        /// Why.
        reason: String,
        /// The back-off delay (the rate limit may add to it).
        delay: Duration,
    },
    /// After the range, with [`ArchiveReaderBuilder::follow`]: the live stream's items
    /// (`ConsumerEvent::Fragment`, `ConsumerEvent::Reconnecting`, ...; with raw documents
    /// the `ConsumerEvent::Document` of each fragment too).
    Live(ConsumerEvent),
    /// The archive part is complete (the last archived fragment was delivered): how many
    /// fragments ([`ArchiveItem::Fragment`]s) were delivered, and the sum of their listed
    /// sizes. With `follow(true)` live items follow.
    ArchiveEnd {
        /// Fragments delivered from the archive.
        fragments: u64,
        /// The sum of their listed sizes.
        bytes: u64,
    },
}

/// The fragment last delivered: enough to continue right after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveCheckpoint {
    /// Its fragment number.
    pub fragment_number: String,
    /// Its producer timestamp, epoch ms.
    pub producer_timestamp_ms: i64,
    /// Its server timestamp, epoch ms.
    pub server_timestamp_ms: i64,
}

impl ArchiveCheckpoint {
    /// The checkpoint of a listed fragment.
    #[must_use]
    pub fn of(info: &FragmentInfo) -> Self {
        Self {
            fragment_number: info.fragment_number.as_str().to_owned(),
            producer_timestamp_ms: info.producer_timestamp_ms,
            server_timestamp_ms: info.server_timestamp_ms,
        }
    }

    /// Its timestamp on `clock`.
    #[must_use]
    pub fn timestamp_ms(&self, clock: FragmentClock) -> i64 {
        match clock {
            FragmentClock::Producer => self.producer_timestamp_ms,
            FragmentClock::Server => self.server_timestamp_ms,
        }
    }

    /// Whether `f` sorts at or before this checkpoint (by the clock, then the number).
    fn covers(&self, f: &FragmentInfo, clock: FragmentClock) -> bool {
        let mine = (self.timestamp_ms(clock), FragmentNumber::new(self.fragment_number.as_str()));
        (f.timestamp_ms(clock), f.fragment_number.clone()) <= mine
    }
}

/// Where an archive read is: the stream and range, and the fragment last delivered. It
/// serialises with serde (JSON); give it to [`ArchiveReaderBuilder::resume`] to continue
/// right after `last`.
///
/// Archived fragments ([`ArchiveItem::Fragment`], [`ArchiveItem::Missing`]) set `last` to
/// their listed number and timestamps. With [`ArchiveReaderBuilder::follow`], each live
/// fragment ([`ArchiveItem::Live`] of a `ConsumerEvent::Fragment`) sets it too, from the
/// fragment's own tags (`AWS_KINESISVIDEO_FRAGMENT_NUMBER` and the server and producer
/// timestamps): a position saved during the live part resumes after that fragment just
/// the same (the rest of the range is listed from its timestamp, then live again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivePosition {
    /// The stream's name or ARN, as given.
    pub stream: String,
    /// The selector's clock.
    pub clock: FragmentClock,
    /// The range's first millisecond.
    pub start_ms: i64,
    /// The range's last millisecond (included).
    pub end_ms: i64,
    /// The fragment last delivered, if any.
    pub last: Option<ArchiveCheckpoint>,
}

/// Builds an [`ArchiveReader`]; see there.
#[derive(Debug, Clone)]
#[must_use]
pub struct ArchiveReaderBuilder {
    client: KvsClient,
    stream: StreamId,
    selector: FragmentSelector,
    max_in_flight: usize,
    batch_fragments: usize,
    batch_bytes: u64,
    page_size: u32,
    window: Duration,
    max_window_fragments: usize,
    raw_documents: bool,
    frames: bool,
    resume: Option<ArchivePosition>,
    follow: bool,
    backoff: Backoff,
    max_retries: Option<u32>,
    call_interval: Duration,
    options: Options,
    jitter_seed: Option<u64>,
    idle_timeout: Duration,
    metrics: Option<Metrics>,
}

impl ArchiveReaderBuilder {
    /// How many GetMediaForFragmentList calls may be in flight at once (default 2; 0
    /// counts as 1). Their fragments are still delivered in order.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The most fragments per GetMediaForFragmentList call (default 100; clamped to
    /// 1..=1000).
    pub fn batch_fragments(mut self, n: usize) -> Self {
        self.batch_fragments = n.clamp(1, MAX_FRAGMENTS_PER_CALL);
        self
    }

    /// The most listed bytes (`FragmentSizeInBytes`) per call (default 64 MiB); a larger
    /// fragment goes alone in its call.
    pub fn batch_bytes(mut self, bytes: u64) -> Self {
        self.batch_bytes = bytes.max(1);
        self
    }

    /// ListFragments `MaxResults` (default 1000; clamped to 1..=1000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 1000);
        self
    }

    /// The listing window (default one hour of the selector's clock; at least 1 ms): the
    /// range is listed, sorted and fetched one window at a time, the next window listed
    /// while the current one is fetched. A fragment belongs to the window holding its
    /// start timestamp. The length adapts: after an empty window the next one is twice as
    /// long (so a range starting years before the stream's first fragment costs a few dozen
    /// ListFragments calls), after a window with fragments it is this length again.
    pub fn window(mut self, d: Duration) -> Self {
        self.window = d.max(Duration::from_millis(1));
        self
    }

    /// The most fragments one listing window may hold (default 100,000, about 15 MB of
    /// listing; at least 1): a denser window is listed again in halves, down to 1 ms.
    pub fn max_window_fragments(mut self, n: usize) -> Self {
        self.max_window_fragments = n.max(1);
        self
    }

    /// Keep each fragment's MKV document, byte for byte (default false): see
    /// [`ArchiveItem::Fragment::document`].
    pub fn raw_documents(mut self, yes: bool) -> Self {
        self.raw_documents = yes;
        self
    }

    /// Keep the frames of each fragment (default true); false assembles summaries only
    /// (`FragmentAssembler::without_frames`: stats, tags, metadata).
    pub fn frames(mut self, yes: bool) -> Self {
        self.frames = yes;
        self
    }

    /// Continue after the last fragment of a saved position (which is not delivered
    /// again). The range stays the builder's.
    pub fn resume(mut self, position: ArchivePosition) -> Self {
        self.resume = Some(position);
        self
    }

    /// After the last archived fragment, when the range ends in the future, continue with
    /// the live stream (a [`MediaConsumer`] after the last delivered fragment) until a
    /// fragment starts after the range's end (default false).
    pub fn follow(mut self, yes: bool) -> Self {
        self.follow = yes;
        self
    }

    /// The back-off between failed attempts (default 100 ms base, 10 s cap, full jitter).
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Give up after this many consecutive attempts of one call without progress (no new
    /// fragment): the stream then ends with [`ConsumerError::RetriesExhausted`] (the last
    /// attempt failed) or [`ConsumerError::NoProgress`] (its response was cut). `None`
    /// (the default) never gives up. Errors that a retry cannot cure (not found, not
    /// authorised, invalid argument) end the stream at once.
    pub fn max_retries(mut self, n: Option<u32>) -> Self {
        self.max_retries = n;
        self
    }

    /// The least time between two ListFragments calls, and between two
    /// GetMediaForFragmentList calls, of this reader (default
    /// [`DEFAULT_ARCHIVE_CALL_INTERVAL`], 5 calls a second of each).
    pub fn call_interval(mut self, d: Duration) -> Self {
        self.call_interval = d;
        self
    }

    /// The decoder's options.
    pub fn decoder_options(mut self, o: Options) -> Self {
        self.options = o;
        self
    }

    /// A fixed seed for the back-off jitter (reproducible tests).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Drop a call that sends no byte for this long, and retry it (default 30 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Count into this handle (default a new one).
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The reader. Nothing is sent until it is first polled.
    #[must_use]
    pub fn build(self) -> ArchiveReader {
        let metrics = self.metrics.clone().unwrap_or_default();
        let clock = self.selector.clock();
        let last = self.resume.as_ref().and_then(|p| p.last.clone());
        let position = ArchivePosition {
            stream: self.stream.as_str().to_owned(),
            clock,
            start_ms: self.selector.start_ms(),
            end_ms: self.selector.end_ms(),
            last: last.clone(),
        };
        let position = Arc::new(Mutex::new(position));
        let seed = self.jitter_seed.unwrap_or_else(|| Jitter::from_entropy().next_u64());
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX).max(1);
        let first = last
            .as_ref()
            .map_or(self.selector.start_ms(), |c| c.timestamp_ms(clock).max(self.selector.start_ms()));
        let shared = Arc::new(Shared {
            client: self.client,
            stream: self.stream,
            clock,
            backoff: self.backoff,
            max_retries: self.max_retries,
            page_size: self.page_size,
            max_window_fragments: self.max_window_fragments,
            frames: self.frames,
            raw: self.raw_documents,
            options: self.options,
            idle: self.idle_timeout,
            list_limiter: RateLimiter::new(self.call_interval),
            media_limiter: RateLimiter::new(self.call_interval),
            metrics: metrics.clone(),
        });
        let driver = Driver {
            shared,
            selector: self.selector,
            follow: self.follow,
            max_in_flight: self.max_in_flight,
            batch_fragments: self.batch_fragments,
            batch_bytes: self.batch_bytes,
            seed,
            tasks_started: 0,
            position: Arc::clone(&position),
            out: VecDeque::new(),
            phase: Phase::Archive,
            windows: Windows::new(first, self.selector.end_ms(), window_ms),
            lister: None,
            listing_complete: false,
            pending: VecDeque::new(),
            ahead: None,
            inflight: VecDeque::new(),
            skip: last.clone(),
            last_number: last.map(|c| FragmentNumber::new(c.fragment_number)),
            listed_until: first.saturating_sub(1),
            listing: None,
            listed: (0, 0),
            delivered: (0, 0),
        };
        ArchiveReader { driver: Some(Box::new(driver)), pending: None, position, metrics }
    }
}

/// Reads a time range of a stream's archive: every fragment of the range, in timestamp
/// order (the selector's clock, then the fragment number), each exactly once.
///
/// It lists the range with ListFragments one window at a time (a window of the clock,
/// default one hour; the next window is listed while the current one is fetched), sorts
/// each window, and fetches its fragments with GetMediaForFragmentList in batches (up to
/// [`ArchiveReaderBuilder::batch_fragments`] fragments and
/// [`ArchiveReaderBuilder::batch_bytes`] listed bytes), up to
/// [`ArchiveReaderBuilder::max_in_flight`] calls at once, each fragment assembled with
/// kvs-chunk's `FragmentAssembler` (frames are slices of the received bytes: no copy). The
/// items are delivered in order, whichever call finishes first.
///
/// A call that fails, is throttled, stalls or is cut is retried from its first fragment
/// not yet complete (fragments already complete are kept, never delivered twice), with
/// exponential back-off and full jitter, and the calls of each API are spaced by
/// [`ArchiveReaderBuilder::call_interval`]. A fragment is complete when the next document
/// of the response starts, or at the response's clean end for the last fragment asked
/// for (the payload of this API carries no continuation token): a response ending early
/// makes its last document suspect, and it is fetched again. (What this cannot see: a
/// response that ends cleanly, without a transport error, exactly between two clusters of
/// the last fragment asked for; the API has no end marker. A document that ends before
/// its first cluster is refused.) A fragment the service sends as an exception chunk comes
/// as [`ArchiveItem::Missing`].
///
/// [`ArchiveReader::position`] is the last delivered fragment: save it (serde) and give it
/// to [`ArchiveReaderBuilder::resume`] to continue after it, nothing lost or repeated.
///
/// The range's listing stops at the current time: a range ending in the future lists what
/// exists when each window is listed. With [`ArchiveReaderBuilder::follow`] the reader then
/// hands over to the live stream ([`MediaConsumer`] after the last delivered fragment,
/// fragments already delivered dropped) until a fragment starts after the range's end.
///
/// # Memory
///
/// - Listing: one [`FragmentInfo`] per listed fragment, about 150 bytes (the struct, 56
///   bytes, and its fragment number, about 48 digits, on the heap), for at most two windows
///   (the one being fetched and the one listed ahead): at 1 fragment a second and 1 h
///   windows, about 2 x 3600 x 150 B = 1 MB.
/// - Fetching: each call in flight holds its response until its fragments are delivered:
///   at most `max_in_flight x max(batch_bytes, the largest fragment)` bytes of media (with
///   [`ArchiveReaderBuilder::raw_documents`] a document spanning two network chunks is
///   copied: up to twice that). With the defaults, 2 x 64 MiB.
///
/// The calls run as tokio tasks: poll the reader inside a tokio runtime (as the AWS SDK
/// needs anyway). Dropping the reader aborts them (calls in flight, the listing ahead).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use kvs_sdk::{ArchiveItem, ArchiveReader, FragmentClock, FragmentSelector, KvsClient, StreamId};
///
/// # async fn run(client: KvsClient) -> Result<(), Box<dyn std::error::Error>> {
/// let range = FragmentSelector::new(FragmentClock::Server, 1_700_000_000_000, 1_700_003_600_000)?;
/// let mut reader = ArchiveReader::builder(client, StreamId::name("cam"), range)
///     .max_in_flight(4)
///     .raw_documents(true)
///     .build();
/// while let Some(item) = reader.next().await {
///     match item? {
///         ArchiveItem::Fragment { info, fragment, document } => {
///             println!("{} {} frames", info.fragment_number, fragment.frames.len());
///             let _bytes = document; // the fragment's MKV document, byte for byte
///         }
///         ArchiveItem::Missing { info, error } => eprintln!("{}: {:?}", info.fragment_number, error.id),
///         _ => {}
///     }
///     // Persist this to resume later with `.resume(position)`.
///     let _saved = serde_json::to_string(&reader.position())?;
/// }
/// # Ok(())
/// # }
/// ```
pub struct ArchiveReader {
    driver: Option<Box<Driver>>,
    #[allow(clippy::type_complexity)] // A boxed future that hands the driver back.
    pending: Option<Pin<Box<dyn Future<Output = (Box<Driver>, Option<ReaderItem>)> + Send>>>,
    position: Arc<Mutex<ArchivePosition>>,
    metrics: Metrics,
}

type ReaderItem = Result<ArchiveItem, ConsumerError>;

impl std::fmt::Debug for ArchiveReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader").field("position", &self.position()).finish_non_exhaustive()
    }
}

impl ArchiveReader {
    /// A builder for a reader of `selector`'s range of `stream`.
    pub fn builder(client: KvsClient, stream: StreamId, selector: FragmentSelector) -> ArchiveReaderBuilder {
        ArchiveReaderBuilder {
            client,
            stream,
            selector,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            batch_fragments: DEFAULT_BATCH_FRAGMENTS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            page_size: DEFAULT_PAGE_SIZE,
            window: DEFAULT_ARCHIVE_WINDOW,
            max_window_fragments: MAX_WINDOW_FRAGMENTS,
            raw_documents: false,
            frames: true,
            resume: None,
            follow: false,
            backoff: Backoff::default(),
            max_retries: None,
            call_interval: DEFAULT_ARCHIVE_CALL_INTERVAL,
            options: Options::default(),
            jitter_seed: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            metrics: None,
        }
    }

    /// The position after the last fragment delivered (archived or live).
    #[must_use]
    pub fn position(&self) -> ArchivePosition {
        self.position.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The reader's counters: bytes received, fragments and frames delivered, calls
    /// (`connections`), retries (`reconnects`), throttles, exception chunks
    /// (`stream_errors`), decoding errors; the live part counts into the same handle.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Stream for ArchiveReader {
    type Item = ReaderItem;

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

/// What the tasks share.
struct Shared {
    client: KvsClient,
    stream: StreamId,
    clock: FragmentClock,
    backoff: Backoff,
    max_retries: Option<u32>,
    page_size: u32,
    max_window_fragments: usize,
    frames: bool,
    raw: bool,
    options: Options,
    idle: Duration,
    list_limiter: RateLimiter,
    media_limiter: RateLimiter,
    metrics: Metrics,
}

/// A spawned task and the channel of its messages; dropping it aborts the task.
struct Task<M> {
    rx: mpsc::UnboundedReceiver<M>,
    handle: JoinHandle<()>,
}

impl<M: Send + 'static> Task<M> {
    fn spawn<F, Fut>(f: F) -> Self
    where
        F: FnOnce(mpsc::UnboundedSender<M>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { rx, handle: tokio::spawn(f(tx)) }
    }
}

impl<M> Drop for Task<M> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// A listing task's messages.
#[allow(clippy::large_enum_variant)] // Few, each moved once.
enum ListMsg {
    Retrying(ArchiveItem),
    /// The window holds more than `Shared::max_window_fragments`: list it in halves.
    TooMany,
    Done(Vec<FragmentInfo>),
    Failed(ConsumerError),
}

/// A batch task's messages, in order.
#[allow(clippy::large_enum_variant)] // Nearly all are items; boxing would add an allocation each.
enum BatchMsg {
    Item(ArchiveItem),
    Failed(ConsumerError),
}

/// The most fragments one listing window may hold before it is split: a window the
/// listing finds denser than this is listed again in halves, so the listing held in memory
/// stays under about `MAX_WINDOW_FRAGMENTS` x 150 B (15 MB) whatever the range.
pub const MAX_WINDOW_FRAGMENTS: usize = 100_000;

/// The non-overlapping windows `[s, s + len - 1]` of `[start, end]`, in order, of a length
/// that adapts to what the listing finds: after an empty window the next is twice as long
/// (a range reaching years back over an empty stream takes a few dozen calls, not one per
/// hour), after a window with fragments it is the base length again, and a window found
/// too dense is listed again at half the length ([`Windows::retry_shorter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Windows {
    next: Option<i64>,
    end: i64,
    base: i64,
    len: i64,
}

impl Windows {
    pub(crate) fn new(start: i64, end: i64, len: i64) -> Self {
        let len = len.max(1);
        Self { next: (start <= end).then_some(start), end, base: len, len }
    }

    /// The start of the next window, if any.
    pub(crate) fn peek(&self) -> Option<i64> {
        self.next
    }

    /// What the listing of the window last returned found: nothing (`empty`) doubles the
    /// next window's length, fragments bring it back to the base length.
    pub(crate) fn found(&mut self, empty: bool) {
        self.len = if empty { self.len.saturating_mul(2) } else { self.base };
    }

    /// The window starting at `start` held too many fragments: the next window starts
    /// there again, half as long (at least 1 ms; the base length shrinks with it, so a
    /// dense stretch is not listed whole again after the next window).
    pub(crate) fn retry_shorter(&mut self, start: i64, len: i64) {
        self.len = (len / 2).max(1);
        self.base = self.base.min(self.len);
        self.next = (start <= self.end).then_some(start);
    }
}

impl Iterator for Windows {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        let start = self.next?;
        let last = start.saturating_add(self.len.saturating_sub(1)).min(self.end);
        self.next = if last >= self.end { None } else { last.checked_add(1) };
        Some((start, last))
    }
}

/// Splits a sorted listing into batches of consecutive fragments: at most `max_fragments`
/// each, and at most `max_bytes` of listed size unless one fragment alone is larger.
pub(crate) fn batches(
    list: Vec<FragmentInfo>,
    max_fragments: usize,
    max_bytes: u64,
) -> VecDeque<Vec<FragmentInfo>> {
    let mut out = VecDeque::new();
    let mut current: Vec<FragmentInfo> = Vec::new();
    let mut bytes = 0u64;
    for f in list {
        let over = current.len() >= max_fragments || bytes.saturating_add(f.size_bytes) > max_bytes;
        if !current.is_empty() && over {
            out.push_back(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes = bytes.saturating_add(f.size_bytes);
        current.push(f);
    }
    if !current.is_empty() {
        out.push_back(current);
    }
    out
}

enum Phase {
    Archive,
    Live(Box<Live>),
    Done,
}

struct Live {
    consumer: MediaConsumer,
    /// The last fragment delivered dropped: drop its document too.
    dropped: bool,
}

struct Driver {
    shared: Arc<Shared>,
    selector: FragmentSelector,
    follow: bool,
    max_in_flight: usize,
    batch_fragments: usize,
    batch_bytes: u64,
    seed: u64,
    tasks_started: u64,
    position: Arc<Mutex<ArchivePosition>>,
    out: VecDeque<ReaderItem>,
    phase: Phase,
    windows: Windows,
    lister: Option<Task<ListMsg>>,
    listing_complete: bool,
    /// The batches of the window being fetched, not yet started.
    pending: VecDeque<Vec<FragmentInfo>>,
    /// The batches of the next window, listed ahead.
    ahead: Option<VecDeque<Vec<FragmentInfo>>>,
    inflight: VecDeque<Task<BatchMsg>>,
    /// Resume: fragments at or before this are not delivered again.
    skip: Option<ArchiveCheckpoint>,
    /// The highest fragment number delivered (to drop live repeats).
    last_number: Option<FragmentNumber>,
    /// The listing covers the range up to this millisecond (the end of the last window
    /// listed, or the time its listing started if that was earlier).
    listed_until: i64,
    /// The window being listed and `listed_until` before it (to list it again in halves).
    listing: Option<(i64, i64, i64)>,
    /// (fragments, bytes) listed.
    listed: (u64, u64),
    /// (fragments, bytes) delivered.
    delivered: (u64, u64),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Driver {
    fn next_seed(&mut self) -> u64 {
        self.tasks_started = self.tasks_started.wrapping_add(1);
        Jitter::new(self.seed ^ self.tasks_started.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
    }

    async fn next(&mut self) -> Option<ReaderItem> {
        loop {
            if let Some(item) = self.out.pop_front() {
                if item.is_err() {
                    self.stop();
                }
                self.deliver(item.as_ref().ok());
                return Some(item);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Archive => self.archive_step().await,
                Phase::Live(_) => return self.live_step().await,
            }
        }
    }

    /// Ends everything (after an error).
    fn stop(&mut self) {
        self.phase = Phase::Done;
        self.lister = None;
        self.inflight.clear();
        self.pending.clear();
        self.ahead = None;
    }

    /// Updates the position and counters for an item about to be yielded.
    fn deliver(&mut self, item: Option<&ArchiveItem>) {
        let checkpoint = match item {
            Some(ArchiveItem::Fragment { info, fragment, .. }) => {
                self.shared.metrics.fragment(None);
                self.shared.metrics.add_frames(fragment.stats.total_frames());
                self.delivered =
                    (self.delivered.0.saturating_add(1), self.delivered.1.saturating_add(info.size_bytes));
                ArchiveCheckpoint::of(info)
            }
            Some(ArchiveItem::Missing { info, .. }) => {
                self.shared.metrics.stream_error();
                ArchiveCheckpoint::of(info)
            }
            _ => return,
        };
        self.set_last(checkpoint);
    }

    fn set_last(&mut self, checkpoint: ArchiveCheckpoint) {
        let number = FragmentNumber::new(checkpoint.fragment_number.as_str());
        if self.last_number.as_ref().is_none_or(|n| *n < number) {
            self.last_number = Some(number);
        }
        self.position.lock().unwrap_or_else(PoisonError::into_inner).last = Some(checkpoint);
    }

    /// Whether no window is left to list (the next one starts after now, or there is none).
    fn no_more_windows(&self) -> bool {
        self.windows.peek().is_none_or(|s| s > now_ms())
    }

    /// Starts listing the next window, unless one is listed ahead already, it starts after
    /// now or there is none.
    fn start_listing(&mut self) {
        if self.lister.is_some() || self.listing_complete || self.ahead.is_some() {
            return;
        }
        let Some((start, end)) = (if self.no_more_windows() { None } else { self.windows.next() }) else {
            self.listing_complete = true;
            return;
        };
        let Ok(selector) = FragmentSelector::new(self.selector.clock(), start, end) else {
            self.listing_complete = true;
            return;
        };
        self.listing = Some((start, end, self.listed_until));
        self.listed_until = end.min(now_ms());
        let shared = Arc::clone(&self.shared);
        let seed = self.next_seed();
        self.lister = Some(Task::spawn(move |tx| list_window(shared, selector, seed, tx)));
    }

    fn on_list(&mut self, msg: ListMsg) {
        match msg {
            ListMsg::Retrying(item) => self.out.push_back(Ok(item)),
            ListMsg::Failed(e) => self.out.push_back(Err(e)),
            ListMsg::TooMany => {
                self.lister = None;
                if let Some((start, end, before)) = self.listing.take() {
                    self.listed_until = before;
                    self.windows.retry_shorter(start, end.saturating_sub(start).saturating_add(1));
                }
                self.start_listing();
            }
            ListMsg::Done(mut list) => {
                self.lister = None;
                self.listing = None;
                self.windows.found(list.is_empty());
                let clock = self.selector.clock();
                if let Some(cp) = &self.skip {
                    list.retain(|f| !cp.covers(f, clock));
                }
                for f in &list {
                    self.listed =
                        (self.listed.0.saturating_add(1), self.listed.1.saturating_add(f.size_bytes));
                }
                let batches = batches(list, self.batch_fragments, self.batch_bytes);
                if self.pending.is_empty() {
                    self.pending = batches;
                    // List the next window ahead while this one is fetched.
                    self.start_listing();
                } else {
                    // Held until the current window's batches are all started: at most two
                    // windows' listings in memory.
                    self.ahead = Some(batches);
                }
                self.out.push_back(Ok(ArchiveItem::Listed {
                    fragments: self.listed.0,
                    bytes: self.listed.1,
                    complete: self.listing_complete || self.no_more_windows(),
                }));
            }
        }
    }

    async fn archive_step(&mut self) {
        if self.pending.is_empty()
            && let Some(next) = self.ahead.take()
        {
            self.pending = next;
        }
        self.start_listing();
        // A listing that is ready.
        if let Some(lister) = &mut self.lister
            && let Ok(msg) = lister.rx.try_recv()
        {
            self.on_list(msg);
            return;
        }
        while self.inflight.len() < self.max_in_flight
            && let Some(batch) = self.pending.pop_front()
        {
            let shared = Arc::clone(&self.shared);
            let seed = self.next_seed();
            self.inflight.push_back(Task::spawn(move |tx| run_batch(shared, batch, seed, tx)));
        }
        if let Some(head) = self.inflight.front_mut() {
            match head.rx.recv().await {
                Some(BatchMsg::Item(item)) => self.out.push_back(Ok(item)),
                Some(BatchMsg::Failed(e)) => self.out.push_back(Err(e)),
                None => {
                    self.inflight.pop_front();
                }
            }
            return;
        }
        if let Some(lister) = &mut self.lister {
            match lister.rx.recv().await {
                Some(msg) => self.on_list(msg),
                None => {
                    self.lister = None;
                    self.out.push_back(Err(ConsumerError::Config("the listing task ended".into())));
                }
            }
            return;
        }
        if !self.pending.is_empty() || self.ahead.is_some() || !self.listing_complete {
            return;
        }
        // The archive part is complete.
        self.out
            .push_back(Ok(ArchiveItem::ArchiveEnd { fragments: self.delivered.0, bytes: self.delivered.1 }));
        // Live when the listing stopped short of the range's end (it ends after the time
        // its last window was listed): the rest comes from the live stream.
        self.phase = if self.follow && self.listed_until < self.selector.end_ms() {
            Phase::Live(Box::new(self.live_consumer()))
        } else {
            Phase::Done
        };
    }

    fn live_consumer(&self) -> Live {
        let last = self.position.lock().unwrap_or_else(PoisonError::into_inner).last.clone();
        let start = match last {
            Some(cp) => StartSelector::after_fragment(cp.fragment_number),
            None => match self.selector.clock() {
                FragmentClock::Server => StartSelector::ServerTimestamp { millis: self.selector.start_ms() },
                FragmentClock::Producer => {
                    StartSelector::ProducerTimestamp { millis: self.selector.start_ms() }
                }
            },
        };
        let sh = &self.shared;
        let consumer = MediaConsumer::builder(sh.client.clone(), sh.stream.clone())
            .start(start)
            .fragments_only(true)
            .raw_documents(sh.raw)
            .backoff(sh.backoff)
            .max_retries(sh.max_retries)
            .decoder_options(sh.options)
            .idle_timeout(sh.idle)
            .metrics(sh.metrics.clone())
            .jitter_seed(self.seed)
            .build();
        Live { consumer, dropped: false }
    }

    async fn live_step(&mut self) -> Option<ReaderItem> {
        loop {
            let Phase::Live(live) = &mut self.phase else { return None };
            let item = std::future::poll_fn(|cx| Pin::new(&mut live.consumer).poll_next(cx)).await;
            let event = match item {
                None => {
                    self.phase = Phase::Done;
                    return None;
                }
                Some(Err(e)) => {
                    self.phase = Phase::Done;
                    return Some(Err(e));
                }
                Some(Ok(event)) => event,
            };
            match &event {
                ConsumerEvent::Fragment(f) => {
                    let clock = self.selector.clock();
                    let ts = match clock {
                        FragmentClock::Producer => f.producer_timestamp_ms(),
                        FragmentClock::Server => f.server_timestamp_ms(),
                    };
                    if ts.is_some_and(|t| t > self.selector.end_ms()) {
                        self.phase = Phase::Done;
                        return None;
                    }
                    let number = f.fragment_number().cloned();
                    let repeat = number
                        .as_ref()
                        .is_some_and(|n| self.last_number.as_ref().is_some_and(|last| n <= last));
                    if repeat || ts.is_some_and(|t| t < self.selector.start_ms()) {
                        live.dropped = true;
                        self.shared.metrics.duplicate();
                        continue;
                    }
                    live.dropped = false;
                    if let Some(n) = number {
                        let checkpoint = ArchiveCheckpoint {
                            fragment_number: n.as_str().to_owned(),
                            producer_timestamp_ms: f.producer_timestamp_ms().unwrap_or(0),
                            server_timestamp_ms: f.server_timestamp_ms().unwrap_or(0),
                        };
                        self.set_last(checkpoint);
                    }
                }
                ConsumerEvent::Document { .. } if live.dropped => {
                    live.dropped = false;
                    continue;
                }
                _ => {}
            }
            return Some(Ok(ArchiveItem::Live(event)));
        }
    }
}

/// After a failed attempt: the delay before the next one, or the error to end with.
fn retry_delay(
    shared: &Shared,
    failures: u32,
    jitter: &mut Jitter,
    error: ConsumerError,
    cut: Option<(Option<String>, String)>,
) -> Result<Duration, ConsumerError> {
    if error.is_throttle() {
        shared.metrics.throttle();
    }
    if !error.is_retryable() {
        return Err(error);
    }
    if let Some(max) = shared.max_retries
        && failures > max
    {
        return Err(match cut {
            Some((after, last)) => ConsumerError::NoProgress { attempts: failures, after, last },
            None => ConsumerError::RetriesExhausted { attempts: failures, last: Box::new(error) },
        });
    }
    shared.metrics.reconnect();
    Ok(shared.backoff.delay(failures, jitter))
}

/// Lists one window, every page, sorted.
async fn list_window(
    shared: Arc<Shared>,
    selector: FragmentSelector,
    seed: u64,
    tx: mpsc::UnboundedSender<ListMsg>,
) {
    let mut jitter = Jitter::new(seed);
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut failures = 0u32;
    let mut attempt = 0u32;
    loop {
        shared.list_limiter.acquire().await;
        let mut request = ListFragmentsRequest::new(selector).max_results(shared.page_size);
        if let Some(t) = &token {
            request = request.next_token(t.clone());
        }
        let call = shared.client.list_fragments_page(&shared.stream, &request);
        let error = match tokio::time::timeout(shared.idle, call).await {
            Ok(Ok(page)) => {
                failures = 0;
                all.extend(page.fragments.into_iter().filter(|f| selector.selects(f)));
                if all.len() > shared.max_window_fragments && selector.end_ms() > selector.start_ms() {
                    // Too dense to hold: the driver lists this window again in halves.
                    let _ = tx.send(ListMsg::TooMany);
                    return;
                }
                match page.next_token {
                    Some(t) => {
                        token = Some(t);
                        continue;
                    }
                    None => break,
                }
            }
            Ok(Err(e)) => e,
            Err(_) => ConsumerError::IdleTimeout(shared.idle),
        };
        failures = failures.saturating_add(1);
        tracing::warn!(stream = %shared.stream, error = %error, "ListFragments failed");
        let reason = format!("ListFragments: {error}");
        match retry_delay(&shared, failures, &mut jitter, error, None) {
            Ok(delay) => {
                attempt = attempt.saturating_add(1);
                let _ = tx.send(ListMsg::Retrying(ArchiveItem::Retrying { attempt, reason, delay }));
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                let _ = tx.send(ListMsg::Failed(e));
                return;
            }
        }
    }
    sort_fragments(&mut all, shared.clock);
    let _ = tx.send(ListMsg::Done(all));
}

/// Fetches one batch, retrying from its first fragment not yet complete.
async fn run_batch(
    shared: Arc<Shared>,
    batch: Vec<FragmentInfo>,
    seed: u64,
    tx: mpsc::UnboundedSender<BatchMsg>,
) {
    let mut jitter = Jitter::new(seed);
    let mut done = 0usize;
    let mut failures = 0u32;
    let mut attempt = 0u32;
    loop {
        let Some(rest) = batch.get(done..).filter(|r| !r.is_empty()) else { return };
        shared.media_limiter.acquire().await;
        let (completed, ended) = fetch_once(&shared, rest, &tx).await;
        done = done.saturating_add(completed);
        let (error, cut) = match ended {
            Ended::Complete => continue,
            Ended::Closed => return,
            Ended::Error(e) => (e, None),
            Ended::Cut(why) => {
                let after =
                    done.checked_sub(1).and_then(|i| batch.get(i)).map(|f| f.fragment_number.to_string());
                (ConsumerError::Transport(why.clone().into()), Some((after, why)))
            }
        };
        failures = if completed > 0 { 1 } else { failures.saturating_add(1) };
        let reason = format!("GetMediaForFragmentList: {error}");
        tracing::warn!(stream = %shared.stream, %reason, "retrying");
        match retry_delay(&shared, failures, &mut jitter, error, cut) {
            Ok(delay) => {
                attempt = attempt.saturating_add(1);
                if tx.send(BatchMsg::Item(ArchiveItem::Retrying { attempt, reason, delay })).is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                let _ = tx.send(BatchMsg::Failed(e));
                return;
            }
        }
    }
}

/// How one call ended.
enum Ended {
    /// Every fragment asked for was delivered.
    Complete,
    /// The reader is gone.
    Closed,
    /// The call failed (before or during the body).
    Error(ConsumerError),
    /// The body ended (cleanly) before every fragment was complete, or was not what was
    /// asked for.
    Cut(String),
}

/// One GetMediaForFragmentList call for `rest`: the fragments completed (sent on `tx`, in
/// order) and how it ended.
async fn fetch_once(
    shared: &Shared,
    rest: &[FragmentInfo],
    tx: &mpsc::UnboundedSender<BatchMsg>,
) -> (usize, Ended) {
    let numbers: Vec<FragmentNumber> = rest.iter().map(|f| f.fragment_number.clone()).collect();
    let call = shared.client.get_media_for_fragment_list(&shared.stream, &numbers);
    let mut payload = match tokio::time::timeout(shared.idle, call).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return (0, Ended::Error(e)),
        Err(_) => {
            shared.metrics.idle_timeout();
            return (0, Ended::Error(ConsumerError::IdleTimeout(shared.idle)));
        }
    };
    shared.metrics.connection();
    let mut reader = DocReader::new(shared, rest, tx);
    loop {
        match tokio::time::timeout(shared.idle, payload.next_chunk()).await {
            Ok(Ok(Some(chunk))) => {
                shared.metrics.add_bytes(chunk.len());
                if let Err(ended) = reader.feed(chunk) {
                    return (reader.completed, ended);
                }
            }
            Ok(Ok(None)) => return reader.finish(None),
            Ok(Err(e)) => return reader.finish(Some(e)),
            Err(_) => {
                shared.metrics.idle_timeout();
                return reader.finish(Some(ConsumerError::IdleTimeout(shared.idle)));
            }
        }
    }
}

/// A fragment assembled, waiting to be known complete.
struct Held {
    fragment: Fragment,
    /// Its document's first byte.
    start: u64,
    /// Its document's end, once known.
    end: Option<u64>,
}

/// Reads one response: documents in, fragments out (in the order asked for).
struct DocReader<'a> {
    shared: &'a Shared,
    rest: &'a [FragmentInfo],
    tx: &'a mpsc::UnboundedSender<BatchMsg>,
    decoder: EventDecoder,
    assembler: FragmentAssembler,
    /// With raw documents: the response's chunks still needed, with their offsets.
    chunks: VecDeque<(u64, Bytes)>,
    fed: u64,
    doc_start: u64,
    held: Option<Held>,
    completed: usize,
}

impl<'a> DocReader<'a> {
    fn new(shared: &'a Shared, rest: &'a [FragmentInfo], tx: &'a mpsc::UnboundedSender<BatchMsg>) -> Self {
        Self {
            shared,
            rest,
            tx,
            decoder: EventDecoder::with_options(shared.options),
            assembler: if shared.frames {
                FragmentAssembler::new()
            } else {
                FragmentAssembler::without_frames()
            },
            chunks: VecDeque::new(),
            fed: 0,
            doc_start: 0,
            held: None,
            completed: 0,
        }
    }

    fn feed(&mut self, chunk: Bytes) -> Result<(), Ended> {
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        if self.shared.raw {
            self.chunks.push_back((self.fed, chunk.clone()));
        }
        self.fed = self.fed.saturating_add(len);
        self.decoder.feed(chunk);
        self.drain(false).map(|_| ())
    }

    /// Handles the decoded events; `Ok(true)` when the input ended inside an element.
    fn drain(&mut self, finishing: bool) -> Result<bool, Ended> {
        let mut truncated = false;
        loop {
            match self.decoder.next_event() {
                Ok(Some(event)) => self.event(event)?,
                Ok(None) => return Ok(truncated),
                Err(e) if e.is_recoverable() => {
                    self.shared.metrics.decode_error();
                    tracing::warn!(error = %e, "malformed element skipped");
                }
                Err(e) if finishing && e.is_eof() => truncated = true,
                Err(e) => {
                    self.shared.metrics.decode_error();
                    return Err(Ended::Error(ConsumerError::Decode(e)));
                }
            }
        }
    }

    fn event(&mut self, event: Event) -> Result<(), Ended> {
        match &event {
            Event::DocumentStart { offset, .. } => {
                // The previous document is followed by another: it is complete.
                if let Some(held) = self.held.take() {
                    self.confirm(held)?;
                }
                self.doc_start = *offset;
                self.trim(*offset);
            }
            Event::DocumentEnd { end, .. } => {
                if let Some(held) = &mut self.held
                    && held.end.is_none()
                {
                    held.end = Some(*end);
                }
            }
            _ => {}
        }
        if let Some(fragment) = self.assembler.push(event) {
            if let Some(previous) = self.held.take() {
                self.confirm(previous)?;
            }
            self.held = Some(Held { fragment, start: self.doc_start, end: None });
        }
        Ok(())
    }

    /// Drops the raw chunks wholly before `offset`.
    fn trim(&mut self, offset: u64) {
        while let Some((start, bytes)) = self.chunks.front() {
            let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            if start.saturating_add(len) > offset {
                break;
            }
            self.chunks.pop_front();
        }
    }

    /// The raw bytes at `[from, to)` of the response.
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

    /// Delivers a complete fragment as the next one asked for.
    fn confirm(&mut self, held: Held) -> Result<(), Ended> {
        let Some(info) = self.rest.get(self.completed) else {
            return Err(Ended::Cut("the response has more documents than fragments asked for".into()));
        };
        let f = held.fragment;
        let number = f.fragment_number().or_else(|| f.error().and_then(|e| e.fragment_number.as_ref()));
        if number != Some(&info.fragment_number) {
            return Err(Ended::Cut(format!(
                "the response sent fragment {} where {} was expected",
                number.map_or_else(|| "without a number".to_owned(), ToString::to_string),
                info.fragment_number
            )));
        }
        let item = match f.error() {
            Some(error) => ArchiveItem::Missing { info: info.clone(), error: error.clone() },
            None => {
                let document = self.shared.raw.then(|| self.slice(held.start, held.end.unwrap_or(self.fed)));
                ArchiveItem::Fragment { info: info.clone(), fragment: f, document }
            }
        };
        if self.tx.send(BatchMsg::Item(item)).is_err() {
            return Err(Ended::Closed);
        }
        self.completed = self.completed.saturating_add(1);
        Ok(())
    }

    /// The body ended: cleanly (`None`) or with an error.
    fn finish(mut self, error: Option<ConsumerError>) -> (usize, Ended) {
        self.decoder.finish();
        let truncated = match self.drain(true) {
            Ok(t) => t,
            Err(ended) => return (self.completed, error.map_or(ended, Ended::Error)),
        };
        if let Some(e) = error {
            return (self.completed, Ended::Error(e));
        }
        // The last document of a response ended cleanly: complete only if it is the last
        // fragment asked for and it is whole as far as can be seen (not truncated; media
        // with a cluster, or an exception). A response that ended before the last fragment
        // asked for was cut, maybe inside this document: it is fetched again.
        if let Some(held) = self.held.take() {
            let last_asked = self.completed.saturating_add(1) == self.rest.len();
            let whole = held.fragment.stats.clusters > 0 || held.fragment.error().is_some();
            if last_asked
                && whole
                && !truncated
                && let Err(ended) = self.confirm(held)
            {
                return (self.completed, ended);
            }
        }
        if self.completed >= self.rest.len() {
            (self.completed, Ended::Complete)
        } else {
            let next =
                self.rest.get(self.completed).map(|f| f.fragment_number.to_string()).unwrap_or_default();
            (self.completed, Ended::Cut(format!("the response ended before fragment {next} was complete")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_without_overlap() {
        let w: Vec<_> = Windows::new(0, 9, 4).collect();
        assert_eq!(w, [(0, 3), (4, 7), (8, 9)]);
        let w: Vec<_> = Windows::new(5, 5, 1000).collect();
        assert_eq!(w, [(5, 5)]);
        assert_eq!(Windows::new(6, 5, 10).count(), 0);
        let w: Vec<_> = Windows::new(0, 8, 3).collect();
        assert_eq!(w, [(0, 2), (3, 5), (6, 8)]);
        // Near the end of i64: no overflow, and it ends.
        let w: Vec<_> = Windows::new(i64::MAX - 5, i64::MAX, 4).collect();
        assert_eq!(w, [(i64::MAX - 5, i64::MAX - 2), (i64::MAX - 1, i64::MAX)]);
        // Every millisecond in exactly one window.
        for len in 1..12 {
            let mut next = -7;
            for (a, b) in Windows::new(-7, 30, len) {
                assert_eq!(a, next);
                assert!(b >= a && b - a < len);
                next = b + 1;
            }
            assert_eq!(next, 31);
        }
    }

    #[test]
    fn windows_grow_over_empty_time_and_shrink_when_dense() {
        // Fifty years of an empty stream in one-hour windows: doubling reaches the end in
        // a few dozen windows, not 438,000.
        let hour = 3_600_000i64;
        let end = 50 * 365 * 24 * hour;
        let mut w = Windows::new(0, end, hour);
        let mut calls = 0;
        let mut next = 0;
        while let Some((a, b)) = w.next() {
            assert_eq!(a, next, "no millisecond skipped");
            next = b + 1;
            calls += 1;
            w.found(true);
        }
        assert_eq!(next, end + 1);
        assert!(calls < 40, "{calls} windows");
        // Fragments bring the length back to the base.
        let mut w = Windows::new(0, 100 * hour, hour);
        let _ = w.next();
        w.found(true);
        assert_eq!(w.next(), Some((hour, 3 * hour - 1)));
        w.found(false);
        assert_eq!(w.next(), Some((3 * hour, 4 * hour - 1)));
        // A dense window is listed again from its start at half the length, and the base
        // shrinks with it.
        w.retry_shorter(3 * hour, hour);
        assert_eq!(w.next(), Some((3 * hour, 3 * hour + hour / 2 - 1)));
        w.found(false);
        assert_eq!(w.next(), Some((3 * hour + hour / 2, 4 * hour - 1)));
    }

    fn info(n: u64, size: u64) -> FragmentInfo {
        FragmentInfo::new(FragmentNumber::new(n.to_string()), size, 0, 0, 1000)
    }

    #[test]
    fn batches_respect_both_limits() {
        let list: Vec<_> = (1..=7).map(|n| info(n, 10)).collect();
        let b = batches(list.clone(), 3, 1000);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let b = batches(list.clone(), 100, 25);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 2, 1]);
        // The order is kept and nothing is lost.
        let flat: Vec<_> = b.into_iter().flatten().collect();
        assert_eq!(flat, list);
        // A fragment larger than the byte limit goes alone.
        let b = batches(vec![info(1, 5), info(2, 100), info(3, 5)], 10, 20);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 1]);
        assert!(batches(Vec::new(), 10, 10).is_empty());
    }

    #[test]
    fn checkpoints_cover_what_sorts_before() {
        let cp = ArchiveCheckpoint {
            fragment_number: "20".into(),
            producer_timestamp_ms: 5,
            server_timestamp_ms: 100,
        };
        let at = |n: u64, server: i64| FragmentInfo::new(FragmentNumber::new(n.to_string()), 1, 5, server, 1);
        assert!(cp.covers(&at(20, 100), FragmentClock::Server));
        assert!(cp.covers(&at(19, 100), FragmentClock::Server));
        assert!(cp.covers(&at(100, 99), FragmentClock::Server));
        assert!(!cp.covers(&at(21, 100), FragmentClock::Server));
        assert!(!cp.covers(&at(3, 101), FragmentClock::Server));
        // Numbers compare as numbers.
        assert!(!cp.covers(&at(100, 100), FragmentClock::Server));
        assert!(!cp.covers(&at(100, 0), FragmentClock::Producer));
    }

    #[test]
    fn positions_serialise() {
        let p = ArchivePosition {
            stream: "cam".into(),
            clock: FragmentClock::Server,
            start_ms: 1,
            end_ms: 2,
            last: Some(ArchiveCheckpoint {
                fragment_number: "9".into(),
                producer_timestamp_ms: 3,
                server_timestamp_ms: 4,
            }),
        };
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert!(json.contains("SERVER_TIMESTAMP"), "{json}");
        assert_eq!(serde_json::from_str::<ArchivePosition>(&json).ok(), Some(p));
    }
}
