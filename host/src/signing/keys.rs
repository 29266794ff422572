//! Ed25519 keys in Plaza's text forms, and their key files.
//!
//! - A public key is `ed25519:` followed by its 32 bytes in lowercase hex: the same text in a
//!   `.pub` file, in `operator.toml` and inside signature records.
//! - A private key file holds `ed25519-secret:` followed by the 32-byte seed in lowercase hex.
//!   It is written with mode 0600 and refused when group or others may read it, like ssh does.
//! - A fingerprint is `sha256:` followed by the first 16 bytes of the SHA-256 of the public key,
//!   hex: short enough to compare by eye, long enough that no one can forge a collision.

use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::SigningError;

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

/// An Ed25519 public key: its 32 bytes, checked to be a valid point when parsed (kept as bytes so
/// records and keys stay small; the curve point is decompressed when verifying).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses the text form `ed25519:<64 lowercase hex digits>`.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let bad = |reason: &str| SigningError::BadKey {
            reason: format!("public key {text:?}: {reason}"),
        };
        let hex_part = text
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| bad("expected `ed25519:` followed by 64 hex digits"))?;
        let bytes =
            strict_hex::<32>(hex_part).ok_or_else(|| bad("expected 64 lowercase hex digits after `ed25519:`"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(|_| PublicKey(bytes))
            .map_err(|_| bad("not a valid Ed25519 point"))
    }

    /// The short fingerprint shown to admins.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        format!("sha256:{}", hex::encode(&digest[..16]))
    }

    /// Whether `signature` over `message` was made by this key (strict: no malleable forms).
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        VerifyingKey::from_bytes(&self.0).is_ok_and(|key| key.verify_strict(message, &signature).is_ok())
    }

    /// Reads a `.pub` file (or any file holding the text form on its first line).
    pub fn read(path: &Path) -> Result<Self, SigningError> {
        let text = std::fs::read_to_string(path).map_err(|e| SigningError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(text.trim()).map_err(|e| SigningError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 private key (zeroed when dropped).
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    // Never prints the key itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public().fingerprint())
    }
}

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, SigningError> {
        let seed = crate::dispatch::pseudonym::Pseudonyms::random_secret().map_err(|e| SigningError::BadKey {
            reason: format!("reading random bytes for a new key: {e}"),
        })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Reads a private key file, refusing one that group or others may read.
    pub fn read(path: &Path) -> Result<Self, SigningError> {
        let file_error = |reason: String| SigningError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| file_error(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(file_error(format!(
                    "the private key is readable by others (mode {:o}); run `chmod 600` on it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let seed = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(strict_hex::<32>)
            .ok_or_else(|| {
                file_error("not a Plaza private key (expected `ed25519-secret:` and 64 hex digits)".into())
            })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Writes the private key to `path` (mode 0600, never over an existing file) and the public
    /// key beside it.
    pub fn write(&self, path: &Path, public_path: &Path) -> Result<(), SigningError> {
        use std::io::Write as _;
        let file_error = |p: &Path, e: std::io::Error| SigningError::KeyFile {
            path: p.display().to_string(),
            reason: e.to_string(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let text = format!("{SECRET_PREFIX}{}\n", hex::encode(self.0.to_bytes()));
        options
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| file_error(path, e))?;
        std::fs::write(public_path, format!("{}\n", self.public())).map_err(|e| file_error(public_path, e))
    }
}

/// Decodes exactly `N` bytes of lowercase hex; anything else (upper case included) is `None`, so
/// every value has one spelling and a changed byte in a record cannot go unnoticed.
pub(crate) fn strict_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_round_trip_through_text() {
        let key = SecretKey::generate().unwrap().public();
        let text = key.to_string();
        assert!(text.starts_with("ed25519:") && text.len() == 8 + 64, "{text}");
        assert_eq!(PublicKey::parse(&text).unwrap(), key);
        assert!(PublicKey::parse(&text.to_uppercase()).is_err());
        assert!(PublicKey::parse(&text[..text.len() - 2]).is_err());
        assert!(PublicKey::parse(&format!("rsa:{}", &text[8..])).is_err());
        assert!(key.fingerprint().starts_with("sha256:") && key.fingerprint().len() == 7 + 32);
    }

    #[test]
    fn signatures_verify_only_for_the_message_and_key() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let sig = key.sign(b"hello");
        assert!(key.public().verifies(b"hello", &sig));
        assert!(!key.public().verifies(b"hellO", &sig));
        assert!(!other.public().verifies(b"hello", &sig));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_checked() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = (dir.path().join("dev.key"), dir.path().join("dev.pub"));
        let key = SecretKey::generate().unwrap();
        key.write(&secret, &public).unwrap();
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(SecretKey::read(&secret).unwrap().public(), key.public());
        assert_eq!(PublicKey::read(&public).unwrap(), key.public());
        assert!(
            key.write(&secret, &public).is_err(),
            "an existing key is never overwritten"
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretKey::read(&secret).unwrap_err().to_string();
        assert!(err.contains("readable by others") && err.contains("644"), "{err}");
    }
}
