//! From the URL a plugin passed to the address the host dials.
//!
//! [`Target::parse`] checks the URL against the install's allowlist and the operator's
//! [`NetworkPolicy`], before any DNS lookup. The connector then resolves
//! [`Target::lookup_name`] once and hands the answers to [`Target::vet`], which checks every
//! address and returns the [`Destination`]: the only value a connection can be made from, holding
//! the vetted socket addresses. Nothing resolves the name a second time, so a DNS answer that
//! changes between check and connect (rebinding) has nothing to change.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use url::{Host, Position, Url};

use super::address::{classify, vet, AddressAllow};
use super::allowlist::{canonical_name, Allowlist, HostPattern};
use super::error::{shown, FetchError};

/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 8 << 10;

/// Most redirects followed by default, each checked like the first request.
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;

/// Ports browsers refuse to fetch from (the WHATWG Fetch standard's "bad ports"): other
/// protocols' services, which a crafted HTTP request could talk to.
pub const BLOCKED_PORTS: &[u16] = &[
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
    111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
    540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
    6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
];

/// Host names that are never reachable, whatever the allowlist says, before any lookup.
fn blocked_name(host: &str) -> Option<&'static str> {
    const METADATA: &[&str] = &[
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data.ec2.internal",
    ];
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("\"localhost\" names are loopback (RFC 6761)");
    }
    if !host.contains('.') {
        return Some("a single-label name is resolved through the host's search domains");
    }
    if METADATA.contains(&host) {
        return Some("it is a cloud metadata service");
    }
    None
}

/// What the operator decides for the whole host. The default is the strict one: HTTPS only, no
/// private addresses, redirects followed and re-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Private, loopback or otherwise blocked addresses the operator opened (e.g. a loopback
    /// test server). Empty by default.
    pub allow_addresses: AddressAllow,
    /// Hosts plain `http://` may be used for. Empty by default: HTTPS only.
    pub http_hosts: Vec<HostPattern>,
    /// Redirects followed per request; each is checked like a new request. 0 hands the `3xx` to
    /// the plugin.
    pub max_redirects: u8,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            allow_addresses: AddressAllow::none(),
            http_hosts: Vec::new(),
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }
}

impl NetworkPolicy {
    fn allows_http(&self, host: &str) -> bool {
        self.http_hosts.iter().any(|p| p.matches(host))
    }

    /// What `plaza status` shows of the policy: every way it is looser than the default.
    pub fn summary(&self) -> PolicySummary {
        PolicySummary {
            https_only: self.http_hosts.is_empty(),
            http_allowed_for: self.http_hosts.iter().map(ToString::to_string).collect(),
            private_addresses_allowed: self.allow_addresses.entries().iter().map(ToString::to_string).collect(),
            max_redirects: self.max_redirects,
        }
    }
}

/// The operator's network policy as `plaza status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// True when no host may use plain `http://`.
    pub https_only: bool,
    /// Hosts that may use plain `http://`.
    pub http_allowed_for: Vec<String>,
    /// Addresses opened despite the private-range rules (empty by default).
    pub private_addresses_allowed: Vec<String>,
    /// Redirects followed per request.
    pub max_redirects: u8,
}

impl fmt::Display for PolicySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.https_only {
            f.write_str("HTTPS only")?;
        } else {
            write!(f, "plain HTTP allowed for {}", self.http_allowed_for.join(", "))?;
        }
        if self.private_addresses_allowed.is_empty() {
            f.write_str("; private addresses blocked")?;
        } else {
            write!(
                f,
                "; PRIVATE ADDRESSES ALLOWED: {}",
                self.private_addresses_allowed.join(", ")
            )?;
        }
        match self.max_redirects {
            0 => f.write_str("; redirects not followed"),
            n => write!(f, "; up to {n} redirects, each re-checked"),
        }
    }
}

/// A URL that passed every check that needs no DNS: ready to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    host: String,
    port: u16,
    https: bool,
    pattern: HostPattern,
}

