//! Durable delivery through the library API: retries in order, dead letters and replay,
//! idempotent ingest, durable timers, and two hosts sharing one database.

use std::sync::Arc;

use plaza_host::dispatch::RetryPolicy;
use plaza_host::event::Event;
use plaza_host::runtime::report::FailureReason;
use plaza_host::storage::admin::AuditQuery;
use plaza_host::{Plaza, PlazaConfig};

use crate::common::*;

const C: &str = "durable";
const PROBE: &str = "probe";

/// Retries 5 s, 10 s, ... apart (no jitter), `attempts` in all.
fn retrying(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay_ms: 5_000,
        max_delay_ms: 60_000,
        jitter_percent: 0,
    }
}

async fn probe_host(retry: RetryPolicy) -> Plaza {
    let plaza = plaza_with_retries(retry);
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, C, &probe, "all").await;
    plaza
}

fn plugin_messages(plaza: &Plaza) -> Vec<String> {
    plaza
        .store()
        .messages(C)
        .into_iter()
        .filter(|m| m.posted_by_plugin.is_some())
        .map(|m| m.text)
        .collect()
}

#[tokio::test]
async fn a_failed_event_is_retried_after_its_backoff_and_later_events_wait_behind_it() {
    let plaza = probe_host(retrying(3)).await;
    let mut ev = Events::new(C);
    let first = ev.message("m1", "alice", "/flaky 1");
    let t0 = first.meta.timestamp_ms;
    let r = plaza.dispatch(first).await.unwrap();
    let failed = only(&r.invocations, PROBE);
    assert!(!failed.outcome.is_ok());
    assert_eq!(failed.discarded_actions, 1, "the failed attempt's reply is discarded");
    assert_eq!(r.held, [PROBE], "it waits for its retry");

    let r = plaza.dispatch(ev.message("m2", "alice", "/flaky 0")).await.unwrap();
    assert!(r.invocations.is_empty(), "m2 must not overtake m1: {r:#?}");
    assert_eq!(r.held, [PROBE]);
    assert!(plugin_messages(&plaza).is_empty());
    let status = &plaza.delivery_status().unwrap()[0];
    assert_eq!((status.lag, status.failed_attempts), (2, 1));
    assert_eq!(status.next_attempt_ms, Some(t0 + 5_000));
    assert!(status.last_error.as_deref().unwrap().contains("flaky"), "{status:?}");

    assert!(
        plaza.deliver_due(t0 + 4_999).await.unwrap().is_empty(),
        "not before the backoff"
    );
    let reports = plaza.deliver_due(t0 + 5_000).await.unwrap();
    let replies: Vec<Vec<String>> = reports.iter().map(sent).collect();
    assert_eq!(replies, [["done on attempt 2"], ["done on attempt 1"]], "in order");
    assert_eq!(plugin_messages(&plaza), ["done on attempt 2", "done on attempt 1"]);
    let status = &plaza.delivery_status().unwrap()[0];
    assert_eq!((status.lag, status.failed_attempts, status.dead_letters), (0, 0, 0));
}

#[tokio::test]
async fn an_event_failing_every_attempt_is_dead_lettered_then_replayed_after_a_fix() {
    let plaza = probe_host(retrying(2)).await;
    let mut ev = Events::new(C);
    let doomed = ev.message("m1", "alice", "/needs-remembered");
    let (t0, doomed_id) = (doomed.meta.timestamp_ms, doomed.meta.id.clone());
    plaza.dispatch(doomed).await.unwrap();
    let reports = plaza.deliver_due(t0 + 5_000).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].outcome.failure().unwrap().reason, FailureReason::GuestError);

    let dead = plaza.dead_letters(Some(C), Some(PROBE)).unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let attempts: Vec<(u32, &str)> = dead[0]
        .failures
        .iter()
        .map(|f| (f.attempt, f.reason.as_str()))
        .collect();
    assert_eq!(attempts, [(1, "guest-error"), (2, "guest-error")]);
    assert!(dead[0].failures[1].message.contains("nothing remembered yet"));
    assert_eq!(dead[0].event.meta.id, doomed_id);
    let audit = plaza
        .audit_log(&AuditQuery {
            community: Some(C.into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(audit.iter().any(|e| e.kind == "dead-letter"), "{audit:#?}");

    // Skip and continue: the next event is delivered; it also fixes what the first lacked.
    let r = plaza
        .dispatch(ev.message("m2", "alice", "/remember fixed"))
        .await
        .unwrap();
    assert!(only(&r.invocations, PROBE).outcome.is_ok());
    assert!(r.held.is_empty());

    let (_, replayed) = plaza.replay_dead_letter(dead[0].id).await.unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].event_id, doomed_id, "a replay keeps the event's id");
    assert_eq!(sent(&replayed[0]), ["remembered fixed"]);
    assert!(plaza.dead_letters(Some(C), None).unwrap().is_empty());
    assert!(plaza.replay_dead_letter(dead[0].id).await.is_err(), "replayed once");
}

