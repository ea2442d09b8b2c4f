//! Exactly-once, in-order delivery across reconnections, as a sans-IO state machine.
//!
//! [`Tracker`] takes the kvs-chunk events of one GetMedia connection after another and
//! gives out [`ConsumerEvent`]s: each fragment once, in order, whole or reported aborted.
//! [`MediaConsumer`](crate::MediaConsumer) drives it over the network; it is public so a
//! program with its own transport can get the same guarantees.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kvs_chunk::{Event, Fragment, FragmentAssembler, FragmentMetadata, FragmentNumber, ErrorChunk};

use crate::error::ConsumerError;
use crate::metrics::Metrics;
use crate::selector::{Checkpoint, Position, StartSelector, StreamId};

/// What a consumer does with an in-stream error chunk (`AWS_KINESISVIDEO_ERROR_ID`, e.g.
/// 4000 "requested fragment not found"). After such a chunk the service ends the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Yield it as [`ConsumerEvent::ErrorChunk`], then reconnect from the last complete
    /// fragment (with back-off).
    #[default]
    Surface,
    /// Do not yield it (it is logged, counted and named in the `Reconnecting` event);
    /// reconnect from the last complete fragment (with back-off).
    Reconnect,
    /// End the stream with [`ConsumerError::InStream`].
    Fail,
}

/// What a consumer yields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConsumerEvent {
    /// A kvs-chunk event of a fragment not delivered before (event mode). Frames arrive as
    /// soon as their block is complete; if the fragment is cut later, a
    /// [`ConsumerEvent::FragmentAborted`] follows and the fragment comes again in full.
    /// Document indexes and byte offsets count from 0 on each connection.
    Event(Event),
    /// A complete fragment (fragment mode: only complete fragments are yielded).
    Fragment(Fragment),
    /// The raw bytes of a delivered fragment's document (EBML header and Segment), exactly
    /// as the service sent them, right after the fragment's other items (with
    /// `MediaConsumerBuilder::raw_documents`). Each delivered fragment gives one, once,
    /// and only when it is complete: concatenated, they are the stream's payload without
    /// cuts or repeats.
    Document {
        /// The document's bytes.
        bytes: bytes::Bytes,
    },
    /// The fragment whose events were being yielded was cut before its end (event mode):
    /// discard what was yielded of it; it is delivered again, in full, after the reconnect.
    FragmentAborted {
        /// Its fragment number, if its metadata had arrived.
        fragment_number: Option<FragmentNumber>,
        /// How many of its frames were already yielded (now void).
        frames_emitted: u64,
    },
    /// An in-stream error chunk ([`ErrorPolicy::Surface`]).
    ErrorChunk(ErrorChunk),
    /// The connection ended; the consumer reconnects after `delay`.
    Reconnecting {
        /// The reconnection's number (1 for the first).
        attempt: u64,
        /// Why.
        reason: ReconnectReason,
        /// The back-off delay before the next GetMedia call (the per-stream rate limit may
        /// add to it).
        delay: Duration,
    },
}

/// Why a consumer reconnects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReconnectReason {
    /// The response ended cleanly, on a fragment boundary.
    EndOfStream,
    /// The response ended (cleanly as far as HTTP goes) inside a fragment, which was
    /// reported aborted.
    Cut,
    /// No byte arrived within the idle timeout.
    IdleTimeout(Duration),
    /// The service sent an in-stream error chunk.
    InStreamError(ErrorChunk),
    /// A retryable error: throttling, 5xx, transport, a stale endpoint, a malformed payload.
    Error(Arc<ConsumerError>),
}

impl fmt::Display for ReconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndOfStream => f.write_str("the response ended"),
            Self::Cut => f.write_str("the response ended inside a fragment"),
            Self::IdleTimeout(d) => write!(f, "no data for {d:?}"),
            Self::InStreamError(e) => write!(f, "{}", ConsumerError::InStream(e.clone())),
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

/// Whether the consumer yields events or whole fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Granularity {
    /// Every kvs-chunk event, as soon as it is decoded.
    #[default]
    Events,
    /// Only complete fragments.
    Fragments,
}

