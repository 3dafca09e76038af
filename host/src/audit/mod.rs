//! The audit log: every plugin call a client makes (caller, coop, plugin,
//! function, outcome, duration), every grant change and every consent
//! change, in the append-only hash chain `audit` of each coop (the same
//! mechanism as the decision log). Members read the entries about them.
//!
//! Off the hot path: a call only pushes an item into its coop's queue; a
//! background writer appends them in batches outside the audited call's
//! transaction, so a failed call is audited too. The member a call or
//! change is about is a personal field beside the chain (erasable without
//! breaking verification) and a row of `audit_subjects`, which is what a
//! member's own listing reads.
//!
//! Nothing is lost silently, nothing is written twice, and one coop cannot
//! crowd out another:
//! - each coop has its own queue, capped at [`QUEUE_PER_COOP`], and all
//!   together at [`QUEUE`]; when full, the oldest item of the coop with the
//!   most waiting is dropped (the flooding coop pays for its flood), and a
//!   batch takes an equal share of every coop's queue;
//! - each coop's part of a batch is its own transaction, retried alone
//!   ([`WRITE_ATTEMPTS`]), and carries a part number recorded in
//!   `audit_writes` in the same transaction, so a retry after a commit
//!   whose answer was lost finds it written and appends nothing;
//! - what could not be queued or written becomes an `audit.gap` entry in
//!   that coop's chain (how many, the time range, why), written first in
//!   the coop's next part, or alone as soon as the database takes writes
//!   again (tried every [`GAP_RETRY`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::{Notify, oneshot};

use crate::chain::{self, Entry, NewEntry};
use crate::db::Db;
use crate::error::Result;

pub mod runs;

/// The chain's name.
pub const AUDIT: &str = "audit";
/// Items waiting for the writer at most, all coops together; beyond, the
/// oldest item of the coop with the most waiting is dropped and counted
/// (`audit.gap`). Bounds the host memory the audit log can take.
pub const QUEUE: usize = 10_000;
/// Items one coop may have waiting; beyond, its own oldest is dropped
/// (`audit.gap`), so a coop's flood cannot push out another's entries.
pub const QUEUE_PER_COOP: usize = 2_000;
/// Kinds of items a full queue never drops: the records of someone
/// reading a member's personal data (`data.access`). A flood of plugin
/// calls must not be able to erase who looked at whose data; these items
/// have room of their own ([`KEPT_QUEUE`]) beside the queue's, and past
/// that room they are written at once by whoever records them
/// ([`Audit::record_kept`]).
pub const KEPT_KINDS: &[&str] = &["data.access"];
/// Items of [`KEPT_KINDS`] waiting at most, all coops together, in room
/// reserved for them beyond [`QUEUE`].
pub const KEPT_QUEUE: usize = 5_000;
/// Items appended per batch at most (every coop with items waiting gets an
/// equal share of it first).
pub const BATCH: usize = 500;
/// Tries of one coop's part of a batch before its items count as lost.
pub const WRITE_ATTEMPTS: u32 = 3;
/// Wait before the first retry of a part; doubles each time. Short: a
/// locked or restarting database either answers within a few hundred
/// milliseconds or the items are recorded as a gap.
pub const RETRY_DELAY: Duration = Duration::from_millis(50);
/// How often the writer tries again to record a gap while it has nothing
/// else to write.
pub const GAP_RETRY: Duration = Duration::from_secs(1);
/// How long another writer's part numbers are kept (by the audited
/// time): a writer retries a part for well under a second, so an hour is
/// ample, and the table stays a few rows per coop.
const WRITES_KEPT_MS: i64 = 3_600_000;
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

/// What the audit writer has done since start (for `/metrics` and the
/// benchmarks: its cost per audited call).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriterStats {
    /// Batches written (each one write transaction per coop in it).
    pub batches: u64,
    /// Entries written (items and gap entries).
    pub items: u64,
    /// Seconds spent writing them.
    pub write_seconds: f64,
    /// Items dropped because the queue was full.
    pub dropped: u64,
    /// Items lost because their coop's part failed to write
    /// [`WRITE_ATTEMPTS`] times (each recorded in an `audit.gap` entry).
    pub lost: u64,
}

/// Items that never made it into a coop's chain, until an `audit.gap`
/// entry records them.
#[derive(Clone, Debug, Default)]
struct Loss {
    /// Dropped because the queue was full.
    dropped: u64,
    /// Lost because the database refused their write.
    lost: u64,
    /// The earliest and latest audited time among them.
    from: i64,
    to: i64,
}

