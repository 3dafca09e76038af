//! Timers: ask the host to call this plugin's `on-timer` hook later (for
//! example to expire a quote). Export `coop:host/timer-handler` to receive
//! them. See `wit/host/timers.wit`.
//!
//! A timer set in a call that fails is never set; each timer runs in a
//! call of its own, as the host, and is retried with back-off if the hook
//! returns an error, so the hook should be idempotent.

pub use crate::wit::coop::host::timers::{cancel, set};

use crate::Error;

/// Call `on-timer` with `payload` `delay_ms` milliseconds after `now_ms`
/// (the caller's notion of now, e.g. from the request). Returns the id.
pub fn set_after(now_ms: u64, delay_ms: u64, payload: &str) -> Result<u64, Error> {
    set(now_ms.saturating_add(delay_ms), payload)
}
