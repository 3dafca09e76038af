//! Personal-data categories and consent.
//!
//! A plugin's manifest declares the categories of personal data it handles
//! (`[data.<category>]`), each with its purpose, its legal basis and the
//! store key prefixes that hold it. Categories come from a fixed
//! vocabulary, so members can compare plugins; those that article 7 of the
//! EU Platform Work Directive (2024/2831) forbids cannot be declared at
//! all. Where the basis is `consent`, each member decides per plugin and
//! category, at any time, and the host enforces it on the plugin's store:
//! a record tagged with a member who has not consented cannot be written
//! (`access-denied`) and is invisible to reads. Location data about a
//! worker is refused outside their open shift, whatever the basis.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// Categories a plugin may declare, with what they cover.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("contact", "names, phone numbers, email or postal addresses"),
    ("location", "positions of a person"),
    ("work-activity", "tasks, times and outcomes of work"),
    ("ratings", "ratings and reviews of a person"),
    ("payment", "amounts paid or earned, bank details"),
    ("health", "health data, e.g. for home care"),
    (
        "identity-documents",
        "documents proving identity or qualifications",
    ),
    ("vehicle", "vehicles a person uses"),
    ("preferences", "a person's stated preferences"),
];

/// Categories no plugin may declare: article 7(1) of Directive (EU)
/// 2024/2831, each with the reason given when a manifest names it.
pub const FORBIDDEN: &[(&str, &str)] = &[
    (
        "emotional-state",
        "the emotional or psychological state of a person",
    ),
    (
        "psychological-state",
        "the emotional or psychological state of a person",
    ),
    (
        "private-conversations",
        "private conversations, including exchanges with worker representatives",
    ),
    (
        "off-duty",
        "data collected while the person is not performing or offering platform work",
    ),
    (
        "fundamental-rights-predictions",
        "predictions about the exercise of fundamental rights (association, collective bargaining, strikes)",
    ),
    (
        "sensitive-inferences",
        "inferences about racial or ethnic origin, migration status, political opinions, religious beliefs, health, sexual orientation and other sensitive traits",
    ),
    (
        "biometric-identification",
        "biometric data used to identify a person",
    ),
];

/// The legal basis for processing a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Each member decides, and may withdraw at any time.
    Consent,
    /// Needed to perform the member's contract with the coop.
    Contract,
    /// Required by law.
    LegalObligation,
}

/// A category as a manifest declares it (`[data.<name>]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCategory {
    /// What the data is used for, in words for members.
    pub purpose: String,
    /// Why the plugin may process it.
    pub basis: Basis,
    /// Store key prefixes of records in this category (records tagged with
    /// the member they concern).
    #[serde(default)]
    pub keys: Vec<String>,
    /// How long the plugin keeps it, days, if it says.
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// Check a manifest's category: known, not forbidden, a purpose, sane key
/// prefixes. The message says what is wrong.
pub fn check_category(name: &str, c: &DataCategory) -> Result<()> {
    if let Some((_, what)) = FORBIDDEN.iter().find(|(n, _)| *n == name) {
        return Err(Error::Invalid(format!(
            "data category {name:?} cannot be declared: article 7 of the EU Platform Work Directive \
             (2024/2831) forbids processing {what}"
        )));
    }
    if !CATEGORIES.iter().any(|(n, _)| *n == name) {
        let known: Vec<&str> = CATEGORIES.iter().map(|(n, _)| *n).collect();
        return Err(Error::Invalid(format!(
            "unknown data category {name:?}: use one of {}",
            known.join(", ")
        )));
    }
    let purpose = c.purpose.trim().chars().count();
    if !(10..=500).contains(&purpose) {
        return Err(Error::Invalid(format!(
            "data.{name}.purpose must say what the data is for in 10 to 500 characters"
        )));
    }
    if c.keys.len() > 20 || c.keys.iter().any(|k| k.is_empty() || k.len() > 128) {
        return Err(Error::Invalid(format!(
            "data.{name}.keys must list at most 20 key prefixes of 1 to 128 bytes"
        )));
    }
    Ok(())
}

