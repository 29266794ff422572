//! `plaza status` and `plaza dead-letters`: where each install's delivery stands, and the
//! events installs gave up on.

use std::process::ExitCode;

use clap::Subcommand;
use plaza_host::storage::log::DeadLetter;
use serde_json::json;

use crate::admin::{open, Common};

pub async fn status(common: Common) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let statuses = plaza.delivery_status()?;
    let http = plaza.http_summary();
    if common.json {
        println!("{}", json!({ "installs": statuses, "outbound_http": http }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("outbound HTTP: {http}");
    if statuses.is_empty() {
        println!("no plugins installed");
    }
    println!(
        "{:<20} {:<20} {:>8} {:>8} {:>6} {:>5} {:<10} last error",
        "community", "plugin", "cursor", "lag", "tries", "dead", "breaker"
    );
    for s in statuses {
        let breaker = if s.enabled {
            serde_json::to_value(s.breaker)?.as_str().unwrap_or("?").to_string()
        } else {
            "disabled".to_string()
        };
        println!(
            "{:<20} {:<20} {:>8} {:>8} {:>6} {:>5} {:<10} {}",
            s.community,
            s.plugin,
            s.cursor,
            s.lag,
            s.failed_attempts,
            s.dead_letters,
            breaker,
            s.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    /// List dead letters, oldest first.
    List {
        /// Only this community.
        #[arg(long, short)]
        community: Option<String>,
        /// Only this plugin.
        #[arg(long, short)]
        plugin: Option<String>,
    },
    /// Show one dead letter: the event and every attempt's failure.
    Show {
        /// Its id.
        id: u64,
    },
    /// Deliver a dead letter's event again, to its install only, after what is already queued.
    Replay {
        /// Its id.
        id: u64,
    },
}

fn summary(d: &DeadLetter) -> String {
    let last = d
        .failures
        .last()
        .map_or("-".to_string(), |f| format!("{}: {}", f.reason, f.message));
    format!(
        "#{:<5} {:<16} {:<16} {} {} (sequence {}), {} attempt(s); last: {last}",
        d.id,
        d.community,
        d.plugin,
        d.event.kind.type_name(),
        d.event.meta.id,
        d.sequence,
        d.failures.len()
    )
}

pub async fn dead_letters(common: Common, command: DeadLetterCommand) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    match command {
        DeadLetterCommand::List { community, plugin } => {
            let list = plaza.dead_letters(community.as_deref(), plugin.as_deref())?;
            if common.json {
                println!("{}", serde_json::to_value(&list)?);
            } else if list.is_empty() {
                println!("no dead letters");
            } else {
                for d in &list {
                    println!("{}", summary(d));
                }
            }
        }
        DeadLetterCommand::Show { id } => {
            let d = plaza.dead_letter(id)?;
            if common.json {
                println!("{}", serde_json::to_value(&d)?);
            } else {
                println!("{}", summary(&d));
                println!("event: {}", serde_json::to_string(&d.event)?);
                for f in &d.failures {
                    println!("  attempt {} at {}: {}: {}", f.attempt, f.at_ms, f.reason, f.message);
                }
            }
        }
        DeadLetterCommand::Replay { id } => {
            let (appended, reports) = plaza.replay_dead_letter(id).await?;
            let failed = reports.iter().filter(|r| !r.outcome.is_ok()).count();
            if common.json {
                println!(
                    "{}",
                    json!({"replayed": id, "sequence": appended.sequence, "invocations": reports})
                );
            } else {
                println!(
                    "dead letter {id} queued again as sequence {}; {} invocation(s), {failed} failed",
                    appended.sequence,
                    reports.len()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
