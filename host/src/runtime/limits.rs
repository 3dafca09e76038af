//! Per-call limits. Each is a named constant with the reason for its
//! default; coops may override them per plugin (`plugins::set_limit`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Wall-clock time one call may run, host calls included. Five seconds is
/// far beyond any interactive request and short enough that a stuck plugin
/// frees its caller quickly.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;
/// Linear memory one instance may use, all its memories together. Python
/// and JavaScript runtimes start at tens of MiB; 256 MiB leaves room for
/// real data without letting one call take the machine.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
/// The most memory a coop may allow one instance: the pooling allocator
/// reserves this much per instance slot, so no instance could grow past it
/// whatever its limit said.
pub const MAX_MEMORY_BYTES: u64 = DEFAULT_MEMORY_BYTES;
/// Largest result, as JSON bytes, a call may return: API responses stay
/// small, and a plugin cannot make the host buffer gigabytes.
pub const DEFAULT_RESULT_BYTES: u64 = 4 << 20;
/// Log bytes one call may write; a plugin that floods the logs fails its
/// call instead of filling the host's disk.
pub const DEFAULT_LOG_BYTES: u64 = 64 << 10;
/// Host functions one call may invoke. Ten thousand store reads is a lot
/// for one request; more is a loop gone wrong.
pub const DEFAULT_HOST_CALLS: u64 = 10_000;
/// Keys one plugin may keep in one coop's store.
pub const DEFAULT_STORE_KEYS: u64 = 1_000_000;
/// Bytes (keys plus values) one plugin may keep in one coop's store.
pub const DEFAULT_STORE_BYTES: u64 = 1 << 30;
/// Bytes one call may move through the host: what it reads from the store
/// and what it buffers for its commit (store writes, events, log lines,
/// ledger writes, timers, ratings, activity counts, flags), counted as it
/// goes. The host holds a call's writes until it returns, so without this a
/// guest looping over 1 MiB writes would make the host buffer gigabytes
/// before the store quota is checked at commit. 32 MiB is far more than a
/// request needs and small enough that many calls fit in
/// [`DEFAULT_HOST_CALL_BYTES`].
pub const DEFAULT_CALL_BYTES: u64 = 32 << 20;
/// Bytes all calls in flight on one host may hold together (each call's
/// count of [`Limits::call_bytes`], returned when the call ends, whatever
/// its outcome). Past it a call is refused with a retryable error instead
/// of the host running out of memory: 1 GiB leaves the rest of a small
/// machine to the pool's linear memories, the database and the OS.
pub const DEFAULT_HOST_CALL_BYTES: u64 = 1 << 30;
/// The share of [`DEFAULT_HOST_CALL_BYTES`] (or the operator's budget) one
/// coop's calls in flight may hold together, in percent. Without a share a
/// single coop's calls could take the whole budget and every other coop's
/// calls would be refused; half leaves the other half to everyone else
/// while a busy coop alone still gets most of the host. The operator sets
/// another with `serve --coop-call-memory-percent`.
pub const DEFAULT_COOP_CALL_MEMORY_PERCENT: u64 = 50;
/// What the host counts for one buffered item (an event, a ledger write, a
/// timer, a rating, an activity count, a flag) besides its text: the
/// struct and its allocations, rounded up.
pub const ITEM_BYTES: u64 = 128;

/// The ceilings a coop's own limits stay under unless the host operator
/// sets others for the coop (`coophost coop limits`). Each is the most a
/// careful operator lets one coop take of a shared host.
pub mod ceilings {
    /// Thirty seconds: longer than any interactive request should wait,
    /// and a stuck plugin still frees its instance slot soon.
    pub const DEADLINE_MS: u64 = 30_000;
    /// The pool's slot size: no instance can grow past it anyway.
    pub const MEMORY_BYTES: u64 = super::MAX_MEMORY_BYTES;
    /// 16 MiB of JSON in one answer.
    pub const RESULT_BYTES: u64 = 16 << 20;
    /// 1 MiB of log lines per call.
    pub const LOG_BYTES: u64 = 1 << 20;
    /// Ten times the default host calls.
    pub const HOST_CALLS: u64 = 100_000;
    /// Ten million keys per plugin and coop.
    pub const STORE_KEYS: u64 = 10_000_000;
    /// 10 GiB per plugin and coop.
    pub const STORE_BYTES: u64 = 10 << 30;
    /// A quarter of the host-wide budget for calls in flight.
    pub const CALL_BYTES: u64 = super::DEFAULT_HOST_CALL_BYTES / 4;
}

