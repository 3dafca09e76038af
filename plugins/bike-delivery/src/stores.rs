//! Stores (merchants): pickup addresses, packages and time slots.

use coophost_sdk::{Error, identity, kv};

use crate::clock::{SlotTimes, parse_hhmm};
use crate::exports::coop::delivery::stores::{Guest, Store, TimeSlot};
use crate::exports::coop::delivery::types::Address;
use crate::{BikeDelivery, geo_point, ident, is_dispatcher, text};

/// Most pickup addresses, packages and slots one store may declare.
const MAX_ADDRESSES: usize = 10;
const MAX_PACKAGES: usize = 20;
const MAX_SLOTS: usize = 20;
/// Longest prior notice, minutes (a week).
const MAX_PRIOR_NOTICE_MIN: u32 = 7 * 24 * 60;
/// The slot id that means "no slot".
pub const ON_DEMAND: &str = "on-demand";

impl Guest for BikeDelivery {
    fn put_store(store: Store) -> Result<Store, Error> {
        let store = check(store)?;
        let key = store_key(&store.id);
        let existing = kv::get::<Store>(&key)?;
        if !is_dispatcher() {
            // A merchant manages only a store that is theirs, before and after.
            let me = identity::require_member("log in to manage a store")?;
            let theirs = |s: &Store| s.merchant.as_deref() == Some(me.as_str());
            if !theirs(&store) || existing.as_ref().is_some_and(|e| !theirs(&e.value)) {
                return Err(Error::access_denied(format!(
                    "only dispatchers, admins and the store's own merchant may change store {}",
                    store.id
                )));
            }
        }
        kv::swap_for(
            &key,
            existing.map(|e| e.version),
            &store,
            store.merchant.as_deref(),
        )?;
        Ok(store)
    }

    fn get_store(id: String) -> Result<Store, Error> {
        load(&id)
    }

    fn list_stores() -> Result<Vec<Store>, Error> {
        Ok(kv::scan::<Store>("store/")?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }
}

fn store_key(id: &str) -> String {
    format!("store/{id}")
}

/// The store `id`, or `not-found`.
pub fn load(id: &str) -> Result<Store, Error> {
    kv::get::<Store>(&store_key(id))?
        .map(|v| v.value)
        .ok_or_else(|| Error::not_found(format!("no store {id}")))
}

/// A slot's times, parsed.
pub fn slot_times(slot: &TimeSlot) -> Result<SlotTimes, String> {
    Ok(SlotTimes {
        weekdays: slot.weekdays.clone(),
        starts: parse_hhmm("starts", &slot.starts)?,
        ends: parse_hhmm("ends", &slot.ends)?,
        cutoff: parse_hhmm("cutoff", &slot.cutoff)?,
    })
}

/// Check an address: a label and a point on Earth.
pub fn check_address(field: &str, a: &Address) -> Result<Address, Error> {
    geo_point(&format!("{field}.point"), &a.point)?;
    Ok(Address {
        label: text(&format!("{field}.label"), &a.label, 200)?,
        point: a.point,
    })
}

fn check(mut s: Store) -> Result<Store, Error> {
    ident("id", &s.id)?;
    s.name = text("name", &s.name, 120)?;
    if s.pickup_addresses.is_empty() || s.pickup_addresses.len() > MAX_ADDRESSES {
        return Err(Error::invalid(format!(
            "pickup-addresses must list 1 to {MAX_ADDRESSES} addresses, got {}",
            s.pickup_addresses.len()
        )));
    }
    for (i, a) in s.pickup_addresses.iter_mut().enumerate() {
        *a = check_address(&format!("pickup-addresses[{i}]"), a)?;
    }
    if s.packages.len() > MAX_PACKAGES {
        return Err(Error::invalid(format!(
            "a store declares at most {MAX_PACKAGES} packages"
        )));
    }
    for (i, p) in s.packages.iter_mut().enumerate() {
        ident(&format!("packages[{i}].id"), &p.id)?;
        p.label = text(&format!("packages[{i}].label"), &p.label, 120)?;
        if p.max_weight_g == 0 {
            return Err(Error::invalid(format!(
                "packages[{i}].max-weight-g must be positive"
            )));
        }
    }
    unique("packages", s.packages.iter().map(|p| p.id.as_str()))?;
    if s.slots.len() > MAX_SLOTS {
        return Err(Error::invalid(format!(
            "a store declares at most {MAX_SLOTS} slots"
        )));
    }
    for (i, slot) in s.slots.iter_mut().enumerate() {
        let field = format!("slots[{i}]");
        ident(&format!("{field}.id"), &slot.id)?;
        if slot.id == ON_DEMAND {
            return Err(Error::invalid(format!(
                "{field}.id: {ON_DEMAND} is reserved for deliveries without a slot"
            )));
        }
        slot.label = text(&format!("{field}.label"), &slot.label, 120)?;
        if slot.weekdays.is_empty() || slot.weekdays.iter().any(|d| !(1..=7).contains(d)) {
            return Err(Error::invalid(format!(
                "{field}.weekdays must list ISO weekdays 1 (Monday) to 7 (Sunday), got {:?}",
                slot.weekdays
            )));
        }
        slot.weekdays.sort_unstable();
        slot.weekdays.dedup();
        let t = slot_times(slot).map_err(|e| Error::invalid(format!("{field}.{e}")))?;
        if t.ends <= t.starts {
            return Err(Error::invalid(format!(
                "{field}: ends {} must be after starts {}",
                slot.ends, slot.starts
            )));
        }
        if t.cutoff > t.starts {
            return Err(Error::invalid(format!(
                "{field}: cutoff {} must be no later than starts {}",
                slot.cutoff, slot.starts
            )));
        }
    }
    unique("slots", s.slots.iter().map(|p| p.id.as_str()))?;
    if s.prior_notice_minutes > MAX_PRIOR_NOTICE_MIN {
        return Err(Error::invalid(format!(
            "prior-notice-minutes must be at most {MAX_PRIOR_NOTICE_MIN} (a week)"
        )));
    }
    Ok(s)
}

fn unique<'a>(field: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(Error::invalid(format!("{field}: id {id} appears twice")));
        }
    }
    Ok(())
}
