//! The PostgreSQL store against the shared conformance suite, and what only several nodes on
//! one database can show: concurrent appends and commits from separate stores, the shared
//! admin generation and host key, migration by two nodes at once.

use std::sync::Arc;

use super::test_server::PostgresServer;
use super::{Options, PostgresStore};
use crate::storage::admin::{AdminStore, StoreError};
use crate::storage::conformance::{
    admin_store_suite, at, community_store_suite, delivery, delivery_log_suite, differential, ingested,
    one_of_many_workers_commits, send, shared_by_threads,
};
use crate::storage::memory::MemoryStore;
use crate::storage::Store;

fn open(server: &PostgresServer) -> PostgresStore {
    PostgresStore::open(&server.database()).unwrap()
}

#[test]
fn postgres_conforms() {
    let server = PostgresServer::start();
    community_store_suite(&open(&server));
    admin_store_suite(&open(&server));
    delivery_log_suite(&open(&server));
}

#[test]
fn memory_and_postgres_agree_on_random_operations() {
    let server = PostgresServer::start();
    for seed in [1, 42] {
        differential(&MemoryStore::new(), &open(&server), seed, 250);
    }
}

#[test]
fn concurrent_commits_and_threads() {
    let server = PostgresServer::start();
    one_of_many_workers_commits(Arc::new(open(&server)));
    shared_by_threads(Arc::new(open(&server)));
}

#[test]
fn nodes_on_one_database_share_the_log_and_commit_each_entry_once() {
    let server = PostgresServer::start();
    let url = server.database();
    // Two "nodes", each with its own pool, opening (and migrating) the database at once.
    let nodes: Vec<Arc<dyn Store>> = std::thread::scope(|s| {
        let opening: Vec<_> = (0..2)
            .map(|_| s.spawn(|| Arc::new(PostgresStore::open(&url).unwrap()) as Arc<dyn Store>))
            .collect();
        opening.into_iter().map(|h| h.join().unwrap()).collect()
    });
    nodes[0].init_cursor("c", "p").unwrap();
    // Both nodes append the same 20 events (as a redelivered stream would), concurrently:
    // each event is logged once and sequences have no gaps.
    std::thread::scope(|s| {
        for node in &nodes {
            s.spawn(move || {
                for i in 0..20 {
                    node.append(&[ingested("c", &format!("e{i}"))], 1).unwrap();
                }
            });
        }
    });
    assert_eq!(nodes[1].head("c").unwrap(), 20);
    let logged = nodes[0].read_log("c", 0, 100).unwrap();
    assert_eq!(
        logged.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    // Both nodes deliver every entry at once: each entry is committed by exactly one.
    std::thread::scope(|s| {
        for (n, node) in nodes.iter().enumerate() {
            s.spawn(move || {
                let mut won = 0;
                for seq in 1..=20u64 {
                    let actions = [send(&format!("reply-{seq}-{n}"), "hi")];
                    if node
                        .commit(&delivery("c", "p", seq - 1, seq, &format!("e{}", seq - 1), &actions))
                        .unwrap()
                    {
                        won += 1;
                    }
                }
                won
            });
        }
    });
    assert_eq!(nodes[1].cursor("c", "p").unwrap(), Some(at(20)));
    let posted = nodes[1]
        .messages("c")
        .into_iter()
        .filter(|m| m.posted_by_plugin.is_some())
        .count();
    assert_eq!(posted, 20);
    assert_eq!(nodes[0].outbox("c").unwrap().len(), 20);
}

#[test]
fn admin_changes_and_the_host_key_are_seen_by_every_node() {
    let server = PostgresServer::start();
    let url = server.database();
    let (a, b) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let before = b.admin_generation().unwrap();
    a.create_community("town", 1).unwrap();
    assert_ne!(b.admin_generation().unwrap(), before);
    assert!(b.community_exists("town").unwrap());
    let key_a = a.host_key("pseudonyms", [1; 32]).unwrap();
    let key_b = b.host_key("pseudonyms", [2; 32]).unwrap();
    assert_eq!(key_a, [1; 32]);
    assert_eq!(key_b, key_a);
}

#[test]
fn bad_urls_and_unreachable_servers_are_named() {
    let Err(StoreError::Open { reason, .. }) = PostgresStore::open("mysql://nowhere") else {
        panic!("a non-PostgreSQL URL opened");
    };
    assert!(reason.contains("not a PostgreSQL connection URL"), "{reason}");
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/plaza");
    let options = Options {
        connect_timeout: std::time::Duration::from_secs(2),
        ..Options::default()
    };
    let Err(error) = PostgresStore::open_with(&url, options) else {
        panic!("an unreachable server opened");
    };
    let text = error.to_string();
    assert!(
        text.contains("cannot connect") && text.contains(&port.to_string()),
        "{text}"
    );
    assert!(!text.contains("secret"), "the password is shown: {text}");
}
