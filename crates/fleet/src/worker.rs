//! A fleet worker: takes its share of the streams' leases, reads those streams through one
//! [`StreamSet`], checkpoints, and hands streams over.
//!
//! Two tasks cooperate. The *lease keeper* (spawned) says the worker is alive, renews the
//! leases it holds, takes free or expired leases up to the worker's share, and asks for
//! streams above the share to be handed over. The application's own task calls
//! [`Worker::next`], which yields the fragments of the streams held, writes checkpoints and
//! performs the hand-overs: a stream is released only between two items, after the
//! application finished with the last one it was given.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use kvs_chunk::Fragment;
use kvs_sdk::{
    ConsumerError, ConsumerEvent, KvsClient, MediaConsumerBuilder, Position, SetItem, StartSelector,
    StreamId, StreamSet, StreamSetHandle,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::store::{Lease, LeaseStore, StoreError, StreamLease};

/// The default lease time: a dead worker's streams move on within it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease time accepted (the keeper works at a third of it).
pub const MIN_LEASE: Duration = Duration::from_millis(300);
/// How often `--all-streams` looks for new streams (ListStreams).
pub const DEFAULT_DISCOVER_EVERY: Duration = Duration::from_secs(60);
/// How long a worker leaves alone a stream whose consumer failed for good (it releases the
/// lease so another worker may try).
pub const FAILED_STREAM_PAUSE: Duration = Duration::from_secs(60);

/// Which streams a worker shares with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamChoice {
    /// These streams.
    Named(Vec<String>),
    /// Every stream of the account and region (ListStreams, again every
    /// [`WorkerConfig::discover_every`]), or those whose name starts with `prefix`.
    All {
        /// A name prefix.
        prefix: Option<String>,
    },
}

impl StreamChoice {
    fn includes(&self, stream: &str) -> bool {
        match self {
            Self::Named(names) => names.iter().any(|n| n == stream),
            Self::All { prefix } => prefix.as_deref().is_none_or(|p| stream.starts_with(p)),
        }
    }
}

/// How a worker runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// The worker's id, unique in the fleet (a host name and process number, say). A worker
    /// restarted with the same id gets back nothing of what it held: its leases expire or
    /// are taken like anyone else's.
    pub worker_id: String,
    /// The streams shared.
    pub streams: StreamChoice,
    /// The lease time (at least [`MIN_LEASE`]).
    pub lease: Duration,
    /// Checkpoint a stream by itself after every N fragments the application finished
    /// (`None`: only when the application calls [`Worker::checkpoint`]).
    pub checkpoint_every: Option<u64>,
    /// Where a stream with no checkpoint starts.
    pub start: StartSelector,
    /// How often [`StreamChoice::All`] lists the streams.
    pub discover_every: Duration,
    /// Yield each fragment's document bytes ([`FleetFragment::document`]).
    pub raw_documents: bool,
    /// Per-stream queue of the stream set (items read ahead).
    pub queue: usize,
    configure: Option<Arc<dyn Fn(MediaConsumerBuilder) -> MediaConsumerBuilder + Send + Sync>>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("worker_id", &self.worker_id)
            .field("streams", &self.streams)
            .field("lease", &self.lease)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl WorkerConfig {
    /// A worker `worker_id` sharing `streams`: lease [`DEFAULT_LEASE`], a checkpoint after
    /// every fragment, new streams from `NOW`.
    #[must_use]
    pub fn new(worker_id: impl Into<String>, streams: StreamChoice) -> Self {
        Self {
            worker_id: worker_id.into(),
            streams,
            lease: DEFAULT_LEASE,
            checkpoint_every: Some(1),
            start: StartSelector::Now,
            discover_every: DEFAULT_DISCOVER_EVERY,
            raw_documents: false,
            queue: 16,
            configure: None,
        }
    }

    /// The lease time.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Checkpoint after every `n` fragments (`None`: the application calls
    /// [`Worker::checkpoint`]).
    #[must_use]
    pub fn checkpoint_every(mut self, n: Option<u64>) -> Self {
        self.checkpoint_every = n.filter(|&n| n > 0);
        self
    }

    /// Where a stream with no checkpoint starts.
    #[must_use]
    pub fn start(mut self, start: StartSelector) -> Self {
        self.start = start;
        self
    }

    /// How often `All` lists the streams.
    #[must_use]
    pub fn discover_every(mut self, every: Duration) -> Self {
        self.discover_every = every;
        self
    }

    /// Yield each fragment's document bytes.
    #[must_use]
    pub fn raw_documents(mut self, yes: bool) -> Self {
        self.raw_documents = yes;
        self
    }

    /// Per-stream queue length.
    #[must_use]
    pub fn queue(mut self, items: usize) -> Self {
        self.queue = items.max(1);
        self
    }

    /// Applied to every stream's consumer (idle timeout, back-off, error policy, ...). The
    /// worker sets `fragments_only` and `raw_documents` after it.
    #[must_use]
    pub fn configure(
        mut self,
        f: impl Fn(MediaConsumerBuilder) -> MediaConsumerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }
}

