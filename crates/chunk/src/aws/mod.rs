//! The tags the Kinesis Video Streams service writes into GetMedia output, and exact parsers
//! for their values.
//!
//! What Kinesis Video Streams adds to Matroska lives here: the tag vocabulary and parsers in
//! this file, and in `facts` what the tags mean to a fragment (the decoder's KVS rules).

use std::fmt;

mod facts;

pub(crate) use facts::AwsFacts;

/// A service-written tag this crate interprets. Both spellings (GetMedia and
/// GetMediaForFragmentList) map to the same variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AwsTag {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    FragmentNumber,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP` or `AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`.
    ServerTimestamp,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP` or `AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP`.
    ProducerTimestamp,
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW`.
    MillisBehindNow,
    /// `AWS_KINESISVIDEO_CONTINUATION_TOKEN`.
    ContinuationToken,
    /// `AWS_KINESISVIDEO_ERROR_ID`.
    ErrorId,
    /// `AWS_KINESISVIDEO_ERROR_CODE` (a text description).
    ErrorCode,
    /// `AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE` (GetMediaForFragmentList).
    ExceptionErrorCode,
    /// `AWS_KINESISVIDEO_EXCEPTION_MESSAGE` (GetMediaForFragmentList).
    ExceptionMessage,
}

/// Whether a service tag's name is one only GetMediaForFragmentList writes
/// (`AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`, `..._PRODUCER_SIDE_TIMESTAMP`,
/// `..._EXCEPTION_ERROR_CODE`, `..._EXCEPTION_MESSAGE`).
pub(crate) fn is_fragment_list_spelling(name: &[u8]) -> bool {
    matches!(
        name.strip_prefix(b"AWS_KINESISVIDEO_".as_slice()),
        Some(
            b"SERVER_SIDE_TIMESTAMP"
                | b"PRODUCER_SIDE_TIMESTAMP"
                | b"EXCEPTION_ERROR_CODE"
                | b"EXCEPTION_MESSAGE"
        )
    )
}

impl AwsTag {
    /// The tag for a TagName, if the service writes it. Producer-reserved names such as
    /// `AWS_KINESISVIDEO_END_OF_FRAGMENT` are not service tags: they surface as ordinary tags.
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        let rest = name.strip_prefix(b"AWS_KINESISVIDEO_")?;
        Some(match rest {
            b"FRAGMENT_NUMBER" => Self::FragmentNumber,
            b"SERVER_TIMESTAMP" | b"SERVER_SIDE_TIMESTAMP" => Self::ServerTimestamp,
            b"PRODUCER_TIMESTAMP" | b"PRODUCER_SIDE_TIMESTAMP" => Self::ProducerTimestamp,
            b"MILLIS_BEHIND_NOW" => Self::MillisBehindNow,
            b"CONTINUATION_TOKEN" => Self::ContinuationToken,
            b"ERROR_ID" => Self::ErrorId,
            b"ERROR_CODE" => Self::ErrorCode,
            b"EXCEPTION_ERROR_CODE" => Self::ExceptionErrorCode,
            b"EXCEPTION_MESSAGE" => Self::ExceptionMessage,
            _ => return None,
        })
    }

    /// The GetMedia spelling of the tag's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FragmentNumber => "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
            Self::ServerTimestamp => "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
            Self::ProducerTimestamp => "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
            Self::MillisBehindNow => "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW",
            Self::ContinuationToken => "AWS_KINESISVIDEO_CONTINUATION_TOKEN",
            Self::ErrorId => "AWS_KINESISVIDEO_ERROR_ID",
            Self::ErrorCode => "AWS_KINESISVIDEO_ERROR_CODE",
            Self::ExceptionErrorCode => "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE",
            Self::ExceptionMessage => "AWS_KINESISVIDEO_EXCEPTION_MESSAGE",
        }
    }
}

impl fmt::Display for AwsTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text of a tag value: trailing NULs and surrounding ASCII whitespace removed.
#[must_use]
pub fn trimmed(raw: &[u8]) -> &[u8] {
    let end =
        raw.iter().rposition(|&c| c != 0 && !c.is_ascii_whitespace()).map_or(0, |p| p.saturating_add(1));
    let raw = raw.get(..end).unwrap_or_default();
    let start = raw.iter().position(|&c| !c.is_ascii_whitespace()).unwrap_or(raw.len());
    raw.get(start..).unwrap_or_default()
}

