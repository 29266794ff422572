//! The two error types plugins deal with: [`HostError`] (a host call was refused) and
//! [`HandlerError`] (the plugin reports that it could not handle an event).
//!
//! Both mirror the WIT types `host-error` and `handler-error` field for field; the bindings are
//! generated to use these definitions, so they carry proper `Display` texts and `PartialEq`.

use core::fmt;

/// Why a host call was refused (WIT `host-error`). Every refusal is a value, never a trap.
///
/// `Display` gives a short English sentence, e.g. `capability "messages:send" was not granted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The community admin has not granted this capability (named, e.g. `"messages:send"`).
    Denied(String),
    /// Over the paced budget; try again after this many milliseconds.
    RateLimited(u64),
    /// A quota (e.g. storage bytes) is used up; the text says which.
    QuotaExceeded(String),
    /// The object named in the call does not exist, or is not visible to this plugin.
    NotFound,
    /// The call's arguments are wrong; the text says what was wrong.
    Invalid(String),
    /// The host cannot serve this call right now; the text says why.
    Unavailable(String),
}

impl HostError {
    /// True for [`HostError::Denied`]: the admin did not grant the capability this call needs.
    pub fn is_denied(&self) -> bool {
        matches!(self, HostError::Denied(_))
    }

    /// True when retrying later may succeed ([`HostError::RateLimited`],
    /// [`HostError::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, HostError::RateLimited(_) | HostError::Unavailable(_))
    }

    /// A short kebab-case name of the variant, e.g. `"denied"`; used as a [`HandlerError`] code
    /// suffix.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "denied",
            HostError::RateLimited(_) => "rate-limited",
            HostError::QuotaExceeded(_) => "quota-exceeded",
            HostError::NotFound => "not-found",
            HostError::Invalid(_) => "invalid",
            HostError::Unavailable(_) => "unavailable",
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Denied(cap) => write!(f, "capability {cap:?} was not granted"),
            HostError::RateLimited(ms) => write!(f, "rate limited; retry after {ms} ms"),
            HostError::QuotaExceeded(what) => write!(f, "quota exceeded: {what}"),
            HostError::NotFound => f.write_str("not found"),
            HostError::Invalid(what) => write!(f, "invalid argument: {what}"),
            HostError::Unavailable(why) => write!(f, "host unavailable: {why}"),
        }
    }
}

impl std::error::Error for HostError {}

/// How a plugin reports that it could not handle an event (WIT `handler-error`).
///
/// Returning it from a handler discards every effect of the invocation (sends, KV writes, ...).
/// Build one with [`HandlerError::new`]; host-call failures convert with `?`:
///
/// ```
/// use plaza_sdk::{HandlerError, HostError};
///
/// let e = HandlerError::new("bad-state", "poll 3 has no options").retryable();
/// assert!(e.retryable);
///
/// let from_host: HandlerError = HostError::RateLimited(500).into();
/// assert_eq!(from_host.code, "host-rate-limited");
/// assert!(from_host.retryable);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerError {
    /// A short machine-readable code chosen by the plugin, e.g. `"bad-state"`.
    pub code: String,
    /// A human-readable explanation shown to developers and admins.
    pub message: String,
    /// True if delivering the same event again may succeed.
    pub retryable: bool,
}

impl HandlerError {
    /// A non-retryable error with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        HandlerError {
            code: code.into(),
            message: message.into(),
            retryable: false,
        }
    }

    /// The same error, marked as worth retrying (the host may deliver the event again).
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if self.retryable {
            f.write_str(" (retryable)")?;
        }
        Ok(())
    }
}

impl std::error::Error for HandlerError {}

/// A failed host call becomes a handler error with code `host-<kind>` (e.g. `host-denied`),
/// retryable when the failure is transient (rate limit, host unavailable).
impl From<HostError> for HandlerError {
    fn from(e: HostError) -> Self {
        HandlerError {
            code: format!("host-{}", e.kind()),
            message: e.to_string(),
            retryable: e.is_transient(),
        }
    }
}

