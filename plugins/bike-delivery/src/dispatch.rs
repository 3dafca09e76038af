//! What dispatchers do: see open orders, get a suggested courier with the
//! reason, assign, take back, and decide what happens after a failure.

use coophost_sdk::{Error, kv, membership, shifts};

use crate::BikeDelivery;
use crate::clock::{MINUTE_MS, now_ms};
use crate::exports::coop::delivery::dispatch::{FailureOutcome, Guest, Suggestion};
use crate::exports::coop::delivery::types::{Order, OrderState, TaskState};
use crate::flow::Action;
use crate::orders::{
    self, assign_to, cancel, distance_m, fresh_position, load, release, save, settle_and_refund,
    step,
};
use crate::settings::Settings;

/// The role couriers have.
pub const COURIER_ROLE: &str = "worker";

impl Guest for BikeDelivery {
    fn open_orders() -> Result<Vec<Order>, Error> {
        let mut out = Vec::new();
        for entry in kv::scan::<()>("open/")? {
            let Some(id) = entry.key.strip_prefix("open/") else {
                continue;
            };
            out.push(orders::view(load(id)?.value, None));
        }
        Ok(out)
    }

    fn suggest(order: String) -> Result<Suggestion, Error> {
        let v = load(&order)?;
        let o = &v.value.order;
        if o.state != OrderState::Open || o.courier.is_some() {
            return Err(Error::conflict(format!(
                "order {order} is not waiting for a courier"
            )));
        }
        let settings = Settings::load()?;
        let now = now_ms();
        let pickup = &o.tasks[0].address.point;
        let couriers = membership::list(Some(COURIER_ROLE))?;
        let (mut off_shift, mut no_position, mut busy, mut refused) = (0, 0, 0, 0);
        let mut ranked: Vec<(u32, String, u64)> = Vec::new();
        for c in couriers {
            if c.status != membership::MemberStatus::Active {
                continue;
            }
            let Some(shift) = shifts::current(&c.id)? else {
                off_shift += 1;
                continue;
            };
            if v.value.refused.contains(&c.id) {
                refused += 1;
                continue;
            }
            if kv::get::<String>(&format!("busy/{}", c.id))?.is_some() {
                busy += 1;
                continue;
            }
            let Some(pos) = fresh_position(&c.id, &shift, &settings, now)? else {
                no_position += 1;
                continue;
            };
            ranked.push((distance_m(&pos.point, pickup), c.id, pos.at));
        }
        ranked.sort();
        let others = format!(
            "not considered: {off_shift} off shift, {busy} with a delivery under way, \
             {refused} who declined this order, {no_position} without a position from the last {} minutes",
            settings.location_max_age_min
        );
        let Some((distance_m, courier, at)) = ranked.first().cloned() else {
            return Err(Error::not_found(format!(
                "no courier available for order {order}; {others}"
            )));
        };
        let next = match ranked.get(1) {
            Some((d, _, _)) => format!("; the next nearest is {} from it", km(*d)),
            None => String::new(),
        };
        Ok(Suggestion {
            courier,
            distance_m,
            reason: format!(
                "nearest of {} available couriers on shift, by straight-line distance from their last position \
                 ({} minutes old) to the pickup: {}{next}; {others}",
                ranked.len(),
                now.saturating_sub(at) / MINUTE_MS,
                km(distance_m)
            ),
        })
    }

    fn assign(
        order: String,
        courier: String,
        expected_version: Option<u64>,
    ) -> Result<Order, Error> {
        let v = load(&order)?;
        if let Some(expected) = expected_version
            && expected != v.version
        {
            return Err(Error::conflict(format!(
                "order {order} is at version {}, not {expected}: read it again",
                v.version
            )));
        }
        let member = membership::get(&courier)?
            .ok_or_else(|| Error::invalid(format!("{courier:?} is not a member of this coop")))?;
        if !member.roles.iter().any(|r| r == COURIER_ROLE)
            || member.status != membership::MemberStatus::Active
        {
            return Err(Error::invalid(format!(
                "member {courier} is not an active courier (role {COURIER_ROLE})"
            )));
        }
        if shifts::current(&courier)?.is_none() {
            return Err(Error::conflict(format!(
                "member {courier} is not on shift: only couriers on shift are given deliveries"
            )));
        }
        assign_to(v, &courier)
    }

    fn unassign(order: String) -> Result<Order, Error> {
        let mut v = load(&order)?;
        let courier = v
            .value
            .order
            .courier
            .clone()
            .ok_or_else(|| Error::conflict(format!("order {order} has no courier")))?;
        for idx in 0..2 {
            step(&mut v.value.order, idx, Action::Unassign)?;
        }
        v.value.order.courier = None;
        let out = save(v)?;
        reopen(&order, &courier)?;
        Ok(out)
    }

    fn resolve_failure(order: String, outcome: FailureOutcome) -> Result<Order, Error> {
        let mut v = load(&order)?;
        let idx = v
            .value
            .order
            .tasks
            .iter()
            .position(|t| t.state == TaskState::Failed)
            .ok_or_else(|| Error::conflict(format!("order {order} has no failed task")))?;
        let picked_up = v.value.order.tasks[0].state == TaskState::Done;
        let courier = v.value.order.courier.clone();
        match outcome {
            FailureOutcome::Reschedule => {
                step(&mut v.value.order, idx, Action::Reschedule)?;
                if picked_up {
                    // The courier has the packages: the dropoff stays theirs.
                    step(&mut v.value.order, idx, Action::Assign)?;
                    save(v)
                } else {
                    if v.value.order.tasks[1].state == TaskState::Assigned {
                        step(&mut v.value.order, 1, Action::Unassign)?;
                    }
                    v.value.order.courier = None;
                    let out = save(v)?;
                    if let Some(c) = courier {
                        reopen(&order, &c)?;
                    }
                    Ok(out)
                }
            }
            FailureOutcome::Return => {
                if !picked_up {
                    return Err(Error::conflict(format!(
                        "order {order}: nothing was picked up, so nothing goes back; reschedule or cancel it"
                    )));
                }
                step(&mut v.value.order, idx, Action::Return)?;
                let settings = Settings::load()?;
                let price = v.value.order.price.amount;
                let fee = i64::try_from(
                    i128::from(price) * i128::from(settings.cancel_fee_picked_up_bp) / 10_000,
                )
                .unwrap_or(price);
                settle_and_refund(&v.value.order, fee)?;
                v.value.order.state = OrderState::Returned;
                let out = save(v)?;
                release(&order, courier.as_deref())?;
                Ok(out)
            }
            FailureOutcome::Cancel => {
                let reason = format!(
                    "failed: {}",
                    v.value.order.tasks[idx].failure.clone().unwrap_or_default()
                );
                cancel(v, &reason)?;
                Ok(orders::view(load(&order)?.value, None))
            }
        }
    }
}

/// Put an order back on the open list and free its former courier.
fn reopen(order: &str, courier: &str) -> Result<(), Error> {
    kv::delete(&format!("busy/{courier}"), None)?;
    kv::put_for(&format!("open/{order}"), &(), None)?;
    Ok(())
}

/// Metres for people: `850 m` or `2.35 km`.
fn km(m: u32) -> String {
    if m < 1000 {
        format!("{m} m")
    } else {
        format!("{}.{:02} km", m / 1000, (m % 1000) / 10)
    }
}
