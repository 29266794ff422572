//! Community events, in the JSON form used by event files, the library API and (later) ingest.
//!
//! One event is one JSON object: delivery facts (`id`, `community`, `sequence`, `timestamp_ms`,
//! `attempt`) beside a `type` and that type's fields, e.g.
//!
//! ```json
//! {"id":"e1","community":"rust-fans","type":"message-posted","channel":"general",
//!  "message_id":"m1","author":"alice","text":"hello"}
//! ```
//!
//! In event files every delivery fact may be left out; [`EventDefaults`] fills it in. The full
//! form is documented in `docs/events.md`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Delivery facts carried by every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// Stable id; a redelivery carries the same id.
    pub id: String,
    /// The community the event happened in.
    pub community: String,
    /// Position in the community's stream, strictly increasing per community.
    pub sequence: u64,
    /// Acceptance time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

/// A member's profile as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberProfile {
    /// The member's platform id.
    pub id: String,
    /// Shown name; defaults to the id.
    #[serde(default)]
    pub display_name: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the account is a bot.
    #[serde(default)]
    pub is_bot: bool,
}

impl MemberProfile {
    /// A plain member with the given id as display name.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        MemberProfile {
            display_name: id.clone(),
            id,
            roles: Vec::new(),
            is_bot: false,
        }
    }

    fn fill_defaults(&mut self) {
        if self.display_name.is_empty() {
            self.display_name = self.id.clone();
        }
    }
}

/// A message in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Channel it is in.
    pub channel: String,
    /// Its id.
    pub message_id: String,
    /// Who wrote it.
    pub author: String,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Mentioned member ids.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// The message it replies to.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// A configuration entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    /// The key.
    pub key: String,
    /// The value, as text.
    pub value: String,
}

/// What happened; the `type` field in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EventKind {
    MemberJoined {
        member: MemberProfile,
        #[serde(default)]
        invited_by: Option<String>,
    },
    MemberLeft {
        member: String,
        #[serde(default)]
        removed: bool,
    },
    MemberUpdated {
        member: MemberProfile,
    },
    MessagePosted(Message),
    MessageEdited {
        channel: String,
        message_id: String,
        author: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        mentions: Vec<String>,
        #[serde(default)]
        reply_to: Option<String>,
        #[serde(default)]
        previous_text: String,
    },
    MessageDeleted {
        channel: String,
        message_id: String,
        deleted_by: String,
    },
    ReactionAdded(Reaction),
    ReactionRemoved(Reaction),
    MemberMuted {
        member: String,
        moderator: String,
        duration_ms: u64,
        #[serde(default)]
        reason: String,
    },
    MemberBanned {
        member: String,
        moderator: String,
        #[serde(default)]
        reason: String,
    },
    CommandInvoked {
        channel: String,
        member: String,
        name: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        message_id: Option<String>,
    },
    PluginInstalled {
        #[serde(default)]
        config: Vec<ConfigEntry>,
    },
    PluginUninstalled,
    ConfigChanged {
        #[serde(default)]
        config: Vec<ConfigEntry>,
    },
    PluginUpgraded {
        from_version: String,
        to_version: String,
    },
    TimerFired {
        timer_id: String,
        name: String,
        #[serde(default)]
        payload: String,
    },
    /// Since `plaza:plugin@0.2.0`; not delivered to plugins built against 0.1.0.
    MessagePinned(Pin),
    /// Since `plaza:plugin@0.2.0`; not delivered to plugins built against 0.1.0.
    MessageUnpinned(Pin),
}

/// A message pinned to or unpinned from its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Channel of the message.
    pub channel: String,
    /// The message.
    pub message_id: String,
    /// Who pinned or unpinned it.
    pub member: String,
    /// Author of the message, if known.
    #[serde(default)]
    pub message_author: Option<String>,
}

/// A reaction added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// Channel of the message.
    pub channel: String,
    /// The message.
    pub message_id: String,
    /// Who reacted.
    pub member: String,
    /// The emoji.
    pub emoji: String,
    /// Author of the message reacted to, if known.
    #[serde(default)]
    pub message_author: Option<String>,
}

