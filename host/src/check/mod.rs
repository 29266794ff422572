//! `plaza check`: the conformance kit a developer runs before shipping a plugin and a platform
//! runs at review. Every check runs the real component in an in-memory [`Harness`] with the
//! host's default budgets and no network (an `http:fetch` is answered offline with an error, as
//! an unreachable service would be):
//!
//! - `component`: a component of a supported `plaza:plugin` world version that links;
//! - `manifest`: a manifest ships with it (embedded or beside it), every host interface it
//!   imports is covered by a capability it requests, and a requested capability nothing uses is
//!   a warning;
//! - `describe`: answers, with a valid name and the commands the manifest lists;
//! - `events`: every event kind of the standard [`corpus`], its commands, lifecycle events,
//!   timers, redeliveries with a higher attempt, a duplicate event id and an event out of
//!   sequence are handled without a trap within the budgets (a returned handler error is
//!   handling);
//! - `denied`: with its capabilities revoked mid-stream, denied host calls do not make it trap;
//! - `review`: the review hook answers within its budget (if the plugin requests it);
//! - `idempotent`: delivering an event again (a higher attempt, from the same state) asks for
//!   the same effects.
//!
//! Output: [`CheckReport::to_text`], JSON (serde) and [`junit::to_junit`].

pub mod corpus;
mod denied;
mod events;
mod failures;
pub mod junit;
mod load;
pub mod report;
mod review;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::dispatch::{BreakerSettings, PlazaConfig};
use crate::harness::{Harness, START_MS};
use crate::manifest::Manifest;
use crate::runtime::plugin::ManifestSource;
use crate::runtime::report::{FailureReason, InvocationReport, Outcome};
use crate::runtime::Plugin;
pub use report::{CheckReport, CheckResult, Status};

/// The community the checks run in.
const COMMUNITY: &str = "check";

/// What one check found: its status and details.
type Found = (Status, Vec<String>);

/// Checks a component file; a `plaza.toml` beside it, or `manifest`, is its manifest unless one
/// is embedded.
pub async fn check_file(path: &Path, manifest: Option<&Path>) -> anyhow::Result<CheckReport> {
    use anyhow::Context as _;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let beside = path.with_file_name(crate::manifest::MANIFEST_FILE);
    let manifest_path = manifest
        .map(Path::to_path_buf)
        .or_else(|| beside.exists().then_some(beside));
    let manifest = match manifest_path {
        Some(p) => {
            let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            let origin = p.display().to_string();
            Some((text, origin))
        }
        None => None,
    };
    Ok(check(&bytes, &path.display().to_string(), manifest).await)
}

/// Checks a component; `manifest` is (TOML text, where it came from), used unless one is
/// embedded. Never fails: what goes wrong is in the report.
pub async fn check(bytes: &[u8], origin: &str, manifest: Option<(String, String)>) -> CheckReport {
    let started = Instant::now();
    let mut report = CheckReport {
        origin: origin.to_string(),
        plugin: None,
        wit_version: None,
        checks: Vec::new(),
        passed: false,
        duration_ms: 0,
    };
    let host = match harness() {
        Ok(h) => h,
        Err(e) => {
            push(
                &mut report,
                ("component", "the check could start"),
                ((Status::Fail, vec![format!("{e:#}")]), 0),
            );
            report.duration_ms = started.elapsed().as_millis() as u64;
            return report;
        }
    };
    let plugin = load::run(&host, bytes, origin, manifest, &mut report).await;
    let plan: [(&'static str, &'static str); 4] = [
        ("events", "every event kind, redeliveries and timers, without a trap"),
        ("denied", "denied host calls after a mid-stream revoke, without a trap"),
        ("review", "the review hook answers within its budget"),
        ("idempotent", "a redelivery asks for the same effects"),
    ];
    match plugin {
        Some(plugin) => {
            report.plugin = Some(format!("{} {}", plugin.name, plugin.version));
            report.wit_version = plugin.summary.wit_version.clone();
            push(&mut report, plan[0], timed(events::run(&host, &plugin)).await);
            push(&mut report, plan[1], timed(denied::run(&host, &plugin)).await);
            push(&mut report, plan[2], timed(review::run(&host, &plugin)).await);
            push(&mut report, plan[3], timed(events::idempotent(&host, &plugin)).await);
        }
        None => {
            for step in plan {
                push(
                    &mut report,
                    step,
                    ((Status::Skip, vec!["the plugin did not load".into()]), 0),
                );
            }
        }
    }
    report.passed = !report.checks.iter().any(|c| c.status == Status::Fail);
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

fn push(report: &mut CheckReport, (name, title): (&'static str, &'static str), ((status, details), ms): (Found, u64)) {
    report.checks.push(CheckResult {
        name,
        title,
        status,
        details,
        duration_ms: ms,
    });
}

async fn timed(run: impl Future<Output = Found>) -> (Found, u64) {
    let started = Instant::now();
    let found = run.await;
    (found, started.elapsed().as_millis() as u64)
}

/// A harness as the checks use it: the host's default limits and budgets, no retries, the
/// circuit breaker off (each event's outcome is its own), HTTP offline.
pub(crate) fn harness() -> anyhow::Result<Harness> {
    let config = PlazaConfig {
        breaker: BreakerSettings {
            failures: usize::MAX,
            ..Default::default()
        },
        ..Harness::default_config()
    };
    Harness::with_config(COMMUNITY, START_MS, config)
}

/// A community of its own beside `host`'s, named `community`, with `plugin` (loaded by `host`)
/// installed with everything its manifest requests and the manifest's config defaults.
pub(crate) async fn installed(
    host: &Harness,
    community: &str,
    plugin: &Arc<Plugin>,
) -> anyhow::Result<(Harness, InvocationReport)> {
    let mut h = host.sibling(community)?;
    let report = h.install(plugin, "all").await?;
    Ok((h, report))
}

/// Why an invocation is not conforming, if it is not: any failure but a handler error the
/// plugin returned (which is handling the event).
pub(crate) fn nonconforming(report: &InvocationReport) -> Option<String> {
    match &report.outcome {
        Outcome::Failed(f) if f.reason != FailureReason::GuestError => {
            Some(format!("{}: {}", f.reason.code(), f.message))
        }
        _ => None,
    }
}

/// Whether the manifest came with the plugin (rather than derived for development).
pub(crate) fn shipped_manifest(plugin: &Plugin) -> bool {
    !matches!(plugin.manifest_source, ManifestSource::Derived)
}

/// Parses a manifest for [`load`].
pub(crate) fn parse_manifest(text: &str, origin: &str) -> Result<Manifest, crate::PlazaError> {
    Ok(Manifest::from_toml(text, origin)?)
}
