//! The signature format (docs/signing.md): each signature is one top-level custom section named
//! [`SECTION_NAME`] whose payload is a compact JSON record.
//!
//! Every record signs the SHA-256 of the component with all top-level [`SECTION_NAME`] sections
//! cut out ("the content"), so a developer signature and a later review stamp cover the same
//! bytes, and any other change, the embedded manifest included, breaks both. The signed message
//! is a domain string followed by the JSON of the record's `body`; a record must be in the exact
//! form Plaza writes (no spaces, lowercase hex, fields in order) or it is refused, so no byte of
//! a record can change without being noticed either.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::keys::{strict_hex, PublicKey};
use super::SigningError;
use crate::manifest::embed;

/// The custom section's name.
pub const SECTION_NAME: &str = "plaza:signature";

/// The format identifier in every record.
pub const FORMAT: &str = "plaza-signature/1";

/// Prefix of every signed record message: binds a signature to this format and use.
const RECORD_DOMAIN: &[u8] = b"plaza-signature/1\n";

/// Prefix of every signed key endorsement message.
const ENDORSEMENT_DOMAIN: &[u8] = b"plaza-key-endorsement/1\n";

/// One signature section's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Always [`FORMAT`].
    pub format: String,
    /// What is signed.
    pub body: Body,
    /// The Ed25519 signature of `body` by `body.key`, lowercase hex.
    pub signature: String,
}

/// What a record signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Body {
    /// The developer's signature: "I wrote these bytes".
    Developer {
        /// The developer's public key.
        key: PublicKey,
        /// SHA-256 of the content, lowercase hex.
        content_sha256: String,
        /// When it was signed, ms since the Unix epoch (as the signer's clock says).
        signed_ms: u64,
        /// The previous developer key's endorsement of `key` (key rotation).
        endorsement: Option<Endorsement>,
    },
    /// The platform's review stamp: "we reviewed these bytes, signed by that developer".
    Review {
        /// The platform's public key.
        key: PublicKey,
        /// SHA-256 of the content, lowercase hex.
        content_sha256: String,
        /// The developer record's `signature` this review certifies.
        developer_signature: String,
        /// When it was approved, ms since the Unix epoch.
        reviewed_ms: u64,
        /// The `plaza check` result it was approved with (`plaza review approve` records it).
        check: Option<String>,
    },
}

/// An old developer key's statement that a new key speaks for the same developer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endorsement {
    /// The key being retired.
    pub old_key: PublicKey,
    /// The key taking over.
    pub new_key: PublicKey,
    /// When, ms since the Unix epoch.
    pub endorsed_ms: u64,
    /// Ed25519 signature by `old_key` of the endorsement message, lowercase hex.
    pub signature: String,
}

impl Body {
    /// The message its signature covers.
    pub fn message(&self) -> Vec<u8> {
        let mut message = RECORD_DOMAIN.to_vec();
        // Serializing a struct of strings and integers cannot fail.
        message.extend(serde_json::to_vec(self).expect("a record body serializes"));
        message
    }

    /// The signing key.
    pub fn key(&self) -> &PublicKey {
        match self {
            Body::Developer { key, .. } | Body::Review { key, .. } => key,
        }
    }

    /// The content hash it signs.
    pub fn content_sha256(&self) -> &str {
        match self {
            Body::Developer { content_sha256, .. } | Body::Review { content_sha256, .. } => content_sha256,
        }
    }
}

impl Endorsement {
    /// The message `signature` covers: the domain, then `old_key`, `new_key` and `endorsed_ms`
    /// as one line each.
    pub fn message(old_key: &PublicKey, new_key: &PublicKey, endorsed_ms: u64) -> Vec<u8> {
        let mut message = ENDORSEMENT_DOMAIN.to_vec();
        message.extend(format!("{old_key}\n{new_key}\n{endorsed_ms}\n").into_bytes());
        message
    }

    /// Whether the old key really signed it.
    pub fn is_valid(&self) -> bool {
        strict_hex::<64>(&self.signature).is_some_and(|sig| {
            self.old_key
                .verifies(&Self::message(&self.old_key, &self.new_key, self.endorsed_ms), &sig)
        })
    }
}

impl Record {
    /// The section payload: compact JSON, the only accepted spelling.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record serializes")
    }

    /// Parses a section payload, refusing anything but the exact form [`Record::to_payload`]
    /// writes.
    pub fn from_payload(payload: &[u8]) -> Result<Self, SigningError> {
        let bad = |reason: String| SigningError::BadRecord { reason };
        let record: Record = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
        if record.format != FORMAT {
            return Err(bad(format!(
                "unknown format {:?} (this Plaza reads {FORMAT})",
                record.format
            )));
        }
        if record.to_payload() != payload {
            return Err(bad("not in canonical form (it was edited after signing)".into()));
        }
        Ok(record)
    }

    /// The signature bytes, if well formed.
    pub fn signature_bytes(&self) -> Option<[u8; 64]> {
        strict_hex::<64>(&self.signature)
    }
}

/// A component split into its signature records and the hash of everything else.
pub struct Parsed {
    /// SHA-256 of the component without its top-level signature sections, lowercase hex.
    pub content_sha256: String,
    /// The component without its top-level signature sections.
    pub content: Vec<u8>,
    /// The records, in section order.
    pub records: Vec<Record>,
}

/// Splits `component` into content and records. Sections nested in inner modules or components
/// are content like any other byte: only the outer component's own sections are signatures.
pub fn parse(component: &[u8]) -> Result<Parsed, SigningError> {
    let found =
        embed::find_sections(component, SECTION_NAME).map_err(|e| SigningError::Malformed { reason: e.to_string() })?;
    let mut content = Vec::with_capacity(component.len());
    let mut kept_from = 0;
    let mut records = Vec::with_capacity(found.len());
    for section in &found {
        content.extend_from_slice(&component[kept_from..section.section.start]);
        kept_from = section.section.end;
        records.push(Record::from_payload(section.payload)?);
    }
    content.extend_from_slice(&component[kept_from..]);
    Ok(Parsed {
        content_sha256: hex::encode(Sha256::digest(&content)),
        content,
        records,
    })
}

/// `content` with `records` appended as signature sections, in order.
pub fn assemble(content: &[u8], records: &[Record]) -> Vec<u8> {
    let mut out = content.to_vec();
    for record in records {
        out.extend(embed::custom_section(SECTION_NAME, &record.to_payload()));
    }
    out
}