impl Loss {
    fn count(&mut self, dropped: u64, lost: u64, from: i64, to: i64) {
        if self.dropped + self.lost == 0 {
            (self.from, self.to) = (from, to);
        } else {
            self.from = self.from.min(from);
            self.to = self.to.max(to);
        }
        self.dropped += dropped;
        self.lost += lost;
    }

    fn merge(&mut self, other: &Loss) {
        self.count(other.dropped, other.lost, other.from, other.to);
    }

    fn entry(&self) -> (NewEntry, i64) {
        let reason = match (self.dropped > 0, self.lost > 0) {
            (true, true) => "the audit queue was full, and the audit database refused a write",
            (true, false) => "the audit queue was full",
            _ => "the audit database refused the write",
        };
        (
            NewEntry {
                kind: "audit.gap".into(),
                body: json!({"dropped": self.dropped, "lost": self.lost,
                    "from": self.from, "to": self.to, "reason": reason}),
                personal: None,
            },
            self.to,
        )
    }
}

/// Whether a full queue keeps `item` ([`KEPT_KINDS`]).
fn kept(item: &Item) -> bool {
    KEPT_KINDS.contains(&item.kind.as_str())
}

/// What waits for the writer.
#[derive(Default)]
struct State {
    queues: BTreeMap<i64, VecDeque<Item>>,
    total: usize,
    /// Items of [`KEPT_KINDS`] waiting, per coop (only coops with some).
    kept: HashMap<i64, usize>,
    kept_total: usize,
    losses: HashMap<i64, Loss>,
    flushes: Vec<oneshot::Sender<()>>,
    closed: bool,
    /// The coop the next batch starts its round at, so that with more
    /// coops than room in a batch, each is served in turn.
    cursor: i64,
}

/// One coop's part of a batch.
#[derive(Default)]
struct Part {
    loss: Option<Loss>,
    items: Vec<Item>,
}

impl State {
    /// Items of coop `c` waiting that a full queue may drop.
    fn droppable(&self, c: i64) -> usize {
        self.queues.get(&c).map_or(0, VecDeque::len) - self.kept.get(&c).copied().unwrap_or(0)
    }

    /// Take a batch: an equal share of every coop's queue, then what room
    /// is left in coop order, and every loss not yet recorded. When that
    /// empties the queues, the flushes waiting so far are answered after
    /// it is written.
    fn take(&mut self, batch: usize) -> (BTreeMap<i64, Part>, Vec<oneshot::Sender<()>>) {
        let mut parts: BTreeMap<i64, Part> = BTreeMap::new();
        let share = (batch / self.queues.len().max(1)).max(1);
        let mut room = batch;
        let coops: Vec<i64> = self.queues.keys().copied().collect();
        let start = coops.partition_point(|c| *c < self.cursor);
        let order: Vec<i64> = coops[start..]
            .iter()
            .chain(&coops[..start])
            .copied()
            .collect();
        for pass_share in [share, batch] {
            for coop in &order {
                let Some(queue) = self.queues.get_mut(coop) else {
                    continue;
                };
                let n = queue.len().min(pass_share).min(room);
                if n == 0 {
                    continue;
                }
                let items = &mut parts.entry(*coop).or_default().items;
                let from = items.len();
                items.extend(queue.drain(..n));
                let kept_n = items[from..].iter().filter(|i| kept(i)).count();
                if kept_n > 0 {
                    self.kept_total -= kept_n;
                    if let Some(k) = self.kept.get_mut(coop) {
                        *k -= kept_n;
                        if *k == 0 {
                            self.kept.remove(coop);
                        }
                    }
                }
                room -= n;
                self.total -= n;
                self.cursor = coop.saturating_add(1);
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
        for (coop, loss) in self.losses.drain() {
            parts.entry(coop).or_default().loss = Some(loss);
        }
        let flushes = if self.total == 0 {
            std::mem::take(&mut self.flushes)
        } else {
            Vec::new()
        };
        (parts, flushes)
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    dropped_total: AtomicU64,
    batches: AtomicU64,
    items: AtomicU64,
    write_nanos: AtomicU64,
    lost: AtomicU64,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("audit queue poisoned")
    }
}

/// The audit queues and their writer.
pub struct Audit {
    shared: Arc<Shared>,
    /// The audit log's database (for kept items written at once).
    db: Db,
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_one();
    }
}

impl Audit {
    /// Queues whose writer appends to `db`. Must be called inside a tokio
    /// runtime (the writer is a task).
    pub fn start(db: Db) -> Arc<Audit> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            dropped_total: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            items: AtomicU64::new(0),
            write_nanos: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        tokio::spawn(writer(db.clone(), shared.clone(), hex::encode(id)));
        Arc::new(Audit { shared, db })
    }

