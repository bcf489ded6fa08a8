//! The `comptoir` binary: read config, set up tracing, open the store, run.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use comptoir::auth::JwtKeys;
use comptoir::clock::Clock;
use comptoir::config::Config;
use comptoir::crypto::DataKey;
use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use comptoir::store::Store;
use comptoir::store::blobs::BlobStore;
use comptoir::{Application, service, telemetry};

#[derive(Parser)]
#[command(name = "comptoir", version, about = "Billing back-office API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        /// Load the demo account first and print ready-to-use tokens.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a signed token (HS256).
    Token {
        /// admin, viewer, support or integration.
        #[arg(long)]
        role: String,
        /// The account the token is bound to (every role but support).
        #[arg(long)]
        account: Option<String>,
        /// The token's subject.
        #[arg(long, default_value = "cli")]
        subject: String,
        /// Lifetime: seconds, or with a unit: 30m, 12h, 7d; at most
        /// COMPTOIR_JWT_MAX_TTL.
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// Load the demo account.
    Demo,
    /// Bill a period (a billing run: drafts, issued at once without a grace
    /// period), then print what it did.
    Bill {
        /// The month to bill, YYYY-MM.
        #[arg(long)]
        period: String,
    },
    /// Finalize every draft whose grace period is over (`serve` also does
    /// this every minute), then print what it did.
    Finalize,
    /// Delete expired idempotency records (24 h) and payment webhook event
    /// ids past their replay window, then print how many (`serve` also does
    /// this every hour).
    Purge,
    /// Print the OpenAPI document.
    Openapi,
    /// Outgoing webhooks, for trying them locally.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Receive webhook requests on ADDR and print each event (and whether
    /// its signature verifies, with --secret). Point an endpoint at it:
    /// `http://ADDR/`, with COMPTOIR_WEBHOOK_ALLOW_PRIVATE=true on the server.
    Listen {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: String,
        /// The endpoint's signing secret (`whsec_...`), to verify signatures.
        #[arg(long, env = "COMPTOIR_WEBHOOK_LISTEN_SECRET")]
        secret: Option<String>,
    },
}

/// `comptoir webhooks listen`: needs no configuration or database.
async fn listen(addr: &str, secret: Option<&str>) -> anyhow::Result<()> {
    let secret = secret
        .map(|s| {
            comptoir::domain::webhook::WebhookSecret::parse(s)
                .context("--secret must be an endpoint secret: whsec_ and base64")
        })
        .transpose()?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    println!("Listening on http://{bound}/ for webhook requests (Ctrl-C to stop).");
    println!(
        "Create an endpoint with this url on a server started with COMPTOIR_WEBHOOK_ALLOW_PRIVATE=true:"
    );
    println!(
        "  curl -X POST http://127.0.0.1:8080/v1/accounts/$ACCOUNT/webhook-endpoints \\\n    -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: application/json' \\\n    -d '{{\"url\": \"http://{bound}/\", \"events\": [\"*\"]}}'"
    );
    if secret.is_none() {
        println!(
            "Signatures are not checked: pass --secret whsec_... (shown when the endpoint is created)."
        );
    }
    comptoir::webhooks::listen(listener, secret)?.await?;
    Ok(())
}

/// Reads `--ttl`: at most `max` (`COMPTOIR_JWT_MAX_TTL`), any size of
/// number refused without overflowing.
fn parse_ttl(raw: &str, max: time::Duration) -> anyhow::Result<time::Duration> {
    let ttl = comptoir::config::parse_duration(raw).with_context(|| {
        format!("--ttl {raw:?}: expected a positive number of seconds, or 30m, 12h, 7d")
    })?;
    if ttl > max {
        bail!(
            "--ttl {raw}: longer than the maximum token lifetime, {} s (COMPTOIR_JWT_MAX_TTL)",
            max.whole_seconds()
        );
    }
    Ok(ttl)
}

fn print_tokens(keys: &JwtKeys, account: &AccountId, addr: &str) -> anyhow::Result<()> {
    let ttl = keys.max_ttl().min(time::Duration::hours(24));
    let token = |sub: &str, role, acc: Option<&AccountId>| {
        keys.issue(sub, role, acc, ttl).map_err(anyhow::Error::msg)
    };
    println!("Comptoir is serving on http://{addr}");
    println!("  Swagger UI:  http://{addr}/swagger-ui/");
    println!("  OpenAPI:     http://{addr}/api-docs/openapi.json");
    let valid = match ttl.whole_minutes() {
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    };
    println!("Demo account {account}; tokens valid {valid} (Authorize -> bearer):");
    println!(
        "  admin:       {}",
        token("usr_demo_admin", Role::Admin, Some(account))?
    );
    println!(
        "  viewer:      {}",
        token("usr_demo_viewer", Role::Viewer, Some(account))?
    );
    println!(
        "  support:     {}",
        token("staff_demo", Role::Support, None)?
    );
    println!(
        "  integration: {}",
        token("svc_telephony", Role::Integration, Some(account))?
    );
    Ok(())
}