/// The limits applied to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline, milliseconds.
    pub deadline_ms: u64,
    /// Linear memory cap, bytes.
    pub memory_bytes: u64,
    /// Result size cap, JSON bytes.
    pub result_bytes: u64,
    /// Log volume cap, bytes.
    pub log_bytes: u64,
    /// Host calls per call.
    pub host_calls: u64,
    /// Store keys per plugin and coop.
    pub store_keys: u64,
    /// Store bytes per plugin and coop.
    pub store_bytes: u64,
    /// Bytes one call may read from the store and buffer for its commit.
    pub call_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: DEFAULT_DEADLINE_MS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            result_bytes: DEFAULT_RESULT_BYTES,
            log_bytes: DEFAULT_LOG_BYTES,
            host_calls: DEFAULT_HOST_CALLS,
            store_keys: DEFAULT_STORE_KEYS,
            store_bytes: DEFAULT_STORE_BYTES,
            call_bytes: DEFAULT_CALL_BYTES,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// These limits with `overrides` (a JSON object of field names to
    /// numbers) applied; unknown names or non-numbers are an error.
    pub fn with_overrides(&self, overrides: &serde_json::Value) -> Result<Limits, String> {
        let mut base = serde_json::to_value(self).expect("limits serialise");
        let Some(obj) = overrides.as_object() else {
            return Err("limits must be a JSON object".into());
        };
        for (k, v) in obj {
            if base.get(k).is_none() {
                return Err(format!(
                    "unknown limit {k:?}; known: {}",
                    Limits::NAMES.join(", ")
                ));
            }
            match v.as_u64() {
                Some(n) if k == "memory_bytes" && n > MAX_MEMORY_BYTES => {
                    return Err(format!(
                        "limit memory_bytes may be at most {MAX_MEMORY_BYTES} (the memory the host reserves for each instance), got {n}"
                    ));
                }
                Some(n) if n > 0 => base[k] = v.clone(),
                _ => return Err(format!("limit {k} must be a positive integer, got {v}")),
            }
        }
        serde_json::from_value(base).map_err(|e| e.to_string())
    }

    /// [`Self::with_overrides`], refusing any override above `ceilings`
    /// (what the host operator allows the coop) with a message naming the
    /// ceiling.
    pub fn with_overrides_under(
        &self,
        overrides: &serde_json::Value,
        ceilings: &Limits,
    ) -> Result<Limits, String> {
        let limits = self.with_overrides(overrides)?;
        let max = serde_json::to_value(ceilings).expect("limits serialise");
        for (k, v) in overrides.as_object().into_iter().flatten() {
            let (Some(n), Some(top)) = (v.as_u64(), max[k].as_u64()) else {
                continue;
            };
            if n > top {
                return Err(format!(
                    "limit {k} may be at most {top}, the ceiling the host operator set for this coop; got {n} (ask the host operator to raise the ceiling)"
                ));
            }
        }
        Ok(limits)
    }

    /// Each limit no higher than its ceiling: what a call gets when the
    /// operator lowered a ceiling below a value the coop chose earlier, or
    /// below the host's default.
    pub fn capped(&self, ceilings: &Limits) -> Limits {
        Limits {
            deadline_ms: self.deadline_ms.min(ceilings.deadline_ms),
            memory_bytes: self.memory_bytes.min(ceilings.memory_bytes),
            result_bytes: self.result_bytes.min(ceilings.result_bytes),
            log_bytes: self.log_bytes.min(ceilings.log_bytes),
            host_calls: self.host_calls.min(ceilings.host_calls),
            store_keys: self.store_keys.min(ceilings.store_keys),
            store_bytes: self.store_bytes.min(ceilings.store_bytes),
            call_bytes: self.call_bytes.min(ceilings.call_bytes),
        }
    }

    /// The name of every limit, as in JSON.
    pub const NAMES: [&'static str; 8] = [
        "deadline_ms",
        "memory_bytes",
        "result_bytes",
        "log_bytes",
        "host_calls",
        "store_keys",
        "store_bytes",
        "call_bytes",
    ];

    /// The ceilings of a coop for which the host operator set none.
    pub fn default_ceilings() -> Limits {
        Limits {
            deadline_ms: ceilings::DEADLINE_MS,
            memory_bytes: ceilings::MEMORY_BYTES,
            result_bytes: ceilings::RESULT_BYTES,
            log_bytes: ceilings::LOG_BYTES,
            host_calls: ceilings::HOST_CALLS,
            store_keys: ceilings::STORE_KEYS,
            store_bytes: ceilings::STORE_BYTES,
            call_bytes: ceilings::CALL_BYTES,
        }
    }
}

