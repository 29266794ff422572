//! Reading member profiles (WIT `members`). Needs `members:read`.
//!
//! Member ids are stable per-plugin pseudonyms unless the plugin holds `members:identity`.

use crate::{HostError, MemberProfile};

pub use crate::bindings::plaza::plugin::members::MemberPage;

/// The profile of `member` ([`HostError::NotFound`] if there is no such member).
pub fn get_profile(member: &str) -> Result<MemberProfile, HostError> {
    crate::sys::members::get_profile(member)
}

/// One page of at most `limit` members (the host may cap `limit`), starting after `cursor`
/// (`None` for the first page; then pass the previous page's `next_cursor`).
pub fn list_page(cursor: Option<&str>, limit: u32) -> Result<MemberPage, HostError> {
    crate::sys::members::list_page(cursor, limit)
}

/// True if `member` holds any of `roles` (e.g. `&["admin", "moderator"]`), by reading their
/// profile.
pub fn has_any_role(member: &str, roles: &[&str]) -> Result<bool, HostError> {
    let profile = get_profile(member)?;
    Ok(roles.iter().any(|r| profile.has_role(r)))
}
