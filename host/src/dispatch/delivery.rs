//! Delivering a community's log to one install: in order, at least once, with each event's
//! effects committed exactly once together with the cursor move.
//!
//! [`Plaza::pump`] reads the log after the install's cursor a batch at a time (the only events
//! it holds in memory), skips entries the install does not receive, and invokes the handler on
//! the next one. A success commits the effects, outbox entries, audit entries and the cursor
//! move in one transaction (which the store may share with the next commits: group commit). A
//! failure discards the effects and records the attempt; the install then waits for the retry
//! (per [`RetryPolicy`](super::retry::RetryPolicy)), so later events never overtake it. After
//! the last attempt, or at once for a plugin error the plugin marked non-retryable, the event
//! becomes a dead letter and the install moves on (skip and continue). Every failed attempt counts towards the circuit breaker; while it is open the
//! install's events wait in the log, and the next attempt after its backoff is the trial.
//!
//! Cursor changes are compare-and-set, so two pumps of one install (in this process or another
//! one sharing the database) cannot both commit an event; within a process a per-install lock
//! keeps them from invoking it twice in the first place.

use std::borrow::Cow;
use std::sync::Arc;

use tracing::Instrument;

use super::{breaker, now_ms, routing, Install, Plaza};
use crate::error::{PlazaError, Result};
use crate::event::Event;
use crate::metrics::DeliveryOutcome;
use crate::runtime::report::{Failure, FailureReason, InvocationReport, Outcome};
use crate::storage::admin::{AuditEntry, BreakerState};
use crate::storage::log::{Appended, AttemptFailure, Commit, Cursor, DeadLetter, LogEntry};

/// How many log entries a pump reads at once: the most it holds in memory per install.
pub const LOG_BATCH: usize = 64;

/// Why a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpStop {
    /// Nothing left in the log for the install.
    CaughtUp,
    /// The next event waits for a retry at this time.
    Waiting(u64),
    /// The circuit breaker is open until this time.
    Quarantined(u64),
    /// The install is disabled.
    Disabled,
    /// It used its invocation budget; more may be due.
    Budget,
}

