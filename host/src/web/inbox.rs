//! The inbox: a member's notifications, read and unread.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{Shell, api_error_page, coop_ctx, csrf, notices};
use super::{Page, Visitor, Web, coop_form, see_other};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/inbox", get(inbox))
        .route("/c/{coop}/inbox/read", post(mark_read))
}

#[derive(Deserialize)]
struct Filter {
    unread: Option<String>,
    done: Option<String>,
}

/// The title of a notification: the catalog's text for host topics, the
/// topic itself for a plugin's.
fn topic_title(v: &Visitor, topic: &str) -> String {
    let key = format!("inbox.topic-{}", topic.replace(['.', '/', '_'], "-"));
    let text = v.lang.t(&key);
    if text == v.t("common.missing-text") {
        topic.to_string()
    } else {
        text.to_string()
    }
}

/// The human part of a payload: a message, reason or title when it has one.
fn summary(payload: &Value) -> Option<String> {
    for k in ["message", "reason", "title", "text", "summary"] {
        if let Some(s) = payload[k].as_str() {
            return Some(s.to_string());
        }
    }
    None
}

fn item(v: &Visitor, n: &Value, action: &str) -> Markup {
    let read = n["read"].as_bool().unwrap_or(false);
    let topic = n["topic"].as_str().unwrap_or("");
    let plugin = n["plugin"].as_str().unwrap_or("");
    let when = v.lang.datetime(n["created_at"].as_i64().unwrap_or(0));
    let payload = &n["payload"];
    html! {
        li class=(if read { "card" } else { "card unread" }) {
            h2 {
                (topic_title(v, topic))
                " "
                @if read { span class="badge" { (v.t("inbox.read")) } }
                @else { span class="badge ok" { (v.t("inbox.unread")) } }
            }
            p class="muted" { time { (when) } " · " (plugin) }
            @if let Some(s) = summary(payload) { p { (s) } }
            details {
                summary { (v.t("inbox.details")) }
                pre { (serde_json::to_string_pretty(payload).unwrap_or_default()) }
            }
            @if !read {
                form method="post" action=(action) {
                    (csrf(v))
                    input type="hidden" name="id" value=(n["id"].as_i64().unwrap_or(0));
                    button type="submit" class="secondary" { (v.t("inbox.mark-read")) }
                }
            }
        }
    }
}

async fn inbox(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(f): Query<Filter>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let unread_only = f.unread.as_deref() == Some("1");
    let list = match web
        .get(
            &v,
            &c.api(&format!("/notifications?unread={unread_only}&limit=200")),
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return api_error_page(&v, &e),
    };
    let items: Vec<Value> = list["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let done = f.done.is_some().then(|| v.t("inbox.marked"));
    let title = v.t("common.nav-inbox");
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title,
        nav: "inbox",
    }
    .render(html! {
        (notices(&[], done))
        div class="actions" {
            @if unread_only {
                a href=(c.url("/inbox")) { (v.t("inbox.show-all")) }
            } @else {
                a href=(c.url("/inbox?unread=1")) { (v.t("inbox.show-unread")) }
            }
            @if c.unread > 0 {
                form method="post" action=(c.url("/inbox/read")) class="inline" {
                    (csrf(&v))
                    button type="submit" { (v.t("inbox.mark-all-read")) }
                }
            }
        }
        @if items.is_empty() {
            p { (v.t("inbox.empty")) }
        } @else {
            ul class="plain" {
                @for n in &items { (item(&v, n, &c.url("/inbox/read"))) }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

async fn mark_read(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, coop_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let ids = match form.get("id") {
        "" => json!({}),
        id => match id.parse::<i64>() {
            Ok(id) => json!({"ids": [id]}),
            Err(_) => {
                return super::layout::error_page(
                    &v,
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    v.t("inbox.bad-id"),
                );
            }
        },
    };
    match web.post(&v, &c.api("/notifications/read"), &ids).await {
        Ok(_) => see_other(&c.url("/inbox?done=1")),
        Err(e) => api_error_page(&v, &e),
    }
}
