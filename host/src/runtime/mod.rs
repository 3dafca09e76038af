//! The WebAssembly runtime: the only module that knows wasmtime
//! (ARCHITECTURE invariant 1).
//!
//! One [`Engine`] per process (shared by tests), one [`Loaded`] plugin per
//! installed plugin with its `InstancePre`, and a fresh instance per call.

mod cache;
pub mod capabilities;
mod host;
mod inspect;
pub mod json;
pub mod limits;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, Val};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

pub use cache::CacheOutcome;
pub use capabilities::GRANTABLE;
pub use host::{CallScope, CallState};
pub use inspect::{ExportedInterface, FunctionSig, Inspection, split_version, wit_type};
pub use limits::{HostBudget, LimitHit, Limits};

use crate::plugins::manifest::Manifest;
use crate::store::{CommitError, Quota};

/// How often the epoch advances; a spinning guest yields to the async
/// runtime at least this often, so it cannot starve other calls.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How many times a call is re-run when its reads went stale before commit.
pub const MAX_ATTEMPTS: usize = 4;
/// How many times a call is re-run because the database was transiently
/// contended at commit (SQLite locked or its snapshot gone stale,
/// PostgreSQL serialization failure or deadlock), waiting 1 ms more each
/// time, up to 20 ms; then the call is answered 409.
pub const MAX_BUSY_WAITS: u32 = 50;

/// Instances the pooling allocator keeps slots for at once: calls beyond
/// this many in flight wait for the runtime's own back-pressure (each call
/// is short); sized for a 2-core host serving many coops.
pub const POOL_INSTANCES: u32 = 256;
/// Plugin calls one coop may have in flight at once unless the host
/// operator sets otherwise: a quarter of the pool, so one busy (or
/// hostile) coop always leaves three quarters of the slots to the others.
pub const DEFAULT_COOP_INSTANCES: u32 = POOL_INSTANCES / 4;
/// Linear memories (and tables) per pool slot group: Python and
/// JavaScript components instantiate several core modules each.
pub const POOL_MEMORIES: u32 = 512;
/// Core instances one component may create (componentize-py makes ~10).
pub const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Table elements per table: language runtimes have large function tables.
pub const POOL_TABLE_ELEMENTS: usize = 100_000;
/// Bytes of a linear memory slot reset by copying (not `madvise`) and kept
/// resident between calls: a trivial call dirties a few pages, and taking
/// them back and faulting them in again was most of its cost. At most this
/// much stays resident per warm slot.
pub const POOL_MEMORY_KEEP_RESIDENT: usize = 256 << 10;
/// The same for each table.
pub const POOL_TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// A coop's cap on plugin calls in flight, so one coop cannot take every
/// slot of the host-wide instance pool ([`POOL_INSTANCES`]). A call holds
/// one slot from before instantiation until its commit ends.
#[derive(Clone, Debug)]
pub struct InstanceGate {
    /// The coop's slots.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// How many slots the coop has.
    pub size: u32,
    /// Wait (up to the call's deadline) for a slot instead of refusing at
    /// once: for the host's own calls (timers, events, migrate hooks),
    /// which nobody waits on and which the scheduler retries anyway.
    pub wait: bool,
}

impl InstanceGate {
    /// A gate of `size` slots that waits for one.
    pub fn new(size: u32) -> InstanceGate {
        InstanceGate {
            slots: Arc::new(tokio::sync::Semaphore::new(size as usize)),
            size,
            wait: true,
        }
    }

    /// Calls in flight through this gate now.
    pub fn in_flight(&self) -> usize {
        (self.size as usize).saturating_sub(self.slots.available_permits())
    }

