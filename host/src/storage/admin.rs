//! What community admins decide, as stored records: communities, plugin packages, installs with
//! their grants and pending upgrades, and the audit log.

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, GrantSet};
use crate::event::ConfigEntry;

/// A community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityRecord {
    /// Its id.
    pub id: String,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
    /// What happens to a message when a review hook fails or runs over budget.
    #[serde(default)]
    pub review_fail_policy: ReviewFailPolicy,
    /// The community's own signing policy, stricter than the operator's; `None`: the
    /// operator's.
    #[serde(default)]
    pub signing_policy: Option<crate::signing::SigningPolicy>,
}

/// What happens to a message when a review hook fails or runs over its budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewFailPolicy {
    /// The message is posted (default: a broken reviewer never silences a community).
    #[default]
    FailOpen,
    /// The message is held and not posted.
    FailClosed,
}

/// Limits an admin set for one install, each within the operator's maximum. `None` keeps the
/// value the manifest asked for, or the host default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    /// Linear memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU per invocation, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall clock per invocation (host calls included), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_clock_ms: Option<u64>,
    /// Instruction budget (fuel) per invocation; used when the engine meters fuel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Elements per table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_elements: Option<u64>,
    /// Core instances per plugin instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    /// Tables per plugin instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    /// Memories per plugin instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memories: Option<u64>,
    /// Messages per minute per channel (the paced budget's rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_minute_per_channel: Option<u64>,
    /// Messages a channel's budget holds at once (its burst).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_burst: Option<u64>,
    /// Messages per minute across the community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_minute_per_community: Option<u64>,
    /// Messages the community budget holds at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_burst: Option<u64>,
}

/// The circuit breaker's state for one install.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Events are delivered.
    #[default]
    Closed,
    /// Quarantined: events are held until `retry_at_ms`.
    Open,
    /// One trial event is being delivered.
    HalfOpen,
}

/// A circuit breaker as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerRecord {
    /// The state.
    pub state: BreakerState,
    /// Times (ms) of recent failures, oldest first.
    pub recent_failures: Vec<u64>,
    /// How many times it opened since it was last closed by a success or an admin.
    pub trips: u32,
    /// When a trial event may be delivered (while open).
    pub retry_at_ms: Option<u64>,
}

/// One version of a plugin, stored once by the SHA-256 of its component bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPackage {
    /// SHA-256 of `component`, hex.
    pub digest: String,
    /// The plugin id from its manifest.
    pub plugin_id: String,
    /// Its version.
    pub version: String,
    /// The manifest, as TOML text.
    pub manifest_toml: String,
    /// The component bytes.
    pub component: Vec<u8>,
}

/// A newer version waiting for the admin to approve the capabilities it adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpgrade {
    /// Digest of the waiting package.
    pub digest: String,
    /// Its version.
    pub version: String,
    /// Capabilities it requests that the serving version did not.
    pub added_capabilities: Vec<Capability>,
    /// When the upgrade was requested.
    pub requested_ms: u64,
}

/// A plugin installed in a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The community.
    pub community: String,
    /// The plugin id.
    pub plugin_id: String,
    /// Digest of the package serving now.
    pub digest: String,
    /// Version serving now.
    pub version: String,
    /// Whether events are delivered (the admin's kill switch).
    pub enabled: bool,
    /// What the admin granted.
    pub grants: GrantSet,
    /// The install's configuration.
    pub config: Vec<ConfigEntry>,
    /// When it was installed.
    pub installed_ms: u64,
    /// A newer version waiting for approval.
    pub pending: Option<PendingUpgrade>,
    /// Limits the admin set for this install.
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (assigned by the store; 0 before it is stored).
    pub seq: u64,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
    /// The community.
    pub community: String,
    /// The plugin id.
    pub plugin: String,
    /// The plugin version involved.
    pub version: String,
    /// What happened: `install`, `grant`, `revoke`, `enable`, `disable`, `config`, `upgrade`,
    /// `upgrade-pending`, `approve`, `reject-upgrade`, `uninstall`, `denied`, `effect`.
    pub kind: String,
    /// The capability involved, if any.
    pub capability: Option<String>,
    /// The outcome: `ok`, `denied`, `pending`, `rejected`, ...
    pub outcome: String,
    /// Details in words (e.g. the effect, or the host call that was denied).
    pub detail: String,
}

