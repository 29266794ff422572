//! The host as a library: isolation, limits, effects, grants and loading errors, through the
//! public API with the `probe` guest.

use plaza_host::dispatch::ReviewDecision;
use plaza_host::runtime::report::FailureReason;
use plaza_host::{Action, GrantSet, PlazaError};

use crate::common::*;

const ALL: &str = "all";

async fn probe_in(community: &str, grants: &str) -> plaza_host::Plaza {
    let plaza = plaza();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, community, &probe, grants).await;
    plaza
}

async fn command(plaza: &plaza_host::Plaza, ev: &mut Events, id: &str, text: &str) -> plaza_host::InvocationReport {
    let report = plaza.dispatch(ev.message(id, "alice", text)).await.unwrap();
    only(&report.invocations, "probe").clone()
}

#[tokio::test]
async fn describe_gives_name_version_and_commands() {
    let plaza = plaza();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    assert_eq!(probe.name, "probe");
    assert_eq!(probe.version, "0.0.1");
    assert!(probe.offers_command("kv-roundtrip"));
    assert_eq!(probe.summary.wit_version.as_deref(), Some("0.2.0"));
    assert!(probe.summary.unsupported_imports.is_empty());
}

#[tokio::test]
async fn kv_reads_see_own_writes_and_commit_on_success() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    let r = command(&plaza, &mut ev, "m1", "/kv-roundtrip").await;
    assert!(r.outcome.is_ok(), "{r:?}");
    assert_eq!(sent(&r), [r#"read=Some("one") keys=["a:1"]"#]);
    let store = plaza.store();
    assert_eq!(store.kv_get("c", "probe", "a:1"), Some(b"one".to_vec()));
    assert_eq!(store.kv_get("c", "probe", "a:2"), None);
    assert_eq!(store.kv_get("c", "probe", "b:1"), Some(b"other".to_vec()));
    // A later invocation reads the committed state.
    let r = command(&plaza, &mut ev, "m2", "/kv-read b:1").await;
    assert_eq!(sent(&r), [r#"value=Some("other") keys=["a:1", "b:1"]"#]);
}

#[tokio::test]
async fn a_trap_discards_every_effect_of_the_invocation() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    let r = command(&plaza, &mut ev, "m1", "/send-then-panic").await;
    let failure = r.outcome.failure().expect("must fail");
    assert_eq!(failure.reason, FailureReason::GuestTrap);
    assert!(failure.message.contains("panicked at"), "{}", failure.message);
    assert!(failure.message.contains("after sending"), "{}", failure.message);
    assert!(failure.backtrace.as_deref().unwrap_or("").contains("probe.wasm"));
    assert!(r.actions.is_empty());
    assert_eq!(r.discarded_actions, 2);
    assert_eq!(plaza.store().kv_get("c", "probe", "half-done"), None);
    assert!(plaza.store().messages("c").iter().all(|m| m.posted_by_plugin.is_none()));
    // The host keeps serving: the next event runs in a fresh instance.
    let r = command(&plaza, &mut ev, "m2", "/send still alive").await;
    assert!(r.outcome.is_ok());
    assert_eq!(sent(&r), ["still alive"]);
}

#[tokio::test]
async fn each_event_gets_a_fresh_instance() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    for i in 0..3 {
        let r = command(&plaza, &mut ev, &format!("m{i}"), "/recall").await;
        assert_eq!(sent(&r), ["calls-in-this-instance=1"]);
    }
}

#[tokio::test]
async fn limits_stop_runaway_plugins_with_reason_codes() {
    let plaza = plaza_without_breaker();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, "c", &probe, ALL).await;
    let mut ev = Events::new("c");
    let cases = [
        ("/loop", FailureReason::CpuBudget),
        ("/oom", FailureReason::MemoryLimit),
        ("/recurse", FailureReason::StackOverflow),
        ("/panic", FailureReason::GuestTrap),
        ("/fail", FailureReason::GuestError),
    ];
    for (i, (text, reason)) in cases.into_iter().enumerate() {
        let r = command(&plaza, &mut ev, &format!("m{i}"), text).await;
        let failure = r.outcome.failure().unwrap_or_else(|| panic!("{text} must fail"));
        assert_eq!(failure.reason, reason, "{text}: {failure:?}");
    }
    let r = command(&plaza, &mut ev, "m9", "/fail").await;
    let failure = r.outcome.failure().unwrap();
    assert_eq!(failure.code.as_deref(), Some("probe-failure"));
    assert_eq!(failure.message, "asked to fail on attempt 1");
    // Still serving after all of that.
    assert!(command(&plaza, &mut ev, "m10", "/send ok").await.outcome.is_ok());
}

