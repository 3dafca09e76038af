//! The thin WIT implementations of `coop:host`: each checks its input, then
//! calls the service's plain Rust API, scoped to the (coop, plugin, caller)
//! the host fixed for this call (DESIGN invariant 2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{CallHook, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::Error as ServiceError;
use crate::events::{self, PendingEvent};
use crate::identity::{self, Actor};
use crate::plugins::manifest::Manifest;
use crate::store::CallTx;

wasmtime::component::bindgen!({
    world: "coop:host/plugin",
    path: "../wit/host",
    imports: { default: async | trappable },
});

use coop::host::types::Error as WitError;
use coop::host::{
    activity as wit_activity, config, events as wit_events, identity as wit_identity, log,
    membership, moderation as wit_moderation, payments as wit_payments, ratings as wit_ratings,
    shifts as wit_shifts, store, timers as wit_timers, types,
};

use super::limits::{CallBytes, HostBudget, ITEM_BYTES, LimitHit, Limits, MemoryLimiter};

/// A host function of an interface the coop did not grant was called, in
/// a function with no error channel: the call fails with 403.
#[derive(Debug, thiserror::Error)]
#[error("the coop did not grant this plugin coop:host/{0}")]
pub struct CapabilityDenied(pub &'static str);

/// What the services need to serve one call, fixed by the host.
#[derive(Clone)]
pub struct CallScope {
    /// The database.
    pub db: Db,
    /// The host's clock.
    pub clock: SharedClock,
    /// Key for per-plugin member ids.
    pub secret: Arc<Vec<u8>>,
    /// The coop's slug.
    pub coop_slug: String,
    /// The plugin's name (its store namespace).
    pub plugin: String,
    /// The plugin's manifest (config declarations).
    pub manifest: Arc<Manifest>,
    /// Who is calling.
    pub actor: Actor,
    /// Limits of this call.
    pub limits: Limits,
    /// The `coop:host` interfaces the coop granted (short names).
    pub grants: Arc<Vec<String>>,
    /// The host-wide budget of bytes calls in flight may hold; this call
    /// counts what it reads and buffers against it and `limits.call_bytes`.
    pub call_memory: Arc<HostBudget>,
    /// The coop's cap on calls in flight, when it has one (see
    /// [`super::InstanceGate`]).
    pub instances: Option<super::InstanceGate>,
    /// The scheduler job this call runs (a timer), completed in the call's
    /// own commit so that its effects commit at most once.
    pub job: Option<crate::scheduler::JobClaim>,
}

/// Per-call store state.
pub struct CallState {
    /// Built on the guest's first WASI call: most calls make none, and
    /// building it (clocks, random sources, stdio) is a measurable part of
    /// a trivial call.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub(super) memory: MemoryLimiter,
    pub(super) scope: CallScope,
    pub(super) tx: CallTx,
    pub(super) events: Vec<PendingEvent>,
    /// Ledger transactions the call asked for, posted at commit.
    pub(super) ledger: Vec<crate::payments::LedgerWrite>,
    /// Timers the call set or cancelled, applied at commit.
    pub(super) timers: Vec<crate::plugins::timers::TimerOp>,
    /// Ratings the call recorded, written at commit.
    pub(super) ratings: Vec<crate::ratings::PendingRating>,
    /// Activity the call counted, written at commit.
    pub(super) activity: Vec<crate::opendata::PendingCount>,
    /// Consent decisions read in this call: (member, category) -> given.
    consents: Vec<((i64, String), bool)>,
    /// Flags the call raised, recorded at commit.
    pub(super) flags: Vec<crate::moderation::flags::PendingFlag>,
    /// Bytes the call read and buffered so far; given back to the host's
    /// budget when the state is dropped, however the call ended.
    pub(super) bytes: CallBytes,
    /// The plugin's and its coop's pending timers, and the coop's
    /// ceiling, when the call first set one (read once per call; commit
    /// checks again).
    timers_pending: Option<crate::plugins::timers::Room>,
    caller_pseudo: Option<Option<String>>,
    log_bytes: u64,
    host_calls: u64,
    /// When the guest last called into the host (a host function or a
    /// runtime libcall), while it is in there.
    host_entered: Option<Instant>,
    /// How deeply host calls nest now (0: the guest, or not running).
    host_depth: u32,
    /// Time spent in the host during the call, awaits included.
    pub(super) host_time: Duration,
}

impl CallState {
    /// Fresh state for one call. Its deny-by-default WASI context is built
    /// when the guest first uses WASI (see [`guest_wasi`]). The guest's
    /// wall clock is the host's clock, so a plugin's "now" (a quote's
    /// expiry, say) is the host's, settable in tests.
    pub fn new(scope: CallScope) -> Self {
        CallState {
            wasi: None,
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(scope.limits.memory_bytes),
            tx: CallTx::new(scope.actor.coop_id, &scope.plugin),
            bytes: CallBytes::new(
                scope.call_memory.clone(),
                scope.actor.coop_id,
                scope.limits.call_bytes,
            ),
            scope,
            events: Vec::new(),
            ledger: Vec::new(),
            timers: Vec::new(),
            ratings: Vec::new(),
            activity: Vec::new(),
            flags: Vec::new(),
            consents: Vec::new(),
            timers_pending: None,
            caller_pseudo: None,
            log_bytes: 0,
            host_calls: 0,
            host_entered: None,
            host_depth: 0,
            host_time: Duration::ZERO,
        }
    }

    /// The store's call hook: adds up the time the guest spends in host
    /// functions and in the runtime's libcalls that can fail (memory
    /// growth, the epoch yield), awaits included. Calls nest: a host
    /// function that hands the guest a string calls the guest's allocator,
    /// which may grow memory; only the outermost one is timed, and the
    /// guest code it calls back counts as part of it. Set on every call's
    /// store; it reads the clock only when the guest enters or leaves the
    /// host.
    pub(super) fn on_transition(&mut self, hook: CallHook) -> wasmtime::Result<()> {
        match hook {
            CallHook::CallingHost => {
                if self.host_depth == 0 {
                    self.host_entered = Some(Instant::now());
                }
                self.host_depth += 1;
            }
            CallHook::ReturningFromHost => {
                self.host_depth = self.host_depth.saturating_sub(1);
                if self.host_depth == 0
                    && let Some(entered) = self.host_entered.take()
                {
                    self.host_time += entered.elapsed();
                }
            }
            CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
        }
        Ok(())
    }

    /// Time in the host so far, counting a host call still in progress
    /// (one a deadline cut short).
    pub(super) fn host_time_so_far(&self) -> Duration {
        self.host_time + self.host_entered.map_or(Duration::ZERO, |e| e.elapsed())
    }

    pub(super) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// Count a host call against the limit (a trap past it) and check the
    /// coop granted `iface` (`access-denied` if not), before any I/O.
    fn gate(&mut self, iface: &'static str) -> wasmtime::Result<Result<(), WitError>> {
        self.host_calls += 1;
        if self.host_calls > self.scope.limits.host_calls {
            return Err(wasmtime::Error::new(LimitHit::HostCalls));
        }
        if !self.scope.grants.iter().any(|g| g == iface) {
            return Ok(Err(WitError::AccessDenied(format!(
                "the coop did not grant this plugin coop:host/{iface}"
            ))));
        }
        Ok(Ok(()))
    }

    /// Count `n` bytes the call reads or buffers; past its `call_bytes`,
    /// or past what the host has left for calls in flight, the call stops
    /// with that limit's error (nothing it buffered is kept).
    fn charge(&mut self, n: u64) -> wasmtime::Result<()> {
        self.bytes.charge(n).map_err(wasmtime::Error::new)
    }

    /// [`Self::gate`] for functions without an error channel: an ungranted
    /// interface fails the whole call.
    fn gate_or_trap(&mut self, iface: &'static str) -> wasmtime::Result<()> {
        match self.gate(iface)? {
            Ok(()) => Ok(()),
            Err(_) => Err(wasmtime::Error::new(CapabilityDenied(iface))),
        }
    }

    /// The caller's id as this plugin sees it.
    async fn caller_pseudo(&mut self) -> wasmtime::Result<Option<String>> {
        if let Some(p) = &self.caller_pseudo {
            return Ok(p.clone());
        }
        let s = self.scope.clone();
        let p = match (s.actor.member_id, s.actor.service_key) {
            (Some(m), _) => Some(
                identity::pseudonym_for_member(&s.db, &s.secret, s.actor.coop_id, &s.plugin, m)
                    .await
                    .map_err(wasmtime::Error::new)?,
            ),
            (None, Some(k)) => Some(identity::pseudonym_for_service(
                &s.secret,
                s.actor.coop_id,
                &s.plugin,
                k,
            )),
            _ => None,
        };
        self.caller_pseudo = Some(p.clone());
        Ok(p)
    }
}

/// The host's clock as the guest's WASI wall clock, to the millisecond.
struct GuestWallClock(SharedClock);

impl wasmtime_wasi::HostWallClock for GuestWallClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }

    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

