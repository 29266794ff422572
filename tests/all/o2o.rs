//! The online-to-offline samples in the real host: group-buy ordering from the loopback
//! merchant (plain HTTP and HTTPS) with the install's secret, exactly once across redelivery,
//! and daily-digest's timer.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use plaza_host::dispatch::RetryPolicy;
use plaza_host::engine::EngineSettings;
use plaza_host::event::Event;
use plaza_host::host_api::http::policy::{AddressAllow, NetworkPolicy};
use plaza_host::host_api::http::HttpSettings;
use plaza_host::runtime::Plugin;
use plaza_host::storage::admin::AuditQuery;
use plaza_host::{InvocationReport, Plaza, PlazaConfig};

use crate::common::*;
use crate::merchant::{test_certs, Merchant};

const C: &str = "o2o";
const GROUP_BUY: &str = "group-buy";
const MERCHANT: &str = "api.merchant.example";
const KEY: &str = "sk_test_12345678";

fn host(http: HttpSettings, retry: RetryPolicy) -> Plaza {
    Plaza::new(PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        retry,
        http,
        ..PlazaConfig::default()
    })
    .expect("starting Plaza")
}

/// group-buy installed in [`C`] with `grants`, ordering from `merchant_url`, and the merchant key
/// set as its secret (scoped to the merchant) unless `secret` is false.
async fn group_buy(plaza: &Plaza, grants: &str, merchant_url: &str, secret: bool) -> Arc<Plugin> {
    let plugin = load_sample(plaza, plaza_tests::GROUP_BUY, GROUP_BUY).await;
    install_with(plaza, C, &plugin, grants, config(&[("merchant_url", merchant_url)])).await;
    if secret {
        plaza
            .set_secret(C, GROUP_BUY, "merchant_key", KEY, &[MERCHANT.to_string()])
            .unwrap();
    }
    plugin
}

/// `/groupbuy "green tea" 4.20 3` by ada, then ann and bob join; returns the event of cy's
/// join, which reaches the minimum, undelivered.
async fn two_of_three(plaza: &Plaza, ev: &mut Events) -> Event {
    for (id, who, text) in [
        ("m1", "ada", r#"/groupbuy "green tea" 4.20 3"#),
        ("m2", "ann", "/join 1"),
        ("m3", "bob", "/join"),
    ] {
        let r = plaza.dispatch(ev.message(id, who, text)).await.unwrap();
        let r = only(&r.invocations, GROUP_BUY);
        assert!(r.outcome.is_ok(), "{r:#?}");
        assert!(r.http.is_empty(), "no order before the minimum");
    }
    ev.message("m4", "cy", "/join 1")
}

fn confirmations(plaza: &Plaza) -> Vec<String> {
    plaza
        .store()
        .messages(C)
        .into_iter()
        .filter(|m| m.posted_by_plugin.as_deref() == Some(GROUP_BUY) && m.text.starts_with('✅'))
        .map(|m| m.text)
        .collect()
}

/// The secret's value is nowhere the host keeps or shows things: reports, logs, audit, stored
/// messages, the plugin's KV.
fn assert_secret_kept(plaza: &Plaza, reports: &[&InvocationReport]) {
    for r in reports {
        let json = serde_json::to_string(r).unwrap();
        assert!(!json.contains(KEY), "the report shows the secret: {json}");
        assert!(logs(r).iter().all(|l| !l.contains(KEY)));
    }
    let audit = plaza.audit_log(&AuditQuery::default()).unwrap();
    let audit_text = format!("{audit:?}");
    assert!(
        !audit_text.contains(KEY),
        "the audit log shows the secret: {audit_text}"
    );
    assert!(
        audit.iter().any(|e| e.detail.contains("merchant_key")),
        "setting the secret is audited by name: {audit:#?}"
    );
    for m in plaza.store().messages(C) {
        assert!(!m.text.contains(KEY), "{m:?}");
    }
    for key in plaza.store().kv_keys(C, GROUP_BUY, "", None, 1000) {
        let value = plaza.store().kv_get(C, GROUP_BUY, &key).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&value).contains(KEY), "{key}");
    }
}

