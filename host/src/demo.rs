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
        add_people(
            app,
            &coop,
            &[
                (ADMIN_EMAIL, "Demo Admin", &["admin", "member"]),
                ("alice@demo.coop", "Alice", &["worker", "member"]),
                ("bob@demo.coop", "Bob", &["worker", "member"]),
            ],
        )
        .await?;
        install_beside(app, &coop, &wasm).await?;
        seed_money(app, coop.id).await?;
        println!(
            "demo coop {slug} ready: log in as {ADMIN_EMAIL} (or alice@demo.coop, bob@demo.coop) with password {PASSWORD}"
        );
    }
    seed_delivery(app, dir).await
}

/// The demo delivery coop `velo`: the bike-delivery plugin with its default
/// pricing rules, a bakery, its merchant account, three couriers and a
/// dispatcher, and the same split and floor as the other demo coops.
async fn seed_delivery(app: &App, dir: &Path) -> anyhow::Result<()> {
    const SLUG: &str = "velo";
    if identity::find_coop(&app.db, SLUG).await.is_ok() {
        return Ok(());
    }
    let wasm = dir.join("bike-delivery.wasm");
    if !wasm.exists() {
        tracing::warn!(component = %wasm.display(), "demo component missing; skipping coop {SLUG}");
        return Ok(());
    }
    let coop =
        identity::create_coop(&app.db, &*app.clock, SLUG, "Vélo Lyon (demo delivery coop)").await?;
    let added = add_people(
        app,
        &coop,
        &[
            (
                "admin@velo.coop",
                "Vélo Admin",
                &["admin", "dispatcher", "member"],
            ),
            (
                "shop@velo.coop",
                "Boulangerie du Rhône",
                &["merchant", "member"],
            ),
            ("ana@velo.coop", "Ana", &["worker", "member"]),
            ("ben@velo.coop", "Ben", &["worker", "member"]),
            ("chloe@velo.coop", "Chloé", &["worker", "member"]),
        ],
    )
    .await?;
    install_beside(app, &coop, &wasm).await?;
    seed_money(app, coop.id).await?;
    let admin = &added[0];
    let actor = crate::identity::Actor {
        coop_id: coop.id,
        member_id: Some(admin.id),
        service_key: None,
        roles: vec!["admin".into(), "dispatcher".into(), "member".into()],
        college: None,
        operator: false,
    };
    let store = serde_json::json!({"store": {
        "id": "boulangerie", "name": "Boulangerie du Rhône", "merchant": null,
        "pickup-addresses": [{"label": "2 place Bellecour, 69002 Lyon",
            "point": {"lat": 45.7578, "lon": 4.8320}}],
        "packages": [{"id": "crate", "label": "Bread crate", "max-weight-g": 15000}],
        "slots": [{"id": "lunch", "label": "Lunch", "weekdays": [1, 2, 3, 4, 5],
            "starts": "12:00", "ends": "14:00", "cutoff": "11:00"}],
        "prior-notice-minutes": 20}});
    let out = app
        .call(&coop, actor, "coop:delivery/stores", "put-store", &store)
        .await
        .map_err(|e| anyhow::anyhow!("demo store: {e}"))?;
    if out.get("err").is_some() {
        anyhow::bail!("demo store refused: {out}");
    }
    println!(
        "demo coop {SLUG} ready (bike delivery): log in as admin@velo.coop (dispatcher), shop@velo.coop (merchant), ana@velo.coop, ben@velo.coop or chloe@velo.coop (couriers) with password {PASSWORD}"
    );
    Ok(())
}

/// Add demo members (email, name, roles) with the demo password.
async fn add_people(
    app: &App,
    coop: &crate::identity::Coop,
    people: &[(&str, &str, &[&str])],
) -> anyhow::Result<Vec<crate::identity::Member>> {
    let mut added = Vec::new();
    for (email, display_name, roles) in people {
        added.push(
            identity::add_member(
                &app.db,
                &*app.clock,
                coop,
                NewMember {
                    email: (*email).into(),
                    display_name: (*display_name).into(),
                    password: Some(PASSWORD.into()),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    college: None,
                },
            )
            .await?,
        );
    }
    Ok(added)
}

/// Install the component `wasm` with the manifest beside it (`.toml`).
async fn install_beside(
    app: &App,
    coop: &crate::identity::Coop,
    wasm: &Path,
) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(wasm).with_context(|| format!("failed to read {}", wasm.display()))?;
    let manifest = std::fs::read_to_string(wasm.with_extension("toml"))
        .with_context(|| format!("failed to read the manifest beside {}", wasm.display()))?;
    plugins::install(app, coop, &bytes, &manifest, &Default::default()).await?;
    Ok(())
}

/// The demo coop's voted split, earnings floor and payout account, so
/// statements, floor runs and payout previews have something to show.
async fn seed_money(app: &App, coop_id: i64) -> anyhow::Result<()> {
    use crate::ledger::policies::{self, NewFloor, OnShortfall};
    use crate::ledger::split::{FeeBearer, SplitTerms};
    let now = app.clock.now_ms();
    let terms = SplitTerms::Commission {
        worker_share_bp: 8_000,
        reserve_share_of_commission_bp: 3_000,
        solidarity_share_of_commission_bp: 5_000,
        community_share_of_commission_bp: 1_000,
        processor_fee_bp: 100,
        processor_fee_fixed: 25,
        processor_fee_borne_by: FeeBearer::Coop,
        cae_fee_bp: 1_000,
    };
    policies::set_split(
        &app.db,
        coop_id,
        terms,
        now,
        None,
        "demo: the founders' split",
        now,
    )
    .await?;
    let floor = NewFloor {
        per_hour: 1_202,
        currency: "EUR".into(),
        effective_from: Some(now),
        on_shortfall: OnShortfall::TopUp,
        reason: "demo: about the French SMIC".into(),
    };
    let floor_record = policies::set_floor(&app.db, coop_id, &floor, None, now).await?;
    // Recorded like any direct change (the demo coop is in bootstrap mode).
    let host = crate::identity::Actor::host(coop_id);
    for (kind, what) in [
        (
            crate::governance::rules::Kind::SetSplit,
            serde_json::json!({"demo": "the founders' split", "version": 1}),
        ),
        (
            crate::governance::rules::Kind::SetFloor,
            serde_json::json!({"floor": floor_record}),
        ),
    ] {
        crate::governance::proposals::record_direct(&app.db, coop_id, &host, kind, what, now)
            .await?;
    }
    let account = crate::payments::payouts::BankDetails {
        holder_name: "Demo Courier Coop".into(),
        iban: "FR14 2004 1010 0505 0001 3M02 606".into(),
        bic: Some("PSSTFRPPXXX".into()),
    };
    crate::payments::payouts::set_bank_account(
        &app.db,
        coop_id,
        crate::payments::payouts::COOP_ACCOUNT,
        &account,
        now,
    )
    .await?;
    Ok(())
}
