//! The admin model of [`MemoryStore`]: communities, plugin packages, installs (with their circuit
//! breakers) and the audit log, kept in memory beside the community state.
//!
//! The rules every [`AdminStore`] follows (the SQLite store too; `conformance.rs` checks both):
//! - `create_community` of an existing id is a `Conflict`.
//! - `put_package` keeps the first package stored under a digest.
//! - `put_install` needs the community and the packages it names (serving and pending) to exist,
//!   else `NotFound`; a replace keeps the install's position in install order.
//! - `installs`/`install` of an unknown community answer empty/`None`.
//! - `uninstall` of an install that does not exist is `NotFound` and changes nothing; otherwise it
//!   deletes the install with its circuit breaker, secrets, KV, pseudonyms, timers, delivery
//!   cursor and dead letters, and appends its audit entries.
//! - `set_review_fail_policy` of an unknown community is `NotFound`; new communities fail open.
//! - Circuit breakers belong to an install: `put_breaker` of an install that does not exist is
//!   `NotFound` (so a later install of the same plugin never inherits it); `breaker` of one
//!   answers `None`.
//! - Audit `seq` numbers start at 1 and increase; `audit` with a `limit` answers the newest
//!   `limit` matching entries, oldest first.

use crate::hash::HashMap;
use std::collections::BTreeMap;
use std::sync::RwLock;

use super::admin::{
    AdminStore, AuditEntry, AuditQuery, BreakerRecord, CommunityRecord, InstallRecord, PluginPackage, ReviewFailPolicy,
    StoreError,
};
use super::log::DeliveryLog;
use super::memory::MemoryStore;

/// The admin half of a [`MemoryStore`].
#[derive(Default)]
pub(super) struct AdminState(RwLock<Admin>);

#[derive(Default)]
struct Admin {
    communities: BTreeMap<String, CommunityRecord>,
    packages: HashMap<String, PluginPackage>,
    /// Installs per community, in install order.
    installs: HashMap<String, Vec<InstallRecord>>,
    audit: Vec<AuditEntry>,
    /// Circuit breakers per install (community, plugin).
    breakers: HashMap<(String, String), BreakerRecord>,
    /// Changes to communities and installs.
    generation: u64,
}

fn key(community: &str, plugin_id: &str) -> (String, String) {
    (community.to_string(), plugin_id.to_string())
}

impl Admin {
    /// Appends audit entries, numbering them on.
    fn append_audit(&mut self, entries: &[AuditEntry]) {
        for entry in entries {
            let seq = self.audit.len() as u64 + 1;
            self.audit.push(AuditEntry { seq, ..entry.clone() });
        }
    }

    fn is_installed(&self, community: &str, plugin_id: &str) -> bool {
        self.installs
            .get(community)
            .is_some_and(|list| list.iter().any(|i| i.plugin_id == plugin_id))
    }

    /// An install may be stored only when its community and every package it names (serving
    /// and pending) exist.
    fn check_install(&self, install: &InstallRecord) -> Result<(), StoreError> {
        if !self.communities.contains_key(&install.community) {
            return Err(no_community(&install.community));
        }
        let digests = std::iter::once(&install.digest).chain(install.pending.iter().map(|p| &p.digest));
        for digest in digests {
            if !self.packages.contains_key(digest) {
                return Err(no_package(digest));
            }
        }
        Ok(())
    }

    /// Stores a checked install; a replace keeps its place in install order.
    fn upsert_install(&mut self, install: &InstallRecord) {
        let list = self.installs.entry(install.community.clone()).or_default();
        match list.iter_mut().find(|i| i.plugin_id == install.plugin_id) {
            Some(existing) => *existing = install.clone(),
            None => list.push(install.clone()),
        }
    }
}

impl AdminState {
    fn read<R>(&self, f: impl FnOnce(&Admin) -> R) -> R {
        f(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<R>(&self, f: impl FnOnce(&mut Admin) -> R) -> R {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `create_community` of an id that exists.
pub(super) fn community_conflict(id: &str) -> StoreError {
    StoreError::Conflict(format!("community `{id}` already exists"))
}

/// An operation on a community that does not exist.
pub(super) fn no_community(id: &str) -> StoreError {
    StoreError::NotFound(format!("community `{id}` does not exist"))
}

/// An install naming a package that is not stored.
pub(super) fn no_package(digest: &str) -> StoreError {
    StoreError::NotFound(format!("package `{digest}` is not stored"))
}

/// An operation on an install that does not exist.
pub(super) fn not_installed(community: &str, plugin_id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "plugin `{plugin_id}` is not installed in community `{community}`"
    ))
}

/// Whether an audit entry passes the query's filters (all but `limit`).
pub(super) fn audit_matches(query: &AuditQuery, entry: &AuditEntry) -> bool {
    query.community.as_deref().is_none_or(|c| entry.community == c)
        && query.plugin.as_deref().is_none_or(|p| entry.plugin == p)
        && query.after_seq.is_none_or(|after| entry.seq > after)
}

impl AdminStore for MemoryStore {
    fn create_community(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        self.admin.write(|a| {
            a.generation += 1;
            if a.communities.contains_key(id) {
                return Err(community_conflict(id));
            }
            a.communities.insert(
                id.to_string(),
                CommunityRecord {
                    id: id.to_string(),
                    created_ms: now_ms,
                    review_fail_policy: ReviewFailPolicy::default(),
                    signing_policy: None,
                },
            );
            Ok(())
        })
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        Ok(self.admin.read(|a| a.communities.values().cloned().collect()))
    }

    fn community(&self, id: &str) -> Result<Option<CommunityRecord>, StoreError> {
        Ok(self.admin.read(|a| a.communities.get(id).cloned()))
    }

    fn admin_generation(&self) -> Result<u64, StoreError> {
        Ok(self.admin.read(|a| a.generation))
    }

    fn community_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.admin.read(|a| a.communities.contains_key(id)))
    }

