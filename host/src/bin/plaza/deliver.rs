//! `plaza deliver`: the host as a long-running process over the embedded store. It delivers
//! every community's log in the background and, with `--stdin`, accepts events (JSON lines)
//! and acknowledges each once it is on disk. SIGTERM or Ctrl-C shuts it down gracefully.
//!
//! Every line it prints on stdout is one JSON object with a `status`: `ready`, then one of
//! `accepted` / `duplicate` / `rejected` / `invalid` per input line, then `idle` (with
//! `--exit-when-idle`) or `stopped`.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use plaza_host::dispatch::{Acceptance, EmbeddedPlatform, OutboxSink, RetryPolicy, RunControl, RunnerOptions};
use plaza_host::event::EventDefaults;
use plaza_host::storage::log::OutboxEntry;
use plaza_host::{Plaza, PlazaConfig, PlazaError};
use serde_json::json;
use tokio::sync::watch;

/// Most lines acknowledged by one durable write.
const MAX_BATCH: usize = 512;

#[derive(Args)]
pub struct DeliverArgs {
    /// The data directory holding the embedded database.
    #[arg(long, env = "PLAZA_DATA_DIR", default_value = "plaza-data")]
    data_dir: PathBuf,
    /// Where the host's state lives: `embedded` (SQLite in the data directory) or a PostgreSQL
    /// URL shared by several hosts.
    #[arg(long, env = "PLAZA_STORE", default_value = "embedded", value_name = "URL")]
    store: plaza_host::storage::StoreLocation,
    /// Accept events from standard input, one JSON event per line (give each an `id`: a
    /// resent id is acknowledged as a duplicate, not delivered twice).
    #[arg(long)]
    stdin: bool,
    /// Exit once input has ended (or at once, without --stdin) and nothing is due.
    #[arg(long)]
    exit_when_idle: bool,
    /// Attempts per event before it becomes a dead letter.
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts)]
    max_attempts: u32,
    /// Wait after a first failed attempt, in ms (doubles per attempt, ±20% jitter).
    #[arg(long, default_value_t = RetryPolicy::default().base_delay_ms)]
    retry_base_ms: u64,
    /// Longest wait between attempts, in ms.
    #[arg(long, default_value_t = RetryPolicy::default().max_delay_ms)]
    retry_max_ms: u64,
    /// How long in-flight invocations may take to finish after SIGTERM, in ms.
    #[arg(long, default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// Installs delivered to at once.
    #[arg(long, default_value_t = RunnerOptions::default().workers)]
    workers: usize,
    /// Append every outbox entry (what the platform must carry out) to this file as JSON
    /// lines; without it the embedded store is the platform.
    #[arg(long)]
    outbox_file: Option<PathBuf>,
}

/// Appends outbox entries to a JSON-lines file, synced before they count as delivered.
struct OutboxFile(std::sync::Mutex<std::fs::File>);

impl OutboxSink for OutboxFile {
    fn deliver(&self, entries: &[OutboxEntry]) -> anyhow::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry)?);
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        Ok(())
    }
}

