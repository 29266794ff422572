//! 0.1.0 ⇄ latest conversions. Records unchanged since 0.1.0 convert both ways; the event
//! variant converts only downwards, and only for the kinds 0.1.0 knows.

use super::plaza::plugin::{http as old_http, logging as old_logging, members as old_members};
use super::types as old;
use crate::wit::convert::{both_ways, enum_both_ways, Convert};
use crate::wit::latest::plaza::plugin::{http as new_http, logging as new_logging, members as new_members};
use crate::wit::latest::types as new;

both_ways!(
    old::EventMeta,
    new::EventMeta {
        event_id,
        community_id,
        sequence,
        timestamp_ms,
        attempt
    }
);
both_ways!(
    old::MemberProfile,
    new::MemberProfile {
        id,
        display_name,
        roles,
        is_bot
    }
);
both_ways!(
    old::Message,
    new::Message {
        id,
        channel,
        author,
        text,
        mentions,
        reply_to
    }
);
both_ways!(old::MemberJoined, new::MemberJoined { member, invited_by });
both_ways!(old::MemberLeft, new::MemberLeft { member, removed });
both_ways!(old::MemberUpdated, new::MemberUpdated { member });
both_ways!(old::MessageEdited, new::MessageEdited { message, previous_text });
both_ways!(
    old::MessageDeleted,
    new::MessageDeleted {
        channel,
        message_id,
        deleted_by
    }
);
both_ways!(
    old::Reaction,
    new::Reaction {
        channel,
        message_id,
        member,
        emoji,
        message_author
    }
);
both_ways!(
    old::MemberMuted,
    new::MemberMuted {
        member,
        moderator,
        duration_ms,
        reason
    }
);
both_ways!(
    old::MemberBanned,
    new::MemberBanned {
        member,
        moderator,
        reason
    }
);
both_ways!(
    old::CommandInvoked,
    new::CommandInvoked {
        channel,
        member,
        name,
        args,
        message_id
    }
);
both_ways!(old::ConfigEntry, new::ConfigEntry { key, value });
both_ways!(old::PluginInstalled, new::PluginInstalled { config });
both_ways!(old::ConfigChanged, new::ConfigChanged { config });
both_ways!(
    old::PluginUpgraded,
    new::PluginUpgraded {
        from_version,
        to_version
    }
);
both_ways!(old::TimerFired, new::TimerFired { id, name, payload });
both_ways!(
    old::HandlerError,
    new::HandlerError {
        code,
        message,
        retryable
    }
);
both_ways!(
    old::ReviewRequest,
    new::ReviewRequest {
        community_id,
        message,
        timestamp_ms
    }
);
both_ways!(
    old::CommandSpec,
    new::CommandSpec {
        name,
        description,
        usage
    }
);
both_ways!(
    old::PluginInfo,
    new::PluginInfo {
        name,
        version,
        description,
        commands
    }
);
both_ways!(
    old_members::MemberPage,
    new_members::MemberPage { members, next_cursor }
);
both_ways!(
    old_http::Request,
    new_http::Request {
        method,
        url,
        headers,
        body,
        timeout_ms
    }
);
both_ways!(old_http::Response, new_http::Response { status, headers, body });
enum_both_ways!(
    old_http::Method,
    new_http::Method {
        Get,
        Post,
        Put,
        Patch,
        Delete
    }
);
enum_both_ways!(
    old_logging::Level,
    new_logging::Level {
        Trace,
        Debug,
        Info,
        Warn,
        Error
    }
);

impl Convert<old::HostError> for new::HostError {
    fn convert(self) -> old::HostError {
        match self {
            new::HostError::Denied(c) => old::HostError::Denied(c),
            new::HostError::RateLimited(ms) => old::HostError::RateLimited(ms),
            new::HostError::QuotaExceeded(q) => old::HostError::QuotaExceeded(q),
            new::HostError::NotFound => old::HostError::NotFound,
            new::HostError::Invalid(t) => old::HostError::Invalid(t),
            new::HostError::Unavailable(t) => old::HostError::Unavailable(t),
        }
    }
}

impl Convert<new::ReviewVerdict> for old::ReviewVerdict {
    fn convert(self) -> new::ReviewVerdict {
        match self {
            old::ReviewVerdict::Allow => new::ReviewVerdict::Allow,
            old::ReviewVerdict::Reject(r) => new::ReviewVerdict::Reject(r),
            old::ReviewVerdict::Rewrite(t) => new::ReviewVerdict::Rewrite(t),
        }
    }
}

/// The event as a 0.1.0 plugin sees it; `None` for kinds added after 0.1.0 (routing never
/// sends those to a 0.1.0 plugin: its manifest cannot subscribe to them).
pub(crate) fn event(e: &new::Event) -> Option<old::Event> {
    use new::EventKind as N;
    use old::EventKind as O;
    let kind = match e.kind.clone() {
        N::MemberJoined(x) => O::MemberJoined(x.convert()),
        N::MemberLeft(x) => O::MemberLeft(x.convert()),
        N::MemberUpdated(x) => O::MemberUpdated(x.convert()),
        N::MessagePosted(x) => O::MessagePosted(x.convert()),
        N::MessageEdited(x) => O::MessageEdited(x.convert()),
        N::MessageDeleted(x) => O::MessageDeleted(x.convert()),
        N::ReactionAdded(x) => O::ReactionAdded(x.convert()),
        N::ReactionRemoved(x) => O::ReactionRemoved(x.convert()),
        N::MemberMuted(x) => O::MemberMuted(x.convert()),
        N::MemberBanned(x) => O::MemberBanned(x.convert()),
        N::CommandInvoked(x) => O::CommandInvoked(x.convert()),
        N::PluginInstalled(x) => O::PluginInstalled(x.convert()),
        N::PluginUninstalled => O::PluginUninstalled,
        N::ConfigChanged(x) => O::ConfigChanged(x.convert()),
        N::PluginUpgraded(x) => O::PluginUpgraded(x.convert()),
        N::TimerFired(x) => O::TimerFired(x.convert()),
        N::MessagePinned(_) | N::MessageUnpinned(_) => return None,
    };
    Some(old::Event {
        meta: e.meta.clone().convert(),
        kind,
    })
}
