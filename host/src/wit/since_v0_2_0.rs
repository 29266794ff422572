//! `plaza:plugin@0.2.0` bindings (the latest: the host's interfaces implement these), and
//! conversions from the host's event types.

use crate::event::{self, EventKind as K};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

prechecked_instantiate!(describe, handle_event, review_message);

pub use plaza::plugin::types;
pub use plaza::plugin::types::HostError;

/// The WIT package version of these bindings.
pub const VERSION: &str = "0.2.0";

fn profile(p: event::MemberProfile) -> types::MemberProfile {
    types::MemberProfile {
        id: p.id,
        display_name: p.display_name,
        roles: p.roles,
        is_bot: p.is_bot,
    }
}

/// Converts a stored profile into the WIT shape.
pub fn member_profile(p: &event::MemberProfile) -> types::MemberProfile {
    profile(p.clone())
}

fn config(entries: Vec<event::ConfigEntry>) -> Vec<types::ConfigEntry> {
    entries
        .into_iter()
        .map(|e| types::ConfigEntry {
            key: e.key,
            value: e.value,
        })
        .collect()
}

fn pin(p: event::Pin) -> types::MessagePin {
    types::MessagePin {
        channel: p.channel,
        message_id: p.message_id,
        member: p.member,
        message_author: p.message_author,
    }
}

fn reaction(r: event::Reaction) -> types::Reaction {
    types::Reaction {
        channel: r.channel,
        message_id: r.message_id,
        member: r.member,
        emoji: r.emoji,
        message_author: r.message_author,
    }
}

/// Moves a message into the WIT shape.
pub fn message(m: event::Message) -> types::Message {
    types::Message {
        id: m.message_id,
        channel: m.channel,
        author: m.author,
        text: m.text,
        mentions: m.mentions,
        reply_to: m.reply_to,
    }
}

/// Moves the event's strings into the WIT shape: the dispatch path already owns a copy made
/// for the plugin (pseudonyms applied), so nothing is cloned again.
impl From<event::Event> for types::Event {
    fn from(e: event::Event) -> Self {
        let meta = types::EventMeta {
            event_id: e.meta.id,
            community_id: e.meta.community,
            sequence: e.meta.sequence,
            timestamp_ms: e.meta.timestamp_ms,
            attempt: e.meta.attempt,
        };
        use types::EventKind as W;
        let kind = match e.kind {
            K::MemberJoined { member, invited_by } => W::MemberJoined(types::MemberJoined {
                member: profile(member),
                invited_by,
            }),
            K::MemberLeft { member, removed } => W::MemberLeft(types::MemberLeft { member, removed }),
            K::MemberUpdated { member } => W::MemberUpdated(types::MemberUpdated {
                member: profile(member),
            }),
            K::MessagePosted(m) => W::MessagePosted(message(m)),
            K::MessageEdited {
                channel,
                message_id,
                author,
                text,
                mentions,
                reply_to,
                previous_text,
            } => W::MessageEdited(types::MessageEdited {
                message: types::Message {
                    id: message_id,
                    channel,
                    author,
                    text,
                    mentions,
                    reply_to,
                },
                previous_text,
            }),
            K::MessageDeleted {
                channel,
                message_id,
                deleted_by,
            } => W::MessageDeleted(types::MessageDeleted {
                channel,
                message_id,
                deleted_by,
            }),
            K::ReactionAdded(r) => W::ReactionAdded(reaction(r)),
            K::ReactionRemoved(r) => W::ReactionRemoved(reaction(r)),
            K::MemberMuted {
                member,
                moderator,
                duration_ms,
                reason,
            } => W::MemberMuted(types::MemberMuted {
                member,
                moderator,
                duration_ms,
                reason,
            }),
            K::MemberBanned {
                member,
                moderator,
                reason,
            } => W::MemberBanned(types::MemberBanned {
                member,
                moderator,
                reason,
            }),
            K::CommandInvoked {
                channel,
                member,
                name,
                args,
                message_id,
            } => W::CommandInvoked(types::CommandInvoked {
                channel,
                member,
                name,
                args,
                message_id,
            }),
            K::PluginInstalled { config: c } => W::PluginInstalled(types::PluginInstalled { config: config(c) }),
            K::PluginUninstalled => W::PluginUninstalled,
            K::ConfigChanged { config: c } => W::ConfigChanged(types::ConfigChanged { config: config(c) }),
            K::PluginUpgraded {
                from_version,
                to_version,
            } => W::PluginUpgraded(types::PluginUpgraded {
                from_version,
                to_version,
            }),
            K::TimerFired {
                timer_id,
                name,
                payload,
            } => W::TimerFired(types::TimerFired {
                id: timer_id,
                name,
                payload,
            }),
            K::MessagePinned(p) => W::MessagePinned(pin(p)),
            K::MessageUnpinned(p) => W::MessageUnpinned(pin(p)),
        };
        types::Event { meta, kind }
    }
}
