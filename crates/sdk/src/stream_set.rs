//! Many streams in one process: a [`MediaConsumer`] per stream, one `Stream` of items out.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::client::KvsClient;
use crate::consumer::{ConsumerItem, MediaConsumer, MediaConsumerBuilder};
use crate::selector::{Position, StartSelector, StreamId};

/// The default capacity of each stream's queue, in items.
pub const DEFAULT_SET_QUEUE: usize = 16;

type Configure = dyn Fn(MediaConsumerBuilder) -> MediaConsumerBuilder + Send + Sync;

/// One item of a [`StreamSet`].
#[derive(Debug)]
pub struct SetItem {
    /// The stream it came from.
    pub stream: StreamId,
    /// The consumer's item. An `Err` is terminal: the stream has left the set.
    pub item: ConsumerItem,
    /// The stream's position after this item: Some when this item completed a fragment (the
    /// position to checkpoint once the application has finished with the item), None otherwise.
    pub position: Option<Position>,
}

/// Builds a [`StreamSet`].
#[must_use]
pub struct StreamSetBuilder {
    client: KvsClient,
    queue: usize,
    configure: Option<Arc<Configure>>,
}

impl std::fmt::Debug for StreamSetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSetBuilder").field("queue", &self.queue).finish_non_exhaustive()
    }
}

impl StreamSetBuilder {
    /// Items each stream may queue before its consumer pauses (default
    /// [`DEFAULT_SET_QUEUE`]; at least 1).
    pub fn queue(mut self, items: usize) -> Self {
        self.queue = items.max(1);
        self
    }

    /// Applied to the builder of every consumer the set makes ([`StreamSetHandle::add`],
    /// [`StreamSetHandle::resume`]), after its stream and start.
    pub fn configure(
        mut self,
        f: impl Fn(MediaConsumerBuilder) -> MediaConsumerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }

    /// The set, empty.
    #[must_use]
    pub fn build(self) -> StreamSet {
        let shared = Arc::new(Shared {
            client: self.client,
            queue: self.queue,
            configure: self.configure,
            state: Mutex::new(State::default()),
        });
        StreamSet { shared, lanes: SelectAll::new() }
    }
}

/// Many live streams in one process: a [`MediaConsumer`] per stream, each in its own tokio
/// task, all over one [`KvsClient`] (one HTTP client, one endpoint cache), and one `Stream`
/// of [`SetItem`]s out.
///
/// Streams are added and removed while it runs, through a [`StreamSetHandle`]
/// ([`StreamSet::handle`]), also from the loop that polls the set. Each stream's task
/// sends into its own bounded queue ([`StreamSetBuilder::queue`]): a full queue pauses that
/// consumer alone, which then stops reading its connection. The set yields round-robin
/// between the streams with items ready (`futures_util`'s `SelectAll`: a stream that
/// yielded goes to the back of the ready queue), so a busy stream cannot starve a quiet
/// one. A consumer that ends (its last item, or a terminal `Err`) leaves the set.
///
/// Consumers start when the set is next polled, which must be inside a tokio runtime. The
/// set is `Pending` while empty; it ends when it is empty and every handle was dropped.
/// Dropping it stops every consumer.
pub struct StreamSet {
    shared: Arc<Shared>,
    lanes: SelectAll<Lane>,
}

impl std::fmt::Debug for StreamSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSet")
            .field("streams", &self.shared.lock().streams.len())
            .finish_non_exhaustive()
    }
}

impl StreamSet {
    /// An empty set with the default settings.
    #[must_use]
    pub fn new(client: KvsClient) -> Self {
        Self::builder(client).build()
    }

    /// A builder.
    pub fn builder(client: KvsClient) -> StreamSetBuilder {
        StreamSetBuilder { client, queue: DEFAULT_SET_QUEUE, configure: None }
    }

    /// A handle to add and remove streams.
    #[must_use]
    pub fn handle(&self) -> StreamSetHandle {
        StreamSetHandle::new(&self.shared)
    }

    /// The streams in the set, sorted.
    #[must_use]
    pub fn streams(&self) -> Vec<StreamId> {
        self.shared.streams()
    }

