//! `coophost money ...`: the ledger, payouts, floor runs and statements
//! from the command line, acting as the host operator (every read of a
//! member's statement is recorded in their access log like an admin's).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Settings, open};
use crate::identity::{self, Actor};
use crate::ledger::account::AccountKind;
use crate::ledger::period::Month;
use crate::ledger::repo;
use crate::payments::{access, floor_run, payouts, statements};

#[derive(Subcommand, Debug)]
pub(super) enum MoneyCommand {
    /// Every ledger account of a coop and its balance.
    Balances {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Check a coop's books: every transaction balances, every balance is
    /// the sum of its postings, no account that may not go negative is.
    Check {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// One account's postings, newest first.
    History {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The account code, e.g. wallet:3, solidarity, escrow:plugin.order-1.
        #[arg(long)]
        account: String,
        /// At most this many postings.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Reverse a transaction by its idempotency key: post its compensation
    /// (once; refused if an account would go negative).
    Reverse {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The idempotency key, e.g. settle:plugin.order-1.
        #[arg(long)]
        key: String,
        /// Why (recorded in the memo).
        #[arg(long)]
        reason: String,
    },
    /// Set a member's (or with --coop-account, the coop's) bank details.
    BankAccount {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The member id; omit with --coop-account.
        #[arg(long, required_unless_present = "coop_account")]
        member: Option<i64>,
        /// Set the coop's own account, the debtor of payout files.
        #[arg(long)]
        coop_account: bool,
        /// The account holder's name.
        #[arg(long)]
        holder: String,
        /// The IBAN (checked mod 97).
        #[arg(long)]
        iban: String,
        /// The BIC (required for the coop's account).
        #[arg(long)]
        bic: Option<String>,
    },
    /// What a payout run would pay now; moves nothing.
    PayoutPreview {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Execute a payout run once per message id and write its pain.001 file.
    PayoutRun {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The SEPA message id (see payout-preview for a suggestion).
        #[arg(long)]
        msg_id: String,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write an executed run's pain.001 file again.
    PayoutFile {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The run id.
        #[arg(long)]
        run: i64,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Compute a finished month's earnings floor now (the scheduler does it
    /// an hour after each month ends).
    FloorRun {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        period: Month,
    },
    /// Worker statements for a month, as CSV (every worker, or one).
    Statement {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        period: Month,
        /// Only this member.
        #[arg(long)]
        member: Option<i64>,
    },
}

fn operator_in(coop_id: i64) -> Actor {
    Actor {
        coop_id,
        member_id: None,
        service_key: None,
        roles: Vec::new(),
        college: None,
        operator: true,
    }
}

pub(super) async fn run(settings: &Settings, cmd: MoneyCommand) -> anyhow::Result<()> {
    let app = open(settings).await?;
    let now = app.clock.now_ms();
    let coop_of = |slug: &str| {
        let db = app.db.clone();
        let slug = slug.to_string();
        async move { identity::find_coop(&db, &slug).await }
    };
    match cmd {
        MoneyCommand::Balances { coop } => {
            let coop = coop_of(&coop).await?;
            for (account, currency, balance) in repo::balances(&app.db, coop.id).await? {
                println!("{account}\t{currency}\t{balance}");
            }
        }
        MoneyCommand::Check { coop } => {
            let coop = coop_of(&coop).await?;
            repo::sum_check(&app.db, coop.id).await?;
            println!("the books of {} balance", coop.slug);
        }
        MoneyCommand::History {
            coop,
            account,
            limit,
        } => {
            let coop = coop_of(&coop).await?;
            let kind = AccountKind::parse(&account)?;
            if let AccountKind::MemberWallet(m) = kind {
                access::record(&app.db, &operator_in(coop.id), m, "wallet history", now).await?;
            }
            for e in repo::history(&app.db, coop.id, &kind, limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.created_at, e.transaction_id, e.kind, e.currency, e.amount, e.memo
                );
            }
        }
        MoneyCommand::Reverse { coop, key, reason } => {
            let coop = coop_of(&coop).await?;
            if reason.trim().is_empty() {
                anyhow::bail!("give a --reason: reversals are recorded with why");
            }
            let posted = repo::reverse(
                &app.db,
                coop.id,
                &key,
                &format!("reversal:{key}"),
                &format!("reversal of {key} by the host operator: {}", reason.trim()),
                now,
            )
            .await?;
            println!(
                "{} {key}: transaction {}",
                if posted.replayed {
                    "already reversed"
                } else {
                    "reversed"
                },
                posted.id
            );
        }
        MoneyCommand::BankAccount {
            coop,
            member,
            coop_account,
            holder,
            iban,
            bic,
        } => {
            let coop = coop_of(&coop).await?;
            let member = if coop_account {
                payouts::COOP_ACCOUNT
            } else {
                let m = member.context("give --member or --coop-account")?;
                identity::get_member(&app.db, coop.id, m).await?;
                m
            };
            let details = payouts::BankDetails {
                holder_name: holder,
                iban,
                bic,
            };
            let a = payouts::set_bank_account(&app.db, coop.id, member, &details, now).await?;
            println!("bank account set: {} {}", a.holder_name, a.iban);
        }
        MoneyCommand::PayoutPreview { coop } => {
            let coop = coop_of(&coop).await?;
            let p = payouts::preview(&app.db, coop.id, 0, now).await?;
            for t in &p.payouts {
                println!(
                    "pay\tmember {}\t{}\t{}\t{}",
                    t.member_id, t.holder_name, t.iban, t.amount
                );
            }
            for s in &p.skipped {
                println!("skip\tmember {}\t{}\t{}", s.member_id, s.balance, s.reason);
            }
            println!(
                "total {} EUR cents; execute with --msg-id {}",
                p.total, p.suggested_msg_id
            );
        }
        MoneyCommand::PayoutRun { coop, msg_id, out } => {
            let coop = coop_of(&coop).await?;
            let (run, created) =
                payouts::execute(&app.db, coop.id, &msg_id, None, 0, None, now).await?;
            let (_, file) = payouts::file(&app.db, coop.id, run.id).await?;
            std::fs::write(&out, file).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} run {} ({}): {} transfers, {} EUR cents; file {}",
                if created {
                    "executed"
                } else {
                    "already executed:"
                },
                run.id,
                run.msg_id,
                run.payouts,
                run.total,
                out.display()
            );
        }
        MoneyCommand::PayoutFile { coop, run, out } => {
            let coop = coop_of(&coop).await?;
            let (_, file) = payouts::file(&app.db, coop.id, run).await?;
            std::fs::write(&out, file).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {}", out.display());
        }
        MoneyCommand::FloorRun { coop, period } => {
            let coop = coop_of(&coop).await?;
            for r in floor_run::run(&app.db, coop.id, period, now).await? {
                println!(
                    "member {}\t{} min\tearned {}\towed {}\ttopped up {}\t{}",
                    r.member_id,
                    r.on_shift_ms / 60_000,
                    r.earned,
                    r.floor_owed,
                    r.topped_up,
                    if r.flagged { "FLAGGED" } else { "ok" }
                );
            }
        }
        MoneyCommand::Statement {
            coop,
            period,
            member,
        } => {
            let coop = coop_of(&coop).await?;
            let members = match member {
                Some(m) => vec![m],
                None => statements::members_with_activity(&app.db, coop.id, period).await?,
            };
            let mut list = Vec::new();
            for m in members {
                access::record(
                    &app.db,
                    &operator_in(coop.id),
                    m,
                    &format!("statement {period}"),
                    now,
                )
                .await?;
                list.push(statements::statement(&app.db, coop.id, m, period, now).await?);
            }
            print!("{}", statements::to_csv(&list));
        }
    }
    Ok(())
}