impl AuditEntry {
    /// An entry stamped now (its `seq` is assigned when it is stored).
    pub fn now(
        community: &str,
        plugin: &str,
        version: &str,
        kind: &str,
        capability: Option<&str>,
        outcome: &str,
        detail: String,
    ) -> Self {
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        AuditEntry {
            seq: 0,
            time_ms,
            community: community.to_string(),
            plugin: plugin.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            capability: capability.map(str::to_string),
            outcome: outcome.to_string(),
            detail,
        }
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this community.
    pub community: Option<String>,
    /// Only this plugin.
    pub plugin: Option<String>,
    /// Only entries with `seq` greater than this.
    pub after_seq: Option<u64>,
    /// At most this many (newest last); `None` for all.
    pub limit: Option<usize>,
}

/// Storage errors, with what was being done.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or is not a Plaza database.
    #[error("cannot open the Plaza database {path}: {reason}")]
    Open { path: String, reason: String },
    /// Another process holds the database.
    #[error("the Plaza database {path} is locked by another process: {reason}")]
    Locked { path: String, reason: String },
    /// The database is damaged.
    #[error("the Plaza database {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    /// The database was written by a newer Plaza.
    #[error("the Plaza database {path} has schema version {found}; this Plaza understands up to {supported}")]
    TooNew { path: String, found: u32, supported: u32 },
    /// A record that must exist does not.
    #[error("{0}")]
    NotFound(String),
    /// A record that must not exist does.
    #[error("{0}")]
    Conflict(String),
    /// Any other database error.
    #[error("database error while {doing}: {reason}")]
    Db { doing: String, reason: String },
}

/// Persistence for the admin model.
pub trait AdminStore: Send + Sync {
    /// Creates a community; `Conflict` if it exists.
    fn create_community(&self, id: &str, now_ms: u64) -> Result<(), StoreError>;
    /// All communities, by id.
    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError>;
    /// One community by id (`None` if it does not exist): a single-row lookup, not a listing.
    fn community(&self, id: &str) -> Result<Option<CommunityRecord>, StoreError>;
    /// Whether a community exists.
    fn community_exists(&self, id: &str) -> Result<bool, StoreError>;
    /// A number that changes whenever a community or an install is created, changed or
    /// deleted, by any process sharing the store: a host compares it to notice changes it did
    /// not make.
    fn admin_generation(&self) -> Result<u64, StoreError>;
    /// Stores a package (idempotent by digest).
    fn put_package(&self, package: &PluginPackage) -> Result<(), StoreError>;
    /// A package by digest.
    fn package(&self, digest: &str) -> Result<Option<PluginPackage>, StoreError>;
    /// Inserts or replaces an install without an audit entry (tools and tests; the host's own
    /// admin changes go through [`AdminStore::put_installs`] with theirs).
    fn put_install(&self, install: &InstallRecord) -> Result<(), StoreError>;
    /// Inserts or replaces installs and appends audit entries in one transaction: all of them
    /// are written or none is (an admin change and its audit trail together, and one commit for
    /// many installs rather than one each).
    fn put_installs(&self, installs: &[InstallRecord], audit: &[AuditEntry]) -> Result<(), StoreError>;
    /// One install.
    fn install(&self, community: &str, plugin_id: &str) -> Result<Option<InstallRecord>, StoreError>;
    /// A community's installs, in install order.
    fn installs(&self, community: &str) -> Result<Vec<InstallRecord>, StoreError>;
    /// Uninstalls: removes an install with everything it keeps in the community (its circuit
    /// breaker, secrets, KV, pseudonyms, timers, delivery cursor and dead letters) and appends
    /// `audit`, in one transaction: all of it happens or none of it. `NotFound` (and no change)
    /// when the plugin is not installed there.
    fn uninstall(&self, community: &str, plugin_id: &str, audit: &[AuditEntry]) -> Result<(), StoreError>;
    /// Appends audit entries, assigning their `seq`.
    fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
    /// Reads audit entries, oldest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    /// Sets a community's review fail policy; `NotFound` for an unknown community.
    fn set_review_fail_policy(&self, community: &str, policy: ReviewFailPolicy) -> Result<(), StoreError>;
    /// Sets a community's own signing policy (`None`: the operator's); `NotFound` for an
    /// unknown community. Whether it is stricter is the caller's check.
    fn set_signing_policy(
        &self,
        community: &str,
        policy: Option<crate::signing::SigningPolicy>,
    ) -> Result<(), StoreError>;
    /// An install's circuit breaker (`None`: never tripped, i.e. closed).
    fn breaker(&self, community: &str, plugin_id: &str) -> Result<Option<BreakerRecord>, StoreError>;
    /// Stores an install's circuit breaker.
    fn put_breaker(&self, community: &str, plugin_id: &str, breaker: &BreakerRecord) -> Result<(), StoreError>;
}
