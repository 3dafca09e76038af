//! Hash-chained logs on both backends: verification of a sound chain, the
//! exact report for each kind of tampering, erasable personal data,
//! independent chains, and concurrent appends that lose nothing.

use std::collections::BTreeSet;

use coophost::chain::{self, Entry, GENESIS, NewEntry, Problem, Verification};
use coophost::db::Db;
use coophost::error::Error;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{TestHost, backends};

const T0: i64 = 1_790_000_000_000;
const DECISIONS: &str = "decisions";
const AUDIT: &str = "audit";

fn new_entry(kind: &str, body: Value, personal: Option<Value>) -> NewEntry {
    NewEntry {
        kind: kind.to_string(),
        body,
        personal,
    }
}

fn ok(entries: i64, head: &str) -> Verification {
    Verification {
        ok: true,
        entries,
        head: head.to_string(),
        problem: None,
    }
}

fn broken(entries: i64, head: &str, seq: i64, reason: &str) -> Verification {
    Verification {
        ok: false,
        entries,
        head: head.to_string(),
        problem: Some(Problem {
            seq,
            reason: reason.to_string(),
        }),
    }
}

/// Run `sql` with `value` as `$1` against entry `seq` (`$2`..`$4` are the
/// chain, coop and seq); returns the rows changed.
async fn tamper(db: &Db, sql: &str, value: &str, chain: &str, coop_id: i64, seq: i64) -> u64 {
    sqlx::query(sql)
        .bind(value)
        .bind(chain)
        .bind(coop_id)
        .bind(seq)
        .execute(&db.pool)
        .await
        .unwrap()
        .rows_affected()
}

async fn column(db: &Db, table: &str, column: &str, chain: &str, coop_id: i64, seq: i64) -> String {
    sqlx::query(&format!(
        "SELECT {column} FROM {table} WHERE chain = $1 AND coop_id = $2 AND seq = $3"
    ))
    .bind(chain)
    .bind(coop_id)
    .bind(seq)
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .get(0)
}

const SET_BODY: &str =
    "UPDATE chain_entries SET body = $1 WHERE chain = $2 AND coop_id = $3 AND seq = $4";
const SET_PREV: &str =
    "UPDATE chain_entries SET prev_hash = $1 WHERE chain = $2 AND coop_id = $3 AND seq = $4";
const SET_HASH: &str =
    "UPDATE chain_entries SET hash = $1 WHERE chain = $2 AND coop_id = $3 AND seq = $4";
const SET_DATA: &str =
    "UPDATE chain_personal SET data = $1 WHERE chain = $2 AND coop_id = $3 AND seq = $4";

