//! The accounts money can sit in, and their stable storage codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::LedgerError;

/// The longest order reference or CAE name an account code may carry.
/// Long enough for a UUID with a prefix, short enough for an index key.
pub const MAX_REF_LEN: usize = 100;

/// Which account a posting touches. Accounts belong to one coop; the
/// repository scopes them, so no coop id appears here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AccountKind {
    /// What the coop owes a member (earnings not yet paid out). Code `wallet:<id>`.
    MemberWallet(i64),
    /// The coop's own share of commissions, free to spend. Code `revenue`.
    CoopRevenue,
    /// The indivisible reserve, never distributed to members. Code `reserve`.
    IndivisibleReserve,
    /// The solidarity fund that tops workers up to the earnings floor. Code `solidarity`.
    SolidarityFund,
    /// Money for local or community projects. Code `community`.
    CommunityFund,
    /// A customer's payment held for one order until it is settled or
    /// refunded. Code `escrow:<order ref>`.
    Escrow(String),
    /// The mirror of the outside world: money paid in by customers or paid
    /// out by the bank passes through here. Code `external`.
    ExternalClearing,
    /// What is owed to a CAE (business and employment cooperative) for the
    /// workers it employs. Code `cae:<name>`.
    CaeAccount(String),
    /// Money taken from wallets for a payout run and not yet confirmed paid
    /// by the bank. Code `payout`.
    PayoutClearing,
    /// Payment processor fees owed to the processor. Code `processor-fees`.
    ProcessorFees,
    /// Flat fees paid by workers under a subscription policy. Code `subscriptions`.
    SubscriptionRevenue,
    /// Members' share capital: what members paid for their cooperative
    /// shares, refunded per the coop's rules when they leave. Code `shares`.
    ShareCapital,
    /// What the coop owes a worker for an earnings-floor top-up the
    /// solidarity fund could not pay: paid back first when the fund has
    /// money. Code `floor-debt:<id>`.
    FloorDebt(i64),
    /// The coop's side of its floor debts: minus what it owes workers
    /// under the floor and has not paid yet. Code `floor-commitment`.
    FloorCommitment,
}

impl AccountKind {
    /// An escrow account for `order_ref`, checked like a parsed code.
    pub fn escrow(order_ref: &str) -> Result<AccountKind, LedgerError> {
        check_ref("order reference", order_ref)?;
        Ok(AccountKind::Escrow(order_ref.to_string()))
    }

    /// A CAE account for `name`, checked like a parsed code.
    pub fn cae(name: &str) -> Result<AccountKind, LedgerError> {
        check_ref("cae name", name)?;
        Ok(AccountKind::CaeAccount(name.to_string()))
    }

    /// Whether the balance of this account may fall below zero.
    ///
    /// Only [`AccountKind::ExternalClearing`] may: money enters the ledger
    /// from outside through it (a customer's card payment is posted as
    /// external -x, escrow +x), so its balance is minus what the outside
    /// world has put in and not taken back. Every other account holds real
    /// money and a negative balance would mean spending money that is not
    /// there.
    ///
    /// [`AccountKind::FloorCommitment`] may too: it is the coop's promise
    /// to workers, booked as floor-debt +x and commitment -x, so its
    /// balance is minus the debt not yet paid; nothing is ever spent from
    /// it.
    pub fn may_go_negative(&self) -> bool {
        matches!(
            self,
            AccountKind::ExternalClearing | AccountKind::FloorCommitment
        )
    }

    /// The stable code stored in the database, e.g. `wallet:42`.
    pub fn code(&self) -> String {
        match self {
            AccountKind::MemberWallet(id) => format!("wallet:{id}"),
            AccountKind::CoopRevenue => "revenue".to_string(),
            AccountKind::IndivisibleReserve => "reserve".to_string(),
            AccountKind::SolidarityFund => "solidarity".to_string(),
            AccountKind::CommunityFund => "community".to_string(),
            AccountKind::Escrow(order) => format!("escrow:{order}"),
            AccountKind::ExternalClearing => "external".to_string(),
            AccountKind::CaeAccount(name) => format!("cae:{name}"),
            AccountKind::PayoutClearing => "payout".to_string(),
            AccountKind::ProcessorFees => "processor-fees".to_string(),
            AccountKind::SubscriptionRevenue => "subscriptions".to_string(),
            AccountKind::ShareCapital => "shares".to_string(),
            AccountKind::FloorDebt(id) => format!("floor-debt:{id}"),
            AccountKind::FloorCommitment => "floor-commitment".to_string(),
        }
    }

