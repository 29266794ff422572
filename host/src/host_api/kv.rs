//! `kv`: needs `storage:kv`. Private to (plugin, community); a byte quota per install.

use std::collections::BTreeSet;

use wasmtime::component::{HasSelf, Linker};

use super::{non_empty, HostResult};
use crate::capability::Capability;
use crate::effects::{Action, KvValue};
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::kv;
use crate::wit::latest::HostError;

/// Most keys one `list-keys` call returns.
const MAX_LIST: usize = 1_000;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    kv::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl HostState {
    /// The value the plugin sees now: its own writes first, then the stored value.
    fn kv_visible(&self, key: &str) -> Option<Vec<u8>> {
        match self.effects.kv_written(key) {
            Some(written) => written.map(<[u8]>::to_vec),
            None => self.call.store.kv_get(&self.call.community, &self.call.plugin, key),
        }
    }

    /// Stored bytes after this invocation's writes so far.
    fn kv_bytes_now(&self) -> u64 {
        let (community, plugin) = (&self.call.community, &self.call.plugin);
        let mut total = self.call.store.kv_bytes(community, plugin) as i64;
        for (key, present) in self.effects.kv_overlay_with_prefix("") {
            let before = self
                .call
                .store
                .kv_get(community, plugin, key)
                .map(|v| (key.len() + v.len()) as i64);
            let after = present.then(|| {
                let value = self.effects.kv_written(key).flatten().map_or(0, <[u8]>::len);
                (key.len() + value) as i64
            });
            total += after.unwrap_or(0) - before.unwrap_or(0);
        }
        total.max(0) as u64
    }

    fn check_key(&self, key: &str) -> Result<(), HostError> {
        non_empty("key", key, self.call.limits.kv_key_bytes)
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> HostResult<Option<Vec<u8>>> {
        self.charge(key.len())?;
        let result = (|| {
            self.require(Capability::StorageKv, "kv.get")?;
            self.check_key(&key)?;
            Ok(self.kv_visible(&key))
        })();
        Ok(result)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<()> {
        self.charge(key.len() + value.len())?;
        let result = (|| {
            self.require(Capability::StorageKv, "kv.set")?;
            self.check_key(&key)?;
            let max_value = self.call.limits.kv_value_bytes;
            if value.len() > max_value {
                return Err(HostError::Invalid(format!(
                    "value is {} bytes; at most {max_value} allowed",
                    value.len()
                )));
            }
            let old = self.kv_visible(&key).map_or(0, |v| key.len() + v.len()) as u64;
            let projected = self.kv_bytes_now() - old.min(self.kv_bytes_now()) + (key.len() + value.len()) as u64;
            let quota = self.call.limits.kv_quota_bytes;
            if projected > quota {
                return Err(HostError::QuotaExceeded(format!(
                    "storage quota of {quota} bytes for this install (would use {projected})"
                )));
            }
            self.record(Action::KvSet {
                key,
                value: KvValue(value),
            })
        })();
        Ok(result)
    }

    async fn delete(&mut self, key: String) -> HostResult<()> {
        self.charge(key.len())?;
        let result = (|| {
            self.require(Capability::StorageKv, "kv.delete")?;
            self.check_key(&key)?;
            if self.kv_visible(&key).is_none() {
                return Ok(());
            }
            self.record(Action::KvDelete { key })
        })();
        Ok(result)
    }

    async fn list_keys(&mut self, prefix: String, start_after: Option<String>, limit: u32) -> HostResult<Vec<String>> {
        self.charge(prefix.len() + start_after.as_ref().map_or(0, String::len))?;
        let result = (|| {
            self.require(Capability::StorageKv, "kv.list-keys")?;
            let limit = (limit as usize).clamp(1, MAX_LIST);
            let overlay: Vec<(String, bool)> = self
                .effects
                .kv_overlay_with_prefix(&prefix)
                .map(|(k, present)| (k.to_string(), present))
                .collect();
            // Fetch enough stored keys that deletions in the overlay cannot leave the page short.
            let stored = self.call.store.kv_keys(
                &self.call.community,
                &self.call.plugin,
                &prefix,
                start_after.as_deref(),
                limit + overlay.len(),
            );
            let mut keys: BTreeSet<String> = stored.into_iter().collect();
            for (key, present) in overlay {
                if present {
                    keys.insert(key);
                } else {
                    keys.remove(&key);
                }
            }
            Ok(keys
                .into_iter()
                .filter(|k| start_after.as_deref().is_none_or(|a| k.as_str() > a))
                .take(limit)
                .collect())
        })();
        Ok(result)
    }
}
