//! Install, upgrade, roll back and uninstall plugins, without downtime.
//!
//! Every installation is a row of `plugins`; exactly one per (coop, name)
//! is active, and `bindings` point each served interface at it. Swapping
//! the binding is one transaction, so calls in flight finish on the old
//! version (they hold its `Loaded`) while new calls get the new one.

use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;

use super::manifest::Manifest;
use super::{
    Grants, InstalledPlugin, MAX_COMPONENT_BYTES, decide_grants, get, requested_capabilities,
    sha256_hex,
};
use crate::app::App;
use crate::error::{Error, Result};
use crate::identity::{Actor, Coop};
use crate::runtime::{self, ExportedInterface, Inspection, Loaded};

/// The interface of lifecycle hooks plugins may export; never bound for
/// clients.
pub const HOOKS_INTERFACE: &str = "coop:host/hooks";

/// How to install.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Capabilities granted.
    pub grants: Grants,
    /// Install even if the upgrade breaks an exported interface.
    pub force: bool,
    /// Ed25519 signature (hex) over the component's SHA-256 digest.
    pub signature: Option<String>,
}

/// Work that must commit in the same transaction as a plugin switch
/// (install, upgrade, rollback, removal), run first inside it: an error
/// rolls the switch back. A governed change uses it so that the decision's
/// status and the switch commit together, once.
pub type SwitchCheck = Box<
    dyn for<'c> FnOnce(
            &'c mut sqlx::AnyConnection,
        ) -> futures_util::future::BoxFuture<'c, Result<()>>
        + Send,
>;

/// Box `f` as a [`SwitchCheck`].
pub fn switch_check<F>(f: F) -> SwitchCheck
where
    F: for<'c> FnOnce(
            &'c mut sqlx::AnyConnection,
        ) -> futures_util::future::BoxFuture<'c, Result<()>>
        + Send
        + 'static,
{
    Box::new(f)
}

/// What an install did.
#[derive(Clone, Debug, Serialize)]
pub struct InstallReport {
    /// The installation now active.
    pub plugin: InstalledPlugin,
    /// Its imports and exports.
    pub inspection: Inspection,
    /// The version it replaced, if any.
    pub replaced: Option<String>,
    /// Whether a `migrate` hook ran.
    pub migrated: bool,
    /// The publisher key that signed it, if any.
    pub signed_by: Option<String>,
}

/// Exports clients may address: everything but the host's own hooks.
fn client_exports(i: &Inspection) -> impl Iterator<Item = &ExportedInterface> {
    i.exports
        .iter()
        .filter(|e| !e.name.starts_with("coop:host/"))
}

/// Why replacing `old` by `new` would break clients, if it would: a
/// removed interface or function, a changed signature, or an interface
/// version outside semver compatibility (`^old`).
pub fn breaking_changes(old: &Inspection, new: &Inspection) -> Vec<String> {
    let mut out = Vec::new();
    for o in client_exports(old) {
        let Some(n) = client_exports(new).find(|n| n.name == o.name) else {
            out.push(format!("removes interface {}", o.name));
            continue;
        };
        if let (Some(ov), Some(nv)) = (&o.version, &n.version) {
            let compatible = semver::VersionReq::parse(&format!("^{ov}"))
                .ok()
                .zip(semver::Version::parse(nv).ok())
                .is_some_and(|(req, v)| req.matches(&v));
            if !compatible {
                out.push(format!(
                    "{} goes from {ov} to {nv}, which is not semver-compatible",
                    o.name
                ));
            }
        }
        for of in &o.functions {
            match n.functions.iter().find(|f| f.name == of.name) {
                None => out.push(format!("removes {}.{}", o.name, of.name)),
                Some(nf) if nf.wit != of.wit => out.push(format!(
                    "changes {}.{} from `{}` to `{}`",
                    o.name, of.name, of.wit, nf.wit
                )),
                Some(_) => {}
            }
        }
    }
    out
}

