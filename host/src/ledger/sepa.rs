//! Payout runs and the SEPA credit transfer initiation file
//! (pain.001.001.09, EPC SCT customer-to-PSP rulebook) a coop uploads to
//! its bank.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::account::AccountKind;
use super::error::LedgerError;
use super::iban::{Bic, Iban};
use super::money::{Currency, Money};
use super::period::civil_from_days;
use super::transaction::{Posting, Transaction, kinds};

/// The XML namespace of pain.001.001.09.
pub const PAIN001_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";
/// The longest identifier (MsgId, EndToEndId) the schema accepts.
pub const MAX_ID_LEN: usize = 35;
/// The longest party name the EPC rulebook accepts.
pub const MAX_NAME_LEN: usize = 70;
/// The longest unstructured remittance text.
pub const MAX_REMITTANCE_LEN: usize = 140;
/// The largest single transfer the EPC schema accepts, in cents (999,999,999.99 EUR).
pub const MAX_TRANSFER_CENTS: i64 = 99_999_999_999;
/// 9999-12-31T23:59:59.999Z in ms: dates in the file have four-digit years.
const MAX_FILE_TIME_MS: i64 = 253_402_300_799_999;

/// Why a payout run cannot become a SEPA file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SepaError {
    /// A run with nothing to pay.
    #[error("a payout run needs at least one payout")]
    NoPayouts,
    /// A payout in another currency than EUR.
    #[error("payout {end_to_end_id} is in {currency}: sepa credit transfers carry only EUR")]
    NotEuro {
        /// The payout's end-to-end id.
        end_to_end_id: String,
        /// Its currency.
        currency: String,
    },
    /// A payout of zero, a negative amount, or more than the schema allows.
    #[error("payout {end_to_end_id} of {amount} cents is outside 0.01 to 999999999.99 EUR")]
    AmountOutOfRange {
        /// The payout's end-to-end id.
        end_to_end_id: String,
        /// Its amount in cents.
        amount: i64,
    },
    /// An identifier the bank would refuse.
    #[error(
        "invalid {what} {value:?}: use 1 to 35 characters among A-Z a-z 0-9 / - ? : ( ) . , ' + and space, not starting with / and without //"
    )]
    BadId {
        /// Which identifier.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// Two payouts with the same end-to-end id.
    #[error("end-to-end id {0:?} is used twice in the run: each payout needs its own")]
    DuplicateId(String),
    /// A name or text that is empty once reduced to the SEPA character set.
    #[error("{what} is empty once reduced to the sepa character set: give it in Latin letters")]
    EmptyText {
        /// Which text.
        what: &'static str,
    },
    /// A time that cannot be written with a four-digit year.
    #[error("{what} {ms} ms is outside the years 1970 to 9999")]
    BadTime {
        /// Which time.
        what: &'static str,
        /// The value given.
        ms: i64,
    },
    /// The total does not fit in 64 bits.
    #[error("the payout run total overflows")]
    Overflow,
}

/// The coop's account the transfers leave from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debtor {
    /// The coop's name as the bank knows it.
    pub name: String,
    /// The coop's account.
    pub iban: Iban,
    /// The coop's bank.
    pub bic: Bic,
}

/// One transfer to one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// The member whose wallet is paid out.
    pub member_id: i64,
    /// Unique in the run; the bank reports it back on the member's statement.
    pub end_to_end_id: String,
    /// The account holder's name.
    pub creditor_name: String,
    /// The member's account, checked at entry.
    pub creditor_iban: Iban,
    /// The amount, in EUR cents.
    pub amount: Money,
    /// Text shown to the member by their bank (may be empty).
    pub remittance: String,
}

/// A payout run: wallet balances moved to payout clearing and sent as one
/// SEPA file. The repository stores it so the file can be downloaded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRun {
    /// The message id, unique per coop: the bank refuses a file it has seen.
    pub msg_id: String,
    /// When the run was made, ms since the epoch (UTC in the file).
    pub created_at: i64,
    /// The day the bank should execute the transfers: the UTC date of this
    /// time in ms.
    pub execution_date: i64,
    /// The coop's account.
    pub debtor: Debtor,
    /// The transfers.
    pub payouts: Vec<Payout>,
}

