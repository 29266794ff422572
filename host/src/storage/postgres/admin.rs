//! [`AdminStore`] on PostgreSQL: communities, packages, installs with grants and pending
//! upgrades, the audit log and circuit breakers. Every change to communities or installs bumps
//! `admin_generation` in its transaction, so every node sharing the database notices it.

use tokio_postgres::Row;

use super::community::{append_audit_in, forget_plugin_in};
use super::log::drop_cursor_in;
use super::{Fail, PostgresStore, Tx};
use crate::capability::GrantSet;
use crate::event::ConfigEntry;
use crate::storage::admin::{
    AdminStore, AuditEntry, AuditQuery, BreakerRecord, BreakerState, CommunityRecord, InstallRecord, LimitOverrides,
    PendingUpgrade, PluginPackage, ReviewFailPolicy, StoreError,
};
use crate::storage::codec::{
    capability, from_db, from_json, from_variant_name, sql_limit, to_db, to_json, variant_name,
};
use crate::storage::memory_admin::{community_conflict, no_community, no_package, not_installed};

/// Counts a change to communities or installs ([`AdminStore::admin_generation`]). The row is
/// one for the whole store, so concurrent admin changes serialize on it (admin changes are rare).
fn bump_admin_generation(tx: &mut Tx<'_>) -> Result<(), Fail> {
    tx.execute(
        "UPDATE admin_generation SET generation = generation + 1 WHERE id = 1",
        &[],
    )?;
    Ok(())
}

const COMMUNITY_COLUMNS: &str = "id, created_ms, review_fail_policy, signing_policy";

fn community_record(r: &Row) -> Result<CommunityRecord, Fail> {
    Ok(CommunityRecord {
        id: r.get(0),
        created_ms: from_db(r.get(1)),
        review_fail_policy: from_variant_name(r.get(2), "review fail policy")?,
        signing_policy: r
            .get::<_, Option<String>>(3)
            .map(|name| from_variant_name(name, "signing policy"))
            .transpose()?,
    })
}

fn community_exists(tx: &mut Tx<'_>, id: &str) -> Result<bool, Fail> {
    tx.exists("SELECT 1 FROM communities WHERE id = $1", &[&id])
}

fn install_exists(tx: &mut Tx<'_>, community: &str, plugin_id: &str) -> Result<bool, Fail> {
    tx.exists(
        "SELECT 1 FROM installs WHERE community = $1 AND plugin_id = $2",
        &[&community, &plugin_id],
    )
}

const INSTALL_COLUMNS: &str = "community, plugin_id, digest, version, enabled, config, installed_ms, limits";

/// Reads an install row and completes it with its grants and pending upgrade.
fn load_install(tx: &mut Tx<'_>, row: &Row) -> Result<InstallRecord, Fail> {
    let (community, plugin_id): (String, String) = (row.get(0), row.get(1));
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&community, &plugin_id];
    let grants = tx
        .query(
            "SELECT capability FROM grants WHERE community = $1 AND plugin_id = $2",
            &key,
        )?
        .iter()
        .map(|r| capability(r.get(0)))
        .collect::<Result<GrantSet, _>>()?;
    let pending = tx.query_opt(
        "SELECT digest, version, requested_ms FROM pending_upgrades WHERE community = $1 AND plugin_id = $2",
        &key,
    )?;
    let pending = match pending {
        None => None,
        Some(p) => {
            let added = tx
                .query(
                    "SELECT capability FROM pending_capabilities WHERE community = $1 AND plugin_id = $2 ORDER BY ordinal",
                    &key,
                )?
                .iter()
                .map(|r| capability(r.get(0)))
                .collect::<Result<Vec<_>, _>>()?;
            Some(PendingUpgrade {
                digest: p.get(0),
                version: p.get(1),
                added_capabilities: added,
                requested_ms: from_db(p.get(2)),
            })
        }
    };
    Ok(InstallRecord {
        config: from_json::<Vec<ConfigEntry>>(row.get(5), "install config")?,
        limits: from_json::<LimitOverrides>(row.get(7), "install limits")?,
        community,
        plugin_id,
        digest: row.get(2),
        version: row.get(3),
        enabled: row.get(4),
        grants,
        installed_ms: from_db(row.get(6)),
        pending,
    })
}