#[tokio::test]
async fn append_verify_and_every_kind_of_tampering() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = &host.app.db;
        let coop = host.coop("chain-a").await.id;

        // An empty chain verifies, with the genesis head.
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(0, GENESIS)
        );

        let mut stored: Vec<Entry> = Vec::new();
        for i in 1..=5i64 {
            let personal = (i % 2 == 0).then(|| json!({"email": format!("m{i}@example.org")}));
            let e = chain::append(
                db,
                DECISIONS,
                coop,
                &new_entry(
                    "proposal.opened",
                    json!({"proposal": i, "title": format!("t{i}"), "z": {"b": 1, "a": 2}}),
                    personal.clone(),
                ),
                T0 + i,
            )
            .await
            .unwrap();
            assert_eq!(e.chain, DECISIONS, "{backend:?}");
            assert_eq!(e.coop_id, coop);
            assert_eq!(e.seq, i);
            assert_eq!(e.at, T0 + i);
            assert_eq!(e.kind, "proposal.opened");
            assert_eq!(e.personal, personal);
            let prev = stored.last().map_or(GENESIS, |p| p.hash.as_str());
            assert_eq!(e.prev_hash, prev);
            assert_eq!(e.hash, chain::entry_hash(&e));
            assert_eq!(e.hash.len(), 64);
            if let Some(p) = &personal {
                assert_eq!(e.commitment.len(), 64);
                // The commitment is salted: the bare data does not give it.
                assert_ne!(
                    e.commitment,
                    chain::personal_commitment(&[0u8; 16], p),
                    "{backend:?}"
                );
            } else {
                assert_eq!(e.commitment, "");
            }
            stored.push(e);
        }
        let hash = |seq: usize| stored[seq - 1].hash.clone();
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(5, &hash(5))
        );

        // The body is stored as canonical JSON and read back equal.
        assert_eq!(
            column(db, "chain_entries", "body", DECISIONS, coop, 1).await,
            r#"{"proposal":1,"title":"t1","z":{"a":2,"b":1}}"#
        );
        assert_eq!(
            chain::list(db, DECISIONS, coop, 0, 100).await.unwrap(),
            stored
        );
        let page = chain::list(db, DECISIONS, coop, 2, 2).await.unwrap();
        assert_eq!(page, stored[2..4].to_vec());
        assert!(matches!(
            chain::list(db, DECISIONS, coop, 0, 0).await,
            Err(Error::Invalid(m)) if m == "limit must be at least 1, got 0"
        ));

        // Entry 2's body changed: entry 2 no longer hashes to its hash.
        let body2 = column(db, "chain_entries", "body", DECISIONS, coop, 2).await;
        let forged = r#"{"proposal":2,"title":"forged","z":{"a":2,"b":1}}"#;
        assert_eq!(tamper(db, SET_BODY, forged, DECISIONS, coop, 2).await, 1);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(
                1,
                &hash(1),
                2,
                "entry 2: hash does not match its content (altered?)"
            )
        );
        // A body that is no longer JSON at all.
        tamper(db, SET_BODY, "{not json", DECISIONS, coop, 2).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(1, &hash(1), 2, "entry 2: body is not valid json (altered?)")
        );
        tamper(db, SET_BODY, &body2, DECISIONS, coop, 2).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(5, &hash(5))
        );

        // Entry 4's link changed.
        tamper(db, SET_PREV, &hash(2), DECISIONS, coop, 4).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(3, &hash(3), 4, "entry 4: prev_hash does not match entry 3")
        );
        tamper(db, SET_PREV, &hash(3), DECISIONS, coop, 4).await;
        // Entry 1 must start from the genesis hash.
        tamper(db, SET_PREV, &"1".repeat(64), DECISIONS, coop, 1).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(0, GENESIS, 1, "entry 1: prev_hash is not the genesis hash")
        );
        tamper(db, SET_PREV, GENESIS, DECISIONS, coop, 1).await;

        // Entry 3 rewritten with a recomputed hash: it checks out on its
        // own, and entry 4's link gives it away.
        let body3 = column(db, "chain_entries", "body", DECISIONS, coop, 3).await;
        let mut rewritten = stored[2].clone();
        rewritten.body = json!({"proposal": 3, "title": "rewritten"});
        let rehash = chain::entry_hash(&rewritten);
        tamper(
            db,
            SET_BODY,
            &chain::canonical_json(&rewritten.body),
            DECISIONS,
            coop,
            3,
        )
        .await;
        tamper(db, SET_HASH, &rehash, DECISIONS, coop, 3).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(3, &rehash, 4, "entry 4: prev_hash does not match entry 3")
        );
        tamper(db, SET_BODY, &body3, DECISIONS, coop, 3).await;
        tamper(db, SET_HASH, &hash(3), DECISIONS, coop, 3).await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(5, &hash(5))
        );

        // Erasing personal data keeps the chain sound.
        assert!(chain::erase_personal(db, DECISIONS, coop, 2).await.unwrap());
        assert!(!chain::erase_personal(db, DECISIONS, coop, 2).await.unwrap());
        assert!(!chain::erase_personal(db, DECISIONS, coop, 3).await.unwrap());
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(5, &hash(5))
        );
        let listed = chain::list(db, DECISIONS, coop, 1, 1).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].seq, 2);
        assert_eq!(listed[0].personal, None);
        assert_eq!(listed[0].commitment, stored[1].commitment);

        // Altered personal data is caught by its commitment.
        let data4 = column(db, "chain_personal", "data", DECISIONS, coop, 4).await;
        assert_eq!(data4, r#"{"email":"m4@example.org"}"#);
        tamper(
            db,
            SET_DATA,
            r#"{"email":"someone-else@example.org"}"#,
            DECISIONS,
            coop,
            4,
        )
        .await;
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(
                3,
                &hash(3),
                4,
                "entry 4: personal data does not match its commitment (altered?)"
            )
        );
        tamper(db, SET_DATA, &data4, DECISIONS, coop, 4).await;
        // Personal data slipped in beside an entry that committed to none.
        sqlx::query(
            "INSERT INTO chain_personal (chain, coop_id, seq, salt, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(DECISIONS)
        .bind(coop)
        .bind(3i64)
        .bind("00".repeat(16))
        .bind(r#"{"email":"planted@example.org"}"#)
        .execute(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(
                2,
                &hash(2),
                3,
                "entry 3: has personal data but commits to none (added later?)"
            )
        );
        assert!(chain::erase_personal(db, DECISIONS, coop, 3).await.unwrap());
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(5, &hash(5))
        );

        // A deleted entry is a gap.
        let delete = |seq: i64| {
            sqlx::query("DELETE FROM chain_entries WHERE chain = $1 AND coop_id = $2 AND seq = $3")
                .bind(DECISIONS)
                .bind(coop)
                .bind(seq)
                .execute(&db.pool)
        };
        assert_eq!(delete(3).await.unwrap().rows_affected(), 1);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(2, &hash(2), 3, "entry 3 missing: seq jumps from 2 to 4")
        );
        assert_eq!(delete(1).await.unwrap().rows_affected(), 1);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            broken(
                0,
                GENESIS,
                1,
                "entry 1 missing: the chain starts at entry 2"
            )
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn chains_of_coops_and_names_are_independent() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = &host.app.db;
        let a = host.coop("chain-ind-a").await.id;
        let b = host.coop("chain-ind-b").await.id;
        let same = new_entry("member.joined", json!({"member": 1}), None);

        let a_dec: Vec<Entry> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(chain::append(db, DECISIONS, a, &same, T0).await.unwrap());
            }
            v
        };
        let a_audit1 = chain::append(
            db,
            AUDIT,
            a,
            &new_entry("login", json!({}), Some(json!({"ip": "192.0.2.1"}))),
            T0,
        )
        .await
        .unwrap();
        let a_audit2 = chain::append(db, AUDIT, a, &same, T0).await.unwrap();
        let b_dec1 = chain::append(db, DECISIONS, b, &same, T0).await.unwrap();

        // Each chain starts at 1 from the genesis hash.
        for first in [&a_dec[0], &a_audit1, &b_dec1] {
            assert_eq!(first.seq, 1, "{backend:?}");
            assert_eq!(first.prev_hash, GENESIS);
        }
        assert_eq!(
            a_dec.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(a_audit2.seq, 2);
        assert_eq!(a_audit2.prev_hash, a_audit1.hash);
        // The same content in another coop or chain hashes differently.
        assert_ne!(a_dec[0].hash, b_dec1.hash);
        assert_ne!(a_dec[1].hash, a_audit2.hash);

        assert_eq!(
            chain::verify(db, DECISIONS, a).await.unwrap(),
            ok(3, &a_dec[2].hash)
        );
        assert_eq!(
            chain::verify(db, AUDIT, a).await.unwrap(),
            ok(2, &a_audit2.hash)
        );
        assert_eq!(
            chain::verify(db, DECISIONS, b).await.unwrap(),
            ok(1, &b_dec1.hash)
        );
        assert_eq!(chain::verify(db, AUDIT, b).await.unwrap(), ok(0, GENESIS));
        assert_eq!(
            chain::list(db, AUDIT, a, 0, 10).await.unwrap(),
            vec![a_audit1.clone(), a_audit2.clone()]
        );
        assert_eq!(chain::list(db, AUDIT, b, 0, 10).await.unwrap(), vec![]);

        // Erasing in one chain leaves the same seq of the others alone.
        assert!(!chain::erase_personal(db, DECISIONS, a, 1).await.unwrap());
        assert!(!chain::erase_personal(db, AUDIT, b, 1).await.unwrap());
        assert_eq!(
            chain::list(db, AUDIT, a, 0, 1).await.unwrap()[0].personal,
            Some(json!({"ip": "192.0.2.1"}))
        );

        // Tampering with one chain breaks only that one.
        tamper(db, SET_BODY, r#"{"member":2}"#, AUDIT, a, 2).await;
        assert_eq!(
            chain::verify(db, AUDIT, a).await.unwrap(),
            broken(
                1,
                &a_audit1.hash,
                2,
                "entry 2: hash does not match its content (altered?)"
            )
        );
        assert_eq!(
            chain::verify(db, DECISIONS, a).await.unwrap(),
            ok(3, &a_dec[2].hash)
        );
        assert_eq!(
            chain::verify(db, DECISIONS, b).await.unwrap(),
            ok(1, &b_dec1.hash)
        );

        // Empty names are refused before anything is written.
        assert!(matches!(
            chain::append(db, "", a, &same, T0).await,
            Err(Error::Invalid(m)) if m == "chain name must not be empty"
        ));
        assert!(matches!(
            chain::append(db, DECISIONS, a, &new_entry("", json!({}), None), T0).await,
            Err(Error::Invalid(m)) if m == r#"entry kind must not be empty (chain "decisions")"#
        ));
        assert_eq!(
            chain::verify(db, DECISIONS, a).await.unwrap(),
            ok(3, &a_dec[2].hash)
        );

        host.finish().await;
    }
}