/// A complete fragment of a stream this worker holds.
#[derive(Debug, Clone)]
pub struct FleetFragment {
    /// The stream.
    pub stream: String,
    /// The fragment.
    pub fragment: Fragment,
    /// Its document's bytes as the service sent them ([`WorkerConfig::raw_documents`]).
    pub document: Option<Bytes>,
    /// The stream's position after it: what [`Worker::checkpoint`] stores.
    pub position: Position,
}

/// What a worker yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum FleetEvent {
    /// The worker took a stream's lease and reads it from `resume` (its last checkpoint) or,
    /// without one, from [`WorkerConfig::start`].
    Acquired {
        /// The stream.
        stream: String,
        /// The checkpoint it resumes after.
        resume: Option<Position>,
    },
    /// A complete fragment.
    Fragment(Box<FleetFragment>),
    /// A consumer's notice other than a fragment (a reconnection, an in-stream error chunk).
    Consumer {
        /// The stream.
        stream: String,
        /// The notice.
        event: ConsumerEvent,
    },
    /// A checkpoint the worker wrote by itself ([`WorkerConfig::checkpoint_every`]).
    Checkpointed {
        /// The stream.
        stream: String,
        /// The position stored.
        position: Position,
    },
    /// The lease was lost (another worker took it after it expired, or the store refused a
    /// renewal or a checkpoint): the stream was stopped, nothing more of it comes.
    Lost {
        /// The stream.
        stream: String,
    },
    /// The worker handed the stream over (its share shrank, or it is shutting down), after
    /// its last checkpoint.
    Released {
        /// The stream.
        stream: String,
    },
    /// A stream's consumer failed for good (the stream was deleted, access was refused): its
    /// lease was released, and this worker leaves it alone for [`FAILED_STREAM_PAUSE`].
    StreamFailed {
        /// The stream.
        stream: String,
        /// Why.
        error: ConsumerError,
    },
    /// A store call failed; the worker goes on and tries again.
    StoreFailed {
        /// The stream concerned, if one.
        stream: Option<String>,
        /// The error.
        error: StoreError,
    },
}

/// A lease held, and until when (on this machine's clock) it surely holds.
#[derive(Debug, Clone)]
struct Held {
    lease: Lease,
    valid_until: Instant,
}

/// What the worker and its keeper share.
#[derive(Debug, Default)]
struct Shared {
    held: Mutex<HashMap<String, Held>>,
    /// Streams the keeper wants handed over.
    shed: Mutex<Vec<String>>,
    /// Streams that failed for good, and until when they are left alone.
    failed: Mutex<HashMap<String, Instant>>,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the keeper tells the worker.
#[derive(Debug)]
enum Notice {
    Event(Box<FleetEvent>),
    /// Streams to shed are waiting in `Shared::shed`.
    Shed,
}

/// A fleet worker (see the module documentation).
#[derive(Debug)]
pub struct Worker<S: LeaseStore + Clone + 'static> {
    store: S,
    config: WorkerConfigCore,
    shared: Arc<Shared>,
    set: StreamSet,
    handle: StreamSetHandle,
    notices: mpsc::UnboundedReceiver<Notice>,
    stop: watch::Sender<bool>,
    keeper: Option<tokio::task::JoinHandle<()>>,
    /// The keeper's notices can still come.
    keeper_alive: bool,
    out: VecDeque<FleetEvent>,
    /// The fragment last yielded, finished when `next` is called again.
    yielded: Option<(String, Position)>,
    /// Per stream: the last finished position not yet checkpointed, and how many fragments
    /// since the last checkpoint.
    done: HashMap<String, (Position, u64)>,
    /// Fragments waiting for their document (raw documents).
    waiting: HashMap<String, (Fragment, Position)>,
}

