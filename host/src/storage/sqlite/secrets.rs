//! [`SecretStore`] on SQLite: the `install_secrets` table (schema version 4).

use rusqlite::params;

use super::SqliteStore;
use crate::storage::admin::StoreError;
use crate::storage::secrets::{SealedSecret, SecretStore};

impl SecretStore for SqliteStore {
    fn put_secret(&self, community: &str, plugin: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let hosts = serde_json::to_string(&secret.hosts).unwrap_or_else(|_| "[]".into());
        let doing = format!(
            "storing secret `{}` of plugin `{plugin}` in community `{community}`",
            secret.name
        );
        self.write(&doing, |conn| {
            conn.prepare_cached(
                "INSERT INTO install_secrets (community, plugin, name, nonce, ciphertext, hosts, set_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (community, plugin, name) DO UPDATE SET
                   nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                   hosts = excluded.hosts, set_ms = excluded.set_ms",
            )?
            .execute(params![
                community,
                plugin,
                secret.name,
                secret.nonce,
                secret.ciphertext,
                hosts,
                secret.set_ms as i64
            ])?;
            Ok(())
        })
    }

    fn delete_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool, StoreError> {
        let doing = format!("removing secret `{name}` of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |conn| {
            let n = conn
                .prepare_cached("DELETE FROM install_secrets WHERE community = ?1 AND plugin = ?2 AND name = ?3")?
                .execute(params![community, plugin, name])?;
            Ok(n > 0)
        })
    }

    fn secrets(&self, community: &str, plugin: &str) -> Result<Vec<SealedSecret>, StoreError> {
        let doing = format!("reading the secrets of plugin `{plugin}` in community `{community}`");
        self.read(&doing, |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT name, nonce, ciphertext, hosts, set_ms FROM install_secrets
                     WHERE community = ?1 AND plugin = ?2 ORDER BY name",
                )?
                .query_map(params![community, plugin], |row| {
                    let hosts: String = row.get(3)?;
                    Ok(SealedSecret {
                        name: row.get(0)?,
                        nonce: row.get(1)?,
                        ciphertext: row.get(2)?,
                        hosts: serde_json::from_str(&hosts).unwrap_or_default(),
                        set_ms: row.get::<_, i64>(4)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}