impl Target {
    /// Checks a URL a plugin passed: an absolute `https://` URL (`http://` where the operator
    /// allows it) without user info, whose host name — normalised: percent-escapes decoded,
    /// IDNA, lowercase, no trailing dot — is on the allowlist and is not a name that is never
    /// reachable, on a port that is not a non-HTTP service's.
    pub fn parse(input: &str, allowlist: &Allowlist, policy: &NetworkPolicy) -> Result<Target, FetchError> {
        let malformed = |problem: &str| FetchError::Malformed {
            url: shown(input),
            problem: problem.to_string(),
        };
        if input.len() > MAX_URL_BYTES {
            return Err(malformed(&format!("it is longer than {MAX_URL_BYTES} bytes")));
        }
        if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(malformed("it contains whitespace or control characters"));
        }
        if input.contains("{{secret:") {
            return Err(malformed("secret placeholders are only filled in header values"));
        }
        let Some((scheme, rest)) = input.split_once(':') else {
            return Err(malformed("it is not an absolute URL (https://host/path)"));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
                return Err(malformed("it is not an absolute URL (https://host/path)"));
            }
            return Err(FetchError::UnsupportedScheme { scheme: shown(&scheme) });
        }
        // Exactly two slashes: the WHATWG parser would also take `https:/host`, `https:\\host` and
        // `https:///host`, spellings other parsers read differently.
        if !rest.starts_with("//") || rest[2..].starts_with(['/', '\\']) {
            return Err(malformed("it is not an absolute URL (https://host/path)"));
        }
        let url = Url::parse(input).map_err(|e| malformed(&e.to_string()))?;
        Target::from_url(url, allowlist, policy)
    }

    /// The checks of [`Target::parse`] that apply to an already parsed URL (a redirect's).
    pub(crate) fn from_url(mut url: Url, allowlist: &Allowlist, policy: &NetworkPolicy) -> Result<Target, FetchError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(FetchError::UnsupportedScheme { scheme: shown(other) }),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::UserInfo {
                host: shown(url.host_str().unwrap_or("")),
            });
        }
        let host = match url.host() {
            Some(Host::Domain(domain)) => canonical_name(domain).map_err(|problem| FetchError::Malformed {
                url: shown(url.as_str()),
                problem,
            })?,
            Some(Host::Ipv4(v4)) => return Err(ip_literal(IpAddr::V4(v4))),
            Some(Host::Ipv6(v6)) => return Err(ip_literal(IpAddr::V6(v6))),
            None => {
                return Err(FetchError::Malformed {
                    url: shown(url.as_str()),
                    problem: "it has no host".into(),
                })
            }
        };
        if let Some(why) = blocked_name(&host) {
            return Err(FetchError::BlockedName { host, why });
        }
        let Some(pattern) = allowlist.matching(&host).cloned() else {
            return Err(FetchError::NotAllowlisted {
                host,
                allowlist: allowlist.summary(),
            });
        };
        if !https && !policy.allows_http(&host) {
            return Err(FetchError::InsecureScheme { host });
        }
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        if port == 0 {
            return Err(FetchError::PortZero { host });
        }
        if BLOCKED_PORTS.contains(&port) {
            return Err(FetchError::BlockedPort { host, port });
        }
        // The canonical form is what is sent and shown: no trailing dot, no fragment.
        url.set_fragment(None);
        if url.host_str() != Some(host.as_str()) {
            url.set_host(Some(&host)).map_err(|e| FetchError::Malformed {
                url: shown(url.as_str()),
                problem: e.to_string(),
            })?;
        }
        Ok(Target {
            url,
            host,
            port,
            https,
            pattern,
        })
    }

    /// The normalised URL (no fragment, canonical host).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The canonical host name: what the `Host` header and TLS SNI carry.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when the URL names none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the request goes over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The allowlist entry that let the host through (for audit entries).
    pub fn allowed_by(&self) -> &HostPattern {
        &self.pattern
    }

    /// The name to resolve: fully qualified (`api.example.com.`), so the resolver's search
    /// domains never turn it into an internal name.
    pub fn lookup_name(&self) -> String {
        format!("{}.", self.host)
    }

    /// Whether `other` has the same scheme, host and port (credentials may follow a redirect
    /// only within one origin).
    pub fn same_origin(&self, other: &Target) -> bool {
        (self.https, &self.host, self.port) == (other.https, &other.host, other.port)
    }

    /// Checks every address the lookup of [`Target::lookup_name`] returned; if any is blocked
    /// the request is refused (a name that mixes public and private answers is not trusted).
    /// The result carries exactly these addresses, deduplicated, in order.
    pub fn vet(
        self,
        resolved: impl IntoIterator<Item = IpAddr>,
        policy: &NetworkPolicy,
    ) -> Result<Destination, FetchError> {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in resolved {
            if let Err(blocked) = vet(addr, &policy.allow_addresses) {
                return Err(FetchError::BlockedAddress {
                    host: self.host,
                    blocked,
                });
            }
            let socket = SocketAddr::new(addr, self.port);
            if !addrs.contains(&socket) {
                addrs.push(socket);
            }
        }
        if addrs.is_empty() {
            return Err(FetchError::NoAddresses { host: self.host });
        }
        Ok(Destination { target: self, addrs })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

fn ip_literal(addr: IpAddr) -> FetchError {
    match classify(addr) {
        Some(blocked) => FetchError::BlockedAddress {
            host: addr.to_string(),
            blocked,
        },
        None => FetchError::IpLiteral { addr },
    }
}

/// A request's destination after every check: the only thing the connector accepts. It dials
/// one of [`Destination::addrs`] and nothing else, sends [`Destination::host_header`] and, over
/// TLS, verifies the certificate for [`Destination::server_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    target: Target,
    addrs: Vec<SocketAddr>,
}