impl Limits {
    /// [`Self::with_overrides`] for overrides already stored. A
    /// `memory_bytes` above [`MAX_MEMORY_BYTES`], which versions before the
    /// ceiling accepted, is read as the ceiling (what the pool enforced
    /// anyway) instead of making the plugin unusable.
    pub fn with_stored(&self, overrides: &serde_json::Value) -> Result<Limits, String> {
        let mut overrides = overrides.clone();
        if let Some(m) = overrides.get_mut("memory_bytes")
            && m.as_u64().is_some_and(|n| n > MAX_MEMORY_BYTES)
        {
            *m = serde_json::Value::from(MAX_MEMORY_BYTES);
        }
        self.with_overrides(&overrides)
    }
}

/// A limit a call ran into; carried inside the trap so the caller gets a
/// distinct error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitHit {
    /// Linear memory cap.
    #[error("the plugin exceeded its memory limit")]
    Memory,
    /// Too many host calls.
    #[error("the plugin exceeded its limit of host calls per call")]
    HostCalls,
    /// Too many log bytes.
    #[error("the plugin exceeded its log volume limit")]
    LogVolume,
    /// The call read and buffered more bytes than its `call_bytes`.
    #[error(
        "the plugin read and buffered more bytes in one call than its call_bytes limit allows; read and write less per call (smaller scans, fewer or smaller values)"
    )]
    CallBytes,
    /// The host's budget for calls in flight was used up by other calls,
    /// or the coop's calls in flight hold all of its share of it.
    #[error(
        "the host is holding all the memory it allows for calls in flight (or for this coop's calls in flight); retry shortly"
    )]
    HostMemory,
}

impl LimitHit {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            LimitHit::Memory => "memory",
            LimitHit::HostCalls => "host_calls",
            LimitHit::LogVolume => "log_volume",
            LimitHit::CallBytes => "call_bytes",
            LimitHit::HostMemory => "host_memory",
        }
    }
}

/// The bytes all calls in flight hold together, against one host-wide
/// budget ([`DEFAULT_HOST_CALL_BYTES`]), and what each coop's calls hold
/// against its share of it ([`DEFAULT_COOP_CALL_MEMORY_PERCENT`]). Calls
/// take from it as they read and buffer ([`CallBytes::charge`]) and give
/// everything back when they end.
#[derive(Debug)]
pub struct HostBudget {
    limit: AtomicU64,
    coop_percent: AtomicU64,
    in_use: AtomicU64,
    peak: AtomicU64,
    refused: AtomicU64,
    /// Bytes held per coop (only coops with calls holding bytes).
    per_coop: std::sync::Mutex<std::collections::HashMap<i64, u64>>,
}