impl EventKind {
    /// The `type` name, e.g. `message-posted`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::MemberJoined { .. } => "member-joined",
            EventKind::MemberLeft { .. } => "member-left",
            EventKind::MemberUpdated { .. } => "member-updated",
            EventKind::MessagePosted(_) => "message-posted",
            EventKind::MessageEdited { .. } => "message-edited",
            EventKind::MessageDeleted { .. } => "message-deleted",
            EventKind::ReactionAdded(_) => "reaction-added",
            EventKind::ReactionRemoved(_) => "reaction-removed",
            EventKind::MemberMuted { .. } => "member-muted",
            EventKind::MemberBanned { .. } => "member-banned",
            EventKind::CommandInvoked { .. } => "command-invoked",
            EventKind::PluginInstalled { .. } => "plugin-installed",
            EventKind::PluginUninstalled => "plugin-uninstalled",
            EventKind::ConfigChanged { .. } => "config-changed",
            EventKind::PluginUpgraded { .. } => "plugin-upgraded",
            EventKind::TimerFired { .. } => "timer-fired",
            EventKind::MessagePinned(_) => "message-pinned",
            EventKind::MessageUnpinned(_) => "message-unpinned",
        }
    }

    /// Lifecycle and timer events go to one install only; the host creates them itself.
    pub fn is_install_scoped(&self) -> bool {
        matches!(
            self,
            EventKind::PluginInstalled { .. }
                | EventKind::PluginUninstalled
                | EventKind::ConfigChanged { .. }
                | EventKind::PluginUpgraded { .. }
                | EventKind::TimerFired { .. }
        )
    }

    fn fill_defaults(&mut self) {
        match self {
            EventKind::MemberJoined { member, .. } | EventKind::MemberUpdated { member } => member.fill_defaults(),
            _ => {}
        }
    }
}

