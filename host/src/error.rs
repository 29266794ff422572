//! Errors at the library boundary.

use std::path::PathBuf;

/// What went wrong, in terms a caller (CLI, tests, admin API) can show as is.
#[derive(Debug, thiserror::Error)]
pub enum PlazaError {
    /// A plugin file could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    ReadPlugin { path: PathBuf, source: std::io::Error },
    /// The bytes are not a WebAssembly component.
    #[error("{origin} is not a WebAssembly component: {reason}")]
    NotAComponent { origin: String, reason: String },
    /// The component does not implement a supported Plaza world.
    #[error("plugin {origin} does not implement a supported Plaza world: {reason}")]
    WrongWorld { origin: String, reason: String },
    /// Compiling or linking the component failed.
    #[error("plugin {origin} could not be loaded: {reason}")]
    Load { origin: String, reason: String },
    /// A manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// An event was malformed.
    #[error("{0}")]
    BadEvent(#[from] crate::event::EventError),
    /// A community does not exist.
    #[error("community `{0}` does not exist")]
    NoSuchCommunity(String),
    /// A community already exists.
    #[error("community `{0}` already exists")]
    CommunityExists(String),
    /// A plugin is not installed in a community.
    #[error("plugin `{plugin}` is not installed in community `{community}`")]
    NotInstalled { plugin: String, community: String },
    /// A plugin with that name is installed already.
    #[error("plugin `{plugin}` is already installed in community `{community}`")]
    AlreadyInstalled { plugin: String, community: String },
    /// The admin granted a capability the plugin's manifest does not request.
    #[error("plugin `{plugin}` does not request `{capability}` in its manifest, so it cannot be granted in community `{community}` (it requests: {requested})")]
    NotRequested {
        plugin: String,
        community: String,
        capability: String,
        requested: String,
    },
    /// No upgrade is waiting for approval.
    #[error("plugin `{plugin}` in community `{community}` has no upgrade waiting for approval")]
    NoPendingUpgrade { plugin: String, community: String },
    /// An upgrade that is not an upgrade of the installed plugin.
    #[error("cannot upgrade `{installed}` in community `{community}`: {reason}")]
    BadUpgrade {
        installed: String,
        community: String,
        reason: String,
    },
    /// An install configuration value that does not fit the plugin's config schema.
    #[error("plugin `{plugin}` in community `{community}`: {reason}")]
    BadConfig {
        plugin: String,
        community: String,
        reason: String,
    },
    /// An admin's limit outside the operator's maximum.
    #[error("plugin `{plugin}` in community `{community}`: {reason}")]
    BadLimit {
        plugin: String,
        community: String,
        reason: String,
    },
    /// A package refused by the signing policy, a bad signature or key continuity.
    #[error("plugin `{plugin}` refused in community `{community}` by rule `{rule}`: {reason}")]
    Signature {
        plugin: String,
        community: String,
        /// `unsigned-allowed`, `developer-signed`, `platform-reviewed`, `valid-signature`,
        /// `embedded-manifest` or `key-continuity`.
        rule: String,
        reason: String,
    },
    /// A community signing policy looser than the operator's.
    #[error("community `{community}`: {reason}")]
    BadSigningPolicy { community: String, reason: String },
    /// The store failed.
    #[error("plugin `{plugin}` in community `{community}`: {reason}")]
    BadSecret {
        plugin: String,
        community: String,
        reason: String,
    },

    #[error(transparent)]
    Store(#[from] crate::storage::admin::StoreError),
    /// Anything else, with context naming the plugin and community.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Shorthand for results at the library boundary.
pub type Result<T, E = PlazaError> = std::result::Result<T, E>;
