//! `POST /v1/events`: one event object or an array of them, in the documented event form
//! (docs/events.md). Each gets an answer, in input order, with the statuses `plaza deliver`
//! prints. The answer comes only once every accepted event is on disk. A request with an
//! invalid event is still 200: the other events are accepted, and the invalid one's answer
//! says what is wrong with it. On a bus node (`plaza serve --bus`) "on disk" means stored by
//! the NATS stream; the answer then gives the partition and stream sequence instead of the
//! community log's sequence, which the partition's owner assigns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::body::JsonBody;
use super::errors::{ApiError, ApiResult};
use super::{now_ms, AppState, IngestCounters, Intake};
use crate::bus::{BusError, Published, Publisher};
use crate::dispatch::Acceptance;
use crate::event::{Event, EventDefaults};
use crate::PlazaError;

/// Numbers events sent without an `id` (such an event cannot be resent idempotently, so
/// producers should give ids).
static AUTO_IDS: AtomicU64 = AtomicU64::new(0);

/// An event's `id` and `community` as sent, when they are strings.
fn key_of(object: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::to_string);
    (text("id"), text("community"))
}

fn invalid(index: usize, object: Option<&Map<String, Value>>, error: String) -> Value {
    let mut answer = json!({"status": "invalid", "index": index, "error": error});
    let (id, community) = object.map(key_of).unwrap_or_default();
    if let Some(id) = id {
        answer["id"] = json!(id);
    }
    if let Some(community) = community {
        answer["community"] = json!(community);
    }
    answer
}

/// Parses one event of the request; a missing timestamp is now and a missing id is made up.
fn parse(defaults: &mut EventDefaults, item: Value, index: usize) -> Result<Event, Value> {
    let origin = format!("event {index}");
    let Value::Object(mut object) = item else {
        return Err(invalid(
            index,
            None,
            format!("{origin}: not a JSON object like {{\"type\": \"member-joined\", ...}}"),
        ));
    };
    if !matches!(object.get("community"), Some(Value::String(_))) {
        return Err(invalid(
            index,
            Some(&object),
            format!("{origin}: field `community` is required (the community's id, a string)"),
        ));
    }
    let now = now_ms();
    object.entry("timestamp_ms").or_insert_with(|| json!(now));
    object.entry("id").or_insert_with(|| {
        let n = AUTO_IDS.fetch_add(1, Ordering::Relaxed);
        json!(format!("http-{now}-{n}"))
    });
    let copy = object.clone();
    defaults
        .from_value(Value::Object(object), &origin)
        .map_err(|e| invalid(index, Some(&copy), e.to_string()))
}

pub(super) async fn post_events(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let items = match body {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(ApiError::bad_request(
                "the body must be one event object or an array of event objects",
            ))
        }
    };
    let max = state.options.max_batch;
    if items.len() > max {
        return Err(ApiError::payload_too_large(format!(
            "{} events in one request; send at most {max}",
            items.len()
        )));
    }
    let mut defaults = EventDefaults::new("", now_ms());
    let mut answers: Vec<Option<Value>> = Vec::with_capacity(items.len());
    let mut events = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match parse(&mut defaults, item, index) {
            Ok(event) => {
                events.push(event);
                answers.push(None);
            }
            Err(answer) => answers.push(Some(answer)),
        }
    }
    let keys: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.meta.id.clone(), e.meta.community.clone()))
        .collect();
    let counters = &state.counters;
    let parse_failures = answers.iter().filter(|a| a.is_some()).count() as u64;
    counters.invalid.fetch_add(parse_failures, Ordering::Relaxed);
    let outcomes = match &state.ingest {
        Intake::Local(queue) => queue.accept(events).await.into_iter().map(Outcome::Local).collect(),
        Intake::Bus(publisher) => published(publisher, &events).await,
    };
    let mut accepted = keys.into_iter().zip(outcomes).map(|((id, community), outcome)| {
        let (counter, value) = answer(counters, id, community, outcome);
        counter.fetch_add(1, Ordering::Relaxed);
        value
    });
    let results: Vec<Value> = answers
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| accepted.next().expect("one answer per parsed event")))
        .collect();
    Ok(Json(json!({"results": results})))
}

/// What became of one parsed event.
enum Outcome {
    /// Appended to (or refused by) the embedded log.
    Local(Result<Acceptance, PlazaError>),
    /// Published to the bus's stream.
    Published(Result<Published, BusError>),
}

/// Publishes events one after the other: the stream keeps them in the order of the request,
/// which is each community's order.
async fn published(publisher: &Publisher, events: &[Event]) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        outcomes.push(Outcome::Published(publisher.publish(event).await));
    }
    outcomes
}

/// An event's answer and the counter it adds to.
fn answer(counters: &IngestCounters, id: String, community: String, outcome: Outcome) -> (&AtomicU64, Value) {
    match outcome {
        Outcome::Local(Ok(Acceptance::Accepted { sequence })) => (
            &counters.accepted,
            json!({"status": "accepted", "id": id, "community": community, "sequence": sequence}),
        ),
        Outcome::Local(Ok(Acceptance::Duplicate { sequence })) => (
            &counters.duplicate,
            json!({"status": "duplicate", "id": id, "community": community, "sequence": sequence}),
        ),
        Outcome::Local(Ok(Acceptance::Rejected { plugin, reason })) => (
            &counters.rejected,
            json!({"status": "rejected", "id": id, "community": community, "plugin": plugin, "reason": reason}),
        ),
        // A store failure is not the event's fault: the sender should send it again.
        Outcome::Local(Err(e @ PlazaError::Store(_))) => (
            &counters.failed,
            json!({"status": "failed", "id": id, "community": community, "error": e.to_string(), "retry": true}),
        ),
        Outcome::Local(Err(e)) => (
            &counters.invalid,
            json!({"status": "invalid", "id": id, "community": community, "error": e.to_string()}),
        ),
        // Stored by the stream: its community's log sequence is given when the partition's
        // owner appends it, and a review hook's verdict is taken there (and audited).
        Outcome::Published(Ok(published)) => {
            let (counter, status) = if published.duplicate {
                (&counters.duplicate, "duplicate")
            } else {
                (&counters.accepted, "accepted")
            };
            (
                counter,
                json!({"status": status, "id": id, "community": community, "partition": published.partition, "stream_sequence": published.stream_sequence}),
            )
        }
        // NATS unreachable or the stream full: nothing stored, the sender should send it again.
        Outcome::Published(Err(e)) => (
            &counters.failed,
            json!({"status": "failed", "id": id, "community": community, "error": e.to_string(), "retry": true}),
        ),
    }
}