    /// Queue `item`; never waits. Past [`QUEUE_PER_COOP`] for its coop, or
    /// [`QUEUE`] in all, the oldest item of the coop with the most waiting
    /// is dropped and counted in that coop's next `audit.gap` entry; items
    /// of [`KEPT_KINDS`] are never the ones dropped (and do not count
    /// toward those bounds: see [`Audit::record_kept`]).
    pub fn record(&self, item: Item) {
        if let Err(item) = self.try_record(item) {
            // A kept item whose room is full, recorded without waiting
            // for it: written by a task of its own.
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = write_now(&db, &item).await {
                    tracing::error!(error = %format!("{e:#}"), kind = %item.kind, "could not write a kept audit item");
                }
            });
        }
    }

    /// Queue an item of [`KEPT_KINDS`] in the room reserved for them, or,
    /// when that room is full, write it now (the caller waits): such
    /// records are never dropped. An error means it was not recorded, and
    /// the caller must not serve what it records.
    pub async fn record_kept(&self, item: Item) -> Result<()> {
        match self.try_record(item) {
            Ok(()) => Ok(()),
            Err(item) => write_now(&self.db, &item).await,
        }
    }

    /// Queue `item`, unless it is a kept item and their room is full.
    fn try_record(&self, item: Item) -> std::result::Result<(), Item> {
        let coop = item.coop_id;
        let is_kept = kept(&item);
        {
            let mut guard = self.shared.state();
            let s = &mut *guard;
            if is_kept {
                if s.kept_total >= KEPT_QUEUE {
                    return Err(item);
                }
                s.kept_total += 1;
                *s.kept.entry(coop).or_default() += 1;
            }
            s.queues.entry(coop).or_default().push_back(item);
            s.total += 1;
            let victim = if !is_kept && s.droppable(coop) > QUEUE_PER_COOP {
                Some(coop)
            } else if s.total - s.kept_total > QUEUE {
                s.queues
                    .keys()
                    .map(|c| (*c, s.droppable(*c)))
                    .filter(|(_, n)| *n > 0)
                    .max_by_key(|(_, n)| *n)
                    .map(|(c, _)| c)
            } else {
                None
            };
            let old = victim.and_then(|v| {
                let queue = s.queues.get_mut(&v)?;
                let at = queue.iter().position(|i| !kept(i))?;
                queue.remove(at).map(|old| (v, old))
            });
            if let Some((victim, old)) = old {
                s.total -= 1;
                s.losses
                    .entry(victim)
                    .or_default()
                    .count(1, 0, old.at, old.at);
                self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Items waiting for the writer now.
    pub fn queued(&self) -> usize {
        self.shared.state().total
    }

    /// Items dropped since start because a queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Wait until everything queued before this call is written (or
    /// recorded as lost), and any gap waiting to be recorded was tried.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        self.shared.state().flushes.push(done);
        self.shared.wake.notify_one();
        let _ = wait.await;
    }

    /// The writer's totals so far.
    pub fn stats(&self) -> WriterStats {
        let s = &self.shared;
        WriterStats {
            batches: s.batches.load(Ordering::Relaxed),
            items: s.items.load(Ordering::Relaxed),
            write_seconds: s.write_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            dropped: self.dropped(),
            lost: s.lost.load(Ordering::Relaxed),
        }
    }

    /// The writer's totals in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let s = self.stats();
        format!(
            "# HELP coophost_audit_batches_total Audit batches written.\n# TYPE coophost_audit_batches_total counter\n\
             coophost_audit_batches_total {}\n\
             # HELP coophost_audit_items_total Audit entries written.\n# TYPE coophost_audit_items_total counter\n\
             coophost_audit_items_total {}\n\
             # HELP coophost_audit_write_seconds_total Time the audit writer spent writing batches.\n# TYPE coophost_audit_write_seconds_total counter\n\
             coophost_audit_write_seconds_total {}\n\
             # HELP coophost_audit_dropped_total Audit items dropped because a queue was full (each recorded in an audit.gap entry).\n# TYPE coophost_audit_dropped_total counter\n\
             coophost_audit_dropped_total {}\n\
             # HELP coophost_audit_lost_total Audit items lost because their write failed (each recorded in an audit.gap entry).\n# TYPE coophost_audit_lost_total counter\n\
             coophost_audit_lost_total {}\n",
            s.batches, s.items, s.write_seconds, s.dropped, s.lost
        )
    }
}

