//! Producer text made safe for a terminal, and times as text: codec ids, track names, tag
//! names and values, fragment numbers and error texts come from the file (or the service),
//! and printed raw they could set the terminal's title, clear the screen or forge lines of a
//! report. The kvs-mkv command line and this crate's warning lines share these rules.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character (C0 U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F)
/// written as `\u{1b}` (lowercase hex, no padding) and every backslash doubled, so the
/// escaped text reads back unambiguously. Everything else, other Unicode included, is kept.
#[must_use]
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, None)
}

/// `s` escaped as by [`escape`], with its double quotes escaped too, between double quotes.
#[must_use]
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", escape_with(s, Some('"')))
}

fn escape_with(s: &str, quote: Option<char>) -> Cow<'_, str> {
    let special = |c: char| c == '\\' || c.is_control() || Some(c) == quote;
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(16));
    for c in s.chars() {
        if c.is_control() {
            // `char::is_control` is exactly C0, DEL and C1 (general category Cc).
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else if special(c) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a time in epoch milliseconds looks absolute (at least 10^11 ms from the epoch:
/// after 1973-03-03, or as far before it): producers may write times relative to their
/// start, which are better shown as durations than as dates in 1970.
///
/// ```
/// assert!(kvs_mux::text::looks_absolute(1_511_852_108_513));
/// assert!(!kvs_mux::text::looks_absolute(5_000));
/// ```
#[must_use]
pub fn looks_absolute(ms: i64) -> bool {
    ms.unsigned_abs() >= 100_000_000_000
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
#[must_use]
pub fn iso_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Within 719,468 days of i64's limits (never, for a day count from milliseconds).
    let (y, m, d) = kvs_ebml::date::civil_from_days(days).unwrap_or((0, 1, 1));
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", sod / 3600, (sod % 3600) / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_are_not_absolute() {
        assert!(looks_absolute(100_000_000_000));
        assert!(!looks_absolute(99_999_999_999));
        assert!(looks_absolute(-100_000_000_000));
        assert!(!looks_absolute(0));
        assert!(looks_absolute(i64::MIN));
    }

    #[test]
    fn controls_become_visible_escapes() {
        // C0, including the line ends a producer could use to forge lines.
        assert_eq!(escape("a\u{0}b\tc\nd\re"), "a\\u{0}b\\u{9}c\\u{a}d\\u{d}e");
        assert_eq!(escape("\u{1b}]0;title\u{7}\u{1b}[2J"), "\\u{1b}]0;title\\u{7}\\u{1b}[2J");
        assert_eq!(escape("\u{1f}"), "\\u{1f}");
        // DEL and C1 (CSI U+009B, NEL U+0085, U+0080, U+009F).
        assert_eq!(escape("x\u{7f}y"), "x\\u{7f}y");
        assert_eq!(escape("\u{9b}2J\u{85}\u{80}\u{9f}"), "\\u{9b}2J\\u{85}\\u{80}\\u{9f}");
    }

    #[test]
    fn backslashes_are_doubled_so_escapes_cannot_be_forged() {
        assert_eq!(escape("C:\\dir"), "C:\\\\dir");
        assert_eq!(escape("\\u{1b}"), "\\\\u{1b}");
        assert_ne!(escape("\u{1b}"), escape("\\u{1b}"));
    }

    #[test]
    fn ordinary_text_is_kept_as_it_is() {
        for s in ["V_MPEG4/ISO/AVC", "", "caméra 東京 🎥", "\u{a0}\u{a1}ÿ", "quote \" kept", "913438…169392"]
        {
            assert_eq!(escape(s), s);
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn quoted_escapes_its_quotes_too() {
        assert_eq!(quoted("1.0\u{0}\u{0}"), "\"1.0\\u{0}\\u{0}\"");
        assert_eq!(quoted("say \"hi\"\n"), "\"say \\\"hi\\\"\\u{a}\"");
        assert_eq!(quoted("plain"), "\"plain\"");
    }

    #[test]
    fn no_control_character_survives() {
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        let out = escape(&all);
        assert!(!out.chars().any(char::is_control), "{out}");
        assert!(out.contains("é") && out.contains("\u{a0}"));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_511_852_109_126), "2017-11-28T06:55:09.126Z");
        assert_eq!(iso_ms(1_511_852_108_513), "2017-11-28T06:55:08.513Z");
        assert_eq!(iso_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
