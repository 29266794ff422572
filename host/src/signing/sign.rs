//! Adding signatures: the developer's (`plaza sign`), the platform's review stamp
//! (`plaza review approve`) and key endorsements for rotation (`plaza key endorse`).

use super::format::{self, Body, Endorsement, Record, FORMAT};
use super::keys::{PublicKey, SecretKey};
use super::verify::verify;
use super::SigningError;

fn record(key: &SecretKey, body: Body) -> Record {
    Record {
        format: FORMAT.to_string(),
        signature: hex::encode(key.sign(&body.message())),
        body,
    }
}

/// Returns `component` signed by the developer `key`, with `endorsement` (from the previous key)
/// when the developer rotates keys. Earlier signatures and review stamps are dropped: they
/// certified the previous signature, and a re-signed package must be reviewed again.
pub fn sign_developer(
    component: &[u8],
    key: &SecretKey,
    endorsement: Option<Endorsement>,
    now_ms: u64,
) -> Result<Vec<u8>, SigningError> {
    if let Some(e) = &endorsement {
        if e.new_key != key.public() {
            return Err(SigningError::BadEndorsement {
                reason: format!(
                    "it endorses {}, not the signing key {}",
                    e.new_key.fingerprint(),
                    key.public().fingerprint()
                ),
            });
        }
        if !e.is_valid() {
            return Err(SigningError::BadEndorsement {
                reason: format!("its signature by {} is not valid", e.old_key.fingerprint()),
            });
        }
    }
    let parsed = format::parse(component)?;
    let body = Body::Developer {
        key: key.public(),
        content_sha256: parsed.content_sha256,
        signed_ms: now_ms,
        endorsement,
    };
    Ok(format::assemble(&parsed.content, &[record(key, body)]))
}

/// Returns `component` with the platform `key`'s review stamp over its bytes and developer
/// signature (replacing an earlier stamp by the same key). The package must carry a valid
/// developer signature: the stamp certifies who wrote the reviewed bytes, too.
pub fn stamp_review(
    component: &[u8],
    key: &SecretKey,
    check: Option<String>,
    now_ms: u64,
) -> Result<Vec<u8>, SigningError> {
    let verified = verify(component)?;
    let developer = verified.developer.ok_or(SigningError::Policy {
        rule: super::SigningPolicy::DeveloperSigned,
        reason: "the package carries no developer signature; a review stamp certifies a signed package, so run `plaza sign` first".into(),
    })?;
    let parsed = format::parse(component)?;
    let mut records: Vec<Record> = parsed
        .records
        .into_iter()
        .filter(|r| !matches!(&r.body, Body::Review { key: k, .. } if *k == key.public()))
        .collect();
    let body = Body::Review {
        key: key.public(),
        content_sha256: parsed.content_sha256,
        developer_signature: developer.signature,
        reviewed_ms: now_ms,
        check,
    };
    records.push(record(key, body));
    Ok(format::assemble(&parsed.content, &records))
}

/// The `old` key's endorsement of `new` as the same developer's next key.
pub fn endorse(old: &SecretKey, new: &PublicKey, now_ms: u64) -> Endorsement {
    let old_key = old.public();
    Endorsement {
        signature: hex::encode(old.sign(&Endorsement::message(&old_key, new, now_ms))),
        old_key,
        new_key: *new,
        endorsed_ms: now_ms,
    }
}
