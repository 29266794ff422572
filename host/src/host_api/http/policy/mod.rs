//! The destination policy of `http:fetch`: which requests a plugin may make, and which addresses
//! the host may connect to for them. Pure: no I/O, no clock; the client (see `docs/http.md`)
//! does the lookups and the connecting, in this order:
//!
//! 1. [`headers::check`] the plugin's headers, [`HttpLimits::check_request_body`] its body and
//!    [`HttpLimits::timeout`] its timeout;
//! 2. [`Target::parse`] the URL against the install's [`Allowlist`] and the operator's
//!    [`NetworkPolicy`] (scheme, user info, normalised host name, blocked names, port);
//! 3. resolve [`Target::lookup_name`] once, and [`Target::vet`] every answer with [`vet`] (the
//!    special-purpose ranges in IPv4, IPv6 and IPv4-in-IPv6 forms, minus what the operator
//!    opened); the [`Destination`] it returns holds the only socket addresses that may be dialled;
//! 4. [`Secrets::fill`] the header placeholders for that destination;
//! 5. on a `3xx`, [`redirect::follow`] checks the `Location` like a new request, and the chain
//!    goes back to step 3.
//!
//! Every refusal is a [`FetchError`] naming the host and the rule, with the `host-error` the
//! plugin receives ([`FetchError::to_host_error`]) and a rule code for audit entries
//! ([`FetchError::rule`]).

pub mod address;
pub mod allowlist;
pub mod error;
pub mod headers;
pub mod limits;
pub mod redirect;
pub mod secrets;
pub mod target;

pub use address::{classify, vet, AddressAllow, Blocked};
pub use allowlist::{Allowlist, HostPattern};
pub use error::{FetchError, Kind};
pub use limits::{CapError, HttpLimits};
pub use redirect::{follow, Redirect};
pub use secrets::{Redactor, SecretName, SecretValue, Secrets};
pub use target::{Destination, NetworkPolicy, PolicySummary, Target};

#[cfg(test)]
mod tests {
    //! The whole path, for the forms an attacker would try first.

    use std::net::IpAddr;

    use super::*;
    use crate::wit::latest::plaza::plugin::http::Method;
    use crate::wit::latest::HostError;

    fn allowlist() -> Allowlist {
        Allowlist::new(["api.shop.example", "*.shop.example"]).unwrap()
    }

