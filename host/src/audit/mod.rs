//! The audit log: every plugin call a client makes (caller, coop, plugin,
//! function, outcome, duration), every grant change and every consent
//! change, in the append-only hash chain `audit` of each coop (the same
//! mechanism as the decision log). Members read the entries about them.
//!
//! Off the hot path: a call only pushes an item into a bounded queue; a
//! background writer appends them in batches, one write transaction per
//! coop per batch, outside the audited call's transaction, so a failed call
//! is audited too. If the queue is full the item is dropped and counted;
//! the next batch of that coop records an `audit.gap` entry with the count,
//! so a gap is visible in the chain itself. The member a call or change is
//! about is a personal field beside the chain (erasable without breaking
//! verification) and a row of `audit_subjects`, which is what a member's
//! own listing reads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::chain::{self, Entry, NewEntry};
use crate::db::Db;
use crate::error::Result;

/// The chain's name.
pub const AUDIT: &str = "audit";
/// Items waiting for the writer at most; beyond, they are dropped and
/// counted (`audit.gap`).
pub const QUEUE: usize = 10_000;
/// Items appended per batch at most.
pub const BATCH: usize = 500;
/// Rows per multi-row insert into `audit_subjects`.
const SUBJECTS_CHUNK: usize = 200;

/// One thing to audit.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The coop.
    pub coop_id: i64,
    /// `plugin.call`, `grant.change`, `consent.change`, ...
    pub kind: String,
    /// What is hashed into the chain (no personal data).
    pub body: Value,
    /// The member it is about, if any (kept beside the chain).
    pub member_id: Option<i64>,
    /// When, ms since the epoch.
    pub at: i64,
}

/// A plugin call to audit (see [`crate::app::App::audit_call`]).
pub struct Call<'a> {
    /// The coop.
    pub coop_id: i64,
    /// The plugin, when the call got as far as finding one.
    pub plugin: Option<&'a str>,
    /// The interface called.
    pub interface: &'a str,
    /// The function called.
    pub function: &'a str,
    /// `ok`, or the failure's label or code.
    pub outcome: &'a str,
    /// When the call started.
    pub started: std::time::Instant,
    /// `member`, `service`, `anonymous` or `host`.
    pub caller: &'a str,
    /// The calling member, if any.
    pub member_id: Option<i64>,
}

enum Msg {
    Item(Item),
    Flush(oneshot::Sender<()>),
}

/// The audit queue and its writer.
pub struct Audit {
    tx: mpsc::Sender<Msg>,
    dropped: Mutex<HashMap<i64, u64>>,
    dropped_total: AtomicU64,
    batches: AtomicU64,
    items: AtomicU64,
    write_nanos: AtomicU64,
    lost: AtomicU64,
}

/// What the audit writer has done since start (for `/metrics` and the
/// benchmarks: its cost per audited call).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriterStats {
    /// Batches written (each one write transaction per coop in it).
    pub batches: u64,
    /// Items written.
    pub items: u64,
    /// Seconds spent writing them.
    pub write_seconds: f64,
    /// Items dropped because the queue was full.
    pub dropped: u64,
    /// Items lost because their batch failed to write twice.
    pub lost: u64,
}

impl Audit {
    /// A queue whose writer appends to `db`. Must be called inside a tokio
    /// runtime (the writer is a task).
    pub fn start(db: Db) -> std::sync::Arc<Audit> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let audit = std::sync::Arc::new(Audit {
            tx,
            dropped: Mutex::new(HashMap::new()),
            dropped_total: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            items: AtomicU64::new(0),
            write_nanos: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        tokio::spawn(writer(db, rx, std::sync::Arc::downgrade(&audit)));
        audit
    }

    /// Queue `item`; never waits. A full queue drops it and counts it.
    pub fn record(&self, item: Item) {
        let coop = item.coop_id;
        if self.tx.try_send(Msg::Item(item)).is_err() {
            self.dropped_total.fetch_add(1, Ordering::Relaxed);
            *self
                .dropped
                .lock()
                .expect("audit drops poisoned")
                .entry(coop)
                .or_default() += 1;
        }
    }

    /// Items dropped since start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Wait until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The writer's totals so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            items: self.items.load(Ordering::Relaxed),
            write_seconds: self.write_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            dropped: self.dropped(),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }

