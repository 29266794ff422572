//! [`SecretStore`] on PostgreSQL (`install_secrets`), and the host keys every node shares
//! (`host_keys`): the pseudonym key must be one for the whole deployment, or a member would
//! have a different pseudonym on each node.

use super::{Fail, PostgresStore};
use crate::storage::admin::StoreError;
use crate::storage::codec::{from_db, from_json, to_db, to_json};
use crate::storage::secrets::{SealedSecret, SecretStore};

impl PostgresStore {
    /// The 32-byte key named `name`: `fresh` if this is the first node to ask for it
    /// (`ON CONFLICT DO NOTHING`, then read back: two nodes asking at once get the same key).
    pub fn host_key(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.write(&format!("reading the host key `{name}`"), |tx| {
            tx.execute(
                "INSERT INTO host_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &&fresh[..]],
            )?;
            let value: Vec<u8> = tx
                .query_one("SELECT value FROM host_keys WHERE name = $1", &[&name])?
                .get(0);
            value
                .try_into()
                .map_err(|_| Fail::Data(format!("host key `{name}` is not 32 bytes")))
        })
    }
}

impl SecretStore for PostgresStore {
    fn put_secret(&self, community: &str, plugin: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let doing = format!(
            "storing secret `{}` of plugin `{plugin}` in community `{community}`",
            secret.name
        );
        self.write(&doing, |tx| {
            tx.execute(
                "INSERT INTO install_secrets (community, plugin, name, nonce, ciphertext, hosts, set_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (community, plugin, name) DO UPDATE SET
                   nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                   hosts = excluded.hosts, set_ms = excluded.set_ms",
                &[
                    &community,
                    &plugin,
                    &secret.name,
                    &secret.nonce,
                    &secret.ciphertext,
                    &to_json(&secret.hosts)?,
                    &to_db(secret.set_ms),
                ],
            )?;
            Ok(())
        })
    }

    fn delete_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool, StoreError> {
        let doing = format!("removing secret `{name}` of plugin `{plugin}` in community `{community}`");
        self.write(&doing, |tx| {
            let n = tx.execute(
                "DELETE FROM install_secrets WHERE community = $1 AND plugin = $2 AND name = $3",
                &[&community, &plugin, &name],
            )?;
            Ok(n > 0)
        })
    }

    fn secrets(&self, community: &str, plugin: &str) -> Result<Vec<SealedSecret>, StoreError> {
        let doing = format!("reading the secrets of plugin `{plugin}` in community `{community}`");
        self.read(&doing, |tx| {
            let rows = tx.query(
                "SELECT name, nonce, ciphertext, hosts, set_ms FROM install_secrets
                 WHERE community = $1 AND plugin = $2 ORDER BY name",
                &[&community, &plugin],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(SealedSecret {
                        name: row.get(0),
                        nonce: row.get(1),
                        ciphertext: row.get(2),
                        hosts: from_json(row.get(3), "secret hosts")?,
                        set_ms: from_db(row.get(4)),
                    })
                })
                .collect()
        })
    }
}
