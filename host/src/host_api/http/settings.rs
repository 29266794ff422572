//! The operator's outbound HTTP settings: the destination policy, the caps, static name answers
//! and extra CA certificates. Read from the `[http]` section of `operator.toml`:
//!
//! ```toml
//! [http]
//! allow_addresses = ["127.0.0.1"]            # private addresses opened (tests, on-site services)
//! plain_http_hosts = ["api.merchant.example"] # hosts where http:// is allowed
//! max_redirects = 5                           # 0: hand the 3xx to the plugin
//! ca_files = ["/etc/plaza/test-ca.pem"]       # CA certificates trusted besides the webpki roots
//! [http.resolve]
//! "api.merchant.example" = ["127.0.0.1"]      # static answers; still vetted like DNS answers
//! [http.limits]
//! request_body_bytes = 1048576
//! response_body_bytes = 4194304
//! request_timeout_ms = 10000
//! connect_timeout_ms = 3000
//! requests_per_event = 10
//! requests_per_minute = 60
//! concurrent_connections = 4
//! ```
//!
//! Everything is off (strict) by default.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::policy::{AddressAllow, HostPattern, HttpLimits, NetworkPolicy};
use super::resolve::canonical_lookup_key;

/// Connections open at once for the whole host, all installs together.
pub const HOST_CONNECTIONS: usize = 64;

/// What the HTTP client runs with.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// Which destinations may be reached.
    pub policy: NetworkPolicy,
    /// Size, time and count caps.
    pub limits: HttpLimits,
    /// Static answers for names (canonical lowercase names, no trailing dot), used instead of
    /// DNS; the addresses are still vetted.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    /// CA certificates (PEM) trusted besides the built-in webpki roots.
    pub extra_roots_pem: Vec<String>,
}

impl HttpSettings {
    /// Settings for tests against a loopback server: plain HTTP allowed for `hosts`, which
    /// resolve to 127.0.0.1, and 127.0.0.1 opened. Never the default anywhere.
    pub fn loopback_for_tests(hosts: &[&str]) -> HttpSettings {
        let loopback: IpAddr = [127, 0, 0, 1].into();
        HttpSettings {
            policy: NetworkPolicy {
                allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap_or_default(),
                http_hosts: hosts.iter().filter_map(|h| HostPattern::parse(h).ok()).collect(),
                ..NetworkPolicy::default()
            },
            resolve: hosts
                .iter()
                .map(|h| (canonical_lookup_key(h), vec![loopback]))
                .collect(),
            ..HttpSettings::default()
        }
    }

    /// Whether anything is looser than the defaults (shown as a warning and a metric).
    pub fn is_loosened(&self) -> bool {
        !self.policy.allow_addresses.is_empty()
            || !self.policy.http_hosts.is_empty()
            || !self.resolve.is_empty()
            || !self.extra_roots_pem.is_empty()
    }

    /// What `plaza status` and `plaza serve` show.
    pub fn summary(&self) -> HttpSummary {
        HttpSummary {
            policy: self.policy.summary(),
            static_answers: self
                .resolve
                .iter()
                .map(|(name, addrs)| {
                    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    format!("{name}={}", addrs.join(","))
                })
                .collect(),
            extra_ca_certificates: self.extra_roots_pem.len(),
            loosened: self.is_loosened(),
        }
    }
}

/// The outbound HTTP settings as the operator sees them.
#[derive(Debug, Clone, Serialize)]
pub struct HttpSummary {
    /// Scheme, address and redirect rules.
    #[serde(flatten)]
    pub policy: super::policy::PolicySummary,
    /// Names answered from the configuration instead of DNS.
    pub static_answers: Vec<String>,
    /// CA certificates trusted besides the webpki roots.
    pub extra_ca_certificates: usize,
    /// Whether anything is looser than the defaults.
    pub loosened: bool,
}

impl std::fmt::Display for HttpSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.policy)?;
        if !self.static_answers.is_empty() {
            write!(f, "; STATIC ANSWERS: {}", self.static_answers.join(" "))?;
        }
        if self.extra_ca_certificates > 0 {
            write!(f, "; {} extra CA certificate(s) trusted", self.extra_ca_certificates)?;
        }
        Ok(())
    }
}

/// The `[http]` section of `operator.toml`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `allow_addresses = ["127.0.0.1", "10.1.0.0/16"]`
    #[serde(default)]
    pub allow_addresses: Vec<String>,
    /// `plain_http_hosts = ["api.merchant.example"]`
    #[serde(default)]
    pub plain_http_hosts: Vec<String>,
    /// `max_redirects = 5`
    pub max_redirects: Option<u8>,
    /// `ca_files = ["/etc/plaza/ca.pem"]`
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// `[http.resolve]` `"name" = ["127.0.0.1"]`
    #[serde(default)]
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    /// `[http.limits]`
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `[http.limits]`: each unset value keeps its default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// `request_body_bytes = 1048576`
    pub request_body_bytes: Option<usize>,
    /// `response_body_bytes = 4194304`
    pub response_body_bytes: Option<usize>,
    /// `request_timeout_ms = 10000`
    pub request_timeout_ms: Option<u64>,
    /// `connect_timeout_ms = 3000`
    pub connect_timeout_ms: Option<u64>,
    /// `requests_per_event = 10`
    pub requests_per_event: Option<u32>,
    /// `requests_per_minute = 60`
    pub requests_per_minute: Option<u32>,
    /// `concurrent_connections = 4`
    pub concurrent_connections: Option<u32>,
}