    /// Parse a code produced by [`AccountKind::code`].
    pub fn parse(code: &str) -> Result<AccountKind, LedgerError> {
        let invalid = || LedgerError::InvalidAccountCode(code.to_string());
        let kind = match code {
            "revenue" => AccountKind::CoopRevenue,
            "reserve" => AccountKind::IndivisibleReserve,
            "solidarity" => AccountKind::SolidarityFund,
            "community" => AccountKind::CommunityFund,
            "external" => AccountKind::ExternalClearing,
            "payout" => AccountKind::PayoutClearing,
            "processor-fees" => AccountKind::ProcessorFees,
            "subscriptions" => AccountKind::SubscriptionRevenue,
            "shares" => AccountKind::ShareCapital,
            "floor-commitment" => AccountKind::FloorCommitment,
            _ => match code.split_once(':') {
                Some((prefix @ ("wallet" | "floor-debt"), id)) => {
                    // Digits only: "+42" or "042" would give a second code for one wallet.
                    let canonical = !id.is_empty()
                        && id.bytes().all(|b| b.is_ascii_digit())
                        && (id == "0" || !id.starts_with('0'));
                    if !canonical {
                        return Err(invalid());
                    }
                    let id = id.parse().map_err(|_| invalid())?;
                    if prefix == "wallet" {
                        AccountKind::MemberWallet(id)
                    } else {
                        AccountKind::FloorDebt(id)
                    }
                }
                Some(("escrow", order)) => AccountKind::escrow(order)?,
                Some(("cae", name)) => AccountKind::cae(name)?,
                _ => return Err(invalid()),
            },
        };
        Ok(kind)
    }

    /// Check a directly built value as [`AccountKind::parse`] would.
    pub fn validate(&self) -> Result<(), LedgerError> {
        match self {
            AccountKind::Escrow(order) => check_ref("order reference", order),
            AccountKind::CaeAccount(name) => check_ref("cae name", name),
            AccountKind::MemberWallet(id) | AccountKind::FloorDebt(id) if *id < 0 => {
                Err(LedgerError::InvalidAccountCode(self.code()))
            }
            _ => Ok(()),
        }
    }
}

/// Check a reference (order ref, CAE name, idempotency key): 1 to `max`
/// characters among `A-Z a-z 0-9 . _ : -`, so codes stay unambiguous,
/// printable and safe in file names and URLs.
pub(crate) fn check_ref_len(
    what: &'static str,
    value: &str,
    max: usize,
) -> Result<(), LedgerError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LedgerError::InvalidReference {
            what,
            value: value.to_string(),
            max,
        })
    }
}

fn check_ref(what: &'static str, value: &str) -> Result<(), LedgerError> {
    check_ref_len(what, value, MAX_REF_LEN)
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl FromStr for AccountKind {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountKind::parse(s)
    }
}

impl TryFrom<String> for AccountKind {
    type Error = LedgerError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AccountKind::parse(&s)
    }
}

impl From<AccountKind> for String {
    fn from(a: AccountKind) -> String {
        a.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        let all = [
            AccountKind::MemberWallet(42),
            AccountKind::MemberWallet(0),
            AccountKind::CoopRevenue,
            AccountKind::IndivisibleReserve,
            AccountKind::SolidarityFund,
            AccountKind::CommunityFund,
            AccountKind::Escrow("order-17".into()),
            AccountKind::Escrow("a:b".into()),
            AccountKind::ExternalClearing,
            AccountKind::CaeAccount("coopaname".into()),
            AccountKind::PayoutClearing,
            AccountKind::ProcessorFees,
            AccountKind::SubscriptionRevenue,
            AccountKind::ShareCapital,
            AccountKind::FloorDebt(7),
            AccountKind::FloorCommitment,
        ];
        assert!(AccountKind::parse("floor-debt:07").is_err());
        for account in all {
            assert_eq!(AccountKind::parse(&account.code()).unwrap(), account);
            let json = serde_json::to_string(&account).unwrap();
            assert_eq!(serde_json::from_str::<AccountKind>(&json).unwrap(), account);
        }
        assert_eq!(AccountKind::MemberWallet(42).code(), "wallet:42");
        assert_eq!(
            AccountKind::escrow("order-17").unwrap().code(),
            "escrow:order-17"
        );
        assert_eq!(
            AccountKind::cae("coopaname").unwrap().code(),
            "cae:coopaname"
        );
    }

    #[test]
    fn bad_codes_are_refused() {
        for bad in [
            "",
            "wallet:",
            "wallet:x",
            "wallet:+4",
            "wallet:04",
            "wallet:-1",
            "escrow:",
            "escrow:a b",
            "cae:",
            "cae:é",
            "bank",
            "Revenue",
            "wallet",
        ] {
            assert!(
                AccountKind::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(
            AccountKind::parse("bank").unwrap_err().to_string(),
            "invalid account code \"bank\": expected e.g. wallet:42, escrow:order-17, cae:coopaname or revenue"
        );
        let long = "x".repeat(MAX_REF_LEN + 1);
        assert!(AccountKind::escrow(&long).is_err());
        assert!(AccountKind::escrow(&long[1..]).is_ok());
        assert!(AccountKind::Escrow("a b".into()).validate().is_err());
        assert!(AccountKind::MemberWallet(-1).validate().is_err());
    }

    #[test]
    fn only_external_clearing_may_go_negative() {
        assert!(AccountKind::ExternalClearing.may_go_negative());
        assert!(!AccountKind::MemberWallet(1).may_go_negative());
        assert!(!AccountKind::SolidarityFund.may_go_negative());
        assert!(!AccountKind::PayoutClearing.may_go_negative());
        assert!(!AccountKind::Escrow("o".into()).may_go_negative());
    }
}
