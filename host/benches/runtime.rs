//! Plugin call cost, measured in-process (BENCHMARKS.md, benchmarks 1 and 2).
//!
//! - a fresh instance + call of a trivial export (`coop:test-kinds/kinds`
//!   `echo-u32`) through `runtime::call` and `App::call`, against the same
//!   JSON -> value -> JSON echo written as native Rust, with the JSON <-> WIT
//!   mapping timed on its own;
//! - the same through the on-demand allocator (a child process of this
//!   bench with `COOPHOST_ALLOCATOR=on-demand`, since the engine reads the
//!   allocator from the environment once);
//! - `list-shifts` on an empty board through the Rust, Python and
//!   JavaScript shift-board plugins, side by side;
//! - the reference the target is set against: a minimal wasmtime
//!   embedding (default `Config`, the WASI p2 linker, a fresh WASI context
//!   per store, synchronous instantiate + typed call) running the same
//!   `echo-u32`, pooled and on demand, in rounds interleaved with ours so a
//!   drift in the machine's speed hits both alike.
//!
//! Run with `cargo bench -p coophost --bench runtime`. Not a test: without
//! the `--bench` argument that `cargo bench` passes, `main` returns at once.

use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coophost::app::App;
use coophost::clock::{SharedClock, SystemClock};
use coophost::db::Db;
use coophost::identity::{self, Actor, Coop, NewMember};
use coophost::plugins;
use coophost::runtime::{self, CallScope, Engine, Loaded};
use serde_json::{Value, json};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable, Type, Val};
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Set in the child process that measures the on-demand allocator.
const CHILD_ENV: &str = "COOPHOST_BENCH_CHILD";
/// How long each case runs before it is measured.
const WARM_UP: Duration = Duration::from_millis(500);
/// Samples (batches) per case; the figure is the median over batches.
const SAMPLES: usize = 301;
/// A batch lasts at least this long, so timer overhead stays negligible.
const BATCH_TARGET: Duration = Duration::from_micros(200);
/// Stop sampling a case after this long (with at least `MIN_SAMPLES`).
const CASE_BUDGET: Duration = Duration::from_secs(5);
/// Fewest samples a case may end with.
const MIN_SAMPLES: usize = 31;
/// Rounds of the pooled trivial call (the target's figure is the median
/// round).
const ECHO_ROUNDS: usize = 5;
/// The minimal wasmtime 48 embedding's pooled trivial call on the machine
/// where issue 3 set the 10 µs target, in µs.
const REFERENCE_MINIMAL_US: f64 = 19.0;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

/// Median and 90th percentile of the per-call time, in microseconds.
#[derive(Clone, Copy)]
struct Stats {
    median_us: f64,
    p90_us: f64,
    calls: usize,
}

