//! Bike delivery: the reference delivery plugin for coophost.
//!
//! It exports the standard `coop:delivery@0.1.0` interfaces
//! (`wit/delivery/delivery.wit`): stores, quotes priced by rules the coop
//! votes on, orders charged into escrow, a task state machine written with
//! compare-and-swap, couriers on shift who see their pay before they accept
//! and may refuse without penalty, a suggested courier with the reason,
//! proof of delivery by code, and settlement through `coop:host/payments`.
//!
//! Store layout (keys in this plugin's private store):
//!
//! - `store/<id>`: a store; tagged with its merchant;
//! - `seq/quote`, `seq/order`: counters, advanced by compare-and-swap;
//! - `quote/<id>`: a quote, tagged with the member who asked, if any;
//! - `qexp/<expires-at, 13 digits>/<id>`: the expiry index, swept by a
//!   timer per minute (`qtimer/<minute>` holds that timer's id), so a busy
//!   coop has at most one pending timer per minute of quote lifetime;
//! - `order/<id>`: an order with its tasks, tagged with the customer; every
//!   change is a compare-and-swap on its version;
//! - `open/<id>`: orders waiting for a courier;
//! - `by-customer/<member>/<id>`, `by-courier/<member>/<id>`: indexes;
//! - `loc/<member>`: a courier's last position during a shift, tagged;
//! - `busy/<member>`: the order a courier has under way.

mod clock;
mod dispatch;
mod flow;
mod orders;
mod quoting;
mod settings;
mod stores;

coophost_sdk::generate!({
    world: "delivery-plugin",
    path: "../../wit/delivery",
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use coophost_sdk::{Error, identity, kv};

pub use bike_delivery_pricing as pricing;

/// The plugin's exports.
struct BikeDelivery;

export!(BikeDelivery);

impl exports::coop::host::timer_handler::Guest for BikeDelivery {
    fn on_timer(_id: u64, payload: String) -> Result<(), Error> {
        match payload.strip_prefix("quotes-expire:") {
            Some(bucket) => quoting::sweep_expired(bucket),
            // A timer this version does not know (set by an older one):
            // nothing to do, and failing would only retry it.
            None => Ok(()),
        }
    }
}

/// Whether the caller dispatches: the `dispatcher` or `admin` role.
fn is_dispatcher() -> bool {
    let c = identity::caller();
    c.has_role("dispatcher") || c.has_role("admin")
}

/// Take the next number of counter `name` by compare-and-swap, so two
/// calls never share one.
fn next_seq(name: &str) -> Result<u64, Error> {
    let key = format!("seq/{name}");
    let current = kv::get::<u64>(&key)?;
    let next = current.as_ref().map_or(1, |v| v.value + 1);
    kv::swap(&key, current.map(|v| v.version), &next)?;
    Ok(next)
}

/// A random number from the host's secure source (`wasi:random`).
fn random_u64() -> Result<u64, Error> {
    getrandom::u64().map_err(|e| Error::internal(format!("no randomness available: {e}")))
}

/// Check a free-text field: trimmed, 1 to `max` characters.
fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let t = value.trim();
    let n = t.chars().count();
    if n == 0 || n > max {
        return Err(Error::invalid(format!(
            "{field} must be 1 to {max} characters, got {n}"
        )));
    }
    Ok(t.to_string())
}

/// Check an identifier: 1 to 32 characters of a-z, 0-9 and `-`.
fn ident(field: &str, value: &str) -> Result<(), Error> {
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} {value:?} must be 1 to 32 characters of a-z, 0-9 and '-'"
        )))
    }
}

/// A point, checked.
fn geo_point(
    field: &str,
    p: &exports::coop::delivery::types::Point,
) -> Result<pricing::geo::Point, Error> {
    let g = pricing::geo::Point {
        lat: p.lat,
        lon: p.lon,
    };
    g.check()
        .map_err(|e| Error::invalid(format!("{field}: {e}")))?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_manifest_default_rules_are_the_pricing_crate_default() {
        let manifest: toml::Table = toml::from_str(include_str!("../plugin.toml")).unwrap();
        let default = &manifest["config"]["pricing-rules"]["default"];
        let from_manifest = serde_json::to_value(default).unwrap();
        let crate_default: serde_json::Value =
            serde_json::from_str(crate::pricing::rules::default_rule_set_json()).unwrap();
        assert_eq!(from_manifest, crate_default);
        crate::pricing::rules::parse_rule_set(&from_manifest.to_string()).unwrap();
    }
}
