//! `plaza`: run, inspect and demo Plaza community plugins.

mod demo;
mod inspect;
mod print;
mod run;

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
    /// Run a demo community with the sample plugins and print what each plugin did.
    #[command(after_help = "\
Examples:
  cargo xtask demo                      (builds the sample plugins, then runs this)
  plaza demo --plugins-dir target/wasm32-wasip2/ci
  plaza demo --plugins-dir DIR --json   (every report as JSON lines)")]
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PLAZA_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Inspect(args) => inspect::inspect(args).await,
            Command::Demo(args) => demo::demo(args).await,
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
