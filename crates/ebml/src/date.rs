//! Proleptic Gregorian calendar arithmetic (Howard Hinnant's `days_from_civil` and
//! `civil_from_days`), checked: the one place the workspace turns dates into day counts and
//! back (Matroska's `DateUTC`, the service's ISO 8601 times, SigV4's `X-Amz-Date`, the CLI's
//! printed times).
//!
//! ```
//! use kvs_ebml::date::{civil_from_days, days_from_civil};
//!
//! assert_eq!(days_from_civil(1970, 1, 1), Some(0));
//! assert_eq!(days_from_civil(2001, 1, 1), Some(11_323)); // Matroska's DateUTC origin
//! assert_eq!(civil_from_days(19_675), Some((2023, 11, 14)));
//! assert_eq!(civil_from_days(-1), Some((1969, 12, 31)));
//! ```

/// Days since 1970-01-01 of `year`-`month`-`day` (month 1-12, day 1-31, not range-checked:
/// out-of-range values count on, as the algorithm does), or `None` on overflow.
#[must_use]
pub fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 { year.checked_sub(1)? } else { year };
    let era = y.checked_div_euclid(400)?;
    let yoe = y.checked_rem_euclid(400)?;
    let mp = month.checked_add(9)?.checked_rem_euclid(12)?;
    let doy = mp.checked_mul(153)?.checked_add(2)?.checked_div(5)?.checked_add(day)?.checked_sub(1)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe.checked_div(4)?)?
        .checked_sub(yoe.checked_div(100)?)?
        .checked_add(doy)?;
    era.checked_mul(146_097)?.checked_add(doe)?.checked_sub(719_468)
}

/// The `(year, month, day)` of a day count since 1970-01-01, or `None` on overflow (only for
/// counts within 719,468 of `i64`'s limits).
#[must_use]
pub fn civil_from_days(days: i64) -> Option<(i64, i64, i64)> {
    let z = days.checked_add(719_468)?;
    let era = z.checked_div_euclid(146_097)?;
    let doe = z.checked_rem_euclid(146_097)?; // 0 ..= 146_096: the products below are small
    let yoe = doe
        .checked_sub(doe.checked_div(1460)?)?
        .checked_add(doe.checked_div(36_524)?)?
        .checked_sub(doe.checked_div(146_096)?)?
        .checked_div(365)?;
    let doy = doe.checked_sub(
        yoe.checked_mul(365)?.checked_add(yoe.checked_div(4)?)?.checked_sub(yoe.checked_div(100)?)?,
    )?;
    let mp = doy.checked_mul(5)?.checked_add(2)?.checked_div(153)?;
    let day = doy.checked_sub(mp.checked_mul(153)?.checked_add(2)?.checked_div(5)?)?.checked_add(1)?;
    let month = if mp < 10 { mp.checked_add(3)? } else { mp.checked_sub(9)? };
    let year = yoe.checked_add(era.checked_mul(400)?)?.checked_add(i64::from(month <= 2))?;
    Some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_eras() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days).unwrap_or_default();
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{days}: {y}-{m}-{d}");
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(civil_from_days(11_016), Some((2000, 2, 29)));
    }

    #[test]
    fn extremes_are_none_not_a_panic() {
        assert_eq!(civil_from_days(i64::MAX), None);
        assert_eq!(days_from_civil(i64::MAX, 12, 31), None);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), None);
    }
}