impl Destination {
    /// The vetted socket addresses, in the resolver's order; never empty.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The checked request target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The TLS server name (SNI and certificate check): the host name from the URL.
    pub fn server_name(&self) -> &str {
        &self.target.host
    }

    /// The `Host` header: the name, and the port when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.target.https { 443 } else { 80 };
        if self.target.port == default {
            self.target.host.clone()
        } else {
            format!("{}:{}", self.target.host, self.target.port)
        }
    }

    /// The request line's target: path and query (`/orders?id=7`).
    pub fn path_and_query(&self) -> &str {
        &self.target.url[Position::BeforePath..Position::AfterQuery]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist() -> Allowlist {
        Allowlist::new([
            "api.shop.example",
            "*.cdn.example",
            "xn--bcher-kva.example",
            "merchant.test",
        ])
        .unwrap()
    }

    fn testing_policy() -> NetworkPolicy {
        NetworkPolicy {
            allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap(),
            http_hosts: vec![HostPattern::parse("merchant.test").unwrap()],
            max_redirects: 5,
        }
    }

    /// What a URL becomes: `Ok((normalised URL, host, port))` or `Err(rule)`.
    type Want = Result<(&'static str, &'static str, u16), &'static str>;

    fn check(input: &str, policy: &NetworkPolicy) -> Result<(String, String, u16), (String, FetchError)> {
        Target::parse(input, &allowlist(), policy)
            .map(|t| (t.url().to_string(), t.host().to_string(), t.port()))
            .map_err(|e| (e.rule().to_string(), e))
    }

    const STRICT: &[(&str, Want)] = &[
        // Accepted, normalised.
        (
            "https://api.shop.example/orders?id=7",
            Ok(("https://api.shop.example/orders?id=7", "api.shop.example", 443)),
        ),
        (
            "HTTPS://API.Shop.Example/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example./x",
            Ok(("https://api.shop.example/x", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example:443/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example:8443/",
            Ok(("https://api.shop.example:8443/", "api.shop.example", 8443)),
        ),
        (
            "https://api.shop.example/#frag",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api%2eshop%2eexample/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://%61pi.shop.example/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://ａｐｉ.shop.example/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example。/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://img.cdn.example/a.png",
            Ok(("https://img.cdn.example/a.png", "img.cdn.example", 443)),
        ),
        (
            "https://BÜCHER.example/",
            Ok(("https://xn--bcher-kva.example/", "xn--bcher-kva.example", 443)),
        ),
        (
            "https://xn--bcher-kva.example/",
            Ok(("https://xn--bcher-kva.example/", "xn--bcher-kva.example", 443)),
        ),
        (
            "https://api.shop.example:/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        // Delimiter tricks: the host is what the WHATWG parser says it is, and so is the path.
        (
            "https://api.shop.example\\@evil.example/",
            Ok(("https://api.shop.example/@evil.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example#@evil.example/",
            Ok(("https://api.shop.example/", "api.shop.example", 443)),
        ),
        (
            "https://api.shop.example?@evil.example/",
            Ok(("https://api.shop.example/?@evil.example/", "api.shop.example", 443)),
        ),
        ("https://evil.example#@api.shop.example/", Err("not-allowlisted")),
        ("https://evil.example?@api.shop.example/", Err("not-allowlisted")),
        ("https://evil.example\\@api.shop.example/", Err("not-allowlisted")),
        ("https://api.shop.example:443@evil.example/", Err("userinfo")),
        // Not on the allowlist.
        ("https://evil.example/", Err("not-allowlisted")),
        ("https://cdn.example/", Err("not-allowlisted")),
        ("https://api.shop.example.evil.example/", Err("not-allowlisted")),
        ("https://evilapi.shop.example/", Err("not-allowlisted")),
        ("https://аpi.shop.example/", Err("not-allowlisted")), // Cyrillic 'а'
        ("https://api.shop.example%2eevil.example/", Err("not-allowlisted")),
        // IP literals, in every spelling: blocked ones name their range, others are not names.
        ("http://127.0.0.1/", Err("blocked-address")),
        ("http://127.1/", Err("blocked-address")),
        ("http://0177.0.0.1/", Err("blocked-address")),
        ("http://0x7f.1/", Err("blocked-address")),
        ("http://0x7F000001/", Err("blocked-address")),
        ("http://2130706433/", Err("blocked-address")),
        ("http://017700000001/", Err("blocked-address")),
        ("http://127.0.0.1./", Err("blocked-address")),
        ("http://%31%32%37.0.0.1/", Err("blocked-address")),
        ("http://１２７.０.０.１/", Err("blocked-address")),
        ("http://0/", Err("blocked-address")),
        ("http://169.254.169.254/latest/meta-data/", Err("blocked-address")),
        ("http://0xa9fea9fe/", Err("blocked-address")),
        ("http://[::1]/", Err("blocked-address")),
        ("http://[::]/", Err("blocked-address")),
        ("http://[::ffff:127.0.0.1]/", Err("blocked-address")),
        ("http://[::ffff:7f00:1]/", Err("blocked-address")),
        ("http://[0:0:0:0:0:ffff:a9fe:a9fe]/", Err("blocked-address")),
        ("http://[64:ff9b::7f00:1]/", Err("blocked-address")),
        ("http://[2002:a9fe:a9fe::]/", Err("blocked-address")),
        ("http://[fe80::1]/", Err("blocked-address")),
        ("http://[fd00:ec2::254]/", Err("blocked-address")),
        ("https://8.8.8.8/", Err("ip-literal")),
        ("http://0127.0.0.1/", Err("ip-literal")), // octal 0127 is 87: 87.0.0.1
        ("http://4294967296/", Err("malformed-url")),
        ("http://0x100000000/", Err("malformed-url")),
        ("http://256.0.0.1/", Err("malformed-url")),
        ("https://[2606:4700:4700::1111]/", Err("ip-literal")),
        // Zone ids and other broken IPv6 are not URLs.
        ("http://[fe80::1%25eth0]/", Err("malformed-url")),
        ("http://[fe80::1%eth0]/", Err("malformed-url")),
        ("http://[::1/", Err("malformed-url")),
        // Names that are never reachable.
        ("http://localhost/", Err("blocked-name")),
        ("http://LOCALHOST./", Err("blocked-name")),
        ("http://%6c%6fcalhost/", Err("blocked-name")),
        ("http://app.localhost/", Err("blocked-name")),
        ("http://metadata/", Err("blocked-name")),
        ("http://intranet/", Err("blocked-name")),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            Err("blocked-name"),
        ),
        ("http://METADATA.google.internal./", Err("blocked-name")),
        // User info: the real host is after the '@'.
        ("http://api.shop.example@169.254.169.254/", Err("userinfo")),
        ("https://user:pass@api.shop.example/", Err("userinfo")),
        ("https://:pass@api.shop.example/", Err("userinfo")),
        ("https://api.shop.example%40evil.example/", Err("malformed-url")),
        // Schemes.
        ("http://api.shop.example/", Err("insecure-http")),
        ("ftp://api.shop.example/", Err("scheme")),
        ("file:///etc/passwd", Err("scheme")),
        ("gopher://api.shop.example:70/", Err("scheme")),
        ("javascript:alert(1)", Err("scheme")),
        ("data:text/plain,hi", Err("scheme")),
        // Not absolute, or not URLs at all.
        ("/orders", Err("malformed-url")),
        ("api.shop.example/orders", Err("malformed-url")),
        ("//api.shop.example/", Err("malformed-url")),
        ("https:api.shop.example", Err("malformed-url")),
        ("https:/api.shop.example", Err("malformed-url")),
        ("https:\\\\api.shop.example\\", Err("malformed-url")),
        ("", Err("malformed-url")),
        ("https://", Err("malformed-url")),
        ("https:///x", Err("malformed-url")),
        ("https://api.shop.example/a b", Err("malformed-url")),
        ("https://api.shop.example/\n", Err("malformed-url")),
        (" https://api.shop.example/", Err("malformed-url")),
        ("https://api.shop\texample/", Err("malformed-url")),
        ("https://api..shop.example/", Err("malformed-url")),
        ("https://xn--a.example/", Err("malformed-url")),
        ("https://ex%00ample.com/", Err("malformed-url")),
        ("https://api.shop.example:99999/", Err("malformed-url")),
        ("https://api.shop.example:44x/", Err("malformed-url")),
        ("https://api.shop.example/?k={{secret:key}}", Err("malformed-url")),
        // Ports.
        ("https://api.shop.example:0/", Err("port")),
        ("https://api.shop.example:25/", Err("blocked-port")),
        ("https://api.shop.example:22/", Err("blocked-port")),
        ("https://api.shop.example:6667/", Err("blocked-port")),
    ];

    #[test]
    fn strict_policy_table() {
        let policy = NetworkPolicy::default();
        for &(input, want) in STRICT {
            let got = check(input, &policy);
            match (want, &got) {
                (Ok((url, host, port)), Ok(got)) => {
                    assert_eq!((got.0.as_str(), got.1.as_str(), got.2), (url, host, port), "{input}")
                }
                (Err(rule), Err((got_rule, e))) => assert_eq!(got_rule, rule, "{input}: {e}"),
                _ => panic!("{input}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn too_long_urls_are_refused() {
        let url = format!("https://api.shop.example/{}", "a".repeat(MAX_URL_BYTES));
        let e = Target::parse(&url, &allowlist(), &NetworkPolicy::default()).unwrap_err();
        assert_eq!(e.rule(), "malformed-url");
        assert!(e.to_string().len() < 600, "the message is bounded");
    }

    #[test]
    fn plain_http_only_where_the_operator_allows_it() {
        let policy = testing_policy();
        let ok = Target::parse("http://merchant.test:41234/orders", &allowlist(), &policy).unwrap();
        assert_eq!((ok.is_https(), ok.port()), (false, 41234));
        let ok = Target::parse("http://merchant.test/", &allowlist(), &policy).unwrap();
        assert_eq!(ok.port(), 80);
        let e = Target::parse("http://api.shop.example/", &allowlist(), &policy).unwrap_err();
        assert_eq!(e.rule(), "insecure-http");
        // Operator HTTP permission does not put a host on an install's allowlist.
        let policy = NetworkPolicy {
            http_hosts: vec![HostPattern::parse("other.test").unwrap()],
            ..NetworkPolicy::default()
        };
        let e = Target::parse("http://other.test/", &allowlist(), &policy).unwrap_err();
        assert_eq!(e.rule(), "not-allowlisted");
    }

    #[test]
    fn the_operator_allow_list_does_not_open_ip_literals_or_names() {
        let policy = testing_policy();
        for url in ["http://127.0.0.1:8080/", "http://localhost:8080/"] {
            assert!(Target::parse(url, &allowlist(), &policy).is_err(), "{url}");
        }
    }

    #[test]
    fn messages_name_the_host_and_rule() {
        let policy = NetworkPolicy::default();
        let msg = |url: &str| Target::parse(url, &allowlist(), &policy).unwrap_err().to_string();
        assert_eq!(
            msg("https://evil.example/"),
            "evil.example is not on this install's allowlist (api.shop.example, *.cdn.example, \
             xn--bcher-kva.example, merchant.test)"
        );
        assert_eq!(
            msg("http://api.shop.example@169.254.169.254/"),
            "URLs may not carry a user name or password (\"user:pass@\"); this one would go to \
             169.254.169.254, not to the name before the '@'"
        );
        assert_eq!(
            msg("http://0x7f.1/"),
            "127.0.0.1 is a loopback address (127.0.0.0/8, RFC 1122); blocked unless the operator allows it"
        );
        assert_eq!(
            msg("http://[::ffff:169.254.169.254]/"),
            "::ffff:169.254.169.254 (the IPv4-mapped form of 169.254.169.254) is a cloud metadata service \
             address (169.254.169.254/32, link-local)"
        );
        assert_eq!(
            msg("http://LOCALHOST./"),
            "localhost is never reachable: \"localhost\" names are loopback (RFC 6761)"
        );
        assert_eq!(
            msg("http://api.shop.example/"),
            "plain http:// is not allowed for api.shop.example; use https:// (the operator allows http:// \
             only for chosen hosts)"
        );
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn resolution_is_vetted() {
        let strict = NetworkPolicy::default();
        let testing = testing_policy();
        // (url, resolved addresses, policy, Ok(dialled) or Err(rule))
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            &'a NetworkPolicy,
            Result<&'a [&'a str], &'a str>,
        );
        let cases: &[Case] = &[
            (
                "https://api.shop.example/",
                &["93.184.215.14"],
                &strict,
                Ok(&["93.184.215.14:443"]),
            ),
            (
                "https://api.shop.example:8443/",
                &[
                    "93.184.215.14",
                    "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                    "93.184.215.14",
                ],
                &strict,
                Ok(&["93.184.215.14:8443", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443"]),
            ),
            (
                "https://api.shop.example/",
                &["127.0.0.1"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["93.184.215.14", "10.0.0.1"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["169.254.169.254"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["::ffff:127.0.0.1"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["64:ff9b::a9fe:a9fe"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["2002:0a00:0001::1"],
                &strict,
                Err("blocked-address"),
            ),
            (
                "https://api.shop.example/",
                &["fd00::1"],
                &strict,
                Err("blocked-address"),
            ),
            ("https://api.shop.example/", &["::"], &strict, Err("blocked-address")),
            ("https://api.shop.example/", &[], &strict, Err("no-addresses")),
            // The operator's allow list opens exactly what it lists.
            (
                "http://merchant.test:41234/",
                &["127.0.0.1"],
                &testing,
                Ok(&["127.0.0.1:41234"]),
            ),
            (
                "http://merchant.test:41234/",
                &["::ffff:127.0.0.1"],
                &testing,
                Ok(&["[::ffff:127.0.0.1]:41234"]),
            ),
            (
                "http://merchant.test:41234/",
                &["127.0.0.2"],
                &testing,
                Err("blocked-address"),
            ),
            (
                "http://merchant.test:41234/",
                &["::1"],
                &testing,
                Err("blocked-address"),
            ),
            (
                "http://merchant.test/",
                &["169.254.169.254"],
                &testing,
                Err("blocked-address"),
            ),
        ];
        for (url, resolved, policy, want) in cases {
            let target = Target::parse(url, &allowlist(), policy).unwrap();
            let got = target.vet(ips(resolved), policy);
            match (want, got) {
                (Ok(want), Ok(dest)) => {
                    let got: Vec<String> = dest.addrs().iter().map(ToString::to_string).collect();
                    assert_eq!(got, *want, "{url} {resolved:?}");
                }
                (Err(rule), Err(e)) => assert_eq!(e.rule(), *rule, "{url} {resolved:?}: {e}"),
                (want, got) => panic!("{url} {resolved:?}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_blocked_answer_names_the_host_and_the_address() {
        let target = Target::parse("https://api.shop.example/", &allowlist(), &NetworkPolicy::default()).unwrap();
        let e = target
            .vet(ips(&["93.184.215.14", "169.254.169.254"]), &NetworkPolicy::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "api.shop.example resolves to 169.254.169.254, which is a cloud metadata service address \
             (169.254.169.254/32, link-local)"
        );
    }

    #[test]
    fn destination_parts() {
        let policy = NetworkPolicy::default();
        let t = Target::parse("https://API.shop.example.:8443/a/b?x=1&y=%20#f", &allowlist(), &policy).unwrap();
        assert_eq!(t.lookup_name(), "api.shop.example.");
        assert_eq!(t.allowed_by().to_string(), "api.shop.example");
        let d = t.vet(ips(&["93.184.215.14"]), &policy).unwrap();
        assert_eq!(d.server_name(), "api.shop.example");
        assert_eq!(d.host_header(), "api.shop.example:8443");
        assert_eq!(d.path_and_query(), "/a/b?x=1&y=%20");
        let t = Target::parse("https://img.cdn.example", &allowlist(), &policy).unwrap();
        assert_eq!(t.allowed_by().to_string(), "*.cdn.example");
        let d = t.vet(ips(&["93.184.215.14"]), &policy).unwrap();
        assert_eq!((d.host_header().as_str(), d.path_and_query()), ("img.cdn.example", "/"));
    }

    #[test]
    fn origins() {
        let p = testing_policy();
        let t = |u: &str| Target::parse(u, &allowlist(), &p).unwrap();
        assert!(t("https://api.shop.example/a").same_origin(&t("https://API.shop.example.:443/b")));
        assert!(!t("https://api.shop.example/").same_origin(&t("https://api.shop.example:8443/")));
        assert!(!t("https://a.cdn.example/").same_origin(&t("https://b.cdn.example/")));
        assert!(!t("https://merchant.test/").same_origin(&t("http://merchant.test/")));
    }

    #[test]
    fn status_summary() {
        let strict = NetworkPolicy::default().summary();
        assert!(strict.https_only && strict.private_addresses_allowed.is_empty());
        assert_eq!(
            strict.to_string(),
            "HTTPS only; private addresses blocked; up to 5 redirects, each re-checked"
        );
        let testing = testing_policy().summary();
        assert_eq!(
            testing.to_string(),
            "plain HTTP allowed for merchant.test; PRIVATE ADDRESSES ALLOWED: 127.0.0.1/32; up to 5 \
             redirects, each re-checked"
        );
        let json = serde_json::to_value(&testing).unwrap();
        assert_eq!(json["private_addresses_allowed"][0], "127.0.0.1/32");
        let off = NetworkPolicy {
            max_redirects: 0,
            ..NetworkPolicy::default()
        };
        assert!(off.summary().to_string().ends_with("redirects not followed"));
    }
}
