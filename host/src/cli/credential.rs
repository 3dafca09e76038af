//! `coophost credential ...`: verify a work credential from a file (offline
//! with the issuer's key), and rotate a coop's issuing key.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::{Settings, open};
use crate::clock::{Clock, SystemClock};
use crate::credentials::{self, GivenKeys, KeyLookup, keys};
use crate::identity;

#[derive(Subcommand, Debug)]
pub(super) enum CredentialCommand {
    /// Verify a work credential (a JSON file). With --key nothing is
    /// fetched; without it, the issuer's keys are fetched over HTTP. Exits
    /// non-zero unless the credential verifies.
    Verify {
        /// The credential, as the host issued it.
        file: PathBuf,
        /// The issuer's keys document (keys.json) or public key (z6Mk...).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Retire a coop's issuing key (it still verifies what it signed) and
    /// create the next one.
    Rotate {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
}

pub(super) async fn run(settings: &Settings, cmd: CredentialCommand) -> anyhow::Result<()> {
    match cmd {
        CredentialCommand::Verify { file, key } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let credential: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let given = match &key {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("failed to read {}", path.display()))?;
                    Some(GivenKeys::parse(&text).map_err(anyhow::Error::msg)?)
                }
                None => None,
            };
            let lookup = KeyLookup {
                // The command is run by a person for themself: nobody else
                // can make it fetch, so no address is off limits.
                fetch: given
                    .is_none()
                    .then(credentials::fetch::FetchPolicy::unrestricted),
                given,
                local: None,
            };
            let verdict = credentials::verify(&credential, lookup, SystemClock.now_ms()).await;
            println!("{}", serde_json::to_string_pretty(&verdict)?);
            if !verdict.verified {
                bail!("the credential does not verify: {}", verdict.message);
            }
            Ok(())
        }
        CredentialCommand::Rotate { coop } => {
            let app = open(settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            let key = keys::rotate(&app.db, &app.secret, coop.id, app.clock.now_ms()).await?;
            println!(
                "{} now signs with key-{} ({}); earlier keys stay published",
                coop.slug, key.seq, key.public_key_multibase
            );
            Ok(())
        }
    }
}