async fn writer(db: Db, shared: Arc<Shared>, id: String) {
    if let Err(e) = forget_old_writers(&db, &id).await {
        tracing::warn!(error = %format!("{e:#}"), "could not clear old audit part numbers");
    }
    let mut part_no: i64 = 0;
    loop {
        let (parts, flushes, closed) = {
            let mut s = shared.state();
            let (parts, flushes) = s.take(BATCH);
            (parts, flushes, s.closed)
        };
        let started = std::time::Instant::now();
        let mut written = 0u64;
        let mut failed = false;
        for (coop, part) in parts {
            part_no += 1;
            match write_part_retrying(&db, &id, part_no, coop, &part).await {
                Ok(n) => written += n,
                Err(()) => {
                    failed = true;
                    let mut loss = part.loss.clone().unwrap_or_default();
                    if let (Some(first), Some(last)) = (part.items.first(), part.items.last()) {
                        let n = part.items.len() as u64;
                        loss.count(0, n, first.at.min(last.at), first.at.max(last.at));
                        shared.lost.fetch_add(n, Ordering::Relaxed);
                    }
                    if loss.dropped + loss.lost > 0 {
                        shared.state().losses.entry(coop).or_default().merge(&loss);
                    }
                }
            }
        }
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.write_nanos.fetch_add(nanos, Ordering::Relaxed);
        if written > 0 {
            shared.batches.fetch_add(1, Ordering::Relaxed);
            shared.items.fetch_add(written, Ordering::Relaxed);
        }
        for f in flushes {
            let _ = f.send(());
        }
        let (idle, gaps) = {
            let s = shared.state();
            (s.total == 0 && s.flushes.is_empty(), !s.losses.is_empty())
        };
        if closed && idle {
            return;
        }
        if failed || (idle && gaps) {
            // The database refuses writes: try again after a while, or as
            // soon as something new arrives.
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(GAP_RETRY) => {}
            }
        } else if idle {
            shared.wake.notified().await;
        }
    }
}

/// Write one coop's part, retrying it alone. Returns the entries written.
async fn write_part_retrying(
    db: &Db,
    writer: &str,
    part_no: i64,
    coop: i64,
    part: &Part,
) -> std::result::Result<u64, ()> {
    let mut delay = RETRY_DELAY;
    for attempt in 1..=WRITE_ATTEMPTS {
        match write_part(db, writer, part_no, coop, part).await {
            Ok(n) => return Ok(n),
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(error = %format!("{e:#}"), coop, items = part.items.len(), attempt, "audit write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), coop, items = part.items.len(), "audit write failed; recording a gap");
            }
        }
    }
    Err(())
}

