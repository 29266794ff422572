//! The delivery log of [`MemoryStore`]: per-community event logs, cursors, dead letters and the
//! outbox, kept in memory beside the community state (see [`super::log`] for the semantics).
//!
//! One lock guards the whole log, and every [`DeliveryLog`] method holds it for its whole run, so
//! a method is atomic with respect to the others: two workers can never both move a cursor from
//! the same `from`. Methods that also change community state or the audit log (`append`,
//! `commit`, `dead_letter`, `replay`, `fire_timer`) take those locks inside the log's (log, then
//! community state, then admin: the order never reverses, so they cannot deadlock). They do
//! everything that can fail before they change the log, so a failure leaves the log as it was.
//!
//! Choices where the trait leaves room, shared with the SQLite store:
//! - An event that would not read back from its JSON as the same event is refused when appended
//!   (a `Db` error, nothing of that call is kept) rather than logged where it could never be
//!   delivered; the log keeps events exactly as appended, with the sequence set.
//! - `head` never goes back: pruning keeps the sequence, so the next append continues it.
//! - A replayed event starts again from attempt 1.
//! - `outbox_delivered` keeps the first delivery time of an entry marked twice.

use crate::hash::{get_or_default, HashMap, HashMapExt as _};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use super::admin::{AdminStore, AuditEntry, StoreError};
use super::log::{
    check_loggable, encode_event, outbox_actions, Appended, AttemptFailure, Commit, Cursor, DeadLetter, DeliveryLog,
    LogEntry, NewEntry, OutboxEntry,
};
use super::memory::MemoryStore;
use super::{CommunityStore, Timer};
use crate::effects::Action;
use crate::event::Event;

/// The delivery log half of a [`MemoryStore`].
#[derive(Default)]
pub(super) struct LogState(RwLock<Logs>);

#[derive(Default)]
struct Logs {
    communities: HashMap<String, CommunityLog>,
    /// Dead letters by id (so oldest first).
    dead_letters: BTreeMap<u64, DeadLetter>,
    /// The last dead-letter id given out: ids are never reused, even after a replay.
    last_dead_letter_id: u64,
    /// Every outbox row, in commit order.
    outbox: Vec<OutboxRow>,
    /// Where each outbox key is in `outbox`, so a key is stored once.
    outbox_keys: HashMap<String, usize>,
}

/// One community's log and the cursors of its installs.
#[derive(Default)]
struct CommunityLog {
    /// The last sequence given out; pruning does not lower it.
    head: u64,
    entries: BTreeMap<u64, LogEntry>,
    /// The sequence of each kept entry, by dedupe key.
    dedupe: HashMap<String, u64>,
    /// Cursors by plugin.
    cursors: BTreeMap<String, Cursor>,
}

/// An outbox entry as this store keeps it: the action itself, turned into its JSON form only
/// when read (most are read once, by the relay, while every commit writes some).
struct OutboxRow {
    key: String,
    community: String,
    plugin: String,
    action: Action,
    created_ms: u64,
    delivered_ms: Option<u64>,
}

impl OutboxRow {
    fn entry(&self) -> OutboxEntry {
        OutboxEntry {
            key: self.key.clone(),
            community: self.community.clone(),
            plugin: self.plugin.clone(),
            action: serde_json::to_value(&self.action).unwrap_or(serde_json::Value::Null),
            created_ms: self.created_ms,
        }
    }
}

/// What one entry of an `append` call comes to, decided before anything changes: its sequence,
/// and the entry to add unless the log (or an earlier entry of the call) has its dedupe key.
struct Planned {
    sequence: u64,
    new: Option<LogEntry>,
}

