//! Loading plugins and running one invocation in a fresh, limited instance.

pub mod inspect;
pub mod invoke;
pub mod limits;
pub mod output;
pub mod plugin;
pub mod report;
pub(crate) mod reuse;
pub mod state;
pub mod wasi;

pub use limits::Limits;
pub use plugin::Plugin;

use std::sync::Arc;

use wasmtime::component::Linker;

use crate::engine::{EngineSettings, PlazaEngine};
use state::HostState;

/// The engine, the linker with every host interface, and default limits.
pub struct Runtime {
    pub(crate) engine: PlazaEngine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: Arc<Limits>,
    /// Idle instances of installs that reuse instances.
    pub(crate) warm: reuse::WarmPool,
}

impl Runtime {
    /// Builds the engine and links the host interfaces and the inert WASI subset.
    pub fn new(settings: EngineSettings, limits: Limits) -> anyhow::Result<Self> {
        let engine = PlazaEngine::new(settings)?;
        let mut linker = Linker::new(engine.engine());
        crate::wit::add_to_linker(&mut linker)?;
        wasi::add_to_linker(&mut linker)?;
        // A quarter of the pool at most stays warm: fresh instances always find a slot.
        let warm = reuse::WarmPool::new(engine.settings().pool_instances as usize / 4);
        Ok(Runtime {
            engine,
            linker,
            limits: Arc::new(limits),
            warm,
        })
    }

    /// Drops an install's warm instance, if any (uninstall, upgrade, disable, reconfiguration:
    /// the next event starts clean).
    pub fn forget_warm(&self, community: &str, plugin: &str) {
        self.warm.forget(community, plugin);
    }

    /// The engine.
    pub fn engine(&self) -> &PlazaEngine {
        &self.engine
    }

    /// Default limits for invocations.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }
}