fn say(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub async fn deliver(args: DeliverArgs) -> anyhow::Result<ExitCode> {
    let config = PlazaConfig {
        retry: RetryPolicy {
            max_attempts: args.max_attempts.max(1),
            base_delay_ms: args.retry_base_ms,
            max_delay_ms: args.retry_max_ms,
            ..RetryPolicy::default()
        },
        ..PlazaConfig::for_data_dir(&args.data_dir)?
    };
    // Listen before anything slow, so an early SIGTERM is graceful too.
    let mut signals = Signals::listen()?;
    let plaza = Arc::new(crate::admin::open_store(&args.store, &args.data_dir, config).await?);
    plaza.log_http_policy();
    let sink: Arc<dyn OutboxSink> = match &args.outbox_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening the outbox file {}: {e}", path.display()))?;
            Arc::new(OutboxFile(std::sync::Mutex::new(file)))
        }
        None => Arc::new(EmbeddedPlatform),
    };
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (input_done_tx, input_done) = watch::channel(false);
    let control = RunControl {
        shutdown,
        exit_when_idle: input_done,
        grace: Duration::from_millis(args.shutdown_grace_ms),
    };
    let options = RunnerOptions {
        workers: args.workers,
        ..RunnerOptions::default()
    };
    let runner = {
        let plaza = plaza.clone();
        tokio::spawn(async move { plaza.run_delivery(options, control, sink).await })
    };
    say(json!({"status": "ready"}));
    let mut intake = if args.stdin {
        let plaza = plaza.clone();
        let stop = shutdown_tx.subscribe();
        Some(tokio::spawn(async move { read_stdin(&plaza, stop).await }))
    } else {
        None
    };
    let input_finished = async {
        match intake.as_mut() {
            Some(handle) => handle.await.map_err(anyhow::Error::from).and_then(|r| r),
            None => Ok(()),
        }
    };
    let mut signalled = tokio::select! {
        result = input_finished => {
            if let Err(e) = result {
                tracing::error!("reading events: {e:#}");
            }
            intake = None;
            false
        }
        _ = signals.recv() => true,
    };
    if !signalled {
        if args.exit_when_idle {
            let _ = input_done_tx.send(true);
        } else {
            signals.recv().await;
            signalled = true;
        }
    }
    let mut runner = runner;
    let mut finished = None;
    if !signalled {
        tokio::select! {
            result = &mut runner => finished = Some(result),
            _ = signals.recv() => signalled = true,
        }
    }
    if signalled {
        // Stop intake first: nothing is acknowledged after `stopped`.
        let _ = shutdown_tx.send(true);
        if let Some(handle) = intake {
            let _ = handle.await;
        }
    }
    let summary = match finished {
        Some(result) => result??,
        None => runner.await??,
    };
    if summary.idle {
        say(json!({"status": "idle", "invocations": summary.invocations}));
    } else {
        say(json!({"status": "stopped", "abandoned": summary.abandoned, "invocations": summary.invocations}));
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM and SIGINT (Ctrl-C).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Reads stdin on a thread of its own (a blocked read must not hold up shutdown) and hands
/// the lines over a bounded channel: when acceptance falls behind, reading waits.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(MAX_BATCH * 2);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads events from stdin until it ends or shutdown begins, accepting each batch of lines
/// that is already available with one durable write.
async fn read_stdin(plaza: &Plaza, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut lines = stdin_lines();
    let mut defaults = EventDefaults::new("local", plaza_now_ms());
    let mut line_no = 0usize;
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            line = lines.recv() => line,
        };
        let Some(first) = first else { return Ok(()) };
        let mut batch = vec![first?];
        while batch.len() < MAX_BATCH {
            match lines.try_recv() {
                Ok(line) => batch.push(line?),
                Err(_) => break,
            }
        }
        if *stop.borrow() {
            return Ok(());
        }
        // Answers go out in input order: parse errors in place, events once accepted.
        let mut answers: Vec<Option<serde_json::Value>> = Vec::new();
        let mut events = Vec::new();
        for line in batch {
            line_no += 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match parse_live(&mut defaults, trimmed, line_no) {
                Ok(event) => {
                    events.push(event);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(
                    json!({"status": "invalid", "line": line_no, "error": e.to_string()}),
                )),
            }
        }
        let keys: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.meta.id.clone(), e.meta.community.clone()))
            .collect();
        let accepted = if events.is_empty() {
            Vec::new()
        } else {
            plaza.accept(events).await
        };
        let mut accepted = keys
            .into_iter()
            .zip(accepted)
            .map(|((id, community), answer)| match answer {
                Ok(Acceptance::Accepted { sequence }) => {
                    json!({"status": "accepted", "id": id, "community": community, "sequence": sequence})
                }
                Ok(Acceptance::Duplicate { sequence }) => {
                    json!({"status": "duplicate", "id": id, "community": community, "sequence": sequence})
                }
                Ok(Acceptance::Rejected { plugin, reason }) => {
                    json!({"status": "rejected", "id": id, "community": community, "plugin": plugin, "reason": reason})
                }
                // A store failure is not the event's fault: the sender should send it again.
                Err(e @ PlazaError::Store(_)) => {
                    json!({"status": "failed", "id": id, "community": community, "error": e.to_string(), "retry": true})
                }
                Err(e) => json!({"status": "invalid", "id": id, "community": community, "error": e.to_string()}),
            });
        for answer in answers {
            if let Some(line) = answer.or_else(|| accepted.next()) {
                say(line);
            }
        }
    }
}

/// Parses a live event: a missing timestamp is now, and a missing id is made unique to this
/// moment (so it cannot collide with an id accepted before a restart; such an event cannot be
/// resent idempotently, which is why producers should give ids).
fn parse_live(
    defaults: &mut EventDefaults,
    text: &str,
    line_no: usize,
) -> Result<plaza_host::Event, plaza_host::event::EventError> {
    let origin = format!("stdin line {line_no}");
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| plaza_host::event::EventError::NotJson {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
    if let Some(object) = value.as_object_mut() {
        let now = plaza_now_ms();
        object.entry("timestamp_ms").or_insert_with(|| json!(now));
        object
            .entry("id")
            .or_insert_with(|| json!(format!("auto-{now}-{line_no}")));
    }
    defaults.from_value(value, &origin)
}

fn plaza_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
