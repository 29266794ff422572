//! The destination policy of `http:fetch`: which requests a plugin may make, and which addresses
//! the host may connect to for them. Pure: no I/O, no clock; the client (see `docs/http.md`)
//! does the lookups and the connecting, in this order:
//!
//! 1. [`Target::parse`] the URL against the install's [`Allowlist`] and the operator's
//!    [`NetworkPolicy`] (scheme, user info, normalised host name, blocked names, port);
//! 2. resolve [`Target::lookup_name`] once, and [`Target::vet`] every answer with [`vet`] (the
//!    special-purpose ranges in IPv4, IPv6 and IPv4-in-IPv6 forms, minus what the operator
//!    opened); the [`Destination`] it returns holds the only socket addresses that may be dialled.
//!
//! Every refusal is a [`FetchError`] naming the host and the rule, with the `host-error` the
//! plugin receives ([`FetchError::to_host_error`]) and a rule code for audit entries
//! ([`FetchError::rule`]).

pub mod address;
pub mod allowlist;
pub mod error;
pub mod target;

pub use address::{classify, vet, AddressAllow, Blocked};
pub use allowlist::{Allowlist, HostPattern};
pub use error::{FetchError, Kind};
pub use target::{Destination, NetworkPolicy, PolicySummary, Target};