/// The parts of the configuration the worker keeps.
#[derive(Debug, Clone)]
struct WorkerConfigCore {
    worker_id: String,
    lease: Duration,
    checkpoint_every: Option<u64>,
    raw_documents: bool,
}

impl<S: LeaseStore + Clone + 'static> Worker<S> {
    /// Starts a worker on the current tokio runtime: registers the streams, says it is alive
    /// and starts taking its share.
    ///
    /// # Errors
    ///
    /// A store error from the first registration or heartbeat.
    pub async fn start(client: KvsClient, store: S, config: WorkerConfig) -> Result<Self, StoreError> {
        let lease = config.lease.max(MIN_LEASE);
        let raw = config.raw_documents;
        let user = config.configure.clone();
        let set = StreamSet::builder(client.clone())
            .queue(config.queue)
            .configure(move |b| {
                let b = match &user {
                    Some(f) => f(b),
                    None => b,
                };
                b.fragments_only(true).raw_documents(raw)
            })
            .build();
        let handle = set.handle();
        if let StreamChoice::Named(names) = &config.streams {
            store.add_streams(names).await?;
        }
        store.heartbeat(&config.worker_id, lease).await?;
        let shared = Arc::new(Shared::default());
        let (tx, notices) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let keeper = Keeper {
            client,
            store: store.clone(),
            worker: config.worker_id.clone(),
            streams: config.streams.clone(),
            start: config.start.clone(),
            lease,
            discover_every: config.discover_every,
            next_discover: None,
            shared: Arc::clone(&shared),
            handle: handle.clone(),
            tx,
        };
        let keeper = tokio::spawn(keeper.run(stopped));
        Ok(Self {
            store,
            config: WorkerConfigCore {
                worker_id: config.worker_id,
                lease,
                checkpoint_every: config.checkpoint_every,
                raw_documents: raw,
            },
            shared,
            set,
            handle,
            notices,
            stop,
            keeper: Some(keeper),
            keeper_alive: true,
            out: VecDeque::new(),
            yielded: None,
            done: HashMap::new(),
            waiting: HashMap::new(),
        })
    }

    /// The worker's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    /// The streams whose leases this worker holds, sorted.
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.held().keys().cloned().collect();
        v.sort();
        v
    }

    /// The next event. Calling it says the application finished with the fragment yielded
    /// before (with [`WorkerConfig::checkpoint_every`], that is what gets checkpointed).
    /// `None` only after [`Worker::shutdown`].
    pub async fn next(&mut self) -> Option<FleetEvent> {
        if let Some((stream, position)) = self.yielded.take() {
            self.finished(stream, position).await;
        }
        loop {
            if let Some(event) = self.out.pop_front() {
                return Some(event);
            }
            // Shut down and drained.
            self.keeper.as_ref()?;
            let shed: Vec<String> =
                std::mem::take(&mut *self.shared.shed.lock().unwrap_or_else(PoisonError::into_inner));
            if !shed.is_empty() {
                for stream in shed {
                    self.hand_over(&stream).await;
                }
                continue;
            }
            tokio::select! {
                biased;
                notice = self.notices.recv(), if self.keeper_alive => match notice {
                    Some(Notice::Event(event)) => self.note(*event),
                    Some(Notice::Shed) => {}
                    // The keeper is gone (it only stops at shutdown): no more notices; the
                    // leases run out and `holds` stops each stream as they do.
                    None => self.keeper_alive = false,
                },
                item = self.set.next() => match item {
                    Some(item) => self.item(item).await,
                    None => return None,
                },
            }
        }
    }

    /// Writes `position` as `stream`'s checkpoint (after the application finished with the
    /// fragment it follows).
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is not this worker's any more (the stream is
    /// stopped and a [`FleetEvent::Lost`] follows); other store errors as they come.
    pub async fn checkpoint(&mut self, stream: &str, position: &Position) -> Result<(), StoreError> {
        let lease = self.shared.held().get(stream).map(|h| h.lease.clone());
        let Some(lease) = lease else {
            return Err(StoreError::LeaseLost {
                stream: stream.to_owned(),
                worker: self.config.worker_id.clone(),
                counter: -1,
            });
        };
        match self.store.checkpoint(&lease, position).await {
            Ok(()) => {
                if let Some((_, n)) = self.done.get_mut(stream) {
                    *n = 0;
                }
                Ok(())
            }
            Err(e @ StoreError::LeaseLost { .. }) => {
                self.lost(stream, &lease);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Hands every stream over (the fragments finished are checkpointed first, with
    /// [`WorkerConfig::checkpoint_every`]; the last one yielded counts as finished), stops
    /// the keeper and leaves the fleet. Afterwards `next` gives the remaining events, then
    /// `None`.
    pub async fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.await;
        }
        if let Some((stream, position)) = self.yielded.take() {
            self.finished(stream, position).await;
        }
        for stream in self.streams() {
            self.hand_over(&stream).await;
        }
        if let Err(error) = self.store.leave(&self.config.worker_id).await {
            self.out.push_back(FleetEvent::StoreFailed { stream: None, error });
        }
    }

    /// The application finished with a fragment: count it, checkpoint when due.
    async fn finished(&mut self, stream: String, position: Position) {
        let entry = self.done.entry(stream.clone()).or_insert_with(|| (position.clone(), 0));
        entry.0 = position;
        entry.1 = entry.1.saturating_add(1);
        let due = self.config.checkpoint_every.is_some_and(|n| entry.1 >= n);
        if due {
            let position = entry.0.clone();
            self.auto_checkpoint(&stream, position).await;
        }
    }

    async fn auto_checkpoint(&mut self, stream: &str, position: Position) {
        match self.checkpoint(stream, &position).await {
            Ok(()) => {
                self.out.push_back(FleetEvent::Checkpointed { stream: stream.to_owned(), position });
            }
            Err(StoreError::LeaseLost { .. }) => {}
            Err(error) => {
                self.out.push_back(FleetEvent::StoreFailed { stream: Some(stream.to_owned()), error })
            }
        }
    }

    /// Stops a stream, checkpoints what was finished (with `checkpoint_every`) and releases
    /// its lease.
    async fn hand_over(&mut self, stream: &str) {
        let held = self.shared.held().get(stream).cloned();
        let Some(held) = held else { return };
        let _ = self.handle.remove(&StreamId::name(stream));
        self.waiting.remove(stream);
        if self.config.checkpoint_every.is_some()
            && let Some((position, n)) = self.done.get(stream).cloned()
            && n > 0
        {
            self.auto_checkpoint(stream, position).await;
        }
        self.done.remove(stream);
        if self.shared.held().remove(stream).is_none() {
            // Lost while checkpointing: reported already.
            return;
        }
        match self.store.release(&held.lease).await {
            Ok(()) => self.out.push_back(FleetEvent::Released { stream: stream.to_owned() }),
            Err(StoreError::LeaseLost { .. }) => {
                self.out.push_back(FleetEvent::Lost { stream: stream.to_owned() })
            }
            Err(error) => {
                // The lease will expire by itself.
                self.out.push_back(FleetEvent::StoreFailed { stream: Some(stream.to_owned()), error });
                self.out.push_back(FleetEvent::Released { stream: stream.to_owned() });
            }
        }
    }

    /// The lease is gone: stop the stream (once).
    fn lost(&mut self, stream: &str, lease: &Lease) {
        let removed = {
            let mut held = self.shared.held();
            match held.get(stream) {
                Some(h) if h.lease.counter == lease.counter => held.remove(stream).is_some(),
                _ => false,
            }
        };
        if removed {
            let _ = self.handle.remove(&StreamId::name(stream));
            self.forget(stream);
            self.out.push_back(FleetEvent::Lost { stream: stream.to_owned() });
        }
    }

    /// Drops what the worker kept of a stream it no longer reads.
    fn forget(&mut self, stream: &str) {
        self.waiting.remove(stream);
        self.done.remove(stream);
        if self.yielded.as_ref().is_some_and(|(s, _)| s == stream) {
            self.yielded = None;
        }
    }

    /// A keeper notice.
    fn note(&mut self, event: FleetEvent) {
        if let FleetEvent::Lost { stream } = &event {
            self.forget(stream);
        }
        self.out.push_back(event);
    }

    /// An item of the stream set.
    async fn item(&mut self, item: SetItem) {
        let stream = item.stream.as_str().to_owned();
        if !self.holds(&stream).await {
            return;
        }
        match (item.item, item.position) {
            (Ok(ConsumerEvent::Fragment(fragment)), Some(position)) => {
                if self.config.raw_documents {
                    self.waiting.insert(stream, (fragment, position));
                } else {
                    self.fragment(stream, fragment, None, position);
                }
            }
            (Ok(ConsumerEvent::Document { bytes }), _) => {
                if let Some((fragment, position)) = self.waiting.remove(&stream) {
                    self.fragment(stream, fragment, Some(bytes), position);
                }
            }
            (Ok(event), _) => self.out.push_back(FleetEvent::Consumer { stream, event }),
            (Err(error), _) => {
                // The set dropped the stream; give the lease back and stay away a while.
                self.shared.failed.lock().unwrap_or_else(PoisonError::into_inner).insert(
                    stream.clone(),
                    Instant::now().checked_add(FAILED_STREAM_PAUSE).unwrap_or_else(Instant::now),
                );
                let held = self.shared.held().remove(&stream);
                self.forget(&stream);
                if let Some(held) = held
                    && let Err(e) = self.store.release(&held.lease).await
                    && !matches!(e, StoreError::LeaseLost { .. })
                {
                    self.out.push_back(FleetEvent::StoreFailed { stream: Some(stream.clone()), error: e });
                }
                self.out.push_back(FleetEvent::StreamFailed { stream, error });
            }
        }
    }

    fn fragment(&mut self, stream: String, fragment: Fragment, document: Option<Bytes>, position: Position) {
        self.yielded = Some((stream.clone(), position.clone()));
        self.out.push_back(FleetEvent::Fragment(Box::new(FleetFragment {
            stream,
            fragment,
            document,
            position,
        })));
    }

    /// Whether the worker may still deliver `stream`'s items: it holds the lease and it has
    /// not run out on this machine's clock (else it is renewed first: a worker paused past
    /// its lease delivers nothing more of a stream another worker took meanwhile).
    async fn holds(&mut self, stream: &str) -> bool {
        let held = self.shared.held().get(stream).cloned();
        let Some(held) = held else { return false };
        if Instant::now() < held.valid_until {
            return true;
        }
        let sent = Instant::now();
        match self.store.renew(&held.lease, self.config.lease).await {
            Ok(lease) => {
                if let Some(h) = self.shared.held().get_mut(stream) {
                    h.valid_until = sent.checked_add(self.config.lease).unwrap_or(sent);
                    h.lease = lease;
                }
                true
            }
            Err(StoreError::LeaseLost { .. }) => {
                self.lost(stream, &held.lease);
                false
            }
            Err(error) => {
                // Cannot tell: stop reading it; the lease expires and the stream is taken
                // again (by this worker or another) from its checkpoint.
                self.shared.held().remove(stream);
                let _ = self.handle.remove(&StreamId::name(stream));
                self.forget(stream);
                self.out.push_back(FleetEvent::StoreFailed { stream: Some(stream.to_owned()), error });
                self.out.push_back(FleetEvent::Lost { stream: stream.to_owned() });
                false
            }
        }
    }
}

impl<S: LeaseStore + Clone + 'static> Drop for Worker<S> {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
    }
}

