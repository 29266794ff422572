//! `plaza serve`: the host as an HTTP service over the embedded store (docs/api.md), with
//! background delivery as in `plaza deliver`; and `plaza token`, which makes, lists and
//! revokes the API's bearer tokens on the same database. With `--bus nats://HOST:PORT` the
//! node consumes its share of the NATS JetStream partitions instead of delivering alone
//! (`plaza_host::bus`).
//!
//! `plaza serve` prints one JSON line when it listens (`{"status":"listening","address":..}`)
//! and one when it has stopped; SIGTERM or Ctrl-C stops it gracefully: it stops accepting,
//! lets requests in flight finish, then stops delivery.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use plaza_host::bus::BusSettings;
use plaza_host::dispatch::{EmbeddedPlatform, RetryPolicy, RunControl, RunnerOptions};
use plaza_host::serve::tokens::{self, NewToken, Role, TokenStore};
use plaza_host::serve::{AppState, PostgresTokenStore, ServeOptions, Server, SqliteTokenStore};
use plaza_host::storage::admin::AdminStore;
use plaza_host::storage::postgres::PostgresStore;
use plaza_host::storage::sqlite::SqliteStore;
use plaza_host::storage::StoreLocation;
use plaza_host::PlazaConfig;
use serde_json::json;
use tokio::sync::watch;

use crate::admin::Common;
use crate::deliver::Signals;

#[derive(Args)]
pub struct ServeArgs {
    /// The data directory holding the embedded database.
    #[arg(long, env = "PLAZA_DATA_DIR", default_value = "plaza-data")]
    data_dir: PathBuf,
    /// Where the host's state lives: `embedded` (SQLite in the data directory) or a PostgreSQL
    /// URL (`postgres://USER:PASSWORD@HOST:PORT/DB`) shared by several nodes; the data
    /// directory then keeps only the compile cache and `operator.toml`.
    #[arg(long, env = "PLAZA_STORE", default_value = "embedded", value_name = "URL")]
    store: StoreLocation,
    /// Address to listen on (port 0: any free port; the line printed says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// How long a client may take to send a request's headers, and then its body, in ms;
    /// also how long an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// How long a client waits for an answer, in ms (the operation itself runs to its end).
    #[arg(long, default_value_t = 60_000)]
    answer_timeout_ms: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = ServeOptions::default().max_connections)]
    max_connections: usize,
    /// How long requests in flight, then running invocations, may take to finish after
    /// SIGTERM, in ms.
    #[arg(long, default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// Installs delivered to at once.
    #[arg(long, default_value_t = RunnerOptions::default().workers)]
    workers: usize,
    /// Attempts per event before it becomes a dead letter.
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts)]
    max_attempts: u32,
    /// Scale out: consume events from NATS JetStream at this URL (`nats://HOST:PORT`), sharing
    /// the partitions with the other nodes, instead of delivering the local log alone.
    #[arg(long, value_name = "URL")]
    bus: Option<String>,
    /// Partitions of the bus (every node and publisher must agree).
    #[arg(long, default_value_t = 16, requires = "bus")]
    bus_partitions: u32,
    /// This node's id on the bus (unique among live nodes; random by default).
    #[arg(long, requires = "bus")]
    node_id: Option<String>,
    /// How long a partition lease lasts without renewal, in ms.
    #[arg(long, default_value_t = 6_000, requires = "bus")]
    lease_ttl_ms: u64,
    /// How long a consumed event may stay unacknowledged before the bus offers it again, in ms.
    #[arg(long, default_value_t = 10_000, requires = "bus")]
    ack_wait_ms: u64,
}

/// The bus settings from the flags, when `--bus` is given.
fn bus_settings(args: &ServeArgs) -> Option<BusSettings> {
    let url = args.bus.as_deref()?;
    let mut settings = BusSettings::new(url);
    settings.partitions = args.bus_partitions.max(1);
    if let Some(id) = &args.node_id {
        settings.node_id = id.clone();
    }
    settings.lease_ttl = Duration::from_millis(args.lease_ttl_ms.max(300));
    settings.ack_wait = Duration::from_millis(args.ack_wait_ms.max(100));
    Some(settings)
}