#[tokio::test]
async fn a_looping_plugin_does_not_block_other_communities() {
    let plaza = std::sync::Arc::new(probe_in("slow", ALL).await);
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, "fast", &probe, ALL).await;
    let looping = {
        let plaza = plaza.clone();
        tokio::spawn(async move {
            let mut ev = Events::new("slow");
            plaza.dispatch(ev.message("m1", "alice", "/loop")).await.unwrap()
        })
    };
    let mut ev = Events::new("fast");
    for i in 0..5 {
        let r = command(&plaza, &mut ev, &format!("m{i}"), "/send hi").await;
        assert!(r.outcome.is_ok());
    }
    let looped = looping.await.unwrap();
    assert_eq!(
        only(&looped.invocations, "probe").outcome.failure().unwrap().reason,
        FailureReason::CpuBudget
    );
}

#[tokio::test]
async fn denied_calls_are_typed_errors_the_plugin_handles() {
    let plaza = probe_in("c", "commands").await;
    let mut ev = Events::new("c");
    let r = command(&plaza, &mut ev, "m1", "/try-send").await;
    assert!(r.outcome.is_ok(), "a denial must not fail the handler: {r:?}");
    assert!(r.actions.is_empty());
    let denied: Vec<_> = r.denied.iter().map(|d| (d.call, d.capability.as_str())).collect();
    assert_eq!(denied, [("messaging.send", "messages:send"), ("kv.set", "storage:kv")]);
    let logs = logs(&r).join("\n");
    assert!(logs.contains("send refused"), "{logs}");
    assert!(logs.contains("messages:send"), "{logs}");
}

#[tokio::test]
async fn a_revoke_takes_effect_on_the_next_call() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    assert_eq!(sent(&command(&plaza, &mut ev, "m1", "/send one").await), ["one"]);
    plaza
        .set_grants("c", "probe", GrantSet::parse_list("commands,storage:kv").unwrap())
        .unwrap();
    let r = command(&plaza, &mut ev, "m2", "/try-send").await;
    assert_eq!(r.denied.len(), 1);
    assert_eq!(r.denied[0].capability, "messages:send");
    assert!(logs(&r).contains(&"kv ok".to_string()));
}

#[tokio::test]
async fn plugins_cannot_reach_another_communitys_objects() {
    let plaza = probe_in("a", ALL).await;
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, "b", &probe, ALL).await;
    let mut in_a = Events::new("a");
    let mut in_b = Events::new("b");
    plaza.dispatch(in_b.joined("bob")).await.unwrap();
    plaza
        .dispatch(in_b.message("secret", "bob", "hello from b"))
        .await
        .unwrap();
    let r = command(&plaza, &mut in_a, "m1", "/delete general secret").await;
    assert_eq!(logs(&r), ["delete secret: Err(\"not found\")"]);
    let r = command(&plaza, &mut in_a, "m2", "/profile bob").await;
    assert_eq!(logs(&r), ["profile bob: Err(\"not found\")"]);
    let r = command(&plaza, &mut in_a, "m3", "/moderate bob kick").await;
    assert_eq!(logs(&r), ["moderate bob: Err(\"not found\")"]);
    // In its own community the same calls work.
    let r = command(&plaza, &mut in_b, "m4", "/delete general secret").await;
    assert_eq!(logs(&r), ["delete secret: Ok(())"]);
    assert!(plaza.store().message("b", "secret").unwrap().deleted);
}