    fn put_package(&self, package: &PluginPackage) -> Result<(), StoreError> {
        self.admin.write(|a| {
            a.packages
                .entry(package.digest.clone())
                .or_insert_with(|| package.clone());
        });
        Ok(())
    }

    fn package(&self, digest: &str) -> Result<Option<PluginPackage>, StoreError> {
        Ok(self.admin.read(|a| a.packages.get(digest).cloned()))
    }

    fn put_install(&self, install: &InstallRecord) -> Result<(), StoreError> {
        self.admin.write(|a| {
            a.generation += 1;
            a.check_install(install)?;
            a.upsert_install(install);
            Ok(())
        })
    }

    fn put_installs(&self, installs: &[InstallRecord], audit: &[AuditEntry]) -> Result<(), StoreError> {
        self.admin.write(|a| {
            // Everything is checked before anything is written: all or nothing.
            for install in installs {
                a.check_install(install)?;
            }
            for install in installs {
                a.generation += 1;
                a.upsert_install(install);
            }
            a.append_audit(audit);
            Ok(())
        })
    }

    fn install(&self, community: &str, plugin_id: &str) -> Result<Option<InstallRecord>, StoreError> {
        Ok(self.admin.read(|a| {
            a.installs
                .get(community)?
                .iter()
                .find(|i| i.plugin_id == plugin_id)
                .cloned()
        }))
    }

    fn installs(&self, community: &str) -> Result<Vec<InstallRecord>, StoreError> {
        Ok(self
            .admin
            .read(|a| a.installs.get(community).cloned().unwrap_or_default()))
    }

    fn uninstall(&self, community: &str, plugin_id: &str, audit: &[AuditEntry]) -> Result<(), StoreError> {
        // Only the lookup can fail, and it comes first: after it every step happens.
        self.admin.write(|a| {
            let list = a
                .installs
                .get_mut(community)
                .ok_or_else(|| not_installed(community, plugin_id))?;
            let index = list
                .iter()
                .position(|i| i.plugin_id == plugin_id)
                .ok_or_else(|| not_installed(community, plugin_id))?;
            list.remove(index);
            a.generation += 1;
            a.breakers.remove(&key(community, plugin_id));
            a.append_audit(audit);
            Ok::<_, StoreError>(())
        })?;
        self.secrets.forget_install(community, plugin_id);
        self.forget_plugin_data(community, plugin_id);
        self.drop_cursor(community, plugin_id)
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.admin.write(|a| a.append_audit(entries));
        Ok(())
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.admin.read(|a| {
            let matching: Vec<&AuditEntry> = a.audit.iter().filter(|e| audit_matches(query, e)).collect();
            let skip = query.limit.map_or(0, |limit| matching.len().saturating_sub(limit));
            matching[skip..].iter().map(|e| (*e).clone()).collect()
        }))
    }

    fn set_review_fail_policy(&self, community: &str, policy: ReviewFailPolicy) -> Result<(), StoreError> {
        self.admin.write(|a| {
            a.generation += 1;
            let record = a
                .communities
                .get_mut(community)
                .ok_or_else(|| no_community(community))?;
            record.review_fail_policy = policy;
            Ok(())
        })
    }

    fn set_signing_policy(
        &self,
        community: &str,
        policy: Option<crate::signing::SigningPolicy>,
    ) -> Result<(), StoreError> {
        self.admin.write(|a| {
            a.generation += 1;
            let record = a
                .communities
                .get_mut(community)
                .ok_or_else(|| no_community(community))?;
            record.signing_policy = policy;
            Ok(())
        })
    }

    fn breaker(&self, community: &str, plugin_id: &str) -> Result<Option<BreakerRecord>, StoreError> {
        Ok(self.admin.read(|a| a.breakers.get(&key(community, plugin_id)).cloned()))
    }

    fn put_breaker(&self, community: &str, plugin_id: &str, breaker: &BreakerRecord) -> Result<(), StoreError> {
        self.admin.write(|a| {
            if !a.is_installed(community, plugin_id) {
                return Err(not_installed(community, plugin_id));
            }
            a.breakers.insert(key(community, plugin_id), breaker.clone());
            Ok(())
        })
    }
}