    /// A slot for one call, or [`CallError::CoopBusy`].
    async fn enter(
        &self,
        deadline: Duration,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, CallError> {
        let busy = || CallError::CoopBusy { limit: self.size };
        if self.wait {
            match tokio::time::timeout(deadline, self.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => Ok(permit),
                _ => Err(busy()),
            }
        } else {
            self.slots.clone().try_acquire_owned().map_err(|_| busy())
        }
    }
}

/// How instances get their memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Preallocated slots with copy-on-write memory images: fast
    /// instantiation, virtual address space reserved up front.
    Pooling,
    /// Memory mapped per instance on demand.
    OnDemand,
}

/// The process-wide engine: wasmtime configuration, the linker with every
/// host interface, and the compile cache.
pub struct Engine {
    /// Which allocator is in use (pooling unless it could not be set up).
    pub allocator: Allocator,
    engine: wasmtime::Engine,
    linker: Linker<CallState>,
    cache: cache::CompileCache,
    /// Components compiled or loaded in this process, by SHA-256, so
    /// several coops installing the same plugin share one compiled copy.
    memo: Mutex<HashMap<String, Component>>,
}

impl Engine {
    /// An engine whose compiled artifacts are cached in `cache_dir`, with
    /// the pooling allocator unless `COOPHOST_ALLOCATOR=on-demand` or the
    /// address space for the pool cannot be reserved.
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Arc<Engine>> {
        let want_pooling = std::env::var("COOPHOST_ALLOCATOR").as_deref() != Ok("on-demand");
        let (engine, allocator) = match want_pooling.then(|| build_engine(Allocator::Pooling)) {
            Some(Ok(e)) => (e, Allocator::Pooling),
            Some(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "pooling allocator unavailable; using on-demand allocation");
                (build_engine(Allocator::OnDemand)?, Allocator::OnDemand)
            }
            None => (build_engine(Allocator::OnDemand)?, Allocator::OnDemand),
        };
        tracing::info!(?allocator, "wasmtime engine ready");
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
        let cache = cache::CompileCache::new(cache_dir, &engine)?;
        let this = Arc::new(Engine {
            allocator,
            engine,
            linker,
            cache,
            memo: Mutex::new(HashMap::new()),
        });
        spawn_epoch_ticker(Arc::downgrade(&this));
        Ok(this)
    }

    /// Compile (or load from cache) a component.
    pub fn component(
        &self,
        sha256: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        if let Some(c) = self.memo.lock().expect("memo poisoned").get(sha256) {
            return Ok((c.clone(), CacheOutcome::Hit));
        }
        let (c, outcome) = self.cache.load(&self.engine, sha256, bytes)?;
        self.memo
            .lock()
            .expect("memo poisoned")
            .insert(sha256.to_string(), c.clone());
        Ok((c, outcome))
    }

    /// Read a component's imports and exports without installing it.
    pub fn inspect(&self, bytes: &[u8]) -> Result<Inspection, String> {
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| format!("not a valid component: {:#}", anyhow::Error::from(e)))?;
        inspect::inspect(&self.engine, &component).map(|(i, _)| i)
    }
}

fn build_engine(allocator: Allocator) -> anyhow::Result<wasmtime::Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // Plugins are called one export at a time (`call_async`); the component
    // model's concurrent tasks would cost every call their bookkeeping.
    config.concurrency_support(false);
    if allocator == Allocator::Pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_MEMORIES)
            .total_tables(POOL_MEMORIES)
            .total_stacks(POOL_INSTANCES)
            .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
            .max_tables_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .table_elements(POOL_TABLE_ELEMENTS)
            .max_memory_size(limits::MAX_MEMORY_BYTES as usize)
            .max_core_instance_size(4 << 20)
            .max_component_instance_size(4 << 20)
            .max_unused_warm_slots(64)
            // Reset a slot by copying back only the pages the call dirtied
            // (found with Linux's PAGEMAP_SCAN, kernel 6.7+), keeping them
            // resident so the next call does not fault them in again. On
            // older kernels the first bytes are reset with memset, the rest
            // with madvise.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(POOL_MEMORY_KEEP_RESIDENT)
            .table_keep_resident(POOL_TABLE_KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    wasmtime::Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("failed to create wasmtime engine")
}

