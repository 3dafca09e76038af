//! Every grant of a role goes through one check and one record.
//!
//! A role beyond plain membership (`member`) is power in the coop: an
//! admin, a worker, a service account with the dispatcher role. However it
//! is granted (adding a member, an invitation, approving an application,
//! an API key, a `grant-role` proposal applied directly), the grant needs
//! what a direct `grant-role` change needs ([`proposals::direct_allowed`]:
//! an admin, or the host operator, of a coop whose rules still let admins
//! grant roles without a vote) and is recorded in the decision log as a
//! `grant-role` direct change, so members see who gave which power to whom.
//! Where the rules keep `grant-role` for the members' vote, people join as
//! plain members and a `grant-role` proposal gives them more.

use serde_json::Value;

use super::proposals;
use super::rules::Kind;
use crate::db::Db;
use crate::error::Result;
use crate::identity::Actor;

/// The role every member has; granting only it is admission, not power.
pub const PLAIN_MEMBERSHIP: &str = "member";

/// Whether granting `roles` is a `grant-role` decision (anything beyond
/// plain membership).
pub fn governed(roles: &[String]) -> bool {
    roles.iter().any(|r| r != PLAIN_MEMBERSHIP)
}

/// Refuse unless `actor` may grant `roles` in the coop without a vote.
pub async fn check(db: &Db, coop_id: i64, actor: &Actor, roles: &[String]) -> Result<()> {
    if governed(roles) {
        proposals::direct_allowed(db, coop_id, actor, Kind::GrantRole).await?;
    }
    Ok(())
}

/// Record a grant made without a vote in the decision log: `what` says
/// how (an invitation, an API key, an admission) and which roles, never
/// an email or a secret (the log is read by every member).
pub async fn record(db: &Db, coop_id: i64, actor: &Actor, what: Value, now: i64) -> Result<()> {
    proposals::record_direct(db, coop_id, actor, Kind::GrantRole, what, now).await
}
