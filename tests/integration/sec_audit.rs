//! Issue 16, item 12: the audit writer never appends an entry twice,
//! records every loss as an `audit.gap` entry in the coop's own chain, and
//! keeps one coop's flood from pushing out another coop's entries.

use coophost::audit::{self, AUDIT, Item};
use coophost::chain;
use coophost::clock::Clock;
use coophost::db::{Backend as DbBackend, Db};
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{TestHost, backends};

/// Make the audit database refuse every audit entry of coop `coop_id`: a
/// real failure (a trigger raising an error), not a stand-in.
async fn refuse(db: &Db, coop_id: i64) {
    match db.backend {
        DbBackend::Sqlite => {
            sqlx::query(&format!(
                "CREATE TRIGGER audit_refuse BEFORE INSERT ON chain_entries \
                 WHEN NEW.chain = 'audit' AND NEW.coop_id = {coop_id} \
                 BEGIN SELECT RAISE(ABORT, 'audit refused for this test'); END"
            ))
            .execute(&db.pool)
            .await
            .unwrap();
        }
        DbBackend::Postgres => {
            sqlx::query(
                "CREATE FUNCTION audit_refuse() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'audit refused for this test'; END $$ LANGUAGE plpgsql",
            )
            .execute(&db.pool)
            .await
            .unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER audit_refuse BEFORE INSERT ON chain_entries FOR EACH ROW \
                 WHEN (NEW.chain = 'audit' AND NEW.coop_id = {coop_id}) EXECUTE FUNCTION audit_refuse()"
            ))
            .execute(&db.pool)
            .await
            .unwrap();
        }
    }
}

/// Take the failure away again.
async fn accept(db: &Db) {
    let sql = match db.backend {
        DbBackend::Sqlite => "DROP TRIGGER audit_refuse",
        DbBackend::Postgres => "DROP TRIGGER audit_refuse ON chain_entries",
    };
    sqlx::query(sql).execute(&db.pool).await.unwrap();
}

fn item(coop_id: i64, n: i64, at: i64) -> Item {
    Item {
        coop_id,
        kind: "test.item".into(),
        body: json!({"n": n}),
        member_id: None,
        at,
    }
}

/// The audit chain of a coop: (kind, body) in order.
async fn entries(db: &Db, coop_id: i64) -> Vec<(String, Value)> {
    sqlx::query(
        "SELECT kind, body FROM chain_entries WHERE chain = $1 AND coop_id = $2 ORDER BY seq",
    )
    .bind(AUDIT)
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            serde_json::from_str(&r.get::<String, _>(1)).unwrap(),
        )
    })
    .collect()
}

fn numbers(entries: &[(String, Value)]) -> Vec<i64> {
    entries
        .iter()
        .filter(|(k, _)| k == "test.item")
        .map(|(_, b)| b["n"].as_i64().unwrap())
        .collect()
}

async fn verifies(db: &Db, coop_id: i64) -> bool {
    chain::verify(db, AUDIT, coop_id).await.unwrap().ok
}

/// A batch spanning three coops whose middle coop's write fails: the
/// others are written once each (not again on the retry), the failed
/// coop's items become an `audit.gap` entry in its own chain as soon as
/// its chain can be written again, and every chain verifies.
#[tokio::test]
async fn a_failed_write_duplicates_nothing_and_leaves_a_gap_entry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let first = host.coop("first").await;
        let middle = host.coop("middle").await;
        let last = host.coop("last").await;
        let db = &host.app.audit_db;
        refuse(db, middle.id).await;
        let t0 = host.clock.now_ms();
        for n in 0..5 {
            for coop in [&first, &middle, &last] {
                host.app.audit.record(item(coop.id, n, t0 + n));
            }
        }
        host.app.flush_audit().await;
        assert_eq!(
            numbers(&entries(db, first.id).await),
            [0, 1, 2, 3, 4],
            "{backend:?}: written once"
        );
        assert_eq!(numbers(&entries(db, last.id).await), [0, 1, 2, 3, 4]);
        assert!(entries(db, middle.id).await.is_empty());
        assert_eq!(host.app.audit.stats().lost, 5, "{backend:?}");

        // The database takes the coop's writes again: the gap is written
        // without waiting for a new item, then new items follow it.
        accept(db).await;
        host.app.flush_audit().await;
        let chain = entries(db, middle.id).await;
        assert_eq!(chain.len(), 1, "{backend:?}: {chain:?}");
        let (kind, gap) = &chain[0];
        assert_eq!(kind, "audit.gap");
        assert_eq!(
            (&gap["lost"], &gap["dropped"], &gap["from"], &gap["to"]),
            (&json!(5), &json!(0), &json!(t0), &json!(t0 + 4)),
            "{backend:?}: {gap}"
        );
        assert!(gap["reason"].as_str().unwrap().contains("refused"), "{gap}");
        host.app.audit.record(item(middle.id, 9, t0 + 9));
        host.app.flush_audit().await;
        let chain = entries(db, middle.id).await;
        assert_eq!(chain.len(), 2, "{backend:?}: {chain:?}");
        assert_eq!(numbers(&chain), [9]);
        for coop in [&first, &middle, &last] {
            assert!(verifies(db, coop.id).await, "{backend:?}: {}", coop.slug);
        }
        // And through the API: the coop's admin sees the gap.
        let admin = host
            .member(&middle, "a@middle.coop", &["admin", "member"])
            .await;
        let (s, body) = host
            .request(
                axum::http::Method::GET,
                "/v1/coops/middle/audit?limit=100",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, axum::http::StatusCode::OK, "{body}");
        assert_eq!(body["entries"][0]["kind"], "audit.gap", "{body}");
        host.finish().await;
    }
}

