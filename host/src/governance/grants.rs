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

use serde_json::{Value, json};

use super::proposals;
use super::rules::Kind;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::Result;
use crate::identity::{self, Actor, Coop, Member, NewApiKey, NewMember, Vouch};

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

/// Record a grant made without a vote in the decision log, inside the
/// transaction that makes the grant: a grant without its entry (or an
/// entry without its grant) never commits. `what` says how (an
/// invitation, an API key, an admission) and which roles, never an email
/// or a secret (the log is read by every member).
pub async fn record_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    actor: &Actor,
    what: Value,
    now: i64,
) -> Result<()> {
    proposals::record_direct_in(conn, coop_id, actor, Kind::GrantRole, what, now).await
}

/// Where a grant was made, added to what the log says: the host's
/// command line acts as the host operator (`Actor::host`), without a
/// member id, so its entries say so.
pub const VIA_COMMAND_LINE: &str = "command line";

/// Add a member and record the grant of their roles in one transaction.
/// `via` (e.g. [`VIA_COMMAND_LINE`]) is added to the entry when given.
pub async fn add_member(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    new: NewMember,
    vouch: Vouch,
    actor: &Actor,
    via: Option<&str>,
) -> Result<Member> {
    let hash = identity::password_hash_for(&new, vouch).await?;
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let m = identity::add_member_in(&mut tx, now, coop, new, hash, vouch).await?;
    let mut what = json!({"member_added": m.id, "roles": m.roles, "college": m.college});
    if let Some(via) = via {
        what["via"] = json!(via);
    }
    record_in(&mut tx, coop.id, actor, what, now).await?;
    tx.commit().await?;
    Ok(m)
}

/// Create an API key and record the grant of its role in one transaction.
pub async fn create_api_key(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    name: &str,
    role: &str,
    actor: &Actor,
    via: Option<&str>,
) -> Result<NewApiKey> {
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let key = identity::create_api_key_in(&mut tx, now, coop, name, role, actor.member_id).await?;
    let mut what = json!({"api_key": key.id, "name": key.name, "roles": [role]});
    if let Some(via) = via {
        what["via"] = json!(via);
    }
    record_in(&mut tx, coop.id, actor, what, now).await?;
    tx.commit().await?;
    Ok(key)
}
