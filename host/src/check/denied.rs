//! The `denied` check: halfway through the corpus the admin revokes every capability that
//! guards a host call (keeping those that route events to it, so it still receives them); the
//! plugin must handle the denials (`denied` host errors) without trapping.

use std::sync::Arc;

use super::events::{capped, corpus_events, STEP_MS};
use super::failures::Failures;
use super::{nonconforming, Found, Status};
use crate::capability::{Capability, GrantSet};
use crate::harness::Harness;
use crate::runtime::Plugin;

/// Capabilities that only route events (revoking them would stop delivery, not deny calls).
const ROUTING: [Capability; 6] = [
    Capability::MessagesRead,
    Capability::MessagesReadMentions,
    Capability::ReactionsRead,
    Capability::Commands,
    Capability::ModerationReview,
    Capability::MembersIdentity,
];

pub(super) async fn run(host: &Harness, plugin: &Arc<Plugin>) -> Found {
    match deliver(host, plugin).await {
        Ok(found) => found,
        Err(e) => (Status::Fail, vec![format!("the harness failed: {e:#}")]),
    }
}

async fn deliver(host: &Harness, plugin: &Arc<Plugin>) -> anyhow::Result<Found> {
    let name = plugin.name.as_str();
    let (mut h, _) = super::installed(host, "denied", plugin).await?;
    let kept: GrantSet = plugin.requested().iter().filter(|c| ROUTING.contains(c)).collect();
    let revoked: Vec<&str> = plugin
        .requested()
        .iter()
        .filter(|c| !ROUTING.contains(c))
        .map(|c| c.name())
        .collect();
    if revoked.is_empty() {
        return Ok((
            Status::Skip,
            vec!["it requests no capability that guards a host call".into()],
        ));
    }
    let events = corpus_events(&mut h, plugin, "denied")?;
    let half = events.len() / 2;
    let (mut failures, mut delivered, mut denials) = (Failures::default(), 0, 0);
    for (i, (label, mut event)) in events.into_iter().enumerate() {
        if i == half {
            h.set_grants(name, kept)?;
        }
        event.meta.timestamp_ms = h.now_ms();
        let report = h.dispatch(event).await?;
        for r in report.invocations.iter().filter(|r| r.plugin == name) {
            delivered += 1;
            if i >= half {
                denials += r.denied.len();
            }
            if let Some(why) = nonconforming(r) {
                let when = if i >= half {
                    "after the revoke"
                } else {
                    "before the revoke"
                };
                failures.add(&format!("{label} ({when})"), &why);
            }
        }
        h.advance(STEP_MS).await?;
    }
    if failures.is_empty() {
        Ok((
            Status::Pass,
            vec![format!(
                "revoked {} halfway; {delivered} deliveries, {denials} denied host calls handled",
                revoked.join(", ")
            )],
        ))
    } else {
        Ok((Status::Fail, capped(failures.into_lines())))
    }
}
