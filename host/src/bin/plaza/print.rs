//! Printing reports as JSON lines or as a readable listing.

use plaza_host::dispatch::{IngestReport, ReviewDecision};
use plaza_host::runtime::report::LogLevel;
use plaza_host::{Action, InvocationReport, Outcome};
use serde_json::{json, Value};

/// Every line one invocation produces, as JSON values.
pub fn invocation_lines(r: &InvocationReport) -> Vec<Value> {
    let mut lines = Vec::new();
    let base = |kind: &str| json!({"kind": kind, "event": r.event_id, "event_type": r.event_type, "plugin": r.plugin, "community": r.community});
    for log in &r.logs {
        let mut v = base("log");
        v["level"] = json!(log.level);
        v["source"] = json!(log.source);
        v["message"] = json!(log.message);
        lines.push(v);
    }
    for d in &r.denied {
        let mut v = base("denied");
        v["call"] = json!(d.call);
        v["capability"] = json!(d.capability);
        lines.push(v);
    }
    for a in &r.actions {
        let mut v = base("action");
        v["action"] = serde_json::to_value(a).unwrap_or(Value::Null);
        lines.push(v);
    }
    let mut done = match &r.outcome {
        Outcome::Ok => base("ok"),
        Outcome::Failed(f) => {
            let mut v = base(if f.reason.code() == "guest-error" {
                "error"
            } else {
                "trap"
            });
            v["reason"] = json!(f.reason.code());
            v["message"] = json!(f.message);
            if let Some(code) = &f.code {
                v["code"] = json!(code);
            }
            if let Some(bt) = &f.backtrace {
                v["backtrace"] = json!(bt);
            }
            v["retryable"] = json!(f.retryable);
            v["discarded_actions"] = json!(r.discarded_actions);
            v
        }
    };
    done["duration_us"] = json!(r.duration_us);
    lines.push(done);
    lines
}

/// JSON lines for one ingested event.
pub fn ingest_lines(report: &IngestReport) -> Vec<Value> {
    let mut lines = Vec::new();
    if let Some(review) = &report.review {
        for inv in &review.invocations {
            lines.extend(invocation_lines(inv));
        }
        lines.push(json!({"kind": "review", "decision": review.decision}));
    }
    if let Some(d) = &report.dispatch {
        for inv in &d.invocations {
            lines.extend(invocation_lines(inv));
        }
        if d.duplicate {
            lines.push(
                json!({"kind": "duplicate", "event": d.event.meta.id, "sequence": d.event.meta.sequence,
                              "reason": "an event with this id was accepted before; give every event its own id"}),
            );
        }
        for plugin in &d.held {
            lines.push(json!({"kind": "held", "event": d.event.meta.id, "plugin": plugin,
                              "reason": "waiting in the log behind a retry or an open circuit breaker"}));
        }
    }
    lines
}

/// A one-line description of an action.
pub fn describe_action(a: &Action) -> String {
    match a {
        Action::SendMessage {
            channel,
            text,
            reply_to,
            ..
        } => match reply_to {
            Some(to) => format!("reply in #{channel} to {to}: {}", quote(text)),
            None => format!("send to #{channel}: {}", quote(text)),
        },
        Action::EditMessage {
            channel,
            message_id,
            text,
        } => format!("edit {message_id} in #{channel}: {}", quote(text)),
        Action::DeleteMessage {
            channel,
            message_id,
            reason,
        } => format!("delete {message_id} in #{channel} ({reason})"),
        Action::MuteMember {
            member,
            duration_ms,
            reason,
        } => format!("mute {member} for {} s ({reason})", duration_ms / 1000),
        Action::KickMember { member, reason } => format!("kick {member} ({reason})"),
        Action::BanMember { member, reason } => format!("ban {member} ({reason})"),
        Action::KvSet { key, value } => format!("kv set {key} = {}", serde_json::to_string(value).unwrap_or_default()),
        Action::KvDelete { key } => format!("kv delete {key}"),
        Action::ScheduleTimer {
            name,
            delay_ms,
            every_ms,
            ..
        } => match every_ms {
            Some(every) => format!("timer {name:?} every {} s", every / 1000),
            None => format!("timer {name:?} in {} s", delay_ms / 1000),
        },
        Action::CancelTimer { timer_id } => format!("cancel timer {timer_id}"),
    }
}

fn quote(text: &str) -> String {
    let one_line = text.replace('\n', " ⏎ ");
    format!("\"{one_line}\"")
}

/// A readable rendering of one invocation, indented under its event.
pub fn pretty_invocation(r: &InvocationReport, show_kv: bool) -> Vec<String> {
    let mut out = Vec::new();
    let status = match &r.outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Failed(f) => format!("FAILED {}: {}", f.reason.code(), f.message),
    };
    out.push(format!(
        "  {:<12} {:<16} {}  ({:.2} ms)",
        r.plugin,
        r.event_type,
        status,
        r.duration_us as f64 / 1000.0
    ));
    for a in &r.actions {
        if show_kv || a.is_visible() {
            out.push(format!("      → {}", describe_action(a)));
        }
    }
    for d in &r.denied {
        out.push(format!("      ✗ denied {} (needs {})", d.call, d.capability));
    }
    for l in &r.logs {
        let level = match l.level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        out.push(format!("      · {level} [{}] {}", l.source, l.message));
    }
    if let Outcome::Failed(f) = &r.outcome {
        if r.discarded_actions > 0 {
            out.push(format!("      ↺ {} effect(s) discarded", r.discarded_actions));
        }
        if let Some(bt) = &f.backtrace {
            for line in bt.lines().take(8) {
                out.push(format!("      | {line}"));
            }
        }
    }
    out
}

/// A readable line for a review decision.
pub fn pretty_decision(d: &ReviewDecision) -> String {
    match d {
        ReviewDecision::Allow => "  review: allowed".into(),
        ReviewDecision::Reject { plugin, reason } => {
            format!("  review: REJECTED by {plugin}: {reason}")
        }
        ReviewDecision::Rewrite { text } => format!("  review: rewritten to {}", quote(text)),
        ReviewDecision::Hold { plugin, reason } => {
            format!("  review: HELD (fail-closed) because {plugin} failed: {reason}")
        }
    }
}

/// `HH:MM:SS` (UTC) of a timestamp in ms.
pub fn clock(ms: u64) -> String {
    let secs = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// `YYYY-MM-DD HH:MM UTC` of a timestamp in ms (Howard Hinnant's civil-from-days).
pub fn date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(super::date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(super::date(1_764_121_980_000), "2025-11-26 01:53 UTC");
    }
}
