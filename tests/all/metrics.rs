//! Metrics and structured logs through the library: counters, histograms and gauges after real
//! deliveries, read back by parsing the Prometheus text; and the invocation span's fields on
//! the log lines written while a plugin runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use plaza_host::dispatch::{Acceptance, BreakerSettings, RetryPolicy};
use plaza_host::engine::EngineSettings;
use plaza_host::runtime::Limits;
use plaza_host::{Plaza, PlazaConfig};

use crate::common::*;

const C: &str = "metered";
const PROBE: &str = "probe";

// ---------------------------------------------------------------------------------------------
// A small parser for the text exposition format
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: each family's HELP and TYPE, and every sample.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

/// Reads a quoted label value from `rest` (just after the opening quote), undoing the escapes;
/// answers the value and what follows the closing quote.
fn label_value(rest: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &rest[i + 1..]),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => value.push('\n'),
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                other => panic!("bad escape \\{other:?} in {rest}"),
            },
            c => value.push(c),
        }
    }
    panic!("unterminated label value: {rest}");
}

/// The family a sample belongs to: histogram series carry a suffix.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    if types.contains_key(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base;
            }
        }
    }
    panic!("sample {name} has no TYPE line before it");
}

fn parse(text: &str) -> Exposition {
    let mut exp = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!exp.types.contains_key(name), "HELP after TYPE for {name}");
            exp.helps.insert(name.to_string(), help.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(exp.helps.contains_key(name), "TYPE without HELP for {name}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "unexpected type {kind}"
            );
            assert!(
                exp.types.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} twice"
            );
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let name_end = line.find(['{', ' ']).expect("a sample name");
        let name = &line[..name_end];
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(mut inner) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inner.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (label, after) = inner.split_once("=\"").expect("label=\"value\"");
                let (value, after) = label_value(after);
                assert!(labels.insert(label.to_string(), value).is_none(), "{label} twice");
                inner = after.strip_prefix(',').unwrap_or(after);
            }
        }
        let value = rest.strip_prefix(' ').expect("a space before the value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        family_of(name, &exp.types);
        exp.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    exp
}

impl Exposition {
    /// The samples of `name` whose labels include `labels`.
    fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one series with exactly these labels, if present.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self
            .matching(name, labels)
            .filter(|s| s.labels.len() == labels.len())
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} appears {} times", found.len());
        found.first().map(|s| s.value)
    }

    /// Like [`get`](Self::get), 0 when the series is absent (a counter not incremented yet).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// Every `le` bucket of one histogram series, in order, checked against `_count`.
    fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let buckets: Vec<(f64, f64)> = self
            .matching(&bucket, labels)
            .filter(|s| s.labels.len() == labels.len() + 1)
            .map(|s| {
                let le = &s.labels["le"];
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (bound, s.value)
            })
            .collect();
        assert!(!buckets.is_empty(), "no buckets for {name} {labels:?}");
        for pair in buckets.windows(2) {
            assert!(pair[0].0 < pair[1].0, "bounds ascend: {buckets:?}");
            assert!(pair[0].1 <= pair[1].1, "buckets are cumulative: {buckets:?}");
        }
        let (last_bound, last) = *buckets.last().unwrap();
        assert_eq!(last_bound, f64::INFINITY, "+Inf comes last");
        assert_eq!(Some(last), self.get(&format!("{name}_count"), labels), "+Inf == _count");
        buckets
    }
}

fn invocations(exp: &Exposition, export: &str) -> f64 {
    exp.count(
        "plaza_invocation_duration_seconds_count",
        &[("plugin", PROBE), ("export", export)],
    )
}

