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
                (ADMIN_EMAIL, "Demo Admin", &["admin", "member"], None),
                ("alice@demo.coop", "Alice", &["worker", "member"], None),
                ("bob@demo.coop", "Bob", &["worker", "member"], None),
            ],
        )
        .await?;
        install_beside(app, &coop, &wasm).await?;
        seed_money(app, coop.id, app.clock.now_ms()).await?;
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
                Some(FOUNDERS),
            ),
            (
                "shop@velo.coop",
                "Boulangerie du Rhône",
                &["merchant", "member"],
                Some(CUSTOMERS),
            ),
            ("ana@velo.coop", "Ana", &["worker", "member"], Some(WORKERS)),
            ("ben@velo.coop", "Ben", &["worker", "member"], Some(WORKERS)),
            (
                "chloe@velo.coop",
                "Chloé",
                &["worker", "member"],
                Some(WORKERS),
            ),
        ],
    )
    .await?;
    install_beside(app, &coop, &wasm).await?;
    // The money rules and the couriers' past work come first: the decision
    // log is in time order, and the governance history starts 40 days ago.
    let since = history_start(app.clock.now_ms());
    seed_money(app, coop.id, since).await?;
    seed_pay_history(app, coop.id, &added[2..], since).await?;
    seed_governance(app, &coop, &added).await?;
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

/// A demo person: email, name, roles and college.
type Person<'a> = (&'a str, &'a str, &'a [&'a str], Option<&'a str>);

/// The demo delivery coop's colleges (a SCIC's: the couriers, the
/// merchants who order, the founders).
const WORKERS: &str = "workers";
const CUSTOMERS: &str = "customers";
const FOUNDERS: &str = "founders";
/// Title of the demo's decided proposal.
pub const DECIDED_TITLE: &str = "Winter kit for every courier";
/// Title of the demo's proposal still open for votes.
pub const OPEN_TITLE: &str = "Raise the price per km to 1.70 EUR";