fn audit_from_row(row: &Row) -> AuditEntry {
    AuditEntry {
        seq: from_db(row.get(0)),
        time_ms: from_db(row.get(1)),
        community: row.get(2),
        plugin: row.get(3),
        version: row.get(4),
        kind: row.get(5),
        capability: row.get(6),
        outcome: row.get(7),
        detail: row.get(8),
    }
}

impl PostgresStore {
    /// Sets one column of a community, bumping the admin generation; `NotFound` if unknown.
    fn set_community_column(&self, community: &str, column: &str, value: Option<String>) -> Result<(), StoreError> {
        let doing = format!("setting the {} of community `{community}`", column.replace('_', " "));
        self.write(&doing, |tx| {
            bump_admin_generation(tx)?;
            let updated = tx.execute(
                &format!("UPDATE communities SET {column} = $2 WHERE id = $1"),
                &[&community, &value],
            )?;
            if updated == 0 {
                return Err(no_community(community).into());
            }
            Ok(())
        })
    }
}

/// Inserts or replaces one install inside the caller's transaction.
fn put_install_in(tx: &mut Tx<'_>, install: &InstallRecord) -> Result<(), Fail> {
    let (c, p) = (install.community.as_str(), install.plugin_id.as_str());
    bump_admin_generation(tx)?;
    if !community_exists(tx, c)? {
        return Err(no_community(c).into());
    }
    for digest in std::iter::once(&install.digest).chain(install.pending.iter().map(|p| &p.digest)) {
        if !tx.exists("SELECT 1 FROM packages WHERE digest = $1", &[digest])? {
            return Err(no_package(digest).into());
        }
    }
    tx.execute(
        "INSERT INTO installs (community, plugin_id, digest, version, enabled, config, installed_ms, limits)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (community, plugin_id) DO UPDATE SET
             digest = excluded.digest, version = excluded.version, enabled = excluded.enabled,
             config = excluded.config, installed_ms = excluded.installed_ms, limits = excluded.limits",
        &[
            &c,
            &p,
            &install.digest,
            &install.version,
            &install.enabled,
            &to_json(&install.config)?,
            &to_db(install.installed_ms),
            &to_json(&install.limits)?,
        ],
    )?;
    tx.execute("DELETE FROM grants WHERE community = $1 AND plugin_id = $2", &[&c, &p])?;
    for cap in install.grants.iter() {
        tx.execute(
            "INSERT INTO grants (community, plugin_id, capability) VALUES ($1, $2, $3)",
            &[&c, &p, &cap.name()],
        )?;
    }
    // Deleting the pending upgrade also deletes its capabilities (ON DELETE CASCADE).
    tx.execute(
        "DELETE FROM pending_upgrades WHERE community = $1 AND plugin_id = $2",
        &[&c, &p],
    )?;
    if let Some(pending) = &install.pending {
        tx.execute(
            "INSERT INTO pending_upgrades (community, plugin_id, digest, version, requested_ms)
             VALUES ($1, $2, $3, $4, $5)",
            &[&c, &p, &pending.digest, &pending.version, &to_db(pending.requested_ms)],
        )?;
        for (ordinal, cap) in pending.added_capabilities.iter().enumerate() {
            tx.execute(
                "INSERT INTO pending_capabilities (community, plugin_id, ordinal, capability)
                 VALUES ($1, $2, $3, $4)",
                &[&c, &p, &(ordinal as i64), &cap.name()],
            )?;
        }
    }
    Ok(())
}

impl AdminStore for PostgresStore {
    fn create_community(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        self.write(&format!("creating community `{id}`"), |tx| {
            bump_admin_generation(tx)?;
            if community_exists(tx, id)? {
                return Err(community_conflict(id).into());
            }
            tx.execute(
                "INSERT INTO communities (id, created_ms, review_fail_policy) VALUES ($1, $2, $3)",
                &[&id, &to_db(now_ms), &variant_name(&ReviewFailPolicy::default())?],
            )?;
            Ok(())
        })
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        self.read("listing communities", |tx| {
            let rows = tx.query(&format!("SELECT {COMMUNITY_COLUMNS} FROM communities ORDER BY id"), &[])?;
            rows.iter().map(community_record).collect()
        })
    }