impl HostBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<HostBudget> {
        Arc::new(HostBudget {
            limit: AtomicU64::new(limit),
            coop_percent: AtomicU64::new(DEFAULT_COOP_CALL_MEMORY_PERCENT),
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            per_coop: Default::default(),
        })
    }

    /// Change the budget (calls already holding more keep it until they end).
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The budget, bytes.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Change the share of the budget one coop's calls may hold, in
    /// percent (1 to 100).
    pub fn set_coop_percent(&self, percent: u64) {
        self.coop_percent
            .store(percent.clamp(1, 100), Ordering::Relaxed);
    }

    /// The most one coop's calls in flight may hold together, bytes.
    pub fn coop_limit(&self) -> u64 {
        let percent = self.coop_percent.load(Ordering::Relaxed);
        u64::try_from(u128::from(self.limit()) * u128::from(percent) / 100).unwrap_or(u64::MAX)
    }

    /// Bytes held by calls in flight now.
    pub fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Acquire)
    }

    /// Bytes held by one coop's calls in flight now.
    pub fn coop_in_use(&self, coop_id: i64) -> u64 {
        self.coops().get(&coop_id).copied().unwrap_or(0)
    }

    /// The most bytes calls in flight ever held together.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Acquire)
    }

    /// How many times a call was refused because the budget (or its
    /// coop's share) was used up.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn coops(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, u64>> {
        // A panic while holding this lock leaves plain numbers behind.
        self.per_coop.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, coop_id: i64, n: u64) -> bool {
        let limit = self.limit();
        let coop_limit = self.coop_limit();
        // The coop's count and the host's move together under the lock,
        // so two calls of one coop cannot both pass its share.
        let mut coops = self.coops();
        let held = coops.get(&coop_id).copied().unwrap_or(0);
        let within_share = held.checked_add(n).is_some_and(|next| next <= coop_limit);
        let taken = within_share
            && self
                .in_use
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    used.checked_add(n).filter(|next| *next <= limit)
                })
                .map(|before| self.peak.fetch_max(before + n, Ordering::AcqRel))
                .is_ok();
        if taken {
            coops.insert(coop_id, held + n);
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn give_back(&self, coop_id: i64, n: u64) {
        if n == 0 {
            return;
        }
        let mut coops = self.coops();
        let held = coops.get(&coop_id).copied().unwrap_or(0).saturating_sub(n);
        if held == 0 {
            coops.remove(&coop_id);
        } else {
            coops.insert(coop_id, held);
        }
        self.in_use.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One call's count of the bytes it read and buffered, under its own
/// limit, its coop's share and the host's budget; what it took goes back
/// when it is dropped, however the call ended.
#[derive(Debug)]
pub struct CallBytes {
    host: Arc<HostBudget>,
    coop_id: i64,
    limit: u64,
    used: u64,
}

impl CallBytes {
    /// A count for a call of `coop_id` allowed `limit` bytes, drawing on
    /// `host`.
    pub fn new(host: Arc<HostBudget>, coop_id: i64, limit: u64) -> CallBytes {
        CallBytes {
            host,
            coop_id,
            limit,
            used: 0,
        }
    }

    /// Count `n` more bytes, or say which limit refuses them.
    pub fn charge(&mut self, n: u64) -> Result<(), LimitHit> {
        let next = self.used.saturating_add(n);
        if next > self.limit {
            return Err(LimitHit::CallBytes);
        }
        if !self.host.take(self.coop_id, n) {
            return Err(LimitHit::HostMemory);
        }
        self.used = next;
        Ok(())
    }

    /// Bytes counted so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

impl Drop for CallBytes {
    fn drop(&mut self) {
        self.host.give_back(self.coop_id, self.used);
    }
}

/// Tracks linear memory across all of an instance's memories.
pub struct MemoryLimiter {
    limit: usize,
    used: usize,
    /// Whether a growth was refused.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes in total.
    pub fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            used: 0,
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let next = self.used.saturating_sub(current).saturating_add(desired);
        if next > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::new(LimitHit::Memory));
        }
        self.used = next;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond
        // any real program and bounds what a guest can make the host hold.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_are_checked() {
        let l = Limits::default()
            .with_overrides(&serde_json::json!({"deadline_ms": 100}))
            .unwrap();
        assert_eq!(l.deadline_ms, 100);
        assert_eq!(l.memory_bytes, DEFAULT_MEMORY_BYTES);
        assert!(
            Limits::default()
                .with_overrides(&serde_json::json!({"cpu": 1}))
                .unwrap_err()
                .contains("unknown limit")
        );
        assert!(
            Limits::default()
                .with_overrides(&serde_json::json!({"log_bytes": -1}))
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            Limits::default()
                .with_overrides(&serde_json::json!({"memory_bytes": MAX_MEMORY_BYTES + 1}))
                .unwrap_err()
                .contains("at most")
        );
        let l = Limits::default()
            .with_overrides(&serde_json::json!({"memory_bytes": MAX_MEMORY_BYTES}))
            .unwrap();
        assert_eq!(l.memory_bytes, MAX_MEMORY_BYTES);
        // Stored before the ceiling: read as the ceiling, not refused.
        let stored = serde_json::json!({"memory_bytes": MAX_MEMORY_BYTES * 2, "deadline_ms": 9});
        let l = Limits::default().with_stored(&stored).unwrap();
        assert_eq!((l.memory_bytes, l.deadline_ms), (MAX_MEMORY_BYTES, 9));
        assert!(
            Limits::default()
                .with_stored(&serde_json::json!({"memory_bytes": 0}))
                .is_err()
        );
    }

    #[test]
    fn ceilings_refuse_and_cap() {
        let ceilings = Limits {
            deadline_ms: 1_000,
            ..Limits::default_ceilings()
        };
        let err = Limits::default()
            .with_overrides_under(&serde_json::json!({"deadline_ms": 86_400_000}), &ceilings)
            .unwrap_err();
        assert!(
            err.contains("at most 1000") && err.contains("ceiling"),
            "{err}"
        );
        let l = Limits::default()
            .with_overrides_under(&serde_json::json!({"deadline_ms": 900}), &ceilings)
            .unwrap();
        assert_eq!(l.deadline_ms, 900);
        // The default itself (5 s) is above this ceiling: capped.
        assert_eq!(Limits::default().capped(&ceilings).deadline_ms, 1_000);
        // Every default is under its default ceiling.
        assert_eq!(
            Limits::default().capped(&Limits::default_ceilings()),
            Limits::default()
        );
        let mut names: Vec<String> = serde_json::to_value(Limits::default())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        let mut want: Vec<String> = Limits::NAMES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn call_bytes_are_counted_and_given_back() {
        let host = HostBudget::new(100);
        host.set_coop_percent(100);
        let mut a = CallBytes::new(host.clone(), 1, 60);
        let mut b = CallBytes::new(host.clone(), 2, 60);
        a.charge(50).unwrap();
        assert_eq!(a.charge(20), Err(LimitHit::CallBytes));
        b.charge(40).unwrap();
        assert_eq!(b.charge(20), Err(LimitHit::HostMemory));
        assert_eq!((host.in_use(), host.peak(), host.refused()), (90, 90, 1));
        drop(a);
        assert_eq!(host.in_use(), 40);
        b.charge(20).unwrap();
        drop(b);
        assert_eq!((host.in_use(), host.peak()), (0, 90));
    }

    #[test]
    fn one_coop_holds_at_most_its_share() {
        let host = HostBudget::new(100);
        assert_eq!(host.coop_limit(), 50);
        let mut a1 = CallBytes::new(host.clone(), 1, 100);
        let mut a2 = CallBytes::new(host.clone(), 1, 100);
        let mut b = CallBytes::new(host.clone(), 2, 100);
        a1.charge(30).unwrap();
        // The host has room, the coop's share does not.
        assert_eq!(a2.charge(30), Err(LimitHit::HostMemory));
        a2.charge(20).unwrap();
        assert_eq!(host.coop_in_use(1), 50);
        b.charge(50).unwrap();
        assert_eq!(host.in_use(), 100);
        drop(a1);
        assert_eq!((host.coop_in_use(1), host.in_use()), (20, 70));
        a2.charge(30).unwrap();
        drop((a2, b));
        assert_eq!((host.coop_in_use(1), host.coop_in_use(2)), (0, 0));
        assert_eq!(host.in_use(), 0);
        host.set_coop_percent(100);
        assert_eq!(host.coop_limit(), 100);
    }

    #[test]
    fn memory_is_counted_across_memories() {
        use wasmtime::ResourceLimiter;
        let mut m = MemoryLimiter::new(100);
        assert!(m.memory_growing(0, 60, None).unwrap());
        assert!(m.memory_growing(0, 30, None).unwrap());
        assert!(m.memory_growing(60, 70, None).unwrap());
        assert!(m.memory_growing(30, 31, None).is_err());
        assert!(m.hit);
    }
}
