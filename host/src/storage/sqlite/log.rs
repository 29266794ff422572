//! [`DeliveryLog`] on SQLite: the `event_log`, `log_heads`, `cursors`, `dead_letters` and
//! `outbox` tables of schema version 3.
//!
//! Appends are synced to disk (not only handed to the OS) before `append` returns: the
//! write-ahead log is synced once the connection is free again (`SqliteStore::write_durable`),
//! so an accepted event is on disk. Delivery commits (and skips) are grouped, several
//! in one transaction (see `group`), and keep the store's `NORMAL`: a crash loses the open
//! group and a power loss may undo the last groups; their events are then delivered again, and
//! the outbox's idempotency keys let the platform drop what it already carried out.

use std::collections::hash_map::{Entry, HashMap};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{append_audit_in, apply_action, from_db, from_json, observe_in, sql_limit, timer_fired_in, to_db, to_json};
use super::{Fail, SqliteStore};
use crate::storage::admin::{AuditEntry, StoreError};
use crate::storage::log::{
    decode_event, encode_event, outbox_actions, Appended, AttemptFailure, Commit, Cursor, DeadLetter, DeliveryLog,
    LogEntry, NewEntry, OutboxEntry,
};
use crate::storage::Timer;

const DEAD_LETTER_COLUMNS: &str = "id, community, plugin, sequence, event, failures, dead_ms";
const OUTBOX_COLUMNS: &str = "key, community, plugin, action, created_ms";

/// Deletes an install's cursor and dead letters.
pub(super) fn drop_cursor_in(conn: &Connection, community: &str, plugin: &str) -> Result<(), Fail> {
    for table in ["cursors", "dead_letters"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE community = ?1 AND plugin = ?2"))?
            .execute(params![community, plugin])?;
    }
    Ok(())
}

fn head_in(conn: &Connection, community: &str) -> Result<u64, Fail> {
    let head: Option<i64> = conn
        .prepare_cached("SELECT head FROM log_heads WHERE community = ?1")?
        .query_row(params![community], |r| r.get(0))
        .optional()?;
    Ok(head.map_or(0, from_db))
}

fn find_in(conn: &Connection, community: &str, dedupe_key: &str) -> Result<Option<u64>, Fail> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT sequence FROM event_log WHERE community = ?1 AND dedupe_key = ?2")?
        .query_row(params![community, dedupe_key], |r| r.get(0))
        .optional()?;
    Ok(found.map(from_db))
}

/// The JSON an entry's event is logged as, made before the write lock is taken. It carries
/// the event's sequence as given: the `sequence` column is the truth.
fn encode_entry(entry: &NewEntry) -> Result<String, Fail> {
    // Refused input, not a damaged database.
    encode_event(&entry.event).map_err(|e| {
        Fail::Store(StoreError::Db {
            doing: format!(
                "appending event `{}` to the log of community `{}`",
                entry.event.meta.id, entry.event.meta.community
            ),
            reason: format!("the event cannot be logged: {e}"),
        })
    })
}

/// Appends entries, their events encoded as `texts` ([`encode_entry`]), inside the caller's
/// transaction (observing each event). Each community's head is read and written once per
/// call, not per entry: the batch holds the write lock meanwhile.
fn append_in(conn: &Connection, entries: &[NewEntry], texts: &[String], now_ms: u64) -> Result<Vec<Appended>, Fail> {
    let mut heads: HashMap<&str, u64> = HashMap::new();
    let mut appended = Vec::with_capacity(entries.len());
    for (entry, json) in entries.iter().zip(texts) {
        let community = entry.event.meta.community.as_str();
        if let Some(sequence) = find_in(conn, community, &entry.dedupe_key)? {
            appended.push(Appended {
                sequence,
                duplicate: true,
            });
            continue;
        }
        let head = match heads.entry(community) {
            Entry::Occupied(head) => head.into_mut(),
            Entry::Vacant(head) => head.insert(head_in(conn, community)?),
        };
        *head += 1;
        let sequence = *head;
        // Targeted entries (timer firings, replays) are not news about the community: a
        // replayed `member-joined` must not re-add a member who has left since.
        if entry.target.is_none() {
            observe_in(conn, &entry.event)?;
        }
        conn.prepare_cached(
            "INSERT INTO event_log (community, sequence, dedupe_key, target, event, accepted_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            community,
            to_db(sequence),
            entry.dedupe_key,
            entry.target,
            json,
            to_db(now_ms)
        ])?;
        appended.push(Appended {
            sequence,
            duplicate: false,
        });
    }
    let mut set_head = conn.prepare_cached(
        "INSERT INTO log_heads (community, head) VALUES (?1, ?2)
         ON CONFLICT (community) DO UPDATE SET head = excluded.head",
    )?;
    for (community, head) in heads {
        set_head.execute(params![community, to_db(head)])?;
    }
    Ok(appended)
}

