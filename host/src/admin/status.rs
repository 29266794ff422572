//! What an admin sees per install: version, state, each requested capability with its reason
//! and whether it is granted, a waiting upgrade, and health from the audit log.

use serde::Serialize;

use crate::capability::Capability;
use crate::dispatch::{Install, Plaza};
use crate::error::Result;
use crate::storage::admin::AuditQuery;

/// How many recent audit entries health is computed from.
const HEALTH_WINDOW: usize = 200;

/// One requested capability.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// The capability.
    pub capability: Capability,
    /// Why the plugin says it needs it.
    pub reason: String,
    /// Whether the admin granted it.
    pub granted: bool,
}

/// A waiting upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct PendingStatus {
    /// Its version.
    pub version: String,
    /// What it asks for beyond the serving version, with reasons.
    pub added: Vec<Request>,
    /// Its developer key and review.
    pub signing: crate::signing::SigningStatus,
    /// Hosts `http:fetch` would newly reach.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_hosts: Vec<String>,
}

/// What the install may do over `http:fetch`: the hosts the admin approved (the serving
/// version's manifest) and the names of its secrets (never their values).
#[derive(Debug, Clone, Serialize)]
pub struct HttpStatus {
    /// The allowlist.
    pub hosts: Vec<String>,
    /// The install's secrets: names, scopes, when set.
    pub secrets: Vec<crate::storage::secrets::SecretInfo>,
}

/// Health over the install's recent audit entries.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Failed invocations among the recent entries.
    pub recent_failures: usize,
    /// Denied host calls among the recent entries.
    pub recent_denied_calls: usize,
    /// The newest failure: reason code and what happened.
    pub last_failure: Option<String>,
}

/// An install as the admin sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// The plugin id.
    pub plugin: String,
    /// The serving version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Requested capabilities, each with reason and grant.
    pub requested: Vec<Request>,
    /// A waiting upgrade.
    pub pending_upgrade: Option<PendingStatus>,
    /// Recent health.
    pub health: Health,
    /// The circuit breaker.
    pub breaker: crate::dispatch::BreakerStatus,
    /// The limits in force for this install.
    pub limits: EffectiveLimits,
    /// Outbound HTTP, when the plugin requests `http:fetch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpStatus>,
    /// Who signed the serving package, and its platform review.
    pub signing: crate::signing::SigningStatus,
}

/// The limits in force for an install (manifest request and admin overrides applied).
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveLimits {
    /// Linear memory, bytes.
    pub memory_bytes: usize,
    /// CPU per invocation, ms.
    pub cpu_ms: u64,
    /// Wall clock per invocation, ms.
    pub wall_clock_ms: u64,
    /// Instruction budget, when the engine meters fuel.
    pub fuel: Option<u64>,
    /// KV quota, bytes.
    pub kv_quota_bytes: u64,
    /// What the admin overrode.
    pub overrides: crate::storage::admin::LimitOverrides,
}

impl Plaza {
    /// Status of every install in a community, in install order.
    pub fn plugin_statuses(&self, community: &str) -> Result<Vec<PluginStatus>> {
        self.installs(community)?.iter().map(|i| self.status_of(i)).collect()
    }

    fn status_of(&self, install: &Install) -> Result<PluginStatus> {
        let grants = install.grants.snapshot();
        let manifest = &install.plugin.manifest;
        let requested = manifest
            .requested_capabilities()
            .into_iter()
            .map(|capability| Request {
                capability,
                reason: manifest.reason_for(capability).unwrap_or("").to_string(),
                granted: grants.contains(capability),
            })
            .collect();
        let pending_upgrade = install.pending.as_deref().map(|(new, p)| PendingStatus {
            version: p.version.clone(),
            added: p
                .added_capabilities
                .iter()
                .map(|c| Request {
                    capability: *c,
                    reason: new.manifest.reason_for(*c).unwrap_or("").to_string(),
                    granted: false,
                })
                .collect(),
            added_hosts: super::added_hosts(&install.plugin, new),
            signing: self.signing_status(new),
        });
        let hosts = manifest.http_hosts().to_vec();
        let http = if hosts.is_empty() {
            None
        } else {
            let secrets = self
                .store
                .secrets(&install.community, &install.plugin.name)?
                .iter()
                .map(crate::storage::secrets::SecretInfo::from)
                .collect();
            Some(HttpStatus { hosts, secrets })
        };
        let recent = self.store.audit(&AuditQuery {
            community: Some(install.community.to_string()),
            plugin: Some(install.plugin.name.clone()),
            after_seq: None,
            limit: Some(HEALTH_WINDOW),
        })?;
        let health = Health {
            recent_failures: recent.iter().filter(|e| e.kind == "failure").count(),
            recent_denied_calls: recent.iter().filter(|e| e.kind == "denied").count(),
            last_failure: recent
                .iter()
                .rev()
                .find(|e| e.kind == "failure")
                .map(|e| format!("{}: {}", e.outcome, e.detail)),
        };
        Ok(PluginStatus {
            plugin: install.plugin.name.clone(),
            version: install.plugin.version.clone(),
            description: install.plugin.description.clone(),
            enabled: install.enabled,
            requested,
            pending_upgrade,
            health,
            breaker: self.breaker_status(&install.community, &install.plugin.name)?,
            limits: EffectiveLimits {
                memory_bytes: install.limits.memory_bytes,
                cpu_ms: install.limits.cpu_ms,
                wall_clock_ms: install.limits.wall_clock_ms,
                fuel: self
                    .runtime
                    .engine()
                    .settings()
                    .fuel
                    .then_some(install.limits.fuel)
                    .flatten(),
                kv_quota_bytes: install.limits.kv_quota_bytes,
                overrides: (*install.overrides).clone(),
            },
            http,
            signing: self.signing_status(&install.plugin),
        })
    }
}