/// The delivery coop's governance history, written through the governance
/// functions with past dates, so the pages have something to show at once:
/// terms in effect and a new version in its notice period, rules with three
/// weighted colleges, a resolution voted five days ago (decided, applied,
/// in the decision log with its tally per college), and a proposal open
/// for four more days that the couriers have not voted on yet.
///
/// `people` are the members added by [`seed_delivery`], in its order:
/// admin, shop, ana, ben, chloe.
async fn seed_governance(
    app: &App,
    coop: &crate::identity::Coop,
    people: &[crate::identity::Member],
) -> anyhow::Result<()> {
    use crate::governance::proposals::{self, Change, NewProposal};
    use crate::governance::rules::{CollegeWeight, KindRules, Rules};
    use crate::governance::tally::{Choice, EmptyCollege, Method, VoteRules};
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    let [admin, shop, ana, ben, chloe] = people else {
        anyhow::bail!("the demo delivery coop has five people");
    };
    let now = app.clock.now_ms();
    let host = crate::identity::Actor::host(coop.id);
    let as_actor = |m: &crate::identity::Member| crate::identity::Actor {
        coop_id: coop.id,
        member_id: Some(m.id),
        service_key: None,
        roles: m.roles.clone(),
        college: m.college.clone(),
        operator: false,
    };
    let terms_v1 = "1. Couriers see the pay of a delivery before they accept it.\n\
                    2. Pay is at least the floor the members vote, per hour on shift.\n\
                    3. A courier may appeal a suspension within 30 days.";
    proposals::direct_change(
        app,
        coop.id,
        &host,
        &Change::AdoptTerms {
            text: terms_v1.into(),
        },
        "demo: the founders' terms",
        now - 40 * DAY,
    )
    .await?;
    // The founding assembly: three colleges, votes weighted by college.
    // Admins keep their direct powers (the demo is for trying things).
    let rules = Rules {
        colleges: vec![
            CollegeWeight {
                name: WORKERS.into(),
                weight_bp: 5_000,
            },
            CollegeWeight {
                name: CUSTOMERS.into(),
                weight_bp: 3_000,
            },
            CollegeWeight {
                name: FOUNDERS.into(),
                weight_bp: 2_000,
            },
        ],
        default_vote: KindRules {
            vote: VoteRules {
                method: Method::CollegeWeighted,
                quorum_bp: 2_000,
                threshold_bp: 5_000,
                empty_college: EmptyCollege::Exclude,
            },
            min_window_hours: 72,
            min_delay_hours: 0,
        },
        ..Rules::default()
    };
    proposals::direct_change(
        app,
        coop.id,
        &host,
        &Change::SetRules { rules },
        "demo: the founding assembly adopts SCIC colleges",
        now - 6 * DAY,
    )
    .await?;
    // Five days ago: a resolution, voted by everyone, decided and applied.
    let opened = now - 5 * DAY;
    let decided = proposals::open(
        &app.db,
        coop.id,
        ana.id,
        &NewProposal {
            title: DECIDED_TITLE.into(),
            body: "The coop buys a waterproof jacket, gloves and lights for every courier \
                   before December, paid from the reserve."
                .into(),
            change: Change::Resolution {},
            window_hours: Some(72),
            effective_at: None,
        },
        opened,
    )
    .await?;
    let ballots = [
        (ana, Choice::Yes, ""),
        (ben, Choice::Yes, ""),
        (
            chloe,
            Choice::No,
            "I would rather raise the floor and let each courier buy their own kit.",
        ),
        (shop, Choice::Yes, "Dry couriers, dry bread."),
        (admin, Choice::Abstain, ""),
    ];
    for (i, (member, choice, reason)) in ballots.into_iter().enumerate() {
        let at = opened + (i as i64 + 1) * 3 * HOUR;
        proposals::vote(
            &app.db,
            coop.id,
            decided.id,
            &as_actor(member),
            choice,
            reason,
            at,
        )
        .await?;
    }
    proposals::close(&app.db, coop.id, decided.id, decided.closes_at).await?;
    proposals::apply(app, coop.id, decided.id, decided.effective_at).await?;
    // New terms, in their notice period.
    let terms_v2 = "1. Couriers see the pay of a delivery before they accept it.\n\
                    2. Pay is at least the floor the members vote, per hour on shift.\n\
                    3. A courier may appeal a suspension within 45 days.\n\
                    4. Delivery data stays in the European Union.";
    proposals::direct_change(
        app,
        coop.id,
        &host,
        &Change::AdoptTerms {
            text: terms_v2.into(),
        },
        "demo: longer appeals, data location",
        now - DAY,
    )
    .await?;
    // Open now, for four more days: the couriers have not voted yet.
    let opened = now - 2 * HOUR;
    let open = proposals::open(
        &app.db,
        coop.id,
        ben.id,
        &NewProposal {
            title: OPEN_TITLE.into(),
            body: "Fuel is not our cost, but tyres, brakes and chains are. \
                   Raising the distance rate from 1.50 to 1.70 EUR per km keeps our pay \
                   above the floor on long deliveries."
                .into(),
            change: Change::SetConfig {
                plugin: "bike-delivery".into(),
                name: "price-per-km".into(),
                value: serde_json::json!(170),
            },
            window_hours: Some(98),
            effective_at: None,
        },
        opened,
    )
    .await?;
    proposals::vote(
        &app.db,
        coop.id,
        open.id,
        &as_actor(shop),
        Choice::No,
        "Our customers would pay more for each delivery.",
        opened + HOUR,
    )
    .await?;
    Ok(())
}