impl CallState {
    /// Whether `member_id` consented to `category` of this plugin, read
    /// once per call.
    async fn consented(&mut self, member_id: i64, category: &str) -> wasmtime::Result<bool> {
        if let Some((_, given)) = self
            .consents
            .iter()
            .find(|((m, c), _)| *m == member_id && c == category)
        {
            return Ok(*given);
        }
        let s = self.scope.clone();
        let given = crate::consent::has(&s.db, s.actor.coop_id, member_id, &s.plugin, category)
            .await
            .map_err(wasmtime::Error::new)?;
        self.consents
            .push(((member_id, category.to_string()), given));
        Ok(given)
    }

    /// Whether the host may give this plugin `category` data about
    /// `member_id` (for example their shift): not when the plugin declares
    /// the category on the basis of consent and the member has not given it.
    async fn data_read_allowed(
        &mut self,
        category: &str,
        member_id: i64,
        pseudo: &str,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let s = self.scope.clone();
        let Some(declared) = s.manifest.data.get(category) else {
            return Ok(Ok(()));
        };
        if declared.basis == crate::consent::Basis::Consent
            && !self.consented(member_id, category).await?
        {
            return Ok(Err(WitError::AccessDenied(format!(
                "member {pseudo} has not consented to {category} data for {}: {} (members decide at /v1/coops/{}/me/consents)",
                s.plugin, declared.purpose, s.coop_slug
            ))));
        }
        Ok(Ok(()))
    }

