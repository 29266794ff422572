//! The `events` and `idempotent` checks: the corpus delivered to the plugin, one event every ten
//! seconds of harness time, then lifecycle events, timers and redeliveries.
//!
//! Idempotence is checked the way a redelivery happens: a failed attempt's effects are
//! discarded, so the next attempt starts from the same state. In a community of its own, before
//! each event is delivered it is rehearsed with `attempt` 2 from that same state with its effects held
//! back; both runs must ask for the same effects (same messages with the same ids, KV writes,
//! timers). The rehearsal's message budget spending is given back before the delivery.

use std::sync::Arc;

use serde_json::json;

use super::corpus::{self, Item};
use super::failures::Failures;
use super::{nonconforming, Found, Status};
use crate::event::Event;
use crate::harness::Harness;
use crate::runtime::report::InvocationReport;
use crate::runtime::Plugin;

/// Harness time between two corpus events (message budgets refill within it).
pub(super) const STEP_MS: u64 = 10_000;

/// What the run saw, for both checks.
#[derive(Default)]
struct Tally {
    delivered: usize,
    not_routed: usize,
    handler_errors: usize,
    failures: Failures,
    compared: usize,
    differences: Vec<String>,
}

impl Tally {
    fn saw(&mut self, label: &str, report: &InvocationReport) {
        self.delivered += 1;
        if let Some(why) = nonconforming(report) {
            self.failures.add(label, &why);
        } else if !report.outcome.is_ok() {
            self.handler_errors += 1;
        }
    }
}

/// At most this many lines of details per check.
const MAX_DETAILS: usize = 20;

pub(super) fn capped(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > MAX_DETAILS {
        let more = lines.len() - MAX_DETAILS;
        lines.truncate(MAX_DETAILS);
        lines.push(format!("… and {more} more"));
    }
    lines
}

/// The `events` check.
pub(super) async fn run(host: &Harness, plugin: &Arc<Plugin>) -> Found {
    let mut tally = Tally::default();
    if let Err(e) = deliver_all(host, plugin, &mut tally).await {
        return (Status::Fail, vec![format!("the harness failed: {e:#}")]);
    }
    if tally.failures.is_empty() {
        (
            Status::Pass,
            vec![format!(
                "{} deliveries handled ({} returned a handler error); {} corpus events not routed to it (not subscribed)",
                tally.delivered, tally.handler_errors, tally.not_routed
            )],
        )
    } else {
        (Status::Fail, capped(tally.failures.into_lines()))
    }
}

/// The `idempotent` check.
pub(super) async fn idempotent(host: &Harness, plugin: &Arc<Plugin>) -> Found {
    let mut tally = Tally::default();
    if let Err(e) = compare_all(host, plugin, &mut tally).await {
        return (Status::Fail, vec![format!("the harness failed: {e:#}")]);
    }
    if tally.differences.is_empty() {
        (
            Status::Pass,
            vec![format!(
                "{} events asked for the same effects on attempt 2",
                tally.compared
            )],
        )
    } else {
        (Status::Fail, capped(tally.differences))
    }
}

/// The community events as the corpus has them, with fixed ids.
pub(super) fn corpus_events(h: &mut Harness, plugin: &Plugin, prefix: &str) -> anyhow::Result<Vec<(String, Event)>> {
    let message_chars = h.plaza().runtime().limits().message_chars;
    corpus::community_events(plugin, message_chars)
        .into_iter()
        .enumerate()
        .map(|(i, Item { label, mut json })| {
            json["id"] = format!("{prefix}-{i}").into();
            Ok((label, h.parse(&json.to_string())?))
        })
        .collect()
}

async fn deliver_all(host: &Harness, plugin: &Arc<Plugin>, tally: &mut Tally) -> anyhow::Result<()> {
    let name = plugin.name.as_str();
    let (mut h, installed) = super::installed(host, "events", plugin).await?;
    tally.saw("plugin-installed", &installed);
    let events = corpus_events(&mut h, plugin, "check")?;
    let mut routed_events = Vec::new();
    for (label, mut event) in events {
        event.meta.timestamp_ms = h.now_ms();
        let label = label.as_str();
        let Some(routed) = h.routed(name, &event)? else {
            tally.not_routed += 1;
            continue;
        };
        let dispatched = h.dispatch(event.clone()).await?;
        let Some(report) = dispatched.invocations.iter().find(|r| r.plugin == name) else {
            anyhow::bail!("{label}: routed to {name} but not delivered");
        };
        tally.saw(label, report);
        // A failure's redelivery is a retry; only what succeeded is redelivered below.
        if nonconforming(report).is_none() {
            routed_events.push((label.to_string(), routed));
        }
        for timer in h.advance(STEP_MS).await? {
            tally.saw(&format!("timer-fired ({})", timer.event_id), &timer);
        }
    }
    // A day later: daily timers fall due.
    for timer in h.advance(25 * 3_600_000).await? {
        tally.saw(&format!("timer-fired ({})", timer.event_id), &timer);
    }
    redeliveries(&mut h, name, &routed_events, tally).await?;
    lifecycle(&mut h, plugin, tally).await
}

