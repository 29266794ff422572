//! The [`Plugin`] trait and the default event dispatch.

use crate::{
    CommandInvoked, ConfigChanged, Event, EventKind, EventMeta, HandlerError, MemberBanned, MemberJoined, MemberLeft,
    MemberMuted, MemberUpdated, Message, MessageDeleted, MessageEdited, MessagePin, PluginInfo, PluginInstalled,
    PluginUpgraded, Reaction, ReviewRequest, ReviewVerdict, TimerFired,
};

/// A Plaza plugin. Implement it on a (usually empty) type and pass that type to
/// [`export_plugin!`](crate::export_plugin).
///
/// Only [`Plugin::info`] is required. [`Plugin::on_event`] by default calls the `on_*` method
/// matching the event's kind (see [`dispatch`]); each of those does nothing by default, so a
/// plugin overrides just the events it handles. Every handler gets the event's delivery facts
/// ([`EventMeta`]: id, community, sequence, timestamp, attempt) and its payload.
///
/// Returning `Err` from a handler discards all of the invocation's effects (sent messages,
/// moderation, KV writes, timers) and the host may deliver the event again; return `Ok` for
/// anything the plugin handled, including bad user input it answered with a message.
///
/// Plugins are stateless between invocations: keep state in [`kv`](crate::kv).
pub trait Plugin {
    /// Who the plugin is and which slash commands it offers (the host routes only those commands
    /// to it). Must not call host interfaces.
    fn info() -> PluginInfo;

    /// Handles one event. The default calls [`dispatch`], i.e. the `on_*` method for the event's
    /// kind; override it to see every event in one place.
    fn on_event(event: Event) -> Result<(), HandlerError> {
        dispatch::<Self>(event)
    }

    /// The synchronous moderation review of a message before it is posted (needs the
    /// `moderation:review` capability, under a hard time budget). Defaults to
    /// [`ReviewVerdict::Allow`].
    fn review_message(request: ReviewRequest) -> Result<ReviewVerdict, HandlerError> {
        let _ = request;
        Ok(ReviewVerdict::Allow)
    }

    /// A member joined the community.
    fn on_member_joined(meta: &EventMeta, joined: MemberJoined) -> Result<(), HandlerError> {
        let _ = (meta, joined);
        Ok(())
    }

    /// A member left or was removed.
    fn on_member_left(meta: &EventMeta, left: MemberLeft) -> Result<(), HandlerError> {
        let _ = (meta, left);
        Ok(())
    }

    /// A member changed their profile.
    fn on_member_updated(meta: &EventMeta, updated: MemberUpdated) -> Result<(), HandlerError> {
        let _ = (meta, updated);
        Ok(())
    }

    /// A message was posted (slash commands for this plugin arrive as [`Plugin::on_command`]
    /// instead).
    fn on_message_posted(meta: &EventMeta, message: Message) -> Result<(), HandlerError> {
        let _ = (meta, message);
        Ok(())
    }

    /// A message was edited by its author.
    fn on_message_edited(meta: &EventMeta, edited: MessageEdited) -> Result<(), HandlerError> {
        let _ = (meta, edited);
        Ok(())
    }

    /// A message was deleted.
    fn on_message_deleted(meta: &EventMeta, deleted: MessageDeleted) -> Result<(), HandlerError> {
        let _ = (meta, deleted);
        Ok(())
    }

    /// A message was pinned to its channel (since `plaza:plugin@0.2.0`; needs `messages:read`
    /// or `messages:read.mentions`, and `message-pinned` in the manifest's subscriptions).
    fn on_message_pinned(meta: &EventMeta, pin: MessagePin) -> Result<(), HandlerError> {
        let _ = (meta, pin);
        Ok(())
    }

    /// A message was unpinned (since `plaza:plugin@0.2.0`).
    fn on_message_unpinned(meta: &EventMeta, pin: MessagePin) -> Result<(), HandlerError> {
        let _ = (meta, pin);
        Ok(())
    }

    /// A reaction was added to a message.
    fn on_reaction_added(meta: &EventMeta, reaction: Reaction) -> Result<(), HandlerError> {
        let _ = (meta, reaction);
        Ok(())
    }

    /// A reaction was removed from a message.
    fn on_reaction_removed(meta: &EventMeta, reaction: Reaction) -> Result<(), HandlerError> {
        let _ = (meta, reaction);
        Ok(())
    }

    /// A moderator muted a member.
    fn on_member_muted(meta: &EventMeta, muted: MemberMuted) -> Result<(), HandlerError> {
        let _ = (meta, muted);
        Ok(())
    }

    /// A moderator banned a member.
    fn on_member_banned(meta: &EventMeta, banned: MemberBanned) -> Result<(), HandlerError> {
        let _ = (meta, banned);
        Ok(())
    }

    /// A member invoked one of the commands listed in [`Plugin::info`].
    fn on_command(meta: &EventMeta, command: CommandInvoked) -> Result<(), HandlerError> {
        let _ = (meta, command);
        Ok(())
    }

    /// The plugin was installed in a community, with this configuration.
    fn on_installed(meta: &EventMeta, installed: PluginInstalled) -> Result<(), HandlerError> {
        let _ = (meta, installed);
        Ok(())
    }