    fn community(&self, id: &str) -> Result<Option<CommunityRecord>, StoreError> {
        self.read(&format!("reading community `{id}`"), |tx| {
            let row = tx.query_opt(
                &format!("SELECT {COMMUNITY_COLUMNS} FROM communities WHERE id = $1"),
                &[&id],
            )?;
            row.as_ref().map(community_record).transpose()
        })
    }

    fn admin_generation(&self) -> Result<u64, StoreError> {
        self.read("reading the admin generation", |tx| {
            let generation: i64 = tx
                .query_one("SELECT generation FROM admin_generation WHERE id = 1", &[])?
                .get(0);
            Ok(from_db(generation))
        })
    }

    fn community_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.read(&format!("looking up community `{id}`"), |tx| community_exists(tx, id))
    }

    fn put_package(&self, package: &PluginPackage) -> Result<(), StoreError> {
        let doing = format!(
            "storing package {} {} ({})",
            package.plugin_id, package.version, package.digest
        );
        self.write(&doing, |tx| {
            tx.execute(
                "INSERT INTO packages (digest, plugin_id, version, manifest_toml, component) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (digest) DO NOTHING",
                &[
                    &package.digest,
                    &package.plugin_id,
                    &package.version,
                    &package.manifest_toml,
                    &package.component,
                ],
            )?;
            Ok(())
        })
    }

    fn package(&self, digest: &str) -> Result<Option<PluginPackage>, StoreError> {
        self.read(&format!("reading package {digest}"), |tx| {
            let row = tx.query_opt(
                "SELECT digest, plugin_id, version, manifest_toml, component FROM packages WHERE digest = $1",
                &[&digest],
            )?;
            Ok(row.map(|r| PluginPackage {
                digest: r.get(0),
                plugin_id: r.get(1),
                version: r.get(2),
                manifest_toml: r.get(3),
                component: r.get(4),
            }))
        })
    }

    fn put_install(&self, install: &InstallRecord) -> Result<(), StoreError> {
        let (c, p) = (install.community.as_str(), install.plugin_id.as_str());
        let doing = format!("saving the install of plugin `{p}` in community `{c}`");
        self.write(&doing, |tx| put_install_in(tx, install))
    }

    fn put_installs(&self, installs: &[InstallRecord], audit: &[AuditEntry]) -> Result<(), StoreError> {
        let doing = format!("saving {} installs with {} audit entries", installs.len(), audit.len());
        self.write(&doing, |tx| {
            for install in installs {
                put_install_in(tx, install)?;
            }
            append_audit_in(tx, audit)
        })
    }

    fn install(&self, community: &str, plugin_id: &str) -> Result<Option<InstallRecord>, StoreError> {
        let doing = format!("reading the install of plugin `{plugin_id}` in community `{community}`");
        self.read(&doing, |tx| {
            let row = tx.query_opt(
                &format!("SELECT {INSTALL_COLUMNS} FROM installs WHERE community = $1 AND plugin_id = $2"),
                &[&community, &plugin_id],
            )?;
            row.map(|row| load_install(tx, &row)).transpose()
        })
    }

    fn installs(&self, community: &str) -> Result<Vec<InstallRecord>, StoreError> {
        self.read(&format!("listing the installs of community `{community}`"), |tx| {
            let rows = tx.query(
                &format!("SELECT {INSTALL_COLUMNS} FROM installs WHERE community = $1 ORDER BY position"),
                &[&community],
            )?;
            rows.iter().map(|row| load_install(tx, row)).collect()
        })
    }

    fn uninstall(&self, community: &str, plugin_id: &str, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let doing = format!("uninstalling plugin `{plugin_id}` from community `{community}`");
        self.write(&doing, |tx| {
            bump_admin_generation(tx)?;
            // Grants and the pending upgrade go with the row (ON DELETE CASCADE); the rest is
            // keyed by (community, plugin) alone.
            tx.execute(
                "DELETE FROM breakers WHERE community = $1 AND plugin_id = $2",
                &[&community, &plugin_id],
            )?;
            tx.execute(
                "DELETE FROM install_secrets WHERE community = $1 AND plugin = $2",
                &[&community, &plugin_id],
            )?;
            let deleted = tx.execute(
                "DELETE FROM installs WHERE community = $1 AND plugin_id = $2",
                &[&community, &plugin_id],
            )?;
            if deleted == 0 {
                return Err(not_installed(community, plugin_id).into());
            }
            forget_plugin_in(tx, community, plugin_id)?;
            drop_cursor_in(tx, community, plugin_id)?;
            append_audit_in(tx, audit)
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(&format!("appending {} audit entries", entries.len()), |tx| {
            append_audit_in(tx, entries)
        })
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.read("reading the audit log", |tx| {
            // seq never exceeds i64::MAX, so a larger `after` matches nothing, as does i64::MAX.
            let after = query.after_seq.map(|a| to_db(a.min(i64::MAX as u64)));
            let limit = query.limit.map(sql_limit);
            // The newest `limit` entries, then oldest first.
            let mut entries: Vec<AuditEntry> = tx
                .query(
                    "SELECT seq, time_ms, community, plugin, version, kind, capability, outcome, detail FROM audit
                     WHERE ($1::TEXT IS NULL OR community = $1) AND ($2::TEXT IS NULL OR plugin = $2)
                       AND ($3::BIGINT IS NULL OR seq > $3)
                     ORDER BY seq DESC LIMIT $4",
                    &[&query.community, &query.plugin, &after, &limit],
                )?
                .iter()
                .map(audit_from_row)
                .collect();
            entries.reverse();
            Ok(entries)
        })
    }

    fn set_review_fail_policy(&self, community: &str, policy: ReviewFailPolicy) -> Result<(), StoreError> {
        let name = variant_name(&policy).map_err(|reason| StoreError::Db {
            doing: format!("setting the review fail policy of community `{community}`"),
            reason,
        })?;
        self.set_community_column(community, "review_fail_policy", Some(name))
    }

    fn set_signing_policy(
        &self,
        community: &str,
        policy: Option<crate::signing::SigningPolicy>,
    ) -> Result<(), StoreError> {
        let name = policy
            .as_ref()
            .map(variant_name)
            .transpose()
            .map_err(|reason| StoreError::Db {
                doing: format!("setting the signing policy of community `{community}`"),
                reason,
            })?;
        self.set_community_column(community, "signing_policy", name)
    }

    fn breaker(&self, community: &str, plugin_id: &str) -> Result<Option<BreakerRecord>, StoreError> {
        let doing = format!("reading the circuit breaker of plugin `{plugin_id}` in community `{community}`");
        self.read(&doing, |tx| {
            let Some(row) = tx.query_opt(
                "SELECT state, recent_failures, trips, retry_at_ms FROM breakers
                 WHERE community = $1 AND plugin_id = $2",
                &[&community, &plugin_id],
            )?
            else {
                return Ok(None);
            };
            let trips: i64 = row.get(2);
            Ok(Some(BreakerRecord {
                state: from_variant_name::<BreakerState>(row.get(0), "breaker state")?,
                recent_failures: from_json(row.get(1), "breaker failures")?,
                trips: u32::try_from(trips).map_err(|_| Fail::Data(format!("bad breaker trip count {trips}")))?,
                retry_at_ms: row.get::<_, Option<i64>>(3).map(from_db),
            }))
        })
    }

    fn put_breaker(&self, community: &str, plugin_id: &str, breaker: &BreakerRecord) -> Result<(), StoreError> {
        let doing = format!("saving the circuit breaker of plugin `{plugin_id}` in community `{community}`");
        self.write(&doing, |tx| {
            if !install_exists(tx, community, plugin_id)? {
                return Err(not_installed(community, plugin_id).into());
            }
            tx.execute(
                "INSERT INTO breakers (community, plugin_id, state, recent_failures, trips, retry_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (community, plugin_id) DO UPDATE SET
                     state = excluded.state, recent_failures = excluded.recent_failures,
                     trips = excluded.trips, retry_at_ms = excluded.retry_at_ms",
                &[
                    &community,
                    &plugin_id,
                    &variant_name(&breaker.state)?,
                    &to_json(&breaker.recent_failures)?,
                    &i64::from(breaker.trips),
                    &breaker.retry_at_ms.map(to_db),
                ],
            )?;
            Ok(())
        })
    }
}
