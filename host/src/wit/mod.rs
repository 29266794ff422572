//! Bindings for each released version of the `plaza:plugin` WIT package.
//!
//! Released versions are frozen under `wit/since_vX.Y.Z/`. The newest version's bindings are
//! what the host implements; when a new version ships, the older version's host traits convert
//! their arguments into the newest types and delegate, so one implementation serves all.

pub mod since_v0_1_0;

/// The newest WIT version; the host's host-interface implementations target it.
pub use since_v0_1_0 as latest;

/// The WIT versions this host can run, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0"];
