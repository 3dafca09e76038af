//! Quotes: the coop's pricing rules applied to a delivery, with every line
//! explained, kept until they expire.

use coophost_sdk::{Error, Money, identity, kv, store, timers};
use serde::{Deserialize, Serialize};

use crate::clock::{MINUTE_MS, local_parts, next_slot_window, now_ms};
use crate::exports::coop::delivery::quotes::{Guest, Quote, QuoteRequest};
use crate::exports::coop::delivery::stores::Store;
use crate::exports::coop::delivery::types::{PriceLine, RuleTrace, Vehicle, Window};
use crate::pricing::{geo, rules};
use crate::settings::Settings;
use crate::stores::{self, ON_DEMAND};
use crate::{BikeDelivery, random_u64};

/// Most packages and grams one delivery may carry.
const MAX_PACKAGES: u32 = 100;
const MAX_WEIGHT_G: u32 = 300_000;

/// A quote as stored.
#[derive(Serialize, Deserialize)]
pub struct QuoteRecord {
    /// The quote as returned.
    pub quote: Quote,
    /// The order placed from it, once ordered.
    pub ordered: Option<String>,
}

impl Guest for BikeDelivery {
    fn request_quote(request: QuoteRequest) -> Result<Quote, Error> {
        let settings = Settings::load()?;
        let store = stores::load(&request.store)?;
        let now = now_ms();
        let mut quote = compute(&settings, &store, &request, now)?;
        quote.id = format!("q-{:016x}", random_u64()?);
        let record = QuoteRecord {
            quote: quote.clone(),
            ordered: None,
        };
        let member = identity::member_id();
        // A collision of random ids fails here, never overwrites.
        kv::swap_for(&quote_key(&quote.id), None, &record, member.as_deref())?;
        kv::put_for(&expiry_key(quote.expires_at, &quote.id), &(), None)?;
        ensure_sweep(quote.expires_at)?;
        Ok(quote)
    }

    fn get_quote(id: String) -> Result<Quote, Error> {
        Ok(load(&id)?.value.quote)
    }
}

fn quote_key(id: &str) -> String {
    format!("quote/{id}")
}

fn expiry_key(expires_at: u64, id: &str) -> String {
    format!("qexp/{expires_at:013}/{id}")
}

/// The quote `id` with its version, or `not-found`.
pub fn load(id: &str) -> Result<kv::Versioned<QuoteRecord>, Error> {
    kv::get::<QuoteRecord>(&quote_key(id))?.ok_or_else(|| {
        Error::not_found(format!(
            "no quote {id}: it is unknown, or it expired and was removed; ask for a new quote"
        ))
    })
}

/// Mark quote `id` ordered by `order`, by compare-and-swap.
pub fn mark_ordered(q: kv::Versioned<QuoteRecord>, order: &str) -> Result<(), Error> {
    let mut record = q.value;
    record.ordered = Some(order.to_string());
    kv::swap_for(&q.key, Some(q.version), &record, q.member.as_deref())?;
    Ok(())
}