impl Plaza {
    /// The event `install` receives for a log entry, if any (borrowed from the entry unless
    /// routing changed it).
    fn receives<'a>(install: &Install, entry: &'a LogEntry) -> Option<Cow<'a, Event>> {
        match &entry.target {
            Some(target) if *target != install.plugin.name => None,
            Some(_) if entry.event.kind.is_install_scoped() => Some(Cow::Borrowed(&entry.event)),
            _ => routing::route(&entry.event, install),
        }
    }

    /// Delivers `install`'s due log entries in order, at most `budget` invocations, at time
    /// `now_ms`; appends each invocation's report to `reports`. Its commits are flushed (see
    /// [`DeliveryLog::flush_commits`](crate::storage::log::DeliveryLog::flush_commits)) before
    /// it returns.
    pub(crate) async fn pump(
        &self,
        install: &Install,
        now_ms: u64,
        budget: usize,
        reports: &mut Vec<InvocationReport>,
    ) -> Result<PumpStop> {
        let claim = self.pump_locks.claim(&install.community, &install.plugin.name);
        let one_pump = claim.lock().await;
        let stop = self.pump_turn(install, reports, now_ms, budget).await;
        // What the runner and the outbox see next is committed.
        let flushed = self.store.flush_commits();
        drop(one_pump);
        drop(claim);
        flushed?;
        stop
    }

    /// [`pump`](Self::pump) under the install's lock, without the final flush.
    async fn pump_turn(
        &self,
        install: &Install,
        reports: &mut Vec<InvocationReport>,
        now_ms: u64,
        budget: usize,
    ) -> Result<PumpStop> {
        let (community, plugin) = (&*install.community, install.plugin.name.as_str());
        // Installing gives the cursor; none means it was uninstalled since this pump began.
        let Some(mut cursor) = self.store.cursor(community, plugin)? else {
            return Ok(PumpStop::CaughtUp);
        };
        if !install.enabled {
            // Events that arrive while it is disabled are not for it.
            let head = self.store.head(community)?;
            if head > cursor.sequence {
                self.store.skip(community, plugin, cursor.sequence, head)?;
            }
            return Ok(PumpStop::Disabled);
        }
        let mut invoked = 0;
        'read: loop {
            let mut breaker = self.breaker_record(install);
            if breaker.state == BreakerState::Open {
                if !breaker::trial_due(&breaker, now_ms) {
                    return Ok(PumpStop::Quarantined(breaker.retry_at_ms.unwrap_or(now_ms)));
                }
                breaker.state = BreakerState::HalfOpen;
                self.save_breaker(install, breaker);
            }
            if let Some(at) = cursor.next_attempt_ms.filter(|at| *at > now_ms) {
                return Ok(PumpStop::Waiting(at));
            }
            if invoked >= budget {
                // Before reading: a batch read (and decoded) only to stop at its first entry
                // doubled the reads of every busy pump.
                return Ok(PumpStop::Budget);
            }
            let entries = self.store.read_log(community, cursor.sequence, LOG_BATCH)?;
            if entries.is_empty() {
                return Ok(PumpStop::CaughtUp);
            }
            let mut passed = cursor.sequence;
            for entry in entries {
                let Some(mut event) = Self::receives(install, &entry) else {
                    passed = entry.sequence;
                    continue;
                };
                if passed != cursor.sequence {
                    if !self.store.skip(community, plugin, cursor.sequence, passed)? {
                        let Some(moved) = self.reload_cursor(community, plugin)? else {
                            return Ok(PumpStop::CaughtUp);
                        };
                        cursor = moved;
                        continue 'read;
                    }
                    cursor = Cursor {
                        sequence: passed,
                        ..Cursor::default()
                    };
                }
                if invoked >= budget || self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return Ok(PumpStop::Budget);
                }
                invoked += 1;
                let attempt = cursor.failures.len() as u32 + 1;
                if event.meta.attempt != attempt {
                    event.to_mut().meta.attempt = attempt;
                }
                let span = super::invocation_span(install, "handle-event", &event.meta.id, event.meta.attempt);
                let delivered = self.deliver_entry(install, &cursor, &entry, &event, now_ms);
                match delivered.instrument(span).await? {
                    Delivered::Committed(report) => {
                        reports.push(report);
                        cursor = Cursor {
                            sequence: entry.sequence,
                            ..Cursor::default()
                        };
                        passed = entry.sequence;
                    }
                    Delivered::DeadLettered(report, quarantined) => {
                        reports.push(report);
                        cursor = Cursor {
                            sequence: entry.sequence,
                            ..Cursor::default()
                        };
                        passed = entry.sequence;
                        if let Some(until) = quarantined {
                            return Ok(PumpStop::Quarantined(until));
                        }
                    }
                    Delivered::Retry(report, at) => {
                        reports.push(report);
                        let breaker = self.breaker_record(install);
                        if breaker.state == BreakerState::Open {
                            return Ok(PumpStop::Quarantined(breaker.retry_at_ms.unwrap_or(at)));
                        }
                        return Ok(PumpStop::Waiting(at));
                    }
                    Delivered::Superseded => {
                        let Some(moved) = self.reload_cursor(community, plugin)? else {
                            return Ok(PumpStop::CaughtUp);
                        };
                        cursor = moved;
                        continue 'read;
                    }
                }
            }
            if passed != cursor.sequence {
                if !self.store.skip(community, plugin, cursor.sequence, passed)? {
                    let Some(moved) = self.reload_cursor(community, plugin)? else {
                        return Ok(PumpStop::CaughtUp);
                    };
                    cursor = moved;
                    continue;
                }
                cursor = Cursor {
                    sequence: passed,
                    ..Cursor::default()
                };
            }
        }
    }

    /// The cursor after another pump moved it; `None` once the install is gone (uninstalled
    /// meanwhile: its cursor must not be recreated).
    fn reload_cursor(&self, community: &str, plugin: &str) -> Result<Option<Cursor>> {
        Ok(self.store.cursor(community, plugin)?)
    }

    /// Invokes the handler on one entry and commits, retries or dead-letters it.
    async fn deliver_entry(
        &self,
        install: &Install,
        cursor: &Cursor,
        entry: &LogEntry,
        event: &Event,
        now_ms: u64,
    ) -> Result<Delivered> {
        let (community, plugin) = (&*install.community, install.plugin.name.as_str());
        let (mut report, actions) = self.run_handler(install, event).await;
        if report.outcome.is_ok() {
            report.actions = actions;
            let audit = self.audit_entries(install, &report);
            let commit = Commit {
                community,
                plugin,
                from: cursor.sequence,
                to: entry.sequence,
                event_id: &event.meta.id,
                now_ms,
                actions: &report.actions,
                audit: &audit,
            };
            match self.store.commit(&commit) {
                Ok(true) => {
                    self.metrics.delivery(community, plugin, DeliveryOutcome::Ok);
                    tracing::debug!(sequence = entry.sequence, actions = report.actions.len(), "delivered");
                    self.after_invocation(install, &report, now_ms);
                    return Ok(Delivered::Committed(report));
                }
                Ok(false) => return Ok(Delivered::Superseded),
                Err(e) => {
                    tracing::error!("committing the effects failed: {e}");
                    self.metrics.invocation_failed(plugin, FailureReason::StoreFailed);
                    report.outcome =
                        Outcome::Failed(Failure::store_failed(format!("committing the effects failed: {e}")));
                    report.discarded_actions = std::mem::take(&mut report.actions).len();
                }
            }
        }
        let failure = report.outcome.failure().cloned().expect("a failed outcome");
        let mut failures = cursor.failures.clone();
        failures.push(AttemptFailure {
            attempt: event.meta.attempt,
            at_ms: now_ms,
            reason: failure.reason.code().to_string(),
            message: failure.message.clone(),
        });
        // Every failed attempt counts towards the circuit breaker.
        self.after_invocation(install, &report, now_ms);
        let policy = &self.retry;
        // A plugin error the plugin marked non-retryable would fail the same way again.
        let hopeless = failure.reason == FailureReason::GuestError && !failure.retryable;
        if !hopeless && !policy.gives_up_after(event.meta.attempt) {
            let at = now_ms.saturating_add(policy.delay_ms(&event.meta.id, plugin, event.meta.attempt));
            let last = failures.last().expect("just pushed");
            if !self
                .store
                .record_failure(community, plugin, cursor.sequence, last, at)?
            {
                return Ok(Delivered::Superseded);
            }
            self.write_audit(install, self.audit_entries(install, &report));
            self.metrics.delivery(community, plugin, DeliveryOutcome::Failed);
            tracing::warn!(
                reason = failure.reason.code(),
                code = failure.code.as_deref(),
                retry_at_ms = at,
                "delivery failed; retrying"
            );
            return Ok(Delivered::Retry(report, at));
        }
        let mut audit = self.audit_entries(install, &report);
        audit.push(Self::audit_entry(
            install,
            "dead-letter",
            None,
            failure.reason.code(),
            format!(
                "{} {} (sequence {}) given up after {} attempt(s)",
                report.event_type,
                event.meta.id,
                entry.sequence,
                failures.len()
            ),
        ));
        let mut dead = entry.clone();
        dead.event.meta.attempt = event.meta.attempt;
        match self
            .store
            .dead_letter(plugin, cursor.sequence, &dead, &failures, now_ms, &audit)?
        {
            None => Ok(Delivered::Superseded),
            Some(_) => {
                self.metrics.delivery(community, plugin, DeliveryOutcome::DeadLetter);
                tracing::warn!(
                    reason = failure.reason.code(),
                    code = failure.code.as_deref(),
                    sequence = entry.sequence,
                    attempts = failures.len(),
                    "delivery failed; given up: the event is a dead letter"
                );
                let breaker = self.breaker_record(install);
                let quarantined = (breaker.state == BreakerState::Open).then(|| breaker.retry_at_ms.unwrap_or(now_ms));
                Ok(Delivered::DeadLettered(report, quarantined))
            }
        }
    }

    pub(super) fn write_audit(&self, install: &Install, entries: Vec<AuditEntry>) {
        if entries.is_empty() {
            return;
        }
        if let Err(e) = self.store.append_audit(&entries) {
            tracing::error!(
                "writing the audit log for {} in {}: {e}",
                install.plugin.name,
                install.community
            );
        }
    }

    /// Pumps every install of a community in install order (the library's synchronous path).
    pub(crate) async fn pump_community(&self, community: &str, now_ms: u64) -> Result<Vec<InvocationReport>> {
        let mut reports = Vec::new();
        for install in self.shared_installs(community)?.iter() {
            self.pump(install, now_ms, usize::MAX, &mut reports).await?;
        }
        Ok(reports)
    }

    /// Delivers every install's due events (retries whose time has come, trials of quarantined
    /// installs, anything left in the logs), in community and install order.
    pub async fn deliver_due(&self, now_ms: u64) -> Result<Vec<InvocationReport>> {
        let mut communities: Vec<Arc<str>> = self
            .installs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        communities.sort_unstable();
        let mut reports = Vec::new();
        for community in communities {
            reports.extend(self.pump_community(&community, now_ms).await?);
        }
        Ok(reports)
    }

    /// Events in the log after an install's cursor: its lag.
    pub fn lag(&self, community: &str, plugin: &str) -> Result<u64> {
        let head = self.store.head(community)?;
        let cursor = self.store.cursor(community, plugin)?.unwrap_or_default();
        Ok(head.saturating_sub(cursor.sequence))
    }
}

