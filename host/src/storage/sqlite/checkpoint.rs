//! WAL checkpoints on a thread of their own.
//!
//! SQLite checkpoints (copies the write-ahead log into the database file and syncs both) in the
//! connection whose commit made the log long enough: a delivery commit then waited for two
//! fsyncs every few dozen events (P6 spent about half its time there). Here the store's
//! connection checkpoints only as a fallback, when the log reaches [`FALLBACK_PAGES`], and a
//! thread with its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` at most every
//! [`INTERVAL`] after writes. A passive checkpoint takes no lock a writer needs, so commits go on
//! meanwhile. Durability is unchanged: what a commit syncs (`synchronous`) does not depend on
//! who checkpoints, and a checkpoint syncs the log before it copies it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

use rusqlite::Connection;

/// Shortest time between two checkpoints of one database.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// Log length (pages) at which the store's own connection checkpoints after a commit: only
/// reached when the thread falls behind (SQLite's default is 1 000).
pub const FALLBACK_PAGES: u32 = 16_384;

/// The handle a store keeps: tells the thread about writes, stops it when dropped.
pub struct Checkpointer {
    state: Arc<State>,
    thread: Thread,
}

struct State {
    dirty: AtomicBool,
    stop: AtomicBool,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (whose writers use
    /// `PRAGMA wal_autocheckpoint =` [`FALLBACK_PAGES`]).
    pub fn start(path: &Path, busy_timeout: Duration) -> std::io::Result<Checkpointer> {
        let state = Arc::new(State {
            dirty: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let (state, path) = (state.clone(), path.to_path_buf());
            std::thread::Builder::new()
                .name("plaza-sqlite-checkpoint".into())
                .spawn(move || run(&state, &path, busy_timeout))?
                .thread()
                .clone()
        };
        Ok(Checkpointer { state, thread })
    }

    /// Notes a write: a checkpoint follows within [`INTERVAL`].
    pub fn wrote(&self) {
        if !self.state.dirty.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn run(state: &State, path: &PathBuf, busy_timeout: Duration) {
    let conn = match Connection::open(path).and_then(|c| c.busy_timeout(busy_timeout).map(|()| c)) {
        Ok(conn) => conn,
        Err(e) => {
            // The store's connection checkpoints by itself then (at FALLBACK_PAGES).
            tracing::warn!(database = %path.display(), "cannot open a connection for checkpoints: {e}");
            return;
        }
    };
    let mut reported = false;
    while !state.stop.load(Ordering::Acquire) {
        if !state.dirty.swap(false, Ordering::AcqRel) {
            std::thread::park();
            continue;
        }
        // Busy (another checkpoint running) is not a failure: the next one catches up.
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = done {
            if !reported {
                tracing::warn!(database = %path.display(), "background checkpoint failed: {e}");
                reported = true;
            }
        }
        std::thread::sleep(INTERVAL);
    }
}
