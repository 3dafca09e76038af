//! The OpenAPI documents: `GET /openapi.json`, public, the host's routes
//! only (it names no coop and no plugin); `GET /v1/coops/{coop}/openapi.json`,
//! for the coop's members, adds one route per function of every interface
//! the coop has bound, its schemas generated from the WIT types.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sqlx::Row;

use crate::app::App;
use crate::error::{Error, Result};

/// One documented host route.
pub struct RouteDoc {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path with `{param}` segments.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: &'static str,
}

/// The JSON body a host route reads, documented from the very type its
/// handler deserialises (so the two cannot drift apart).
pub struct BodyDoc {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path with `{param}` segments, as in [`HOST_ROUTES`].
    pub path: &'static str,
    /// The body's JSON schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

/// The schema of `T`, for [`BodyDoc::schema`].
pub fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// Limit overrides and ceilings: limit names to whole numbers, or `null`
/// to fall back to the default (documentation only; the handlers read
/// the object and name what they refuse).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct Overrides(std::collections::BTreeMap<String, Option<u64>>);

/// Host routes that take no body although they are POST or PUT.
#[cfg(test)]
const BODYLESS: &[(&str, &str)] = &[
    ("post", "/v1/auth/logout"),
    ("post", "/v1/coops/{coop}/applications/{id}/{decision}"),
    ("post", "/v1/coops/{coop}/credential-keys/rotate"),
    ("post", "/v1/coops/{coop}/shifts/end"),
    ("post", "/v1/coops/{coop}/shifts/start"),
    ("post", "/v1/coops/{coop}/terms/{version}/accept"),
];

/// Host routes whose success is not JSON: their media type.
const PRODUCES: &[(&str, &str, &str)] = &[
    ("get", "/metrics", "text/plain"),
    ("get", "/coops/{coop}/transparency", "text/html"),
    ("get", "/v1/coops/{coop}/impact-summary", "text/markdown"),
    (
        "get",
        "/v1/coops/{coop}/notifications/stream",
        "text/event-stream",
    ),
    (
        "get",
        "/v1/coops/{coop}/payout-runs/{run}/file",
        "application/xml",
    ),
];

/// Host routes that answer 204 No Content on success.
const NO_CONTENT: &[(&str, &str)] = &[
    ("post", "/v1/auth/logout"),
    ("delete", "/v1/coops/{coop}/api-keys/{key}"),
    ("post", "/v1/me/second-factor/disable"),
];

/// Every host route. Keep in step with `api::router`: a test checks that
/// each one answers.
pub const HOST_ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "get",
        path: "/healthz",
        summary: "Liveness and database check",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/openapi.json",
        summary: "This document: the host's routes (a coop's interfaces are in its own document)",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics: calls, durations, limit hits, compile cache",
        access: "the host operator, or Prometheus with the metrics token (serve --metrics-token)",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/login",
        summary: "Log in with email and password; returns a bearer token, or a challenge when the account has a second factor, and a device proof to send as `device` next time (throttled per account from an address, per account and per address, or for a proven device per device alone: 429 with Retry-After)",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/login/second-factor",
        summary: "Exchange a login challenge and a TOTP or recovery code for a bearer token opened with the second factor",
        access: "anyone with a challenge",
    },
    RouteDoc {
        method: "get",
        path: "/v1/me/second-factor",
        summary: "The caller's second factor: enrolled, pending, recovery codes left; whether this session was opened with it",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/me/second-factor",
        summary: "Start enrolling a TOTP second factor (give the password); returns the secret and otpauth URI once",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/me/second-factor/confirm",
        summary: "Confirm enrolment with a code; returns the recovery codes once",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/me/second-factor/recovery-codes",
        summary: "Replace the recovery codes (give a current code); returns the new ones once",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/me/second-factor/disable",
        summary: "Turn the second factor off (give a current TOTP or recovery code)",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/verify-email",
        summary: "Confirm an application's address with the mailed token and the password given when applying; the application then reaches the coop",
        access: "anyone holding the token",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/password-reset",
        summary: "Mail a one-time link (1 hour) to choose a new password; answers the same whether or not the address has an account",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/password-reset/confirm",
        summary: "Choose a new password with a mailed token; every session of the account is revoked",
        access: "anyone holding the token",
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/logout",
        summary: "Revoke the bearer token used",
        access: "logged in",
    },
    RouteDoc {
        method: "get",
        path: "/v1/me",
        summary: "The caller's account and coops",
        access: "logged in",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops",
        summary: "Coops the caller belongs to (all, for the operator)",
        access: "logged in",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops",
        summary: "Create a coop",
        access: "host operator",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}",
        summary: "A coop and the caller's roles in it",
        access: "members, whatever their status (a deactivated member sees their status and no role)",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/openapi.json",
        summary: "The coop's OpenAPI document: the host's routes and the interfaces the coop serves, with schemas from their WIT types",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/members",
        summary: "Members of the coop",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/members",
        summary: "Add a member; a new address gets a mail with a link to choose its password (admins never set one) (201); an address that already has an account on this host is invited instead and decides (202)",
        access: "admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/members/{member}",
        summary: "One member",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/api-keys",
        summary: "Create a service API key (shown once)",
        access: "admins",
    },
    RouteDoc {
        method: "delete",
        path: "/v1/coops/{coop}/api-keys/{key}",
        summary: "Revoke a service API key",
        access: "admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins",
        summary: "Installed plugins",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}",
        summary: "One plugin: manifest, imports, exports with WIT signatures",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}/config",
        summary: "A plugin's configuration values and declarations",
        access: "active members",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/plugins/{plugin}/config/{name}",
        summary: "Set a configuration value",
        access: "admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}/limits",
        summary: "A plugin's effective limits and the coop's overrides",
        access: "active members",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/plugins/{plugin}/limits",
        summary: "Override a plugin's limits (a JSON object of limit names to positive integers, each at most the coop's ceiling); a plugin decision, recorded in the decision log",
        access: "admins where the coop's rules allow direct plugin changes (else a set-limits proposal)",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/limit-ceilings",
        summary: "What the host operator allows the coop: ceilings over its plugins' limits, and its calls in flight at once",
        access: "members",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/limit-ceilings",
        summary: "Set the coop's ceilings (limit names, instances and timers to numbers; {} restores the host's defaults); recorded in the coop's decision log",
        access: "host operator",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}/members/{pseudonym}",
        summary: "The member behind a member id the plugin was given (a dispatcher reading a suggestion, say); each read is recorded as an access to that member's data",
        access: "admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/interfaces",
        summary: "Interfaces the coop serves and the plugin bound to each",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/notifications",
        summary: "The caller's notifications",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/shifts",
        summary: "The caller's shifts in a period (admins: ?member=ID), with on-shift time",
        access: "the member, whatever their status; admins for others",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/shifts/current",
        summary: "The caller's open shift, if any",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/shifts/start",
        summary: "Start the caller's shift (workers)",
        access: "active workers",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/shifts/end",
        summary: "End the caller's shift (workers)",
        access: "the member on shift, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/worker-status",
        summary: "The caller's worker status",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/me/worker-status",
        summary: "Choose one's worker status: independent, salaried or cae (with the CAE name); the coop cannot override it",
        access: "the member themself, while active",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/split-policies",
        summary: "The value split in effect and every version with who set it and why",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/split-policies",
        summary: "Record a new split policy version from a date (no retroactive change)",
        access: "admins, until governance decides it",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/earnings-floor",
        summary: "Every version of the hourly earnings floor",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/earnings-floor",
        summary: "Record a new hourly floor (minor units per on-shift hour) from a date",
        access: "admins, until governance decides it",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/jobs",
        summary: "The coop's scheduled jobs: due time, status, attempts, last error",
        access: "admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/call/{package}/{interface}/{function}",
        summary: "Call a function of an interface the coop serves (generic form)",
        access: "per the plugin manifest (a member who is not active calls as someone who is not a member)",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/ledger/balances",
        summary: "Every ledger account of the coop and its balance",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/ledger/check",
        summary: "Check the books: every transaction balances, every balance is the sum of its postings, no account that may not go negative is",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/ledger/accounts/{account}",
        summary: "One account's balances and postings, newest first (?limit=); reading a member's wallet is recorded in their access log",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/wallet",
        summary: "The caller's wallet: balances, postings and payouts",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/bank-account",
        summary: "The caller's bank details for payouts",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/me/bank-account",
        summary: "Set the caller's bank details (IBAN checked mod 97)",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/payout-account",
        summary: "The coop's own account, debtor of its payout files",
        access: "coop admins",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/payout-account",
        summary: "Set the coop's own account (IBAN and BIC)",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/payout-runs/preview",
        summary: "What a payout run would pay now, moving nothing",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/payout-runs",
        summary: "Executed payout runs, newest first",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/payout-runs",
        summary: "Execute a payout run once per msg_id: wallets to payout clearing and a pain.001.001.09 file",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/payout-runs/{run}",
        summary: "One payout run",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/payout-runs/{run}/file",
        summary: "The run's SEPA pain.001.001.09 file, exactly as first produced",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/floor-runs",
        summary: "Compute a finished month's earnings floor now (the scheduler does it an hour after each month)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/floor-runs/{period}",
        summary: "Every worker's floor result for a month (YYYY-MM)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}/algorithm",
        summary: "A plugin's algorithm card: how it prices and assigns work, in words, with the current value of each parameter",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/transparency",
        summary: "The coop's transparency report: plugins with hashes and algorithm cards (parameters in force), value split history, earnings against the floor per month (small cells suppressed), personal data and where it is stored, terms, the decision log",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/open-data",
        summary: "Open data for local authorities: activity per month, zone and metric counted by plugins, and hours worked per month, with cells of fewer than k workers suppressed (?format=json|csv)",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/impact-summary",
        summary: "A data-protection impact summary (Markdown) of the installed plugins: personal data, purposes, bases, retention, automated decisions and parameters, host safeguards",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/coops/{coop}/transparency",
        summary: "The same report as an HTML page",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/export",
        summary: "Everything the host and the plugins hold about the caller, as one JSON archive (profile, status history, shares, shifts, wallet, monthly pay, votes, consents, ratings, deactivations, data accesses, notifications, plugin records tagged with them, decision-log entries about them)",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/erasure",
        summary: "Erase the caller's data in this coop ({\"confirm\": \"erase my data\"}): deletes or pseudonymises what the law does not require to keep, and reports what was deleted and what was kept and why",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/audit",
        summary: "The audit log (hash chain `audit`): every plugin call with caller, outcome and duration, grant and consent changes, admins' reads of members' money (?after=seq&limit=)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/audit/verify",
        summary: "Recompute the audit log's hash chain; reports the first broken entry",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/audit",
        summary: "The audit entries about the caller: their calls, their consent changes, admins' reads of their data",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/consents",
        summary: "Every personal-data category of the coop's plugins with its purpose and basis, the caller's consent where the basis is consent, and their history of decisions",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/me/consents/{plugin}/{category}",
        summary: "Give or withdraw consent to one category of one plugin ({\"given\": true|false}), at any time",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/plugins/{plugin}/data",
        summary: "The personal-data categories a plugin handles: purpose, legal basis, store key prefixes, retention",
        access: "members, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/ratings",
        summary: "Every rating about the caller (used or not, and until when) and the summary of those used",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/ratings/{id}/contest",
        summary: "Contest a rating about the caller with a reason: it stops counting until an admin reviews it",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/ratings/contested",
        summary: "Contested ratings waiting for a review",
        access: "admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/ratings/{id}/review",
        summary: "Keep or remove a contested rating, with a reason; the worker is told",
        access: "admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/floor-report",
        summary: "The coop's floor and its monthly results with no one named: workers, hours, top-ups, flagged shortfalls, what was booked as the coop's debt and what it still owes, and the legal minimum references of its country",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/legal-minimums",
        summary: "The legal minimum hourly references the host operator set, per country and currency, each from its date: no coop's floor may be below the one in force",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/statements/{period}",
        summary: "Every worker's statement for a month, JSON or ?format=csv; each read is recorded in the worker's access log",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/members/{member}/statements/{period}",
        summary: "One worker's statement for a month, JSON or ?format=csv; an admin's read is recorded",
        access: "the member (whatever their status), coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/statements/{period}",
        summary: "The caller's statement for a month (YYYY-MM), JSON or ?format=csv",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/access-log",
        summary: "Who else read the caller's money data, and when",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/governance/rules",
        summary: "The coop's governance rules: methods, quorums, thresholds per kind, colleges and weights, what admins may still change directly",
        access: "active members",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/governance/rules",
        summary: "Change the governance rules directly (only while the rules allow admins to; recorded in the decision log)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/proposals",
        summary: "Proposals, newest first, with their tallies once closed",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/proposals",
        summary: "Open a proposal: a title, the text and the change it makes; voting rules of its kind apply",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/proposals/{id}",
        summary: "One proposal, its status and tally",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/proposals/{id}/votes",
        summary: "Vote (yes, no, abstain; object with a reason under consent); change it until the window closes",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/proposals/{id}/votes",
        summary: "The recorded votes once closed, with a recount that must match the published tally",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/decisions",
        summary: "The hash-chained decision log (?after=SEQ&limit=N)",
        access: "active members",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/decisions/verify",
        summary: "Verify the decision log's hash chain",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/notifications/read",
        summary: "Mark notifications read: {\"ids\": [...]} or all",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/notifications/stream",
        summary: "Server-sent events: each new notification as it arrives (resume with ?after=ID or Last-Event-ID)",
        access: "active members (the stream ends when the session ends or the member stops being active)",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/terms",
        summary: "Terms of service: the version in effect, pending versions with their diff and date, what the caller accepted",
        access: "members, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/terms",
        summary: "Publish new terms directly where the rules allow admins (else by an adopt-terms proposal); notice of at least 15 days",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/terms/{version}/accept",
        summary: "Record the caller's acceptance of a terms version",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/invitations",
        summary: "Invite someone with roles and a college; the one-time token (valid 14 days) is mailed to them, not returned",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/invitations/accept",
        summary: "Accept an invitation with its token (and a password for a new account)",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/applications",
        summary: "Apply to join, where the coop's rules allow applications; a link to confirm the address is mailed, and the application reaches the coop once confirmed",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/applications/{id}/{decision}",
        summary: "Approve or reject a pending application (decision: approve or reject)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/membership-requests",
        summary: "Invitations and applications, newest first",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/members/{member}/status",
        summary: "A member's status and its dated history",
        access: "the member (whatever their status), coop admins",
    },
    RouteDoc {
        method: "put",
        path: "/v1/coops/{coop}/members/{member}/status",
        summary: "Suspend or remove (a deactivation: written reason of 10+ characters, the member notified with how and until when to appeal), reactivate, or leave (the member's own choice; refunds shares per the rules)",
        access: "coop admins who are people (service accounts get 403), the member leaving (whatever their status)",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/members/{member}/flags",
        summary: "Flag a member for the admins with a reason; changes nothing else",
        access: "service accounts, coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/flags",
        summary: "Open flags, newest first (?status=all for every flag)",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/flags/{id}/dismiss",
        summary: "Dismiss an open flag with a written reason",
        access: "coop admins who are people",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/flags/{id}/act",
        summary: "Act on a flag: suspend or remove its member with a written reason (a deactivation linked to the flag)",
        access: "coop admins who are people",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/deactivations",
        summary: "The caller's suspensions and removals: reasons, appeal deadline, appeal and outcome; and flags about them",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/appeals",
        summary: "Appeal a suspension or removal ({decision, statement}) within the coop's appeal_days; one appeal per decision",
        access: "the member the decision is about, whatever their status",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/appeals",
        summary: "Appeals awaiting review, open or overdue, each with its decision (?status=all for every appeal)",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/appeals/{id}/review",
        summary: "Review an appeal: outcome upheld or overturned (restores the previous status), with a written reason",
        access: "coop admins who are people and did not make the decision",
    },
    RouteDoc {
        method: "get",
        path: "/v1/coops/{coop}/me/shares",
        summary: "The caller's cooperative shares",
        access: "the member, whatever their status",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/shares",
        summary: "Record shares bought at the nominal value (paid from outside, once per payment_ref)",
        access: "active members",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/components",
        summary: "Stage a component (raw .wasm body, up to 64 MiB) for a plugin proposal; returns its SHA-256 and requested capabilities",
        access: "coop admins (people, the operator, or API keys with the admin role)",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/ledger/transactions/{key}/reverse",
        summary: "Reverse a ledger transaction by its idempotency key, posting its compensation with a reason (once)",
        access: "coop admins",
    },
    RouteDoc {
        method: "get",
        path: "/.well-known/coophost/coops/{coop}",
        summary: "The coop as a credential issuer: its id, name and where its keys are",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/.well-known/coophost/coops/{coop}/keys.json",
        summary: "The coop's credential keys (Multikey, Ed25519), retired and revoked ones included",
        access: "anyone",
    },
    RouteDoc {
        method: "get",
        path: "/.well-known/coophost/contexts/{file}",
        summary: "A JSON-LD context bundled with the host (credentials-v2.jsonld, work-v1.jsonld)",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/credential",
        summary: "The caller's work credential (W3C VC 2.0, eddsa-jcs-2022): membership, monthly hours, jobs, earnings and ratings over 12 months; departed members too",
        access: "the member, whatever their status (those who left included)",
    },
    RouteDoc {
        method: "post",
        path: "/v1/credentials/verify",
        summary: "Verify a coophost work credential: bundled contexts, the issuer's key (fetched, or given as keys), signature, revocation, validity dates",
        access: "anyone",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/credential-keys/rotate",
        summary: "Retire the coop's credential key (it still verifies what it signed) and create the next",
        access: "coop admins",
    },
    RouteDoc {
        method: "post",
        path: "/v1/coops/{coop}/credential-keys/{seq}/revoke",
        summary: "Revoke a credential key with a reason: what it signed no longer verifies",
        access: "coop admins",
    },
];

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "detail": {}
        }}}
    })
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn errors() -> Value {
    json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The public OpenAPI 3.1 document: the host's own routes only, the same
/// on every host, naming no coop and no plugin.
pub fn host_document() -> Value {
    let mut generator = schemars::SchemaGenerator::new(
        schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true),
    );
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in HOST_ROUTES {
        let media = PRODUCES
            .iter()
            .find(|(m, p, _)| *m == r.method && *p == r.path)
            .map_or("application/json", |(_, _, t)| t);
        let success = if NO_CONTENT.contains(&(r.method, r.path)) {
            json!({"204": {"description": "Done"}})
        } else {
            json!({"2XX": {"description": "Success", "content": {media: {}}}})
        };
        let mut op = json!({
            "summary": r.summary,
            "description": format!("Access: {}.", r.access),
            "responses": success,
        });
        op["responses"]["4XX"] = errors();
        let params = path_params(r.path);
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(body) = super::all_bodies().find(|b| b.method == r.method && b.path == r.path) {
            let schema = (body.schema)(&mut generator).to_value();
            // An optional body (`Option<T>`) may be left out.
            let required = !accepts_null(&schema);
            op["requestBody"] =
                json!({"required": required, "content": {"application/json": {"schema": schema}}});
        } else if r.path == "/v1/coops/{coop}/components" {
            op["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        paths
            .entry(r.path.to_string())
            .or_default()
            .insert(r.method.into(), op);
    }
    wrap(paths)
}

/// Whether a JSON schema admits `null` (an `Option<T>` body).
fn accepts_null(schema: &Value) -> bool {
    let is_null = |t: &Value| {
        t == "null"
            || t.as_array()
                .is_some_and(|ts| ts.iter().any(|t| t == "null"))
    };
    is_null(&schema["type"])
        || ["anyOf", "oneOf"].iter().any(|k| {
            schema[*k]
                .as_array()
                .is_some_and(|alts| alts.iter().any(accepts_null))
        })
}

fn wrap(paths: BTreeMap<String, serde_json::Map<String, Value>>) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "coophost", "version": env!("CARGO_PKG_VERSION"),
                 "description": "A shared host for cooperative platforms. Authenticate with `Authorization: Bearer <token or API key>`."},
        "components": {
            "schemas": {"Error": error_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}, {}],
        "paths": paths,
    })
}

