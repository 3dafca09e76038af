//! Installed plugins: components stored in the database, bound per coop to
//! the interfaces they export, with their manifests and configuration.

pub mod ceilings;
pub mod lifecycle;
pub mod manifest;
pub mod signing;
pub mod staging;
pub mod timers;

pub use lifecycle::{InstallOptions, InstallReport, install, rollback, uninstall};

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};
use manifest::Manifest;

/// Largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// An installed plugin as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct InstalledPlugin {
    /// Installation id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Licence.
    pub licence: String,
    /// Source URL.
    pub source: String,
    /// When installed.
    pub installed_at: i64,
    /// Interfaces this coop has bound to it (unversioned names).
    pub interfaces: Vec<String>,
    /// Its manifest.
    pub manifest: Manifest,
    /// `coop:host` interfaces the coop granted it.
    pub grants: Vec<String>,
    /// Limit overrides for this plugin in this coop.
    pub limits: serde_json::Value,
}

/// The trusted publisher key whose signature was verified when installation
/// `plugin_id` was installed; `None` for an unsigned install.
pub async fn signed_by(db: &Db, plugin_id: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT signed_by FROM plugins WHERE id = $1")
        .bind(plugin_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.get(0))
}

/// What a coop grants a plugin at install.
#[derive(Clone, Debug, Default)]
pub enum Grants {
    /// Every `coop:host` interface the component imports.
    #[default]
    All,
    /// Only these interfaces (short names: `store`, `config`, ...).
    Only {
        /// The granted interfaces.
        interfaces: Vec<String>,
        /// What to do with an import that is not granted.
        ungranted: Ungranted,
    },
}

/// What happens to an import the coop did not grant.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Ungranted {
    /// Refuse the install, listing what is missing.
    Refuse,
    /// Install; the ungranted functions answer `access-denied`.
    Stub,
}

