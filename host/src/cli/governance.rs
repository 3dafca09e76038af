//! `coophost decisions ...`: read and verify a coop's hash-chained
//! decision log from the command line.

use clap::Subcommand;

use super::{Settings, open};
use crate::chain;
use crate::governance::proposals::DECISIONS;
use crate::identity;

#[derive(Subcommand, Debug)]
pub(super) enum DecisionsCommand {
    /// Verify the chain: every entry links to the one before and hashes to
    /// its content. Exits non-zero, naming the first bad entry, if not.
    Verify {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Print the log, one entry per line (seq, time, kind, hash, body).
    List {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

pub(super) async fn run(settings: &Settings, cmd: DecisionsCommand) -> anyhow::Result<()> {
    run_chain(settings, cmd, DECISIONS, "decision log").await
}

/// `list` and `verify` of one hash chain (`decisions`, `audit`).
pub(super) async fn run_chain(
    settings: &Settings,
    cmd: DecisionsCommand,
    chain_name: &str,
    label: &str,
) -> anyhow::Result<()> {
    let app = open(settings).await?;
    match cmd {
        DecisionsCommand::Verify { coop } => {
            let coop = identity::find_coop(&app.db, &coop).await?;
            let db = if chain_name == crate::audit::AUDIT {
                &app.audit_db
            } else {
                &app.db
            };
            let v = chain::verify(db, chain_name, coop.id).await?;
            if v.ok {
                println!(
                    "{label} of {} verified: {} entries, head {}",
                    coop.slug, v.entries, v.head
                );
                Ok(())
            } else {
                let (seq, reason) = v
                    .problem
                    .map(|p| (p.seq, p.reason))
                    .unwrap_or((0, "unknown problem".into()));
                anyhow::bail!(
                    "{label} of {} does NOT verify at entry {seq}: {reason}",
                    coop.slug
                )
            }
        }
        DecisionsCommand::List { coop, after, limit } => {
            let coop = identity::find_coop(&app.db, &coop).await?;
            let db = if chain_name == crate::audit::AUDIT {
                &app.audit_db
            } else {
                &app.db
            };
            for e in chain::list(db, chain_name, coop.id, after, limit).await? {
                println!("{}\t{}\t{}\t{}\t{}", e.seq, e.at, e.kind, e.hash, e.body);
            }
            Ok(())
        }
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum GovernanceCommand {
    /// Print the coop's governance rules (JSON).
    Rules {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// List proposals, newest first: id, status, kind, closes, title.
    Proposals {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Print one proposal with its tally (JSON).
    Proposal {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The proposal id.
        id: i64,
    },
    /// Invite someone: the token is mailed to them (and printed here).
    Invite {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Their email.
        #[arg(long)]
        email: String,
        /// Their name.
        #[arg(long)]
        name: String,
        /// Roles, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "member")]
        role: Vec<String>,
        /// Their college.
        #[arg(long)]
        college: Option<String>,
    },
    /// List invitations and applications.
    Requests {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Approve (or with --reject, reject) a pending application.
    Decide {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The application id.
        id: i64,
        /// Reject instead of approving.
        #[arg(long)]
        reject: bool,
    },
    /// Print the terms: version in effect and pending versions with diffs.
    Terms {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// List appeals awaiting review (open or overdue), or every one with
    /// --all: id, status, member, decision, review due, reviewer.
    Appeals {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Include reviewed appeals.
        #[arg(long)]
        all: bool,
    },
}

pub(super) async fn run_governance(
    settings: &Settings,
    cmd: GovernanceCommand,
) -> anyhow::Result<()> {
    use crate::governance::{membership, proposals, rules, terms};
    let app = open(settings).await?;
    let now = app.clock.now_ms();
    let coop_of = |slug: String| {
        let db = app.db.clone();
        async move { identity::find_coop(&db, &slug).await }
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    match cmd {
        GovernanceCommand::Rules { coop } => {
            let coop = coop_of(coop).await?;
            let (version, r) = rules::current(&app.db, coop.id).await?;
            println!(
                "{}",
                pretty(&serde_json::json!({"version": version, "rules": r}))
            );
        }
        GovernanceCommand::Proposals { coop } => {
            let coop = coop_of(coop).await?;
            for p in proposals::list(&app.db, coop.id, 200).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    p.id,
                    p.status,
                    p.kind.name(),
                    p.closes_at,
                    p.title
                );
            }
        }
        GovernanceCommand::Proposal { coop, id } => {
            let coop = coop_of(coop).await?;
            let p = proposals::get(&app.db, coop.id, id).await?;
            println!("{}", pretty(&serde_json::to_value(&p)?));
        }
        GovernanceCommand::Invite {
            coop,
            email,
            name,
            role,
            college,
        } => {
            let coop = coop_of(coop).await?;
            let inv = membership::NewInvitation {
                email,
                display_name: name,
                roles: role,
                college,
            };
            let (req, token) =
                membership::invite(&app.db, coop.id, &identity::Actor::host(coop.id), &inv, now)
                    .await?;
            println!(
                "invitation {} mailed to {}; token {token} (valid 14 days; accept at /invitation/{}?token=...)",
                req.id, req.email, coop.slug
            );
        }
        GovernanceCommand::Requests { coop } => {
            let coop = coop_of(coop).await?;
            for r in membership::list(&app.db, coop.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.kind,
                    r.status,
                    r.email,
                    r.college.unwrap_or_default()
                );
            }
        }
        GovernanceCommand::Decide { coop, id, reject } => {
            let coop = coop_of(coop).await?;
            let r = membership::decide(
                &app.db,
                &*app.clock,
                &coop,
                id,
                !reject,
                &identity::Actor::host(coop.id),
            )
            .await?;
            println!("application {} is {}", r.id, r.status);
        }
        GovernanceCommand::Appeals { coop, all } => {
            let coop = coop_of(coop).await?;
            let list = crate::moderation::appeals::list(&app.db, coop.id, !all, now).await?;
            if list.is_empty() {
                println!("no appeals {}", if all { "" } else { "awaiting review" });
            }
            for a in list {
                let (ap, d) = (&a.appeal, &a.decision);
                println!(
                    "{}\t{}\tmember {}\tdecision {} ({} by {})\tdue {}\t{}",
                    ap.id,
                    ap.status,
                    ap.member,
                    d.decision,
                    d.status,
                    d.decided_by,
                    crate::moderation::utc(ap.review_due_at),
                    ap.reviewed_by
                        .map(|r| format!("reviewed by {r}"))
                        .unwrap_or_else(|| "not reviewed".into())
                );
            }
        }
        GovernanceCommand::Terms { coop } => {
            let coop = coop_of(coop).await?;
            let versions = terms::versions(&app.db, coop.id).await?;
            match terms::in_effect(&versions, now) {
                Some(v) => println!("in effect: version {} since {}", v.version, v.effective_at),
                None => println!("no terms in effect yet"),
            }
            for v in versions.iter().filter(|v| v.effective_at > now) {
                println!(
                    "\npending: version {}, in effect from {}\n{}",
                    v.version, v.effective_at, v.diff
                );
            }
        }
    }
    Ok(())
}
