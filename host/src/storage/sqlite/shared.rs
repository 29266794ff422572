//! The open delivery groups of this process, by database file.
//!
//! A group holds SQLite's write lock while its pump awaits the next invocation. Anyone else
//! wanting to write (another connection of this process: a second host on the same file, the
//! API token store; or another process) waits in SQLite's busy handler, blocking its thread.
//! Two things bound that wait:
//! - a connection about to write commits the other connections' open groups first
//!   ([`flush_others`]);
//! - a flusher thread commits every group once it is `group_max_age` old (20 ms by default), whatever its pump is
//!   doing: an invocation may await for seconds (an outbound HTTP call), and the pump that
//!   would close the group cannot run while the runtime's workers are blocked waiting for the
//!   lock it holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, TryLockError, Weak};
use std::thread::Thread;
use std::time::Duration;

use super::group::Db;

type Groups = HashMap<PathBuf, Vec<Weak<Mutex<Db>>>>;

static OPEN: LazyLock<Mutex<Groups>> = LazyLock::new(Mutex::default);

/// How soon the flusher looks again at a connection that was busy.
const BUSY_RETRY: Duration = Duration::from_millis(2);

fn open() -> MutexGuard<'static, Groups> {
    OPEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes `db` as a connection to `path`.
pub fn register(path: &Path, db: &Arc<Mutex<Db>>) {
    let mut open = open();
    let dbs = open.entry(path.to_path_buf()).or_default();
    dbs.retain(|d| d.strong_count() > 0);
    dbs.push(Arc::downgrade(db));
}

/// Commits the open groups of every connection to `path` but `mine`. Call it before locking
/// `mine` (never while holding a connection's lock: two connections would wait on each other).
pub fn flush_others(path: &Path, mine: Option<&Arc<Mutex<Db>>>) {
    let others: Vec<Arc<Mutex<Db>>> = match open().get(path) {
        Some(dbs) => dbs
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|d| mine.is_none_or(|m| !Arc::ptr_eq(d, m)))
            .collect(),
        None => return,
    };
    for other in others {
        let mut db = other.lock().unwrap_or_else(|e| e.into_inner());
        flush_logged(path, &mut db);
    }
}

/// Tells the flusher a group was opened: it commits it when it is due.
pub fn group_opened() {
    FLUSHER.unpark();
}

static FLUSHER: LazyLock<Thread> = LazyLock::new(|| {
    std::thread::Builder::new()
        .name("plaza-sqlite-group-flusher".into())
        .spawn(flush_old_groups)
        .expect("spawning the SQLite group flusher thread")
        .thread()
        .clone()
});

/// The flusher thread: commits the groups that are due, sleeps until the next one is, or until
/// a group opens.
fn flush_old_groups() {
    loop {
        let dbs: Vec<(PathBuf, Arc<Mutex<Db>>)> = open()
            .iter()
            .flat_map(|(path, dbs)| dbs.iter().filter_map(|d| Some((path.clone(), d.upgrade()?))))
            .collect();
        let mut next: Option<Duration> = None;
        let mut soonest = |wait: Duration| next = Some(next.map_or(wait, |n| n.min(wait)));
        for (path, db) in &dbs {
            // A connection in use is running a statement, not awaiting: look again shortly.
            let mut db = match db.try_lock() {
                Ok(db) => db,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    soonest(BUSY_RETRY);
                    continue;
                }
            };
            match db.group_due_in() {
                Some(Duration::ZERO) => flush_logged(path, &mut db),
                Some(due_in) => soonest(due_in),
                None => {}
            }
        }
        // Not holding a connection while asleep.
        drop(dbs);
        match next {
            Some(wait) => std::thread::park_timeout(wait),
            None => std::thread::park(),
        }
    }
}

fn flush_logged(path: &Path, db: &mut Db) {
    if let Err(super::Fail::Sql(e)) = db.flush() {
        // Rolled back: its events are delivered again.
        tracing::error!(database = %path.display(), "committing a delivery group: {e}");
    }
}