#[tokio::test]
async fn append_in_commits_or_rolls_back_with_the_caller() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = &host.app.db;
        let coop = host.coop("chain-tx").await.id;
        let entry = new_entry(
            "proposal.applied",
            json!({"proposal": 1}),
            Some(json!({"by": "Ada"})),
        );

        let mut tx = db.begin_write().await.unwrap();
        let dropped = chain::append_in(&mut tx, DECISIONS, coop, &entry, T0)
            .await
            .unwrap();
        assert_eq!(dropped.seq, 1, "{backend:?}");
        drop(tx);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(0, GENESIS)
        );
        assert!(!chain::erase_personal(db, DECISIONS, coop, 1).await.unwrap());

        let mut tx = db.begin_write().await.unwrap();
        let first = chain::append_in(&mut tx, DECISIONS, coop, &entry, T0)
            .await
            .unwrap();
        let second = chain::append_in(&mut tx, DECISIONS, coop, &entry, T0 + 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(second.prev_hash, first.hash);
        // A fresh salt per entry: equal personal data, different commitments.
        assert_ne!(first.commitment, second.commitment);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(2, &second.hash)
        );
        assert_eq!(
            chain::list(db, DECISIONS, coop, 0, 10).await.unwrap(),
            vec![first, second]
        );

        host.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_lose_nothing() {
    const TASKS: i64 = 8;
    const PER_TASK: i64 = 25;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("chain-conc").await.id;
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let db = host.app.db.clone();
            handles.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..PER_TASK {
                    let personal = (i % 5 == 0).then(|| json!({"task": task, "i": i}));
                    let entry = new_entry("tick", json!({"task": task, "i": i}), personal);
                    let stored = if i % 2 == 0 {
                        chain::append(&db, DECISIONS, coop, &entry, T0 + i)
                            .await
                            .unwrap()
                    } else {
                        // Inside a caller's transaction, retried as a caller would.
                        loop {
                            let mut tx = db.begin_write().await.unwrap();
                            match chain::append_in(&mut tx, DECISIONS, coop, &entry, T0 + i).await {
                                Ok(stored) => {
                                    tx.commit().await.unwrap();
                                    break stored;
                                }
                                Err(Error::Conflict(_)) => continue,
                                Err(e) => panic!("append_in: {e}"),
                            }
                        }
                    };
                    seqs.push(stored.seq);
                }
                seqs
            }));
        }
        let mut seqs = BTreeSet::new();
        for handle in handles {
            for seq in handle.await.unwrap() {
                assert!(seqs.insert(seq), "seq {seq} handed out twice ({backend:?})");
            }
        }
        let total = TASKS * PER_TASK;
        assert_eq!(seqs, (1..=total).collect::<BTreeSet<_>>(), "{backend:?}");

        let db = &host.app.db;
        let entries = chain::list(db, DECISIONS, coop, 0, 1000).await.unwrap();
        assert_eq!(entries.len() as i64, total);
        assert_eq!(
            chain::verify(db, DECISIONS, coop).await.unwrap(),
            ok(total, &entries.last().unwrap().hash)
        );
        let written: BTreeSet<(i64, i64)> = entries
            .iter()
            .map(|e| {
                (
                    e.body["task"].as_i64().unwrap(),
                    e.body["i"].as_i64().unwrap(),
                )
            })
            .collect();
        let expected: BTreeSet<(i64, i64)> = (0..TASKS)
            .flat_map(|t| (0..PER_TASK).map(move |i| (t, i)))
            .collect();
        assert_eq!(written, expected);
        let with_personal = entries.iter().filter(|e| e.personal.is_some()).count();
        assert_eq!(
            with_personal as i64,
            TASKS * 5,
            "i = 0, 5, 10, 15, 20 of each task"
        );
        for e in &entries {
            assert_eq!(e.personal.is_some(), !e.commitment.is_empty());
            if let Some(p) = &e.personal {
                assert_eq!(p, &e.body);
            }
        }

        host.finish().await;
    }
}

