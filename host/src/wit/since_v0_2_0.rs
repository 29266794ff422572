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

fn profile(p: &event::MemberProfile) -> types::MemberProfile {
    types::MemberProfile {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        roles: p.roles.clone(),
        is_bot: p.is_bot,
    }
}

/// Converts a stored profile into the WIT shape.
pub fn member_profile(p: &event::MemberProfile) -> types::MemberProfile {
    profile(p)
}

fn config(entries: &[event::ConfigEntry]) -> Vec<types::ConfigEntry> {
    entries
        .iter()
        .map(|e| types::ConfigEntry {
            key: e.key.clone(),
            value: e.value.clone(),
        })
        .collect()
}

fn pin(p: &event::Pin) -> types::MessagePin {
    types::MessagePin {
        channel: p.channel.clone(),
        message_id: p.message_id.clone(),
        member: p.member.clone(),
        message_author: p.message_author.clone(),
    }
}

fn reaction(r: &event::Reaction) -> types::Reaction {
    types::Reaction {
        channel: r.channel.clone(),
        message_id: r.message_id.clone(),
        member: r.member.clone(),
        emoji: r.emoji.clone(),
        message_author: r.message_author.clone(),
    }
}

/// Converts a message into the WIT shape.
pub fn message(m: &event::Message) -> types::Message {
    types::Message {
        id: m.message_id.clone(),
        channel: m.channel.clone(),
        author: m.author.clone(),
        text: m.text.clone(),
        mentions: m.mentions.clone(),
        reply_to: m.reply_to.clone(),
    }
}

impl From<&event::Event> for types::Event {
    fn from(e: &event::Event) -> Self {
        let meta = types::EventMeta {
            event_id: e.meta.id.clone(),
            community_id: e.meta.community.clone(),
            sequence: e.meta.sequence,
            timestamp_ms: e.meta.timestamp_ms,
            attempt: e.meta.attempt,
        };
        use types::EventKind as W;
        let kind = match &e.kind {
            K::MemberJoined { member, invited_by } => W::MemberJoined(types::MemberJoined {
                member: profile(member),
                invited_by: invited_by.clone(),
            }),
            K::MemberLeft { member, removed } => W::MemberLeft(types::MemberLeft {
                member: member.clone(),
                removed: *removed,
            }),
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
                    id: message_id.clone(),
                    channel: channel.clone(),
                    author: author.clone(),
                    text: text.clone(),
                    mentions: mentions.clone(),
                    reply_to: reply_to.clone(),
                },
                previous_text: previous_text.clone(),
            }),
            K::MessageDeleted {
                channel,
                message_id,
                deleted_by,
            } => W::MessageDeleted(types::MessageDeleted {
                channel: channel.clone(),
                message_id: message_id.clone(),
                deleted_by: deleted_by.clone(),
            }),
            K::ReactionAdded(r) => W::ReactionAdded(reaction(r)),
            K::ReactionRemoved(r) => W::ReactionRemoved(reaction(r)),
            K::MemberMuted {
                member,
                moderator,
                duration_ms,
                reason,
            } => W::MemberMuted(types::MemberMuted {
                member: member.clone(),
                moderator: moderator.clone(),
                duration_ms: *duration_ms,
                reason: reason.clone(),
            }),
            K::MemberBanned {
                member,
                moderator,
                reason,
            } => W::MemberBanned(types::MemberBanned {
                member: member.clone(),
                moderator: moderator.clone(),
                reason: reason.clone(),
            }),
            K::CommandInvoked {
                channel,
                member,
                name,
                args,
                message_id,
            } => W::CommandInvoked(types::CommandInvoked {
                channel: channel.clone(),
                member: member.clone(),
                name: name.clone(),
                args: args.clone(),
                message_id: message_id.clone(),
            }),
            K::PluginInstalled { config: c } => W::PluginInstalled(types::PluginInstalled { config: config(c) }),
            K::PluginUninstalled => W::PluginUninstalled,
            K::ConfigChanged { config: c } => W::ConfigChanged(types::ConfigChanged { config: config(c) }),
            K::PluginUpgraded {
                from_version,
                to_version,
            } => W::PluginUpgraded(types::PluginUpgraded {
                from_version: from_version.clone(),
                to_version: to_version.clone(),
            }),
            K::TimerFired {
                timer_id,
                name,
                payload,
            } => W::TimerFired(types::TimerFired {
                id: timer_id.clone(),
                name: name.clone(),
                payload: payload.clone(),
            }),
            K::MessagePinned(p) => W::MessagePinned(pin(p)),
            K::MessageUnpinned(p) => W::MessageUnpinned(pin(p)),
        };
        types::Event { meta, kind }
    }
}
