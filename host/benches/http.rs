//! HTTP requests per second through a plugin vs a native axum handler doing
//! the same work (BENCHMARKS.md, benchmark 3).
//!
//! One process serves `api::router(app)` merged with a native route on
//! 127.0.0.1:0, pinned to core 0 (`taskset`); `wrk` drives load pinned to
//! core 1. Both sides authenticate the same bearer token with
//! `identity::authenticate`, resolve the coop and the caller's roles, parse
//! the JSON body, scan the same empty store namespace and answer
//! `{"result":{"ok":[]}}`. The plugin side does it as `list-shifts` of the
//! Rust, Python and JavaScript shift boards.
//!
//! The added time per plugin request is broken down with the host's own
//! phase metrics (`Metrics::phase_totals`, read before and after a run of
//! one request at a time): JSON <-> WIT, instantiation, the guest's code, host
//! calls, slot reset and commit; the native handler's store scan is timed
//! the same way, so the host-call phase can be set against it.
//!
//! Run with `cargo bench -p coophost --bench http`; `BENCH_HTTP_SECS`
//! (default 10), `BENCH_HTTP_THREADS` (2), `BENCH_HTTP_CONNECTIONS` (32),
//! `BENCH_HTTP_ROUNDS` (1) and `BENCH_HTTP_SERIAL_SECS` (5, the one-at-a-time
//! breakdown runs) tune it. Not a test: without the `--bench`
//! argument that `cargo bench` passes, `main` returns at once.

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use coophost::api::{self, ApiError};
use coophost::app::App;
use coophost::clock::{SharedClock, SystemClock};
use coophost::db::Db;
use coophost::error::Error;
use coophost::identity::{self, NewMember};
use coophost::metrics::PhaseTotals;
use coophost::plugins;
use coophost::runtime::Engine;
use coophost::store::{CallTx, MAX_SCAN};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "bench@example.org";
/// Roles the shift board's manifest opens `list-shifts` to.
const LIST_ROLES: [&str; 3] = ["member", "worker", "admin"];
/// Nanoseconds the native handler spent in its store scans, and how many
/// requests it served: the native side of the host-call comparison.
static NATIVE_SCAN_NS: AtomicU64 = AtomicU64::new(0);
static NATIVE_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Where a case's plugin requests spent their time: the phase totals'
/// increase over the measured run, per call, in µs.
#[derive(Default)]
struct Breakdown {
    calls: u64,
    us: Vec<(&'static str, f64)>,
}

impl Breakdown {
    fn between(before: Option<PhaseTotals>, after: Option<PhaseTotals>) -> Breakdown {
        let Some(after) = after else {
            return Breakdown::default();
        };
        let before = before.unwrap_or(PhaseTotals {
            calls: 0,
            seconds: after.seconds.iter().map(|(n, _)| (*n, 0.0)).collect(),
        });
        let calls = after.calls - before.calls;
        let us = after
            .seconds
            .iter()
            .zip(&before.seconds)
            .map(|((name, a), (_, b))| (*name, (a - b) * 1e6 / calls.max(1) as f64))
            .collect();
        Breakdown { calls, us }
    }

