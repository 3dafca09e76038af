//! The `coophost` command: parse, load settings, run.

mod credential;
mod governance;
mod limits;
mod money;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::app::App;
use crate::clock::{SharedClock, SystemClock};
use crate::db::{Db, redact};
use crate::identity;
use crate::plugins;
use crate::runtime::Engine;

/// coophost: a shared host for cooperative platforms.
#[derive(Parser, Debug)]
#[command(name = "coophost", version, about)]
pub struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where data lives; each can come from a flag, an environment variable or
/// the config file, in that order of precedence.
#[derive(Args, Debug, Clone, Default)]
struct SettingsArgs {
    /// Config file (TOML with data_dir, listen, database_url, public_url,
    /// smtp_url, mail_from).
    #[arg(long, global = true, env = "COOPHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: SQLite database and compile cache [default: ./data].
    #[arg(long, global = true, env = "COOPHOST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://... [default: SQLite in the data dir].
    #[arg(long, global = true, env = "COOPHOST_DATABASE_URL")]
    database_url: Option<String>,
}

/// Shortest `--metrics-token`: long enough that guessing it is hopeless.
pub const MIN_METRICS_TOKEN: usize = 32;

/// How `coophost serve` runs.
#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "COOPHOST_LISTEN")]
    listen: Option<SocketAddr>,
    /// The URL others reach this host at, e.g. https://coops.example:
    /// coops sign work credentials under it [default: http://LISTEN].
    #[arg(long, env = "COOPHOST_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed a demo coop with the example plugins from DIR (built by
    /// scripts/build-components.sh) if it does not exist yet.
    #[arg(long, value_name = "DIR")]
    demo: Option<PathBuf>,
    /// A reverse proxy in front of this host whose X-Forwarded-For header
    /// is believed (repeat, or comma-separate in the environment); from
    /// anyone else the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "COOPHOST_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Give operator powers only to sessions opened with a second factor,
    /// even to an operator who has not enrolled one yet (they enrol at
    /// /account/security or POST /v1/me/second-factor). Without it, an
    /// operator needs one once enrolled.
    #[arg(long, env = "COOPHOST_REQUIRE_OPERATOR_SECOND_FACTOR")]
    require_operator_second_factor: bool,
    /// MiB all plugin calls in flight may make the host hold together
    /// (what they read from the store and buffer for their commits); past
    /// it calls get a retryable 503 [default: 1024].
    #[arg(long, env = "COOPHOST_CALL_MEMORY_MIB", value_parser = clap::value_parser!(u64).range(1..))]
    call_memory_mib: Option<u64>,
    /// The share of that memory one coop's calls in flight may hold
    /// together, in percent, so that one coop cannot take it all; past it
    /// the coop's calls get the same retryable 503 [default: 50].
    #[arg(long, env = "COOPHOST_COOP_CALL_MEMORY_PERCENT", value_parser = clap::value_parser!(u64).range(1..=100))]
    coop_call_memory_percent: Option<u64>,
    /// The SMTP server mail goes through: smtps://user:password@host[:port]
    /// (TLS), or smtp://host[:port] (STARTTLS required, except on
    /// loopback; ?tls=none to send in the clear). Without it, mail stays in
    /// the outbox (see `coophost mail list`). The password is never logged.
    #[arg(long, env = "COOPHOST_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of the host's mail, e.g. "Coops <noreply@coops.example>"
    /// (required with --smtp-url).
    #[arg(long, env = "COOPHOST_MAIL_FROM")]
    mail_from: Option<String>,
    /// An address (IP:PORT) credential verification may fetch an issuer's
    /// keys from although it is not public or not port 80, such as another
    /// host of a federation on a private network (repeat, or
    /// comma-separate in the environment). Others are refused.
    #[arg(
        long = "allow-fetch-from",
        env = "COOPHOST_ALLOW_FETCH_FROM",
        value_delimiter = ',',
        value_name = "IP:PORT"
    )]
    allow_fetch_from: Vec<SocketAddr>,
    /// A bearer token Prometheus may read /metrics with (at least 32
    /// characters); without it only the host operator's login may.
    #[arg(long, env = "COOPHOST_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Inspect and install plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage coops.
    #[command(subcommand)]
    Coop(CoopCommand),
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage host operators (who run the host for several coops).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// The legal minimum hourly references (for France, the SMIC) no
    /// coop's earnings floor may go below, per country and currency.
    #[command(subcommand)]
    LegalMinimum(LegalMinimumCommand),
    /// Governance: rules, proposals, invitations and applications, terms.
    #[command(subcommand)]
    Governance(governance::GovernanceCommand),
    /// The coop's decision log: list and verify its hash chain.
    #[command(subcommand)]
    Decisions(governance::DecisionsCommand),
    /// The audit log (every plugin call, grant and consent change, admins'
    /// reads of members' money): list it, or verify its hash chain.
    #[command(subcommand)]
    Audit(governance::DecisionsCommand),
    /// The coop's money: ledger balances and checks, bank details, payout
    /// runs, floor runs, statements.
    #[command(subcommand)]
    Money(money::MoneyCommand),
    /// Work credentials: verify one (offline with the issuer's key), rotate
    /// a coop's issuing key.
    #[command(subcommand)]
    Credential(credential::CredentialCommand),
    /// Print the coop's data-protection impact summary (Markdown) from its
    /// installed plugins' manifests, for worker representatives.
    ImpactSummary {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// The mail outbox: list what was queued, sent or failed; queue failed
    /// mail again.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Write a consistent backup of the database while the host runs
    /// (SQLite: VACUUM INTO; PostgreSQL: pg_dump custom format).
    Backup {
        /// The backup file to create.
        out: PathBuf,
    },
    /// Restore a backup into an empty data directory (SQLite) or an empty
    /// database (PostgreSQL, via pg_restore), then print what it holds.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Show a component's imports (requested capabilities), exports with
    /// their WIT signatures, and its manifest.
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
        /// Its manifest [default: plugin.toml or FILE with .toml beside it].
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Also show what this coop granted the installed plugin of the
        /// same name.
        #[arg(long)]
        coop: Option<String>,
    },
    /// Install a component into a coop and bind the interfaces it exports.
    Install {
        /// The component (.wasm).
        file: PathBuf,
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Its manifest [default: plugin.toml or FILE with .toml beside it].
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Grant only these coop:host interfaces (comma separated, e.g.
        /// store,config) [default: every one the plugin imports].
        #[arg(long, value_delimiter = ',')]
        grant: Option<Vec<String>>,
        /// With --grant: `refuse` the install if the plugin imports more,
        /// or `stub` the rest so they answer access-denied.
        #[arg(long, default_value = "refuse", value_parser = ["refuse", "stub"])]
        ungranted: String,
        /// Upgrade even if the new version breaks an exported interface.
        #[arg(long)]
        force: bool,
        /// Ed25519 signature (hex) over the component's SHA-256 digest, or
        /// a file holding it.
        #[arg(long)]
        signature: Option<String>,
    },
    /// Restore the version that preceded the active one.
    Rollback {
        /// Plugin name.
        name: String,
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
    /// Stop serving a plugin; its data is kept unless --purge.
    Uninstall {
        /// Plugin name.
        name: String,
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Also delete the plugin's store, configuration and member ids.
        #[arg(long)]
        purge: bool,
    },
    /// Sign a component (publishers): prints the signature and public key.
    Sign {
        /// The component (.wasm).
        file: PathBuf,
        /// File holding the 32-byte Ed25519 secret seed, hex.
        #[arg(long)]
        key: PathBuf,
    },
    /// List a coop's plugins.
    List {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
}

#[derive(Subcommand, Debug)]
enum CoopCommand {
    /// Create a coop.
    Create {
        /// URL slug, e.g. velo-lyon.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// List coops.
    List,
    /// Trust a plugin publisher's Ed25519 public key (hex).
    TrustKey {
        /// The coop's slug.
        slug: String,
        /// A name for the key.
        #[arg(long)]
        name: String,
        /// The public key, 64 hex characters.
        #[arg(long)]
        key: String,
    },
    /// Accept only plugins signed by a trusted key (`on`) or any (`off`).
    RequireSignatures {
        /// The coop's slug.
        slug: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        setting: String,
    },
    /// Show what the host operator allows a coop, or set it: ceilings over
    /// its plugins' limits (deadline_ms, memory_bytes, result_bytes,
    /// log_bytes, host_calls, store_keys, store_bytes, call_bytes),
    /// `instances`, its plugin calls in flight at once, and `timers`, the
    /// timers its plugins may have pending together.
    Limits {
        /// The coop's slug.
        slug: String,
        /// Ceilings to set, NAME=VALUE (merged into what was set before).
        #[arg(value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Go back to the host's default ceilings first.
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a member (creating the account if the email is new). Bootstrap a
    /// coop's first admin with `--role admin`.
    Add {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
        /// Email (the login).
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before @].
        #[arg(long)]
        name: Option<String>,
        /// Password for a new account (prefer the environment variable).
        #[arg(long, env = "COOPHOST_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Roles, comma separated (admin, member, worker, ...).
        #[arg(long, value_delimiter = ',', default_value = "member")]
        role: Vec<String>,
        /// College, in a multi-stakeholder coop.
        #[arg(long)]
        college: Option<String>,
    },
    /// List a coop's members.
    List {
        /// The coop's slug.
        #[arg(long)]
        coop: String,
    },
}

#[derive(Subcommand, Debug)]
enum MailCommand {
    /// List mail, newest first; pending mail is printed whole (its links
    /// included: how the demo, without SMTP, shows verification links).
    List {
        /// Only mail to this address.
        #[arg(long)]
        to: Option<String>,
        /// Only mail with this status.
        #[arg(long, value_parser = ["pending", "sent", "failed", "expired"])]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// The host's public URL, for the links [default: as `serve`].
        #[arg(long, env = "COOPHOST_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Queue failed or expired mail again (after fixing the SMTP settings).
    Retry {
        /// Only this mail [default: every failed or expired one].
        #[arg(long)]
        id: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
enum LegalMinimumCommand {
    /// Record a reference from a date (the same date again corrects it).
    Set {
        /// ISO 3166 alpha-2 country, e.g. FR.
        #[arg(long)]
        country: String,
        /// ISO 4217 currency, e.g. EUR.
        #[arg(long)]
        currency: String,
        /// Gross minor units per hour, e.g. 1202 for 12.02.
        #[arg(long)]
        per_hour: i64,
        /// From which day (UTC), YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// What it is, as published, e.g. "SMIC horaire brut".
        #[arg(long)]
        label: String,
    },
    /// List every reference.
    List,
    /// The country of coops that name none.
    DefaultCountry {
        /// ISO 3166 alpha-2 country, e.g. FR.
        country: String,
    },
    /// The country a coop is in (whose references apply to it).
    CoopCountry {
        /// The coop's slug.
        slug: String,
        /// ISO 3166 alpha-2 country, e.g. BE.
        country: String,
    },
}

/// Midnight UTC of a `YYYY-MM-DD` day, ms since the epoch.
fn day_start_ms(day: &str) -> anyhow::Result<i64> {
    let parts: Vec<&str> = day.split('-').collect();
    let [y, m, d] = parts[..] else {
        bail!("{day:?} is not a day written YYYY-MM-DD");
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        bail!("{day:?} is not a day written YYYY-MM-DD");
    };
    let days = crate::ledger::period::days_from_civil(y, m, d);
    if !(1..=12).contains(&m) || crate::ledger::period::civil_from_days(days) != (y, m, d) {
        bail!("{day:?} is not a day of the calendar");
    }
    Ok(days * 86_400_000)
}

async fn legal_minimum_command(
    settings: &Settings,
    cmd: LegalMinimumCommand,
) -> anyhow::Result<()> {
    use crate::ledger::legal_minimum as lm;
    let app = open(settings).await?;
    match cmd {
        LegalMinimumCommand::Set {
            country,
            currency,
            per_hour,
            from,
            label,
        } => {
            let r = lm::set(
                &app.db,
                &country,
                &currency,
                day_start_ms(&from)?,
                per_hour,
                &label,
                app.clock.now_ms(),
            )
            .await?;
            println!(
                "{} {}: {} minor units per hour from {} ({}); floors below it are refused, and \
                 floor runs pay at least this",
                r.country, r.currency, r.per_hour, from, r.label
            );
        }
        LegalMinimumCommand::List => {
            for r in lm::list(&app.db).await? {
                println!(
                    "{} {} from {}: {} per hour ({})",
                    r.country,
                    r.currency,
                    crate::moderation::utc(r.effective_from),
                    r.per_hour,
                    r.label
                );
            }
        }
        LegalMinimumCommand::DefaultCountry { country } => {
            let c = lm::set_default_country(&app.db, &country).await?;
            println!("coops that name no country are in {c}");
        }
        LegalMinimumCommand::CoopCountry { slug, country } => {
            let coop = identity::find_coop(&app.db, &slug).await?;
            let c = lm::set_coop_country(&app.db, coop.id, &country).await?;
            println!("{} is in {c}", coop.slug);
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
enum OperatorCommand {
    /// Create a host operator account (or promote an existing account).
    Add {
        /// Email.
        #[arg(long)]
        email: String,
        /// Password for a new account.
        #[arg(long, env = "COOPHOST_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Remove the second factor of an account whose owner lost both the
    /// device and the recovery codes, once they proved who they are out of
    /// band: every session of the account is logged out and the owner is
    /// told by mail. They log in with the password and may enrol again.
    ResetSecondFactor {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
}

/// Resolved settings.
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    listen_from_file: Option<SocketAddr>,
    public_url_from_file: Option<String>,
    smtp_url_from_file: Option<String>,
    mail_from_from_file: Option<String>,
}

impl SettingsArgs {
    fn resolve(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("failed to read config file {}", p.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => FileSettings::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = match self.database_url.clone().or(file.database_url) {
            Some(u) => u,
            None => format!("sqlite://{}", data_dir.join("coophost.db").display()),
        };
        Ok(Settings {
            data_dir,
            database_url,
            listen_from_file: file.listen,
            public_url_from_file: file.public_url,
            smtp_url_from_file: file.smtp_url,
            mail_from_from_file: file.mail_from,
        })
    }
}

/// Open the database and build the app from settings.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<App>> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "failed to create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let db = Db::connect(&settings.database_url).await?;
    let engine = Engine::new(settings.data_dir.join("compile-cache"))?;
    let clock: SharedClock = Arc::new(SystemClock);
    Ok(App::new(db, clock, engine).await?)
}

/// Entry point of the binary.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = cli.settings.resolve()?;
    match cli.command {
        Command::Serve(args) => serve(&settings, args).await,
        Command::Plugin(PluginCommand::Inspect {
            file,
            manifest,
            coop,
        }) => {
            let inspection = inspect(&settings, &file, manifest.as_deref())?;
            if let Some(slug) = coop {
                let app = open(&settings).await?;
                let coop = identity::find_coop(&app.db, &slug).await?;
                let requested = plugins::requested_capabilities(&inspection.imports);
                let name = read_manifest(&file, manifest.as_deref())
                    .ok()
                    .and_then(|t| crate::plugins::manifest::Manifest::parse(&t).ok())
                    .map(|m| m.plugin.name);
                let granted = match name {
                    Some(n) => plugins::get(&app.db, coop.id, &n)
                        .await
                        .map(|p| p.grants)
                        .unwrap_or_default(),
                    None => vec![],
                };
                println!("\ncapabilities in {}:", coop.slug);
                for r in &requested {
                    let mark = if granted.contains(r) {
                        "granted"
                    } else {
                        "NOT granted"
                    };
                    println!("  coop:host/{r}: requested, {mark}");
                }
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::Install {
            file,
            coop,
            manifest,
            grant,
            ungranted,
            force,
            signature,
        }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            let bytes = std::fs::read(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let manifest = read_manifest(&file, manifest.as_deref())?;
            let grants = match grant {
                None => plugins::Grants::All,
                Some(interfaces) => plugins::Grants::Only {
                    interfaces,
                    ungranted: if ungranted == "stub" {
                        plugins::Ungranted::Stub
                    } else {
                        plugins::Ungranted::Refuse
                    },
                },
            };
            let signature = match signature {
                Some(s) if Path::new(&s).exists() => {
                    Some(std::fs::read_to_string(&s)?.trim().to_string())
                }
                other => other,
            };
            let opts = plugins::InstallOptions {
                grants,
                force,
                signature,
            };
            // The host operator installs only where the coop's rules still
            // let admins change plugins directly; otherwise it is a
            // `plugin` proposal. Either way it is in the decision log.
            let host = identity::Actor::host(coop.id);
            let kind = crate::governance::rules::Kind::Plugin;
            crate::governance::proposals::direct_allowed(&app.db, coop.id, &host, kind).await?;
            let report = plugins::install(&app, &coop, &bytes, &manifest, &opts).await?;
            // The grant change is audited by a background writer: wait for it.
            app.flush_audit().await;
            crate::governance::proposals::record_direct(
                &app.db,
                coop.id,
                &host,
                kind,
                serde_json::json!({"install": report.plugin.name, "version": report.plugin.version,
                    "sha256": report.plugin.sha256, "grants": report.plugin.grants}),
                app.clock.now_ms(),
            )
            .await?;
            if let Some(old) = &report.replaced {
                println!(
                    "upgraded from {old}{}",
                    if report.migrated {
                        " (migrate hook ran)"
                    } else {
                        ""
                    }
                );
            }
            if let Some(k) = &report.signed_by {
                println!("signature verified: signed by trusted key {k}");
            }
            let p = report.plugin;
            println!(
                "installed {} {} into {} (sha256 {}), serving {}; granted coop:host {}",
                p.name,
                p.version,
                coop.slug,
                p.sha256,
                p.interfaces.join(", "),
                if p.grants.is_empty() {
                    "nothing".to_string()
                } else {
                    p.grants.join(", ")
                }
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Rollback { name, coop }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            let p = plugins::rollback(&app, &coop, &name).await?;
            println!(
                "{} in {} is back at {} (sha256 {})",
                p.name, coop.slug, p.version, p.sha256
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Uninstall { name, coop, purge }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            plugins::uninstall(&app, &coop, &name, purge).await?;
            println!(
                "uninstalled {name} from {}{}",
                coop.slug,
                if purge {
                    "; its data was deleted"
                } else {
                    "; its data is kept"
                }
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Sign { file, key }) => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let seed = std::fs::read_to_string(&key)
                .with_context(|| format!("failed to read {}", key.display()))?;
            let digest = hex::decode(plugins::sha256_hex(&bytes))?;
            let (sig, public) = plugins::signing::sign(&seed, &digest)?;
            println!("signature  {sig}\npublic key {public}");
            Ok(())
        }
        Command::Coop(CoopCommand::TrustKey { slug, name, key }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &slug).await?;
            plugins::lifecycle::trust_key(&app, &coop, &name, &key).await?;
            println!("{} trusts publisher key {name}", coop.slug);
            Ok(())
        }
        Command::Coop(CoopCommand::RequireSignatures { slug, setting }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &slug).await?;
            plugins::lifecycle::require_signatures(&app, &coop, setting == "on").await?;
            println!("{} requires signed plugins: {setting}", coop.slug);
            Ok(())
        }
        Command::Plugin(PluginCommand::List { coop }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            for p in plugins::list(&app.db, coop.id).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.name,
                    p.version,
                    p.sha256,
                    p.interfaces.join(",")
                );
            }
            Ok(())
        }
        Command::Coop(CoopCommand::Limits { slug, set, reset }) => {
            limits::run(&settings, &slug, &set, reset).await
        }
        Command::Coop(CoopCommand::Create { slug, name }) => {
            let app = open(&settings).await?;
            let c = identity::create_coop(&app.db, &*app.clock, &slug, &name).await?;
            println!("created coop {} ({})", c.slug, c.name);
            Ok(())
        }
        Command::Coop(CoopCommand::List) => {
            let app = open(&settings).await?;
            for c in identity::list_coops(&app.db).await? {
                println!("{}\t{}", c.slug, c.name);
            }
            Ok(())
        }
        Command::Member(MemberCommand::Add {
            coop,
            email,
            name,
            password,
            role,
            college,
        }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            let display_name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
            // The operator's grant, logged like any other (invariant 26),
            // in the addition's transaction.
            let m = crate::governance::grants::add_member(
                &app.db,
                &*app.clock,
                &coop,
                identity::NewMember {
                    email,
                    display_name,
                    password,
                    roles: role,
                    college,
                },
                identity::Vouch::Proven,
                &identity::Actor::host(coop.id),
                Some(crate::governance::grants::VIA_COMMAND_LINE),
            )
            .await?;
            println!(
                "added {} to {} as {}",
                m.email,
                coop.slug,
                m.roles.join(",")
            );
            Ok(())
        }
        Command::Member(MemberCommand::List { coop }) => {
            let app = open(&settings).await?;
            let coop = identity::find_coop(&app.db, &coop).await?;
            for m in identity::list_members(&app.db, coop.id).await? {
                println!("{}\t{}\t{}\t{}", m.id, m.email, m.roles.join(","), m.status);
            }
            Ok(())
        }
        Command::Money(cmd) => money::run(&settings, cmd).await,
        Command::Credential(cmd) => credential::run(&settings, cmd).await,
        Command::Decisions(cmd) => governance::run(&settings, cmd).await,
        Command::Audit(cmd) => {
            governance::run_chain(&settings, cmd, crate::audit::AUDIT, "audit log").await
        }
        Command::Governance(cmd) => governance::run_governance(&settings, cmd).await,
        Command::ImpactSummary { coop } => {
            let app = open(&settings).await?;
            let coop = crate::identity::find_coop(&app.db, &coop).await?;
            let location = crate::transparency::DataLocation::from_env();
            print!(
                "{}",
                crate::transparency::impact_summary(&app.db, &coop, &location).await?
            );
            Ok(())
        }
        Command::Backup { out } => {
            let app = open(&settings).await?;
            crate::backup::backup(&app.db, &settings.database_url, &out).await?;
            println!("backup written to {}", out.display());
            for (table, n) in crate::backup::census(&app.db).await? {
                println!("  {table}: {n}");
            }
            Ok(())
        }
        Command::Restore { file } => {
            crate::backup::restore(&file, &settings.database_url).await?;
            let app = open(&settings).await?;
            println!(
                "restored {} into {}",
                file.display(),
                redact(&settings.database_url)
            );
            for (table, n) in crate::backup::census(&app.db).await? {
                println!("  {table}: {n}");
            }
            Ok(())
        }
        Command::Mail(cmd) => mail_command(&settings, cmd).await,
        Command::LegalMinimum(cmd) => legal_minimum_command(&settings, cmd).await,
        Command::Operator(OperatorCommand::ResetSecondFactor { email }) => {
            let app = open(&settings).await?;
            if identity::second_factor::reset_by_operator(&app.db, &*app.clock, &email).await? {
                println!(
                    "the second factor of {email} is removed, its sessions are logged out and its \
                     owner is told by mail; they log in with their password and may enrol again"
                );
            } else {
                println!("{email} had no second factor; its sessions are logged out all the same");
            }
            Ok(())
        }
        Command::Operator(OperatorCommand::Add { email, password }) => {
            let app = open(&settings).await?;
            match password {
                Some(pw) => {
                    identity::create_user(&app.db, &*app.clock, &email, "Host operator", &pw, true)
                        .await?;
                }
                None => identity::set_operator(&app.db, &email, true).await?,
            }
            println!("{email} is a host operator");
            println!(
                "a lost second factor is removed with `coophost operator reset-second-factor \
                 --email ...` (its owner is told by mail)"
            );
            println!(
                "protect it with a second factor: log in, open /account/security (or POST \
                 /v1/me/second-factor with the password), add the secret to an authenticator \
                 app and confirm with its code; from then on operator powers need a session \
                 opened with a code (serve --require-operator-second-factor requires one even \
                 before enrolment)"
            );
            Ok(())
        }
    }
}

fn read_manifest(file: &Path, manifest: Option<&Path>) -> anyhow::Result<String> {
    let candidates: Vec<PathBuf> = match manifest {
        Some(m) => vec![m.to_path_buf()],
        None => vec![
            file.with_extension("toml"),
            file.with_file_name("plugin.toml"),
        ],
    };
    for c in &candidates {
        if c.exists() {
            return std::fs::read_to_string(c)
                .with_context(|| format!("failed to read {}", c.display()));
        }
    }
    bail!(
        "no manifest found for {}: looked for {}; pass --manifest",
        file.display(),
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    )
}

fn inspect(
    settings: &Settings,
    file: &Path,
    manifest: Option<&Path>,
) -> anyhow::Result<crate::runtime::Inspection> {
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let engine = Engine::new(settings.data_dir.join("compile-cache"))?;
    let inspection = engine.inspect(&bytes).map_err(|e| anyhow::anyhow!(e))?;
    println!("component: {}", file.display());
    println!("sha256:    {}", plugins::sha256_hex(&bytes));
    println!("size:      {} bytes", bytes.len());
    println!("\nimports (requested capabilities):");
    for i in &inspection.imports {
        println!("  {i}");
    }
    println!("\nexports:");
    for e in &inspection.exports {
        println!("  {}", e.export_name);
        for f in &e.functions {
            println!("    {}", f.wit);
        }
    }
    match read_manifest(file, manifest) {
        Ok(text) => {
            let m = crate::plugins::manifest::Manifest::parse(&text)?;
            println!("\nmanifest:");
            println!(
                "  {} {} ({}), source {}",
                m.plugin.name, m.plugin.version, m.plugin.licence, m.plugin.source
            );
            for (name, p) in &m.config {
                println!(
                    "  config {name}: {:?} = {} — {}",
                    p.kind, p.default, p.description
                );
            }
            for (f, roles) in &m.access {
                println!("  access {f}: {}", roles.join(", "));
            }
        }
        Err(e) => println!("\nmanifest: none ({e:#})"),
    }
    Ok(inspection)
}

async fn serve(settings: &Settings, args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        public_url,
        demo,
        trusted_proxies,
        require_operator_second_factor,
        call_memory_mib,
        coop_call_memory_percent,
        smtp_url,
        mail_from,
        allow_fetch_from,
        metrics_token,
    } = args;
    if metrics_token
        .as_ref()
        .is_some_and(|t| t.len() < MIN_METRICS_TOKEN)
    {
        bail!(
            "--metrics-token must be at least {MIN_METRICS_TOKEN} characters: generate one with `openssl rand -hex 32`"
        );
    }
    let started = Instant::now();
    let listen = listen
        .or(settings.listen_from_file)
        .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid default address"));
    tracing::info!(data_dir = %settings.data_dir.display(), database = %redact(&settings.database_url), "starting coophost");
    let app = open(settings).await?;
    // Running from here: a stop that skips writing the audit queue leaves
    // this row behind for the next start to record as a gap (and records
    // the gaps of earlier runs that did).
    let run = crate::audit::runs::start(
        &app.db,
        &app.audit_db,
        &crate::app::hostname(),
        app.clock.now_ms(),
    )
    .await?;
    let heartbeat = {
        let (app, run) = (app.clone(), run.clone());
        tokio::spawn(async move {
            let mut beat = tokio::time::interval(crate::audit::runs::HEARTBEAT);
            loop {
                beat.tick().await;
                let now = app.clock.now_ms();
                if let Err(e) = crate::audit::runs::beat(&app.audit_db, &run, &app.audit, now).await
                {
                    tracing::warn!(error = %e, "could not record the host's heartbeat");
                }
            }
        })
    };
    if let Some(dir) = demo {
        crate::demo::seed(&app, &dir).await?;
    }
    let loaded = app.load_all().await?;
    let hits = loaded
        .iter()
        .filter(|p| p.cache == crate::runtime::CacheOutcome::Hit)
        .count();
    tracing::info!(
        plugins = loaded.len(),
        compile_cache_hits = hits,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugins loaded"
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on {listen}"))?;
    let addr = listener
        .local_addr()
        .context("failed to read the listening address")?;
    let public_url = public_url
        .or_else(|| settings.public_url_from_file.clone())
        .unwrap_or_else(|| format!("http://{addr}"));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("the public URL {public_url:?} must start with http:// or https://");
    }
    app.set_public_url(&public_url);
    let mailer = mailer(settings, smtp_url, mail_from, &public_url)?;
    app.set_trusted_proxies(trusted_proxies);
    app.set_require_operator_second_factor(require_operator_second_factor);
    if let Some(mib) = call_memory_mib {
        app.call_memory.set_limit(mib.saturating_mul(1 << 20));
    }
    if let Some(percent) = coop_call_memory_percent {
        app.call_memory.set_coop_percent(percent);
    }
    app.allow_fetch_from(allow_fetch_from);
    app.set_metrics_token(metrics_token.as_deref());
    app.set_data_location(crate::transparency::DataLocation::from_env());
    // Listening for SIGTERM before saying we listen: whoever reads that
    // line may stop the host at once.
    let stop = crate::api::stop_signal();
    println!(
        "coophost listening on http://{addr} (ready in {} ms)",
        started.elapsed().as_millis()
    );
    app.spawn_scheduler();
    Arc::new(mailer).spawn(app.db.clone(), app.clock.clone());
    let served = crate::api::serve_until(listener, app.clone(), stop).await;
    // The audit queue is written (`serve` flushed it): a clean stop.
    heartbeat.abort();
    crate::audit::runs::stop(&app.audit_db, &run).await?;
    served.context("server failed")
}

/// The host's mailer from flags, environment and file; without an SMTP
/// URL mail stays in the outbox, which the log says once at start.
fn mailer(
    settings: &Settings,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: &str,
) -> anyhow::Result<crate::mail::Mailer> {
    let smtp = match smtp_url.or_else(|| settings.smtp_url_from_file.clone()) {
        Some(url) => Some(
            crate::mail::SmtpUrl::parse(&url)
                .map_err(|e| anyhow::anyhow!("invalid --smtp-url: {e}"))?,
        ),
        None => None,
    };
    let from = mail_from.or_else(|| settings.mail_from_from_file.clone());
    let from = match (&smtp, from) {
        (_, Some(f)) => f,
        (Some(_), None) => bail!(
            "--smtp-url needs --mail-from (or COOPHOST_MAIL_FROM): the sender of the host's mail, \
             e.g. \"Coops <noreply@coops.example>\""
        ),
        (None, None) => "coophost <coophost@localhost>".to_string(),
    };
    match &smtp {
        Some(url) => tracing::info!(smtp = %url.redacted(), %from, "mail goes through SMTP"),
        None => tracing::warn!(
            "no SMTP configured (--smtp-url): mail stays in the outbox; see coophost mail list"
        ),
    }
    crate::mail::Mailer::new(&crate::mail::MailSettings {
        smtp,
        from,
        public_url: public_url.to_string(),
    })
}

async fn mail_command(settings: &Settings, cmd: MailCommand) -> anyhow::Result<()> {
    let app = open(settings).await?;
    match cmd {
        MailCommand::List {
            to,
            status,
            limit,
            public_url,
        } => {
            let base = public_url
                .or_else(|| settings.public_url_from_file.clone())
                .or_else(|| settings.listen_from_file.map(|l| format!("http://{l}")))
                .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
            let to = to.map(|t| identity::normalise_email(&t)).transpose()?;
            let mails = crate::mail::list(&app.db, to.as_deref(), status.as_deref(), limit).await?;
            if mails.is_empty() {
                println!("no mail");
            }
            for m in mails {
                println!(
                    "#{} {} to {} [{}] {}{}",
                    m.id,
                    crate::moderation::utc(m.created_at),
                    m.to,
                    m.status,
                    m.subject,
                    m.last_error
                        .as_deref()
                        .map(|e| format!(" (attempts {}: {e})", m.attempts))
                        .unwrap_or_default()
                );
                if let (Some(message), "pending") = (&m.message, m.status.as_str()) {
                    for line in message.body(&base).lines() {
                        println!("    {line}");
                    }
                }
            }
        }
        MailCommand::Retry { id } => {
            let n = crate::mail::retry(&app.db, id, app.clock.now_ms()).await?;
            println!("{n} mail(s) queued again");
        }
    }
    Ok(())
}
