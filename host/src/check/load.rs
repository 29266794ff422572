//! The `component`, `manifest` and `describe` checks: loading the plugin as an install would.

use std::sync::Arc;
use std::time::Instant;

use super::report::{CheckReport, CheckResult, Status};
use crate::capability::Capability;
use crate::error::PlazaError;
use crate::harness::Harness;
use crate::runtime::plugin::ManifestSource;
use crate::runtime::Plugin;
use crate::wit::SUPPORTED_VERSIONS;

const COMPONENT: (&str, &str) = ("component", "a component of a supported world version that links");
const MANIFEST: (&str, &str) = ("manifest", "a manifest whose capabilities cover the imports");
const DESCRIBE: (&str, &str) = ("describe", "`describe` answers with a valid name and commands");

fn result((name, title): (&'static str, &'static str), status: Status, details: Vec<String>, ms: u64) -> CheckResult {
    CheckResult {
        name,
        title,
        status,
        details,
        duration_ms: ms,
    }
}

/// Loads the plugin, recording the three checks; the plugin if it loaded.
pub(super) async fn run(
    host: &Harness,
    bytes: &[u8],
    origin: &str,
    manifest: Option<(String, String)>,
    report: &mut CheckReport,
) -> Option<Arc<Plugin>> {
    let started = Instant::now();
    let loaded = load(host, bytes, origin, manifest).await;
    let ms = started.elapsed().as_millis() as u64;
    let skipped = |why: &str| vec![format!("not run: {why}")];
    let plugin = match loaded {
        Ok(plugin) => plugin,
        Err(e) => {
            let text = e.to_string();
            let (component, manifest, describe) = match &e {
                PlazaError::Manifest(_) => (Status::Pass, Status::Fail, Status::Skip),
                PlazaError::Load { reason, .. } if reason.starts_with("`describe` failed") => {
                    (Status::Pass, Status::Skip, Status::Fail)
                }
                PlazaError::Load { reason, .. } if reason.starts_with("its manifest does not match") => {
                    (Status::Pass, Status::Fail, Status::Pass)
                }
                _ => (Status::Fail, Status::Skip, Status::Skip),
            };
            for (step, status) in [(COMPONENT, component), (MANIFEST, manifest), (DESCRIBE, describe)] {
                let details = match status {
                    Status::Fail => vec![text.clone()],
                    Status::Skip => skipped("the plugin did not load"),
                    _ => Vec::new(),
                };
                report.checks.push(result(step, status, details, ms));
            }
            return None;
        }
    };
    let version = plugin.summary.wit_version.clone().unwrap_or_else(|| "(none)".into());
    report.checks.push(result(
        COMPONENT,
        Status::Pass,
        vec![format!(
            "plaza:plugin@{version} (this host runs {}); {} bytes; imports {}",
            SUPPORTED_VERSIONS.join(", "),
            plugin.summary.size_bytes,
            if plugin.summary.plaza_interfaces.is_empty() {
                "no host interfaces".to_string()
            } else {
                plugin.summary.plaza_interfaces.join(", ")
            }
        )],
        ms,
    ));
    let (status, details) = manifest_coverage(&plugin);
    report.checks.push(result(MANIFEST, status, details, 0));
    report.checks.push(result(
        DESCRIBE,
        Status::Pass,
        vec![format!(
            "{} {}: {} command(s){}",
            plugin.name,
            plugin.version,
            plugin.commands.len(),
            plugin
                .commands
                .iter()
                .map(|c| format!(" /{}", c.name))
                .collect::<String>()
        )],
        0,
    ));
    Some(plugin)
}

async fn load(
    host: &Harness,
    bytes: &[u8],
    origin: &str,
    manifest: Option<(String, String)>,
) -> Result<Arc<Plugin>, PlazaError> {
    let manifest = match manifest {
        Some((text, from)) => Some((super::parse_manifest(&text, &from)?, ManifestSource::File(from))),
        None => None,
    };
    host.plaza().runtime().load_with_manifest(bytes, origin, manifest).await
}

/// Every imported host interface needs one of its capabilities requested (else each call is
/// denied: a plugin built for it cannot work); a requested capability nothing uses is a warning
/// (it asks the admin for more than the plugin needs).
fn manifest_coverage(plugin: &Plugin) -> (Status, Vec<String>) {
    if !super::shipped_manifest(plugin) {
        return (
            Status::Fail,
            vec!["no manifest: embed one with `plaza package` (or put plaza.toml beside the component)".into()],
        );
    }
    let requested = plugin.requested();
    let mut failures = Vec::new();
    for interface in &plugin.summary.plaza_interfaces {
        let caps = Capability::for_interface(interface).unwrap_or(&[]);
        if !caps.is_empty() && !caps.iter().any(|c| requested.contains(*c)) {
            let names: Vec<&str> = caps.iter().map(|c| c.name()).collect();
            failures.push(format!(
                "imports `{interface}` but requests none of {}: every call would be denied",
                names.join(", ")
            ));
        }
    }
    if !failures.is_empty() {
        match &plugin.summary.whole_world_toolchain {
            // Its imports say nothing about what the code calls; an uncovered one can only be
            // a call that is denied (and handled, as the `denied` check shows).
            Some(toolchain) => {
                let note = format!(
                    "built with {toolchain}, which imports every interface of the world whatever the code calls: \
                     the imports below are not counted as uses"
                );
                let mut warnings = vec![note];
                warnings.extend(failures);
                return (Status::Warn, warnings);
            }
            None => return (Status::Fail, failures),
        }
    }
    let unused: Vec<String> = requested
        .iter()
        .filter(|c| !used(plugin, *c))
        .map(|c| format!("requests `{}` but nothing uses it", c.name()))
        .collect();
    let source = match &plugin.manifest_source {
        ManifestSource::Embedded => "embedded".to_string(),
        ManifestSource::File(f) => f.clone(),
        ManifestSource::Derived => unreachable!("checked above"),
    };
    let names: Vec<&str> = requested.iter().map(|c| c.name()).collect();
    if unused.is_empty() {
        (
            Status::Pass,
            vec![format!("manifest {source}: requests {}", names.join(", "))],
        )
    } else {
        (Status::Warn, unused)
    }
}

/// Whether anything in the plugin uses `cap`: an imported interface it guards, an event it
/// gates that the plugin subscribes to, commands it offers, or the review hook.
fn used(plugin: &Plugin, cap: Capability) -> bool {
    let imports = |interface: &str| plugin.summary.plaza_interfaces.iter().any(|i| i == interface);
    let subscribes = |types: &[&str]| types.iter().any(|t| plugin.manifest.subscribes_to(t));
    match cap {
        Capability::MessagesSend => imports("messaging"),
        Capability::MessagesManage | Capability::MembersModerate => imports("moderation"),
        Capability::MembersRead => imports("members") || subscribes(&["member-updated"]),
        Capability::StorageKv => imports("kv"),
        Capability::HttpFetch => imports("http"),
        Capability::Schedule => imports("scheduler"),
        Capability::MessagesRead | Capability::MessagesReadMentions => subscribes(&[
            "message-posted",
            "message-edited",
            "message-deleted",
            "message-pinned",
            "message-unpinned",
        ]),
        Capability::ReactionsRead => subscribes(&["reaction-added", "reaction-removed"]),
        Capability::Commands => !plugin.commands.is_empty(),
        // Every plugin exports the review hook; requesting it is subscribing to it.
        Capability::ModerationReview => true,
        // It changes the member ids every event carries.
        Capability::MembersIdentity => true,
    }
}