/// Where the current document stands.
enum Doc {
    /// Between documents.
    Outside,
    /// Its first events are held until its fragment number is known (at its first cluster,
    /// frame or end), so a duplicate or an error chunk yields nothing.
    Holding { held: Vec<Event>, metadata: Option<FragmentMetadata> },
    /// Its events are being yielded.
    Streaming { metadata: Option<FragmentMetadata>, frames: u64 },
    /// It ended complete and was delivered; its `DocumentEnd` is still to come.
    Delivered,
    /// Already delivered before (or an error chunk, or cut): dropped until its end.
    Dropping,
}

/// What one connection amounted to (from [`Tracker::end_connection`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionSummary {
    /// Fragments delivered during the connection.
    pub delivered: u64,
    /// Whether the connection ended inside a document (a fragment was cut).
    pub cut: bool,
    /// The in-stream error chunk it carried, if any.
    pub stream_error: Option<ErrorChunk>,
    /// Millis-behind-now of the last complete fragment it carried (delivered or not): a
    /// value above 0 says newer fragments exist.
    pub millis_behind_now: Option<u64>,
}

/// The exactly-once delivery state machine.
///
/// ```
/// use bytes::Bytes;
/// use kvs_chunk::Events;
/// use kvs_sdk::{ConsumerEvent, ErrorPolicy, Granularity, Metrics, StartSelector, StreamId, Tracker};
///
/// # let payload = Bytes::from(kvs_fixtures::scenarios::getmedia_basic().unwrap().bytes);
/// let mut tracker = Tracker::new(
///     StreamId::name("cam"), StartSelector::Earliest,
///     Granularity::Fragments, ErrorPolicy::Surface, Metrics::new(),
/// );
/// // The same payload twice, as after a reconnect that re-sent everything.
/// for _ in 0..2 {
///     for event in Events::new(payload.clone()) {
///         tracker.push(event?);
///     }
///     tracker.end_connection();
/// }
/// let mut fragments = 0;
/// while let Some(event) = tracker.pop() {
///     assert!(matches!(event, ConsumerEvent::Fragment(_)));
///     fragments += 1;
/// }
/// assert_eq!(fragments, 5);
/// assert!(matches!(tracker.resume_selector(), StartSelector::ContinuationToken { .. }));
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
pub struct Tracker {
    granularity: Granularity,
    policy: ErrorPolicy,
    metrics: Metrics,
    /// The highest fragment number delivered (pushed to the queue): the de-duplication floor.
    floor: Option<FragmentNumber>,
    /// The position after everything pushed to the queue.
    latest: Position,
    /// The position after everything popped from the queue (what the user has seen).
    committed: Position,
    commits: u64,
    queue: VecDeque<(ConsumerEvent, Option<Checkpoint>)>,
    doc: Doc,
    assembler: FragmentAssembler,
    conn: ConnectionSummary,
    /// Fragments delivered since the tracker was made.
    delivered: u64,
}

impl Tracker {
    /// A tracker before anything was delivered.
    #[must_use]
    pub fn new(
        stream: StreamId,
        start: StartSelector,
        granularity: Granularity,
        policy: ErrorPolicy,
        metrics: Metrics,
    ) -> Self {
        Self::resume(Position::new(stream, start), granularity, policy, metrics)
    }

    /// A tracker that continues from a saved position: fragments up to and including its
    /// last one are not delivered again.
    #[must_use]
    pub fn resume(
        position: Position,
        granularity: Granularity,
        policy: ErrorPolicy,
        metrics: Metrics,
    ) -> Self {
        Self {
            granularity,
            policy,
            metrics,
            floor: position.fragment_number(),
            latest: position.clone(),
            committed: position,
            commits: 0,
            queue: VecDeque::new(),
            doc: Doc::Outside,
            assembler: FragmentAssembler::new(),
            conn: ConnectionSummary::default(),
            delivered: 0,
        }
    }

    /// The position after the last event popped: what to persist.
    #[must_use]
    pub fn position(&self) -> &Position {
        &self.committed
    }

