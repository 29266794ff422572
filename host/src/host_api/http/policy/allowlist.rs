//! Host names in canonical form, and the install's allowlist.
//!
//! The allowlist is what the admin granted with `http:fetch`: the manifest's `hosts`, each an
//! exact name or `*.` and a domain for any name under it (at any depth, not the domain itself).
//! Ports are not part of an entry; see [`super::target`] for the port rules.

use std::fmt;

use url::Host;

use crate::manifest::check_host_name;

/// The longest host name (RFC 1035), without the trailing dot.
const MAX_NAME: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;

/// A host name as matched and dialled: what the WHATWG host parser produced (percent-escapes
/// decoded, IDNA-mapped to ASCII, lowercase), minus one trailing dot, checked against DNS length
/// rules. `Err` says what is wrong.
pub(crate) fn canonical_name(domain: &str) -> Result<String, String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() {
        return Err("the host name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "the host name is {} characters long (at most {MAX_NAME})",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("the host name has an empty label (\"..\")".into());
        }
        if label.len() > MAX_LABEL {
            return Err(format!("the label {label:?} is longer than {MAX_LABEL} characters"));
        }
    }
    if !name.is_ascii() || name.bytes().any(|b| b.is_ascii_uppercase()) {
        // The URL parser guarantees this; a second guard costs nothing.
        return Err("the host name is not in ASCII lowercase form".into());
    }
    Ok(name.to_string())
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// This name only.
    Exact(String),
    /// Any name under this domain (`*.example.com`: `a.example.com`, `a.b.example.com`, not
    /// `example.com`).
    Subdomains(String),
}

impl HostPattern {
    /// Parses an entry such as `api.example.com` or `*.example.com`. The entry is normalised
    /// like a URL's host (so `API.Example.com.` and `bücher.example` are accepted as
    /// `api.example.com` and `xn--bcher-kva.example`) and must then pass the manifest's host
    /// rules: no IP addresses, no `*.com`.
    pub fn parse(entry: &str) -> Result<HostPattern, String> {
        let (wildcard, rest) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        if rest.contains("://") || rest.contains('/') {
            return Err(format!("{entry:?}: give the host name only, without scheme or path"));
        }
        if rest.starts_with('[') {
            return Err(format!(
                "{entry:?}: IP addresses cannot be allowlisted, only host names"
            ));
        }
        if rest.contains(':') {
            return Err(format!("{entry:?}: give the host name only, without a port"));
        }
        if rest.contains('*') {
            return Err(format!("{entry:?}: '*' is only allowed as a leading \"*.\""));
        }
        let name = match Host::parse(rest) {
            Ok(Host::Domain(d)) => canonical_name(&d).map_err(|e| format!("{entry:?}: {e}"))?,
            Ok(Host::Ipv4(_) | Host::Ipv6(_)) => {
                return Err(format!(
                    "{entry:?}: IP addresses cannot be allowlisted, only host names"
                ))
            }
            Err(e) => return Err(format!("{entry:?} is not a valid host name: {e}")),
        };
        let shown = if wildcard { format!("*.{name}") } else { name.clone() };
        check_host_name(&shown).map_err(|e| format!("{entry:?}: {e}"))?;
        Ok(if wildcard {
            HostPattern::Subdomains(name)
        } else {
            HostPattern::Exact(name)
        })
    }

    /// Whether `host` (a canonical name, see [`canonical_name`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}"),
        }
    }
}

/// The hosts one install may reach: what the admin granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<HostPattern>);

impl Allowlist {
    /// Parses every entry (see [`HostPattern::parse`]); duplicates are dropped.
    pub fn new<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Allowlist, String> {
        let mut patterns: Vec<HostPattern> = Vec::new();
        for entry in entries {
            let pattern = HostPattern::parse(entry.as_ref())?;
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        Ok(Allowlist(patterns))
    }

    /// The entry that lets `host` (canonical) through, if any.
    pub fn matching(&self, host: &str) -> Option<&HostPattern> {
        self.0.iter().find(|p| p.matches(host))
    }

    /// The entries.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.0
    }

