//! The one wasmtime [`Engine`] a host uses: component model, async, epoch interruption, the
//! pooling allocator, and features plugins don't need switched off.

pub mod cache;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

pub use cache::{CacheStatus, CompileCache};

/// How the engine is built. Defaults are documented in the README.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Epoch tick length; CPU budgets are counted in these ticks (default 10 ms).
    pub epoch_tick: Duration,
    /// Largest wasm stack (default 512 KiB).
    pub max_wasm_stack: usize,
    /// Largest linear memory any plugin can be configured for (pool slot size; default 256 MiB).
    pub max_memory_bytes: usize,
    /// Plugin instances alive at once (default 1000).
    pub pool_instances: u32,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Meter instructions with fuel, for deterministic budgets (default off: epoch deadlines
    /// cost about half as much, and fuel halves a reused instance's call rate).
    pub fuel: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 << 10,
            max_memory_bytes: 256 << 20,
            pool_instances: 1000,
            cache_dir: default_cache_dir(),
            fuel: false,
        }
    }
}

/// `$PLAZA_CACHE_DIR`, else `$XDG_CACHE_HOME/plaza`, else `~/.cache/plaza`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLAZA_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("plaza"))
}

/// The engine, its epoch ticker and its compile cache.
pub struct PlazaEngine {
    engine: Engine,
    settings: EngineSettings,
    cache: Option<CompileCache>,
    ticker: EpochTicker,
}

impl PlazaEngine {
    /// Builds the engine and starts the epoch ticker thread.
    pub fn new(settings: EngineSettings) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&settings))
            .map_err(anyhow::Error::from)
            .context("creating the wasmtime engine")?;
        let cache = settings
            .cache_dir
            .as_ref()
            .map(|dir| CompileCache::new(dir.clone(), &engine));
        let ticker = EpochTicker::start(engine.clone(), settings.epoch_tick);
        Ok(PlazaEngine {
            engine,
            settings,
            cache,
            ticker,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Epoch ticks that make up `ms` milliseconds of CPU budget (at least one).
    pub fn ticks_for_ms(&self, ms: u64) -> u64 {
        let tick = self.settings.epoch_tick.as_millis().max(1) as u64;
        ms.div_ceil(tick).max(1)
    }

    /// Compiles `bytes`, or loads the compiled form from the cache.
    pub fn compile(&self, bytes: &[u8]) -> anyhow::Result<(wasmtime::component::Component, CacheStatus)> {
        compile_with(&self.engine, self.cache.as_ref(), bytes)
    }

    /// Compiles on a blocking thread, giving up after `timeout` (the compile cannot be
    /// interrupted; its result is dropped when it finally ends).
    pub async fn compile_within(
        &self,
        bytes: std::sync::Arc<Vec<u8>>,
        timeout: Duration,
    ) -> anyhow::Result<(wasmtime::component::Component, CacheStatus)> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let task = tokio::task::spawn_blocking(move || compile_with(&engine, cache.as_ref(), &bytes));
        match tokio::time::timeout(timeout, task).await {
            Ok(joined) => joined.map_err(|e| anyhow::anyhow!("the compile task failed: {e}"))?,
            Err(_) => anyhow::bail!("compiling took longer than {} ms", timeout.as_millis()),
        }
    }

    /// Whether the ticker is running (for status output).
    pub fn ticking(&self) -> bool {
        !self.ticker.stop.load(Ordering::Relaxed)
    }
}

fn compile_with(
    engine: &Engine,
    cache: Option<&CompileCache>,
    bytes: &[u8],
) -> anyhow::Result<(wasmtime::component::Component, CacheStatus)> {
    match cache {
        Some(cache) => cache.load_or_compile(engine, bytes),
        None => Ok((
            wasmtime::component::Component::new(engine, bytes)?,
            CacheStatus::Disabled,
        )),
    }
}

fn engine_config(settings: &EngineSettings) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(settings.fuel);
    config.max_wasm_stack(settings.max_wasm_stack);
    config.cranelift_opt_level(OptLevel::Speed);
    // No 64-bit memories. Threads (and with them shared memory), GC and component-model async
    // are not even compiled into this build of wasmtime (see the crate features).
    config.wasm_memory64(false);

    let n = settings.pool_instances;
    let mut pool = PoolingAllocationConfig::default();
    // A small Rust component instance uses ~3 core instances, 2 tables and 1 memory; leave room
    // for larger language runtimes.
    pool.total_component_instances(n)
        .total_core_instances(n * 4)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(settings.max_memory_bytes)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        .table_elements(100_000)
        .table_keep_resident(16 << 10);
    if pagemap_scan_available() {
        // Reset a slot's memory by rewriting only its dirty pages (found with Linux's
        // PAGEMAP_SCAN) up to 2 MiB, instead of `madvise` dropping them: no page faults on the
        // next instance and no TLB shootdowns across cores when instances end, which is what
        // made two threads slower than one (BENCHMARKS.md, P1c). Without the ioctl the kept
        // region would be zeroed whole with `memset`, so it stays small there.
        pool.pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10);
    } else {
        pool.linear_memory_keep_resident(64 << 10);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Whether the kernel has the `PAGEMAP_SCAN` ioctl (Linux 6.7 and later).
fn pagemap_scan_available() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 7)
}

/// Increments the engine's epoch every tick, so running wasm notices its deadline.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("plaza-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
