//! The admin model: default deny, partial grants, revoke, upgrades with re-consent, routing by
//! subscription and grant, pseudonyms, paced rate limits, the audit log, and persistence.

use plaza_host::admin::UpgradeOutcome;
use plaza_host::event::ConfigEntry;
use plaza_host::storage::admin::AuditQuery;
use plaza_host::{Capability, GrantSet, Plaza, PlazaConfig, PlazaError};

use crate::common::*;

/// A host over its data directory (the SQLite store), sharing the tests' compile cache.
fn on_disk() -> PlazaConfig {
    PlazaConfig {
        engine: plaza_host::engine::EngineSettings {
            cache_dir: Some(cache_dir()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn kinds(plaza: &Plaza, community: &str) -> Vec<(String, Option<String>)> {
    let query = AuditQuery {
        community: Some(community.into()),
        ..AuditQuery::default()
    };
    plaza
        .audit_log(&query)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.capability))
        .collect()
}

#[tokio::test]
async fn install_grants_nothing_by_default_and_only_requested_items() {
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    plaza.create_community("c").unwrap();
    plaza
        .install("c", probe.clone(), GrantSet::none(), Vec::new())
        .await
        .unwrap();
    // Not even commands: the command message is not delivered at all.
    let mut ev = Events::new("c");
    let report = plaza.dispatch(ev.message("m1", "alice", "/try-send")).await.unwrap();
    assert!(report.invocations.is_empty(), "{report:?}");

    let err = plaza.grant("c", "probe", &[Capability::HttpFetch]).unwrap_err();
    assert!(matches!(err, PlazaError::NotRequested { .. }));
    assert_eq!(
        err.to_string(),
        "plugin `probe` does not request `http:fetch` in its manifest, so it cannot be granted in community `c` \
         (it requests: messages:send, storage:kv, commands)"
    );

    // A partial grant: commands and storage, not sending. The plugin keeps running.
    plaza
        .grant("c", "probe", &[Capability::Commands, Capability::StorageKv])
        .unwrap();
    let report = plaza.dispatch(ev.message("m2", "alice", "/try-send")).await.unwrap();
    let r = only(&report.invocations, "probe");
    assert!(r.outcome.is_ok());
    assert_eq!(r.denied.len(), 1);
    assert!(logs(r).contains(&"kv ok".to_string()));
    let audit = kinds(&plaza, "c");
    assert!(
        audit.contains(&("denied".into(), Some("messages:send".into()))),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("grant".into(), Some("storage:kv".into()))),
        "{audit:?}"
    );
}

#[tokio::test]
async fn revoke_mid_stream_denies_the_next_call_and_is_audited() {
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let mut ev = Events::new("c");
    let r = plaza.dispatch(ev.message("m1", "alice", "/send one")).await.unwrap();
    assert_eq!(sent(only(&r.invocations, "probe")), ["one"]);
    plaza.revoke("c", "probe", &[Capability::MessagesSend]).unwrap();
    let r = plaza.dispatch(ev.message("m2", "alice", "/try-send")).await.unwrap();
    assert_eq!(only(&r.invocations, "probe").denied[0].capability, "messages:send");
    let audit = kinds(&plaza, "c");
    assert!(
        audit.contains(&("revoke".into(), Some("messages:send".into()))),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("effect".into(), Some("messages:send".into()))),
        "the sent message is audited"
    );
}

