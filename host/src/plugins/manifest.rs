//! `plugin.toml`: what WIT cannot say about a plugin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The role that opens a function to callers who are not logged in.
pub const ANYONE: &str = "anyone";

/// A parsed, checked manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, version, licence, source.
    pub plugin: PluginMeta,
    /// Configuration parameters the coop can set, by name.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigParam>,
    /// Which roles may call each exported function, by function name (or
    /// `interface#function` where two interfaces export the same name).
    /// Functions not listed are open to admins only.
    #[serde(default)]
    pub access: BTreeMap<String, Vec<String>>,
    /// The algorithm card: how the plugin prices and assigns work, in plain
    /// words and parameters.
    #[serde(default)]
    pub algorithm: Option<toml::Table>,
    /// The events the plugin receives through `coop:host/subscriber`.
    #[serde(default)]
    pub events: Option<EventsSection>,
    /// The personal-data categories the plugin handles, by category name
    /// (see [`crate::consent::CATEGORIES`]), each with its purpose, legal
    /// basis and store key prefixes.
    #[serde(default)]
    pub data: BTreeMap<String, crate::consent::DataCategory>,
}

/// The `[events]` table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSection {
    /// Topics to receive: exact (`order.created`), a prefix ending in `*`
    /// (`order.*`), or `*` for every event of the coop.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

impl EventsSection {
    /// Whether `topic` matches one of the subscriptions.
    pub fn wants(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|s| match s.strip_suffix('*') {
            Some(prefix) => topic.starts_with(prefix),
            None => s == topic,
        })
    }
}

/// The `[plugin]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginMeta {
    /// Name, unique within a coop: `a-z0-9-`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// SPDX licence expression.
    pub licence: String,
    /// Where the source code is.
    pub source: String,
    /// One paragraph for people.
    #[serde(default)]
    pub description: String,
}

/// One configuration parameter.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigParam {
    /// `integer`, `number`, `string`, `boolean` or `json`.
    #[serde(rename = "type")]
    pub kind: ConfigKind,
    /// Value used until the coop sets one.
    pub default: toml::Value,
    /// What it means, for the people voting on it.
    #[serde(default)]
    pub description: String,
}

/// The type of a configuration value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigKind {
    /// A whole number (JSON integer).
    Integer,
    /// Any number.
    Number,
    /// Text.
    String,
    /// true or false.
    Boolean,
    /// Any JSON value.
    Json,
}

impl ConfigKind {
    /// Check that `value` has this type.
    pub fn check(self, name: &str, value: &serde_json::Value) -> Result<()> {
        let ok = match self {
            ConfigKind::Integer => value.is_i64() || value.is_u64(),
            ConfigKind::Number => value.is_number(),
            ConfigKind::String => value.is_string(),
            ConfigKind::Boolean => value.is_boolean(),
            ConfigKind::Json => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "config {name}: expected {}, got {value}",
                format!("{self:?}").to_lowercase()
            )))
        }
    }
}

impl Manifest {
    /// Parse and check a manifest.
    pub fn parse(text: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid plugin.toml: {e}")))?;
        let name = &m.plugin.name;
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(Error::Invalid(format!(
                "invalid plugin.toml: plugin.name {name:?} must be 1 to 64 characters of a-z, 0-9 and '-'"
            )));
        }
        semver::Version::parse(&m.plugin.version).map_err(|e| {
            Error::Invalid(format!(
                "invalid plugin.toml: plugin.version {:?} is not a semantic version: {e}",
                m.plugin.version
            ))
        })?;
        if m.plugin.licence.trim().is_empty() {
            return Err(Error::Invalid(
                "invalid plugin.toml: plugin.licence is required".into(),
            ));
        }
        for (name, c) in &m.data {
            crate::consent::check_category(name, c)
                .map_err(|e| Error::Invalid(format!("invalid plugin.toml: {e}")))?;
        }
        for (name, p) in &m.config {
            let json = toml_to_json(&p.default);
            p.kind
                .check(name, &json)
                .map_err(|e| Error::Invalid(format!("invalid plugin.toml: default of {e}")))?;
        }
        Ok(m)
    }

    /// The roles allowed to call `function` of `interface` (unqualified
    /// interface name, e.g. `shift-board`); `None` when the manifest does not
    /// list it, which means admins only.
    pub fn roles_for(&self, interface: &str, function: &str) -> Option<&[String]> {
        self.access
            .get(&format!("{interface}#{function}"))
            .or_else(|| self.access.get(function))
            .map(Vec::as_slice)
    }

    /// Default configuration values as JSON.
    pub fn config_defaults(&self) -> BTreeMap<String, serde_json::Value> {
        self.config
            .iter()
            .map(|(k, p)| (k.clone(), toml_to_json(&p.default)))
            .collect()
    }
}

/// A TOML value as JSON.
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
[plugin]
name = "shift-board"
version = "0.1.0"
licence = "Apache-2.0"
source = "https://example.invalid/x"

[config.max-shifts-per-week]
type = "integer"
default = 3

[access]
list-shifts = ["member"]
"shift-board#claim-shift" = ["worker"]
"#;

    #[test]
    fn parses_and_resolves_access() {
        let m = Manifest::parse(OK).unwrap();
        assert_eq!(
            m.roles_for("shift-board", "list-shifts").unwrap(),
            ["member"]
        );
        assert_eq!(
            m.roles_for("shift-board", "claim-shift").unwrap(),
            ["worker"]
        );
        assert!(m.roles_for("shift-board", "post-shift").is_none());
        assert_eq!(
            m.config_defaults()["max-shifts-per-week"],
            serde_json::json!(3)
        );
    }

    #[test]
    fn rejects_bad_manifests_with_reasons() {
        let bad_version = OK.replace("0.1.0", "one");
        let e = Manifest::parse(&bad_version).unwrap_err().to_string();
        assert!(e.contains("not a semantic version"), "{e}");
        let bad_default = OK.replace("default = 3", "default = \"three\"");
        let e = Manifest::parse(&bad_default).unwrap_err().to_string();
        assert!(e.contains("expected integer"), "{e}");
        let unknown = format!("{OK}\n[surprise]\nx = 1\n");
        let e = Manifest::parse(&unknown).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
