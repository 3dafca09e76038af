//! Throttling: counting attempts per key (an email, an IP address, a coop)
//! and refusing, or slowing, past a rule's limit.
//!
//! Counts live in the database (`throttle_counts`), so a limit holds across
//! every host sharing it, and each count is one atomic upsert, so parallel
//! attempts cannot all slip under the limit by reading the same old count.
//! A rule's window slides: the estimate is this fixed window's count plus
//! the previous window's, weighted by how much of it still overlaps the
//! last `window_ms`. That avoids the doubled burst a plain fixed window
//! allows at its edge, at the cost of two rows per key. Rows live two
//! windows; [`purge`] deletes older ones.

use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// A throttling rule: at most `limit` attempts per key within `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, stored with its counts (`login.ip`, say).
    pub name: &'static str,
    /// Attempts allowed per window.
    pub limit: i64,
    /// The sliding window, ms.
    pub window_ms: i64,
}

/// What a count says about a key right now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Attempts within the last window (estimated from two fixed windows).
    pub count: f64,
    /// Whether the key is under the rule's limit.
    pub allowed: bool,
    /// When refused: ms until an attempt would be allowed again.
    pub retry_after_ms: i64,
}

impl Verdict {
    /// Seconds to put in `Retry-After` (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        u64::try_from((self.retry_after_ms + 999) / 1000)
            .unwrap_or(1)
            .max(1)
    }

    /// A 429 saying `what` was throttled, if the key is over the limit.
    pub fn check(&self, what: impl FnOnce() -> String) -> Result<()> {
        if self.allowed {
            return Ok(());
        }
        Err(Error::TooManyRequests {
            message: what(),
            retry_after_secs: self.retry_after_secs(),
        })
    }
}

fn window_start(rule: &Rule, now: i64) -> i64 {
    now - now.rem_euclid(rule.window_ms)
}

/// Judge `key` under `rule` from the counts of this and the previous window.
fn judge(rule: &Rule, now: i64, current: i64, previous: i64) -> Verdict {
    let start = window_start(rule, now);
    let elapsed = (now - start) as f64 / rule.window_ms as f64;
    let count = current as f64 + previous as f64 * (1.0 - elapsed);
    let limit = rule.limit as f64;
    if count < limit {
        return Verdict {
            count,
            allowed: true,
            retry_after_ms: 0,
        };
    }
    // Over the limit: when does the estimate fall under it? Counts in the
    // current window stay until it ends, then weigh as the previous
    // window's, less and less; the previous window's weight shrinks
    // linearly until the current one ends. The answer is the first
    // millisecond strictly under the limit, so waiting exactly as told
    // lets the next attempt through (the tiny margin absorbs rounding).
    let window = rule.window_ms as f64;
    let first_ms_after = |at: f64| (at + 1e-6).floor() as i64 + 1;
    let retry_after_ms = if current as f64 >= limit {
        // current * (1 - f) < limit in the next window  <=>  f > 1 - limit / current
        let f = 1.0 - limit / current as f64;
        first_ms_after((start + rule.window_ms) as f64 + f * window) - now
    } else {
        // current + previous * (1 - f) < limit  <=>  f > 1 - (limit - current) / previous
        let f = 1.0 - (limit - current as f64) / previous as f64;
        (first_ms_after(start as f64 + f * window) - now).max(1)
    };
    Verdict {
        count,
        allowed: false,
        retry_after_ms,
    }
}

async fn counts(db: &Db, rule: &Rule, key: &str, now: i64) -> Result<(i64, i64)> {
    let start = window_start(rule, now);
    let rows = sqlx::query(
        "SELECT window_start, count FROM throttle_counts WHERE rule = $1 AND key = $2 \
         AND window_start >= $3",
    )
    .bind(rule.name)
    .bind(key)
    .bind(start - rule.window_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut current = 0;
    let mut previous = 0;
    for r in rows {
        let at: i64 = r.get(0);
        if at == start {
            current = r.get(1);
        } else if at == start - rule.window_ms {
            previous = r.get(1);
        }
    }
    Ok((current, previous))
}

/// How `key` stands under `rule`, without counting an attempt.
pub async fn peek(db: &Db, rule: &Rule, key: &str, now: i64) -> Result<Verdict> {
    let (current, previous) = counts(db, rule, key, now).await?;
    Ok(judge(rule, now, current, previous))
}

/// Count one attempt for `key` (atomically: parallel attempts each get
/// their own count) and judge it, this attempt included.
pub async fn hit(db: &Db, rule: &Rule, key: &str, now: i64) -> Result<Verdict> {
    let start = window_start(rule, now);
    let current: i64 = sqlx::query(
        "INSERT INTO throttle_counts (rule, key, window_start, count, expires_at) \
         VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (rule, key, window_start) DO UPDATE SET count = throttle_counts.count + 1 \
         RETURNING count",
    )
    .bind(rule.name)
    .bind(key)
    .bind(start)
    .bind(start + 2 * rule.window_ms)
    .fetch_one(&db.pool)
    .await?
    .get(0);
    let previous: i64 = sqlx::query(
        "SELECT count FROM throttle_counts WHERE rule = $1 AND key = $2 AND window_start = $3",
    )
    .bind(rule.name)
    .bind(key)
    .bind(start - rule.window_ms)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| r.get(0))
    .unwrap_or(0);
    // The limit allows `limit` attempts: this one is judged against the
    // attempts before it.
    let mut verdict = judge(rule, now, current - 1, previous);
    verdict.count += 1.0;
    Ok(verdict)
}

