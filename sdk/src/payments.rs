//! Ask the host to move money for an order; the host applies the coop's
//! split. See `wit/host/payments.wit`.

pub use crate::wit::coop::host::payments::{Settlement, balance, charge, refund, settle};
