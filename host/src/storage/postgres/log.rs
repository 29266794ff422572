//! [`DeliveryLog`] on PostgreSQL: event logs, cursors, dead letters and the outbox.
//!
//! What several nodes rely on, each a `SERIALIZABLE` transaction (retried on conflict):
//! - appends read and raise the community's `log_heads` row, so two nodes appending to one
//!   community conflict and one of them runs again, on the other's result: sequences have no
//!   gaps and no repeats, and an event id appended by both is appended once (the retry finds
//!   it; `UNIQUE (community, dedupe_key)` backs that up);
//! - a commit moves the cursor with `UPDATE … WHERE sequence = from`: two nodes delivering the
//!   same entry conflict on the cursor row, and the retried one finds it moved and commits
//!   nothing; effects, outbox (keys `ON CONFLICT DO NOTHING`), audit and cursor are one
//!   transaction.

use tokio_postgres::Row;

use super::community::{append_audit_in, apply_action, observe_in, timer_fired_in};
use super::{Fail, PostgresStore, Tx};
use crate::storage::admin::{AuditEntry, StoreError};
use crate::storage::codec::{from_db, from_json, sql_limit, to_db, to_json};
use crate::storage::log::{
    check_loggable, decode_event, encode_checked_event, encode_event, outbox_actions, Appended, AttemptFailure, Commit,
    Cursor, DeadLetter, DeliveryLog, LogEntry, NewEntry, OutboxEntry,
};
use crate::storage::Timer;

const DEAD_LETTER_COLUMNS: &str = "id, community, plugin, sequence, event, failures, dead_ms";
const OUTBOX_COLUMNS: &str = "key, community, plugin, action, created_ms";

fn head_in(tx: &mut Tx<'_>, community: &str) -> Result<u64, Fail> {
    let row = tx.query_opt("SELECT head FROM log_heads WHERE community = $1", &[&community])?;
    Ok(row.map_or(0, |r| from_db(r.get(0))))
}

fn find_in(tx: &mut Tx<'_>, community: &str, dedupe_key: &str) -> Result<Option<u64>, Fail> {
    let row = tx.query_opt(
        "SELECT sequence FROM event_log WHERE community = $1 AND dedupe_key = $2",
        &[&community, &dedupe_key],
    )?;
    Ok(row.map(|r| from_db(r.get(0))))
}

/// Deletes an install's cursor and dead letters.
pub(super) fn drop_cursor_in(tx: &mut Tx<'_>, community: &str, plugin: &str) -> Result<(), Fail> {
    for table in ["cursors", "dead_letters"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE community = $1 AND plugin = $2"),
            &[&community, &plugin],
        )?;
    }
    Ok(())
}

/// Appends one entry inside the caller's transaction (observing the event).
fn append_in(tx: &mut Tx<'_>, entry: &NewEntry, now_ms: u64) -> Result<Appended, Fail> {
    let community = entry.event.meta.community.as_str();
    // Refused input, not a damaged database; checked before the dedupe lookup, as every store
    // does.
    let refused = |e: String| {
        Fail::Store(StoreError::Db {
            doing: format!(
                "appending event `{}` to the log of community `{community}`",
                entry.event.meta.id
            ),
            reason: format!("the event cannot be logged: {e}"),
        })
    };
    check_loggable(&entry.event).map_err(refused)?;
    if let Some(sequence) = find_in(tx, community, &entry.dedupe_key)? {
        return Ok(Appended {
            sequence,
            duplicate: true,
        });
    }
    let sequence = head_in(tx, community)? + 1;
    let mut event = entry.event.clone();
    event.meta.sequence = sequence;
    let json = encode_checked_event(&event).map_err(refused)?;
    // Targeted entries (timer firings, replays) are not news about the community.
    if entry.target.is_none() {
        observe_in(tx, &event)?;
    }
    tx.execute(
        "INSERT INTO event_log (community, sequence, dedupe_key, target, event, accepted_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &community,
            &to_db(sequence),
            &entry.dedupe_key,
            &entry.target,
            &json,
            &to_db(now_ms),
        ],
    )?;
    tx.execute(
        "INSERT INTO log_heads (community, head) VALUES ($1, $2)
         ON CONFLICT (community) DO UPDATE SET head = excluded.head",
        &[&community, &to_db(sequence)],
    )?;
    Ok(Appended {
        sequence,
        duplicate: false,
    })
}

fn cursor_in(tx: &mut Tx<'_>, community: &str, plugin: &str) -> Result<Option<Cursor>, Fail> {
    let row = tx.query_opt(
        "SELECT sequence, failures, next_attempt_ms FROM cursors WHERE community = $1 AND plugin = $2",
        &[&community, &plugin],
    )?;
    row.map(|r| {
        Ok(Cursor {
            sequence: from_db(r.get(0)),
            failures: from_json(r.get(1), "cursor failures")?,
            next_attempt_ms: r.get::<_, Option<i64>>(2).map(from_db),
        })
    })
    .transpose()
}