/// Forget `key`'s counts under `rule` (after a successful login, say).
pub async fn clear(db: &Db, rule: &Rule, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM throttle_counts WHERE rule = $1 AND key = $2")
        .bind(rule.name)
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Take back one attempt [`hit`] counted for `key` at `now` (an attempt
/// that turned out legitimate, or that another limit refused before it was
/// acted on), so a count holds only what it should. Never below zero.
pub async fn forgive(db: &Db, rule: &Rule, key: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE throttle_counts SET count = count - 1 \
         WHERE rule = $1 AND key = $2 AND window_start = $3 AND count > 0",
    )
    .bind(rule.name)
    .bind(key)
    .bind(window_start(rule, now))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Delete counts whose windows no longer matter; returns how many.
pub async fn purge(db: &Db, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM throttle_counts WHERE expires_at <= $1")
            .bind(now)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        name: "t",
        limit: 10,
        window_ms: 60_000,
    };

    #[test]
    fn under_the_limit_is_allowed() {
        let v = judge(&RULE, 60_000, 9, 0);
        assert!(v.allowed);
        assert_eq!(v.count, 9.0);
    }

    #[test]
    fn the_current_window_alone_can_refuse_until_it_ends() {
        let v = judge(&RULE, 90_000, 10, 0);
        assert!(!v.allowed);
        assert_eq!(v.retry_after_ms, 30_001);
        assert_eq!(v.retry_after_secs(), 31);
        // Twice the limit: half of the next window too.
        let v = judge(&RULE, 90_000, 20, 0);
        assert_eq!(v.retry_after_ms, 30_000 + 30_001);
    }

    /// The counts as seen at `at`, from those at `now` (one window later,
    /// this window's count becomes the previous one).
    fn counts_at(now: i64, at: i64, current: i64, previous: i64) -> (i64, i64) {
        if window_start(&RULE, at) == window_start(&RULE, now) {
            (current, previous)
        } else {
            (0, current)
        }
    }

    #[test]
    fn waiting_as_told_lets_the_next_attempt_through_and_not_earlier() {
        for (now, current, previous) in [
            (90_000, 10, 0),
            (90_000, 25, 3),
            (90_000, 6, 10),
            (60_000, 10, 0),
            (61_234, 9, 7),
            (100_000, 4, 40),
            (61_234, 9, 40),
        ] {
            let v = judge(&RULE, now, current, previous);
            assert!(!v.allowed);
            let then = now + v.retry_after_ms;
            let (c, p) = counts_at(now, then, current, previous);
            assert!(
                judge(&RULE, then, c, p).allowed,
                "{now} {current} {previous}"
            );
            let (c, p) = counts_at(now, then - 1, current, previous);
            assert!(
                !judge(&RULE, then - 1, c, p).allowed,
                "{now} {current} {previous}: one ms earlier"
            );
        }
    }

    #[test]
    fn the_previous_window_weighs_what_still_overlaps() {
        // Half-way through the window, 10 from before count as 5.
        let v = judge(&RULE, 90_000, 4, 10);
        assert!(v.allowed);
        assert_eq!(v.count, 9.0);
        let v = judge(&RULE, 90_000, 6, 10);
        assert!(!v.allowed);
        // 6 + 10 * (1 - f) < 10 once f > 0.6: just after 60 000 + 36 000.
        assert_eq!(v.retry_after_ms, 6_001);
    }

    #[test]
    fn a_refusal_is_a_429_with_its_retry_time() {
        let v = judge(&RULE, 60_000, 10, 0);
        match v.check(|| "slow down".into()) {
            Err(Error::TooManyRequests {
                message,
                retry_after_secs,
            }) => {
                assert_eq!(message, "slow down");
                assert_eq!(retry_after_secs, 61);
            }
            other => panic!("expected a 429, got {other:?}"),
        }
    }
}
