//! Plaza's host runtime: runs community plugins as sandboxed WebAssembly components.
//!
//! # Layout
//! The pipeline reads in folder order, from what a plugin is to what it did:
//! - [`capability`]: the capability catalogue and the grant checks every host call goes through.
//! - [`event`]: community events in their documented JSON form, and event files (JSON lines).
//! - [`engine`]: the shared wasmtime [`Engine`](wasmtime::Engine) (pooling allocator, epoch
//!   ticker) and the on-disk compiled-component cache.
//! - [`runtime`]: loading a plugin (compile, link, `InstancePre`), inspecting it, and running one
//!   invocation in a fresh, limited instance with an inert WASI context.
//! - [`dispatch`]: the [`Plaza`] facade: communities, installs, routing events to plugins,
//!   the review hook, and applying an invocation's effects only when it succeeded.
//! - [`host_api`]: one module per host interface (logging, messaging, moderation, members, kv,
//!   http, scheduler): each checks the grant on every call and records effects.
//! - [`effects`]: the actions one invocation asked for, held until the handler returns.
//! - [`storage`]: community state (members, messages, plugin KV, timers) behind a trait.
//! - [`wit`]: the `bindgen!` bindings of each WIT version and conversions to the host's types.

pub mod capability;
pub mod dispatch;
pub mod effects;
pub mod engine;
pub mod error;
pub mod event;
pub mod host_api;
pub mod runtime;
pub mod storage;
pub mod wit;

pub use capability::{Capability, GrantSet};
pub use dispatch::{Plaza, PlazaConfig};
pub use effects::Action;
pub use error::PlazaError;
pub use event::{Event, EventKind, EventMeta};
pub use runtime::report::{InvocationReport, Outcome};
