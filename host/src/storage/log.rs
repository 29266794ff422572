//! Durable delivery: each community's event log, one cursor per install, dead letters and the
//! outbox ([`DeliveryLog`]).
//!
//! - **Log.** Every accepted event is appended to its community's log and gets the next
//!   sequence number of that community (from 1, no gaps). An entry has a *dedupe key* (the event
//!   id for ingested events): appending a key the community's log already holds appends nothing
//!   and answers the existing sequence, so ingest is idempotent. An entry may have a *target*
//!   plugin (timer firings, dead-letter replays): only that install receives it. Appending also
//!   records what the event says about the community ([`CommunityStore::observe`]) in the same
//!   transaction, and is durable (synced to disk) when it returns.
//! - **Cursor.** Each install has a cursor: the sequence of the last entry it is done with, and
//!   the failed attempts of the entry after it (the head). Every change of a cursor names the
//!   sequence the caller expects it at (`from`); when it is elsewhere (another worker or process
//!   moved it) nothing changes and the call answers `false`. That makes a delivery commit a
//!   compare-and-set: two workers can never both commit the same entry.
//! - **Commit.** [`DeliveryLog::commit`] applies an invocation's actions (as
//!   [`CommunityStore::apply`] does), adds the visible ones to the outbox with idempotency keys
//!   `{event id}/{plugin}/{index}`, appends the audit entries and moves the cursor, all in one
//!   transaction. A store may put several consecutive commits in one transaction (group
//!   commit, until [`DeliveryLog::flush_commits`]): a crash then loses the whole group, whose
//!   events are delivered again, never part of a commit.
//! - **Dead letters.** An entry that failed its last attempt moves, with the failure of every
//!   attempt, to the install's dead-letter list, and the cursor moves past it (one transaction).
//!   Replaying a dead letter appends a copy of its event targeted at the install (dedupe key
//!   `replay:{id}`) and removes the dead letter.
//! - **Outbox.** What the platform must be told (messages sent, edited or deleted, moderation),
//!   in commit order, until a relay marks it delivered. Keys are unique: a retried commit cannot
//!   add an action twice.

use std::fmt::Write as _;

use serde::Serialize;

use super::admin::{AuditEntry, StoreError};
use super::Timer;
use crate::effects::Action;
use crate::event::Event;

/// An event to append to a community's log (the community is the event's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The event; its `sequence` is replaced by the one the log assigns.
    pub event: Event,
    /// What makes it unique in its community's log: the event id for ingested events.
    pub dedupe_key: String,
    /// The only plugin that receives it, for install-scoped entries.
    pub target: Option<String>,
}

impl NewEntry {
    /// An ingested community event, unique by its id.
    pub fn ingested(event: Event) -> Self {
        NewEntry {
            dedupe_key: event.meta.id.clone(),
            event,
            target: None,
        }
    }
}

/// Where an appended entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Appended {
    /// Its sequence in the community's log.
    pub sequence: u64,
    /// The log already held its dedupe key; nothing was appended.
    pub duplicate: bool,
}

/// An entry of a community's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// The community.
    pub community: String,
    /// Its sequence (also in `event.meta.sequence`).
    pub sequence: u64,
    /// Its dedupe key.
    pub dedupe_key: String,
    /// The only plugin that receives it, if any.
    pub target: Option<String>,
    /// The event.
    pub event: Event,
    /// When it was appended, ms since the Unix epoch.
    pub accepted_ms: u64,
}

/// One failed delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AttemptFailure {
    /// The attempt number, from 1.
    pub attempt: u32,
    /// When it failed, ms since the Unix epoch.
    pub at_ms: u64,
    /// The failure reason code (`guest-trap`, `wall-clock`, `guest-error`, ...).
    pub reason: String,
    /// What went wrong, in words.
    pub message: String,
}

/// Where an install is in its community's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// The sequence of the last entry the install is done with (0: none yet).
    pub sequence: u64,
    /// Failed attempts of the entry after `sequence`, oldest first.
    pub failures: Vec<AttemptFailure>,
    /// When the head entry may be tried again, after a failure.
    pub next_attempt_ms: Option<u64>,
}