fn spawn_epoch_ticker(engine: Weak<Engine>) {
    std::thread::Builder::new()
        .name("coophost-epoch".into())
        .spawn(move || {
            while let Some(e) = engine.upgrade() {
                e.engine.increment_epoch();
                drop(e);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("failed to spawn epoch thread");
}

/// An installed plugin ready to instantiate.
pub struct Loaded {
    /// Installation id.
    pub id: i64,
    /// Plugin name (its store namespace).
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// What it imports and exports.
    pub inspection: Inspection,
    /// Whether the compiled code came from the cache.
    pub cache: CacheOutcome,
    /// `coop:host` interfaces the coop granted.
    pub grants: Arc<Vec<String>>,
    /// Limits of calls to this plugin.
    pub limits: Limits,
    pre: InstancePre<CallState>,
    funcs: HashMap<(String, String), (ComponentExportIndex, inspect::FuncTypes)>,
}

impl Loaded {
    /// Prepare a component for calls: compile or load it, resolve every
    /// import against the linker, and index its exported functions.
    pub fn new(
        engine: &Engine,
        id: i64,
        manifest: Arc<Manifest>,
        sha256: &str,
        bytes: &[u8],
    ) -> anyhow::Result<Loaded> {
        let (component, cache) = engine.component(sha256, bytes)?;
        let (inspection, funcs) =
            inspect::inspect(&engine.engine, &component).map_err(|e| anyhow::anyhow!(e))?;
        let pre = engine
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component imports something this host does not provide")?;
        let mut index = HashMap::new();
        for (iface, fname, types) in funcs {
            let iface_idx = component
                .get_export_index(None, &iface)
                .with_context(|| format!("export {iface} not found"))?;
            let fidx = component
                .get_export_index(Some(&iface_idx), &fname)
                .with_context(|| format!("export {iface}#{fname} not found"))?;
            let (unversioned, _) = split_version(&iface);
            index.insert((unversioned, fname), (fidx, types));
        }
        Ok(Loaded {
            id,
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.clone(),
            sha256: sha256.to_string(),
            manifest,
            inspection,
            cache,
            grants: Arc::new(
                crate::runtime::GRANTABLE
                    .iter()
                    .map(|g| g.to_string())
                    .collect(),
            ),
            limits: Limits::default(),
            pre,
            funcs: index,
        })
    }

    /// This plugin with the coop's grants and limits.
    pub fn with_policy(mut self, grants: Arc<Vec<String>>, limits: Limits) -> Self {
        self.grants = grants;
        self.limits = limits;
        self
    }

    /// Whether the plugin exports `function` in `interface` (unversioned).
    pub fn has_function(&self, interface: &str, function: &str) -> bool {
        self.funcs
            .contains_key(&(interface.to_string(), function.to_string()))
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The interface has no such function.
    #[error("{0}")]
    NoSuchFunction(String),
    /// The JSON arguments do not fit the function's types.
    #[error("{0}")]
    BadArguments(String),
    /// The plugin returned a top-level `err`; nothing it wrote was kept.
    #[error("{message}")]
    PluginError {
        /// HTTP status derived from the `coop:host` error case.
        status: u16,
        /// What the error says beyond its message: the error case of a
        /// `coop:host/types.error`, or the whole value when it is not text;
        /// `null` when the message says it all.
        error: Value,
        /// The error's text (sent once: not repeated in `error`).
        message: String,
    },
    /// The plugin trapped (a bug inside the guest).
    #[error("the plugin failed: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("the plugin did not answer within {0:?}")]
    Deadline(Duration),
    /// The call hit a resource limit.
    #[error("{0}")]
    Limit(LimitHit),
    /// The result was larger than the limit.
    #[error(
        "the plugin's result is at least {size} bytes as JSON; the limit is {limit} (result_bytes)"
    )]
    ResultTooLarge {
        /// Size of the result as JSON (a lower bound when it was refused
        /// before the JSON was built).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Committing would exceed the plugin's store quota.
    #[error("{0}")]
    StoreQuota(String),
    /// The plugin used a host interface the coop did not grant, in a
    /// function with no error channel.
    #[error("{0}")]
    NotGranted(String),
    /// Other calls kept changing what this call read.
    #[error("the call conflicted with concurrent calls {0} times; retry it")]
    Conflict(usize),
    /// The coop already has as many calls in flight as the host operator
    /// allows it.
    #[error(
        "this coop already has {limit} plugin calls in flight, the most the host allows it at once; retry shortly"
    )]
    CoopBusy {
        /// The coop's cap.
        limit: u32,
    },
    /// The host failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CallError {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::NoSuchFunction(_) | CallError::BadArguments(_) => "refused",
            CallError::PluginError { .. } => "plugin_error",
            CallError::Trap(_) => "trap",
            CallError::Deadline(_) => "deadline",
            CallError::Limit(l) => l.label(),
            CallError::ResultTooLarge { .. } => "result_size",
            CallError::StoreQuota(_) => "store_quota",
            CallError::NotGranted(_) => "not_granted",
            CallError::Conflict(_) => "conflict",
            CallError::CoopBusy { .. } => "coop_instances",
            CallError::Internal(_) => "internal",
        }
    }

    /// Whether this is a limit being hit (for the limit-hit metric).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            CallError::Deadline(_)
                | CallError::Limit(_)
                | CallError::ResultTooLarge { .. }
                | CallError::StoreQuota(_)
                | CallError::CoopBusy { .. }
        )
    }
}

