//! Per-call limits. Each is a named constant with the reason for its
//! default; coops may override them per plugin (`plugins::set_limit`).

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
                    "unknown limit {k:?}; known: deadline_ms, memory_bytes, result_bytes, log_bytes, host_calls, store_keys, store_bytes"
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
}

impl LimitHit {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            LimitHit::Memory => "memory",
            LimitHit::HostCalls => "host_calls",
            LimitHit::LogVolume => "log_volume",
        }
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
