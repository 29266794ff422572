//! [`CommunityStore`] on PostgreSQL: members, standing, messages, KV, timers and pseudonyms,
//! and the pieces of a transaction other writes share (observing an event, applying an action,
//! firing a timer, appending audit entries).

use tokio_postgres::Row;

use super::{Fail, PostgresStore, Tx};
use crate::effects::Action;
use crate::event::{Event, EventKind, MemberProfile};
use crate::storage::admin::AuditEntry;
use crate::storage::codec::{from_db, from_json, prefix_end, sql_limit, to_db, to_json};
use crate::storage::sqlite::observes;
use crate::storage::{CommunityStore, MemberStanding, StoredMessage, Timer};

/// A message to record: a new one is appended, one with a known id replaced in place.
struct NewMessage<'a> {
    channel: &'a str,
    message_id: &'a str,
    author: &'a str,
    text: &'a str,
    reply_to: Option<&'a str>,
    posted_by_plugin: Option<&'a str>,
}

fn record_message(tx: &mut Tx<'_>, community: &str, m: &NewMessage<'_>) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO messages (community, message_id, channel, author, text, reply_to, posted_by_plugin, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE)
         ON CONFLICT (community, message_id) DO UPDATE SET
             channel = excluded.channel, author = excluded.author, text = excluded.text,
             reply_to = excluded.reply_to, posted_by_plugin = excluded.posted_by_plugin, deleted = FALSE",
        &[
            &community,
            &m.message_id,
            &m.channel,
            &m.author,
            &m.text.as_bytes(),
            &m.reply_to,
            &m.posted_by_plugin,
        ],
    )?;
    Ok(())
}

fn edit_message(tx: &mut Tx<'_>, community: &str, message_id: &str, text: &str) -> Result<(), Fail> {
    tx.execute(
        "UPDATE messages SET text = $3 WHERE community = $1 AND message_id = $2",
        &[&community, &message_id, &text.as_bytes()],
    )?;
    Ok(())
}

fn delete_message(tx: &mut Tx<'_>, community: &str, message_id: &str) -> Result<(), Fail> {
    tx.execute(
        "UPDATE messages SET deleted = TRUE WHERE community = $1 AND message_id = $2",
        &[&community, &message_id],
    )?;
    Ok(())
}

fn put_member(tx: &mut Tx<'_>, community: &str, member: &MemberProfile) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO members (community, id, display_name, roles, is_bot) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (community, id) DO UPDATE SET
             display_name = excluded.display_name, roles = excluded.roles, is_bot = excluded.is_bot",
        &[
            &community,
            &member.id,
            &member.display_name,
            &to_json(&member.roles)?,
            &member.is_bot,
        ],
    )?;
    Ok(())
}

fn remove_member(tx: &mut Tx<'_>, community: &str, member: &str) -> Result<(), Fail> {
    tx.execute(
        "DELETE FROM members WHERE community = $1 AND id = $2",
        &[&community, &member],
    )?;
    Ok(())
}

fn mute(tx: &mut Tx<'_>, community: &str, member: &str, until_ms: u64) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO standing (community, member, muted_until_ms, banned) VALUES ($1, $2, $3, FALSE)
         ON CONFLICT (community, member) DO UPDATE SET muted_until_ms = excluded.muted_until_ms",
        &[&community, &member, &to_db(until_ms)],
    )?;
    Ok(())
}

fn ban(tx: &mut Tx<'_>, community: &str, member: &str) -> Result<(), Fail> {
    remove_member(tx, community, member)?;
    tx.execute(
        "INSERT INTO standing (community, member, muted_until_ms, banned) VALUES ($1, $2, NULL, TRUE)
         ON CONFLICT (community, member) DO UPDATE SET banned = TRUE",
        &[&community, &member],
    )?;
    Ok(())
}

const MESSAGE_COLUMNS: &str = "channel, message_id, author, text, reply_to, posted_by_plugin, deleted";

/// A BYTEA column holding UTF-8 text.
fn utf8(row: &Row, index: usize, what: &str) -> Result<String, Fail> {
    String::from_utf8(row.get(index)).map_err(|e| Fail::Data(format!("{what} is not UTF-8: {e}")))
}

fn message_from_row(row: &Row) -> Result<StoredMessage, Fail> {
    Ok(StoredMessage {
        channel: row.get(0),
        message_id: row.get(1),
        author: row.get(2),
        text: utf8(row, 3, "a message text")?,
        reply_to: row.get(4),
        posted_by_plugin: row.get(5),
        deleted: row.get(6),
    })
}

const TIMER_COLUMNS: &str = "timer_id, community, plugin, name, payload, due_ms, every_ms";

