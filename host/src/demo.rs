//! `coophost serve --demo DIR`: a demo coop with members and the example
//! plugins, so a newcomer can try the API at once.

use std::path::Path;

use anyhow::Context;

use crate::app::App;
use crate::identity::{self, NewMember};
use crate::plugins;

/// Demo admin login.
pub const ADMIN_EMAIL: &str = "admin@demo.coop";
/// Demo password for every demo account (the demo is for trying only).
pub const PASSWORD: &str = "demo-password-123";

/// Create the demo coops (one per example plugin language) if missing.
pub async fn seed(app: &App, dir: &Path) -> anyhow::Result<()> {
    let coops = [
        ("demo", "Demo Courier Coop", "shift-board-rs"),
        ("demo-py", "Demo Coop (Python plugin)", "shift-board-py"),
        ("demo-js", "Demo Coop (JavaScript plugin)", "shift-board-js"),
    ];
    for (slug, name, plugin) in coops {
        if identity::find_coop(&app.db, slug).await.is_ok() {
            continue;
        }
        let wasm = dir.join(format!("{plugin}.wasm"));
        if !wasm.exists() {
            tracing::warn!(component = %wasm.display(), "demo component missing; skipping coop {slug}");
            continue;
        }
        let coop = identity::create_coop(&app.db, &*app.clock, slug, name).await?;
        let people = [
            (ADMIN_EMAIL, "Demo Admin", vec!["admin", "member"]),
            ("alice@demo.coop", "Alice", vec!["worker", "member"]),
            ("bob@demo.coop", "Bob", vec!["worker", "member"]),
        ];
        for (email, display_name, roles) in people {
            identity::add_member(
                &app.db,
                &*app.clock,
                &coop,
                NewMember {
                    email: email.into(),
                    display_name: display_name.into(),
                    password: Some(PASSWORD.into()),
                    roles: roles.into_iter().map(String::from).collect(),
                    college: None,
                },
            )
            .await?;
        }
        let bytes =
            std::fs::read(&wasm).with_context(|| format!("failed to read {}", wasm.display()))?;
        let manifest = std::fs::read_to_string(wasm.with_extension("toml"))
            .with_context(|| format!("failed to read the manifest beside {}", wasm.display()))?;
        plugins::install(app, &coop, &bytes, &manifest, &Default::default()).await?;
        println!(
            "demo coop {slug} ready: log in as {ADMIN_EMAIL} (or alice@demo.coop, bob@demo.coop) with password {PASSWORD}"
        );
    }
    Ok(())
}
