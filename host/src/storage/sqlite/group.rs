//! Group commit of delivery commits: consecutive [`DeliveryLog::commit`] (and `skip`) calls
//! share one SQLite transaction, so a hot install pays one `COMMIT` (and one WAL append of
//! the pages it touches) per group rather than per event.
//!
//! - Each delivery commit runs in a savepoint of the open group: it is all there or all gone
//!   within the group (a failed one is rolled back alone), and the group is all there or all
//!   gone on disk. A crash loses the whole open group: its cursors never moved, so its events
//!   are delivered again and re-commit the same outbox keys; nothing is half committed.
//! - The group commits when it holds [`MAX_COMMITS`] commits, when it is its maximum age (at
//!   the next commit, or on the flusher thread of `shared` if its pump is still awaiting an
//!   invocation), before any other write (so an `append`'s sync covers it and writes keep their
//!   order), before the outbox is read for relaying (the platform is only told committed
//!   effects), when the pump that filled it stops ([`DeliveryLog::flush_commits`]) and when
//!   the store is dropped.
//! - Reads on the one connection run inside the open group and see its commits, as they would
//!   after it: a plugin reading its KV sees what its previous invocation wrote.
//!
//! [`DeliveryLog::commit`]: crate::storage::log::DeliveryLog::commit
//! [`DeliveryLog::flush_commits`]: crate::storage::log::DeliveryLog::flush_commits

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Fail;

/// Most delivery commits in one transaction.
pub const MAX_COMMITS: usize = 256;

/// Oldest a group gets by default ([`Options::group_max_age`](super::Options)): the next
/// commit or the flusher thread (`shared`) closes it. Bounds what a crash loses and how long
/// the write lock is held against other writers.
pub const MAX_AGE: Duration = Duration::from_millis(20);

/// Once groups have held the write lock for the group's maximum age in all, commits run alone
/// (each its own transaction, the write lock free between them) for this long: a group holds
/// the lock across invocations, and another process sharing the database (a second host,
/// `plaza` admin commands) must find it free now and then. Short groups (a pump that stopped,
/// the outbox read) do not each start a gap: alone commits cost several times a grouped one
/// (a WAL append and the file locks each), and a gap after every group made a fifth of a hot
/// install's commits alone.
pub const GAP: Duration = Duration::from_millis(5);

/// Groups rolled back after they were written, in this process: their commits are gone. An
/// alone commit whose `COMMIT` fails is not counted: its caller gets the error.
static LOST_GROUPS: AtomicU64 = AtomicU64::new(0);

/// How many open groups this process has lost (rolled back when their `COMMIT` failed): what
/// it remembers having written since may be gone (see `Remembered` pseudonyms).
pub fn lost_groups() -> u64 {
    LOST_GROUPS.load(Ordering::Acquire)
}

/// The connection and its open group, if any.
pub struct Db {
    pub conn: Connection,
    group: Option<Group>,
    /// When the last gap began.
    gap_from: Option<Instant>,
    /// When the last group closed.
    closed: Option<Instant>,
    /// How long groups have held the write lock since the lock was last free for a gap.
    held: Duration,
    /// Oldest the group gets, and how long groups hold the lock in all before a gap.
    max_age: Duration,
    /// How long commits run alone in a gap ([`GAP`]).
    gap: Duration,
}

struct Group {
    commits: usize,
    opened: Instant,
}

impl Db {
    pub fn new(conn: Connection, max_age: Duration) -> Db {
        Db {
            conn,
            group: None,
            gap_from: None,
            closed: None,
            held: Duration::ZERO,
            max_age,
            gap: GAP,
        }
    }

    /// Whether a group transaction is open.
    pub fn in_group(&self) -> bool {
        self.group.is_some()
    }

    /// How long until the open group is due to commit (zero: overdue); `None` without one.
    pub fn group_due_in(&self) -> Option<Duration> {
        let group = self.group.as_ref()?;
        Some(self.max_age.saturating_sub(group.opened.elapsed()))
    }

