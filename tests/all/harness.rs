//! The library test harness (`plaza_host::harness`), as a plugin developer uses it for
//! conformance tests in Rust: a community, installs with grants, events at a deterministic time,
//! assertions on actions, KV, posted messages and the audit log.

use plaza_host::harness::{Harness, START_MS};
use plaza_host::{Action, GrantSet};

use crate::common::load_sample;

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_runs_on_the_harness_clock() -> anyhow::Result<()> {
    let mut h = Harness::new()?;
    let poll = load_sample(h.plaza(), plaza_tests::POLL, "poll").await;
    let installed = h.install(&poll, "all").await?;
    assert!(installed.outcome.is_ok(), "{installed:?}");

    let report = h.say("alice", "/poll Lunch? pizza sushi").await?;
    let r = &report.invocations[0];
    assert!(r.outcome.is_ok(), "{r:?}");
    assert_eq!(
        report.event.meta.timestamp_ms, START_MS,
        "events carry the harness clock"
    );
    assert!(
        r.actions.iter().any(|a| matches!(a, Action::SendMessage { .. })),
        "{:?}",
        r.actions
    );
    assert_eq!(h.sent_texts().len(), 1, "{:?}", h.sent_texts());
    let stored = h.plaza().store().kv_keys(h.community(), "poll", "", None, 100);
    assert!(!stored.is_empty(), "the poll is kept in KV");

    // Nothing fires before its time; moving the clock fires what fell due.
    let advanced = h.advance(1_000).await?;
    assert!(advanced.is_empty(), "{advanced:?}");
    assert_eq!(h.now_ms(), START_MS + 1_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_redeliveries_and_the_audit_log() -> anyhow::Result<()> {
    let mut h = Harness::new()?;
    let welcome = load_sample(h.plaza(), plaza_tests::WELCOME_BOT, "welcome-bot").await;
    h.install(&welcome, "all").await?;
    let joined = h.event("member-joined").member("zoe").id("join-1").build()?;
    let first = h.dispatch(joined.clone()).await?;
    assert!(first.invocations[0].outcome.is_ok(), "{first:?}");

    // The log drops an id it has seen; a redelivery goes to the plugin anyway.
    assert!(h.dispatch(joined.clone()).await?.duplicate);
    let mut again = joined;
    again.meta.attempt = 2;
    let redelivered = h
        .redeliver("welcome-bot", &again)
        .await?
        .expect("welcome-bot subscribes to joins");
    assert!(redelivered.outcome.is_ok(), "{redelivered:?}");

    // Revoking storage:kv: its KV calls are denied and audited, and it copes.
    let mut grants = welcome.requested();
    grants.remove(plaza_host::Capability::StorageKv);
    h.set_grants("welcome-bot", grants)?;
    let r = h.join("yan").await?;
    let r = &r.invocations[0];
    assert!(r.outcome.is_ok(), "{r:?}");
    assert!(r.denied.iter().any(|d| d.capability == "storage:kv"), "{:?}", r.denied);
    let audit = h.audit()?;
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "revoke" && e.capability.as_deref() == Some("storage:kv")),
        "{audit:?}"
    );
    assert!(
        h.set_grants("welcome-bot", GrantSet::parse_list("http:fetch")?)
            .is_err(),
        "not requested"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_harnesses_fed_alike_see_the_same_effects() -> anyhow::Result<()> {
    let mut effects = Vec::new();
    for _ in 0..2 {
        let mut h = Harness::new()?;
        let spam = load_sample(h.plaza(), plaza_tests::ANTI_SPAM, "anti-spam").await;
        h.install(&spam, "all").await?;
        let mut seen = Vec::new();
        for (i, text) in [
            "hi",
            "https://a.example https://b.example https://c.example https://d.example",
        ]
        .into_iter()
        .enumerate()
        {
            let event = h
                .event("message-posted")
                .id(&format!("e{i}"))
                .author("mallory")
                .text(text)
                .build()?;
            seen.push(serde_json::to_string(&h.dispatch(event).await?.invocations[0].actions)?);
            h.advance(5_000).await?;
        }
        effects.push(seen);
    }
    assert!(effects[0].iter().any(|e| e != "[]"), "{effects:?}");
    assert_eq!(effects[0], effects[1]);
    Ok(())
}