/// One coop's OpenAPI 3.1 document, for its members: the host's routes
/// plus one route per function of every interface the coop has bound,
/// its schemas generated from the WIT types.
pub async fn coop_document(app: &App, coop_id: i64) -> Result<Value> {
    let mut doc = host_document();
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> =
        serde_json::from_value(doc["paths"].take()).map_err(|e| Error::Internal(e.into()))?;
    // One concrete route per function of every interface the coop bound.
    let rows = sqlx::query(
        "SELECT DISTINCT plugin_id FROM bindings WHERE coop_id = $1 ORDER BY plugin_id",
    )
    .bind(coop_id)
    .fetch_all(&app.db.pool)
    .await?;
    for row in rows {
        let plugin = app.plugin(row.get(0)).await?;
        for e in &plugin.inspection.exports {
            let Some((package, iface)) = e.name.split_once('/') else {
                continue;
            };
            for f in &e.functions {
                let path = format!("/v1/coops/{{coop}}/call/{package}/{iface}/{}", f.name);
                let op = json!({
                    "summary": format!("{}.{}", e.name, f.name),
                    "description": format!("`{}`\n\nServed by whichever plugin the coop bound to {}.", f.wit, e.name),
                    "tags": [e.name],
                    "parameters": [{"name": "coop", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": f.params_schema}}},
                    "responses": {
                        "200": {"description": "The function's result", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["result"], "properties": {"result": f.result_schema}
                        }}}},
                        "4XX": errors(), "5XX": errors(),
                    },
                });
                paths.entry(path).or_default().insert("post".into(), op);
            }
        }
    }
    doc["paths"] = serde_json::to_value(paths).map_err(|e| Error::Internal(e.into()))?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented(method: &str, path: &str) -> bool {
        HOST_ROUTES
            .iter()
            .any(|r| r.method == method && r.path == path)
    }

    #[test]
    fn every_route_that_takes_a_body_documents_its_schema() {
        for r in HOST_ROUTES {
            if !matches!(r.method, "post" | "put" | "patch") {
                continue;
            }
            let has_body =
                crate::api::all_bodies().any(|b| b.method == r.method && b.path == r.path);
            let bodyless = BODYLESS.contains(&(r.method, r.path));
            let raw = r.path == "/v1/coops/{coop}/components";
            assert!(
                has_body || bodyless || raw,
                "{} {} documents no request body: add a BodyDoc in its module, or list it in BODYLESS",
                r.method,
                r.path
            );
            assert!(!(has_body && bodyless), "{} {} is both", r.method, r.path);
        }
        for b in crate::api::all_bodies() {
            assert!(
                documented(b.method, b.path),
                "BodyDoc for unknown route {} {}",
                b.method,
                b.path
            );
        }
        for (m, p) in BODYLESS {
            assert!(documented(m, p), "BODYLESS names unknown route {m} {p}");
        }
        for (m, p, _) in PRODUCES {
            assert!(documented(m, p), "PRODUCES names unknown route {m} {p}");
        }
        for (m, p) in NO_CONTENT {
            assert!(documented(m, p), "NO_CONTENT names unknown route {m} {p}");
        }
    }

    #[test]
    fn bodies_are_schemas_of_their_types() {
        let doc = host_document();
        let login = &doc["paths"]["/v1/auth/login"]["post"]["requestBody"];
        assert_eq!(login["required"], true);
        let schema = &login["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["email", "password"]));
        // An optional body may be left out.
        let issue = &doc["paths"]["/v1/coops/{coop}/me/credential"]["post"]["requestBody"];
        assert_eq!(issue["required"], false);
        // A proposal's change is a tagged union of the kinds of change.
        let proposal = &doc["paths"]["/v1/coops/{coop}/proposals"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        let kinds = proposal["properties"]["change"]["oneOf"]
            .as_array()
            .expect("change is a oneOf");
        assert!(kinds.len() > 5, "{proposal}");
        assert_eq!(
            doc["paths"]["/metrics"]["get"]["responses"]["2XX"]["content"]["text/plain"],
            json!({})
        );
    }
}