    /// How many streams are in the set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.lock().streams.len()
    }

    /// Whether the set has no stream.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the consumers added since the last poll.
    fn start_added(&mut self, state: &mut State) {
        for added in std::mem::take(&mut state.added) {
            let Some(slot) = state.streams.get_mut(&added.stream) else { continue };
            if slot.key != added.key {
                continue;
            }
            let (tx, rx) = mpsc::channel(self.shared.queue);
            let queued = Arc::clone(&slot.queued);
            let task = tokio::spawn(pump(added.consumer, tx, Arc::clone(&queued)));
            slot.task = Some(task.abort_handle());
            self.lanes.push(Lane {
                key: added.key,
                stream: added.stream,
                rx,
                queued,
                shared: Arc::clone(&self.shared),
            });
        }
    }
}

impl Stream for StreamSet {
    type Item = SetItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SetItem>> {
        let this = self.get_mut();
        {
            let shared = Arc::clone(&this.shared);
            let mut state = shared.lock();
            match &mut state.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
            this.start_added(&mut state);
        }
        if let Poll::Ready(Some(item)) = this.lanes.poll_next_unpin(cx) {
            return Poll::Ready(Some(item));
        }
        let state = this.shared.lock();
        if this.lanes.is_empty() && state.added.is_empty() && state.handles == 0 {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl Drop for StreamSet {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.added.clear();
        for slot in state.streams.values() {
            if let Some(task) = &slot.task {
                task.abort();
            }
        }
        state.streams.clear();
    }
}

/// Adds streams to a [`StreamSet`] and removes them; cheap to clone. Once the set is dropped,
/// nothing can be added.
pub struct StreamSetHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamSetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSetHandle").finish_non_exhaustive()
    }
}

impl Clone for StreamSetHandle {
    fn clone(&self) -> Self {
        Self::new(&self.shared)
    }
}

impl Drop for StreamSetHandle {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.handles = state.handles.saturating_sub(1);
        if state.handles == 0
            && let Some(w) = state.waker.take()
        {
            w.wake();
        }
    }
}

impl StreamSetHandle {
    fn new(shared: &Arc<Shared>) -> Self {
        let mut state = shared.lock();
        state.handles = state.handles.saturating_add(1);
        drop(state);
        Self { shared: Arc::clone(shared) }
    }

    /// Adds `stream`, starting at `start`; false if it is already in the set.
    pub fn add(&self, stream: StreamId, start: StartSelector) -> bool {
        if self.contains(&stream) {
            return false;
        }
        let builder = MediaConsumer::builder(self.shared.client.clone(), stream).start(start);
        self.add_consumer(self.shared.configured(builder))
    }

    /// Adds `position.stream`, resuming after `position.last` ([`MediaConsumerBuilder::resume`]);
    /// false if it is already in the set.
    pub fn resume(&self, position: Position) -> bool {
        if self.contains(&position.stream) {
            return false;
        }
        let builder = MediaConsumer::resume(self.shared.client.clone(), position);
        self.add_consumer(self.shared.configured(builder))
    }

    /// Adds a consumer built by the caller (the set's configuration does not apply); false,
    /// dropping it, if its stream is already in the set.
    pub fn add_consumer(&self, consumer: MediaConsumer) -> bool {
        let position = consumer.position();
        let mut state = self.shared.lock();
        if state.closed || state.streams.contains_key(&position.stream) {
            return false;
        }
        let key = state.next_key;
        state.next_key = state.next_key.wrapping_add(1);
        let stream = position.stream.clone();
        state.streams.insert(
            stream.clone(),
            Slot { key, position, queued: Arc::new(AtomicUsize::new(0)), task: None },
        );
        state.added.push(Added { key, stream, consumer });
        if let Some(w) = &state.waker {
            w.wake_by_ref();
        }
        true
    }

    /// Stops `stream`: once this returns, the set yields no more items of it (not even
    /// queued ones). The position after the last item the set yielded of it, or None if it
    /// is not in the set.
    pub fn remove(&self, stream: &StreamId) -> Option<Position> {
        let slot = self.shared.lock().streams.remove(stream)?;
        if let Some(task) = slot.task {
            task.abort();
        }
        Some(slot.position)
    }

    /// Whether `stream` is in the set.
    #[must_use]
    pub fn contains(&self, stream: &StreamId) -> bool {
        self.shared.lock().streams.contains_key(stream)
    }

