//! Why one `fetch` failed: a policy refusal, a cap, or the network. Each has the `host-error` the
//! plugin receives and a rule code for audit entries and metrics.

use super::policy::error::shown;
use super::policy::{CapError, FetchError, Kind};
use crate::wit::latest::HostError;

/// A failed `fetch`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The destination policy refused it.
    #[error(transparent)]
    Policy(#[from] FetchError),
    /// A size or time cap.
    #[error(transparent)]
    Cap(#[from] CapError),
    /// More requests in this invocation than allowed. → `quota-exceeded`
    #[error("at most {limit} HTTP requests per event")]
    PerEvent { limit: u32 },
    /// The install's per-minute budget is used up. → `rate-limited`
    #[error("at most {per_minute} HTTP requests per minute for this install; retry in {retry_after_ms} ms")]
    RateLimited { per_minute: u32, retry_after_ms: u64 },
    /// No connection slot became free in time. → `unavailable`
    #[error("too many HTTP connections open at once ({scope}); none became free in time")]
    Busy { scope: &'static str },
    /// The response body is over the cap. → `quota-exceeded`
    #[error("the response from {host} is larger than {limit} bytes")]
    ResponseTooLarge { host: String, limit: usize },
    /// The whole request, redirects included, ran out of time. → `unavailable`
    #[error("{host} did not answer within {ms} ms")]
    Timeout { host: String, ms: u64 },
    /// Resolving the name failed. → `unavailable`
    #[error("looking up {host} failed: {problem}")]
    Lookup { host: String, problem: String },
    /// No address accepted a connection. → `unavailable`
    #[error("cannot connect to {host}: {problem}")]
    Connect { host: String, problem: String },
    /// The TLS handshake failed (certificate, protocol). → `unavailable`
    #[error("TLS with {host} failed: {problem}")]
    Tls { host: String, problem: String },
    /// The server broke the HTTP exchange. → `unavailable`
    #[error("HTTP exchange with {host} failed: {problem}")]
    Protocol { host: String, problem: String },
    /// Outbound HTTP cannot be used in this call (the review hook, `describe`). → `unavailable`
    #[error("outbound HTTP is not available in {during}")]
    NotHere { during: &'static str },
    /// The install's secrets could not be read. → `unavailable`
    #[error("the install's secrets cannot be read: {problem}")]
    Secrets { problem: String },
}

impl RequestError {
    /// Whether the policy forbade it (an audit `denied` entry) rather than it failing.
    pub fn is_denial(&self) -> bool {
        matches!(self, RequestError::Policy(e) if e.kind() == Kind::Denied)
    }

    /// A short code for the rule, e.g. `blocked-address` or `response-body`.
    pub fn rule(&self) -> &'static str {
        match self {
            RequestError::Policy(e) => e.rule(),
            RequestError::Cap(e) => e.rule(),
            RequestError::PerEvent { .. } => "requests-per-event",
            RequestError::RateLimited { .. } => "requests-per-minute",
            RequestError::Busy { .. } => "connections",
            RequestError::ResponseTooLarge { .. } => "response-body",
            RequestError::Timeout { .. } => "timeout",
            RequestError::Lookup { .. } => "lookup",
            RequestError::Connect { .. } => "connect",
            RequestError::Tls { .. } => "tls",
            RequestError::Protocol { .. } => "protocol",
            RequestError::NotHere { .. } => "not-here",
            RequestError::Secrets { .. } => "secrets",
        }
    }

    /// The error the plugin receives.
    pub fn to_host_error(&self) -> HostError {
        let text = || shown(&self.to_string());
        match self {
            RequestError::Policy(e) => e.to_host_error(),
            RequestError::Cap(e) => e.to_host_error(),
            RequestError::PerEvent { .. } | RequestError::ResponseTooLarge { .. } => HostError::QuotaExceeded(text()),
            RequestError::RateLimited { retry_after_ms, .. } => HostError::RateLimited(*retry_after_ms),
            _ => HostError::Unavailable(text()),
        }
    }
}
