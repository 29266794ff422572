//! Bindings for each released version of the `plaza:plugin` WIT package.
//!
//! Released versions are frozen under `wit/since_vX.Y.Z/`. The newest version's bindings are
//! what the host implements ([`latest`]); an older version's host traits convert their
//! arguments into the newest types and delegate, and its exports are called through
//! [`Bindings`], which converts the event down and the answer up. One host implementation
//! serves every version, side by side in one linker.
//!
//! Adding a version: copy the newest `wit/since_v*` folder, bump the package version, make
//! the change; add a `since_vX_Y_Z.rs` with its `bindgen!`, point [`latest`] at it, and turn the
//! previous latest into a delegating module like [`since_v0_1_0`].

pub(crate) mod convert;
#[macro_use]
mod prechecked;
pub mod since_v0_1_0;
pub mod since_v0_2_0;
mod versioned;

/// The newest WIT version; the host's host-interface implementations target it.
pub use since_v0_2_0 as latest;
pub use versioned::{Bindings, PluginPre};

/// The WIT versions this host can run, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[since_v0_2_0::VERSION, since_v0_1_0::VERSION];

/// Event types added after 0.1.0, with the version that added them. Older plugins never
/// receive them (their manifests cannot subscribe to them).
pub const EVENTS_SINCE: [(&str, &str); 2] = [("message-pinned", "0.2.0"), ("message-unpinned", "0.2.0")];

/// The WIT version that introduced event type `event`.
pub fn event_since(event: &str) -> &'static str {
    EVENTS_SINCE
        .iter()
        .find(|(name, _)| *name == event)
        .map_or(since_v0_1_0::VERSION, |(_, since)| since)
}

/// Whether a plugin built against `api` can receive event type `event`.
pub fn knows_event(api: &str, event: &str) -> bool {
    match (semver::Version::parse(api), semver::Version::parse(event_since(event))) {
        (Ok(api), Ok(since)) => api >= since,
        _ => false,
    }
}

/// Links every supported version's host interfaces.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::runtime::state::HostState>,
) -> anyhow::Result<()> {
    crate::host_api::add_to_linker(linker)?;
    since_v0_1_0::add_to_linker(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_from_their_version_on() {
        assert!(knows_event("0.1.0", "message-posted"));
        assert!(knows_event("0.2.0", "message-posted"));
        assert!(!knows_event("0.1.0", "message-pinned"));
        assert!(knows_event("0.2.0", "message-pinned"));
        assert!(knows_event("0.2.0", "message-unpinned"));
        assert!(!knows_event("not a version", "message-posted"));
        for (event, _) in EVENTS_SINCE {
            assert!(crate::manifest::EVENT_TYPES.contains(&event));
        }
        assert_eq!(SUPPORTED_VERSIONS[0], latest::VERSION);
    }
}
