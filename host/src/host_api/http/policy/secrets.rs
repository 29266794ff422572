//! Install secrets (e.g. a merchant's API key) in request headers.
//!
//! An admin gives an install named secrets; the plugin never sees their values. It writes a
//! placeholder, `{{secret:NAME}}`, in a header value, and the host fills it in only when the
//! request's [`Destination`] has passed every check (so only for allowlisted hosts, and only for
//! those the secret's own scope names, if it has one). Logs, audit entries and reports keep the
//! plugin's header values, placeholders and all; [`Redactor`] turns any value that shows up
//! elsewhere (an error text, a response echoing a header) back into its placeholder.
//!
//! Placeholders are filled in header values only: not in the URL (refused, as URLs end up in
//! server logs) and not in the body (sent as written).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::allowlist::HostPattern;
use super::error::{shown, FetchError};
use super::target::Destination;

/// How a placeholder starts.
pub const OPEN: &str = "{{secret:";
/// How a placeholder ends.
pub const CLOSE: &str = "}}";
/// Longest secret name.
pub const MAX_NAME_BYTES: usize = 64;
/// Shortest secret value: shorter ones would be redacted out of unrelated text.
pub const MIN_VALUE_BYTES: usize = 8;
/// Longest secret value.
pub const MAX_VALUE_BYTES: usize = 4 << 10;

/// Whether a header value contains a placeholder (or the start of one).
pub fn contains_placeholder(value: &str) -> bool {
    value.contains(OPEN)
}

/// A secret's name: 1 to 64 ASCII letters, digits, `_`, `-` or `.`; case matters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<SecretName, String> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(format!("a secret name has 1 to {MAX_NAME_BYTES} characters"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c)))
        {
            return Err(format!(
                "secret name {:?} contains {c:?}; use letters, digits, '_', '-' and '.'",
                shown(name)
            ));
        }
        Ok(SecretName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The placeholder that stands for it: `{{secret:NAME}}`.
    pub fn placeholder(&self) -> String {
        format!("{OPEN}{}{CLOSE}", self.0)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret's value. It has no `Display`, and its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Checks `value`: 8 to 4 096 printable ASCII characters (a valid header value), no leading
    /// or trailing space. The error never quotes the value.
    pub fn new(value: impl Into<String>) -> Result<SecretValue, String> {
        let value = value.into();
        if value.len() < MIN_VALUE_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "a secret value has {MIN_VALUE_BYTES} to {MAX_VALUE_BYTES} characters (this one has {})",
                value.len()
            ));
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err("a secret value must be printable ASCII (no line breaks or control characters)".into());
        }
        if value.starts_with(' ') || value.ends_with(' ') {
            return Err("a secret value may not start or end with a space".into());
        }
        Ok(SecretValue(value))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// One secret: its value, and the hosts it may be sent to (`None`: any host on the allowlist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    value: SecretValue,
    scope: Option<Vec<HostPattern>>,
}

/// An install's secrets, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<SecretName, Secret>);

/// A piece of a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Secret(&'a str),
}

/// Splits a header value into text and placeholders.
fn pieces(value: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            return Err("a secret placeholder is not closed; write {{secret:NAME}}".into());
        };
        let name = &after[..end];
        SecretName::new(name).map_err(|e| format!("malformed secret placeholder: {e}"))?;
        out.push(Piece::Secret(name));
        rest = &after[end + CLOSE.len()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Secrets::default()
    }

    /// Sets (or replaces) a secret. `scope` narrows the hosts it may be sent to.
    pub fn set(&mut self, name: SecretName, value: SecretValue, scope: Option<Vec<HostPattern>>) {
        self.0.insert(name, Secret { value, scope });
    }

    /// Removes a secret; whether it was there.
    pub fn remove(&mut self, name: &SecretName) -> bool {
        self.0.remove(name).is_some()
    }

    /// The names, in order (what `plaza status` may show).
    pub fn names(&self) -> impl Iterator<Item = &SecretName> {
        self.0.keys()
    }

    /// The headers to send to `dest`: placeholders filled in. An unknown name or a malformed
    /// placeholder is `invalid`; a secret whose scope does not cover the host is `denied`.
    /// Taking a [`Destination`] means this runs only after every destination check.
    pub fn fill(&self, headers: &[(String, String)], dest: &Destination) -> Result<Vec<(String, String)>, FetchError> {
        let host = dest.server_name();
        headers
            .iter()
            .map(|(name, value)| {
                if !contains_placeholder(value) {
                    return Ok((name.clone(), value.clone()));
                }
                let problem = |problem: String| FetchError::Secret {
                    problem: format!("header {:?}: {problem}", shown(name)),
                };
                let mut filled = String::with_capacity(value.len());
                for piece in pieces(value).map_err(problem)? {
                    match piece {
                        Piece::Text(text) => filled.push_str(text),
                        Piece::Secret(secret) => {
                            let Some(entry) = SecretName::new(secret).ok().and_then(|n| self.0.get(&n)) else {
                                return Err(problem(format!("no secret named {secret:?} is set for this install")));
                            };
                            if let Some(scope) = &entry.scope {
                                if !scope.iter().any(|p| p.matches(host)) {
                                    return Err(FetchError::SecretScope {
                                        name: secret.to_string(),
                                        host: host.to_string(),
                                    });
                                }
                            }
                            filled.push_str(entry.value.expose());
                        }
                    }
                }
                Ok((name.clone(), filled))
            })
            .collect()
    }

    /// A redactor for every secret of the install.
    pub fn redactor(&self) -> Redactor {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = self
            .0
            .iter()
            .map(|(name, s)| (s.value.expose().as_bytes().to_vec(), name.placeholder().into_bytes()))
            .collect();
        // Longest first, so a value that contains another is replaced whole.
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        Redactor { pairs }
    }
}