/// What became of one delivery.
enum Delivered {
    Committed(InvocationReport),
    /// Given up on; `Some(until)` when that opened the circuit breaker.
    DeadLettered(InvocationReport, Option<u64>),
    /// It failed and is retried at this time.
    Retry(InvocationReport, u64),
    /// Another pump moved the cursor first; nothing was recorded.
    Superseded,
}

/// Where an install's delivery stands, for `plaza status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryStatus {
    /// The community.
    pub community: String,
    /// The plugin.
    pub plugin: String,
    /// The version serving it.
    pub version: String,
    /// Whether it receives events.
    pub enabled: bool,
    /// The community log's last sequence.
    pub head: u64,
    /// The last sequence the install is done with.
    pub cursor: u64,
    /// Events after its cursor.
    pub lag: u64,
    /// Failed attempts of the event it is on.
    pub failed_attempts: usize,
    /// When that event is tried again.
    pub next_attempt_ms: Option<u64>,
    /// The most recent failure (reason code and message), from the current event or the
    /// newest dead letter.
    pub last_error: Option<String>,
    /// Events it gave up on.
    pub dead_letters: usize,
    /// Its circuit breaker.
    pub breaker: BreakerState,
}

impl Plaza {
    /// Dead letters, oldest first, of one community and/or plugin when given.
    pub fn dead_letters(&self, community: Option<&str>, plugin: Option<&str>) -> Result<Vec<DeadLetter>> {
        Ok(self.store.dead_letters(community, plugin)?)
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: u64) -> Result<DeadLetter> {
        self.store
            .dead_letter_by_id(id)?
            .ok_or_else(|| PlazaError::Other(anyhow::anyhow!("there is no dead letter {id}")))
    }

