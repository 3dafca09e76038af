//! Routes for personal-data categories and members' consent.

use std::sync::Arc;

use super::Path;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, Body, OwnData, own_member};
use crate::app::App;
use crate::consent::{self, Basis};
use crate::error::Error;
use crate::plugins;

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[super::openapi::BodyDoc {
    method: "put",
    path: "/v1/coops/{coop}/me/consents/{plugin}/{category}",
    schema: super::openapi::schema_of::<ConsentBody>,
}];

/// The consent routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/me/consents", get(my_consents))
        .route(
            "/v1/coops/{coop}/me/consents/{plugin}/{category}",
            put(set_consent),
        )
        .route("/v1/coops/{coop}/plugins/{plugin}/data", get(plugin_data))
}

/// The categories a plugin handles, with purpose, basis and keys.
async fn plugin_data(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.own_data()?;
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    Ok(Json(json!({
        "plugin": installed.name,
        "data": installed.manifest.data,
    })))
}

/// Every category of every installed plugin with the caller's decision
/// where the basis is consent, and the history of their decisions.
async fn my_consents(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let history = consent::history(&app.db, coop.id, member).await?;
    let mut categories = Vec::new();
    for p in plugins::list(&app.db, coop.id).await? {
        for (name, c) in &p.manifest.data {
            let last = history
                .iter()
                .find(|d| d.plugin == p.name && d.category == *name);
            let needs = c.basis == Basis::Consent;
            categories.push(json!({
                "plugin": p.name,
                "category": name,
                "purpose": c.purpose,
                "basis": c.basis,
                "retention_days": c.retention_days,
                "needs_consent": needs,
                "given": if needs { Some(last.is_some_and(|d| d.given)) } else { None },
                "decided_at": last.map(|d| d.at),
            }));
        }
    }
    Ok(Json(json!({"categories": categories, "history": history})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    given: bool,
}

/// Give or withdraw consent to one category of one plugin.
async fn set_consent(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, plugin, category)): Path<(String, String, String)>,
    Body(b): Body<ConsentBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let installed = plugins::get(&app.db, coop.id, &plugin).await?;
    let Some(c) = installed.manifest.data.get(&category) else {
        return Err(Error::NotFound(format!(
            "plugin {plugin} declares no data category {category:?}"
        ))
        .into());
    };
    if c.basis != Basis::Consent {
        return Err(Error::Invalid(format!(
            "{category} data of {plugin} is processed on the basis {:?}, not consent: there is nothing to give or withdraw",
            c.basis
        ))
        .into());
    }
    let now = app.clock.now_ms();
    let decision = consent::Decision {
        plugin: plugin.clone(),
        category: category.clone(),
        purpose: c.purpose.clone(),
        given: b.given,
        at: now,
    };
    consent::set(&app.db, coop.id, member, &decision).await?;
    app.audit.record(crate::audit::Item {
        coop_id: coop.id,
        kind: "consent.change".into(),
        body: json!({"plugin": plugin, "category": category, "given": b.given}),
        member_id: Some(member),
        at: now,
    });
    Ok(Json(json!({
        "plugin": plugin,
        "category": category,
        "purpose": c.purpose,
        "given": b.given,
        "at": now,
    })))
}
