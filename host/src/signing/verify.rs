//! Checking every signature a package carries. A package with no signature verifies (as
//! unsigned); one with any invalid record does not, whatever the policy: a signature that no
//! longer matches means the bytes were changed after signing.

use serde::Serialize;

use super::format::{self, Body, Endorsement};
use super::keys::PublicKey;
use super::SigningError;

/// The developer signature of a package, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperSignature {
    /// The developer's key.
    pub key: PublicKey,
    /// When it was signed (the signer's clock), ms since the Unix epoch.
    pub signed_ms: u64,
    /// The signature, hex (what a review stamp certifies).
    pub signature: String,
    /// The previous key's endorsement of this one, already checked.
    pub endorsement: Option<Endorsement>,
}

/// A review stamp, verified (whether its key is trusted is the policy's question).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewStamp {
    /// The platform key that stamped it.
    pub key: PublicKey,
    /// When it was approved, ms since the Unix epoch.
    pub reviewed_ms: u64,
    /// The `plaza check` result it was approved with.
    pub check: Option<String>,
}

/// Every signature of a package, each verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// SHA-256 of the signed content, hex.
    pub content_sha256: String,
    /// The developer signature, if any.
    pub developer: Option<DeveloperSignature>,
    /// Review stamps (over the same content and developer signature).
    pub reviews: Vec<ReviewStamp>,
}

/// Verifies every top-level signature record of `component`.
pub fn verify(component: &[u8]) -> Result<Verified, SigningError> {
    let parsed = format::parse(component)?;
    let mut developer = None;
    let mut reviews = Vec::new();
    let mut pending_reviews = Vec::new();
    for record in &parsed.records {
        let what = match &record.body {
            Body::Developer { key, .. } => format!("developer signature by {}", key.fingerprint()),
            Body::Review { key, .. } => format!("review stamp by {}", key.fingerprint()),
        };
        let valid = record
            .signature_bytes()
            .is_some_and(|sig| record.body.key().verifies(&record.body.message(), &sig));
        if !valid {
            return Err(SigningError::BadSignature { what });
        }
        // Checked after the signature, so this names a genuine signature over other bytes.
        if record.body.content_sha256() != parsed.content_sha256 {
            return Err(SigningError::Modified { what });
        }
        match &record.body {
            Body::Developer {
                key,
                signed_ms,
                endorsement,
                ..
            } => {
                if developer.is_some() {
                    return Err(SigningError::BadRecord {
                        reason: "the package carries more than one developer signature".into(),
                    });
                }
                if let Some(e) = endorsement {
                    if e.new_key != *key || !e.is_valid() {
                        return Err(SigningError::BadEndorsement {
                            reason: format!(
                                "the endorsement by {} in the {what} does not endorse its key",
                                e.old_key.fingerprint()
                            ),
                        });
                    }
                }
                developer = Some(DeveloperSignature {
                    key: *key,
                    signed_ms: *signed_ms,
                    signature: record.signature.clone(),
                    endorsement: endorsement.clone(),
                });
            }
            Body::Review {
                key,
                developer_signature,
                reviewed_ms,
                check,
                ..
            } => pending_reviews.push((
                what,
                developer_signature.clone(),
                ReviewStamp {
                    key: *key,
                    reviewed_ms: *reviewed_ms,
                    check: check.clone(),
                },
            )),
        }
    }
    for (what, developer_signature, stamp) in pending_reviews {
        match &developer {
            Some(d) if d.signature == developer_signature => reviews.push(stamp),
            Some(_) => {
                return Err(SigningError::ReviewMismatch {
                    reason: format!("the {what} certifies another developer signature"),
                })
            }
            None => {
                return Err(SigningError::ReviewMismatch {
                    reason: format!("the {what} certifies a developer signature the package no longer carries"),
                })
            }
        }
    }
    Ok(Verified {
        content_sha256: parsed.content_sha256,
        developer,
        reviews,
    })
}
