//! Posting messages (WIT `messaging`). Needs the `messages:send` capability.
//!
//! Messages are sent when the handler returns `Ok`; if it fails, nothing is sent. For answering a
//! slash command, [`CommandInvoked::respond`](crate::CommandInvoked::respond) picks `reply` or
//! `send` for you.

use crate::{HostError, MessageId};

/// Posts `text` to `channel`. Returns the id the message will have.
pub fn send(channel: &str, text: &str) -> Result<MessageId, HostError> {
    crate::sys::messaging::send(channel, text)
}

/// Posts `text` in `channel` as a reply to the message `to` (which must be in that channel).
pub fn reply(channel: &str, to: &str, text: &str) -> Result<MessageId, HostError> {
    crate::sys::messaging::reply(channel, to, text)
}

/// Replaces the text of message `id` in `channel`, which this plugin posted earlier.
pub fn edit_own(channel: &str, id: &str, text: &str) -> Result<(), HostError> {
    crate::sys::messaging::edit_own(channel, id, text)
}
