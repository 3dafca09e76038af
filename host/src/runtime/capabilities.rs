//! The one table of `coop:host` capabilities: every interface the world
//! `coop:host/plugin` imports, what it gives a plugin and whether a coop
//! grants it. The grant lists (install, proposals, the web form), the
//! SDK's module list and the README's capability table all follow from
//! it; tests check it against `wit/host/world.wit`, the SDK and the README.

/// One interface of `coop:host` that plugins import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Its short name, as in grants: `store`.
    pub name: &'static str,
    /// What it gives a plugin, in one line.
    pub gives: &'static str,
    /// Whether a coop must grant it; only `types` (no functions) needs none.
    pub grant: bool,
}

impl Capability {
    /// The full WIT interface name: `coop:host/store@0.1.0`.
    pub fn interface(&self) -> String {
        format!("{PACKAGE}/{}@{VERSION}", self.name)
    }
}

/// The package plugins import the capabilities from.
pub const PACKAGE: &str = "coop:host";
/// Its version.
pub const VERSION: &str = "0.1.0";

/// Every `coop:host` interface the world `plugin` imports, in the world's
/// order.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        name: "types",
        gives: "shared types (error, money, member id); no functions",
        grant: false,
    },
    Capability {
        name: "identity",
        gives: "who is calling (a member id private to the plugin, roles, college) and the coop's slug",
        grant: true,
    },
    Capability {
        name: "membership",
        gives: "read the coop's members (ids as this plugin sees them, roles, college, status)",
        grant: true,
    },
    Capability {
        name: "store",
        gives: "the plugin's own key-value store in this coop, versioned, written at the call's commit",
        grant: true,
    },
    Capability {
        name: "config",
        gives: "read the configuration values the coop set for the plugin",
        grant: true,
    },
    Capability {
        name: "events",
        gives: "emit events to members and subscribing plugins, written at the call's commit",
        grant: true,
    },
    Capability {
        name: "log",
        gives: "write to the host's log, capped per call",
        grant: true,
    },
    Capability {
        name: "shifts",
        gives: "read a worker's open shift (never start, end or change one)",
        grant: true,
    },
    Capability {
        name: "payments",
        gives: "charge, refund and settle orders through the ledger under the coop's voted split",
        grant: true,
    },
    Capability {
        name: "timers",
        gives: "ask the host to call the plugin's on-timer hook later",
        grant: true,
    },
    Capability {
        name: "moderation",
        gives: "flag a member for the admins (never suspend or remove anyone)",
        grant: true,
    },
    Capability {
        name: "ratings",
        gives: "record a rating of a worker, owned by the worker, and read summaries",
        grant: true,
    },
    Capability {
        name: "activity",
        gives: "count activity per zone for the coop's open data",
        grant: true,
    },
];

