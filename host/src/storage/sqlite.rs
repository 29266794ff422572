//! A persistent [`Store`](super::Store): community state and the admin model in one embedded
//! SQLite database, `plaza.db` in the host's data directory.
//!
//! - One connection behind a mutex serves every caller (the store is shared across tokio tasks).
//!   Every write runs in its own `BEGIN IMMEDIATE` transaction, so [`CommunityStore::apply`] and
//!   [`AdminStore::put_install`] are all-or-nothing; delivery commits share one transaction per
//!   group, each in its own savepoint (`group`).
//! - The schema is versioned (`PRAGMA user_version`): [`SqliteStore::open`] applies the missing
//!   migrations of `schema` in one transaction and refuses a database written by a newer Plaza.
//! - It behaves like [`MemoryStore`](super::memory::MemoryStore) method by method; the shared
//!   conformance suite runs against both.
//! - `u64` numbers are stored bit-for-bit in SQLite's signed integers, so every value round-trips;
//!   the one query that compares them (`due_timers`) compares as unsigned.
//! - KV keys are stored as BLOBs (their UTF-8 bytes), so prefix ranges and order are by bytes and
//!   `kv_bytes` counts bytes, as in memory.

mod checkpoint;
mod group;
mod log;
mod schema;
mod secrets;
mod shared;

pub use group::lost_groups;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::admin::{
    AdminStore, AuditEntry, AuditQuery, BreakerRecord, BreakerState, CommunityRecord, InstallRecord, LimitOverrides,
    PendingUpgrade, PluginPackage, ReviewFailPolicy, StoreError,
};
use super::memory_admin::{community_conflict, no_community, no_package, not_installed};
use super::{CommunityStore, MemberStanding, StoredMessage, Timer};
use crate::capability::{Capability, GrantSet};
use crate::effects::Action;
use crate::event::{ConfigEntry, Event, EventKind, MemberProfile};

/// The database file inside the data directory.
pub const DB_FILE_NAME: &str = "plaza.db";

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = schema::MIGRATIONS.len() as u32;

/// How a [`SqliteStore`] opens its database.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a statement waits for a lock another connection holds before failing with
    /// [`StoreError::Locked`].
    pub busy_timeout: Duration,
    /// How long a group of delivery commits stays open at most (see `group`): what a crash may
    /// lose, and how long other writers may wait for the write lock.
    pub group_max_age: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: Duration::from_secs(5),
            group_max_age: group::MAX_AGE,
        }
    }
}

/// Community state and the admin model in a SQLite database.
pub struct SqliteStore {
    conn: Arc<Mutex<group::Db>>,
    /// Checkpoints the write-ahead log off the writers' path (file databases).
    checkpointer: Option<checkpoint::Checkpointer>,
    path: Option<PathBuf>,
    /// Whether the database is in WAL mode (see [`SqliteStore::write_durable`]).
    wal: bool,
    /// The path for messages, or `:memory:`.
    location: String,
}

/// Syncs the write-ahead log of the database at `db`: every frame written to it so far is on
/// disk once this returns. Opened by path each time, so it is always the current file.
fn sync_wal(db: &Path) -> std::io::Result<()> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::File::open(wal)?.sync_data()
}

/// Why a database step failed, before it is described as a [`StoreError`].
#[derive(Debug)]
enum Fail {
    Sql(rusqlite::Error),
    /// A stored value that cannot be read back (bad JSON, unknown capability, ...).
    Data(String),
    Store(StoreError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// Describes a SQLite error. `opening` turns errors without a better variant into `Open`.
fn classify(location: &str, doing: &str, e: rusqlite::Error, opening: bool) -> StoreError {
    let path = location.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path,
            reason: format!("{doing}: {e}"),
        },
        Some(ErrorCode::NotADatabase) => StoreError::Open {
            path,
            reason: format!("the file is not a SQLite database ({doing}: {e})"),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            reason: format!("{doing}: {e}"),
        },
        _ if opening => StoreError::Open {
            path,
            reason: format!("{doing}: {e}"),
        },
        _ => StoreError::Db {
            doing: doing.to_string(),
            reason: e.to_string(),
        },
    }
}

