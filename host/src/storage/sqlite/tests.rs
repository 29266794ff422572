//! SQLite-only behaviour: files, schema versions, locks, atomicity. The behaviour shared with
//! the in-memory store is in `storage/conformance.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::storage::admin::{AuditQuery, BreakerRecord, BreakerState, LimitOverrides, ReviewFailPolicy};
use crate::storage::conformance::{event, joined, kv_set, posted, schedule};
use crate::storage::log::{DeliveryLog, NewEntry};

fn quick() -> Options {
    Options {
        busy_timeout: Duration::from_millis(100),
        ..Options::default()
    }
}

fn package() -> PluginPackage {
    PluginPackage {
        digest: "d1".into(),
        plugin_id: "poll".into(),
        version: "1.0.0".into(),
        manifest_toml: "[plugin]\nid = \"poll\"\n".into(),
        component: vec![0, 97, 115, 109, 0xff],
    }
}

fn install_record() -> InstallRecord {
    InstallRecord {
        community: "c".into(),
        plugin_id: "poll".into(),
        digest: "d1".into(),
        version: "1.0.0".into(),
        enabled: true,
        grants: GrantSet::parse_list("messages:send,storage:kv").unwrap(),
        config: vec![ConfigEntry {
            key: "k".into(),
            value: "v".into(),
        }],
        installed_ms: 5,
        pending: Some(PendingUpgrade {
            digest: "d1".into(),
            version: "1.0.0".into(),
            added_capabilities: vec![Capability::HttpFetch],
            requested_ms: 6,
        }),
        limits: LimitOverrides {
            memory_mb: Some(32),
            cpu_ms: None,
            wall_clock_ms: Some(2_000),
            fuel: Some(u64::MAX),
            ..LimitOverrides::default()
        },
    }
}

fn breaker_record() -> BreakerRecord {
    BreakerRecord {
        state: BreakerState::Open,
        recent_failures: vec![10, 20, u64::MAX],
        trips: 2,
        retry_at_ms: Some(30),
    }
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE_NAME)).unwrap()
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    {
        let s = SqliteStore::open(&data_dir).unwrap();
        assert_eq!(s.path(), Some(data_dir.join(DB_FILE_NAME).as_path()));
        s.create_community("c", 1).unwrap();
        s.put_package(&package()).unwrap();
        s.put_install(&install_record()).unwrap();
        s.append_audit(&[AuditEntry {
            seq: 0,
            time_ms: 7,
            community: "c".into(),
            plugin: "poll".into(),
            version: "1.0.0".into(),
            kind: "install".into(),
            capability: None,
            outcome: "ok".into(),
            detail: "installed".into(),
        }])
        .unwrap();
        s.observe(&event("c", 1, joined(MemberProfile::new("alice")))).unwrap();
        s.observe(&event("c", 2, posted("general", "m1", "alice", "hi", None)))
            .unwrap();
        s.apply("c", "poll", 10, &[kv_set("votes", b"3"), schedule("t1", 5, Some(60))])
            .unwrap();
        s.remember_pseudonyms("c", "poll", &[("anon".into(), "alice".into())])
            .unwrap();
        s.set_review_fail_policy("c", ReviewFailPolicy::FailClosed).unwrap();
        s.put_breaker("c", "poll", &breaker_record()).unwrap();
        s.append(&[NewEntry::ingested(logged_event())], 11).unwrap();
    }
    assert!(data_dir.join(DB_FILE_NAME).is_file());
    let s = SqliteStore::open(&data_dir).unwrap();
    assert!(s.community_exists("c").unwrap());
    assert_eq!(s.package("d1").unwrap(), Some(package()));
    assert_eq!(s.install("c", "poll").unwrap(), Some(install_record()));
    assert_eq!(s.audit(&AuditQuery::default()).unwrap()[0].seq, 1);
    assert_eq!(s.member("c", "alice"), Some(MemberProfile::new("alice")));
    assert_eq!(s.messages("c").len(), 1);
    assert_eq!(s.kv_get("c", "poll", "votes"), Some(b"3".to_vec()));
    assert_eq!(s.timer("t1").unwrap().due_ms, 15);
    assert_eq!(s.resolve_pseudonym("c", "poll", "anon").as_deref(), Some("alice"));
    assert_eq!(
        s.communities().unwrap()[0].review_fail_policy,
        ReviewFailPolicy::FailClosed
    );
    assert_eq!(s.breaker("c", "poll").unwrap(), Some(breaker_record()));
    let log = s.read_log("c", 0, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event, logged_event());
}

