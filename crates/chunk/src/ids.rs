//! The identifiers the service writes into a payload: fragment numbers, continuation tokens
//! and in-stream error ids.

use std::cmp::Ordering;
use std::fmt;

/// A fragment number: a decimal of about 47 digits, too long for any integer type.
///
/// Ordering is numeric: by length (leading zeros ignored), then by digits. Equality and
/// hashing agree with it (`"007"` equals `"7"`), as `Ord` requires.
#[derive(Debug, Clone)]
pub struct FragmentNumber(String);

impl FragmentNumber {
    /// The number as written by the service.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a fragment number given as text (for example from a saved position).
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The number without leading zeros (`"0"` for zero): the form that equality, order and
    /// hashing compare.
    #[must_use]
    pub fn canonical(&self) -> &str {
        let t = self.0.trim_start_matches('0');
        if t.is_empty() && !self.0.is_empty() { "0" } else { t }
    }

    /// Whether the number is well-formed: 1 to 128 ASCII digits (the service's pattern
    /// `^[0-9]+$` and length limit).
    #[must_use]
    pub fn is_well_formed(&self) -> bool {
        (1..=128).contains(&self.0.len()) && self.0.bytes().all(|b| b.is_ascii_digit())
    }

    /// `self + addend`, computed digit by digit on the decimal text; `None` if the number is
    /// not a string of ASCII decimal digits.
    ///
    /// ```
    /// use kvs_chunk::FragmentNumber;
    ///
    /// let n = FragmentNumber::new("91343852333181432392682062607743920146159169392");
    /// assert_eq!(n.checked_add(8).unwrap().as_str(), "91343852333181432392682062607743920146159169400");
    /// assert_eq!(FragmentNumber::new("999").checked_add(1).unwrap().as_str(), "1000");
    /// assert_eq!(FragmentNumber::new("12a").checked_add(1), None);
    /// ```
    #[must_use]
    pub fn checked_add(&self, addend: u64) -> Option<Self> {
        let digits = &self.0;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut out: Vec<u8> = Vec::with_capacity(digits.len().saturating_add(20));
        let mut carry = addend;
        for b in digits.bytes().rev() {
            let d = u64::from(b.wrapping_sub(b'0'));
            // carry < 2^64 / 10 after the first step; d + carry % 10 < 20.
            let low = carry % 10;
            let sum = d.checked_add(low)?;
            carry = (carry / 10).checked_add(sum / 10)?;
            out.push(b'0'.checked_add(u8::try_from(sum % 10).ok()?)?);
        }
        while carry > 0 {
            out.push(b'0'.checked_add(u8::try_from(carry % 10).ok()?)?);
            carry /= 10;
        }
        out.reverse();
        String::from_utf8(out).ok().map(Self)
    }
}

impl Ord for FragmentNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.canonical(), other.canonical());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialEq for FragmentNumber {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Eq for FragmentNumber {}

impl std::hash::Hash for FragmentNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical().hash(state);
    }
}

impl PartialOrd for FragmentNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FragmentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A continuation token (`AWS_KINESISVIDEO_CONTINUATION_TOKEN`): resume GetMedia after the
/// fragment that carried it (start selector `CONTINUATION_TOKEN`).
///
/// Opaque to clients; today the service writes the fragment number, but nothing promises it.
///
/// ```
/// use kvs_chunk::ContinuationToken;
///
/// let t = ContinuationToken::new("91343852333181432392682062607743920146159169392");
/// assert_eq!(t.as_str(), "91343852333181432392682062607743920146159169392");
/// assert_eq!(t.to_string(), t.as_str());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ContinuationToken(String);

impl ContinuationToken {
    /// Wraps a token given as text (for example from a saved position).
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The token as the service wrote it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token's text.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ContinuationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ContinuationToken {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for ContinuationToken {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<ContinuationToken> for String {
    fn from(t: ContinuationToken) -> Self {
        t.0
    }
}

impl std::ops::Deref for ContinuationToken {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ContinuationToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ContinuationToken {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContinuationToken {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The in-stream error ids GetMedia documents, and any other id it may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorId {
    /// 3002: error writing to the stream.
    StreamWriteError,
    /// 4000: the requested fragment was not found.
    FragmentNotFound,
    /// 4500: access denied for the stream's KMS key.
    KmsAccessDenied,
    /// 4501: the stream's KMS key is disabled.
    KmsKeyDisabled,
    /// 4502: validation error on the stream's KMS key.
    KmsValidationError,
    /// 4503: the stream's KMS key is unavailable.
    KmsUnavailable,
    /// 4504: invalid usage of the stream's KMS key.
    KmsInvalidUsage,
    /// 4505: the stream's KMS key is in an invalid state.
    KmsInvalidState,
    /// 4506: the stream's KMS key was not found.
    KmsKeyNotFound,
    /// 5000: internal error.
    InternalError,
    /// An id this version does not know.
    Other(u64),
}

impl ErrorId {
    /// The id for a numeric value.
    #[must_use]
    pub const fn from_u64(id: u64) -> Self {
        match id {
            3002 => Self::StreamWriteError,
            4000 => Self::FragmentNotFound,
            4500 => Self::KmsAccessDenied,
            4501 => Self::KmsKeyDisabled,
            4502 => Self::KmsValidationError,
            4503 => Self::KmsUnavailable,
            4504 => Self::KmsInvalidUsage,
            4505 => Self::KmsInvalidState,
            4506 => Self::KmsKeyNotFound,
            5000 => Self::InternalError,
            other => Self::Other(other),
        }
    }

    /// The numeric id.
    #[must_use]
    pub const fn code(self) -> u64 {
        match self {
            Self::StreamWriteError => 3002,
            Self::FragmentNotFound => 4000,
            Self::KmsAccessDenied => 4500,
            Self::KmsKeyDisabled => 4501,
            Self::KmsValidationError => 4502,
            Self::KmsUnavailable => 4503,
            Self::KmsInvalidUsage => 4504,
            Self::KmsInvalidState => 4505,
            Self::KmsKeyNotFound => 4506,
            Self::InternalError => 5000,
            Self::Other(id) => id,
        }
    }

    /// The documented meaning, or `None` for an unknown id.
    #[must_use]
    pub const fn description(self) -> Option<&'static str> {
        Some(match self {
            Self::StreamWriteError => "error writing to the stream",
            Self::FragmentNotFound => "requested fragment not found",
            Self::KmsAccessDenied => "access denied for the stream's KMS key",
            Self::KmsKeyDisabled => "the stream's KMS key is disabled",
            Self::KmsValidationError => "validation error on the stream's KMS key",
            Self::KmsUnavailable => "the stream's KMS key is unavailable",
            Self::KmsInvalidUsage => "invalid usage of the stream's KMS key",
            Self::KmsInvalidState => "the stream's KMS key is in an invalid state",
            Self::KmsKeyNotFound => "the stream's KMS key was not found",
            Self::InternalError => "internal error",
            Self::Other(_) => return None,
        })
    }
}

impl fmt::Display for ErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(d) => write!(f, "{} ({d})", self.code()),
            None => write!(f, "{}", self.code()),
        }
    }
}