#[tokio::test]
async fn an_upgrade_asking_for_more_waits_and_the_old_version_keeps_serving() {
    let plaza = plaza();
    let v1 = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    community_with(&plaza, "c", &v1, "all").await;
    let v2 = probe_with_manifest(&plaza, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    match plaza.upgrade("c", v2.clone()).await.unwrap() {
        UpgradeOutcome::Pending { added, .. } => assert_eq!(added, [Capability::StorageKv]),
        other => panic!("expected pending, got {other:?}"),
    }
    let install = plaza.installs("c").unwrap().remove(0);
    assert_eq!(install.plugin.digest, v1.digest, "the old version still serves");
    let mut ev = Events::new("c");
    let r = plaza.dispatch(ev.message("m1", "alice", "/try-send")).await.unwrap();
    let r = only(&r.invocations, "probe");
    assert_eq!(sent(r), ["hello"], "old grants still work");
    assert_eq!(r.denied[0].capability, "storage:kv", "the new item is not granted yet");
    let status = plaza.plugin_statuses("c").unwrap().remove(0);
    let pending = status.pending_upgrade.expect("pending upgrade shown");
    assert_eq!(pending.added[0].reason, "test needs storage:kv");

    let report = plaza.approve_upgrade("c", "probe").await.unwrap();
    assert_eq!(report.event_type, "plugin-upgraded");
    let install = plaza.installs("c").unwrap().remove(0);
    assert_eq!(install.plugin.digest, v2.digest);
    assert!(install.grants.snapshot().contains(Capability::StorageKv));
    let r = plaza.dispatch(ev.message("m2", "alice", "/try-send")).await.unwrap();
    assert!(only(&r.invocations, "probe").denied.is_empty());
    assert!(matches!(
        plaza.approve_upgrade("c", "probe").await.unwrap_err(),
        PlazaError::NoPendingUpgrade { .. }
    ));
}

#[tokio::test]
async fn an_upgrade_asking_for_less_takes_over_at_once() {
    let plaza = plaza();
    let v1 = probe_with_manifest(&plaza, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    community_with(&plaza, "c", &v1, "all").await;
    let v2 = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    match plaza.upgrade("c", v2.clone()).await.unwrap() {
        UpgradeOutcome::Applied { report, .. } => assert_eq!(report.event_type, "plugin-upgraded"),
        other => panic!("expected applied, got {other:?}"),
    }
    let install = plaza.installs("c").unwrap().remove(0);
    assert_eq!(install.plugin.digest, v2.digest);
    assert!(
        !install.grants.snapshot().contains(Capability::StorageKv),
        "grants follow the new request"
    );
    let err = plaza.upgrade("c", v2).await.unwrap_err();
    assert!(err.to_string().contains("already serving"), "{err}");
}

#[tokio::test]
async fn message_events_need_a_read_grant_and_mentions_only_sees_mentions() {
    let plaza = plaza();
    let probe = probe_with_manifest(
        &plaza,
        &["messages:read", "messages:read.mentions"],
        &["message-posted"],
    )
    .await;
    plaza.create_community("c").unwrap();
    plaza
        .install(
            "c",
            probe,
            GrantSet::parse_list("messages:read.mentions").unwrap(),
            Vec::new(),
        )
        .await
        .unwrap();
    let mut ev = Events::new("c");
    let plain = plaza
        .dispatch(ev.message("m1", "alice", "just chatting"))
        .await
        .unwrap();
    assert!(plain.invocations.is_empty());
    let mention = plaza
        .dispatch(ev.message("m2", "alice", "hey @probe, you there?"))
        .await
        .unwrap();
    assert_eq!(mention.invocations.len(), 1);
    plaza.grant("c", "probe", &[Capability::MessagesRead]).unwrap();
    let plain = plaza
        .dispatch(ev.message("m3", "alice", "just chatting"))
        .await
        .unwrap();
    assert_eq!(plain.invocations.len(), 1);
    // Unsubscribed event types never arrive, whatever is granted.
    assert!(plaza.dispatch(ev.joined("bob")).await.unwrap().invocations.is_empty());
}

#[tokio::test]
async fn members_are_pseudonymous_per_plugin_and_mapped_back_when_acting() {
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["members:moderate"], &["member-joined", "command-invoked"]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let welcome = load_sample(&plaza, plaza_tests::WELCOME_BOT, "welcome-bot").await;
    community_with(&plaza, "c", &welcome, "storage:kv").await;
    let mut ev = Events::new("c");
    let joined = plaza.dispatch(ev.joined("troll")).await.unwrap();
    let seen = logs(only(&joined.invocations, "probe"))[0].clone();
    let for_probe = plaza.pseudonym_of("c", "probe", "troll");
    assert_eq!(
        seen,
        format!("saw {for_probe} join"),
        "the plugin never sees the real id"
    );
    let for_welcome = plaza.pseudonym_of("c", "welcome-bot", "troll");
    assert_ne!(for_probe, for_welcome, "two plugins never share a pseudonym");
    assert_eq!(
        plaza
            .store()
            .resolve_pseudonym("c", "welcome-bot", &for_welcome)
            .as_deref(),
        Some("troll")
    );
    assert_eq!(plaza.store().resolve_pseudonym("c", "welcome-bot", &for_probe), None);

    // The real id means nothing to the plugin; the pseudonym acts on the real member.
    let r = plaza
        .dispatch(ev.message("m1", "mod", "/moderate troll kick"))
        .await
        .unwrap();
    assert_eq!(
        logs(only(&r.invocations, "probe")),
        ["moderate troll: Err(\"not found\")"]
    );
    let r = plaza
        .dispatch(ev.message("m2", "mod", &format!("/moderate {for_probe} kick")))
        .await
        .unwrap();
    let r = only(&r.invocations, "probe");
    assert_eq!(
        r.actions,
        [plaza_host::Action::KickMember {
            member: "troll".into(),
            reason: "probe".into()
        }]
    );
    assert!(plaza.store().member("c", "troll").is_none());
}

#[tokio::test]
async fn sending_is_paced_with_typed_rate_limit_errors() {
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let mut ev = Events::new("c");
    let r = plaza.dispatch(ev.message("m1", "alice", "/send-many 7")).await.unwrap();
    let r = only(&r.invocations, "probe");
    assert!(r.outcome.is_ok());
    assert_eq!(logs(r), ["send-many: ok,ok,ok,ok,ok,rate-limited,rate-limited"]);
    assert_eq!(sent(r).len(), 5);
    // Events one second apart refill one message per second.
    let r = plaza.dispatch(ev.message("m2", "alice", "/send-many 2")).await.unwrap();
    assert_eq!(logs(only(&r.invocations, "probe")), ["send-many: ok,rate-limited"]);
}

#[tokio::test]
async fn config_is_checked_against_the_schema_and_defaults_apply() {
    let plaza = plaza();
    let spam = load_sample(&plaza, plaza_tests::ANTI_SPAM, "anti-spam").await;
    plaza.create_community("c").unwrap();
    let bad = vec![ConfigEntry {
        key: "max-links".into(),
        value: "lots".into(),
    }];
    let err = plaza
        .install("c", spam.clone(), spam.requested(), bad)
        .await
        .unwrap_err();
    assert!(matches!(err, PlazaError::BadConfig { .. }), "{err}");
    assert!(err.to_string().contains("max-links"), "{err}");
    let unknown = vec![ConfigEntry {
        key: "colour".into(),
        value: "red".into(),
    }];
    assert!(plaza
        .install("c", spam.clone(), spam.requested(), unknown)
        .await
        .is_err());
    let ok = vec![ConfigEntry {
        key: "max-links".into(),
        value: "1".into(),
    }];
    plaza.install("c", spam, GrantSet::none(), ok).await.unwrap();
    let config = plaza.installs("c").unwrap().remove(0).config;
    assert!(config.iter().any(|e| e.key == "max-links" && e.value == "1"));
    assert!(
        config.iter().any(|e| e.key == "repeat-window-ms" && e.value == "30000"),
        "{config:?}"
    );
}

#[tokio::test]
async fn disable_stops_delivery_and_the_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
        let probe = probe_with_manifest(&plaza, &["messages:send", "storage:kv"], &["command-invoked"]).await;
        plaza.create_community("c").unwrap();
        plaza
            .install(
                "c",
                probe,
                GrantSet::parse_list("commands,storage:kv").unwrap(),
                Vec::new(),
            )
            .await
            .unwrap();
        let mut ev = Events::new("c");
        plaza
            .dispatch(ev.message("m1", "alice", "/remember persisted"))
            .await
            .unwrap();
        plaza.set_enabled("c", "probe", false).unwrap();
        assert!(plaza
            .dispatch(ev.message("m2", "alice", "/remember lost"))
            .await
            .unwrap()
            .invocations
            .is_empty());
    }
    let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
    let install = plaza.installs("c").unwrap().remove(0);
    assert!(!install.enabled);
    assert_eq!(
        install.grants.snapshot(),
        GrantSet::parse_list("commands,storage:kv").unwrap()
    );
    assert_eq!(
        plaza.store().kv_get("c", "probe", "remembered"),
        Some(b"persisted".to_vec())
    );
    let pseudonym_before = plaza.pseudonym_of("c", "probe", "alice");
    drop(plaza);
    let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
    assert_eq!(
        plaza.pseudonym_of("c", "probe", "alice"),
        pseudonym_before,
        "pseudonyms are stable across restarts"
    );
    plaza.set_enabled("c", "probe", true).unwrap();
    plaza.uninstall("c", "probe").await.unwrap();
    assert_eq!(plaza.store().kv_get("c", "probe", "remembered"), None);
    let audit = kinds(&plaza, "c");
    for kind in ["install", "grant", "disable", "enable", "uninstall"] {
        assert!(audit.iter().any(|(k, _)| k == kind), "{kind} missing from {audit:?}");
    }
}

