//! Fault injection: what can go wrong with a GetMedia call, on purpose.

use std::time::Duration;

use crate::api::ServiceErrorKind;

/// How an injected cut ends a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutStyle {
    /// The body ends cleanly (the chunked encoding's last chunk is sent): the client sees an
    /// early, orderly end of stream, as when the service closes a long session.
    #[default]
    Eof,
    /// The connection is dropped without ending the body: the client sees a transport
    /// error (incomplete message).
    Reset,
}

/// After a fragment, an in-stream error chunk ends the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorAfterFragment {
    /// The 0-based index of the fragment in the stream (not in the response) after which the
    /// error chunk is sent. A response that does not send this fragment is not affected.
    pub fragment_index: usize,
    /// The `AWS_KINESISVIDEO_ERROR_ID` value (e.g. 3002, 4000, 4500..4506, 5000).
    pub error_id: u64,
}

/// Answer GetMedia calls with a service error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailWith {
    /// The error.
    pub error: ServiceErrorKind,
    /// How many GetMedia calls per stream fail (the first ones); `None`: all of them.
    pub first_calls: Option<u64>,
}

/// The faults a server injects into GetMedia calls; the default injects none.
///
/// Each applies to every GetMedia response (per stream where it says so). Cuts, stalls
/// and error chunks count the bytes of the response body.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// End each response after this many body bytes.
    pub cut_after_bytes: Option<u64>,
    /// End each response at a point chosen uniformly in `1..total` (the size of everything
    /// the response would send) by a PRNG seeded with this seed and the request's sequence
    /// number: the same seed gives the same cut points in the same request order.
    pub cut_random: Option<u64>,
    /// The probability (in `0.0..=1.0`, default 1.0) that `cut_random` cuts a response; the
    /// others are sent whole, so a reader can reach the stream's last fragment. Drawn by the
    /// same seeded PRNG, after the cut point (with 1.0 the cut points do not change). Out of
    /// range values are clamped; NaN counts as 1.0.
    pub cut_probability: f64,
    /// How a cut ends the response.
    pub cut_style: CutStyle,
    /// Go silent for this long once per response.
    pub stall: Option<Duration>,
    /// Where the stall starts, in body bytes; `None`: halfway through the first chunk.
    pub stall_after_bytes: Option<u64>,
    /// Answer `ConnectionLimitExceededException` (400) to GetMedia calls above this many per
    /// second per stream (a sliding one-second window of the calls that were accepted).
    pub throttle_rate: Option<u32>,
    /// Send an in-stream error chunk after a fragment and end the response.
    pub error_after_fragment: Option<ErrorAfterFragment>,
    /// Answer GetMedia calls with an error.
    pub fail_with: Option<FailWith>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            cut_after_bytes: None,
            cut_random: None,
            cut_probability: 1.0,
            cut_style: CutStyle::default(),
            stall: None,
            stall_after_bytes: None,
            throttle_rate: None,
            error_after_fragment: None,
            fail_with: None,
        }
    }
}

impl Faults {
    /// Whether no fault is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// SplitMix64: a tiny, seeded, deterministic PRNG (not for cryptography).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with this seed.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n == 0`), by multiply-shift (Lemire), bias below 2^-64 * n.
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()).wrapping_mul(u128::from(n));
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// Whether an event of probability `p` happens: true with probability `p` (clamped to
    /// `0.0..=1.0`; NaN counts as 1.0). Always draws one number.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1): exact, every value equally likely.
        let bits = self.next_u64() >> 11;
        #[allow(clippy::cast_precision_loss)]
        let unit = bits as f64 / 9_007_199_254_740_992.0;
        p.is_nan() || unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_bounded() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            let x = a.below(1000);
            assert_eq!(x, b.below(1000));
            assert!(x < 1000);
        }
        assert_eq!(SplitMix64::new(1).below(0), 0);
        let mut c = SplitMix64::new(3);
        assert!((0..1000).all(|_| c.chance(1.0) && !c.chance(0.0)));
        assert!((0..100).all(|_| c.chance(f64::NAN) && c.chance(2.0) && !c.chance(-1.0)));
        let hits = (0..10_000).filter(|_| c.chance(0.5)).count();
        assert!((4500..5500).contains(&hits), "{hits}");
        // The reference output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