/// One community event: delivery facts and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Delivery facts.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Whether this event reads back from its JSON form as the same event, checked directly:
    /// the only rules of [`EventDefaults::from_value`] that refuse or change what
    /// [`Serialize`] wrote are blank ids and communities, an attempt of 0 and an empty display
    /// name (filled in with the member's id). A JSON round trip costs about a sixth of a
    /// dispatch (BENCHMARKS.md, P1); the test `reads_back_agrees_with_a_json_round_trip`
    /// compares the two over every event type and the edge cases of every rule.
    pub fn check_reads_back(&self) -> Result<(), String> {
        let blank = |text: &str| text.trim().is_empty();
        if blank(&self.meta.id) {
            return Err("field `id` must be a non-empty string".into());
        }
        if blank(&self.meta.community) {
            return Err("field `community` must be a non-empty string".into());
        }
        if self.meta.attempt == 0 {
            return Err("field `attempt` must be a whole number ≥ 1".into());
        }
        match &self.kind {
            EventKind::MemberJoined { member, .. } | EventKind::MemberUpdated { member }
                if member.display_name.is_empty() && !member.id.is_empty() =>
            {
                Err(format!(
                    "member `{}` has an empty display name, which reads back as the member's id",
                    member.id
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The text is not JSON, or not an object.
    #[error("{origin}: not a JSON object: {reason}")]
    NotJson { origin: String, reason: String },
    /// A delivery fact has the wrong type.
    #[error("{origin}: field `{field}` {reason}")]
    BadMeta {
        origin: String,
        field: &'static str,
        reason: String,
    },
    /// The `type` or its fields are wrong.
    #[error("{origin}: {reason}")]
    BadKind { origin: String, reason: String },
}

const META_FIELDS: [&str; 5] = ["id", "community", "sequence", "timestamp_ms", "attempt"];

/// Fills in delivery facts that an event file leaves out.
#[derive(Debug, Clone)]
pub struct EventDefaults {
    /// Community for events that name none.
    pub community: String,
    /// Timestamp of the first event; later ones are one second apart.
    pub start_ms: u64,
    next_sequence: HashMap<String, u64>,
    count: u64,
}

impl Default for EventDefaults {
    fn default() -> Self {
        EventDefaults::new("local", 1_767_225_600_000) // 2026-01-01T00:00:00Z: stable output
    }
}

impl EventDefaults {
    /// Defaults with the given community and first timestamp.
    pub fn new(community: impl Into<String>, start_ms: u64) -> Self {
        EventDefaults {
            community: community.into(),
            start_ms,
            next_sequence: HashMap::new(),
            count: 0,
        }
    }

    /// Parses one event from JSON text; `origin` names where it came from (file and line).
    pub fn parse(&mut self, text: &str, origin: &str) -> Result<Event, EventError> {
        let value: Value = serde_json::from_str(text).map_err(|e| EventError::NotJson {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
        self.from_value(value, origin)
    }

    /// Builds one event from a JSON value.
    pub fn from_value(&mut self, value: Value, origin: &str) -> Result<Event, EventError> {
        let Value::Object(mut object) = value else {
            return Err(EventError::NotJson {
                origin: origin.to_string(),
                reason: "expected an object like {\"type\": \"message-posted\", ...}".into(),
            });
        };
        let meta = self.take_meta(&mut object, origin)?;
        let mut kind: EventKind = serde_json::from_value(Value::Object(object)).map_err(|e| EventError::BadKind {
            origin: origin.to_string(),
            reason: describe_kind_error(&e.to_string()),
        })?;
        kind.fill_defaults();
        Ok(Event { meta, kind })
    }

    fn take_meta(&mut self, o: &mut Map<String, Value>, origin: &str) -> Result<EventMeta, EventError> {
        let bad = |field: &'static str, reason: &str| EventError::BadMeta {
            origin: origin.to_string(),
            field,
            reason: reason.to_string(),
        };
        let mut fields: HashMap<&str, Value> = HashMap::new();
        for name in META_FIELDS {
            if let Some(v) = o.remove(name) {
                fields.insert(name, v);
            }
        }
        self.count += 1;
        let community = match fields.remove("community") {
            None => self.community.clone(),
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(_) => return Err(bad("community", "must be a non-empty string")),
        };
        let id = match fields.remove("id") {
            None => format!("{community}-{}", self.count),
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(_) => return Err(bad("id", "must be a non-empty string")),
        };
        let next = self.next_sequence.entry(community.clone()).or_insert(1);
        let sequence = match fields.remove("sequence") {
            None => *next,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad("sequence", "must be a whole number ≥ 0"))?,
        };
        *next = sequence.max(*next - 1).saturating_add(1);
        let timestamp_ms = match fields.remove("timestamp_ms") {
            None => self.start_ms + (self.count - 1) * 1000,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad("timestamp_ms", "must be milliseconds since the Unix epoch"))?,
        };
        let attempt = match fields.remove("attempt") {
            None => 1,
            Some(v) => v
                .as_u64()
                .filter(|a| (1..=u32::MAX as u64).contains(a))
                .ok_or_else(|| bad("attempt", "must be a whole number ≥ 1"))? as u32,
        };
        Ok(EventMeta {
            id,
            community,
            sequence,
            timestamp_ms,
            attempt,
        })
    }
}

fn describe_kind_error(serde_message: &str) -> String {
    if serde_message.starts_with("missing field `type`") {
        "missing field `type` (e.g. \"member-joined\", \"message-posted\", \"command-invoked\")".into()
    } else if serde_message.starts_with("unknown variant") {
        format!("unknown event {serde_message}").replace("unknown event unknown variant", "unknown event type")
    } else {
        serde_message.to_string()
    }
}

/// Parses an event file: one JSON object per line; blank lines and lines starting with `#` are
/// skipped. Errors name the file and line.
pub fn parse_jsonl(text: &str, file_name: &str, defaults: &mut EventDefaults) -> Result<Vec<Event>, EventError> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let origin = format!("{file_name} line {}", index + 1);
        events.push(defaults.parse(trimmed, &origin)?);
    }
    Ok(events)
}

/// Splits a command line the way a shell would: whitespace separates, double or single quotes
/// group, backslash escapes the next character.
pub fn split_command_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(current);
    }
    args
}