    /// Whether a record under `key` tagged with `member` may be written:
    /// a consent category needs the member's consent, and location data
    /// about a worker needs their open shift.
    async fn data_write_allowed(
        &mut self,
        key: &str,
        member: Option<&str>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let s = self.scope.clone();
        let (Some((name, category)), Some(pseudo)) =
            (crate::consent::category_of(&s.manifest.data, key), member)
        else {
            return Ok(Ok(()));
        };
        // An unknown tag is refused by the write itself.
        let Some(member_id) = resolve_member(&s, pseudo).await? else {
            return Ok(Ok(()));
        };
        if category.basis == crate::consent::Basis::Consent
            && !self.consented(member_id, name).await?
        {
            return Ok(Err(WitError::AccessDenied(format!(
                "member {pseudo} has not consented to {name} data for {}: {} (members decide at /v1/coops/{}/me/consents)",
                s.plugin, category.purpose, s.coop_slug
            ))));
        }
        if name == "location" {
            let is_worker = identity::get_member(&s.db, s.actor.coop_id, member_id)
                .await
                .map(|m| m.roles.iter().any(|r| r == "worker"))
                .map_err(wasmtime::Error::new)?;
            let on_shift = crate::shifts::current(&s.db, s.actor.coop_id, member_id)
                .await
                .map_err(wasmtime::Error::new)?
                .is_some();
            if is_worker && !on_shift {
                return Ok(Err(WitError::AccessDenied(
                    "location data about a worker is refused outside their open shift".into(),
                )));
            }
        }
        Ok(Ok(()))
    }

    /// Whether a stored record may be shown to the plugin: not when it is
    /// in a consent category and its member has not consented.
    async fn data_visible(&mut self, e: &crate::store::Entry) -> wasmtime::Result<bool> {
        let s = self.scope.clone();
        let (Some((name, category)), Some(pseudo)) = (
            crate::consent::category_of(&s.manifest.data, &e.key),
            e.member_pseudo.as_deref(),
        ) else {
            return Ok(true);
        };
        if category.basis != crate::consent::Basis::Consent {
            return Ok(true);
        }
        let Some(member_id) = resolve_member(&s, pseudo).await? else {
            return Ok(true);
        };
        self.consented(member_id, name).await
    }
}

/// Map a member id the plugin gave back to the member.
async fn resolve_member(s: &CallScope, pseudo: &str) -> wasmtime::Result<Option<i64>> {
    identity::member_for_pseudonym(&s.db, s.actor.coop_id, &s.plugin, pseudo)
        .await
        .map_err(wasmtime::Error::new)
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let clock = &self.scope.clock;
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| guest_wasi(clock)),
            table: &mut self.table,
        }
    }
}

/// The WASI context every call gets: no arguments, no environment, no
/// preopened directories, stdin empty, stdout and stderr discarded, every
/// socket address refused, no name lookup, and the host's wall clock.
fn guest_wasi(clock: &SharedClock) -> WasiCtx {
    let mut wasi = WasiCtx::builder();
    wasi.wall_clock(GuestWallClock(clock.clone()));
    wasi.build()
}

/// A service error as the WIT `error` a plugin sees; database failures
/// become a trap-free `internal` with no detail (details go to the log).
fn to_wit(e: ServiceError) -> WitError {
    match e {
        ServiceError::BadRequest(m) | ServiceError::Invalid(m) => WitError::Invalid(m),
        ServiceError::Unauthenticated(m) | ServiceError::Forbidden(m) => WitError::AccessDenied(m),
        ServiceError::NotFound(m) => WitError::NotFound(m),
        ServiceError::Conflict(m) => WitError::Conflict(m),
        ServiceError::TooManyRequests { message, .. } => WitError::QuotaExceeded(message),
        ServiceError::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "host function failed");
            WitError::Internal("the host failed to complete this operation".into())
        }
    }
}

/// Add WASI (deny-by-default context) and `coop:host` to a linker.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Plugin::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    Ok(())
}

impl types::Host for CallState {}

impl wit_identity::Host for CallState {
    async fn caller(&mut self) -> wasmtime::Result<wit_identity::CallerInfo> {
        self.gate_or_trap("identity")?;
        let member = self.caller_pseudo().await?;
        let a = &self.scope.actor;
        let kind = if a.member_id.is_some() {
            wit_identity::CallerKind::Member
        } else if a.service_key.is_some() {
            wit_identity::CallerKind::Service
        } else if a.operator {
            wit_identity::CallerKind::Host
        } else {
            wit_identity::CallerKind::Anonymous
        };
        Ok(wit_identity::CallerInfo {
            kind,
            member,
            roles: a.roles.clone(),
            college: a.college.clone(),
        })
    }

    async fn coop(&mut self) -> wasmtime::Result<String> {
        self.gate_or_trap("identity")?;
        Ok(self.scope.coop_slug.clone())
    }
}