const fn grantable_count() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < CAPABILITIES.len() {
        if CAPABILITIES[i].grant {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn grantable_names() -> [&'static str; grantable_count()] {
    let mut out = [""; grantable_count()];
    let (mut i, mut j) = (0, 0);
    while i < CAPABILITIES.len() {
        if CAPABILITIES[i].grant {
            out[j] = CAPABILITIES[i].name;
            j += 1;
        }
        i += 1;
    }
    out
}

const GRANTABLE_NAMES: [&str; grantable_count()] = grantable_names();

/// The `coop:host` interfaces a coop can grant (short names), from
/// [`CAPABILITIES`].
pub const GRANTABLE: &[&str] = &GRANTABLE_NAMES;

/// The capability named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.name == name)
}

/// The README's capability table (Markdown), as written between its
/// `capabilities` markers.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| capability | WIT interface | what it gives | granted by the coop |\n|---|---|---|---|\n",
    );
    for c in CAPABILITIES {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            c.name,
            c.interface(),
            c.gives,
            if c.grant { "yes" } else { "no (always)" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{ROOT}/{path}"))
            .unwrap_or_else(|e| panic!("failed to read {path}: {e}"))
    }

    /// The interfaces the world `plugin` imports, in order.
    fn world_imports() -> Vec<String> {
        let world = read("wit/host/world.wit");
        let body = world
            .split("world plugin {")
            .nth(1)
            .expect("world.wit declares world plugin")
            .split('}')
            .next()
            .unwrap();
        body.lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("import "))
            .map(|l| l.trim_end_matches(';').trim().to_string())
            .collect()
    }

    #[test]
    fn the_table_is_exactly_what_the_world_imports() {
        let imports = world_imports();
        let names: Vec<&str> = CAPABILITIES.iter().map(|c| c.name).collect();
        assert_eq!(
            imports, names,
            "runtime::capabilities::CAPABILITIES must list wit/host/world.wit's imports, in order"
        );
        for c in CAPABILITIES {
            let wit = read(&format!("wit/host/{}.wit", c.name));
            assert!(
                wit.contains(&format!("interface {} {{", c.name)),
                "wit/host/{}.wit does not define interface {}",
                c.name,
                c.name
            );
            assert!(
                wit.contains(&format!("package {PACKAGE}@{VERSION};")),
                "{} is not in {PACKAGE}@{VERSION}",
                c.name
            );
            // An interface with functions is something to grant.
            assert_eq!(
                c.grant,
                wit.contains(": func("),
                "{}: grant must be true exactly when the interface has functions",
                c.name
            );
            assert!(!c.gives.is_empty() && !c.gives.ends_with('.'));
        }
        assert!(GRANTABLE.contains(&"activity"));
        assert!(!GRANTABLE.contains(&"types"));
        assert_eq!(GRANTABLE.len(), CAPABILITIES.len() - 1);
    }

    /// Every host function checks the grant of a capability in the table,
    /// and every grantable capability is checked somewhere.
    #[test]
    fn the_host_gates_exactly_the_grantable_capabilities() {
        let host = read("host/src/runtime/host.rs");
        let mut gated: Vec<String> = Vec::new();
        for call in ["gate(\"", "gate_or_trap(\""] {
            for part in host.split(call).skip(1) {
                gated.push(part.split('"').next().unwrap().to_string());
            }
        }
        gated.sort();
        gated.dedup();
        let mut want: Vec<String> = GRANTABLE.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(gated, want);
    }

    /// The SDK (a separate crate, which cannot use this table) maps every
    /// capability in `generate!` and has a module for each grantable one.
    #[test]
    fn the_sdk_covers_every_capability() {
        let lib = read("sdk/src/lib.rs");
        let mut mapped: Vec<String> = lib
            .split(&format!("\"{PACKAGE}/"))
            .skip(1)
            .map(|p| p.split('@').next().unwrap().to_string())
            .collect();
        mapped.sort();
        let mut all: Vec<String> = CAPABILITIES.iter().map(|c| c.name.to_string()).collect();
        all.sort();
        assert_eq!(mapped, all, "sdk/src/lib.rs generate! `with` map");
        let mut modules: Vec<String> = lib
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub mod "))
            .map(|m| m.trim_end_matches(';').trim_end_matches(" {").to_string())
            .collect();
        // Helpers of the SDK's own, not capabilities.
        const SDK_EXTRAS: [&str; 2] = ["kv", "wit"];
        modules.retain(|m| !SDK_EXTRAS.contains(&m.as_str()));
        modules.sort();
        let want: Vec<String> = all.iter().map(|n| n.replace('-', "_")).collect();
        assert_eq!(modules, want, "sdk/src/lib.rs modules");
        for c in CAPABILITIES {
            assert!(
                lib.contains(&format!("[`{}`]", c.name.replace('-', "_"))),
                "the SDK's crate documentation does not name module {}",
                c.name
            );
        }
    }

    /// The README's table is this table; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn the_readme_table_is_generated_from_the_table() {
        let (start, end) = ("<!-- capabilities:start -->\n", "<!-- capabilities:end -->");
        let path = format!("{ROOT}/README.md");
        let readme = read("README.md");
        let (before, rest) = readme
            .split_once(start)
            .expect("README.md has a capabilities:start marker");
        let (table, after) = rest
            .split_once(end)
            .expect("README.md has a capabilities:end marker");
        let want = markdown_table();
        if table != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(&path, format!("{before}{start}{want}{end}{after}")).unwrap();
            } else {
                panic!(
                    "README.md's capability table is out of date; run with UPDATE_DOCS=1 to rewrite it:\n{want}"
                );
            }
        }
    }
}
