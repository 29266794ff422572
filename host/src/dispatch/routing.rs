//! Which event an install receives for a community event.
//!
//! A posted message that starts with one of an install's slash commands reaches that install as
//! `command-invoked` (with shell-style arguments); every other install gets `message-posted`.

use super::Install;
use crate::event::{parse_command, Event, EventKind};

/// The event `install` should receive for `event`, or `None` if it should not receive it.
pub(super) fn route(event: &Event, install: &Install) -> Option<Event> {
    if let EventKind::MessagePosted(message) = &event.kind {
        if let Some((name, args)) = parse_command(&message.text) {
            if install.plugin.offers_command(&name) {
                return Some(Event {
                    meta: event.meta.clone(),
                    kind: EventKind::CommandInvoked {
                        channel: message.channel.clone(),
                        member: message.author.clone(),
                        name,
                        args,
                        message_id: Some(message.message_id.clone()),
                    },
                });
            }
        }
    }
    if let EventKind::CommandInvoked { name, .. } = &event.kind {
        if !install.plugin.offers_command(name) {
            return None;
        }
    }
    Some(event.clone())
}