#[tokio::test]
async fn admins_cannot_be_moderated_by_plugins() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    plaza.dispatch(ev.joined_with_roles("boss", &["admin"])).await.unwrap();
    plaza.dispatch(ev.joined("troll")).await.unwrap();
    let r = command(&plaza, &mut ev, "m1", "/moderate boss ban").await;
    assert!(logs(&r)[0].contains("cannot be moderated"), "{:?}", logs(&r));
    let r = command(&plaza, &mut ev, "m2", "/moderate troll ban").await;
    assert_eq!(
        r.actions,
        [Action::BanMember {
            member: "troll".into(),
            reason: "probe".into()
        }]
    );
    assert!(plaza.store().standing("c", "troll").banned);
    assert!(plaza.store().member("c", "troll").is_none());
}

#[tokio::test]
async fn review_hook_rejects_rewrites_and_fails_open() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    let report = plaza
        .ingest(ev.message("m1", "alice", "a forbidden word"))
        .await
        .unwrap();
    let review = report.review.unwrap();
    assert_eq!(
        review.decision,
        ReviewDecision::Reject {
            plugin: "probe".into(),
            reason: "contains a forbidden word".into()
        }
    );
    assert!(report.dispatch.is_none());
    assert!(
        plaza.store().message("c", "m1").is_none(),
        "a rejected message is never stored"
    );

    let report = plaza.ingest(ev.message("m2", "alice", "darn it")).await.unwrap();
    assert_eq!(
        report.review.unwrap().decision,
        ReviewDecision::Rewrite { text: "d**n it".into() }
    );
    assert_eq!(plaza.store().message("c", "m2").unwrap().text, "d**n it");

    let report = plaza.ingest(ev.message("m3", "alice", "review-panic")).await.unwrap();
    let review = report.review.unwrap();
    assert_eq!(review.decision, ReviewDecision::Allow);
    assert_eq!(
        review.invocations[0].outcome.failure().unwrap().reason,
        FailureReason::GuestTrap
    );
    assert!(report.dispatch.is_some());
}

#[tokio::test]
async fn review_needs_the_moderation_review_grant() {
    let plaza = probe_in("c", "commands,messages:send").await;
    let mut ev = Events::new("c");
    let report = plaza
        .ingest(ev.message("m1", "alice", "a forbidden word"))
        .await
        .unwrap();
    assert!(report.review.is_none());
    assert!(report.dispatch.is_some());
}

#[tokio::test]
async fn timers_fire_to_their_plugin_and_uninstall_deletes_data() {
    let plaza = probe_in("c", ALL).await;
    let mut ev = Events::new("c");
    let r = command(&plaza, &mut ev, "m1", "/timer 5000").await;
    assert!(logs(&r)[0].starts_with("timer: Ok("), "{:?}", logs(&r));
    let start = 1_767_225_600_000;
    assert!(plaza.fire_due_timers(start + 1000).await.unwrap().is_empty());
    let fired = plaza.fire_due_timers(start + 10_000).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].event_type, "timer-fired");
    assert_eq!(logs(&fired[0]), ["timer fired: probe-timer payload-1"]);
    assert!(
        plaza.fire_due_timers(start + 20_000).await.unwrap().is_empty(),
        "a one-shot timer fires once"
    );

    let r = command(&plaza, &mut ev, "m2", "/timer 10").await;
    assert!(logs(&r)[0].contains("at least 1000 ms"), "{:?}", logs(&r));

    command(&plaza, &mut ev, "m3", "/remember x").await;
    assert!(plaza.store().kv_get("c", "probe", "remembered").is_some());
    let r = plaza.uninstall("c", "probe").await.unwrap();
    assert_eq!(r.event_type, "plugin-uninstalled");
    assert_eq!(plaza.store().kv_get("c", "probe", "remembered"), None);
    assert!(plaza.installs("c").unwrap().is_empty());
}