/// An entry an install gave up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its id: unique across the store, from 1, never reused.
    pub id: u64,
    /// The community.
    pub community: String,
    /// The install's plugin.
    pub plugin: String,
    /// The log sequence it had.
    pub sequence: u64,
    /// The event.
    pub event: Event,
    /// Every attempt's failure, oldest first.
    pub failures: Vec<AttemptFailure>,
    /// When it was given up on, ms since the Unix epoch.
    pub dead_ms: u64,
}

/// An action the platform must carry out, exactly once per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// `{event id}/{plugin}/{index of the action in the invocation}`.
    pub key: String,
    /// The community.
    pub community: String,
    /// The plugin that asked for it.
    pub plugin: String,
    /// The action, in its JSON form.
    pub action: serde_json::Value,
    /// When it was committed, ms since the Unix epoch.
    pub created_ms: u64,
}

/// One successful delivery, committed at once.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The community.
    pub community: &'a str,
    /// The install's plugin.
    pub plugin: &'a str,
    /// Where the cursor must be.
    pub from: u64,
    /// Where it moves: the delivered entry's sequence.
    pub to: u64,
    /// The delivered event's id (for outbox keys).
    pub event_id: &'a str,
    /// The invocation's time.
    pub now_ms: u64,
    /// Its actions, in order.
    pub actions: &'a [Action],
    /// Audit entries to append with it.
    pub audit: &'a [AuditEntry],
}

/// The actions of a commit that go to the outbox (its visible ones), each with its key: the
/// event id, the plugin and the action's index among all the invocation's actions.
pub fn outbox_actions<'a>(commit: &Commit<'a>) -> impl Iterator<Item = (String, &'a Action)> + 'a {
    let Commit {
        event_id,
        plugin,
        actions,
        ..
    } = *commit;
    actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_visible())
        .map(move |(index, action)| (outbox_key(event_id, plugin, index), action))
}

/// `{event_id}/{plugin}/{index}`, sized up front (`format!` would grow it ~3 times).
fn outbox_key(event_id: &str, plugin: &str, index: usize) -> String {
    let mut key = String::with_capacity(event_id.len() + plugin.len() + 12);
    let _ = write!(key, "{event_id}/{plugin}/{index}");
    key
}