    /// How many times [`Tracker::position`] has moved.
    #[must_use]
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The selector for the next connection: right after the last fragment delivered (its
    /// continuation token), or the original selector if none was.
    #[must_use]
    pub fn resume_selector(&self) -> StartSelector {
        self.latest.resume_selector()
    }

    /// The next event to yield; moves [`Tracker::position`] past a delivered fragment.
    pub fn pop(&mut self) -> Option<ConsumerEvent> {
        let (event, checkpoint) = self.queue.pop_front()?;
        if let Some(c) = checkpoint {
            self.committed.last = Some(c);
            self.commits = self.commits.wrapping_add(1);
        }
        Some(event)
    }

    /// How many fragments were delivered (queued complete) since the tracker was made: it
    /// grows when [`Tracker::push`] takes the end of a new complete fragment.
    #[must_use]
    pub fn fragments_delivered(&self) -> u64 {
        self.delivered
    }

    /// The fragment number of the last fragment delivered (queued), if any.
    #[must_use]
    pub fn last_fragment_number(&self) -> Option<&str> {
        self.latest.last.as_ref()?.fragment_number.as_deref()
    }

    /// Whether events are waiting to be popped.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Queues an event that is not part of the payload (a reconnection).
    pub fn push_notice(&mut self, event: ConsumerEvent) {
        self.queue.push_back((event, None));
    }

    /// The in-stream error of the current connection, if one arrived.
    #[must_use]
    pub fn stream_error(&self) -> Option<&ErrorChunk> {
        self.conn.stream_error.as_ref()
    }

    /// Takes one decoded event of the current connection.
    pub fn push(&mut self, event: Event) {
        match event {
            // A document's first fragment, or a further one of a merged document (never in
            // the service's payloads, but a faulty endpoint can send one): each fragment is
            // held, deduplicated and checkpointed alike.
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                self.abort_open();
                self.doc = Doc::Holding { held: vec![event], metadata: None };
            }
            Event::FragmentMetadata(m) => match &mut self.doc {
                Doc::Holding { held, metadata } => {
                    *metadata = Some(m.clone());
                    held.push(Event::FragmentMetadata(m));
                }
                _ => self.forward(Event::FragmentMetadata(m)),
            },
            Event::ErrorChunk(e) => {
                self.abort_open();
                if !matches!(self.doc, Doc::Outside) {
                    self.doc = Doc::Dropping;
                }
                self.on_stream_error(e);
            }
            Event::Cluster { .. } | Event::Frame(_) => {
                if matches!(self.doc, Doc::Holding { .. }) {
                    self.release();
                }
                self.forward(event);
            }
            Event::FragmentEnd(end) => {
                if end.complete {
                    self.conn.millis_behind_now = end.millis_behind_now;
                    if matches!(self.doc, Doc::Holding { .. }) {
                        self.release();
                    }
                }
                match std::mem::replace(&mut self.doc, Doc::Dropping) {
                    Doc::Streaming { metadata, frames } => {
                        if end.complete {
                            let metadata = metadata.unwrap_or_default();
                            let checkpoint = Checkpoint {
                                fragment_number: metadata.fragment_number.as_ref().map(ToString::to_string),
                                continuation_token: end.continuation_token.clone(),
                                server_timestamp_ms: metadata.server_timestamp_ms,
                                producer_timestamp_ms: metadata.producer_timestamp_ms,
                            };
                            if let Some(n) = metadata.fragment_number
                                && self.floor.as_ref().is_none_or(|f| n > *f)
                            {
                                self.floor = Some(n);
                            }
                            self.latest.last = Some(checkpoint.clone());
                            self.conn.delivered = self.conn.delivered.saturating_add(1);
                            self.delivered = self.delivered.saturating_add(1);
                            self.metrics.fragment(end.millis_behind_now);
                            self.sink(Event::FragmentEnd(end), Some(checkpoint));
                            self.doc = Doc::Delivered;
                        } else {
                            let number = metadata.and_then(|m| m.fragment_number);
                            self.aborted(number, frames);
                        }
                    }
                    Doc::Holding { .. } | Doc::Delivered | Doc::Dropping | Doc::Outside => {
                        if !end.complete {
                            // Cut before any of it was yielded, or a duplicate cut: nothing
                            // to retract, but the connection did end inside a document.
                            self.conn.cut = true;
                        }
                    }
                }
            }
            Event::DocumentEnd { .. } => {
                let doc = std::mem::replace(&mut self.doc, Doc::Outside);
                match doc {
                    Doc::Delivered => self.sink(event, None),
                    Doc::Streaming { metadata, frames } => {
                        self.aborted(metadata.and_then(|m| m.fragment_number), frames);
                    }
                    Doc::Holding { .. } | Doc::Dropping | Doc::Outside => {}
                }
            }
            // Tracks, tags, clusters' neighbours, resynchronisations, future kinds.
            other => self.forward(other),
        }
    }