/// A batch appended in one go is the same chain as the entries appended one
/// by one: seqs follow the head, each links to the one before, personal
/// data goes beside the chain, it verifies, and it crosses insert chunks.
#[tokio::test]
async fn a_batch_append_continues_the_chain_entry_by_entry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let db = &host.app.db;
        let coop = host.coop("chain-batch").await.id;
        let single = chain::append(
            db,
            AUDIT,
            coop,
            &new_entry("one", json!({"n": 0}), None),
            T0,
        )
        .await
        .unwrap();
        let batch: Vec<(NewEntry, i64)> = (1..=250)
            .map(|n| {
                let personal = (n % 3 == 0).then(|| json!({"member": n}));
                (new_entry("many", json!({"n": n}), personal), T0 + n)
            })
            .collect();
        let mut tx = db.begin_write().await.unwrap();
        let stored = chain::append_many_in(&mut tx, AUDIT, coop, &batch)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(stored.len(), 250);
        assert_eq!(stored[0].seq, 2, "{backend:?}");
        assert_eq!(stored[0].prev_hash, single.hash);
        for w in stored.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1);
            assert_eq!(w[1].prev_hash, w[0].hash);
        }
        let last = stored.last().unwrap();
        assert_eq!(
            chain::verify(db, AUDIT, coop).await.unwrap(),
            ok(251, &last.hash)
        );
        // Read back, the entries are the ones returned, personal data too.
        let listed = chain::list(db, AUDIT, coop, 1, 1000).await.unwrap();
        assert_eq!(listed, stored);
        let with_personal = listed.iter().filter(|e| e.personal.is_some()).count();
        assert_eq!(with_personal, 83);
        // An empty batch changes nothing; a bad entry fails the whole batch.
        let mut tx = db.begin_write().await.unwrap();
        assert!(
            chain::append_many_in(&mut tx, AUDIT, coop, &[])
                .await
                .unwrap()
                .is_empty()
        );
        let bad = vec![
            (new_entry("fine", json!({}), None), T0),
            (new_entry("", json!({}), None), T0),
        ];
        assert!(matches!(
            chain::append_many_in(&mut tx, AUDIT, coop, &bad).await,
            Err(Error::Invalid(_))
        ));
        drop(tx);
        assert_eq!(chain::verify(db, AUDIT, coop).await.unwrap().entries, 251);
        host.finish().await;
    }
}
