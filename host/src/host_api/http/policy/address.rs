//! Which IP addresses the host may connect to: everything publicly routable, nothing else unless
//! the operator allows it.
//!
//! The rules follow the IANA special-purpose address registries. IPv6 addresses that carry an
//! IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`) are judged by the IPv4 address they carry, so `::ffff:127.0.0.1` is loopback.
//! Teredo (`2001::/32`) is blocked as a whole: the IPv4 address it leads to is not visible in it
//! in a form worth trusting. Outside the ranges listed, IPv6 is allowed only inside global
//! unicast `2000::/3`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A special-purpose range the host does not connect to.
#[derive(Debug, PartialEq, Eq)]
pub struct Range {
    /// The range.
    pub net: IpNet,
    /// What it is, e.g. "a loopback address".
    pub name: &'static str,
    /// Where it is defined, e.g. "RFC 1122".
    pub reference: &'static str,
    /// Whether the operator's allow list can open it. Unspecified, broadcast, multicast and
    /// cloud metadata addresses never open.
    pub overridable: bool,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len))
}

const fn v6(s: [u16; 8], len: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    ))
}

const fn range(net: IpNet, name: &'static str, reference: &'static str, overridable: bool) -> Range {
    Range {
        net,
        name,
        reference,
        overridable,
    }
}

/// Cloud metadata services: never reachable, whatever the operator allows.
const METADATA: &str = "a cloud metadata service address";

/// IPv4 rules, most specific first (the first match names the rule).
pub static IPV4_BLOCKED: &[Range] = &[
    range(v4(0, 0, 0, 0, 32), "the unspecified address", "RFC 1122", false),
    range(
        v4(255, 255, 255, 255, 32),
        "the limited broadcast address",
        "RFC 919",
        false,
    ),
    // AWS, GCP, Azure, DigitalOcean, OpenStack...; AWS ECS task metadata; Alibaba Cloud; Oracle.
    range(v4(169, 254, 169, 254, 32), METADATA, "link-local", false),
    range(v4(169, 254, 170, 2, 32), METADATA, "link-local", false),
    range(v4(100, 100, 100, 200, 32), METADATA, "shared address space", false),
    range(v4(192, 0, 0, 192, 32), METADATA, "IETF protocol assignments", false),
    range(v4(0, 0, 0, 0, 8), "a \"this network\" address", "RFC 791", true),
    range(v4(10, 0, 0, 0, 8), "a private address", "RFC 1918", true),
    range(
        v4(100, 64, 0, 0, 10),
        "a shared (carrier-grade NAT) address",
        "RFC 6598",
        true,
    ),
    range(v4(127, 0, 0, 0, 8), "a loopback address", "RFC 1122", true),
    range(v4(169, 254, 0, 0, 16), "a link-local address", "RFC 3927", true),
    range(v4(172, 16, 0, 0, 12), "a private address", "RFC 1918", true),
    range(v4(192, 0, 0, 0, 24), "an IETF protocol assignment", "RFC 6890", true),
    range(
        v4(192, 0, 2, 0, 24),
        "a documentation address (TEST-NET-1)",
        "RFC 5737",
        true,
    ),
    range(
        v4(192, 88, 99, 0, 24),
        "a deprecated 6to4 relay anycast address",
        "RFC 7526",
        true,
    ),
    range(v4(192, 168, 0, 0, 16), "a private address", "RFC 1918", true),
    range(v4(198, 18, 0, 0, 15), "a benchmarking address", "RFC 2544", true),
    range(
        v4(198, 51, 100, 0, 24),
        "a documentation address (TEST-NET-2)",
        "RFC 5737",
        true,
    ),
    range(
        v4(203, 0, 113, 0, 24),
        "a documentation address (TEST-NET-3)",
        "RFC 5737",
        true,
    ),
    range(v4(224, 0, 0, 0, 4), "a multicast address", "RFC 5771", false),
    range(v4(240, 0, 0, 0, 4), "a reserved address", "RFC 1112", true),
];

