//! Counters a program can read at any time, from any thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicU64,
    fragments: AtomicU64,
    frames: AtomicU64,
    fragments_aborted: AtomicU64,
    duplicates_skipped: AtomicU64,
    connections: AtomicU64,
    reconnects: AtomicU64,
    throttles: AtomicU64,
    idle_timeouts: AtomicU64,
    stream_errors: AtomicU64,
    decode_errors: AtomicU64,
    /// `u64::MAX` until the first fragment ends.
    millis_behind_now: AtomicU64,
}

/// A consumer's counters: clone the handle and read it any time (the values are atomics).
///
/// ```
/// let metrics = kvs_sdk::Metrics::new();
/// assert_eq!(metrics.reconnects(), 0);
/// assert_eq!(metrics.millis_behind_now(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Counters>);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn add(c: &AtomicU64, n: u64) {
    // Saturating would need a CAS loop; 2^64 bytes is not reachable.
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Zeroed counters.
    #[must_use]
    pub fn new() -> Self {
        let c = Counters::default();
        c.millis_behind_now.store(u64::MAX, Ordering::Relaxed);
        Self(Arc::new(c))
    }

    /// Payload bytes received.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }
    /// Complete fragments delivered (each once).
    #[must_use]
    pub fn fragments(&self) -> u64 {
        self.0.fragments.load(Ordering::Relaxed)
    }
    /// Frames delivered (in event mode, frames of aborted fragments included).
    #[must_use]
    pub fn frames(&self) -> u64 {
        self.0.frames.load(Ordering::Relaxed)
    }
    /// Fragments cut mid-way (to be delivered again after a reconnect).
    #[must_use]
    pub fn fragments_aborted(&self) -> u64 {
        self.0.fragments_aborted.load(Ordering::Relaxed)
    }
    /// Fragments received again after a reconnect and dropped (number not above the last
    /// delivered one).
    #[must_use]
    pub fn duplicates_skipped(&self) -> u64 {
        self.0.duplicates_skipped.load(Ordering::Relaxed)
    }
    /// GetMedia responses that started a body.
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }
    /// Reconnections (after a clean end, a cut, a timeout, a throttle or an error).
    #[must_use]
    pub fn reconnects(&self) -> u64 {
        self.0.reconnects.load(Ordering::Relaxed)
    }
    /// Throttling answers (`ClientLimitExceeded`, `ConnectionLimitExceeded`, HTTP 429).
    #[must_use]
    pub fn throttles(&self) -> u64 {
        self.0.throttles.load(Ordering::Relaxed)
    }
    /// Connections dropped because no byte arrived within the idle timeout.
    #[must_use]
    pub fn idle_timeouts(&self) -> u64 {
        self.0.idle_timeouts.load(Ordering::Relaxed)
    }
    /// In-stream error chunks received.
    #[must_use]
    pub fn stream_errors(&self) -> u64 {
        self.0.stream_errors.load(Ordering::Relaxed)
    }
    /// Malformed-payload errors (recoverable ones included).
    #[must_use]
    pub fn decode_errors(&self) -> u64 {
        self.0.decode_errors.load(Ordering::Relaxed)
    }
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` of the last complete fragment.
    #[must_use]
    pub fn millis_behind_now(&self) -> Option<u64> {
        match self.0.millis_behind_now.load(Ordering::Relaxed) {
            u64::MAX => None,
            v => Some(v),
        }
    }

    /// All counters at once.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            bytes: self.bytes(),
            fragments: self.fragments(),
            frames: self.frames(),
            fragments_aborted: self.fragments_aborted(),
            duplicates_skipped: self.duplicates_skipped(),
            connections: self.connections(),
            reconnects: self.reconnects(),
            throttles: self.throttles(),
            idle_timeouts: self.idle_timeouts(),
            stream_errors: self.stream_errors(),
            decode_errors: self.decode_errors(),
            millis_behind_now: self.millis_behind_now(),
        }
    }

    pub(crate) fn add_bytes(&self, n: usize) {
        add(&self.0.bytes, u64::try_from(n).unwrap_or(u64::MAX));
    }
    pub(crate) fn fragment(&self, millis_behind_now: Option<u64>) {
        add(&self.0.fragments, 1);
        if let Some(m) = millis_behind_now {
            self.0.millis_behind_now.store(m.min(u64::MAX.saturating_sub(1)), Ordering::Relaxed);
        }
    }
    pub(crate) fn add_frames(&self, n: u64) {
        add(&self.0.frames, n);
    }
    pub(crate) fn frame(&self) {
        add(&self.0.frames, 1);
    }
    pub(crate) fn aborted(&self) {
        add(&self.0.fragments_aborted, 1);
    }
    pub(crate) fn duplicate(&self) {
        add(&self.0.duplicates_skipped, 1);
    }
    pub(crate) fn connection(&self) {
        add(&self.0.connections, 1);
    }
    pub(crate) fn reconnect(&self) {
        add(&self.0.reconnects, 1);
    }
    pub(crate) fn throttle(&self) {
        add(&self.0.throttles, 1);
    }
    pub(crate) fn idle_timeout(&self) {
        add(&self.0.idle_timeouts, 1);
    }
    pub(crate) fn stream_error(&self) {
        add(&self.0.stream_errors, 1);
    }
    pub(crate) fn decode_error(&self) {
        add(&self.0.decode_errors, 1);
    }
}

/// The counters of [`Metrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Payload bytes received.
    pub bytes: u64,
    /// Complete fragments delivered.
    pub fragments: u64,
    /// Frames delivered.
    pub frames: u64,
    /// Fragments cut mid-way.
    pub fragments_aborted: u64,
    /// Fragments dropped as already delivered.
    pub duplicates_skipped: u64,
    /// GetMedia responses that started a body.
    pub connections: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Throttling answers.
    pub throttles: u64,
    /// Idle timeouts.
    pub idle_timeouts: u64,
    /// In-stream error chunks.
    pub stream_errors: u64,
    /// Malformed-payload errors.
    pub decode_errors: u64,
    /// Millis-behind-now of the last complete fragment.
    pub millis_behind_now: Option<u64>,
}
