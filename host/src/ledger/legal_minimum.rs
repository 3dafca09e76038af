//! The legal minimum hourly references the host operator sets per country
//! and currency (for France, the SMIC: the operator enters its value and
//! date each time it changes), and the country each coop is in.
//!
//! Two rules rest on them: no coop's earnings floor may be set below the
//! reference in force where and when it takes effect
//! ([`super::policies::set_floor_in`]), and the floor run pays every
//! on-shift moment at least at the reference in force then, even when the
//! coop set no floor or the law rose past the coop's floor
//! ([`super::floor::guaranteed_rates`]).

use serde::Serialize;
use sqlx::Row;

use super::floor::FloorRate;
use super::money::Currency;
use crate::db::Db;
use crate::error::{Error, Result};

/// One reference: from `effective_from` until the next one of its country
/// and currency.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct LegalMinimum {
    /// ISO 3166 alpha-2 country code (`FR`).
    pub country: String,
    /// ISO 4217 currency (`EUR`).
    pub currency: String,
    /// From when, ms since the epoch.
    pub effective_from: i64,
    /// Minor units per hour (gross), e.g. 1202 for 12.02 EUR.
    pub per_hour: i64,
    /// What it is, as published (`SMIC horaire brut 2027`).
    pub label: String,
    /// When the operator recorded it.
    pub set_at: i64,
}

/// A country code: two ASCII capital letters.
pub fn check_country(country: &str) -> Result<String> {
    let c = country.trim().to_ascii_uppercase();
    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::Invalid(format!(
            "country {country:?} is not an ISO 3166 alpha-2 code such as FR"
        )));
    }
    Ok(c)
}

/// Record a reference (the operator). One per country, currency and date:
/// setting the same date again corrects it.
pub async fn set(
    db: &Db,
    country: &str,
    currency: &str,
    effective_from: i64,
    per_hour: i64,
    label: &str,
    now_ms: i64,
) -> Result<LegalMinimum> {
    let country = check_country(country)?;
    let currency = Currency::parse(currency).map_err(|e| Error::Invalid(e.to_string()))?;
    if per_hour <= 0 {
        return Err(Error::Invalid(
            "per_hour must be a positive amount in minor units".into(),
        ));
    }
    let label = label.trim();
    if label.is_empty() || label.len() > 200 {
        return Err(Error::Invalid(
            "give a label of 1 to 200 characters (what the reference is, as published)".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO legal_minimums (country, currency, effective_from, per_hour, label, set_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (country, currency, effective_from) \
         DO UPDATE SET per_hour = excluded.per_hour, label = excluded.label, set_at = excluded.set_at",
    )
    .bind(&country)
    .bind(currency.as_str())
    .bind(effective_from)
    .bind(per_hour)
    .bind(label)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(LegalMinimum {
        country,
        currency: currency.as_str().to_string(),
        effective_from,
        per_hour,
        label: label.to_string(),
        set_at: now_ms,
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> LegalMinimum {
    LegalMinimum {
        country: r.get(0),
        currency: r.get(1),
        effective_from: r.get(2),
        per_hour: r.get(3),
        label: r.get(4),
        set_at: r.get(5),
    }
}

const COLUMNS: &str = "country, currency, effective_from, per_hour, label, set_at";

/// Every reference, by country, currency and date.
pub async fn list(db: &Db) -> Result<Vec<LegalMinimum>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM legal_minimums ORDER BY country, currency, effective_from"
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Set the host's default country (for coops that name none).
pub async fn set_default_country(db: &Db, country: &str) -> Result<String> {
    let country = check_country(country)?;
    sqlx::query(
        "INSERT INTO host_settings (name, value) VALUES ('default_country', $1) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(&country)
    .execute(&db.pool)
    .await?;
    Ok(country)
}

/// Set the country a coop is in (the operator).
pub async fn set_coop_country(db: &Db, coop_id: i64, country: &str) -> Result<String> {
    let country = check_country(country)?;
    sqlx::query("UPDATE coops SET country = $1 WHERE id = $2")
        .bind(&country)
        .bind(coop_id)
        .execute(&db.pool)
        .await?;
    Ok(country)
}

/// The country whose references apply to `coop_id`: its own, else the
/// host's default; `None` when neither is set.
pub async fn coop_country(conn: &mut sqlx::AnyConnection, coop_id: i64) -> Result<Option<String>> {
    let own: Option<String> = sqlx::query("SELECT country FROM coops WHERE id = $1")
        .bind(coop_id)
        .fetch_optional(&mut *conn)
        .await?
        .and_then(|r| r.get(0));
    if own.is_some() {
        return Ok(own);
    }
    Ok(
        sqlx::query("SELECT value FROM host_settings WHERE name = 'default_country'")
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.get(0)),
    )
}

/// The references that apply to `coop_id` in `currency`, oldest first
/// (empty when none is set for its country).
pub async fn for_coop(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    currency: &str,
) -> Result<Vec<LegalMinimum>> {
    let mut refs = for_coop_any_currency(conn, coop_id).await?;
    refs.retain(|r| r.currency == currency);
    Ok(refs)
}

/// Every reference of the coop's country, whatever the currency.
pub async fn for_coop_any_currency(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
) -> Result<Vec<LegalMinimum>> {
    let Some(country) = coop_country(conn, coop_id).await? else {
        return Ok(vec![]);
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM legal_minimums WHERE country = $1 ORDER BY currency, effective_from"
    ))
    .bind(&country)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The references as floor rates.
pub fn rates(refs: &[LegalMinimum]) -> Vec<FloorRate> {
    refs.iter()
        .map(|r| FloorRate {
            effective_from: r.effective_from,
            per_hour: r.per_hour,
        })
        .collect()
}

/// The reference in force at `at`, if any.
pub fn in_force(refs: &[LegalMinimum], at: i64) -> Option<&LegalMinimum> {
    refs.iter()
        .filter(|r| r.effective_from <= at)
        .max_by_key(|r| r.effective_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_two_capital_letters() {
        assert_eq!(check_country("fr").unwrap(), "FR");
        assert_eq!(check_country(" BE ").unwrap(), "BE");
        for bad in ["", "F", "FRA", "F1", "É"] {
            assert!(check_country(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reference_in_force_is_the_latest_started() {
        let r = |from, per_hour| LegalMinimum {
            country: "FR".into(),
            currency: "EUR".into(),
            effective_from: from,
            per_hour,
            label: "SMIC".into(),
            set_at: 0,
        };
        let refs = [r(100, 1167), r(200, 1188)];
        assert_eq!(in_force(&refs, 99), None);
        assert_eq!(in_force(&refs, 100).map(|r| r.per_hour), Some(1167));
        assert_eq!(in_force(&refs, 250).map(|r| r.per_hour), Some(1188));
    }
}
