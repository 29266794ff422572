//! Size and time caps of one request, and how its timeout fits the invocation's wall-clock
//! budget. Request counts (per event, per minute, concurrent) are enforced by the client; their
//! defaults live here so one place documents them.

use std::time::Duration;

use serde::Serialize;

/// The caps of outbound HTTP for one install. Defaults in [`HttpLimits::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HttpLimits {
    /// Largest request body (default 1 MiB).
    pub request_body_bytes: usize,
    /// Largest response body; reading stops past it (default 4 MiB).
    pub response_body_bytes: usize,
    /// Longest request, redirects included, whatever the plugin asks (default 10 s); also
    /// never longer than what is left of the invocation's wall-clock budget.
    pub request_timeout: Duration,
    /// Longest connect (TCP and TLS) to one address (default 3 s).
    pub connect_timeout: Duration,
    /// Requests per invocation (default 10).
    pub requests_per_event: u32,
    /// Requests per minute per install, all invocations together (default 60).
    pub requests_per_minute: u32,
    /// Connections open at once per install (default 4).
    pub concurrent_connections: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            request_body_bytes: 1 << 20,
            response_body_bytes: 4 << 20,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            requests_per_event: 10,
            requests_per_minute: 60,
            concurrent_connections: 4,
        }
    }
}

/// Time kept back from the wall-clock budget so a timed-out request comes back to the plugin as
/// an error it can handle, before the invocation itself runs out.
pub const WALL_CLOCK_RESERVE: Duration = Duration::from_millis(50);

/// Shortest timeout worth starting a request with.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// Why a request is over a cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// → `quota-exceeded`
    #[error("the request body is {size} bytes; at most {limit} allowed")]
    RequestBody { size: usize, limit: usize },
    /// → `quota-exceeded`
    #[error("only {left_ms} ms of the invocation's wall-clock budget are left; too little for a request")]
    NoTimeLeft { left_ms: u64 },
    /// → `invalid`
    #[error("timeout-ms must be at least 1")]
    ZeroTimeout,
}

impl CapError {
    /// The error the plugin receives.
    pub fn to_host_error(&self) -> crate::wit::latest::HostError {
        use crate::wit::latest::HostError;
        match self {
            CapError::ZeroTimeout => HostError::Invalid(self.to_string()),
            _ => HostError::QuotaExceeded(self.to_string()),
        }
    }

    /// A short code for the rule, for audit entries.
    pub fn rule(&self) -> &'static str {
        match self {
            CapError::RequestBody { .. } => "request-body",
            CapError::NoTimeLeft { .. } => "wall-clock",
            CapError::ZeroTimeout => "timeout",
        }
    }
}

impl From<CapError> for crate::wit::latest::HostError {
    fn from(e: CapError) -> Self {
        e.to_host_error()
    }
}

impl HttpLimits {
    /// The timeout of a request: what the plugin asked for, at most [`HttpLimits::request_timeout`],
    /// and at most what is left of the wall-clock budget minus [`WALL_CLOCK_RESERVE`].
    pub fn timeout(&self, requested_ms: Option<u32>, wall_clock_left: Duration) -> Result<Duration, CapError> {
        let asked = match requested_ms {
            Some(0) => return Err(CapError::ZeroTimeout),
            Some(ms) => Duration::from_millis(ms.into()),
            None => self.request_timeout,
        };
        let left = wall_clock_left.saturating_sub(WALL_CLOCK_RESERVE);
        let timeout = asked.min(self.request_timeout).min(left);
        if timeout < MIN_TIMEOUT {
            return Err(CapError::NoTimeLeft {
                left_ms: wall_clock_left.as_millis() as u64,
            });
        }
        Ok(timeout)
    }

    /// Checks the request body's size.
    pub fn check_request_body(&self, body: Option<&[u8]>) -> Result<(), CapError> {
        let size = body.map_or(0, <[u8]>::len);
        if size > self.request_body_bytes {
            return Err(CapError::RequestBody {
                size,
                limit: self.request_body_bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::latest::HostError;

    #[test]
    fn timeouts_fit_the_wall_clock_budget() {
        let l = HttpLimits::default();
        let ms = Duration::from_millis;
        let cases = [
            // (asked, wall clock left, timeout or None for "no time left")
            (None, ms(2_000), Some(ms(1_950))),
            (None, ms(30_000), Some(ms(10_000))),
            (Some(500), ms(2_000), Some(ms(500))),
            (Some(60_000), ms(30_000), Some(ms(10_000))),
            (Some(5_000), ms(1_000), Some(ms(950))),
            (None, ms(60), Some(ms(10))),
            (None, ms(59), None),
            (None, ms(0), None),
        ];
        for (asked, left, want) in cases {
            let got = l.timeout(asked, left);
            match want {
                Some(t) => assert_eq!(got, Ok(t), "{asked:?} {left:?}"),
                None => assert!(matches!(got, Err(CapError::NoTimeLeft { .. })), "{asked:?} {left:?}"),
            }
        }
        assert_eq!(l.timeout(Some(0), ms(1_000)), Err(CapError::ZeroTimeout));
    }

    #[test]
    fn caps_map_to_host_errors() {
        let l = HttpLimits {
            request_body_bytes: 4,
            ..HttpLimits::default()
        };
        assert_eq!(l.check_request_body(None), Ok(()));
        assert_eq!(l.check_request_body(Some(b"1234")), Ok(()));
        let e = l.check_request_body(Some(b"12345")).unwrap_err();
        assert_eq!(e.rule(), "request-body");
        let HostError::QuotaExceeded(text) = e.to_host_error() else {
            panic!("{e}")
        };
        assert_eq!(text, "the request body is 5 bytes; at most 4 allowed");
        assert!(matches!(CapError::ZeroTimeout.to_host_error(), HostError::Invalid(_)));
        let e = l.timeout(None, Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.rule(), "wall-clock");
        assert!(matches!(e.to_host_error(), HostError::QuotaExceeded(_)));
    }
}
