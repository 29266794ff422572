//! Install secrets as stored: sealed (encrypted and authenticated) by the admin layer before
//! they reach a store, so neither store ever holds a value in the clear. See
//! [`crate::admin::secrets`] for the sealing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::admin::StoreError;

/// One sealed secret of one install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Its name (`merchant_key`).
    pub name: String,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The value, encrypted, with its tag.
    pub ciphertext: Vec<u8>,
    /// Hosts it may be sent to; empty: any host on the install's allowlist.
    pub hosts: Vec<String>,
    /// When it was set, milliseconds since the Unix epoch.
    pub set_ms: u64,
}

/// What may be shown of a secret: everything but the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// Hosts it may be sent to; empty: any host on the install's allowlist.
    pub hosts: Vec<String>,
    /// When it was set.
    pub set_ms: u64,
}

impl From<&SealedSecret> for SecretInfo {
    fn from(s: &SealedSecret) -> Self {
        SecretInfo {
            name: s.name.clone(),
            hosts: s.hosts.clone(),
            set_ms: s.set_ms,
        }
    }
}

/// Where sealed secrets are kept. Uninstalling deletes an install's secrets with it.
pub trait SecretStore: Send + Sync {
    /// Sets or replaces one secret.
    fn put_secret(&self, community: &str, plugin: &str, secret: &SealedSecret) -> Result<(), StoreError>;
    /// Removes one; whether it existed.
    fn delete_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool, StoreError>;
    /// The install's secrets, by name.
    fn secrets(&self, community: &str, plugin: &str) -> Result<Vec<SealedSecret>, StoreError>;
}

type Key = (String, String, String);

/// Secrets in memory, for the in-memory store.
#[derive(Debug, Default)]
pub struct MemorySecrets(Mutex<BTreeMap<Key, SealedSecret>>);

impl MemorySecrets {
    /// Forgets an install's secrets (on uninstall).
    pub(crate) fn forget_install(&self, community: &str, plugin: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(c, p, _), _| !(c == community && p == plugin));
    }
}

impl SecretStore for MemorySecrets {
    fn put_secret(&self, community: &str, plugin: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            (community.to_string(), plugin.to_string(), secret.name.clone()),
            secret.clone(),
        );
        Ok(())
    }

    fn delete_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool, StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .remove(&(community.to_string(), plugin.to_string(), name.to_string()))
            .is_some())
    }

    fn secrets(&self, community: &str, plugin: &str) -> Result<Vec<SealedSecret>, StoreError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .iter()
            .filter(|((c, p, _), _)| c == community && p == plugin)
            .map(|(_, s)| s.clone())
            .collect())
    }
}
