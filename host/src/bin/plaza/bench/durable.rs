//! P3 and P6: end to end over the embedded database. Events are accepted durably in batches
//! (`Plaza::accept`: appended to the community's log and synced before it answers), background
//! delivery (`run_delivery`, as `plaza serve` runs it) invokes the echo plugin and commits each
//! invocation's effects, outbox entry and cursor move together (consecutive invocations in one
//! transaction: group commit), and the outbox relay
//! hands the reply to a sink that notes when it arrived. An event's latency is the time from
//! the `accept` call that took it to its reply reaching the sink.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use plaza_host::dispatch::{OutboxSink, RunControl, RunnerOptions};
use plaza_host::storage::log::OutboxEntry;
use plaza_host::{Plaza, PlazaConfig};
use tokio::sync::watch;

use super::plaza_side::{community, posted};
use super::report::{Bound, Scenario};
use super::stats::{peak_rss_mib, Figure, Run};
use super::Suite;

/// Events accepted per `accept` call.
pub const BATCH: usize = 256;

/// Notes when each event's reply reached the platform.
#[derive(Default)]
struct TimingSink {
    accepted: Mutex<HashMap<String, Instant>>,
    latencies_ns: Mutex<Vec<u64>>,
}

impl OutboxSink for TimingSink {
    fn deliver(&self, entries: &[OutboxEntry]) -> anyhow::Result<()> {
        let now = Instant::now();
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        let mut latencies = self.latencies_ns.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries {
            let event_id = entry.key.split('/').next().unwrap_or_default();
            if let Some(at) = accepted.get(event_id) {
                latencies.push(now.duration_since(*at).as_nanos() as u64);
            }
        }
        Ok(())
    }
}

/// One end-to-end run: `events` events spread over `communities` communities (round robin),
/// over a fresh data directory.
pub async fn run(
    suite: &Suite,
    config: PlazaConfig,
    communities: usize,
    fixture: &str,
    events: u64,
    first: u64,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let plaza = Arc::new(Plaza::open(dir.path(), config).await?);
    let echo = suite.fixture(fixture)?;
    let plugin = plaza.load_plugin(&echo, "echo.wasm").await?;
    for t in 0..communities {
        plaza.create_community(&community(t))?;
        plaza
            .install(&community(t), plugin.clone(), plugin.requested(), Vec::new())
            .await?;
    }
    let sink = Arc::new(TimingSink::default());
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (idle_tx, exit_when_idle) = watch::channel(false);
    let control = RunControl {
        shutdown,
        exit_when_idle,
        grace: Duration::from_secs(10),
    };
    let runner = {
        let plaza = plaza.clone();
        let sink: Arc<dyn OutboxSink> = sink.clone();
        tokio::spawn(async move { plaza.run_delivery(RunnerOptions::default(), control, sink).await })
    };

    let started = Instant::now();
    let mut n = first;
    while n < first + events {
        let batch_len = BATCH.min((first + events - n) as usize);
        let batch: Vec<_> = (n..n + batch_len as u64)
            .map(|i| posted(&community((i % communities as u64) as usize), i))
            .collect();
        {
            let now = Instant::now();
            let mut accepted = sink.accepted.lock().unwrap_or_else(|e| e.into_inner());
            for e in &batch {
                accepted.insert(e.meta.id.clone(), now);
            }
        }
        for answer in plaza.accept(batch).await {
            answer.context("accepting an event")?;
        }
        n += batch_len as u64;
    }
    let _ = idle_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(600);
    while (sink.latencies_ns.lock().unwrap_or_else(|e| e.into_inner()).len() as u64) < events {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the durable run did not finish in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let _ = shutdown_tx.send(true);
    let summary = runner.await??;
    anyhow::ensure!(
        summary.invocations >= events,
        "{} invocations for {events} events",
        summary.invocations
    );
    let latencies_ns = std::mem::take(&mut *sink.latencies_ns.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Run {
        events,
        elapsed,
        latencies_ns,
    })
}

fn durable_figure(suite: &Suite, name: &str, runs: Vec<Run>) -> Figure {
    let _ = suite;
    Figure::new(name, runs.into_iter().map(Run::summary).collect()).with_rss(peak_rss_mib())
}

async fn repeat_runs(suite: &Suite, communities: usize, echo: &str, first: &mut u64) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for _ in 0..suite.runs {
        runs.push(run(suite, suite.plaza_config(), communities, echo, suite.events, *first).await?);
        *first += suite.events;
    }
    Ok(runs)
}

/// P3 (8 communities) and P6 (one community), fresh instances and bounded reuse.
pub async fn measure(suite: &Suite, p1_fresh: &Figure) -> anyhow::Result<Vec<Scenario>> {
    let mut first = 0;
    let mut p3 = Scenario::new(
        "P3",
        "end to end durable: accept → log → plugin → effects committed (8 communities)",
    );
    let fresh = repeat_runs(suite, 8, "echo.wasm", &mut first).await?;
    p3.figures.push(durable_figure(suite, "durable, fresh instance", fresh));
    let reused = repeat_runs(suite, 8, "echo-reuse.wasm", &mut first).await?;
    p3.figures.push(durable_figure(suite, "durable, bounded reuse", reused));
    p3.figures.push(p1_fresh.clone());
    p3.ratio(
        "durable fresh / P1",
        "durable, fresh instance",
        &p1_fresh.name,
        Some(0.5),
    );
    p3.ratio("durable reuse / P1", "durable, bounded reuse", &p1_fresh.name, None);
    p3.notes.push(format!(
        "accept: batches of {BATCH}, one SQLite transaction each, the write-ahead log fsynced \
         after it and before the answer; delivery: each invocation's effects, outbox and cursor commit \
         together, consecutive ones grouped in one transaction (group commit, up to 256 or 20 ms) \
         with synchronous = NORMAL in WAL mode (no fsync; synced at checkpoints); latency = \
         accept call → reply handed to the platform sink"
    ));

    let mut p6 = Scenario::new("P6", "one hot community, one plugin, ordered, end to end durable");
    let fresh = repeat_runs(suite, 1, "echo.wasm", &mut first).await?;
    p6.figures
        .push(durable_figure(suite, "one community, fresh instance", fresh));
    let reused = repeat_runs(suite, 1, "echo-reuse.wasm", &mut first).await?;
    p6.figures
        .push(durable_figure(suite, "one community, bounded reuse", reused));
    let best = p6.figures.iter().map(|f| f.median.events_per_s).fold(0.0, f64::max);
    p6.bounds
        .push(Bound::at_least("events/s, the better mode", best, "events/s", 20_000.0));
    Ok(vec![p3, p6])
}