#[tokio::test]
async fn unknown_communities_are_refused() {
    let plaza = plaza();
    let mut ev = Events::new("nowhere");
    let err = plaza.dispatch(ev.joined("a")).await.unwrap_err();
    assert_eq!(err.to_string(), "community `nowhere` does not exist");
    assert!(matches!(
        plaza.create_community("x").and(plaza.create_community("x")),
        Err(PlazaError::CommunityExists(_))
    ));
}

#[tokio::test]
async fn admin_limit_overrides_apply_within_the_operator_maximum() {
    use plaza_host::runtime::report::FailureReason;
    use plaza_host::storage::admin::LimitOverrides;
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let too_much = LimitOverrides {
        memory_mb: Some(100_000),
        ..LimitOverrides::default()
    };
    let err = plaza.set_limits("c", "probe", too_much).unwrap_err();
    assert!(matches!(err, PlazaError::BadLimit { .. }));
    assert!(
        err.to_string()
            .contains("memory-mb = 100000 is outside the operator's range 1..=256"),
        "{err}"
    );

    // 8 MiB is less than the probe's /oom needs, so memory runs out sooner; the status shows it.
    let tight = LimitOverrides {
        memory_mb: Some(8),
        cpu_ms: Some(30),
        ..LimitOverrides::default()
    };
    plaza.set_limits("c", "probe", tight.clone()).unwrap();
    let status = plaza.plugin_statuses("c").unwrap().remove(0);
    assert_eq!(status.limits.memory_bytes, 8 << 20);
    assert_eq!(status.limits.cpu_ms, 30);
    assert_eq!(status.limits.overrides, tight);
    let mut ev = Events::new("c");
    let r = plaza.dispatch(ev.message("m1", "alice", "/oom")).await.unwrap();
    let failure = only(&r.invocations, "probe").outcome.failure().unwrap().clone();
    assert_eq!(failure.reason, FailureReason::MemoryLimit);
    assert!(
        failure.message.contains("limit of 8388608 bytes"),
        "{}",
        failure.message
    );
    let r = plaza.dispatch(ev.message("m2", "alice", "/loop")).await.unwrap();
    let failure = only(&r.invocations, "probe").outcome.failure().unwrap().clone();
    assert_eq!(
        failure.message,
        "cpu budget: the handler ran longer than 30 ms of CPU time"
    );
    assert!(kinds(&plaza, "c").iter().any(|(k, _)| k == "limits"));
}