#[tokio::test]
async fn the_actions_cap_is_a_quota_error() {
    use plaza_host::host_api::rate_limit::{Rate, RateLimits};
    // Generous message budgets, so the per-event actions cap is what stops the plugin.
    let generous = Rate {
        per_second: 1000.0,
        burst: 1000,
    };
    let config = plaza_host::PlazaConfig {
        engine: plaza_host::engine::EngineSettings {
            cache_dir: Some(cache_dir()),
            ..Default::default()
        },
        rates: RateLimits {
            per_channel: generous,
            per_community: generous,
        },
        ..Default::default()
    };
    let plaza = plaza_host::Plaza::new(config).unwrap();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, "c", &probe, ALL).await;
    let mut ev = Events::new("c");
    let r = command(&plaza, &mut ev, "m1", "/send-many 102").await;
    assert!(r.outcome.is_ok());
    assert_eq!(sent(&r).len(), 100);
    let outcome = &logs(&r)[0];
    assert!(outcome.ends_with("ok,quota-exceeded,quota-exceeded"), "{outcome}");
}

#[tokio::test]
async fn loading_errors_name_the_plugin_and_the_problem() {
    let plaza = plaza();
    let err = plaza.load_plugin(b"not wasm at all", "notes.txt").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "notes.txt is not a WebAssembly component: it does not start with the WebAssembly magic bytes"
    );

    let core = wat::parse_str("(module)").unwrap();
    let err = plaza.load_plugin(&core, "core.wasm").await.unwrap_err();
    assert!(matches!(err, PlazaError::NotAComponent { .. }));
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");

    let empty = wat::parse_str("(component)").unwrap();
    let err = plaza.load_plugin(&empty, "empty.wasm").await.unwrap_err();
    assert!(matches!(err, PlazaError::WrongWorld { .. }));
    assert_eq!(
        err.to_string(),
        "plugin empty.wasm does not implement a supported Plaza world: missing export(s) describe, \
         handle-event, review-message of the plaza:plugin/plugin world (it exports: nothing)"
    );

    let http = wat::parse_str(r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#).unwrap();
    let err = plaza.load_plugin(&http, "net.wasm").await.unwrap_err();
    assert!(err.to_string().contains("wasi:http/outgoing-handler@0.2.0"), "{err}");

    let future = wat::parse_str(r#"(component (import "plaza:plugin/types@9.0.0" (instance)))"#).unwrap();
    let err = plaza.load_plugin(&future, "future.wasm").await.unwrap_err();
    assert!(err.to_string().contains("built against plaza:plugin@9.0.0"), "{err}");

    let err = plaza.load_plugin_file("/nonexistent/p.wasm").await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read plugin file /nonexistent/p.wasm"),
        "{err}"
    );
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    use plaza_host::engine::CacheStatus;
    let dir = tempfile::tempdir().unwrap();
    let config = || plaza_host::PlazaConfig {
        engine: plaza_host::engine::EngineSettings {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
        ..Default::default()
    };
    let first = plaza_host::Plaza::new(config()).unwrap();
    assert_eq!(load(&first, plaza_tests::PROBE).await.cache, CacheStatus::Miss);
    let second = plaza_host::Plaza::new(config()).unwrap();
    assert_eq!(load(&second, plaza_tests::PROBE).await.cache, CacheStatus::Hit);
    // A damaged entry is recompiled, not trusted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = plaza_host::Plaza::new(config()).unwrap();
    assert_eq!(load(&third, plaza_tests::PROBE).await.cache, CacheStatus::Miss);
}
