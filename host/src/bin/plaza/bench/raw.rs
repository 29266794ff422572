//! The raw-wasmtime baseline: the least an embedder must do to run the same component on the
//! same event. Its own engine (wasmtime's defaults plus the pooling allocator), one
//! `InstancePre`, WASI from `wasmtime-wasi` with an empty context, and a `messaging` host that
//! records the reply and answers an id. No grants, limits, routing, state or audit: what Plaza
//! adds on top of this is the overhead the benchmark reports.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::stats::Run;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "plugin",
    });
}

mod async_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

use async_bindings::plaza::plugin::{messaging as async_messaging, types as async_types};
use bindings::plaza::plugin::{messaging, types};

struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
    replies: u32,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for RawState {}

impl messaging::Host for RawState {
    fn send(&mut self, _channel: String, _text: String) -> Result<String, types::HostError> {
        self.replies += 1;
        Ok(format!("m-{}", self.replies))
    }

    fn reply(&mut self, _channel: String, _to: String, _text: String) -> Result<String, types::HostError> {
        self.replies += 1;
        Ok(format!("m-{}", self.replies))
    }

    fn edit_own(&mut self, _channel: String, _id: String, _text: String) -> Result<(), types::HostError> {
        Ok(())
    }
}

impl async_types::Host for RawState {}

impl async_messaging::Host for RawState {
    async fn send(&mut self, _channel: String, _text: String) -> Result<String, async_types::HostError> {
        self.replies += 1;
        Ok(format!("m-{}", self.replies))
    }

    async fn reply(&mut self, _channel: String, _to: String, _text: String) -> Result<String, async_types::HostError> {
        self.replies += 1;
        Ok(format!("m-{}", self.replies))
    }

    async fn edit_own(&mut self, _channel: String, _id: String, _text: String) -> Result<(), async_types::HostError> {
        Ok(())
    }
}

/// The same embedding with async host functions and calls on a single-threaded runtime.
#[derive(Clone)]
pub struct RawAsyncHost {
    engine: Engine,
    pre: Arc<async_bindings::PluginPre<RawState>>,
}

impl RawAsyncHost {
    pub fn new(raw: &RawHost, component_bytes: &[u8]) -> anyhow::Result<Self> {
        let engine = raw.engine.clone();
        let component = Component::new(&engine, component_bytes).map_err(anyhow::Error::from)?;
        let mut linker = Linker::<RawState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        async_types::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s)?;
        async_messaging::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s)?;
        let pre = async_bindings::PluginPre::new(linker.instantiate_pre(&component)?)?;
        Ok(RawAsyncHost {
            engine,
            pre: Arc::new(pre),
        })
    }

    pub fn run(&self, fresh: bool, first: u64, count: u64) -> anyhow::Result<Run> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let mut latencies_ns = Vec::with_capacity(count as usize);
            let mut reused = None;
            if !fresh {
                let mut store = new_store(&self.engine);
                let plugin = self.pre.instantiate_async(&mut store).await?;
                reused = Some((store, plugin));
            }
            let started = Instant::now();
            for n in first..first + count {
                let began = Instant::now();
                let event = async_event(n);
                let result = match reused.as_mut() {
                    Some((store, plugin)) => plugin.call_handle_event(store, &event).await?,
                    None => {
                        let mut store = new_store(&self.engine);
                        let plugin = self.pre.instantiate_async(&mut store).await?;
                        plugin.call_handle_event(&mut store, &event).await?
                    }
                };
                result.map_err(|e| anyhow::anyhow!("the plugin failed: {}", e.message))?;
                latencies_ns.push(began.elapsed().as_nanos() as u64);
            }
            Ok(Run {
                events: count,
                elapsed: started.elapsed(),
                latencies_ns,
            })
        })
    }
}

fn new_store(engine: &Engine) -> Store<RawState> {
    Store::new(
        engine,
        RawState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            replies: 0,
        },
    )
}

/// The baseline embedding, ready to instantiate.
#[derive(Clone)]
pub struct RawHost {
    engine: Engine,
    pre: Arc<bindings::PluginPre<RawState>>,
}

impl RawHost {
    pub fn new(component_bytes: &[u8]) -> anyhow::Result<Self> {
        Self::with_pool(component_bytes, PoolingAllocationConfig::default())
    }

    /// With room for only a few instances: valgrind cannot reserve the default pool.
    pub fn small(component_bytes: &[u8]) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(4)
            .total_core_instances(16)
            .total_memories(8)
            .total_tables(16)
            .total_stacks(4);
        Self::with_pool(component_bytes, pool)
    }

    fn with_pool(component_bytes: &[u8], pool: PoolingAllocationConfig) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, component_bytes)
            .map_err(anyhow::Error::from)
            .context("compiling for the raw baseline")?;
        let mut linker = Linker::<RawState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        types::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s)?;
        messaging::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s)?;
        let pre = bindings::PluginPre::new(linker.instantiate_pre(&component)?)?;
        Ok(RawHost {
            engine,
            pre: Arc::new(pre),
        })
    }

    fn store(&self) -> Store<RawState> {
        new_store(&self.engine)
    }

    /// `count` events from `first`, a fresh instance for each (`fresh`) or one for all.
    pub fn run(&self, fresh: bool, first: u64, count: u64) -> anyhow::Result<Run> {
        let mut latencies_ns = Vec::with_capacity(count as usize);
        let mut reused = None;
        if !fresh {
            let mut store = self.store();
            let plugin = self.pre.instantiate(&mut store)?;
            reused = Some((store, plugin));
        }
        let started = Instant::now();
        for n in first..first + count {
            let began = Instant::now();
            let event = wit_event(n);
            let result = match reused.as_mut() {
                Some((store, plugin)) => plugin.call_handle_event(store, &event)?,
                None => {
                    let mut store = self.store();
                    let plugin = self.pre.instantiate(&mut store)?;
                    plugin.call_handle_event(&mut store, &event)?
                }
            };
            result.map_err(|e| anyhow::anyhow!("the plugin failed: {}", e.message))?;
            latencies_ns.push(began.elapsed().as_nanos() as u64);
        }
        Ok(Run {
            events: count,
            elapsed: started.elapsed(),
            latencies_ns,
        })
    }
}

/// The benchmark's event `n` in one set of the baseline's WIT types (the sync and the async
/// bindings each have their own), built per event as Plaza does.
macro_rules! bench_event {
    ($types:ident, $n:expr) => {{
        let n: u64 = $n;
        $types::Event {
            meta: $types::EventMeta {
                event_id: format!("e-{n}"),
                community_id: "bench".into(),
                sequence: n + 1,
                timestamp_ms: 1_767_225_600_000 + n,
                attempt: 1,
            },
            kind: $types::EventKind::MessagePosted($types::Message {
                id: format!("m-{n}"),
                channel: "general".into(),
                author: format!("member-{}", n % 100),
                text: format!("hello number {n}"),
                mentions: Vec::new(),
                reply_to: None,
            }),
        }
    }};
}

fn wit_event(n: u64) -> types::Event {
    bench_event!(types, n)
}

fn async_event(n: u64) -> async_types::Event {
    bench_event!(async_types, n)
}