fn timer_from_row(row: &Row) -> Result<Timer, Fail> {
    Ok(Timer {
        timer_id: row.get(0),
        community: row.get(1),
        plugin: row.get(2),
        name: utf8(row, 3, "a timer name")?,
        payload: utf8(row, 4, "a timer payload")?,
        due_ms: from_db(row.get(5)),
        every_ms: row.get::<_, Option<i64>>(6).map(from_db),
    })
}

fn member_from_row(row: &Row) -> Result<MemberProfile, Fail> {
    Ok(MemberProfile {
        id: row.get(0),
        display_name: row.get(1),
        roles: from_json(row.get(2), "member roles")?,
        is_bot: row.get(3),
    })
}

/// Applies one action of `plugin` inside the caller's transaction.
pub(super) fn apply_action(
    tx: &mut Tx<'_>,
    community: &str,
    plugin: &str,
    now_ms: u64,
    action: &Action,
) -> Result<(), Fail> {
    match action {
        Action::SendMessage {
            channel,
            message_id,
            text,
            reply_to,
        } => record_message(
            tx,
            community,
            &NewMessage {
                channel,
                message_id,
                author: &format!("plugin:{plugin}"),
                text,
                reply_to: reply_to.as_deref(),
                posted_by_plugin: Some(plugin),
            },
        ),
        Action::EditMessage { message_id, text, .. } => edit_message(tx, community, message_id, text),
        Action::DeleteMessage { message_id, .. } => delete_message(tx, community, message_id),
        Action::MuteMember {
            member, duration_ms, ..
        } => mute(tx, community, member, now_ms.saturating_add(*duration_ms)),
        Action::KickMember { member, .. } => remove_member(tx, community, member),
        Action::BanMember { member, .. } => ban(tx, community, member),
        Action::KvSet { key, value } => {
            tx.execute(
                "INSERT INTO kv (community, plugin, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (community, plugin, key) DO UPDATE SET value = excluded.value",
                &[&community, &plugin, &key.as_bytes(), &value.0.as_slice()],
            )?;
            Ok(())
        }
        Action::KvDelete { key } => {
            tx.execute(
                "DELETE FROM kv WHERE community = $1 AND plugin = $2 AND key = $3",
                &[&community, &plugin, &key.as_bytes()],
            )?;
            Ok(())
        }
        Action::ScheduleTimer {
            timer_id,
            name,
            payload,
            delay_ms,
            every_ms,
        } => {
            tx.execute(
                "INSERT INTO timers (timer_id, community, plugin, name, payload, due_ms, every_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (timer_id) DO UPDATE SET
                     community = excluded.community, plugin = excluded.plugin, name = excluded.name,
                     payload = excluded.payload, due_ms = excluded.due_ms, every_ms = excluded.every_ms",
                &[
                    timer_id,
                    &community,
                    &plugin,
                    &name.as_bytes(),
                    &payload.as_bytes(),
                    &to_db(now_ms.saturating_add(*delay_ms)),
                    &every_ms.map(to_db),
                ],
            )?;
            Ok(())
        }
        Action::CancelTimer { timer_id } => {
            tx.execute("DELETE FROM timers WHERE timer_id = $1", &[timer_id])?;
            Ok(())
        }
    }
}

/// Records what an event says about its community, inside the caller's transaction.
pub(super) fn observe_in(tx: &mut Tx<'_>, event: &Event) -> Result<(), Fail> {
    let c = event.meta.community.as_str();
    match &event.kind {
        EventKind::MemberJoined { member, .. } | EventKind::MemberUpdated { member } => put_member(tx, c, member),
        EventKind::MemberLeft { member, .. } => remove_member(tx, c, member),
        EventKind::MessagePosted(m) => record_message(
            tx,
            c,
            &NewMessage {
                channel: &m.channel,
                message_id: &m.message_id,
                author: &m.author,
                text: &m.text,
                reply_to: m.reply_to.as_deref(),
                posted_by_plugin: None,
            },
        ),
        EventKind::MessageEdited { message_id, text, .. } => edit_message(tx, c, message_id, text),
        EventKind::MessageDeleted { message_id, .. } => delete_message(tx, c, message_id),
        EventKind::MemberMuted {
            member, duration_ms, ..
        } => mute(tx, c, member, event.meta.timestamp_ms.saturating_add(*duration_ms)),
        EventKind::MemberBanned { member, .. } => ban(tx, c, member),
        _ => Ok(()),
    }
}

