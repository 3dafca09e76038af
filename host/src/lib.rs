//! coophost: a shared host for cooperative platforms.
//!
//! Start with `ARCHITECTURE.md` at the repository root for the map.

pub mod api;
pub mod app;
pub mod audit;
pub mod backup;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod consent;
pub mod credentials;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod export;
pub mod governance;
pub mod identity;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod moderation;
pub mod opendata;
pub mod payments;
pub mod plugins;
pub mod ratings;
pub mod runtime;
pub mod scheduler;
pub mod sealed;
pub mod shifts;
pub mod store;
pub mod throttle;
pub mod transparency;
pub mod web;
