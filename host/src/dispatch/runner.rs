//! Background delivery on the tokio runtime: every install pumps its community's log on its
//! own task, so communities and plugins run in parallel and a slow, retrying or quarantined
//! install holds back nobody else.
//!
//! - A scheduler loop wakes on new events, on finished pumps and every `poll_interval`. It
//!   fires due timers (durably, see [`Plaza::enqueue_due_timers`]), relays the outbox, prunes
//!   logs now and then, and starts a pump for each install with work due, at most `workers` at
//!   a time. A pump handles at most `budget_per_turn` events before it yields its worker.
//! - Memory does not grow with lag: a pump holds one log batch ([`LOG_BATCH`](super::LOG_BATCH)
//!   entries) at a time and the scheduler keeps a few numbers per install; the backlog stays
//!   in the database.
//! - Shutdown: no new pumps start; running ones stop after their current invocation. Pumps
//!   still running when the grace period ends are abandoned: their invocations' effects were
//!   never committed, so the events are delivered again after a restart.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::{now_ms, Plaza, PumpStop};
use crate::error::Result;
use crate::storage::log::OutboxEntry;

/// How background delivery runs.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Pumps running at once (default 8).
    pub workers: usize,
    /// Longest sleep between scheduler rounds (default 50 ms).
    pub poll_interval: Duration,
    /// Events one pump handles before it yields its worker (default 64).
    pub budget_per_turn: usize,
    /// How often delivered log entries are pruned (default 30 s).
    pub prune_interval: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            workers: 8,
            poll_interval: Duration::from_millis(50),
            budget_per_turn: 64,
            prune_interval: Duration::from_secs(30),
        }
    }
}

/// Tells a running delivery when to stop.
#[derive(Debug, Clone)]
pub struct RunControl {
    /// Set to `true` to shut down.
    pub shutdown: watch::Receiver<bool>,
    /// Set to `true` when no more events will arrive: delivery then ends once nothing is due
    /// (quarantined installs aside).
    pub exit_when_idle: watch::Receiver<bool>,
    /// How long running pumps may take to finish after shutdown.
    pub grace: Duration,
}

/// How a delivery run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Invocations made.
    pub invocations: u64,
    /// Pumps still running when the grace period ended.
    pub abandoned: usize,
    /// It ended because everything was delivered (rather than by shutdown).
    pub idle: bool,
}

/// Where the outbox goes: the platform's API. Delivery is at least once per key; the
/// receiver drops keys it has seen.
pub trait OutboxSink: Send + Sync {
    /// Carries out `entries` (in order) or fails as a whole.
    fn deliver(&self, entries: &[OutboxEntry]) -> anyhow::Result<()>;
}

/// The sink when the embedded store is the platform: the effects are already in it.
pub struct EmbeddedPlatform;

impl OutboxSink for EmbeddedPlatform {
    fn deliver(&self, _entries: &[OutboxEntry]) -> anyhow::Result<()> {
        Ok(())
    }
}

type Key = (Arc<str>, String);

/// Waits for a change; a dropped sender never changes again (rather than waking at once,
/// which would spin the scheduler).
async fn changed(rx: &mut watch::Receiver<bool>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the scheduler knows of one install.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    busy: bool,
    /// Not before this time (a retry or a quarantine).
    wait_until: u64,
    quarantined: bool,
    /// Its cursor after its last pump.
    done_through: u64,
}

impl Plaza {
    /// Appends a firing of every timer due at `now_ms` to its community's log; answers the
    /// communities concerned.
    pub fn enqueue_due_timers(&self, now_ms: u64) -> Result<Vec<String>> {
        self.enqueue_due_timers_where(now_ms, |_| true)
    }

    /// [`Plaza::enqueue_due_timers`] for the communities `mine` accepts (a bus node's
    /// partitions).
    pub fn enqueue_due_timers_where(&self, now_ms: u64, mine: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut communities = Vec::new();
        for timer in self.store.due_timers(now_ms).into_iter().filter(|t| mine(&t.community)) {
            let entry = super::timer_entry(&timer);
            self.store.fire_timer(&timer, &entry, now_ms)?;
            if !communities.contains(&timer.community) {
                communities.push(timer.community.clone());
            }
        }
        Ok(communities)
    }

    /// Hands up to `limit` outbox entries to `sink` and marks them delivered; answers how many.
    pub fn relay_outbox(&self, sink: &dyn OutboxSink, limit: usize) -> Result<usize> {
        let pending = self.store.outbox_pending(limit)?;
        if pending.is_empty() {
            return Ok(0);
        }
        sink.deliver(&pending)
            .map_err(|e| crate::error::PlazaError::Other(e.context("relaying the outbox")))?;
        let keys: Vec<String> = pending.into_iter().map(|e| e.key).collect();
        self.store.outbox_delivered(&keys, now_ms())?;
        Ok(keys.len())
    }

