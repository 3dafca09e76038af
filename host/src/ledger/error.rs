//! The one error type of the ledger's domain core (IBAN, BIC and SEPA file
//! errors have their own enums in [`super::iban`] and [`super::sepa`]).

use super::hold::HoldState;

/// Why the ledger refused something. Messages are lowercase, say what was
/// wrong and, where the caller can act, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A currency code that is not three upper-case ASCII letters.
    #[error("invalid currency code {0:?}: expected three upper-case letters such as EUR")]
    InvalidCurrency(String),
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: String,
        /// The currency of the right operand.
        right: String,
    },
    /// An arithmetic result does not fit in `i64` minor units.
    #[error("amount overflow: the result does not fit in 64-bit minor units")]
    Overflow,
    /// [`super::money::split_proportional`] got no weights or only zeros.
    #[error("cannot split an amount without at least one non-zero weight")]
    NoWeights,
    /// A storage code that names no account.
    #[error(
        "invalid account code {0:?}: expected e.g. wallet:42, escrow:order-17, cae:coopaname or revenue"
    )]
    InvalidAccountCode(String),
    /// An order reference, CAE name, idempotency key or kind with bad characters or length.
    #[error("invalid {what} {value:?}: use 1 to {max} characters among A-Z a-z 0-9 . _ : -")]
    InvalidReference {
        /// Which field was wrong.
        what: &'static str,
        /// The value given.
        value: String,
        /// The longest length allowed.
        max: usize,
    },
    /// A transaction with no postings.
    #[error("a transaction needs at least two postings")]
    EmptyTransaction,
    /// A posting of zero, which would record nothing.
    #[error("posting to {account} has a zero amount: leave it out")]
    ZeroPosting {
        /// The account code of the posting.
        account: String,
    },
    /// The postings of a currency do not sum to zero.
    #[error(
        "transaction is unbalanced: postings in {currency} sum to {sum} minor units instead of 0"
    )]
    Unbalanced {
        /// The unbalanced currency.
        currency: String,
        /// What the postings sum to.
        sum: i64,
    },
    /// Applying a transaction would take an account that may not go negative below zero.
    #[error(
        "insufficient funds: {account} holds {balance} {currency} minor units and cannot give {requested}"
    )]
    InsufficientFunds {
        /// The account code.
        account: String,
        /// The currency.
        currency: String,
        /// Its balance before the transaction.
        balance: i64,
        /// How much the transaction would take out of it.
        requested: i64,
    },
    /// An amount that must be strictly positive was not.
    #[error("{what} must be a positive amount, got {amount} minor units")]
    NonPositiveAmount {
        /// Which amount was wrong.
        what: &'static str,
        /// The amount given.
        amount: i64,
    },
    /// A hold was asked to move from a state that does not allow it.
    #[error("cannot {action} a hold that is {from}")]
    InvalidHoldTransition {
        /// The state the hold is in.
        from: HoldState,
        /// What was asked.
        action: &'static str,
    },
    /// A hold was captured at or after its expiry time.
    #[error("hold for order {order_ref} expired at {expires_at} ms: authorise the payment again")]
    HoldExpired {
        /// The order the hold is for.
        order_ref: String,
        /// When it expired, in ms since the epoch.
        expires_at: i64,
    },
    /// A hold was expired before its expiry time.
    #[error("hold for order {order_ref} does not expire before {expires_at} ms")]
    HoldNotYetExpired {
        /// The order the hold is for.
        order_ref: String,
        /// When it expires, in ms since the epoch.
        expires_at: i64,
    },
    /// A settlement does not take exactly the hold's amount from the hold's escrow.
    #[error(
        "settlement does not match the hold: it takes {settled} from escrow:{order_ref} but the hold is for {held}"
    )]
    SettlementMismatch {
        /// The order the hold is for.
        order_ref: String,
        /// What the hold holds.
        held: i64,
        /// What the settlement takes out of the escrow account.
        settled: i64,
    },
    /// A split policy with out-of-range or inconsistent parameters.
    #[error("invalid split policy: {0}")]
    InvalidPolicy(String),
    /// A settlement whose fee exceeds the part meant to bear it.
    #[error(
        "processor fee of {fee} minor units exceeds the {bearer} part of {part}: lower the fee or change who bears it"
    )]
    FeeExceedsShare {
        /// The fee.
        fee: i64,
        /// Who was to bear it.
        bearer: &'static str,
        /// The part it was to come out of.
        part: i64,
    },
    /// A period that is not a month `YYYY-MM`.
    #[error("{0}")]
    InvalidPeriod(String),
    /// A time interval whose end is before its start.
    #[error("invalid interval: end {end} ms is before start {start} ms")]
    InvalidInterval {
        /// Start, ms since the epoch.
        start: i64,
        /// End, ms since the epoch.
        end: i64,
    },
}
