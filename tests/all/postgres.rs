//! Several hosts on one PostgreSQL store (`Plaza::open_postgres`, `--store postgres://…`):
//! installs, grants, the audit log and plugin KV are shared, events delivered by both hosts at
//! once take effect exactly once, and a restarted host loses nothing.
//!
//! Each test starts its own PostgreSQL server ([`PostgresServer`], killed on drop) and uses a
//! fresh database. The helpers here ([`SharedStore`], [`node`], [`serve_node_args`]) are meant
//! for other multi-node tests too (the NATS ones): start a [`SharedStore`], open each node with
//! [`node`] in-process, or give `plaza serve` [`serve_node_args`].

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use plaza_host::engine::EngineSettings;
use plaza_host::event::Event;
use plaza_host::storage::admin::{AuditQuery, LimitOverrides};
use plaza_host::storage::postgres::test_server::PostgresServer;
use plaza_host::{Capability, GrantSet, Plaza, PlazaConfig};

use crate::common::{allow_unsigned, cache_dir, plaza_bin};

const PLUGIN: &str = "ledger-a";
const COMMUNITY: &str = "harbor";
/// The ledger fails one event in this many on its first attempt (its `FAIL_MODULUS`).
const FAIL_MODULUS: u64 = 23;

/// A PostgreSQL server of the test's own and one fresh database on it, for nodes to share.
pub struct SharedStore {
    /// The database's URL, for `Plaza::open_postgres` or `plaza serve --store`.
    pub url: String,
    /// The server, stopped when this is dropped.
    _server: PostgresServer,
}

impl SharedStore {
    /// Starts the server (the test fails, saying why, when PostgreSQL is not installed).
    pub fn start() -> SharedStore {
        let server = PostgresServer::start();
        let url = server.database();
        SharedStore { url, _server: server }
    }
}

/// One host node on the shared store, with its own data directory (compile cache setting and
/// `operator.toml` accepting unsigned test packages).
pub async fn node(url: &str, data_dir: &Path) -> Plaza {
    allow_unsigned(data_dir);
    let config = PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        ..PlazaConfig::for_data_dir(data_dir).unwrap()
    };
    Plaza::open_postgres(url, config).await.unwrap()
}

