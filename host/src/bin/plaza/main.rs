//! `plaza`: run, inspect and demo Plaza community plugins.

mod admin;
mod bench;
mod check;
mod deliver;
mod delivery;
mod demo;
mod inspect;
mod log_fields;
mod new;
mod package;
mod print;
mod progress;
mod run;
mod secret;
mod serve;
mod signing;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Plaza runs community plugins as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "plaza", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay an event file through a plugin and print every action, log line and trap.
    #[command(after_help = "\
Examples:
  plaza run --plugin poll.wasm --events poll.jsonl
  plaza run --plugin welcome_bot.wasm --events joins.jsonl --grant storage:kv --pretty
  plaza run --plugin anti_spam.wasm --events chat.jsonl --grant all --config max-links=2

Each line of the event file is one JSON event, e.g.
  {\"type\":\"member-joined\",\"member\":{\"id\":\"alice\",\"display_name\":\"Alice\"}}
  {\"type\":\"message-posted\",\"channel\":\"general\",\"message_id\":\"m1\",\"author\":\"alice\",\"text\":\"/poll Lunch? pizza sushi\"}
Fields id, community, sequence, timestamp_ms and attempt may be left out. See docs/events.md.")]
    Run(run::RunArgs),
    /// Show a plugin's world, WIT version, exports, imports, size and the capabilities it needs.
    #[command(after_help = "\
Examples:
  plaza inspect target/wasm32-wasip2/ci/poll.wasm
  plaza inspect poll.wasm --json")]
    Inspect(inspect::InspectArgs),
    /// Create a plugin project (manifest, code, a test, README) in Rust, Python or JavaScript.
    #[command(after_help = "\
Examples:
  plaza new greeter                    # Rust, with the SDK of this Plaza checkout
  plaza new greeter --lang python      # built with componentize-py
  plaza new greeter --lang js --dir plugins/greeter")]
    New(new::NewArgs),
    /// Check a plugin for conformance before shipping or at review: exit code 0 when it passes.
    #[command(after_help = "\
Examples:
  plaza check poll.wasm                                   (packaged, or plaza.toml beside it)
  plaza check target/wasm32-wasip2/ci/poll.wasm --manifest sample-plugins/poll/plaza.toml
  plaza check poll.wasm --json
  plaza check poll.wasm --junit check.xml                 (JUnit XML for CI)

Runs the component in an in-memory community with the host's default budgets and no network.
See docs/check.md.")]
    Check(check::CheckArgs),
    /// Run a demo community with the sample plugins and print what each plugin did.
    #[command(after_help = "\
Examples:
  cargo xtask demo                      (builds the sample plugins, then runs this)
  plaza demo --plugins-dir target/wasm32-wasip2/ci
  plaza demo --plugins-dir DIR --json   (every report as JSON lines)")]
    Demo(demo::DemoArgs),
    /// Embed a plaza.toml manifest into a component, so one .wasm file ships the plugin.
    #[command(after_help = "\
Examples:
  plaza package target/wasm32-wasip2/release/poll.wasm --manifest sample-plugins/poll/plaza.toml -o poll.wasm")]
    Package(package::PackageArgs),
    /// Create an Ed25519 key pair for signing packages (the private key file is mode 0600).
    #[command(after_help = "Example:\n  plaza keygen -o ~/.plaza/dev.key      (also writes ~/.plaza/dev.key.pub)")]
    Keygen(signing::KeygenArgs),
    /// Sign a packaged plugin with the developer's key (covers every byte, manifest included).
    #[command(after_help = "\
Examples:
  plaza sign poll.wasm --key ~/.plaza/dev.key
  plaza sign poll.wasm --key new.key --endorsement new.endorsement.json   (after a key rotation)")]
    Sign(signing::SignArgs),
    /// Platform review: stamp a developer-signed package as reviewed with the platform key.
    #[command(after_help = "Example:\n  plaza review approve poll.wasm --key platform.key")]
    Review {
        #[command(subcommand)]
        command: signing::ReviewCommand,
    },
    /// Developer keys: endorse a new key with the old one (key rotation).
    #[command(after_help = "Example:\n  plaza key endorse --old old.key --new new.key.pub -o new.endorsement.json")]
    Key {
        #[command(subcommand)]
        command: signing::KeyCommand,
    },
    /// Show a package's signatures and whether this host's signing policy accepts it.
    #[command(after_help = "Examples:\n  plaza verify poll.wasm\n  plaza verify poll.wasm -c rust-lovers --json")]
    Verify {
        /// The package.
        package: std::path::PathBuf,
        /// Check against this community's policy (it may be stricter than the operator's).
        #[arg(long, short)]
        community: Option<String>,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Set a community's signing policy, stricter than the operator's; `operator` follows the
    /// operator's again.
    #[command(after_help = "Example:\n  plaza signing-policy -c rust-lovers platform-reviewed")]
    SigningPolicy {
        /// The community.
        #[arg(long, short)]
        community: String,
        /// unsigned-allowed, developer-signed, platform-reviewed, or operator.
        policy: String,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Create or list communities.
    #[command(after_help = "\
Examples:
  plaza community create rust-lovers --data-dir ./plaza-data
  plaza community list --json")]
    Community {
        #[command(subcommand)]
        command: admin::CommunityCommand,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Install a packaged plugin in a community; nothing is granted unless you say so.
    #[command(after_help = "\
Examples:
  plaza install poll.wasm -c rust-lovers
  plaza install welcome-bot.wasm -c rust-lovers --grant messages:send,storage:kv --config channel=general")]
    Install {
        #[command(flatten)]
        args: admin::InstallArgs,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Grant capabilities the plugin requests.
    #[command(after_help = "Example:\n  plaza grant -c rust-lovers -p poll messages:send storage:kv")]
    Grant {
        #[command(flatten)]
        target: admin::Target,
        /// Capabilities (names or comma-separated lists).
        #[arg(required = true)]
        capabilities: Vec<String>,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Revoke capabilities; the plugin's next host call needing one is denied.
    #[command(after_help = "Example:\n  plaza revoke -c rust-lovers -p poll messages:send")]
    Revoke {
        #[command(flatten)]
        target: admin::Target,
        /// Capabilities (names or comma-separated lists).
        #[arg(required = true)]
        capabilities: Vec<String>,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Deliver events to an install again.
    Enable {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Stop delivering events to an install (the kill switch).
    Disable {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Change an install's configuration (KEY=VALUE, checked against the manifest's schema).
    Config {
        #[command(flatten)]
        target: admin::Target,
        /// KEY=VALUE items.
        #[arg(required = true)]
        items: Vec<String>,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Offer a new version of an installed plugin; one asking for more waits for approval.
    #[command(after_help = "Example:\n  plaza upgrade poll-0.2.0.wasm -c rust-lovers")]
    Upgrade {
        /// The packaged new version.
        plugin: std::path::PathBuf,
        /// The community.
        #[arg(long, short)]
        community: String,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Approve a waiting upgrade: grant what it adds and switch to it.
    Approve {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Reject a waiting upgrade.
    RejectUpgrade {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Uninstall a plugin; its data in the community is deleted.
    Uninstall {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Read the audit log.
    #[command(after_help = "Example:\n  plaza audit -c rust-lovers -p poll --limit 20")]
    Audit {
        #[command(flatten)]
        args: admin::AuditArgs,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Show a community's plugins: version, state, requested vs granted, health.
    Plugins {
        /// The community.
        #[arg(long, short)]
        community: String,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Set an install's limits, within the operator's maximums.
    #[command(after_help = "Example:\n  plaza limits -c rust-lovers -p poll --memory-mb 32 --cpu-ms 100")]
    Limits {
        #[command(flatten)]
        target: admin::Target,
        #[command(flatten)]
        args: admin::LimitArgs,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Show an install's circuit breaker; --reset closes it and delivers held events.
    #[command(after_help = "Example:\n  plaza breaker -c rust-lovers -p poll --reset")]
    Breaker {
        #[command(flatten)]
        target: admin::Target,
        /// Close the breaker and deliver the held events.
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Set what happens to a message when a review hook fails: fail-open or fail-closed.
    #[command(after_help = "Example:\n  plaza review-policy -c rust-lovers fail-closed")]
    ReviewPolicy {
        /// The community.
        #[arg(long, short)]
        community: String,
        /// fail-open (post the message) or fail-closed (hold it).
        policy: String,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Set, list or remove an install's secrets (API keys its http:fetch requests may use).
    #[command(after_help = "\
Examples:
  plaza secret new-key --out /etc/plaza/secrets.key
  printf %s \"$KEY\" | plaza secret set -c rust-lovers -p group-buy merchant_key --host api.merchant.example
  plaza secret list -c rust-lovers -p group-buy")]
    Secret {
        #[command(subcommand)]
        command: secret::SecretCommand,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Run the host: deliver every community's event log in the background (retries, dead
    /// letters, timers); with --stdin, accept events and acknowledge each once it is on disk.
    #[command(after_help = "\
Examples:
  plaza deliver --data-dir ./plaza-data
  producer | plaza deliver --stdin --data-dir ./plaza-data
  plaza deliver --exit-when-idle          (deliver the backlog, then exit)

Prints JSON lines: {\"status\":\"ready\"}, then per input line accepted / duplicate / rejected /
invalid, then idle or stopped. SIGTERM stops intake and waits --shutdown-grace-ms for
in-flight invocations.")]
    Deliver(deliver::DeliverArgs),
    /// Show each install's delivery: cursor, lag, failed attempts, dead letters, breaker, last error.
    #[command(after_help = "Example:\n  plaza status --data-dir ./plaza-data --json")]
    Status {
        #[command(flatten)]
        common: admin::Common,
    },
    /// List, show or replay dead letters: events an install gave up on.
    #[command(after_help = "\
Examples:
  plaza dead-letters list -c rust-lovers -p poll
  plaza dead-letters show 7
  plaza dead-letters replay 7")]
    DeadLetters {
        #[command(subcommand)]
        command: delivery::DeadLetterCommand,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Measure the host: without a subcommand, the scenarios of BENCHMARKS.md side by side with
    /// their baselines (raw wasmtime, Extism); `backlog` prints memory while a stuck install's
    /// backlog grows; `http` fires concurrent ingest requests at a local `plaza serve`.
    #[command(after_help = "\
Examples:
  cargo xtask bench                      (builds the fixtures, then runs plaza bench)
  plaza bench --quick
  plaza bench --only P1,P1b --runs 7
  plaza bench backlog --plugin target/plugins/welcome-bot.wasm --events 1000000
  plaza bench http --requests 20000 --concurrency 64 --batch 10")]
    Bench(bench::BenchArgs),
    /// Run the host as an HTTP service: event ingest, the admin API, the web console,
    /// /metrics, and background delivery (docs/api.md).
    #[command(after_help = "\
Examples:
  plaza token create --role operator --name ops --data-dir ./plaza-data
  plaza serve --data-dir ./plaza-data --listen 127.0.0.1:8080
  curl -H 'Authorization: Bearer plaz_...' http://127.0.0.1:8080/v1/communities

Prints {\"status\":\"listening\",\"address\":\"127.0.0.1:8080\"} once it listens. SIGTERM stops
accepting, lets requests in flight finish, then stops delivery (--shutdown-grace-ms).")]
    Serve(serve::ServeArgs),
    /// Create, list or revoke the HTTP API's bearer tokens (shown once; only hashes are kept).
    #[command(after_help = "\
Examples:
  plaza token create --role operator --name ops
  plaza token create --role admin --community town --community gown --name 'town admins'
  plaza token list --json
  plaza token revoke 3")]
    Token {
        #[command(subcommand)]
        command: serve::TokenCommand,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Deliver an event file to the communities in the data directory.
    Ingest {
        /// The event file (JSON lines).
        #[arg(long)]
        events: std::path::PathBuf,
        #[command(flatten)]
        common: admin::Common,
    },
}

fn main() -> ExitCode {
    // PLAZA_LOG filters (e.g. `info`, `plaza_host::guest=debug`); PLAZA_LOG_FORMAT=json writes
    // JSON lines, each with its span's fields (plugin, version, community, event_id, attempt).
    // Colours only on a terminal: escape codes garble log files, and styling every span's
    // field names was a third of the cost of the span each invocation opens.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PLAZA_LOG"))
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    if std::env::var("PLAZA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else if colours {
        logs.init();
    } else {
        logs.fmt_fields(log_fields::PlainFields).init();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Inspect(args) => inspect::inspect(args).await,
            Command::New(args) => new::new(args),
            Command::Check(args) => check::check(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Package(args) => package::package(args).await,
            Command::Keygen(args) => signing::keygen(args),
            Command::Sign(args) => signing::sign(args),
            Command::Review { command } => signing::review(command).await,
            Command::Key { command } => signing::key(command),
            Command::Verify {
                package,
                community,
                common,
            } => signing::verify_package(common, package, community).await,
            Command::SigningPolicy {
                community,
                policy,
                common,
            } => signing::signing_policy(common, community, policy).await,
            Command::Community { command, common } => admin::community(common, command).await,
            Command::Install { args, common } => admin::install(common, args).await,
            Command::Grant {
                target,
                capabilities,
                common,
            } => admin::grant(common, target, capabilities, false).await,
            Command::Revoke {
                target,
                capabilities,
                common,
            } => admin::grant(common, target, capabilities, true).await,
            Command::Enable { target, common } => admin::enable(common, target, true).await,
            Command::Disable { target, common } => admin::enable(common, target, false).await,
            Command::Config { target, items, common } => admin::config(common, target, items).await,
            Command::Upgrade {
                plugin,
                community,
                common,
            } => admin::upgrade(common, plugin, community).await,
            Command::Approve { target, common } => admin::approve(common, target, true).await,
            Command::RejectUpgrade { target, common } => admin::approve(common, target, false).await,
            Command::Uninstall { target, common } => admin::uninstall(common, target).await,
            Command::Audit { args, common } => admin::audit(common, args).await,
            Command::Plugins { community, common } => admin::plugins(common, community).await,
            Command::Ingest { events, common } => admin::ingest(common, events).await,
            Command::Secret { command, common } => secret::secret(common, command).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Token { command, common } => serve::token(common, command).await,
            Command::Deliver(args) => deliver::deliver(args).await,
            Command::Bench(args) => bench::bench(args).await,
            Command::Status { common } => delivery::status(common).await,
            Command::DeadLetters { command, common } => delivery::dead_letters(common, command).await,
            Command::Limits { target, args, common } => admin::limits(common, target, args).await,
            Command::Breaker { target, reset, common } => admin::breaker(common, target, reset).await,
            Command::ReviewPolicy {
                community,
                policy,
                common,
            } => admin::review_policy(common, community, policy).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// Prints an error on one line and returns a failing exit code.
fn fail(e: anyhow::Error) -> ExitCode {
    let text = format!("{e:#}").replace('\n', " ");
    eprintln!("error: {text}");
    ExitCode::from(2)
}