    /// Ends the current connection (after its decoder was finished and drained): a
    /// fragment still open is reported aborted. Returns what the connection amounted to.
    pub fn end_connection(&mut self) -> ConnectionSummary {
        match std::mem::replace(&mut self.doc, Doc::Outside) {
            Doc::Streaming { metadata, frames } => {
                self.aborted(metadata.and_then(|m| m.fragment_number), frames)
            }
            Doc::Holding { .. } | Doc::Dropping => self.conn.cut = true,
            Doc::Delivered | Doc::Outside => {}
        }
        // A fragment cut in fragment mode leaves a partial fragment in the assembler.
        self.assembler = FragmentAssembler::new();
        std::mem::take(&mut self.conn)
    }

    /// Routes an event by the state of its document.
    fn forward(&mut self, event: Event) {
        match &mut self.doc {
            Doc::Holding { held, .. } => held.push(event),
            Doc::Streaming { .. } | Doc::Delivered | Doc::Outside => self.sink(event, None),
            Doc::Dropping => {}
        }
    }

    /// Decides on a held document: a duplicate is dropped, a new fragment is yielded.
    fn release(&mut self) {
        let Doc::Holding { held, metadata } = std::mem::replace(&mut self.doc, Doc::Dropping) else {
            return;
        };
        let number = metadata.as_ref().and_then(|m| m.fragment_number.as_ref());
        if let (Some(n), Some(floor)) = (number, self.floor.as_ref())
            && n <= floor
        {
            tracing::debug!(fragment_number = %n, "dropping a fragment already delivered");
            self.metrics.duplicate();
            return;
        }
        self.doc = Doc::Streaming { metadata, frames: 0 };
        for e in held {
            self.sink(e, None);
        }
    }

    /// Reports the open fragment, if one is being yielded, as aborted.
    fn abort_open(&mut self) {
        if let Doc::Streaming { metadata, frames } = std::mem::replace(&mut self.doc, Doc::Outside) {
            self.aborted(metadata.and_then(|m| m.fragment_number), frames);
        }
    }

    fn aborted(&mut self, fragment_number: Option<FragmentNumber>, frames_emitted: u64) {
        self.conn.cut = true;
        self.metrics.aborted();
        tracing::debug!(
            fragment_number = fragment_number.as_ref().map(tracing::field::display),
            frames_emitted,
            "fragment cut; it will be delivered again"
        );
        match self.granularity {
            Granularity::Events => {
                self.queue
                    .push_back((ConsumerEvent::FragmentAborted { fragment_number, frames_emitted }, None));
            }
            Granularity::Fragments => self.assembler = FragmentAssembler::new(),
        }
    }

    fn on_stream_error(&mut self, e: ErrorChunk) {
        self.metrics.stream_error();
        tracing::warn!(
            error_id = e.id.map(|i| i.code()),
            code = e.code.as_deref(),
            fragment_number = e.fragment_number.as_ref().map(tracing::field::display),
            "in-stream error"
        );
        if self.policy == ErrorPolicy::Surface {
            self.queue.push_back((ConsumerEvent::ErrorChunk(e.clone()), None));
        }
        self.conn.stream_error.get_or_insert(e);
    }

    /// Yields an event of a fragment being delivered.
    fn sink(&mut self, event: Event, checkpoint: Option<Checkpoint>) {
        if let Event::Frame(_) = &event {
            self.metrics.frame();
            if let Doc::Streaming { frames, .. } = &mut self.doc {
                *frames = frames.saturating_add(1);
            }
        }
        match self.granularity {
            Granularity::Events => self.queue.push_back((ConsumerEvent::Event(event), checkpoint)),
            Granularity::Fragments => {
                if let Some(f) = self.assembler.push(event) {
                    self.queue.push_back((ConsumerEvent::Fragment(f), checkpoint));
                }
            }
        }
    }
}