#[tokio::test]
async fn group_buy_orders_once_from_the_merchant_with_the_install_secret() {
    let merchant = Merchant::start(KEY).await;
    let plaza = host(HttpSettings::loopback_for_tests(&[MERCHANT]), RetryPolicy::no_retries());
    let url = format!("http://{MERCHANT}:{}", merchant.port());
    group_buy(&plaza, "all", &url, true).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;

    let r = plaza.dispatch(last).await.unwrap();
    let report = only(&r.invocations, GROUP_BUY);
    assert!(report.outcome.is_ok(), "{report:#?}");
    assert_eq!(report.http.len(), 1, "{report:#?}");
    assert_eq!(report.http[0].status, Some(201));
    let text = sent(report);
    assert_eq!(
        text,
        ["✅ Group buy #1 is complete: ordered 3 × green tea at 4.20 (total 12.60). Merchant order: ord-1."]
    );

    let orders = merchant.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    let seen = merchant.requests();
    assert_eq!(seen.len(), 1);
    let order = &seen[0];
    assert_eq!((order.method.as_str(), order.path.as_str()), ("POST", "/orders"));
    assert_eq!(order.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(order.header("content-type"), Some("application/json"));
    let key = order.header("idempotency-key").unwrap();
    assert!(key.starts_with("groupbuy-"), "{key}");
    let body = order.json();
    let pseudonyms: Vec<String> = ["ann", "bob", "cy"]
        .iter()
        .map(|m| plaza.pseudonym_of(C, GROUP_BUY, m))
        .collect();
    assert_eq!(body["item"], "green tea");
    assert_eq!(body["unit_price"], "4.20");
    assert_eq!(body["quantity"], 3);
    assert_eq!(body["participants"], serde_json::json!(pseudonyms));

    // Later joins see the pool closed: no second order.
    let r = plaza.dispatch(ev.message("m5", "dee", "/join 1")).await.unwrap();
    assert!(sent(only(&r.invocations, GROUP_BUY))[0].contains("closed"));
    assert_eq!(merchant.orders().len(), 1);
    assert_eq!(confirmations(&plaza).len(), 1);
    assert_secret_kept(&plaza, &[report]);
}

#[tokio::test]
async fn a_failure_after_the_merchant_committed_is_retried_into_the_same_single_order() {
    let merchant = Merchant::start(KEY).await;
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 5_000,
        max_delay_ms: 60_000,
        jitter_percent: 0,
    };
    let plaza = host(HttpSettings::loopback_for_tests(&[MERCHANT]), retry);
    group_buy(&plaza, "all", &format!("http://{MERCHANT}:{}", merchant.port()), true).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;
    let (t0, event_id) = (last.meta.timestamp_ms, last.meta.id.clone());

    // The merchant stores the order, then answers 500: the handler fails retryably and its
    // effects (cy's join, the "ordered" state, the confirmation) are discarded.
    merchant.fail_next_orders_after_commit(1);
    let r = plaza.dispatch(last).await.unwrap();
    let failed = only(&r.invocations, GROUP_BUY);
    assert!(!failed.outcome.is_ok(), "{failed:#?}");
    assert_eq!(
        failed.http.len(),
        1,
        "the request is reported although the handler failed"
    );
    assert_eq!(failed.http[0].status, Some(500));
    assert_eq!(r.held, [GROUP_BUY], "waits for its retry");
    assert_eq!(merchant.orders().len(), 1);
    assert!(confirmations(&plaza).is_empty());

    // The retry delivers the same event: same key, the merchant replays the order it has.
    let reports = plaza.deliver_due(t0 + 5_000).await.unwrap();
    assert_eq!(reports.len(), 1);
    let retried = &reports[0];
    assert_eq!(retried.event_id, event_id);
    assert!(retried.outcome.is_ok(), "{retried:#?}");
    assert!(
        sent(retried)[0].contains("Merchant order: ord-1."),
        "{:?}",
        sent(retried)
    );

    assert_eq!(merchant.orders().len(), 1, "exactly one order");
    let seen = merchant.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("idempotency-key"), seen[1].header("idempotency-key"));
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(confirmations(&plaza).len(), 1, "exactly one confirmation");
    assert_secret_kept(&plaza, &[failed, retried]);
}

#[tokio::test]
async fn without_the_grant_or_the_secret_the_pool_fails_cleanly_and_nothing_is_ordered() {
    let merchant = Merchant::start(KEY).await;
    let url = format!("http://{MERCHANT}:{}", merchant.port());

    // No http:fetch grant.
    let plaza = host(HttpSettings::loopback_for_tests(&[MERCHANT]), RetryPolicy::no_retries());
    group_buy(&plaza, "commands,storage:kv,messages:send", &url, false).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;
    let r = plaza.dispatch(last).await.unwrap();
    let report = only(&r.invocations, GROUP_BUY);
    assert!(report.outcome.is_ok(), "{report:#?}");
    let text = sent(report).join("\n");
    assert!(
        text.starts_with("❌ Group buy #1") && text.contains("http:fetch"),
        "{text}"
    );
    assert!(
        report.denied.iter().any(|d| d.capability == "http:fetch"),
        "{report:#?}"
    );

    // Granted, but no secret set.
    let plaza = host(HttpSettings::loopback_for_tests(&[MERCHANT]), RetryPolicy::no_retries());
    group_buy(&plaza, "all", &url, false).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;
    let r = plaza.dispatch(last).await.unwrap();
    let report = only(&r.invocations, GROUP_BUY);
    assert!(report.outcome.is_ok(), "{report:#?}");
    let text = sent(report).join("\n");
    assert!(
        text.starts_with("❌ Group buy #1") && text.contains("merchant_key"),
        "{text}"
    );
    assert!(
        text.contains("the request was invalid ("),
        "the host's reason is passed on: {text}"
    );
    assert_eq!(report.http.len(), 1, "{report:#?}");
    assert!(report.http[0].refused.is_some() && report.http[0].status.is_none());
    assert!(merchant.requests().is_empty(), "nothing reached the merchant");
    assert!(merchant.orders().is_empty());
}

