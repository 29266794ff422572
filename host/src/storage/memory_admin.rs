//! The admin model of [`MemoryStore`]: communities, plugin packages, installs and the audit log,
//! kept in memory beside the community state.
//!
//! The rules every [`AdminStore`] follows (the SQLite store too; `conformance.rs` checks both):
//! - `create_community` of an existing id is a `Conflict`.
//! - `put_package` keeps the first package stored under a digest.
//! - `put_install` needs the community and the packages it names (serving and pending) to exist,
//!   else `NotFound`; a replace keeps the install's position in install order.
//! - `installs`/`install` of an unknown community answer empty/`None`.
//! - `delete_install` of an install that does not exist is `NotFound`.
//! - Audit `seq` numbers start at 1 and increase; `audit` with a `limit` answers the newest
//!   `limit` matching entries, oldest first.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::admin::{AdminStore, AuditEntry, AuditQuery, CommunityRecord, InstallRecord, PluginPackage, StoreError};
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
            if a.communities.contains_key(id) {
                return Err(community_conflict(id));
            }
            a.communities.insert(
                id.to_string(),
                CommunityRecord {
                    id: id.to_string(),
                    created_ms: now_ms,
                },
            );
            Ok(())
        })
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        Ok(self.admin.read(|a| a.communities.values().cloned().collect()))
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
            if !a.communities.contains_key(&install.community) {
                return Err(no_community(&install.community));
            }
            let digests = std::iter::once(&install.digest).chain(install.pending.iter().map(|p| &p.digest));
            for digest in digests {
                if !a.packages.contains_key(digest) {
                    return Err(no_package(digest));
                }
            }
            let list = a.installs.entry(install.community.clone()).or_default();
            match list.iter_mut().find(|i| i.plugin_id == install.plugin_id) {
                Some(existing) => *existing = install.clone(),
                None => list.push(install.clone()),
            }
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

    fn delete_install(&self, community: &str, plugin_id: &str) -> Result<(), StoreError> {
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
            Ok(())
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.admin.write(|a| {
            for entry in entries {
                let seq = a.audit.len() as u64 + 1;
                a.audit.push(AuditEntry { seq, ..entry.clone() });
            }
        });
        Ok(())
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.admin.read(|a| {
            let matching: Vec<&AuditEntry> = a.audit.iter().filter(|e| audit_matches(query, e)).collect();
            let skip = query.limit.map_or(0, |limit| matching.len().saturating_sub(limit));
            matching[skip..].iter().map(|e| (*e).clone()).collect()
        }))
    }
}
