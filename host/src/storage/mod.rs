//! Community state behind traits: members, messages, plugin KV and timers ([`CommunityStore`]),
//! the admin model ([`admin::AdminStore`]) and durable delivery: event logs, cursors, dead
//! letters and the outbox ([`log::DeliveryLog`]).
//!
//! Read methods of `CommunityStore` answer `None`/empty when the backend fails, after logging
//! the error: a host call then sees `not-found` rather than trapping. Writes return errors, so
//! a failed write fails the invocation and its effects are not half-applied.
//!
//! The runtime reads through [`CommunityStore`] during an invocation and the dispatcher applies
//! a successful invocation's effects through it. [`memory::MemoryStore`] keeps everything in
//! memory (the library default for tests and `plaza run`); an embedded database
//! ([`sqlite::SqliteStore`]) implements the same traits for persistent hosts, and PostgreSQL
//! ([`postgres::PostgresStore`]) for several host nodes sharing one store.

pub mod admin;
mod codec;
#[cfg(test)]
mod conformance;
pub mod log;
pub mod memory;
mod memory_admin;
mod memory_log;
pub mod postgres;
mod recent;
pub mod secrets;
pub mod sqlite;

use crate::effects::Action;
use crate::event::{Event, MemberProfile};

/// A message as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredMessage {
    /// Channel.
    pub channel: String,
    /// Id.
    pub message_id: String,
    /// Author: a member id, or `plugin:NAME` for messages a plugin posted.
    pub author: String,
    /// Current text.
    pub text: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// The plugin that posted it, if a plugin did.
    pub posted_by_plugin: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A timer waiting to fire.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Timer {
    /// Its id.
    pub timer_id: String,
    /// The community.
    pub community: String,
    /// The plugin that owns it.
    pub plugin: String,
    /// The name the plugin gave it.
    pub name: String,
    /// The payload.
    pub payload: String,
    /// When it fires next, milliseconds since the Unix epoch.
    pub due_ms: u64,
    /// Repeat interval, for recurring timers.
    pub every_ms: Option<u64>,
}

/// Moderation state of a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemberStanding {
    /// Muted until this time (ms since epoch), if muted.
    pub muted_until_ms: Option<u64>,
    /// Banned.
    pub banned: bool,
}

/// Community state the host reads and changes.
pub trait CommunityStore: Send + Sync {
    /// Records what an incoming event says about the community (a member joined, a message was
    /// posted), before plugins see it.
    fn observe(&self, event: &Event) -> anyhow::Result<()>;

    /// A member's profile, if they are a current member.
    fn member(&self, community: &str, member: &str) -> Option<MemberProfile>;

    /// Up to `limit` current members after `after`, in id order, and whether more follow.
    fn members_page(&self, community: &str, after: Option<&str>, limit: usize) -> (Vec<MemberProfile>, bool);

    /// A member's moderation state.
    fn standing(&self, community: &str, member: &str) -> MemberStanding;

    /// A message, if it exists in that community.
    fn message(&self, community: &str, message_id: &str) -> Option<StoredMessage>;

    /// Whether a message exists in that community's `channel` and is not deleted (what a
    /// reply needs to know). A store may answer without copying the message out.
    fn message_live_in(&self, community: &str, channel: &str, message_id: &str) -> bool {
        self.message(community, message_id)
            .is_some_and(|m| m.channel == channel && !m.deleted)
    }

    /// Messages in posting order (for transcripts and tests).
    fn messages(&self, community: &str) -> Vec<StoredMessage>;

    /// A plugin's KV value.
    fn kv_get(&self, community: &str, plugin: &str, key: &str) -> Option<Vec<u8>>;

    /// A plugin's keys starting with `prefix`, after `start_after`, in byte order, at most `limit`.
    fn kv_keys(
        &self,
        community: &str,
        plugin: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Vec<String>;

    /// Total bytes (keys plus values) a plugin stores in a community.
    fn kv_bytes(&self, community: &str, plugin: &str) -> u64;

    /// A timer, if it exists.
    fn timer(&self, timer_id: &str) -> Option<Timer>;

    /// Timers due at or before `now_ms`, earliest first.
    fn due_timers(&self, now_ms: u64) -> Vec<Timer>;

    /// Marks a timer fired: recurring ones move to their next time, others are removed.
    fn timer_fired(&self, timer_id: &str) -> anyhow::Result<()>;

    /// Applies the actions of one successful invocation of `plugin` in `community`, at `now_ms`.
    fn apply(&self, community: &str, plugin: &str, now_ms: u64, actions: &[Action]) -> anyhow::Result<()>;

    /// Deletes a plugin's KV, pseudonyms and timers in a community ([`admin::AdminStore::uninstall`]
    /// does it too, with everything else the install keeps).
    fn forget_plugin(&self, community: &str, plugin: &str) -> anyhow::Result<()>;

    /// Remembers which member each pseudonym stands for, for one (community, plugin).
    fn remember_pseudonyms(&self, community: &str, plugin: &str, pairs: &[(String, String)]) -> anyhow::Result<()>;

    /// The member a pseudonym stands for, for one (community, plugin).
    fn resolve_pseudonym(&self, community: &str, plugin: &str, pseudonym: &str) -> Option<String>;
}

/// Everything a host keeps: community state, the admin model and durable delivery.
pub trait Store: CommunityStore + admin::AdminStore + log::DeliveryLog + secrets::SecretStore {}

impl<T: CommunityStore + admin::AdminStore + log::DeliveryLog + secrets::SecretStore> Store for T {}

/// Where a persistent host keeps its state: `plaza … --store`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite database in the data directory (the default).
    #[default]
    Embedded,
    /// A PostgreSQL database shared by several host nodes: its `postgres://…` URL.
    Postgres(String),
}

/// A `--store` value that names no store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--store `{0}`: expected a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE) or `embedded`")]
pub struct BadStoreLocation(pub String);

impl std::str::FromStr for StoreLocation {
    type Err = BadStoreLocation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s == "embedded" || s == "sqlite" {
            Ok(StoreLocation::Embedded)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(s.to_string()))
        } else {
            // No echo of the value: it may hold a password.
            Err(BadStoreLocation(s.split("://").next().unwrap_or_default().to_string()))
        }
    }
}
