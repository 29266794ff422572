//! Bounded instance reuse (`[isolation] mode = "reuse"`): one instance serves one install's
//! events, never another community's; it retires after a trap, after `max-events`, and when
//! the install changes. The probe's `/recall` answers how many times it ran in its instance.

use std::sync::Arc;

use plaza_host::runtime::Plugin;
use plaza_host::Plaza;

use crate::common::*;

/// Four events per instance: `plugin-installed` (delivered at install) and three commands.
const REUSE_4: &str = "\n[isolation]\nmode = \"reuse\"\nmax-events = 4\nmax-seconds = 60\n";

async fn reusing_probe(plaza: &Plaza, isolation: &str) -> Arc<Plugin> {
    let packaged = packaged_probe_with(plaza, &["messages:send"], &["command-invoked"], isolation).await;
    plaza.load_plugin(&packaged, "probe (reuse)").await.unwrap()
}

async fn recall(plaza: &Plaza, ev: &mut Events, id: &str) -> Vec<String> {
    command_in(plaza, ev, id, "/recall").await
}

async fn command_in(plaza: &Plaza, ev: &mut Events, id: &str, text: &str) -> Vec<String> {
    let report = plaza.dispatch(ev.message(id, "alice", text)).await.unwrap();
    sent(only(&report.invocations, "probe"))
}

fn calls(n: u32) -> Vec<String> {
    vec![format!("calls-in-this-instance={n}")]
}

#[tokio::test]
async fn one_instance_serves_one_community_up_to_max_events() {
    let plaza = plaza();
    let probe = reusing_probe(&plaza, REUSE_4).await;
    community_with(&plaza, "a", &probe, "all").await;
    community_with(&plaza, "b", &probe, "all").await;
    let (mut a, mut b) = (Events::new("a"), Events::new("b"));
    assert_eq!(recall(&plaza, &mut a, "a1").await, calls(1));
    assert_eq!(recall(&plaza, &mut a, "a2").await, calls(2));
    assert_eq!(recall(&plaza, &mut a, "a3").await, calls(3));
    // max-events = 4, `plugin-installed` included: the fourth command gets a new instance.
    assert_eq!(recall(&plaza, &mut a, "a4").await, calls(1));
    // Community b never sees a's instance.
    assert_eq!(recall(&plaza, &mut b, "b1").await, calls(1));
    assert_eq!(recall(&plaza, &mut b, "b2").await, calls(2));
}

#[tokio::test]
async fn a_trap_or_a_handler_error_retires_the_instance() {
    let plaza = plaza_without_breaker();
    let probe = reusing_probe(&plaza, REUSE_4).await;
    community_with(&plaza, "a", &probe, "all").await;
    let mut a = Events::new("a");
    assert_eq!(sent(&direct(&plaza, &mut a, "recall").await), calls(1));
    assert_eq!(sent(&direct(&plaza, &mut a, "recall").await), calls(2));
    assert!(direct(&plaza, &mut a, "panic").await.outcome.failure().is_some());
    assert_eq!(sent(&direct(&plaza, &mut a, "recall").await), calls(1));
    assert!(direct(&plaza, &mut a, "fail").await.outcome.failure().is_some());
    assert_eq!(sent(&direct(&plaza, &mut a, "recall").await), calls(1));
}

/// A command delivered straight to the probe (outside the log, so a failure holds nothing back).
async fn direct(plaza: &Plaza, ev: &mut Events, name: &str) -> plaza_host::InvocationReport {
    let event = ev.parse(&format!(
        r#"{{"type":"command-invoked","channel":"general","member":"alice","name":"{name}","args":[]}}"#
    ));
    plaza.deliver_to(&event.meta.community, "probe", &event).await.unwrap()
}

#[tokio::test]
async fn changing_the_install_starts_a_new_instance() {
    let plaza = plaza();
    let probe = reusing_probe(&plaza, REUSE_4).await;
    community_with(&plaza, "a", &probe, "all").await;
    let mut a = Events::new("a");
    assert_eq!(recall(&plaza, &mut a, "a1").await, calls(1));
    assert_eq!(recall(&plaza, &mut a, "a2").await, calls(2));
    plaza.set_enabled("a", "probe", false).unwrap();
    plaza.set_enabled("a", "probe", true).unwrap();
    assert_eq!(recall(&plaza, &mut a, "a3").await, calls(1));
}

#[tokio::test]
async fn without_the_opt_in_every_event_is_fresh_and_limits_are_checked() {
    let plaza = plaza();
    let probe = reusing_probe(&plaza, "").await;
    community_with(&plaza, "a", &probe, "all").await;
    let mut a = Events::new("a");
    for i in 0..3 {
        assert_eq!(recall(&plaza, &mut a, &format!("a{i}")).await, calls(1));
    }
    let err = plaza
        .load_plugin(
            &packaged_probe_with(
                &plaza,
                &[],
                &["command-invoked"],
                "\n[isolation]\nmode = \"reuse\"\nmax-events = 0\n",
            )
            .await,
            "probe (bad isolation)",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("isolation.max-events") && err.contains("out of range"),
        "{err}"
    );
}