/// The answer for the one entry appended.
fn one(appended: Vec<Appended>) -> Appended {
    appended.into_iter().next().expect("one entry, one answer")
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<(String, i64, String, Option<String>, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn cursor_in(conn: &Connection, community: &str, plugin: &str) -> Result<Option<Cursor>, Fail> {
    let row: Option<(i64, String, Option<i64>)> = conn
        .prepare_cached("SELECT sequence, failures, next_attempt_ms FROM cursors WHERE community = ?1 AND plugin = ?2")?
        .query_row(params![community, plugin], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(sequence, failures, next)| {
        Ok(Cursor {
            sequence: from_db(sequence),
            failures: from_json(&failures, "cursor failures")?,
            next_attempt_ms: next.map(from_db),
        })
    })
    .transpose()
}

/// Moves a cursor from `from` to `to`, clearing its failures; `false` when it is not at `from`.
fn move_cursor_in(conn: &Connection, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, Fail> {
    let changed = conn
        .prepare_cached(
            "UPDATE cursors SET sequence = ?4, failures = '[]', next_attempt_ms = NULL
             WHERE community = ?1 AND plugin = ?2 AND sequence = ?3",
        )?
        .execute(params![community, plugin, to_db(from), to_db(to)])?;
    Ok(changed == 1)
}

fn dead_letter_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, String, String, i64, String, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn dead_letter(row: (i64, String, String, i64, String, String, i64)) -> Result<DeadLetter, Fail> {
    let (id, community, plugin, sequence, event, failures, dead_ms) = row;
    Ok(DeadLetter {
        id: from_db(id),
        event: decode_event(&event).map_err(|e| Fail::Data(format!("dead letter {id}: {e}")))?,
        failures: from_json(&failures, "dead-letter failures")?,
        community,
        plugin,
        sequence: from_db(sequence),
        dead_ms: from_db(dead_ms),
    })
}

fn outbox_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn outbox_entry(
    (key, community, plugin, action, created_ms): (String, String, String, String, i64),
) -> Result<OutboxEntry, Fail> {
    Ok(OutboxEntry {
        action: from_json(&action, "outbox action")?,
        key,
        community,
        plugin,
        created_ms: from_db(created_ms),
    })
}

fn not_found(what: String) -> Fail {
    Fail::Store(StoreError::NotFound(what))
}

impl DeliveryLog for SqliteStore {
    fn append(&self, entries: &[NewEntry], now_ms: u64) -> Result<Vec<Appended>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let doing = format!("appending {} events to the log", entries.len());
        let texts = entries
            .iter()
            .map(encode_entry)
            .collect::<Result<Vec<_>, Fail>>()
            .map_err(|e| self.describe(&doing, e))?;
        self.write_durable(&doing, |conn| append_in(conn, entries, &texts, now_ms))
    }

    fn find(&self, community: &str, dedupe_key: &str) -> Result<Option<u64>, StoreError> {
        self.read("looking up a logged event", |conn| find_in(conn, community, dedupe_key))
    }

    fn read_log(&self, community: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let doing = format!("reading the event log of community `{community}`");
        if after >= i64::MAX as u64 {
            // No sequence gets that far (and it would not compare as unsigned).
            return Ok(Vec::new());
        }
        let rows = self.read(&doing, |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT community, sequence, dedupe_key, target, event, accepted_ms FROM event_log
                     WHERE community = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3",
                )?
                .query_map(params![community, to_db(after), sql_limit(limit)], entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        // Decoded after the connection is free for the other pumps' commits.
        rows.into_iter()
            .map(|(community, sequence, dedupe_key, target, event, accepted_ms)| {
                let mut event = decode_event(&event)
                    .map_err(|e| Fail::Data(format!("log entry {sequence} of `{community}`: {e}")))?;
                // The column is the truth (entries migrated from version 2 carry their old one).
                event.meta.sequence = from_db(sequence);
                Ok(LogEntry {
                    community,
                    sequence: from_db(sequence),
                    dedupe_key,
                    target,
                    event,
                    accepted_ms: from_db(accepted_ms),
                })
            })
            .collect::<Result<_, Fail>>()
            .map_err(|e| self.describe(&doing, e))
    }

    fn head(&self, community: &str) -> Result<u64, StoreError> {
        self.read("reading the head of a log", |conn| head_in(conn, community))
    }

    fn cursor(&self, community: &str, plugin: &str) -> Result<Option<Cursor>, StoreError> {
        let doing = format!("reading the cursor of plugin `{plugin}` in community `{community}`");
        self.read(&doing, |conn| cursor_in(conn, community, plugin))
    }

    fn init_cursor(&self, community: &str, plugin: &str) -> Result<Cursor, StoreError> {
        let doing = format!("creating the cursor of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |conn| {
            if let Some(cursor) = cursor_in(conn, community, plugin)? {
                return Ok(cursor);
            }
            let head = head_in(conn, community)?;
            conn.prepare_cached(
                "INSERT INTO cursors (community, plugin, sequence, failures) VALUES (?1, ?2, ?3, '[]')",
            )?
            .execute(params![community, plugin, to_db(head)])?;
            Ok(Cursor {
                sequence: head,
                ..Cursor::default()
            })
        })
    }

    fn drop_cursor(&self, community: &str, plugin: &str) -> Result<(), StoreError> {
        let doing = format!("removing the cursor of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |conn| drop_cursor_in(conn, community, plugin))
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<bool, StoreError> {
        let Commit { community, plugin, .. } = *commit;
        let doing = format!(
            "committing event `{}` (sequence {}) for plugin `{plugin}` in community `{community}`",
            commit.event_id, commit.to
        );
        // Encoded before the connection is taken, so other pumps' commits go on meanwhile.
        let outbox = outbox_actions(commit)
            .map(|(key, action)| Ok((key, to_json(action)?)))
            .collect::<Result<Vec<_>, Fail>>()
            .map_err(|e| self.describe(&doing, e))?;
        self.write_grouped(&doing, |conn| {
            if !move_cursor_in(conn, community, plugin, commit.from, commit.to)? {
                return Ok(false);
            }
            for action in commit.actions {
                apply_action(conn, community, plugin, commit.now_ms, action)?;
            }
            let mut insert = conn.prepare_cached(
                "INSERT INTO outbox (key, community, plugin, action, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key) DO NOTHING",
            )?;
            for (key, action) in &outbox {
                insert.execute(params![key, community, plugin, action, to_db(commit.now_ms)])?;
            }
            append_audit_in(conn, commit.audit)?;
            Ok(true)
        })
    }

    fn skip(&self, community: &str, plugin: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        let doing = format!("moving the cursor of plugin `{plugin}` in community `{community}` to {to}");
        self.write_grouped(&doing, |conn| move_cursor_in(conn, community, plugin, from, to))
    }

    fn flush_commits(&self) -> Result<(), StoreError> {
        self.flush()
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
        self.write(&doing, |conn| {
            let Some(mut cursor) = cursor_in(conn, community, plugin)? else {
                return Ok(false);
            };
            if cursor.sequence != at {
                return Ok(false);
            }
            cursor.failures.push(failure.clone());
            conn.prepare_cached(
                "UPDATE cursors SET failures = ?3, next_attempt_ms = ?4 WHERE community = ?1 AND plugin = ?2",
            )?
            .execute(params![
                community,
                plugin,
                to_json(&cursor.failures)?,
                to_db(next_attempt_ms)
            ])?;
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
        self.write(&doing, |conn| {
            if !move_cursor_in(conn, community, plugin, from, entry.sequence)? {
                return Ok(None);
            }
            let json = encode_event(&entry.event).map_err(Fail::Data)?;
            conn.prepare_cached(
                "INSERT INTO dead_letters (community, plugin, sequence, event, failures, dead_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                community,
                plugin,
                to_db(entry.sequence),
                json,
                to_json(&failures)?,
                to_db(now_ms)
            ])?;
            let id = from_db(conn.last_insert_rowid());
            append_audit_in(conn, audit)?;
            Ok(Some(id))
        })
    }

    fn dead_letters(&self, community: Option<&str>, plugin: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        self.read("listing dead letters", |conn| {
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters
                     WHERE (?1 IS NULL OR community = ?1) AND (?2 IS NULL OR plugin = ?2) ORDER BY id"
                ))?
                .query_map(params![community, plugin], dead_letter_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(dead_letter).collect()
        })
    }

    fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.read(&format!("reading dead letter {id}"), |conn| {
            let row = conn
                .prepare_cached(&format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?1"))?
                .query_row(params![to_db(id)], dead_letter_from_row)
                .optional()?;
            row.map(dead_letter).transpose()
        })
    }

    fn replay(&self, id: u64, now_ms: u64) -> Result<Appended, StoreError> {
        self.write_durable(&format!("replaying dead letter {id}"), |conn| {
            let row = conn
                .prepare_cached(&format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?1"))?
                .query_row(params![to_db(id)], dead_letter_from_row)
                .optional()?;
            let letter = dead_letter(row.ok_or_else(|| not_found(format!("dead letter {id}")))?)?;
            let mut event = letter.event;
            event.meta.attempt = 1;
            let entry = NewEntry {
                event,
                dedupe_key: format!("replay:{id}"),
                target: Some(letter.plugin),
            };
            let text = encode_entry(&entry)?;
            let appended = one(append_in(conn, std::slice::from_ref(&entry), &[text], now_ms)?);
            conn.prepare_cached("DELETE FROM dead_letters WHERE id = ?1")?
                .execute(params![to_db(id)])?;
            Ok(appended)
        })
    }

    fn fire_timer(&self, timer: &Timer, entry: &NewEntry, now_ms: u64) -> Result<Appended, StoreError> {
        let doing = format!(
            "firing timer `{}` of plugin `{}` in community `{}`",
            timer.timer_id, timer.plugin, timer.community
        );
        let text = [encode_entry(entry).map_err(|e| self.describe(&doing, e))?];
        self.write_durable(&doing, |conn| {
            let appended = one(append_in(conn, std::slice::from_ref(entry), &text, now_ms)?);
            timer_fired_in(conn, &timer.timer_id)?;
            Ok(appended)
        })
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        // The platform is only told what is committed.
        self.flush()?;
        let rows = self.read("reading the outbox", |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_ms IS NULL ORDER BY position LIMIT ?1"
                ))?
                .query_map(params![sql_limit(limit)], outbox_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        // Decoded after the connection is free for the pumps' commits.
        rows.into_iter()
            .map(outbox_entry)
            .collect::<Result<_, Fail>>()
            .map_err(|e| self.describe("reading the outbox", e))
    }

    fn outbox_delivered(&self, keys: &[String], now_ms: u64) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write(&format!("marking {} outbox entries delivered", keys.len()), |conn| {
            let mut update =
                conn.prepare_cached("UPDATE outbox SET delivered_ms = ?2 WHERE key = ?1 AND delivered_ms IS NULL")?;
            for key in keys {
                update.execute(params![key, to_db(now_ms)])?;
            }
            Ok(())
        })
    }

    fn outbox(&self, community: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(&format!("reading the outbox of community `{community}`"), |conn| {
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE community = ?1 ORDER BY position"
                ))?
                .query_map(params![community], outbox_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(outbox_entry).collect()
        })
    }

    fn prune(&self, community: &str) -> Result<u64, StoreError> {
        self.write(&format!("pruning the event log of community `{community}`"), |conn| {
            let lowest: Option<i64> = conn
                .prepare_cached("SELECT min(sequence) FROM cursors WHERE community = ?1")?
                .query_row(params![community], |r| r.get(0))?;
            let upto = match lowest {
                Some(s) => from_db(s),
                None => head_in(conn, community)?,
            };
            let deleted = conn
                .prepare_cached("DELETE FROM event_log WHERE community = ?1 AND sequence <= ?2")?
                .execute(params![community, to_db(upto)])?;
            Ok(deleted as u64)
        })
    }
}