    fn get(&self, phase: &str) -> f64 {
        self.us
            .iter()
            .find(|(n, _)| *n == phase)
            .map_or(0.0, |(_, v)| *v)
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pinned = pin_self_to_core0();
    // Built after pinning so tokio sizes its worker pool to the one core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, token, app) = rt.block_on(serve(dir.path()));
    let secs = env_or("BENCH_HTTP_SECS", 10);
    let threads = env_or("BENCH_HTTP_THREADS", 2);
    let conns = env_or("BENCH_HTTP_CONNECTIONS", 32);
    let rounds = env_or("BENCH_HTTP_ROUNDS", 1).max(1);
    let wrk_pinned = Command::new("taskset")
        .args(["-c", "1", "true"])
        .status()
        .is_ok_and(|s| s.success());

    // (name, path, (coop, plugin) whose phase metrics the requests feed).
    let cases = [
        (
            "native axum handler",
            "/native/coops/bench-rs/shift-board/list-shifts",
            None,
        ),
        (
            "Rust plugin",
            "/v1/coops/bench-rs/call/coop:examples/shift-board/list-shifts",
            Some(("bench-rs", "shift-board-rs")),
        ),
        (
            "Python plugin",
            "/v1/coops/bench-py/call/coop:examples/shift-board/list-shifts",
            Some(("bench-py", "shift-board-py")),
        ),
        (
            "JavaScript plugin",
            "/v1/coops/bench-js/call/coop:examples/shift-board/list-shifts",
            Some(("bench-js", "shift-board-js")),
        ),
    ];
    for (name, path, _) in cases {
        let (status, body) = rt.block_on(request(addr, path, &token));
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).ok(),
            Some(json!({"result": {"ok": []}})),
            "{name} answered {body}"
        );
    }
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{{}}\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
        ),
    )
    .expect("write wrk script");

    let mut results: Vec<(&str, Vec<Run>)> = cases.iter().map(|(n, _, _)| (*n, vec![])).collect();
    for round in 0..rounds {
        for (i, (name, path, _)) in cases.iter().enumerate() {
            eprintln!(
                "round {}/{rounds}: {name} ({secs} s, {threads} threads, {conns} connections)...",
                round + 1
            );
            let url = format!("http://{addr}{path}");
            // Warm-up: fill pools, caches and the plugin map.
            wrk(wrk_pinned, &script, &url, 2, threads, conns);
            results[i]
                .1
                .push(wrk(wrk_pinned, &script, &url, secs, threads, conns));
        }
    }

    // The breakdown runs one request at a time: under concurrent load a
    // phase's wall time would also hold the other requests' work that ran
    // while it awaited or yielded.
    let serial_secs = env_or("BENCH_HTTP_SERIAL_SECS", 5);
    let mut serial = Vec::new();
    for (name, path, metered) in &cases {
        eprintln!("breakdown: {name} ({serial_secs} s, 1 connection)...");
        let url = format!("http://{addr}{path}");
        wrk(wrk_pinned, &script, &url, 1, 1, 1);
        let totals = || metered.and_then(|(c, p)| app.metrics.phase_totals(c, p));
        let before = totals();
        let scans = (
            NATIVE_SCAN_NS.load(Ordering::Relaxed),
            NATIVE_REQUESTS.load(Ordering::Relaxed),
        );
        let run = wrk(wrk_pinned, &script, &url, serial_secs, 1, 1);
        let ns = NATIVE_SCAN_NS.load(Ordering::Relaxed) - scans.0;
        let n = NATIVE_REQUESTS.load(Ordering::Relaxed) - scans.1;
        serial.push(Serial {
            name,
            rps: run.rps,
            phases: Breakdown::between(before, totals()),
            native_scan_us: (n > 0).then(|| ns as f64 / 1e3 / n as f64),
        });
    }

    let mean =
        |runs: &[Run], f: fn(&Run) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    let native_rps = mean(&results[0].1, |r| r.rps);
    println!();
    println!(
        "coophost HTTP benchmark: wrk {threads} threads, {conns} connections, {secs} s x {rounds} round(s) after a 2 s warm-up"
    );
    println!(
        "server pinned to core 0: {}; wrk pinned to core 1: {}",
        if pinned { "yes" } else { "no" },
        if wrk_pinned { "yes" } else { "no" }
    );
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>16} {:>10}",
        "case", "req/s", "p50 ms", "ratio", "added µs/req", "errors"
    );
    for (name, runs) in &results {
        let rps = mean(runs, |r| r.rps);
        println!(
            "{:<22} {:>12.0} {:>12.2} {:>12.3} {:>16.1} {:>10}",
            name,
            rps,
            mean(runs, |r| r.p50_ms),
            rps / native_rps,
            1e6 / rps - 1e6 / native_rps,
            runs.iter().map(|r| r.errors).sum::<u64>()
        );
    }
    let rs = mean(&results[1].1, |r| r.rps) / native_rps;
    println!();
    println!(
        "target (issue 3): plugin / native >= 0.5 with a fresh instance per call; Rust plugin measured {rs:.3}: {}",
        if rs >= 0.5 { "met" } else { "not met" }
    );
    println!(
        "(added µs/req = 1e6/plugin rate - 1e6/native rate: server CPU time per request on its one core)"
    );
    print_breakdown(&serial, serial_secs);
}

