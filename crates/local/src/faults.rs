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

/// The fault injection's seeded generator: the workspace's one SplitMix64.
pub use kvs_ebml::rng::SplitMix64;
