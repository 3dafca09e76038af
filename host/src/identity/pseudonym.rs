//! Member ids as plugins see them.
//!
//! A plugin gets `HMAC-SHA256(host secret, coop | plugin | member)`, truncated:
//! stable for one (coop, plugin), different between plugins, so two plugins
//! cannot join their data about a member behind the member's back. The host
//! records each id it hands out so it can map it back (for export, erasure
//! and `membership.get`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;

use crate::db::Db;
use crate::error::Result;

/// The pseudonymous id of `member_id` for `plugin` in `coop_id`, recorded so
/// it can be mapped back.
pub async fn pseudonym_for_member(
    db: &Db,
    secret: &[u8],
    coop_id: i64,
    plugin: &str,
    member_id: i64,
) -> Result<String> {
    let id = compute(secret, coop_id, plugin, &format!("m{member_id}"));
    sqlx::query(
        "INSERT INTO plugin_member_ids (coop_id, plugin, pseudo_id, member_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (coop_id, plugin, pseudo_id) DO NOTHING",
    )
    .bind(coop_id)
    .bind(plugin)
    .bind(&id)
    .bind(member_id)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// The member behind a pseudonymous id, if it was handed out.
pub async fn member_for_pseudonym(
    db: &Db,
    coop_id: i64,
    plugin: &str,
    pseudo_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query("SELECT member_id FROM plugin_member_ids WHERE coop_id = $1 AND plugin = $2 AND pseudo_id = $3")
        .bind(coop_id)
        .bind(plugin)
        .bind(pseudo_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.get(0)))
}

/// The id of a service key as a plugin sees it (not recorded: keys hold no
/// personal data).
pub fn pseudonym_for_service(secret: &[u8], coop_id: i64, plugin: &str, key_id: i64) -> String {
    compute(secret, coop_id, plugin, &format!("k{key_id}")).replacen("m-", "svc-", 1)
}

fn compute(secret: &[u8], coop_id: i64, plugin: &str, subject: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("{coop_id}\0{plugin}\0{subject}").as_bytes());
    let out = mac.finalize().into_bytes();
    format!("m-{}", hex::encode(&out[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_per_plugin_and_are_stable() {
        let s = b"secret";
        let a = compute(s, 1, "delivery", "m7");
        assert_eq!(a, compute(s, 1, "delivery", "m7"));
        assert_ne!(a, compute(s, 1, "shift-board", "m7"));
        assert_ne!(a, compute(s, 2, "delivery", "m7"));
        assert_ne!(a, compute(b"other", 1, "delivery", "m7"));
        assert!(pseudonym_for_service(s, 1, "p", 3).starts_with("svc-"));
    }
}