/// The arguments that put a `plaza serve` (or `deliver`, or an admin command) on the shared
/// store, with its own data directory.
pub fn serve_node_args(url: &str, data_dir: &Path) -> Vec<String> {
    allow_unsigned(data_dir);
    vec![
        "--store".into(),
        url.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `n` `reaction-added` events with ids `{prefix}-{i}`.
fn events(prefix: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| crate::common::reaction(&format!("{prefix}-{i:04}"), COMMUNITY, i, 7))
        .collect()
}

fn caps(list: &str) -> GrantSet {
    GrantSet::parse_list(list).unwrap()
}

/// Both hosts deliver at once, round after round (each round later by ten minutes, so retries
/// fall due), until the install's cursor reaches the log's head.
async fn deliver_on_both(a: &Plaza, b: &Plaza, start_ms: u64) {
    let store = a.store().clone();
    for round in 0..50u64 {
        let now = start_ms + round * 600_000;
        let (ra, rb) = tokio::join!(a.deliver_due(now), b.deliver_due(now));
        ra.unwrap();
        rb.unwrap();
        let head = store.head(COMMUNITY).unwrap();
        let cursor = store.cursor(COMMUNITY, PLUGIN).unwrap().unwrap();
        if cursor.sequence == head {
            return;
        }
    }
    panic!("the hosts did not deliver every event in 50 rounds");
}

/// Reads back through `host` that every id in `ids` took effect exactly once, in log order.
fn check_exactly_once(host: &Plaza, ids: &[String]) {
    let store = host.store();
    let kv = |key: &str| {
        store
            .kv_get(COMMUNITY, PLUGIN, key)
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert!(store.dead_letters(None, None).unwrap().is_empty());
    let logged: Vec<String> = store
        .read_log(COMMUNITY, 0, 10_000)
        .unwrap()
        .into_iter()
        .map(|e| e.event.meta.id)
        .collect();
    let ingested: Vec<&String> = logged.iter().filter(|id| ids.contains(id)).collect();
    assert_eq!(ingested.len(), ids.len(), "each event is logged once: {logged:?}");
    assert_eq!(kv("count"), Some(ids.len().to_string()), "events that took effect");
    for prefix in ["disorder:", "dup:"] {
        let found = store.kv_keys(COMMUNITY, PLUGIN, prefix, None, 100);
        assert!(found.is_empty(), "{prefix}* keys: {found:?}");
    }
    let mut texts: HashMap<String, usize> = HashMap::new();
    for m in store
        .messages(COMMUNITY)
        .iter()
        .filter(|m| m.posted_by_plugin.as_deref() == Some(PLUGIN))
    {
        *texts.entry(m.text.clone()).or_default() += 1;
    }
    for id in ids {
        assert_eq!(texts.get(id), Some(&1), "message for {id}");
        assert!(kv(&format!("seen:{id}")).is_some(), "{id} never took effect");
    }
    let outbox = store.outbox(COMMUNITY).unwrap();
    for id in ids {
        let keys = outbox
            .iter()
            .filter(|e| e.key.starts_with(&format!("{id}/{PLUGIN}/")))
            .count();
        assert_eq!(keys, 1, "outbox entries of {id}");
    }
}

/// Two in-process hosts on one database: an install and a grant made through one are seen by
/// the other; events accepted by either and delivered by both at once take effect exactly once;
/// the audit log and the plugin's KV are shared; a host restarted loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_one_store_and_deliver_each_event_once() {
    let shared = SharedStore::start();
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&shared.url, dirs.0.path()).await;
    let b = node(&shared.url, dirs.1.path()).await;

    // Install through A with less than the ledger asks for, then grant the rest through A.
    let component = std::fs::read(plaza_tests::LEDGER).unwrap();
    let manifest = std::fs::read_to_string(format!("{}/guests/ledger/plaza.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let packaged = plaza_host::manifest::embed::embed(&component, &manifest).unwrap();
    let ledger = a.load_plugin(&packaged, PLUGIN).await.unwrap();
    a.ensure_community(COMMUNITY).unwrap();
    let report = a
        .install(COMMUNITY, ledger.clone(), caps("storage:kv,reactions:read"), vec![])
        .await
        .unwrap();
    assert!(report.outcome.is_ok(), "{report:?}");
    a.grant(COMMUNITY, PLUGIN, &[Capability::MessagesSend]).unwrap();
    // Budgets that neither 50 messages at once nor a busy machine run into.
    let limits = LimitOverrides {
        wall_clock_ms: Some(10_000),
        messages_per_minute_per_channel: Some(6_000),
        channel_burst: Some(1_000),
        messages_per_minute_per_community: Some(6_000),
        community_burst: Some(1_000),
        ..LimitOverrides::default()
    };
    a.set_limits(COMMUNITY, PLUGIN, limits).unwrap();

    // B notices the change made by another host and serves the install with its grants.
    assert!(b.refresh_installs().await.unwrap(), "B did not notice A's install");
    let seen = b.installs(COMMUNITY).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].grants.snapshot(),
        caps("storage:kv,reactions:read,messages:send")
    );

    // Half the events arrive at A, half at B, some at both (a sender retrying elsewhere).
    let batch = events("ev", 40);
    let (to_a, to_b) = batch.split_at(20);
    let mut resent = to_a[..5].to_vec();
    resent.extend_from_slice(to_b);
    let (ra, rb) = tokio::join!(a.accept(to_a.to_vec()), b.accept(resent));
    for answer in ra.into_iter().chain(rb) {
        answer.unwrap();
    }
    let ids: Vec<String> = batch.iter().map(|e| e.meta.id.clone()).collect();
    assert!(
        ids.iter().any(|id| fnv1a(id).is_multiple_of(FAIL_MODULUS)),
        "no event fails its first attempt; the retry path goes untested"
    );
    deliver_on_both(&a, &b, 1_767_300_000_000).await;
    check_exactly_once(&b, &ids);

    // The audit log is one: B reads what A recorded (install, grants) and the deliveries.
    let query = AuditQuery {
        community: Some(COMMUNITY.into()),
        ..AuditQuery::default()
    };
    let audit_b = b.audit_log(&query).unwrap();
    assert!(audit_b.iter().any(|e| e.kind == "install"), "{audit_b:?}");
    assert!(
        audit_b
            .iter()
            .any(|e| e.kind == "grant" && e.capability.as_deref() == Some("messages:send")),
        "{audit_b:?}"
    );
    assert_eq!(a.audit_log(&query).unwrap(), audit_b);
    let seqs: Vec<u64> = audit_b.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (seqs[0]..seqs[0] + seqs.len() as u64).collect::<Vec<_>>(),
        "audit seqs have gaps"
    );

    // A restarts: it loads the install from the store and goes on where the log is.
    drop(a);
    let a = node(&shared.url, dirs.0.path()).await;
    assert_eq!(
        a.installs(COMMUNITY).unwrap()[0].grants.snapshot(),
        seen[0].grants.snapshot()
    );
    assert_eq!(a.audit_log(&query).unwrap().len(), audit_b.len());
    let more = events("after-restart", 10);
    for answer in a.accept(more.clone()).await {
        answer.unwrap();
    }
    deliver_on_both(&a, &b, 1_767_400_000_000).await;
    let mut all = ids;
    all.extend(more.iter().map(|e| e.meta.id.clone()));
    check_exactly_once(&a, &all);
}

/// The CLI on the shared store: a community and a token made with one data directory are seen
/// from another; a bad URL or an unreachable server is one clear line.
#[test]
fn cli_commands_share_the_store_and_name_a_bad_one() {
    let shared = SharedStore::start();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plaza = |dir: &Path, args: &[&str]| {
        Command::new(plaza_bin())
            .args(args)
            .args(serve_node_args(&shared.url, dir))
            .env("PLAZA_CACHE_DIR", cache_dir())
            .output()
            .unwrap()
    };
    let out = plaza(one.path(), &["community", "create", "town"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = plaza(two.path(), &["community", "list", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"town\""));
    let out = plaza(
        two.path(),
        &["token", "create", "--role", "admin", "-c", "town", "--name", "t"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = plaza(one.path(), &["token", "list", "--json"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"name\":\"t\""),
        "{out:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (store, expected) in [
        ("mysql://db/x".to_string(), "expected a PostgreSQL URL".to_string()),
        (
            format!("postgres://postgres:hunter2@127.0.0.1:{port}/x"),
            format!("127.0.0.1:{port}"),
        ),
    ] {
        let out = Command::new(plaza_bin())
            .args(["community", "list", "--store", &store, "--data-dir"])
            .arg(one.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(&expected), "{store}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password is shown: {stderr}");
    }
}