/// Helpers for degrading gracefully when a host call fails, implemented for every
/// `Result<T, HostError>`.
///
/// Plaza admins may grant a plugin fewer capabilities than it asks for; a well-behaved plugin
/// logs a warning and carries on rather than failing the whole event:
///
/// ```no_run
/// use plaza_sdk::prelude::*;
///
/// # fn demo(channel: &str) -> Result<(), HandlerError> {
/// // Denied => warning logged, `None`; rate limits and other failures still propagate with `?`.
/// let sent = messaging::send(channel, "hello").allow_denied("greeting")?;
/// if sent.is_none() { /* carry on without the message */ }
///
/// // Any failure => warning logged, `None`.
/// let _ = kv::increment("greetings", 1).or_warn("counting greetings");
/// # Ok(()) }
/// ```
pub trait HostResultExt<T> {
    /// `Ok(Some(value))` on success; `Ok(None)` after logging a warning when the call was
    /// [denied](HostError::Denied); any other failure is passed through.
    fn allow_denied(self, what: &str) -> Result<Option<T>, HostError>;

    /// `Some(value)` on success; `None` after logging a warning on any failure.
    fn or_warn(self, what: &str) -> Option<T>;
}

impl<T> HostResultExt<T> for Result<T, HostError> {
    fn allow_denied(self, what: &str) -> Result<Option<T>, HostError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e @ HostError::Denied(_)) => {
                crate::logging::log(crate::logging::Level::Warn, &format!("{what}: skipped, {e}"));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn or_warn(self, what: &str) -> Option<T> {
        match self {
            Ok(v) => Some(v),
            Err(e) => {
                crate::logging::log(crate::logging::Level::Warn, &format!("{what}: {e}"));
                None
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn host_error_display_is_readable() {
        assert_eq!(
            HostError::Denied("messages:send".into()).to_string(),
            "capability \"messages:send\" was not granted"
        );
        assert_eq!(
            HostError::RateLimited(250).to_string(),
            "rate limited; retry after 250 ms"
        );
        assert_eq!(HostError::NotFound.to_string(), "not found");
    }

    #[test]
    fn host_error_converts_with_code_and_retryability() {
        let denied: HandlerError = HostError::Denied("storage:kv".into()).into();
        assert_eq!(denied.code, "host-denied");
        assert!(!denied.retryable);
        assert!(denied.message.contains("storage:kv"));

        let unavailable: HandlerError = HostError::Unavailable("db down".into()).into();
        assert_eq!(unavailable.code, "host-unavailable");
        assert!(unavailable.retryable);
    }

    #[test]
    fn handler_error_builder_and_display() {
        let e = HandlerError::new("bad-state", "oops");
        assert!(!e.retryable);
        assert_eq!(e.to_string(), "bad-state: oops");
        assert_eq!(e.retryable().to_string(), "bad-state: oops (retryable)");
    }

    #[test]
    fn allow_denied_swallows_only_denials() {
        crate::testing::reset();
        let denied: Result<u8, HostError> = Err(HostError::Denied("schedule".into()));
        assert_eq!(denied.allow_denied("timer"), Ok(None));
        assert!(crate::testing::logs()
            .iter()
            .any(|(level, line)| *level == crate::logging::Level::Warn
                && line.contains("timer")
                && line.contains("schedule")));

        let limited: Result<u8, HostError> = Err(HostError::RateLimited(5));
        assert_eq!(limited.allow_denied("timer"), Err(HostError::RateLimited(5)));
        assert_eq!(Ok::<u8, HostError>(7).allow_denied("x"), Ok(Some(7)));

        let other: Result<u8, HostError> = Err(HostError::NotFound);
        assert_eq!(other.or_warn("lookup"), None);
        assert_eq!(crate::testing::logs().len(), 2);
    }
}
