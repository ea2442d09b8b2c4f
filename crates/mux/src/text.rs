//! Text helpers for names and warning lines (the same rules as the kvs-mkv command line's).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character (C0, DEL, C1) written as `\u{1b}` (lowercase hex) and
/// every backslash doubled: producer text (track and tag names) made safe for a terminal.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    let special = |c: char| c == '\\' || c.is_control();
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(16));
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub(crate) fn iso_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = doe.saturating_sub(doe / 1460).saturating_add(doe / 36_524).saturating_sub(doe / 146_096) / 365;
    let y = yoe.saturating_add(era.saturating_mul(400));
    let doy =
        doe.saturating_sub(365_i64.saturating_mul(yoe).saturating_add(yoe / 4).saturating_sub(yoe / 100));
    let mp = (5_i64.saturating_mul(doy).saturating_add(2)) / 153;
    let d = doy.saturating_sub((153_i64.saturating_mul(mp).saturating_add(2)) / 5).saturating_add(1);
    let m = if mp < 10 { mp.saturating_add(3) } else { mp.saturating_sub(9) };
    let y = if m <= 2 { y.saturating_add(1) } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", sod / 3600, (sod % 3600) / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_backslashes() {
        assert_eq!(escape("a\u{1b}[2Jb\\"), "a\\u{1b}[2Jb\\\\");
        assert!(matches!(escape("plain é"), Cow::Borrowed(_)));
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_ms(1_511_852_108_513), "2017-11-28T06:55:08.513Z");
        assert_eq!(iso_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