/// Each routed corpus event run with `attempt` 2 then delivered, from the same state.
async fn compare_all(host: &Harness, plugin: &Arc<Plugin>, tally: &mut Tally) -> anyhow::Result<()> {
    let name = plugin.name.as_str();
    let (mut h, _) = super::installed(host, "idempotent", plugin).await?;
    for (label, mut event) in corpus_events(&mut h, plugin, "check")? {
        event.meta.timestamp_ms = h.now_ms();
        let Some(mut routed) = h.routed(name, &event)? else {
            continue;
        };
        // In the log first (a message must exist to be replied to), then run twice: attempt 2
        // with its effects held back, then the delivery proper.
        let appended = h.plaza().append_events(std::slice::from_ref(&event))?[0];
        routed.meta.sequence = appended.sequence;
        let again = attempt_two(h.plaza(), h.community(), name, &routed).await?;
        let delivered = h.plaza().pump_community(h.community(), h.now_ms()).await?;
        let Some(report) = delivered.iter().find(|r| r.plugin == name) else {
            anyhow::bail!("{label}: routed to {name} but not delivered");
        };
        compare(&label, report, &again, tally);
        h.advance(STEP_MS).await?;
    }
    Ok(())
}

/// The routed event run with `attempt` 2, its effects held back.
async fn attempt_two(
    plaza: &crate::Plaza,
    community: &str,
    plugin: &str,
    routed: &Event,
) -> anyhow::Result<(InvocationReport, Vec<crate::Action>)> {
    let install = plaza.install_of(community, plugin)?;
    let mut again = routed.clone();
    again.meta.attempt = 2;
    let budget = plaza.rate.save();
    let rehearsed = plaza.run_handler(&install, &again).await;
    plaza.rate.restore(budget);
    Ok(rehearsed)
}

fn compare(
    label: &str,
    first: &InvocationReport,
    (again, actions): &(InvocationReport, Vec<crate::Action>),
    tally: &mut Tally,
) {
    // A trap or a budget is the `events` check's business (and where a run ends near a budget
    // is timing, not the plugin's logic).
    if nonconforming(first).is_some() || nonconforming(again).is_some() {
        return;
    }
    match (first.outcome.is_ok(), again.outcome.is_ok()) {
        (true, true) => {
            tally.compared += 1;
            if &first.actions != actions {
                let show = |a: &[crate::Action]| serde_json::to_string(a).unwrap_or_default();
                tally.differences.push(format!(
                    "{label}: attempt 1 asked for {} but attempt 2 for {}",
                    crate::runtime::limits::truncate_text(&show(&first.actions), 400),
                    crate::runtime::limits::truncate_text(&show(actions), 400)
                ));
            }
        }
        (false, false) => tally.compared += 1,
        _ => {
            let outcome = |r: &InvocationReport| match r.outcome.failure() {
                Some(f) => format!("failed ({}: {})", f.reason.code(), f.message),
                None => "succeeded".into(),
            };
            tally.differences.push(format!(
                "{label}: attempt 1 {} but attempt 2 {}",
                outcome(first),
                outcome(again)
            ));
        }
    }
}

/// Every delivered event again with a higher attempt after it succeeded (the platform lost the
/// acknowledgement), a different event reusing an id, and an event out of sequence.
async fn redeliveries(
    h: &mut Harness,
    name: &str,
    routed: &[(String, Event)],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    for (label, event) in routed {
        let mut again = event.clone();
        again.meta.attempt = 3;
        again.meta.timestamp_ms = h.now_ms();
        if let Some(report) = h.redeliver(name, &again).await? {
            tally.saw(&format!("{label} (redelivered, attempt 3)"), &report);
        }
        h.advance(STEP_MS).await?;
    }
    let Some((_, first)) = routed.first() else {
        return Ok(());
    };
    let reused = h.parse(
        &json!({"type": "member-joined", "id": first.meta.id, "member": {"id": "erin", "display_name": "Erin"}})
            .to_string(),
    )?;
    let late = h.parse(
        &json!({"type": "message-posted", "id": "check-late", "sequence": 1, "channel": "general",
                "message_id": "late", "author": "bob", "text": "an old message, delivered late"})
        .to_string(),
    )?;
    for (label, event) in [("duplicate event id", reused), ("out of sequence", late)] {
        if let Some(report) = h.redeliver(name, &event).await? {
            tally.saw(label, &report);
        }
    }
    Ok(())
}

/// Configuration changed to nothing, a timer the plugin never set, an upgrade, and finally the
/// uninstall.
async fn lifecycle(h: &mut Harness, plugin: &Plugin, tally: &mut Tally) -> anyhow::Result<()> {
    let name = plugin.name.as_str();
    let events = [
        json!({"type": "config-changed", "config": []}),
        json!({"type": "timer-fired", "timer_id": "timer:nobody:0", "name": "not-yours", "payload": corpus::UNICODE}),
        json!({"type": "plugin-upgraded", "from_version": "0.0.0", "to_version": plugin.version}),
        json!({"type": "plugin-uninstalled"}),
    ];
    for json in events {
        let event = h.parse(&json.to_string())?;
        if let Some(report) = h.redeliver(name, &event).await? {
            tally.saw(event.kind.type_name(), &report);
        }
    }
    Ok(())
}