/// One case run one request at a time, with its phase metrics.
struct Serial<'a> {
    name: &'a str,
    rps: f64,
    phases: Breakdown,
    /// The native handler's store scan, µs per request.
    native_scan_us: Option<f64>,
}

/// The added µs per plugin request, one request at a time, split by the
/// host's phase metrics. Nothing else runs meanwhile, so each phase's wall
/// time is its own; host calls include the database's time on its thread,
/// as the native scan does.
fn print_breakdown(serial: &[Serial], secs: u64) {
    let Some(native) = serial.first() else { return };
    let native_latency = 1e6 / native.rps;
    let native_scan = native.native_scan_us.unwrap_or(f64::NAN);
    println!();
    println!(
        "breakdown, one request at a time (wrk 1 connection, {secs} s per case): µs per request"
    );
    println!(
        "{:<22} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7}",
        "case",
        "req/s",
        "added",
        "map_in",
        "inst",
        "guest",
        "host+",
        "map_out",
        "teardown",
        "commit",
        "other"
    );
    println!(
        "{:<22} {:>9.0} {:>8.1}   (its store scan: {native_scan:.1} µs)",
        native.name, native.rps, 0.0
    );
    for case in &serial[1..] {
        let added = 1e6 / case.rps - native_latency;
        let b = &case.phases;
        // The host-call phase less the same scan done natively: the
        // boundary, the checks and the mapping of what the scan returned.
        let host_extra = b.get("host") - native_scan;
        let named = b.get("map_in")
            + b.get("instantiate")
            + b.get("guest")
            + host_extra
            + b.get("map_out")
            + b.get("teardown")
            + b.get("commit");
        println!(
            "{:<22} {:>9.0} {:>8.1} {:>7.2} {:>7.1} {:>7.1} {:>7.1} {:>7.2} {:>8.1} {:>7.2} {:>7.1}",
            case.name,
            case.rps,
            added,
            b.get("map_in"),
            b.get("instantiate"),
            b.get("guest"),
            host_extra,
            b.get("map_out"),
            b.get("teardown"),
            b.get("commit"),
            added - named,
        );
        if b.calls == 0 {
            eprintln!("{}: no calls were recorded in the phase metrics", case.name);
        }
    }
    println!(
        "(added = 1e6/plugin rate - 1e6/native rate; host+ = time in host functions less the native handler's same scan; \
         other = added less the named phases: App::call's binding lookup, access check and metrics, \
         the audit entry (queued, then written by the audit writer on the same core, one batch per request when requests come one at a time), \
         and the HTTP layer's differences)"
    );
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pin this process (every thread so far, and so every thread it starts
/// later) to core 0.
fn pin_self_to_core0() -> bool {
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("taskset failed: the server is not pinned");
    }
    ok
}

struct Run {
    rps: f64,
    p50_ms: f64,
    errors: u64,
}

fn wrk(pinned: bool, script: &FsPath, url: &str, secs: u64, threads: u64, conns: u64) -> Run {
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = cmd
        .arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let mut run = Run {
        rps: 0.0,
        p50_ms: f64::NAN,
        errors: 0,
    };
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            run.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            run.p50_ms = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            run.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    run
}

/// wrk's `1.23ms`, `456.00us`, `1.20s` as milliseconds.
fn duration_ms(s: &str) -> f64 {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e3)
    } else {
        (s, f64::NAN)
    };
    num.parse::<f64>().map_or(f64::NAN, |v| v * scale)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Set up the host, start serving, and return the address and a token of a
