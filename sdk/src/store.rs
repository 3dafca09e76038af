//! The raw key-value store private to this plugin in this coop.
//!
//! Values are bytes here; [`crate::kv`] stores JSON on top of it and is
//! what most plugins want.

pub use crate::wit::coop::host::store::{Entry, Version, delete, get, scan, set, swap};

/// The most records one [`scan`] call returns, whatever `limit` asks for:
/// the host caps pages so that one call cannot hold unbounded memory.
pub const MAX_SCAN_LIMIT: u32 = 1000;
