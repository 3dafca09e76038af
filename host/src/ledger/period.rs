//! Calendar months in UTC: the period of floor runs, subscription fees and
//! statements.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::LedgerError;

const MS_PER_DAY: i64 = 86_400_000;

/// A calendar month in UTC, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u8,
}

impl Month {
    /// The month `month` (1 to 12) of `year` (1970 to 9999).
    pub fn new(year: i32, month: u8) -> Result<Month, LedgerError> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(LedgerError::InvalidPeriod(format!(
                "{year:04}-{month:02} is not a month between 1970-01 and 9999-12"
            )));
        }
        Ok(Month { year, month })
    }

    /// The month containing `ms` (ms since the epoch, UTC).
    pub fn containing(ms: i64) -> Month {
        let (year, month, _) = civil_from_days(ms.div_euclid(MS_PER_DAY));
        Month {
            year: year as i32,
            month: month as u8,
        }
    }

    /// Its first millisecond.
    pub fn start_ms(self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), 1) * MS_PER_DAY
    }

    /// The first millisecond after it (the next month's start).
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }

    /// `[start, end)` in ms.
    pub fn bounds(self) -> (i64, i64) {
        (self.start_ms(), self.end_ms())
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before.
    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Month, LedgerError> {
        let bad = || LedgerError::InvalidPeriod(format!("{s:?} is not a month written YYYY-MM"));
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        Month::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?)
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A month is written `YYYY-MM` in JSON (the API's documents say so).
impl schemars::JsonSchema for Month {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Month".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$",
            "description": "a calendar month, YYYY-MM"
        })
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Month, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, counting 400-year
/// eras from 0000-03-01 (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01, by counting 400-year eras of 146,097 days from 0000-03-01
/// (so the leap day is the last day of the shifted year).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let from_march_0000 = days + 719_468;
    let era = from_march_0000.div_euclid(146_097);
    let day_of_era = from_march_0000.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_exact_bounds() {
        let nov: Month = "2026-11".parse().unwrap();
        // 2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z.
        assert_eq!(nov.bounds(), (1_793_491_200_000, 1_796_083_200_000));
        assert_eq!(nov.end_ms() - nov.start_ms(), 30 * MS_PER_DAY);
        let feb_leap: Month = "2028-02".parse().unwrap();
        assert_eq!(feb_leap.end_ms() - feb_leap.start_ms(), 29 * MS_PER_DAY);
        let dec: Month = "2026-12".parse().unwrap();
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(dec.next().previous(), dec);
        assert_eq!(Month::containing(nov.end_ms() - 1), nov);
        assert_eq!(Month::containing(nov.end_ms()), dec);
    }

    #[test]
    fn day_counts_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn bad_months_are_refused_with_the_text() {
        for bad in [
            "2026-13", "2026-1", "26-11", "2026/11", "", "1969-12", "2026-00",
        ] {
            let e = bad.parse::<Month>().unwrap_err().to_string();
            assert!(e.contains("month"), "{bad}: {e}");
        }
    }
}
