//! Redirects: each `Location` is checked like a new request (allowlist, scheme, port, names),
//! then resolved and vetted again by the caller; https never drops to http; credentials stay
//! within one origin; and the chain is bounded.

use super::allowlist::Allowlist;
use super::error::{shown, FetchError};
use super::target::{NetworkPolicy, Target};
use crate::wit::latest::plaza::plugin::http::Method;

/// The request to send after a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Where to: checked, still to be resolved and vetted ([`Target::vet`]).
    pub target: Target,
    /// The method: `GET` after a 303, and after a 301 or 302 answering a `POST` (as browsers
    /// do); otherwise unchanged.
    pub method: Method,
    /// Whether the body is sent again (307 and 308 keep it; a change to `GET` drops it).
    pub keep_body: bool,
    /// Whether the new target has the previous one's origin. When it does not, credentials
    /// stay behind: see [`super::headers::for_cross_origin`].
    pub same_origin: bool,
    /// Redirects followed so far, this one included.
    pub hops: u8,
}

/// What to do with a response: `Ok(None)` hands it to the plugin (not a redirect, no
/// `Location`, or the operator turned redirects off); `Ok(Some(..))` is the next request;
/// `Err` refuses the chain. `hops` counts the redirects already followed.
pub fn follow(
    from: &Target,
    method: Method,
    status: u16,
    location: Option<&str>,
    hops: u8,
    allowlist: &Allowlist,
    policy: &NetworkPolicy,
) -> Result<Option<Redirect>, FetchError> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) || policy.max_redirects == 0 {
        return Ok(None);
    }
    let Some(location) = location else {
        return Ok(None);
    };
    if hops >= policy.max_redirects {
        return Err(FetchError::TooManyRedirects {
            max: policy.max_redirects,
        });
    }
    let bad = |problem: &str| FetchError::BadRedirect {
        location: shown(location),
        problem: problem.to_string(),
    };
    if location.chars().any(|c| c.is_control()) {
        return Err(bad("it contains control characters"));
    }
    let url = from.url().join(location.trim()).map_err(|e| bad(&e.to_string()))?;
    let in_redirect = |error: FetchError| FetchError::Redirect {
        from: shown(from.url().as_str()),
        to: shown(url.as_str()),
        error: Box::new(error),
    };
    if from.is_https() && url.scheme() == "http" {
        return Err(in_redirect(FetchError::Downgrade));
    }
    let target = Target::from_url(url.clone(), allowlist, policy).map_err(in_redirect)?;
    let to_get = status == 303 || (matches!(status, 301 | 302) && method == Method::Post);
    Ok(Some(Redirect {
        same_origin: from.same_origin(&target),
        target,
        method: if to_get { Method::Get } else { method },
        keep_body: !to_get,
        hops: hops + 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_api::http::policy::{AddressAllow, HostPattern};

    fn allowlist() -> Allowlist {
        Allowlist::new(["api.shop.example", "*.shop.example", "merchant.test"]).unwrap()
    }

    fn start(url: &str, policy: &NetworkPolicy) -> Target {
        Target::parse(url, &allowlist(), policy).unwrap()
    }

    type Want = Result<Option<(&'static str, bool)>, &'static str>;

    #[test]
    fn locations_are_rechecked() {
        let policy = NetworkPolicy::default();
        let from = start("https://api.shop.example/v1/orders?x=1", &policy);
        // (Location, Ok(Some((next URL, same origin))) / Ok(None) / Err(rule))
        let cases: &[(&str, Want)] = &[
            ("/v2/orders", Ok(Some(("https://api.shop.example/v2/orders", true)))),
            ("next", Ok(Some(("https://api.shop.example/v1/next", true)))),
            ("?page=2", Ok(Some(("https://api.shop.example/v1/orders?page=2", true)))),
            (
                "https://API.shop.example./x#f",
                Ok(Some(("https://api.shop.example/x", true))),
            ),
            (
                "https://pay.shop.example/",
                Ok(Some(("https://pay.shop.example/", false))),
            ),
            (
                "https://api.shop.example:8443/",
                Ok(Some(("https://api.shop.example:8443/", false))),
            ),
            ("//pay.shop.example/p", Ok(Some(("https://pay.shop.example/p", false)))),
            ("  /padded  ", Ok(Some(("https://api.shop.example/padded", true)))),
            // Off the allowlist, or to blocked names and addresses.
            ("https://evil.example/", Err("not-allowlisted")),
            ("//evil.example/", Err("not-allowlisted")),
            ("https://169.254.169.254/latest/meta-data/", Err("blocked-address")),
            ("https://[::ffff:127.0.0.1]/", Err("blocked-address")),
            ("https://0x7f.1/", Err("blocked-address")),
            ("https://2130706433/", Err("blocked-address")),
            ("https://localhost/", Err("blocked-name")),
            ("https://metadata.google.internal/", Err("blocked-name")),
            ("https://api.shop.example@127.0.0.1/", Err("userinfo")),
            ("https://8.8.8.8/", Err("ip-literal")),
            // Scheme changes.
            ("http://api.shop.example/", Err("redirect-downgrade")),
            ("HTTP://api.shop.example/", Err("redirect-downgrade")),
            ("ftp://api.shop.example/", Err("scheme")),
            ("file:///etc/passwd", Err("scheme")),
            ("https://api.shop.example:25/", Err("blocked-port")),
            // Not URLs.
            ("https://[::1/", Err("bad-redirect")),
            ("https://exa mple.com/", Err("bad-redirect")),
            ("/a\r\nSet-Cookie: x=1", Err("bad-redirect")),
        ];
        for &(location, want) in cases {
            let got = follow(&from, Method::Get, 302, Some(location), 0, &allowlist(), &policy);
            match (want, got) {
                (Ok(Some((url, same))), Ok(Some(r))) => {
                    assert_eq!((r.target.url().as_str(), r.same_origin), (url, same), "{location}");
                    assert_eq!(r.hops, 1);
                }
                (Err(rule), Err(e)) => assert_eq!(e.rule(), rule, "{location}: {e}"),
                (want, got) => panic!("{location}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn downgrade_is_refused_even_where_http_is_allowed() {
        let policy = NetworkPolicy {
            allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap(),
            http_hosts: vec![HostPattern::parse("merchant.test").unwrap()],
            max_redirects: 5,
        };
        let from = start("https://merchant.test/", &policy);
        let e = follow(
            &from,
            Method::Get,
            301,
            Some("http://merchant.test/"),
            0,
            &allowlist(),
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.rule(), "redirect-downgrade");
        assert_eq!(
            e.to_string(),
            "redirect from https://merchant.test/ to http://merchant.test/: a redirect may not go from https:// to http://"
        );
        assert!(matches!(e.to_host_error(), crate::wit::latest::HostError::Denied(_)));
        // http to http stays allowed where the operator allows http, and upgrading always is.
        let from = start("http://merchant.test:8080/", &policy);
        let r = follow(&from, Method::Get, 302, Some("/b"), 0, &allowlist(), &policy)
            .unwrap()
            .unwrap();
        assert_eq!(r.target.url().as_str(), "http://merchant.test:8080/b");
        let r = follow(
            &from,
            Method::Get,
            302,
            Some("https://merchant.test/"),
            0,
            &allowlist(),
            &policy,
        )
        .unwrap()
        .unwrap();
        assert!(r.target.is_https() && !r.same_origin);
        // http to a host the operator did not open for http is refused.
        let e = follow(
            &from,
            Method::Get,
            302,
            Some("http://api.shop.example/"),
            0,
            &allowlist(),
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.rule(), "insecure-http");
    }

    #[test]
    fn a_redirected_name_is_vetted_after_resolution() {
        let policy = NetworkPolicy::default();
        let from = start("https://api.shop.example/", &policy);
        let r = follow(
            &from,
            Method::Get,
            307,
            Some("https://pay.shop.example/"),
            0,
            &allowlist(),
            &policy,
        )
        .unwrap()
        .unwrap();
        // DNS for the new name answers with the metadata address: refused.
        let e = r.target.vet(["169.254.169.254".parse().unwrap()], &policy).unwrap_err();
        assert_eq!(e.rule(), "blocked-address");
    }

    #[test]
    fn methods_and_bodies() {
        let policy = NetworkPolicy::default();
        let from = start("https://api.shop.example/", &policy);
        let cases = [
            (301, Method::Post, Method::Get, false),
            (302, Method::Post, Method::Get, false),
            (303, Method::Post, Method::Get, false),
            (303, Method::Put, Method::Get, false),
            (303, Method::Delete, Method::Get, false),
            (307, Method::Post, Method::Post, true),
            (308, Method::Patch, Method::Patch, true),
            (301, Method::Put, Method::Put, true),
            (302, Method::Delete, Method::Delete, true),
            (302, Method::Get, Method::Get, true),
        ];
        for (status, method, want_method, keep) in cases {
            let r = follow(&from, method, status, Some("/x"), 0, &allowlist(), &policy)
                .unwrap()
                .unwrap();
            assert_eq!((r.method, r.keep_body), (want_method, keep), "{status} {method:?}");
        }
    }

    #[test]
    fn what_is_not_followed() {
        let policy = NetworkPolicy::default();
        let from = start("https://api.shop.example/", &policy);
        for status in [200, 204, 300, 304, 305, 306, 309, 399, 404, 500] {
            let got = follow(
                &from,
                Method::Get,
                status,
                Some("https://evil.example/"),
                0,
                &allowlist(),
                &policy,
            );
            assert_eq!(got, Ok(None), "{status}");
        }
        assert_eq!(
            follow(&from, Method::Get, 302, None, 0, &allowlist(), &policy),
            Ok(None)
        );
        let off = NetworkPolicy {
            max_redirects: 0,
            ..NetworkPolicy::default()
        };
        let got = follow(
            &from,
            Method::Get,
            302,
            Some("https://evil.example/"),
            0,
            &allowlist(),
            &off,
        );
        assert_eq!(got, Ok(None), "redirects off: the plugin gets the 302");
    }

    #[test]
    fn chains_are_bounded() {
        let policy = NetworkPolicy {
            max_redirects: 3,
            ..NetworkPolicy::default()
        };
        let mut at = start("https://api.shop.example/0", &policy);
        let mut hops = 0;
        for i in 1..=3 {
            let r = follow(
                &at,
                Method::Get,
                302,
                Some(&format!("/{i}")),
                hops,
                &allowlist(),
                &policy,
            )
            .unwrap()
            .unwrap();
            (at, hops) = (r.target, r.hops);
        }
        assert_eq!(hops, 3);
        let e = follow(&at, Method::Get, 302, Some("/4"), hops, &allowlist(), &policy).unwrap_err();
        assert_eq!(
            (e.rule(), e.to_string().as_str()),
            ("too-many-redirects", "more than 3 redirects")
        );
    }
}