#[tokio::test]
async fn an_admin_can_tighten_the_message_budget_of_an_install() {
    use plaza_host::storage::admin::LimitOverrides;
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let slower = LimitOverrides {
        channel_burst: Some(2),
        ..LimitOverrides::default()
    };
    plaza.set_limits("c", "probe", slower).unwrap();
    let mut ev = Events::new("c");
    let r = plaza.dispatch(ev.message("m1", "alice", "/send-many 4")).await.unwrap();
    assert_eq!(
        logs(only(&r.invocations, "probe")),
        ["send-many: ok,ok,rate-limited,rate-limited"]
    );
    let bad = LimitOverrides {
        messages_per_minute_per_channel: Some(0),
        ..LimitOverrides::default()
    };
    assert!(matches!(
        plaza.set_limits("c", "probe", bad),
        Err(PlazaError::BadLimit { .. })
    ));
    let status = plaza.plugin_statuses("c").unwrap().remove(0);
    assert_eq!(status.limits.overrides.channel_burst, Some(2));
}

#[tokio::test]
async fn reopening_loads_each_package_once_for_all_its_installs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
        let poll = load_sample(&plaza, plaza_tests::POLL, "poll").await;
        for c in ["a", "b", "c"] {
            community_with(&plaza, c, &poll, "commands").await;
        }
    }
    let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
    let a = plaza.installs("a").unwrap().remove(0).plugin;
    for c in ["b", "c"] {
        assert!(
            std::sync::Arc::ptr_eq(&a, &plaza.installs(c).unwrap().remove(0).plugin),
            "{c} shares the package"
        );
    }
}

