//! The ledger's domain core: double-entry money with no I/O.
//!
//! Everything here is plain Rust. Nothing reads a clock (times are `i64`
//! milliseconds since the Unix epoch, passed in), touches a database or
//! knows HTTP; the repository, the JSON API and the WIT `payments` host impl
//! sit on top and call these functions.
//!
//! Where to start reading:
//! - [`money`]: [`Currency`], [`Money`] and exact proportional splitting.
//! - [`account`]: the accounts money can sit in and their storage codes.
//! - [`transaction`]: balanced [`Transaction`]s and the in-memory
//!   [`Balances`] that enforce "no non-negative account goes negative".
//! - [`hold`]: authorise / capture / release / expire a customer payment.
//! - [`split`]: the coop's voted value split applied at settlement.
//! - [`floor`]: the hourly earnings floor and its top-up.
//! - [`iban`] and [`sepa`]: bank identifiers and pain.001 payout files.
//!
//! Sign convention (see [`transaction::Posting`]): a positive amount moves
//! money *into* an account, a negative amount moves it *out*; an account's
//! balance is the sum of its postings and every transaction sums to zero per
//! currency.

#![warn(missing_docs)]

pub mod account;
pub mod error;
pub mod floor;
pub mod hold;
pub mod iban;
pub mod legal_minimum;
pub mod money;
pub mod period;
pub mod policies;
pub mod repo;
pub mod sepa;
pub mod split;
pub mod transaction;

pub use account::AccountKind;
pub use error::LedgerError;
pub use floor::{FloorRate, FloorResult, compute_floor};
pub use hold::{Hold, HoldState};
pub use iban::{Bic, Iban};
pub use money::{Currency, Money, split_proportional};
pub use period::Month;
pub use sepa::{Payout, PayoutRun, pain001};
pub use split::{FeeBearer, Settlement, SplitPolicy, WorkerStatus, settle};
pub use transaction::{Balances, Posting, Transaction};