/// What a call that ran to its end answers: its result as JSON, or the
/// plugin's own top-level `err` as a [`CallError::PluginError`], or
/// [`CallError::ResultTooLarge`] when either is past `result_bytes` (an
/// `err` is bounded like an `ok`: it goes back to the caller too).
///
/// The `err`'s text is sent once: a `coop:host/types.error` (or a plain
/// string) becomes the message, and the detail keeps only what the message
/// does not say (the error case), or the whole value when it is not text.
fn answer_of(results: &[Val], result_bytes: u64) -> Result<Value, CallError> {
    // A cheap lower bound of the JSON size first, so a huge value is
    // refused before the host builds a second copy of it as JSON.
    let least: u64 = results.iter().map(val_bytes_at_least).sum();
    if least > result_bytes {
        return Err(CallError::ResultTooLarge {
            size: least,
            limit: result_bytes,
        });
    }
    if let Some(Val::Result(Err(payload))) = results.first() {
        let (status, message, error) = match payload.as_deref() {
            Some(Val::Variant(case, msg)) => {
                let status = status_for_error_case(case).unwrap_or(422);
                match msg.as_deref() {
                    Some(Val::String(m)) => (status, m.clone(), serde_json::json!({"tag": case})),
                    Some(other) => (
                        status,
                        case.clone(),
                        serde_json::json!({"tag": case, "value": json::from_val(other)}),
                    ),
                    None => (status, case.clone(), serde_json::json!({"tag": case})),
                }
            }
            Some(Val::String(m)) => (422, m.clone(), Value::Null),
            Some(other) => (
                422,
                "the plugin refused the call".to_string(),
                json::from_val(other),
            ),
            None => (422, "the plugin refused the call".to_string(), Value::Null),
        };
        let size = message.len() as u64 + json_size(&error);
        if size > result_bytes {
            return Err(CallError::ResultTooLarge {
                size,
                limit: result_bytes,
            });
        }
        return Err(CallError::PluginError {
            status,
            error,
            message,
        });
    }
    let value = json::results_to_json(results);
    let size = json_size(&value);
    if size > result_bytes {
        return Err(CallError::ResultTooLarge {
            size,
            limit: result_bytes,
        });
    }
    Ok(value)
}