/// Marks a timer fired inside the caller's transaction: a recurring one moves to its next time,
/// others are removed.
pub(super) fn timer_fired_in(tx: &mut Tx<'_>, timer_id: &str) -> Result<(), Fail> {
    let row = tx.query_opt("SELECT due_ms, every_ms FROM timers WHERE timer_id = $1", &[&timer_id])?;
    let Some(row) = row else { return Ok(()) };
    match row.get::<_, Option<i64>>(1) {
        Some(every) => {
            let next = from_db(row.get(0)).saturating_add(from_db(every));
            tx.execute(
                "UPDATE timers SET due_ms = $2 WHERE timer_id = $1",
                &[&timer_id, &to_db(next)],
            )?;
        }
        None => {
            tx.execute("DELETE FROM timers WHERE timer_id = $1", &[&timer_id])?;
        }
    }
    Ok(())
}

/// Appends audit entries inside the caller's transaction, numbering them from the counter row
/// (gapless and in commit order: see the schema notes).
/// Deletes a plugin's KV, pseudonyms and timers in a community.
pub(super) fn forget_plugin_in(tx: &mut Tx<'_>, community: &str, plugin: &str) -> Result<(), Fail> {
    for table in ["kv", "pseudonyms", "timers"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE community = $1 AND plugin = $2"),
            &[&community, &plugin],
        )?;
    }
    Ok(())
}

pub(super) fn append_audit_in(tx: &mut Tx<'_>, entries: &[AuditEntry]) -> Result<(), Fail> {
    if entries.is_empty() {
        return Ok(());
    }
    let count = to_db(entries.len() as u64);
    let last: i64 = tx
        .query_one(
            "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq",
            &[&count],
        )?
        .get(0);
    for (e, seq) in entries.iter().zip(last - count + 1..) {
        tx.execute(
            "INSERT INTO audit (seq, time_ms, community, plugin, version, kind, capability, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &seq,
                &to_db(e.time_ms),
                &e.community,
                &e.plugin,
                &e.version,
                &e.kind,
                &e.capability,
                &e.outcome,
                &e.detail,
            ],
        )?;
    }
    Ok(())
}

impl CommunityStore for PostgresStore {
    fn observe(&self, event: &Event) -> anyhow::Result<()> {
        if !observes(event) {
            return Ok(());
        }
        let doing = format!("recording {} event `{}`", event.kind.type_name(), event.meta.id);
        self.write(&doing, |tx| observe_in(tx, event))?;
        Ok(())
    }

    fn member(&self, community: &str, member: &str) -> Option<MemberProfile> {
        self.read_or("reading a member", None, |tx| {
            let row = tx.query_opt(
                "SELECT id, display_name, roles, is_bot FROM members WHERE community = $1 AND id = $2",
                &[&community, &member],
            )?;
            row.as_ref().map(member_from_row).transpose()
        })
    }

    fn members_page(&self, community: &str, after: Option<&str>, limit: usize) -> (Vec<MemberProfile>, bool) {
        self.read_or("listing members", (Vec::new(), false), |tx| {
            let rows = tx.query(
                "SELECT id, display_name, roles, is_bot FROM members
                 WHERE community = $1 AND ($2::TEXT IS NULL OR id > $2) ORDER BY id LIMIT $3",
                &[&community, &after, &sql_limit(limit.saturating_add(1))],
            )?;
            let more = rows.len() > limit;
            let page = rows
                .iter()
                .take(limit)
                .map(member_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((page, more))
        })
    }

    fn standing(&self, community: &str, member: &str) -> MemberStanding {
        self.read_or("reading a member's standing", MemberStanding::default(), |tx| {
            let row = tx.query_opt(
                "SELECT muted_until_ms, banned FROM standing WHERE community = $1 AND member = $2",
                &[&community, &member],
            )?;
            Ok(row.map_or_else(MemberStanding::default, |row| MemberStanding {
                muted_until_ms: row.get::<_, Option<i64>>(0).map(from_db),
                banned: row.get(1),
            }))
        })
    }

    fn message(&self, community: &str, message_id: &str) -> Option<StoredMessage> {
        self.read_or("reading a message", None, |tx| {
            let row = tx.query_opt(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE community = $1 AND message_id = $2"),
                &[&community, &message_id],
            )?;
            row.as_ref().map(message_from_row).transpose()
        })
    }

    fn messages(&self, community: &str) -> Vec<StoredMessage> {
        self.read_or("listing messages", Vec::new(), |tx| {
            let rows = tx.query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE community = $1 ORDER BY seq"),
                &[&community],
            )?;
            rows.iter().map(message_from_row).collect()
        })
    }

