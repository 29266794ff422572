//! What community admins do: create communities; install a plugin (seeing what it requests and
//! why); grant or revoke each capability; enable or disable it; change its configuration;
//! upgrade it (a version asking for more waits for approval while the old one keeps serving);
//! uninstall it; read the audit log.
//!
//! Every change is written to the store first, then to the dispatcher's live view, so a revoke
//! takes effect on the running plugins' next host call. Every change is audited.

pub mod secrets;
mod signing;
pub mod status;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::capability::{Capability, GrantSet, LiveGrants};
use crate::dispatch::{now_ms, Install, Plaza};
use crate::error::{PlazaError, Result};
use crate::event::{ConfigEntry, EventKind};
use crate::runtime::report::InvocationReport;
use crate::runtime::Plugin;
use crate::storage::admin::{
    AuditEntry, AuditQuery, CommunityRecord, InstallRecord, LimitOverrides, PendingUpgrade, PluginPackage,
};

/// One plugin to install with [`Plaza::install_many`]: the grants (each must be requested by
/// its manifest) and configuration it is installed with.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The loaded plugin.
    pub plugin: Arc<Plugin>,
    /// What the admin grants it.
    pub grants: GrantSet,
    /// Its configuration (checked against the manifest's schema; defaults fill the rest).
    pub config: Vec<ConfigEntry>,
}

/// What an upgrade did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "upgrade", rename_all = "kebab-case")]
pub enum UpgradeOutcome {
    /// The new version serves now (it asked for nothing new).
    Applied {
        from: String,
        to: String,
        report: Box<InvocationReport>,
    },
    /// The new version asks for more; it waits for the admin's approval and the old version
    /// keeps serving with the old grants.
    Pending {
        from: String,
        to: String,
        added: Vec<Capability>,
        /// Hosts `http:fetch` would newly reach: a wider allowlist needs consent too.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        added_hosts: Vec<String>,
    },
}