/// A lower bound of the size of `v` as JSON: the bytes of its strings and
/// names, and one byte per other value.
fn val_bytes_at_least(v: &Val) -> u64 {
    match v {
        Val::String(s) => s.len() as u64,
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().map(val_bytes_at_least).sum::<u64>().max(1)
        }
        Val::Map(entries) => entries
            .iter()
            .map(|(k, v)| val_bytes_at_least(k) + val_bytes_at_least(v))
            .sum::<u64>()
            .max(1),
        Val::Record(fields) => fields
            .iter()
            .map(|(name, v)| name.len() as u64 + val_bytes_at_least(v))
            .sum::<u64>()
            .max(1),
        Val::Variant(tag, payload) => {
            tag.len() as u64 + payload.as_deref().map_or(0, val_bytes_at_least)
        }
        Val::Enum(name) => name.len() as u64,
        Val::Option(Some(inner)) => val_bytes_at_least(inner),
        Val::Result(Ok(p)) | Val::Result(Err(p)) => p.as_deref().map_or(1, val_bytes_at_least),
        Val::Flags(names) => names.iter().map(|n| n.len() as u64).sum::<u64>().max(1),
        _ => 1,
    }
}

/// Adds the time since `since` to `into` when dropped, however the scope
/// it lives in is left.
struct CommitClock<'a> {
    since: Instant,
    into: &'a mut Duration,
}

impl Drop for CommitClock<'_> {
    fn drop(&mut self) {
        *self.into += self.since.elapsed();
    }
}

/// The HTTP status for each case of `coop:host/types.error`.
pub fn status_for_error_case(case: &str) -> Option<u16> {
    Some(match case {
        "access-denied" => 403,
        "not-found" => 404,
        "conflict" => 409,
        "invalid" => 422,
        "quota-exceeded" => 507,
        "internal" => 500,
        _ => return None,
    })
}

/// Where one plugin call's time went: the phase metrics
/// (`coophost_plugin_call_phase_seconds_total`) and the benchmarks'
/// breakdown. A re-run call (stale reads, a busy database) adds up its runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTimings {
    /// JSON arguments to WIT values.
    pub map_in: Duration,
    /// A fresh store and instance from the plugin's `InstancePre`.
    pub instantiate: Duration,
    /// The guest's own code: the export's run time less `host`.
    pub guest: Duration,
    /// Inside the host functions the guest called, their awaits included.
    pub host: Duration,
    /// WIT results to JSON, with the result size check.
    pub map_out: Duration,
    /// Dropping the store, which resets the instance's slot for the next
    /// call.
    pub teardown: Duration,
    /// Applying the call's writes in one database transaction (nothing for
    /// a call that only read).
    pub commit: Duration,
}

impl CallTimings {
    /// How many phases a call has.
    pub const PHASES: usize = 7;

    /// Each phase's label, as in the metrics, in call order.
    pub const PHASE_NAMES: [&'static str; Self::PHASES] = [
        "map_in",
        "instantiate",
        "guest",
        "host",
        "map_out",
        "teardown",
        "commit",
    ];