/// IPv6 rules, most specific first. Ranges that embed an IPv4 address are not here: see
/// [`embedded_ipv4`].
pub static IPV6_BLOCKED: &[Range] = &[
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        "the unspecified address",
        "RFC 4291",
        false,
    ),
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "a loopback address",
        "RFC 4291",
        true,
    ),
    range(
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
        METADATA,
        "unique local",
        false,
    ),
    range(
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "a local-use NAT64 address",
        "RFC 8215",
        true,
    ),
    range(
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "a discard-only address",
        "RFC 6666",
        true,
    ),
    range(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "a Teredo tunnel address",
        "RFC 4380",
        true,
    ),
    range(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "an IETF protocol assignment",
        "RFC 2928",
        true,
    ),
    range(
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "a documentation address",
        "RFC 3849",
        true,
    ),
    range(
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "a documentation address",
        "RFC 9637",
        true,
    ),
    range(
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "a segment routing (SRv6) address",
        "RFC 9602",
        true,
    ),
    range(
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique local address",
        "RFC 4193",
        true,
    ),
    range(
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "a link-local address",
        "RFC 4291",
        true,
    ),
    range(
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "a deprecated site-local address",
        "RFC 3879",
        true,
    ),
    range(
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "a multicast address",
        "RFC 4291",
        false,
    ),
];

/// Everything outside global unicast `2000::/3` (after the rules above).
static IPV6_NOT_GLOBAL: Range = range(
    v6([0, 0, 0, 0, 0, 0, 0, 0], 0),
    "a reserved address (outside global unicast 2000::/3)",
    "RFC 4291",
    true,
);

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`.
    Ipv4Mapped,
    /// `::a.b.c.d` (deprecated).
    Ipv4Compatible,
    /// `::ffff:0:a.b.c.d` (SIIT, RFC 2765).
    Ipv4Translated,
    /// `64:ff9b::a.b.c.d` (RFC 6052).
    Nat64,
    /// `2002:AABB:CCDD::/48` (RFC 3056).
    SixToFour,
}

impl Embedding {
    fn name(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Compatible => "IPv4-compatible",
            Embedding::Ipv4Translated => "IPv4-translated",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
        }
    }
}

/// The IPv4 address an IPv6 address carries, and how. `::` and `::1` carry none.
pub fn embedded_ipv4(addr: Ipv6Addr) -> Option<(Embedding, Ipv4Addr)> {
    let s = addr.segments();
    let o = addr.octets();
    let last32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((Embedding::Ipv4Mapped, last32)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some((Embedding::Ipv4Translated, last32)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((Embedding::Nat64, last32)),
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
            Some((Embedding::Ipv4Compatible, last32))
        }
        [0x2002, _, _, ..] => Some((Embedding::SixToFour, Ipv4Addr::new(o[2], o[3], o[4], o[5]))),
        _ => None,
    }
}

/// Why an address may not be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// The address.
    pub addr: IpAddr,
    /// The rule it falls under.
    pub range: &'static Range,
    /// For an IPv6 address judged by the IPv4 address it carries: how, and which.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl Blocked {
    /// The address, and the IPv4 address it carries when that decided, e.g.
    /// `::ffff:127.0.0.1 (the IPv4-mapped form of 127.0.0.1)`.
    pub fn subject(&self) -> String {
        match self.embedded {
            Some((how, v4)) => format!("{} (the {} form of {v4})", self.addr, how.name()),
            None => self.addr.to_string(),
        }
    }

    /// What it is, e.g. `a loopback address (127.0.0.0/8, RFC 1122); blocked unless the
    /// operator allows it`.
    pub fn rule(&self) -> String {
        let Range {
            net,
            name,
            reference,
            overridable,
        } = self.range;
        let unless = if *overridable {
            "; blocked unless the operator allows it"
        } else {
            ""
        };
        format!("{name} ({net}, {reference}){unless}")
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.subject(), self.rule())
    }
}