/// Price `request` at `now` with the coop's settings: the quote without its
/// id. Calls no host function, so the benchmark runs it natively too.
pub fn compute(
    settings: &Settings,
    store: &Store,
    request: &QuoteRequest,
    now: u64,
) -> Result<Quote, Error> {
    if request.store != store.id {
        return Err(Error::invalid("the request names another store"));
    }
    if !(1..=MAX_PACKAGES).contains(&request.packages) {
        return Err(Error::invalid(format!(
            "packages must be 1 to {MAX_PACKAGES}, got {}",
            request.packages
        )));
    }
    if request.weight_g > MAX_WEIGHT_G {
        return Err(Error::invalid(format!(
            "weight-g must be at most {MAX_WEIGHT_G} (300 kg), got {}",
            request.weight_g
        )));
    }
    let index = request.pickup.unwrap_or(0);
    let pickup = store.pickup_addresses.get(index as usize).ok_or_else(|| {
        Error::invalid(format!(
            "pickup {index}: store {} has {} pickup addresses (0 to {})",
            store.id,
            store.pickup_addresses.len(),
            store.pickup_addresses.len().saturating_sub(1)
        ))
    })?;
    let dropoff = stores::check_address("dropoff", &request.dropoff)?;
    let (from, to) =
        match request.slot.as_deref() {
            None | Some(ON_DEMAND) => {
                let from = now + u64::from(store.prior_notice_minutes) * MINUTE_MS;
                (from, from + settings.on_demand_window_min * MINUTE_MS)
            }
            Some(id) => {
                let slot = store.slots.iter().find(|s| s.id == id).ok_or_else(|| {
                let ids: Vec<&str> = store.slots.iter().map(|s| s.id.as_str()).collect();
                Error::invalid(format!(
                    "slot {id:?} is not one of store {}'s slots ({}); leave it out for on demand",
                    store.id,
                    if ids.is_empty() { "it has none".to_string() } else { ids.join(", ") }
                ))
            })?;
                let times = stores::slot_times(slot).map_err(Error::internal)?;
                next_slot_window(now, settings.utc_offset_min, &times)
                    .ok_or_else(|| Error::invalid(format!("slot {id} runs on no day this week")))?
            }
        };
    let a = geo::Point {
        lat: pickup.point.lat,
        lon: pickup.point.lon,
    };
    let b = geo::Point {
        lat: dropoff.point.lat,
        lon: dropoff.point.lon,
    };
    let route_m = geo::route_m(a, b, settings.route_factor_percent);
    let (weekday, minute_of_day) = local_parts(from, settings.utc_offset_min);
    let job = rules::Job {
        route_m,
        weight_g: request.weight_g,
        packages: request.packages,
        vehicle: vehicle_name(request.vehicle).to_string(),
        slot: Some(
            request
                .slot
                .clone()
                .unwrap_or_else(|| ON_DEMAND.to_string()),
        ),
        dropoff_zones: geo::zones_of(b, &settings.zones),
        minute_of_day,
        weekday,
    };
    let priced = rules::evaluate(&settings.rules, &job, &settings.params)
        .map_err(|e| Error::invalid(format!("this delivery cannot be priced: {e}")))?;
    let price = Money::new(priced.total, &settings.currency)?;
    Ok(Quote {
        id: String::new(),
        request: QuoteRequest {
            dropoff,
            ..request.clone()
        },
        price,
        lines: priced
            .lines
            .into_iter()
            .map(|l| PriceLine {
                rule: l.rule,
                label: l.label,
                amount: l.amount,
                detail: l.detail,
            })
            .collect(),
        rules: priced
            .trace
            .into_iter()
            .map(|t| RuleTrace {
                rule: t.rule,
                matched: t.matched,
                why: t.why,
            })
            .collect(),
        route_m,
        pickup_window: Window { from, to },
        expires_at: now + settings.quote_ttl_min * MINUTE_MS,
    })
}

/// The vehicle's name in rules and messages.
pub fn vehicle_name(v: Vehicle) -> &'static str {
    match v {
        Vehicle::Bike => "bike",
        Vehicle::CargoBike => "cargo-bike",
    }
}

/// Make sure a sweep runs at the end of the minute `expires_at` falls in:
/// one timer per minute, however many quotes.
fn ensure_sweep(expires_at: u64) -> Result<(), Error> {
    let bucket = expires_at.div_ceil(MINUTE_MS);
    let key = format!("qtimer/{bucket}");
    if kv::get::<u64>(&key)?.is_some() {
        return Ok(());
    }
    let id = timers::set(bucket * MINUTE_MS, &format!("quotes-expire:{bucket}"))?;
    kv::swap(&key, None, &id)?;
    Ok(())
}

/// The timer of minute `bucket`: remove every quote expired by then that
/// was not ordered, and the index entries.
pub fn sweep_expired(bucket: &str) -> Result<(), Error> {
    let bucket: u64 = bucket
        .parse()
        .map_err(|_| Error::internal(format!("bad sweep timer payload {bucket:?}")))?;
    // Keys of quotes expired by the end of the minute sort below this one.
    let bound = format!("qexp/{:013}/", bucket * MINUTE_MS + 1);
    let mut after: Option<String> = None;
    loop {
        let page = store::scan("qexp/", after.as_deref(), store::MAX_SCAN_LIMIT)?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        let mut done = false;
        for entry in page {
            if entry.key.as_str() >= bound.as_str() {
                done = true;
                break;
            }
            if let Some(id) = entry.key.rsplit('/').next()
                && let Some(q) = kv::get::<QuoteRecord>(&quote_key(id))?
                && q.value.ordered.is_none()
            {
                kv::delete(&q.key, Some(q.version))?;
            }
            kv::delete(&entry.key, None)?;
        }
        if done {
            break;
        }
    }
    kv::delete(&format!("qtimer/{bucket}"), None)?;
    Ok(())
}
