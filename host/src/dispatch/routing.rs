//! Which event an install receives for a community event: default deny.
//!
//! An install receives an event only if its manifest subscribes to the event type **and** the
//! admin granted what the event needs:
//! - `message-posted`, `message-edited`: `messages:read`, or `messages:read.mentions` for messages
//!   that mention the plugin (`@ID` in the text or `plugin:ID` in the mentions);
//! - `message-deleted`, `message-pinned`, `message-unpinned`: either read capability;
//! - `reaction-added`, `reaction-removed`: `reactions:read`;
//! - `member-updated` (profile changes): `members:read`;
//! - `command-invoked`: `commands`, and only for commands the plugin offers. A posted message
//!   that starts with one of its commands reaches it as `command-invoked` instead;
//! - `member-joined`, `member-left`, `member-muted`, `member-banned`: the subscription alone.

use std::borrow::Cow;

use super::Install;
use crate::capability::{Capability, GrantSet};
use crate::event::{parse_command, Event, EventKind};

/// The event `install` should receive for `event`, or `None` if it must not receive it; borrowed
/// unless it differs (a command), so the hot path does not copy the event.
pub(crate) fn route<'a>(event: &'a Event, install: &Install) -> Option<Cow<'a, Event>> {
    let grants = install.grants.snapshot();
    let manifest = &install.plugin.manifest;
    let subscribed = |t: &str| manifest.subscribes_to(t);
    match &event.kind {
        EventKind::MessagePosted(message) => {
            if let Some((name, args)) = parse_command(&message.text) {
                if install.plugin.offers_command(&name)
                    && grants.contains(Capability::Commands)
                    && subscribed("command-invoked")
                {
                    return Some(Cow::Owned(Event {
                        meta: event.meta.clone(),
                        kind: EventKind::CommandInvoked {
                            channel: message.channel.clone(),
                            member: message.author.clone(),
                            name,
                            args,
                            message_id: Some(message.message_id.clone()),
                        },
                    }));
                }
            }
            let allowed = subscribed("message-posted")
                && may_read(&grants, &install.plugin.name, &message.text, &message.mentions);
            allowed.then_some(Cow::Borrowed(event))
        }
        EventKind::MessageEdited { text, mentions, .. } => {
            let allowed = subscribed("message-edited") && may_read(&grants, &install.plugin.name, text, mentions);
            allowed.then_some(Cow::Borrowed(event))
        }
        EventKind::MessageDeleted { .. } | EventKind::MessagePinned(_) | EventKind::MessageUnpinned(_) => {
            (subscribed(event.kind.type_name())
                && (grants.contains(Capability::MessagesRead) || grants.contains(Capability::MessagesReadMentions)))
            .then_some(Cow::Borrowed(event))
        }
        EventKind::ReactionAdded(_) | EventKind::ReactionRemoved(_) => (subscribed(event.kind.type_name())
            && grants.contains(Capability::ReactionsRead))
        .then_some(Cow::Borrowed(event)),
        EventKind::MemberUpdated { .. } => {
            (subscribed("member-updated") && grants.contains(Capability::MembersRead)).then_some(Cow::Borrowed(event))
        }
        EventKind::CommandInvoked { name, .. } => (install.plugin.offers_command(name)
            && grants.contains(Capability::Commands)
            && subscribed("command-invoked"))
        .then_some(Cow::Borrowed(event)),
        other => subscribed(other.type_name()).then_some(Cow::Borrowed(event)),
    }
}

/// Full content with `messages:read`; with `messages:read.mentions` only messages that mention
/// the plugin.
fn may_read(grants: &GrantSet, plugin: &str, text: &str, mentions: &[String]) -> bool {
    if grants.contains(Capability::MessagesRead) {
        return true;
    }
    grants.contains(Capability::MessagesReadMentions) && mentions_plugin(plugin, text, mentions)
}

fn mentions_plugin(plugin: &str, text: &str, mentions: &[String]) -> bool {
    let handle = format!("@{plugin}");
    mentions.iter().any(|m| m.strip_prefix("plugin:") == Some(plugin))
        || text
            .split(|c: char| c.is_whitespace() || ",.!?;:".contains(c))
            .any(|w| w == handle)
}

#[cfg(test)]
mod tests {
    use super::mentions_plugin;

    #[test]
    fn mentions_by_handle_or_mention_list() {
        assert!(mentions_plugin("poll", "hey @poll, results?", &[]));
        assert!(mentions_plugin("poll", "hi", &["plugin:poll".to_string()]));
        assert!(!mentions_plugin("poll", "hey @pollster", &[]));
        assert!(!mentions_plugin("poll", "poll please", &["poll".to_string()]));
    }
}
