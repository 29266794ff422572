//! Scale-out on NATS JetStream (`plaza serve --bus nats://HOST:PORT`): several host nodes share
//! the event stream, each community's events handled by one node at a time, in order.
//!
//! # Design
//! - **Subjects and partitions** ([`subject`]). An event is published to
//!   `plaza.events.<partition>.<community>` on the stream `PLAZA_EVENTS`. The partition is the
//!   64-bit FNV-1a hash of the community id modulo a fixed number of partitions (16 by default):
//!   computed by the publisher rather than by JetStream subject mapping, so the same function
//!   tells a node which communities a partition holds (for its sweeps) and works on any server
//!   version. The count is recorded in the lease bucket by the first node; a node configured
//!   with another count refuses to start (changing it would split a community's order).
//!   The message id (`Nats-Msg-Id`) is the event id, so a publisher's retry within the
//!   stream's duplicate window is stored once; past it, the node's log dedupe catches it.
//! - **One node per partition: leases** ([`lease`]). JetStream 2.9 has no exclusive consumer,
//!   so ownership is a lease per partition in the KV bucket `plaza_leases` (key `p<N>`, value
//!   the node id), written with revision compare-and-set and bounded by the bucket's age limit
//!   (the lease TTL, 6 s by default). The owner rewrites it every TTL/3; an owner that cannot
//!   (its NATS connection is cut) stops consuming once TTL − TTL/3 has passed since its last
//!   renewal, before the lease can expire on the server. Nodes announce themselves in
//!   `plaza_nodes` (same TTL) and hold at most ⌈partitions / live nodes⌉ leases, releasing
//!   extras when a node joins (a node that left on shutdown is not counted). Every call the
//!   lease loop makes to NATS gives up after TTL/3, so a server that stops answering cannot
//!   hold up the other renewals. A dead node's leases expire at most one TTL after its last
//!   renewal, and the others pick them up at their next round: **takeover within
//!   TTL + TTL/3 + ack wait** (the message the dead node held is redelivered after the
//!   consumer's ack wait, 10 s by default; 18 s in all with the defaults).
//! - **Order** ([`consume`]). Each partition has one durable pull consumer (`plaza-p<N>`,
//!   filtered to its subjects) with at most one unacknowledged message. That bounds
//!   throughput per partition, but it is what keeps a community's order across a handover: the
//!   next owner cannot get event k+1 while the previous owner still holds event k, even if
//!   that owner is only slow, not dead. The stream is a work queue: acknowledged events leave
//!   it (the community's log keeps them). A partition that delivers nothing for 5 s while
//!   events wait subscribes again; if its consumer counts an event in flight that the stream
//!   no longer holds (a NATS crash right after an ack), the consumer is made anew
//!   ([`consume::Stall`]).
//! - **Effects exactly once.** A consumed event goes through [`Plaza::accept`](crate::Plaza::accept) (the review hook
//!   for new messages, then a durable append to its community's log, deduplicated by event id)
//!   and is delivered by the embedded mode's own pump: each install's effects, outbox entries
//!   (keyed `{event id}/{plugin}/{index}`) and audit commit in one transaction with its
//!   cursor's compare-and-set move. Only then is the message acknowledged. A crash before the
//!   ack redelivers it: the append answers "duplicate", the pump finds the cursor moved, and
//!   nothing takes effect twice. Failed deliveries retry per the host's retry policy, from the
//!   log; the owning node re-pumps its partitions' installs that lag (on taking a partition
//!   and every sweep interval), so nothing waits on a node that died.
//! - **Shared state.** Installs, grants, audit, KV, logs, cursors, outbox and tokens live in the
//!   store every node opens: PostgreSQL (`--store postgres://…`,
//!   [`PostgresStore`](crate::storage::postgres::PostgresStore)) for nodes on several machines,
//!   whose transactions keep the pump's one-commit rule; or the embedded SQLite database in a
//!   shared data directory for nodes on one machine.
//! - **Timers, outbox, ingest.** Each node fires the due timers of the communities in the
//!   partitions it holds (the firing's id is the timer's id and due time, so a repeat by the
//!   next owner is a duplicate); the holder of partition 0 relays the outbox to the platform.
//!   `POST /v1/events` on a bus node publishes to the stream instead of appending locally, so
//!   events arriving at any node reach the partition's owner in order.
//! - **Not pruned.** Bus nodes do not prune community logs: pruning forgets an entry's dedupe
//!   key, and the NATS message of a pruned event may still be redelivered (a node that died
//!   between its commit and its ack) and would then be appended as new.

pub mod consume;
pub mod lease;
pub mod node;
pub mod publish;
pub mod subject;

use std::time::Duration;

pub use node::{run_node, run_node_with_sink, NodeSummary};
pub use publish::{Published, Publisher};

/// The stream every node shares.
pub const STREAM: &str = "PLAZA_EVENTS";
/// The lease bucket.
pub const LEASE_BUCKET: &str = "plaza_leases";
/// The bucket where live nodes announce themselves.
pub const NODE_BUCKET: &str = "plaza_nodes";

/// How a node uses the bus.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// The NATS server, `nats://HOST:PORT`.
    pub url: String,
    /// Partitions (fixed for the life of the stream; 16 by default).
    pub partitions: u32,
    /// This node's id (unique among live nodes); a random one by default.
    pub node_id: String,
    /// How long a lease lasts without renewal (6 s by default).
    pub lease_ttl: Duration,
    /// How long a consumed message may stay unacknowledged before it is redelivered to the
    /// partition's (next) owner (10 s by default). Longer than the slowest event takes.
    pub ack_wait: Duration,
    /// How often an owner re-pumps its partitions' installs that lag (2 s by default).
    pub sweep_interval: Duration,
}

impl BusSettings {
    /// Defaults for a server at `url`.
    pub fn new(url: &str) -> Self {
        BusSettings {
            url: url.to_string(),
            partitions: 16,
            node_id: format!("node-{}-{:x}", std::process::id(), crate::dispatch::now_ms()),
            lease_ttl: Duration::from_secs(6),
            ack_wait: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(2),
        }
    }
}

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Talking to NATS failed.
    #[error("NATS at {url}: {what}: {message}")]
    Nats {
        /// The server.
        url: String,
        /// What the node was doing.
        what: String,
        /// The client's error.
        message: String,
    },
    /// The stream was set up with another partition count.
    #[error("the bus has {theirs} partitions but this node is configured for {ours}")]
    PartitionMismatch {
        /// This node's setting.
        ours: u32,
        /// The bus's.
        theirs: u32,
    },
    /// An event could not be published.
    #[error("event {event} in community `{community}`: {message}")]
    Event {
        /// The event id.
        event: String,
        /// Its community.
        community: String,
        /// Why.
        message: String,
    },
}

impl BusError {
    pub(crate) fn nats(url: &str, what: impl Into<String>, error: impl std::fmt::Display) -> Self {
        BusError::Nats {
            url: url.to_string(),
            what: what.into(),
            message: error.to_string(),
        }
    }
}
