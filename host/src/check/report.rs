//! What `plaza check` found: one result per check, and the readable form of the whole report.

use std::fmt::Write as _;

use serde::Serialize;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Conforms.
    Pass,
    /// Conforms, with something the developer should look at (does not fail the check).
    Warn,
    /// Does not conform: the plugin should not ship.
    Fail,
    /// Not run: an earlier check failed, or it does not apply (e.g. no review hook).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable name, e.g. `events` (the JUnit test case name).
    pub name: &'static str,
    /// What it verifies, in a line.
    pub title: &'static str,
    /// How it ended.
    pub status: Status,
    /// Why it failed or warned (one line each), or what it saw when it passed.
    pub details: Vec<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// Everything `plaza check` found about one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What was checked (a file path or a label).
    pub origin: String,
    /// The plugin's name and version, once `describe` answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The `plaza:plugin` version it was built against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_version: Option<String>,
    /// Each check, in the order run.
    pub checks: Vec<CheckResult>,
    /// Whether every check passed (warnings and skips allowed).
    pub passed: bool,
    /// Total time, in milliseconds.
    pub duration_ms: u64,
}

impl CheckReport {
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    /// The result of the check named `name`.
    pub fn get(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// One line for a review stamp: `pass (8 checks, 1 warning)` or `fail: events, idempotent`.
    pub fn summary(&self) -> String {
        let warnings = self.checks.iter().filter(|c| c.status == Status::Warn).count();
        if self.passed {
            format!(
                "pass ({} checks, {warnings} warning{})",
                self.checks.iter().filter(|c| c.status != Status::Skip).count(),
                if warnings == 1 { "" } else { "s" }
            )
        } else {
            let failed: Vec<&str> = self.failures().map(|c| c.name).collect();
            format!("fail: {}", failed.join(", "))
        }
    }

    /// The readable report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let who = self.plugin.as_deref().unwrap_or("(not loaded)");
        let _ = writeln!(out, "plaza check {} — {who}", self.origin);
        if let Some(v) = &self.wit_version {
            let _ = writeln!(out, "world plaza:plugin@{v}");
        }
        for c in &self.checks {
            let _ = writeln!(
                out,
                "  [{:>4}] {:<11} {} ({} ms)",
                c.status.label(),
                c.name,
                c.title,
                c.duration_ms
            );
            for d in &c.details {
                let _ = writeln!(out, "           - {d}");
            }
        }
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "{verdict}: {} in {} ms", self.summary(), self.duration_ms);
        out
    }
}
