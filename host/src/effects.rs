//! The effects one invocation asked for, held until its handler returns.
//!
//! Host calls that change the world (send, moderate, KV writes, timers) only append here. The
//! dispatcher applies the list when the handler returns successfully and drops it otherwise, so a
//! trap or an error never leaves half an effect behind. KV reads consult the overlay first, so a
//! plugin reads its own earlier writes within the same invocation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Serialize, Serializer};

/// One effect a plugin caused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Post a message (a reply when `reply_to` is set).
    SendMessage {
        channel: String,
        message_id: String,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    /// Replace the text of a message the plugin posted.
    EditMessage {
        channel: String,
        message_id: String,
        text: String,
    },
    /// Delete a message.
    DeleteMessage {
        channel: String,
        message_id: String,
        reason: String,
    },
    /// Mute a member.
    MuteMember {
        member: String,
        duration_ms: u64,
        reason: String,
    },
    /// Kick a member.
    KickMember { member: String, reason: String },
    /// Ban a member.
    BanMember { member: String, reason: String },
    /// Store a value in the plugin's KV.
    KvSet { key: String, value: KvValue },
    /// Remove a key from the plugin's KV.
    KvDelete { key: String },
    /// Create a timer.
    ScheduleTimer {
        timer_id: String,
        name: String,
        payload: String,
        delay_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        every_ms: Option<u64>,
    },
    /// Cancel a timer.
    CancelTimer { timer_id: String },
}

impl Action {
    /// Whether this action changes what members see (as opposed to plugin-private state).
    pub fn is_visible(&self) -> bool {
        !matches!(
            self,
            Action::KvSet { .. } | Action::KvDelete { .. } | Action::ScheduleTimer { .. } | Action::CancelTimer { .. }
        )
    }
}

/// A KV value; shown as text when it is UTF-8, as hex otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvValue(pub Vec<u8>);

impl Serialize for KvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_str(&format!("hex:{}", hex::encode(&self.0))),
        }
    }
}

/// The effects of one invocation, in the order the plugin asked for them.
#[derive(Debug, Default)]
pub struct Effects {
    actions: Vec<Action>,
    kv_overlay: BTreeMap<String, Option<Vec<u8>>>,
    next_id: u32,
}

impl Effects {
    /// A fresh id for an object that `plugin`'s invocation for `event_id` creates, e.g.
    /// `msg:poll:e17:0`. Ids are deterministic: a retry of the same event produces the same
    /// ids, which lets an outbox deduplicate.
    pub fn new_id(&mut self, kind: &str, plugin: &str, event_id: &str) -> String {
        // Sized up front: `format!` guesses from the literal parts and would grow it ~3 times.
        let mut id = String::with_capacity(kind.len() + plugin.len() + event_id.len() + 13);
        let _ = write!(id, "{kind}:{plugin}:{event_id}:{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Records an action.
    pub fn push(&mut self, action: Action) {
        if let Action::KvSet { key, value } = &action {
            self.kv_overlay.insert(key.clone(), Some(value.0.clone()));
        } else if let Action::KvDelete { key } = &action {
            self.kv_overlay.insert(key.clone(), None);
        }
        self.actions.push(action);
    }

    /// What this invocation wrote under `key`: `Some(Some(v))` set, `Some(None)` deleted,
    /// `None` untouched.
    pub fn kv_written(&self, key: &str) -> Option<Option<&[u8]>> {
        self.kv_overlay.get(key).map(|v| v.as_deref())
    }

    /// Keys this invocation wrote or deleted under `prefix`.
    pub fn kv_overlay_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, bool)> + 'a {
        self.kv_overlay
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.is_some()))
    }

    /// The number of actions recorded.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether this invocation created the message `id` (so the plugin may edit it).
    pub fn sent_message(&self, id: &str) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::SendMessage { message_id, .. } if message_id == id))
    }

    /// Whether this invocation created the timer `id`.
    pub fn created_timer(&self, id: &str) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::ScheduleTimer { timer_id, .. } if timer_id == id))
    }

    /// The recorded actions, consuming the buffer.
    pub fn into_actions(self) -> Vec<Action> {
        self.actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_tracks_last_write() {
        let mut e = Effects::default();
        assert_eq!(e.kv_written("a"), None);
        e.push(Action::KvSet {
            key: "a".into(),
            value: KvValue(b"1".to_vec()),
        });
        assert_eq!(e.kv_written("a"), Some(Some(&b"1"[..])));
        e.push(Action::KvDelete { key: "a".into() });
        assert_eq!(e.kv_written("a"), Some(None));
        e.push(Action::KvSet {
            key: "ab".into(),
            value: KvValue(b"2".to_vec()),
        });
        e.push(Action::KvSet {
            key: "b".into(),
            value: KvValue(b"3".to_vec()),
        });
        let under_a: Vec<_> = e.kv_overlay_with_prefix("a").collect();
        assert_eq!(under_a, vec![("a", false), ("ab", true)]);
        assert_eq!(e.len(), 4);
    }

    #[test]
    fn ids_are_deterministic_per_invocation() {
        let (mut a, mut b) = (Effects::default(), Effects::default());
        assert_eq!(a.new_id("msg", "poll", "e1"), "msg:poll:e1:0");
        assert_eq!(b.new_id("msg", "poll", "e1"), "msg:poll:e1:0");
        assert_eq!(a.new_id("timer", "poll", "e1"), b.new_id("timer", "poll", "e1"));
        assert_eq!(a.new_id("msg", "poll", "e1"), "msg:poll:e1:2");
    }

    #[test]
    fn kv_value_shows_text_or_hex() {
        assert_eq!(serde_json::to_string(&KvValue(b"hi".to_vec())).unwrap(), "\"hi\"");
        assert_eq!(serde_json::to_string(&KvValue(vec![0xff, 0])).unwrap(), "\"hex:ff00\"");
    }
}
