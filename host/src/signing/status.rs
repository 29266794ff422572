//! What admins see about an install's package signatures.

use serde::Serialize;

use super::policy::SigningSettings;
use super::verify::verify;

/// Review status of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewStatus {
    /// Stamped by a platform key the operator trusts.
    Reviewed,
    /// Stamped, but only by keys the operator does not trust.
    UntrustedReviewer,
    /// No review stamp.
    Unreviewed,
    /// The signatures do not verify (e.g. a stored package installed before signing existed,
    /// modified since); such a package could not be installed today.
    Invalid,
}

/// An install's signatures, as admins see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningStatus {
    /// The developer key's fingerprint; `None` when unsigned.
    pub developer_key: Option<String>,
    /// When the developer signed it, ms since the Unix epoch.
    pub signed_ms: Option<u64>,
    /// The fingerprint of the key the developer rotated from, when this version rotated.
    pub endorsed_by: Option<String>,
    /// The review status.
    pub review: ReviewStatus,
    /// The trusted reviewer's fingerprint.
    pub reviewer_key: Option<String>,
    /// When it was reviewed, ms since the Unix epoch.
    pub reviewed_ms: Option<u64>,
}

impl SigningStatus {
    /// The status of `component` under `settings`' trusted keys.
    pub fn of(component: &[u8], settings: &SigningSettings) -> Self {
        let Ok(verified) = verify(component) else {
            return SigningStatus {
                developer_key: None,
                signed_ms: None,
                endorsed_by: None,
                review: ReviewStatus::Invalid,
                reviewer_key: None,
                reviewed_ms: None,
            };
        };
        let trusted = settings.trusted_review(&verified.reviews);
        let review = match (&trusted, verified.reviews.is_empty()) {
            (Some(_), _) => ReviewStatus::Reviewed,
            (None, false) => ReviewStatus::UntrustedReviewer,
            (None, true) => ReviewStatus::Unreviewed,
        };
        let developer = verified.developer.as_ref();
        SigningStatus {
            developer_key: developer.map(|d| d.key.fingerprint()),
            signed_ms: developer.map(|d| d.signed_ms),
            endorsed_by: developer
                .and_then(|d| d.endorsement.as_ref())
                .map(|e| e.old_key.fingerprint()),
            review,
            reviewer_key: trusted.as_ref().map(|r| r.key.fingerprint()),
            reviewed_ms: trusted.as_ref().map(|r| r.reviewed_ms),
        }
    }
}
