//! Delivery quotes per second through the host vs the same pricing code
//! called natively (BENCHMARKS.md, benchmark 6).
//!
//! Through the host: `coop:delivery/quotes.quote` of the bike-delivery
//! plugin via `App::call` (access check, a fresh instance, the config read,
//! the store read, the pricing, the quote written with its expiry index
//! and, once a minute, a sweep timer, all committed in one transaction) on
//! SQLite, from 1 task and from 4 tasks. Natively: the plugin's pricing
//! crate (`bike-delivery-pricing`) on the same request with the same rule
//! set: the route distance, the zones and the rule evaluation, in a loop.
//! The ratio host / native says what the sandbox, the storage and the
//! transaction cost on top of the arithmetic.
//!
//! Run with `cargo bench -p coophost --bench delivery`; `BENCH_QUOTES`
//! (default 2000) sets the quotes per host case. Not a test: without the
//! `--bench` argument that `cargo bench` passes, `main` returns at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bike_delivery_pricing::{geo, rules};
use coophost::app::App;
use coophost::clock::{SharedClock, SystemClock};
use coophost::db::Db;
use coophost::identity::{self, Actor};
use coophost::plugins;
use coophost::runtime::Engine;
use serde_json::json;

const BELLECOUR: (f64, f64) = (45.7578, 4.8320);
const PART_DIEU: (f64, f64) = (45.7606, 4.8597);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_or("BENCH_QUOTES", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (one, four) = rt.block_on(through_host(n));
    let native = native(n * 50);
    println!("quotes per second ({n} through the host per case):");
    println!("  through the host, 1 task : {one:>10.0}/s");
    println!("  through the host, 4 tasks: {four:>10.0}/s");
    println!("  native pricing code      : {native:>10.0}/s");
    println!(
        "ratio host / native: {:.5} (1 task), {:.5} (4 tasks)",
        one / native,
        four / native
    );
}

async fn through_host(n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url).await.expect("database");
    let engine = Engine::new(root().join("target/bench-compile-cache")).expect("engine");
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::new(db, clock, engine).await.expect("app");
    let coop = identity::create_coop(&app.db, &*app.clock, "bench", "bench")
        .await
        .expect("coop");
    let components = root().join("target/components");
    let bytes = std::fs::read(components.join("bike-delivery.wasm"))
        .expect("target/components/bike-delivery.wasm: run scripts/build-components.sh");
    let manifest =
        std::fs::read_to_string(components.join("bike-delivery.toml")).expect("manifest");
    plugins::install(&app, &coop, &bytes, &manifest, &Default::default())
        .await
        .expect("install");
    let admin = Actor {
        roles: vec!["admin".into(), "member".into()],
        operator: false,
        ..Actor::host(coop.id)
    };
    let store = json!({"store": {"id": "boulangerie", "name": "Boulangerie", "merchant": null,
        "pickup-addresses": [{"label": "Bellecour", "point": {"lat": BELLECOUR.0, "lon": BELLECOUR.1}}],
        "packages": [], "slots": [], "prior-notice-minutes": 20}});
    let out = app
        .call(&coop, admin, "coop:delivery/stores", "put-store", &store)
        .await
        .expect("store");
    assert!(out.get("ok").is_some(), "{out}");
    let request = json!({"request": {"store": "boulangerie", "pickup": null,
        "dropoff": {"label": "Part-Dieu", "point": {"lat": PART_DIEU.0, "lon": PART_DIEU.1}},
        "weight-g": 2000, "packages": 1, "vehicle": "bike", "slot": null}});
    // Warm up: instantiate once, fill caches.
    for _ in 0..20 {
        quote(&app, &coop, &request).await;
    }
    let mut rates = Vec::new();
    for tasks in [1usize, 4] {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (app, coop, request) = (app.clone(), coop.clone(), request.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..n / tasks {
                    quote(&app, &coop, &request).await;
                }
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
        rates.push((n / tasks * tasks) as f64 / started.elapsed().as_secs_f64());
    }
    (rates[0], rates[1])
}

async fn quote(app: &App, coop: &identity::Coop, request: &serde_json::Value) {
    let out = app
        .call(
            coop,
            Actor::anonymous(coop.id),
            "coop:delivery/quotes",
            "request-quote",
            request,
        )
        .await
        .expect("quote");
    assert!(out.get("ok").is_some(), "{out}");
}

/// The plugin's pricing for the same request, natively: quotes per second.
fn native(n: usize) -> f64 {
    let set = rules::parse_rule_set(rules::default_rule_set_json()).expect("default rules");
    let zones: Vec<geo::Zone> = serde_json::from_value(json!([
        {"id": "presquile", "center": {"lat": 45.7600, "lon": 4.8340}, "radius-m": 1200}
    ]))
    .expect("zones");
    let params: BTreeMap<String, i64> = [("price-per-km".to_string(), 150)].into();
    let pickup = geo::Point {
        lat: BELLECOUR.0,
        lon: BELLECOUR.1,
    };
    let dropoff = geo::Point {
        lat: PART_DIEU.0,
        lon: PART_DIEU.1,
    };
    let started = Instant::now();
    let mut total = 0i64;
    for i in 0..n {
        let job = rules::Job {
            route_m: geo::route_m(pickup, dropoff, 130),
            weight_g: 2000,
            packages: 1,
            vehicle: "bike".into(),
            slot: Some("on-demand".into()),
            dropoff_zones: geo::zones_of(dropoff, &zones),
            minute_of_day: (540 + i % 60) as u16,
            weekday: 2,
        };
        let priced = rules::evaluate(&set, &job, &params).expect("priced");
        // Serialise as the plugin returns it, so both sides build the output.
        total += serde_json::to_vec(&priced).expect("json").len() as i64 + priced.total;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(total);
    rate
}