/// The host's secret for member pseudonyms, kept in the data directory (created on first use,
/// readable by the owner only).
pub fn host_secret(data_dir: &Path) -> Result<[u8; 32]> {
    let path = data_dir.join("pseudonym.key");
    let context = |e: std::io::Error| PlazaError::Other(anyhow::anyhow!("pseudonym key {}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => bytes.as_slice().try_into().map_err(|_| {
            PlazaError::Other(anyhow::anyhow!(
                "pseudonym key {} is damaged (expected 32 bytes)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = crate::dispatch::pseudonym::Pseudonyms::random_secret().map_err(context)?;
            std::fs::create_dir_all(data_dir).map_err(context)?;
            write_private(&path, &secret).map_err(context)?;
            Ok(secret)
        }
        Err(e) => Err(context(e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

fn names(caps: impl IntoIterator<Item = Capability>) -> String {
    let list: Vec<String> = caps.into_iter().map(|c| c.to_string()).collect();
    if list.is_empty() {
        "nothing".into()
    } else {
        list.join(", ")
    }
}

/// Hosts `new` may reach over `http:fetch` that `old` could not: the allowlist is the serving
/// version's manifest's, so a version that widens it waits for the admin like a new capability.
pub fn added_hosts(old: &Plugin, new: &Plugin) -> Vec<String> {
    let before = old.manifest.http_hosts();
    new.manifest
        .http_hosts()
        .iter()
        .filter(|h| !before.contains(h))
        .cloned()
        .collect()
}

impl Plaza {
    /// Loads every install from the store into the dispatcher (at open).
    pub(crate) async fn load_installs(&self) -> Result<()> {
        self.reload_installs().await
    }

    /// Reloads the installs when another process sharing the store changed communities or
    /// installs (a grant or revoke from the CLI while `plaza deliver` runs); answers whether
    /// it reloaded. Installs that remain keep their grant handles, so a revoke reaches running
    /// invocations on their next host call.
    pub async fn refresh_installs(&self) -> Result<bool> {
        let generation = self.store.admin_generation()?;
        if generation == self.seen_generation.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(false);
        }
        self.reload_installs().await?;
        Ok(true)
    }

    async fn reload_installs(&self) -> Result<()> {
        // Read the generation first: a change made while reloading triggers another reload.
        let generation = self.store.admin_generation()?;
        // Many communities install the same package: load each one once and share it.
        let mut loaded: std::collections::HashMap<String, Arc<Plugin>> = std::collections::HashMap::new();
        for install in self.all_installs_in_order() {
            loaded.insert(install.plugin.digest.clone(), install.plugin.clone());
            if let Some((pending, _)) = install.pending.as_deref() {
                loaded.insert(pending.digest.clone(), pending.clone());
            }
        }
        let mut fresh: std::collections::BTreeMap<Arc<str>, Vec<Install>> = std::collections::BTreeMap::new();
        for community in self.store.communities()? {
            let id: Arc<str> = community.id.as_str().into();
            // The cached list, taken once per community rather than once per install.
            let cached = self
                .installs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .cloned();
            for record in self.store.installs(&community.id)? {
                let mut digests = vec![record.digest.clone()];
                digests.extend(record.pending.as_ref().map(|p| p.digest.clone()));
                for digest in digests {
                    if let std::collections::hash_map::Entry::Vacant(slot) = loaded.entry(digest) {
                        let plugin = self.load_package(slot.key(), &community.id).await?;
                        slot.insert(plugin);
                    }
                }
                let plugin = loaded[&record.digest].clone();
                let pending = record
                    .pending
                    .as_ref()
                    .map(|p| Box::new((loaded[&p.digest].clone(), p.clone())));
                self.store.init_cursor(&community.id, &record.plugin_id)?;
                let mut install = self.install_from(id.clone(), record, plugin, pending);
                let current = cached
                    .as_deref()
                    .and_then(|list| list.iter().find(|i| i.plugin.name == install.plugin.name));
                if let Some(current) = current {
                    current.grants.set(install.grants.snapshot());
                    install.grants = current.grants.clone();
                    install.breaker = current.breaker.clone();
                }
                fresh.entry(id.clone()).or_default().push(install);
            }
            fresh.entry(id).or_default();
        }
        let fresh = fresh
            .into_iter()
            .map(|(community, list)| (community, list.into()))
            .collect();
        *self.installs.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        // Review fail policies are per community and may have changed with it.
        self.review_policies.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.seen_generation
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn load_package(&self, digest: &str, community: &str) -> Result<Arc<Plugin>> {
        let package = self.store.package(digest)?.ok_or_else(|| {
            PlazaError::Other(anyhow::anyhow!(
                "community `{community}`: package {digest} is missing from the store"
            ))
        })?;
        let origin = format!("{}@{} (stored package)", package.plugin_id, package.version);
        let manifest = crate::manifest::Manifest::from_toml(&package.manifest_toml, &origin)?;
        self.runtime
            .load_with_manifest(
                &package.component,
                &origin,
                Some((manifest, crate::runtime::plugin::ManifestSource::Embedded)),
            )
            .await
    }

    fn install_from(
        &self,
        community: Arc<str>,
        record: InstallRecord,
        plugin: Arc<Plugin>,
        pending: Option<Box<(Arc<Plugin>, PendingUpgrade)>>,
    ) -> Install {
        Install {
            community,
            limits: self.limits_for(&plugin, &record.limits),
            overrides: Install::shared_overrides(record.limits),
            plugin,
            grants: LiveGrants::new(record.grants),
            enabled: record.enabled,
            config: record.config,
            pending,
            breaker: Arc::default(),
        }
    }

    fn record_of(&self, install: &Install, installed_ms: u64) -> InstallRecord {
        InstallRecord {
            community: install.community.to_string(),
            plugin_id: install.plugin.name.clone(),
            digest: install.plugin.digest.clone(),
            version: install.plugin.version.clone(),
            enabled: install.enabled,
            grants: install.grants.snapshot(),
            config: install.config.clone(),
            installed_ms,
            pending: install.pending.as_deref().map(|(_, p)| p.clone()),
            limits: (*install.overrides).clone(),
        }
    }

    /// Saves an admin change to an install together with its audit entries: both are written
    /// or neither is, so the audit log never misses a change that took effect. The live view
    /// changes only after the write.
    fn save_install(&self, install: Install, audit: &[AuditEntry]) -> Result<()> {
        let installed_ms = self
            .store
            .install(&install.community, &install.plugin.name)?
            .map_or_else(now_ms, |r| r.installed_ms);
        self.store
            .put_installs(&[self.record_of(&install, installed_ms)], audit)?;
        // Keep the same LiveGrants handle so running invocations see the change.
        if let Ok(current) = self.install_of(&install.community, &install.plugin.name) {
            current.grants.set(install.grants.snapshot());
            self.cache_install(Install {
                grants: current.grants,
                ..install
            });
        } else {
            self.cache_install(install);
        }
        Ok(())
    }

    /// Replaces an install's grants, with the audit entries saying what changed.
    fn save_grants(&self, install: &Install, grants: GrantSet, audit: &[AuditEntry]) -> Result<()> {
        self.save_install(
            Install {
                grants: LiveGrants::new(grants),
                ..install.clone()
            },
            audit,
        )
    }

    /// Writes the plugin's package to the store unless this host already did (packages are
    /// kept by digest and never deleted, so installing one package in many communities writes
    /// it, and copies its bytes, once).
    fn store_package(&self, plugin: &Plugin) -> Result<()> {
        let known = || self.stored_packages.lock().unwrap_or_else(|e| e.into_inner());
        if known().contains(&plugin.digest) {
            return Ok(());
        }
        self.store.put_package(&PluginPackage {
            digest: plugin.digest.clone(),
            plugin_id: plugin.name.clone(),
            version: plugin.version.clone(),
            manifest_toml: plugin.manifest.to_toml(),
            component: plugin.bytes.to_vec(),
        })?;
        known().insert(plugin.digest.clone());
        Ok(())
    }

    fn audit(
        &self,
        install: &Install,
        kind: &str,
        capability: Option<Capability>,
        outcome: &str,
        detail: String,
    ) -> Result<()> {
        self.store
            .append_audit(&[admin_entry(install, kind, capability, outcome, detail)])?;
        Ok(())
    }

    /// Creates an empty community.
    pub fn create_community(&self, id: &str) -> Result<()> {
        if id.trim().is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(PlazaError::Other(anyhow::anyhow!(
                "community id {id:?} must be 1 to 128 printable characters"
            )));
        }
        match self.store.create_community(id, now_ms()) {
            Err(crate::storage::admin::StoreError::Conflict(_)) => Err(PlazaError::CommunityExists(id.to_string())),
            other => Ok(other?),
        }
    }

    /// Creates the community unless it exists.
    pub fn ensure_community(&self, id: &str) -> Result<()> {
        if self.store.community_exists(id)? {
            Ok(())
        } else {
            self.create_community(id)
        }
    }

    /// Every community.
    pub fn communities(&self) -> Result<Vec<CommunityRecord>> {
        Ok(self.store.communities()?)
    }

    /// One community (`NoSuchCommunity` if it does not exist), looked up by id rather than
    /// found in the listing: its cost does not grow with the number of communities.
    pub fn community(&self, id: &str) -> Result<CommunityRecord> {
        self.store
            .community(id)?
            .ok_or_else(|| PlazaError::NoSuchCommunity(id.to_string()))
    }

    fn check_requested(&self, community: &str, plugin: &Plugin, grants: &GrantSet) -> Result<()> {
        let requested = plugin.requested();
        if let Some(cap) = grants.iter().find(|c| !requested.contains(*c)) {
            return Err(PlazaError::NotRequested {
                plugin: plugin.name.clone(),
                community: community.to_string(),
                capability: cap.to_string(),
                requested: names(requested.iter()),
            });
        }
        Ok(())
    }

    fn checked_config(&self, community: &str, plugin: &Plugin, config: Vec<ConfigEntry>) -> Result<Vec<ConfigEntry>> {
        let mut merged: Vec<ConfigEntry> = plugin
            .manifest
            .config_defaults()
            .into_iter()
            .map(|(key, value)| ConfigEntry { key, value })
            .collect();
        for entry in config {
            plugin
                .manifest
                .validate_config(&entry.key, &entry.value)
                .map_err(|e| PlazaError::BadConfig {
                    plugin: plugin.name.clone(),
                    community: community.to_string(),
                    reason: e.to_string(),
                })?;
            match merged.iter_mut().find(|e| e.key == entry.key) {
                Some(existing) => existing.value = entry.value,
                None => merged.push(entry),
            }
        }
        Ok(merged)
    }

    /// Installs `plugin` in `community` with `grants` (each must be requested by its manifest;
    /// granting fewer is fine) and delivers `plugin-installed` to it.
    pub async fn install(
        &self,
        community: &str,
        plugin: Arc<Plugin>,
        grants: GrantSet,
        config: Vec<ConfigEntry>,
    ) -> Result<InvocationReport> {
        let request = InstallRequest { plugin, grants, config };
        let mut reports = self.install_many(community, vec![request]).await?;
        Ok(reports.remove(0))
    }

    /// Installs several plugins in `community` at once, each checked as [`Plaza::install`]
    /// checks it; if any is refused, none is installed. The installs and their audit entries
    /// are written in one transaction (one commit, with the store's ordinary durability: on the
    /// embedded database `synchronous = NORMAL`, so no fsync of its own), then each receives
    /// `plugin-installed`, in the order given. Answers one report per request, in that order.
    pub async fn install_many(&self, community: &str, requests: Vec<InstallRequest>) -> Result<Vec<InvocationReport>> {
        if !self.store.community_exists(community)? {
            return Err(PlazaError::NoSuchCommunity(community.to_string()));
        }
        let mut checked = Vec::with_capacity(requests.len());
        for InstallRequest { plugin, grants, config } in requests {
            let twice = checked
                .iter()
                .any(|(p, _, _): &(Arc<Plugin>, _, _)| p.name == plugin.name);
            if twice || self.store.install(community, &plugin.name)?.is_some() {
                return Err(PlazaError::AlreadyInstalled {
                    plugin: plugin.name.clone(),
                    community: community.to_string(),
                });
            }
            self.check_requested(community, &plugin, &grants)?;
            let config = self.checked_config(community, &plugin, config)?;
            self.check_install_signature(community, &plugin)?;
            checked.push((plugin, grants, config));
        }
        let community_id = self.community_key(community);
        let mut installs = Vec::with_capacity(checked.len());
        let mut records = Vec::with_capacity(checked.len());
        let mut entries = Vec::new();
        let installed_ms = now_ms();
        for (plugin, grants, config) in &checked {
            self.store_package(plugin)?;
            let install = Install {
                community: community_id.clone(),
                limits: self.limits_for(plugin, &LimitOverrides::default()),
                overrides: Install::shared_overrides(LimitOverrides::default()),
                plugin: plugin.clone(),
                grants: LiveGrants::new(*grants),
                enabled: true,
                config: config.clone(),
                pending: None,
                breaker: Arc::default(),
            };
            records.push(self.record_of(&install, installed_ms));
            let detail = format!(
                "requested: {}; granted: {}",
                names(plugin.requested().iter()),
                names(grants.iter())
            );
            entries.push(Plaza::audit_entry(&install, "install", None, "ok", detail));
            for cap in grants.iter() {
                let capability = Some(cap.name());
                entries.push(Plaza::audit_entry(
                    &install,
                    "grant",
                    capability,
                    "ok",
                    "granted at install".into(),
                ));
            }
            installs.push(install);
        }
        // Written to the store first (with their audit entries), then to the live view.
        self.store.put_installs(&records, &entries)?;
        for install in &installs {
            // It receives events from now on, not the community's history.
            self.store.init_cursor(community, &install.plugin.name)?;
        }
        self.cache_installs(installs);
        let mut reports = Vec::with_capacity(checked.len());
        for (plugin, _, config) in checked {
            let event = self.host_event(community, EventKind::PluginInstalled { config }, None);
            reports.push(self.deliver_to(community, &plugin.name, &event).await?);
        }
        Ok(reports)
    }

    /// Grants capabilities (each must be requested by the manifest); returns the grants now held.
    pub fn grant(&self, community: &str, plugin: &str, caps: &[Capability]) -> Result<GrantSet> {
        let install = self.install_of(community, plugin)?;
        let mut grants = install.grants.snapshot();
        let added: GrantSet = caps.iter().copied().collect();
        self.check_requested(community, &install.plugin, &added)?;
        for cap in added.iter() {
            grants.insert(cap);
        }
        let audit: Vec<AuditEntry> = added.iter().map(|cap| granted(&install, cap)).collect();
        self.save_grants(&install, grants, &audit)?;
        Ok(grants)
    }

    /// Revokes capabilities; the plugin's next host call that needs one is denied.
    pub fn revoke(&self, community: &str, plugin: &str, caps: &[Capability]) -> Result<GrantSet> {
        let install = self.install_of(community, plugin)?;
        let mut grants = install.grants.snapshot();
        for cap in caps {
            grants.remove(*cap);
        }
        let audit: Vec<AuditEntry> = caps.iter().map(|cap| revoked(&install, *cap)).collect();
        self.save_grants(&install, grants, &audit)?;
        Ok(grants)
    }

    /// Replaces an install's grants (each must be requested by the manifest).
    pub fn set_grants(&self, community: &str, plugin: &str, grants: GrantSet) -> Result<()> {
        let install = self.install_of(community, plugin)?;
        let before = install.grants.snapshot();
        self.check_requested(community, &install.plugin, &grants)?;
        let audit: Vec<AuditEntry> = grants
            .iter()
            .filter(|c| !before.contains(*c))
            .map(|cap| granted(&install, cap))
            .chain(
                before
                    .iter()
                    .filter(|c| !grants.contains(*c))
                    .map(|cap| revoked(&install, cap)),
            )
            .collect();
        self.save_grants(&install, grants, &audit)
    }

    /// Turns delivery to an install on or off (the kill switch). Events that arrive while it is disabled are not for it:
    /// enabling moves its cursor to the head of the log (dropping a pending retry, too).
    pub fn set_enabled(&self, community: &str, plugin: &str, enabled: bool) -> Result<()> {
        let install = self.install_of(community, plugin)?;
        if enabled && !install.enabled {
            let cursor = self.store.init_cursor(community, plugin)?;
            let head = self.store.head(community)?;
            self.store.skip(community, plugin, cursor.sequence, head)?;
        }
        let kind = if enabled { "enable" } else { "disable" };
        self.save_install(
            Install {
                enabled,
                ..install.clone()
            },
            &[admin_entry(&install, kind, None, "ok", format!("{kind}d by admin"))],
        )
    }

    /// Changes an install's configuration (checked against the manifest's schema) and delivers
    /// `config-changed`.
    pub async fn set_config(
        &self,
        community: &str,
        plugin: &str,
        config: Vec<ConfigEntry>,
    ) -> Result<InvocationReport> {
        let install = self.install_of(community, plugin)?;
        let mut merged = install.config.clone();
        for entry in self.checked_config(community, &install.plugin, config.clone())? {
            if !config.iter().any(|c| c.key == entry.key) {
                continue;
            }
            match merged.iter_mut().find(|e| e.key == entry.key) {
                Some(existing) => existing.value = entry.value,
                None => merged.push(entry),
            }
        }
        let keys: Vec<&str> = config.iter().map(|c| c.key.as_str()).collect();
        self.save_install(
            Install {
                config: merged.clone(),
                ..install.clone()
            },
            &[admin_entry(
                &install,
                "config",
                None,
                "ok",
                format!("changed {}", keys.join(", ")),
            )],
        )?;
        let event = self.host_event(community, EventKind::ConfigChanged { config: merged }, None);
        self.deliver_to(community, plugin, &event).await
    }

    /// Offers a new version of an installed plugin. If it requests nothing the serving version
    /// did not, it takes over at once (grants it no longer requests are dropped); otherwise it
    /// waits for [`Plaza::approve_upgrade`] and the old version keeps serving meanwhile.
    pub async fn upgrade(&self, community: &str, new: Arc<Plugin>) -> Result<UpgradeOutcome> {
        let install = self.install_of(community, &new.name)?;
        let bad = |reason: String| PlazaError::BadUpgrade {
            installed: install.plugin.name.clone(),
            community: community.to_string(),
            reason,
        };
        if new.digest == install.plugin.digest {
            return Err(bad(format!("version {} is already serving", new.version)));
        }
        self.check_upgrade_signature(&install, &new)?;
        let old_requested = install.plugin.requested();
        let added: Vec<Capability> = new.requested().iter().filter(|c| !old_requested.contains(*c)).collect();
        let added_hosts = added_hosts(&install.plugin, &new);
        self.store_package(&new)?;
        let from = install.plugin.version.clone();
        if added.is_empty() && added_hosts.is_empty() {
            let report = self.switch_version(install, new.clone(), None).await?;
            return Ok(UpgradeOutcome::Applied {
                from,
                to: new.version.clone(),
                report: Box::new(report),
            });
        }
        let pending = PendingUpgrade {
            digest: new.digest.clone(),
            version: new.version.clone(),
            added_capabilities: added.clone(),
            requested_ms: now_ms(),
        };
        let mut audit: Vec<AuditEntry> = added
            .iter()
            .map(|cap| {
                let reason = new.manifest.reason_for(*cap).unwrap_or("");
                let detail = format!("{} asks for it: {reason}", new.version);
                admin_entry(&install, "upgrade-pending", Some(*cap), "pending", detail)
            })
            .collect();
        if !added_hosts.is_empty() {
            let detail = format!("{} asks to reach more hosts: {}", new.version, added_hosts.join(", "));
            audit.push(admin_entry(
                &install,
                "upgrade-pending",
                Some(Capability::HttpFetch),
                "pending",
                detail,
            ));
        }
        self.save_install(
            Install {
                pending: Some(Box::new((new.clone(), pending))),
                ..install.clone()
            },
            &audit,
        )?;
        Ok(UpgradeOutcome::Pending {
            from,
            to: new.version.clone(),
            added,
            added_hosts,
        })
    }

    /// Approves the waiting upgrade: its new capabilities are granted and it takes over.
    pub async fn approve_upgrade(&self, community: &str, plugin: &str) -> Result<InvocationReport> {
        let install = self.install_of(community, plugin)?;
        let Some((new, pending)) = install.pending.clone().map(|p| *p) else {
            return Err(PlazaError::NoPendingUpgrade {
                plugin: plugin.to_string(),
                community: community.to_string(),
            });
        };
        self.switch_version(install, new, Some(&pending.added_capabilities))
            .await
    }

    /// Rejects the waiting upgrade; the serving version stays.
    pub fn reject_upgrade(&self, community: &str, plugin: &str) -> Result<()> {
        let install = self.install_of(community, plugin)?;
        let Some((new, _)) = install.pending.as_deref().cloned() else {
            return Err(PlazaError::NoPendingUpgrade {
                plugin: plugin.to_string(),
                community: community.to_string(),
            });
        };
        let detail = format!("upgrade to {} rejected", new.version);
        self.save_install(
            Install {
                pending: None,
                ..install.clone()
            },
            &[admin_entry(&install, "reject-upgrade", None, "rejected", detail)],
        )
    }

    async fn switch_version(
        &self,
        install: Install,
        new: Arc<Plugin>,
        approved: Option<&[Capability]>,
    ) -> Result<InvocationReport> {
        let requested = new.requested();
        let mut grants: GrantSet = install
            .grants
            .snapshot()
            .iter()
            .filter(|c| requested.contains(*c))
            .collect();
        for cap in approved.unwrap_or(&[]) {
            grants.insert(*cap);
        }
        let from = install.plugin.version.clone();
        let upgraded = Install {
            limits: self.limits_for(&new, &install.overrides),
            plugin: new.clone(),
            grants: LiveGrants::new(grants),
            pending: None,
            ..install.clone()
        };
        // Capabilities approved with the upgrade are granted by the version asking for them.
        let mut audit: Vec<AuditEntry> = approved
            .unwrap_or(&[])
            .iter()
            .map(|cap| {
                let detail = format!("approved with upgrade to {}", new.version);
                admin_entry(&install, "grant", Some(*cap), "ok", detail)
            })
            .collect();
        audit.push(admin_entry(
            &upgraded,
            "upgrade",
            None,
            "ok",
            format!("{from} → {}", new.version),
        ));
        self.save_install(upgraded.clone(), &audit)?;
        let event = self.host_event(
            &install.community,
            EventKind::PluginUpgraded {
                from_version: from,
                to_version: new.version.clone(),
            },
            None,
        );
        self.deliver_to(&install.community, &new.name, &event).await
    }

    /// Delivers `plugin-uninstalled`, then removes the install and deletes its data in the
    /// community with the audit entry, in one store transaction (if that fails, nothing of it is
    /// removed and the error says why).
    pub async fn uninstall(&self, community: &str, plugin: &str) -> Result<InvocationReport> {
        let install = self.install_of(community, plugin)?;
        let event = self.host_event(community, EventKind::PluginUninstalled, None);
        let report = self.deliver_to(community, plugin, &event).await?;
        let entry = admin_entry(
            &install,
            "uninstall",
            None,
            "ok",
            "uninstalled; its data in this community was deleted".into(),
        );
        self.store.uninstall(community, plugin, &[entry])?;
        self.uncache_install(community, plugin);
        Ok(report)
    }

    /// Sets an install's limits (each within the operator's maximum; `None` keeps the manifest's
    /// or the default).
    pub fn set_limits(&self, community: &str, plugin: &str, overrides: LimitOverrides) -> Result<()> {
        use crate::runtime::limits::{
            MAX_BURST, MAX_CPU_MS, MAX_INSTANCE_PARTS, MAX_MESSAGES_PER_MINUTE, MAX_TABLE_ELEMENTS, MAX_WALL_CLOCK_MS,
        };
        let install = self.install_of(community, plugin)?;
        let max_mb = (self.runtime.engine().settings().max_memory_bytes >> 20) as u64;
        let checks = [
            ("memory-mb", overrides.memory_mb, 1, max_mb),
            ("cpu-ms", overrides.cpu_ms, 1, MAX_CPU_MS),
            ("wall-clock-ms", overrides.wall_clock_ms, 1, MAX_WALL_CLOCK_MS),
            ("fuel", overrides.fuel, 1, u64::MAX),
            ("table-elements", overrides.table_elements, 1, MAX_TABLE_ELEMENTS),
            ("instances", overrides.instances, 1, MAX_INSTANCE_PARTS),
            ("tables", overrides.tables, 1, MAX_INSTANCE_PARTS),
            ("memories", overrides.memories, 1, MAX_INSTANCE_PARTS),
            (
                "messages-per-minute-per-channel",
                overrides.messages_per_minute_per_channel,
                1,
                MAX_MESSAGES_PER_MINUTE,
            ),
            ("channel-burst", overrides.channel_burst, 1, MAX_BURST),
            (
                "messages-per-minute-per-community",
                overrides.messages_per_minute_per_community,
                1,
                MAX_MESSAGES_PER_MINUTE,
            ),
            ("community-burst", overrides.community_burst, 1, MAX_BURST),
        ];
        for (name, value, min, max) in checks {
            if let Some(v) = value.filter(|v| !(min..=max).contains(v)) {
                return Err(PlazaError::BadLimit {
                    plugin: plugin.to_string(),
                    community: community.to_string(),
                    reason: format!("{name} = {v} is outside the operator's range {min}..={max}"),
                });
            }
        }
        let limits = self.limits_for(&install.plugin, &overrides);
        let detail = serde_json::to_string(&overrides).unwrap_or_default();
        self.save_install(
            Install {
                limits,
                overrides: Install::shared_overrides(overrides),
                ..install.clone()
            },
            &[admin_entry(&install, "limits", None, "ok", detail)],
        )
    }

    /// Audit entries, oldest first.
    pub fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        Ok(self.store.audit(query)?)
    }
}

/// An audit entry for an admin change to `install`.
fn admin_entry(
    install: &Install,
    kind: &str,
    capability: Option<Capability>,
    outcome: &str,
    detail: String,
) -> AuditEntry {
    Plaza::audit_entry(install, kind, capability.map(|c| c.name()), outcome, detail)
}

fn granted(install: &Install, cap: Capability) -> AuditEntry {
    admin_entry(install, "grant", Some(cap), "ok", "granted by admin".into())
}

fn revoked(install: &Install, cap: Capability) -> AuditEntry {
    admin_entry(install, "revoke", Some(cap), "ok", "revoked by admin".into())
}