#[tokio::test]
async fn install_many_installs_all_or_none_and_routes_predicts_dispatch() {
    use plaza_host::admin::InstallRequest;
    let plaza = plaza();
    let probe = probe_with_manifest(&plaza, &["messages:send"], &["command-invoked"]).await;
    let poll = load_sample(&plaza, plaza_tests::POLL, "poll").await;
    plaza.create_community("c").unwrap();
    let request = |plugin: &std::sync::Arc<plaza_host::runtime::Plugin>, grants: GrantSet| InstallRequest {
        plugin: plugin.clone(),
        grants,
        config: Vec::new(),
    };

    // One refused request refuses the whole batch: nothing is installed or audited.
    let http: GrantSet = [Capability::HttpFetch].into_iter().collect();
    let err = plaza
        .install_many("c", vec![request(&probe, probe.requested()), request(&poll, http)])
        .await
        .unwrap_err();
    assert!(matches!(err, PlazaError::NotRequested { .. }), "{err}");
    let twice = vec![request(&probe, GrantSet::none()), request(&probe, GrantSet::none())];
    let err = plaza.install_many("c", twice).await.unwrap_err();
    assert!(matches!(err, PlazaError::AlreadyInstalled { .. }), "{err}");
    let err = plaza
        .install_many("nowhere", vec![request(&probe, GrantSet::none())])
        .await
        .unwrap_err();
    assert!(matches!(err, PlazaError::NoSuchCommunity(_)), "{err}");
    assert!(plaza.installs("c").unwrap().is_empty());
    assert!(kinds(&plaza, "c").is_empty(), "{:?}", kinds(&plaza, "c"));

    let reports = plaza
        .install_many(
            "c",
            vec![request(&probe, probe.requested()), request(&poll, poll.requested())],
        )
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.outcome.is_ok()), "{reports:?}");
    let names: Vec<String> = plaza
        .installs("c")
        .unwrap()
        .into_iter()
        .map(|i| i.plugin.name.clone())
        .collect();
    assert_eq!(names, ["probe", "poll"]);
    let audit = kinds(&plaza, "c");
    assert_eq!(
        audit.iter().filter(|(kind, _)| kind == "install").count(),
        2,
        "{audit:?}"
    );
    assert!(
        audit.contains(&("grant".into(), Some("messages:send".into()))),
        "{audit:?}"
    );
    // Installing again, alone or in a batch, is refused.
    let err = plaza
        .install("c", probe.clone(), GrantSet::none(), Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PlazaError::AlreadyInstalled { .. }), "{err}");

    // `routes` names the installs `dispatch` then delivers to, without delivering.
    let mut ev = Events::new("c");
    let event = ev.message("m1", "alice", "/send one");
    let routed = plaza.routes(&event).unwrap();
    assert!(routed.contains(&"probe".to_string()), "{routed:?}");
    let report = plaza.dispatch(event).await.unwrap();
    let delivered: Vec<String> = report.invocations.iter().map(|r| r.plugin.clone()).collect();
    assert_eq!(routed, delivered);
    plaza.revoke("c", "probe", &[Capability::Commands]).unwrap();
    let event = ev.message("m2", "alice", "/send two");
    assert!(!plaza.routes(&event).unwrap().contains(&"probe".to_string()));
    assert!(matches!(
        plaza.routes(&Events::new("nowhere").message("m1", "alice", "hi")),
        Err(PlazaError::NoSuchCommunity(_))
    ));

    assert_eq!(plaza.community("c").unwrap().id, "c");
    assert!(matches!(
        plaza.community("nowhere"),
        Err(PlazaError::NoSuchCommunity(_))
    ));
}

