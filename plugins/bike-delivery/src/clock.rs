//! Time for a delivery plugin: now (the host's clock, through WASI), local
//! time of day, and the pickup windows of a store's slots.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a minute and a day.
pub const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

/// Now, ms since the epoch: the host's clock (settable in its tests).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `HH:MM` as minutes after midnight, or a message naming `field`.
pub fn parse_hhmm(field: &str, text: &str) -> Result<u16, String> {
    let bad = || format!("{field}: {text:?} is not a time of day HH:MM (00:00 to 23:59)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Local time at `at_ms` for a coop `offset_min` minutes east of UTC:
/// (ISO weekday 1 = Monday .. 7, minute of the day).
pub fn local_parts(at_ms: u64, offset_min: i32) -> (u8, u16) {
    let local = local_ms(at_ms, offset_min);
    let days = local / DAY_MS;
    // 1970-01-01 was a Thursday (ISO 4).
    let weekday = ((days + 3) % 7) as u8 + 1;
    let minute = ((local % DAY_MS) / MINUTE_MS) as u16;
    (weekday, minute)
}

fn local_ms(at_ms: u64, offset_min: i32) -> u64 {
    let shift = i64::from(offset_min) * MINUTE_MS as i64;
    (at_ms as i64).saturating_add(shift).max(0) as u64
}

/// A slot as the window arithmetic needs it: weekdays and minutes of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTimes {
    /// ISO weekdays the slot runs.
    pub weekdays: Vec<u8>,
    /// Start, minutes after local midnight.
    pub starts: u16,
    /// End, minutes after local midnight; after `starts`.
    pub ends: u16,
    /// Last moment to order for that day, minutes after local midnight.
    pub cutoff: u16,
}

/// The next window of `slot` that can still be ordered at `now_ms`: the
/// first day (today included, up to a week ahead) it runs on whose cut-off
/// has not passed. `None` if it runs on no day.
pub fn next_slot_window(now_ms: u64, offset_min: i32, slot: &SlotTimes) -> Option<(u64, u64)> {
    let local_now = local_ms(now_ms, offset_min);
    let today = local_now - local_now % DAY_MS;
    let shift = i64::from(offset_min) * MINUTE_MS as i64;
    for ahead in 0..8u64 {
        let day = today + ahead * DAY_MS;
        let weekday = ((day / DAY_MS + 3) % 7) as u8 + 1;
        if !slot.weekdays.contains(&weekday) {
            continue;
        }
        let cutoff = day + u64::from(slot.cutoff) * MINUTE_MS;
        if local_now > cutoff {
            continue;
        }
        let to_utc = |local: u64| (local as i64 - shift).max(0) as u64;
        return Some((
            to_utc(day + u64::from(slot.starts) * MINUTE_MS),
            to_utc(day + u64::from(slot.ends) * MINUTE_MS),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30 is a Monday; its 00:00 UTC is 1_795_996_800_000 ms.
    const MONDAY_UTC: u64 = 1_795_996_800_000;

    #[test]
    fn parses_times_of_day() {
        assert_eq!(parse_hhmm("starts", "00:00"), Ok(0));
        assert_eq!(parse_hhmm("starts", "12:30"), Ok(750));
        assert_eq!(parse_hhmm("starts", "23:59"), Ok(1439));
        for bad in ["24:00", "7:00", "12:60", "noon", "12-30", ""] {
            let e = parse_hhmm("slots[0].starts", bad).unwrap_err();
            assert!(e.starts_with("slots[0].starts: "), "{e}");
        }
    }

    #[test]
    fn local_parts_apply_the_offset() {
        assert_eq!(local_parts(MONDAY_UTC, 0), (1, 0));
        // 23:30 UTC on Monday is 00:30 on Tuesday in Paris (UTC+1).
        let late = MONDAY_UTC + (23 * 60 + 30) * MINUTE_MS;
        assert_eq!(local_parts(late, 60), (2, 30));
        // And 20:30 on Monday in New York (UTC-5), Sunday never.
        assert_eq!(local_parts(late, -300), (1, 18 * 60 + 30));
    }

    #[test]
    fn next_slot_window_respects_weekdays_and_cutoff() {
        let lunch = SlotTimes {
            weekdays: vec![1, 3],
            starts: 12 * 60,
            ends: 14 * 60,
            cutoff: 11 * 60,
        };
        // Monday 10:00 UTC, offset 0: today's slot, 12:00 to 14:00.
        let now = MONDAY_UTC + 10 * 60 * MINUTE_MS;
        assert_eq!(
            next_slot_window(now, 0, &lunch),
            Some((MONDAY_UTC + 720 * MINUTE_MS, MONDAY_UTC + 840 * MINUTE_MS))
        );
        // Monday 11:01: past the cut-off, so Wednesday.
        let late = MONDAY_UTC + (11 * 60 + 1) * MINUTE_MS;
        let wednesday = MONDAY_UTC + 2 * DAY_MS;
        assert_eq!(
            next_slot_window(late, 0, &lunch),
            Some((wednesday + 720 * MINUTE_MS, wednesday + 840 * MINUTE_MS))
        );
        // Local time UTC+1: 12:00 local is 11:00 UTC.
        assert_eq!(
            next_slot_window(MONDAY_UTC, 60, &lunch),
            Some((MONDAY_UTC + 660 * MINUTE_MS, MONDAY_UTC + 780 * MINUTE_MS))
        );
        let never = SlotTimes {
            weekdays: vec![],
            ..lunch
        };
        assert_eq!(next_slot_window(now, 0, &never), None);
    }
}
