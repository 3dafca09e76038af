//! Orders and what couriers do with them. Every change to an order is a
//! compare-and-swap on its record: two couriers or dispatchers racing for
//! the same change never both win.

use coophost_sdk::{Error, Money, events, identity, kv, payments, shifts};
use serde::{Deserialize, Serialize};

use crate::clock::{MINUTE_MS, now_ms};
use crate::exports::coop::delivery::courier::{self, Offer};
use crate::exports::coop::delivery::orders::Guest;
use crate::exports::coop::delivery::types::{
    Cancellation, Incident, Order, OrderState, Point, Task, TaskKind, TaskState, Window,
};
use crate::flow::{self, Action};
use crate::pricing::geo;
use crate::settings::Settings;
use crate::{BikeDelivery, geo_point, is_dispatcher, next_seq, quoting, random_u64, stores, text};

/// The open-data zone of a drop-off in none of the coop's zones.
pub const OTHER_ZONE: &str = "other";

/// Most incidents kept per order, and refusals remembered.
const MAX_INCIDENTS: usize = 50;
const MAX_REFUSALS: usize = 1000;
/// Average courier speed for the dropoff window, metres per minute (15 km/h).
const METRES_PER_MINUTE: u64 = 250;

/// An order as stored.
#[derive(Serialize, Deserialize)]
pub struct OrderRecord {
    /// The order as returned (its `version` is the record's).
    pub order: Order,
    /// The proof-of-delivery code.
    pub code: String,
    /// Couriers who declined it: not suggested to them again.
    pub refused: Vec<String>,
}

/// A courier's last position.
#[derive(Serialize, Deserialize)]
pub struct Position {
    /// Where.
    pub point: Point,
    /// When it was reported.
    pub at: u64,
}

pub fn order_key(id: &str) -> String {
    format!("order/{id}")
}

/// The order `id` with its version, or `not-found`.
pub fn load(id: &str) -> Result<kv::Versioned<OrderRecord>, Error> {
    let mut v = kv::get::<OrderRecord>(&order_key(id))?
        .ok_or_else(|| Error::not_found(format!("no order {id}")))?;
    v.value.order.version = v.version;
    Ok(v)
}

/// Write an order back if nobody changed it since it was read; the
/// returned order carries the new version.
pub fn save(v: kv::Versioned<OrderRecord>) -> Result<Order, Error> {
    let customer = v.value.order.customer.clone();
    let version =
        kv::swap_for(&v.key, Some(v.version), &v.value, Some(&customer)).map_err(|e| match e {
            Error::Conflict(_) => Error::conflict(format!(
                "order {} changed while this call was deciding: read it again",
                v.value.order.id
            )),
            other => other,
        })?;
    let mut order = v.value.order;
    order.version = version;
    Ok(order)
}

/// The order as `viewer` may see it: the code is for the customer only.
pub fn view(mut record: OrderRecord, viewer: Option<&str>) -> Order {
    if viewer == Some(record.order.customer.as_str()) {
        record.order.dropoff_code = Some(record.code);
    } else {
        record.order.dropoff_code = None;
    }
    record.order
}

/// Move task `idx` of `order` by `action`, per the table.
pub fn step(order: &mut Order, idx: usize, action: Action) -> Result<(), Error> {
    let task = &mut order.tasks[idx];
    task.state = flow::next(&task.id, task.state, action).map_err(Error::conflict)?;
    Ok(())
}

/// Whether the caller is `member`'s courier of this order.
fn require_own_task(v: &kv::Versioned<OrderRecord>, me: &str, task: &str) -> Result<(), Error> {
    if v.value.order.courier.as_deref() != Some(me) {
        return Err(Error::access_denied(format!("task {task} is not yours")));
    }
    Ok(())
}

/// The order and task index a task id names (`<order>.pickup` or
/// `<order>.dropoff`).
fn find_task(task: &str) -> Result<(kv::Versioned<OrderRecord>, usize), Error> {
    let (order, kind) = task.rsplit_once('.').ok_or_else(|| {
        Error::invalid(format!(
            "task {task:?} is not a task id: use <order>.pickup or <order>.dropoff"
        ))
    })?;
    let idx = match kind {
        "pickup" => 0,
        "dropoff" => 1,
        _ => {
            return Err(Error::invalid(format!(
                "task {task:?} is not a task id: use <order>.pickup or <order>.dropoff"
            )));
        }
    };
    Ok((load(order)?, idx))
}

/// Fail unless `member` is on shift now.
pub fn require_on_shift(member: &str, what: &str) -> Result<shifts::OpenShift, Error> {
    shifts::current(member)?.ok_or_else(|| {
        Error::access_denied(format!(
            "{what} only during an open shift: start a shift first"
        ))
    })
}

