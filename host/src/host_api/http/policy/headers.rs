//! The request headers a plugin may set.
//!
//! The host owns the headers that decide where a request goes and how it is framed: `Host` (a
//! different `Host` on an allowlisted server's address would reach another site on the same
//! CDN), `Content-Length`, `Transfer-Encoding`, the hop-by-hop headers and the proxy ones.
//! Values may not carry line breaks or other control characters.

use super::error::{shown, FetchError};
use super::secrets::contains_placeholder;

/// Most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// Most bytes in all header names and values together.
pub const MAX_HEADER_BYTES: usize = 32 << 10;

/// Headers only the host sets (lowercase).
pub const HOST_ONLY: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "http2-settings",
];

/// Headers that carry credentials: not sent again after a redirect to another origin.
pub const CREDENTIALS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// An RFC 9110 token character.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks the plugin's headers: at most [`MAX_HEADERS`] and [`MAX_HEADER_BYTES`], names are
/// tokens and not [`HOST_ONLY`], values have no control characters other than tab.
pub fn check(headers: &[(String, String)]) -> Result<(), FetchError> {
    let bad = |name: &str, problem: String| FetchError::Header {
        name: shown(name),
        problem,
    };
    if headers.len() > MAX_HEADERS {
        return Err(bad(
            "*",
            format!("{} headers; at most {MAX_HEADERS} are allowed", headers.len()),
        ));
    }
    let total: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_HEADER_BYTES {
        return Err(bad(
            "*",
            format!("{total} bytes of headers; at most {MAX_HEADER_BYTES} are allowed"),
        ));
    }
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad(name, "not a valid header name".into()));
        }
        if HOST_ONLY.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            return Err(bad(name, "set by the host; a plugin may not set it".into()));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(bad(name, "the value contains a line break or control character".into()));
        }
    }
    Ok(())
}

/// The headers that follow a redirect to another origin: all but credentials and those whose
/// value names a secret.
pub fn for_cross_origin(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, value)| {
            !CREDENTIALS.iter().any(|c| name.eq_ignore_ascii_case(c)) && !contains_placeholder(value)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn accepted_headers() {
        let ok = h(&[
            ("accept", "application/json"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Idempotency-Key", "evt-123:order"),
            ("Authorization", "Bearer {{secret:merchant_key}}"),
            ("x-custom", "tab\tinside"),
            ("x-empty", ""),
            ("x-unicode", "café"),
        ]);
        assert_eq!(check(&ok), Ok(()));
    }

    #[test]
    fn refused_headers() {
        let cases: &[(&str, &str, &str)] = &[
            ("Host", "evil.example", "set by the host"),
            ("HOST", "evil.example", "set by the host"),
            ("content-length", "5", "set by the host"),
            ("Transfer-Encoding", "chunked", "set by the host"),
            ("connection", "close", "set by the host"),
            ("Upgrade", "websocket", "set by the host"),
            ("proxy-authorization", "x", "set by the host"),
            ("Expect", "100-continue", "set by the host"),
            ("", "x", "not a valid header name"),
            ("bad name", "x", "not a valid header name"),
            ("x:y", "x", "not a valid header name"),
            (":authority", "evil.example", "not a valid header name"),
            ("x-a\r\nhost", "x", "not a valid header name"),
            ("x-injected", "a\r\nHost: evil.example", "line break"),
            ("x-nul", "a\0b", "control character"),
            ("x-esc", "\u{1b}[31m", "control character"),
        ];
        for &(name, value, says) in cases {
            let e = check(&h(&[(name, value)])).expect_err(name);
            assert_eq!(e.rule(), "header");
            assert!(e.to_string().contains(says), "{name:?}: {e}");
        }
        let many: Vec<(String, String)> = (0..=MAX_HEADERS).map(|i| (format!("x-{i}"), "v".into())).collect();
        assert!(check(&many).unwrap_err().to_string().contains("at most 64"));
        let big = h(&[("x-big", &"v".repeat(MAX_HEADER_BYTES))]);
        assert!(check(&big).unwrap_err().to_string().contains("bytes of headers"));
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let headers = h(&[
            ("Accept", "application/json"),
            ("Authorization", "Bearer abc"),
            ("cookie", "s=1"),
            ("X-Api-Key", "{{secret:merchant_key}}"),
            ("X-Trace", "t-1"),
        ]);
        let kept = for_cross_origin(&headers);
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Accept", "X-Trace"]);
    }
}