/// The `coop:host` interfaces a component imports that need a grant
/// (short names; `types` needs none, see [`crate::runtime::capabilities`]).
pub fn requested_capabilities(imports: &[String]) -> Vec<String> {
    let mut out: Vec<String> = imports
        .iter()
        .filter_map(|i| i.strip_prefix("coop:host/"))
        .map(|i| i.split('@').next().unwrap_or(i).to_string())
        .filter(|i| crate::runtime::capabilities::find(i).is_none_or(|c| c.grant))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Decide the grants for an install, or refuse it.
pub fn decide_grants(requested: &[String], grants: &Grants) -> Result<Vec<String>> {
    match grants {
        Grants::All => Ok(requested.to_vec()),
        Grants::Only {
            interfaces,
            ungranted,
        } => {
            for g in interfaces {
                if !crate::runtime::GRANTABLE.contains(&g.as_str()) {
                    return Err(Error::Invalid(format!(
                        "cannot grant {g:?}: grantable interfaces are {}",
                        crate::runtime::GRANTABLE.join(", ")
                    )));
                }
            }
            let missing: Vec<&str> = requested
                .iter()
                .filter(|r| !interfaces.contains(r))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() && *ungranted == Ungranted::Refuse {
                return Err(Error::Invalid(format!(
                    "the plugin imports coop:host interfaces the coop did not grant: {}; grant them or install with ungranted imports stubbed",
                    missing.join(", ")
                )));
            }
            Ok(requested
                .iter()
                .filter(|r| interfaces.contains(r))
                .cloned()
                .collect())
        }
    }
}

fn split_grants(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect()
}

/// The SHA-256 of component bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The last segment of an interface name: `coop:examples/shift-board` -> `shift-board`.
pub fn short_name(interface: &str) -> &str {
    interface.rsplit('/').next().unwrap_or(interface)
}

const PLUGIN_COLUMNS: &str =
    "id, name, version, sha256, licence, source, installed_at, manifest, grants, limits";

async fn from_row(db: &Db, coop_id: i64, row: &sqlx::any::AnyRow) -> Result<InstalledPlugin> {
    let id: i64 = row.get(0);
    let manifest: String = row.get(7);
    let interfaces = sqlx::query(
        "SELECT interface FROM bindings WHERE coop_id = $1 AND plugin_id = $2 ORDER BY interface",
    )
    .bind(coop_id)
    .bind(id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    Ok(InstalledPlugin {
        id,
        name: row.get(1),
        version: row.get(2),
        sha256: row.get(3),
        licence: row.get(4),
        source: row.get(5),
        installed_at: row.get(6),
        interfaces,
        manifest: Manifest::parse(&manifest)?,
        grants: split_grants(&row.get::<String, _>(8)),
        limits: serde_json::from_str(&row.get::<String, _>(9)).unwrap_or(serde_json::json!({})),
    })
}

/// The active plugins of a coop.
pub async fn list(db: &Db, coop_id: i64) -> Result<Vec<InstalledPlugin>> {
    let rows = sqlx::query(&format!(
        "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE coop_id = $1 AND active = 1 ORDER BY name"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(from_row(db, coop_id, r).await?);
    }
    Ok(out)
}

/// The active plugin of a coop with this name.
pub async fn get(db: &Db, coop_id: i64, name: &str) -> Result<InstalledPlugin> {
    let row = sqlx::query(&format!(
        "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE coop_id = $1 AND name = $2 AND active = 1"
    ))
    .bind(coop_id)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no plugin {name:?} installed in this coop")))?;
    from_row(db, coop_id, &row).await
}

/// The plugin id bound to an interface (unversioned name) in a coop.
pub async fn bound_plugin(db: &Db, coop_id: i64, interface: &str) -> Result<i64> {
    sqlx::query("SELECT plugin_id FROM bindings WHERE coop_id = $1 AND interface = $2")
        .bind(coop_id)
        .bind(interface)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound(format!("this coop has no plugin serving {interface}")))
}

/// What is needed to load an installation.
pub struct Parts {
    /// The coop it is installed in.
    pub coop_id: i64,
    /// Its manifest.
    pub manifest: Manifest,
    /// Component hash.
    pub sha256: String,
    /// Component bytes.
    pub bytes: Vec<u8>,
    /// Granted interfaces.
    pub grants: Vec<String>,
    /// Limit overrides.
    pub limits: serde_json::Value,
}

/// Manifest, component bytes, grants and limits of an installation.
pub async fn load_parts(db: &Db, plugin_id: i64) -> Result<Parts> {
    let row = sqlx::query(
        "SELECT p.manifest, p.sha256, c.bytes, p.grants, p.limits, p.coop_id FROM plugins p \
         JOIN components c ON c.sha256 = p.sha256 WHERE p.id = $1",
    )
    .bind(plugin_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no plugin installation {plugin_id}")))?;
    Ok(Parts {
        coop_id: row.get(5),
        manifest: Manifest::parse(&row.get::<String, _>(0))?,
        sha256: row.get(1),
        bytes: row.get(2),
        grants: split_grants(&row.get::<String, _>(3)),
        limits: serde_json::from_str(&row.get::<String, _>(4)).unwrap_or(serde_json::json!({})),
    })
}

/// Check limit overrides for a plugin of coop `coop_id`: known names,
/// positive integers, none above the ceilings the host operator set for
/// the coop ([`ceilings`]).
pub async fn check_limits(db: &Db, coop_id: i64, overrides: &serde_json::Value) -> Result<()> {
    let ceilings = ceilings::get(db, coop_id).await?;
    crate::runtime::Limits::default()
        .with_overrides_under(overrides, &ceilings.limits)
        .map_err(Error::Invalid)?;
    Ok(())
}

/// Set limit overrides for a plugin in a coop (a JSON object of limit
/// names to positive integers under the coop's ceilings; `{}` restores
/// the defaults), in the caller's transaction. Governed: the only caller
/// is `governance::proposals` (`set-limits`, voted or a direct change the
/// coop's rules allow), which writes the decision-log entry in the same
/// transaction; the ceilings are read from `db`.
pub async fn set_limits_in(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    coop_id: i64,
    name: &str,
    overrides: &serde_json::Value,
) -> Result<i64> {
    check_limits(db, coop_id, overrides).await?;
    let row = sqlx::query("UPDATE plugins SET limits = $1 WHERE coop_id = $2 AND name = $3 AND active = 1 RETURNING id")
        .bind(overrides.to_string())
        .bind(coop_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no plugin {name:?} installed in this coop")))?;
    Ok(row.get(0))
}

/// The algorithm card of `manifest` as published: `{"card": {...},
/// "parameters": [{name, value, description}]}`, with the values in force
/// of the parameters it names (its `parameters` list, or every declared
/// one); `None` when the manifest has no card.
pub fn algorithm_card(
    manifest: &Manifest,
    values: &BTreeMap<String, serde_json::Value>,
) -> Option<serde_json::Value> {
    let mut card = manifest.algorithm.clone()?;
    let named: Vec<String> = match card.get("parameters").and_then(|p| p.as_array()) {
        Some(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        None => manifest.config.keys().cloned().collect(),
    };
    card.remove("parameters");
    let parameters: Vec<serde_json::Value> = named
        .iter()
        .filter_map(|p| {
            let decl = manifest.config.get(p)?;
            Some(serde_json::json!({"name": p, "value": values.get(p), "description": decl.description}))
        })
        .collect();
    Some(serde_json::json!({"card": card, "parameters": parameters}))
}

/// Current configuration of a plugin in a coop: the manifest defaults
/// overlaid with the values the coop set.
pub async fn config_values(
    db: &Db,
    coop_id: i64,
    manifest: &Manifest,
) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut values = manifest.config_defaults();
    let rows =
        sqlx::query("SELECT name, value FROM plugin_config WHERE coop_id = $1 AND plugin = $2")
            .bind(coop_id)
            .bind(&manifest.plugin.name)
            .fetch_all(&db.pool)
            .await?;
    for r in rows {
        let name: String = r.get(0);
        if values.contains_key(&name)
            && let Ok(v) = serde_json::from_str(&r.get::<String, _>(1))
        {
            values.insert(name, v);
        }
    }
    Ok(values)
}

/// Set a configuration value, checked against the manifest's declaration.
pub async fn set_config(
    db: &Db,
    now_ms: i64,
    coop_id: i64,
    manifest: &Manifest,
    name: &str,
    value: &serde_json::Value,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    set_config_in(&mut tx, now_ms, coop_id, manifest, name, value).await?;
    tx.commit().await?;
    Ok(())
}

/// [`set_config`] inside the caller's transaction (a governed change
/// commits with its decision).
pub async fn set_config_in(
    conn: &mut sqlx::AnyConnection,
    now_ms: i64,
    coop_id: i64,
    manifest: &Manifest,
    name: &str,
    value: &serde_json::Value,
) -> Result<()> {
    let param = manifest.config.get(name).ok_or_else(|| {
        Error::NotFound(format!(
            "plugin {} declares no config parameter {name:?}",
            manifest.plugin.name
        ))
    })?;
    param.kind.check(name, value)?;
    // The value and the event telling the plugin (coop:host/subscriber)
    // commit together.
    sqlx::query(
        "INSERT INTO plugin_config (coop_id, plugin, name, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (coop_id, plugin, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(coop_id)
    .bind(&manifest.plugin.name)
    .bind(name)
    .bind(value.to_string())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO events (coop_id, plugin, topic, payload, member_id, created_at) \
         VALUES ($1, $2, 'config.changed', $3, NULL, $4)",
    )
    .bind(coop_id)
    .bind(crate::events::delivery::HOST_SOURCE)
    .bind(
        serde_json::json!({"plugin": manifest.plugin.name, "name": name, "value": value})
            .to_string(),
    )
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