/// A courier's fresh position: reported during their current shift and
/// not older than the coop's limit.
pub fn fresh_position(
    member: &str,
    shift: &shifts::OpenShift,
    settings: &Settings,
    now: u64,
) -> Result<Option<Position>, Error> {
    let Some(p) = kv::get::<Position>(&format!("loc/{member}"))? else {
        return Ok(None);
    };
    let fresh = p.value.at >= shift.started_at
        && now.saturating_sub(p.value.at) <= settings.location_max_age_min * MINUTE_MS;
    Ok(fresh.then_some(p.value))
}

/// Metres between two WIT points, great circle.
pub fn distance_m(a: &Point, b: &Point) -> u32 {
    geo::great_circle_m(
        geo::Point {
            lat: a.lat,
            lon: a.lon,
        },
        geo::Point {
            lat: b.lat,
            lon: b.lon,
        },
    )
}

/// Give `order` to `courier`: both tasks `todo -> assigned`, written by
/// compare-and-swap. Of several callers racing, one wins; the others get
/// `conflict`.
pub fn assign_to(mut v: kv::Versioned<OrderRecord>, courier: &str) -> Result<Order, Error> {
    let id = v.value.order.id.clone();
    match v.value.order.courier.as_deref() {
        Some(c) if c == courier => return Ok(v.value.order),
        Some(_) => {
            return Err(Error::conflict(format!(
                "order {id} is already assigned to another courier"
            )));
        }
        None => {}
    }
    if v.value.order.state != OrderState::Open {
        return Err(Error::conflict(format!("order {id} is no longer open")));
    }
    if let Some(busy) = kv::get::<String>(&format!("busy/{courier}"))? {
        return Err(Error::conflict(format!(
            "the courier already has order {} under way",
            busy.value
        )));
    }
    for idx in 0..2 {
        if v.value.order.tasks[idx].state != TaskState::Done {
            step(&mut v.value.order, idx, Action::Assign)?;
        }
    }
    v.value.order.courier = Some(courier.to_string());
    let order = save(v)?;
    kv::delete(&format!("open/{id}"), None)?;
    kv::put_for(&format!("busy/{courier}"), &id, Some(courier))?;
    kv::put_for(&format!("by-courier/{courier}/{id}"), &(), Some(courier))?;
    events::emit_json(
        "delivery.assigned",
        &serde_json::json!({"order": id, "message": "A courier is on your delivery."}),
        Some(&order.customer),
    )?;
    Ok(order)
}

/// Settle `amount` of the order's escrow for its courier and give the rest
/// of the price back to the customer. Returns (fee, refunded).
pub fn settle_and_refund(order: &Order, amount: i64) -> Result<(Money, Money), Error> {
    let currency = order.price.currency.clone();
    let fee = amount.clamp(0, order.price.amount);
    if fee > 0 {
        let courier = order
            .courier
            .as_deref()
            .ok_or_else(|| Error::internal("a fee without a courier"))?;
        payments::settle(&order.id, courier, &Money::new(fee, &currency)?)?;
    }
    let back = order.price.amount - fee;
    if back > 0 {
        payments::refund(&order.id, &Money::new(back, &currency)?)?;
    }
    Ok((Money::new(fee, &currency)?, Money::new(back, &currency)?))
}

/// Cancel an open order: every task not final is cancelled per the table;
/// the fee depends on the state reached.
pub fn cancel(mut v: kv::Versioned<OrderRecord>, reason: &str) -> Result<Cancellation, Error> {
    let settings = Settings::load()?;
    let order = &mut v.value.order;
    if order.state != OrderState::Open {
        return Err(Error::conflict(format!(
            "order {} is already {}",
            order.id,
            order_state_name(order.state)
        )));
    }
    let picked_up = order.tasks[0].state == TaskState::Done;
    let (reached, bp) = match (&order.courier, picked_up) {
        (None, _) => (TaskState::Todo, 0),
        (Some(_), false) => (TaskState::Assigned, settings.cancel_fee_assigned_bp),
        (Some(_), true) => (TaskState::Doing, settings.cancel_fee_picked_up_bp),
    };
    for idx in 0..2 {
        if !flow::is_final(order.tasks[idx].state) {
            step(order, idx, Action::Cancel).map_err(|e| {
                Error::conflict(format!(
                    "{}: the courier is on the way with it; a dispatcher can record a failure and return it",
                    e.message()
                ))
            })?;
        }
    }
    let fee = i64::try_from(i128::from(order.price.amount) * i128::from(bp) / 10_000)
        .unwrap_or(order.price.amount);
    let (fee, refunded) = settle_and_refund(order, fee)?;
    let cancellation = Cancellation {
        state_reached: reached,
        fee,
        refunded,
        reason: reason.to_string(),
        at: now_ms(),
    };
    order.state = OrderState::Cancelled;
    order.cancellation = Some(cancellation.clone());
    let courier = order.courier.clone();
    let id = order.id.clone();
    let customer = order.customer.clone();
    save(v)?;
    release(&id, courier.as_deref())?;
    events::emit_json(
        "delivery.cancelled",
        &serde_json::json!({"order": id, "reason": reason}),
        Some(&customer),
    )?;
    Ok(cancellation)
}

