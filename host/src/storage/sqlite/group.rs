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

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Fail;

/// Most delivery commits in one transaction.
pub const MAX_COMMITS: usize = 256;

/// Oldest a group gets by default ([`Options::group_max_age`](super::Options)): the next
/// commit or the flusher thread (`shared`) closes it. Bounds what a crash loses and how long
/// the write lock is held against other writers.
pub const MAX_AGE: Duration = Duration::from_millis(20);

/// After a group closes, commits run alone (each its own transaction, the write lock free
/// between them) for this long: a group holds the lock across invocations, and another process
/// sharing the database (a second host, `plaza` admin commands) must find it free now and then.
pub const GAP: Duration = Duration::from_millis(5);

/// The connection and its open group, if any.
pub struct Db {
    pub conn: Connection,
    group: Option<Group>,
    /// When the last group closed.
    closed: Option<Instant>,
    /// Oldest the group gets.
    max_age: Duration,
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
            closed: None,
            max_age,
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
    /// within [`GAP`] of the last group); `f`'s changes are undone alone when it fails. Commits
    /// the group when it is full or old.
    pub fn grouped<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, Fail> {
        let alone = self.group.is_none() && self.closed.is_some_and(|at| at.elapsed() < GAP);
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
        if self.group.take().is_none() {
            return Ok(());
        }
        self.closed = Some(Instant::now());
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    /// Rolls the open group back after a failure that leaves it unusable.
    fn abandon(&mut self) {
        if self.group.take().is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