    /// The plugin is being removed; its data in this community is deleted after this event.
    fn on_uninstalled(meta: &EventMeta) -> Result<(), HandlerError> {
        let _ = meta;
        Ok(())
    }

    /// The admin changed the install's configuration (the payload holds the whole new
    /// configuration).
    fn on_config_changed(meta: &EventMeta, changed: ConfigChanged) -> Result<(), HandlerError> {
        let _ = (meta, changed);
        Ok(())
    }

    /// The install moved to a new version of the plugin.
    fn on_upgraded(meta: &EventMeta, upgraded: PluginUpgraded) -> Result<(), HandlerError> {
        let _ = (meta, upgraded);
        Ok(())
    }

    /// A timer created through [`scheduler`](crate::scheduler) is due.
    fn on_timer(meta: &EventMeta, timer: TimerFired) -> Result<(), HandlerError> {
        let _ = (meta, timer);
        Ok(())
    }
}

/// Calls the [`Plugin`] method matching `event.kind`; the default [`Plugin::on_event`].
pub fn dispatch<P: Plugin + ?Sized>(event: Event) -> Result<(), HandlerError> {
    let Event { meta, kind } = event;
    let meta = &meta;
    match kind {
        EventKind::MemberJoined(e) => P::on_member_joined(meta, e),
        EventKind::MemberLeft(e) => P::on_member_left(meta, e),
        EventKind::MemberUpdated(e) => P::on_member_updated(meta, e),
        EventKind::MessagePosted(e) => P::on_message_posted(meta, e),
        EventKind::MessageEdited(e) => P::on_message_edited(meta, e),
        EventKind::MessageDeleted(e) => P::on_message_deleted(meta, e),
        EventKind::ReactionAdded(e) => P::on_reaction_added(meta, e),
        EventKind::ReactionRemoved(e) => P::on_reaction_removed(meta, e),
        EventKind::MemberMuted(e) => P::on_member_muted(meta, e),
        EventKind::MemberBanned(e) => P::on_member_banned(meta, e),
        EventKind::CommandInvoked(e) => P::on_command(meta, e),
        EventKind::PluginInstalled(e) => P::on_installed(meta, e),
        EventKind::PluginUninstalled => P::on_uninstalled(meta),
        EventKind::ConfigChanged(e) => P::on_config_changed(meta, e),
        EventKind::PluginUpgraded(e) => P::on_upgraded(meta, e),
        EventKind::TimerFired(e) => P::on_timer(meta, e),
        EventKind::MessagePinned(e) => P::on_message_pinned(meta, e),
        EventKind::MessageUnpinned(e) => P::on_message_unpinned(meta, e),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::testing;

    /// Records which handler ran, through the simulated host's log.
    struct Recorder;

    impl Plugin for Recorder {
        fn info() -> PluginInfo {
            PluginInfo::new("recorder", "0.0.0", "test")
        }
        fn on_member_joined(_: &EventMeta, j: MemberJoined) -> Result<(), HandlerError> {
            crate::info!("joined {}", j.member.id);
            Ok(())
        }
        fn on_command(meta: &EventMeta, c: CommandInvoked) -> Result<(), HandlerError> {
            crate::info!("command {} {:?} seq {}", c.name, c.args, meta.sequence);
            Ok(())
        }
        fn on_uninstalled(_: &EventMeta) -> Result<(), HandlerError> {
            Err(HandlerError::new("nope", "refusing to go"))
        }
        fn on_timer(_: &EventMeta, t: TimerFired) -> Result<(), HandlerError> {
            crate::info!("timer {} {}", t.name, t.payload);
            Ok(())
        }
    }

    fn log_lines() -> Vec<String> {
        testing::logs().into_iter().map(|(_, l)| l).collect()
    }

    #[test]
    fn dispatch_routes_each_kind_to_its_method() {
        testing::deliver::<Recorder>(testing::joined("m1", "Ada")).unwrap();
        testing::deliver::<Recorder>(testing::command("c", "m1", "x", &["a b", "c"])).unwrap();
        testing::deliver::<Recorder>(testing::timer_fired("t1", "tick", "42")).unwrap();
        // Unhandled kinds fall through to the no-op defaults.
        testing::deliver::<Recorder>(testing::posted("c", "m1", "hi")).unwrap();
        testing::deliver::<Recorder>(testing::config_changed(&[("k", "v")])).unwrap();
        let lines = log_lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "joined m1");
        assert!(lines[1].starts_with("command x [\"a b\", \"c\"] seq "));
        assert_eq!(lines[2], "timer tick 42");
    }

    #[test]
    fn unit_variant_dispatches_and_errors_propagate() {
        let err = testing::deliver::<Recorder>(EventKind::PluginUninstalled).unwrap_err();
        assert_eq!(err.code, "nope");
    }

    #[test]
    fn review_defaults_to_allow() {
        let verdict = testing::review::<Recorder>(testing::message("c", "m1", "spam spam")).unwrap();
        assert_eq!(verdict, ReviewVerdict::Allow);
    }
}