/// Check the signature against the coop's trusted publisher keys. Returns
/// the name of the key that signed, or an error when the coop requires
/// signatures and there is no valid one.
async fn check_signature(
    app: &App,
    coop: &Coop,
    sha256: &str,
    signature: Option<&str>,
) -> Result<Option<String>> {
    let required: i64 = sqlx::query("SELECT require_signatures FROM coops WHERE id = $1")
        .bind(coop.id)
        .fetch_one(&app.db.pool)
        .await?
        .get(0);
    let Some(sig) = signature else {
        if required != 0 {
            return Err(Error::Forbidden(format!(
                "{} accepts only plugins signed by a trusted publisher: pass a signature",
                coop.slug
            )));
        }
        return Ok(None);
    };
    let keys =
        sqlx::query("SELECT name, public_key FROM trusted_keys WHERE coop_id = $1 ORDER BY name")
            .bind(coop.id)
            .fetch_all(&app.db.pool)
            .await?;
    let digest = hex::decode(sha256).map_err(|e| Error::Internal(e.into()))?;
    for k in &keys {
        let public: String = k.get(1);
        if super::signing::verify(&public, &digest, sig)? {
            return Ok(Some(k.get(0)));
        }
    }
    Err(Error::Forbidden(format!(
        "the signature does not match the component (sha256 {sha256}) under any trusted key of {}",
        coop.slug
    )))
}

/// Install a component into a coop, or upgrade the plugin of the same
/// name: store the component, record hash, version, licence and source,
/// verify its signature, refuse breaking upgrades unless forced, run its
/// `migrate` hook when it meets an older version's data, and bind every
/// interface it exports.
pub async fn install(
    app: &App,
    coop: &Coop,
    bytes: &[u8],
    manifest_text: &str,
    opts: &InstallOptions,
) -> Result<InstallReport> {
    install_checked(app, coop, bytes, manifest_text, opts, None).await
}

