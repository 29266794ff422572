//! `plaza serve`: the host as an HTTP service on the embedded store. Event ingest (durable
//! before it answers), the admin REST API with per-community authorization, `/metrics`, the
//! web console and the API's OpenAPI document. The contract is `docs/api.md`.
//!
//! - [`routes`]: the route table. Each route declares its access and body, and the router,
//!   the authorization tests and the OpenAPI check are all built from that one table.
//! - `guard`: what runs before every handler: authentication, authorization, body limits
//!   and deadlines, and the answer deadline.
//! - [`auth`], [`tokens`], [`tokens_sqlite`], [`tokens_postgres`]: bearer tokens (hashed at rest)
//!   and their two roles.
//! - [`errors`]: the one error shape and how library errors map onto it.
//! - [`body`]: media types, body limits, JSON, path and query extraction.
//! - `ingest` and `batcher`: `POST /v1/events`, with concurrent requests grouped into one
//!   durable write.
//! - `communities`, `plugins`, `delivery_api`, `tokens_api`: the admin API.
//! - `site`: health, the console's files, the OpenAPI document, metrics.
//! - [`server`]: the accept loop (slow clients cut off, connection limit, graceful shutdown).

pub mod auth;
mod batcher;
pub mod body;
mod communities;
mod delivery_api;
pub mod errors;
mod guard;
mod ingest;
mod plugins;
pub mod routes;
mod secrets_api;
pub mod server;
mod site;
pub mod tokens;
mod tokens_api;
pub mod tokens_postgres;
pub mod tokens_sqlite;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub use auth::Access;
pub use body::BodyKind;
pub use errors::ApiError;
pub use routes::{route_table, router, RouteSpec};
pub use server::Server;
pub use tokens::{MemoryTokenStore, NewToken, Role, TokenInfo, TokenStore};
pub use tokens_postgres::PostgresTokenStore;
pub use tokens_sqlite::SqliteTokenStore;

use crate::dispatch::Plaza;

/// The OpenAPI 3.1 document of this API (`docs/openapi.json`), served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Limits and deadlines of the service (defaults as documented in `docs/api.md`).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers, and then its body; also how
    /// long an idle keep-alive connection stays open (default 30 s).
    pub request_timeout: Duration,
    /// How long a client waits for an answer; the operation itself runs to its end (default 60 s).
    pub answer_timeout: Duration,
    /// Largest JSON body (default 1 MiB).
    pub max_json_bytes: usize,
    /// Largest plugin upload (default 16 MiB).
    pub max_wasm_bytes: usize,
    /// Most events in one ingest request (default 1 000).
    pub max_batch: usize,
    /// Connections served at once; more wait to be accepted (default 1 024).
    pub max_connections: usize,
    /// Durable ingest writes in flight at once; requests arriving meanwhile are grouped into
    /// the next write (default 2).
    pub ingest_writers: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            request_timeout: Duration::from_secs(30),
            answer_timeout: Duration::from_secs(60),
            max_json_bytes: 1 << 20,
            max_wasm_bytes: 16 << 20,
            max_batch: 1_000,
            max_connections: 1_024,
            ingest_writers: 2,
        }
    }
}

/// Counts of ingest answers since start, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct IngestCounters {
    accepted: AtomicU64,
    duplicate: AtomicU64,
    rejected: AtomicU64,
    invalid: AtomicU64,
    failed: AtomicU64,
}

/// What every handler shares.
pub struct AppState {
    /// The host.
    pub plaza: Arc<Plaza>,
    /// The API tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Limits and deadlines.
    pub options: ServeOptions,
    ingest: Intake,
    counters: IngestCounters,
}

/// Where `POST /v1/events` puts events.
enum Intake {
    /// The embedded log, through the batching writer.
    Local(batcher::IngestQueue),
    /// The NATS stream of a bus node (`plaza serve --bus`): the node holding the event's
    /// partition accepts it into its community's log and delivers it.
    Bus(Box<crate::bus::Publisher>),
}

impl AppState {
    /// Shared state over a host and a token store. Starts the ingest writer, so it must be
    /// called on a tokio runtime.
    pub fn new(plaza: Arc<Plaza>, tokens: Arc<dyn TokenStore>, options: ServeOptions) -> Arc<AppState> {
        let ingest = batcher::IngestQueue::start(plaza.clone(), options.max_batch, options.ingest_writers);
        AppState::with_intake(plaza, tokens, options, Intake::Local(ingest))
    }

    /// Shared state for a bus node: ingested events are published to the NATS stream rather
    /// than appended here, so whichever node holds a community's partition delivers them, in
    /// order with the events other nodes and producers publish.
    pub fn with_bus(
        plaza: Arc<Plaza>,
        tokens: Arc<dyn TokenStore>,
        options: ServeOptions,
        publisher: crate::bus::Publisher,
    ) -> Arc<AppState> {
        AppState::with_intake(plaza, tokens, options, Intake::Bus(Box::new(publisher)))
    }

    fn with_intake(
        plaza: Arc<Plaza>,
        tokens: Arc<dyn TokenStore>,
        options: ServeOptions,
        ingest: Intake,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            plaza,
            tokens,
            options,
            ingest,
            counters: IngestCounters::default(),
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
