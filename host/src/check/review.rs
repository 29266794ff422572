//! The `review` check: a plugin that requests `moderation:review` is asked about messages
//! before they are posted; it must answer within the review budget (a failing reviewer holds or
//! lets through every message, depending on the community's policy).

use std::sync::Arc;

use super::corpus::{max_text, UNICODE};
use super::{nonconforming, Found, Status};
use crate::capability::Capability;
use crate::event::Message;
use crate::harness::Harness;
use crate::runtime::Plugin;

pub(super) async fn run(host: &Harness, plugin: &Arc<Plugin>) -> Found {
    if !plugin.requested().contains(Capability::ModerationReview) {
        return (Status::Skip, vec!["it does not request moderation:review".into()]);
    }
    match review(host, plugin).await {
        Ok(found) => found,
        Err(e) => (Status::Fail, vec![format!("the harness failed: {e:#}")]),
    }
}

async fn review(host: &Harness, plugin: &Arc<Plugin>) -> anyhow::Result<Found> {
    let (h, _) = super::installed(host, "review", plugin).await?;
    let chars = h.plaza().runtime().limits().message_chars;
    let texts = [
        ("plain", "hello everyone".to_string()),
        ("unicode", UNICODE.to_string()),
        ("empty", String::new()),
        ("maximum size", max_text(chars)),
        (
            "links",
            "https://a.example https://b.example https://c.example".to_string(),
        ),
    ];
    let (mut failures, mut verdicts) = (Vec::new(), Vec::new());
    for (i, (label, text)) in texts.into_iter().enumerate() {
        let message = Message {
            channel: "general".into(),
            message_id: format!("review-{i}"),
            author: "alice".into(),
            text,
            mentions: Vec::new(),
            reply_to: None,
        };
        let report = h.plaza().review(h.community(), &message, h.now_ms()).await?;
        for r in report.invocations.iter().filter(|r| r.plugin == plugin.name) {
            match nonconforming(r) {
                Some(why) => failures.push(format!("{label}: {why}")),
                None if !r.outcome.is_ok() => failures.push(format!("{label}: the review hook returned an error")),
                None => verdicts.push(format!(
                    "{label}: {} in {} µs",
                    verdict(&report.decision),
                    r.duration_us
                )),
            }
        }
    }
    Ok(if failures.is_empty() {
        (Status::Pass, verdicts)
    } else {
        (Status::Fail, failures)
    })
}

fn verdict(decision: &crate::dispatch::ReviewDecision) -> &'static str {
    use crate::dispatch::ReviewDecision as D;
    match decision {
        D::Allow => "allow",
        D::Reject { .. } => "reject",
        D::Rewrite { .. } => "rewrite",
        D::Hold { .. } => "hold",
    }
}