/// Replaces secret values with their placeholders, in one pass (a replacement is never
/// scanned again).
#[derive(Clone, Default)]
pub struct Redactor {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.pairs.len())
    }
}

impl Redactor {
    /// `bytes` with every secret value replaced by `{{secret:NAME}}`; borrowed when there is none.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let found = |at: usize| self.pairs.iter().find(|(value, _)| bytes[at..].starts_with(value));
        let Some(first) = (0..bytes.len()).find(|&at| found(at).is_some()) else {
            return Cow::Borrowed(bytes);
        };
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(&bytes[..first]);
        let mut at = first;
        while at < bytes.len() {
            match found(at) {
                Some((value, placeholder)) => {
                    out.extend_from_slice(placeholder);
                    at += value.len();
                }
                None => {
                    out.push(bytes[at]);
                    at += 1;
                }
            }
        }
        Cow::Owned(out)
    }

    /// `text` with every secret value replaced by `{{secret:NAME}}`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Values and placeholders are ASCII, and an ASCII run never starts or ends inside a
            // multi-byte character, so the result is still UTF-8.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_api::http::policy::{Allowlist, NetworkPolicy, Target};

    const KEY: &str = "sk_live_51Habc0123456789";
    const OTHER: &str = "tok-abcdefgh";

    fn secrets() -> Secrets {
        let mut s = Secrets::new();
        s.set(
            SecretName::new("merchant_key").unwrap(),
            SecretValue::new(KEY).unwrap(),
            Some(vec![HostPattern::parse("api.shop.example").unwrap()]),
        );
        s.set(
            SecretName::new("Other.Token-2").unwrap(),
            SecretValue::new(OTHER).unwrap(),
            None,
        );
        s
    }

    fn dest(url: &str) -> Destination {
        let policy = NetworkPolicy::default();
        let allowlist = Allowlist::new(["api.shop.example", "*.analytics.example"]).unwrap();
        Target::parse(url, &allowlist, &policy)
            .unwrap()
            .vet(["93.184.215.14".parse().unwrap()], &policy)
            .unwrap()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names() {
        for ok in ["a", "merchant_key", "MERCHANT-KEY.v2", &"k".repeat(64)] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a}}", "ключ", "a:b", "{x}", &"k".repeat(65)] {
            assert!(SecretName::new(bad).is_err(), "{bad}");
        }
        assert_eq!(SecretName::new("k").unwrap().placeholder(), "{{secret:k}}");
    }

    #[test]
    fn values_are_checked_without_being_quoted() {
        for bad in [
            "short",
            "has\nnewline-x",
            "tab\tinside-x",
            " leading-space",
            "trailing-space ",
            "naïve-value",
        ] {
            let err = SecretValue::new(bad).unwrap_err();
            assert!(!err.contains(bad), "{err}");
        }
        assert!(SecretValue::new("x".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert!(SecretValue::new("with inner space").is_ok());
        let v = SecretValue::new(KEY).unwrap();
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
        let debug = format!("{:?}", secrets());
        assert!(!debug.contains(KEY) && !debug.contains(OTHER), "{debug}");
        assert!(debug.contains("merchant_key"), "{debug}");
    }

    #[test]
    fn placeholders_are_filled_for_vetted_destinations() {
        let d = dest("https://api.shop.example/orders");
        let headers = h(&[
            ("Authorization", "Bearer {{secret:merchant_key}}"),
            ("X-Both", "{{secret:merchant_key}}{{secret:Other.Token-2}}!"),
            ("Accept", "application/json"),
            ("X-Braces", "{{not-a-secret}} {secret:x}"),
        ]);
        let filled = secrets().fill(&headers, &d).unwrap();
        assert_eq!(
            filled,
            h(&[
                ("Authorization", &format!("Bearer {KEY}")),
                ("X-Both", &format!("{KEY}{OTHER}!")),
                ("Accept", "application/json"),
                ("X-Braces", "{{not-a-secret}} {secret:x}"),
            ])
        );
    }

    #[test]
    fn a_filled_value_is_not_filled_again() {
        let mut s = Secrets::new();
        s.set(
            SecretName::new("a").unwrap(),
            SecretValue::new("{{secret:b}}").unwrap(),
            None,
        );
        s.set(
            SecretName::new("b").unwrap(),
            SecretValue::new("bbbbbbbbbb").unwrap(),
            None,
        );
        let filled = s
            .fill(&h(&[("x", "{{secret:a}}")]), &dest("https://api.shop.example/"))
            .unwrap();
        assert_eq!(filled[0].1, "{{secret:b}}");
    }

    #[test]
    fn scopes_and_unknown_names() {
        let other_host = dest("https://x.analytics.example/");
        let e = secrets()
            .fill(&h(&[("Authorization", "Bearer {{secret:merchant_key}}")]), &other_host)
            .unwrap_err();
        assert_eq!(e.rule(), "secret-scope");
        assert_eq!(
            e.to_string(),
            "secret \"merchant_key\" may not be sent to x.analytics.example"
        );
        assert!(matches!(e.to_host_error(), crate::wit::latest::HostError::Denied(_)));
        // A secret without a scope goes to any allowlisted host.
        let filled = secrets()
            .fill(&h(&[("X-Token", "{{secret:Other.Token-2}}")]), &other_host)
            .unwrap();
        assert_eq!(filled[0].1, OTHER);

        let d = dest("https://api.shop.example/");
        let cases = [
            ("{{secret:missing}}", "no secret named \"missing\""),
            ("{{secret:MERCHANT_KEY}}", "no secret named \"MERCHANT_KEY\""),
            ("{{secret:merchant_key", "not closed"),
            ("{{secret:}}", "malformed secret placeholder"),
            ("{{secret:a b}}", "malformed secret placeholder"),
            ("{{secret:{{secret:merchant_key}}}}", "malformed secret placeholder"),
        ];
        for (value, says) in cases {
            let e = secrets().fill(&h(&[("X-Key", value)]), &d).unwrap_err();
            assert_eq!(e.rule(), "secret", "{value}");
            assert!(e.to_string().contains(says), "{value}: {e}");
            assert!(!e.to_string().contains(KEY), "{value}: {e}");
            assert!(matches!(e.to_host_error(), crate::wit::latest::HostError::Invalid(_)));
        }
    }

    #[test]
    fn redaction() {
        let r = secrets().redactor();
        let cases = [
            ("no secrets here", "no secrets here"),
            (&format!("Bearer {KEY}") as &str, "Bearer {{secret:merchant_key}}"),
            (
                &format!("{KEY}{KEY} and {OTHER}."),
                "{{secret:merchant_key}}{{secret:merchant_key}} and {{secret:Other.Token-2}}.",
            ),
            (&format!("é{KEY}ü"), "é{{secret:merchant_key}}ü"),
            ("sk_live_51Habc012345678", "sk_live_51Habc012345678"),
        ];
        for (text, want) in cases {
            assert_eq!(r.redact(text), want, "{text}");
        }
        assert!(matches!(r.redact("plain"), Cow::Borrowed(_)));
        let body = [b"\xff\xfe{\"echo\":\"".as_slice(), KEY.as_bytes(), b"\"}"].concat();
        assert_eq!(
            r.redact_bytes(&body).as_ref(),
            b"\xff\xfe{\"echo\":\"{{secret:merchant_key}}\"}".as_slice()
        );
        assert_eq!(format!("{r:?}"), "Redactor(2 secrets)");
    }

    #[test]
    fn the_longest_value_wins() {
        let mut s = Secrets::new();
        s.set(
            SecretName::new("short").unwrap(),
            SecretValue::new("abcdefgh").unwrap(),
            None,
        );
        s.set(
            SecretName::new("long").unwrap(),
            SecretValue::new("abcdefghijkl").unwrap(),
            None,
        );
        let r = s.redactor();
        assert_eq!(r.redact("xabcdefghijkl abcdefgh"), "x{{secret:long}} {{secret:short}}");
        assert!(Secrets::new().redactor().redact("abcdefgh") == "abcdefgh");
    }

    #[test]
    fn setting_and_removing() {
        let mut s = secrets();
        let names: Vec<&str> = s.names().map(SecretName::as_str).collect();
        assert_eq!(names, ["Other.Token-2", "merchant_key"]);
        assert!(s.remove(&SecretName::new("merchant_key").unwrap()));
        assert!(!s.remove(&SecretName::new("merchant_key").unwrap()));
        let e = s
            .fill(
                &h(&[("a", "{{secret:merchant_key}}")]),
                &dest("https://api.shop.example/"),
            )
            .unwrap_err();
        assert_eq!(e.rule(), "secret");
    }
}
