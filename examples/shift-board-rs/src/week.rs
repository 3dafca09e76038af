//! ISO 8601 week labels for UTC timestamps, without a date library.

const MS_PER_DAY: u64 = 86_400_000;

/// The ISO week of `ms` (milliseconds since the epoch, UTC) as `YYYY-Www`,
/// for example `2026-W01`. The ISO year can differ from the calendar year
/// near 1 January.
pub fn iso_week_label(ms: u64) -> String {
    let (year, week) = iso_week(days_since_epoch(ms));
    format!("{year:04}-W{week:02}")
}

fn days_since_epoch(ms: u64) -> i64 {
    // u64 milliseconds / a day fits in i64 with room to spare.
    i64::try_from(ms / MS_PER_DAY).unwrap_or(i64::MAX)
}

/// ISO (year, week) of the day `days` after 1970-01-01.
fn iso_week(days: i64) -> (i64, i64) {
    // 1970-01-01 was a Thursday; Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    // A week belongs to the ISO year that holds its Thursday.
    let thursday = days - weekday + 3;
    let (year, _, _) = civil_from_days(thursday);
    let first_day = days_from_civil(year, 1, 1);
    (year, (thursday - first_day) / 7 + 1)
}

/// (year, month, day) of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar. Works in 400-year eras of 146 097 days.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to (year, month, day); the inverse of
/// [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(year: i64, month: i64, day: i64) -> String {
        let days = days_from_civil(year, month, day);
        iso_week_label(u64::try_from(days).unwrap() * MS_PER_DAY + 12 * 3_600_000)
    }

    #[test]
    fn civil_round_trip() {
        for days in [0, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn weeks_around_new_year() {
        assert_eq!(label(1970, 1, 1), "1970-W01");
        assert_eq!(label(2021, 1, 3), "2020-W53");
        assert_eq!(label(2021, 1, 4), "2021-W01");
        assert_eq!(label(2024, 12, 30), "2025-W01");
        assert_eq!(label(2026, 1, 1), "2026-W01");
        assert_eq!(label(2027, 1, 1), "2026-W53");
        assert_eq!(label(2025, 6, 15), "2025-W24");
        assert_eq!(label(2025, 6, 16), "2025-W25");
    }

    #[test]
    fn day_boundaries_are_utc_midnight() {
        // 2025-06-15 23:59:59.999 UTC is Sunday of W24; a millisecond later
        // is Monday of W25.
        let monday = u64::try_from(days_from_civil(2025, 6, 16)).unwrap() * MS_PER_DAY;
        assert_eq!(iso_week_label(monday - 1), "2025-W24");
        assert_eq!(iso_week_label(monday), "2025-W25");
    }
}