/// Parses decimal epoch seconds (`"1511852109.126"`, `"0.000"`, `"12"`) into milliseconds,
/// exactly, without floating point. Fraction digits past the third are truncated.
///
/// ```
/// assert_eq!(kvs_chunk::aws::parse_timestamp_ms(b"1511852109.126"), Some(1_511_852_109_126));
/// assert_eq!(kvs_chunk::aws::parse_timestamp_ms(b"5.5"), Some(5_500));
/// assert_eq!(kvs_chunk::aws::parse_timestamp_ms(b"abc"), None);
/// ```
#[must_use]
pub fn parse_timestamp_ms(raw: &[u8]) -> Option<i64> {
    let s = trimmed(raw);
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (int, frac) = match s.iter().position(|&c| c == b'.') {
        Some(p) => (s.get(..p)?, s.get(p.checked_add(1)?..)?),
        None => (s, &[][..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let seconds = parse_decimal(int)?;
    let mut millis: i64 = 0;
    for i in 0..3 {
        let d = frac.get(i).map_or(0, |&c| i64::from(c.wrapping_sub(b'0')));
        millis = millis.checked_mul(10)?.checked_add(d)?;
    }
    // In i128, so that the most negative value (i64::MIN ms) is reachable.
    let total = i128::from(seconds).checked_mul(1000)?.checked_add(i128::from(millis))?;
    i64::try_from(if neg { total.checked_neg()? } else { total }).ok()
}

fn parse_decimal(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &c| acc.checked_mul(10)?.checked_add(i64::from(c.checked_sub(b'0')?)))
}

/// Parses a non-negative decimal integer (`"15858"`).
#[must_use]
pub fn parse_u64(raw: &[u8]) -> Option<u64> {
    let s = trimmed(raw);
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| acc.checked_mul(10)?.checked_add(u64::from(c.checked_sub(b'0')?)))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;
    use crate::{ErrorId, FragmentNumber};

    #[test]
    fn timestamps_are_exact() {
        assert_eq!(parse_timestamp_ms(b"1511852109.126"), Some(1_511_852_109_126));
        assert_eq!(parse_timestamp_ms(b"1511852114.147"), Some(1_511_852_114_147));
        assert_eq!(parse_timestamp_ms(b"0.000"), Some(0));
        assert_eq!(parse_timestamp_ms(b"45.000\0"), Some(45_000));
        assert_eq!(parse_timestamp_ms(b"7"), Some(7_000));
        assert_eq!(parse_timestamp_ms(b"1.2"), Some(1_200));
        assert_eq!(parse_timestamp_ms(b"1.23456"), Some(1_234));
        assert_eq!(parse_timestamp_ms(b"-1.500"), Some(-1_500));
        for bad in [&b""[..], b".5", b"1.2.3", b"1e9", b"abc", b"99999999999999999999.000", b"1. 5"] {
            assert_eq!(parse_timestamp_ms(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"15858"), Some(15858));
        assert_eq!(parse_u64(b" 12 \0"), Some(12));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }

    #[test]
    fn fragment_numbers_order_numerically() {
        let a = FragmentNumber::new("91343852333181432392682062607743920146159169392");
        let b = FragmentNumber::new("91343852333181432397633822764885441725874549018");
        assert!(a < b);
        assert!(FragmentNumber::new("9") < FragmentNumber::new("10"));
        assert_eq!(FragmentNumber::new("007").cmp(&FragmentNumber::new("7")), Ordering::Equal);
    }

    #[test]
    fn fragment_numbers_add_with_carries() {
        let add = |n: &str, k: u64| FragmentNumber::new(n).checked_add(k).map(|s| s.as_str().to_owned());
        assert_eq!(add("0", 0).as_deref(), Some("0"));
        assert_eq!(add("1", u64::MAX).as_deref(), Some("18446744073709551616"));
        assert_eq!(add("18446744073709551615", u64::MAX).as_deref(), Some("36893488147419103230"));
        assert_eq!(add("", 1), None);
        assert_eq!(FragmentNumber::new("007").canonical(), "7");
        assert_eq!(FragmentNumber::new("000").canonical(), "0");
        assert!(FragmentNumber::new("0123").is_well_formed());
        assert!(!FragmentNumber::new("12x").is_well_formed());
        assert!(!FragmentNumber::new("").is_well_formed());
        assert!(!FragmentNumber::new("1".repeat(129)).is_well_formed());
    }

    #[test]
    fn error_ids() {
        for id in [3002, 4000, 4500, 4501, 4502, 4503, 4504, 4505, 4506, 5000] {
            let e = ErrorId::from_u64(id);
            assert!(!matches!(e, ErrorId::Other(_)));
            assert_eq!(e.code(), id);
            assert!(e.description().is_some());
        }
        assert_eq!(ErrorId::from_u64(9999), ErrorId::Other(9999));
    }

    #[test]
    fn tag_names() {
        assert_eq!(
            AwsTag::from_name(b"AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"),
            Some(AwsTag::ServerTimestamp)
        );
        assert_eq!(AwsTag::from_name(b"AWS_KINESISVIDEO_END_OF_FRAGMENT"), None);
        assert_eq!(AwsTag::from_name(b"ENCODER"), None);
    }
}
