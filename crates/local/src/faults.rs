//! Fault injection: what can go wrong with a GetMedia call, on purpose.

use std::str::FromStr;
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

/// Why a fault (or a server duration) given as text was refused. The texts are those
/// `kvs-mkv serve` prints after the option's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultParseError {
    /// [`ErrorAfterFragment`] without the `:`.
    #[error("expected K:ID (e.g. 3:4000), got {0:?}")]
    ErrorAfterSyntax(String),
    /// [`ErrorAfterFragment`]'s K is not a fragment index.
    #[error("K must be a fragment index, got {0:?}")]
    FragmentIndex(String),
    /// [`ErrorAfterFragment`]'s ID is not an integer.
    #[error("ID must be an integer error id, got {0:?}")]
    ErrorId(String),
    /// [`FailWith`]'s N is not a count.
    #[error("N must be a count, got {0:?}")]
    Count(String),
    /// [`FailWith`]'s TYPE is no service error type.
    #[error("unknown error type {0:?}")]
    ErrorType(String),
    /// Not a number (see [`parse_probability`]).
    #[error("expected a probability between 0 and 1, got {0:?}")]
    ProbabilityNotNumber(String),
    /// A number outside `0..=1` (see [`parse_probability`]).
    #[error("expected a probability between 0 and 1, got {0}")]
    ProbabilityRange(String),
    /// Not a number (see [`parse_seconds`]).
    #[error("expected a number of seconds, got {0:?}")]
    SecondsNotNumber(String),
    /// Not above 0 and at most 86400 (see [`parse_seconds`]).
    #[error("expected seconds above 0 and at most 86400, got {0}")]
    SecondsRange(String),
}

/// `K:ID`: after the stream's fragment K (0-based), an error chunk with id ID.
///
/// ```
/// use kvs_local::ErrorAfterFragment;
/// let e: ErrorAfterFragment = "3:4000".parse().unwrap();
/// assert_eq!(e, ErrorAfterFragment { fragment_index: 3, error_id: 4000 });
/// ```
impl FromStr for ErrorAfterFragment {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, id) = s.split_once(':').ok_or_else(|| FaultParseError::ErrorAfterSyntax(s.to_owned()))?;
        let fragment_index = k.parse().map_err(|_| FaultParseError::FragmentIndex(k.to_owned()))?;
        let error_id = id.parse().map_err(|_| FaultParseError::ErrorId(id.to_owned()))?;
        Ok(ErrorAfterFragment { fragment_index, error_id })
    }
}

/// `TYPE[:N]`: the first N GetMedia calls per stream (all without `:N`) answered with the
/// service error TYPE (as [`ServiceErrorKind::from_type_name`] reads it).
///
/// ```
/// use kvs_local::{FailWith, ServiceErrorKind};
/// let f: FailWith = "ClientLimitExceeded:2".parse().unwrap();
/// assert_eq!(f, FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(2) });
/// ```
impl FromStr for FailWith {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c.parse::<u64>().map_err(|_| FaultParseError::Count(c.to_owned()))?)),
            None => (s, None),
        };
        let error = ServiceErrorKind::from_type_name(name)
            .ok_or_else(|| FaultParseError::ErrorType(name.to_owned()))?;
        Ok(FailWith { error, first_calls: count })
    }
}

/// A probability in `0..=1` (as [`Faults::cut_probability`] takes it).
///
/// # Errors
///
/// [`FaultParseError::ProbabilityNotNumber`] or [`FaultParseError::ProbabilityRange`].
pub fn parse_probability(s: &str) -> Result<f64, FaultParseError> {
    let p: f64 = s.parse().map_err(|_| FaultParseError::ProbabilityNotNumber(s.to_owned()))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(FaultParseError::ProbabilityRange(s.to_owned())) }
}

/// Seconds above 0 and at most a day, a fraction allowed (`0.5`): a server duration (the
/// header and idle timeouts).
///
/// # Errors
///
/// [`FaultParseError::SecondsNotNumber`] or [`FaultParseError::SecondsRange`].
pub fn parse_seconds(s: &str) -> Result<Duration, FaultParseError> {
    let secs: f64 = s.parse().map_err(|_| FaultParseError::SecondsNotNumber(s.to_owned()))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(FaultParseError::SecondsRange(s.to_owned()));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| FaultParseError::SecondsRange(s.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn error_after_fragment_parses_and_names_the_bad_part() {
        assert_eq!(
            "0:3002".parse::<ErrorAfterFragment>(),
            Ok(ErrorAfterFragment { fragment_index: 0, error_id: 3002 })
        );
        let err = |s: &str| s.parse::<ErrorAfterFragment>().unwrap_err().to_string();
        assert_eq!(err("3"), r#"expected K:ID (e.g. 3:4000), got "3""#);
        assert_eq!(err("x:4000"), r#"K must be a fragment index, got "x""#);
        assert_eq!(err("-1:4000"), r#"K must be a fragment index, got "-1""#);
        assert_eq!(err("3:e"), r#"ID must be an integer error id, got "e""#);
    }

    #[test]
    fn fail_with_parses_any_spelling_and_an_optional_count() {
        assert_eq!(
            "notauthorizedexception".parse::<FailWith>(),
            Ok(FailWith { error: ServiceErrorKind::NotAuthorized, first_calls: None })
        );
        assert_eq!(
            "ResourceNotFound:0".parse::<FailWith>(),
            Ok(FailWith { error: ServiceErrorKind::ResourceNotFound, first_calls: Some(0) })
        );
        let err = |s: &str| s.parse::<FailWith>().unwrap_err().to_string();
        assert_eq!(err("Nope"), r#"unknown error type "Nope""#);
        assert_eq!(err("Nope:x"), r#"N must be a count, got "x""#);
        assert_eq!(err("InvalidArgument:-2"), r#"N must be a count, got "-2""#);
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("0"), Ok(0.0));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert_eq!(parse_probability("1"), Ok(1.0));
        assert_eq!(
            parse_probability("1.5").unwrap_err().to_string(),
            "expected a probability between 0 and 1, got 1.5"
        );
        assert_eq!(parse_probability("NaN").unwrap_err(), FaultParseError::ProbabilityRange("NaN".into()));
        assert_eq!(
            parse_probability("half").unwrap_err().to_string(),
            r#"expected a probability between 0 and 1, got "half""#
        );
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("86400"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_seconds("0").unwrap_err().to_string(),
            "expected seconds above 0 and at most 86400, got 0"
        );
        assert_eq!(parse_seconds("inf").unwrap_err(), FaultParseError::SecondsRange("inf".into()));
        assert_eq!(parse_seconds("1m").unwrap_err().to_string(), r#"expected a number of seconds, got "1m""#);
    }
}