/// The durable log, cursors, dead letters and outbox. See the module docs for the semantics
/// every implementation shares (the conformance suite checks them).
pub trait DeliveryLog: Send + Sync {
    /// Appends entries in order, each to its event's community, durably. Duplicates (by dedupe
    /// key, also within `entries`) are not appended and answer the sequence they already have.
    fn append(&self, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Appended>, StoreError>;

    /// The sequence of the entry with this dedupe key, if the community's log holds one.
    fn find(&self, community: &str, dedupe_key: &str) -> Result<Option<u64>, StoreError>;

    /// Up to `limit` entries of a community's log after `after`, in sequence order.
    fn read_log(&self, community: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError>;

    /// The last sequence of a community's log (0 when empty).
    fn head(&self, community: &str) -> Result<u64, StoreError>;

    /// An install's cursor, if it has one.
    fn cursor(&self, community: &str, plugin: &str) -> Result<Option<Cursor>, StoreError>;

    /// Gives an install a cursor at the current head of its community's log, unless it has one;
    /// answers the cursor it has.
    fn init_cursor(&self, community: &str, plugin: &str) -> Result<Cursor, StoreError>;

    /// Removes an install's cursor and dead letters ([`AdminStore::uninstall`](super::admin::AdminStore::uninstall)
    /// does it too, with everything else the install keeps).
    fn drop_cursor(&self, community: &str, plugin: &str) -> Result<(), StoreError>;

    /// Commits one delivery (see [`Commit`]); `false` (and no change) when the cursor is not at
    /// `commit.from`.
    fn commit(&self, commit: &Commit<'_>) -> Result<bool, StoreError>;

    /// Moves a cursor from `from` to `to` over entries that are not for the install, clearing
    /// failures; `false` when it is not at `from`.
    fn skip(&self, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, StoreError>;

    /// Makes every `commit` and `skip` made so far durable as far as the store promises (a store
    /// may group several in one transaction until then; a crash loses a whole group, never part
    /// of one). Other writes and `outbox_pending` do it first themselves.
    fn flush_commits(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Records a failed attempt of the entry after `at` and when to try again; `false` when the
    /// cursor is not at `at`.
    fn record_failure(
        &self,
        community: &str,
        plugin: &str,
        at: u64,
        failure: &AttemptFailure,
        next_attempt_ms: u64,
    ) -> Result<bool, StoreError>;

    /// Moves `entry` to the install's dead letters with `failures` (the cursor's recorded ones
    /// are replaced by these), moves the cursor from `from` to `entry.sequence` and appends
    /// `audit`; answers the dead letter's id, or `None` (no change) when the cursor is not at
    /// `from`.
    fn dead_letter(
        &self,
        plugin: &str,
        from: u64,
        entry: &LogEntry,
        failures: &[AttemptFailure],
        now_ms: u64,
        audit: &[AuditEntry],
    ) -> Result<Option<u64>, StoreError>;

    /// Dead letters, oldest first, of one community and/or plugin when given.
    fn dead_letters(&self, community: Option<&str>, plugin: Option<&str>) -> Result<Vec<DeadLetter>, StoreError>;

    /// One dead letter.
    fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError>;

    /// Appends a copy of the dead letter's event for its install only (dedupe key
    /// `replay:{id}`) and removes the dead letter, in one transaction; `NotFound` if there is
    /// no such dead letter.
    fn replay(&self, id: u64, now_ms: u64) -> Result<Appended, StoreError>;

    /// Appends `entry` (the timer's firing) and marks the timer fired (recurring ones move to
    /// their next time, others are removed), in one transaction.
    fn fire_timer(&self, timer: &Timer, entry: &NewEntry, now_ms: u64) -> Result<Appended, StoreError>;

    /// Up to `limit` outbox entries not yet delivered, in commit order.
    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks outbox entries delivered (unknown keys are ignored).
    fn outbox_delivered(&self, keys: &[String], now_ms: u64) -> Result<(), StoreError>;

    /// Every outbox entry of a community, delivered or not, in commit order (for tests and
    /// audits).
    fn outbox(&self, community: &str) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Deletes a community's entries every cursor of that community has passed (all of them
    /// when no install has a cursor); answers how many were deleted. Dedupe keys of deleted
    /// entries are forgotten too.
    fn prune(&self, community: &str) -> Result<u64, StoreError>;
}

/// An event as the log stores it: its JSON form, checked to read back as the same event, so
/// an entry that could not be delivered later is refused at append time instead.
pub fn encode_event(event: &Event) -> Result<String, String> {
    check_loggable(event)?;
    encode_checked_event(event)
}

/// [`encode_event`] for an event the caller has already passed through [`check_loggable`]
/// (a store that checks before its dedupe lookup need not check twice).
pub fn encode_checked_event(event: &Event) -> Result<String, String> {
    let text = serde_json::to_string(event).map_err(|e| e.to_string())?;
    super::recent::remember(&text, event);
    Ok(text)
}

/// The check of [`encode_event`] without the text, for a store that keeps events in memory
/// (and [`encode_event`]'s own).
pub fn check_loggable(event: &Event) -> Result<(), String> {
    event.check_reads_back()
}

/// Reads a stored event back.
pub fn decode_event(text: &str) -> Result<Event, String> {
    if let Some(event) = super::recent::recall(text) {
        return Ok(event);
    }
    decode_value(serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?)
}

fn decode_value(value: serde_json::Value) -> Result<Event, String> {
    crate::event::EventDefaults::default()
        .from_value(value, "logged event")
        .map_err(|e| e.to_string())
}