    /// The streams in the set, sorted.
    #[must_use]
    pub fn streams(&self) -> Vec<StreamId> {
        self.shared.streams()
    }

    /// How many streams are in the set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.lock().streams.len()
    }

    /// Whether the set has no stream.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position after the last item the set yielded of `stream`.
    #[must_use]
    pub fn position(&self, stream: &StreamId) -> Option<Position> {
        self.shared.lock().streams.get(stream).map(|s| s.position.clone())
    }

    /// Items of `stream` queued and not yet yielded (at most the queue capacity).
    #[must_use]
    pub fn queued(&self, stream: &StreamId) -> Option<usize> {
        self.shared.lock().streams.get(stream).map(|s| s.queued.load(Ordering::Acquire))
    }
}

struct Shared {
    client: KvsClient,
    queue: usize,
    configure: Option<Arc<Configure>>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn configured(&self, builder: MediaConsumerBuilder) -> MediaConsumer {
        match &self.configure {
            Some(f) => f(builder).build(),
            None => builder.build(),
        }
    }

    fn streams(&self) -> Vec<StreamId> {
        let mut out: Vec<StreamId> = self.lock().streams.keys().cloned().collect();
        out.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        out
    }
}

#[derive(Default)]
struct State {
    streams: HashMap<StreamId, Slot>,
    /// Consumers to start at the next poll.
    added: Vec<Added>,
    waker: Option<Waker>,
    handles: usize,
    next_key: u64,
    /// The set was dropped.
    closed: bool,
}

struct Slot {
    /// Tells this membership from an earlier one of the same stream.
    key: u64,
    /// After the last item yielded.
    position: Position,
    queued: Arc<AtomicUsize>,
    task: Option<AbortHandle>,
}

struct Added {
    key: u64,
    stream: StreamId,
    consumer: MediaConsumer,
}

/// What a stream's task queues.
struct Queued {
    item: ConsumerItem,
    position: Option<Position>,
}

/// A stream's task: reads its consumer into its queue, noting the position after each item
/// that completed a fragment. Ends after a terminal error or the consumer's end.
async fn pump(mut consumer: MediaConsumer, tx: mpsc::Sender<Box<Queued>>, queued: Arc<AtomicUsize>) {
    let mut moves = consumer.position_moves();
    while let Some(item) = consumer.next().await {
        let terminal = item.is_err();
        let now = consumer.position_moves();
        let position = (now != moves).then(|| consumer.position());
        moves = now;
        let queued_item = Box::new(Queued { item, position });
        let Ok(permit) = tx.reserve().await else { return };
        queued.fetch_add(1, Ordering::AcqRel);
        permit.send(queued_item);
        if terminal {
            return;
        }
    }
}

/// The set's end of a stream's queue.
struct Lane {
    key: u64,
    stream: StreamId,
    /// Boxed items: the channel's blocks hold 32 slots each.
    rx: mpsc::Receiver<Box<Queued>>,
    queued: Arc<AtomicUsize>,
    shared: Arc<Shared>,
}

impl Lane {
    /// Leaves the set (the consumer ended), unless it was removed or replaced.
    fn leave(&self, state: &mut State) {
        if state.streams.get(&self.stream).is_some_and(|s| s.key == self.key) {
            state.streams.remove(&self.stream);
        }
    }
}

impl Stream for Lane {
    type Item = SetItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SetItem>> {
        let this = self.get_mut();
        let next = match this.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        let shared = Arc::clone(&this.shared);
        let mut state = shared.lock();
        let Some(queued) = next else {
            this.leave(&mut state);
            return Poll::Ready(None);
        };
        let Queued { item, position } = *queued;
        this.queued.fetch_sub(1, Ordering::AcqRel);
        let Some(slot) = state.streams.get_mut(&this.stream).filter(|s| s.key == this.key) else {
            // Removed: nothing more of it.
            return Poll::Ready(None);
        };
        if let Some(p) = &position {
            slot.position.clone_from(p);
        }
        if item.is_err() {
            this.leave(&mut state);
        }
        Poll::Ready(Some(SetItem { stream: this.stream.clone(), item, position }))
    }
}