    /// The writer's totals in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let s = self.stats();
        format!(
            "# HELP coophost_audit_batches_total Audit batches written.\n# TYPE coophost_audit_batches_total counter\n\
             coophost_audit_batches_total {}\n\
             # HELP coophost_audit_items_total Audit items written.\n# TYPE coophost_audit_items_total counter\n\
             coophost_audit_items_total {}\n\
             # HELP coophost_audit_write_seconds_total Time the audit writer spent writing batches.\n# TYPE coophost_audit_write_seconds_total counter\n\
             coophost_audit_write_seconds_total {}\n\
             # HELP coophost_audit_dropped_total Audit items dropped because the queue was full.\n# TYPE coophost_audit_dropped_total counter\n\
             coophost_audit_dropped_total {}\n\
             # HELP coophost_audit_lost_total Audit items lost because their batch failed to write twice.\n# TYPE coophost_audit_lost_total counter\n\
             coophost_audit_lost_total {}\n",
            s.batches, s.items, s.write_seconds, s.dropped, s.lost
        )
    }

    fn take_dropped(&self) -> HashMap<i64, u64> {
        std::mem::take(&mut *self.dropped.lock().expect("audit drops poisoned"))
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<Msg>, audit: std::sync::Weak<Audit>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Item(i) => batch.push(i),
                Msg::Flush(f) => flushes.push(f),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let gaps = audit
            .upgrade()
            .map(|a| a.take_dropped())
            .unwrap_or_default();
        for (coop, n) in gaps {
            batch.push(Item {
                coop_id: coop,
                kind: "audit.gap".into(),
                body: json!({"dropped": n, "reason": "the audit queue was full"}),
                member_id: None,
                at: batch.last().map_or(0, |i: &Item| i.at),
            });
        }
        let started = std::time::Instant::now();
        let mut written = true;
        if let Err(e) = write_batch(&db, &batch).await {
            tracing::error!(error = %format!("{e:#}"), items = batch.len(), "audit batch failed; retrying once");
            if let Err(e) = write_batch(&db, &batch).await {
                tracing::error!(error = %format!("{e:#}"), items = batch.len(), "audit batch lost");
                written = false;
            }
        }
        if let Some(a) = audit.upgrade() {
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            a.write_nanos.fetch_add(nanos, Ordering::Relaxed);
            if !written {
                a.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
            } else if !batch.is_empty() {
                a.batches.fetch_add(1, Ordering::Relaxed);
                a.items.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Append `items`, one write transaction per coop, in order.
async fn write_batch(db: &Db, items: &[Item]) -> Result<()> {
    let mut coops: Vec<i64> = items.iter().map(|i| i.coop_id).collect();
    coops.sort_unstable();
    coops.dedup();
    for coop in coops {
        let mine: Vec<&Item> = items.iter().filter(|i| i.coop_id == coop).collect();
        let entries: Vec<(NewEntry, i64)> = mine
            .iter()
            .map(|item| {
                (
                    NewEntry {
                        kind: item.kind.clone(),
                        body: item.body.clone(),
                        personal: item.member_id.map(|m| json!({"member": m})),
                    },
                    item.at,
                )
            })
            .collect();
        let mut tx = db.begin_write().await?;
        let stored = chain::append_many_in(&mut tx, AUDIT, coop, &entries).await?;
        let subjects: Vec<(i64, i64)> = mine
            .iter()
            .zip(&stored)
            .filter_map(|(item, e)| Some((e.seq, item.member_id?)))
            .collect();
        for chunk in subjects.chunks(SUBJECTS_CHUNK) {
            let mut sql =
                String::from("INSERT INTO audit_subjects (coop_id, seq, member_id) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3));
            }
            let mut q = sqlx::query(&sql);
            for (seq, member) in chunk {
                q = q.bind(coop).bind(*seq).bind(*member);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The entries about `member_id`, after `after_seq`, at most `limit`.
pub async fn about(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Entry>> {
    let seqs: Vec<i64> = sqlx::query(
        "SELECT seq FROM audit_subjects WHERE coop_id = $1 AND member_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(after_seq)
    .bind(limit.clamp(1, 1000))
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if let Some(e) = chain::list(db, AUDIT, coop_id, seq - 1, 1)
            .await?
            .into_iter()
            .next()
        {
            out.push(e);
        }
    }
    Ok(out)
}