    /// Each phase's label and time, in call order.
    pub fn phases(&self) -> [(&'static str, Duration); Self::PHASES] {
        let times = [
            self.map_in,
            self.instantiate,
            self.guest,
            self.host,
            self.map_out,
            self.teardown,
            self.commit,
        ];
        std::array::from_fn(|i| (Self::PHASE_NAMES[i], times[i]))
    }
}

/// Call `interface#function` of a loaded plugin with JSON arguments, in one
/// database transaction (DESIGN invariant 4): what the call wrote commits
/// if it returns normally and is dropped if it traps, runs out of time or
/// memory, or returns a top-level `err`. A call whose reads went stale is
/// re-run.
pub async fn call(
    engine: &Engine,
    plugin: &Loaded,
    scope: CallScope,
    interface: &str,
    function: &str,
    args: &Value,
) -> Result<Value, CallError> {
    call_timed(engine, plugin, scope, interface, function, args)
        .await
        .0
}

/// [`call`], with where its time went (also when it failed: the phases it
/// reached).
pub async fn call_timed(
    engine: &Engine,
    plugin: &Loaded,
    scope: CallScope,
    interface: &str,
    function: &str,
    args: &Value,
) -> (Result<Value, CallError>, CallTimings) {
    let mut timings = CallTimings::default();
    let result = run_call(
        engine,
        plugin,
        scope,
        interface,
        function,
        args,
        &mut timings,
    )
    .await;
    (result, timings)
}

async fn run_call(
    engine: &Engine,
    plugin: &Loaded,
    scope: CallScope,
    interface: &str,
    function: &str,
    args: &Value,
    timings: &mut CallTimings,
) -> Result<Value, CallError> {
    let Some((index, types)) = plugin
        .funcs
        .get(&(interface.to_string(), function.to_string()))
    else {
        return Err(CallError::NoSuchFunction(format!(
            "{interface} has no function {function:?} in plugin {}",
            plugin.name
        )));
    };
    let started = Instant::now();
    let params = json::params_from_json(&types.params, args)
        .map_err(|e| CallError::BadArguments(e.to_string()))?;
    timings.map_in += started.elapsed();
    let limits = scope.limits;
    // The coop's slot, held through every attempt and the commit.
    let _slot = match &scope.instances {
        Some(gate) => Some(gate.enter(limits.deadline()).await?),
        None => None,
    };
    let mut busy_waits = 0u32;
    let mut attempt = 0;
    while attempt < MAX_ATTEMPTS {
        attempt += 1;
        let began = Instant::now();
        let mut store = Store::new(&engine.engine, CallState::new(scope.clone()));
        store.limiter(|s| s.limiter());
        store.call_hook(|mut s, hook| s.data_mut().on_transition(hook));
        // The guest yields to the async runtime at the next epoch tick and
        // every tick after. A store's deadline starts at 0, already past:
        // without setting it, every call stopped to yield once, at its
        // first epoch check.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let mut results = vec![Val::Bool(false); types.results.len()];
        // When instantiation ended, and the host time it took (the start
        // functions' libcalls): that time is instantiation's, not the call's.
        let mut instantiated = None;
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instantiated = Some((Instant::now(), store.data().host_time));
            let func = instance
                .get_func(&mut store, index)
                .ok_or_else(|| wasmtime::format_err!("exported function vanished"))?;
            func.call_async(&mut store, &params, &mut results).await?;
            wasmtime::Result::Ok(())
        };
        let outcome: Result<wasmtime::Result<()>, _> =
            tokio::time::timeout(limits.deadline(), run).await;
        let ran = Instant::now();
        let host_now = store.data().host_time_so_far();
        // Cut short before instantiation ended: all of it was instantiation.
        let (instantiated, host_before) = instantiated.unwrap_or((ran, host_now));
        let host = host_now.saturating_sub(host_before);
        timings.instantiate += instantiated - began;
        timings.host += host;
        timings.guest += (ran - instantiated).saturating_sub(host);
        let failed = match outcome {
            Err(_) => Some(CallError::Deadline(limits.deadline())),
            Ok(Err(e)) => Some(if let Some(hit) = e.downcast_ref::<LimitHit>() {
                CallError::Limit(*hit)
            } else if store.data().memory.hit {
                CallError::Limit(LimitHit::Memory)
            } else if let Some(denied) = e.downcast_ref::<host::CapabilityDenied>() {
                CallError::NotGranted(denied.to_string())
            } else {
                let message = trap_message(&e);
                tracing::warn!(plugin = %plugin.name, function, error = %format!("{:#}", anyhow::Error::from(e)), "plugin call trapped");
                CallError::Trap(message)
            }),
            Ok(Ok(())) => None,
        };
        if let Some(failure) = failed {
            let dropping = Instant::now();
            drop(store);
            timings.teardown += dropping.elapsed();
            return Err(failure);
        }
        let answer = answer_of(&results, limits.result_bytes);
        let mapped = Instant::now();
        timings.map_out += mapped - ran;
        let state = store.into_data();
        let committing = Instant::now();
        timings.teardown += committing - mapped;
        let value = answer?;
        // Every way out of the commit below counts its time (a wait for a
        // busy database excepted).
        let commit_clock = CommitClock {
            since: committing,
            into: &mut timings.commit,
        };
        if state.tx.is_read_only()
            && state.events.is_empty()
            && state.ledger.is_empty()
            && state.timers.is_empty()
            && state.ratings.is_empty()
            && state.activity.is_empty()
            && state.flags.is_empty()
        {
            return Ok(value);
        }
        let now = scope.clock.now_ms();
        let quota = Quota {
            keys: i64::try_from(limits.store_keys).unwrap_or(i64::MAX),
            bytes: i64::try_from(limits.store_bytes).unwrap_or(i64::MAX),
        };
        let committed = commit(&scope, state, now, quota).await;
        match committed {
            Ok(()) => return Ok(value),
            Err(CommitFailure::Store(CommitError::Conflict)) => {
                tracing::debug!(plugin = %plugin.name, function, attempt, "stale reads at commit; re-running call");
                continue;
            }
            Err(CommitFailure::Store(CommitError::Busy)) if busy_waits < MAX_BUSY_WAITS => {
                // A locked SQLite file, or a snapshot another writer moved
                // past, is not a conflict of the call's own reads: wait and
                // re-run without using up an attempt.
                drop(commit_clock);
                busy_waits += 1;
                attempt -= 1;
                tokio::time::sleep(Duration::from_millis(u64::from(busy_waits.min(20)))).await;
                continue;
            }
            Err(CommitFailure::Store(CommitError::Busy)) => {
                // Still contended after every wait: the caller may retry
                // (409), as after stale reads; nothing was written.
                tracing::warn!(plugin = %plugin.name, function, "the database stayed busy through {MAX_BUSY_WAITS} re-runs");
                return Err(CallError::Conflict(attempt + busy_waits as usize));
            }
            Err(CommitFailure::Store(CommitError::Quota(msg))) => {
                return Err(CallError::StoreQuota(msg));
            }
            Err(CommitFailure::Store(CommitError::Db(e))) => {
                return Err(CallError::Internal(e.into()));
            }
            Err(CommitFailure::Refused(e)) => return Err(e),
        }
    }
    Err(CallError::Conflict(MAX_ATTEMPTS))
}