async fn measure<F, Fut>(mut f: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let mut warm_calls = 0usize;
    while start.elapsed() < WARM_UP || warm_calls < 20 {
        f().await;
        warm_calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / warm_calls as f64;
    let batch = ((BATCH_TARGET.as_secs_f64() / per_call).ceil() as usize).clamp(1, 1_000_000);
    let mut samples = Vec::with_capacity(SAMPLES);
    let budget = Instant::now();
    while samples.len() < SAMPLES && (samples.len() < MIN_SAMPLES || budget.elapsed() < CASE_BUDGET)
    {
        let t = Instant::now();
        for _ in 0..batch {
            f().await;
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Stats {
        median_us: samples[samples.len() / 2],
        p90_us: samples[samples.len() * 9 / 10],
        calls: samples.len() * batch,
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn component(name: &str) -> (Vec<u8>, String) {
    let dir = root().join("target/components");
    let bytes = std::fs::read(dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| {
        panic!("missing target/components/{name}.wasm ({e}); run scripts/build-components.sh")
    });
    let manifest = std::fs::read_to_string(dir.join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("missing target/components/{name}.toml: {e}"));
    (bytes, manifest)
}

struct Host {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

async fn host() -> Host {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url).await.expect("database");
    let engine = Engine::new(root().join("target/bench-compile-cache")).expect("engine");
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::new(db, clock, engine).await.expect("app");
    Host { app, _dir: dir }
}

/// A coop with `plugin` installed (every grant) and a member with `roles`.
async fn coop_with(app: &App, slug: &str, plugin: &str) -> (Coop, Arc<Loaded>, Actor) {
    let coop = identity::create_coop(&app.db, &*app.clock, slug, slug)
        .await
        .expect("coop");
    let (bytes, manifest) = component(plugin);
    // Default options: every capability the component imports is granted.
    plugins::install(app, &coop, &bytes, &manifest, &Default::default())
        .await
        .expect("install");
    let installed = plugins::get(&app.db, coop.id, plugin)
        .await
        .expect("installed plugin");
    let member = identity::add_member(
        &app.db,
        &*app.clock,
        &coop,
        NewMember {
            email: format!("bench@{slug}.example"),
            display_name: "bench".into(),
            password: Some("correct horse battery staple".into()),
            roles: vec!["member".into()],
            college: None,
        },
    )
    .await
    .expect("member");
    let loaded = app.plugin(installed.id).await.expect("load plugin");
    let actor = Actor {
        member_id: Some(member.id),
        roles: vec!["member".into()],
        ..Actor::anonymous(coop.id)
    };
    (coop, loaded, actor)
}

fn scope(app: &App, coop: &Coop, plugin: &Loaded, actor: &Actor) -> CallScope {
    CallScope {
        db: app.db.clone(),
        clock: app.clock.clone(),
        secret: app.secret.clone(),
        coop_slug: coop.slug.clone(),
        plugin: plugin.name.clone(),
        manifest: plugin.manifest.clone(),
        actor: actor.clone(),
        limits: plugin.limits,
        grants: plugin.grants.clone(),
        call_memory: app.call_memory.clone(),
        instances: None,
        job: None,
    }
}

/// The native twin of `echo-u32`: the same JSON object in, the same checks
/// (an object with exactly `v`, a u32), the same JSON number out.
fn native_echo_u32(args: &Value) -> Result<Value, String> {
    let obj = args.as_object().ok_or("expected an object")?;
    if let Some(k) = obj.keys().find(|k| *k != "v") {
        return Err(format!("unknown parameter {k}"));
    }
    let v = obj
        .get("v")
        .and_then(Value::as_u64)
        .ok_or("v: expected u32")?;
    let v = u32::try_from(v).map_err(|_| "v: out of range")?;
    Ok(Value::from(v))
}

const KINDS: &str = "coop:test-kinds/kinds";
const BOARD: &str = "coop:examples/shift-board";

/// `runtime::call` of `echo-u32`: the only case the on-demand child runs.
async fn wasm_echo(app: &App, coop: &Coop, plugin: &Loaded, actor: &Actor) -> Stats {
    let args = json!({"v": 7});
    let out = runtime::call(
        &app.engine,
        plugin,
        scope(app, coop, plugin, actor),
        KINDS,
        "echo-u32",
        &args,
    )
    .await
    .expect("echo-u32");
    assert_eq!(out, json!(7));
    measure(|| async {
        let s = scope(app, coop, plugin, actor);
        let out = runtime::call(&app.engine, plugin, s, KINDS, "echo-u32", black_box(&args)).await;
        black_box(out.expect("echo-u32"));
    })
    .await
}

/// The reference embedding: what a plugin host written from the
/// wasmtime documentation does per call, with nothing tuned.
struct Minimal {
    engine: wasmtime::Engine,
    pre: InstancePre<MinimalState>,
    echo: wasmtime::component::ComponentExportIndex,
}

struct MinimalState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for MinimalState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Minimal {
    fn new(pooled: bool) -> Minimal {
        let mut config = wasmtime::Config::new();
        if pooled {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(
                PoolingAllocationConfig::default(),
            ));
        }
        let engine = wasmtime::Engine::new(&config).expect("minimal engine");
        let (bytes, _) = component("test-kinds");
        let component = Component::new(&engine, &bytes).expect("compile test-kinds");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI linker");
        let pre = linker.instantiate_pre(&component).expect("instantiate_pre");
        let iface = component
            .get_export_index(None, "coop:test-kinds/kinds@0.1.0")
            .expect("kinds export");
        let echo = component
            .get_export_index(Some(&iface), "echo-u32")
            .expect("echo-u32 export");
        Minimal { engine, pre, echo }
    }

    fn echo(&self, v: u32) -> u32 {
        let state = MinimalState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self.pre.instantiate(&mut store).expect("instantiate");
        let f = instance
            .get_typed_func::<(u32,), (u32,)>(&mut store, self.echo)
            .expect("typed echo-u32");
        f.call(&mut store, (v,)).expect("call echo-u32").0
    }

    async fn measure(&self) -> Stats {
        assert_eq!(self.echo(7), 7);
        measure(|| async {
            black_box(self.echo(black_box(7)));
        })
        .await
    }
}

/// Calls timed by the runtime's own phase clock for the breakdown.
const PHASE_CALLS: u32 = 20_000;

/// Where the trivial call's time goes, by `runtime::call_timed`: mean µs
/// per phase over `PHASE_CALLS` calls, and the mean whole call.
async fn echo_phases(
    app: &App,
    coop: &Coop,
    plugin: &Loaded,
    actor: &Actor,
) -> (Vec<(&'static str, f64)>, f64) {
    let args = json!({"v": 7});
    let mut sums = runtime::CallTimings::PHASE_NAMES.map(|n| (n, 0.0));
    let started = Instant::now();
    for _ in 0..PHASE_CALLS {
        let s = scope(app, coop, plugin, actor);
        let (out, timings) =
            runtime::call_timed(&app.engine, plugin, s, KINDS, "echo-u32", black_box(&args)).await;
        black_box(out.expect("echo-u32"));
        for (sum, (_, d)) in sums.iter_mut().zip(timings.phases()) {
            sum.1 += d.as_secs_f64() * 1e6 / f64::from(PHASE_CALLS);
        }
    }
    let whole = started.elapsed().as_secs_f64() * 1e6 / f64::from(PHASE_CALLS);
    (sums.to_vec(), whole)
}

fn allocator(app: &App) -> String {
    serde_json::to_value(app.engine.allocator)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{:?}", app.engine.allocator))
}

async fn run() {
    let h = host().await;
    let app = &h.app;
    let (kcoop, kinds, anon) = coop_with(app, "kinds", "test-kinds").await;
    let anon = Actor::anonymous(anon.coop_id);

    if std::env::var(CHILD_ENV).is_ok() {
        let s = wasm_echo(app, &kcoop, &kinds, &anon).await;
        println!(
            "CHILD {} {} {} {}",
            allocator(app),
            s.median_us,
            s.p90_us,
            s.calls
        );
        return;
    }

    let mut rows: Vec<(String, Stats)> = Vec::new();
    let args = json!({"v": 7});
    let params = vec![("v".to_string(), Type::U32)];

    eprintln!("measuring native echo...");
    let native = measure(|| async {
        black_box(native_echo_u32(black_box(&args)).expect("native"));
    })
    .await;
    rows.push(("native Rust echo (JSON -> u32 -> JSON)".into(), native));

    let to_val = measure(|| async {
        black_box(runtime::json::params_from_json(black_box(&params), black_box(&args)).unwrap());
    })
    .await;
    rows.push(("  JSON -> WIT (params_from_json)".into(), to_val));
    let results = [Val::U32(7)];
    let from_val = measure(|| async {
        black_box(runtime::json::results_to_json(black_box(&results)));
    })
    .await;
    rows.push(("  WIT -> JSON (results_to_json)".into(), from_val));

    // The trivial call decides a target, and a shared virtual machine's
    // speed drifts over seconds: measure it in several rounds, each paired
    // with the minimal embedding the target is set against, and judge the
    // median round.
    let minimal = Minimal::new(true);
    eprintln!(
        "measuring echo-u32 ({}) and the minimal embedding (pooling), {ECHO_ROUNDS} rounds...",
        allocator(app)
    );
    let mut rounds = Vec::with_capacity(ECHO_ROUNDS);
    for _ in 0..ECHO_ROUNDS {
        let ours = wasm_echo(app, &kcoop, &kinds, &anon).await;
        let reference = minimal.measure().await;
        rounds.push((ours, reference));
    }
    let mut by_median = rounds.clone();
    by_median.sort_by(|a, b| a.0.median_us.total_cmp(&b.0.median_us));
    let pooled = by_median[by_median.len() / 2].0;
    by_median.sort_by(|a, b| a.1.median_us.total_cmp(&b.1.median_us));
    let minimal_pooled = by_median[by_median.len() / 2].1;
    rows.push((
        format!("wasm echo-u32, runtime::call ({})", allocator(app)),
        pooled,
    ));
    rows.push((
        "wasm echo-u32, minimal embedding (pooling)".into(),
        minimal_pooled,
    ));
    drop(minimal);
    eprintln!("measuring the minimal embedding (on-demand)...");
    let minimal_on_demand = Minimal::new(false).measure().await;
    rows.push((
        "wasm echo-u32, minimal embedding (on-demand)".into(),
        minimal_on_demand,
    ));

    let phases = echo_phases(app, &kcoop, &kinds, &anon).await;

    eprintln!("measuring echo-u32 (on-demand child process)...");
    let child = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .arg("--bench")
        .env(CHILD_ENV, "1")
        .env("COOPHOST_ALLOCATOR", "on-demand")
        .output()
        .expect("run on-demand child");
    let stdout = String::from_utf8_lossy(&child.stdout);
    match stdout.lines().find_map(|l| l.strip_prefix("CHILD ")) {
        Some(line) => {
            let f: Vec<&str> = line.split_whitespace().collect();
            rows.push((
                format!("wasm echo-u32, runtime::call ({}, child)", f[0]),
                Stats {
                    median_us: f[1].parse().unwrap_or(f64::NAN),
                    p90_us: f[2].parse().unwrap_or(f64::NAN),
                    calls: f[3].parse().unwrap_or(0),
                },
            ));
        }
        None => eprintln!(
            "on-demand child failed: {}",
            String::from_utf8_lossy(&child.stderr)
        ),
    }

    let app_echo = measure(|| async {
        let out = app
            .call(&kcoop, anon.clone(), KINDS, "echo-u32", black_box(&args))
            .await;
        black_box(out.expect("echo-u32"));
    })
    .await;
    rows.push(("wasm echo-u32, App::call".into(), app_echo));

    let empty = json!({});
    for (lang, name) in [
        ("Rust", "shift-board-rs"),
        ("Python", "shift-board-py"),
        ("JavaScript", "shift-board-js"),
    ] {
        eprintln!("measuring list-shifts ({lang})...");
        let (coop, plugin, actor) =
            coop_with(app, &format!("board-{lang}").to_lowercase(), name).await;
        let out = app
            .call(&coop, actor.clone(), BOARD, "list-shifts", &empty)
            .await
            .expect("list-shifts");
        assert_eq!(out, json!({"ok": []}), "{name} list-shifts");
        let direct = measure(|| async {
            let s = scope(app, &coop, &plugin, &actor);
            let out = runtime::call(&app.engine, &plugin, s, BOARD, "list-shifts", &empty).await;
            black_box(out.expect("list-shifts"));
        })
        .await;
        rows.push((format!("{lang} list-shifts, runtime::call"), direct));
        let via_app = measure(|| async {
            let out = app
                .call(&coop, actor.clone(), BOARD, "list-shifts", &empty)
                .await;
            black_box(out.expect("list-shifts"));
        })
        .await;
        rows.push((format!("{lang} list-shifts, App::call"), via_app));
    }

    println!();
    println!(
        "coophost runtime benchmark: median and p90 of per-call time over batches (warm-up {} ms)",
        WARM_UP.as_millis()
    );
    println!(
        "{:<48} {:>12} {:>12} {:>10} {:>12}",
        "case", "median µs", "p90 µs", "calls", "x native"
    );
    for (name, s) in &rows {
        println!(
            "{:<48} {:>12.3} {:>12.3} {:>10} {:>12.1}",
            name,
            s.median_us,
            s.p90_us,
            s.calls,
            s.median_us / native.median_us
        );
    }
    let rs = rows
        .iter()
        .find(|(n, _)| n == "Rust list-shifts, runtime::call")
        .map(|(_, s)| s.median_us);
    if let Some(rs) = rs {
        println!();
        println!("list-shifts relative to the Rust plugin (runtime::call medians):");
        for lang in ["Rust", "Python", "JavaScript"] {
            if let Some((_, s)) = rows
                .iter()
                .find(|(n, _)| *n == format!("{lang} list-shifts, runtime::call"))
            {
                println!(
                    "  {lang:<11} {:>10.1} µs  x{:.2}",
                    s.median_us,
                    s.median_us / rs
                );
            }
        }
    }
    println!();
    println!(
        "echo-u32 by round, µs: runtime::call ({}) / minimal embedding (pooling) = ratio",
        allocator(app)
    );
    for (i, (ours, reference)) in rounds.iter().enumerate() {
        println!(
            "  round {}: {:>6.2} / {:>6.2} = {:.2}",
            i + 1,
            ours.median_us,
            reference.median_us,
            ours.median_us / reference.median_us
        );
    }
    let (phases, whole) = phases;
    println!();
    println!(
        "where echo-u32's time goes (runtime::call_timed, mean of {PHASE_CALLS} calls of {whole:.2} µs):"
    );
    for (name, us) in &phases {
        println!("  {name:<12} {us:>6.2} µs  {:>5.1}%", us * 100.0 / whole);
    }
    let timed: f64 = phases.iter().map(|(_, us)| us).sum();
    println!(
        "  {:<12} {:>6.2} µs  {:>5.1}%  (building the scope, the export lookup, the clock reads)",
        "untimed",
        whole - timed,
        (whole - timed) * 100.0 / whole
    );
    println!();
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|(ours, reference)| ours.median_us / reference.median_us)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    println!(
        "target (issue 3): instantiate + call median <= 10 µs with pooling; measured {:.1} µs ({}, median round): {}",
        pooled.median_us,
        allocator(app),
        if pooled.median_us <= 10.0 {
            "met"
        } else {
            "not met"
        }
    );
    // The issue sets 10 µs where a minimal embedding took 19 µs pooled:
    // the same target as a ratio holds on a faster or slower machine.
    println!(
        "the same target against the issue's reference (10 µs where the minimal embedding took {REFERENCE_MINIMAL_US} µs, ratio <= {:.3}): median round ratio {ratio:.3}, {}",
        10.0 / REFERENCE_MINIMAL_US,
        if ratio <= 10.0 / REFERENCE_MINIMAL_US {
            "met"
        } else {
            "not met"
        }
    );
}
