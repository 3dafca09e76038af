//! Tests of the SEPA file, including validation against the EPC schema
//! with a real validator (xmllint).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::ledger::transaction::Balances;

const EUR: Currency = Currency::EUR;

/// The committed sample, regenerated with `UPDATE_SAMPLES=1`.
const SAMPLE: &str = "../docs/samples/payout-pain.001.001.09.xml";

fn sample_run() -> PayoutRun {
    let payout = |member_id, id: &str, name: &str, iban: &str, cents, text: &str| Payout {
        member_id,
        end_to_end_id: id.to_string(),
        creditor_name: name.to_string(),
        creditor_iban: Iban::parse(iban).unwrap(),
        amount: Money::new(cents, EUR),
        remittance: text.to_string(),
    };
    PayoutRun {
        msg_id: "coophost-payout-2025-01".to_string(),
        created_at: 1_738_346_400_000,     // 2025-01-31T18:00:00Z
        execution_date: 1_738_540_800_000, // 2025-02-03
        debtor: Debtor {
            name: "Coopérative Cyclo Lyon".to_string(),
            iban: Iban::parse("FR14 2004 1010 0505 0001 3M02 606").unwrap(),
            bic: Bic::parse("CCOPFRPPXXX").unwrap(),
        },
        payouts: vec![
            payout(
                42,
                "payout-2025-01-m42",
                "Amélie D'Aubigné & fils",
                "DE89 3704 0044 0532 0130 00",
                123_456,
                "Gains de janvier 2025 - membre 42",
            ),
            payout(
                7,
                "payout-2025-01-m7",
                "Jürgen Groß",
                "BE71 0961 2345 6769",
                76_200,
                "Gains de janvier 2025 <net>",
            ),
            payout(
                9,
                "payout-2025-01-m9",
                "Zoë Œuvray",
                "NL91 ABNA 0417 1643 00",
                1,
                "",
            ),
        ],
    }
}

fn xsd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/pain.001.001.09.xsd")
}

#[test]
fn document_has_the_expected_content() {
    let xml = pain001(&sample_run()).unwrap();
    for expected in [
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">"#,
        "<MsgId>coophost-payout-2025-01</MsgId>",
        "<CreDtTm>2025-01-31T18:00:00Z</CreDtTm>",
        "<NbOfTxs>3</NbOfTxs>",
        // 1234.56 + 762.00 + 0.01
        "<CtrlSum>1996.57</CtrlSum>",
        "<ReqdExctnDt><Dt>2025-02-03</Dt></ReqdExctnDt>",
        "<Dbtr><Nm>Cooperative Cyclo Lyon</Nm></Dbtr>",
        "<DbtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN></Id></DbtrAcct>",
        "<BICFI>CCOPFRPPXXX</BICFI>",
        "<ChrgBr>SLEV</ChrgBr>",
        r#"<Amt><InstdAmt Ccy="EUR">1234.56</InstdAmt></Amt>"#,
        r#"<Amt><InstdAmt Ccy="EUR">0.01</InstdAmt></Amt>"#,
        "<Cdtr><Nm>Amelie D&apos;Aubigne + fils</Nm></Cdtr>",
        "<Cdtr><Nm>Jurgen Gross</Nm></Cdtr>",
        "<Cdtr><Nm>Zoe OEuvray</Nm></Cdtr>",
        "<RmtInf><Ustrd>Gains de janvier 2025 .net.</Ustrd></RmtInf>",
    ] {
        assert!(xml.contains(expected), "missing {expected}\n{xml}");
    }
    // The payout without remittance text has no RmtInf.
    assert_eq!(xml.matches("<RmtInf>").count(), 2);
    assert!(xml.is_ascii());
}

#[test]
fn text_is_reduced_to_the_sepa_set() {
    assert_eq!(sepa_text("  Ça  va? ", 70), "Ca  va?");
    assert_eq!(sepa_text("a<b>\"c\";d\te", 70), "a.b..c..d e");
    assert_eq!(sepa_text("日本", 70), "..");
    assert_eq!(sepa_text("abcdef", 3), "abc");
    assert_eq!(sepa_text("ab cdef", 3), "ab");
    assert_eq!(xml_escape("a&b<c>'\""), "a&amp;b&lt;c&gt;&apos;&quot;");
}