    /// Parses and vets `url` as if DNS answered `dns` for any name. `Ok` is the dialled address.
    fn fetch_to(url: &str, dns: &[&str], policy: &NetworkPolicy) -> Result<Vec<String>, FetchError> {
        let answers: Vec<IpAddr> = dns.iter().map(|a| a.parse().unwrap()).collect();
        let dest = Target::parse(url, &allowlist(), policy)?.vet(answers, policy)?;
        Ok(dest.addrs().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn ssrf_forms_end_to_end() {
        let strict = NetworkPolicy::default();
        let public = &["93.184.215.14"][..];
        // (URL, DNS answers, expected host-error kind or None when it may go out)
        let cases: &[(&str, &[&str], Option<Kind>)] = &[
            ("https://api.shop.example/", public, None),
            ("https://API.SHOP.EXAMPLE./", public, None),
            ("https://pay.shop.example/", public, None),
            // Allowlisted name, private answer (DNS rebinding's second answer, or a hostile zone).
            ("https://api.shop.example/", &["127.0.0.1"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["::ffff:127.0.0.1"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["::1"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["169.254.169.254"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["fd00:ec2::254"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["100.100.100.200"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["0.0.0.0"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["2002:7f00:1::"], Some(Kind::Denied)),
            ("https://api.shop.example/", &["64:ff9b::10.0.0.1"], Some(Kind::Denied)),
            (
                "https://api.shop.example/",
                &["93.184.215.14", "192.168.0.1"],
                Some(Kind::Denied),
            ),
            ("https://api.shop.example/", &[], Some(Kind::Unavailable)),
            // IP literals in every spelling.
            ("http://127.1/", public, Some(Kind::Denied)),
            ("http://0177.0.0.1/", public, Some(Kind::Denied)),
            ("http://0x7f.1/", public, Some(Kind::Denied)),
            ("http://2130706433/", public, Some(Kind::Denied)),
            ("http://[::ffff:127.0.0.1]/", public, Some(Kind::Denied)),
            ("http://[::ffff:a9fe:a9fe]/", public, Some(Kind::Denied)),
            ("http://[fe80::1%25lo]/", public, Some(Kind::Invalid)),
            // Names.
            ("http://LOCALHOST./", public, Some(Kind::Denied)),
            ("http://metadata.google.internal/", public, Some(Kind::Denied)),
            ("https://xn--80ak6aa92e.com/", public, Some(Kind::Denied)),
            ("https://xn--bcher-kva.example/", public, Some(Kind::Denied)),
            // The '@' trick.
            ("http://api.shop.example@169.254.169.254/", public, Some(Kind::Invalid)),
            // Schemes and shapes.
            ("http://api.shop.example/", public, Some(Kind::Denied)),
            ("file:///etc/passwd", public, Some(Kind::Invalid)),
            ("api.shop.example", public, Some(Kind::Invalid)),
        ];
        for (url, dns, want) in cases {
            let got = fetch_to(url, dns, &strict);
            match (want, &got) {
                (None, Ok(_)) => {}
                (Some(kind), Err(e)) => {
                    assert_eq!(e.kind(), *kind, "{url} {dns:?}: {e}");
                    let host_error = e.to_host_error();
                    let matches = match kind {
                        Kind::Denied => matches!(&host_error, HostError::Denied(t) if t.starts_with("http:fetch: ")),
                        Kind::Invalid => matches!(host_error, HostError::Invalid(_)),
                        Kind::Unavailable => matches!(host_error, HostError::Unavailable(_)),
                    };
                    assert!(matches, "{url}: {host_error:?}");
                }
                _ => panic!("{url} {dns:?}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_loopback_test_server_needs_both_operator_settings() {
        let url = "http://merchant.shop.example:41234/orders";
        let loopback = &["127.0.0.1"][..];
        let strict = NetworkPolicy::default();
        assert_eq!(fetch_to(url, loopback, &strict).unwrap_err().rule(), "insecure-http");
        let http_only = NetworkPolicy {
            http_hosts: vec![HostPattern::parse("merchant.shop.example").unwrap()],
            ..NetworkPolicy::default()
        };
        assert_eq!(
            fetch_to(url, loopback, &http_only).unwrap_err().rule(),
            "blocked-address"
        );
        let testing = NetworkPolicy {
            allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap(),
            ..http_only
        };
        assert_eq!(fetch_to(url, loopback, &testing).unwrap(), ["127.0.0.1:41234"]);
        // The opening is for that address only.
        assert_eq!(
            fetch_to(url, &["10.0.0.1"], &testing).unwrap_err().rule(),
            "blocked-address"
        );
    }

    #[test]
    fn a_redirect_chain_is_vetted_hop_by_hop() {
        let policy = NetworkPolicy::default();
        let list = allowlist();
        let first = Target::parse("https://api.shop.example/pay", &list, &policy).unwrap();
        let dest = first.clone().vet(["93.184.215.14".parse().unwrap()], &policy).unwrap();
        // Hop 1: same origin, fine.
        let hop = follow(dest.target(), Method::Post, 307, Some("/pay/v2"), 0, &list, &policy)
            .unwrap()
            .unwrap();
        assert!(hop.same_origin && hop.keep_body && hop.method == Method::Post);
        let dest = hop.target.vet(["93.184.215.14".parse().unwrap()], &policy).unwrap();
        // Hop 2: another allowlisted name whose DNS now points inside.
        let hop = follow(
            dest.target(),
            Method::Post,
            302,
            Some("https://cdn.shop.example/x"),
            hop.hops,
            &list,
            &policy,
        )
        .unwrap()
        .unwrap();
        assert!(!hop.same_origin && !hop.keep_body && hop.method == Method::Get);
        let e = hop.target.vet(["10.1.2.3".parse().unwrap()], &policy).unwrap_err();
        assert_eq!(e.rule(), "blocked-address");
        // And a Location that names the metadata address outright.
        let e = follow(
            &first,
            Method::Get,
            301,
            Some("http://169.254.169.254/"),
            0,
            &list,
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.rule(), "redirect-downgrade");
        let e = follow(
            &first,
            Method::Get,
            301,
            Some("https://169.254.169.254/"),
            0,
            &list,
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.rule(), "blocked-address");
        assert!(
            e.to_string().starts_with(
                "redirect from https://api.shop.example/pay to https://169.254.169.254/: 169.254.169.254 is a cloud"
            ),
            "{e}"
        );
    }

    #[test]
    fn secrets_follow_only_same_origin_redirects() {
        let policy = NetworkPolicy::default();
        let list = allowlist();
        let headers = vec![
            ("Authorization".to_string(), "Bearer {{secret:key}}".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
        ];
        assert_eq!(headers::check(&headers), Ok(()));
        let first = Target::parse("https://api.shop.example/", &list, &policy).unwrap();
        let hop = follow(
            &first,
            Method::Get,
            302,
            Some("https://other.shop.example/"),
            0,
            &list,
            &policy,
        )
        .unwrap()
        .unwrap();
        let next = if hop.same_origin {
            headers.clone()
        } else {
            headers::for_cross_origin(&headers)
        };
        assert_eq!(next, vec![("Accept".to_string(), "application/json".to_string())]);
    }
}