/// Take an order off the open list and free its courier.
pub fn release(id: &str, courier: Option<&str>) -> Result<(), Error> {
    kv::delete(&format!("open/{id}"), None)?;
    if let Some(c) = courier {
        kv::delete(&format!("busy/{c}"), None)?;
    }
    Ok(())
}

pub fn order_state_name(s: OrderState) -> &'static str {
    match s {
        OrderState::Open => "open",
        OrderState::Delivered => "delivered",
        OrderState::Returned => "returned",
        OrderState::Cancelled => "cancelled",
    }
}

impl Guest for BikeDelivery {
    fn place_order(
        quote: String,
        recipient: String,
        notes: Option<String>,
    ) -> Result<Order, Error> {
        let customer = identity::require_member("log in to place an order")?;
        let recipient = text("recipient", &recipient, 120)?;
        let notes = notes.map(|n| text("notes", &n, 500)).transpose()?;
        let q = quoting::load(&quote)?;
        if let Some(order) = &q.value.ordered {
            return Err(Error::conflict(format!(
                "quote {quote} was already ordered as {order}"
            )));
        }
        let now = now_ms();
        let quoted = q.value.quote.clone();
        if now >= quoted.expires_at {
            return Err(Error::conflict(format!(
                "quote {quote} expired {} minutes ago: ask for a new quote",
                (now - quoted.expires_at).div_ceil(MINUTE_MS)
            )));
        }
        let store = stores::load(&quoted.request.store)?;
        let pickup = store
            .pickup_addresses
            .get(quoted.request.pickup.unwrap_or(0) as usize)
            .cloned()
            .ok_or_else(|| {
                Error::conflict(format!(
                    "store {} changed its pickup addresses since the quote: ask for a new quote",
                    store.id
                ))
            })?;
        let id = format!("d-{:06}", next_seq("order")?);
        payments::charge(&id, &quoted.price)?;
        let ride = u64::from(quoted.route_m) / METRES_PER_MINUTE * MINUTE_MS;
        let w = quoted.pickup_window;
        let task = |kind: TaskKind, address, window| Task {
            id: format!(
                "{id}.{}",
                if kind == TaskKind::Pickup {
                    "pickup"
                } else {
                    "dropoff"
                }
            ),
            kind,
            state: TaskState::Todo,
            address,
            window,
            failure: None,
            done_at: None,
        };
        let order = Order {
            id: id.clone(),
            quote: quote.clone(),
            store: store.id.clone(),
            customer: customer.clone(),
            price: quoted.price.clone(),
            recipient,
            notes,
            state: OrderState::Open,
            tasks: vec![
                task(TaskKind::Pickup, pickup, w),
                task(
                    TaskKind::Dropoff,
                    quoted.request.dropoff.clone(),
                    Window {
                        from: w.from,
                        to: w.to + ride,
                    },
                ),
            ],
            courier: None,
            dropoff_code: None,
            route_m: quoted.route_m,
            incidents: Vec::new(),
            cancellation: None,
            version: 0,
            placed_at: now,
        };
        let record = OrderRecord {
            order,
            code: format!("{:06}", random_u64()? % 1_000_000),
            refused: Vec::new(),
        };
        let version = kv::swap_for(&order_key(&id), None, &record, Some(&customer))?;
        kv::put_for(&format!("open/{id}"), &(), None)?;
        kv::put_for(
            &format!("by-customer/{customer}/{id}"),
            &(),
            Some(&customer),
        )?;
        quoting::mark_ordered(q, &id)?;
        events::emit_json(
            "delivery.placed",
            &serde_json::json!({"order": id, "store": store.id, "pickup-window": [w.from, w.to]}),
            None,
        )?;
        let mut out = view(record, Some(&customer));
        out.version = version;
        Ok(out)
    }

