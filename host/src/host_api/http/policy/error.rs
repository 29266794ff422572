//! Why a request may not go out, as one typed error: each names the host and the rule, maps to
//! the WIT `host-error` the plugin receives, and has a short rule code for audit entries.

use std::net::IpAddr;

use super::address::Blocked;
use crate::runtime::limits::{sanitize, truncate_text};
use crate::wit::latest::HostError;

/// Longest URL or host kept in a message.
const SHOWN_BYTES: usize = 256;

/// Text a plugin or a server supplied, made safe and short for a message.
pub(crate) fn shown(text: &str) -> String {
    sanitize(&truncate_text(text, SHOWN_BYTES))
}

/// A request refused by the destination policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not a URL, or not one that can be fetched. → `invalid`
    #[error("{url:?} is not a usable URL: {problem}")]
    Malformed { url: String, problem: String },
    /// A scheme other than `https` or `http`. → `invalid`
    #[error("{scheme:?} URLs cannot be fetched; use https:// (http:// only where the operator allows it)")]
    UnsupportedScheme { scheme: String },
    /// `user:password@` in the URL. → `invalid`
    #[error(
        "URLs may not carry a user name or password (\"user:pass@\"); this one would go to {host}, \
         not to the name before the '@'"
    )]
    UserInfo { host: String },
    /// A header the plugin may not send, or a malformed one. → `invalid`
    #[error("header {name:?}: {problem}")]
    Header { name: String, problem: String },
    /// A secret placeholder that cannot be filled. → `invalid`
    #[error("{problem}")]
    Secret { problem: String },
    /// Port 0. → `invalid`
    #[error("port 0 of {host} cannot be connected to")]
    PortZero { host: String },

    /// The host is not on the install's allowlist. → `denied`
    #[error("{host} is not on this install's allowlist ({allowlist})")]
    NotAllowlisted { host: String, allowlist: String },
    /// An IP address instead of a host name. → `denied`
    #[error("{addr} is an IP address; only host names on the install's allowlist can be reached")]
    IpLiteral { addr: IpAddr },
    /// A name that is never reachable (loopback names, single labels, metadata services). → `denied`
    #[error("{host} is never reachable: {why}")]
    BlockedName { host: String, why: &'static str },
    /// The host is or resolves to a blocked address. → `denied`
    #[error("{}", blocked_message(.host, .blocked))]
    BlockedAddress { host: String, blocked: Blocked },
    /// `http://` where the operator did not allow it. → `denied`
    #[error(
        "plain http:// is not allowed for {host}; use https:// (the operator allows http:// only for chosen hosts)"
    )]
    InsecureScheme { host: String },
    /// A port of a well-known non-HTTP service. → `denied`
    #[error("port {port} of {host} is blocked: it belongs to a non-HTTP service")]
    BlockedPort { host: String, port: u16 },
    /// An `https` request redirected to `http`. → `denied`
    #[error("a redirect may not go from https:// to http://")]
    Downgrade,
    /// A secret used for a host its scope does not cover. → `denied`
    #[error("secret {name:?} may not be sent to {host}")]
    SecretScope { name: String, host: String },

    /// The name resolved to nothing. → `unavailable`
    #[error("{host} did not resolve to any address")]
    NoAddresses { host: String },
    /// More redirects than allowed. → `unavailable`
    #[error("more than {max} redirects")]
    TooManyRedirects { max: u8 },
    /// A redirect whose `Location` is not a URL. → `unavailable`
    #[error("the server redirected to {location:?}, which is not a usable URL: {problem}")]
    BadRedirect { location: String, problem: String },

    /// A redirect refused by one of the rules above; its `host-error` is the inner one's.
    #[error("redirect from {from} to {to}: {error}")]
    Redirect {
        from: String,
        to: String,
        error: Box<FetchError>,
    },
}

fn blocked_message(host: &str, blocked: &Blocked) -> String {
    if host == blocked.addr.to_string() {
        blocked.to_string()
    } else {
        format!("{host} resolves to {}, which is {}", blocked.subject(), blocked.rule())
    }
}

/// The `host-error` variant a refusal becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `invalid`: the plugin's request is wrong.
    Invalid,
    /// `denied`: the policy forbids it.
    Denied,
    /// `unavailable`: the destination cannot be used right now.
    Unavailable,
}

impl FetchError {
    /// Which `host-error` this becomes.
    pub fn kind(&self) -> Kind {
        use FetchError as E;
        match self {
            E::Malformed { .. }
            | E::UnsupportedScheme { .. }
            | E::UserInfo { .. }
            | E::Header { .. }
            | E::Secret { .. }
            | E::PortZero { .. } => Kind::Invalid,
            E::NotAllowlisted { .. }
            | E::IpLiteral { .. }
            | E::BlockedName { .. }
            | E::BlockedAddress { .. }
            | E::InsecureScheme { .. }
            | E::BlockedPort { .. }
            | E::Downgrade
            | E::SecretScope { .. } => Kind::Denied,
            E::NoAddresses { .. } | E::TooManyRedirects { .. } | E::BadRedirect { .. } => Kind::Unavailable,
            E::Redirect { error, .. } => error.kind(),
        }
    }

