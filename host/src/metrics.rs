//! Host metrics for `plaza serve`'s `/metrics` endpoint, in the Prometheus text exposition
//! format (version 0.0.4).
//!
//! # Why a registry of our own
//! The host needs a dozen fixed families with fixed label names, counters and one histogram,
//! plus a few gauges read from the store at scrape time. That is about two hundred lines here,
//! with no new dependency in a sandbox host whose dependency list is kept short, full control
//! over names, label escaping and bucket bounds, and the render-time gauges written from
//! [`Plaza::delivery_status`] directly rather than mirrored into a library's gauge objects
//! (which would go stale when an install is removed). `prometheus-client` would bring its
//! own encoding traits and a registry of boxed metrics for the same result. Everything sits
//! behind one mutex: a record is a map update per invocation (which costs far more), and a
//! scrape copies nothing but the text it writes.
//!
//! # Families
//! | name | type | labels | recorded |
//! | --- | --- | --- | --- |
//! | `plaza_events_ingested_total` | counter | `community` | an event appended to its community's log (`accept`, `dispatch`, `append_events`) |
//! | `plaza_events_duplicate_total` | counter | `community` | an offered event whose id the log already holds |
//! | `plaza_events_rejected_total` | counter | `community` | a message the review hook rejected or held (fail-closed) |
//! | `plaza_deliveries_total` | counter | `community`, `plugin`, `outcome` | each delivery attempt of a log entry: `ok` (committed), `failed` (retried later), `dead_letter` (given up) |
//! | `plaza_invocation_duration_seconds` | histogram | `plugin`, `export` | every `handle-event` and `review-message` call (wall clock, instantiation included) |
//! | `plaza_invocation_failures_total` | counter | `plugin`, `reason` | a failed invocation, by [`FailureReason`] code |
//! | `plaza_fuel_consumed_total` | counter | `plugin` | instructions metered, when the engine meters fuel |
//! | `plaza_http_requests_total` | counter | `plugin`, `outcome` | an outbound `http:fetch` request: `2xx`…`5xx` by the answer's status class, or the rule that refused or failed it (`blocked-address`, `timeout`, …) |
//! | `plaza_cpu_seconds_total` | counter | `plugin` | time the invocation ran on an executor thread (see below) |
//! | `plaza_breaker_open` | gauge | `community`, `plugin` | at render time: 1 while the circuit breaker is not closed |
//! | `plaza_lag_events` | gauge | `community`, `plugin` | at render time: log entries after the install's cursor |
//! | `plaza_dead_letters` | gauge | `community`, `plugin` | at render time: events the install gave up on |
//!
//! `plaza_cpu_seconds_total` adds up the time the invocation's future spent being polled:
//! instantiation, guest code and the synchronous part of host calls, but not the time it
//! waited (epoch yields, queueing behind other tasks, a pending host call). It is finer than
//! the epoch ticks the CPU budget counts (one per `epoch_tick`), and unlike the wall-clock
//! duration it does not grow when the executor is busy with other work.
//!
//! # Cardinality
//! Label values are bounded by what the admin set up: `community` takes only ids of existing
//! communities (an event for an unknown community is refused before it is counted), `plugin`
//! only installed plugin ids, `export`, `outcome` and `reason` only the fixed values above.
//! So deliveries have at most communities × plugins × 3 series, the histogram plugins × 2 ×
//! (16 buckets + 3), failures plugins × 10. Event ids, member ids, versions and message texts
//! are never labels. Counters of a removed install stay until the process restarts (a
//! counter must not go backwards); the render-time gauges follow the current installs.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use crate::dispatch::{DeliveryStatus, Plaza};
use crate::hash::get_or_default;
use crate::runtime::report::FailureReason;
use crate::storage::admin::BreakerState;

/// Upper bounds (seconds) of the invocation duration histogram's buckets, 100 µs to 10 s;
/// slower invocations are counted in `+Inf` only (the wall-clock limit stops them anyway).
pub const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A plugin export the histogram tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Export {
    /// `handle-event` (log deliveries, timers and lifecycle events).
    HandleEvent,
    /// `review-message` (the review hook).
    ReviewMessage,
}

impl Export {
    /// The export's WIT name, the `export` label's value.
    pub fn name(self) -> &'static str {
        match self {
            Export::HandleEvent => "handle-event",
            Export::ReviewMessage => "review-message",
        }
    }
}

