//! A loaded plugin: compiled, linked against the host, and described.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::inspect::{self, ComponentSummary};
use super::invoke::{self, Call, CallOutput};
use super::state::CallContext;
use super::Runtime;
use crate::capability::GrantSet;
use crate::engine::CacheStatus;
use crate::error::PlazaError;
use crate::wit::latest::PluginPre;
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

/// A plugin ready to instantiate: one `InstancePre`, reused for every fresh instance.
pub struct Plugin {
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
    pub(crate) pre: PluginPre<super::state::HostState>,
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
    /// Whether the plugin offers the slash command `name`.
    pub fn offers_command(&self, name: &str) -> bool {
        self.commands.iter().any(|c| c.name == name)
    }
}

impl Runtime {
    /// Compiles (or loads from the cache), links and describes a plugin.
    pub async fn load(&self, bytes: &[u8], origin: &str) -> Result<Arc<Plugin>, PlazaError> {
        let origin = origin.to_string();
        if let Some(reason) = inspect::not_a_component(bytes) {
            return Err(PlazaError::NotAComponent { origin, reason });
        }
        let started = Instant::now();
        let (component, cache) = self.engine.compile(bytes).map_err(|e| PlazaError::NotAComponent {
            origin: origin.clone(),
            reason: format!("{e:#}"),
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
        let pre = PluginPre::new(instance_pre).map_err(|e| PlazaError::WrongWorld {
            origin: origin.clone(),
            reason: format!("{e:#}"),
        })?;

        let mut plugin = Plugin {
            name: String::new(),
            version: String::new(),
            description: String::new(),
            commands: Vec::new(),
            origin: origin.clone(),
            summary,
            cache,
            compile_ms,
            pre,
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
        Ok(Arc::new(plugin))
    }

    /// Reads a plugin file and loads it.
    pub async fn load_file(&self, path: &std::path::Path) -> Result<Arc<Plugin>, PlazaError> {
        let bytes = std::fs::read(path).map_err(|source| PlazaError::ReadPlugin {
            path: path.to_path_buf(),
            source,
        })?;
        self.load(&bytes, &path.display().to_string()).await
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
        };
        let cpu_ms = self.limits.cpu_ms;
        let execution = invoke::execute(self, plugin, call, Call::Describe, cpu_ms).await;
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