/// Moves a cursor from `from` to `to`, clearing its failures; `false` when it is not at `from`.
fn move_cursor_in(tx: &mut Tx<'_>, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, Fail> {
    let changed = tx.execute(
        "UPDATE cursors SET sequence = $4, failures = '[]', next_attempt_ms = NULL
         WHERE community = $1 AND plugin = $2 AND sequence = $3",
        &[&community, &plugin, &to_db(from), &to_db(to)],
    )?;
    Ok(changed == 1)
}

fn dead_letter(row: &Row) -> Result<DeadLetter, Fail> {
    let id: i64 = row.get(0);
    Ok(DeadLetter {
        id: from_db(id),
        community: row.get(1),
        plugin: row.get(2),
        sequence: from_db(row.get(3)),
        event: decode_event(row.get(4)).map_err(|e| Fail::Data(format!("dead letter {id}: {e}")))?,
        failures: from_json(row.get(5), "dead-letter failures")?,
        dead_ms: from_db(row.get(6)),
    })
}

fn outbox_entry(row: &Row) -> Result<OutboxEntry, Fail> {
    Ok(OutboxEntry {
        key: row.get(0),
        community: row.get(1),
        plugin: row.get(2),
        action: from_json(row.get(3), "outbox action")?,
        created_ms: from_db(row.get(4)),
    })
}

impl DeliveryLog for PostgresStore {
    fn append(&self, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Appended>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.write(&format!("appending {} events to the log", entries.len()), |tx| {
            entries.iter().map(|entry| append_in(tx, entry, now_ms)).collect()
        })
    }

    fn find(&self, community: &str, dedupe_key: &str) -> Result<Option<u64>, StoreError> {
        self.read("looking up a logged event", |tx| find_in(tx, community, dedupe_key))
    }

    fn read_log(&self, community: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let doing = format!("reading the event log of community `{community}`");
        if after >= i64::MAX as u64 {
            // No sequence gets that far (and it would not compare as unsigned).
            return Ok(Vec::new());
        }
        self.read(&doing, |tx| {
            let rows = tx.query(
                "SELECT community, sequence, dedupe_key, target, event, accepted_ms FROM event_log
                 WHERE community = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
                &[&community, &to_db(after), &sql_limit(limit)],
            )?;
            rows.iter()
                .map(|r| {
                    let sequence = from_db(r.get(1));
                    let mut event = decode_event(r.get(4))
                        .map_err(|e| Fail::Data(format!("log entry {sequence} of `{community}`: {e}")))?;
                    event.meta.sequence = sequence;
                    Ok(LogEntry {
                        community: r.get(0),
                        sequence,
                        dedupe_key: r.get(2),
                        target: r.get(3),
                        event,
                        accepted_ms: from_db(r.get(5)),
                    })
                })
                .collect()
        })
    }

    fn head(&self, community: &str) -> Result<u64, StoreError> {
        self.read("reading the head of a log", |tx| head_in(tx, community))
    }

    fn cursor(&self, community: &str, plugin: &str) -> Result<Option<Cursor>, StoreError> {
        let doing = format!("reading the cursor of plugin `{plugin}` in community `{community}`");
        self.read(&doing, |tx| cursor_in(tx, community, plugin))
    }

