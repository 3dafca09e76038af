//! XML Schema `dateTime` stamps (`2026-10-05T09:00:00Z`), as credentials
//! carry `validFrom`, `validUntil` and a proof's `created`.

use crate::ledger::period::{civil_from_days, days_from_civil};

const MS_PER_DAY: i64 = 86_400_000;

/// `ms` (since the epoch) as `YYYY-MM-DDThh:mm:ssZ`, whole seconds (what
/// the host writes).
pub fn format(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A `dateTime` with a time zone (`Z` or `±hh:mm`) and optional fraction of
/// a second, as ms since the epoch (fractions below a millisecond are
/// dropped). Without a time zone the instant is ambiguous, so it is refused.
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a dateTime like 2026-10-05T09:00:00Z");
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        let digits = &frac[..n];
        millis = format!("{:0<3}", &digits[..n.min(3)])
            .parse::<i64>()
            .map_err(|_| bad())?;
        rest = &frac[n..];
    }
    let offset_ms = match rest {
        "Z" => 0,
        _ if rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':' =>
        {
            let h: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let m: i64 = rest[4..6].parse().map_err(|_| bad())?;
            if h > 14 || m > 59 {
                return Err(bad());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60) * 1000
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month as u32, day as u32);
    Ok(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_zones() {
        let t = 1_790_000_000_000;
        assert_eq!(format(t), "2026-09-21T14:13:20Z");
        assert_eq!(parse(&format(t)).unwrap(), t);
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse("2026-09-21T16:13:20.5+02:00").unwrap(),
            t + 500,
            "an offset moves the instant"
        );
        assert_eq!(parse("2024-02-29T00:00:00Z").unwrap() % MS_PER_DAY, 0);
        for bad in [
            "2026-09-21",
            "2026-09-21T14:13:20",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-09-21T24:00:00Z",
            "2026-09-21T14:13:20.Z",
            "2026-09-21T14:13:20+0200",
            "２０２6-09-21T14:13:20Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
