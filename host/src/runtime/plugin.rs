//! A loaded plugin: compiled, linked against the host, and described.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::inspect::{self, ComponentSummary};
use super::invoke::{self, Call, CallOutput};
use super::state::CallContext;
use super::Runtime;
use crate::capability::{Capability, GrantSet};
use crate::engine::CacheStatus;
use crate::error::PlazaError;
use crate::manifest::{embed, Manifest, MANIFEST_FILE};
use crate::wit::PluginPre;
use crate::wit::SUPPORTED_VERSIONS;

/// A slash command a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandSpec {
    /// Name without the slash.
    pub name: String,
    /// What it does.
    pub description: String,
    /// How to call it.
    pub usage: String,
}

/// Where a plugin's manifest came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestSource {
    /// The `plaza:manifest` custom section inside the component (`plaza package`).
    Embedded,
    /// A `plaza.toml` file beside the component.
    File(String),
    /// None was supplied: derived from `describe` and the component's imports. Development
    /// only; admins cannot install such a plugin through the CLI.
    Derived,
}

/// A plugin ready to instantiate: one `InstancePre`, reused for every fresh instance.
pub struct Plugin {
    /// What the plugin declares: capabilities with reasons, events, commands, config, limits.
    pub manifest: Manifest,
    /// Where the manifest came from.
    pub manifest_source: ManifestSource,
    /// SHA-256 of the component bytes (including an embedded manifest), hex.
    pub digest: String,
    /// The component bytes, kept so the admin store can persist the package.
    pub bytes: Arc<Vec<u8>>,
    /// Name, from `describe`.
    pub name: String,
    /// Version, from `describe`.
    pub version: String,
    /// Description, from `describe`.
    pub description: String,
    /// Commands it offers, from `describe`.
    pub commands: Vec<CommandSpec>,
    /// Where it was loaded from (a file path or a label).
    pub origin: String,
    /// Its shape.
    pub summary: ComponentSummary,
    /// Whether the compiled form came from the cache.
    pub cache: CacheStatus,
    /// Time spent compiling or loading the compiled form, in milliseconds.
    pub compile_ms: u64,
    pub(crate) pre: PluginPre,
    /// The manifest's `http:fetch` hosts, parsed once (every invocation's call context holds them).
    allowlist: std::sync::OnceLock<Arc<crate::host_api::http::policy::Allowlist>>,
    /// Its signatures, verified on first use (hashing the component is the costly part).
    signatures: std::sync::OnceLock<std::result::Result<crate::signing::Verified, crate::signing::SigningError>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Whether the plugin offers the slash command `name` (per `describe` and its manifest).
    pub fn offers_command(&self, name: &str) -> bool {
        self.commands.iter().any(|c| c.name == name) && self.manifest.offers_command(name)
    }

    /// The hosts `http:fetch` may reach, from its manifest.
    pub fn http_allowlist(&self) -> Arc<crate::host_api::http::policy::Allowlist> {
        self.allowlist
            .get_or_init(|| {
                Arc::new(crate::host_api::http::policy::Allowlist::new(self.manifest.http_hosts()).unwrap_or_default())
            })
            .clone()
    }

    /// Every signature its package carries, verified ([`crate::signing::verify`] of `bytes`).
    /// Verified once and remembered: a loaded plugin's bytes do not change, and installing one
    /// package in many communities would otherwise hash the whole component at every install.
    pub fn signatures(&self) -> std::result::Result<&crate::signing::Verified, crate::signing::SigningError> {
        self.signatures
            .get_or_init(|| crate::signing::verify(&self.bytes))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The `plaza:plugin` WIT version it was built against.
    pub fn api(&self) -> &'static str {
        self.pre.version()
    }

    /// The capabilities its manifest requests.
    pub fn requested(&self) -> GrantSet {
        self.manifest.requested_capabilities().into_iter().collect()
    }
}

impl Runtime {
    /// Compiles (or loads from the cache), links and describes a plugin. Its manifest is the
    /// embedded one, else `manifest` (e.g. read from a file), else derived for development.
    pub async fn load(&self, bytes: &[u8], origin: &str) -> Result<Arc<Plugin>, PlazaError> {
        self.load_with_manifest(bytes, origin, None).await
    }