/// An event that changes no community state, with text that must round-trip.
fn logged_event() -> Event {
    event(
        "c",
        3,
        EventKind::TimerFired {
            timer_id: "t9".into(),
            name: "digest".into(),
            payload: "ünïcode ✓".into(),
        },
    )
}

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn an_empty_file_is_migrated_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE_NAME), b"").unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = raw(dir.path());
    assert_eq!(pragma_i64(&conn, "user_version"), i64::from(SCHEMA_VERSION));
    assert_eq!(pragma_i64(&conn, "application_id"), i64::from(schema::APPLICATION_ID));
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for table in [
        "audit",
        "breakers",
        "communities",
        "grants",
        "cursors",
        "dead_letters",
        "event_log",
        "log_heads",
        "outbox",
        "installs",
        "kv",
        "members",
        "messages",
        "packages",
        "pending_capabilities",
        "pending_upgrades",
        "pseudonyms",
        "standing",
        "timers",
    ] {
        assert!(tables.iter().any(|t| t == table), "missing table {table} in {tables:?}");
    }
    drop(conn);
    // Reopening an up-to-date database changes nothing.
    let s = SqliteStore::open(dir.path()).unwrap();
    s.create_community("c", 1).unwrap();
    drop(s);
    assert_eq!(pragma_i64(&raw(dir.path()), "user_version"), i64::from(SCHEMA_VERSION));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    raw(dir.path())
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = SqliteStore::open(dir.path())
        .err()
        .expect("a newer schema must be refused");
    match &err {
        StoreError::TooNew { path, found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            assert!(path.ends_with(DB_FILE_NAME), "{path}");
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("this Plaza understands up to"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DB_FILE_NAME);
    std::fs::write(
        &file,
        b"this is not a database, just some text that is long enough ".repeat(100),
    )
    .unwrap();
    let err = SqliteStore::open(dir.path()).err().expect("garbage must be refused");
    assert!(
        matches!(err, StoreError::Open { .. } | StoreError::Corrupt { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("not a SQLite database"), "{text}");
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    raw(dir.path()).execute_batch("CREATE TABLE notes (text TEXT)").unwrap();
    let err = SqliteStore::open(dir.path())
        .err()
        .expect("a foreign database must be refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("not a Plaza database"), "{err}");
}

#[test]
fn a_database_with_another_application_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    raw(dir.path()).pragma_update(None, "application_id", 7).unwrap();
    let err = SqliteStore::open(dir.path()).err().expect("must be refused");
    assert!(err.to_string().contains("application id 0x7"), "{err}");
}

#[test]
fn a_data_directory_that_cannot_be_created_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(&file.join("data")).err().expect("must fail");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot create the data directory"), "{err}");
}

#[test]
fn a_locked_database_is_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let other = raw(dir.path());
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = SqliteStore::open_with(dir.path(), quick())
        .err()
        .expect("must be locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("is locked by another process"), "{err}");
    other.execute_batch("COMMIT").unwrap();
    SqliteStore::open_with(dir.path(), quick()).unwrap();
}

#[test]
fn a_new_database_locked_before_its_first_open_is_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let other = raw(dir.path());
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = SqliteStore::open_with(dir.path(), quick())
        .err()
        .expect("must be locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
    SqliteStore::open_with(dir.path(), quick()).unwrap();
}

#[test]
fn writes_fail_as_locked_while_another_connection_writes_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_with(dir.path(), quick()).unwrap();
    s.create_community("c", 1).unwrap();
    let other = raw(dir.path());
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = s.create_community("d", 2).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let err = s.apply("c", "p", 0, &[kv_set("k", b"v")]).unwrap_err();
    assert!(err.to_string().contains("is locked"), "{err}");
    // WAL: readers are not blocked by the writer.
    assert!(s.community_exists("c").unwrap());
    assert_eq!(s.kv_get("c", "p", "k"), None);
    other.execute_batch("COMMIT").unwrap();
    s.apply("c", "p", 0, &[kv_set("k", b"v")]).unwrap();
    assert_eq!(s.kv_get("c", "p", "k"), Some(b"v".to_vec()));
}

#[test]
fn apply_is_all_or_nothing() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.observe(&event("c", 1, joined(MemberProfile::new("alice")))).unwrap();
    // Make the last action of the invocation fail inside the database.
    s.with_connection(|conn| {
        conn.execute_batch(
            "CREATE TEMP TRIGGER fail_on_boom BEFORE INSERT ON main.kv
             WHEN NEW.key = CAST('boom' AS BLOB)
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
    })
    .unwrap();
    let actions = [
        Action::SendMessage {
            channel: "general".into(),
            message_id: "m1".into(),
            text: "hi".into(),
            reply_to: None,
        },
        kv_set("a", b"1"),
        Action::BanMember {
            member: "alice".into(),
            reason: String::new(),
        },
        schedule("t1", 10, None),
        kv_set("boom", b"!"),
    ];
    let err = s.apply("c", "p", 100, &actions).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("simulated failure"), "{text}");
    assert!(
        text.contains("applying 5 effects of plugin `p` in community `c`"),
        "{text}"
    );
    assert!(s.messages("c").is_empty());
    assert_eq!(s.kv_get("c", "p", "a"), None);
    assert!(s.member("c", "alice").is_some());
    assert_eq!(s.standing("c", "alice"), MemberStanding::default());
    assert_eq!(s.timer("t1"), None);

    // Without the failing action everything lands together.
    s.apply("c", "p", 100, &actions[..4]).unwrap();
    assert_eq!(s.messages("c").len(), 1);
    assert_eq!(s.kv_get("c", "p", "a"), Some(b"1".to_vec()));
    assert_eq!(s.member("c", "alice"), None);
    assert!(s.standing("c", "alice").banned);
    assert_eq!(s.timer("t1").unwrap().due_ms, 110);
}

