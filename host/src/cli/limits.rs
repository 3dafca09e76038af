//! `coophost coop limits SLUG [NAME=VALUE ...]`: what the host operator
//! allows a coop (ceilings over its plugins' limits, its calls in flight
//! at once and its pending timers), shown or changed. Each change is
//! recorded in the coop's decision log, as by the API.

use anyhow::{Context, bail};

use super::{Settings, open};
use crate::identity::{self, Actor};

/// Show the coop's ceilings, or merge `set` (`NAME=VALUE`) into what the
/// operator set before (`reset`: back to the host's defaults first).
pub(super) async fn run(
    settings: &Settings,
    slug: &str,
    set: &[String],
    reset: bool,
) -> anyhow::Result<()> {
    let app = open(settings).await?;
    let coop = identity::find_coop(&app.db, slug).await?;
    let mut ceilings = crate::plugins::ceilings::get(&app.db, coop.id).await?;
    if reset || !set.is_empty() {
        let mut wanted = if reset {
            serde_json::Map::new()
        } else {
            ceilings.set.as_object().cloned().unwrap_or_default()
        };
        for pair in set {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("{pair:?} is not NAME=VALUE (for example deadline_ms=10000 or instances=16)");
            };
            let value: u64 = value
                .trim()
                .parse()
                .with_context(|| format!("{name}: {value:?} is not a whole number"))?;
            wanted.insert(name.trim().to_string(), serde_json::json!(value));
        }
        ceilings = app
            .set_ceilings(
                &coop,
                &serde_json::Value::Object(wanted),
                &Actor::host(coop.id),
            )
            .await?;
    }
    let limits = serde_json::to_value(ceilings.limits)?;
    let set_here = |name: &str| {
        if ceilings.set.get(name).is_some() {
            "set for this coop"
        } else {
            "host default"
        }
    };
    for name in crate::runtime::Limits::NAMES {
        println!("{name}\t{}\t{}", limits[name], set_here(name));
    }
    println!(
        "instances\t{}\t{}",
        ceilings.instances,
        set_here("instances")
    );
    println!("timers\t{}\t{}", ceilings.timers, set_here("timers"));
    Ok(())
}
