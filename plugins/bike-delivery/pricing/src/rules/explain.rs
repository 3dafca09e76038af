//! Numbers in words: money, distances, weights, percentages, times, and
//! the one rounding rule of the crate.

/// Minor units with two decimals, no currency symbol: `-5` → `-0.05`,
/// `480` → `4.80`. Assumes a currency with cents, as the coops' do.
pub fn fmt_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `value / 1000` with at most three decimals and no trailing zeros:
/// metres as km, grams as kg (`3200` → `3.2`, `3000` → `3`).
pub(super) fn fmt_thousandths(value: u64) -> String {
    let (int, frac) = (value / 1000, value % 1000);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Basis points as a percentage: `1000` → `10%`, `1550` → `15.5%`,
/// `-1` → `-0.01%`.
pub(super) fn fmt_percent(bp: i64) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let abs = bp.unsigned_abs();
    let (int, frac) = (abs / 100, abs % 100);
    if frac == 0 {
        format!("{sign}{int}%")
    } else {
        let digits = format!("{frac:02}");
        format!("{sign}{int}.{}%", digits.trim_end_matches('0'))
    }
}

/// `"HH:MM"` (exactly five characters, 00:00 to 23:59) as minutes of the day.
pub(super) fn parse_hhmm(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let digit = |i: usize| u16::from(b[i] - b'0');
    let (h, m) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Minutes of the day as `HH:MM`.
pub(super) fn fmt_hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The English name of ISO weekday `d` (1 = Monday).
pub(super) fn weekday_name(d: u8) -> String {
    const NAMES: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    match d {
        1..=7 => NAMES[usize::from(d - 1)].to_string(),
        _ => format!("day {d}"),
    }
}

/// `[a, b, c]`.
pub(super) fn fmt_list<T: AsRef<str>>(items: &[T]) -> String {
    let parts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", parts.join(", "))
}

/// `num / den` rounded to the nearest integer, halves away from zero
/// (2.5 → 3, -2.5 → -3), so a discount rounds exactly like the surcharge
/// of the same size; and whether the division was exact. `den` > 0.
pub(super) fn div_round(num: i128, den: i128) -> (i128, bool) {
    let (q, r) = (num / den, num % den);
    let rounded = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    (rounded, r == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_two_decimals_and_a_sign() {
        let cases = [
            (0, "0.00"),
            (5, "0.05"),
            (-5, "-0.05"),
            (480, "4.80"),
            (-150, "-1.50"),
            (123_456, "1234.56"),
        ];
        for (minor, want) in cases {
            assert_eq!(fmt_minor(minor), want);
        }
        assert_eq!(fmt_minor(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn thousandths_drop_trailing_zeros() {
        let cases = [
            (0, "0"),
            (3000, "3"),
            (3200, "3.2"),
            (3250, "3.25"),
            (3251, "3.251"),
            (5, "0.005"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt_thousandths(v), want);
        }
    }

    #[test]
    fn percentages_from_basis_points() {
        let cases = [
            (1000, "10%"),
            (1550, "15.5%"),
            (1, "0.01%"),
            (-1000, "-10%"),
            (-1, "-0.01%"),
            (10_000, "100%"),
        ];
        for (bp, want) in cases {
            assert_eq!(fmt_percent(bp), want);
        }
    }

    #[test]
    fn times_are_strict_hh_mm() {
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("19:30"), Some(1170));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        for bad in [
            "24:00", "12:60", "7:00", "07:5", "07-00", "0a:00", "", "+1:00", "07:00 ",
        ] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
        assert_eq!(fmt_hhmm(1170), "19:30");
        assert_eq!(fmt_hhmm(5), "00:05");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        // 25 / 10 = 2.5 → 3; -25 / 10 = -2.5 → -3; 24 / 10 = 2.4 → 2;
        // -26 / 10 = -2.6 → -3; 20 / 10 = 2 exactly.
        assert_eq!(div_round(25, 10), (3, false));
        assert_eq!(div_round(-25, 10), (-3, false));
        assert_eq!(div_round(24, 10), (2, false));
        assert_eq!(div_round(-24, 10), (-2, false));
        assert_eq!(div_round(-26, 10), (-3, false));
        assert_eq!(div_round(20, 10), (2, true));
        assert_eq!(div_round(0, 10), (0, true));
        // 4999 / 10000 → 0; 5000 / 10000 → 1.
        assert_eq!(div_round(4999, 10_000), (0, false));
        assert_eq!(div_round(5000, 10_000), (1, false));
    }

    #[test]
    fn weekdays_have_names() {
        assert_eq!(weekday_name(1), "Monday");
        assert_eq!(weekday_name(7), "Sunday");
        assert_eq!(weekday_name(9), "day 9");
        assert_eq!(fmt_list(&["a", "b"]), "[a, b]");
    }
}