/// Why a call's commit failed: the store's reasons (a conflict or a busy
/// database re-run the call), or a refusal that ends it.
enum CommitFailure {
    Store(CommitError),
    Refused(CallError),
}

impl From<CommitError> for CommitFailure {
    fn from(e: CommitError) -> Self {
        CommitFailure::Store(e)
    }
}

/// Whether a service error is transient database contention (SQLite
/// busy or a stale snapshot, a PostgreSQL serialization failure or
/// deadlock), which re-running the call resolves.
fn transient(e: &crate::error::Error) -> bool {
    matches!(e, crate::error::Error::Internal(inner) if inner
        .chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .any(crate::db::is_transient))
}

/// A database error while writing what the call produced: a transient one
/// re-runs the call like a busy store commit; anything else is the host's
/// failure.
fn commit_db_failure(e: crate::error::Error) -> CommitFailure {
    if transient(&e) {
        CommitFailure::Store(CommitError::Busy)
    } else {
        CommitFailure::Refused(CallError::Internal(e.into()))
    }
}

/// Apply what one call produced (store writes, events, ledger, timers,
/// ratings, activity, flags) in one transaction and commit it.
async fn commit(
    scope: &CallScope,
    state: CallState,
    now: i64,
    quota: Quota,
) -> Result<(), CommitFailure> {
    let coop_id = scope.actor.coop_id;
    let plugin = &scope.plugin;
    let mut ns = state.tx.apply(&scope.db, now, quota).await?;
    crate::events::insert(&mut ns.tx, coop_id, plugin, &state.events, now)
        .await
        .map_err(commit_db_failure)?;
    // Money moves in the same transaction as everything else the call did:
    // all of it commits, or none.
    if let Err(e) = crate::payments::commit_in(&mut ns.tx, coop_id, &state.ledger, now).await {
        return Err(if transient(&e) {
            CommitFailure::Store(CommitError::Busy)
        } else {
            CommitFailure::Refused(ledger_refusal(e))
        });
    }
    if let Err(e) =
        crate::plugins::timers::commit_in(&mut ns.tx, coop_id, plugin, &state.timers, now).await
    {
        return Err(if transient(&e) {
            CommitFailure::Store(CommitError::Busy)
        } else {
            CommitFailure::Refused(timer_refusal(e))
        });
    }
    crate::ratings::insert_in(&mut ns.tx, coop_id, plugin, &state.ratings, now)
        .await
        .map_err(commit_db_failure)?;
    crate::opendata::insert_in(&mut ns.tx, coop_id, plugin, &state.activity, now)
        .await
        .map_err(commit_db_failure)?;
    // Flags, like everything else, exist only if the call commits.
    crate::moderation::flags::commit_in(&mut ns.tx, coop_id, plugin, &state.flags, now)
        .await
        .map_err(commit_db_failure)?;
    // A scheduled call commits only while its worker holds the job, and
    // completes the job in the same commit.
    if let Some(job) = &scope.job
        && !crate::scheduler::complete_in(&mut ns.tx, job, now)
            .await
            .map_err(commit_db_failure)?
    {
        return Err(CommitFailure::Refused(CallError::Internal(
            anyhow::anyhow!(
                "job {} passed to another worker while this call ran; its effects are dropped",
                job.id
            ),
        )));
    }
    ns.tx
        .commit()
        .await
        .map_err(|e| commit_db_failure(e.into()))?;
    Ok(())
}