    fn get_order(id: String) -> Result<Order, Error> {
        let v = load(&id)?;
        let me = identity::member_id();
        let order = &v.value.order;
        let allowed = is_dispatcher()
            || me.as_deref() == Some(order.customer.as_str())
            || (me.is_some() && me == order.courier);
        if !allowed {
            return Err(Error::access_denied(format!(
                "order {id} is visible to its customer, its courier and dispatchers"
            )));
        }
        let version = v.version;
        let mut out = view(v.value, me.as_deref());
        out.version = version;
        Ok(out)
    }

    fn my_orders() -> Result<Vec<Order>, Error> {
        let me = identity::require_member("log in to see your orders")?;
        let mut out = Vec::new();
        for entry in kv::scan::<()>(&format!("by-customer/{me}/"))?
            .into_iter()
            .rev()
        {
            let Some(id) = entry.key.rsplit('/').next() else {
                continue;
            };
            let v = load(id)?;
            let version = v.version;
            let mut o = view(v.value, Some(&me));
            o.version = version;
            out.push(o);
        }
        Ok(out)
    }

    fn cancel_order(id: String, reason: String) -> Result<Cancellation, Error> {
        let reason = text("reason", &reason, 500)?;
        let v = load(&id)?;
        let me = identity::member_id();
        if !is_dispatcher() && me.as_deref() != Some(v.value.order.customer.as_str()) {
            return Err(Error::access_denied(format!(
                "order {id} can be cancelled by its customer and dispatchers"
            )));
        }
        cancel(v, &reason)
    }

    fn rate_courier(order: String, score: u8, comment: Option<String>) -> Result<(), Error> {
        let me = identity::require_member("log in to rate a delivery")?;
        let v = load(&order)?;
        let o = &v.value.order;
        if o.customer != me {
            return Err(Error::access_denied(format!(
                "only the customer of order {order} rates its courier"
            )));
        }
        if o.state != OrderState::Delivered {
            return Err(Error::conflict(format!(
                "order {order} is {}: a courier is rated once the delivery arrived",
                order_state_name(o.state)
            )));
        }
        let courier = o
            .courier
            .as_deref()
            .ok_or_else(|| Error::internal("a delivered order without a courier"))?;
        coophost_sdk::ratings::rate(courier, &order, score, comment.as_deref())
    }
}

impl courier::Guest for BikeDelivery {
    fn report_location(at: Point) -> Result<(), Error> {
        let me = identity::require_member("log in to share a position")?;
        geo_point("at", &at)?;
        require_on_shift(&me, "a position is recorded")?;
        kv::put_for(
            &format!("loc/{me}"),
            &Position {
                point: at,
                at: now_ms(),
            },
            Some(&me),
        )?;
        Ok(())
    }

    fn offers() -> Result<Vec<Offer>, Error> {
        let me = identity::require_member("log in to see offers")?;
        let Some(shift) = shifts::current(&me)? else {
            return Ok(Vec::new());
        };
        let settings = Settings::load()?;
        let now = now_ms();
        let here = fresh_position(&me, &shift, &settings, now)?;
        let mut out = Vec::new();
        let mut pays: Vec<(i64, i64)> = Vec::new();
        for entry in kv::scan::<()>("open/")? {
            let Some(id) = entry.key.strip_prefix("open/") else {
                continue;
            };
            let v = load(id)?;
            let r = v.value;
            if r.order.state != OrderState::Open
                || r.order.courier.is_some()
                || r.refused.contains(&me)
            {
                continue;
            }
            // One preview per distinct price: the split is the same for all.
            let amount = r.order.price.amount;
            let pay = match pays.iter().find(|(a, _)| *a == amount) {
                Some((_, p)) => *p,
                None => {
                    let p = payments::preview(&me, &r.order.price)?.worker;
                    pays.push((amount, p));
                    p
                }
            };
            let pickup = &r.order.tasks[0];
            out.push(Offer {
                order: r.order.id.clone(),
                pickup: pickup.address.clone(),
                dropoff: r.order.tasks[1].address.clone(),
                pickup_window: pickup.window,
                to_pickup_m: here
                    .as_ref()
                    .map(|p| distance_m(&p.point, &pickup.address.point)),
                route_m: r.order.route_m,
                pay: Money::new(pay, &r.order.price.currency)?,
            });
        }
        out.sort_by_key(|o| (o.to_pickup_m.is_none(), o.to_pickup_m, o.pickup_window.from));
        Ok(out)
    }

    fn accept(order: String) -> Result<Order, Error> {
        let me = identity::require_member("log in to accept a delivery")?;
        require_on_shift(&me, "deliveries are accepted")?;
        assign_to(load(&order)?, &me)
    }