/// A host over `dir` with community `c` and the probe (asking for `messages:send` and
/// `storage:kv`) installed there with `grants`.
async fn probe_on_disk(dir: &std::path::Path, grants: &str) -> Plaza {
    let plaza = Plaza::open(dir, on_disk()).await.unwrap();
    let probe = probe_with_manifest(&plaza, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    plaza.create_community("c").unwrap();
    plaza
        .install("c", probe, GrantSet::parse_list(grants).unwrap(), Vec::new())
        .await
        .unwrap();
    plaza
}

/// Makes every audit insert of the host's database in `dir` fail, through a second connection
/// (dropping its `refuse_audit` trigger allows them again).
fn refuse_audit_inserts(dir: &std::path::Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(dir.join(plaza_host::storage::sqlite::DB_FILE_NAME)).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END;",
    )
    .unwrap();
    db
}

#[tokio::test]
async fn an_admin_change_whose_audit_entry_cannot_be_written_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plaza = probe_on_disk(dir.path(), "commands").await;
    let db = refuse_audit_inserts(dir.path());

    let refused = plaza.grant("c", "probe", &[Capability::StorageKv]).unwrap_err();
    assert!(refused.to_string().contains("audit refused"), "{refused}");
    let kv = |plaza: &Plaza| {
        plaza.installs("c").unwrap()[0]
            .grants
            .snapshot()
            .contains(Capability::StorageKv)
    };
    assert!(!kv(&plaza), "the host does not apply the change");
    db.execute_batch("DROP TRIGGER refuse_audit").unwrap();
    drop(plaza);
    let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
    assert!(!kv(&plaza), "nor does the store keep it");
    assert!(!kinds(&plaza, "c").contains(&("grant".into(), Some("storage:kv".into()))));

    // Once the audit log takes entries again, the same change is applied and audited.
    plaza.grant("c", "probe", &[Capability::StorageKv]).unwrap();
    assert!(kv(&plaza));
    assert!(kinds(&plaza, "c").contains(&("grant".into(), Some("storage:kv".into()))));
}

#[tokio::test]
async fn an_uninstall_whose_audit_entry_cannot_be_written_keeps_the_install_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let plaza = probe_on_disk(dir.path(), "commands,messages:send,storage:kv").await;
    let mut ev = Events::new("c");
    let report = plaza
        .dispatch(ev.message("m1", "alice", "/kv-roundtrip"))
        .await
        .unwrap();
    assert!(only(&report.invocations, "probe").outcome.is_ok(), "{report:?}");
    let kept = |plaza: &Plaza| {
        let store = plaza.store();
        (
            plaza.installs("c").unwrap().len(),
            store.kv_get("c", "probe", "b:1"),
            store.cursor("c", "probe").unwrap().is_some(),
        )
    };
    let before = kept(&plaza);
    assert_eq!(before, (1, Some(b"other".to_vec()), true));

    let db = refuse_audit_inserts(dir.path());
    let refused = plaza.uninstall("c", "probe").await.unwrap_err();
    assert!(refused.to_string().contains("audit refused"), "{refused}");
    assert_eq!(kept(&plaza), before, "the host keeps the install");
    db.execute_batch("DROP TRIGGER refuse_audit").unwrap();
    drop(plaza);
    let plaza = Plaza::open(dir.path(), on_disk()).await.unwrap();
    assert_eq!(kept(&plaza), before, "and so does the store, with its data and cursor");
    assert!(!kinds(&plaza, "c").contains(&("uninstall".into(), None)));

    // Once the audit log takes entries again, the uninstall removes all of it together.
    plaza.uninstall("c", "probe").await.unwrap();
    assert_eq!(kept(&plaza), (0, None, false));
    assert!(kinds(&plaza, "c").contains(&("uninstall".into(), None)));
}
