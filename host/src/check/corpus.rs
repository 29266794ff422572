//! The standard corpus: every community event kind, with the texts plugins get wrong (unicode,
//! empty, the largest a message may be), and each of the plugin's own commands with no, some,
//! unicode and huge arguments. Lifecycle events and redeliveries are added by the checks.

use serde_json::{json, Value};

use crate::runtime::Plugin;

/// One event to deliver, named for the report.
pub struct Item {
    /// What it is, e.g. `message-posted (empty text)`.
    pub label: String,
    /// The event's JSON without meta fields.
    pub json: Value,
}

/// Text in many scripts, a right-to-left override, a zero-width joiner sequence and an emoji.
pub const UNICODE: &str = "Grüße, 世界! مرحبا \u{202e}txet desrever\u{202c} 👩‍👩‍👧 ✓";

fn item(label: impl Into<String>, json: Value) -> Item {
    Item {
        label: label.into(),
        json,
    }
}

/// A text of exactly `chars` characters, mostly multi-byte ones.
pub fn max_text(chars: usize) -> String {
    "é世🙂a".chars().cycle().take(chars).collect()
}

/// The community events, then the plugin's commands.
pub fn community_events(plugin: &Plugin, message_chars: usize) -> Vec<Item> {
    let big = max_text(message_chars);
    let me = &plugin.name;
    let message = |id: &str, text: &str| json!({"type": "message-posted", "channel": "general", "message_id": id, "author": "alice", "text": text});
    let mut items = vec![
        item(
            "member-joined",
            json!({"type": "member-joined", "member": {"id": "alice", "display_name": "Alice"}}),
        ),
        item(
            "member-joined (unicode name, invited)",
            json!({"type": "member-joined", "member": {"id": "bob", "display_name": UNICODE, "roles": ["member"]}, "invited_by": "alice"}),
        ),
        item(
            "member-joined (empty name, bot)",
            json!({"type": "member-joined", "member": {"id": "carol", "display_name": "", "is_bot": true}}),
        ),
        item(
            "member-updated (moderator)",
            json!({"type": "member-updated", "member": {"id": "alice", "display_name": "Alice", "roles": ["moderator"]}}),
        ),
        item("message-posted", message("m1", "hello everyone")),
        item("message-posted (unicode)", message("m2", UNICODE)),
        item("message-posted (empty text)", message("m3", "")),
        item("message-posted (maximum size)", message("m4", &big)),
        item(
            "message-posted (links)",
            message("m5", "see https://a.example/x http://b.example https://c.example/?q=1"),
        ),
        item(
            "message-posted (mention, reply)",
            json!({"type": "message-posted", "channel": "general", "message_id": "m6", "author": "bob",
                   "text": format!("@{me} hi"), "mentions": [format!("plugin:{me}")], "reply_to": "m1"}),
        ),
        item("message-posted (a slash only)", message("m7", "/")),
        item(
            "message-edited",
            json!({"type": "message-edited", "channel": "general", "message_id": "m1", "author": "alice",
                   "text": UNICODE, "previous_text": "hello everyone"}),
        ),
        item(
            "message-deleted",
            json!({"type": "message-deleted", "channel": "general", "message_id": "m2", "deleted_by": "alice"}),
        ),
        item(
            "reaction-added",
            json!({"type": "reaction-added", "channel": "general", "message_id": "m1", "member": "bob", "emoji": "👍", "message_author": "alice"}),
        ),
        item(
            "reaction-added (unknown message, empty emoji)",
            json!({"type": "reaction-added", "channel": "general", "message_id": "nowhere", "member": "bob", "emoji": ""}),
        ),
        item(
            "reaction-removed",
            json!({"type": "reaction-removed", "channel": "general", "message_id": "m1", "member": "bob", "emoji": "👍"}),
        ),
        item(
            "member-muted",
            json!({"type": "member-muted", "member": "bob", "moderator": "alice", "duration_ms": 60000, "reason": UNICODE}),
        ),
        item(
            "member-banned (empty reason)",
            json!({"type": "member-banned", "member": "carol", "moderator": "alice"}),
        ),
        item("member-left", json!({"type": "member-left", "member": "dave"})),
        item(
            "member-left (removed)",
            json!({"type": "member-left", "member": "carol", "removed": true}),
        ),
    ];
    if crate::wit::knows_event(plugin.api(), "message-pinned") {
        items.push(item(
            "message-pinned",
            json!({"type": "message-pinned", "channel": "general", "message_id": "m1", "member": "alice", "message_author": "alice"}),
        ));
        items.push(item(
            "message-unpinned (unknown message)",
            json!({"type": "message-unpinned", "channel": "general", "message_id": "nowhere", "member": "bob"}),
        ));
    }
    for c in &plugin.commands {
        let name = &c.name;
        let command = |args: Value| json!({"type": "command-invoked", "channel": "general", "member": "alice", "name": name, "args": args, "message_id": null});
        items.push(item(format!("/{name}"), command(json!([]))));
        items.push(item(format!("/{name} a b"), command(json!(["a", "b"]))));
        items.push(item(format!("/{name} (unicode)"), command(json!([UNICODE, "", "0"]))));
        items.push(item(format!("/{name} (maximum size)"), command(json!([big.clone()]))));
        items.push(item(
            format!("/{name} as a message"),
            message(&format!("cmd-{name}"), &format!("/{name} 1 2 3")),
        ));
    }
    items
}