    fn init_cursor(&self, community: &str, plugin: &str) -> Result<Cursor, StoreError> {
        let doing = format!("creating the cursor of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| {
            if let Some(cursor) = cursor_in(tx, community, plugin)? {
                return Ok(cursor);
            }
            let head = head_in(tx, community)?;
            tx.execute(
                "INSERT INTO cursors (community, plugin, sequence, failures) VALUES ($1, $2, $3, '[]')",
                &[&community, &plugin, &to_db(head)],
            )?;
            Ok(Cursor {
                sequence: head,
                ..Cursor::default()
            })
        })
    }

    fn drop_cursor(&self, community: &str, plugin: &str) -> Result<(), StoreError> {
        let doing = format!("removing the cursor of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| drop_cursor_in(tx, community, plugin))
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<bool, StoreError> {
        let Commit { community, plugin, .. } = *commit;
        let doing = format!(
            "committing event `{}` (sequence {}) for plugin `{plugin}` in community `{community}`",
            commit.event_id, commit.to
        );
        self.write(&doing, |tx| {
            if !move_cursor_in(tx, community, plugin, commit.from, commit.to)? {
                return Ok(false);
            }
            for action in commit.actions {
                apply_action(tx, community, plugin, commit.now_ms, action)?;
            }
            for (key, action) in outbox_actions(commit) {
                tx.execute(
                    "INSERT INTO outbox (key, community, plugin, action, created_ms) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (key) DO NOTHING",
                    &[&key, &community, &plugin, &to_json(action)?, &to_db(commit.now_ms)],
                )?;
            }
            append_audit_in(tx, commit.audit)?;
            Ok(true)
        })
    }

    fn skip(&self, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        let doing = format!("moving the cursor of plugin `{plugin}` in community `{community}` to {to}");
        self.write(&doing, |tx| move_cursor_in(tx, community, plugin, from, to))
    }

    fn record_failure(
        &self,
        community: &str,
        plugin: &str,
        at: u64,
        failure: &AttemptFailure,
        next_attempt_ms: u64,
    ) -> Result<bool, StoreError> {
        let doing = format!("recording a failed delivery for plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| {
            let Some(mut cursor) = cursor_in(tx, community, plugin)? else {
                return Ok(false);
            };
            if cursor.sequence != at {
                return Ok(false);
            }
            cursor.failures.push(failure.clone());
            tx.execute(
                "UPDATE cursors SET failures = $3, next_attempt_ms = $4 WHERE community = $1 AND plugin = $2",
                &[
                    &community,
                    &plugin,
                    &to_json(&cursor.failures)?,
                    &to_db(next_attempt_ms),
                ],
            )?;
            Ok(true)
        })
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
        let doing = format!(
            "dead-lettering event `{}` for plugin `{plugin}` in community `{community}`",
            entry.event.meta.id
        );
        self.write(&doing, |tx| {
            if !move_cursor_in(tx, community, plugin, from, entry.sequence)? {
                return Ok(None);
            }
            let json = encode_event(&entry.event).map_err(Fail::Data)?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO dead_letters (community, plugin, sequence, event, failures, dead_ms)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &community,
                        &plugin,
                        &to_db(entry.sequence),
                        &json,
                        &to_json(&failures)?,
                        &to_db(now_ms),
                    ],
                )?
                .get(0);
            append_audit_in(tx, audit)?;
            Ok(Some(from_db(id)))
        })
    }

    fn dead_letters(&self, community: Option<&str>, plugin: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        self.read("listing dead letters", |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters
                     WHERE ($1::TEXT IS NULL OR community = $1) AND ($2::TEXT IS NULL OR plugin = $2) ORDER BY id"
                ),
                &[&community, &plugin],
            )?;
            rows.iter().map(dead_letter).collect()
        })
    }

    fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.read(&format!("reading dead letter {id}"), |tx| {
            let row = tx.query_opt(
                &format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = $1"),
                &[&to_db(id)],
            )?;
            row.as_ref().map(dead_letter).transpose()
        })
    }

    fn replay(&self, id: u64, now_ms: u64) -> Result<Appended, StoreError> {
        self.write(&format!("replaying dead letter {id}"), |tx| {
            let row = tx.query_opt(
                &format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = $1"),
                &[&to_db(id)],
            )?;
            let row = row.ok_or_else(|| Fail::Store(StoreError::NotFound(format!("dead letter {id}"))))?;
            let letter = dead_letter(&row)?;
            let mut event = letter.event;
            event.meta.attempt = 1;
            let entry = NewEntry {
                event,
                dedupe_key: format!("replay:{id}"),
                target: Some(letter.plugin),
            };
            let appended = append_in(tx, &entry, now_ms)?;
            tx.execute("DELETE FROM dead_letters WHERE id = $1", &[&to_db(id)])?;
            Ok(appended)
        })
    }

    fn fire_timer(&self, timer: &Timer, entry: &NewEntry, now_ms: u64) -> Result<Appended, StoreError> {
        let doing = format!(
            "firing timer `{}` of plugin `{}` in community `{}`",
            timer.timer_id, timer.plugin, timer.community
        );
        self.write(&doing, |tx| {
            let appended = append_in(tx, entry, now_ms)?;
            timer_fired_in(tx, &timer.timer_id)?;
            Ok(appended)
        })
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read("reading the outbox", |tx| {
            let rows = tx.query(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_ms IS NULL ORDER BY position LIMIT $1"),
                &[&sql_limit(limit)],
            )?;
            rows.iter().map(outbox_entry).collect()
        })
    }

    fn outbox_delivered(&self, keys: &[String], now_ms: u64) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write(&format!("marking {} outbox entries delivered", keys.len()), |tx| {
            tx.execute(
                "UPDATE outbox SET delivered_ms = $2 WHERE key = ANY($1) AND delivered_ms IS NULL",
                &[&keys, &to_db(now_ms)],
            )?;
            Ok(())
        })
    }

    fn outbox(&self, community: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(&format!("reading the outbox of community `{community}`"), |tx| {
            let rows = tx.query(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE community = $1 ORDER BY position"),
                &[&community],
            )?;
            rows.iter().map(outbox_entry).collect()
        })
    }

    fn prune(&self, community: &str) -> Result<u64, StoreError> {
        self.write(&format!("pruning the event log of community `{community}`"), |tx| {
            let lowest: Option<i64> = tx
                .query_one("SELECT min(sequence) FROM cursors WHERE community = $1", &[&community])?
                .get(0);
            let upto = match lowest {
                Some(s) => from_db(s),
                None => head_in(tx, community)?,
            };
            let deleted = tx.execute(
                "DELETE FROM event_log WHERE community = $1 AND sequence <= $2",
                &[&community, &to_db(upto)],
            )?;
            Ok(deleted)
        })
    }
}
