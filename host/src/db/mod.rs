//! The database: one pool over SQLite or PostgreSQL, chosen by the URL.
//!
//! Queries are written once with `$1`-style placeholders, which both sqlx
//! drivers accept, and go through sqlx's `Any` driver. Where the dialects
//! differ (schema, namespace locks) the difference lives here or in the
//! per-backend migration folders, nowhere else.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default; no server needed).
    Sqlite,
    /// A PostgreSQL server, shared by any number of hosts.
    Postgres,
}

/// A connection pool and the backend behind it.
#[derive(Clone)]
pub struct Db {
    /// The pool every query goes through.
    pub pool: AnyPool,
    /// The engine behind the pool.
    pub backend: Backend,
    /// SQLite has one writer: commits of plugin calls queue here instead of
    /// failing with `SQLITE_BUSY` under contention.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// The URL it was opened with.
    url: String,
}

impl Db {
    /// Connect to `url` (`sqlite://PATH` or `postgres://...`) and run the
    /// embedded migrations for that backend.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        Db::open(url, true).await
    }

    async fn open(url: &str, foreign_keys: bool) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            bail!("unsupported database url {url:?}: use sqlite://PATH or postgres://...");
        };
        let pool = match backend {
            Backend::Sqlite => {
                // WAL lets readers run beside the one writer; the busy timeout
                // makes a second writer wait instead of failing at once.
                let opts = AnyConnectOptions::from_str(&sqlite_url_rwc(url))
                    .with_context(|| format!("invalid sqlite url {url:?}"))?
                    .disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            // Per connection; the journal mode is set once below.
                            conn.execute(if foreign_keys {
                                "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
                            } else {
                                "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;"
                            })
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("failed to open sqlite database {url}"))?;
                // WAL is a property of the file: set it once, before other
                // connections exist, since switching needs an exclusive lock.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await
                    .context("failed to switch sqlite to WAL")?;
                pool
            }
            Backend::Postgres => {
                let opts = AnyConnectOptions::from_str(url)
                    .with_context(|| format!("invalid postgres url {url:?}"))?
                    .disable_statement_logging();
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("failed to connect to {}", redact(url)))?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .context("failed to run database migrations")?;
        Ok(Db {
            pool,
            backend,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            url: url.to_string(),
        })
    }

    /// The database of the audit log. On PostgreSQL, this one. On SQLite, a
    /// file of its own beside this one (`NAME-audit.db`): SQLite has one
    /// writer per file, and the audit writer must never hold up, or be held
    /// up by, the writes it records.
    pub async fn audit_db(&self) -> anyhow::Result<Db> {
        match self.backend {
            Backend::Postgres => Ok(self.clone()),
            // Its chains name coops that live in the main file: no foreign
            // keys there.
            Backend::Sqlite => Db::open(&audit_sibling(&self.url), false).await,
        }
    }

    /// Begin a transaction that will write to the store of `(coop, plugin)`,
    /// serialised with every other such transaction for the same namespace.
    ///
    /// On PostgreSQL a transaction-scoped advisory lock on the namespace does
    /// it across hosts; SQLite has a single writer, so an in-process lock
    /// queues writers and the busy timeout covers other processes.
    pub async fn begin_namespace(&self, coop_id: i64, plugin: &str) -> anyhow::Result<NamespaceTx> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let mut tx = self
            .pool
            .begin()
            .await
            .context("failed to begin transaction")?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(namespace_lock_id(coop_id, plugin))
                .execute(&mut *tx)
                .await
                .context("failed to lock plugin namespace")?;
        }
        Ok(NamespaceTx { tx, _guard: guard })
    }
}

/// The SQLite URL of the audit database beside `url`'s file.
fn audit_sibling(url: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    if path.contains(":memory:") {
        return url.to_string();
    }
    let audit = match path.strip_suffix(".db") {
        Some(stem) => format!("{stem}-audit.db"),
        None => format!("{path}-audit"),
    };
    match query {
        Some(q) => format!("{audit}?{q}"),
        None => audit,
    }
}

/// Ask SQLite to create the file if missing (`mode=rwc`) unless the URL
/// already says how to open it.
fn sqlite_url_rwc(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Db {
    /// Begin a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that read
    /// first could not upgrade after another writer committed
    /// (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout cures).
    pub async fn begin_write(&self) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Any>> {
        if self.backend == Backend::Postgres {
            return self
                .pool
                .begin()
                .await
                .context("failed to begin transaction");
        }
        // SQLite answers "database is locked" at once, without waiting for
        // the busy timeout, when waiting could deadlock (another connection
        // holds an older read snapshot). The other writer finishes within
        // milliseconds: wait a little and try again.
        let mut delay = std::time::Duration::from_millis(1);
        for _ in 0..BUSY_RETRIES {
            match self.pool.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => return Ok(tx),
                Err(e) if is_busy(&e) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(anyhow::Error::new(e).context("failed to begin transaction")),
            }
        }
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("failed to begin transaction: the database stayed locked")
    }
}

/// How many times [`Db::begin_write`] retries a locked SQLite database
/// (with back-off to 50 ms: about five seconds in all).
pub const BUSY_RETRIES: usize = 100;

/// Whether an error is SQLite's transient "database is locked".
pub fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "5" || c == "517")
}

/// Whether an error is contention that going again resolves: SQLite's
/// busy or stale snapshot ([`is_busy`]), or PostgreSQL's serialization
/// failure (40001) or deadlock (40P01).
pub fn is_transient(e: &sqlx::Error) -> bool {
    is_busy(e)
        || e.as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == "40001" || c == "40P01")
}

/// A transaction holding the write lock of one plugin namespace.
pub struct NamespaceTx {
    /// The open transaction.
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// A stable 64-bit lock id for a namespace (FNV-1a, so every host agrees).
fn namespace_lock_id(coop_id: i64, plugin: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in coop_id.to_le_bytes().iter().chain(plugin.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn lock_ids_differ_per_namespace() {
        assert_ne!(namespace_lock_id(1, "a"), namespace_lock_id(2, "a"));
        assert_ne!(namespace_lock_id(1, "a"), namespace_lock_id(1, "b"));
        assert_eq!(namespace_lock_id(7, "x"), namespace_lock_id(7, "x"));
    }
}

#[cfg(test)]
mod audit_sibling_tests {
    use super::audit_sibling;

    #[test]
    fn the_audit_file_sits_beside_the_main_one() {
        assert_eq!(
            audit_sibling("sqlite://data/coophost.db"),
            "sqlite://data/coophost-audit.db"
        );
        assert_eq!(
            audit_sibling("sqlite:///tmp/x/test.db?mode=rwc"),
            "sqlite:///tmp/x/test-audit.db?mode=rwc"
        );
        assert_eq!(
            audit_sibling("sqlite://data/main"),
            "sqlite://data/main-audit"
        );
        assert_eq!(audit_sibling("sqlite::memory:"), "sqlite::memory:");
    }
}
