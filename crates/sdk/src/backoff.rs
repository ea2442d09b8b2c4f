//! Exponential back-off with full jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use kvs_ebml::rng::SplitMix64;

/// Exponential back-off with full jitter: after the `n`th consecutive failure the consumer
/// waits a uniformly random time in `[0, min(cap, base * 2^(n-1))]`.
///
/// ```
/// use std::time::Duration;
/// use kvs_sdk::{Backoff, Jitter};
///
/// let backoff = Backoff::default();
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
/// assert_eq!(backoff.ceiling(4), Duration::from_millis(800));
/// assert_eq!(backoff.ceiling(30), Duration::from_secs(10));
/// let mut jitter = Jitter::new(7);
/// assert!(backoff.delay(3, &mut jitter) <= Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling after the first failure (default 100 ms).
    pub base: Duration,
    /// The largest ceiling (default 10 s).
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(100), cap: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// A back-off with the given base and cap.
    #[must_use]
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The same base with another cap.
    #[must_use]
    pub const fn with_cap(self, cap: Duration) -> Self {
        Self { base: self.base, cap }
    }

    /// The largest delay after `failures` consecutive failures (0 for none).
    #[must_use]
    pub fn ceiling(&self, failures: u32) -> Duration {
        let Some(exp) = failures.checked_sub(1) else { return Duration::ZERO };
        let factor = 1u32.checked_shl(exp.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.cap, |d| d.min(self.cap))
    }

    /// A random delay in `[0, ceiling(failures)]`.
    #[must_use]
    pub fn delay(&self, failures: u32, jitter: &mut Jitter) -> Duration {
        let ceiling = self.ceiling(failures);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(jitter.below_inclusive(nanos))
    }
}

/// A small pseudo-random source for jitter (the workspace's SplitMix64,
/// [`kvs_ebml::rng::SplitMix64`]): not for cryptography.
#[derive(Debug, Clone)]
pub struct Jitter {
    rng: SplitMix64,
}

impl Jitter {
    /// A source with a fixed seed (reproducible delays, for tests).
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { rng: SplitMix64::new(seed) }
    }

    /// A source seeded from the process's random hasher keys.
    #[must_use]
    pub fn from_entropy() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x6b76_735f_7364_6b00);
        Self::new(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A value in `[0, max]` (multiply-shift, one draw).
    pub fn below_inclusive(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(span) => self.rng.below(span),
            None => self.rng.next_u64(),
        }
    }
}
