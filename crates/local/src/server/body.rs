//! A GetMedia response body: the chunks from the start fragment on, paced in live mode,
//! with the faults applied; and a GetMediaForFragmentList body, the listed fragments' chunks
//! with that API's tags, through the same code and faults.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::watch;

use super::state::{Served, Shared, StreamState};
use crate::faults::{CutStyle, ErrorAfterFragment};
use kvs_mux::getmedia::{self, TagNames};

/// How long a reset waits for the bytes before it to be flushed.
const RESET_FLUSH_DELAY: Duration = Duration::from_millis(50);

/// Where a response starts.
pub(crate) enum Start {
    /// At this fragment of the stream (past the end: an empty body).
    Fragments {
        /// The stream.
        stream: Arc<StreamState>,
        /// The first fragment's index.
        index: usize,
    },
    /// One error chunk and nothing else.
    Error(Bytes),
    /// GetMediaForFragmentList: these chunks, in this order.
    List {
        /// The stream.
        stream: Arc<StreamState>,
        /// What is sent, in order.
        items: Vec<ListItem>,
    },
}

/// One item of a GetMediaForFragmentList response.
#[derive(Debug, Clone)]
pub(crate) enum ListItem {
    /// The stream's fragment at this index.
    Fragment(usize),
    /// A chunk sent as it is (an exception chunk).
    Chunk(Bytes),
}

/// The `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` a GetMedia response writes after fragment `f` of
/// `stream` when it sends it now: in live mode the time since its server timestamp, otherwise
/// how far its server timestamp is behind the stream's last fragment's. The dashboard reports
/// the lag of a live consumer with it.
pub(crate) fn millis_behind_now(shared: &Shared, stream: &StreamState, f: &Served) -> u64 {
    let behind = if shared.live {
        shared.now_epoch_ms().saturating_sub(f.server_ms)
    } else {
        stream.fragments.last().map_or(0, |l| l.server_ms).saturating_sub(f.server_ms)
    };
    u64::try_from(behind).unwrap_or(0)
}

/// The state of one response body.
pub(crate) struct MediaBody {
    shared: Arc<Shared>,
    stream: Option<Arc<StreamState>>,
    /// GetMediaForFragmentList: what is sent (`next` indexes it); `None` for GetMedia.
    list: Option<Vec<ListItem>>,
    /// The next fragment (or list item) to enqueue.
    next: usize,
    /// Pieces ready to send.
    queue: VecDeque<Bytes>,
    /// Body bytes sent so far.
    sent: u64,
    /// Where the response is cut.
    cut_at: Option<u64>,
    /// Where the stall starts (resolved when the first fragment is queued).
    stall_at: Option<u64>,
    stall: Option<Duration>,
    error_after: Option<ErrorAfterFragment>,
    /// No fragment is queued after the pieces in the queue.
    finishing: bool,
    /// Nothing more is sent.
    ended: bool,
    /// The next item is the injected transport error.
    reset_pending: bool,
    shutdown: watch::Receiver<bool>,
}

impl MediaBody {
    pub(crate) fn new(shared: Arc<Shared>, start: Start, random_cut: Option<u64>) -> Self {
        let faults = &shared.faults;
        let cut_at = match (faults.cut_after_bytes, random_cut) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let stall = faults.stall.filter(|d| !d.is_zero());
        let stall_at = faults.stall_after_bytes;
        let error_after = faults.error_after_fragment;
        let shutdown = shared.shutdown.clone();
        let (stream, list, next, queue, finishing) = match start {
            Start::Fragments { stream, index } => (Some(stream), None, index, VecDeque::new(), false),
            Start::Error(chunk) => (None, None, 0, VecDeque::from([chunk]), true),
            Start::List { stream, items } => (Some(stream), Some(items), 0, VecDeque::new(), false),
        };
        Self {
            shared,
            stream,
            list,
            next,
            queue,
            sent: 0,
            cut_at,
            stall_at,
            stall,
            error_after,
            finishing,
            ended: false,
            reset_pending: false,
            shutdown,
        }
    }

    /// The body, streamed chunk by chunk.
    pub(crate) fn into_body(self) -> Body {
        let stream = futures_util::stream::unfold(self, |mut body| async move {
            let item = body.next_piece().await?;
            Some((item, body))
        });
        Body::from_stream(stream)
    }