/// One coop floods the queue past what the host keeps in memory: its own
/// oldest items are dropped (and recorded as a gap in its chain), while a
/// quiet coop's few items, queued after the flood, are all written.
#[tokio::test]
async fn a_flood_from_one_coop_does_not_drop_another_coops_entries() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let loud = host.coop("loud").await;
        let quiet = host.coop("quiet").await;
        let db = &host.app.audit_db;
        let t0 = host.clock.now_ms();
        let flood = audit::QUEUE as i64 + 100;
        // Queued without yielding, so the writer sees the whole flood.
        for n in 0..flood {
            host.app.audit.record(item(loud.id, n, t0 + n));
        }
        for n in 0..3 {
            host.app.audit.record(item(quiet.id, n, t0 + flood + n));
        }
        host.app.flush_audit().await;
        assert_eq!(
            numbers(&entries(db, quiet.id).await),
            [0, 1, 2],
            "{backend:?}: the quiet coop lost nothing"
        );
        let chain = entries(db, loud.id).await;
        let kept = numbers(&chain);
        let dropped = flood - audit::QUEUE_PER_COOP as i64;
        assert_eq!(kept.len(), audit::QUEUE_PER_COOP, "{backend:?}");
        assert_eq!(kept[0], dropped, "{backend:?}: the oldest went first");
        let gaps: Vec<&Value> = chain
            .iter()
            .filter(|(k, _)| k == "audit.gap")
            .map(|(_, b)| b)
            .collect();
        assert_eq!(gaps.len(), 1, "{backend:?}: {gaps:?}");
        assert_eq!(
            (&gaps[0]["dropped"], &gaps[0]["from"], &gaps[0]["to"]),
            (&json!(dropped), &json!(t0), &json!(t0 + dropped - 1)),
            "{backend:?}"
        );
        assert_eq!(host.app.audit.stats().dropped, dropped as u64);
        assert!(verifies(db, loud.id).await && verifies(db, quiet.id).await);
        host.finish().await;
    }
}

fn access(coop_id: i64, n: i64, at: i64) -> Item {
    Item {
        coop_id,
        kind: "data.access".into(),
        body: json!({"what": "status history", "n": n}),
        member_id: Some(1),
        at,
    }
}

fn accesses(entries: &[(String, Value)]) -> Vec<i64> {
    entries
        .iter()
        .filter(|(k, _)| k == "data.access")
        .map(|(_, b)| b["n"].as_i64().unwrap())
        .collect()
}

/// Issue 16 follow-up: a coop's queue overflows while admins read members'
/// data. The flood's oldest plain items are dropped (with their gap), the
/// records of who read whose data never are, even the oldest; and when
/// even their own room is full, the reader waits while the record is
/// written rather than lose it.
#[tokio::test]
async fn records_of_access_to_personal_data_are_never_the_ones_dropped() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let loud = host.coop("loud").await;
        let db = &host.app.audit_db;
        let t0 = host.clock.now_ms();
        let flood = audit::QUEUE_PER_COOP as i64 + 500;
        let mut read = Vec::new();
        // Queued without yielding, so the writer sees the whole flood.
        for n in 0..flood {
            host.app.audit.record(item(loud.id, n, t0 + n));
            if n % 10 == 0 {
                host.app.audit.record(access(loud.id, n, t0 + n));
                read.push(n);
            }
        }
        host.app.flush_audit().await;
        let chain = entries(db, loud.id).await;
        assert_eq!(
            accesses(&chain),
            read,
            "{backend:?}: every access record was written"
        );
        let kept = numbers(&chain);
        assert_eq!(kept.len(), audit::QUEUE_PER_COOP, "{backend:?}");
        assert_eq!(kept[0], 500, "{backend:?}: plain items went first");
        let gap = chain.iter().find(|(k, _)| k == "audit.gap").unwrap();
        assert_eq!(gap.1["dropped"], 500, "{backend:?}: {gap:?}");

        // Their own room full: the next one is written at once.
        let base = 1_000_000;
        for n in 0..audit::KEPT_QUEUE as i64 {
            host.app.audit.record(access(loud.id, base + n, t0 + flood));
        }
        let last = base + audit::KEPT_QUEUE as i64;
        host.app
            .audit
            .record_kept(access(loud.id, last, t0 + flood))
            .await
            .unwrap();
        assert!(
            accesses(&entries(db, loud.id).await).contains(&last),
            "{backend:?}: written before record_kept returned"
        );
        host.app.flush_audit().await;
        let written = accesses(&entries(db, loud.id).await);
        assert_eq!(
            written.len(),
            read.len() + audit::KEPT_QUEUE + 1,
            "{backend:?}: none dropped"
        );
        assert!(verifies(db, loud.id).await);
        host.finish().await;
    }
}