/// The ledger refused a posting at commit (an overdraft, a reused order):
/// the whole call is dropped and the caller told why, as a plugin `err`.
fn ledger_refusal(e: crate::error::Error) -> CallError {
    use crate::error::Error;
    let (status, tag, message) = match e {
        Error::Conflict(m) => (409, "conflict", m),
        Error::Invalid(m) | Error::BadRequest(m) => (422, "invalid", m),
        Error::NotFound(m) => (404, "not-found", m),
        other => return CallError::Internal(anyhow::Error::new(other)),
    };
    CallError::PluginError {
        status,
        error: serde_json::json!({"tag": tag}),
        message: format!("the ledger refused: {message}"),
    }
}

/// Setting the call's timers failed at commit (the plugin's timer limit
/// was reached by concurrent calls): the whole call is dropped.
fn timer_refusal(e: crate::error::Error) -> CallError {
    use crate::error::Error;
    match e {
        Error::Conflict(m) => CallError::PluginError {
            status: 507,
            error: serde_json::json!({"tag": "quota-exceeded"}),
            message: m,
        },
        other => CallError::Internal(anyhow::Error::new(other)),
    }
}

/// The size of `value` as JSON, counted without building the text (this
/// runs on every call).
fn json_size(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, value) {
        Ok(()) => c.0,
        Err(_) => u64::MAX,
    }
}

/// A trap as a message for the caller: the kind of failure, not the guest's
/// internals.
fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::UnreachableCodeReached => "the plugin panicked (unreachable)".into(),
            wasmtime::Trap::StackOverflow => "the plugin overflowed its stack".into(),
            wasmtime::Trap::MemoryOutOfBounds => "the plugin accessed memory out of bounds".into(),
            wasmtime::Trap::Interrupt => "the plugin was interrupted".into(),
            other => format!("the plugin trapped: {other}"),
        };
    }
    let text = format!("{e:#}");
    if text.contains("memory") && (text.contains("limit") || text.contains("grow")) {
        return "the plugin exceeded its memory limit".into();
    }
    "the plugin failed while running".into()
}
