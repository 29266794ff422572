//! The open delivery groups of this process, by database file: a connection about to write
//! commits the other connections' open groups first. A group holds SQLite's write lock while
//! its pump awaits the next invocation; another connection of this process (a second host on
//! the same file, the API token store) waiting for that lock would otherwise block its thread
//! in SQLite's busy handler, and on a single-threaded runtime the pump could never run to
//! release it. Other processes wait on their own threads; groups close within `MAX_AGE` and
//! leave `GAP`s for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::group::Db;

type Groups = HashMap<PathBuf, Vec<Weak<Mutex<Db>>>>;

static OPEN: LazyLock<Mutex<Groups>> = LazyLock::new(Mutex::default);

fn open() -> std::sync::MutexGuard<'static, Groups> {
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
        if let Err(super::Fail::Sql(e)) = db.flush() {
            // Rolled back: its events are delivered again.
            tracing::error!(database = %path.display(), "committing another connection's delivery group: {e}");
        }
    }
}