/// [`install`], running `check` first inside the switching transaction.
pub async fn install_checked(
    app: &App,
    coop: &Coop,
    bytes: &[u8],
    manifest_text: &str,
    opts: &InstallOptions,
    check: Option<SwitchCheck>,
) -> Result<InstallReport> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(Error::Invalid(format!(
            "component is {} bytes; the limit is {MAX_COMPONENT_BYTES}",
            bytes.len()
        )));
    }
    let manifest = Arc::new(Manifest::parse(manifest_text)?);
    let name = manifest.plugin.name.clone();
    // The commons rule (free plugins only, on by default) before anything
    // is compiled or stored.
    let (_, rules) = crate::governance::rules::current(&app.db, coop.id).await?;
    rules
        .commons
        .check_plugin(&name, &manifest.plugin.licence)?;
    let sha = sha256_hex(bytes);
    let signed_by = check_signature(app, coop, &sha, opts.signature.as_deref()).await?;
    let engine = app.engine.clone();
    let (m2, sha2, bytes_owned) = (manifest.clone(), sha.clone(), bytes.to_vec());
    // Compiling takes seconds for big components: keep it off the async runtime.
    let loaded =
        tokio::task::spawn_blocking(move || Loaded::new(&engine, 0, m2, &sha2, &bytes_owned))
            .await
            .map_err(|e| Error::Internal(e.into()))?
            .map_err(|e| Error::Invalid(format!("cannot install {name}: {e:#}")))?;
    let inspection = loaded.inspection.clone();
    if client_exports(&inspection).next().is_none() {
        return Err(Error::Invalid(format!(
            "{name} exports no interface: a plugin must export at least one"
        )));
    }
    check_access_table(&manifest, &inspection)?;
    let granted = decide_grants(&requested_capabilities(&inspection.imports), &opts.grants)?;

    let previous = match get(&app.db, coop.id, &name).await {
        Ok(p) => Some(p),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    if let Some(prev) = &previous {
        let old = app.plugin(prev.id).await?;
        let breaks = breaking_changes(&old.inspection, &inspection);
        if !breaks.is_empty() && !opts.force {
            return Err(Error::Conflict(format!(
                "upgrading {name} from {} to {} would break clients: {}; install with force to do it anyway",
                prev.version,
                manifest.plugin.version,
                breaks.join("; ")
            )));
        }
    }

    // The plugin's migrate hook runs before the switch, in its own
    // transaction: if it fails, nothing changes and the old version stays.
    let mut migrated = false;
    if let Some(prev) = &previous
        && loaded.has_function(HOOKS_INTERFACE, "migrate")
    {
        let limits = app.limits;
        let ready = loaded.with_policy(Arc::new(granted.clone()), limits);
        let scope = app.scope(coop, &ready, Actor::host(coop.id));
        runtime::call(
            &app.engine,
            &ready,
            scope,
            HOOKS_INTERFACE,
            "migrate",
            &serde_json::json!({"from-version": prev.version}),
        )
        .await
        .map_err(|e| {
            Error::Conflict(format!(
                "the migrate hook of {name} {} failed, upgrade aborted: {e}",
                manifest.plugin.version
            ))
        })?;
        migrated = true;
    }

    let now = app.clock.now_ms();
    let mut tx = app.db.begin_write().await?;
    lock_coop_plugins(&app.db, &mut tx, coop.id).await?;
    if let Some(check) = check {
        check(&mut tx).await?;
    }
    for e in client_exports(&inspection) {
        let bound = sqlx::query(
            "SELECT p.name FROM bindings b JOIN plugins p ON p.id = b.plugin_id WHERE b.coop_id = $1 AND b.interface = $2",
        )
        .bind(coop.id)
        .bind(&e.name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = bound {
            let other: String = row.get(0);
            if other != name {
                return Err(Error::Conflict(format!(
                    "{} is already served by plugin {other} in {}; uninstall it first",
                    e.name, coop.slug
                )));
            }
        }
    }
    sqlx::query(
        "INSERT INTO components (sha256, bytes, size, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha)
    .bind(bytes.to_vec())
    .bind(bytes.len() as i64)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE plugins SET active = 0 WHERE coop_id = $1 AND name = $2")
        .bind(coop.id)
        .bind(&name)
        .execute(&mut *tx)
        .await?;
    let id: i64 = sqlx::query(
        "INSERT INTO plugins (coop_id, name, version, sha256, manifest, licence, source, installed_at, active, grants, signed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) RETURNING id",
    )
    .bind(coop.id)
    .bind(&name)
    .bind(&manifest.plugin.version)
    .bind(&sha)
    .bind(manifest_text)
    .bind(&manifest.plugin.licence)
    .bind(&manifest.plugin.source)
    .bind(now)
    .bind(granted.join(","))
    .bind(signed_by.clone())
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    rebind(&mut tx, coop.id, &name, id, &inspection).await?;
    tx.commit().await?;
    app.forget_bindings(coop.id);
    // Events from now on reach it (if it subscribes); not the history.
    crate::events::delivery::start_cursor(app, id).await?;
    tracing::info!(coop = %coop.slug, plugin = %name, version = %manifest.plugin.version, sha256 = %sha, "plugin installed");
    app.audit.record(crate::audit::Item {
        coop_id: coop.id,
        kind: "grant.change".into(),
        body: serde_json::json!({"plugin": name, "version": manifest.plugin.version,
            "sha256": sha, "granted": granted, "replaced": previous.as_ref().map(|p| &p.version)}),
        member_id: None,
        at: now,
    });
    Ok(InstallReport {
        plugin: get(&app.db, coop.id, &name).await?,
        inspection,
        replaced: previous.map(|p| p.version),
        migrated,
        signed_by,
    })
}

/// Every `[access]` key must name an exported function.
fn check_access_table(manifest: &Manifest, inspection: &Inspection) -> Result<()> {
    for key in manifest.access.keys() {
        let (iface, func) = match key.split_once('#') {
            Some((i, f)) => (Some(i), f),
            None => (None, key.as_str()),
        };
        let found = client_exports(inspection).any(|e| {
            iface.is_none_or(|i| super::short_name(&e.name) == i)
                && e.functions.iter().any(|f| f.name == func)
        });
        if !found {
            return Err(Error::Invalid(format!(
                "plugin.toml [access] names {key:?}, which the component does not export"
            )));
        }
    }
    Ok(())
}

/// Point every interface `inspection` exports at installation `id`.
async fn rebind(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    coop_id: i64,
    name: &str,
    id: i64,
    inspection: &Inspection,
) -> Result<()> {
    sqlx::query("DELETE FROM bindings WHERE coop_id = $1 AND plugin_id IN (SELECT id FROM plugins WHERE coop_id = $1 AND name = $2)")
        .bind(coop_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    for e in client_exports(inspection) {
        sqlx::query(
            "INSERT INTO bindings (coop_id, interface, version, plugin_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(coop_id)
        .bind(&e.name)
        .bind(e.version.clone().unwrap_or_default())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Restore the installation that preceded the active one, in one step.
pub async fn rollback(app: &App, coop: &Coop, name: &str) -> Result<InstalledPlugin> {
    rollback_checked(app, coop, name, None).await
}

/// [`rollback`], running `check` first inside the switching transaction.
pub async fn rollback_checked(
    app: &App,
    coop: &Coop,
    name: &str,
    check: Option<SwitchCheck>,
) -> Result<InstalledPlugin> {
    let current = get(&app.db, coop.id, name).await?;
    let prev_id: i64 = sqlx::query(
        "SELECT id FROM plugins WHERE coop_id = $1 AND name = $2 AND id < $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(coop.id)
    .bind(name)
    .bind(current.id)
    .fetch_optional(&app.db.pool)
    .await?
    .ok_or_else(|| Error::Conflict(format!("{name} {} has no earlier version to roll back to", current.version)))?
    .get(0);
    let previous = app.plugin(prev_id).await?;
    let mut tx = app.db.begin_write().await?;
    if let Some(check) = check {
        check(&mut tx).await?;
    }
    sqlx::query("UPDATE plugins SET active = 0 WHERE id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE plugins SET active = 1 WHERE id = $1")
        .bind(prev_id)
        .execute(&mut *tx)
        .await?;
    rebind(&mut tx, coop.id, name, prev_id, &previous.inspection).await?;
    tx.commit().await?;
    app.forget_bindings(coop.id);
    tracing::info!(coop = %coop.slug, plugin = %name, from = %current.version, to = %previous.version, "plugin rolled back");
    get(&app.db, coop.id, name).await
}

/// Serialise installs in coop `coop_id` until the transaction ends. On
/// SQLite the write transaction already does; on PostgreSQL two installs
/// of one plugin at once would each deactivate nothing and insert their
/// own active row, so each locks the coop's row first and the second then
/// sees the first and replaces it (one active installation, invariant 10).
/// `NO KEY UPDATE`: it does not hold up inserts that only reference the
/// coop (they take a key-share lock).
async fn lock_coop_plugins(
    db: &crate::db::Db,
    tx: &mut sqlx::AnyConnection,
    coop_id: i64,
) -> Result<()> {
    if db.backend == crate::db::Backend::Postgres {
        sqlx::query("SELECT id FROM coops WHERE id = $1 FOR NO KEY UPDATE")
            .bind(coop_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Stop serving a plugin. Its data stays unless `purge`, so a reinstall
/// finds it again.
pub async fn uninstall(app: &App, coop: &Coop, name: &str, purge: bool) -> Result<()> {
    uninstall_checked(app, coop, name, purge, None).await
}

/// [`uninstall`], running `check` first inside the switching transaction.
pub async fn uninstall_checked(
    app: &App,
    coop: &Coop,
    name: &str,
    purge: bool,
    check: Option<SwitchCheck>,
) -> Result<()> {
    let current = get(&app.db, coop.id, name).await?;
    let mut tx = app.db.begin_write().await?;
    if let Some(check) = check {
        check(&mut tx).await?;
    }
    sqlx::query("DELETE FROM bindings WHERE plugin_id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE plugins SET active = 0 WHERE coop_id = $1 AND name = $2")
        .bind(coop.id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    if purge {
        for table in ["kv", "kv_usage", "plugin_config", "plugin_member_ids"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE coop_id = $1 AND plugin = $2"
            ))
            .bind(coop.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    app.forget_bindings(coop.id);
    app.unload(current.id);
    tracing::info!(coop = %coop.slug, plugin = %name, purge, "plugin uninstalled");
    Ok(())
}

/// Trust a publisher's Ed25519 public key (hex) for a coop.
pub async fn trust_key(app: &App, coop: &Coop, name: &str, public_key_hex: &str) -> Result<()> {
    super::signing::parse_public(public_key_hex)?;
    sqlx::query(
        "INSERT INTO trusted_keys (coop_id, name, public_key) VALUES ($1, $2, $3) \
         ON CONFLICT (coop_id, name) DO UPDATE SET public_key = excluded.public_key",
    )
    .bind(coop.id)
    .bind(name)
    .bind(public_key_hex.to_lowercase())
    .execute(&app.db.pool)
    .await?;
    Ok(())
}

/// Whether a coop accepts only signed plugins.
pub async fn require_signatures(app: &App, coop: &Coop, required: bool) -> Result<()> {
    sqlx::query("UPDATE coops SET require_signatures = $1 WHERE id = $2")
        .bind(i64::from(required))
        .bind(coop.id)
        .execute(&app.db.pool)
        .await?;
    Ok(())
}
