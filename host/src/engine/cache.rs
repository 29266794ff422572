//! On-disk cache of compiled components, so a plugin compiles once per engine configuration.
//!
//! Entries are keyed by the SHA-256 of the component bytes and by a hash of the wasmtime version
//! and the engine's compatibility settings: a precompiled artifact only loads into an engine
//! configured the same way. Writes go to a temporary file renamed into place, so a crash never
//! leaves half an entry; an entry that fails to load is recompiled and replaced.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheStatus {
    /// Loaded from the cache.
    Hit,
    /// Compiled and stored in the cache.
    Miss,
    /// Compiled; no cache configured.
    Disabled,
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The file a component's compiled form is kept in.
    pub fn entry_path(&self, bytes: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(bytes));
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `bytes`, compiling and storing it on a miss.
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<(Component, CacheStatus)> {
        let path = self.entry_path(bytes);
        if path.exists() {
            // SAFETY: entries are only written by `store` below from `Component::serialize` of the
            // same bytes under the same engine key, and renamed into place atomically.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, CacheStatus::Hit));
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&component, &path) {
            tracing::warn!("could not write compile cache entry {}: {e:#}", path.display());
        }
        Ok((component, CacheStatus::Miss))
    }

    fn store(&self, component: &Component, path: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let serialized = component.serialize()?;
        // Unique per process and per write: two threads may compile the same component at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, serialized).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    }
}