fn first_match(table: &'static [Range], addr: IpAddr) -> Option<&'static Range> {
    table.iter().find(|r| r.net.contains(&addr))
}

/// The rule that blocks `addr`, ignoring the operator's allow list; `None` for a public address.
pub fn classify(addr: IpAddr) -> Option<Blocked> {
    let blocked = |range, embedded| Some(Blocked { addr, range, embedded });
    match addr {
        IpAddr::V4(_) => blocked(first_match(IPV4_BLOCKED, addr)?, None),
        IpAddr::V6(v6) => {
            if let Some(range) = first_match(IPV6_BLOCKED, addr) {
                return blocked(range, None);
            }
            if let Some((how, v4)) = embedded_ipv4(v6) {
                let range = first_match(IPV4_BLOCKED, IpAddr::V4(v4))?;
                return blocked(range, Some((how, v4)));
            }
            if v6.segments()[0] & 0xe000 != 0x2000 {
                return blocked(&IPV6_NOT_GLOBAL, None);
            }
            None
        }
    }
}

/// Specific private addresses and ranges the operator opened (for example a loopback test
/// server). Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressAllow(Vec<IpNet>);

impl AddressAllow {
    /// Nothing allowed: the default.
    pub fn none() -> Self {
        AddressAllow::default()
    }

    /// Parses entries such as `127.0.0.1`, `10.1.2.0/24` or `fd12::/64`. An entry may not reach
    /// addresses that never open (unspecified, broadcast, multicast, cloud metadata), so
    /// `0.0.0.0/0` is refused; the error names the entry.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(addr) => IpNet::from(addr),
                    Err(_) => {
                        return Err(format!(
                            "{entry:?} is not an IP address or CIDR range like \"127.0.0.1\" or \"10.0.0.0/8\""
                        ))
                    }
                },
            };
            let net = match net {
                // `::ffff:127.0.0.1` and `127.0.0.1` are the same destination.
                IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.addr().to_ipv4_mapped().is_some() => {
                    let v4 = v6.addr().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
                    IpNet::V4(Ipv4Net::new_assert(v4, v6.prefix_len() - 96))
                }
                other => other,
            };
            let table = match net {
                IpNet::V4(_) => IPV4_BLOCKED,
                IpNet::V6(_) => IPV6_BLOCKED,
            };
            if let Some(never) = table
                .iter()
                .find(|r| !r.overridable && (net.contains(&r.net) || r.net.contains(&net)))
            {
                return Err(format!(
                    "{entry:?} would open {} ({}), which is never reachable",
                    never.name, never.net
                ));
            }
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(AddressAllow(nets))
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, normalised (e.g. `127.0.0.1/32`).
    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether the operator opened `addr` (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }
}