#[test]
fn dates_are_utc_with_four_digit_years() {
    assert_eq!(iso_date_time(0), "1970-01-01T00:00:00Z");
    assert_eq!(iso_date_time(951_868_799_000), "2000-02-29T23:59:59Z");
    assert_eq!(iso_date(951_868_800_000), "2000-03-01");
    assert_eq!(iso_date_time(1_738_346_400_999), "2025-01-31T18:00:00Z");
    assert_eq!(iso_date(MAX_FILE_TIME_MS), "9999-12-31");
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn runs_the_bank_would_refuse_are_refused() {
    let mut run = sample_run();
    run.payouts[1].end_to_end_id = run.payouts[0].end_to_end_id.clone();
    assert_eq!(
        pain001(&run),
        Err(SepaError::DuplicateId("payout-2025-01-m42".into()))
    );

    let mut run = sample_run();
    run.payouts[0].amount = Money::new(5, Currency::parse("CHF").unwrap());
    assert_eq!(
        pain001(&run).unwrap_err().to_string(),
        "payout payout-2025-01-m42 is in CHF: sepa credit transfers carry only EUR"
    );

    let mut run = sample_run();
    run.payouts[2].amount = Money::new(0, EUR);
    assert!(matches!(
        pain001(&run),
        Err(SepaError::AmountOutOfRange { amount: 0, .. })
    ));
    run.payouts[2].amount = Money::new(MAX_TRANSFER_CENTS + 1, EUR);
    assert!(matches!(
        pain001(&run),
        Err(SepaError::AmountOutOfRange { .. })
    ));

    for bad in [
        "",
        "/starts-with-slash",
        "a//b",
        "x".repeat(36).as_str(),
        "é",
        " pad",
    ] {
        let mut run = sample_run();
        run.msg_id = bad.to_string();
        assert!(
            matches!(pain001(&run), Err(SepaError::BadId { .. })),
            "{bad:?}"
        );
    }

    let mut run = sample_run();
    run.payouts[0].creditor_name = " ".to_string();
    assert_eq!(
        pain001(&run),
        Err(SepaError::EmptyText {
            what: "creditor name"
        })
    );

    let mut run = sample_run();
    run.payouts.clear();
    assert_eq!(pain001(&run), Err(SepaError::NoPayouts));

    let mut run = sample_run();
    run.created_at = -1;
    assert!(matches!(pain001(&run), Err(SepaError::BadTime { .. })));
}

#[test]
fn run_moves_wallets_to_payout_clearing() {
    let run = sample_run();
    let tx = run.ledger_transaction(5).unwrap();
    assert_eq!(tx.idempotency_key, "payout:coophost-payout-2025-01");
    let mut balances = Balances::new();
    // Member 9 has nothing yet: the whole run is refused.
    assert!(balances.apply(&tx).is_err());
    let fund = Transaction {
        idempotency_key: "earnings".into(),
        kind: "test".into(),
        memo: String::new(),
        postings: vec![
            Posting::new(AccountKind::ExternalClearing, -199_657, EUR),
            Posting::new(AccountKind::MemberWallet(42), 123_456, EUR),
            Posting::new(AccountKind::MemberWallet(7), 76_200, EUR),
            Posting::new(AccountKind::MemberWallet(9), 1, EUR),
        ],
        created_at: 0,
    };
    balances.apply(&fund).unwrap();
    balances.apply(&tx).unwrap();
    assert_eq!(balances.get(&AccountKind::PayoutClearing, EUR), 199_657);
    assert_eq!(balances.get(&AccountKind::MemberWallet(42), EUR), 0);
}

/// Keeps `docs/samples/payout-pain.001.001.09.xml` equal to what the code
/// generates; `UPDATE_SAMPLES=1 cargo test -p coophost --lib ledger` rewrites it.
#[test]
fn committed_sample_is_current() {
    let xml = pain001(&sample_run()).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
    if std::env::var_os("UPDATE_SAMPLES").is_some() {
        std::fs::write(&path, &xml).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == xml,
        "{} is out of date: run UPDATE_SAMPLES=1 cargo test -p coophost --lib ledger",
        path.display()
    );
}

/// Validates the generated file, and the committed sample, against the EPC
/// schema with xmllint. Skips, saying so, when the schema is absent (a bare
/// clone) or xmllint is not installed, except that with `CI=true` a missing
/// xmllint fails: CI must really validate.
#[test]
fn pain001_validates_against_the_epc_schema() {
    let xsd = xsd_path();
    if !xsd.exists() {
        println!(
            "skipped: schema {} not found, pain.001 not validated",
            xsd.display()
        );
        return;
    }
    let has_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if !has_xmllint {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "xmllint is missing but CI=true: install libxml2-utils to validate pain.001"
        );
        println!(
            "skipped: xmllint not installed (apt-get install libxml2-utils), pain.001 not validated"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("payout.xml");
    std::fs::write(&generated, pain001(&sample_run()).unwrap()).unwrap();
    assert_valid(&xsd, &generated);

    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
    if sample.exists() {
        assert_valid(&xsd, &sample);
    }

    // The validator must be able to fail: a bad IBAN pattern is rejected.
    let broken = dir.path().join("broken.xml");
    let xml = pain001(&sample_run()).unwrap();
    std::fs::write(&broken, xml.replace("FR1420041010050500013M02606", "fr14")).unwrap();
    let out = xmllint(&xsd, &broken);
    assert!(!out.status.success(), "xmllint accepted an invalid file");
}

fn xmllint(xsd: &Path, file: &Path) -> std::process::Output {
    Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(file)
        .output()
        .unwrap()
}

fn assert_valid(xsd: &Path, file: &Path) {
    let out = xmllint(xsd, file);
    assert!(
        out.status.success(),
        "{} does not validate:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