fn say(value: serde_json::Value) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Listen for signals before anything slow, so an early SIGTERM is graceful too.
    let mut signals = Signals::listen()?;
    let config = PlazaConfig {
        retry: RetryPolicy {
            max_attempts: args.max_attempts.max(1),
            ..RetryPolicy::default()
        },
        ..PlazaConfig::for_data_dir(&args.data_dir)?
    };
    let plaza = Arc::new(crate::admin::open_store(&args.store, &args.data_dir, config).await?);
    plaza.log_http_policy();
    let tokens = token_store(&args.store, &args.data_dir)?;
    if tokens.list()?.iter().all(|t| t.revoked) {
        tracing::warn!(
            "no API token is live: make one with `plaza token create --role operator --name NAME {}`",
            match &args.store {
                StoreLocation::Embedded => format!("--data-dir {}", args.data_dir.display()),
                StoreLocation::Postgres(_) => "--store URL".to_string(),
            }
        );
    }
    let grace = Duration::from_millis(args.shutdown_grace_ms);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (_no_exit_when_idle, exit_when_idle) = watch::channel(false);
    let control = RunControl {
        shutdown,
        exit_when_idle,
        grace,
    };
    let options = RunnerOptions {
        workers: args.workers,
        ..RunnerOptions::default()
    };
    let bus = bus_settings(&args);
    // A bus node publishes what it ingests; the publisher also checks the partition count.
    let publisher = match &bus {
        Some(settings) => Some(plaza_host::bus::Publisher::connect(&settings.url, settings.partitions).await?),
        None => None,
    };
    let mut runner = {
        let plaza = plaza.clone();
        tokio::spawn(async move {
            match bus {
                // The bus node delivers the partitions it holds; the local runner would deliver
                // every community from every node.
                Some(settings) => {
                    let node = plaza_host::bus::run_node(plaza, settings, control.shutdown).await?;
                    Ok::<_, anyhow::Error>(json!({"abandoned": 0, "bus_events": node.events}))
                }
                None => {
                    let summary = plaza.run_delivery(options, control, Arc::new(EmbeddedPlatform)).await?;
                    Ok(json!({"invocations": summary.invocations, "abandoned": summary.abandoned}))
                }
            }
        })
    };
    let serve_options = ServeOptions {
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
        answer_timeout: Duration::from_millis(args.answer_timeout_ms.max(1)),
        max_connections: args.max_connections,
        ..ServeOptions::default()
    };
    let state = match publisher {
        Some(publisher) => AppState::with_bus(plaza.clone(), tokens, serve_options, publisher),
        None => AppState::new(plaza.clone(), tokens, serve_options),
    };
    let server = Server::bind(&args.listen, state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    say(json!({"status": "listening", "address": server.address().to_string()}));
    let finished = tokio::select! {
        _ = signals.recv() => None,
        result = &mut runner => Some(result),
    };
    server.shutdown(grace).await;
    let _ = shutdown_tx.send(true);
    let mut summary = match finished {
        Some(result) => result??,
        None => runner.await??,
    };
    summary["status"] = json!("stopped");
    say(summary);
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and only its hash is kept.
    Create {
        /// `operator` (everything, including ingest and tokens) or `admin` (only its communities).
        #[arg(long)]
        role: String,
        /// A community an admin token administers; repeatable.
        #[arg(long = "community", short = 'c', value_name = "COMMUNITY")]
        communities: Vec<String>,
        /// Who or what the token is for.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token: a running `plaza serve` refuses it from its next request on.
    Revoke {
        /// The token's id (from `plaza token list`).
        id: u64,
    },
}

/// The API tokens of the store at `location`.
fn token_store(location: &StoreLocation, data_dir: &Path) -> anyhow::Result<Arc<dyn TokenStore>> {
    Ok(match location {
        StoreLocation::Embedded => Arc::new(SqliteTokenStore::open(data_dir)?),
        StoreLocation::Postgres(url) => Arc::new(PostgresTokenStore::new(Arc::new(postgres_store(url)?))),
    })
}

fn postgres_store(url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::open(url).context("opening the PostgreSQL store (--store)")
}

pub async fn token(common: Common, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = token_store(&common.store, &common.data_dir)?;
    match command {
        TokenCommand::Create {
            role,
            communities,
            name,
        } => {
            let new = NewToken {
                name,
                role: role.parse::<Role>()?,
                communities,
            };
            new.validate()?;
            // The store alone: loading every install's plugin is not needed for this check.
            let admin_store: Box<dyn AdminStore> = match &common.store {
                StoreLocation::Embedded => Box::new(SqliteStore::open(&common.data_dir)?),
                StoreLocation::Postgres(url) => Box::new(postgres_store(url)?),
            };
            tokens::check_communities(admin_store.as_ref(), &new)?;
            let (info, secret) = tokens::create(store.as_ref(), &new, now_ms())?;
            if common.json {
                let mut value = serde_json::to_value(&info)?;
                value["token"] = json!(secret.expose());
                println!("{value}");
            } else {
                let scope = match info.role {
                    Role::Operator => "operator".to_string(),
                    Role::Admin => format!("admin of {}", info.communities.join(", ")),
                };
                println!("token {} `{}` ({scope}); it is shown only now:", info.id, info.name);
                println!("{}", secret.expose());
            }
        }
        TokenCommand::List => {
            let list = store.list()?;
            if common.json {
                println!("{}", serde_json::to_value(&list)?);
            } else {
                for t in &list {
                    let state = if t.revoked { "revoked" } else { "live" };
                    println!(
                        "{:>4} {:<8} {:<8} {:<24} {}",
                        t.id,
                        t.role.name(),
                        state,
                        t.name,
                        t.communities.join(",")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let info = store.revoke(id, now_ms())?;
            if common.json {
                println!("{}", json!({"revoked": info.id}));
            } else {
                println!("revoked token {} `{}`", info.id, info.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