/// Whether the host may connect to `addr`: public addresses yes; blocked ones only when the
/// operator allowed them and their rule can be opened at all.
pub fn vet(addr: IpAddr, allow: &AddressAllow) -> Result<(), Blocked> {
    match classify(addr) {
        None => Ok(()),
        Some(b) if b.range.overridable && allow.permits(addr) => Ok(()),
        Some(b) => Err(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// (address, the rule's name or `None` when public, the embedded IPv4 address if any).
    const TABLE: &[(&str, Option<&str>, Option<&str>)] = &[
        // IPv4: public.
        ("8.8.8.8", None, None),
        ("1.1.1.1", None, None),
        ("93.184.215.14", None, None),
        ("100.63.255.255", None, None),
        ("100.128.0.0", None, None),
        ("172.15.255.255", None, None),
        ("172.32.0.0", None, None),
        ("192.169.0.0", None, None),
        ("198.17.255.255", None, None),
        ("198.20.0.0", None, None),
        ("223.255.255.255", None, None),
        ("169.253.255.255", None, None),
        ("169.255.0.0", None, None),
        // IPv4: blocked.
        ("0.0.0.0", Some("the unspecified address"), None),
        ("0.1.2.3", Some("a \"this network\" address"), None),
        ("10.0.0.1", Some("a private address"), None),
        ("10.255.255.255", Some("a private address"), None),
        ("100.64.0.1", Some("a shared (carrier-grade NAT) address"), None),
        ("100.127.255.255", Some("a shared (carrier-grade NAT) address"), None),
        ("100.100.100.200", Some(METADATA), None),
        ("127.0.0.1", Some("a loopback address"), None),
        ("127.255.255.254", Some("a loopback address"), None),
        ("169.254.0.1", Some("a link-local address"), None),
        ("169.254.169.254", Some(METADATA), None),
        ("169.254.170.2", Some(METADATA), None),
        ("172.16.0.1", Some("a private address"), None),
        ("172.31.255.255", Some("a private address"), None),
        ("192.0.0.8", Some("an IETF protocol assignment"), None),
        ("192.0.0.192", Some(METADATA), None),
        ("192.0.2.10", Some("a documentation address (TEST-NET-1)"), None),
        ("192.88.99.1", Some("a deprecated 6to4 relay anycast address"), None),
        ("192.168.1.1", Some("a private address"), None),
        ("198.18.0.1", Some("a benchmarking address"), None),
        ("198.19.255.255", Some("a benchmarking address"), None),
        ("198.51.100.7", Some("a documentation address (TEST-NET-2)"), None),
        ("203.0.113.9", Some("a documentation address (TEST-NET-3)"), None),
        ("224.0.0.1", Some("a multicast address"), None),
        ("239.255.255.250", Some("a multicast address"), None),
        ("240.0.0.1", Some("a reserved address"), None),
        ("255.255.255.254", Some("a reserved address"), None),
        ("255.255.255.255", Some("the limited broadcast address"), None),
        // IPv6: public.
        ("2606:4700:4700::1111", None, None),
        ("2001:4860:4860::8888", None, None),
        ("2a00:1450:4001:80b::200e", None, None),
        ("2001:200::1", None, None),
        // IPv6: blocked.
        ("::", Some("the unspecified address"), None),
        ("::1", Some("a loopback address"), None),
        ("fe80::1", Some("a link-local address"), None),
        ("febf::1", Some("a link-local address"), None),
        ("fec0::1", Some("a deprecated site-local address"), None),
        ("fc00::1", Some("a unique local address"), None),
        ("fd12:3456::1", Some("a unique local address"), None),
        ("fd00:ec2::254", Some(METADATA), None),
        ("ff02::1", Some("a multicast address"), None),
        ("ff05::1:3", Some("a multicast address"), None),
        ("100::1", Some("a discard-only address"), None),
        ("2001::1", Some("a Teredo tunnel address"), None),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            Some("a Teredo tunnel address"),
            None,
        ),
        ("2001:2::1", Some("an IETF protocol assignment"), None),
        ("2001:db8::1", Some("a documentation address"), None),
        ("3fff::1", Some("a documentation address"), None),
        ("5f00::1", Some("a segment routing (SRv6) address"), None),
        ("64:ff9b:1::1", Some("a local-use NAT64 address"), None),
        (
            "4000::1",
            Some("a reserved address (outside global unicast 2000::/3)"),
            None,
        ),
        (
            "1::1",
            Some("a reserved address (outside global unicast 2000::/3)"),
            None,
        ),
        // IPv6 forms of IPv4 addresses: judged by the IPv4 address.
        ("::ffff:127.0.0.1", Some("a loopback address"), Some("127.0.0.1")),
        ("::ffff:7f00:1", Some("a loopback address"), Some("127.0.0.1")),
        ("0:0:0:0:0:ffff:a9fe:a9fe", Some(METADATA), Some("169.254.169.254")),
        ("::ffff:10.0.0.1", Some("a private address"), Some("10.0.0.1")),
        ("::ffff:0.0.0.0", Some("the unspecified address"), Some("0.0.0.0")),
        ("::ffff:8.8.8.8", None, None),
        ("::127.0.0.1", Some("a loopback address"), Some("127.0.0.1")),
        ("::192.168.0.1", Some("a private address"), Some("192.168.0.1")),
        ("::8.8.8.8", None, None),
        ("::ffff:0:127.0.0.1", Some("a loopback address"), Some("127.0.0.1")),
        ("64:ff9b::127.0.0.1", Some("a loopback address"), Some("127.0.0.1")),
        ("64:ff9b::a9fe:a9fe", Some(METADATA), Some("169.254.169.254")),
        ("64:ff9b::8.8.8.8", None, None),
        ("2002:7f00:1::", Some("a loopback address"), Some("127.0.0.1")),
        ("2002:a9fe:a9fe::1", Some(METADATA), Some("169.254.169.254")),
        ("2002:c0a8:101:1::1", Some("a private address"), Some("192.168.1.1")),
        ("2002:808:808::1", None, None),
    ];

    #[test]
    fn classification_table() {
        for &(addr, want, embedded) in TABLE {
            let got = classify(ip(addr));
            assert_eq!(got.map(|b| b.range.name), want, "{addr}: {got:?}");
            let got_embedded = got.and_then(|b| b.embedded).map(|(_, v4)| v4);
            assert_eq!(got_embedded, embedded.map(|e| e.parse().unwrap()), "{addr}");
            // Without an allow list, vet agrees with classify.
            assert_eq!(vet(ip(addr), &AddressAllow::none()).err(), got, "{addr}");
        }
    }

    #[test]
    fn every_rule_is_exercised_and_ordered_specific_first() {
        for table in [IPV4_BLOCKED, IPV6_BLOCKED] {
            for (i, r) in table.iter().enumerate() {
                // No earlier rule hides this one entirely.
                assert!(
                    !table[..i].iter().any(|earlier| earlier.net.contains(&r.net)),
                    "{} is shadowed",
                    r.net
                );
                // An address of the range that no earlier rule covers falls under it.
                let probe = [r.net.network(), r.net.broadcast()]
                    .into_iter()
                    .find(|a| !table[..i].iter().any(|earlier| earlier.net.contains(a)))
                    .unwrap_or_else(|| panic!("{}: no address to probe", r.net));
                assert_eq!(classify(probe).map(|b| b.range), Some(r), "{}", r.net);
            }
        }
    }

    #[test]
    fn std_classifications_agree() {
        // Whatever the standard library knows to be special is blocked too.
        for &(addr, want, _) in TABLE {
            let a = ip(addr);
            let special = a.is_loopback() || a.is_unspecified() || a.is_multicast();
            let v4_special = match a {
                IpAddr::V4(v4) => v4.is_private() || v4.is_link_local() || v4.is_broadcast(),
                IpAddr::V6(v6) => v6.is_unique_local() || v6.is_unicast_link_local(),
            };
            if special || v4_special {
                assert!(want.is_some(), "{addr} is special but not blocked");
            }
        }
    }

    #[test]
    fn embedded_forms() {
        let cases = [
            ("::ffff:1.2.3.4", Some((Embedding::Ipv4Mapped, "1.2.3.4"))),
            ("::1.2.3.4", Some((Embedding::Ipv4Compatible, "1.2.3.4"))),
            ("::ffff:0:1.2.3.4", Some((Embedding::Ipv4Translated, "1.2.3.4"))),
            ("64:ff9b::1.2.3.4", Some((Embedding::Nat64, "1.2.3.4"))),
            ("2002:102:304:5::6", Some((Embedding::SixToFour, "1.2.3.4"))),
            ("::", None),
            ("::1", None),
            ("2001:db8::1", None),
            ("64:ff9b:0:0:1::", None),
        ];
        for (addr, want) in cases {
            let Ok(IpAddr::V6(v6)) = addr.parse::<IpAddr>() else {
                panic!("{addr}")
            };
            let want = want.map(|(how, v4)| (how, v4.parse::<Ipv4Addr>().unwrap()));
            assert_eq!(embedded_ipv4(v6), want, "{addr}");
        }
    }

    #[test]
    fn operator_allow_opens_only_what_it_lists() {
        let allow = AddressAllow::parse(["127.0.0.1", "10.1.2.0/24", "fd12::/64"]).unwrap();
        let cases = [
            ("127.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("127.0.0.2", false),
            ("::1", false),
            ("10.1.2.200", true),
            ("10.1.3.1", false),
            ("fd12::5", true),
            ("fd13::5", false),
            // Embedded forms other than IPv4-mapped are other destinations: not opened.
            ("2002:7f00:1::", false),
            ("64:ff9b::127.0.0.1", false),
            // Public addresses need no allow list.
            ("8.8.8.8", true),
        ];
        for (addr, ok) in cases {
            assert_eq!(vet(ip(addr), &allow).is_ok(), ok, "{addr}");
        }
        // Nothing opens by default.
        assert!(vet(ip("127.0.0.1"), &AddressAllow::none()).is_err());
    }

    #[test]
    fn never_ranges_stay_closed() {
        // Even an allow list covering them (built by hand, past `parse`) opens nothing.
        let wide = AddressAllow(vec!["169.254.0.0/16".parse().unwrap(), "0.0.0.0/8".parse().unwrap()]);
        for addr in ["169.254.169.254", "169.254.170.2", "0.0.0.0", "::ffff:169.254.169.254"] {
            assert!(vet(ip(addr), &wide).is_err(), "{addr}");
        }
        assert!(vet(ip("169.254.1.1"), &wide).is_ok());
        assert!(vet(ip("0.1.2.3"), &wide).is_ok());
    }

    #[test]
    fn allow_list_parsing() {
        let allow = AddressAllow::parse([" 127.0.0.1 ", "10.1.2.3/24", "::ffff:192.168.0.0/112", "::1"]).unwrap();
        let shown: Vec<String> = allow.entries().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.1.2.0/24", "192.168.0.0/16", "::1/128"]);
        assert!(
            AddressAllow::parse(["127.0.0.1", "127.0.0.1/32"])
                .unwrap()
                .entries()
                .len()
                == 1
        );
        for (entry, says) in [
            ("0.0.0.0/0", "the unspecified address"),
            ("::/0", "the unspecified address"),
            ("0.0.0.0/8", "the unspecified address"),
            ("169.254.0.0/16", METADATA),
            ("169.254.169.254", METADATA),
            ("224.0.0.0/8", "a multicast address"),
            ("255.255.255.255", "broadcast"),
            ("ff00::/8", "a multicast address"),
            ("fd00::/8", METADATA),
            ("localhost", "not an IP address"),
            ("10.0.0.0/33", "not an IP address"),
        ] {
            let err = AddressAllow::parse([entry]).unwrap_err();
            assert!(err.contains(says), "{entry}: {err}");
        }
    }

    #[test]
    fn messages_name_address_rule_and_reference() {
        let b = classify(ip("::ffff:169.254.169.254")).unwrap();
        assert_eq!(
            b.to_string(),
            "::ffff:169.254.169.254 (the IPv4-mapped form of 169.254.169.254) is a cloud metadata \
             service address (169.254.169.254/32, link-local)"
        );
        let b = classify(ip("10.0.0.1")).unwrap();
        assert_eq!(
            b.to_string(),
            "10.0.0.1 is a private address (10.0.0.0/8, RFC 1918); blocked unless the operator allows it"
        );
    }
}