fn assert_send<T: Send>(_: T) {}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_count_ingest_deliveries_failures_reviews_and_lag() {
    let plaza = plaza_with_retries(RetryPolicy {
        max_attempts: 2,
        base_delay_ms: 5_000,
        max_delay_ms: 60_000,
        jitter_percent: 0,
    });
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, C, &probe, "all").await;
    // Background delivery and `plaza serve` run these on other threads.
    assert_send(plaza.accept(Vec::new()));
    assert_send(plaza.deliver_due(0));
    let before = parse(&plaza.render_metrics());
    let handled_before = invocations(&before, "handle-event");

    let mut ev = Events::new(C);
    let m1 = ev.message("m1", "alice", "/send hello");
    let t0 = m1.meta.timestamp_ms;
    assert!(only(&plaza.dispatch(m1.clone()).await.unwrap().invocations, PROBE)
        .outcome
        .is_ok());
    assert!(plaza.dispatch(m1.clone()).await.unwrap().duplicate);
    let r = plaza.dispatch(ev.message("m2", "alice", "/panic")).await.unwrap();
    assert!(!only(&r.invocations, PROBE).outcome.is_ok(), "attempt 1 fails");
    let r = plaza.dispatch(ev.message("m3", "alice", "/send later")).await.unwrap();
    assert_eq!(r.held, [PROBE], "m3 waits behind m2's retry");

    let lab = [("community", C), ("plugin", PROBE)];
    let outcome = |o: &'static str| [("community", C), ("plugin", PROBE), ("outcome", o)];
    let mid = parse(&plaza.render_metrics());
    assert_eq!(mid.count("plaza_events_ingested_total", &[("community", C)]), 3.0);
    assert_eq!(mid.count("plaza_events_duplicate_total", &[("community", C)]), 1.0);
    assert_eq!(mid.count("plaza_deliveries_total", &outcome("ok")), 1.0);
    assert_eq!(mid.count("plaza_deliveries_total", &outcome("failed")), 1.0);
    assert_eq!(mid.get("plaza_deliveries_total", &outcome("dead_letter")), None);
    let trap = [("plugin", PROBE), ("reason", "guest-trap")];
    assert_eq!(mid.count("plaza_invocation_failures_total", &trap), 1.0);
    assert_eq!(mid.get("plaza_lag_events", &lab), Some(2.0), "m2 and m3 wait");
    assert_eq!(mid.get("plaza_breaker_open", &lab), Some(0.0));
    assert_eq!(mid.get("plaza_dead_letters", &lab), Some(0.0));
    assert_eq!(invocations(&mid, "handle-event") - handled_before, 2.0);

    // m2's second attempt panics too and is given up on; m3 follows. m4 fails for good at once.
    let reports = plaza.deliver_due(t0 + 60_000).await.unwrap();
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let r = plaza.dispatch(ev.message("m4", "alice", "/fail")).await.unwrap();
    assert!(!only(&r.invocations, PROBE).outcome.is_ok());
    // Through accept: a duplicate, a rejected message, and a reviewer that panics (fail-open).
    let answers = plaza
        .accept(vec![
            m1,
            ev.message("m5", "bob", "a forbidden word"),
            ev.message("m6", "bob", "review-panic"),
        ])
        .await;
    let answers: Vec<Acceptance> = answers.into_iter().map(Result::unwrap).collect();
    assert!(matches!(answers[0], Acceptance::Duplicate { .. }), "{answers:?}");
    assert!(matches!(answers[1], Acceptance::Rejected { .. }), "{answers:?}");
    assert!(matches!(answers[2], Acceptance::Accepted { .. }), "{answers:?}");
    assert_eq!(
        plaza.deliver_due(t0 + 60_000).await.unwrap().len(),
        1,
        "m6 is delivered"
    );

    let after = parse(&plaza.render_metrics());
    let community = [("community", C)];
    assert_eq!(after.count("plaza_events_ingested_total", &community), 5.0, "m1-m4, m6");
    assert_eq!(after.count("plaza_events_duplicate_total", &community), 2.0);
    assert_eq!(after.count("plaza_events_rejected_total", &community), 1.0);
    assert_eq!(after.count("plaza_deliveries_total", &outcome("ok")), 3.0, "m1, m3, m6");
    assert_eq!(after.count("plaza_deliveries_total", &outcome("failed")), 1.0);
    assert_eq!(
        after.count("plaza_deliveries_total", &outcome("dead_letter")),
        2.0,
        "m2, m4"
    );
    assert_eq!(
        after.count("plaza_invocation_failures_total", &trap),
        3.0,
        "m2 twice and the review"
    );
    let guest_error = [("plugin", PROBE), ("reason", "guest-error")];
    assert_eq!(after.count("plaza_invocation_failures_total", &guest_error), 1.0);
    assert_eq!(after.get("plaza_lag_events", &lab), Some(0.0));
    assert_eq!(after.get("plaza_dead_letters", &lab), Some(2.0));
    assert_eq!(after.get("plaza_breaker_open", &lab), Some(0.0));

    // The histograms: every invocation counted once, in cumulative buckets.
    assert_eq!(invocations(&after, "handle-event") - handled_before, 6.0);
    assert_eq!(invocations(&after, "review-message"), 2.0, "m5 and m6 were reviewed");
    for export in ["handle-event", "review-message"] {
        let labels = [("plugin", PROBE), ("export", export)];
        let buckets = after.buckets("plaza_invocation_duration_seconds", &labels);
        assert_eq!(buckets.len(), 17, "100 µs .. 10 s and +Inf");
        assert_eq!(buckets[0].0, 0.0001);
        assert_eq!(buckets[15].0, 10.0);
        let sum = after.get("plaza_invocation_duration_seconds_sum", &labels).unwrap();
        assert!(sum > 0.0 && sum < 60.0, "{sum}");
    }
    let wall: f64 = after
        .matching("plaza_invocation_duration_seconds_sum", &[("plugin", PROBE)])
        .map(|s| s.value)
        .sum();
    let cpu = after.get("plaza_cpu_seconds_total", &[("plugin", PROBE)]).unwrap();
    assert!(
        cpu > 0.0 && cpu <= wall,
        "time on a thread {cpu} within the wall clock {wall}"
    );
    assert_eq!(
        after.matching("plaza_fuel_consumed_total", &[]).count(),
        0,
        "fuel is not metered"
    );
    for family in ["plaza_fuel_consumed_total", "plaza_breaker_open", "plaza_lag_events"] {
        assert!(
            after.helps.contains_key(family) && after.types.contains_key(family),
            "{family}"
        );
    }
}