use super::codec::{from_db, prefix_end, sql_limit, to_db};

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Fail> {
    super::codec::to_json(value).map_err(Fail::Data)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Fail> {
    super::codec::from_json(text, what).map_err(Fail::Data)
}

fn variant_name<T: serde::Serialize>(value: &T) -> Result<String, Fail> {
    super::codec::variant_name(value).map_err(Fail::Data)
}

fn from_variant_name<T: serde::de::DeserializeOwned>(name: String, what: &str) -> Result<T, Fail> {
    super::codec::from_variant_name(name, what).map_err(Fail::Data)
}

fn capability(name: &str) -> Result<Capability, Fail> {
    super::codec::capability(name).map_err(Fail::Data)
}

impl SqliteStore {
    /// Opens (creating on first use) `plaza.db` in `data_dir`, creating the directory if
    /// missing, and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(data_dir, Options::default())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(data_dir: &Path, options: Options) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: data_dir.display().to_string(),
            reason: format!("cannot create the data directory: {e}"),
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let location = path.display().to_string();
        let conn = Connection::open(&path).map_err(|e| classify(&location, "opening the file", e, true))?;
        SqliteStore::init(conn, Some(path), location, &options)
    }

    /// A private database in memory (for tests).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let location = ":memory:".to_string();
        let conn = Connection::open_in_memory().map_err(|e| classify(&location, "opening", e, true))?;
        SqliteStore::init(conn, None, location, &Options::default())
    }

    fn init(
        mut conn: Connection,
        path: Option<PathBuf>,
        location: String,
        options: &Options,
    ) -> Result<SqliteStore, StoreError> {
        let at = |doing: &'static str| {
            let location = location.clone();
            move |e: rusqlite::Error| classify(&location, doing, e, true)
        };
        // Room for every statement this store prepares (kv_keys and audit build a few variants).
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(options.busy_timeout)
            .map_err(at("setting the busy timeout"))?;
        // Write-ahead logging: readers never block the writer and a commit is one append.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(at("switching to write-ahead logging"))?;
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(database = %location, mode, "write-ahead logging is unavailable");
        }
        // With WAL, `synchronous = NORMAL` never corrupts the database and loses nothing when
        // the process crashes: a commit is in the WAL file once `COMMIT` returns. Only a power
        // loss or OS crash can drop the last few commits, because the WAL is synced at
        // checkpoints rather than at every commit; after it the database is still consistent
        // (each transaction all there or all gone). That spares an fsync per commit, and every
        // successful invocation commits. `FULL` would only add durability of the very last
        // commits against power loss, which Plaza does not promise.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(at("setting synchronous = NORMAL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(at("enabling foreign keys"))?;
        // Each delivery commit is a savepoint of its group, which copies the ~16 pages it
        // changes into a sub-journal first; past 64 KiB SQLite spills that to a temporary file,
        // a dozen `pwrite`s per event with the connection locked. The sub-journal only exists
        // to undo a failed commit; a crash discards it anyway.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(at("keeping temporary files in memory"))?;
        schema::migrate(&mut conn, &location)?;
        let checkpointer = match &path {
            Some(path) => {
                conn.pragma_update(None, "wal_autocheckpoint", checkpoint::FALLBACK_PAGES)
                    .map_err(at("setting the checkpoint fallback"))?;
                Some(
                    checkpoint::Checkpointer::start(path, options.busy_timeout).map_err(|e| StoreError::Open {
                        path: location.clone(),
                        reason: format!("cannot start the checkpoint thread: {e}"),
                    })?,
                )
            }
            None => None,
        };
        let conn = Arc::new(Mutex::new(group::Db::new(conn, options.group_max_age)));
        if let Some(path) = &path {
            shared::register(path, &conn);
        }
        Ok(SqliteStore {
            conn,
            checkpointer,
            path,
            wal: mode.eq_ignore_ascii_case("wal"),
            location,
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, group::Db> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits the open delivery groups of this process's other connections to the file, so
    /// this one can take the write lock (see `shared`).
    fn flush_others(&self) {
        if let Some(path) = &self.path {
            shared::flush_others(path, Some(&self.conn));
        }
    }

    /// The connection, its open delivery group (and other connections') committed first: every
    /// write but a delivery commit starts from committed state, in order.
    fn lock_flushed(&self, doing: &str) -> Result<MutexGuard<'_, group::Db>, StoreError> {
        self.flush_others();
        let mut db = self.lock();
        db.flush()
            .map_err(|e| self.describe(&format!("committing delivery commits before {doing}"), e))?;
        Ok(db)
    }

    fn describe(&self, doing: &str, fail: Fail) -> StoreError {
        match fail {
            Fail::Sql(e) => classify(&self.location, doing, e, false),
            Fail::Data(reason) => StoreError::Corrupt {
                path: self.location.clone(),
                reason: format!("{doing}: {reason}"),
            },
            Fail::Store(e) => e,
        }
    }

    /// Runs `f` in a read transaction (inside the open delivery group, if any: it sees the
    /// group's commits, as it would once the group is committed).
    fn read<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, StoreError> {
        let mut db = self.lock();
        if db.in_group() {
            return f(&db.conn).map_err(|e| self.describe(doing, e));
        }
        let result = (|| -> Result<T, Fail> {
            let tx = db.conn.transaction()?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|e| self.describe(doing, e))
    }

    /// Runs a single-statement read `f`; on failure logs it and answers `fallback`.
    fn read_or<T>(&self, doing: &str, fallback: T, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> T {
        let result = f(&self.lock().conn);
        result.unwrap_or_else(|e| {
            let error = self.describe(doing, e);
            tracing::error!(database = %self.location, %error, "store read failed");
            fallback
        })
    }

    /// Runs `f` in a write transaction, committed only when `f` succeeds.
    fn write<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, StoreError> {
        let mut db = self.lock_flushed(doing)?;
        let result = (|| -> Result<T, Fail> {
            let tx = db.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        self.wrote();
        result.map_err(|e| self.describe(doing, e))
    }

    /// Runs `f` as one delivery commit of the open group (see `group`).
    fn write_grouped<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, StoreError> {
        self.flush_others();
        let result = self.lock().grouped(f);
        self.wrote();
        result.map_err(|e| self.describe(doing, e))
    }

    /// Commits the open delivery group, if any.
    fn flush(&self) -> Result<(), StoreError> {
        self.lock()
            .flush()
            .map_err(|e| self.describe("committing a group of delivery commits", e))
    }

    /// [`write`](Self::write), synced to disk before it returns: for appends to the event log,
    /// which are acknowledged to the sender.
    ///
    /// In WAL mode the transaction commits like any other (`synchronous = NORMAL`: its frames
    /// are in the `-wal` file, handed to the OS) and the `-wal` file is synced *after* the
    /// connection is unlocked: a sync takes ~1 ms, and with `synchronous = FULL` the commit held
    /// the connection through it, stalling every pump's commit behind each append. That is as
    /// durable: the sync covers every frame written before it, and if a checkpoint copied the
    /// frames into the database file and the log restarted meanwhile, that checkpoint synced
    /// the log before copying and the database file after. Later commits that another thread
    /// writes before the sync are synced with it; none can survive a power loss without this
    /// one, because recovery stops at the first frame that did not reach the disk. Without
    /// WAL (a file system that cannot share memory) the commit itself runs with `FULL`.
    fn write_durable<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, StoreError> {
        let Some(path) = &self.path else {
            // In memory: nothing to sync.
            return self.write(doing, f);
        };
        if !self.wal {
            return self.write_full(doing, f);
        }
        let value = self.write(doing, f)?;
        sync_wal(path).map_err(|e| StoreError::Db {
            doing: format!("{doing} (syncing the write-ahead log of {})", self.location),
            reason: e.to_string(),
        })?;
        Ok(value)
    }

    /// [`write`](Self::write) with `synchronous = FULL` for this transaction: synced before the
    /// connection is unlocked (rollback-journal mode).
    fn write_full<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, StoreError> {
        let mut db = self.lock_flushed(doing)?;
        let conn = &mut db.conn;
        let result = (|| -> Result<T, Fail> {
            conn.pragma_update(None, "synchronous", "FULL")?;
            let outcome = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            outcome
        })();
        self.wrote();
        result.map_err(|e| self.describe(doing, e))
    }

    /// Tells the checkpoint thread the log may have grown.
    fn wrote(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wrote();
        }
    }

    #[cfg(test)]
    fn with_connection<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&self.lock().conn)
    }
}

/// Commits the open delivery groups of every [`SqliteStore`] of this process on the database
/// file `path`: for another connection to it about to write.
pub fn flush_delivery_groups(path: &Path) {
    shared::flush_others(path, None);
}

impl Drop for SqliteStore {
    /// A clean close commits the open delivery group (a crash loses it; it is redelivered).
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(database = %self.location, %e, "committing the last delivery commits");
        }
    }
}

