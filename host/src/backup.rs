//! Consistent backups and restores of a host's database.
//!
//! SQLite: `VACUUM INTO` writes a consistent copy of the live database
//! while the host keeps serving (an online snapshot), and a restore copies
//! it back into an empty data directory. PostgreSQL: `pg_dump` in its custom
//! format (one consistent snapshot, taken in a repeatable-read
//! transaction) and `pg_restore` into an empty database or schema.
//!
//! Compiled components need no backup: they are rebuilt from the component
//! bytes stored in the database.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use sqlx::Row;

use crate::db::{Backend, Db};

/// Tables and their row counts, to check a backup or a restore.
pub type Census = Vec<(String, i64)>;

/// Tables counted by [`census`]: everything a coop cannot lose.
pub const TABLES: &[&str] = &[
    "coops",
    "users",
    "members",
    "api_keys",
    "components",
    "plugins",
    "bindings",
    "plugin_config",
    "plugin_member_ids",
    "kv",
    "events",
    "trusted_keys",
];

/// Row counts of every table in [`TABLES`].
pub async fn census(db: &Db) -> anyhow::Result<Census> {
    let mut out = Vec::new();
    for t in TABLES {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&db.pool)
            .await
            .with_context(|| format!("failed to count {t}"))?
            .get(0);
        out.push((t.to_string(), n));
    }
    Ok(out)
}

/// Write a consistent backup of the live database to `out`.
pub async fn backup(db: &Db, database_url: &str, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        bail!(
            "{} already exists: choose a new file for the backup",
            out.display()
        );
    }
    match db.backend {
        Backend::Sqlite => {
            let target = out.to_str().context("backup path is not valid UTF-8")?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&db.pool)
                .await
                .context("sqlite VACUUM INTO failed")?;
        }
        Backend::Postgres => {
            let mut cmd = Command::new("pg_dump");
            cmd.args(["--format=custom", "--no-owner", "--file"])
                .arg(out);
            // A host kept in its own schema (search_path in the URL) backs
            // up that schema only.
            if let Some(schema) = search_path(database_url) {
                cmd.arg(format!("--schema={schema}"));
            }
            let status = cmd
                .arg(database_url)
                .status()
                .context("failed to run pg_dump: install the PostgreSQL client tools")?;
            if !status.success() {
                bail!("pg_dump failed with {status}");
            }
        }
    }
    Ok(())
}

/// The schema named by `options=-c search_path=...` in a PostgreSQL URL.
pub fn search_path(url: &str) -> Option<String> {
    let decoded = url
        .replace("%20", " ")
        .replace("%3D", "=")
        .replace("%3d", "=");
    let rest = decoded.split("search_path=").nth(1)?;
    let schema: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!schema.is_empty()).then_some(schema)
}

/// Restore a backup into an empty target: for SQLite, the database file
/// `target_url` points at (it must not exist); for PostgreSQL, the database
/// of `target_url` (its schema must be empty).
pub async fn restore(backup: &Path, target_url: &str) -> anyhow::Result<()> {
    if !backup.exists() {
        bail!("no backup at {}", backup.display());
    }
    if let Some(path) = target_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if Path::new(path).exists() {
            bail!("{path} already exists: restore into an empty data directory");
        }
        if let Some(dir) = Path::new(path).parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        std::fs::copy(backup, path)
            .with_context(|| format!("failed to copy the backup to {path}"))?;
        return Ok(());
    }
    let status = Command::new("pg_restore")
        .args([
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(target_url)
        .arg(backup)
        .status()
        .context("failed to run pg_restore: install the PostgreSQL client tools")?;
    if !status.success() {
        bail!("pg_restore failed with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_schema_in_a_url() {
        assert_eq!(
            search_path("postgres://u@h/db?options=-c%20search_path%3Dcoop_1").as_deref(),
            Some("coop_1")
        );
        assert_eq!(search_path("postgres://u@h/db").as_deref(), None);
    }
}