    /// Like [`Runtime::load`], with a manifest to use when none is embedded.
    pub async fn load_with_manifest(
        &self,
        bytes: &[u8],
        origin: &str,
        manifest: Option<(Manifest, ManifestSource)>,
    ) -> Result<Arc<Plugin>, PlazaError> {
        let origin = origin.to_string();
        if let Some(reason) = inspect::not_a_component(bytes) {
            return Err(PlazaError::NotAComponent { origin, reason });
        }
        let max = self.limits.max_component_bytes;
        if bytes.len() > max {
            return Err(PlazaError::Load {
                origin,
                reason: format!("it is {} bytes; the limit for a component is {max} bytes", bytes.len()),
            });
        }
        let started = Instant::now();
        let timeout = std::time::Duration::from_millis(self.limits.compile_timeout_ms);
        let (component, cache) = self
            .engine
            .compile_within(Arc::new(bytes.to_vec()), timeout)
            .await
            .map_err(|e| {
                let reason = format!("{e:#}");
                if reason.starts_with("compiling took longer") {
                    PlazaError::Load {
                        origin: origin.clone(),
                        reason,
                    }
                } else {
                    PlazaError::NotAComponent {
                        origin: origin.clone(),
                        reason,
                    }
                }
            })?;
        let compile_ms = started.elapsed().as_millis() as u64;
        let summary = inspect::summarize(&component, self.engine.engine(), bytes);
        check_world(&summary, &origin)?;

        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| PlazaError::Load {
            origin: origin.clone(),
            reason: format!(
                "{e:#} (Plaza provides the plaza:plugin interfaces and an inert subset of WASI 0.2: {})",
                inspect::LINKED_WASI.join(", ")
            ),
        })?;
        let pre = PluginPre::new(instance_pre, summary.wit_version.as_deref()).map_err(|e| PlazaError::WrongWorld {
            origin: origin.clone(),
            reason: format!("{e:#}"),
        })?;

        let embedded = embed::extract(bytes).map_err(|e| PlazaError::NotAComponent {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let given = match embedded {
            Some(text) => Some((
                Manifest::from_toml(&text, &format!("{origin} (embedded manifest)"))?,
                ManifestSource::Embedded,
            )),
            None => manifest,
        };
        let mut plugin = Plugin {
            // Replaced below once `describe` has answered.
            manifest: Manifest::from_toml(
                &derived_manifest_toml(crate::wit::latest::VERSION, "placeholder", "0.0.0", "", &[], &[]),
                "derived",
            )?,
            manifest_source: ManifestSource::Derived,
            digest: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(bytes))
            },
            bytes: Arc::new(bytes.to_vec()),
            name: String::new(),
            version: String::new(),
            description: String::new(),
            commands: Vec::new(),
            origin: origin.clone(),
            summary,
            cache,
            compile_ms,
            pre,
            allowlist: std::sync::OnceLock::new(),
            signatures: std::sync::OnceLock::new(),
        };
        let info = self.describe(&plugin).await.map_err(|reason| PlazaError::Load {
            origin: origin.clone(),
            reason: format!("`describe` failed: {reason}"),
        })?;
        if info.name.is_empty()
            || !info
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PlazaError::Load {
                origin,
                reason: format!(
                    "`describe` returned the name {:?}; use letters, digits, '-' and '_'",
                    info.name
                ),
            });
        }
        plugin.name = info.name;
        plugin.version = info.version;
        plugin.description = info.description;
        plugin.commands = info
            .commands
            .into_iter()
            .map(|c| CommandSpec {
                name: c.name,
                description: c.description,
                usage: c.usage,
            })
            .collect();
        let (manifest, source) = match given {
            Some(pair) => pair,
            None => {
                let commands: Vec<&str> = plugin.commands.iter().map(|c| c.name.as_str()).collect();
                let text = derived_manifest_toml(
                    plugin.api(),
                    &plugin.name,
                    &plugin.version,
                    &plugin.description,
                    &plugin.summary.capabilities,
                    &commands,
                );
                let manifest = Manifest::from_toml(&text, &format!("{origin} (derived manifest)"))?;
                (manifest, ManifestSource::Derived)
            }
        };
        check_manifest_matches(&plugin, &manifest, &origin)?;
        plugin.manifest = manifest;
        plugin.manifest_source = source;
        Ok(Arc::new(plugin))
    }

    /// Reads a plugin file and loads it; a `plaza.toml` beside it is its manifest unless one is
    /// embedded.
    pub async fn load_file(&self, path: &std::path::Path) -> Result<Arc<Plugin>, PlazaError> {
        let bytes = std::fs::read(path).map_err(|source| PlazaError::ReadPlugin {
            path: path.to_path_buf(),
            source,
        })?;
        let beside = path.with_file_name(MANIFEST_FILE);
        let manifest = match std::fs::read_to_string(&beside) {
            Ok(text) => {
                let origin = beside.display().to_string();
                Some((Manifest::from_toml(&text, &origin)?, ManifestSource::File(origin)))
            }
            Err(_) => None,
        };
        self.load_with_manifest(&bytes, &path.display().to_string(), manifest)
            .await
    }

    async fn describe(&self, plugin: &Plugin) -> Result<crate::wit::latest::types::PluginInfo, String> {
        // `describe` gets no grants, no community and a tight budget: it must only return data.
        let call = CallContext {
            plugin: "(describe)".into(),
            community: String::new(),
            event_id: "describe".into(),
            now_ms: 0,
            grants: Arc::new(GrantSet::none()),
            store: Arc::new(crate::storage::memory::MemoryStore::new()),
            limits: self.limits.clone(),
            pseudonyms: crate::dispatch::pseudonym::Pseudonyms::new([0; 32]),
            rate: Arc::default(),
            http: None,
        };
        let cpu_ms = self.limits.cpu_ms;
        let wall_ms = self.limits.wall_clock_ms;
        let execution = invoke::execute(self, plugin, call, Call::Describe, cpu_ms, wall_ms).await;
        match execution.result {
            Ok(CallOutput::Described(info)) => Ok(info),
            Ok(_) => unreachable!("describe returns a description"),
            Err(failure) => Err(format!("{} ({})", failure.message, failure.reason.code())),
        }
    }
}

