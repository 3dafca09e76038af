//! The ledger's repository on both backends: idempotency, reversals and
//! overdraft refusals with hand-checked numbers, and the concurrent test of
//! issue 4 (8 tasks, 10,000 settlements, random replays).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use coophost::db::Db;
use coophost::error::Error;
use coophost::ledger::repo::{self, Posted};
use coophost::ledger::split::SplitTerms;
use coophost::ledger::transaction::kinds;
use coophost::ledger::{
    AccountKind, Currency, FeeBearer, Hold, Money, Posting, SplitPolicy, Transaction, WorkerStatus,
    settle,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use crate::common::{TestHost, backends};

const EUR: Currency = Currency::EUR;
const T0: i64 = 1_790_000_000_000;

/// 80 % to the worker; of the commission 30 % reserve, 10 % solidarity,
/// 50 % community, 10 % revenue; processor 1 % (+ `fixed`) borne by the
/// coop; CAE 10 %.
fn policy(fixed: i64) -> SplitPolicy {
    SplitPolicy {
        version: 1,
        effective_from: 0,
        terms: SplitTerms::Commission {
            worker_share_bp: 8000,
            reserve_share_of_commission_bp: 3000,
            solidarity_share_of_commission_bp: 1000,
            community_share_of_commission_bp: 5000,
            processor_fee_bp: 100,
            processor_fee_fixed: fixed,
            processor_fee_borne_by: FeeBearer::Coop,
            cae_fee_bp: 1000,
        },
    }
}

fn payout(key: &str, wallet: i64, amount: i64) -> Transaction {
    Transaction {
        idempotency_key: key.to_string(),
        kind: kinds::PAYOUT_RUN.to_string(),
        memo: format!("payout of {amount} to wallet {wallet}"),
        postings: vec![
            Posting::new(AccountKind::MemberWallet(wallet), -amount, EUR),
            Posting::new(AccountKind::PayoutClearing, amount, EUR),
        ],
        created_at: T0,
    }
}

fn conflict(result: Result<Posted, Error>) -> String {
    match result {
        Err(Error::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn tx_count(db: &Db, coop_id: i64) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM ledger_transactions WHERE coop_id = $1")
        .bind(coop_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn idempotency_overdraft_and_reversal() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = &host.app.db;
        let a = host.coop("ledger-a").await.id;
        let b = host.coop("ledger-b").await.id;
        let bal = |coop: i64, account: AccountKind| async move {
            repo::balance(db, coop, &account, &EUR).await.unwrap()
        };
        let wallet = AccountKind::MemberWallet(7);
        let escrow = AccountKind::Escrow("order-1".into());

        // A customer pays 100.00 EUR into the order's escrow.
        let (_, charge) =
            Hold::authorise("order-1", Money::new(10_000, EUR), T0, T0 + 3_600_000).unwrap();
        let first = repo::post(db, a, &charge).await.unwrap();
        assert!(!first.replayed, "{backend:?}");
        assert_eq!(bal(a, AccountKind::ExternalClearing).await, -10_000);
        assert_eq!(bal(a, escrow.clone()).await, 10_000);

        // Replay: the first result, nothing posted.
        let again = repo::post(db, a, &charge).await.unwrap();
        assert_eq!(
            again,
            Posted {
                id: first.id,
                replayed: true
            }
        );
        assert_eq!(bal(a, escrow.clone()).await, 10_000);
        assert_eq!(tx_count(db, a).await, 1);

        // Same key, other content: a conflict naming the key.
        let mut other = charge.clone();
        other.postings[0].amount.amount = -9_999;
        other.postings[1].amount.amount = 9_999;
        let message = conflict(repo::post(db, a, &other).await);
        assert!(message.contains("hold:order-1:authorise"), "{message}");
        assert_eq!(bal(a, escrow.clone()).await, 10_000);

        // The key is per coop: coop B posts its own.
        let in_b = repo::post(db, b, &charge).await.unwrap();
        assert!(!in_b.replayed);
        assert_ne!(in_b.id, first.id);

        // Settle for worker 7: 8000 to the worker, commission 2000 less the
        // 1 % fee (100) = 1900, split 570 / 190 / 950 / 190.
        let s = settle(
            Money::new(10_000, EUR),
            &policy(0),
            &WorkerStatus::Independent,
            7,
            "order-1",
            T0 + 1,
        )
        .unwrap();
        repo::post(db, a, &s.transaction).await.unwrap();
        for (account, expected) in [
            (wallet.clone(), 8_000),
            (AccountKind::IndivisibleReserve, 570),
            (AccountKind::SolidarityFund, 190),
            (AccountKind::CommunityFund, 950),
            (AccountKind::CoopRevenue, 190),
            (AccountKind::ProcessorFees, 100),
            (escrow.clone(), 0),
            (AccountKind::ExternalClearing, -10_000),
        ] {
            assert_eq!(
                bal(a, account.clone()).await,
                expected,
                "{account} {backend:?}"
            );
        }

        // Paying out one cent more than the wallet holds is refused whole.
        let message = conflict(repo::post(db, a, &payout("payout:0", 7, 8_001)).await);
        assert_eq!(
            message,
            "account wallet:7 would go negative: balance 8000, change -8001 (EUR)"
        );
        assert_eq!(bal(a, wallet.clone()).await, 8_000);
        assert_eq!(bal(a, AccountKind::PayoutClearing).await, 0);
        assert_eq!(tx_count(db, a).await, 2);
        assert!(
            repo::transaction(db, a, "payout:0")
                .await
                .unwrap()
                .is_none()
        );

        // A payout of 30.00 goes through.
        repo::post(db, a, &payout("payout:1", 7, 3_000))
            .await
            .unwrap();
        assert_eq!(bal(a, wallet.clone()).await, 5_000);
        assert_eq!(bal(a, AccountKind::PayoutClearing).await, 3_000);

        // Reversing the settlement now would overdraw the wallet.
        let message = conflict(
            repo::reverse(db, a, "settle:order-1", "reverse:settle", "undo", T0 + 5).await,
        );
        assert_eq!(
            message,
            "account wallet:7 would go negative: balance 5000, change -8000 (EUR)"
        );
        // Undo the payout first, then the settlement.
        let r1 = repo::reverse(db, a, "payout:1", "reverse:payout", "bank bounced", T0 + 6)
            .await
            .unwrap();
        assert!(!r1.replayed);
        assert_eq!(bal(a, wallet.clone()).await, 8_000);
        let r2 = repo::reverse(db, a, "settle:order-1", "reverse:settle", "undo", T0 + 7)
            .await
            .unwrap();
        assert!(!r2.replayed);
        for (account, expected) in [
            (wallet.clone(), 0),
            (AccountKind::IndivisibleReserve, 0),
            (AccountKind::SolidarityFund, 0),
            (AccountKind::CommunityFund, 0),
            (AccountKind::CoopRevenue, 0),
            (AccountKind::ProcessorFees, 0),
            (AccountKind::PayoutClearing, 0),
            (escrow.clone(), 10_000),
        ] {
            assert_eq!(bal(a, account.clone()).await, expected, "{account}");
        }
        // The same reversal again is a replay; another key is refused.
        let replay = repo::reverse(db, a, "settle:order-1", "reverse:settle", "undo", T0 + 8)
            .await
            .unwrap();
        assert_eq!(
            replay,
            Posted {
                id: r2.id,
                replayed: true
            }
        );
        let message =
            conflict(repo::reverse(db, a, "settle:order-1", "reverse:again", "undo", T0 + 9).await);
        assert!(
            message.contains("already reversed by \"reverse:settle\""),
            "{message}"
        );
        assert!(matches!(
            repo::reverse(db, a, "no-such-key", "reverse:x", "", T0).await,
            Err(Error::NotFound(_))
        ));
        let stored = repo::transaction(db, a, "reverse:settle")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.id, r2.id);
        assert_eq!(
            stored.reverses,
            Some(
                repo::transaction(db, a, "settle:order-1")
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            )
        );
        assert_eq!(stored.transaction.kind, kinds::REVERSAL);
        assert_eq!(stored.transaction.postings[0].amount.amount, 10_000);

        // History of the wallet, newest first.
        let history = repo::history(db, a, &wallet, 10).await.unwrap();
        let lines: Vec<(&str, &str, i64)> = history
            .iter()
            .map(|h| (h.idempotency_key.as_str(), h.kind.as_str(), h.amount))
            .collect();
        assert_eq!(
            lines,
            [
                ("reverse:settle", "reversal", -8_000),
                ("reverse:payout", "reversal", 3_000),
                ("payout:1", "payout.run", -3_000),
                ("settle:order-1", "settlement", 8_000),
            ]
        );
        assert_eq!(history[0].memo, "undo");
        assert_eq!(history[0].created_at, T0 + 7);
        assert_eq!(repo::history(db, a, &wallet, 1).await.unwrap().len(), 1);

        // Malformed transactions are invalid, not conflicts.
        let mut unbalanced = payout("bad", 7, 1);
        unbalanced.postings[1].amount.amount = 2;
        assert!(matches!(
            repo::post(db, a, &unbalanced).await,
            Err(Error::Invalid(_))
        ));

        assert_eq!(tx_count(db, a).await, 5);
        let all = repo::balances(db, a).await.unwrap();
        let expected: Vec<(String, String, i64)> = [
            ("community", 0),
            ("escrow:order-1", 10_000),
            ("external", -10_000),
            ("payout", 0),
            ("processor-fees", 0),
            ("reserve", 0),
            ("revenue", 0),
            ("solidarity", 0),
            ("wallet:7", 0),
        ]
        .into_iter()
        .map(|(code, balance)| (code.to_string(), "EUR".to_string(), balance))
        .collect();
        assert_eq!(all, expected, "{backend:?}");
        repo::sum_check(db, a).await.unwrap();
        repo::sum_check(db, b).await.unwrap();
        host.finish().await;
    }
}

const TASKS: usize = 8;
const PER_TASK: usize = 1_250;
const WORKERS: usize = 6;
/// A wallet funded with exactly this much before the tasks start, which
/// every task tries to drain in payouts of [`DRAIN_STEP`].
const DRAIN_FUND: i64 = 1_000;
const DRAIN_STEP: i64 = 30;
const DRAIN_WALLET: i64 = 99;

fn status(worker: i64) -> WorkerStatus {
    match worker {
        5 => WorkerStatus::Salaried,
        6 => WorkerStatus::Cae {
            name: "coopaname".into(),
        },
        _ => WorkerStatus::Independent,
    }
}

/// The charge and the settlement of order `i` of task `task`, the same
/// whichever task builds them.
fn order(policy: &SplitPolicy, task: usize, i: usize) -> (Transaction, Transaction) {
    let order_ref = format!("o-{task}-{i}");
    let gross = 500 + ((task as i64 * 7_919 + i as i64 * 104_729) % 9_500);
    let worker = ((task * PER_TASK + i) % WORKERS) as i64 + 1;
    let at = T0 + i as i64;
    let charge_amount = policy.customer_charge(Money::new(gross, EUR)).unwrap();
    let (_, charge) = Hold::authorise(&order_ref, charge_amount, at, at + 3_600_000).unwrap();
    let settlement = settle(
        Money::new(gross, EUR),
        policy,
        &status(worker),
        worker,
        &order_ref,
        at + 1,
    )
    .unwrap();
    (charge, settlement.transaction)
}

/// What one task saw.
#[derive(Default)]
struct Seen {
    /// Keys this task posted (not replayed), with the id and content.
    posted: Vec<(i64, Transaction)>,
    /// (key, id) of every replay answered.
    replays: Vec<(String, i64)>,
    /// Replays of settlements whose charge was not posted yet: refused.
    early_settlements: usize,
    /// Same key, different content: refused.
    tampered: usize,
    /// Payouts larger than any wallet: refused.
    impossible: usize,
    /// Payouts of a wallet's whole balance read just before: posted or refused.
    drains: (usize, usize),
    /// Payouts from the drain wallet: posted or refused.
    drain_wallet: (usize, usize),
}

impl Seen {
    fn record(&mut self, tx: &Transaction, posted: Posted) {
        if posted.replayed {
            self.replays.push((tx.idempotency_key.clone(), posted.id));
        } else {
            self.posted.push((posted.id, tx.clone()));
        }
    }
}

async fn run_task(db: Db, coop: i64, policy: Arc<SplitPolicy>, task: usize) -> Seen {
    let mut rng = StdRng::seed_from_u64(task as u64 + 1);
    let mut seen = Seen::default();
    for i in 0..PER_TASK {
        let (charge, settlement) = order(&policy, task, i);
        for tx in [&charge, &settlement] {
            match repo::post(&db, coop, tx).await {
                Ok(posted) => seen.record(tx, posted),
                Err(e) => panic!("task {task} posting {}: {e}", tx.idempotency_key),
            }
        }
        // ~10 %: replay any order's charge or settlement, possibly one
        // another task has not reached yet (then it is posted here).
        if rng.gen_ratio(1, 10) {
            let (c, s) = order(&policy, rng.gen_range(0..TASKS), rng.gen_range(0..PER_TASK));
            let tx = if rng.gen_bool(0.5) { c } else { s };
            match repo::post(&db, coop, &tx).await {
                Ok(posted) => seen.record(&tx, posted),
                Err(Error::Conflict(m))
                    if tx.kind == kinds::SETTLEMENT && m.contains("would go negative") =>
                {
                    assert!(m.starts_with("account escrow:o-"), "{m}");
                    seen.early_settlements += 1;
                }
                Err(e) => panic!("replay of {}: {e}", tx.idempotency_key),
            }
        }
        // ~1 %: a posted key with other content.
        if rng.gen_ratio(1, 100) {
            let mut tampered = settlement.clone();
            tampered.postings[1].amount.amount -= 1;
            tampered.postings[0].amount.amount += 1;
            if tampered.postings[0].amount.amount == 0 {
                tampered.memo.push_str(" (tampered)");
            }
            let m = conflict(repo::post(&db, coop, &tampered).await);
            assert!(m.contains(&tampered.idempotency_key), "{m}");
            seen.tampered += 1;
        }
        if i % 25 == 0 {
            let worker = rng.gen_range(1..=WORKERS as i64);
            let key = format!("payout-big:{task}:{i}");
            let m = conflict(repo::post(&db, coop, &payout(&key, worker, 1_000_000_000_000)).await);
            assert!(m.contains("would go negative"), "{m}");
            seen.impossible += 1;
            // Drain a wallet other tasks are paying out and crediting too.
            let worker = rng.gen_range(1..=WORKERS as i64);
            let balance = repo::balance(&db, coop, &AccountKind::MemberWallet(worker), &EUR)
                .await
                .unwrap();
            if balance > 0 {
                let tx = payout(&format!("drain:{task}:{i}"), worker, balance);
                match repo::post(&db, coop, &tx).await {
                    Ok(posted) => {
                        seen.record(&tx, posted);
                        seen.drains.0 += 1;
                    }
                    Err(Error::Conflict(m)) if m.contains("would go negative") => {
                        seen.drains.1 += 1
                    }
                    Err(e) => panic!("drain: {e}"),
                }
            }
        }
        if i % 125 == 0 {
            let tx = payout(&format!("dw:{task}:{i}"), DRAIN_WALLET, DRAIN_STEP);
            match repo::post(&db, coop, &tx).await {
                Ok(posted) => {
                    seen.record(&tx, posted);
                    seen.drain_wallet.0 += 1;
                }
                Err(Error::Conflict(m)) if m.contains("would go negative") => {
                    seen.drain_wallet.1 += 1
                }
                Err(e) => panic!("drain wallet: {e}"),
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_settlements_with_replays() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = host.app.db.clone();
        let coop = host.coop("busy").await.id;
        let policy = Arc::new(policy(25));

        let fund = Transaction {
            idempotency_key: "fund-drain".into(),
            kind: "test.fund".into(),
            memo: String::new(),
            postings: vec![
                Posting::new(AccountKind::ExternalClearing, -DRAIN_FUND, EUR),
                Posting::new(AccountKind::MemberWallet(DRAIN_WALLET), DRAIN_FUND, EUR),
            ],
            created_at: T0,
        };
        let fund_id = repo::post(&db, coop, &fund).await.unwrap().id;

        let started = Instant::now();
        let handles: Vec<_> = (0..TASKS)
            .map(|task| tokio::spawn(run_task(db.clone(), coop, policy.clone(), task)))
            .collect();
        let mut seen = Vec::new();
        for handle in handles {
            seen.push(handle.await.expect("task panicked"));
        }
        let elapsed = started.elapsed();

        // Every key posted at most once, replays answered with its first id.
        let mut accepted: HashMap<String, (i64, Transaction)> = HashMap::new();
        accepted.insert(fund.idempotency_key.clone(), (fund_id, fund.clone()));
        for s in &seen {
            for (id, tx) in &s.posted {
                let previous = accepted.insert(tx.idempotency_key.clone(), (*id, tx.clone()));
                assert!(
                    previous.is_none(),
                    "key {} posted twice",
                    tx.idempotency_key
                );
            }
        }
        let mut replays = 0;
        for s in &seen {
            for (key, id) in &s.replays {
                let (first, _) = accepted
                    .get(key)
                    .unwrap_or_else(|| panic!("replay of unposted {key}"));
                assert_eq!(first, id, "replay of {key} answered another id");
                replays += 1;
            }
        }
        for task in 0..TASKS {
            for i in 0..PER_TASK {
                let (charge, settlement) = order(&policy, task, i);
                assert!(accepted.contains_key(&charge.idempotency_key));
                assert!(accepted.contains_key(&settlement.idempotency_key));
            }
        }
        let settlements = accepted
            .values()
            .filter(|(_, tx)| tx.kind == kinds::SETTLEMENT)
            .count();
        assert_eq!(settlements, TASKS * PER_TASK);

        // The database holds exactly the accepted keys, with their ids.
        let rows =
            sqlx::query("SELECT idempotency_key, id FROM ledger_transactions WHERE coop_id = $1")
                .bind(coop)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), accepted.len(), "{backend:?}");
        for row in &rows {
            let key: String = row.get(0);
            let id: i64 = row.get(1);
            assert_eq!(accepted.get(&key).map(|(id, _)| *id), Some(id), "{key}");
        }
        repo::sum_check(&db, coop).await.unwrap();

        // Balances are what the accepted transactions add up to.
        let mut model: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (_, tx) in accepted.values() {
            for (account, currency, delta) in tx.net_changes().unwrap() {
                *model
                    .entry((account.code(), currency.to_string()))
                    .or_default() += delta;
            }
        }
        model.retain(|_, v| *v != 0);
        let stored = repo::balances(&db, coop).await.unwrap();
        let mut totals: BTreeMap<String, i128> = BTreeMap::new();
        let mut nonzero = BTreeMap::new();
        for (code, currency, balance) in &stored {
            let account = AccountKind::parse(code).unwrap();
            assert!(
                balance >= &0 || account.may_go_negative(),
                "{code} is negative: {balance}"
            );
            if code.starts_with("escrow:") {
                assert_eq!(*balance, 0, "{code} not settled");
            }
            *totals.entry(currency.clone()).or_default() += i128::from(*balance);
            if *balance != 0 {
                nonzero.insert((code.clone(), currency.clone()), *balance);
            }
        }
        assert_eq!(nonzero, model, "{backend:?}");
        assert!(
            totals.values().all(|t| *t == 0),
            "money not conserved: {totals:?}"
        );

        // Exactly 33 payouts of 30 fit in the 1000 of the drain wallet.
        let drain_ok: usize = seen.iter().map(|s| s.drain_wallet.0).sum();
        let drain_refused: usize = seen.iter().map(|s| s.drain_wallet.1).sum();
        assert_eq!(drain_ok as i64, DRAIN_FUND / DRAIN_STEP);
        assert_eq!(drain_ok + drain_refused, TASKS * PER_TASK.div_ceil(125));
        let left = repo::balance(&db, coop, &AccountKind::MemberWallet(DRAIN_WALLET), &EUR)
            .await
            .unwrap();
        assert_eq!(left, DRAIN_FUND % DRAIN_STEP);

        let sum = |f: fn(&Seen) -> usize| seen.iter().map(f).sum::<usize>();
        eprintln!(
            "ledger {backend:?}: {} settlements, {} transactions stored, {replays} replays, \
             {} early settlement replays refused, {} tampered replays refused, \
             {} impossible payouts refused, drains {} posted / {} refused, \
             drain wallet {drain_ok} / {drain_refused}, in {:.1} s",
            settlements,
            rows.len(),
            sum(|s| s.early_settlements),
            sum(|s| s.tampered),
            sum(|s| s.impossible),
            sum(|s| s.drains.0),
            sum(|s| s.drains.1),
            elapsed.as_secs_f64()
        );
        assert!(sum(|s| s.tampered) > 0 && sum(|s| s.early_settlements) > 0);
        drop(db);
        host.finish().await;
    }
}

/// Eight tasks post the same keys at the same moment: each key is posted
/// once and every other answer is a replay of it, or a conflict for the
/// task whose content differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_from_many_tasks_posts_once() {
    const KEYS: usize = 100;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = host.app.db.clone();
        let coop = host.coop("race").await.id;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let handles: Vec<_> = (0..TASKS)
            .map(|task| {
                let (db, barrier) = (db.clone(), barrier.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for k in 0..KEYS {
                        // Task 7 sends other content for every tenth key.
                        let amount = if task == 7 && k % 10 == 0 { 2 } else { 1 };
                        let tx = Transaction {
                            idempotency_key: format!("same:{k}"),
                            kind: "test".into(),
                            memo: String::new(),
                            postings: vec![
                                Posting::new(AccountKind::ExternalClearing, -amount, EUR),
                                Posting::new(AccountKind::CoopRevenue, amount, EUR),
                            ],
                            created_at: T0,
                        };
                        barrier.wait().await;
                        answers.push((k, amount, repo::post(&db, coop, &tx).await));
                    }
                    answers
                })
            })
            .collect();
        let mut first: HashMap<usize, (i64, i64)> = HashMap::new();
        let mut answers = Vec::new();
        for handle in handles {
            answers.extend(handle.await.unwrap());
        }
        for (k, amount, answer) in &answers {
            if let Ok(Posted {
                id,
                replayed: false,
            }) = answer
            {
                assert!(
                    first.insert(*k, (*id, *amount)).is_none(),
                    "same:{k} posted twice"
                );
            }
        }
        assert_eq!(first.len(), KEYS, "{backend:?}");
        for (k, amount, answer) in answers {
            let (id, winner) = first[&k];
            match answer {
                Ok(posted) => {
                    assert_eq!(posted.id, id);
                    assert_eq!(amount, winner, "same:{k} replayed with other content");
                }
                Err(Error::Conflict(m)) => {
                    assert_ne!(amount, winner, "{m}");
                    assert!(m.contains(&format!("\"same:{k}\"")), "{m}");
                }
                Err(e) => panic!("same:{k}: {e}"),
            }
        }
        let expected: i64 = first.values().map(|(_, amount)| amount).sum();
        assert_eq!(
            repo::balance(&db, coop, &AccountKind::CoopRevenue, &EUR)
                .await
                .unwrap(),
            expected
        );
        assert_eq!(tx_count(&db, coop).await, KEYS as i64);
        repo::sum_check(&db, coop).await.unwrap();
        drop(db);
        host.finish().await;
    }
}
