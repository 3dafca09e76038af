//! Ask the host to move money for an order; the host applies the coop's
//! split. See `wit/host/payments.wit`.
//!
//! The usual flow of a plugin:
//!
//! 1. at order time, [`charge`] the customer (the caller) the quoted price
//!    into the order's escrow; the hold expires after seven days unless the
//!    order is settled or refunded;
//! 2. at completion, [`settle`] the order for the worker with the gross
//!    amount: the host splits it under the coop's voted policy and the
//!    worker's status, and the returned [`Settlement`] says how;
//! 3. on cancellation, [`refund`] what is due back.
//!
//! Every call is part of the plugin call's transaction: if the call fails,
//! no money moved. Order ids are the plugin's own; check them early with
//! [`check_order_id`] to give the user a clear error before anything else.

pub use crate::wit::coop::host::payments::{Settlement, balance, charge, preview, refund, settle};

use crate::Error;
use crate::money::Money;

/// Longest order id the host accepts.
pub const MAX_ORDER_ID_LEN: usize = 64;

/// Check `order` as the host will: 1 to 64 characters of `A-Z`, `a-z`,
/// `0-9`, `.`, `_` and `-`. Fails with `invalid` naming the rule.
pub fn check_order_id(order: &str) -> Result<(), Error> {
    let ok = !order.is_empty()
        && order.len() <= MAX_ORDER_ID_LEN
        && order
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "order id {order:?} must be 1 to {MAX_ORDER_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

impl Settlement {
    /// The worker's part of `gross` in basis points (8000 = 80 %), rounded
    /// down: what a plugin shows a worker as "your share". Zero when
    /// `gross` is not positive.
    pub fn worker_share_bp(&self, gross: &Money) -> u32 {
        if gross.amount <= 0 || self.worker <= 0 {
            return 0;
        }
        let bp = i128::from(self.worker) * 10_000 / i128::from(gross.amount);
        bp.clamp(0, 10_000) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_follow_the_host_rules() {
        for ok in ["o1", "order-2026.11_a", &"x".repeat(64)] {
            assert!(check_order_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "ü", "a/b", &"x".repeat(65)] {
            let e = check_order_id(bad).unwrap_err();
            assert!(e.to_string().contains("1 to 64"), "{bad}: {e}");
        }
    }

    #[test]
    fn worker_share_is_in_basis_points() {
        let s = Settlement {
            policy_version: 1,
            worker: 2_000,
            commission: 500,
            reserve: 135,
            solidarity: 225,
            community: 45,
            processor_fee: 50,
            cae_fee: 0,
        };
        assert_eq!(s.worker_share_bp(&Money::new(2_500, "EUR").unwrap()), 8_000);
        assert_eq!(s.worker_share_bp(&Money::new(0, "EUR").unwrap()), 0);
    }
}
