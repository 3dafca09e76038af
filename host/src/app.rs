//! The host's services wired together: what the API, the CLI and tests use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rand::RngCore;
use serde_json::Value;
use sqlx::Row;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::{Actor, Coop};
use crate::plugins::{self, manifest::ANYONE};
use crate::runtime::{
    self, CallError, CallScope, Engine, HostBudget, InstanceGate, Limits, Loaded,
};

/// How often the background scheduler looks for due jobs.
pub const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the scheduler makes sure each coop's recurring jobs exist.
pub const RECURRING_CHECK_MS: i64 = 60_000;
/// Jobs claimed per pass of [`App::run_jobs_once`] (the continuous
/// worker claims as slots free instead).
pub const JOBS_PER_TICK: i64 = 32;

pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "host".to_string())
}

/// Which module runs which scheduler job kind, and how long a claim on
/// such a job lasts (the heartbeat renews it while the job runs). Domain
/// modules export their handlers as plain functions; this table is the
/// only place that wires them to the host.
pub const JOB_HANDLERS: &[crate::scheduler::Handler<App>] = {
    use crate::scheduler::{DEFAULT_LEASE_MS, Handler};
    use crate::{governance::proposals, moderation::appeals, payments::jobs, plugins::timers};
    &[
        Handler {
            kind: jobs::HOLD_EXPIRE,
            lease_ms: DEFAULT_LEASE_MS,
            run: |app, job, now| Box::pin(jobs::handle(&app.db, job, now)),
        },
        Handler {
            kind: jobs::FLOOR_MONTH,
            lease_ms: DEFAULT_LEASE_MS,
            run: |app, job, now| Box::pin(jobs::handle(&app.db, job, now)),
        },
        Handler {
            kind: appeals::DEADLINE_JOB,
            lease_ms: DEFAULT_LEASE_MS,
            run: |app, job, now| Box::pin(appeals::handle(&app.db, job, now)),
        },
        Handler {
            kind: proposals::CLOSE_JOB,
            lease_ms: DEFAULT_LEASE_MS,
            run: |app, job, now| Box::pin(proposals::handle(app, job, now)),
        },
        Handler {
            kind: proposals::APPLY_JOB,
            lease_ms: DEFAULT_LEASE_MS,
            run: |app, job, now| Box::pin(proposals::handle(app, job, now)),
        },
        Handler {
            kind: timers::TIMER_JOB,
            lease_ms: timers::TIMER_LEASE_MS,
            run: |app, job, _| Box::pin(timers::run(app, job)),
        },
    ]
};

/// One host: database, clock, engine, loaded plugins.
pub struct App {
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// The wasm engine (shared across apps in tests).
    pub engine: Arc<Engine>,
    /// Key for per-plugin member ids, shared by every host on the database.
    pub secret: Arc<Vec<u8>>,
    /// Default limits of every plugin call (per-plugin overrides apply on top).
    pub limits: Limits,
    /// Metrics for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    loaded: RwLock<HashMap<i64, Arc<Loaded>>>,
    /// Coops by slug (a slug never changes hands: coops are not deleted).
    coops: RwLock<HashMap<String, Coop>>,
    /// When [`App::run_jobs_once`] last made sure recurring jobs exist (ms,
    /// host clock; `i64::MIN` before the first time).
    recurring_checked_ms: std::sync::atomic::AtomicI64,
    /// Recently read interface bindings: (coop, interface) -> (plugin, when).
    bindings: RwLock<HashMap<(i64, String), (i64, std::time::Instant)>>,
    /// The URL other hosts and people reach this host at (credential
    /// issuer ids); set by `serve`, or by tests once they know their port.
    public_url: RwLock<Option<String>>,
    /// Where this host stores data, for the transparency page.
    data_location: RwLock<crate::transparency::DataLocation>,
    /// The audit log's queue and batch writer.
    pub audit: Arc<crate::audit::Audit>,
    /// The database holding the audit log (see [`Db::audit_db`]).
    pub audit_db: Db,
    /// Reverse proxies in front of this host whose `X-Forwarded-For` is
    /// believed (`--trusted-proxy`); from anyone else it is ignored, or
    /// any client could pick the address it is throttled under.
    trusted_proxies: RwLock<Vec<std::net::IpAddr>>,
    /// `--require-operator-second-factor`: operator powers only in sessions
    /// opened with a second factor, even before the operator enrolled.
    require_operator_second_factor: std::sync::atomic::AtomicBool,
    /// The bytes plugin calls in flight hold together, against the
    /// host-wide budget (`runtime::limits::DEFAULT_HOST_CALL_BYTES`).
    pub call_memory: Arc<HostBudget>,
    /// Each coop's cap on plugin calls in flight (its share of the pool),
    /// made when one of its plugins is first loaded.
    instance_gates: RwLock<HashMap<i64, InstanceGate>>,
    /// Where credential verification may fetch an issuer's keys.
    fetch_policy: RwLock<crate::credentials::fetch::FetchPolicy>,
    /// The bearer token Prometheus sends for `/metrics`, hashed (none: only
    /// the host operator reads metrics).
    metrics_token: RwLock<Option<String>>,
}