// Community state ------------------------------------------------------------------------------

/// A message to record: a new one is appended, one with a known id replaced in place.
struct NewMessage<'a> {
    channel: &'a str,
    message_id: &'a str,
    author: &'a str,
    text: &'a str,
    reply_to: Option<&'a str>,
    posted_by_plugin: Option<&'a str>,
}

fn record_message(conn: &Connection, community: &str, m: &NewMessage<'_>) -> Result<(), Fail> {
    conn.prepare_cached(
        "INSERT INTO messages (community, message_id, channel, author, text, reply_to, posted_by_plugin, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
         ON CONFLICT (community, message_id) DO UPDATE SET
             channel = excluded.channel, author = excluded.author, text = excluded.text,
             reply_to = excluded.reply_to, posted_by_plugin = excluded.posted_by_plugin, deleted = 0",
    )?
    .execute(params![
        community,
        m.message_id,
        m.channel,
        m.author,
        m.text,
        m.reply_to,
        m.posted_by_plugin
    ])?;
    Ok(())
}

fn edit_message(conn: &Connection, community: &str, message_id: &str, text: &str) -> Result<(), Fail> {
    conn.prepare_cached("UPDATE messages SET text = ?3 WHERE community = ?1 AND message_id = ?2")?
        .execute(params![community, message_id, text])?;
    Ok(())
}

fn delete_message(conn: &Connection, community: &str, message_id: &str) -> Result<(), Fail> {
    conn.prepare_cached("UPDATE messages SET deleted = 1 WHERE community = ?1 AND message_id = ?2")?
        .execute(params![community, message_id])?;
    Ok(())
}

fn put_member(conn: &Connection, community: &str, member: &MemberProfile) -> Result<(), Fail> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO members (community, id, display_name, roles, is_bot) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        community,
        member.id,
        member.display_name,
        to_json(&member.roles)?,
        member.is_bot
    ])?;
    Ok(())
}

fn remove_member(conn: &Connection, community: &str, member: &str) -> Result<(), Fail> {
    conn.prepare_cached("DELETE FROM members WHERE community = ?1 AND id = ?2")?
        .execute(params![community, member])?;
    Ok(())
}

fn mute(conn: &Connection, community: &str, member: &str, until_ms: u64) -> Result<(), Fail> {
    conn.prepare_cached(
        "INSERT INTO standing (community, member, muted_until_ms, banned) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (community, member) DO UPDATE SET muted_until_ms = excluded.muted_until_ms",
    )?
    .execute(params![community, member, to_db(until_ms)])?;
    Ok(())
}

fn ban(conn: &Connection, community: &str, member: &str) -> Result<(), Fail> {
    remove_member(conn, community, member)?;
    conn.prepare_cached(
        "INSERT INTO standing (community, member, muted_until_ms, banned) VALUES (?1, ?2, NULL, 1)
         ON CONFLICT (community, member) DO UPDATE SET banned = 1",
    )?
    .execute(params![community, member])?;
    Ok(())
}

const MESSAGE_COLUMNS: &str = "channel, message_id, author, text, reply_to, posted_by_plugin, deleted";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        channel: row.get(0)?,
        message_id: row.get(1)?,
        author: row.get(2)?,
        text: row.get(3)?,
        reply_to: row.get(4)?,
        posted_by_plugin: row.get(5)?,
        deleted: row.get(6)?,
    })
}

const TIMER_COLUMNS: &str = "timer_id, community, plugin, name, payload, due_ms, every_ms";

fn timer_from_row(row: &Row<'_>) -> rusqlite::Result<Timer> {
    Ok(Timer {
        timer_id: row.get(0)?,
        community: row.get(1)?,
        plugin: row.get(2)?,
        name: row.get(3)?,
        payload: row.get(4)?,
        due_ms: from_db(row.get(5)?),
        every_ms: row.get::<_, Option<i64>>(6)?.map(from_db),
    })
}

