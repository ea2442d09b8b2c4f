//! At most N calls per second: a minimum spacing between calls, shared by every caller.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Spaces calls at least `interval` apart (200 ms: the 5 GetMedia calls per second per
/// stream that the service allows). Callers reserve the next free slot and sleep until it,
/// so concurrent callers queue in order instead of bursting.
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use kvs_sdk::RateLimiter;
///
/// let limiter = RateLimiter::per_second(5);
/// let now = Instant::now();
/// assert_eq!(limiter.reserve(now), now);
/// assert_eq!(limiter.reserve(now), now + Duration::from_millis(200));
/// assert_eq!(limiter.reserve(now), now + Duration::from_millis(400));
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// Calls at least `interval` apart.
    #[must_use]
    pub const fn new(interval: Duration) -> Self {
        Self { interval, next: Mutex::new(None) }
    }

    /// At most `calls` per second (0 counts as 1).
    #[must_use]
    pub fn per_second(calls: u32) -> Self {
        Self::new(Duration::from_secs(1).checked_div(calls.max(1)).unwrap_or(Duration::from_secs(1)))
    }

    /// The minimum spacing.
    #[must_use]
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// Reserves the next free slot at or after `now` and returns its time.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot.checked_add(self.interval).unwrap_or(slot));
        slot
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::per_second(5)
    }
}
