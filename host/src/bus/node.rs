//! A bus node: announces itself, keeps its leases (renewing, taking free ones up to its
//! share, releasing extras when nodes join) and runs one consumer per partition it holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::consume::Partition;
use super::lease::{Held, Leases};
use super::{lease, publish, BusError, BusSettings};
use crate::dispatch::{now_ms, EmbeddedPlatform, OutboxSink};
use crate::Plaza;

/// Outbox entries handed to the sink at once.
const OUTBOX_BATCH: usize = 500;

/// How a node's run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSummary {
    /// The node's id.
    pub node_id: String,
    /// Events it consumed (accepted, duplicate or refused) and acknowledged.
    pub events: u64,
    /// Leases it took over its run.
    pub leases_taken: u64,
}

/// A partition this node holds and consumes.
struct Owned {
    held: Held,
    renewed: Instant,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Owned {
    /// Stops its consumer after the event in hand and waits for it.
    async fn stop(self) -> Held {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.held
    }
}

/// Runs a node over `plaza` until `shutdown` turns true; then it stops its consumers, releases
/// its leases and leaves, so the others take over at once.
pub async fn run_node(
    plaza: Arc<Plaza>,
    settings: BusSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<NodeSummary, BusError> {
    run_node_with_sink(plaza, settings, Arc::new(EmbeddedPlatform), shutdown).await
}

/// [`run_node`], relaying the outbox to `sink` (the platform's API) while this node holds
/// partition 0.
pub async fn run_node_with_sink(
    plaza: Arc<Plaza>,
    settings: BusSettings,
    sink: Arc<dyn OutboxSink>,
    shutdown: watch::Receiver<bool>,
) -> Result<NodeSummary, BusError> {
    // Every line a node logs, its consumers' included, names the node.
    let span = tracing::info_span!("bus_node", node = %settings.node_id);
    run(plaza, settings, sink, shutdown).instrument(span).await
}

async fn run(
    plaza: Arc<Plaza>,
    settings: BusSettings,
    sink: Arc<dyn OutboxSink>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<NodeSummary, BusError> {
    let settings = Arc::new(settings);
    let url = settings.url.as_str();
    let client = publish::connect(url).await?;
    let js = jetstream::new(client);
    publish::ensure_stream(&js, url).await?;
    lease::agree_partitions(&js, url, settings.partitions).await?;
    let leases = Leases::open(&js, url, &settings.node_id, settings.lease_ttl).await?;
    let round = settings.lease_ttl / 3;
    let handled = Arc::new(AtomicU64::new(0));
    let mut owned: BTreeMap<u32, Owned> = BTreeMap::new();
    let mut summary = NodeSummary {
        node_id: settings.node_id.clone(),
        ..NodeSummary::default()
    };
    let mut watching = true;
    // Consumers told to stop (their partition goes to a joining node) but still finishing the
    // event in hand: their leases are renewed until they finish, then released. The loop never
    // waits on them, so a slow event cannot hold up the renewal of every other lease.
    let mut draining: BTreeMap<u32, Owned> = BTreeMap::new();
    let mut live = 1;
    tracing::info!(node = %settings.node_id, partitions = settings.partitions, "bus node started");
    while !*shutdown.borrow() {
        // Leases first: everything else in the round may be slow.
        if let Err(e) = leases.announce().await {
            tracing::warn!("{e}");
        }
        renew(&leases, &mut owned, settings.lease_ttl - round).await;
        release_drained(&leases, &mut draining).await;
        renew(&leases, &mut draining, settings.lease_ttl - round).await;
        if let Err(e) = plaza.refresh_installs().await {
            tracing::error!("reloading installs changed by other nodes: {e}");
        }
        // Each live node holds at most its share, so a joining node finds leases to take. When
        // the count cannot be read, the last one stands (rather than grabbing everything).
        match leases.live_nodes().await {
            Ok(nodes) => live = nodes.len().max(1),
            Err(e) => tracing::warn!("{e}"),
        }
        let share = (settings.partitions as usize).div_ceil(live);
        while owned.len() > share {
            let (&p, _) = owned.iter().next_back().expect("more than zero");
            let o = owned.remove(&p).expect("present");
            let _ = o.stop.send(true);
            tracing::info!(
                partition = p,
                "handing over to a joining node once the event in hand is done"
            );
            draining.insert(p, o);
        }
        // Start the search at a node-specific partition, so nodes do not all race for p0.
        let start = super::subject::fnv1a(&settings.node_id) as u32 % settings.partitions.max(1);
        for i in 0..settings.partitions {
            if owned.len() + draining.len() >= share {
                break;
            }
            let p = (start + i) % settings.partitions;
            if owned.contains_key(&p) || draining.contains_key(&p) {
                continue;
            }
            match leases.try_acquire(p).await {
                Ok(Some(held)) => {
                    tracing::info!(partition = p, "lease taken");
                    summary.leases_taken += 1;
                    let (stop, stopped) = watch::channel(false);
                    let worker = Partition {
                        plaza: plaza.clone(),
                        js: js.clone(),
                        settings: settings.clone(),
                        partition: p,
                        handled: handled.clone(),
                    };
                    let task = tokio::spawn(worker.run(stopped).in_current_span());
                    owned.insert(
                        p,
                        Owned {
                            held,
                            renewed: Instant::now(),
                            stop,
                            task,
                        },
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("{e}");
                    break;
                }
            }
        }
        fire_due_timers(&plaza, &owned, settings.partitions);
        // One relay for the whole bus (the sink is at least once per key, but there is no
        // need to send everything N times): the holder of partition 0.
        if owned.contains_key(&0) {
            relay_outbox(&plaza, &*sink);
        }
        tokio::select! {
            _ = tokio::time::sleep(round) => {}
            // A dropped sender never asks again (as in the embedded runner): run on, without spinning.
            changed = shutdown.changed(), if watching => watching = changed.is_ok(),
        }
    }
    for (p, o) in std::mem::take(&mut owned)
        .into_iter()
        .chain(std::mem::take(&mut draining))
    {
        let held = o.stop().await;
        if let Err(e) = leases.release(held).await {
            tracing::warn!(partition = p, "releasing at shutdown: {e}");
        }
    }
    leases.leave().await;
    summary.events = handled.load(Ordering::Relaxed);
    tracing::info!(node = %summary.node_id, events = summary.events, "bus node stopped");
    Ok(summary)
}

/// Appends the firings of due timers of the communities in this node's partitions to their
/// logs; the partitions' consumers deliver them at their next sweep. A firing's event id is
/// the timer's id and due time, so a firing repeated by the next owner is a duplicate.
fn fire_due_timers(plaza: &Plaza, owned: &BTreeMap<u32, Owned>, partitions: u32) {
    if owned.is_empty() {
        return;
    }
    let mine = |community: &str| owned.contains_key(&super::subject::partition_of(community, partitions));
    if let Err(e) = plaza.enqueue_due_timers_where(now_ms(), mine) {
        tracing::error!("firing due timers: {e}");
    }
}

/// Hands pending outbox entries to the platform, a batch at a time, until none are left.
fn relay_outbox(plaza: &Plaza, sink: &dyn OutboxSink) {
    loop {
        match plaza.relay_outbox(sink, OUTBOX_BATCH) {
            Ok(n) if n == OUTBOX_BATCH => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::error!("{e}");
                return;
            }
        }
    }
}

/// Releases the leases of handed-over partitions whose consumers have finished.
async fn release_drained(leases: &Leases, draining: &mut BTreeMap<u32, Owned>) {
    let finished: Vec<u32> = draining
        .iter()
        .filter(|(_, o)| o.task.is_finished())
        .map(|(p, _)| *p)
        .collect();
    for p in finished {
        let held = draining.remove(&p).expect("present").held;
        match leases.release(held).await {
            Ok(()) => tracing::info!(partition = p, "released for a joining node"),
            // It expires within the TTL instead.
            Err(e) => tracing::warn!(partition = p, "releasing: {e}"),
        }
    }
}

/// Renews every held lease. A lost lease stops its consumer; so does one not renewed for
/// `safe_for` (the node cannot reach NATS: the lease may expire there, and another node
/// take it, before this one hears of it).
async fn renew(leases: &Leases, owned: &mut BTreeMap<u32, Owned>, safe_for: Duration) {
    let mut lost = Vec::new();
    for (&p, o) in owned.iter_mut() {
        match leases.renew(o.held).await {
            Ok(Some(held)) => {
                o.held = held;
                o.renewed = Instant::now();
            }
            Ok(None) => {
                tracing::warn!(partition = p, "lease lost; stopping its consumer");
                lost.push(p);
            }
            Err(e) if o.renewed.elapsed() >= safe_for => {
                tracing::warn!(partition = p, "lease not renewed in time ({e}); stopping its consumer");
                lost.push(p);
            }
            Err(e) => tracing::warn!(partition = p, "{e}"),
        }
        if o.task.is_finished() {
            lost.push(p);
        }
    }
    for p in lost {
        if let Some(o) = owned.remove(&p) {
            // Not awaited: a consumer cut off from NATS may take long to notice.
            let _ = o.stop.send(true);
        }
    }
}
