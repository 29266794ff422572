//! What one invocation did: outcome, effects, logs and refused host calls.

use serde::Serialize;

use crate::effects::Action;

/// Why an invocation failed. The kebab-case names are the reason codes shown to admins and
/// developers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureReason {
    /// The handler used up its CPU budget.
    CpuBudget,
    /// The handler used up its instruction (fuel) budget.
    FuelBudget,
    /// The whole invocation, host calls included, took too long.
    WallClock,
    /// Memory or table growth past the limit.
    MemoryLimit,
    /// The wasm stack overflowed.
    StackOverflow,
    /// The plugin asked for more output than allowed (actions, message length).
    OutputLimit,
    /// The plugin trapped (panic, unreachable, out-of-bounds access...).
    GuestTrap,
    /// The plugin returned an error.
    GuestError,
    /// The instance could not be created.
    InstantiateFailed,
    /// The host could not store the invocation's effects; nothing was applied.
    StoreFailed,
}

impl Failure {
    /// The store could not apply an invocation's effects: nothing was applied, and delivering
    /// again may succeed.
    pub fn store_failed(message: String) -> Self {
        Failure {
            reason: FailureReason::StoreFailed,
            message,
            code: None,
            retryable: true,
            backtrace: None,
        }
    }
}

impl FailureReason {
    /// The reason code, e.g. `cpu-budget`.
    pub fn code(self) -> &'static str {
        match self {
            FailureReason::CpuBudget => "cpu-budget",
            FailureReason::FuelBudget => "fuel-budget",
            FailureReason::WallClock => "wall-clock",
            FailureReason::MemoryLimit => "memory-limit",
            FailureReason::StackOverflow => "stack-overflow",
            FailureReason::OutputLimit => "output-limit",
            FailureReason::GuestTrap => "guest-trap",
            FailureReason::GuestError => "guest-error",
            FailureReason::InstantiateFailed => "instantiate-failed",
            FailureReason::StoreFailed => "store-failed",
        }
    }
}

/// A failed invocation, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The reason code.
    pub reason: FailureReason,
    /// What happened, in words.
    pub message: String,
    /// The plugin's own error code, for `guest-error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether delivering the event again may help.
    pub retryable: bool,
    /// The wasm backtrace, for traps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The handler returned successfully; its effects were applied.
    Ok,
    /// The handler failed; its effects were discarded.
    Failed(Failure),
}

impl Outcome {
    /// Whether the handler succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Ok => None,
            Outcome::Failed(f) => Some(f),
        }
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One line the plugin logged, or wrote to stdout/stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity (stderr lines are `warn`, stdout lines `info`).
    pub level: LogLevel,
    /// Where it came from: `log`, `stdout` or `stderr`.
    pub source: &'static str,
    /// The text.
    pub message: String,
}

/// A host call refused because its capability was not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeniedCall {
    /// The host function, e.g. `messaging.send`.
    pub call: &'static str,
    /// The capability it needed.
    pub capability: String,
}

/// An outbound HTTP request a plugin made or tried to make, for the report and the audit log.
/// Headers and bodies are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCall {
    /// The method.
    pub method: &'static str,
    /// Scheme, host, port and path (the last one requested, after redirects); the query is
    /// left out, it may carry personal data.
    pub url: String,
    /// The status code, when a response came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The rule that refused it or the way it failed (`blocked-address`, `timeout`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Whether the destination policy forbade it (rather than it failing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// What went wrong, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Size of the response body.
    pub response_bytes: usize,
    /// Time taken, redirects included.
    pub duration_ms: u64,
    /// The allowlist entry that let it through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The vetted address that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Redirects followed.
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub redirects: u8,
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// Everything about one invocation of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationReport {
    /// The plugin's name.
    pub plugin: String,
    /// The community.
    pub community: String,
    /// The event id (or `review:<message id>` for the review hook).
    pub event_id: String,
    /// The event type, or `review-message`.
    pub event_type: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Effects, applied because the outcome is ok (empty when it failed).
    pub actions: Vec<Action>,
    /// How many effects were discarded because the invocation failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub discarded_actions: usize,
    /// Log output.
    pub logs: Vec<LogLine>,
    /// Refused host calls.
    pub denied: Vec<DeniedCall>,
    /// Outbound HTTP requests, whether or not the invocation succeeded (they happened).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpCall>,
    /// Wall-clock time of the invocation, in microseconds.
    pub duration_us: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