#[test]
fn put_install_is_all_or_nothing() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_community("c", 1).unwrap();
    s.put_package(&package()).unwrap();
    let first = InstallRecord {
        pending: None,
        ..install_record()
    };
    s.put_install(&first).unwrap();
    s.with_connection(|conn| {
        conn.execute_batch(
            "CREATE TEMP TRIGGER fail_on_pending BEFORE INSERT ON main.pending_capabilities
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
    })
    .unwrap();
    let second = InstallRecord {
        enabled: false,
        grants: GrantSet::all(),
        ..install_record()
    };
    let err = s.put_install(&second).unwrap_err();
    assert!(matches!(err, StoreError::Db { .. }), "{err:?}");
    assert!(err.to_string().contains("simulated failure"), "{err}");
    assert_eq!(s.install("c", "poll").unwrap(), Some(first));
}

#[test]
fn damaged_rows_read_as_absent_and_are_reported_by_admin_reads() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.observe(&event("c", 1, joined(MemberProfile::new("alice")))).unwrap();
    s.create_community("c", 1).unwrap();
    s.put_package(&package()).unwrap();
    s.put_install(&install_record()).unwrap();
    s.with_connection(|conn| {
        conn.execute_batch(
            "UPDATE members SET roles = 'not json';
             UPDATE grants SET capability = 'messages:write' WHERE capability = 'storage:kv';",
        )
    })
    .unwrap();
    assert_eq!(s.member("c", "alice"), None);
    assert_eq!(s.members_page("c", None, 10), (vec![], false));
    let err = s.install("c", "poll").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("messages:write"), "{err}");
}

