//! Install secrets (a merchant's API key, say): an admin sets them, a plugin uses them only as
//! `{{secret:NAME}}` placeholders in request headers to allowlisted hosts, and nobody reads them
//! back. At rest they are sealed with XChaCha20-Poly1305 under the operator's key (a file
//! outside the data directory: backups and copies of the database must not carry merchant
//! keys), bound to (community, plugin, name) so a row copied to another install does not open.
//! Hosts over the in-memory store use a key made at start.

use std::path::Path;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::dispatch::{now_ms, Plaza};
use crate::error::{PlazaError, Result};
use crate::host_api::http::policy::{Allowlist, HostPattern, SecretName, SecretValue, Secrets};
use crate::host_api::http::SecretSource;
use crate::storage::secrets::{SealedSecret, SecretInfo};
use crate::storage::Store;

/// The environment variable naming the key file (also `[secrets] key_file` in `operator.toml`).
pub const KEY_FILE_ENV: &str = "PLAZA_SECRETS_KEY_FILE";

/// The operator's key that seals install secrets: 32 random bytes.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

fn random<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

impl SecretsKey {
    /// A new random key.
    pub fn generate() -> std::io::Result<Self> {
        Ok(SecretsKey(random()?))
    }

    /// Reads a key file: 64 hex digits (what [`SecretsKey::write_new`] writes). A file others
    /// can read is refused: the key is as sensitive as every secret it seals.
    pub fn from_file(path: &Path) -> std::result::Result<Self, String> {
        let shown = path.display();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(path).map_err(|e| format!("secrets key file {shown}: {e}"))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "secrets key file {shown} can be read by other users; make it private (chmod 600 {shown})"
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("secrets key file {shown}: {e}"))?;
        let bytes = hex::decode(text.trim()).map_err(|_| format!("secrets key file {shown} is not 64 hex digits"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("secrets key file {shown} is not 64 hex digits"))?;
        Ok(SecretsKey(key))
    }

    /// Writes a new random key to `path` (which must not exist), readable by the owner only.
    pub fn write_new(path: &Path) -> std::io::Result<()> {
        use std::io::Write as _;
        let key = SecretsKey::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        writeln!(file, "{}", hex::encode(key.0))
    }
}

fn aad(community: &str, plugin: &str, name: &str) -> Vec<u8> {
    format!("plaza-secret-v1\0{community}\0{plugin}\0{name}").into_bytes()
}

/// Seals and opens secrets for one host.
pub struct Vault {
    store: Arc<dyn Store>,
    key: Option<SecretsKey>,
}

impl Vault {
    /// A vault over `store`; without a key, secrets can be listed and removed but not set or used.
    pub fn new(store: Arc<dyn Store>, key: Option<SecretsKey>) -> Self {
        Vault { store, key }
    }

    fn cipher(&self) -> std::result::Result<XChaCha20Poly1305, String> {
        let key = self.key.as_ref().ok_or_else(|| {
            format!(
                "this host has no secrets key: create one with `plaza secret new-key --out FILE` (outside the data \
                 directory) and name it in operator.toml ([secrets] key_file = \"FILE\") or in ${KEY_FILE_ENV}"
            )
        })?;
        Ok(XChaCha20Poly1305::new((&key.0).into()))
    }

    fn seal(
        &self,
        community: &str,
        plugin: &str,
        name: &str,
        value: &SecretValue,
    ) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
        let cipher = self.cipher()?;
        let nonce: [u8; 24] = random().map_err(|e| format!("reading random bytes: {e}"))?;
        let aad = aad(community, plugin, name);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| "sealing the secret failed".to_string())?;
        Ok((nonce.to_vec(), sealed))
    }

    fn open(&self, community: &str, plugin: &str, row: &SealedSecret) -> std::result::Result<SecretValue, String> {
        let cipher = self.cipher()?;
        if row.nonce.len() != 24 {
            return Err(format!("secret {:?} is damaged", row.name));
        }
        let aad = aad(community, plugin, &row.name);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&row.nonce),
                Payload {
                    msg: &row.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                format!(
                    "secret {:?} does not open with this host's secrets key (another key, or a row copied from another install)",
                    row.name
                )
            })?;
        let text = String::from_utf8(plain).map_err(|_| format!("secret {:?} is damaged", row.name))?;
        SecretValue::new(text).map_err(|_| format!("secret {:?} is damaged", row.name))
    }
}

impl SecretSource for Vault {
    fn secrets(&self, community: &str, plugin: &str) -> anyhow::Result<Secrets> {
        let mut secrets = Secrets::new();
        for row in self.store.secrets(community, plugin)? {
            let value = self.open(community, plugin, &row).map_err(anyhow::Error::msg)?;
            let name = SecretName::new(&row.name).map_err(anyhow::Error::msg)?;
            let scope = if row.hosts.is_empty() {
                None
            } else {
                Some(
                    row.hosts
                        .iter()
                        .map(|h| HostPattern::parse(h))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(anyhow::Error::msg)?,
                )
            };
            secrets.set(name, value, scope);
        }
        Ok(secrets)
    }
}

