//! Group commit: a crash loses a whole group of delivery commits (nothing half committed, and
//! re-committing after it duplicates nothing), reads see the open group, and another store on
//! the same file commits the open group before it writes; a group left open is committed when
//! it is due.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::storage::conformance::{at, delivery, ingested, kv_set, send};
use crate::storage::log::DeliveryLog;

const C: &str = "hot";
const P: &str = "echo";

/// Groups that stay open until something else commits them (the flusher thread would commit
/// them at any moment otherwise).
fn long_groups() -> Options {
    Options {
        group_max_age: Duration::from_secs(3600),
        ..Options::default()
    }
}

/// A store with three logged events and the install's cursor at 0.
fn store_with_log(dir: &Path) -> SqliteStore {
    let s = SqliteStore::open_with(dir, long_groups()).unwrap();
    s.init_cursor(C, P).unwrap();
    s.append(&[ingested(C, "m1"), ingested(C, "m2"), ingested(C, "m3")], 10)
        .unwrap();
    s
}

/// What a crash leaves on disk now: a copy of the database and its WAL.
fn crash_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in [DB_FILE_NAME.to_string(), format!("{DB_FILE_NAME}-wal")] {
        if from.join(&name).exists() {
            std::fs::copy(from.join(&name), to.join(&name)).unwrap();
        }
    }
}

fn reply(n: u64) -> [Action; 2] {
    [send(&format!("reply-{n}"), "hello"), kv_set("last", &n.to_be_bytes())]
}

fn outbox_keys(s: &SqliteStore) -> Vec<String> {
    s.outbox(C).unwrap().into_iter().map(|e| e.key).collect()
}

#[test]
fn a_crash_loses_the_open_group_whole_and_redelivery_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (live, crashed) = (dir.path().join("live"), dir.path().join("crashed"));
    let s = store_with_log(&live);
    let (one, two) = (reply(1), reply(2));
    assert!(s.commit(&delivery(C, P, 0, 1, "m1", &one)).unwrap());
    assert!(s.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap());
    // Both commits are in the open group: a crash now loses both, cursor and effects alike.
    crash_copy(&live, &crashed);
    {
        let after = SqliteStore::open(&crashed).unwrap();
        assert_eq!(after.cursor(C, P).unwrap(), Some(at(0)));
        assert!(outbox_keys(&after).is_empty());
        assert_eq!(after.message(C, "reply-1"), None);
        assert_eq!(after.kv_get(C, P, "last"), None);
        // Delivered again, the events commit once each.
        assert!(after.commit(&delivery(C, P, 0, 1, "m1", &one)).unwrap());
        assert!(after.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap());
        after.flush_commits().unwrap();
        assert_eq!(outbox_keys(&after), [format!("m1/{P}/0"), format!("m2/{P}/0")]);
    }
    // Flushed, the group survives a crash.
    s.flush_commits().unwrap();
    let flushed = dir.path().join("flushed");
    crash_copy(&live, &flushed);
    let after = SqliteStore::open(&flushed).unwrap();
    assert_eq!(after.cursor(C, P).unwrap(), Some(at(2)));
    assert_eq!(outbox_keys(&after), [format!("m1/{P}/0"), format!("m2/{P}/0")]);
    assert_eq!(after.kv_get(C, P, "last"), Some(2u64.to_be_bytes().to_vec()));
}

#[test]
fn reads_see_the_open_group_and_other_writes_commit_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with_log(dir.path());
    let one = reply(1);
    assert!(s.commit(&delivery(C, P, 0, 1, "m1", &one)).unwrap());
    // The next invocation reads what the previous one wrote.
    assert_eq!(s.kv_get(C, P, "last"), Some(1u64.to_be_bytes().to_vec()));
    assert_eq!(s.cursor(C, P).unwrap(), Some(at(1)));
    // Another connection does not see it yet...
    let other = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
    let committed = || -> i64 {
        other
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(committed(), 0);
    // ...until a write that is not a delivery commit (here an append) commits the group first.
    s.append(&[ingested(C, "m4")], 20).unwrap();
    assert_eq!(committed(), 1);
    // Reading the outbox for relaying commits the group too: only committed effects go out.
    let two = reply(2);
    assert!(s.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap());
    assert_eq!(s.outbox_pending(10).unwrap().len(), 2);
    assert_eq!(committed(), 2);
    // A stale commit changes nothing, inside a group as outside.
    assert!(!s.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap());
    drop(s);
    assert_eq!(committed(), 2);
}

#[test]
fn a_clean_close_commits_the_open_group() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = store_with_log(dir.path());
        assert!(s.commit(&delivery(C, P, 0, 1, "m1", &reply(1))).unwrap());
        assert!(s.skip(C, P, 1, 2).unwrap());
    }
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.cursor(C, P).unwrap(), Some(at(2)));
    assert_eq!(outbox_keys(&s), [format!("m1/{P}/0")]);
}

#[test]
fn another_store_on_the_file_commits_the_open_group_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let a = store_with_log(dir.path());
    // A short busy timeout: waiting for `a`'s lock would fail rather than pass slowly.
    let quick = Options {
        busy_timeout: Duration::from_millis(50),
        ..long_groups()
    };
    let b = SqliteStore::open_with(dir.path(), quick).unwrap();
    let (one, two) = (reply(1), reply(2));
    assert!(a.commit(&delivery(C, P, 0, 1, "m1", &one)).unwrap());
    // `a`'s group holds the write lock (its pump would be awaiting the next invocation): on
    // one thread `b` could never get it by waiting, so it commits `a`'s group first.
    assert!(b.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap());
    assert!(
        !a.commit(&delivery(C, P, 1, 2, "m2", &two)).unwrap(),
        "`b` moved the cursor"
    );
    b.append(&[ingested(C, "m4")], 30).unwrap();
    drop((a, b));
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.cursor(C, P).unwrap(), Some(at(2)));
    assert_eq!(outbox_keys(&s), [format!("m1/{P}/0"), format!("m2/{P}/0")]);
}

#[test]
fn a_group_left_open_is_committed_when_due_for_other_processes_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_with(
        dir.path(),
        Options {
            group_max_age: Duration::from_millis(50),
            ..Options::default()
        },
    )
    .unwrap();
    s.init_cursor(C, P).unwrap();
    s.append(&[ingested(C, "m1")], 10).unwrap();
    // The pump would now await its next invocation, for seconds perhaps, holding the group.
    assert!(s.commit(&delivery(C, P, 0, 1, "m1", &reply(1))).unwrap());
    // Another process (a connection this one does not know of) waits for the write lock: it
    // gets it once the flusher thread commits the group, long before its busy timeout.
    let other = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
    other.busy_timeout(Duration::from_secs(20)).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; COMMIT")
        .expect("the open group was never committed");
    let committed: i64 = other
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(committed, 1);
    assert_eq!(s.cursor(C, P).unwrap(), Some(at(1)));
}