fn member_status(s: &str) -> membership::MemberStatus {
    match s {
        "suspended" => membership::MemberStatus::Suspended,
        // A member the coop removed no longer belongs to it, like one who
        // left; why is between the member and the coop, not the plugin's.
        "left" | "removed" => membership::MemberStatus::Left,
        _ => membership::MemberStatus::Active,
    }
}

impl membership::Host for CallState {
    async fn get(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Result<Option<membership::Member>, WitError>> {
        if let Err(e) = self.gate("membership")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let Some(member_id) = resolve_member(&s, &id).await? else {
            return Ok(Ok(None));
        };
        match identity::get_member(&s.db, s.actor.coop_id, member_id).await {
            Ok(m) => Ok(Ok(Some(membership::Member {
                id,
                roles: m.roles,
                college: m.college,
                status: member_status(&m.status),
                joined_at: m.joined_at as u64,
            }))),
            Err(ServiceError::NotFound(_)) => Ok(Ok(None)),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }

    async fn list(
        &mut self,
        role: Option<String>,
    ) -> wasmtime::Result<Result<Vec<membership::Member>, WitError>> {
        if let Err(e) = self.gate("membership")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let members =
            members_to_wit(&s, |m| role.as_ref().is_none_or(|r| m.roles.contains(r))).await;
        self.charge_members(&members)?;
        Ok(members)
    }

    async fn in_college(
        &mut self,
        college: String,
        status: Option<membership::MemberStatus>,
    ) -> wasmtime::Result<Result<Vec<membership::Member>, WitError>> {
        if let Err(e) = self.gate("membership")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let members = members_to_wit(&s, |m| {
            m.college.as_deref() == Some(college.as_str())
                && status.is_none_or(|want| want == member_status(&m.status))
        })
        .await;
        self.charge_members(&members)?;
        Ok(members)
    }
}

impl CallState {
    /// Count a list of members read like any other read.
    fn charge_members(
        &mut self,
        members: &Result<Vec<membership::Member>, WitError>,
    ) -> wasmtime::Result<()> {
        let Ok(list) = members else { return Ok(()) };
        let size: u64 = list
            .iter()
            .map(|m| {
                (m.id.len()
                    + m.roles.iter().map(String::len).sum::<usize>()
                    + m.college.as_ref().map_or(0, String::len)) as u64
                    + ITEM_BYTES
            })
            .sum();
        self.charge(size)
    }
}

/// The coop's members that `keep` accepts, as the calling plugin sees them
/// (its pseudonymous ids), in the host's stable order.
async fn members_to_wit(
    s: &CallScope,
    keep: impl Fn(&identity::Member) -> bool,
) -> Result<Vec<membership::Member>, WitError> {
    let members = identity::list_members(&s.db, s.actor.coop_id)
        .await
        .map_err(to_wit)?;
    let mut out = Vec::new();
    for m in members.into_iter().filter(|m| keep(m)) {
        let id = identity::pseudonym_for_member(&s.db, &s.secret, s.actor.coop_id, &s.plugin, m.id)
            .await
            .map_err(to_wit)?;
        out.push(membership::Member {
            id,
            status: member_status(&m.status),
            roles: m.roles,
            college: m.college,
            joined_at: m.joined_at as u64,
        });
    }
    Ok(out)
}

impl wit_timers::Host for CallState {
    async fn set(&mut self, at: u64, payload: String) -> wasmtime::Result<Result<u64, WitError>> {
        use crate::plugins::timers::{MAX_TIMER_PAYLOAD, Room, TimerOp};
        if let Err(e) = self.gate("timers")? {
            return Ok(Err(e));
        }
        if payload.len() > MAX_TIMER_PAYLOAD {
            return Ok(Err(WitError::Invalid(format!(
                "timer payload is {} bytes; the most is {MAX_TIMER_PAYLOAD}",
                payload.len()
            ))));
        }
        let room = match self.timers_pending {
            Some(room) => room,
            None => {
                let s = self.scope.clone();
                let read = match s.db.pool.acquire().await {
                    Ok(mut conn) => Room::read(&mut conn, s.actor.coop_id, &s.plugin).await,
                    Err(e) => Err(e.into()),
                };
                match read {
                    Ok(room) => *self.timers_pending.insert(room),
                    Err(e) => return Ok(Err(to_wit(e))),
                }
            }
        };
        let buffered = self
            .timers
            .iter()
            .filter(|t| matches!(t, TimerOp::Set { .. }))
            .count() as i64;
        if let Some(why) = room.refuse(buffered + 1) {
            return Ok(Err(WitError::QuotaExceeded(why)));
        }
        self.charge(payload.len() as u64 + ITEM_BYTES)?;
        // Ids are random, below 2^53 so JSON clients keep them exact.
        let id = (rand::random::<u64>() >> 11).max(1);
        self.timers.push(TimerOp::Set {
            id,
            at: i64::try_from(at).unwrap_or(i64::MAX),
            payload,
        });
        Ok(Ok(id))
    }

    async fn cancel(&mut self, id: u64) -> wasmtime::Result<Result<bool, WitError>> {
        use crate::plugins::timers::{self, TimerOp};
        if let Err(e) = self.gate("timers")? {
            return Ok(Err(e));
        }
        if let Some(i) = self
            .timers
            .iter()
            .position(|t| matches!(t, TimerOp::Set { id: x, .. } if *x == id))
        {
            self.timers.remove(i);
            return Ok(Ok(true));
        }
        let s = self.scope.clone();
        match timers::is_pending(&s.db, s.actor.coop_id, &s.plugin, id).await {
            Ok(true) => {
                self.charge(ITEM_BYTES)?;
                self.timers.push(TimerOp::Cancel { id });
                Ok(Ok(true))
            }
            Ok(false) => Ok(Ok(false)),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}

fn entry_to_wit(e: crate::store::Entry) -> store::Entry {
    store::Entry {
        key: e.key,
        value: e.value,
        version: e.version as u64,
        member: e.member_pseudo,
    }
}

/// Resolve the member tag a plugin gave for a record.
async fn member_tag(
    s: &CallScope,
    member: Option<String>,
) -> wasmtime::Result<Result<Option<(String, i64)>, WitError>> {
    let Some(p) = member else { return Ok(Ok(None)) };
    match resolve_member(s, &p).await? {
        Some(id) => Ok(Ok(Some((p, id)))),
        None => Ok(Err(WitError::Invalid(format!(
            "member {p:?} is not a member id this plugin was given"
        )))),
    }
}

impl CallState {
    async fn write(
        &mut self,
        key: String,
        value: Option<Vec<u8>>,
        expected: Option<Option<i64>>,
        member: Option<String>,
    ) -> wasmtime::Result<Result<Option<i64>, WitError>> {
        let scope = self.scope.clone();
        let tag = match member_tag(&scope, member).await? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .tx
            .put(&scope.db, &key, value, expected, tag)
            .await
            .map_err(to_wit))
    }
}

fn version_arg(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl store::Host for CallState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<store::Entry>, WitError>> {
        if let Err(e) = self.gate("store")? {
            return Ok(Err(e));
        }
        let db = self.scope.db.clone();
        let entry = match self.tx.get(&db, &key).await {
            Ok(e) => e,
            Err(e) => return Ok(Err(to_wit(e))),
        };
        if let Some(e) = &entry {
            self.charge((e.key.len() + e.value.len()) as u64)?;
        }
        match entry {
            // A record the member withdrew (or never gave) consent for is
            // invisible.
            Some(e) if !self.data_visible(&e).await? => Ok(Ok(None)),
            other => Ok(Ok(other.map(entry_to_wit))),
        }
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        member: Option<String>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        if let Err(e) = self.gate("store")? {
            return Ok(Err(e));
        }
        if let Err(e) = self.data_write_allowed(&key, member.as_deref()).await? {
            return Ok(Err(e));
        }
        self.charge((key.len() + value.len()) as u64)?;
        Ok(self
            .write(key, Some(value), None, member)
            .await?
            .map(|v| v.unwrap_or(0) as u64))
    }

    async fn swap(
        &mut self,
        key: String,
        expected: Option<u64>,
        value: Vec<u8>,
        member: Option<String>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        if let Err(e) = self.gate("store")? {
            return Ok(Err(e));
        }
        if let Err(e) = self.data_write_allowed(&key, member.as_deref()).await? {
            return Ok(Err(e));
        }
        self.charge((key.len() + value.len()) as u64)?;
        Ok(self
            .write(key, Some(value), Some(version_arg(expected)), member)
            .await?
            .map(|v| v.unwrap_or(0) as u64))
    }

    async fn delete(
        &mut self,
        key: String,
        expected: Option<u64>,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        if let Err(e) = self.gate("store")? {
            return Ok(Err(e));
        }
        let expected = expected.map(|v| Some(i64::try_from(v).unwrap_or(i64::MAX)));
        self.charge(key.len() as u64 + ITEM_BYTES)?;
        Ok(self
            .write(key, None, expected, None)
            .await?
            .map(|v| v.is_some()))
    }

    async fn scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<store::Entry>, WitError>> {
        if let Err(e) = self.gate("store")? {
            return Ok(Err(e));
        }
        let db = self.scope.db.clone();
        let mut refused = None;
        let bytes = &mut self.bytes;
        let mut charge = |n: u64| match bytes.charge(n) {
            Ok(()) => true,
            Err(hit) => {
                refused = Some(hit);
                false
            }
        };
        let scanned = self
            .tx
            .scan(&db, &prefix, start_after.as_deref(), limit, &mut charge)
            .await;
        let entries = match scanned {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(wasmtime::Error::new(refused.unwrap_or(LimitHit::CallBytes)));
            }
            Err(e) => return Ok(Err(to_wit(e))),
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if self.data_visible(&e).await? {
                out.push(entry_to_wit(e));
            }
        }
        Ok(Ok(out))
    }
}

impl config::Host for CallState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, WitError>> {
        if let Err(e) = self.gate("config")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        if !s.manifest.config.contains_key(&name) {
            return Ok(Ok(None));
        }
        match crate::plugins::config_values(&s.db, s.actor.coop_id, &s.manifest).await {
            Ok(values) => Ok(Ok(values.get(&name).map(|v| v.to_string()))),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, WitError>> {
        if let Err(e) = self.gate("config")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        match crate::plugins::config_values(&s.db, s.actor.coop_id, &s.manifest).await {
            Ok(values) => Ok(Ok(values
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect())),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}

impl wit_events::Host for CallState {
    async fn emit(
        &mut self,
        topic: String,
        payload: String,
        to: Option<String>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.gate("events")? {
            return Ok(Err(e));
        }
        if self.events.len() >= events::MAX_EVENTS_PER_CALL {
            return Ok(Err(WitError::QuotaExceeded(format!(
                "a call may emit at most {} events",
                events::MAX_EVENTS_PER_CALL
            ))));
        }
        if let Err(e) = events::check(&topic, &payload) {
            return Ok(Err(to_wit(e)));
        }
        let member_id = match to {
            None => None,
            Some(p) => match resolve_member(&self.scope.clone(), &p).await? {
                Some(id) => Some(id),
                None => {
                    return Ok(Err(WitError::Invalid(format!(
                        "member {p:?} is not a member id this plugin was given"
                    ))));
                }
            },
        };
        self.charge((topic.len() + payload.len()) as u64 + ITEM_BYTES)?;
        self.events.push(PendingEvent {
            topic,
            payload,
            member_id,
        });
        Ok(Ok(()))
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.gate_or_trap("log")?;
        self.log_bytes += message.len() as u64;
        if self.log_bytes > self.scope.limits.log_bytes {
            return Err(wasmtime::Error::new(LimitHit::LogVolume));
        }
        self.charge(message.len() as u64)?;
        let (coop, plugin) = (&self.scope.coop_slug, &self.scope.plugin);
        match level {
            log::Level::Trace => tracing::trace!(coop = %coop, plugin = %plugin, "{message}"),
            log::Level::Debug => tracing::debug!(coop = %coop, plugin = %plugin, "{message}"),
            log::Level::Info => tracing::info!(coop = %coop, plugin = %plugin, "{message}"),
            log::Level::Warn => tracing::warn!(coop = %coop, plugin = %plugin, "{message}"),
            log::Level::Error => tracing::error!(coop = %coop, plugin = %plugin, "{message}"),
        }
        Ok(())
    }
}

impl wit_shifts::Host for CallState {
    async fn current(
        &mut self,
        member: String,
    ) -> wasmtime::Result<Result<Option<wit_shifts::OpenShift>, WitError>> {
        if let Err(e) = self.gate("shifts")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let Some(member_id) = resolve_member(&s, &member).await? else {
            return Ok(Err(WitError::NotFound(format!(
                "member {member:?} is not a member id this plugin was given"
            ))));
        };
        if let Err(e) = self
            .data_read_allowed("work-activity", member_id, &member)
            .await?
        {
            return Ok(Err(e));
        }
        let now = s.clock.now_ms();
        match crate::shifts::current(&s.db, s.actor.coop_id, member_id).await {
            Ok(shift) => Ok(Ok(shift.map(|sh| wit_shifts::OpenShift {
                started_at: sh.started_at as u64,
                on_shift_ms: sh.on_shift_ms(now) as u64,
            }))),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}

/// Most counts one call may record.
const MAX_COUNTS_PER_CALL: usize = 100;

impl wit_activity::Host for CallState {
    async fn count(
        &mut self,
        metric: String,
        zone: String,
        amount: u32,
        worker: Option<String>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.gate("activity")? {
            return Ok(Err(e));
        }
        if let Err(e) = crate::opendata::check_name("metric", &metric)
            .and_then(|()| crate::opendata::check_name("zone", &zone))
        {
            return Ok(Err(to_wit(e)));
        }
        if self.activity.len() >= MAX_COUNTS_PER_CALL {
            return Ok(Err(WitError::QuotaExceeded(format!(
                "a call may count at most {MAX_COUNTS_PER_CALL} activities"
            ))));
        }
        let worker_id = match worker {
            None => None,
            Some(p) => match resolve_member(&self.scope.clone(), &p).await? {
                Some(id) => Some(id),
                None => {
                    return Ok(Err(WitError::NotFound(format!(
                        "member {p:?} is not a member id this plugin was given"
                    ))));
                }
            },
        };
        self.charge((metric.len() + zone.len()) as u64 + ITEM_BYTES)?;
        self.activity.push(crate::opendata::PendingCount {
            metric,
            zone,
            amount,
            worker_id,
        });
        Ok(Ok(()))
    }
}

impl wit_ratings::Host for CallState {
    async fn rate(
        &mut self,
        worker: String,
        job: String,
        score: u8,
        comment: Option<String>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.gate("ratings")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let Some(rater_id) = s.actor.member_id else {
            return Ok(Err(WitError::AccessDenied(
                "only a logged-in member can rate a worker".into(),
            )));
        };
        let comment = match crate::ratings::check(score, &job, comment.as_deref()) {
            Ok(c) => c,
            Err(e) => return Ok(Err(to_wit(e))),
        };
        let Some(worker_id) = resolve_member(&s, &worker).await? else {
            return Ok(Err(WitError::NotFound(format!(
                "member {worker:?} is not a member id this plugin was given"
            ))));
        };
        if worker_id == rater_id {
            return Ok(Err(WitError::Invalid("nobody rates themselves".into())));
        }
        let twice = self
            .ratings
            .iter()
            .any(|r| r.job == job && r.worker_id == worker_id);
        match crate::ratings::exists(&s.db, s.actor.coop_id, &s.plugin, &job, worker_id).await {
            Ok(false) if !twice => {}
            Ok(_) => {
                return Ok(Err(WitError::Conflict(format!(
                    "job {job:?} was already rated for this worker"
                ))));
            }
            Err(e) => return Ok(Err(to_wit(e))),
        }
        let size = job.len() + comment.as_ref().map_or(0, String::len);
        self.charge(size as u64 + ITEM_BYTES)?;
        self.ratings.push(crate::ratings::PendingRating {
            worker_id,
            rater_id,
            job,
            score,
            comment,
        });
        Ok(Ok(()))
    }

    async fn summary(
        &mut self,
        worker: String,
    ) -> wasmtime::Result<Result<wit_ratings::RatingSummary, WitError>> {
        if let Err(e) = self.gate("ratings")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let Some(worker_id) = resolve_member(&s, &worker).await? else {
            return Ok(Err(WitError::NotFound(format!(
                "member {worker:?} is not a member id this plugin was given"
            ))));
        };
        if let Err(e) = self
            .data_read_allowed("ratings", worker_id, &worker)
            .await?
        {
            return Ok(Err(e));
        }
        let now = s.clock.now_ms();
        match crate::ratings::summary(&s.db, s.actor.coop_id, worker_id, 0, now).await {
            Ok(sum) => Ok(Ok(wit_ratings::RatingSummary {
                count: u32::try_from(sum.count).unwrap_or(u32::MAX),
                average_milli: sum.average_milli.map(|a| u32::try_from(a).unwrap_or(0)),
            })),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}

impl wit_moderation::Host for CallState {
    async fn flag(
        &mut self,
        member: String,
        reason: String,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        use crate::moderation::{MAX_FLAGS_PER_CALL, flags};
        if let Err(e) = self.gate("moderation")? {
            return Ok(Err(e));
        }
        if self.flags.len() >= MAX_FLAGS_PER_CALL {
            return Ok(Err(WitError::QuotaExceeded(format!(
                "a call may raise at most {MAX_FLAGS_PER_CALL} flags"
            ))));
        }
        let reason = match flags::check_flag_reason(&reason) {
            Ok(r) => r,
            Err(e) => return Ok(Err(to_wit(e))),
        };
        let s = self.scope.clone();
        let Some(member_id) = resolve_member(&s, &member).await? else {
            return Ok(Err(WitError::NotFound(format!(
                "member {member:?} is not a member id this plugin was given"
            ))));
        };
        self.charge(reason.len() as u64 + ITEM_BYTES)?;
        let id = flags::new_id();
        self.flags.push(flags::PendingFlag {
            id,
            member_id,
            reason,
        });
        Ok(Ok(id as u64))
    }
}

/// How long a charge stays in escrow before the host gives it back.
pub const HOLD_TTL_MS: i64 = 7 * 24 * 3_600_000;

fn ledger_err(e: crate::ledger::error::LedgerError) -> WitError {
    WitError::Invalid(e.to_string())
}

/// The escrow reference of a plugin's order: plugins cannot reach each
/// other's orders.
fn order_ref(plugin: &str, order: &str) -> Result<String, WitError> {
    let ok = (1..=64).contains(&order.len())
        && order
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(format!("{plugin}.{order}"))
    } else {
        Err(WitError::Invalid(format!(
            "order {order:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

/// An order's escrow reference and a positive amount, both checked.
fn order_and_money(
    plugin: &str,
    order: &str,
    m: &types::Money,
) -> Result<(String, crate::ledger::money::Money), WitError> {
    Ok((order_ref(plugin, order)?, money_in(m)?))
}

fn money_in(m: &types::Money) -> Result<crate::ledger::money::Money, WitError> {
    let currency = crate::ledger::money::Currency::parse(&m.currency).map_err(ledger_err)?;
    if m.amount <= 0 {
        return Err(WitError::Invalid(format!(
            "amount must be positive, got {}",
            m.amount
        )));
    }
    Ok(crate::ledger::money::Money {
        amount: m.amount,
        currency,
    })
}

/// A settlement as the plugin sees it.
fn settlement_out(settlement: &crate::ledger::split::Settlement) -> wit_payments::Settlement {
    let b = &settlement.breakdown;
    wit_payments::Settlement {
        policy_version: settlement.policy_version,
        worker: b.worker_net,
        commission: b.commission,
        reserve: b.reserve,
        solidarity: b.solidarity,
        community: b.community,
        processor_fee: b.processor_fee,
        cae_fee: b.cae_fee,
    }
}

impl CallState {
    /// Split `gross` of `order` for `worker` under the coop's policy in
    /// effect now and the worker's status, moving nothing.
    async fn split(
        &mut self,
        order: &str,
        worker: &str,
        gross: &types::Money,
    ) -> wasmtime::Result<
        Result<
            (
                crate::ledger::split::Settlement,
                crate::ledger::split::SplitPolicy,
            ),
            WitError,
        >,
    > {
        if let Err(e) = self.gate("payments")? {
            return Ok(Err(e));
        }
        let (order_ref, money) = match order_and_money(&self.scope.plugin, order, gross) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let s = self.scope.clone();
        let Some(worker_id) = resolve_member(&s, worker).await? else {
            return Ok(Err(WitError::NotFound(format!(
                "member {worker:?} is not a member id this plugin was given"
            ))));
        };
        let now = s.clock.now_ms();
        let policy = match crate::ledger::policies::split_in_effect(&s.db, s.actor.coop_id, now)
            .await
        {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Ok(Err(WitError::Conflict(
                    "this coop has no value split in effect yet: its members must set one before orders are settled"
                        .into(),
                )));
            }
            Err(e) => return Ok(Err(to_wit(e))),
        };
        let status = match crate::shifts::status(&s.db, s.actor.coop_id, worker_id).await {
            Ok(st) => st,
            Err(e) => return Ok(Err(to_wit(e))),
        };
        match crate::ledger::split::settle(money, &policy, &status, worker_id, &order_ref, now) {
            Ok(settlement) => Ok(Ok((settlement, policy))),
            Err(e) => Ok(Err(ledger_err(e))),
        }
    }
}

impl wit_payments::Host for CallState {
    async fn charge(
        &mut self,
        order: String,
        amount: types::Money,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.gate("payments")? {
            return Ok(Err(e));
        }
        if self.scope.actor.member_id.is_none() && self.scope.actor.service_key.is_none() {
            return Ok(Err(WitError::AccessDenied(
                "only a logged-in customer can be charged".into(),
            )));
        }
        let (order_ref, money) = match order_and_money(&self.scope.plugin, &order, &amount) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let now = self.scope.clock.now_ms();
        match crate::ledger::hold::Hold::authorise(&order_ref, money, now, now + HOLD_TTL_MS) {
            Ok((_, transaction)) => {
                self.charge(ITEM_BYTES * (1 + transaction.postings.len() as u64))?;
                self.ledger.push(crate::payments::LedgerWrite::Charge {
                    transaction,
                    order_ref,
                    expires_at: now + HOLD_TTL_MS,
                });
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(ledger_err(e))),
        }
    }

    async fn refund(
        &mut self,
        order: String,
        amount: types::Money,
    ) -> wasmtime::Result<Result<(), WitError>> {
        use crate::ledger::account::AccountKind;
        use crate::ledger::transaction::{Posting, Transaction, kinds};
        if let Err(e) = self.gate("payments")? {
            return Ok(Err(e));
        }
        let (order_ref, money) = match order_and_money(&self.scope.plugin, &order, &amount) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let escrow = match AccountKind::escrow(&order_ref) {
            Ok(a) => a,
            Err(e) => return Ok(Err(ledger_err(e))),
        };
        let back = crate::ledger::money::Money {
            amount: -money.amount,
            currency: money.currency,
        };
        self.charge(ITEM_BYTES * 3 + order.len() as u64)?;
        self.ledger
            .push(crate::payments::LedgerWrite::Post(Transaction {
                idempotency_key: format!("refund:{order_ref}"),
                kind: kinds::HOLD_RELEASE.to_string(),
                memo: format!("refund of order {order}"),
                postings: vec![
                    Posting {
                        account: escrow,
                        amount: back,
                    },
                    Posting {
                        account: AccountKind::ExternalClearing,
                        amount: money,
                    },
                ],
                created_at: self.scope.clock.now_ms(),
            }));
        Ok(Ok(()))
    }

    async fn settle(
        &mut self,
        order: String,
        worker: String,
        gross: types::Money,
    ) -> wasmtime::Result<Result<wit_payments::Settlement, WitError>> {
        match self.split(&order, &worker, &gross).await? {
            Ok((settlement, policy)) => {
                let out = settlement_out(&settlement);
                let postings = settlement.transaction.postings.len() as u64;
                self.charge(ITEM_BYTES * (1 + postings))?;
                self.ledger
                    .push(crate::payments::LedgerWrite::settle(settlement, &policy));
                Ok(Ok(out))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn preview(
        &mut self,
        worker: String,
        gross: types::Money,
    ) -> wasmtime::Result<Result<wit_payments::Settlement, WitError>> {
        // The order id only names the escrow, which a preview never touches.
        match self.split("preview", &worker, &gross).await? {
            Ok((settlement, _)) => Ok(Ok(settlement_out(&settlement))),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn balance(
        &mut self,
        currency: String,
    ) -> wasmtime::Result<Result<types::Money, WitError>> {
        if let Err(e) = self.gate("payments")? {
            return Ok(Err(e));
        }
        let s = self.scope.clone();
        let Some(member_id) = s.actor.member_id else {
            return Ok(Err(WitError::AccessDenied(
                "only members have a wallet".into(),
            )));
        };
        let cur = match crate::ledger::money::Currency::parse(&currency) {
            Ok(c) => c,
            Err(e) => return Ok(Err(ledger_err(e))),
        };
        let account = crate::ledger::account::AccountKind::MemberWallet(member_id);
        match crate::ledger::repo::balance(&s.db, s.actor.coop_id, &account, &cur).await {
            Ok(amount) => Ok(Ok(types::Money {
                amount,
                currency: cur.as_str().to_string(),
            })),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}
