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
    let app = open(settings).await?;
    match cmd {
        DecisionsCommand::Verify { coop } => {
            let coop = identity::find_coop(&app.db, &coop).await?;
            let v = chain::verify(&app.db, DECISIONS, coop.id).await?;
            if v.ok {
                println!(
                    "decision log of {} verified: {} entries, head {}",
                    coop.slug, v.entries, v.head
                );
                Ok(())
            } else {
                let (seq, reason) = v
                    .problem
                    .map(|p| (p.seq, p.reason))
                    .unwrap_or((0, "unknown problem".into()));
                anyhow::bail!(
                    "decision log of {} does NOT verify at entry {seq}: {reason}",
                    coop.slug
                )
            }
        }
        DecisionsCommand::List { coop, after, limit } => {
            let coop = identity::find_coop(&app.db, &coop).await?;
            for e in chain::list(&app.db, DECISIONS, coop.id, after, limit).await? {
                println!("{}\t{}\t{}\t{}\t{}", e.seq, e.at, e.kind, e.hash, e.body);
            }
            Ok(())
        }
    }
}
