//! The one integration-test binary: every test shares one wasmtime engine
//! and compile cache (see `common`).

mod api;
mod appeals;
mod audit;
mod backup;
mod chain;
mod cli;
mod common;
mod consent;
mod credentials;
mod delivery;
mod governance;
mod hostile;
mod kinds;
mod ledger;
mod lifecycle;
mod payments;
mod payouts;
mod policies;
mod runtime;
mod scheduler;
mod sec_exposure;
mod sec_fetch;
mod sec_grants;
mod sec_members;
mod sec_uploads;
mod shift_board;
mod shifts;
mod throttle;
mod timers;
mod web;
mod web_delivery;
mod web_governance;
mod web_mydata;
mod web_pay;
mod web_public;