/// Whether every name `pattern` matches is also matched by the allowlist.
fn covered(allowlist: &Allowlist, pattern: &HostPattern) -> bool {
    match pattern {
        HostPattern::Exact(host) => allowlist.matching(host).is_some(),
        HostPattern::Subdomains(domain) => allowlist.patterns().iter().any(|p| match p {
            HostPattern::Subdomains(d) => domain == d || domain.ends_with(&format!(".{d}")),
            HostPattern::Exact(_) => false,
        }),
    }
}

impl Plaza {
    /// Sets (or replaces) a secret of an install. `hosts` narrows where it may be sent (each
    /// must be on the install's allowlist); empty: any allowlisted host. Audited without the value.
    pub fn set_secret(&self, community: &str, plugin: &str, name: &str, value: &str, hosts: &[String]) -> Result<()> {
        let install = self.install_of(community, plugin)?;
        let bad = |reason: String| PlazaError::BadSecret {
            plugin: plugin.to_string(),
            community: community.to_string(),
            reason,
        };
        let secret_name = SecretName::new(name).map_err(|e| bad(format!("secret name: {e}")))?;
        let value = SecretValue::new(value).map_err(|e| bad(format!("secret {name:?}: {e}")))?;
        let allowlist = Allowlist::new(install.plugin.manifest.http_hosts()).unwrap_or_default();
        if allowlist.is_empty() {
            return Err(bad(format!(
                "secret {name:?}: the plugin does not request http:fetch, so it could never use a secret"
            )));
        }
        let mut scope = Vec::new();
        for host in hosts {
            let pattern = HostPattern::parse(host).map_err(|e| bad(format!("secret {name:?}: host {e}")))?;
            if !covered(&allowlist, &pattern) {
                return Err(bad(format!(
                    "secret {name:?}: host {pattern} is not on the install's allowlist ({})",
                    allowlist.summary()
                )));
            }
            scope.push(pattern.to_string());
        }
        let (nonce, ciphertext) = self
            .vault
            .seal(community, plugin, secret_name.as_str(), &value)
            .map_err(bad)?;
        let existed = self
            .store
            .secrets(community, plugin)?
            .iter()
            .any(|s| s.name == secret_name.as_str());
        self.store.put_secret(
            community,
            plugin,
            &SealedSecret {
                name: secret_name.as_str().to_string(),
                nonce,
                ciphertext,
                hosts: scope.clone(),
                set_ms: now_ms(),
            },
        )?;
        let scope_text = if scope.is_empty() {
            "any allowlisted host".to_string()
        } else {
            scope.join(", ")
        };
        self.audit(
            &install,
            "secret",
            Some(crate::capability::Capability::HttpFetch),
            if existed { "replaced" } else { "set" },
            format!("{} for {scope_text}", secret_name.as_str()),
        )
    }

    /// Removes a secret of an install; whether it existed. Audited.
    pub fn remove_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool> {
        let install = self.install_of(community, plugin)?;
        let removed = self.store.delete_secret(community, plugin, name)?;
        if removed {
            self.audit(
                &install,
                "secret",
                Some(crate::capability::Capability::HttpFetch),
                "removed",
                name.to_string(),
            )?;
        }
        Ok(removed)
    }

    /// An install's secrets: names, scopes and when they were set; never values.
    pub fn secrets(&self, community: &str, plugin: &str) -> Result<Vec<SecretInfo>> {
        self.install_of(community, plugin)?;
        Ok(self
            .store
            .secrets(community, plugin)?
            .iter()
            .map(SecretInfo::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStore;

    fn vault(key: Option<SecretsKey>) -> (Vault, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        (Vault::new(store.clone(), key), store)
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_install_and_key() {
        let key = SecretsKey::generate().unwrap();
        let (v, _) = vault(Some(key.clone()));
        let value = SecretValue::new("sk_live_0123456789").unwrap();
        let (nonce, ciphertext) = v.seal("c", "shop", "merchant_key", &value).unwrap();
        assert!(
            !ciphertext.windows(10).any(|w| w == b"sk_live_01"),
            "sealed, not stored in the clear"
        );
        let row = SealedSecret {
            name: "merchant_key".into(),
            nonce,
            ciphertext,
            hosts: vec![],
            set_ms: 0,
        };
        assert_eq!(v.open("c", "shop", &row).unwrap().expose(), "sk_live_0123456789");
        // Copied to another install, or renamed: does not open.
        assert!(v.open("other", "shop", &row).is_err());
        assert!(v.open("c", "thief", &row).is_err());
        let renamed = SealedSecret {
            name: "other_key".into(),
            ..row.clone()
        };
        assert!(v.open("c", "shop", &renamed).is_err());
        // Another key: does not open.
        let (other, _) = vault(Some(SecretsKey::generate().unwrap()));
        assert!(other.open("c", "shop", &row).unwrap_err().contains("does not open"));
        // No key: says how to make one.
        let (none, _) = vault(None);
        assert!(none
            .open("c", "shop", &row)
            .unwrap_err()
            .contains("plaza secret new-key"));
    }

    #[test]
    fn key_files_are_private_and_hex() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        SecretsKey::write_new(&path).unwrap();
        SecretsKey::from_file(&path).unwrap();
        assert!(
            SecretsKey::write_new(&path).is_err(),
            "an existing key is never overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(SecretsKey::from_file(&path).unwrap_err().contains("chmod 600"));
            std::fs::write(&path, "not hex").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(SecretsKey::from_file(&path).unwrap_err().contains("64 hex digits"));
        }
    }
}
