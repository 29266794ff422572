//! Package signatures at install and upgrade: the operator's policy, a community's stricter
//! override, and key continuity. Every refusal is audited with the rule that failed.

use crate::dispatch::{Install, Plaza};
use crate::error::{PlazaError, Result};
use crate::runtime::plugin::ManifestSource;
use crate::runtime::Plugin;
use crate::signing::{self, Continuity, SigningError, SigningPolicy, SigningSettings, SigningStatus};
use crate::storage::admin::AuditEntry;

/// The rule named when a signed-for policy meets a manifest the signature does not cover.
const EMBEDDED_MANIFEST: &str = "embedded-manifest";

impl Plaza {
    /// The operator's signing settings.
    pub fn signing_settings(&self) -> &SigningSettings {
        &self.signing
    }

    /// The signing policy in force in `community`: the operator's, or the community's stricter
    /// one.
    pub fn signing_policy(&self, community: &str) -> Result<SigningPolicy> {
        Ok(self.signing.effective(self.community(community)?.signing_policy))
    }

    /// Sets `community`'s own policy (`None`: the operator's). It may only be stricter than the
    /// operator's: a looser one is refused rather than silently ignored.
    pub fn set_signing_policy(&self, community: &str, policy: Option<SigningPolicy>) -> Result<()> {
        if let Some(p) = policy.filter(|p| *p < self.signing.policy) {
            return Err(PlazaError::BadSigningPolicy {
                community: community.to_string(),
                reason: format!(
                    "signing policy `{p}` is looser than the operator's `{}`; a community may only make it stricter",
                    self.signing.policy
                ),
            });
        }
        self.store.set_signing_policy(community, policy)?;
        let detail = match policy {
            Some(p) => format!("signing policy {p} (operator: {})", self.signing.policy),
            None => format!("signing policy: the operator's ({})", self.signing.policy),
        };
        let entry = AuditEntry::now(community, "", "", "signing-policy", None, "ok", detail);
        self.store.append_audit(&[entry])?;
        Ok(())
    }

    /// What admins see about `plugin`'s signatures.
    pub fn signing_status(&self, plugin: &Plugin) -> SigningStatus {
        SigningStatus::of(&plugin.bytes, &self.signing)
    }

    /// Checks a package about to be installed; refusals are audited as `install-refused`.
    pub(crate) fn check_install_signature(&self, community: &str, plugin: &Plugin) -> Result<()> {
        let policy = self.signing_policy(community)?;
        if let Err((rule, reason)) = self.signature_verdict(plugin, policy) {
            let detail = format!("rule `{rule}`: {reason}");
            let entry = AuditEntry::now(
                community,
                &plugin.name,
                &plugin.version,
                "install-refused",
                None,
                "refused",
                detail,
            );
            self.store.append_audit(&[entry])?;
            return Err(refusal(community, plugin, rule, reason));
        }
        Ok(())
    }

    /// Checks an upgrade against the policy and the installed version's developer key;
    /// refusals are audited as `upgrade-refused`, key rotations as `key-rotated`.
    pub(crate) fn check_upgrade_signature(&self, install: &Install, new: &Plugin) -> Result<()> {
        let community = &install.community;
        let policy = self.signing_policy(community)?;
        let outcome = self.signature_verdict(new, policy).and_then(|()| {
            // The installed package passed at its install, so this fails only for a damaged
            // store; refusing then is safer than letting any key take over.
            let installed = install.plugin.signatures().map_err(|e| {
                (
                    "key-continuity",
                    format!("the installed version's signatures do not verify ({e}), so its developer is unknown"),
                )
            })?;
            let upgrade = new.signatures().map_err(|e| (e.rule(), e.to_string()))?;
            signing::check_continuity(installed, upgrade).map_err(|e| (e.rule(), e.to_string()))
        });
        match outcome {
            Ok(Continuity::Rotated { from, to }) => {
                let detail = format!(
                    "{} is signed by {}, which {} endorsed",
                    new.version,
                    to.fingerprint(),
                    from.fingerprint()
                );
                self.audit_install(install, "key-rotated", &detail);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err((rule, reason)) => {
                let detail = format!("upgrade to {} refused by rule `{rule}`: {reason}", new.version);
                let entry = Plaza::audit_entry(install, "upgrade-refused", None, "refused", detail);
                self.store.append_audit(&[entry])?;
                Err(refusal(community, new, rule, reason))
            }
        }
    }

    /// Whether `plugin` passes `policy`: the failed rule and why, if not.
    fn signature_verdict(&self, plugin: &Plugin, policy: SigningPolicy) -> Result<(), (&'static str, String)> {
        let verified = plugin.signatures().map_err(|e| (e.rule(), e.to_string()))?;
        self.signing
            .check(verified, policy)
            .map_err(|e: SigningError| (e.rule(), e.to_string()))?;
        // A manifest read from a file beside the component is not covered by the signature.
        if (policy > SigningPolicy::UnsignedAllowed || verified.developer.is_some())
            && plugin.manifest_source != ManifestSource::Embedded
        {
            return Err((
                EMBEDDED_MANIFEST,
                "the manifest is not embedded in the component, so no signature covers it (build the package with `plaza package`, then sign it)".into(),
            ));
        }
        Ok(())
    }
}

fn refusal(community: &str, plugin: &Plugin, rule: &str, reason: String) -> PlazaError {
    PlazaError::Signature {
        plugin: plugin.name.clone(),
        community: community.to_string(),
        rule: rule.to_string(),
        reason,
    }
}
