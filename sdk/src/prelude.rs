//! What a plugin normally needs, for `use plaza_sdk::prelude::*;`.
//!
//! Brings in the [`Plugin`] trait, [`export_plugin!`], the error types and
//! [`HostResultExt`], the event payload types, and the host-call modules ([`messaging`],
//! [`moderation`], [`members`], [`kv`], [`scheduler`], [`config`]). The `http` module and the
//! logging macros are left out to keep names like `get` and `warn` free: write
//! `plaza_sdk::http::fetch` and `plaza_sdk::info!(...)`.

pub use crate::{config, kv, members, messaging, moderation, scheduler};
pub use crate::{export_plugin, HandlerError, HandlerResult, HostError, HostResultExt, Plugin};
pub use crate::{
    ChannelId, CommandInvoked, CommandSpec, ConfigChanged, ConfigEntry, Event, EventKind, EventMeta, MemberBanned,
    MemberId, MemberJoined, MemberLeft, MemberMuted, MemberProfile, MemberUpdated, Message, MessageDeleted,
    MessageEdited, MessageId, MessagePin, PluginInfo, PluginInstalled, PluginUpgraded, Reaction, ReviewRequest,
    ReviewVerdict, TimerFired, TimerId,
};
