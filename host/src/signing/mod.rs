//! Signed plugin packages (docs/signing.md): who wrote a package, that it is the code the
//! platform reviewed, and that an upgrade comes from the same developer.
//!
//! - [`keys`]: Ed25519 keys, their text forms, key files and fingerprints.
//! - [`format`]: the `plaza:signature` custom sections and their records.
//! - [`sign`]: developer signatures, review stamps, key endorsements.
//! - [`verify`](mod@verify): checking every signature a package carries.
//! - [`policy`]: the operator's policy, a community's stricter override, key continuity.
//! - [`status`]: what admins see per install.

pub mod format;
pub mod keys;
pub mod policy;
pub mod sign;
pub mod status;
pub mod verify;

#[cfg(test)]
mod tests;

pub use keys::{PublicKey, SecretKey};
pub use policy::{check_continuity, Accepted, Continuity, HostSigning, SigningPolicy, SigningSettings};
pub use status::{ReviewStatus, SigningStatus};
pub use verify::{verify, Verified};

/// Why a package, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The bytes are not a component.
    #[error("{reason}")]
    Malformed {
        /// What the parser found.
        reason: String,
    },
    /// A signature section is not a record Plaza wrote.
    #[error("a `plaza:signature` section is damaged: {reason}")]
    BadRecord {
        /// What is wrong.
        reason: String,
    },
    /// A record's signature does not verify.
    #[error("the {what} is not valid (the signature record was altered or forged)")]
    BadSignature {
        /// Which signature.
        what: String,
    },
    /// A genuine signature over other bytes.
    #[error("the package was modified after signing: its bytes do not match the {what}")]
    Modified {
        /// Which signature.
        what: String,
    },
    /// A review stamp that certifies another developer signature.
    #[error("{reason}")]
    ReviewMismatch {
        /// What does not match.
        reason: String,
    },
    /// A key endorsement that does not hold.
    #[error("bad key endorsement: {reason}")]
    BadEndorsement {
        /// What is wrong.
        reason: String,
    },
    /// A key that cannot be parsed.
    #[error("{reason}")]
    BadKey {
        /// What is wrong.
        reason: String,
    },
    /// A key file that cannot be used.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The package is valid but the policy asks for more.
    #[error("{reason}")]
    Policy {
        /// The policy that was not met.
        rule: SigningPolicy,
        /// What is missing.
        reason: String,
    },
    /// The upgrade is not from the installed version's developer.
    #[error("{reason}")]
    Continuity {
        /// What does not match.
        reason: String,
    },
}

impl SigningError {
    /// The rule that failed, as named in errors and the audit log: the policy's name,
    /// `key-continuity`, or `valid-signature` for a package whose signatures do not hold.
    pub fn rule(&self) -> &'static str {
        match self {
            SigningError::Policy { rule, .. } => rule.name(),
            SigningError::Continuity { .. } => "key-continuity",
            _ => "valid-signature",
        }
    }
}