    fn kv_get(&self, community: &str, plugin: &str, key: &str) -> Option<Vec<u8>> {
        self.read_or("reading a KV value", None, |tx| {
            let row = tx.query_opt(
                "SELECT value FROM kv WHERE community = $1 AND plugin = $2 AND key = $3",
                &[&community, &plugin, &key.as_bytes()],
            )?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn kv_keys(
        &self,
        community: &str,
        plugin: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Vec<String> {
        self.read_or("listing KV keys", Vec::new(), |tx| {
            // Keys starting with `prefix` lie in [prefix, prefix_end); `start_after` may raise the
            // lower bound. BYTEA compares bytewise.
            let (lower, strict) = match start_after {
                Some(after) if after >= prefix => (after.as_bytes(), true),
                _ => (prefix.as_bytes(), false),
            };
            let end = prefix_end(prefix.as_bytes());
            let rows = tx.query(
                "SELECT key FROM kv WHERE community = $1 AND plugin = $2
                   AND (key > $3 OR (NOT $4 AND key = $3))
                   AND ($5::BYTEA IS NULL OR key < $5)
                 ORDER BY key LIMIT $6",
                &[&community, &plugin, &lower, &strict, &end, &sql_limit(limit)],
            )?;
            rows.iter()
                .map(|row| String::from_utf8(row.get(0)).map_err(|e| Fail::Data(format!("KV key is not UTF-8: {e}"))))
                .collect()
        })
    }

    fn kv_bytes(&self, community: &str, plugin: &str) -> u64 {
        self.read_or("summing KV sizes", 0, |tx| {
            let total: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(length(key) + length(value)), 0)::BIGINT FROM kv
                     WHERE community = $1 AND plugin = $2",
                    &[&community, &plugin],
                )?
                .get(0);
            Ok(from_db(total))
        })
    }

    fn timer(&self, timer_id: &str) -> Option<Timer> {
        self.read_or("reading a timer", None, |tx| {
            let row = tx.query_opt(
                &format!("SELECT {TIMER_COLUMNS} FROM timers WHERE timer_id = $1"),
                &[&timer_id],
            )?;
            row.as_ref().map(timer_from_row).transpose()
        })
    }

    fn due_timers(&self, now_ms: u64) -> Vec<Timer> {
        self.read_or("listing due timers", Vec::new(), |tx| {
            // Stored due times above i64::MAX read as negative: compare as unsigned.
            let sql = if now_ms <= i64::MAX as u64 {
                format!("SELECT {TIMER_COLUMNS} FROM timers WHERE due_ms BETWEEN 0 AND $1 ORDER BY due_ms, timer_id")
            } else {
                format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE due_ms >= 0 OR due_ms <= $1
                     ORDER BY due_ms < 0, due_ms, timer_id"
                )
            };
            let rows = tx.query(&sql, &[&to_db(now_ms)])?;
            rows.iter().map(timer_from_row).collect()
        })
    }

    fn timer_fired(&self, timer_id: &str) -> anyhow::Result<()> {
        self.write(&format!("marking timer `{timer_id}` fired"), |tx| {
            timer_fired_in(tx, timer_id)
        })?;
        Ok(())
    }

    fn apply(&self, community: &str, plugin: &str, now_ms: u64, actions: &[Action]) -> anyhow::Result<()> {
        if actions.is_empty() {
            return Ok(());
        }
        let doing = format!(
            "applying {} effects of plugin `{plugin}` in community `{community}`",
            actions.len()
        );
        self.write(&doing, |tx| {
            actions
                .iter()
                .try_for_each(|action| apply_action(tx, community, plugin, now_ms, action))
        })?;
        Ok(())
    }

    fn forget_plugin(&self, community: &str, plugin: &str) -> anyhow::Result<()> {
        let doing = format!("deleting the data of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| forget_plugin_in(tx, community, plugin))?;
        Ok(())
    }

    fn remember_pseudonyms(&self, community: &str, plugin: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let doing = format!("remembering pseudonyms of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| {
            for (pseudonym, member) in pairs {
                tx.execute(
                    "INSERT INTO pseudonyms (community, plugin, pseudonym, member) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (community, plugin, pseudonym) DO UPDATE SET member = excluded.member",
                    &[&community, &plugin, pseudonym, member],
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn resolve_pseudonym(&self, community: &str, plugin: &str, pseudonym: &str) -> Option<String> {
        self.read_or("resolving a pseudonym", None, |tx| {
            let row = tx.query_opt(
                "SELECT member FROM pseudonyms WHERE community = $1 AND plugin = $2 AND pseudonym = $3",
                &[&community, &plugin, &pseudonym],
            )?;
            Ok(row.map(|row| row.get(0)))
        })
    }
}