/// member of every bench coop.
async fn serve(dir: &FsPath) -> (SocketAddr, String, Arc<App>) {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let db = Db::connect(&url).await.expect("database");
    let engine = Engine::new(root().join("target/bench-compile-cache")).expect("engine");
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::new(db, clock, engine).await.expect("app");
    for (i, (slug, plugin)) in [
        ("bench-rs", "shift-board-rs"),
        ("bench-py", "shift-board-py"),
        ("bench-js", "shift-board-js"),
    ]
    .into_iter()
    .enumerate()
    {
        let coop = identity::create_coop(&app.db, &*app.clock, slug, slug)
            .await
            .expect("coop");
        let components = root().join("target/components");
        let bytes = std::fs::read(components.join(format!("{plugin}.wasm")))
            .expect("component (run scripts/build-components.sh)");
        let manifest =
            std::fs::read_to_string(components.join(format!("{plugin}.toml"))).expect("manifest");
        // Default options: every capability the component imports is granted.
        plugins::install(&app, &coop, &bytes, &manifest, &Default::default())
            .await
            .expect("install");
        identity::add_member(
            &app.db,
            &*app.clock,
            &coop,
            NewMember {
                email: EMAIL.into(),
                display_name: "bench".into(),
                password: (i == 0).then(|| PASSWORD.into()),
                roles: vec!["member".into()],
                college: None,
            },
        )
        .await
        .expect("member");
    }
    app.load_all().await.expect("load plugins");
    let (identity::LoginOutcome::Session { token, .. }, _) = identity::login(
        &app.db,
        &*app.clock,
        &app.secret,
        identity::LoginAttempt {
            email: EMAIL,
            password: PASSWORD,
            address: "-",
            device: None,
        },
    )
    .await
    .expect("login") else {
        panic!("the bench account has no second factor")
    };
    let native = Router::new()
        .route(
            "/native/coops/{coop}/shift-board/list-shifts",
            post(native_list_shifts),
        )
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app.clone());
    let router = api::router(app.clone()).merge(native);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (addr, token, app)
}

/// `list-shifts` written natively: the same authentication, tenancy, role
/// check, JSON parsing, store scan and answer as the plugin route.
async fn native_list_shifts(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let principal = match headers.get(header::AUTHORIZATION) {
        None => identity::Principal::Anonymous,
        Some(v) => {
            let token = v
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Error::Unauthenticated("use Authorization: Bearer".into()))?
                .trim();
            identity::authenticate(&app.db, &*app.clock, token).await?
        }
    };
    let coop = identity::find_coop(&app.db, &slug).await?;
    let actor = identity::actor_in(&app.db, &principal, &coop).await?;
    if !LIST_ROLES.iter().any(|r| actor.has_role(r)) {
        return Err(Error::Forbidden("list-shifts is open to members".into()).into());
    }
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &body
    };
    let args: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("request body is not the expected JSON: {e}"),
        )
    })?;
    match &args {
        Value::Null => {}
        Value::Object(o) if o.is_empty() => {}
        _ => return Err(Error::Invalid("list-shifts takes no parameters".into()).into()),
    }
    let mut tx = CallTx::new(coop.id, "shift-board-rs");
    let mut shifts = Vec::new();
    let mut after: Option<String> = None;
    let scanning = Instant::now();
    loop {
        let page = tx
            .scan(&app.db, "shift/", after.as_deref(), MAX_SCAN, &mut |_| true)
            .await?
            .unwrap_or_default();
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for e in page {
            shifts.push(serde_json::from_slice::<Value>(&e.value).unwrap_or(Value::Null));
        }
    }
    let scanned = u64::try_from(scanning.elapsed().as_nanos()).unwrap_or(u64::MAX);
    NATIVE_SCAN_NS.fetch_add(scanned, Ordering::Relaxed);
    NATIVE_REQUESTS.fetch_add(1, Ordering::Relaxed);
    Ok(Json(json!({"result": {"ok": shifts}})))
}

/// One request over a fresh connection: (status, body).
async fn request(addr: SocketAddr, path: &str, token: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
