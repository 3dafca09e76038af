//! Count what the plugin does per zone for the coop's open data; the host
//! aggregates per month and suppresses small cells. See
//! `wit/host/activity.wit`.

pub use crate::wit::coop::host::activity::count;
