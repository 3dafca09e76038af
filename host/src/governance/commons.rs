//! The commons rules (issue 18, item 9): by default a coop accepts only
//! plugins under a free licence, and its open data carries a licence.
//!
//! "Free" means an SPDX licence identifier the Open Source Initiative
//! approves or the Free Software Foundation lists as free, in an SPDX
//! expression where every `AND` operand, and at least one side of each
//! `OR`, is free (`WITH` exceptions keep the licence they extend). The list
//! below is the common part of both lists that plugins actually use; a
//! licence not on it is refused with its name, and the coop may vote to
//! turn the rule off (`commons.free_plugins_only`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// SPDX identifiers of free licences (OSI-approved or FSF-free).
pub const FREE_LICENCES: &[&str] = &[
    "0BSD",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC0-1.0",
    "CECILL-2.1",
    "EPL-2.0",
    "EUPL-1.2",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MPL-2.0",
    "OSL-3.0",
    "Unlicense",
    "UPL-1.0",
    "Zlib",
];

/// Licences the coop's open data may carry.
pub const OPEN_DATA_LICENCES: &[&str] = &["ODbL-1.0", "etalab-2.0", "CC-BY-4.0", "CC0-1.0"];

/// What the coop shares with the commons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CommonsRules {
    /// Accept only plugins under a free licence (on by default).
    pub free_plugins_only: bool,
    /// The licence the open-data exports carry (`ODbL-1.0` by default,
    /// or `etalab-2.0`, `CC-BY-4.0`, `CC0-1.0`).
    pub open_data_licence: String,
}

impl Default for CommonsRules {
    fn default() -> CommonsRules {
        CommonsRules {
            free_plugins_only: true,
            open_data_licence: "ODbL-1.0".into(),
        }
    }
}

impl CommonsRules {
    /// Refuse an open-data licence the host does not know.
    pub fn validate(&self) -> Result<()> {
        if !OPEN_DATA_LICENCES.contains(&self.open_data_licence.as_str()) {
            return Err(Error::Invalid(format!(
                "commons.open_data_licence {:?} is not one of {}",
                self.open_data_licence,
                OPEN_DATA_LICENCES.join(", ")
            )));
        }
        Ok(())
    }

    /// Refuse a plugin whose licence is not free when the rule is on.
    pub fn check_plugin(&self, name: &str, licence: &str) -> Result<()> {
        if self.free_plugins_only && !is_free(licence) {
            return Err(Error::Invalid(format!(
                "{name} is licensed {licence:?}, which is not a free licence (an SPDX identifier \
                 approved by the OSI or listed as free by the FSF, such as AGPL-3.0-or-later, \
                 MIT or Apache-2.0): this coop's rules accept only free plugins \
                 (commons.free_plugins_only)"
            )));
        }
        Ok(())
    }
}

/// Whether an SPDX expression is free: each `AND` operand free, at least
/// one side of each `OR`; parentheses and `WITH` exceptions allowed.
pub fn is_free(expression: &str) -> bool {
    let tokens: Vec<String> = expression
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut pos = 0;
    let free = or_expr(&tokens, &mut pos);
    free == Some(true) && pos == tokens.len()
}

fn or_expr(t: &[String], pos: &mut usize) -> Option<bool> {
    let mut any = and_expr(t, pos)?;
    while t.get(*pos).is_some_and(|w| w == "OR") {
        *pos += 1;
        any |= and_expr(t, pos)?;
    }
    Some(any)
}

fn and_expr(t: &[String], pos: &mut usize) -> Option<bool> {
    let mut all = term(t, pos)?;
    while t.get(*pos).is_some_and(|w| w == "AND") {
        *pos += 1;
        all &= term(t, pos)?;
    }
    Some(all)
}

fn term(t: &[String], pos: &mut usize) -> Option<bool> {
    let word = t.get(*pos)?;
    *pos += 1;
    let free = if word == "(" {
        let inner = or_expr(t, pos)?;
        if t.get(*pos).map(String::as_str) != Some(")") {
            return None;
        }
        *pos += 1;
        inner
    } else if matches!(word.as_str(), ")" | "AND" | "OR" | "WITH") {
        return None;
    } else {
        FREE_LICENCES.contains(&word.as_str())
    };
    if t.get(*pos).is_some_and(|w| w == "WITH") {
        // The exception named next widens what the licence allows.
        t.get(*pos + 1)?;
        *pos += 2;
    }
    Some(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_expressions_and_the_rest() {
        for free in [
            "MIT",
            "AGPL-3.0-or-later",
            "MIT OR Apache-2.0",
            "Apache-2.0 WITH LLVM-exception",
            "(MIT OR Proprietary) AND BSD-3-Clause",
            "GPL-2.0-only OR LicenseRef-commercial",
        ] {
            assert!(is_free(free), "{free}");
        }
        for not_free in [
            "",
            "LicenseRef-proprietary",
            "BUSL-1.1",
            "SSPL-1.0",
            "MIT AND LicenseRef-proprietary",
            "(MIT",
            "MIT OR",
            "WITH MIT",
            "mit",
        ] {
            assert!(!is_free(not_free), "{not_free}");
        }
    }

    #[test]
    fn the_rule_is_on_by_default_and_names_the_licence() {
        let rules = CommonsRules::default();
        assert!(rules.check_plugin("p", "MIT").is_ok());
        let e = rules.check_plugin("p", "BUSL-1.1").unwrap_err().to_string();
        assert!(
            e.contains("BUSL-1.1") && e.contains("free_plugins_only"),
            "{e}"
        );
        let off = CommonsRules {
            free_plugins_only: false,
            ..CommonsRules::default()
        };
        assert!(off.check_plugin("p", "BUSL-1.1").is_ok());
        assert!(rules.validate().is_ok());
        let bad = CommonsRules {
            open_data_licence: "All rights reserved".into(),
            ..CommonsRules::default()
        };
        assert!(bad.validate().is_err());
    }
}