#[tokio::test]
async fn group_buy_orders_over_https_from_a_merchant_with_a_test_ca() {
    let certs = test_certs(&[MERCHANT]);
    let merchant = Merchant::start_tls(KEY, &certs.cert_pem, &certs.key_pem).await;
    let loopback: IpAddr = [127, 0, 0, 1].into();
    let http = HttpSettings {
        policy: NetworkPolicy {
            allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap(),
            ..NetworkPolicy::default()
        },
        resolve: BTreeMap::from([(MERCHANT.to_string(), vec![loopback])]),
        extra_roots_pem: vec![certs.ca_pem.clone()],
        ..HttpSettings::default()
    };
    let https_only = http.clone();
    let plaza = host(http, RetryPolicy::no_retries());
    group_buy(&plaza, "all", &format!("https://{MERCHANT}:{}", merchant.port()), true).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;
    let r = plaza.dispatch(last).await.unwrap();
    let report = only(&r.invocations, GROUP_BUY);
    assert!(report.outcome.is_ok(), "{report:#?}");
    assert!(sent(report)[0].contains("Merchant order: ord-1."), "{report:#?}");
    assert_eq!(merchant.orders().len(), 1);
    assert_eq!(
        merchant.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_secret_kept(&plaza, &[report]);

    // These settings allow no plain HTTP: the same order over http:// is refused before it
    // leaves the host, and the pool fails with an explanation.
    let plaza = host(https_only, RetryPolicy::no_retries());
    group_buy(&plaza, "all", &format!("http://{MERCHANT}:{}", merchant.port()), true).await;
    let mut ev = Events::new(C);
    let last = two_of_three(&plaza, &mut ev).await;
    let r = plaza.dispatch(last).await.unwrap();
    let report = only(&r.invocations, GROUP_BUY);
    assert!(report.outcome.is_ok(), "{report:#?}");
    assert!(sent(report)[0].starts_with("❌ Group buy #1"), "{report:#?}");
    assert!(report.http[0].denied && report.http[0].status.is_none(), "{report:#?}");
    assert_eq!(merchant.requests().len(), 1, "nothing more reached the merchant");
}

#[tokio::test]
async fn daily_digest_posts_the_days_counts_and_schedules_the_next_day() {
    let plaza = host(HttpSettings::default(), RetryPolicy::no_retries());
    let digest = load_sample(&plaza, plaza_tests::DAILY_DIGEST, "daily-digest").await;
    install_with(
        &plaza,
        C,
        &digest,
        "all",
        config(&[("channel", "news"), ("hour_utc", "18")]),
    )
    .await;
    let timer_id = |plaza: &Plaza| {
        String::from_utf8(
            plaza
                .store()
                .kv_get(C, "daily-digest", "timer/id")
                .expect("a pending timer"),
        )
        .unwrap()
    };
    let first = plaza.store().timer(&timer_id(&plaza)).expect("the digest timer");
    assert_eq!(first.name, "daily-digest");
    assert_eq!(first.due_ms % 86_400_000, 18 * 3_600_000, "at 18:00 UTC");

    let mut ev = Events::new(C);
    for (id, who, text) in [("m1", "ann", "hi"), ("m2", "bob", "hello"), ("m3", "ann", "lunch?")] {
        plaza.dispatch(ev.message(id, who, text)).await.unwrap();
    }
    plaza.dispatch(ev.joined("cy")).await.unwrap();
    plaza
        .dispatch(
            ev.parse(r#"{"type":"reaction-added","channel":"general","message_id":"m1","member":"bob","emoji":"👍"}"#),
        )
        .await
        .unwrap();
    plaza
        .dispatch(ev.parse(r#"{"type":"member-left","member":"bob"}"#))
        .await
        .unwrap();

    assert!(plaza.fire_due_timers(first.due_ms - 1).await.unwrap().is_empty());
    let fired = plaza.fire_due_timers(first.due_ms).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert!(fired[0].outcome.is_ok(), "{:#?}", fired[0]);
    let posted = sent(&fired[0]);
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].starts_with("📰 Daily digest for ")
            && posted[0].ends_with(": 3 messages from 2 members, 1 new member joined, 1 member left, 1 reaction."),
        "{posted:?}"
    );
    let stored: Vec<_> = plaza
        .store()
        .messages(C)
        .into_iter()
        .filter(|m| m.posted_by_plugin.as_deref() == Some("daily-digest"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].channel, "news");

    // Tomorrow's timer is pending; the counters start over.
    let next = plaza.store().timer(&timer_id(&plaza)).expect("the next digest timer");
    assert_eq!(next.due_ms, first.due_ms + 86_400_000);
    assert!(plaza.store().kv_get(C, "daily-digest", "count/messages").is_none());
    assert!(
        plaza.fire_due_timers(first.due_ms + 1_000).await.unwrap().is_empty(),
        "fired once"
    );
    let quiet = plaza.fire_due_timers(next.due_ms).await.unwrap();
    assert!(sent(&quiet[0])[0].contains("a quiet day"), "{:?}", sent(&quiet[0]));
}