/// Add demo members with the demo password.
async fn add_people(
    app: &App,
    coop: &crate::identity::Coop,
    people: &[Person<'_>],
) -> anyhow::Result<Vec<crate::identity::Member>> {
    let mut added = Vec::new();
    for (email, display_name, roles, college) in people {
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
                    college: college.map(str::to_string),
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

/// The demo coop's voted split, earnings floor and payout account, set at
/// `now` (a past date for the delivery coop, whose pay history starts
/// then), so statements, floor runs and payout previews have something to
/// show.
async fn seed_money(app: &App, coop_id: i64, now: i64) -> anyhow::Result<()> {
    use crate::ledger::policies::{self, NewFloor, OnShortfall};
    use crate::ledger::split::{FeeBearer, SplitTerms};
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
    // The host's legal reference for France (the operator's to keep up to
    // date: `coophost legal-minimum set`), and the demo coop's country.
    crate::ledger::legal_minimum::set_default_country(&app.db, "FR").await?;
    crate::ledger::legal_minimum::set(
        &app.db,
        "FR",
        "EUR",
        crate::ledger::period::days_from_civil(2026, 1, 1) * 86_400_000,
        1_202,
        "SMIC horaire brut (demo figure)",
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

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Where the delivery coop's pay history starts: the first day of the
/// month 45 days back, so at least one whole month is over (its floor has
/// run) and the history begins before the governance history does.
pub fn history_start(now: i64) -> i64 {
    crate::ledger::period::Month::containing(now - 45 * DAY_MS).start_ms()
}

/// The couriers' past work in the delivery coop, from `since` to
/// yesterday: weekday lunch shifts (10:30 to 13:00 UTC, four a week each)
/// and the deliveries settled in them, posted through the ledger's own
/// functions with their past dates (each order charged into escrow, then
/// split under the coop's policy), and the earnings floor run for each
/// month that is over. The last courier has quieter days and falls under
/// the floor, so the floor run tops them up from the solidarity fund (as
/// far as it goes; the rest is flagged). The orders predate the
/// plugin: they are in the books and statements, not in its delivery
/// lists.
async fn seed_pay_history(
    app: &App,
    coop_id: i64,
    couriers: &[crate::identity::Member],
    since: i64,
) -> anyhow::Result<()> {
    use crate::ledger::hold::Hold;
    use crate::ledger::money::{Currency, Money};
    use crate::ledger::period::Month;
    let now = app.clock.now_ms();
    let policy = crate::ledger::policies::split_in_effect(&app.db, coop_id, since)
        .await?
        .context("the demo split is in effect from the start of the history")?;
    // Each month's floor runs when the month ends, as the scheduler would:
    // its top-ups draw on the solidarity fund as it stood then.
    let mut month = Month::containing(since);
    for day in since.div_euclid(DAY_MS)..now.div_euclid(DAY_MS) {
        if day * DAY_MS >= month.end_ms() {
            crate::payments::floor_run::run(&app.db, coop_id, month, month.end_ms()).await?;
            month = month.next();
        }
        // 1970-01-01 was a Thursday: weekday 0 is Monday.
        let weekday = (day + 3).rem_euclid(7);
        if weekday >= 5 {
            continue;
        }
        for (i, courier) in couriers.iter().enumerate() {
            let i = i as i64;
            if (weekday + i) % 5 == 4 {
                continue;
            }
            let start = day * DAY_MS + 10 * HOUR_MS + 30 * MINUTE_MS;
            crate::shifts::start(&app.db, coop_id, courier.id, start).await?;
            // Two to six deliveries a shift (about 14 EUR an hour net),
            // and one to three for the last courier (about 7).
            let quiet = i + 1 == couriers.len() as i64;
            let orders = if quiet {
                1 + (day * 7 + i * 3).rem_euclid(3)
            } else {
                2 + (day * 7 + i * 3).rem_euclid(5)
            };
            let status = crate::shifts::status(&app.db, coop_id, courier.id).await?;
            for k in 0..orders {
                // Every 20 minutes from 10:45, each settled 20 minutes
                // later: the sixth at 12:45, within the shift.
                let at = start + 15 * MINUTE_MS + k * 20 * MINUTE_MS;
                let gross = Money::new(
                    650 + (day * 31 + k * 17 + i * 13).rem_euclid(9) * 110,
                    Currency::EUR,
                );
                let order_ref = format!("bike-delivery.demo-{day}-{}-{k}", courier.id);
                let (_, charge) = Hold::authorise(&order_ref, gross, at, at + HOUR_MS)?;
                crate::ledger::repo::post(&app.db, coop_id, &charge).await?;
                let settled_at = at + 20 * MINUTE_MS;
                let settlement = crate::ledger::split::settle(
                    gross, &policy, &status, courier.id, &order_ref, settled_at,
                )?;
                crate::payments::settle(&app.db, coop_id, settlement, &policy, settled_at).await?;
            }
            crate::shifts::end(&app.db, coop_id, courier.id, start + 150 * MINUTE_MS).await?;
        }
    }
    while month.end_ms() <= now {
        crate::payments::floor_run::run(&app.db, coop_id, month, month.end_ms()).await?;
        month = month.next();
    }
    Ok(())
}