    /// Whether the list is empty (nothing reachable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries joined for a message, the first few only.
    pub fn summary(&self) -> String {
        const SHOWN: usize = 5;
        if self.0.is_empty() {
            return "it is empty".into();
        }
        let mut text = self
            .0
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if self.0.len() > SHOWN {
            text.push_str(&format!(" and {} more", self.0.len() - SHOWN));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_normalise() {
        let cases = [
            ("api.example.com", "api.example.com"),
            ("API.Example.COM", "api.example.com"),
            ("api.example.com.", "api.example.com"),
            ("*.example.com", "*.example.com"),
            ("*.Example.com.", "*.example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("*.bücher.example", "*.xn--bcher-kva.example"),
            ("api%2eexample.com", "api.example.com"),
            ("ａｐｉ.example.com", "api.example.com"),
            ("api.example。com", "api.example.com"),
            ("localhost", "localhost"),
        ];
        for (entry, want) in cases {
            let got = HostPattern::parse(entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(got.to_string(), want, "{entry}");
        }
    }

    #[test]
    fn bad_entries() {
        let cases = [
            ("", "empty"),
            ("*.", "empty"),
            ("127.0.0.1", "IP addresses"),
            ("0x7f.1", "IP addresses"),
            ("2130706433", "IP addresses"),
            ("[::1]", "IP addresses"),
            ("*.com", "top-level domain"),
            ("a.*.example.com", "leading"),
            ("*.*.example.com", "leading"),
            ("api..example.com", "empty label"),
            ("https://api.example.com", "without scheme or path"),
            ("api.example.com/x", "without scheme or path"),
            ("api example.com", "valid host name"),
            ("xn--a.example", "valid host name"),
            ("a_b.example.com", "'_'"),
            ("api.example.com:443", "without a port"),
            ("user@api.example.com", "valid host name"),
        ];
        for (entry, says) in cases {
            let err = HostPattern::parse(entry).expect_err(entry);
            assert!(err.contains(says), "{entry}: {err}");
        }
        let long = format!("{}.example.com", "a".repeat(64));
        assert!(HostPattern::parse(&long).unwrap_err().contains("longer than 63"));
    }

    #[test]
    fn matching() {
        let list = Allowlist::new(["api.shop.example", "*.cdn.example", "shop.example"]).unwrap();
        let cases = [
            ("api.shop.example", Some("api.shop.example")),
            ("shop.example", Some("shop.example")),
            ("x.api.shop.example", None),
            ("evilapi.shop.example", None),
            ("api.shop.example.evil", None),
            ("img.cdn.example", Some("*.cdn.example")),
            ("a.b.cdn.example", Some("*.cdn.example")),
            ("cdn.example", None),
            ("evilcdn.example", None),
            ("xcdn.example", None),
            (".cdn.example", None),
            ("example", None),
        ];
        for (host, want) in cases {
            assert_eq!(list.matching(host).map(ToString::to_string).as_deref(), want, "{host}");
        }
        assert!(Allowlist::default().matching("api.shop.example").is_none());
    }

    #[test]
    fn duplicates_after_normalising_are_dropped() {
        let list = Allowlist::new(["api.example.com", "API.example.com.", "*.example.com"]).unwrap();
        assert_eq!(list.patterns().len(), 2);
        assert_eq!(list.summary(), "api.example.com, *.example.com");
        let many = Allowlist::new((0..8).map(|i| format!("h{i}.example.com"))).unwrap();
        assert!(
            many.summary().ends_with("h4.example.com and 3 more"),
            "{}",
            many.summary()
        );
        assert_eq!(Allowlist::default().summary(), "it is empty");
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name("example.com.").unwrap(), "example.com");
        assert!(canonical_name(".").is_err());
        assert!(canonical_name("example.com..").is_err());
        assert!(canonical_name("Example.com").is_err());
        let name = vec!["a".repeat(63); 4].join(".");
        assert!(canonical_name(&name).unwrap_err().contains("characters long"));
    }
}