/// How invoices are made, from the configuration (VIES included).
fn billing(config: &Config) -> anyhow::Result<service::invoices::Billing> {
    let files = comptoir::store::blobs::BlobStore::new(&config.data_dir);
    Ok(service::invoices::Billing {
        seller: config.seller.clone(),
        grace: config.invoice_grace,
        vies: Some(comptoir::vies::Vies::new(
            &config.vies_url,
            config.vies_timeout,
            &config.seller.vat_number,
        )?),
        files,
    })
}

// Multi-threaded: the background workers of `serve` and the finalizer's
// preparation of the next drafts run beside the rest.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Openapi) => {
            print!("{}", comptoir::openapi_json());
            return Ok(());
        }
        Some(Command::Webhooks {
            command: WebhooksCommand::Listen { addr, secret },
        }) => return listen(addr, secret.as_deref()).await,
        _ => {}
    }
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    comptoir::api::events::install();
    let keys = JwtKeys::from_config(&config.jwt)?;
    let clock = config.now.map_or_else(Clock::system, Clock::fixed);
    let blobs = BlobStore::new(&config.data_dir);
    let data_key = config
        .data_key
        .as_ref()
        .map(|k| DataKey::from_base64(k.expose()))
        .transpose()?;

    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Openapi | Command::Webhooks { .. } => unreachable!("handled above"),
        Command::Token {
            role,
            account,
            subject,
            ttl,
        } => {
            let role = Role::parse(&role)
                .context("--role must be admin, viewer, support or integration")?;
            let account = account
                .map(|a| AccountId::parse(&a).context("--account must be an account id (acc_...)"))
                .transpose()?;
            if role.is_staff() == account.is_some() {
                bail!("support tokens take no --account; every other role needs one");
            }
            let token = keys
                .issue(
                    &subject,
                    role,
                    account.as_ref(),
                    parse_ttl(&ttl, keys.max_ttl())?,
                )
                .map_err(anyhow::Error::msg)?;
            println!("{token}");
        }
        Command::Migrate => {
            Store::connect(&config.database_url).await?;
            tracing::info!("migrations applied");
        }
        Command::Demo => {
            let store = Store::connect(&config.database_url).await?;
            let account = service::demo::load(&store, &blobs, data_key.as_ref(), clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("demo account {} loaded", account.id);
        }
        Command::Bill { period } => {
            let period = comptoir::domain::invoice::Period::parse(&period)
                .context("--period must be a month such as 2026-05")?;
            let store = Store::connect(&config.database_url).await?;
            let ctx = service::Ctx::system("comptoir-bill", clock.now());
            let billing = billing(&config)?;
            let report = service::invoices::run(&store, &ctx, &billing, period, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let failed = report.failed.len();
            let dto = comptoir::api::invoices::run_dto(period, report);
            println!("{}", serde_json::to_string_pretty(&dto)?);
            if failed > 0 {
                bail!("{failed} account(s) could not be billed");
            }
        }
        Command::Finalize => {
            let store = Store::connect(&config.database_url).await?;
            let ctx = service::Ctx::system("comptoir-finalize", clock.now());
            let report = service::invoices::finalize_due(&store, &ctx, &billing(&config)?)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.failed.is_empty() {
                bail!("{} draft(s) could not be finalized", report.failed.len());
            }
        }
        Command::Purge => {
            let store = Store::connect(&config.database_url).await?;
            let purged = service::purge::purge(&store, clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&purged)?);
        }
        Command::Serve { demo } => {
            let store = Store::connect(&config.database_url)
                .await
                .with_context(|| "opening the database")?;
            if demo {
                let account = service::demo::load(&store, &blobs, data_key.as_ref(), clock.now())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                print_tokens(&keys, &account.id, &config.addr)?;
            }
            if data_key.is_none() && store.begin_read().await?.any_sepa_method().await? {
                bail!("COMPTOIR_DATA_KEY is required: the database holds encrypted IBANs");
            }
            let app = Application::build(&config, store)?;
            tokio::spawn(service::purge::worker(app.store.clone(), app.clock.clone()));
            tokio::spawn(service::invoices::finalizer(
                app.store.clone(),
                app.clock.clone(),
                billing(&config)?,
                std::time::Duration::from_secs(60),
            ));
            tokio::spawn(service::einvoices::sweeper(
                app.store.clone(),
                app.blobs.clone(),
                std::time::Duration::from_secs(3600),
            ));
            tracing::info!(addr = %config.addr, backend = ?app.store.backend(), "serving");
            app.server.await?;
        }
    }
    Ok(())
}