impl HttpSection {
    /// Checks and converts the section; the error names the setting.
    pub fn into_settings(self) -> Result<HttpSettings, String> {
        let allow_addresses =
            AddressAllow::parse(&self.allow_addresses).map_err(|e| format!("http.allow_addresses: {e}"))?;
        let http_hosts = self
            .plain_http_hosts
            .iter()
            .map(|h| HostPattern::parse(h).map_err(|e| format!("http.plain_http_hosts: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut extra_roots_pem = Vec::new();
        for path in &self.ca_files {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("http.ca_files: cannot read {}: {e}", path.display()))?;
            super::connect::parse_roots(&pem).map_err(|e| format!("http.ca_files: {}: {e}", path.display()))?;
            extra_roots_pem.push(pem);
        }
        let mut resolve = BTreeMap::new();
        for (name, addrs) in self.resolve {
            let key = HostPattern::parse(&name)
                .ok()
                .filter(|p| matches!(p, HostPattern::Exact(_)))
                .ok_or_else(|| format!("http.resolve: {name:?} is not a host name"))?;
            if addrs.is_empty() {
                return Err(format!("http.resolve: {name:?} has no addresses"));
            }
            resolve.insert(key.to_string(), addrs);
        }
        let defaults = HttpLimits::default();
        let l = self.limits;
        let limits = HttpLimits {
            request_body_bytes: l.request_body_bytes.unwrap_or(defaults.request_body_bytes),
            response_body_bytes: l.response_body_bytes.unwrap_or(defaults.response_body_bytes),
            request_timeout: l
                .request_timeout_ms
                .map_or(defaults.request_timeout, Duration::from_millis),
            connect_timeout: l
                .connect_timeout_ms
                .map_or(defaults.connect_timeout, Duration::from_millis),
            requests_per_event: l.requests_per_event.unwrap_or(defaults.requests_per_event),
            requests_per_minute: l.requests_per_minute.unwrap_or(defaults.requests_per_minute),
            concurrent_connections: l
                .concurrent_connections
                .unwrap_or(defaults.concurrent_connections)
                .max(1),
        };
        Ok(HttpSettings {
            policy: NetworkPolicy {
                allow_addresses,
                http_hosts,
                max_redirects: self.max_redirects.unwrap_or(NetworkPolicy::default().max_redirects),
            },
            limits,
            resolve,
            extra_roots_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<HttpSettings, String> {
        toml::from_str::<HttpSection>(text)
            .map_err(|e| e.to_string())?
            .into_settings()
    }

    #[test]
    fn the_default_is_strict() {
        let s = section("").unwrap();
        assert!(!s.is_loosened());
        assert_eq!(
            s.summary().to_string(),
            "HTTPS only; private addresses blocked; up to 5 redirects, each re-checked"
        );
    }

    #[test]
    fn loosened_settings_are_spelled_out() {
        let s = section(
            "allow_addresses = [\"127.0.0.1\"]\nplain_http_hosts = [\"Merchant.Test\"]\n[resolve]\n\"merchant.test\" = [\"127.0.0.1\"]\n[limits]\nrequests_per_minute = 5\n",
        )
        .unwrap();
        assert!(s.is_loosened());
        assert_eq!(s.limits.requests_per_minute, 5);
        assert_eq!(
            s.summary().to_string(),
            "plain HTTP allowed for merchant.test; PRIVATE ADDRESSES ALLOWED: 127.0.0.1/32; up to 5 redirects, each re-checked; STATIC ANSWERS: merchant.test=127.0.0.1"
        );
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let e = section("allow_addresses = [\"169.254.169.254\"]").unwrap_err();
        assert!(e.starts_with("http.allow_addresses: "), "{e}");
        let e = section("plain_http_hosts = [\"10.0.0.1\"]").unwrap_err();
        assert!(e.starts_with("http.plain_http_hosts: "), "{e}");
        let e = section("ca_files = [\"/nonexistent/ca.pem\"]").unwrap_err();
        assert!(e.starts_with("http.ca_files: cannot read /nonexistent/ca.pem"), "{e}");
        let e = section("[resolve]\n\"*.x.example\" = [\"127.0.0.1\"]").unwrap_err();
        assert!(e.starts_with("http.resolve: "), "{e}");
        assert!(section("surprise = 1").unwrap_err().contains("unknown field"));
    }
}
