//! Building events fluently, with the fields a test leaves out filled in.

use serde_json::{Map, Value};

use super::Harness;
use crate::event::Event;

/// An event being built; [`EventBuilder::build`] stamps it with the harness clock.
pub struct EventBuilder<'h> {
    harness: &'h mut Harness,
    fields: Map<String, Value>,
}

impl<'h> EventBuilder<'h> {
    pub(super) fn new(harness: &'h mut Harness, kind: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("type".into(), kind.into());
        EventBuilder { harness, fields }
    }

    /// Sets any field, e.g. `("emoji", "👍".into())` or `("args", json!(["a"]))`.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// The event id (default: fresh).
    pub fn id(self, id: &str) -> Self {
        self.field("id", id)
    }

    /// The delivery attempt (default 1).
    pub fn attempt(self, attempt: u32) -> Self {
        self.field("attempt", attempt)
    }

    /// The community log sequence (default: the next one).
    pub fn sequence(self, sequence: u64) -> Self {
        self.field("sequence", sequence)
    }

    /// The member (`member-joined`/`member-updated` take a profile, the others an id).
    pub fn member(self, id: &str) -> Self {
        let profiled = matches!(self.kind(), "member-joined" | "member-updated");
        if profiled {
            self.field("member", serde_json::json!({ "id": id }))
        } else {
            self.field("member", id)
        }
    }

    /// The author of a message.
    pub fn author(self, id: &str) -> Self {
        self.field("author", id)
    }

    /// The text of a message.
    pub fn text(self, text: &str) -> Self {
        self.field("text", text)
    }

    /// The channel (default `general` where the kind has one).
    pub fn channel(self, channel: &str) -> Self {
        self.field("channel", channel)
    }

    /// The message id (default: fresh, where the kind has one).
    pub fn message_id(self, id: &str) -> Self {
        self.field("message_id", id)
    }

    fn kind(&self) -> &str {
        self.fields.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The event, with required fields the test left out filled in.
    pub fn build(mut self) -> anyhow::Result<Event> {
        let n = self.harness.built + 1;
        let needs_channel = matches!(
            self.kind(),
            "message-posted"
                | "message-edited"
                | "message-deleted"
                | "message-pinned"
                | "message-unpinned"
                | "reaction-added"
                | "reaction-removed"
                | "command-invoked"
        );
        if needs_channel {
            self.fields.entry("channel").or_insert_with(|| "general".into());
            if self.kind() != "command-invoked" {
                self.fields
                    .entry("message_id")
                    .or_insert_with(|| format!("m{n}").into());
            }
        }
        let text = Value::Object(self.fields).to_string();
        self.harness.parse(&text)
    }
}