impl PayoutRun {
    /// Check the run can become a valid file: ids well formed and unique,
    /// EUR amounts within the schema's range, names not empty, dates with
    /// four-digit years.
    pub fn validate(&self) -> Result<(), SepaError> {
        check_id("message id", &self.msg_id)?;
        check_time("created_at", self.created_at)?;
        check_time("execution_date", self.execution_date)?;
        non_empty("debtor name", &self.debtor.name, MAX_NAME_LEN)?;
        if self.payouts.is_empty() {
            return Err(SepaError::NoPayouts);
        }
        let mut seen = HashSet::new();
        for p in &self.payouts {
            check_id("end-to-end id", &p.end_to_end_id)?;
            if !seen.insert(p.end_to_end_id.as_str()) {
                return Err(SepaError::DuplicateId(p.end_to_end_id.clone()));
            }
            if p.amount.currency != Currency::EUR {
                return Err(SepaError::NotEuro {
                    end_to_end_id: p.end_to_end_id.clone(),
                    currency: p.amount.currency.to_string(),
                });
            }
            if !(1..=MAX_TRANSFER_CENTS).contains(&p.amount.amount) {
                return Err(SepaError::AmountOutOfRange {
                    end_to_end_id: p.end_to_end_id.clone(),
                    amount: p.amount.amount,
                });
            }
            non_empty("creditor name", &p.creditor_name, MAX_NAME_LEN)?;
        }
        self.total().map(|_| ())
    }

    /// The sum of the payouts.
    pub fn total(&self) -> Result<Money, SepaError> {
        self.payouts
            .iter()
            .try_fold(Money::zero(Currency::EUR), |sum, p| {
                sum.checked_add(p.amount)
            })
            .map_err(|_| SepaError::Overflow)
    }

    /// The transaction that moves each payout out of the member's wallet
    /// into payout clearing, all at once; key `payout:<msg_id>` so a run
    /// executes once. It fails like any transaction if a wallet holds less
    /// than its payout.
    pub fn ledger_transaction(&self, at: i64) -> Result<Transaction, LedgerError> {
        let mut postings = Vec::with_capacity(self.payouts.len() + 1);
        let mut total = Money::zero(Currency::EUR);
        for p in &self.payouts {
            postings.push(Posting {
                account: AccountKind::MemberWallet(p.member_id),
                amount: p.amount.checked_neg()?,
            });
            total = total.checked_add(p.amount)?;
        }
        postings.push(Posting {
            account: AccountKind::PayoutClearing,
            amount: total,
        });
        let tx = Transaction {
            idempotency_key: format!("payout:{}", self.msg_id),
            kind: kinds::PAYOUT_RUN.to_string(),
            memo: format!("payout run {} of {}", self.msg_id, total),
            postings,
            created_at: at,
        };
        tx.validate()?;
        Ok(tx)
    }
}

