//! Timestamps as the AWS CLI takes and prints them: epoch seconds (a fraction allowed) or
//! ISO 8601, in exact milliseconds.

use kvs_ebml::date::{civil_from_days, days_from_civil};

/// Parses epoch seconds (`1700000000`, `1700000000.5`, `1700000000.125`) or ISO 8601
/// (`2023-11-14T22:13:20Z`, `2023-11-14T22:13:20.5+01:00`, `2023-11-14 22:13:20`, a date
/// alone; no zone means UTC) into epoch milliseconds. Digits past the millisecond are
/// truncated.
///
/// ```
/// use kvs_images::timestamp::parse_ms;
///
/// assert_eq!(parse_ms("1700000000.1"), Some(1_700_000_000_100));
/// assert_eq!(parse_ms("2023-11-14T22:13:20.100Z"), Some(1_700_000_000_100));
/// assert_eq!(parse_ms("2023-11-14T23:13:20.1+01:00"), Some(1_700_000_000_100));
/// assert_eq!(parse_ms("yesterday"), None);
/// ```
#[must_use]
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.contains('-') && text.len() >= 10 && !text.starts_with('-') {
        parse_iso8601(text)
    } else {
        parse_epoch_seconds(text)
    }
}

/// Decimal epoch seconds with any number of fractional digits (truncated to ms).
fn parse_epoch_seconds(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: i64 = int.parse().ok()?;
    let mut ms = 0i64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        let place = [100, 10, 1].get(i).copied()?;
        ms = ms.checked_add(i64::from(b.checked_sub(b'0')?).checked_mul(place)?)?;
    }
    let total = seconds.checked_mul(1000)?.checked_add(ms)?;
    if negative { total.checked_neg() } else { Some(total) }
}

/// A fixed-width decimal field of `s` at `range`.
fn field(s: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) { part.parse().ok() } else { None }
}

fn parse_iso8601(text: &str) -> Option<i64> {
    let year = field(text, 0..4)?;
    if text.get(4..5)? != "-" || text.get(7..8)? != "-" {
        return None;
    }
    let (month, day) = (field(text, 5..7)?, field(text, 8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let rest = text.get(10..)?;
    let mut ms_of_day = 0i64;
    let mut zone = rest;
    if let Some(time) =
        rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')).or_else(|| rest.strip_prefix(' '))
    {
        let hour = field(time, 0..2)?;
        if time.get(2..3)? != ":" {
            return None;
        }
        let minute = field(time, 3..5)?;
        let mut after = time.get(5..)?;
        let mut second = 0;
        let mut millis = 0;
        if let Some(s) = after.strip_prefix(':') {
            second = field(s, 0..2)?;
            after = s.get(2..)?;
            if let Some(frac) = after.strip_prefix('.').or_else(|| after.strip_prefix(',')) {
                let n = frac.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return None;
                }
                let digits = frac.get(..n)?;
                for (i, b) in digits.bytes().take(3).enumerate() {
                    let place = [100, 10, 1].get(i).copied()?;
                    millis = i64::from(b.checked_sub(b'0')?).checked_mul(place)?.checked_add(millis)?;
                }
                after = frac.get(n..)?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        ms_of_day = hour
            .checked_mul(3_600_000)?
            .checked_add(minute.checked_mul(60_000)?)?
            .checked_add(second.checked_mul(1000)?)?
            .checked_add(millis)?;
        zone = after;
    }
    let offset_ms = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = match z.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let z = z.get(1..)?;
            let (h, m) = match z.len() {
                2 => (field(z, 0..2)?, 0),
                4 => (field(z, 0..2)?, field(z, 2..4)?),
                5 if z.get(2..3)? == ":" => (field(z, 0..2)?, field(z, 3..5)?),
                _ => return None,
            };
            h.checked_mul(3_600_000)?.checked_add(m.checked_mul(60_000)?)?.checked_mul(sign)?
        }
    };
    days.checked_mul(86_400_000)?.checked_add(ms_of_day)?.checked_sub(offset_ms)
}

/// Formats epoch milliseconds as the AWS CLI prints timestamps (Python's `isoformat`):
/// `2023-11-14T22:13:20.100000+00:00`, or without the fraction when it is zero.
///
/// ```
/// use kvs_images::timestamp::format_iso8601;
///
/// assert_eq!(format_iso8601(1_700_000_000_100), "2023-11-14T22:13:20.100000+00:00");
/// assert_eq!(format_iso8601(1_700_000_000_000), "2023-11-14T22:13:20+00:00");
/// ```
#[must_use]
pub fn format_iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days).unwrap_or((0, 1, 1));
    let (h, mi, s, milli) = (of_day / 3_600_000, (of_day / 60_000) % 60, (of_day / 1000) % 60, of_day % 1000);
    if milli == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}000+00:00")
    }
}

/// Formats epoch milliseconds for a file name: `2023-11-14T22-13-20.100Z` (no colons).
#[must_use]
pub fn format_file_stem(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days).unwrap_or((0, 1, 1));
    let (h, mi, s, milli) = (of_day / 3_600_000, (of_day / 60_000) % 60, (of_day / 1000) % 60, of_day % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}-{mi:02}-{s:02}.{milli:03}Z")
}

/// Epoch milliseconds as decimal seconds with three fractional digits (`1700000000.100`).
#[must_use]
pub fn format_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds() {
        assert_eq!(parse_ms("0"), Some(0));
        assert_eq!(parse_ms("1.9999"), Some(1999));
        assert_eq!(parse_ms("-1.5"), Some(-1500));
        assert_eq!(parse_ms("1."), Some(1000));
        assert_eq!(parse_ms(".5"), None);
        assert_eq!(parse_ms("1e3"), None);
        assert_eq!(parse_ms(""), None);
    }

    #[test]
    fn iso() {
        assert_eq!(parse_ms("1970-01-01"), Some(0));
        assert_eq!(parse_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_ms("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse_ms("2000-02-29T12:00"), Some(951_825_600_000));
        assert_eq!(parse_ms("2023-11-14T22:13:20.123456Z"), Some(1_700_000_000_123));
        assert_eq!(parse_ms("2023-11-14T22:13:20-0100"), Some(1_700_003_600_000));
        assert_eq!(parse_ms("2023-13-14T22:13:20Z"), None);
        assert_eq!(parse_ms("2023-11-14T25:13:20Z"), None);
        assert_eq!(parse_ms("2023-11-14T22:13:20+1"), None);
    }

    #[test]
    fn round_trips() {
        for ms in
            [0, 1, 999, 86_399_999, -1, -86_400_001, 951_825_600_000, 1_700_000_000_100, 4_102_444_800_000]
        {
            assert_eq!(parse_ms(&format_iso8601(ms)), Some(ms), "{ms}");
            assert_eq!(parse_ms(&format_seconds(ms)), Some(ms), "{ms}");
        }
        assert_eq!(format_file_stem(1_700_000_000_100), "2023-11-14T22-13-20.100Z");
    }
}