    /// Delivers in the background until `control` says stop (see the module docs).
    pub async fn run_delivery(
        self: &Arc<Self>,
        options: RunnerOptions,
        mut control: RunControl,
        sink: Arc<dyn OutboxSink>,
    ) -> Result<RunSummary> {
        let workers = Arc::new(Semaphore::new(options.workers.max(1)));
        let mut tasks: JoinSet<(Key, Result<PumpStop>, usize)> = JoinSet::new();
        let mut progress: HashMap<Key, Progress> = HashMap::new();
        let mut summary = RunSummary::default();
        let mut last_prune = Instant::now();
        loop {
            if *control.shutdown.borrow() {
                break;
            }
            let now = now_ms();
            if let Err(e) = self.refresh_installs().await {
                tracing::error!("reloading installs changed by another process: {e}");
            }
            if let Err(e) = self.enqueue_due_timers(now) {
                tracing::error!("firing due timers: {e}");
            }
            let mut heads: HashMap<Arc<str>, u64> = HashMap::new();
            let mut idle = true;
            for install in self.all_installs_in_order() {
                let key = (install.community.clone(), install.plugin.name.clone());
                let head = *heads
                    .entry(install.community.clone())
                    .or_insert_with(|| self.store.head(&install.community).unwrap_or(0));
                let p = progress.entry(key.clone()).or_default();
                if p.busy {
                    idle = false;
                    continue;
                }
                if head <= p.done_through {
                    continue;
                }
                if !p.quarantined {
                    idle = false;
                }
                if p.wait_until > now {
                    continue;
                }
                p.busy = true;
                let plaza = self.clone();
                let workers = workers.clone();
                let budget = options.budget_per_turn.max(1);
                tasks.spawn(async move {
                    let Ok(_worker) = workers.acquire_owned().await else {
                        return (key, Ok(PumpStop::Budget), 0);
                    };
                    let mut reports = Vec::new();
                    let stop = plaza.pump(&install, now_ms(), budget, &mut reports).await;
                    (key, stop, reports.len())
                });
            }
            if let Err(e) = self.relay_outbox(sink.as_ref(), 512) {
                tracing::error!("{e}");
            }
            if last_prune.elapsed() >= options.prune_interval {
                last_prune = Instant::now();
                for community in heads.keys() {
                    if let Err(e) = self.store.prune(community) {
                        tracing::error!("pruning the log of `{community}`: {e}");
                    }
                }
            }
            if idle && tasks.is_empty() && *control.exit_when_idle.borrow() {
                summary.idle = true;
                let _ = self.relay_outbox(sink.as_ref(), usize::MAX);
                return Ok(summary);
            }
            tokio::select! {
                Some(done) = tasks.join_next() => self.record_pump(done, &mut progress, &mut summary),
                _ = self.new_events.notified() => {}
                _ = tokio::time::sleep(options.poll_interval) => {}
                _ = changed(&mut control.shutdown) => {}
                _ = changed(&mut control.exit_when_idle) => {}
            }
            while let Some(done) = tasks.try_join_next() {
                self.record_pump(done, &mut progress, &mut summary);
            }
        }
        // Shutdown: let running pumps finish their current invocation, within the grace period.
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = tokio::time::sleep(control.grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                done = tasks.join_next() => match done {
                    Some(done) => self.record_pump(done, &mut progress, &mut summary),
                    None => break,
                },
                _ = &mut deadline => {
                    summary.abandoned = tasks.len();
                    tasks.abort_all();
                    break;
                }
            }
        }
        self.stopping.store(false, Ordering::SeqCst);
        let _ = self.relay_outbox(sink.as_ref(), usize::MAX);
        Ok(summary)
    }

    fn record_pump(
        &self,
        done: std::result::Result<(Key, Result<PumpStop>, usize), tokio::task::JoinError>,
        progress: &mut HashMap<Key, Progress>,
        summary: &mut RunSummary,
    ) {
        let (key, stop, invocations) = match done {
            Ok(done) => done,
            Err(e) => {
                tracing::error!("a delivery task failed: {e}");
                return;
            }
        };
        summary.invocations += invocations as u64;
        let cursor = self.store.cursor(&key.0, &key.1).ok().flatten().unwrap_or_default();
        let p = progress.entry(key.clone()).or_default();
        p.busy = false;
        p.done_through = cursor.sequence;
        p.quarantined = false;
        p.wait_until = 0;
        match stop {
            Ok(PumpStop::Waiting(at)) => p.wait_until = at,
            Ok(PumpStop::Quarantined(at)) => {
                p.wait_until = at;
                p.quarantined = true;
            }
            Ok(PumpStop::Disabled) => p.quarantined = true,
            Ok(PumpStop::CaughtUp | PumpStop::Budget) => {}
            Err(e) => {
                tracing::error!("delivering to {} in `{}`: {e}", key.1, key.0);
                p.wait_until = now_ms() + 1_000;
            }
        }
    }
}