/// The pain.001.001.09 document for `run`: one payment information block
/// (SEPA service level, charges shared, SLEV) and one transfer per payout.
/// Text is reduced to the SEPA character set and cut to the schema's
/// lengths; the run is validated first.
pub fn pain001(run: &PayoutRun) -> Result<String, SepaError> {
    run.validate()?;
    let count = run.payouts.len();
    let total = run.total()?.decimal();
    let debtor_name = xml_escape(&sepa_text(&run.debtor.name, MAX_NAME_LEN));
    let msg_id = xml_escape(&run.msg_id);

    let mut x = String::new();
    // Writing to a String cannot fail.
    let mut line = |indent: usize, text: &str| {
        let _ = writeln!(x, "{:width$}{text}", "", width = indent * 2);
    };
    line(0, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    line(0, &format!(r#"<Document xmlns="{PAIN001_NAMESPACE}">"#));
    line(1, "<CstmrCdtTrfInitn>");
    line(2, "<GrpHdr>");
    line(3, &format!("<MsgId>{msg_id}</MsgId>"));
    line(
        3,
        &format!("<CreDtTm>{}</CreDtTm>", iso_date_time(run.created_at)),
    );
    line(3, &format!("<NbOfTxs>{count}</NbOfTxs>"));
    line(3, &format!("<CtrlSum>{total}</CtrlSum>"));
    line(3, &format!("<InitgPty><Nm>{debtor_name}</Nm></InitgPty>"));
    line(2, "</GrpHdr>");
    line(2, "<PmtInf>");
    line(3, &format!("<PmtInfId>{msg_id}</PmtInfId>"));
    line(3, "<PmtMtd>TRF</PmtMtd>");
    line(3, &format!("<NbOfTxs>{count}</NbOfTxs>"));
    line(3, &format!("<CtrlSum>{total}</CtrlSum>"));
    line(3, "<PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>");
    line(
        3,
        &format!(
            "<ReqdExctnDt><Dt>{}</Dt></ReqdExctnDt>",
            iso_date(run.execution_date)
        ),
    );
    line(3, &format!("<Dbtr><Nm>{debtor_name}</Nm></Dbtr>"));
    line(
        3,
        &format!(
            "<DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct>",
            run.debtor.iban
        ),
    );
    line(
        3,
        &format!(
            "<DbtrAgt><FinInstnId><BICFI>{}</BICFI></FinInstnId></DbtrAgt>",
            run.debtor.bic
        ),
    );
    line(3, "<ChrgBr>SLEV</ChrgBr>");
    for p in &run.payouts {
        line(3, "<CdtTrfTxInf>");
        line(
            4,
            &format!(
                "<PmtId><EndToEndId>{}</EndToEndId></PmtId>",
                xml_escape(&p.end_to_end_id)
            ),
        );
        line(
            4,
            &format!(
                r#"<Amt><InstdAmt Ccy="EUR">{}</InstdAmt></Amt>"#,
                p.amount.decimal()
            ),
        );
        line(
            4,
            &format!(
                "<Cdtr><Nm>{}</Nm></Cdtr>",
                xml_escape(&sepa_text(&p.creditor_name, MAX_NAME_LEN))
            ),
        );
        line(
            4,
            &format!(
                "<CdtrAcct><Id><IBAN>{}</IBAN></Id></CdtrAcct>",
                p.creditor_iban
            ),
        );
        let remittance = sepa_text(&p.remittance, MAX_REMITTANCE_LEN);
        if !remittance.is_empty() {
            line(
                4,
                &format!(
                    "<RmtInf><Ustrd>{}</Ustrd></RmtInf>",
                    xml_escape(&remittance)
                ),
            );
        }
        line(3, "</CdtTrfTxInf>");
    }
    line(2, "</PmtInf>");
    line(1, "</CstmrCdtTrfInitn>");
    line(0, "</Document>");
    Ok(x)
}

/// Whether `c` is in the SEPA basic character set (EPC217-08):
/// `a-z A-Z 0-9 / - ? : ( ) . , ' +` and space.
pub fn is_sepa_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '/' | '-' | '?' | ':' | '(' | ')' | '.' | ',' | '\'' | '+' | ' '
        )
}

/// Reduce `text` to the SEPA character set and at most `max` characters:
/// common Latin letters lose their accents (é to e, ß to ss), `&` becomes
/// `+`, whitespace becomes a space, anything else becomes `.`; the result
/// is trimmed.
pub fn sepa_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if is_sepa_char(c) => out.push(c),
            c if c.is_whitespace() => out.push(' '),
            '&' => out.push('+'),
            c => match transliterate(c) {
                Some(s) => out.push_str(s),
                None => out.push('.'),
            },
        }
    }
    out.trim()
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
        'ç' => "c",
        'Ç' => "C",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'È' | 'É' | 'Ê' | 'Ë' => "E",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' => "I",
        'ñ' => "n",
        'Ñ' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ß' => "ss",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        '’' | '‘' => "'",
        '–' | '—' => "-",
        _ => return None,
    })
}

/// Escape the five XML special characters for text and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn check_id(what: &'static str, id: &str) -> Result<(), SepaError> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_ID_LEN
        && id.chars().all(is_sepa_char)
        && !id.starts_with('/')
        && !id.contains("//")
        && id.trim() == id;
    if ok {
        Ok(())
    } else {
        Err(SepaError::BadId {
            what,
            value: id.to_string(),
        })
    }
}

fn non_empty(what: &'static str, text: &str, max: usize) -> Result<(), SepaError> {
    if sepa_text(text, max).is_empty() {
        Err(SepaError::EmptyText { what })
    } else {
        Ok(())
    }
}

fn check_time(what: &'static str, ms: i64) -> Result<(), SepaError> {
    if (0..=MAX_FILE_TIME_MS).contains(&ms) {
        Ok(())
    } else {
        Err(SepaError::BadTime { what, ms })
    }
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
/// The UTC date of `ms` as `YYYY-MM-DD`.
pub fn iso_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDThh:mm:ssZ` of `ms`, whole seconds, UTC.
fn iso_date_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        iso_date(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