/// What became of one delivery attempt of a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryOutcome {
    /// The handler succeeded and its effects were committed with the cursor move.
    Ok,
    /// The attempt failed; the entry is tried again later.
    Failed,
    /// The attempt failed and was the last: the entry became a dead letter.
    DeadLetter,
}

impl DeliveryOutcome {
    /// The `outcome` label's value.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryOutcome::Ok => "ok",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::DeadLetter => "dead_letter",
        }
    }
}

/// One finished invocation, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct InvocationSample<'a> {
    /// The plugin id.
    pub plugin: &'a str,
    /// Which export ran.
    pub export: Export,
    /// Wall-clock time, instantiation and host calls included.
    pub duration: Duration,
    /// Time spent running on an executor thread (see the module docs).
    pub cpu: Duration,
    /// Fuel used, when the engine meters fuel.
    pub fuel: Option<u64>,
    /// Why it failed, if it did.
    pub failure: Option<FailureReason>,
}

/// A histogram with [`DURATION_BUCKETS`]; counts per bucket, not cumulative (`+Inf` last).
#[derive(Debug, Clone)]
struct Histogram {
    counts: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; DURATION_BUCKETS.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct State {
    ingested: BTreeMap<String, u64>,
    duplicate: BTreeMap<String, u64>,
    rejected: BTreeMap<String, u64>,
    /// By community, then plugin, then outcome.
    deliveries: BTreeMap<String, BTreeMap<String, BTreeMap<DeliveryOutcome, u64>>>,
    /// By plugin, then export.
    durations: BTreeMap<String, BTreeMap<Export, Histogram>>,
    failures: BTreeMap<(String, &'static str), u64>,
    fuel: BTreeMap<String, u64>,
    cpu: BTreeMap<String, Duration>,
    http: BTreeMap<(String, String), u64>,
}

/// The host's metrics registry (see the module docs). One per [`Plaza`]; cheap to record into
/// from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, by: u64) {
    count(map.entry(key).or_default(), by);
}

fn count(slot: &mut u64, by: u64) {
    *slot = slot.saturating_add(by);
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Metrics::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An event was appended to `community`'s log.
    pub fn event_ingested(&self, community: &str) {
        count(get_or_default(&mut self.state().ingested, community), 1);
    }

    /// An offered event was already in `community`'s log.
    pub fn event_duplicate(&self, community: &str) {
        count(get_or_default(&mut self.state().duplicate, community), 1);
    }

    /// The review hook rejected (or held) a message for `community`.
    pub fn event_rejected(&self, community: &str) {
        count(get_or_default(&mut self.state().rejected, community), 1);
    }

    /// One delivery attempt of a log entry to `plugin` in `community` ended with `outcome`.
    pub fn delivery(&self, community: &str, plugin: &str, outcome: DeliveryOutcome) {
        let mut state = self.state();
        let by_plugin = get_or_default(&mut state.deliveries, community);
        count(get_or_default(by_plugin, plugin).entry(outcome).or_default(), 1);
    }

    /// An invocation finished: its duration, time on an executor thread, fuel and failure.
    pub fn invocation(&self, sample: &InvocationSample<'_>) {
        let mut state = self.state();
        let plugin = sample.plugin;
        get_or_default(&mut state.durations, plugin)
            .entry(sample.export)
            .or_default()
            .observe(sample.duration.as_secs_f64());
        *get_or_default(&mut state.cpu, plugin) += sample.cpu;
        if let Some(fuel) = sample.fuel {
            count(get_or_default(&mut state.fuel, plugin), fuel);
        }
        if let Some(reason) = sample.failure {
            bump(&mut state.failures, (plugin.to_string(), reason.code()), 1);
        }
    }

    /// An outbound request of `plugin` ended with `outcome` (a status class or a rule code).
    pub fn http_request(&self, plugin: &str, outcome: &str) {
        bump(&mut self.state().http, (plugin.to_string(), outcome.to_string()), 1);
    }

    /// An invocation the guest finished became a failure afterwards (its effects could not be
    /// stored): counted under `reason` without observing it again.
    pub fn invocation_failed(&self, plugin: &str, reason: FailureReason) {
        bump(&mut self.state().failures, (plugin.to_string(), reason.code()), 1);
    }

    /// The exposition text: the recorded families, then the per-install gauges from `installs`.
    pub fn render(&self, installs: &[DeliveryStatus]) -> String {
        let mut out = String::with_capacity(4096);
        {
            let state = self.state();
            let by_community = |out: &mut String, name, help, map: &BTreeMap<String, u64>| {
                header(out, name, "counter", help);
                for (community, n) in map {
                    sample(out, name, &[("community", community)], n);
                }
            };
            by_community(
                &mut out,
                "plaza_events_ingested_total",
                "Events appended to their community's log (duplicates not counted).",
                &state.ingested,
            );
            by_community(
                &mut out,
                "plaza_events_duplicate_total",
                "Offered events whose id the community's log already held.",
                &state.duplicate,
            );
            by_community(
                &mut out,
                "plaza_events_rejected_total",
                "Messages the review hook rejected or held; not logged.",
                &state.rejected,
            );

            let name = "plaza_deliveries_total";
            header(
                &mut out,
                name,
                "counter",
                "Delivery attempts of log entries to installs, by outcome (ok, failed then retried, dead_letter).",
            );
            let deliveries = state.deliveries.iter().flat_map(|(community, by_plugin)| {
                by_plugin.iter().flat_map(move |(plugin, by_outcome)| {
                    by_outcome
                        .iter()
                        .map(move |(outcome, n)| (community, plugin, outcome, n))
                })
            });
            for (community, plugin, outcome, n) in deliveries {
                let labels = [
                    ("community", community.as_str()),
                    ("plugin", plugin),
                    ("outcome", outcome.name()),
                ];
                sample(&mut out, name, &labels, n);
            }

            let name = "plaza_invocation_duration_seconds";
            header(
                &mut out,
                name,
                "histogram",
                "Wall-clock time of plugin invocations, instantiation and host calls included.",
            );
            for (plugin, by_export) in &state.durations {
                for (export, h) in by_export {
                    histogram(&mut out, name, &[("plugin", plugin), ("export", export.name())], h);
                }
            }

            let name = "plaza_invocation_failures_total";
            header(&mut out, name, "counter", "Failed plugin invocations, by reason code.");
            for ((plugin, reason), n) in &state.failures {
                sample(&mut out, name, &[("plugin", plugin), ("reason", reason)], n);
            }

            let name = "plaza_fuel_consumed_total";
            header(
                &mut out,
                name,
                "counter",
                "Fuel (metered wasm instructions) used by invocations, when fuel metering is on.",
            );
            for (plugin, n) in &state.fuel {
                sample(&mut out, name, &[("plugin", plugin)], n);
            }

            let name = "plaza_http_requests_total";
            header(
                &mut out,
                name,
                "counter",
                "Outbound http:fetch requests, by status class (2xx..5xx) or the rule that refused or failed them.",
            );
            for ((plugin, outcome), n) in &state.http {
                sample(&mut out, name, &[("plugin", plugin), ("outcome", outcome)], n);
            }

            let name = "plaza_cpu_seconds_total";
            header(
                &mut out,
                name,
                "counter",
                "Time invocations ran on an executor thread: guest code and synchronous host-call work.",
            );
            for (plugin, busy) in &state.cpu {
                sample(&mut out, name, &[("plugin", plugin)], float(busy.as_secs_f64()));
            }
        }

        let gauge = |out: &mut String, name, help, value: &dyn Fn(&DeliveryStatus) -> u64| {
            header(out, name, "gauge", help);
            for s in installs {
                let labels = [("community", s.community.as_str()), ("plugin", s.plugin.as_str())];
                sample(out, name, &labels, value(s));
            }
        };
        gauge(
            &mut out,
            "plaza_breaker_open",
            "1 while the install's circuit breaker is open or half-open (events are held), else 0.",
            &|s| u64::from(s.breaker != BreakerState::Closed),
        );
        gauge(
            &mut out,
            "plaza_lag_events",
            "Events in the community's log after the install's cursor.",
            &|s| s.lag,
        );
        gauge(
            &mut out,
            "plaza_dead_letters",
            "Events the install gave up on (dead letters not replayed yet).",
            &|s| s.dead_letters as u64,
        );
        out
    }
}

impl Plaza {
    /// The host's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics in the Prometheus text format, with the breaker, lag and dead-letter gauges
    /// read from the store now. If the store cannot be read the gauges are left out (and the
    /// error logged), so a scrape still gets the counters.
    pub fn render_metrics(&self) -> String {
        let installs = self.delivery_status().unwrap_or_else(|e| {
            tracing::error!("reading delivery status for metrics: {e}");
            Vec::new()
        });
        self.metrics.render(&installs)
    }
}

/// A float as the text format writes it (`+Inf`, `-Inf`, `NaN`, or decimal).
struct Float(f64);

fn float(v: f64) -> Float {
    Float(v)
}

impl Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped for the text format: backslash, double quote and line feed.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// One sample line: `name{label="value",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A histogram's cumulative `_bucket` lines (`le` last), then `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    let bounds = DURATION_BUCKETS.iter().copied().chain([f64::INFINITY]);
    for (bound, n) in bounds.zip(h.counts) {
        cumulative += n;
        let le = float(bound).to_string();
        let mut with_le = labels.to_vec();
        with_le.push(("le", &le));
        sample(out, &bucket, &with_le, cumulative);
    }
    sample(out, &format!("{name}_sum"), labels, float(h.sum));
    sample(out, &format!("{name}_count"), labels, h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(community: &str, plugin: &str, lag: u64, dead: usize, breaker: BreakerState) -> DeliveryStatus {
        DeliveryStatus {
            community: community.into(),
            plugin: plugin.into(),
            version: "1.0.0".into(),
            enabled: true,
            head: 10,
            cursor: 10 - lag,
            lag,
            failed_attempts: 0,
            next_attempt_ms: None,
            last_error: None,
            dead_letters: dead,
            breaker,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("two\nlines"), "two\\nlines");
        assert_eq!(escape_label_value("plain-id_1.ü"), "plain-id_1.ü");
        let m = Metrics::new();
        m.event_ingested("we\"ird\\one\n");
        let text = m.render(&[]);
        assert!(
            lines(&text).contains(&r#"plaza_events_ingested_total{community="we\"ird\\one\n"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_then_type_even_when_empty() {
        let text = Metrics::new().render(&[]);
        let families = [
            ("plaza_events_ingested_total", "counter"),
            ("plaza_events_duplicate_total", "counter"),
            ("plaza_events_rejected_total", "counter"),
            ("plaza_deliveries_total", "counter"),
            ("plaza_invocation_duration_seconds", "histogram"),
            ("plaza_invocation_failures_total", "counter"),
            ("plaza_fuel_consumed_total", "counter"),
            ("plaza_http_requests_total", "counter"),
            ("plaza_cpu_seconds_total", "counter"),
            ("plaza_breaker_open", "gauge"),
            ("plaza_lag_events", "gauge"),
            ("plaza_dead_letters", "gauge"),
        ];
        let l = lines(&text);
        assert_eq!(l.len(), families.len() * 2, "no samples yet: {text}");
        for (i, (name, kind)) in families.iter().enumerate() {
            assert!(l[2 * i].starts_with(&format!("# HELP {name} ")), "{}", l[2 * i]);
            assert_eq!(l[2 * i + 1], format!("# TYPE {name} {kind}"));
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn help_text_escapes_backslash_and_newline() {
        let mut out = String::new();
        header(&mut out, "x", "gauge", "a\\b\nc");
        assert_eq!(out, "# HELP x a\\\\b\\nc\n# TYPE x gauge\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let m = Metrics::new();
        let observe = |ms: u64, export| {
            m.invocation(&InvocationSample {
                plugin: "poll",
                export,
                duration: Duration::from_micros(ms),
                cpu: Duration::from_micros(ms / 2),
                fuel: None,
                failure: None,
            })
        };
        observe(50, Export::HandleEvent); // <= 100 µs
        observe(100, Export::HandleEvent); // exactly on the first bound
        observe(3_000, Export::HandleEvent); // <= 5 ms
        observe(20_000_000, Export::HandleEvent); // 20 s: +Inf only
        observe(700, Export::ReviewMessage);
        let text = m.render(&[]);
        let bucket = |export: &str, le: &str| {
            let prefix =
                format!("plaza_invocation_duration_seconds_bucket{{plugin=\"poll\",export=\"{export}\",le=\"{le}\"}} ");
            let line = text
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("{prefix}\n{text}"));
            line[prefix.len()..].parse::<u64>().unwrap()
        };
        assert_eq!(bucket("handle-event", "0.0001"), 2);
        assert_eq!(bucket("handle-event", "0.0025"), 2);
        assert_eq!(bucket("handle-event", "0.005"), 3);
        assert_eq!(bucket("handle-event", "10"), 3);
        assert_eq!(bucket("handle-event", "+Inf"), 4);
        assert_eq!(bucket("review-message", "0.0005"), 0);
        assert_eq!(bucket("review-message", "0.001"), 1);
        let all_les: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("export=\"handle-event\",le="))
            .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        let expected: Vec<String> = DURATION_BUCKETS
            .iter()
            .map(|b| float(*b).to_string())
            .chain(["+Inf".to_string()])
            .collect();
        assert_eq!(all_les, expected);
        assert!(lines(&text)
            .contains(&"plaza_invocation_duration_seconds_count{plugin=\"poll\",export=\"handle-event\"} 4"));
        let sum_prefix = "plaza_invocation_duration_seconds_sum{plugin=\"poll\",export=\"handle-event\"} ";
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(sum_prefix))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 20.00315).abs() < 1e-9, "{sum}");
        let cpu: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("plaza_cpu_seconds_total{plugin=\"poll\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((cpu - 10.001925).abs() < 1e-9, "{cpu}");
    }

    #[test]
    fn counters_failures_fuel_and_render_time_gauges() {
        let m = Metrics::new();
        m.event_ingested("c");
        m.event_ingested("c");
        m.event_duplicate("c");
        m.event_rejected("d");
        m.delivery("c", "poll", DeliveryOutcome::Ok);
        m.delivery("c", "poll", DeliveryOutcome::Failed);
        m.delivery("c", "poll", DeliveryOutcome::DeadLetter);
        m.delivery("c", "poll", DeliveryOutcome::Ok);
        m.invocation(&InvocationSample {
            plugin: "poll",
            export: Export::HandleEvent,
            duration: Duration::from_millis(1),
            cpu: Duration::from_millis(1),
            fuel: Some(1_000),
            failure: Some(FailureReason::CpuBudget),
        });
        m.invocation_failed("poll", FailureReason::StoreFailed);
        let installs = [
            status("c", "poll", 3, 1, BreakerState::Open),
            status("c", "welcome-bot", 0, 0, BreakerState::Closed),
        ];
        let text = m.render(&installs);
        let l = lines(&text);
        for expected in [
            "plaza_events_ingested_total{community=\"c\"} 2",
            "plaza_events_duplicate_total{community=\"c\"} 1",
            "plaza_events_rejected_total{community=\"d\"} 1",
            "plaza_deliveries_total{community=\"c\",plugin=\"poll\",outcome=\"ok\"} 2",
            "plaza_deliveries_total{community=\"c\",plugin=\"poll\",outcome=\"failed\"} 1",
            "plaza_deliveries_total{community=\"c\",plugin=\"poll\",outcome=\"dead_letter\"} 1",
            "plaza_invocation_failures_total{plugin=\"poll\",reason=\"cpu-budget\"} 1",
            "plaza_invocation_failures_total{plugin=\"poll\",reason=\"store-failed\"} 1",
            "plaza_fuel_consumed_total{plugin=\"poll\"} 1000",
            "plaza_cpu_seconds_total{plugin=\"poll\"} 0.001",
            "plaza_breaker_open{community=\"c\",plugin=\"poll\"} 1",
            "plaza_breaker_open{community=\"c\",plugin=\"welcome-bot\"} 0",
            "plaza_lag_events{community=\"c\",plugin=\"poll\"} 3",
            "plaza_dead_letters{community=\"c\",plugin=\"poll\"} 1",
            "plaza_dead_letters{community=\"c\",plugin=\"welcome-bot\"} 0",
        ] {
            assert!(l.contains(&expected), "missing {expected}:\n{text}");
        }
        // Every sample line is `name{labels} value` with a number, after its family's TYPE.
        let mut typed = String::new();
        for line in &l {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed = rest.split(' ').next().unwrap().to_string();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with(typed.as_str()), "{line} outside {typed}");
            assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn floats_use_the_text_format_spelling() {
        assert_eq!(float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(float(f64::NAN).to_string(), "NaN");
        assert_eq!(float(0.00025).to_string(), "0.00025");
        assert_eq!(float(10.0).to_string(), "10");
    }
}
