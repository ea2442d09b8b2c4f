//! A GetMedia response body: the chunks from the start fragment on, paced in live mode,
//! with the faults applied.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::watch;

use super::state::{Shared, StreamState};
use crate::faults::{CutStyle, ErrorAfterFragment};
use kvs_mux::getmedia;

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
}

/// The state of one response body.
pub(crate) struct MediaBody {
    shared: Arc<Shared>,
    stream: Option<Arc<StreamState>>,
    /// The next fragment to enqueue.
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
        let (stream, next, queue, finishing) = match start {
            Start::Fragments { stream, index } => (Some(stream), index, VecDeque::new(), false),
            Start::Error(chunk) => (None, 0, VecDeque::from([chunk]), true),
        };
        Self {
            shared,
            stream,
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

    /// Queues fragment `index` (head in pieces, then the closing tags rendered now) and the
    /// error chunk that follows it, if one does.
    fn enqueue(&mut self, stream: &StreamState, index: usize) -> Result<(), std::io::Error> {
        let Some(f) = stream.fragments.get(index) else { return Ok(()) };
        let behind = if self.shared.live {
            self.shared.now_epoch_ms().saturating_sub(f.server_ms)
        } else {
            stream.fragments.last().map_or(0, |l| l.server_ms).saturating_sub(f.server_ms)
        };
        let end = getmedia::fragment_end(u64::try_from(behind).unwrap_or(0), f.number.as_str())
            .map_err(std::io::Error::other)?;
        let size = self.shared.chunk_size.max(1);
        let mut head = f.head.clone();
        while !head.is_empty() {
            let piece = head.split_to(size.min(head.len()));
            self.queue.push_back(piece);
        }
        self.queue.push_back(Bytes::from(end));
        if self.stall.is_some() && self.stall_at.is_none() {
            // Halfway through the first chunk sent.
            let total: usize = self.queue.iter().map(Bytes::len).sum();
            self.stall_at = Some(self.sent.saturating_add(u64::try_from(total / 2).unwrap_or(0)));
        }
        if let Some(e) = self.error_after.filter(|e| e.fragment_index == index) {
            let number = stream.fragments.get(index.saturating_add(1)).unwrap_or(f).number.as_str();
            let chunk =
                getmedia::error_chunk(Some(number), e.error_id, getmedia::error_description(e.error_id))
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