#[tokio::test]
async fn the_breaker_gauge_and_lag_show_a_quarantined_install() {
    let plaza = Plaza::new(PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        breaker: BreakerSettings {
            failures: 1,
            ..BreakerSettings::default()
        },
        retry: RetryPolicy::no_retries(),
        ..PlazaConfig::default()
    })
    .unwrap();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, C, &probe, "all").await;
    let mut ev = Events::new(C);
    plaza.dispatch(ev.message("m1", "alice", "/fail")).await.unwrap();
    let r = plaza.dispatch(ev.message("m2", "alice", "/send x")).await.unwrap();
    assert_eq!(r.held, [PROBE], "quarantined");
    let exp = parse(&plaza.render_metrics());
    let lab = [("community", C), ("plugin", PROBE)];
    assert_eq!(exp.get("plaza_breaker_open", &lab), Some(1.0));
    assert_eq!(exp.get("plaza_lag_events", &lab), Some(1.0));
    assert_eq!(exp.get("plaza_dead_letters", &lab), Some(1.0));

    plaza.reset_breaker(C, PROBE).await.unwrap();
    let exp = parse(&plaza.render_metrics());
    assert_eq!(exp.get("plaza_breaker_open", &lab), Some(0.0));
    assert_eq!(exp.get("plaza_lag_events", &lab), Some(0.0));
}

#[tokio::test]
async fn fuel_is_counted_per_plugin_when_metering_is_on() {
    let plaza = Plaza::new(PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            fuel: true,
            ..EngineSettings::default()
        },
        limits: Limits {
            fuel: Some(50_000_000),
            cpu_ms: 5_000,
            wall_clock_ms: 10_000,
            ..Limits::default()
        },
        retry: RetryPolicy::no_retries(),
        ..PlazaConfig::default()
    })
    .unwrap();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, C, &probe, "all").await;
    let mut ev = Events::new(C);
    let fuel = |plaza: &Plaza| {
        parse(&plaza.render_metrics())
            .get("plaza_fuel_consumed_total", &[("plugin", PROBE)])
            .unwrap_or(0.0)
    };
    let start = fuel(&plaza);
    plaza.dispatch(ev.message("m1", "alice", "/send hi")).await.unwrap();
    let after_send = fuel(&plaza);
    assert!(
        after_send > start,
        "a small handler uses some fuel: {start} -> {after_send}"
    );
    assert!(after_send - start < 50_000_000.0);

    plaza.dispatch(ev.message("m2", "alice", "/loop")).await.unwrap();
    let exp = parse(&plaza.render_metrics());
    let reason = [("plugin", PROBE), ("reason", "fuel-budget")];
    assert_eq!(exp.count("plaza_invocation_failures_total", &reason), 1.0);
    let used = exp.get("plaza_fuel_consumed_total", &[("plugin", PROBE)]).unwrap() - after_send;
    assert_eq!(used, 50_000_000.0, "the loop used its whole budget");
}

