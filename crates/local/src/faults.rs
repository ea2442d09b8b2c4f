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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// End each response after this many body bytes.
    pub cut_after_bytes: Option<u64>,
    /// End each response at a point chosen uniformly in `1..total` (the size of everything
    /// the response would send) by a PRNG seeded with this seed and the request's sequence
    /// number: the same seed gives the same cut points in the same request order.
    pub cut_random: Option<u64>,
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
        // The reference output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