/// How long a binding read from the database is reused without looking
/// again. Lifecycle changes on this host clear it at once; another host
/// sharing the database sees them within this time.
pub const BINDING_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl App {
    /// A host over `db`.
    pub async fn new(db: Db, clock: SharedClock, engine: Arc<Engine>) -> Result<Arc<App>> {
        let secret = host_secret(&db).await?;
        let audit_db = db.audit_db().await?;
        let audit = crate::audit::Audit::start(audit_db.clone());
        Ok(Arc::new(App {
            db,
            clock,
            engine,
            secret: Arc::new(secret),
            limits: Limits::default(),
            metrics: Default::default(),
            loaded: RwLock::new(HashMap::new()),
            coops: RwLock::new(HashMap::new()),
            recurring_checked_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            bindings: RwLock::new(HashMap::new()),
            public_url: RwLock::new(None),
            data_location: RwLock::new(Default::default()),
            audit,
            audit_db,
            trusted_proxies: RwLock::new(Vec::new()),
            require_operator_second_factor: std::sync::atomic::AtomicBool::new(false),
            call_memory: HostBudget::new(runtime::limits::DEFAULT_HOST_CALL_BYTES),
            instance_gates: RwLock::new(HashMap::new()),
            fetch_policy: RwLock::new(Default::default()),
            metrics_token: RwLock::new(None),
        }))
    }

    /// Set the host's public URL (`https://host.example`, no trailing
    /// slash needed).
    pub fn set_public_url(&self, url: &str) {
        *self.public_url.write().expect("public url poisoned") =
            Some(url.trim_end_matches('/').to_string());
    }

    /// Require a second factor of the host operator (see
    /// [`App::requires_operator_second_factor`]).
    pub fn set_require_operator_second_factor(&self, on: bool) {
        self.require_operator_second_factor
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether operator powers need a session opened with a second factor
    /// even for an operator who has not enrolled one (who then has none
    /// until they do). Without the flag, they need one once enrolled.
    pub fn requires_operator_second_factor(&self) -> bool {
        self.require_operator_second_factor
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Name the reverse proxies whose `X-Forwarded-For` header is believed.
    pub fn set_trusted_proxies(&self, proxies: Vec<std::net::IpAddr>) {
        *self.trusted_proxies.write().expect("proxies poisoned") = proxies;
    }

    /// Let credential verification fetch from these addresses although
    /// they are not public or not on port 80 (`serve --allow-fetch-from`).
    pub fn allow_fetch_from(&self, addrs: Vec<std::net::SocketAddr>) {
        self.fetch_policy
            .write()
            .expect("fetch policy poisoned")
            .allowed = addrs;
    }

    /// Where credential verification may fetch an issuer's keys.
    pub fn fetch_policy(&self) -> crate::credentials::fetch::FetchPolicy {
        self.fetch_policy
            .read()
            .expect("fetch policy poisoned")
            .clone()
    }

    /// Let Prometheus read `/metrics` with this bearer token
    /// (`serve --metrics-token`); `None`: only the host operator may.
    pub fn set_metrics_token(&self, token: Option<&str>) {
        *self.metrics_token.write().expect("metrics token poisoned") =
            token.map(crate::identity::hash_token);
    }

    /// Whether `token` is the metrics token (compared as SHA-256 hashes,
    /// so how long the comparison takes says nothing about the token).
    pub fn is_metrics_token(&self, token: &str) -> bool {
        self.metrics_token
            .read()
            .expect("metrics token poisoned")
            .as_deref()
            .is_some_and(|h| h == crate::identity::hash_token(token))
    }

    /// The client's address (see [`client_ip_behind`]) under this host's
    /// trusted proxies.
    pub fn client_ip(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<std::net::IpAddr> {
        let trusted = self.trusted_proxies.read().expect("proxies poisoned");
        client_ip_behind(&trusted, peer?, forwarded_for)
    }

    /// Say where this host stores data (country and provider), as
    /// published on every coop's transparency page.
    pub fn set_data_location(&self, location: crate::transparency::DataLocation) {
        *self.data_location.write().expect("data location poisoned") = location;
    }

    /// Where this host stores data.
    pub fn data_location(&self) -> crate::transparency::DataLocation {
        self.data_location
            .read()
            .expect("data location poisoned")
            .clone()
    }

    /// The host's public URL, if set.
    pub fn public_url(&self) -> Option<String> {
        self.public_url.read().expect("public url poisoned").clone()
    }

    /// The loaded plugin for an installation id, loading it from the
    /// database (and the compile cache) on first use.
    pub async fn plugin(&self, plugin_id: i64) -> Result<Arc<Loaded>> {
        if let Some(p) = self
            .loaded
            .read()
            .expect("plugin map poisoned")
            .get(&plugin_id)
        {
            return Ok(p.clone());
        }
        let parts = plugins::load_parts(&self.db, plugin_id).await?;
        let ceilings = plugins::ceilings::get(&self.db, parts.coop_id).await?;
        self.ensure_gate(parts.coop_id, ceilings.instances);
        // What the coop chose, then no higher than what the operator allows.
        let limits = self
            .limits
            .with_stored(&parts.limits)
            .map_err(|e| {
                Error::Internal(anyhow::anyhow!(
                    "stored limits of plugin {plugin_id} are invalid: {e}"
                ))
            })?
            .capped(&ceilings.limits);
        let engine = self.engine.clone();
        let manifest = Arc::new(parts.manifest);
        let (sha, bytes) = (parts.sha256, parts.bytes);
        let loaded = tokio::task::spawn_blocking(move || {
            Loaded::new(&engine, plugin_id, manifest, &sha, &bytes)
        })
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .map_err(Error::Internal)?
        .with_policy(Arc::new(parts.grants), limits);
        self.metrics.cache(match loaded.cache {
            runtime::CacheOutcome::Hit => "hit",
            runtime::CacheOutcome::Miss => "miss",
        });
        let loaded = Arc::new(loaded);
        self.loaded
            .write()
            .expect("plugin map poisoned")
            .insert(plugin_id, loaded.clone());
        Ok(loaded)
    }

    /// Run the due scheduler jobs once as `owner` (a name unique to this
    /// host process): make sure every coop's recurring jobs exist, deliver
    /// pending events to subscribing plugins, claim what is due and
    /// dispatch each job by kind. Returns how many jobs ran and events
    /// were delivered.
    pub async fn run_jobs_once(&self, owner: &str) -> Result<usize> {
        let delivered = self.housekeeping().await?;
        let worker = crate::scheduler::Worker::new(&self.db, owner, &*self.clock, JOBS_PER_TICK);
        let ran = crate::scheduler::run_registered(&worker, self, JOB_HANDLERS).await?;
        Ok(ran + delivered)
    }

    /// What the scheduler does besides jobs, every tick: make sure every
    /// coop's recurring jobs exist and purge what expired (once a minute),
    /// and deliver pending events to subscribing plugins. Returns how many
    /// events were delivered.
    async fn housekeeping(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        // Recurring jobs need checking once a minute, not every tick.
        let last = self
            .recurring_checked_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if now.saturating_sub(last) >= RECURRING_CHECK_MS || now < last {
            crate::payments::jobs::ensure_recurring(&self.db, now).await?;
            crate::throttle::purge(&self.db, now).await?;
            crate::identity::login::purge(&self.db, now).await?;
            crate::governance::membership::purge_unverified(&self.db, now).await?;
            crate::mail::purge(&self.db, now).await?;
            crate::plugins::staging::purge(&self.db, now).await?;
            // Another host that stopped uncleanly: its audit gap.
            crate::audit::runs::recover(&self.db, &self.audit_db, &hostname(), now).await?;
            self.recurring_checked_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
        }
        // A pass of deliveries is bounded.
        crate::events::delivery::deliver(self).await
    }

    /// Run the scheduler in the background for as long as the process
    /// lives: a continuous worker claims jobs as its slots free
    /// ([`crate::scheduler::run_continuously`]: no batch to wait for, a
    /// share per coop), and beside it the housekeeping runs every
    /// [`SCHEDULER_TICK`]. Errors are logged and both go on.
    pub fn spawn_scheduler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        let owner = format!(
            "{}:{}:{:08x}",
            hostname(),
            std::process::id(),
            rand::rngs::OsRng.next_u32()
        );
        tokio::spawn(async move {
            let housekeeping = async {
                loop {
                    if let Err(e) = app.housekeeping().await {
                        tracing::warn!(error = %e, "scheduler housekeeping failed");
                    }
                    tokio::time::sleep(SCHEDULER_TICK).await;
                }
            };
            let worker = crate::scheduler::Worker::new(&app.db, &owner, &*app.clock, JOBS_PER_TICK);
            let jobs = crate::scheduler::run_registered_continuously(&worker, &*app, JOB_HANDLERS);
            tokio::join!(housekeeping, jobs);
        })
    }

    /// Load every active plugin of every coop (at start-up, to warm caches).
    pub async fn load_all(&self) -> Result<Vec<Arc<Loaded>>> {
        let ids: Vec<i64> = sqlx::query("SELECT id FROM plugins WHERE active = 1 ORDER BY id")
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = Vec::new();
        for id in ids {
            out.push(self.plugin(id).await?);
        }
        Ok(out)
    }

    /// What a call of `plugin` in `coop` by `actor` may reach.
    pub fn scope(&self, coop: &Coop, plugin: &Loaded, actor: Actor) -> CallScope {
        CallScope {
            db: self.db.clone(),
            clock: self.clock.clone(),
            secret: self.secret.clone(),
            coop_slug: coop.slug.clone(),
            plugin: plugin.name.clone(),
            manifest: plugin.manifest.clone(),
            actor,
            limits: plugin.limits,
            grants: plugin.grants.clone(),
            call_memory: self.call_memory.clone(),
            instances: Some(self.gate(coop.id)),
            job: None,
        }
    }

    /// Coop `coop_id`'s cap on calls in flight (the default share until
    /// one of its plugins is loaded).
    fn gate(&self, coop_id: i64) -> InstanceGate {
        if let Some(g) = self
            .instance_gates
            .read()
            .expect("gates poisoned")
            .get(&coop_id)
        {
            return g.clone();
        }
        self.ensure_gate(coop_id, runtime::DEFAULT_COOP_INSTANCES)
    }

    /// Make sure coop `coop_id` has a gate of `size` slots. A new size
    /// takes a new gate: calls already in flight finish on the old one.
    fn ensure_gate(&self, coop_id: i64, size: u32) -> InstanceGate {
        let mut gates = self.instance_gates.write().expect("gates poisoned");
        match gates.get(&coop_id) {
            Some(g) if g.size == size => g.clone(),
            _ => {
                let g = InstanceGate::new(size);
                gates.insert(coop_id, g.clone());
                g
            }
        }
    }

    /// Plugin calls of coop `coop_id` in flight on this host now.
    pub fn calls_in_flight(&self, coop_id: i64) -> usize {
        self.instance_gates
            .read()
            .expect("gates poisoned")
            .get(&coop_id)
            .map_or(0, InstanceGate::in_flight)
    }

    /// Set what the host operator allows coop `coop`
    /// ([`plugins::ceilings::set`]): its plugins are reloaded under the
    /// new ceilings and its share of the pool changes at once on this host
    /// (other hosts sharing the database apply it as they reload the
    /// coop's plugins). Recorded in the coop's decision log.
    pub async fn set_ceilings(
        &self,
        coop: &Coop,
        set: &Value,
        by: &Actor,
    ) -> Result<plugins::ceilings::CoopCeilings> {
        let now = self.clock.now_ms();
        let ceilings = plugins::ceilings::set(&self.db, coop.id, set, now).await?;
        self.ensure_gate(coop.id, ceilings.instances);
        let ids: Vec<i64> = sqlx::query("SELECT id FROM plugins WHERE coop_id = $1")
            .bind(coop.id)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for id in ids {
            self.unload(id);
        }
        crate::governance::proposals::record_direct(
            &self.db,
            coop.id,
            by,
            crate::governance::rules::Kind::Plugin,
            serde_json::json!({"limit-ceilings": ceilings.set, "by": "host operator"}),
            now,
        )
        .await?;
        Ok(ceilings)
    }

    /// Forget loaded plugins so the next call reloads them (after an
    /// upgrade or a change of grants or limits).
    pub fn unload(&self, plugin_id: i64) {
        self.loaded
            .write()
            .expect("plugin map poisoned")
            .remove(&plugin_id);
    }

    /// The coop with this slug, from memory after the first lookup.
    pub async fn coop(&self, slug: &str) -> Result<Coop> {
        if let Some(c) = self.coops.read().expect("coop map poisoned").get(slug) {
            return Ok(c.clone());
        }
        let coop = crate::identity::find_coop(&self.db, slug).await?;
        self.coops
            .write()
            .expect("coop map poisoned")
            .insert(slug.to_string(), coop.clone());
        Ok(coop)
    }

    /// The installation serving `interface` in coop `coop_id`, reusing a
    /// lookup younger than [`BINDING_TTL`].
    pub async fn bound_plugin(&self, coop_id: i64, interface: &str) -> Result<i64> {
        let key = (coop_id, interface.to_string());
        if let Some((id, at)) = self
            .bindings
            .read()
            .expect("binding map poisoned")
            .get(&key)
            && at.elapsed() < BINDING_TTL
        {
            return Ok(*id);
        }
        let id = plugins::bound_plugin(&self.db, coop_id, interface).await?;
        self.bindings
            .write()
            .expect("binding map poisoned")
            .insert(key, (id, std::time::Instant::now()));
        Ok(id)
    }

    /// Forget the bindings read for `coop_id` (after an install, upgrade,
    /// rollback or removal on this host).
    pub fn forget_bindings(&self, coop_id: i64) {
        self.bindings
            .write()
            .expect("binding map poisoned")
            .retain(|(c, _), _| *c != coop_id);
    }

    /// Call `function` of `interface` (unversioned, e.g.
    /// `coop:examples/shift-board`) as bound in `coop`, as `actor`.
    ///
    /// The manifest's access rules are enforced before anything is
    /// instantiated.
    ///
    /// Every call is audited, whatever its outcome (see [`crate::audit`]).
    pub async fn call(
        &self,
        coop: &Coop,
        actor: Actor,
        interface: &str,
        function: &str,
        args: &Value,
    ) -> Result<Value, CallFailure> {
        let started = std::time::Instant::now();
        let caller = if actor.member_id.is_some() {
            "member"
        } else if actor.service_key.is_some() {
            "service"
        } else if actor.operator {
            "host"
        } else {
            "anonymous"
        };
        let member = actor.member_id;
        let mut plugin_name = None;
        let result = self
            .call_unaudited(coop, actor, interface, function, args, &mut plugin_name)
            .await;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(CallFailure::Call(e)) => e.label().to_string(),
            Err(CallFailure::Service(e)) => e.code().to_string(),
        };
        self.audit_call(crate::audit::Call {
            coop_id: coop.id,
            plugin: plugin_name.as_deref(),
            interface,
            function,
            outcome: &outcome,
            started,
            caller,
            member_id: member,
        });
        result
    }

    /// Audit a plugin call: a client's (from [`App::call`]) or the host's
    /// own (an event delivery, a timer; caller `host`).
    pub fn audit_call(&self, c: crate::audit::Call<'_>) {
        self.audit.record(crate::audit::Item {
            coop_id: c.coop_id,
            kind: "plugin.call".into(),
            body: serde_json::json!({
                "plugin": c.plugin,
                "interface": c.interface,
                "function": c.function,
                "outcome": c.outcome,
                "duration_us": u64::try_from(c.started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "caller": c.caller,
            }),
            member_id: c.member_id,
            at: self.clock.now_ms(),
        });
    }

    /// Audit an admin's or the operator's read of a member's data (a
    /// member's own reads are not). Such a record is never dropped from a
    /// full queue ([`crate::audit::KEPT_KINDS`]); when it cannot be
    /// recorded at all the error says so, and the read must not be served.
    pub async fn audit_access(
        &self,
        actor: &Actor,
        member: i64,
        what: &str,
        now: i64,
    ) -> Result<()> {
        if actor.member_id == Some(member) && !actor.operator {
            return Ok(());
        }
        self.audit
            .record_kept(crate::audit::Item {
                coop_id: actor.coop_id,
                kind: "data.access".into(),
                body: serde_json::json!({"what": what, "reader": actor.member_id, "operator": actor.operator}),
                member_id: Some(member),
                at: now,
            })
            .await
    }

    /// Wait until every audit item queued so far is written.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }

    async fn call_unaudited(
        &self,
        coop: &Coop,
        actor: Actor,
        interface: &str,
        function: &str,
        args: &Value,
        plugin_name: &mut Option<String>,
    ) -> Result<Value, CallFailure> {
        let plugin_id = self.bound_plugin(coop.id, interface).await?;
        let plugin = self.plugin(plugin_id).await?;
        *plugin_name = Some(plugin.name.clone());
        if !plugin.has_function(interface, function) {
            return Err(
                Error::NotFound(format!("{interface} has no function {function:?}")).into(),
            );
        }
        check_access(&plugin, &actor, interface, function)?;
        let mut scope = self.scope(coop, &plugin, actor);
        // A client finds the coop's slots full at once (a retryable 503)
        // rather than queueing behind the coop's own load.
        if let Some(gate) = &mut scope.instances {
            gate.wait = false;
        }
        let span = tracing::info_span!("plugin_call", coop = %coop.slug, plugin = %plugin.name, %interface, %function);
        let started = std::time::Instant::now();
        let (result, timings) =
            runtime::call_timed(&self.engine, &plugin, scope, interface, function, args)
                .instrument(span)
                .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        self.metrics.call(
            &coop.slug,
            &plugin.name,
            outcome,
            started.elapsed(),
            &timings,
        );
        if let Err(e) = &result
            && e.is_limit()
        {
            self.metrics.limit_hit(&coop.slug, &plugin.name, e.label());
        }
        result.map_err(CallFailure::Call)
    }
}

/// A failed call: refused by the host before running, or failed in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// Refused (unknown interface, access denied...).
    #[error(transparent)]
    Service(#[from] Error),
    /// Failed while running.
    #[error(transparent)]
    Call(CallError),
}

/// Enforce the manifest's `[access]` table: unlisted functions are for
/// admins only; `anyone` opens a function to callers who are not logged in.
fn check_access(plugin: &Loaded, actor: &Actor, interface: &str, function: &str) -> Result<()> {
    let short = plugins::short_name(interface);
    let admins = ["admin".to_string()];
    let allowed = plugin
        .manifest
        .roles_for(short, function)
        .unwrap_or(&admins);
    if allowed.iter().any(|r| r == ANYONE) || allowed.iter().any(|r| actor.has_role(r)) {
        return Ok(());
    }
    if actor.member_id.is_none() && actor.service_key.is_none() && !actor.operator {
        return Err(Error::Unauthenticated(format!(
            "log in to call {short}.{function}: it is open to {}",
            allowed.join(", ")
        )));
    }
    let have = if actor.roles.is_empty() {
        "no role".to_string()
    } else {
        format!("role {}", actor.roles.join(", "))
    };
    Err(Error::Forbidden(format!(
        "{short}.{function} is open to {}; you have {have}",
        allowed.join(", ")
    )))
}

/// The client's address: the TCP peer, unless that peer is a trusted
/// proxy, in which case the last address in `X-Forwarded-For` that is not
/// itself a trusted proxy (entries before it are the client's own claims,
/// which anyone can forge).
pub fn client_ip_behind(
    trusted: &[std::net::IpAddr],
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
) -> Option<std::net::IpAddr> {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return Some(client);
    }
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    Some(client)
}

/// The host secret, created on first start and shared through the database.
async fn host_secret(db: &Db) -> Result<Vec<u8>> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    sqlx::query("INSERT INTO host_settings (name, value) VALUES ('pseudonym_key', $1) ON CONFLICT (name) DO NOTHING")
        .bind(hex::encode(fresh))
        .execute(&db.pool)
        .await?;
    let value: String = sqlx::query("SELECT value FROM host_settings WHERE name = 'pseudonym_key'")
        .fetch_one(&db.pool)
        .await?
        .get(0);
    hex::decode(value).map_err(|e| Error::Internal(anyhow::anyhow!("corrupt host secret: {e}")))
}

#[cfg(test)]
mod tests {
    use super::client_ip_behind;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy = [ip("10.0.0.1")];
        // A client that forges the header is throttled by its own address.
        assert_eq!(
            client_ip_behind(&proxy, ip("203.0.113.9"), Some("198.51.100.1")),
            Some(ip("203.0.113.9"))
        );
        // Behind the proxy, the last hop the proxy added is the client;
        // what the client put before it is ignored.
        assert_eq!(
            client_ip_behind(&proxy, ip("10.0.0.1"), Some("198.51.100.1, 203.0.113.9")),
            Some(ip("203.0.113.9"))
        );
        // Chained trusted proxies are skipped.
        let two = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_ip_behind(&two, ip("10.0.0.1"), Some("203.0.113.9, 10.0.0.2")),
            Some(ip("203.0.113.9"))
        );
        // A garbled header leaves the proxy's own address.
        assert_eq!(
            client_ip_behind(&proxy, ip("10.0.0.1"), Some("not an address")),
            Some(ip("10.0.0.1"))
        );
    }
}
