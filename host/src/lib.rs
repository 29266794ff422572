//! Plaza's host runtime: runs community plugins as sandboxed WebAssembly components.
//!
//! # Layout
//! The pipeline reads in folder order, from what a plugin is to what it did:
//! - [`manifest`]: `plaza.toml`: what a plugin requests (each capability with a reason), its
//!   events, commands, config schema and limits; embedded into the component by `plaza package`.
//! - [`capability`]: the capability catalogue and the grant checks every host call goes through.
//! - [`event`]: community events in their documented JSON form, and event files (JSON lines).
//! - [`engine`]: the shared wasmtime [`Engine`](wasmtime::Engine) (pooling allocator, epoch
//!   ticker) and the on-disk compiled-component cache.
//! - [`runtime`]: loading a plugin (compile, link, `InstancePre`), inspecting it, and running one
//!   invocation in a fresh, limited instance with an inert WASI context (or, for plugins that
//!   opt in, in a bounded reused instance of the same install).
//! - [`dispatch`]: the [`Plaza`] facade: routing events to the installs that subscribed and hold
//!   the grants, member pseudonyms, the review hook, timers, and applying an invocation's
//!   effects only when it succeeded.
//! - [`host_api`]: one module per host interface (logging, messaging, moderation, members, kv,
//!   http, scheduler): each checks the grant on every call and records effects; paced rate limits.
//! - [`effects`]: the actions one invocation asked for, held until the handler returns.
//! - [`storage`]: community state and the admin model behind traits, in memory, in the
//!   embedded SQLite database, or in PostgreSQL shared by several host nodes.
//! - [`admin`]: communities, installs, grants and revokes, upgrades with re-consent, the audit
//!   log and per-install status.
//! - [`wit`]: the `bindgen!` bindings of each WIT version and conversions to the host's types.
//! - [`serve`]: `plaza serve`, the host as an HTTP service: durable event ingest, the admin API
//!   with per-community authorization by bearer tokens (hashed at rest), the web console.
//! - [`signing`]: signed packages: developer signatures, platform review stamps, the operator's
//!   policy and key continuity on upgrade, checked at install and upgrade.
//! - [`operator`]: `operator.toml`, the host operator's settings for every community.
//! - [`harness`]: a test harness for plugin conformance tests in Rust: one in-memory community,
//!   installs with chosen grants, events at a deterministic time, assertions on effects.
//! - [`check`]: `plaza check`, the conformance kit run before shipping and at review, built on
//!   the harness: report, JSON and JUnit output.
//! - [`bus`]: scale-out on NATS JetStream (`plaza serve --bus`): events partitioned by
//!   community onto a stream, partition leases in a KV bucket, one consumer per owned partition
//!   delivering through the same log and pump as the embedded mode.
//! - `hash`: the hash map of the dispatch path and the in-memory stores (foldhash).
//! - [`metrics`]: counters, histograms and gauges of ingest, delivery and invocations, in the
//!   Prometheus text format (what `plaza serve` exposes at `/metrics`).

pub mod admin;
pub mod bus;
pub mod capability;
pub mod check;
pub mod dispatch;
pub mod effects;
pub mod engine;
pub mod error;
pub mod event;
pub mod harness;
mod hash;
pub mod host_api;
pub mod manifest;
pub mod metrics;
pub mod operator;
pub mod runtime;
pub mod serve;
pub mod signing;
pub mod storage;
pub mod wit;

pub use capability::{Capability, GrantSet};
pub use dispatch::{Plaza, PlazaConfig};
pub use effects::Action;
pub use error::PlazaError;
pub use event::{Event, EventKind, EventMeta};
pub use manifest::Manifest;
pub use runtime::report::{InvocationReport, Outcome};