#[tokio::test]
async fn a_resent_event_is_accepted_once() {
    let plaza = probe_host(retrying(1)).await;
    let mut ev = Events::new(C);
    let event = ev.message("m1", "alice", "/flaky 0");
    let first = plaza.dispatch(event.clone()).await.unwrap();
    assert_eq!(first.invocations.len(), 1);
    let again = plaza.dispatch(event.clone()).await.unwrap();
    assert!(again.duplicate && again.invocations.is_empty(), "{again:#?}");
    assert_eq!(again.event.meta.sequence, first.event.meta.sequence);
    let accepted = plaza.accept(vec![event]).await;
    assert_eq!(
        accepted[0].as_ref().unwrap(),
        &plaza_host::dispatch::Acceptance::Duplicate {
            sequence: first.event.meta.sequence
        }
    );
    assert_eq!(plugin_messages(&plaza), ["done on attempt 1"]);
}

/// A host on a data directory, with the probe installed in [`C`].
async fn persistent_host(dir: &std::path::Path) -> Plaza {
    let config = PlazaConfig {
        retry: retrying(3),
        ..PlazaConfig::default()
    };
    Plaza::open(dir, config).await.unwrap()
}

#[tokio::test]
async fn timers_survive_a_restart_and_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let due = {
        let plaza = persistent_host(dir.path()).await;
        plaza.create_community(C).unwrap();
        let probe = load(&plaza, plaza_tests::PROBE).await;
        install_with(&plaza, C, &probe, "all", Vec::new()).await;
        let r = plaza
            .dispatch(Events::new(C).message("m1", "alice", "/timer 60000"))
            .await
            .unwrap();
        assert!(only(&r.invocations, PROBE).outcome.is_ok());
        let timer = plaza.store().due_timers(u64::MAX).pop().expect("a timer");
        // Fire it into the log, then "crash" before delivering it.
        assert_eq!(plaza.enqueue_due_timers(timer.due_ms).unwrap(), [C]);
        timer.due_ms
    };
    let plaza = persistent_host(dir.path()).await;
    assert!(
        plaza.store().due_timers(u64::MAX).is_empty(),
        "marked fired with the append"
    );
    let reports = plaza.deliver_due(due).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].event_type, "timer-fired");
    assert!(plaza.fire_due_timers(due + 3_600_000).await.unwrap().is_empty());
    drop(plaza);
    let plaza = persistent_host(dir.path()).await;
    assert!(
        plaza.deliver_due(due + 3_600_000).await.unwrap().is_empty(),
        "fired once"
    );
}

#[tokio::test]
async fn two_hosts_on_one_database_deliver_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let plaza = persistent_host(dir.path()).await;
        plaza.create_community(C).unwrap();
        let probe = load(&plaza, plaza_tests::PROBE).await;
        install_with(&plaza, C, &probe, "all", Vec::new()).await;
        let mut ev = Events::new(C);
        let events: Vec<Event> = (0..40)
            .map(|i| ev.message(&format!("m{i}"), "alice", "/flaky 0"))
            .collect();
        plaza.append_events(&events).unwrap();
    }
    let a = Arc::new(persistent_host(dir.path()).await);
    let b = Arc::new(persistent_host(dir.path()).await);
    let now = u64::MAX / 2;
    let (ra, rb) = tokio::join!(a.deliver_due(now), b.deliver_due(now));
    let committed = ra.unwrap().len() + rb.unwrap().len();
    assert_eq!(committed, 40, "each event committed by exactly one host");
    let texts = plugin_messages(&a);
    assert_eq!(texts.len(), 40);
    let status = &a.delivery_status().unwrap()[0];
    assert_eq!(status.lag, 0);
}

#[tokio::test]
async fn a_host_sees_admin_changes_made_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let serving = persistent_host(dir.path()).await;
    serving.create_community(C).unwrap();
    let probe = load(&serving, plaza_tests::PROBE).await;
    install_with(&serving, C, &probe, "all", Vec::new()).await;
    let grants = serving.installs(C).unwrap()[0].grants.clone();
    serving.refresh_installs().await.unwrap(); // its own changes count too
    assert!(!serving.refresh_installs().await.unwrap(), "nothing changed since");

    let admin = persistent_host(dir.path()).await;
    admin.revoke(C, PROBE, &[plaza_host::Capability::MessagesSend]).unwrap();
    assert!(serving.refresh_installs().await.unwrap());
    assert!(
        !grants.snapshot().contains(plaza_host::Capability::MessagesSend),
        "the live grant handle itself changed, so running invocations see it"
    );
    let r = serving
        .dispatch(Events::new(C).message("m1", "alice", "/flaky 0"))
        .await
        .unwrap();
    let report = only(&r.invocations, PROBE);
    assert!(sent(report).is_empty());
    assert_eq!(report.denied[0].capability, "messages:send");

    admin.uninstall(C, PROBE).await.unwrap();
    assert!(serving.refresh_installs().await.unwrap());
    assert!(serving.installs(C).unwrap().is_empty());
}

#[tokio::test]
async fn an_error_the_plugin_marks_final_is_not_retried() {
    let plaza = probe_host(retrying(5)).await;
    let mut ev = Events::new(C);
    let r = plaza.dispatch(ev.message("m1", "alice", "/fail")).await.unwrap();
    let failure = only(&r.invocations, PROBE).outcome.failure().unwrap();
    assert!(!failure.retryable);
    assert!(r.held.is_empty(), "dead-lettered at once, nothing waits: {r:#?}");
    let dead = plaza.dead_letters(Some(C), Some(PROBE)).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].failures.len(), 1);
    let r = plaza.dispatch(ev.message("m2", "alice", "/flaky 0")).await.unwrap();
    assert_eq!(sent(only(&r.invocations, PROBE)), ["done on attempt 1"]);
}