fn member_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, bool)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn member_profile((id, display_name, roles, is_bot): (String, String, String, bool)) -> Result<MemberProfile, Fail> {
    Ok(MemberProfile {
        roles: from_json(&roles, "member roles")?,
        id,
        display_name,
        is_bot,
    })
}

fn apply_action(conn: &Connection, community: &str, plugin: &str, now_ms: u64, action: &Action) -> Result<(), Fail> {
    match action {
        Action::SendMessage {
            channel,
            message_id,
            text,
            reply_to,
        } => record_message(
            conn,
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
        Action::EditMessage { message_id, text, .. } => edit_message(conn, community, message_id, text),
        Action::DeleteMessage { message_id, .. } => delete_message(conn, community, message_id),
        Action::MuteMember {
            member, duration_ms, ..
        } => mute(conn, community, member, now_ms.saturating_add(*duration_ms)),
        Action::KickMember { member, .. } => remove_member(conn, community, member),
        Action::BanMember { member, .. } => ban(conn, community, member),
        Action::KvSet { key, value } => {
            conn.prepare_cached("INSERT OR REPLACE INTO kv (community, plugin, key, value) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![community, plugin, key.as_bytes(), value.0.as_slice()])?;
            Ok(())
        }
        Action::KvDelete { key } => {
            conn.prepare_cached("DELETE FROM kv WHERE community = ?1 AND plugin = ?2 AND key = ?3")?
                .execute(params![community, plugin, key.as_bytes()])?;
            Ok(())
        }
        Action::ScheduleTimer {
            timer_id,
            name,
            payload,
            delay_ms,
            every_ms,
        } => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO timers (timer_id, community, plugin, name, payload, due_ms, every_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                timer_id,
                community,
                plugin,
                name,
                payload,
                to_db(now_ms.saturating_add(*delay_ms)),
                every_ms.map(to_db)
            ])?;
            Ok(())
        }
        Action::CancelTimer { timer_id } => {
            conn.prepare_cached("DELETE FROM timers WHERE timer_id = ?1")?
                .execute(params![timer_id])?;
            Ok(())
        }
    }
}

/// Whether an event changes the community state the store keeps.
pub(super) fn observes(event: &Event) -> bool {
    matches!(
        event.kind,
        EventKind::MemberJoined { .. }
            | EventKind::MemberUpdated { .. }
            | EventKind::MemberLeft { .. }
            | EventKind::MessagePosted(_)
            | EventKind::MessageEdited { .. }
            | EventKind::MessageDeleted { .. }
            | EventKind::MemberMuted { .. }
            | EventKind::MemberBanned { .. }
    )
}