// ---------------------------------------------------------------------------------------------
// Structured logs
// ---------------------------------------------------------------------------------------------

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    /// Every line written, as JSON.
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

/// The invocation span's fields on `line`.
fn span_of(line: &serde_json::Value) -> (&str, &str, &str, &str, u64, &str) {
    let span = &line["span"];
    assert_eq!(span["name"], "invocation", "{line}");
    (
        span["plugin"].as_str().unwrap(),
        span["version"].as_str().unwrap(),
        span["community"].as_str().unwrap(),
        span["event_id"].as_str().unwrap(),
        span["attempt"].as_u64().unwrap(),
        span["export"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn log_lines_carry_the_invocation_span_and_keep_message_texts_out_of_info() {
    let plaza = plaza();
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, C, &probe, "all").await;

    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .finish();
    // This test runs on one thread (tokio's current-thread runtime), guests included.
    let _logs = tracing::subscriber::set_default(subscriber);
    // Other tests' threads may have registered a call site (the dead-letter warning) while
    // only subscribers uninterested in it existed; its cached interest would hide it here.
    tracing::callsite::rebuild_interest_cache();

    let mut ev = Events::new(C);
    let joined = ev.joined("alice");
    let joined_id = joined.meta.id.clone();
    plaza.dispatch(joined).await.unwrap();
    plaza
        .dispatch(ev.message("m2", "bob", "some private words"))
        .await
        .unwrap();
    let failing = ev.message("m3", "bob", "/fail");
    let failing_id = failing.meta.id.clone();
    plaza.dispatch(failing).await.unwrap();
    plaza.accept(vec![ev.message("m4", "carol", "a forbidden word")]).await;

    let lines = buffer.lines();
    // The guest's own line, at debug (its level kept in a field), inside the span.
    let guest = lines
        .iter()
        .find(|l| l["target"] == "plaza_host::guest" && message(l).contains("join"))
        .unwrap_or_else(|| panic!("no guest line about the join in {lines:#?}"));
    assert_eq!(guest["level"], "DEBUG");
    assert_eq!(guest["fields"]["guest_level"], "info");
    assert_eq!(guest["fields"]["source"], "log");
    assert_eq!(
        span_of(guest),
        (PROBE, "0.0.1", C, joined_id.as_str(), 1, "handle-event")
    );

    // The host's line about the dead letter, in the failing event's span.
    let dead = lines
        .iter()
        .find(|l| message(l).contains("dead letter"))
        .unwrap_or_else(|| panic!("no dead-letter line in {lines:#?}"));
    assert_eq!(dead["level"], "WARN");
    assert_eq!(dead["fields"]["reason"], "guest-error");
    assert_eq!(dead["fields"]["code"], "probe-failure");
    assert_eq!(span_of(dead).3, failing_id);

    // The review ran in a span of its own.
    let review = lines
        .iter()
        .find(|l| l["span"]["export"] == "review-message")
        .unwrap_or_else(|| panic!("no line in a review span in {lines:#?}"));
    assert_eq!(span_of(review).3, "review:m4");

    // Message texts reach the log only at debug, through the guest's own lines.
    let quoting: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.to_string().contains("private words"))
        .collect();
    assert!(!quoting.is_empty(), "the probe logs the text it saw");
    for line in quoting {
        assert!(["DEBUG", "TRACE"].contains(&line["level"].as_str().unwrap()), "{line}");
    }
    // Every line written while a plugin ran is in its span.
    for line in lines.iter().filter(|l| l["target"] == "plaza_host::guest") {
        span_of(line);
    }
}