#[test]
fn kv_bytes_uses_the_primary_key_range() {
    let s = SqliteStore::open_in_memory().unwrap();
    let plan: Vec<String> = s.with_connection(|conn| {
        conn.prepare(
            "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv
             WHERE community = 'c' AND plugin = 'p'",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    });
    assert!(plan.iter().any(|step| step.contains("USING PRIMARY KEY")), "{plan:?}");
}

#[test]
fn shared_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..20 {
                    s.apply("c", "p", 0, &[kv_set(&format!("{t}-{i}"), b"x")]).unwrap();
                    assert!(s.kv_bytes("c", "p") > 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.kv_keys("c", "p", "", None, 1000).len(), 80);
}

/// A database as schema version 1 left it: only the first migration, with some data.
fn create_version_1(dir: &Path) {
    let mut conn = raw(dir);
    let tx = conn.transaction().unwrap();
    tx.execute_batch(schema::MIGRATIONS[0]).unwrap();
    tx.pragma_update(None, "user_version", 1).unwrap();
    tx.execute_batch(
        r#"INSERT INTO communities (id, created_ms) VALUES ('c', 1), ('d', 2);
           INSERT INTO packages (digest, plugin_id, version, manifest_toml, component)
               VALUES ('d1', 'poll', '1.0.0', '[plugin]', x'0061736d');
           INSERT INTO installs (community, plugin_id, digest, version, enabled, config, installed_ms)
               VALUES ('c', 'poll', 'd1', '1.0.0', 1, '[{"key":"k","value":"v"}]', 5);
           INSERT INTO grants (community, plugin_id, capability) VALUES ('c', 'poll', 'storage:kv');
           INSERT INTO kv (community, plugin, key, value) VALUES ('c', 'poll', CAST('votes' AS BLOB), x'33');"#,
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn events_held_by_version_2_move_into_the_log_for_their_install() {
    let dir = tempfile::tempdir().unwrap();
    create_version_1(dir.path());
    let held = logged_event();
    {
        let mut conn = raw(dir.path());
        let tx = conn.transaction().unwrap();
        tx.execute_batch(schema::MIGRATIONS[1]).unwrap();
        tx.pragma_update(None, "user_version", 2).unwrap();
        let json = serde_json::to_string(&held).unwrap();
        for _ in 0..2 {
            tx.execute(
                "INSERT INTO held_events (community, plugin_id, event) VALUES ('c', 'poll', ?1)",
                [&json],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.head("c").unwrap(), 2);
    let log = s.read_log("c", 0, 10).unwrap();
    let sequences: Vec<u64> = log.iter().map(|e| e.event.meta.sequence).collect();
    assert_eq!(sequences, [1, 2], "renumbered in the log");
    assert!(log.iter().all(|e| e.target.as_deref() == Some("poll")));
    assert_eq!(log[0].event.kind, held.kind);
    assert_eq!(
        s.cursor("c", "poll").unwrap().unwrap().sequence,
        0,
        "still to be delivered"
    );
    assert_eq!(s.cursor("d", "poll").unwrap(), None);
    let next = s
        .append(&[NewEntry::ingested(event("c", 20, EventKind::PluginUninstalled))], 30)
        .unwrap();
    assert_eq!(next[0].sequence, 3);
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    create_version_1(dir.path());
    assert_eq!(pragma_i64(&raw(dir.path()), "user_version"), 1);

    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(pragma_i64(&raw(dir.path()), "user_version"), i64::from(SCHEMA_VERSION));
    let communities = s.communities().unwrap();
    assert_eq!(
        communities,
        [
            CommunityRecord {
                id: "c".into(),
                created_ms: 1,
                review_fail_policy: ReviewFailPolicy::FailOpen,
                signing_policy: None,
            },
            CommunityRecord {
                id: "d".into(),
                created_ms: 2,
                review_fail_policy: ReviewFailPolicy::FailOpen,
                signing_policy: None,
            },
        ]
    );
    let expected = InstallRecord {
        community: "c".into(),
        plugin_id: "poll".into(),
        digest: "d1".into(),
        version: "1.0.0".into(),
        enabled: true,
        grants: GrantSet::parse_list("storage:kv").unwrap(),
        config: vec![ConfigEntry {
            key: "k".into(),
            value: "v".into(),
        }],
        installed_ms: 5,
        pending: None,
        limits: LimitOverrides::default(),
    };
    assert_eq!(s.install("c", "poll").unwrap(), Some(expected.clone()));
    assert_eq!(s.installs("c").unwrap(), std::slice::from_ref(&expected));
    assert_eq!(s.package("d1").unwrap().unwrap().component, b"\0asm");
    assert_eq!(s.kv_get("c", "poll", "votes"), Some(b"3".to_vec()));
    assert_eq!(s.breaker("c", "poll").unwrap(), None);
    assert_eq!(s.head("c").unwrap(), 0);

    // The new features work on the migrated database, and survive a reopen.
    s.set_review_fail_policy("d", ReviewFailPolicy::FailClosed).unwrap();
    s.put_install(&InstallRecord {
        limits: LimitOverrides {
            cpu_ms: Some(50),
            ..LimitOverrides::default()
        },
        ..expected.clone()
    })
    .unwrap();
    s.put_breaker("c", "poll", &breaker_record()).unwrap();
    s.append(&[NewEntry::ingested(logged_event())], 11).unwrap();
    drop(s);
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        s.communities().unwrap()[1].review_fail_policy,
        ReviewFailPolicy::FailClosed
    );
    assert_eq!(s.install("c", "poll").unwrap().unwrap().limits.cpu_ms, Some(50));
    assert_eq!(s.breaker("c", "poll").unwrap(), Some(breaker_record()));
    assert_eq!(s.read_log("c", 0, 10).unwrap()[0].event, logged_event());
    s.uninstall("c", "poll", &[]).unwrap();
    assert_eq!(s.breaker("c", "poll").unwrap(), None);
}

#[test]
fn a_database_migrated_from_version_1_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    create_version_1(dir.path());
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = raw(dir.path());
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let violations: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(violations, 0);
    // The new column's CHECK holds for migrated rows and refuses unknown policies.
    let err = conn
        .execute("UPDATE communities SET review_fail_policy = 'sometimes'", [])
        .unwrap_err();
    assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
}

#[test]
fn uninstall_takes_its_breaker_in_one_transaction() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_community("c", 1).unwrap();
    s.put_package(&package()).unwrap();
    s.put_install(&install_record()).unwrap();
    s.put_breaker("c", "poll", &breaker_record()).unwrap();
    // Make the last step (deleting the install row) fail.
    s.with_connection(|conn| {
        conn.execute_batch(
            "CREATE TEMP TRIGGER fail_on_uninstall BEFORE DELETE ON main.installs
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
    })
    .unwrap();
    let err = s.uninstall("c", "poll", &[]).unwrap_err();
    assert!(err.to_string().contains("simulated failure"), "{err}");
    assert!(s.install("c", "poll").unwrap().is_some());
    assert_eq!(s.breaker("c", "poll").unwrap(), Some(breaker_record()));
    s.with_connection(|conn| conn.execute_batch("DROP TRIGGER fail_on_uninstall"))
        .unwrap();
    s.uninstall("c", "poll", &[]).unwrap();
    assert_eq!(s.breaker("c", "poll").unwrap(), None);
}

#[test]
fn damaged_breakers_and_log_entries_are_reported_as_corrupt() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_community("c", 1).unwrap();
    s.put_package(&package()).unwrap();
    s.put_install(&install_record()).unwrap();
    s.put_breaker("c", "poll", &breaker_record()).unwrap();
    s.append(&[NewEntry::ingested(logged_event())], 11).unwrap();
    s.with_connection(|conn| {
        conn.execute_batch(
            r#"UPDATE breakers SET recent_failures = '[1, "two"]';
               UPDATE event_log SET event = '{"type": "no-such-event"}';
               UPDATE installs SET limits = '{"fuel": -1}';"#,
        )
    })
    .unwrap();
    for err in [
        s.breaker("c", "poll").unwrap_err(),
        s.read_log("c", 0, 10).unwrap_err(),
        s.install("c", "poll").unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }
    assert!(s
        .read_log("c", 0, 10)
        .unwrap_err()
        .to_string()
        .contains("log entry 1 of `c`"));
    assert_eq!(s.head("c").unwrap(), 1, "nothing is dropped");
}

#[test]
fn the_log_is_read_through_its_primary_key() {
    let s = SqliteStore::open_in_memory().unwrap();
    let plan: Vec<String> = s.with_connection(|conn| {
        conn.prepare(
            "EXPLAIN QUERY PLAN SELECT community, sequence, dedupe_key, target, event, accepted_ms FROM event_log
             WHERE community = 'c' AND sequence > 5 ORDER BY sequence LIMIT 64",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    });
    assert!(plan.iter().any(|step| step.contains("PRIMARY KEY")), "{plan:?}");
    assert!(
        !plan.iter().any(|step| step.contains("TEMP B-TREE")),
        "no sort: {plan:?}"
    );
}

#[test]
fn a_background_thread_checkpoints_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    s.create_community("c", 1).unwrap();
    let value = vec![7u8; 64 * 1024];
    for k in 0..40 {
        s.apply("c", "p", 0, &[kv_set(&format!("k{k}"), &value)]).unwrap();
    }
    // 2.5 MB sit in the log, below any size at which a writer checkpoints by itself: only
    // the checkpoint thread copies them into the database file.
    let db_file = dir.path().join(DB_FILE_NAME);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&db_file).unwrap().len() < 40 * 64 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not checkpointed into the database file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.kv_get("c", "p", "k39"), Some(value));
}

#[test]
fn appends_commit_into_the_log_and_are_synced_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    assert!(s.wal, "a file database runs in WAL mode");
    // Savepoint journals stay in memory (MEMORY = 2): no temporary file per delivery commit.
    assert_eq!(s.with_connection(|conn| pragma_i64(conn, "temp_store")), 2);
    s.create_community("c", 1).unwrap();
    s.append(&[NewEntry::ingested(logged_event())], 11).unwrap();
    let mut wal = dir.path().join(DB_FILE_NAME).into_os_string();
    wal.push("-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the append is in the write-ahead log (synced there, not checkpointed on the spot)"
    );

    // The log the sync must reach is gone: the append is not acknowledged.
    std::fs::remove_file(&wal).unwrap();
    let mut second = logged_event();
    second.meta.id = "e-second".into();
    let e = s.append(&[NewEntry::ingested(second)], 12).unwrap_err().to_string();
    assert!(e.contains("syncing the write-ahead log"), "{e}");
    assert!(e.contains(DB_FILE_NAME), "names the database: {e}");
}

#[test]
fn an_in_memory_store_appends_without_a_log_to_sync() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_community("c", 1).unwrap();
    let appended = s.append(&[NewEntry::ingested(logged_event())], 11).unwrap();
    assert_eq!(appended.len(), 1);
}
