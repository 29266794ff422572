//! Accepting events from outside without delivering them: review, then a durable append.
//! What `plaza deliver --stdin` (and later HTTP ingest) acknowledge.

use serde::Serialize;

use super::{Plaza, ReviewDecision};
use crate::error::{PlazaError, Result};
use crate::event::{Event, EventKind};

/// What became of one offered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Acceptance {
    /// It is in its community's log, on disk.
    Accepted { sequence: u64 },
    /// Its id was accepted before; nothing changed.
    Duplicate { sequence: u64 },
    /// The review hook rejected the message (or held it, fail-closed); it is not logged.
    Rejected { plugin: String, reason: String },
}

impl Plaza {
    /// Accepts a batch of community events: each new message is reviewed first (and logged
    /// with the reviewer's rewrite, if any); then every event still accepted is appended to its
    /// community's log in one durable write. An event whose id its community's log already
    /// holds is a `Duplicate` and is not reviewed again. Each event gets its own answer; one
    /// bad event does not refuse the others.
    pub async fn accept(&self, events: Vec<Event>) -> Vec<Result<Acceptance>> {
        let mut answers: Vec<Option<Result<Acceptance>>> = Vec::with_capacity(events.len());
        let mut to_append: Vec<(usize, Event)> = Vec::new();
        for event in events {
            let index = answers.len();
            match self.screen(event).await {
                Ok(Screened::Append(event)) => {
                    answers.push(None);
                    to_append.push((index, event));
                }
                Ok(Screened::Answer(answer)) => answers.push(Some(Ok(answer))),
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let batch: Vec<Event> = to_append.iter().map(|(_, e)| e.clone()).collect();
        match self.append_events(&batch) {
            Ok(appended) => {
                for ((index, _), at) in to_append.iter().zip(appended) {
                    answers[*index] = Some(Ok(if at.duplicate {
                        Acceptance::Duplicate { sequence: at.sequence }
                    } else {
                        Acceptance::Accepted { sequence: at.sequence }
                    }));
                }
                self.new_events.notify_one();
            }
            Err(e) => {
                // Every event of the batch failed the same way; a store failure stays one, so
                // senders can tell "send again" from "bad event".
                for (index, _) in &to_append {
                    let copy = match &e {
                        PlazaError::Store(store) => PlazaError::Store(store.clone()),
                        other => PlazaError::Other(anyhow::anyhow!("{other}")),
                    };
                    answers[*index] = Some(Err(copy));
                }
            }
        }
        answers.into_iter().map(|a| a.expect("every event answered")).collect()
    }

    /// Checks one event and runs the review hook on a new message.
    async fn screen(&self, mut event: Event) -> Result<Screened> {
        let community = event.meta.community.clone();
        if event.kind.is_install_scoped() {
            return Err(PlazaError::Other(anyhow::anyhow!(
                "event {} in community `{community}`: `{}` events are created by the host, not ingested",
                event.meta.id,
                event.kind.type_name()
            )));
        }
        let installs = self.shared_installs(&community)?;
        let EventKind::MessagePosted(message) = &event.kind else {
            return Ok(Screened::Append(event));
        };
        // Without a reviewer the append alone finds a duplicate: no lookup of its own.
        if !installs.iter().any(|install| install.reviews()) {
            return Ok(Screened::Append(event));
        }
        if let Some(sequence) = self.store.find(&community, &event.meta.id)? {
            self.metrics.event_duplicate(&community);
            return Ok(Screened::Answer(Acceptance::Duplicate { sequence }));
        }
        let review = self.review(&community, message, event.meta.timestamp_ms).await?;
        match review.decision {
            ReviewDecision::Allow => {}
            ReviewDecision::Rewrite { text } => {
                if let EventKind::MessagePosted(m) = &mut event.kind {
                    m.text = text;
                }
            }
            ReviewDecision::Reject { plugin, reason } | ReviewDecision::Hold { plugin, reason } => {
                self.metrics.event_rejected(&community);
                return Ok(Screened::Answer(Acceptance::Rejected { plugin, reason }));
            }
        }
        Ok(Screened::Append(event))
    }
}

enum Screened {
    Append(Event),
    Answer(Acceptance),
}
