//! Fragment numbers as decimal strings: KVS fragment numbers have about 47 digits, more than
//! any integer type holds, so synthesized ones are computed digit by digit.

use std::cmp::Ordering;

/// The first synthesized fragment number (a real one, from the GetMedia documentation's
/// examples), used when the backing data carries none.
pub const BASE_FRAGMENT_NUMBER: &str = "91343852333181432392682062607743920146159169392";

/// The difference between consecutive synthesized fragment numbers.
pub const FRAGMENT_NUMBER_STRIDE: u64 = 1_000_000_000_000_000_003;

/// `digits + addend`, for a string of ASCII decimal digits; `None` if `digits` is not one.
///
/// ```
/// use kvs_local::decimal::add;
///
/// assert_eq!(add("91343852333181432392682062607743920146159169392", 8).as_deref(),
///            Some("91343852333181432392682062607743920146159169400"));
/// assert_eq!(add("999", 1).as_deref(), Some("1000"));
/// assert_eq!(add("12a", 1), None);
/// ```
#[must_use]
pub fn add(digits: &str, addend: u64) -> Option<String> {
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
    String::from_utf8(out).ok()
}

/// `BASE_FRAGMENT_NUMBER + k * FRAGMENT_NUMBER_STRIDE`.
#[must_use]
pub fn synthesized(k: u64) -> Option<String> {
    let mut n = BASE_FRAGMENT_NUMBER.to_owned();
    // k * stride may overflow u64: add it in steps of at most u64::MAX / stride.
    let step = u64::MAX / FRAGMENT_NUMBER_STRIDE;
    let mut left = k;
    while left > 0 {
        let take = left.min(step);
        n = add(&n, take.checked_mul(FRAGMENT_NUMBER_STRIDE)?)?;
        left = left.checked_sub(take)?;
    }
    Some(n)
}

/// Whether `s` is a well-formed fragment number: 1 to 128 ASCII digits (the service's
/// pattern `^[0-9]+$` and length limit).
#[must_use]
pub fn is_fragment_number(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The number without leading zeros ("0" for zero), for lookups.
#[must_use]
pub fn canonical(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() { "0" } else { t }
}

/// Numeric order of two digit strings.
#[must_use]
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (canonical(a), canonical(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn adds_with_carries() {
        assert_eq!(add("0", 0).unwrap(), "0");
        assert_eq!(add("1", u64::MAX).unwrap(), "18446744073709551616");
        assert_eq!(add("18446744073709551615", u64::MAX).unwrap(), "36893488147419103230");
        assert_eq!(add("", 1), None);
    }

    #[test]
    fn synthesized_numbers_increase() {
        let a = synthesized(0).unwrap();
        assert_eq!(a, BASE_FRAGMENT_NUMBER);
        let b = synthesized(1).unwrap();
        assert_eq!(b, "91343852333181432392682062608743920146159169395");
        let c = synthesized(1_000_000).unwrap();
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert_eq!(compare(&b, &c), Ordering::Less);
        assert_eq!(c.len(), 47);
        assert_eq!(compare("007", "7"), Ordering::Equal);
        assert!(is_fragment_number(&c));
        assert!(!is_fragment_number("12x"));
    }
}