    /// A short code for the rule, for audit entries and metrics (e.g. `not-allowlisted`).
    pub fn rule(&self) -> &'static str {
        use FetchError as E;
        match self {
            E::Malformed { .. } => "malformed-url",
            E::UnsupportedScheme { .. } => "scheme",
            E::UserInfo { .. } => "userinfo",
            E::Header { .. } => "header",
            E::Secret { .. } => "secret",
            E::PortZero { .. } => "port",
            E::NotAllowlisted { .. } => "not-allowlisted",
            E::IpLiteral { .. } => "ip-literal",
            E::BlockedName { .. } => "blocked-name",
            E::BlockedAddress { .. } => "blocked-address",
            E::InsecureScheme { .. } => "insecure-http",
            E::BlockedPort { .. } => "blocked-port",
            E::Downgrade => "redirect-downgrade",
            E::SecretScope { .. } => "secret-scope",
            E::NoAddresses { .. } => "no-addresses",
            E::TooManyRedirects { .. } => "too-many-redirects",
            E::BadRedirect { .. } => "bad-redirect",
            E::Redirect { error, .. } => error.rule(),
        }
    }

    /// The error the plugin receives. A denial names the capability first, as every `denied`
    /// does, then the host and the rule.
    pub fn to_host_error(&self) -> HostError {
        let text = shown_message(&self.to_string());
        match self.kind() {
            Kind::Invalid => HostError::Invalid(text),
            Kind::Denied => HostError::Denied(format!("http:fetch: {text}")),
            Kind::Unavailable => HostError::Unavailable(text),
        }
    }
}

impl From<FetchError> for HostError {
    fn from(e: FetchError) -> Self {
        e.to_host_error()
    }
}

/// A whole message, bounded (its parts were bounded already; this caps their sum).
fn shown_message(text: &str) -> String {
    sanitize(&truncate_text(text, 4 * SHOWN_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_api::http::policy::address::classify;

    #[test]
    fn kinds_and_rules() {
        let blocked = classify("127.0.0.1".parse().unwrap()).unwrap();
        let cases: Vec<(FetchError, Kind, &str)> = vec![
            (
                FetchError::Malformed {
                    url: "x".into(),
                    problem: "p".into(),
                },
                Kind::Invalid,
                "malformed-url",
            ),
            (
                FetchError::NotAllowlisted {
                    host: "evil.example".into(),
                    allowlist: "api.example.com".into(),
                },
                Kind::Denied,
                "not-allowlisted",
            ),
            (
                FetchError::BlockedAddress {
                    host: "a.example".into(),
                    blocked,
                },
                Kind::Denied,
                "blocked-address",
            ),
            (
                FetchError::NoAddresses {
                    host: "a.example".into(),
                },
                Kind::Unavailable,
                "no-addresses",
            ),
            (
                FetchError::Redirect {
                    from: "https://a.example/".into(),
                    to: "https://b.example/".into(),
                    error: Box::new(FetchError::Downgrade),
                },
                Kind::Denied,
                "redirect-downgrade",
            ),
        ];
        for (e, kind, rule) in cases {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(e.rule(), rule, "{e}");
        }
    }

    #[test]
    fn host_errors_name_capability_host_and_rule() {
        let e = FetchError::BlockedAddress {
            host: "api.shop.example".into(),
            blocked: classify("10.0.0.7".parse().unwrap()).unwrap(),
        };
        let HostError::Denied(text) = e.to_host_error() else {
            panic!("{e}")
        };
        assert_eq!(
            text,
            "http:fetch: api.shop.example resolves to 10.0.0.7, which is a private address (10.0.0.0/8, RFC 1918); \
             blocked unless the operator allows it"
        );
        let literal = FetchError::BlockedAddress {
            host: "127.0.0.1".into(),
            blocked: classify("127.0.0.1".parse().unwrap()).unwrap(),
        };
        assert!(
            literal.to_string().starts_with("127.0.0.1 is a loopback address"),
            "{literal}"
        );
        let e = FetchError::Malformed {
            url: format!("https://x/{}\u{1b}[31m", "a".repeat(2000)),
            problem: "too long".into(),
        };
        let HostError::Invalid(text) = e.to_host_error() else {
            panic!()
        };
        assert!(text.len() < 1200 && !text.contains('\u{1b}'), "{text}");
    }
}