/// The lease keeper (see the module documentation).
struct Keeper<S> {
    client: KvsClient,
    store: S,
    worker: String,
    streams: StreamChoice,
    start: StartSelector,
    lease: Duration,
    discover_every: Duration,
    next_discover: Option<Instant>,
    shared: Arc<Shared>,
    handle: StreamSetHandle,
    tx: mpsc::UnboundedSender<Notice>,
}

impl<S: LeaseStore + Clone + 'static> Keeper<S> {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let wake = self.round().await;
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    fn send(&self, event: FleetEvent) {
        let _ = self.tx.send(Notice::Event(Box::new(event)));
    }

    /// One round: discover, heartbeat, renew, balance. Returns when to run the next.
    async fn round(&mut self) -> Instant {
        let began = Instant::now();
        let third = self.lease.checked_div(3).unwrap_or(self.lease);
        let regular = began.checked_add(third).unwrap_or(began);
        self.discover().await;
        let store_now = match self.store.heartbeat(&self.worker, self.lease).await {
            Ok(now) => now,
            Err(error) => {
                self.send(FleetEvent::StoreFailed { stream: None, error });
                return regular;
            }
        };
        self.renew().await;
        let (rows, workers) = match (self.store.leases().await, self.store.workers().await) {
            (Ok(rows), Ok(workers)) => (rows, workers),
            (Err(error), _) | (_, Err(error)) => {
                self.send(FleetEvent::StoreFailed { stream: None, error });
                return regular;
            }
        };
        // When another worker's heartbeat runs out, the shares change: be there as it does
        // (its leases, renewed in the same round, run out a moment later).
        let regular = workers
            .iter()
            .filter(|w| w.worker != self.worker)
            .map(|w| w.expires_ms)
            .min()
            .map_or(regular, |at| at_store_time(began, store_now, at).min(regular));
        let mut ids: Vec<&str> = workers.iter().map(|w| w.worker.as_str()).collect();
        if !ids.contains(&self.worker.as_str()) {
            ids.push(&self.worker);
        }
        ids.sort_unstable();
        ids.dedup();
        let mine: Vec<&StreamLease> = rows.iter().filter(|r| self.streams.includes(&r.stream)).collect();
        let index = ids.iter().position(|&w| w == self.worker).unwrap_or(0);
        let target = share(mine.len(), ids.len(), index);
        let held: HashSet<String> = self.shared.held().keys().cloned().collect();
        if held.len() > target {
            self.shed(&held, target);
            return regular;
        }
        let wanted = target.saturating_sub(held.len());
        if wanted == 0 {
            return regular;
        }
        self.take(&mine, &held, wanted, store_now, began).await.min(regular)
    }

    /// `All`: lists the streams now and then and adds the new ones to the store.
    async fn discover(&mut self) {
        let StreamChoice::All { prefix } = &self.streams else { return };
        let now = Instant::now();
        if self.next_discover.is_some_and(|t| now < t) {
            return;
        }
        self.next_discover = now.checked_add(self.discover_every);
        match self.client.list_streams(prefix.as_deref()).await {
            Ok(names) => {
                if let Err(error) = self.store.add_streams(&names).await {
                    self.send(FleetEvent::StoreFailed { stream: None, error });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "ListStreams failed");
                // Try again at the next round.
                self.next_discover = None;
            }
        }
    }

    /// Renews every lease held; a lease lost stops its stream.
    async fn renew(&mut self) {
        let held: Vec<Held> = self.shared.held().values().cloned().collect();
        for h in held {
            let sent = Instant::now();
            match self.store.renew(&h.lease, self.lease).await {
                Ok(lease) => {
                    if let Some(entry) = self.shared.held().get_mut(&lease.stream)
                        && entry.lease.counter == lease.counter
                    {
                        entry.valid_until = sent.checked_add(self.lease).unwrap_or(sent);
                        entry.lease = lease;
                    }
                }
                Err(StoreError::LeaseLost { .. }) => {
                    let removed = {
                        let mut map = self.shared.held();
                        match map.get(&h.lease.stream) {
                            Some(e) if e.lease.counter == h.lease.counter => {
                                map.remove(&h.lease.stream).is_some()
                            }
                            _ => false,
                        }
                    };
                    if removed {
                        let _ = self.handle.remove(&StreamId::name(&h.lease.stream));
                        self.send(FleetEvent::Lost { stream: h.lease.stream.clone() });
                    }
                }
                Err(error) => {
                    self.send(FleetEvent::StoreFailed { stream: Some(h.lease.stream.clone()), error })
                }
            }
        }
    }

    /// Asks the worker to hand over the streams above the share (the last ones by name).
    fn shed(&self, held: &HashSet<String>, target: usize) {
        let mut names: Vec<&String> = held.iter().collect();
        names.sort_unstable();
        let excess: Vec<String> = names.into_iter().skip(target).cloned().collect();
        let mut shed = self.shared.shed.lock().unwrap_or_else(PoisonError::into_inner);
        for s in excess {
            if !shed.contains(&s) {
                shed.push(s);
            }
        }
        drop(shed);
        let _ = self.tx.send(Notice::Shed);
    }

    /// Takes up to `wanted` free or expired leases; returns when a lease this worker could
    /// take next expires (to be there as it does).
    async fn take(
        &mut self,
        rows: &[&StreamLease],
        held: &HashSet<String>,
        wanted: usize,
        store_now: i64,
        began: Instant,
    ) -> Instant {
        let failed: HashMap<String, Instant> = {
            let mut failed = self.shared.failed.lock().unwrap_or_else(PoisonError::into_inner);
            failed.retain(|_, until| *until > began);
            failed.clone()
        };
        let mut candidates: Vec<&&StreamLease> =
            rows.iter().filter(|r| !held.contains(&r.stream) && !failed.contains_key(&r.stream)).collect();
        // Each worker walks the candidates in its own order, so that workers taking at the
        // same moment seldom race for the same lease.
        candidates.sort_by_key(|r| {
            let mut h = DefaultHasher::new();
            (&self.worker, &r.stream).hash(&mut h);
            h.finish()
        });
        let mut next_expiry: Option<i64> = None;
        let mut taken = 0usize;
        for row in candidates {
            if taken >= wanted {
                break;
            }
            let free = row.owner.is_none() || row.expires_ms <= store_now;
            if !free {
                // Held by another (or by this worker's previous life, releasing): due when
                // it expires.
                next_expiry = Some(next_expiry.map_or(row.expires_ms, |t| t.min(row.expires_ms)));
                continue;
            }
            match self.store.take(&row.stream, &self.worker, row.counter, self.lease).await {
                Ok(Some(lease)) => {
                    taken = taken.saturating_add(1);
                    // The checkpoint as it stands now that the previous holder is fenced off
                    // (it may have written one after `rows` was read).
                    let checkpoint = match self.store.lease(&row.stream).await {
                        Ok(Some(now)) => now.checkpoint,
                        Ok(None) => row.checkpoint.clone(),
                        Err(error) => {
                            self.send(FleetEvent::StoreFailed { stream: Some(row.stream.clone()), error });
                            row.checkpoint.clone()
                        }
                    };
                    self.acquired(lease, checkpoint.map(|c| c.position), began);
                }
                Ok(None) => {}
                Err(error) => self.send(FleetEvent::StoreFailed { stream: Some(row.stream.clone()), error }),
            }
        }
        match next_expiry {
            Some(at) if taken < wanted => at_store_time(began, store_now, at),
            _ => began.checked_add(self.lease).unwrap_or(began),
        }
    }

    /// A lease taken: start reading the stream from its checkpoint.
    fn acquired(&mut self, lease: Lease, resume: Option<Position>, sent: Instant) {
        let stream = lease.stream.clone();
        let valid_until = sent.checked_add(self.lease).unwrap_or(sent);
        self.shared.held().insert(stream.clone(), Held { lease, valid_until });
        let added = match &resume {
            Some(position) => {
                let mut position = position.clone();
                position.stream = StreamId::name(&stream);
                self.handle.resume(position)
            }
            None => self.handle.add(StreamId::name(&stream), self.start.clone()),
        };
        if !added {
            tracing::warn!(stream, "the stream was still in the set");
        }
        self.send(FleetEvent::Acquired { stream, resume });
    }
}

/// This machine's instant just after the store's clock reads `at` (`store_now` was read at
/// `local_now`).
fn at_store_time(local_now: Instant, store_now: i64, at: i64) -> Instant {
    let wait = u64::try_from(at.saturating_sub(store_now)).unwrap_or(0).saturating_add(20);
    local_now.checked_add(Duration::from_millis(wait)).unwrap_or(local_now)
}

/// Worker `index`'s share of `streams` among `workers` (sorted by id): the first
/// `streams % workers` workers take one more, so shares differ by at most one.
fn share(streams: usize, workers: usize, index: usize) -> usize {
    let Some(base) = streams.checked_div(workers) else { return streams };
    let extra = streams.checked_rem(workers).unwrap_or(0);
    if index < extra { base.saturating_add(1) } else { base }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_differ_by_at_most_one_and_add_up() {
        for streams in 0..40 {
            for workers in 1..7 {
                let shares: Vec<usize> = (0..workers).map(|i| share(streams, workers, i)).collect();
                assert_eq!(shares.iter().sum::<usize>(), streams);
                let (min, max) = (shares.iter().min().copied(), shares.iter().max().copied());
                assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "{shares:?}");
            }
        }
        assert_eq!(share(5, 0, 0), 5);
    }
}