fn check_world(summary: &ComponentSummary, origin: &str) -> Result<(), PlazaError> {
    if let Some(version) = &summary.wit_version {
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(PlazaError::WrongWorld {
                origin: origin.to_string(),
                reason: format!(
                    "it was built against plaza:plugin@{version}; this host supports {}",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            });
        }
    }
    if !summary.unsupported_imports.is_empty() {
        return Err(PlazaError::Load {
            origin: origin.to_string(),
            reason: format!(
                "it imports {} which Plaza does not provide (Plaza provides the plaza:plugin interfaces and an inert subset of WASI 0.2)",
                summary.unsupported_imports.join(", ")
            ),
        });
    }
    if !summary.missing_exports.is_empty() {
        return Err(PlazaError::WrongWorld {
            origin: origin.to_string(),
            reason: format!(
                "missing export(s) {} of the plaza:plugin/plugin world (it exports: {})",
                summary.missing_exports.join(", "),
                if summary.exports.is_empty() {
                    "nothing".to_string()
                } else {
                    summary.exports.join(", ")
                }
            ),
        });
    }
    Ok(())
}

/// A manifest for a component that came without one (development runs): it requests what the
/// component's imports can use, every read capability, commands and the review hook.
fn derived_manifest_toml(
    api: &str,
    name: &str,
    version: &str,
    description: &str,
    imported: &[Capability],
    commands: &[&str],
) -> String {
    use std::fmt::Write as _;
    let version = semver::Version::parse(version)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "0.0.0".into());
    let description = if description.trim().is_empty() {
        "(no description)"
    } else {
        description
    };
    let mut text = format!(
        "[plugin]\nid = {}\nversion = {}\napi = {}\nauthors = [\"unknown (no manifest)\"]\ndescription = {}\n\n[capabilities]\n",
        toml_str(name),
        toml_str(&version),
        toml_str(api),
        toml_str(&description.chars().take(500).collect::<String>()),
    );
    let mut caps: Vec<Capability> = imported
        .iter()
        .copied()
        .filter(|c| *c != Capability::HttpFetch)
        .collect();
    caps.extend([
        Capability::MessagesRead,
        Capability::MessagesReadMentions,
        Capability::ReactionsRead,
        Capability::MembersRead,
        Capability::MembersIdentity,
        Capability::ModerationReview,
    ]);
    if !commands.is_empty() {
        caps.push(Capability::Commands);
    }
    caps.sort();
    caps.dedup();
    for cap in caps {
        let _ = writeln!(
            text,
            "{} = {{ reason = \"no manifest: derived for local development\" }}",
            toml_str(cap.name())
        );
    }
    let events: Vec<String> = crate::manifest::EVENT_TYPES
        .iter()
        .filter(|e| crate::wit::knows_event(api, e))
        .map(|e| toml_str(e))
        .collect();
    let _ = write!(text, "\n[events]\nsubscribe = [{}]\n", events.join(", "));
    for c in commands {
        let _ = write!(
            text,
            "\n[[commands]]\nname = {}\ndescription = \"(derived)\"\nusage = {}\n",
            toml_str(c),
            toml_str(&format!("/{c}"))
        );
    }
    text
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn check_manifest_matches(plugin: &Plugin, manifest: &Manifest, origin: &str) -> Result<(), PlazaError> {
    let mismatch = |what: String| PlazaError::Load {
        origin: origin.to_string(),
        reason: format!("its manifest does not match the component: {what}"),
    };
    if manifest.id().as_str() != plugin.name {
        return Err(mismatch(format!(
            "manifest id is `{}` but the component describes itself as `{}`",
            manifest.id().as_str(),
            plugin.name
        )));
    }
    if manifest.version().to_string() != plugin.version {
        return Err(mismatch(format!(
            "manifest version is {} but the component describes itself as {}",
            manifest.version(),
            plugin.version
        )));
    }
    let api = plugin.api();
    if manifest.plugin.api != api {
        return Err(mismatch(format!(
            "manifest api is {} but the component was built against plaza:plugin@{api}",
            manifest.plugin.api
        )));
    }
    for c in &plugin.commands {
        if !manifest.offers_command(&c.name) {
            return Err(mismatch(format!(
                "the component offers /{} but the manifest does not list it",
                c.name
            )));
        }
    }
    Ok(())
}
