//! Moderating a community (WIT `moderation`). Deleting others' messages needs `messages:manage`;
//! mute, kick and ban need `members:moderate`. Applied when the handler returns `Ok`.

use crate::HostError;

/// One minute in milliseconds, for [`mute`] durations: `mute(m, 10 * MINUTE_MS, "...")`.
pub const MINUTE_MS: u64 = 60_000;

/// Deletes message `id` in `channel`, giving `reason` for the audit log.
pub fn delete_message(channel: &str, id: &str, reason: &str) -> Result<(), HostError> {
    crate::sys::moderation::delete_message(channel, id, reason)
}

/// Stops `member` from posting for `duration_ms` milliseconds.
pub fn mute(member: &str, duration_ms: u64, reason: &str) -> Result<(), HostError> {
    crate::sys::moderation::mute(member, duration_ms, reason)
}

/// Removes `member` from the community; they may join again.
pub fn kick(member: &str, reason: &str) -> Result<(), HostError> {
    crate::sys::moderation::kick(member, reason)
}

/// Removes `member` from the community and keeps them out.
pub fn ban(member: &str, reason: &str) -> Result<(), HostError> {
    crate::sys::moderation::ban(member, reason)
}