    /// Runs `f` as one delivery commit inside the open group (opening one if needed, or alone
    /// during a gap, see [`GAP`]); `f`'s changes are undone alone when it fails. Commits
    /// the group when it is full or old.
    pub fn grouped<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, Fail> {
        let alone = self.group.is_none() && self.gap_from.is_some_and(|at| at.elapsed() < self.gap);
        if self.group.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.group = Some(Group {
                commits: 0,
                opened: Instant::now(),
            });
            if !alone {
                super::shared::group_opened();
            }
        }
        // Cached statements: these run for every event.
        self.conn.prepare_cached("SAVEPOINT delivery")?.execute([])?;
        let value = match f(&self.conn) {
            Ok(value) => value,
            Err(e) => {
                // Undo this commit's changes only; the group's earlier commits stand.
                if let Err(undo) = self.conn.execute_batch("ROLLBACK TO delivery; RELEASE delivery") {
                    self.abandon();
                    return Err(undo.into());
                }
                return Err(e);
            }
        };
        self.conn.prepare_cached("RELEASE delivery")?.execute([])?;
        let group = self.group.as_mut().expect("opened above");
        group.commits += 1;
        if alone {
            // Committed at once, without restarting the gap.
            self.group = None;
            self.conn.execute_batch("COMMIT").inspect_err(|_| {
                let _ = self.conn.execute_batch("ROLLBACK");
            })?;
        } else if group.commits >= MAX_COMMITS || group.opened.elapsed() >= self.max_age {
            self.flush()?;
        }
        Ok(value)
    }

    /// Commits the open group, if any. When that fails the group is rolled back: its events are
    /// delivered again, as after a crash.
    pub fn flush(&mut self) -> Result<(), Fail> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let now = Instant::now();
        // The lock was free for a gap's length since the last group: others had their turn.
        if self
            .closed
            .is_some_and(|at| group.opened.saturating_duration_since(at) >= self.gap)
        {
            self.held = Duration::ZERO;
        }
        self.held += now.saturating_duration_since(group.opened);
        self.closed = Some(now);
        if self.held >= self.max_age {
            self.gap_from = Some(now);
            self.held = Duration::ZERO;
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            LOST_GROUPS.fetch_add(1, Ordering::AcqRel);
            return Err(e.into());
        }
        Ok(())
    }

    /// Rolls the open group back after a failure that leaves it unusable.
    fn abandon(&mut self) {
        if self.group.take().is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
            LOST_GROUPS.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(max_age: Duration, gap: Duration) -> Db {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let mut db = Db::new(conn, max_age);
        db.gap = gap;
        db
    }

    fn commit(db: &mut Db) {
        db.grouped(|conn| Ok(conn.execute("INSERT INTO t VALUES (1)", [])?))
            .unwrap();
    }

    #[test]
    fn short_groups_do_not_each_start_a_gap() {
        let mut db = db(Duration::from_secs(3600), Duration::from_secs(3600));
        for _ in 0..3 {
            commit(&mut db);
            assert!(db.in_group());
            // A pump stopping or the outbox being read closes the group early.
            db.flush().unwrap();
        }
        commit(&mut db);
        assert!(
            db.in_group(),
            "a group closed early must not make the next commit run alone"
        );
    }

    #[test]
    fn groups_that_held_the_lock_for_their_age_are_followed_by_alone_commits() {
        // Every group is "old" at once: the first flush owes the other writers a gap.
        let mut db = db(Duration::ZERO, Duration::from_secs(3600));
        commit(&mut db);
        assert!(!db.in_group(), "a group of its maximum age commits at once");
        for _ in 0..3 {
            commit(&mut db);
            assert!(
                !db.in_group(),
                "commits in the gap run alone, the write lock free between them"
            );
        }
        let rows: i64 = db.conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 4);
    }

    #[test]
    fn a_group_whose_commit_fails_is_rolled_back_and_counted_as_lost() {
        let mut db = db(Duration::from_secs(3600), Duration::from_secs(3600));
        // A deferred foreign key fails at COMMIT, not in the delivery commit's savepoint.
        db.conn
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .unwrap();
        commit(&mut db);
        db.grouped(|conn| Ok(conn.execute("INSERT INTO child VALUES (7)", [])?))
            .unwrap();
        let lost_before = lost_groups();
        assert!(db.flush().is_err());
        assert!(lost_groups() > lost_before);
        assert!(!db.in_group());
        let rows: i64 = db.conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0, "the whole group is gone, its first commit too");
    }
}