    /// Puts a dead letter's event back in its community's log for its install only (it is
    /// delivered after what is already there, with attempt 1) and delivers what is due.
    pub async fn replay_dead_letter(&self, id: u64) -> Result<(Appended, Vec<InvocationReport>)> {
        let letter = self.dead_letter(id)?;
        let install = self.install_of(&letter.community, &letter.plugin)?;
        let appended = self.store.replay(id, now_ms())?;
        self.audit_install(
            &install,
            "dead-letter-replay",
            &format!(
                "dead letter {id} ({} {}) replayed as sequence {}",
                letter.event.kind.type_name(),
                letter.event.meta.id,
                appended.sequence
            ),
        );
        self.new_events.notify_one();
        let mut reports = Vec::new();
        self.pump(&install, now_ms(), usize::MAX, &mut reports).await?;
        Ok((appended, reports))
    }

    /// Every install's delivery status, by community then install order.
    pub fn delivery_status(&self) -> Result<Vec<DeliveryStatus>> {
        let mut statuses = Vec::new();
        for install in self.all_installs_in_order() {
            let (community, plugin) = (&install.community, &install.plugin.name);
            let head = self.store.head(community)?;
            let cursor = self.store.cursor(community, plugin)?.unwrap_or_default();
            let dead = self.store.dead_letters(Some(community), Some(plugin))?;
            let describe = |f: &AttemptFailure| format!("{}: {}", f.reason, f.message);
            let last_error = cursor
                .failures
                .last()
                .map(describe)
                .or_else(|| dead.last().and_then(|d| d.failures.last()).map(describe));
            statuses.push(DeliveryStatus {
                community: community.to_string(),
                plugin: plugin.clone(),
                version: install.plugin.version.clone(),
                enabled: install.enabled,
                head,
                cursor: cursor.sequence,
                lag: head.saturating_sub(cursor.sequence),
                failed_attempts: cursor.failures.len(),
                next_attempt_ms: cursor.next_attempt_ms,
                last_error,
                dead_letters: dead.len(),
                breaker: self.breaker_record(&install).state,
            });
        }
        Ok(statuses)
    }

    /// Every install, by community id and then in install order.
    pub(crate) fn all_installs_in_order(&self) -> Vec<Install> {
        let mut lists: Vec<(Arc<str>, Arc<[Install]>)> = self
            .installs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(community, list)| (community.clone(), list.clone()))
            .collect();
        lists.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        lists.iter().flat_map(|(_, list)| list.iter()).cloned().collect()
    }
}