/// Records what an event says about its community, inside the caller's transaction.
fn observe_in(conn: &Connection, event: &Event) -> Result<(), Fail> {
    let c = event.meta.community.as_str();
    match &event.kind {
        EventKind::MemberJoined { member, .. } | EventKind::MemberUpdated { member } => put_member(conn, c, member),
        EventKind::MemberLeft { member, .. } => remove_member(conn, c, member),
        EventKind::MessagePosted(m) => record_message(
            conn,
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
        EventKind::MessageEdited { message_id, text, .. } => edit_message(conn, c, message_id, text),
        EventKind::MessageDeleted { message_id, .. } => delete_message(conn, c, message_id),
        EventKind::MemberMuted {
            member, duration_ms, ..
        } => mute(conn, c, member, event.meta.timestamp_ms.saturating_add(*duration_ms)),
        EventKind::MemberBanned { member, .. } => ban(conn, c, member),
        _ => Ok(()),
    }
}

/// Marks a timer fired inside the caller's transaction: a recurring one moves to its next time,
/// others are removed.
fn timer_fired_in(conn: &Connection, timer_id: &str) -> Result<(), Fail> {
    let row: Option<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT due_ms, every_ms FROM timers WHERE timer_id = ?1")?
        .query_row(params![timer_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        Some((due, Some(every))) => {
            let next = from_db(due).saturating_add(from_db(every));
            conn.prepare_cached("UPDATE timers SET due_ms = ?2 WHERE timer_id = ?1")?
                .execute(params![timer_id, to_db(next)])?;
        }
        Some((_, None)) => {
            conn.prepare_cached("DELETE FROM timers WHERE timer_id = ?1")?
                .execute(params![timer_id])?;
        }
        None => {}
    }
    Ok(())
}

/// Appends audit entries inside the caller's transaction.
/// Deletes a plugin's KV, pseudonyms and timers in a community.
fn forget_plugin_in(conn: &Connection, community: &str, plugin: &str) -> Result<(), Fail> {
    for table in ["kv", "pseudonyms", "timers"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE community = ?1 AND plugin = ?2"))?
            .execute(params![community, plugin])?;
    }
    Ok(())
}

fn append_audit_in(conn: &Connection, entries: &[AuditEntry]) -> Result<(), Fail> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit (time_ms, community, plugin, version, kind, capability, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in entries {
        insert.execute(params![
            to_db(e.time_ms),
            e.community,
            e.plugin,
            e.version,
            e.kind,
            e.capability,
            e.outcome,
            e.detail
        ])?;
    }
    Ok(())
}

impl CommunityStore for SqliteStore {
    fn observe(&self, event: &Event) -> anyhow::Result<()> {
        if !observes(event) {
            return Ok(());
        }
        let doing = format!("recording {} event `{}`", event.kind.type_name(), event.meta.id);
        self.write(&doing, |conn| observe_in(conn, event))?;
        Ok(())
    }

    fn member(&self, community: &str, member: &str) -> Option<MemberProfile> {
        self.read_or("reading a member", None, |conn| {
            let row = conn
                .prepare_cached("SELECT id, display_name, roles, is_bot FROM members WHERE community = ?1 AND id = ?2")?
                .query_row(params![community, member], member_from_row)
                .optional()?;
            row.map(member_profile).transpose()
        })
    }

    fn members_page(&self, community: &str, after: Option<&str>, limit: usize) -> (Vec<MemberProfile>, bool) {
        self.read_or("listing members", (Vec::new(), false), |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, display_name, roles, is_bot FROM members
                 WHERE community = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(
                    params![community, after, sql_limit(limit.saturating_add(1))],
                    member_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let more = rows.len() > limit;
            let page = rows
                .into_iter()
                .take(limit)
                .map(member_profile)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((page, more))
        })
    }

    fn standing(&self, community: &str, member: &str) -> MemberStanding {
        self.read_or("reading a member's standing", MemberStanding::default(), |conn| {
            let standing = conn
                .prepare_cached("SELECT muted_until_ms, banned FROM standing WHERE community = ?1 AND member = ?2")?
                .query_row(params![community, member], |row| {
                    Ok(MemberStanding {
                        muted_until_ms: row.get::<_, Option<i64>>(0)?.map(from_db),
                        banned: row.get(1)?,
                    })
                })
                .optional()?;
            Ok(standing.unwrap_or_default())
        })
    }

    fn message(&self, community: &str, message_id: &str) -> Option<StoredMessage> {
        self.read_or("reading a message", None, |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE community = ?1 AND message_id = ?2"
                ))?
                .query_row(params![community, message_id], message_from_row)
                .optional()?)
        })
    }

    fn message_live_in(&self, community: &str, channel: &str, message_id: &str) -> bool {
        // Every reply asks this with the connection locked: one indexed lookup, nothing decoded.
        self.read_or("checking a message", false, |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 FROM messages WHERE community = ?1 AND message_id = ?2 AND channel = ?3 AND deleted = 0",
                )?
                .query_row(params![community, message_id, channel], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn messages(&self, community: &str) -> Vec<StoredMessage> {
        self.read_or("listing messages", Vec::new(), |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE community = ?1 ORDER BY seq"
                ))?
                .query_map(params![community], message_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn kv_get(&self, community: &str, plugin: &str, key: &str) -> Option<Vec<u8>> {
        self.read_or("reading a KV value", None, |conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM kv WHERE community = ?1 AND plugin = ?2 AND key = ?3")?
                .query_row(params![community, plugin, key.as_bytes()], |row| row.get(0))
                .optional()?)
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
        self.read_or("listing KV keys", Vec::new(), |conn| {
            // Keys starting with `prefix` lie in [prefix, prefix_end); `start_after` may raise the
            // lower bound.
            let mut sql = String::from("SELECT key FROM kv WHERE community = ?1 AND plugin = ?2");
            let mut values = vec![Value::Text(community.to_string()), Value::Text(plugin.to_string())];
            match start_after {
                Some(after) if after >= prefix => {
                    sql.push_str(" AND key > ?3");
                    values.push(Value::Blob(after.as_bytes().to_vec()));
                }
                _ => {
                    sql.push_str(" AND key >= ?3");
                    values.push(Value::Blob(prefix.as_bytes().to_vec()));
                }
            }
            if let Some(end) = prefix_end(prefix.as_bytes()) {
                sql.push_str(" AND key < ?4 ORDER BY key LIMIT ?5");
                values.push(Value::Blob(end));
            } else {
                sql.push_str(" ORDER BY key LIMIT ?4");
            }
            values.push(Value::Integer(sql_limit(limit)));
            let keys = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(values), |row| row.get::<_, Vec<u8>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            keys.into_iter()
                .map(|k| String::from_utf8(k).map_err(|e| Fail::Data(format!("KV key is not UTF-8: {e}"))))
                .collect()
        })
    }

    fn kv_bytes(&self, community: &str, plugin: &str) -> u64 {
        self.read_or("summing KV sizes", 0, |conn| {
            let total: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv WHERE community = ?1 AND plugin = ?2",
                )?
                .query_row(params![community, plugin], |row| row.get(0))?;
            Ok(from_db(total))
        })
    }

    fn timer(&self, timer_id: &str) -> Option<Timer> {
        self.read_or("reading a timer", None, |conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT {TIMER_COLUMNS} FROM timers WHERE timer_id = ?1"))?
                .query_row(params![timer_id], timer_from_row)
                .optional()?)
        })
    }

    fn due_timers(&self, now_ms: u64) -> Vec<Timer> {
        self.read_or("listing due timers", Vec::new(), |conn| {
            // Stored due times above i64::MAX read as negative: compare as unsigned.
            let sql = if now_ms <= i64::MAX as u64 {
                format!("SELECT {TIMER_COLUMNS} FROM timers WHERE due_ms BETWEEN 0 AND ?1 ORDER BY due_ms, timer_id")
            } else {
                format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE due_ms >= 0 OR due_ms <= ?1
                     ORDER BY due_ms < 0, due_ms, timer_id"
                )
            };
            Ok(conn
                .prepare_cached(&sql)?
                .query_map(params![to_db(now_ms)], timer_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn timer_fired(&self, timer_id: &str) -> anyhow::Result<()> {
        self.write(&format!("marking timer `{timer_id}` fired"), |conn| {
            timer_fired_in(conn, timer_id)
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
        self.write(&doing, |conn| {
            actions
                .iter()
                .try_for_each(|action| apply_action(conn, community, plugin, now_ms, action))
        })?;
        Ok(())
    }

    fn forget_plugin(&self, community: &str, plugin: &str) -> anyhow::Result<()> {
        let doing = format!("deleting the data of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |conn| forget_plugin_in(conn, community, plugin))?;
        Ok(())
    }

    fn remember_pseudonyms(&self, community: &str, plugin: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let doing = format!("remembering pseudonyms of plugin `{plugin}` in community `{community}`");
        // With the delivery commits: a separate write would end their group (a COMMIT and,
        // after it, commits alone) for each new member a plugin sees. Lost with the group,
        // if it is, and stored again when its events are redelivered (see `lost_groups`).
        self.write_grouped(&doing, |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO pseudonyms (community, plugin, pseudonym, member) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (pseudonym, member) in pairs {
                stmt.execute(params![community, plugin, pseudonym, member])?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn resolve_pseudonym(&self, community: &str, plugin: &str, pseudonym: &str) -> Option<String> {
        self.read_or("resolving a pseudonym", None, |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT member FROM pseudonyms WHERE community = ?1 AND plugin = ?2 AND pseudonym = ?3",
                )?
                .query_row(params![community, plugin, pseudonym], |row| row.get(0))
                .optional()?)
        })
    }
}

// Admin model ----------------------------------------------------------------------------------

/// Counts a change to communities or installs, so other processes sharing the database know
/// to reload them ([`AdminStore::admin_generation`]).
fn bump_admin_generation(conn: &Connection) -> Result<(), Fail> {
    conn.prepare_cached("UPDATE admin_generation SET generation = generation + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

const COMMUNITY_COLUMNS: &str = "id, created_ms, review_fail_policy, signing_policy";

type CommunityRow = (String, i64, String, Option<String>);

fn community_row(r: &Row<'_>) -> rusqlite::Result<CommunityRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn community_record((id, created_ms, policy, signing): CommunityRow) -> Result<CommunityRecord, Fail> {
    Ok(CommunityRecord {
        id,
        created_ms: from_db(created_ms),
        review_fail_policy: from_variant_name(policy, "review fail policy")?,
        signing_policy: signing
            .map(|name| from_variant_name(name, "signing policy"))
            .transpose()?,
    })
}

fn community_exists(conn: &Connection, id: &str) -> Result<bool, Fail> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM communities WHERE id = ?1")?
        .exists(params![id])?)
}

fn install_exists(conn: &Connection, community: &str, plugin_id: &str) -> Result<bool, Fail> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM installs WHERE community = ?1 AND plugin_id = ?2")?
        .exists(params![community, plugin_id])?)
}

fn package_exists(conn: &Connection, digest: &str) -> Result<bool, Fail> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM packages WHERE digest = ?1")?
        .exists(params![digest])?)
}

/// An install row, before its grants and pending upgrade are read.
struct InstallRow {
    community: String,
    plugin_id: String,
    digest: String,
    version: String,
    enabled: bool,
    config: String,
    installed_ms: i64,
    limits: String,
}

const INSTALL_COLUMNS: &str = "community, plugin_id, digest, version, enabled, config, installed_ms, limits";

fn install_from_row(row: &Row<'_>) -> rusqlite::Result<InstallRow> {
    Ok(InstallRow {
        community: row.get(0)?,
        plugin_id: row.get(1)?,
        digest: row.get(2)?,
        version: row.get(3)?,
        enabled: row.get(4)?,
        config: row.get(5)?,
        installed_ms: row.get(6)?,
        limits: row.get(7)?,
    })
}

/// Completes an install row with its grants and pending upgrade.
fn load_install(conn: &Connection, row: InstallRow) -> Result<InstallRecord, Fail> {
    let key = params![row.community, row.plugin_id];
    let grant_names = conn
        .prepare_cached("SELECT capability FROM grants WHERE community = ?1 AND plugin_id = ?2")?
        .query_map(key, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let grants = grant_names
        .iter()
        .map(|name| capability(name))
        .collect::<Result<GrantSet, _>>()?;
    let pending = conn
        .prepare_cached(
            "SELECT digest, version, requested_ms FROM pending_upgrades WHERE community = ?1 AND plugin_id = ?2",
        )?
        .query_row(key, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()?;
    let pending = match pending {
        None => None,
        Some((digest, version, requested_ms)) => {
            let names = conn
                .prepare_cached(
                    "SELECT capability FROM pending_capabilities WHERE community = ?1 AND plugin_id = ?2 ORDER BY ordinal",
                )?
                .query_map(key, |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Some(PendingUpgrade {
                digest,
                version,
                added_capabilities: names.iter().map(|n| capability(n)).collect::<Result<_, _>>()?,
                requested_ms: from_db(requested_ms),
            })
        }
    };
    Ok(InstallRecord {
        config: from_json::<Vec<ConfigEntry>>(&row.config, "install config")?,
        limits: from_json::<LimitOverrides>(&row.limits, "install limits")?,
        community: row.community,
        plugin_id: row.plugin_id,
        digest: row.digest,
        version: row.version,
        enabled: row.enabled,
        grants,
        installed_ms: from_db(row.installed_ms),
        pending,
    })
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: from_db(row.get(0)?),
        time_ms: from_db(row.get(1)?),
        community: row.get(2)?,
        plugin: row.get(3)?,
        version: row.get(4)?,
        kind: row.get(5)?,
        capability: row.get(6)?,
        outcome: row.get(7)?,
        detail: row.get(8)?,
    })
}

/// Inserts or replaces one install inside the caller's transaction.
fn put_install_in(conn: &Connection, install: &InstallRecord) -> Result<(), Fail> {
    let (c, p) = (install.community.as_str(), install.plugin_id.as_str());
    bump_admin_generation(conn)?;
    if !community_exists(conn, c)? {
        return Err(no_community(c).into());
    }
    for digest in std::iter::once(&install.digest).chain(install.pending.iter().map(|p| &p.digest)) {
        if !package_exists(conn, digest)? {
            return Err(no_package(digest).into());
        }
    }
    conn.prepare_cached(
        "INSERT INTO installs (community, plugin_id, digest, version, enabled, config, installed_ms, limits)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (community, plugin_id) DO UPDATE SET
             digest = excluded.digest, version = excluded.version, enabled = excluded.enabled,
             config = excluded.config, installed_ms = excluded.installed_ms, limits = excluded.limits",
    )?
    .execute(params![
        c,
        p,
        install.digest,
        install.version,
        install.enabled,
        to_json(&install.config)?,
        to_db(install.installed_ms),
        to_json(&install.limits)?
    ])?;
    conn.prepare_cached("DELETE FROM grants WHERE community = ?1 AND plugin_id = ?2")?
        .execute(params![c, p])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO grants (community, plugin_id, capability) VALUES (?1, ?2, ?3)")?;
    for cap in install.grants.iter() {
        insert.execute(params![c, p, cap.name()])?;
    }
    // Deleting the pending upgrade also deletes its capabilities (ON DELETE CASCADE).
    conn.prepare_cached("DELETE FROM pending_upgrades WHERE community = ?1 AND plugin_id = ?2")?
        .execute(params![c, p])?;
    if let Some(pending) = &install.pending {
        conn.prepare_cached(
            "INSERT INTO pending_upgrades (community, plugin_id, digest, version, requested_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            c,
            p,
            pending.digest,
            pending.version,
            to_db(pending.requested_ms)
        ])?;
        let mut insert = conn.prepare_cached(
            "INSERT INTO pending_capabilities (community, plugin_id, ordinal, capability) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (ordinal, cap) in pending.added_capabilities.iter().enumerate() {
            insert.execute(params![c, p, ordinal as i64, cap.name()])?;
        }
    }
    Ok(())
}

impl AdminStore for SqliteStore {
    fn create_community(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        self.write(&format!("creating community `{id}`"), |conn| {
            bump_admin_generation(conn)?;
            if community_exists(conn, id)? {
                return Err(community_conflict(id).into());
            }
            conn.prepare_cached("INSERT INTO communities (id, created_ms, review_fail_policy) VALUES (?1, ?2, ?3)")?
                .execute(params![id, to_db(now_ms), variant_name(&ReviewFailPolicy::default())?])?;
            Ok(())
        })
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        self.read("listing communities", |conn| {
            let rows = conn
                .prepare_cached(&format!("SELECT {COMMUNITY_COLUMNS} FROM communities ORDER BY id"))?
                .query_map([], community_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(community_record).collect()
        })
    }

    fn community(&self, id: &str) -> Result<Option<CommunityRecord>, StoreError> {
        self.read(&format!("reading community `{id}`"), |conn| {
            conn.prepare_cached(&format!("SELECT {COMMUNITY_COLUMNS} FROM communities WHERE id = ?1"))?
                .query_row(params![id], community_row)
                .optional()?
                .map(community_record)
                .transpose()
        })
    }

    fn admin_generation(&self) -> Result<u64, StoreError> {
        self.read("reading the admin generation", |conn| {
            let generation: i64 = conn
                .prepare_cached("SELECT generation FROM admin_generation WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            Ok(from_db(generation))
        })
    }

    fn community_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.read(&format!("looking up community `{id}`"), |conn| {
            community_exists(conn, id)
        })
    }

    fn put_package(&self, package: &PluginPackage) -> Result<(), StoreError> {
        let doing = format!(
            "storing package {} {} ({})",
            package.plugin_id, package.version, package.digest
        );
        self.write(&doing, |conn| {
            conn.prepare_cached(
                "INSERT INTO packages (digest, plugin_id, version, manifest_toml, component) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (digest) DO NOTHING",
            )?
            .execute(params![
                package.digest,
                package.plugin_id,
                package.version,
                package.manifest_toml,
                package.component
            ])?;
            Ok(())
        })
    }

    fn package(&self, digest: &str) -> Result<Option<PluginPackage>, StoreError> {
        self.read(&format!("reading package {digest}"), |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT digest, plugin_id, version, manifest_toml, component FROM packages WHERE digest = ?1",
                )?
                .query_row(params![digest], |r| {
                    Ok(PluginPackage {
                        digest: r.get(0)?,
                        plugin_id: r.get(1)?,
                        version: r.get(2)?,
                        manifest_toml: r.get(3)?,
                        component: r.get(4)?,
                    })
                })
                .optional()?)
        })
    }

    fn put_install(&self, install: &InstallRecord) -> Result<(), StoreError> {
        let (c, p) = (install.community.as_str(), install.plugin_id.as_str());
        let doing = format!("saving the install of plugin `{p}` in community `{c}`");
        self.write(&doing, |conn| put_install_in(conn, install))
    }

    fn put_installs(&self, installs: &[InstallRecord], audit: &[AuditEntry]) -> Result<(), StoreError> {
        let doing = format!("saving {} installs with {} audit entries", installs.len(), audit.len());
        self.write(&doing, |conn| {
            for install in installs {
                put_install_in(conn, install)?;
            }
            append_audit_in(conn, audit)
        })
    }

    fn install(&self, community: &str, plugin_id: &str) -> Result<Option<InstallRecord>, StoreError> {
        let doing = format!("reading the install of plugin `{plugin_id}` in community `{community}`");
        self.read(&doing, |conn| {
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {INSTALL_COLUMNS} FROM installs WHERE community = ?1 AND plugin_id = ?2"
                ))?
                .query_row(params![community, plugin_id], install_from_row)
                .optional()?;
            row.map(|row| load_install(conn, row)).transpose()
        })
    }

    fn installs(&self, community: &str) -> Result<Vec<InstallRecord>, StoreError> {
        self.read(&format!("listing the installs of community `{community}`"), |conn| {
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {INSTALL_COLUMNS} FROM installs WHERE community = ?1 ORDER BY position"
                ))?
                .query_map(params![community], install_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|row| load_install(conn, row)).collect()
        })
    }

    fn uninstall(&self, community: &str, plugin_id: &str, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let doing = format!("uninstalling plugin `{plugin_id}` from community `{community}`");
        self.write(&doing, |conn| {
            bump_admin_generation(conn)?;
            // Grants and the pending upgrade go with the row (ON DELETE CASCADE, which would
            // also take the breaker); the rest is keyed by (community, plugin) alone.
            conn.prepare_cached("DELETE FROM breakers WHERE community = ?1 AND plugin_id = ?2")?
                .execute(params![community, plugin_id])?;
            conn.prepare_cached("DELETE FROM install_secrets WHERE community = ?1 AND plugin = ?2")?
                .execute(params![community, plugin_id])?;
            let deleted = conn
                .prepare_cached("DELETE FROM installs WHERE community = ?1 AND plugin_id = ?2")?
                .execute(params![community, plugin_id])?;
            if deleted == 0 {
                return Err(not_installed(community, plugin_id).into());
            }
            forget_plugin_in(conn, community, plugin_id)?;
            log::drop_cursor_in(conn, community, plugin_id)?;
            append_audit_in(conn, audit)
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(&format!("appending {} audit entries", entries.len()), |conn| {
            append_audit_in(conn, entries)
        })
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.read("reading the audit log", |conn| {
            let mut sql = String::from(
                "SELECT seq, time_ms, community, plugin, version, kind, capability, outcome, detail FROM audit WHERE 1",
            );
            let mut values = Vec::new();
            if let Some(community) = &query.community {
                values.push(Value::Text(community.clone()));
                sql.push_str(&format!(" AND community = ?{}", values.len()));
            }
            if let Some(plugin) = &query.plugin {
                values.push(Value::Text(plugin.clone()));
                sql.push_str(&format!(" AND plugin = ?{}", values.len()));
            }
            if let Some(after) = query.after_seq {
                // seq never exceeds i64::MAX, so a larger `after` matches nothing, as does i64::MAX.
                values.push(Value::Integer(to_db(after.min(i64::MAX as u64))));
                sql.push_str(&format!(" AND seq > ?{}", values.len()));
            }
            // The newest `limit` entries, then oldest first.
            sql.push_str(" ORDER BY seq DESC");
            if let Some(limit) = query.limit {
                values.push(Value::Integer(sql_limit(limit)));
                sql.push_str(&format!(" LIMIT ?{}", values.len()));
            }
            let mut entries = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(values), audit_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            entries.reverse();
            Ok(entries)
        })
    }

    fn set_review_fail_policy(&self, community: &str, policy: ReviewFailPolicy) -> Result<(), StoreError> {
        let doing = format!("setting the review fail policy of community `{community}`");
        self.write(&doing, |conn| {
            bump_admin_generation(conn)?;
            let updated = conn
                .prepare_cached("UPDATE communities SET review_fail_policy = ?2 WHERE id = ?1")?
                .execute(params![community, variant_name(&policy)?])?;
            if updated == 0 {
                return Err(no_community(community).into());
            }
            Ok(())
        })
    }

    fn set_signing_policy(
        &self,
        community: &str,
        policy: Option<crate::signing::SigningPolicy>,
    ) -> Result<(), StoreError> {
        let doing = format!("setting the signing policy of community `{community}`");
        self.write(&doing, |conn| {
            bump_admin_generation(conn)?;
            let name = policy.as_ref().map(variant_name).transpose()?;
            let updated = conn
                .prepare_cached("UPDATE communities SET signing_policy = ?2 WHERE id = ?1")?
                .execute(params![community, name])?;
            if updated == 0 {
                return Err(no_community(community).into());
            }
            Ok(())
        })
    }

    fn breaker(&self, community: &str, plugin_id: &str) -> Result<Option<BreakerRecord>, StoreError> {
        let doing = format!("reading the circuit breaker of plugin `{plugin_id}` in community `{community}`");
        self.read(&doing, |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT state, recent_failures, trips, retry_at_ms FROM breakers
                     WHERE community = ?1 AND plugin_id = ?2",
                )?
                .query_row(params![community, plugin_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()?;
            let Some((state, recent_failures, trips, retry_at_ms)) = row else {
                return Ok(None);
            };
            Ok(Some(BreakerRecord {
                state: from_variant_name::<BreakerState>(state, "breaker state")?,
                recent_failures: from_json(&recent_failures, "breaker failures")?,
                trips: u32::try_from(trips).map_err(|_| Fail::Data(format!("bad breaker trip count {trips}")))?,
                retry_at_ms: retry_at_ms.map(from_db),
            }))
        })
    }

    fn put_breaker(&self, community: &str, plugin_id: &str, breaker: &BreakerRecord) -> Result<(), StoreError> {
        let doing = format!("saving the circuit breaker of plugin `{plugin_id}` in community `{community}`");
        self.write(&doing, |conn| {
            if !install_exists(conn, community, plugin_id)? {
                return Err(not_installed(community, plugin_id).into());
            }
            conn.prepare_cached(
                "INSERT INTO breakers (community, plugin_id, state, recent_failures, trips, retry_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (community, plugin_id) DO UPDATE SET
                     state = excluded.state, recent_failures = excluded.recent_failures,
                     trips = excluded.trips, retry_at_ms = excluded.retry_at_ms",
            )?
            .execute(params![
                community,
                plugin_id,
                variant_name(&breaker.state)?,
                to_json(&breaker.recent_failures)?,
                i64::from(breaker.trips),
                breaker.retry_at_ms.map(to_db)
            ])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod tests;