    fn refuse(order: String) -> Result<(), Error> {
        let me = identity::require_member("log in to refuse a delivery")?;
        let mut v = load(&order)?;
        if !v.value.refused.contains(&me) && v.value.refused.len() < MAX_REFUSALS {
            v.value.refused.push(me);
            save(v)?;
        }
        Ok(())
    }

    fn my_tasks() -> Result<Vec<Order>, Error> {
        let me = identity::require_member("log in to see your deliveries")?;
        let mut out = Vec::new();
        for entry in kv::scan::<()>(&format!("by-courier/{me}/"))? {
            let Some(id) = entry.key.rsplit('/').next() else {
                continue;
            };
            let v = load(id)?;
            if v.value.order.state == OrderState::Open
                && v.value.order.courier.as_deref() == Some(&me)
            {
                out.push(view(v.value, Some(&me)));
            }
        }
        Ok(out)
    }

    fn start_task(task: String) -> Result<Order, Error> {
        let me = identity::require_member("log in to work on a task")?;
        let (mut v, idx) = find_task(&task)?;
        require_own_task(&v, &me, &task)?;
        if idx == 1 && v.value.order.tasks[0].state != TaskState::Done {
            return Err(Error::conflict(format!(
                "task {task}: pick the packages up first ({} is {})",
                v.value.order.tasks[0].id,
                flow::state_name(v.value.order.tasks[0].state)
            )));
        }
        step(&mut v.value.order, idx, Action::Start)?;
        save(v)
    }

    fn complete_task(task: String, code: Option<String>) -> Result<Order, Error> {
        let me = identity::require_member("log in to work on a task")?;
        let (mut v, idx) = find_task(&task)?;
        require_own_task(&v, &me, &task)?;
        step(&mut v.value.order, idx, Action::Complete)?;
        let now = now_ms();
        v.value.order.tasks[idx].done_at = Some(now);
        if idx == 0 {
            return save(v);
        }
        match code.as_deref().map(str::trim) {
            Some(c) if c == v.value.code => {}
            Some(_) => {
                return Err(Error::invalid(format!(
                    "task {task}: that is not the proof-of-delivery code; ask the recipient for their 6-digit code"
                )));
            }
            None => {
                return Err(Error::invalid(format!(
                    "task {task}: a dropoff needs the recipient's proof-of-delivery code"
                )));
            }
        }
        v.value.order.state = OrderState::Delivered;
        let price = v.value.order.price.clone();
        let id = v.value.order.id.clone();
        let customer = v.value.order.customer.clone();
        payments::settle(&id, &me, &price)?;
        // Open data: one delivery in the drop-off's zone, by this courier.
        let settings = Settings::load()?;
        let drop = &v.value.order.tasks[1].address.point;
        let zone = geo::zones_of(
            geo::Point {
                lat: drop.lat,
                lon: drop.lon,
            },
            &settings.zones,
        )
        .into_iter()
        .next()
        .unwrap_or_else(|| OTHER_ZONE.to_string());
        coophost_sdk::activity::count("deliveries", &zone, 1, Some(&me))?;
        let order = save(v)?;
        release(&id, Some(&me))?;
        events::emit_json(
            "delivery.delivered",
            &serde_json::json!({"order": id, "message": "Your delivery arrived."}),
            Some(&customer),
        )?;
        Ok(order)
    }

    fn fail_task(task: String, reason: String) -> Result<Order, Error> {
        let me = identity::require_member("log in to work on a task")?;
        let reason = text("reason", &reason, 500)?;
        let (mut v, idx) = find_task(&task)?;
        require_own_task(&v, &me, &task)?;
        step(&mut v.value.order, idx, Action::Fail)?;
        v.value.order.tasks[idx].failure = Some(reason.clone());
        let customer = v.value.order.customer.clone();
        let id = v.value.order.id.clone();
        let order = save(v)?;
        events::emit_json(
            "delivery.failed",
            &serde_json::json!({"order": id, "task": task, "reason": reason}),
            Some(&customer),
        )?;
        Ok(order)
    }

    fn report_incident(task: String, note: String) -> Result<Order, Error> {
        let me = identity::require_member("log in to report an incident")?;
        let note = text("note", &note, 500)?;
        let (mut v, _) = find_task(&task)?;
        if !is_dispatcher() {
            require_own_task(&v, &me, &task)?;
        }
        if v.value.order.incidents.len() >= MAX_INCIDENTS {
            return Err(Error::quota_exceeded(format!(
                "order {} already has {MAX_INCIDENTS} incidents",
                v.value.order.id
            )));
        }
        v.value.order.incidents.push(Incident {
            task,
            note,
            by: me,
            at: now_ms(),
        });
        save(v)
    }
}
