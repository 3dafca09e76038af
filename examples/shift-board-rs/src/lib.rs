//! The shift board example plugin: the coop posts open shifts, workers
//! claim them, first come first served, at most `max-shifts-per-week` per
//! worker per ISO week.
//!
//! Store layout (the Python and JS versions use the same one):
//!
//! - `seq`: JSON integer, the last shift number handed out;
//! - `shift/<id>`: JSON `{"id", "title", "starts_at", "ends_at",
//!   "claimed_by"}`, no member tag;
//! - `claim/<member>/<YYYY-Www>/<shift id>`: JSON `true`, tagged with the
//!   member, one per claim, counted for the weekly cap.

mod week;

coophost_sdk::generate!({
    world: "shift-board-plugin",
    path: "../../wit/examples",
});

use coophost_sdk::{Error, identity, kv};
use exports::coop::examples::shift_board::{Guest, NewShift, Shift};
use serde::{Deserialize, Serialize};

/// Longest title accepted, in characters after trimming.
const MAX_TITLE_CHARS: usize = 200;

/// Weekly cap when the coop's configuration does not declare one.
const DEFAULT_MAX_SHIFTS_PER_WEEK: i64 = 3;

/// A shift as stored: the field names are the JSON contract shared with the
/// other languages' versions of this plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShiftRecord {
    id: String,
    title: String,
    starts_at: u64,
    ends_at: u64,
    claimed_by: Option<String>,
}

impl From<ShiftRecord> for Shift {
    fn from(r: ShiftRecord) -> Self {
        Shift {
            id: r.id,
            title: r.title,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            claimed_by: r.claimed_by,
        }
    }
}

struct ShiftBoard;

impl Guest for ShiftBoard {
    fn post_shift(shift: NewShift) -> Result<Shift, Error> {
        let title = shift.title.trim();
        if !(1..=MAX_TITLE_CHARS).contains(&title.chars().count()) {
            return Err(Error::invalid("title must be 1 to 200 characters"));
        }
        if shift.ends_at <= shift.starts_at {
            return Err(Error::invalid("ends-at must be after starts-at"));
        }
        let id = next_id()?;
        let record = ShiftRecord {
            id: id.clone(),
            title: title.to_string(),
            starts_at: shift.starts_at,
            ends_at: shift.ends_at,
            claimed_by: None,
        };
        kv::put_for(&shift_key(&id), &record, None)?;
        Ok(record.into())
    }

    fn list_shifts() -> Result<Vec<Shift>, Error> {
        Ok(all_shifts()?.into_iter().map(Shift::from).collect())
    }

    fn claim_shift(id: String) -> Result<Shift, Error> {
        let member = identity::require_member("only members can claim shifts")?;
        let Some(found) = kv::get::<ShiftRecord>(&shift_key(&id))? else {
            return Err(Error::not_found(format!("no shift {id}")));
        };
        let mut record = found.value;
        match &record.claimed_by {
            Some(holder) if *holder == member => return Ok(record.into()),
            Some(_) => return Err(Error::conflict(format!("shift {id} is already claimed"))),
            None => {}
        }

        let cap = coophost_sdk::config::get_or("max-shifts-per-week", DEFAULT_MAX_SHIFTS_PER_WEEK)?;
        let week = week::iso_week_label(record.starts_at);
        let claimed = kv::count(&format!("claim/{member}/{week}/"))?;
        if i64::try_from(claimed).unwrap_or(i64::MAX) >= cap {
            return Err(Error::invalid(format!(
                "weekly cap of {cap} shifts reached for {week}"
            )));
        }

        record.claimed_by = Some(member.clone());
        // Compare-and-swap on the version we read: of two workers racing
        // for one shift, exactly one wins.
        kv::swap(&shift_key(&id), Some(found.version), &record)?;
        kv::put_for(&format!("claim/{member}/{week}/{id}"), &true, Some(&member))?;
        Ok(record.into())
    }

    fn my_shifts() -> Result<Vec<Shift>, Error> {
        // Anonymous and host calls have no claims.
        let Some(member) = identity::member_id() else {
            return Ok(Vec::new());
        };
        Ok(all_shifts()?
            .into_iter()
            .filter(|s| s.claimed_by.as_deref() == Some(member.as_str()))
            .map(Shift::from)
            .collect())
    }
}

export!(ShiftBoard);

fn shift_key(id: &str) -> String {
    format!("shift/{id}")
}

/// Every shift in id order: ids are zero-padded, so key order is id order.
fn all_shifts() -> Result<Vec<ShiftRecord>, Error> {
    Ok(kv::scan::<ShiftRecord>("shift/")?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

/// Take the next shift id, `s-` and a six-digit counter, by
/// compare-and-swap on `seq` so two posts never share an id.
fn next_id() -> Result<String, Error> {
    let current = kv::get::<u64>("seq")?;
    let next = current.as_ref().map_or(1, |v| v.value + 1);
    kv::swap("seq", current.map(|v| v.version), &next)?;
    Ok(format_id(next))
}

fn format_id(n: u64) -> String {
    format!("s-{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_zero_padded_to_six_digits() {
        assert_eq!(format_id(1), "s-000001");
        assert_eq!(format_id(123_456), "s-123456");
    }

    #[test]
    fn stored_json_has_the_shared_field_names() {
        let record = ShiftRecord {
            id: "s-000001".to_string(),
            title: "Evening".to_string(),
            starts_at: 1,
            ends_at: 2,
            claimed_by: None,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"id":"s-000001","title":"Evening","starts_at":1,"ends_at":2,"claimed_by":null}"#
        );
    }
}
