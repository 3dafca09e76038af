//! Settlements per second on SQLite and on PostgreSQL (BENCHMARKS.md,
//! benchmark 5).
//!
//! Each case gets a fresh database and coop, posts every order's charge
//! into escrow first (not timed), then times `payments::settle` for every
//! order (the split computed, the balanced transaction posted with its
//! balance updates and the settlement row recorded, in one database
//! transaction) from 1 and from 8 tasks, then times replaying every
//! settlement (a replay posts nothing). The books are checked after each
//! case. PostgreSQL is `COOPHOST_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a schema of its own,
//! skipped with a message if it cannot be reached.
//!
//! Run with `cargo bench -p coophost --bench ledger`;
//! `BENCH_LEDGER_SETTLEMENTS` (default 4000) sets the orders per case. Not
//! a test: without the `--bench` argument that `cargo bench` passes, `main`
//! returns at once.

use std::sync::Arc;
use std::time::Instant;

use coophost::clock::SystemClock;
use coophost::db::Db;
use coophost::identity;
use coophost::ledger::hold::Hold;
use coophost::ledger::money::{Currency, Money};
use coophost::ledger::repo;
use coophost::ledger::split::{FeeBearer, SplitPolicy, SplitTerms, WorkerStatus, settle};
use coophost::payments;

const T0: i64 = 1_790_000_000_000;
const WORKERS: i64 = 50;

fn policy() -> SplitPolicy {
    SplitPolicy {
        version: 1,
        effective_from: 0,
        terms: SplitTerms::Commission {
            worker_share_bp: 8000,
            reserve_share_of_commission_bp: 3000,
            solidarity_share_of_commission_bp: 5000,
            community_share_of_commission_bp: 1000,
            processor_fee_bp: 140,
            processor_fee_fixed: 25,
            processor_fee_borne_by: FeeBearer::Coop,
            cae_fee_bp: 1000,
        },
    }
}

fn gross(i: usize) -> i64 {
    800 + (i as i64 * 7_919) % 4_000
}

struct Case {
    settle_per_s: f64,
    replay_per_s: f64,
}

async fn run_case(url: &str, orders: usize, tasks: usize) -> Case {
    let db = Db::connect(url).await.expect("connect");
    let coop = identity::create_coop(&db, &SystemClock, "bench", "Bench coop")
        .await
        .expect("coop")
        .id;
    let policy = Arc::new(policy());
    for i in 0..orders {
        let (_, charge) = Hold::authorise(
            &format!("o{i}"),
            Money::new(gross(i), Currency::EUR),
            T0,
            T0 + 3_600_000,
        )
        .unwrap();
        repo::post(&db, coop, &charge).await.expect("charge");
    }
    let mut rates = Vec::new();
    for _replay in [false, true] {
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (db, policy) = (db.clone(), policy.clone());
                tokio::spawn(async move {
                    for i in (t..orders).step_by(tasks) {
                        let worker = i as i64 % WORKERS + 1;
                        let s = settle(
                            Money::new(gross(i), Currency::EUR),
                            &policy,
                            &WorkerStatus::Independent,
                            worker,
                            &format!("o{i}"),
                            T0 + 1,
                        )
                        .unwrap();
                        payments::settle(&db, coop, s, &policy, T0 + 1)
                            .await
                            .expect("settle");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        rates.push(orders as f64 / started.elapsed().as_secs_f64());
    }
    repo::sum_check(&db, coop).await.expect("books balance");
    db.pool.close().await;
    Case {
        settle_per_s: rates[0],
        replay_per_s: rates[1],
    }
}

async fn postgres_url() -> Option<(String, String, String)> {
    let base = std::env::var("COOPHOST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let pool = match sqlx::AnyPool::connect(&base).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("PostgreSQL at {base} unreachable ({e}): skipped");
            return None;
        }
    };
    let schema = format!("coophost_bench_{}", std::process::id());
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .ok()?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .ok()?;
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    Some((url, base, schema))
}

async fn drop_schema(base: &str, schema: &str) {
    if let Ok(pool) = sqlx::AnyPool::connect(base).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let orders: usize = std::env::var("BENCH_LEDGER_SETTLEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut table: Vec<(&str, usize, Case)> = Vec::new();
        for tasks in [1, 8] {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let case = run_case(&url, orders, tasks).await;
            table.push(("sqlite", tasks, case));
        }
        if let Some((url, base, schema)) = postgres_url().await {
            for tasks in [1, 8] {
                // A fresh schema per case, like SQLite's fresh file.
                drop_schema(&base, &schema).await;
                let pool = sqlx::AnyPool::connect(&base).await.expect("postgres");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .expect("schema");
                pool.close().await;
                let case = run_case(&url, orders, tasks).await;
                table.push(("postgres", tasks, case));
            }
            drop_schema(&base, &schema).await;
        }
        println!("\nsettlements per second, {orders} orders per case, one run each");
        println!(
            "{:<10} {:>6} {:>14} {:>14}",
            "backend", "tasks", "settle/s", "replay/s"
        );
        for (backend, tasks, c) in &table {
            println!(
                "{backend:<10} {tasks:>6} {:>14.0} {:>14.0}",
                c.settle_per_s, c.replay_per_s
            );
        }
        let get = |b: &str, t: usize| {
            table
                .iter()
                .find(|(x, y, _)| *x == b && *y == t)
                .map(|(_, _, c)| c.settle_per_s)
        };
        for t in [1, 8] {
            if let (Some(pg), Some(lite)) = (get("postgres", t), get("sqlite", t)) {
                println!("ratio postgres/sqlite, {t} task(s): {:.2}", pg / lite);
            }
        }
        for b in ["sqlite", "postgres"] {
            if let (Some(one), Some(eight)) = (get(b, 1), get(b, 8)) {
                println!("ratio 8 tasks/1 task, {b}: {:.2}", eight / one);
            }
        }
    });
}