impl LogState {
    fn read<R>(&self, f: impl FnOnce(&Logs) -> R) -> R {
        f(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<R>(&self, f: impl FnOnce(&mut Logs) -> R) -> R {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `replay` of a dead letter that does not exist (or was replayed already).
pub(super) fn no_dead_letter(id: u64) -> StoreError {
    StoreError::NotFound(format!("dead letter {id} does not exist"))
}

/// A failure of the community state or audit log while the log was being changed.
fn failed(doing: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Db {
        doing: doing.into(),
        reason: reason.to_string(),
    }
}

impl Logs {
    fn cursor(&self, community: &str, plugin: &str) -> Option<&Cursor> {
        self.communities.get(community)?.cursors.get(plugin)
    }

    /// The cursor of an install if it is at `at`: the compare half of every compare-and-set.
    fn cursor_at(&mut self, community: &str, plugin: &str, at: u64) -> Option<&mut Cursor> {
        self.communities
            .get_mut(community)?
            .cursors
            .get_mut(plugin)
            .filter(|c| c.sequence == at)
    }

    /// Decides the sequence of every entry without changing anything, so a refused event
    /// leaves the log untouched. Duplicates of earlier entries of the same call count.
    fn plan(&self, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Planned>, StoreError> {
        let mut heads: HashMap<&str, u64> = HashMap::new();
        let mut planned_keys: HashMap<(&str, &str), u64> = HashMap::new();
        let mut plan = Vec::with_capacity(entries.len());
        for entry in entries {
            refuse_unloggable(&entry.event)?;
            let community = entry.event.meta.community.as_str();
            let key = (community, entry.dedupe_key.as_str());
            let known = planned_keys.get(&key).copied();
            if let Some(sequence) = known.or_else(|| self.find(community, &entry.dedupe_key)) {
                plan.push(Planned { sequence, new: None });
                continue;
            }
            let head = heads.entry(community).or_insert_with(|| self.head(community));
            *head += 1;
            planned_keys.insert(key, *head);
            plan.push(Planned {
                sequence: *head,
                new: Some(logged(entry, *head, now_ms)),
            });
        }
        Ok(plan)
    }

    fn find(&self, community: &str, dedupe_key: &str) -> Option<u64> {
        self.communities.get(community)?.dedupe.get(dedupe_key).copied()
    }

    fn head(&self, community: &str) -> u64 {
        self.communities.get(community).map_or(0, |log| log.head)
    }

    /// Adds a planned entry to its community's log.
    fn insert(&mut self, entry: LogEntry) {
        let log = get_or_default(&mut self.communities, &entry.community);
        log.head = entry.sequence;
        log.dedupe.insert(entry.dedupe_key.clone(), entry.sequence);
        log.entries.insert(entry.sequence, entry);
    }

    /// Adds a commit's outbox entries whose keys are new; a retried commit's keys are already
    /// there.
    fn add_to_outbox(&mut self, commit: &Commit<'_>) {
        for (key, action) in outbox_actions(commit) {
            if self.outbox_keys.contains_key(&key) {
                continue;
            }
            self.outbox_keys.insert(key.clone(), self.outbox.len());
            self.outbox.push(OutboxRow {
                key,
                community: commit.community.to_string(),
                plugin: commit.plugin.to_string(),
                action: action.clone(),
                created_ms: commit.now_ms,
                delivered_ms: None,
            });
        }
    }
}

/// Refuses an event that would not read back from the JSON a persistent store keeps (whether
/// or not its dedupe key is logged already, as the database stores check it before looking).
fn refuse_unloggable(event: &Event) -> Result<(), StoreError> {
    check_loggable(event).map_err(|reason| {
        failed(
            format!(
                "appending event `{}` to the log of community `{}`",
                event.meta.id, event.meta.community
            ),
            format!("the event cannot be logged: {reason}"),
        )
    })
}

/// The entry an appended event becomes at `sequence` (checked by [`refuse_unloggable`]).
fn logged(entry: &NewEntry, sequence: u64, now_ms: u64) -> LogEntry {
    let mut event = entry.event.clone();
    event.meta.sequence = sequence;
    LogEntry {
        community: event.meta.community.clone(),
        sequence,
        dedupe_key: entry.dedupe_key.clone(),
        target: entry.target.clone(),
        event,
        accepted_ms: now_ms,
    }
}

/// Moves a cursor to `to` with no failures pending.
fn advance(cursor: &mut Cursor, to: u64) {
    cursor.sequence = to;
    cursor.failures.clear();
    cursor.next_attempt_ms = None;
}

impl MemoryStore {
    /// Appends inside the log's lock: plans every entry, observes the new ones (as the SQLite
    /// store does in its transaction), then adds them. `observe` runs before the log changes, so
    /// a failing one keeps nothing of the call in the log (the in-memory `observe` cannot fail,
    /// so community state is not left half-observed either).
    fn append_in(&self, logs: &mut Logs, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Appended>, StoreError> {
        let plan = logs.plan(entries, now_ms)?;
        // Targeted entries (timer firings, replays) are not news about the community: a replayed
        // `member-joined` must not re-add a member who has left since.
        let news = plan
            .iter()
            .filter_map(|planned| planned.new.as_ref())
            .filter(|e| e.target.is_none());
        for entry in news {
            self.observe(&entry.event).map_err(|e| {
                failed(
                    format!(
                        "observing event `{}` in community `{}`",
                        entry.event.meta.id, entry.community
                    ),
                    format!("{e:#}"),
                )
            })?;
        }
        Ok(plan
            .into_iter()
            .map(|Planned { sequence, new }| {
                let duplicate = new.is_none();
                if let Some(entry) = new {
                    logs.insert(entry);
                }
                Appended { sequence, duplicate }
            })
            .collect())
    }

    /// A commit's changes to community state and the audit log, before its cursor moves.
    fn commit_effects(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let doing = || {
            format!(
                "committing event `{}` (sequence {}) for plugin `{}` in community `{}`",
                commit.event_id, commit.to, commit.plugin, commit.community
            )
        };
        self.apply(commit.community, commit.plugin, commit.now_ms, commit.actions)
            .map_err(|e| failed(doing(), format!("{e:#}")))?;
        self.append_audit(commit.audit)
    }
}

impl DeliveryLog for MemoryStore {
    fn append(&self, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Appended>, StoreError> {
        self.log.write(|logs| self.append_in(logs, entries, now_ms))
    }

    fn find(&self, community: &str, dedupe_key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.log.read(|logs| logs.find(community, dedupe_key)))
    }

    fn read_log(&self, community: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.log.read(|logs| {
            logs.communities
                .get(community)
                .map(|log| {
                    log.entries
                        .range((Bound::Excluded(after), Bound::Unbounded))
                        .take(limit)
                        .map(|(_, entry)| entry.clone())
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    fn head(&self, community: &str) -> Result<u64, StoreError> {
        Ok(self.log.read(|logs| logs.head(community)))
    }

    fn cursor(&self, community: &str, plugin: &str) -> Result<Option<Cursor>, StoreError> {
        Ok(self.log.read(|logs| logs.cursor(community, plugin).cloned()))
    }

    fn init_cursor(&self, community: &str, plugin: &str) -> Result<Cursor, StoreError> {
        Ok(self.log.write(|logs| {
            let log = get_or_default(&mut logs.communities, community);
            let head = log.head;
            log.cursors
                .entry(plugin.to_string())
                .or_insert_with(|| Cursor {
                    sequence: head,
                    ..Cursor::default()
                })
                .clone()
        }))
    }

    fn drop_cursor(&self, community: &str, plugin: &str) -> Result<(), StoreError> {
        self.log.write(|logs| {
            if let Some(log) = logs.communities.get_mut(community) {
                log.cursors.remove(plugin);
            }
            logs.dead_letters
                .retain(|_, d| !(d.community == community && d.plugin == plugin));
        });
        Ok(())
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<bool, StoreError> {
        self.log.write(|logs| {
            if logs.cursor_at(commit.community, commit.plugin, commit.from).is_none() {
                return Ok(false);
            }
            self.commit_effects(commit)?;
            logs.add_to_outbox(commit);
            if let Some(cursor) = logs.cursor_at(commit.community, commit.plugin, commit.from) {
                advance(cursor, commit.to);
            }
            Ok(true)
        })
    }

    fn skip(&self, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        Ok(self.log.write(|logs| {
            logs.cursor_at(community, plugin, from)
                .map(|cursor| advance(cursor, to))
                .is_some()
        }))
    }

    fn record_failure(
        &self,
        community: &str,
        plugin: &str,
        at: u64,
        failure: &AttemptFailure,
        next_attempt_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.log.write(|logs| {
            logs.cursor_at(community, plugin, at)
                .map(|cursor| {
                    cursor.failures.push(failure.clone());
                    cursor.next_attempt_ms = Some(next_attempt_ms);
                })
                .is_some()
        }))
    }

    fn dead_letter(
        &self,
        plugin: &str,
        from: u64,
        entry: &LogEntry,
        failures: &[AttemptFailure],
        now_ms: u64,
        audit: &[AuditEntry],
    ) -> Result<Option<u64>, StoreError> {
        let community = entry.community.as_str();
        self.log.write(|logs| {
            if logs.cursor_at(community, plugin, from).is_none() {
                return Ok(None);
            }
            encode_event(&entry.event).map_err(|reason| {
                failed(
                    format!(
                        "dead-lettering event `{}` for plugin `{plugin}` in community `{community}`",
                        entry.event.meta.id
                    ),
                    format!("the event cannot be stored: {reason}"),
                )
            })?;
            self.append_audit(audit)?;
            logs.last_dead_letter_id += 1;
            let id = logs.last_dead_letter_id;
            logs.dead_letters.insert(
                id,
                DeadLetter {
                    id,
                    community: community.to_string(),
                    plugin: plugin.to_string(),
                    sequence: entry.sequence,
                    event: entry.event.clone(),
                    failures: failures.to_vec(),
                    dead_ms: now_ms,
                },
            );
            if let Some(cursor) = logs.cursor_at(community, plugin, from) {
                advance(cursor, entry.sequence);
            }
            Ok(Some(id))
        })
    }

    fn dead_letters(&self, community: Option<&str>, plugin: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self.log.read(|logs| {
            logs.dead_letters
                .values()
                .filter(|d| community.is_none_or(|c| d.community == c) && plugin.is_none_or(|p| d.plugin == p))
                .cloned()
                .collect()
        }))
    }

    fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        Ok(self.log.read(|logs| logs.dead_letters.get(&id).cloned()))
    }

    fn replay(&self, id: u64, now_ms: u64) -> Result<Appended, StoreError> {
        self.log.write(|logs| {
            let letter = logs.dead_letters.get(&id).ok_or_else(|| no_dead_letter(id))?;
            let mut event = letter.event.clone();
            event.meta.attempt = 1;
            let entry = NewEntry {
                event,
                dedupe_key: format!("replay:{id}"),
                target: Some(letter.plugin.clone()),
            };
            let appended = self.append_in(logs, std::slice::from_ref(&entry), now_ms)?;
            logs.dead_letters.remove(&id);
            Ok(appended[0])
        })
    }

    fn fire_timer(&self, timer: &Timer, entry: &NewEntry, now_ms: u64) -> Result<Appended, StoreError> {
        self.log.write(|logs| {
            let appended = self.append_in(logs, std::slice::from_ref(entry), now_ms)?;
            self.timer_fired(&timer.timer_id).map_err(|e| {
                failed(
                    format!(
                        "firing timer `{}` of plugin `{}` in community `{}`",
                        timer.timer_id, timer.plugin, timer.community
                    ),
                    format!("{e:#}"),
                )
            })?;
            Ok(appended[0])
        })
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.log.read(|logs| {
            logs.outbox
                .iter()
                .filter(|row| row.delivered_ms.is_none())
                .take(limit)
                .map(OutboxRow::entry)
                .collect()
        }))
    }

    fn outbox_delivered(&self, keys: &[String], now_ms: u64) -> Result<(), StoreError> {
        self.log.write(|logs| {
            for key in keys {
                if let Some(&index) = logs.outbox_keys.get(key) {
                    logs.outbox[index].delivered_ms.get_or_insert(now_ms);
                }
            }
        });
        Ok(())
    }

    fn outbox(&self, community: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.log.read(|logs| {
            logs.outbox
                .iter()
                .filter(|row| row.community == community)
                .map(OutboxRow::entry)
                .collect()
        }))
    }

    fn prune(&self, community: &str) -> Result<u64, StoreError> {
        Ok(self.log.write(|logs| {
            let Some(log) = logs.communities.get_mut(community) else {
                return 0;
            };
            let passed = log.cursors.values().map(|c| c.sequence).min().unwrap_or(log.head);
            let kept = match passed.checked_add(1) {
                Some(first_kept) => log.entries.split_off(&first_kept),
                None => BTreeMap::new(),
            };
            let pruned = std::mem::replace(&mut log.entries, kept);
            for entry in pruned.values() {
                log.dedupe.remove(&entry.dedupe_key);
            }
            pruned.len() as u64
        }))
    }
}
