//! Issue 16, item 5: the scheduler is fair across coops and job kinds, a
//! live worker keeps its jobs, and every job's effect happens once even
//! when two hosts run it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use coophost::app::App;
use coophost::clock::{Clock, ManualClock, SharedClock};
use coophost::db::Db;
use coophost::governance::proposals;
use coophost::plugins::timers;
use coophost::scheduler::{self, Worker};
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{TestHost, backends, engine};

const IFACE: &str = "coop:test-misbehave/misbehave";
const PLUGIN: &str = "test-misbehave";
const DAY: i64 = 86_400_000;

/// Open a proposal as `token` in `slug` and vote for it; returns its id.
async fn propose(host: &TestHost, slug: &str, token: &str, change: Value) -> i64 {
    let (s, body) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/proposals"),
            Some(token),
            Some(json!({"title": "a change", "change": change})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let id = body["proposal"]["id"].as_i64().unwrap();
    let (s, body) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/proposals/{id}/votes"),
            Some(token),
            Some(json!({"choice": "yes", "reason": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    id
}

/// Schedule `n` due timers of the misbehaving plugin in coop `coop_id`,
/// as a plugin re-arming its timers for `at = 0` would (directly through
/// the scheduler: a plugin's own `at = 0` is now stored as its commit
/// time, which this storm deliberately bypasses).
async fn storm(db: &Db, coop_id: i64, from: u64, n: u64, now: i64) {
    for id in from..from + n {
        scheduler::schedule(
            db,
            Some(coop_id),
            timers::TIMER_JOB,
            Some(&timers::key(coop_id, PLUGIN, id)),
            &json!({"plugin": PLUGIN, "id": id.to_string(), "payload": "storm"}),
            0,
            now,
        )
        .await
        .unwrap();
    }
}

async fn job_status(db: &Db, key: &str) -> String {
    sqlx::query("SELECT status FROM jobs WHERE unique_key = $1")
        .bind(key)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0)
}

/// A coop whose plugin floods the scheduler with timers due at the dawn
/// of time does not hold back another coop's vote close or its timer: both
/// run in the first tick after they are due, however long the storm goes
/// on. A plugin's own `at = 0` is stored as "now".
#[tokio::test]
async fn a_timer_storm_does_not_delay_another_coops_jobs() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let loud = host.coop("loud").await;
        let calm = host.coop("calm").await;
        host.install(&loud, PLUGIN).await;
        host.install(&calm, PLUGIN).await;
        let admin = host
            .member(&calm, "a@calm.coop", &["admin", "member"])
            .await;
        let close = propose(&host, "calm", &admin, json!({"kind": "resolution"})).await;

        // Calm's plugin asks for a timer "at 0": it is due now, not first.
        let (s, b) = host
            .call(
                "calm",
                Some(&admin),
                IFACE,
                "set-timer",
                json!({"at": 0, "payload": "calm"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let timer: u64 = b["result"]["ok"].as_str().unwrap().parse().unwrap();
        let timer_key = timers::key(calm.id, PLUGIN, timer);
        let run_at: i64 = sqlx::query("SELECT run_at FROM jobs WHERE unique_key = $1")
            .bind(&timer_key)
            .fetch_one(&host.app.db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            run_at,
            host.clock.now_ms(),
            "{backend:?}: a past time is stored as the commit time"
        );

        // The vote's window ends; meanwhile the loud coop's storm piles up
        // far more due timers than a tick claims, and keeps re-arming.
        host.clock.advance(10 * DAY);
        let now = host.clock.now_ms();
        let per_tick = coophost::app::JOBS_PER_TICK as u64;
        storm(&host.app.db, loud.id, 1_000_000, 3 * per_tick, now).await;
        let mut ticks = 0;
        let mut next = 2_000_000;
        while proposals::get(&host.app.db, calm.id, close)
            .await
            .unwrap()
            .status
            == "open"
            || job_status(&host.app.db, &timer_key).await != "done"
        {
            assert!(
                ticks < 3,
                "{backend:?}: calm's close and timer still wait after {ticks} ticks of the storm"
            );
            host.app.run_jobs_once("host-a").await.unwrap();
            storm(&host.app.db, loud.id, next, per_tick, now).await;
            next += per_tick;
            ticks += 1;
        }
        assert_eq!(ticks, 1, "{backend:?}: both ran in the first tick");
        // The storm was served too, in the same tick: the batch is shared,
        // not reserved.
        let loud_done: i64 = sqlx::query(
            "SELECT COUNT(*) FROM jobs WHERE coop_id = $1 AND status IN ('done', 'pending') AND attempts > 0",
        )
        .bind(loud.id)
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap()
        .get(0);
        assert!(loud_done > 0, "{backend:?}: the storm got its share");
        host.finish().await;
    }
}

/// Two hosts on one database, each with its own pool: whether they race
/// on the same passed proposals directly (a double claim) or through
/// their schedulers, each change is applied once and recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_never_apply_one_decision_twice() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("twice").await;
        // Three installations of the plugin: a rollback applied twice
        // would land on the first.
        for _ in 0..3 {
            host.install(&coop, PLUGIN).await;
        }
        let installs: Vec<i64> =
            sqlx::query("SELECT id FROM plugins WHERE coop_id = $1 AND name = $2 ORDER BY id")
                .bind(coop.id)
                .bind(PLUGIN)
                .fetch_all(&host.app.db.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
        let admin = host
            .member(&coop, "a@twice.coop", &["admin", "member"])
            .await;
        let terms = propose(
            &host,
            "twice",
            &admin,
            json!({"kind": "adopt-terms", "text": "first terms"}),
        )
        .await;
        let rollback = propose(
            &host,
            "twice",
            &admin,
            json!({"kind": "rollback-plugin", "name": PLUGIN}),
        )
        .await;
        let resolution = propose(&host, "twice", &admin, json!({"kind": "resolution"})).await;

        let clock: SharedClock = Arc::new(host.clock.clone());
        let other = App::new(Db::connect(&host.url).await.unwrap(), clock, engine())
            .await
            .unwrap();
        host.clock.advance(10 * DAY);
        let now = host.clock.now_ms();
        for id in [terms, rollback, resolution] {
            let p = proposals::close(&host.app.db, coop.id, id, now)
                .await
                .unwrap();
            assert_eq!(p.status, "passed", "{backend:?}: {p:?}");
        }
        // A double claim: both hosts apply the same proposals at once.
        for id in [terms, rollback, resolution] {
            let (a, b) = tokio::join!(
                proposals::apply(&host.app, coop.id, id, now),
                proposals::apply(&other, coop.id, id, now)
            );
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(
                (a.status.as_str(), b.status.as_str()),
                ("applied", "applied")
            );
        }

        // Then through the schedulers: more proposals, closed and applied
        // by two hosts ticking side by side.
        let admin = host.login("a@twice.coop").await;
        let later = propose(
            &host,
            "twice",
            &admin,
            json!({"kind": "adopt-terms", "text": "second terms"}),
        )
        .await;
        host.clock.advance(10 * DAY);
        for _ in 0..4 {
            let (a, b) = tokio::join!(
                host.app.run_jobs_once("host-a"),
                other.run_jobs_once("host-b")
            );
            a.unwrap();
            b.unwrap();
        }
        let p = proposals::get(&host.app.db, coop.id, later).await.unwrap();
        assert_eq!(p.status, "applied", "{backend:?}: {p:?}");

        // Each change once: two terms versions, one rollback step.
        let versions: i64 = sqlx::query("SELECT COUNT(*) FROM terms_versions WHERE coop_id = $1")
            .bind(coop.id)
            .fetch_one(&host.app.db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(versions, 2, "{backend:?}: one terms version per decision");
        let active: i64 =
            sqlx::query("SELECT id FROM plugins WHERE coop_id = $1 AND name = $2 AND active = 1")
                .bind(coop.id)
                .bind(PLUGIN)
                .fetch_one(&host.app.db.pool)
                .await
                .unwrap()
                .get(0);
        assert_eq!(active, installs[1], "{backend:?}: rolled back one step");
        // Each decision recorded once in the decision log, which verifies.
        let rows = sqlx::query(
            "SELECT kind, body FROM chain_entries WHERE chain = 'decisions' AND coop_id = $1 ORDER BY seq",
        )
        .bind(coop.id)
        .fetch_all(&host.app.db.pool)
        .await
        .unwrap();
        let mut settled: HashMap<i64, Vec<String>> = HashMap::new();
        let mut decided: HashMap<i64, usize> = HashMap::new();
        for r in &rows {
            let kind: String = r.get(0);
            let body: Value = serde_json::from_str(&r.get::<String, _>(1)).unwrap();
            let id = body["proposal"].as_i64().unwrap_or(0);
            if kind == "proposal.applied" || kind == "proposal.failed" {
                settled.entry(id).or_default().push(kind);
            } else if kind == "proposal.decided" {
                *decided.entry(id).or_default() += 1;
            }
        }
        for id in [terms, rollback, resolution, later] {
            assert_eq!(
                settled.get(&id).cloned().unwrap_or_default(),
                ["proposal.applied"],
                "{backend:?}: proposal {id}: {settled:?}"
            );
            assert_eq!(decided.get(&id), Some(&1), "{backend:?}: {decided:?}");
        }
        let v = coophost::chain::verify(&host.app.db, "decisions", coop.id)
            .await
            .unwrap();
        assert!(v.ok, "{backend:?}: {v:?}");
        other.db.pool.close().await;
        host.finish().await;
    }
}

/// A job that runs longer than its lease keeps it: the worker's heartbeat
/// renews the lease, so a second worker finds nothing to claim while it
/// runs, and the first completes it.
#[tokio::test]
async fn a_long_job_keeps_its_lease_while_it_runs() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("long").await;
        let db = host.app.db.clone();
        let clock = ManualClock::new(1_000_000);
        let job = scheduler::schedule(&db, Some(coop.id), "test.long", None, &json!({}), 0, 0)
            .await
            .unwrap();
        let second = Db::connect(&host.url).await.unwrap();
        let mut worker = Worker::new(&db, "host-a", &clock, 10);
        worker.renew_every = std::time::Duration::from_millis(20);
        let stolen = std::sync::Mutex::new(Vec::new());
        let ran = scheduler::run_due(&worker, |job| {
            let (db, clock, second, stolen) = (&db, &clock, &second, &stolen);
            async move {
                // Time passes beyond the lease while the job works.
                clock.advance(2 * scheduler::DEFAULT_LEASE_MS);
                // Wait (bounded) for the heartbeat to renew the lease.
                for _ in 0..500 {
                    let until: i64 = sqlx::query("SELECT lease_until FROM jobs WHERE id = $1")
                        .bind(job.id)
                        .fetch_one(&db.pool)
                        .await
                        .unwrap()
                        .get(0);
                    if until > clock.now_ms() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let taken = scheduler::claim(
                    second,
                    "host-b",
                    clock.now_ms(),
                    scheduler::DEFAULT_LEASE_MS,
                    10,
                )
                .await
                .unwrap();
                stolen
                    .lock()
                    .unwrap()
                    .extend(taken.into_iter().map(|j| j.id));
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(ran, 1);
        assert_eq!(
            *stolen.lock().unwrap(),
            Vec::<i64>::new(),
            "{backend:?}: another worker claimed a running job"
        );
        let done = scheduler::list(&db, coop.id, 10).await.unwrap();
        assert_eq!(done[0].id, job.id);
        assert_eq!(
            done[0].status, "done",
            "{backend:?}: its worker completed it"
        );
        second.pool.close().await;
        host.finish().await;
    }
}

/// A timer run by a worker that lost its lease (it stalled, another host
/// took the job) commits nothing: the plugin's effects happen once, in
/// the run of the worker that holds the job.
#[tokio::test]
async fn a_timer_run_after_its_lease_passed_commits_nothing() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("lease").await;
        host.install(&coop, PLUGIN).await;
        let m = host.member(&coop, "m@lease.coop", &["member"]).await;
        let (s, b) = host
            .call(
                "lease",
                Some(&m),
                IFACE,
                "set-timer",
                json!({"at": 0, "payload": "once"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let id: u64 = b["result"]["ok"].as_str().unwrap().parse().unwrap();
        let db = &host.app.db;
        let now = host.clock.now_ms();
        let stalled = scheduler::claim(db, "host-a", now, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(stalled.len(), 1);
        let taken = scheduler::claim(db, "host-b", now + 1_000, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "{backend:?}: the lease ran out");
        // The stalled worker wakes up and runs its copy: refused at commit.
        let late = timers::run(&host.app, &stalled[0]).await;
        assert!(late.is_err(), "{backend:?}: {late:?}");
        let version = || async {
            sqlx::query("SELECT version FROM kv WHERE coop_id = $1 AND plugin = $2 AND key = $3")
                .bind(coop.id)
                .bind(PLUGIN)
                .bind(format!("timer/{id:020}"))
                .fetch_optional(&db.pool)
                .await
                .unwrap()
                .map(|r| r.get::<i64, _>(0))
        };
        assert_eq!(version().await, None, "{backend:?}: nothing committed");
        timers::run(&host.app, &taken[0]).await.unwrap();
        assert_eq!(version().await, Some(1), "{backend:?}: written once");
        let jobs = scheduler::list(db, coop.id, 10).await.unwrap();
        assert_eq!(
            jobs[0].status, "done",
            "{backend:?}: completed with the call"
        );
        host.finish().await;
    }
}

/// The money jobs run twice at once (a double claim) move money once: a
/// hold's expiry posts one release under its idempotency key, and a
/// month's floor is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_jobs_run_twice_move_money_once() {
    use coophost::ledger::account::AccountKind;
    use coophost::ledger::period::Month;
    use coophost::ledger::repo;
    use coophost::payments::{floor_run, jobs};

    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let march = Month::new(2027, 3).unwrap();
        host.clock.set(march.start_ms() + 9 * DAY);
        let coop = host.coop("money").await;
        host.install(&coop, PLUGIN).await;
        let admin = host
            .member(&coop, "a@money.coop", &["admin", "member"])
            .await;
        let worker = host.member(&coop, "w@money.coop", &["worker"]).await;
        let (s, b) = host
            .call(
                "money",
                Some(&admin),
                IFACE,
                "pay",
                json!({"order": "o-1", "cents": "1500", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/coops/money/earnings-floor",
                Some(&admin),
                Some(
                    json!({"per_hour": 1200, "currency": "EUR", "on_shortfall": "top-up",
                    "reason": "floor"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        for step in ["start", "end"] {
            let (s, b) = host
                .request(
                    Method::POST,
                    &format!("/v1/coops/money/shifts/{step}"),
                    Some(&worker),
                    None,
                )
                .await;
            assert!(s.is_success(), "{b}");
            host.clock.advance(2 * 3_600_000);
        }
        host.clock.set(march.end_ms() + DAY);
        let now = host.clock.now_ms();
        let db = &host.app.db;
        let other = Db::connect(&host.url).await.unwrap();
        let order = format!("{PLUGIN}.o-1");
        let (a, b) = tokio::join!(
            jobs::expire_hold(db, coop.id, &order, "EUR", now),
            jobs::expire_hold(&other, coop.id, &order, "EUR", now)
        );
        a.unwrap();
        b.unwrap();
        let escrow = AccountKind::escrow(&order).unwrap();
        let eur = coophost::ledger::money::Currency::parse("EUR").unwrap();
        assert_eq!(repo::balance(db, coop.id, &escrow, &eur).await.unwrap(), 0);
        let releases: i64 = sqlx::query(
            "SELECT COUNT(*) FROM ledger_transactions WHERE coop_id = $1 AND idempotency_key = $2",
        )
        .bind(coop.id)
        .bind(format!("expire:{order}"))
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0);
        assert_eq!(releases, 1, "{backend:?}");

        let (a, b) = tokio::join!(
            floor_run::run(db, coop.id, march, now),
            floor_run::run(&other, coop.id, march, now)
        );
        // One of them may find the other's record mid-way and fail (its
        // job is retried and then reads the record); never both count.
        assert!(a.is_ok() || b.is_ok(), "{backend:?}: {a:?} {b:?}");
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM floor_results WHERE coop_id = $1")
            .bind(coop.id)
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1, "{backend:?}: the month is recorded once");
        let again = floor_run::run(db, coop.id, march, now).await.unwrap();
        assert_eq!(again.len(), 1);
        // The empty fund's shortfall (2 h x 12.00) is the coop's debt, once.
        let owed = floor_run::owed_to(db, coop.id, again[0].member_id, "EUR")
            .await
            .unwrap();
        assert_eq!(owed, 2_400, "{backend:?}");
        repo::sum_check(db, coop.id).await.unwrap();
        other.pool.close().await;
        host.finish().await;
    }
}

/// Issue 16 follow-up: the worker claims as slots free, with a share per
/// coop. A coop with four slow jobs running (each far longer than the
/// check below waits) does not hold back another coop's job that comes
/// due meanwhile: it starts within a few polls, not after the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_coop_does_not_delay_another_coops_job() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let slow = host.coop("slow").await;
        let quick = host.coop("quick").await;
        let db = host.app.db.clone();
        let clock = ManualClock::new(1_000_000);
        for _ in 0..4 {
            scheduler::schedule(&db, Some(slow.id), "test.slow", None, &json!({}), 0, 0)
                .await
                .unwrap();
        }
        let mut worker = Worker::new(&db, "host-a", &clock, 10);
        worker.poll_every = std::time::Duration::from_millis(20);
        let ran = Arc::new(std::sync::Mutex::new(
            Vec::<(String, std::time::Instant)>::new(),
        ));
        let handler = |job: scheduler::Job| {
            let ran = ran.clone();
            async move {
                ran.lock()
                    .unwrap()
                    .push((job.kind.clone(), std::time::Instant::now()));
                if job.kind == "test.slow" {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
                Ok(())
            }
        };
        let check = async {
            // The slow coop holds its share of the slots...
            for _ in 0..500 {
                if ran.lock().unwrap().len() >= 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let slow_running = ran.lock().unwrap().len();
            assert_eq!(
                slow_running,
                scheduler::MAX_JOBS_PER_COOP,
                "{backend:?}: one coop takes at most its share of the slots"
            );
            // ...and the quick coop's job, due now, runs at once.
            let due = std::time::Instant::now();
            scheduler::schedule(&db, Some(quick.id), "test.quick", None, &json!({}), 0, 0)
                .await
                .unwrap();
            loop {
                if let Some((_, at)) = ran
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(kind, _)| kind == "test.quick")
                {
                    return at.duration_since(due);
                }
                assert!(
                    due.elapsed() < std::time::Duration::from_secs(10),
                    "{backend:?}: the quick coop's job waited behind the slow coop's"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let waited = tokio::select! {
            waited = check => waited,
            () = scheduler::run_continuously(&worker, &|_| scheduler::DEFAULT_LEASE_MS, handler) => {
                unreachable!("the worker runs until dropped")
            }
        };
        assert!(
            waited < std::time::Duration::from_secs(2),
            "{backend:?}: waited {waited:?}"
        );
        host.finish().await;
    }
}

/// Issue 16 follow-up: the timers a coop's plugins may have pending
/// together stop at the ceiling the host operator sets (`timers`), with
/// an error that says so; cancelling makes room again.
#[tokio::test]
async fn a_coops_pending_timers_stop_at_the_operators_ceiling() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("arm").await;
        host.install(&coop, PLUGIN).await;
        let m = host.member(&coop, "m@arm.coop", &["member"]).await;
        host.app
            .set_ceilings(
                &coop,
                &json!({"timers": 12}),
                &coophost::identity::Actor::host(coop.id),
            )
            .await
            .unwrap();
        let (s, body) = host
            .call("arm", Some(&m), IFACE, "timer-storm", json!({"n": 10}))
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {body}");
        // A plugin arming timers in a loop hits the coop's ceiling, far
        // below its own limit of MAX_PENDING_TIMERS.
        let (s, body) = host
            .call("arm", Some(&m), IFACE, "timer-storm", json!({"n": 5}))
            .await;
        assert_eq!(s.as_u16(), 507, "{backend:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("timer limit")
                && message.contains("the most the host operator allows is 12"),
            "{message}"
        );
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE coop_id = $1 AND kind = 'plugin.timer' AND status = 'pending'",
        )
        .bind(coop.id)
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap();
        assert_eq!(pending, 10, "{backend:?}: nothing of the refused call kept");
        let (s, body) = host
            .call("arm", Some(&m), IFACE, "timer-storm", json!({"n": 2}))
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: within the ceiling: {body}");
        // Members read the ceiling beside the others.
        let (_, body) = host
            .request(Method::GET, "/v1/coops/arm/limit-ceilings", Some(&m), None)
            .await;
        assert_eq!(body["timers"], 12, "{body}");
        host.finish().await;
    }
}