/// Append a coop's part (its gap entry first, if any) in one transaction,
/// unless this writer already committed it (a retry after a commit whose
/// answer was lost). Returns the entries written.
async fn write_part(db: &Db, writer: &str, part_no: i64, coop: i64, part: &Part) -> Result<u64> {
    let mut entries: Vec<(NewEntry, i64)> = Vec::with_capacity(part.items.len() + 1);
    entries.extend(part.loss.as_ref().map(Loss::entry));
    let first_item = entries.len();
    entries.extend(part.items.iter().map(|item| {
        (
            NewEntry {
                kind: item.kind.clone(),
                body: item.body.clone(),
                personal: item.member_id.map(|m| json!({"member": m})),
            },
            item.at,
        )
    }));
    if entries.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let done: Option<i64> =
        sqlx::query("SELECT last_part FROM audit_writes WHERE writer = $1 AND coop_id = $2")
            .bind(writer)
            .bind(coop)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
    if done.is_some_and(|d| d >= part_no) {
        tx.rollback().await?;
        return Ok(0);
    }
    let stored = chain::append_many_in(&mut tx, AUDIT, coop, &entries).await?;
    let subjects: Vec<(i64, i64)> = part
        .items
        .iter()
        .zip(&stored[first_item..])
        .filter_map(|(item, e)| Some((e.seq, item.member_id?)))
        .collect();
    for chunk in subjects.chunks(SUBJECTS_CHUNK) {
        let mut sql = String::from("INSERT INTO audit_subjects (coop_id, seq, member_id) VALUES ");
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
    let written_at = entries.iter().map(|(_, at)| *at).max().unwrap_or(0);
    sqlx::query(
        "INSERT INTO audit_writes (writer, coop_id, last_part, written_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (writer, coop_id) DO UPDATE SET last_part = excluded.last_part, written_at = excluded.written_at",
    )
    .bind(writer)
    .bind(coop)
    .bind(part_no)
    .bind(written_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(entries.len() as u64)
}

/// Write one item now, in a transaction of its own (a kept item whose
/// room in the queue is full).
async fn write_now(db: &Db, item: &Item) -> Result<()> {
    let entry = NewEntry {
        kind: item.kind.clone(),
        body: item.body.clone(),
        personal: item.member_id.map(|m| json!({"member": m})),
    };
    let mut tx = db.begin_write().await?;
    let stored = chain::append_in(&mut tx, AUDIT, item.coop_id, &entry, item.at).await?;
    if let Some(member) = item.member_id {
        sqlx::query("INSERT INTO audit_subjects (coop_id, seq, member_id) VALUES ($1, $2, $3)")
            .bind(item.coop_id)
            .bind(stored.seq)
            .bind(member)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Forget part numbers of writers long gone (other processes, earlier
/// starts): they only matter while their writer retries a part.
async fn forget_old_writers(db: &Db, me: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM audit_writes WHERE writer <> $1 AND written_at < \
         (SELECT COALESCE(MAX(written_at), 0) FROM audit_writes) - $2",
    )
    .bind(me)
    .bind(WRITES_KEPT_MS)
    .execute(&db.pool)
    .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(coop_id: i64, at: i64) -> Item {
        Item {
            coop_id,
            kind: "test".into(),
            body: json!({}),
            member_id: None,
            at,
        }
    }

    fn state(items: impl IntoIterator<Item = Item>) -> State {
        let mut s = State::default();
        for i in items {
            s.queues.entry(i.coop_id).or_default().push_back(i);
            s.total += 1;
        }
        s
    }

    #[test]
    fn a_batch_takes_an_equal_share_of_each_coop_then_fills_up() {
        let mut s = state(
            (0..100)
                .map(|at| item(1, at))
                .chain([item(2, 0), item(3, 0)]),
        );
        let (parts, flushes) = s.take(10);
        let sizes: Vec<(i64, usize)> = parts.iter().map(|(c, p)| (*c, p.items.len())).collect();
        // Shares of 3 each; coop 1 gets the room the others left.
        assert_eq!(sizes, [(1, 8), (2, 1), (3, 1)]);
        assert!(flushes.is_empty());
        assert_eq!(s.total, 92);
    }

    #[test]
    fn with_more_coops_than_room_each_is_served_in_turn() {
        let mut s = state((1..=6).flat_map(|c| [item(c, 0), item(c, 1)]));
        let served = |parts: BTreeMap<i64, Part>| parts.keys().copied().collect::<Vec<_>>();
        assert_eq!(served(s.take(4).0), [1, 2, 3, 4]);
        assert_eq!(served(s.take(4).0), [1, 2, 5, 6]);
        assert_eq!(served(s.take(4).0), [3, 4, 5, 6]);
    }

    #[test]
    fn losses_merge_into_one_gap_with_their_time_range() {
        let mut l = Loss::default();
        l.count(1, 0, 50, 50);
        l.merge(&Loss {
            dropped: 0,
            lost: 3,
            from: 10,
            to: 40,
        });
        let (entry, at) = l.entry();
        assert_eq!(entry.kind, "audit.gap");
        assert_eq!(entry.body["dropped"], 1);
        assert_eq!(entry.body["lost"], 3);
        assert_eq!(
            (&entry.body["from"], &entry.body["to"]),
            (&json!(10), &json!(50))
        );
        assert_eq!(at, 50);
    }

    #[tokio::test]
    async fn a_part_retried_after_its_commit_is_not_appended_again() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let db = Db::connect(&url).await.unwrap();
        let clock = crate::clock::ManualClock::new(1_000);
        let coop = crate::identity::create_coop(&db, &clock, "cc", "C")
            .await
            .unwrap();
        let part = Part {
            loss: None,
            items: vec![item(coop.id, 1), item(coop.id, 2)],
        };
        assert_eq!(write_part(&db, "w", 1, coop.id, &part).await.unwrap(), 2);
        // The same part again, as after a commit whose answer was lost.
        assert_eq!(write_part(&db, "w", 1, coop.id, &part).await.unwrap(), 0);
        // The next part, and another writer's first, are written.
        assert_eq!(write_part(&db, "w", 2, coop.id, &part).await.unwrap(), 2);
        assert_eq!(write_part(&db, "v", 1, coop.id, &part).await.unwrap(), 2);
        let v = chain::verify(&db, AUDIT, coop.id).await.unwrap();
        assert_eq!((v.ok, v.entries), (true, 6));
    }
}
