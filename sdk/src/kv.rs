//! JSON values in the plugin's store, with versions and member tags.
//!
//! Each record carries a version (for compare-and-swap with [`swap`]) and
//! optionally the member it concerns, so the host can export and erase a
//! member's data without the plugin's help.
//!
//! Reads and writes of one call are one transaction (see
//! [`crate::store`]): a call that returns an `err` leaves nothing behind.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{self, Entry, MAX_SCAN_LIMIT, Version};
use crate::{Error, MemberId, identity};

/// A value read from the store with its key, version and member tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The record's key.
    pub key: String,
    /// The decoded value.
    pub value: T,
    /// The record's version: pass it to [`swap`] to update it safely.
    pub version: Version,
    /// The member the record concerns, if any.
    pub member: Option<MemberId>,
}

/// The value at `key` with its version, or `None` if there is none.
///
/// Fails with `internal` when the stored bytes are not JSON for `T`.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<Versioned<T>>, Error> {
    store::get(key)?.map(decode).transpose()
}

/// Write `value` at `key` whatever its current version, tagged with the
/// caller's member id (no tag for anonymous and host calls). Returns the
/// new version.
pub fn put<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Version, Error> {
    let member = identity::member_id();
    put_for(key, value, member.as_deref())
}

/// Write `value` at `key` whatever its current version, tagged with
/// `member` (`None`: data about nobody in particular). Returns the new
/// version.
pub fn put_for<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    member: Option<&str>,
) -> Result<Version, Error> {
    store::set(key, &encode(key, value)?, member)
}

/// Compare-and-swap: write `value` at `key` only if its version is
/// `expected` (`None`: only if the key does not exist yet). Fails with
/// `conflict` otherwise. Returns the new version.
///
/// The record gets no member tag: shared records (counters, board state)
/// are what compare-and-swap is usually for. Use [`swap_for`] to tag one.
pub fn swap<T: Serialize + ?Sized>(
    key: &str,
    expected: Option<Version>,
    value: &T,
) -> Result<Version, Error> {
    swap_for(key, expected, value, None)
}

/// [`swap`] that tags the record with `member`.
pub fn swap_for<T: Serialize + ?Sized>(
    key: &str,
    expected: Option<Version>,
    value: &T,
    member: Option<&str>,
) -> Result<Version, Error> {
    store::swap(key, expected, &encode(key, value)?, member)
}

/// Delete `key`; with `expected`, only at that version (`conflict`
/// otherwise). Returns whether a record was deleted.
pub fn delete(key: &str, expected: Option<Version>) -> Result<bool, Error> {
    store::delete(key, expected)
}

/// Every record whose key starts with `prefix`, in key order, decoded as
/// `T`. Pages through the store as many times as needed.
pub fn scan<T: DeserializeOwned>(prefix: &str) -> Result<Vec<Versioned<T>>, Error> {
    scan_entries(prefix, store::scan)?
        .into_iter()
        .map(decode)
        .collect()
}

/// How many records have a key starting with `prefix`.
pub fn count(prefix: &str) -> Result<usize, Error> {
    Ok(scan_entries(prefix, store::scan)?.len())
}

/// Collect every page of a prefix scan. `fetch` has the shape of
/// [`store::scan`]; it is a parameter so tests can page without a host.
fn scan_entries(
    prefix: &str,
    mut fetch: impl FnMut(&str, Option<&str>, u32) -> Result<Vec<Entry>, Error>,
) -> Result<Vec<Entry>, Error> {
    let mut all: Vec<Entry> = Vec::new();
    loop {
        let after = all.last().map(|e| e.key.clone());
        let page = fetch(prefix, after.as_deref(), MAX_SCAN_LIMIT)?;
        // Stop on an empty page rather than a short one: a host may cap
        // pages below what we asked for, and one more call is cheap.
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("failed to serialise the value for {key}: {e}")))
}

fn decode<T: DeserializeOwned>(entry: Entry) -> Result<Versioned<T>, Error> {
    let value = serde_json::from_slice(&entry.value).map_err(|e| {
        Error::internal(format!(
            "record {} is not the JSON this plugin expects: {e}",
            entry.key
        ))
    })?;
    Ok(Versioned {
        key: entry.key,
        value,
        version: entry.version,
        member: entry.member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, json: &str) -> Entry {
        Entry {
            key: key.to_string(),
            value: json.as_bytes().to_vec(),
            version: 1,
            member: None,
        }
    }

    #[test]
    fn scan_pages_until_an_empty_page() {
        let keys: Vec<String> = (0..5).map(|i| format!("k/{i}")).collect();
        let mut calls = Vec::new();
        // A host that returns at most two records per page.
        let all = scan_entries("k/", |prefix, after, _limit| {
            calls.push(after.map(str::to_string));
            Ok(keys
                .iter()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
                .take(2)
                .map(|k| entry(k, "1"))
                .collect())
        })
        .unwrap();
        let got: Vec<&str> = all.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(got, ["k/0", "k/1", "k/2", "k/3", "k/4"]);
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[1].as_deref(), Some("k/1"));
    }

    #[test]
    fn decode_reads_json_and_keeps_the_metadata() {
        let mut e = entry("n", "42");
        e.version = 7;
        e.member = Some("m-1".to_string());
        let v: Versioned<u32> = decode(e).unwrap();
        assert_eq!(v.value, 42);
        assert_eq!(v.version, 7);
        assert_eq!(v.member.as_deref(), Some("m-1"));
        let bad = decode::<u32>(entry("n", "\"x\"")).unwrap_err();
        assert_eq!(bad.kind(), "internal");
        assert!(bad.message().starts_with("record n "));
    }
}