/// If `text` is a slash command (`/name args...`), its name and arguments.
pub fn parse_command(text: &str) -> Option<(String, Vec<String>)> {
    let rest = text.trim_start().strip_prefix('/')?;
    let mut parts = split_command_args(rest);
    if parts.is_empty() {
        return None;
    }
    let name = parts.remove(0);
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then_some((name, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_defaults_and_counts_sequences_per_community() {
        let text = r#"
# a comment
{"type":"member-joined","member":{"id":"alice"}}
{"type":"message-posted","channel":"general","message_id":"m1","author":"alice","text":"hi"}
{"community":"other","type":"member-left","member":"bob"}
"#;
        let events = parse_jsonl(text, "e.jsonl", &mut EventDefaults::default()).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].meta.sequence, 1);
        assert_eq!(events[1].meta.sequence, 2);
        assert_eq!(events[2].meta.community, "other");
        assert_eq!(events[2].meta.sequence, 1);
        assert_eq!(events[0].meta.attempt, 1);
        assert_ne!(events[0].meta.id, events[1].meta.id);
        match &events[0].kind {
            EventKind::MemberJoined { member, .. } => assert_eq!(member.display_name, "alice"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let mut d = EventDefaults::default();
        let err = parse_jsonl("{\"type\":\"member-joined\"}\n{oops", "e.jsonl", &mut d).unwrap_err();
        assert_eq!(err.to_string(), "e.jsonl line 1: missing field `member`");
        let err = parse_jsonl("\n\n{oops", "e.jsonl", &mut d).unwrap_err();
        assert!(
            err.to_string().starts_with("e.jsonl line 3: not a JSON object"),
            "{err}"
        );
        let err = parse_jsonl(r#"{"type":"nope"}"#, "e.jsonl", &mut d).unwrap_err();
        assert!(
            err.to_string().starts_with("e.jsonl line 1: unknown event type `nope`"),
            "{err}"
        );
        let err = parse_jsonl(r#"{"attempt":0,"type":"plugin-uninstalled"}"#, "f", &mut d).unwrap_err();
        assert_eq!(err.to_string(), "f line 1: field `attempt` must be a whole number ≥ 1");
        let err = parse_jsonl(r#"{"type":"member-left","member":"a","colour":"red"}"#, "f", &mut d).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn the_largest_sequence_does_not_overflow() {
        let mut d = EventDefaults::default();
        let e = d
            .parse(
                &format!(r#"{{"sequence":{},"type":"plugin-uninstalled"}}"#, u64::MAX),
                "t",
            )
            .unwrap();
        assert_eq!(e.meta.sequence, u64::MAX);
        assert_eq!(
            d.parse(r#"{"type":"plugin-uninstalled"}"#, "t").unwrap().meta.sequence,
            u64::MAX
        );
    }

    #[test]
    fn json_form_round_trips() {
        let mut d = EventDefaults::default();
        let e = d
            .parse(
                r#"{"id":"x","community":"c","sequence":7,"timestamp_ms":5,"attempt":2,"type":"reaction-added","channel":"g","message_id":"m","member":"a","emoji":"👍"}"#,
                "t",
            )
            .unwrap();
        let back = serde_json::to_value(&e).unwrap();
        let again = EventDefaults::default().from_value(back, "t").unwrap();
        assert_eq!(e, again);
    }

    /// The JSON round trip that [`Event::check_reads_back`] stands in for.
    fn round_trip(event: &Event) -> Result<(), String> {
        let value = serde_json::to_value(event).map_err(|e| e.to_string())?;
        let back = EventDefaults::default()
            .from_value(value, "t")
            .map_err(|e| e.to_string())?;
        if &back == event {
            Ok(())
        } else {
            Err("reads back differently".into())
        }
    }

    /// Every event type with each of its text fields set to `text`.
    fn every_kind(text: &str) -> Vec<EventKind> {
        let s = || text.to_string();
        let profile = MemberProfile {
            id: s(),
            display_name: s(),
            roles: vec![s()],
            is_bot: true,
        };
        let message = Message {
            channel: s(),
            message_id: s(),
            author: s(),
            text: s(),
            mentions: vec![s()],
            reply_to: Some(s()),
        };
        let reaction = Reaction {
            channel: s(),
            message_id: s(),
            member: s(),
            emoji: s(),
            message_author: None,
        };
        let pin = Pin {
            channel: s(),
            message_id: s(),
            member: s(),
            message_author: Some(s()),
        };
        let config = vec![ConfigEntry { key: s(), value: s() }];
        vec![
            EventKind::MemberJoined {
                member: profile.clone(),
                invited_by: Some(s()),
            },
            EventKind::MemberLeft {
                member: s(),
                removed: true,
            },
            EventKind::MemberUpdated { member: profile },
            EventKind::MessagePosted(message),
            EventKind::MessageEdited {
                channel: s(),
                message_id: s(),
                author: s(),
                text: s(),
                mentions: Vec::new(),
                reply_to: None,
                previous_text: s(),
            },
            EventKind::MessageDeleted {
                channel: s(),
                message_id: s(),
                deleted_by: s(),
            },
            EventKind::ReactionAdded(reaction.clone()),
            EventKind::ReactionRemoved(reaction),
            EventKind::MemberMuted {
                member: s(),
                moderator: s(),
                duration_ms: u64::MAX,
                reason: s(),
            },
            EventKind::MemberBanned {
                member: s(),
                moderator: s(),
                reason: s(),
            },
            EventKind::CommandInvoked {
                channel: s(),
                member: s(),
                name: s(),
                args: vec![s(), s()],
                message_id: Some(s()),
            },
            EventKind::PluginInstalled { config: config.clone() },
            EventKind::PluginUninstalled,
            EventKind::ConfigChanged { config },
            EventKind::PluginUpgraded {
                from_version: s(),
                to_version: s(),
            },
            EventKind::TimerFired {
                timer_id: s(),
                name: s(),
                payload: s(),
            },
            EventKind::MessagePinned(pin.clone()),
            EventKind::MessageUnpinned(pin),
        ]
    }

    #[test]
    fn reads_back_agrees_with_a_json_round_trip() {
        let texts = ["", " ", "\t\n", "\u{3000}", "\0", "a", " a ", "é", "id", "{\"type\":1}"];
        let mut checked = 0;
        let mut refused = 0;
        let mut agree = |event: Event| {
            let (direct, slow) = (event.check_reads_back(), round_trip(&event));
            assert_eq!(direct.is_ok(), slow.is_ok(), "{event:?}: {direct:?} vs {slow:?}");
            checked += 1;
            refused += usize::from(direct.is_err());
        };
        for text in texts {
            for kind in every_kind(text) {
                for id in texts {
                    for community in texts {
                        for (attempt, sequence) in [(0, 0), (1, 1), (u32::MAX, u64::MAX)] {
                            let meta = EventMeta {
                                id: id.into(),
                                community: community.into(),
                                sequence,
                                timestamp_ms: sequence,
                                attempt,
                            };
                            agree(Event {
                                meta,
                                kind: kind.clone(),
                            });
                        }
                    }
                }
            }
        }
        let meta = || EventMeta {
            id: "e".into(),
            community: "c".into(),
            sequence: 1,
            timestamp_ms: 1,
            attempt: 1,
        };
        for id in texts {
            for display_name in texts {
                let member = MemberProfile {
                    id: id.into(),
                    display_name: display_name.into(),
                    roles: Vec::new(),
                    is_bot: false,
                };
                let kinds = [
                    EventKind::MemberJoined {
                        member: member.clone(),
                        invited_by: None,
                    },
                    EventKind::MemberUpdated { member },
                ];
                for kind in kinds {
                    agree(Event { meta: meta(), kind });
                }
            }
        }
        assert!(
            checked > 50_000 && refused > 0 && refused < checked,
            "{refused} of {checked}"
        );
    }

    #[test]
    fn command_parsing() {
        assert_eq!(
            parse_command(r#"/poll "Lunch today?" pizza 'dim sum'"#),
            Some((
                "poll".into(),
                vec!["Lunch today?".into(), "pizza".into(), "dim sum".into()]
            ))
        );
        assert_eq!(parse_command("/results 1"), Some(("results".into(), vec!["1".into()])));
        assert_eq!(parse_command("hello /poll"), None);
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command("/a.b c"), None);
        assert_eq!(split_command_args(r#"a "" b"#), vec!["a", "", "b"]);
    }
}