    /// Waits `d`, or until the server shuts down; false on shutdown.
    async fn pause(&mut self, d: Duration) -> bool {
        if *self.shutdown.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = self.shutdown.changed() => false,
        }
    }

    /// Queues `bytes` in pieces of at most the chunk size.
    fn push_pieces(&mut self, mut bytes: Bytes) {
        let size = self.shared.chunk_size.max(1);
        while !bytes.is_empty() {
            let piece = bytes.split_to(size.min(bytes.len()));
            self.queue.push_back(piece);
        }
    }

    /// Queues fragment `index` (head in pieces, then the closing tags rendered now) and the
    /// error chunk that follows it, if one does.
    fn enqueue(&mut self, stream: &StreamState, index: usize) -> Result<(), std::io::Error> {
        let Some(f) = stream.fragments.get(index) else { return Ok(()) };
        let behind = millis_behind_now(&self.shared, stream, f);
        let end = getmedia::fragment_end(behind, f.number.as_str()).map_err(std::io::Error::other)?;
        self.push_pieces(f.head.clone());
        self.queue.push_back(Bytes::from(end));
        self.after_fragment(stream, index, false)
    }

    /// Queues item `i` of a GetMediaForFragmentList response: a fragment's chunk with that
    /// API's tags (`SERVER_SIDE_TIMESTAMP`, ...) in place of GetMedia's, and no closing tags;
    /// or a chunk as it is.
    fn enqueue_listed(&mut self, stream: &StreamState, item: ListItem) -> Result<(), std::io::Error> {
        let index = match item {
            ListItem::Chunk(chunk) => {
                self.queue.push_back(chunk);
                return Ok(());
            }
            ListItem::Fragment(index) => index,
        };
        let Some(f) = stream.fragments.get(index) else { return Ok(()) };
        let tags =
            getmedia::fragment_tags(TagNames::FragmentList, f.number.as_str(), f.server_ms, f.producer_ms)
                .map_err(std::io::Error::other)?;
        let (start, end) = (f.tags.start.min(f.head.len()), f.tags.end.min(f.head.len()));
        self.push_pieces(f.head.slice(..start));
        self.queue.push_back(Bytes::from(tags));
        self.push_pieces(f.head.slice(end.max(start)..));
        self.after_fragment(stream, index, true)
    }

    /// After fragment `index` is queued: resolves the stall point, and queues the injected
    /// error chunk if it follows this fragment (GetMedia's error chunk, or for a
    /// GetMediaForFragmentList response its exception chunk).
    fn after_fragment(
        &mut self,
        stream: &StreamState,
        index: usize,
        listed: bool,
    ) -> Result<(), std::io::Error> {
        if self.stall.is_some() && self.stall_at.is_none() {
            // Halfway through the first chunk sent.
            let total: usize = self.queue.iter().map(Bytes::len).sum();
            self.stall_at = Some(self.sent.saturating_add(u64::try_from(total / 2).unwrap_or(0)));
        }
        if let Some(e) = self.error_after.filter(|e| e.fragment_index == index) {
            let next = if listed {
                match self.list.as_ref().and_then(|l| l.get(self.next.saturating_add(1))) {
                    Some(ListItem::Fragment(i)) => stream.fragments.get(*i),
                    _ => None,
                }
            } else {
                stream.fragments.get(index.saturating_add(1))
            };
            let number = next.or_else(|| stream.fragments.get(index)).map_or("0", |f| f.number.as_str());
            let description = getmedia::error_description(e.error_id);
            let chunk = if listed {
                getmedia::exception_chunk(number, e.error_id, description)
            } else {
                getmedia::error_chunk(Some(number), e.error_id, description)
            }
            .map_err(std::io::Error::other)?;
            self.queue.push_back(Bytes::from(chunk));
            self.finishing = true;
        }
        Ok(())
    }

    /// The next piece of the body, `None` at its end.
    async fn next_piece(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if self.reset_pending {
                self.reset_pending = false;
                self.ended = true;
                // Let the bytes before the cut reach the socket first: hyper drops its write
                // buffer when a body fails.
                self.pause(RESET_FLUSH_DELAY).await;
                return Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "kvs-local: injected cut",
                )));
            }
            if self.ended {
                return None;
            }
            if self.queue.is_empty() {
                if let (Some(stream), Some(list)) = (&self.stream, &self.list) {
                    let (stream, item) = match list.get(self.next) {
                        Some(item) if !self.finishing => (Arc::clone(stream), item.clone()),
                        _ => {
                            self.ended = true;
                            return None;
                        }
                    };
                    if let Err(e) = self.enqueue_listed(&stream, item) {
                        self.ended = true;
                        return Some(Err(e));
                    }
                    self.next = self.next.saturating_add(1);
                    continue;
                }
                let stream = match &self.stream {
                    Some(s) if !self.finishing && self.next < s.fragments.len() => Arc::clone(s),
                    _ => {
                        self.ended = true;
                        return None;
                    }
                };
                if self.shared.live {
                    let due = stream.fragments.get(self.next).map_or(Duration::ZERO, |f| f.available_after);
                    let wait = due.saturating_sub(self.shared.elapsed());
                    if !wait.is_zero() && !self.pause(wait).await {
                        self.ended = true;
                        return None;
                    }
                }
                if let Err(e) = self.enqueue(&stream, self.next) {
                    self.ended = true;
                    return Some(Err(e));
                }
                self.next = self.next.saturating_add(1);
                continue;
            }
            if let (Some(at), Some(d)) = (self.stall_at, self.stall)
                && self.sent >= at
            {
                self.stall = None;
                if !self.pause(d).await {
                    self.ended = true;
                    return None;
                }
            }
            let Some(mut piece) = self.queue.pop_front() else { continue };
            let len = u64::try_from(piece.len()).unwrap_or(u64::MAX);
            if let (Some(at), Some(_)) = (self.stall_at, self.stall)
                && at > self.sent
                && self.sent.saturating_add(len) > at
            {
                let keep = usize::try_from(at.saturating_sub(self.sent)).unwrap_or(piece.len());
                let rest = piece.split_off(keep.min(piece.len()));
                self.queue.push_front(rest);
            }
            if let Some(cut) = self.cut_at
                && self.sent.saturating_add(u64::try_from(piece.len()).unwrap_or(u64::MAX)) >= cut
            {
                let keep = usize::try_from(cut.saturating_sub(self.sent)).unwrap_or(piece.len());
                piece.truncate(keep);
                match self.shared.faults.cut_style {
                    CutStyle::Eof => self.ended = true,
                    CutStyle::Reset => self.reset_pending = true,
                }
                self.queue.clear();
                if piece.is_empty() {
                    continue;
                }
            }
            self.sent = self.sent.saturating_add(u64::try_from(piece.len()).unwrap_or(u64::MAX));
            return Some(Ok(piece));
        }
    }
}