/// Whether `member_id` has consented to `category` of `plugin` (the latest
/// decision; none means no).
pub async fn has(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    plugin: &str,
    category: &str,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT given FROM consents WHERE coop_id = $1 AND member_id = $2 AND plugin = $3 \
         AND category = $4 ORDER BY id DESC LIMIT 1",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(plugin)
    .bind(category)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<bool, _>(0)
            .unwrap_or_else(|_| r.get::<i64, _>(0) != 0),
        None => false,
    })
}

/// Record a member's decision (consent given or withdrawn, with the
/// purpose declared at that moment).
pub async fn set(db: &Db, coop_id: i64, member_id: i64, d: &Decision) -> Result<()> {
    sqlx::query(
        "INSERT INTO consents (coop_id, member_id, plugin, category, purpose, given, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(&d.plugin)
    .bind(&d.category)
    .bind(&d.purpose)
    .bind(i64::from(d.given))
    .bind(d.at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One decision in a member's consent history.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Decision {
    /// The plugin.
    pub plugin: String,
    /// The category.
    pub category: String,
    /// The purpose as declared then.
    pub purpose: String,
    /// Given (true) or withdrawn (false).
    pub given: bool,
    /// When.
    pub at: i64,
}

/// A member's decisions, newest first.
pub async fn history(db: &Db, coop_id: i64, member_id: i64) -> Result<Vec<Decision>> {
    let rows = sqlx::query(
        "SELECT plugin, category, purpose, given, at FROM consents \
         WHERE coop_id = $1 AND member_id = $2 ORDER BY id DESC",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Decision {
            plugin: r.get(0),
            category: r.get(1),
            purpose: r.get(2),
            given: r
                .try_get::<bool, _>(3)
                .unwrap_or_else(|_| r.get::<i64, _>(3) != 0),
            at: r.get(4),
        })
        .collect())
}

/// The category of `key` under `categories` (the first whose prefix it
/// starts with).
pub fn category_of<'a>(
    categories: &'a std::collections::BTreeMap<String, DataCategory>,
    key: &str,
) -> Option<(&'a str, &'a DataCategory)> {
    categories
        .iter()
        .find(|(_, c)| c.keys.iter().any(|p| key.starts_with(p.as_str())))
        .map(|(n, c)| (n.as_str(), c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(purpose: &str, keys: &[&str]) -> DataCategory {
        DataCategory {
            purpose: purpose.into(),
            basis: Basis::Consent,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            retention_days: None,
        }
    }

    #[test]
    fn forbidden_and_unknown_categories_are_refused_with_the_reason() {
        let ok = cat("Suggest the nearest courier", &["loc/"]);
        assert!(check_category("location", &ok).is_ok());
        let e = check_category("emotional-state", &ok)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("article 7") && e.contains("emotional or psychological"),
            "{e}"
        );
        let e = check_category("biometric-identification", &ok)
            .unwrap_err()
            .to_string();
        assert!(e.contains("biometric data"), "{e}");
        let e = check_category("mood", &ok).unwrap_err().to_string();
        assert!(
            e.contains("unknown data category \"mood\": use one of contact, location"),
            "{e}"
        );
        let e = check_category("location", &cat("why", &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("10 to 500"), "{e}");
        let e = check_category("location", &cat("Suggest the nearest courier", &[""]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("key prefixes"), "{e}");
    }

    #[test]
    fn keys_map_to_their_category() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            "location".to_string(),
            cat("Suggest the nearest courier", &["loc/"]),
        );
        m.insert(
            "health".to_string(),
            cat("Care plans for home visits", &["care/", "visit/"]),
        );
        assert_eq!(category_of(&m, "loc/m-1").map(|c| c.0), Some("location"));
        assert_eq!(category_of(&m, "visit/9").map(|c| c.0), Some("health"));
        assert_eq!(category_of(&m, "order/d-1"), None);
    }
}
