//! What a host accepts: the operator's policy (`[signing]` in `operator.toml`), a community's
//! stricter override, and key continuity between an installed version and its upgrade.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::keys::PublicKey;
use super::verify::{ReviewStamp, Verified};
use super::SigningError;

/// Which packages are accepted, from loosest to strictest (the order is what "stricter" means).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningPolicy {
    /// Any package, signed or not (development). Signatures present must still be valid.
    UnsignedAllowed,
    /// A valid developer signature is required.
    DeveloperSigned,
    /// A developer signature and a review stamp by a platform key the operator trusts.
    #[default]
    PlatformReviewed,
}

impl SigningPolicy {
    /// Every policy, loosest first.
    pub const ALL: [SigningPolicy; 3] = [
        SigningPolicy::UnsignedAllowed,
        SigningPolicy::DeveloperSigned,
        SigningPolicy::PlatformReviewed,
    ];

    /// Its name in configuration, the CLI and the API.
    pub fn name(self) -> &'static str {
        match self {
            SigningPolicy::UnsignedAllowed => "unsigned-allowed",
            SigningPolicy::DeveloperSigned => "developer-signed",
            SigningPolicy::PlatformReviewed => "platform-reviewed",
        }
    }

    /// Parses a policy name.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|p| p.name() == text).ok_or_else(|| {
            format!("signing policy {text:?}: expected unsigned-allowed, developer-signed or platform-reviewed")
        })
    }
}

impl fmt::Display for SigningPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operator's `[signing]` settings. The defaults are the production ones: only packages
/// reviewed by a trusted platform key, and no key trusted until the operator lists one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningSettings {
    /// The host's policy; a community may only make it stricter.
    pub policy: SigningPolicy,
    /// Platform keys whose review stamps count (`ed25519:<hex>`).
    pub trusted_platform_keys: Vec<PublicKey>,
}

/// The settings a host enforces ([`PlazaConfig::signing`](crate::PlazaConfig::signing)). Unlike
/// [`SigningSettings`], whose default is the production one, this defaults to
/// `unsigned-allowed`: the library's default configuration serves tests and `plaza run`, which
/// load local builds. Hosts get the operator's settings through
/// [`PlazaConfig::for_data_dir`](crate::PlazaConfig::for_data_dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSigning(pub SigningSettings);

impl Default for HostSigning {
    fn default() -> Self {
        HostSigning(SigningSettings::unsigned_allowed())
    }
}

impl std::ops::Deref for HostSigning {
    type Target = SigningSettings;

    fn deref(&self) -> &SigningSettings {
        &self.0
    }
}

/// What a package is trusted for, once it passed a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The developer key, when signed.
    pub developer: Option<PublicKey>,
    /// The newest review stamp by a trusted platform key.
    pub review: Option<ReviewStamp>,
}

/// How an upgrade relates to the installed version's developer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuity {
    /// The installed version is unsigned: nothing to continue (the first signed version pins
    /// the key from then on).
    Unpinned,
    /// Signed by the same key.
    SameKey,
    /// Signed by a new key the installed version's key endorsed.
    Rotated {
        /// The installed version's key.
        from: PublicKey,
        /// The upgrade's key.
        to: PublicKey,
    },
}

impl SigningSettings {
    /// Accepts everything (signatures present must still be valid): the default of
    /// [`HostSigning`].
    pub fn unsigned_allowed() -> Self {
        SigningSettings {
            policy: SigningPolicy::UnsignedAllowed,
            trusted_platform_keys: Vec::new(),
        }
    }

    /// The policy in force for a community with `override_policy`: the stricter of the two.
    pub fn effective(&self, override_policy: Option<SigningPolicy>) -> SigningPolicy {
        override_policy.map_or(self.policy, |p| p.max(self.policy))
    }

    /// The trusted review stamp among `stamps`, newest first.
    pub fn trusted_review(&self, stamps: &[ReviewStamp]) -> Option<ReviewStamp> {
        stamps
            .iter()
            .filter(|s| self.trusted_platform_keys.contains(&s.key))
            .max_by_key(|s| s.reviewed_ms)
            .cloned()
    }

    /// Checks a verified package against `policy`.
    pub fn check(&self, verified: &Verified, policy: SigningPolicy) -> Result<Accepted, SigningError> {
        let accepted = Accepted {
            developer: verified.developer.as_ref().map(|d| d.key),
            review: self.trusted_review(&verified.reviews),
        };
        let violation = |reason: String| SigningError::Policy { rule: policy, reason };
        if policy >= SigningPolicy::DeveloperSigned && accepted.developer.is_none() {
            return Err(violation(
                "the package carries no developer signature (sign it with `plaza sign`)".into(),
            ));
        }
        if policy >= SigningPolicy::PlatformReviewed && accepted.review.is_none() {
            let reason = if self.trusted_platform_keys.is_empty() {
                "the operator trusts no platform key (add one to `trusted_platform_keys` in the `[signing]` section of operator.toml)".to_string()
            } else if verified.reviews.is_empty() {
                "the package carries no platform review stamp (`plaza review approve`)".to_string()
            } else {
                let keys: Vec<String> = verified.reviews.iter().map(|r| r.key.fingerprint()).collect();
                format!(
                    "its review stamp is by {}, which the operator does not trust",
                    keys.join(", ")
                )
            };
            return Err(violation(reason));
        }
        Ok(accepted)
    }
}

/// Checks that `upgrade` comes from the developer of `installed`: the same key, or a key the
/// installed key endorsed (one rotation step per upgrade).
pub fn check_continuity(installed: &Verified, upgrade: &Verified) -> Result<Continuity, SigningError> {
    let Some(old) = &installed.developer else {
        return Ok(Continuity::Unpinned);
    };
    let old_fp = old.key.fingerprint();
    let Some(new) = &upgrade.developer else {
        return Err(SigningError::Continuity {
            reason: format!("the installed version is signed by developer key {old_fp}; the upgrade is unsigned"),
        });
    };
    if new.key == old.key {
        return Ok(Continuity::SameKey);
    }
    match &new.endorsement {
        // `verify` checked that the endorsement is valid and names the signing key.
        Some(e) if e.old_key == old.key => Ok(Continuity::Rotated {
            from: old.key,
            to: new.key,
        }),
        Some(e) => Err(SigningError::Continuity {
            reason: format!(
                "the upgrade is signed by {}, endorsed by {}, but the installed version is signed by {old_fp}",
                new.key.fingerprint(),
                e.old_key.fingerprint()
            ),
        }),
        None => Err(SigningError::Continuity {
            reason: format!(
                "the upgrade is signed by developer key {}, the installed version by {old_fp}, and the old key did not endorse the new one (`plaza key endorse`)",
                new.key.fingerprint()
            ),
        }),
    }
}
