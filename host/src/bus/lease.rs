//! Partition leases in a NATS KV bucket: at most one owner per partition, bounded in time.
//!
//! A lease is the key `p<N>` of [`LEASE_BUCKET`](super::LEASE_BUCKET) holding the owner's node
//! id. It is taken with a compare-and-set write (create when absent, or update at the
//! revision of a released one) and renewed by rewriting it at the revision the owner holds, so
//! two nodes can never both succeed. The bucket's age limit is the lease TTL: a lease not
//! rewritten within it disappears from the server, and another node may create it.
//!
//! Every call here is bounded by a third of the TTL: the lease loop makes them in sequence,
//! and a call left waiting on a server that went away must not stop the renewal of the rest.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::TryStreamExt as _;

use super::{BusError, LEASE_BUCKET, NODE_BUCKET};

/// The bucket of settings every node must agree on; its entries never expire.
const CONFIG_BUCKET: &str = "plaza_bus";
/// The key recording the bus's partition count.
const PARTITIONS_KEY: &str = "partitions";

/// A value a released lease holds, so the next owner updates it at its revision.
const RELEASED: &[u8] = b"";

/// Opens (or creates) a bucket whose entries live `ttl` (zero: forever), keeping one value
/// per key. The bucket's stream is created here as the client's `create_key_value` would,
/// because that call first reads account fields the Debian server (2.9) does not send.
async fn bucket(js: &jetstream::Context, url: &str, name: &str, ttl: Duration) -> Result<kv::Store, BusError> {
    let config = jetstream::stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| BusError::nats(url, format!("creating the bucket {name}"), e))?;
    js.get_key_value(name)
        .await
        .map_err(|e| BusError::nats(url, format!("opening the bucket {name}"), e))
}

/// Records the partition count on first use, and refuses another one later.
pub(crate) async fn agree_partitions(js: &jetstream::Context, url: &str, partitions: u32) -> Result<(), BusError> {
    // A zero age limit: kept until deleted.
    let store = bucket(js, url, CONFIG_BUCKET, Duration::ZERO).await?;
    let ours = partitions.to_string();
    for _ in 0..3 {
        match store.entry(PARTITIONS_KEY).await {
            Ok(Some(entry)) if entry.operation == kv::Operation::Put && !entry.value.is_empty() => {
                let theirs = String::from_utf8_lossy(&entry.value).parse::<u32>().unwrap_or(0);
                if theirs != partitions {
                    return Err(BusError::PartitionMismatch {
                        ours: partitions,
                        theirs,
                    });
                }
                return Ok(());
            }
            Ok(_) => {
                if store.create(PARTITIONS_KEY, ours.clone().into()).await.is_ok() {
                    return Ok(());
                }
            }
            Err(e) => return Err(BusError::nats(url, "reading the partition count", e)),
        }
    }
    Err(BusError::nats(
        url,
        "recording the partition count",
        "another node keeps changing it",
    ))
}

/// A held lease: its partition and the revision the holder wrote last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The partition.
    pub partition: u32,
    /// The revision of the holder's last write.
    pub revision: u64,
}

/// One node's view of the lease and node buckets.
pub struct Leases {
    leases: kv::Store,
    nodes: kv::Store,
    node_id: String,
    url: String,
    /// The longest one call to NATS may take.
    call_limit: Duration,
}

/// The longest a lease call may take: a third of the TTL (the renewal period), at least 100 ms.
fn call_limit(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(100))
}

fn key(partition: u32) -> String {
    format!("p{partition}")
}

impl Leases {
    /// Opens both buckets (created with `ttl` as their age limit when missing).
    pub async fn open(js: &jetstream::Context, url: &str, node_id: &str, ttl: Duration) -> Result<Self, BusError> {
        Ok(Leases {
            leases: bucket(js, url, LEASE_BUCKET, ttl).await?,
            nodes: bucket(js, url, NODE_BUCKET, ttl).await?,
            node_id: node_id.to_string(),
            url: url.to_string(),
            call_limit: call_limit(ttl),
        })
    }

    /// Runs one NATS call, failing it when it takes longer than the call limit.
    async fn bounded<T, E: std::fmt::Display>(
        &self,
        what: impl Fn() -> String,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BusError> {
        match tokio::time::timeout(self.call_limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(BusError::nats(&self.url, what(), e)),
            Err(_) => Err(BusError::nats(
                &self.url,
                what(),
                format!("no answer within {} ms", self.call_limit.as_millis()),
            )),
        }
    }

    /// Connects to `url` and opens both buckets (see [`Leases::open`]).
    pub async fn connect(url: &str, node_id: &str, ttl: Duration) -> Result<Self, BusError> {
        let js = jetstream::new(super::publish::connect(url).await?);
        Leases::open(&js, url, node_id, ttl).await
    }

    /// Says this node is alive (for balancing: nodes hold ⌈partitions / live nodes⌉ each).
    pub async fn announce(&self) -> Result<(), BusError> {
        let put = self.nodes.put(self.node_id.as_str(), self.node_id.clone().into());
        self.bounded(|| "announcing the node".into(), put).await?;
        Ok(())
    }

    /// Nodes that announced themselves within the TTL (and did not leave).
    ///
    /// Read as the subjects present in the node bucket's stream, then each key's last entry.
    /// Not with the bucket's key listing: that is a consumer which ends once it has delivered
    /// as many entries as it counted at its start, and node entries expiring meanwhile leave
    /// it waiting for ever.
    pub async fn live_nodes(&self) -> Result<BTreeSet<String>, BusError> {
        let prefix = format!("$KV.{NODE_BUCKET}.");
        let subjects = async {
            let mut info = self.nodes.stream.info_with_subjects(format!("{prefix}>")).await?;
            let mut subjects = Vec::new();
            while let Some((subject, _count)) = info.try_next().await? {
                subjects.push(subject);
            }
            Ok::<_, jetstream::stream::InfoError>(subjects)
        };
        let subjects = self.bounded(|| "listing live nodes".into(), subjects).await?;
        let mut live = BTreeSet::new();
        for subject in subjects {
            let Some(node) = subject.strip_prefix(&prefix) else {
                continue;
            };
            let entry = self
                .bounded(|| format!("reading node {node}"), self.nodes.entry(node))
                .await?;
            // A node that left is a delete marker until it ages out.
            if entry.is_some_and(|e| e.operation == kv::Operation::Put) {
                live.insert(node.to_string());
            }
        }
        Ok(live)
    }

    /// Takes the partition's lease if nobody holds it; `None` when someone does.
    pub async fn try_acquire(&self, partition: u32) -> Result<Option<Held>, BusError> {
        let what = || format!("reading lease {}", key(partition));
        let entry = self.bounded(what, self.leases.entry(key(partition))).await?;
        let value = bytes::Bytes::from(self.node_id.clone());
        let what = || format!("taking lease {}", key(partition));
        // A refused write means another node took it first.
        let written = match entry {
            Some(e) if e.operation == kv::Operation::Put && e.value.as_ref() != RELEASED => return Ok(None),
            // Released (or deleted): take it at the revision seen, so only one taker wins.
            Some(e) => {
                let update = self.leases.update(key(partition), value, e.revision);
                self.bounded(what, update).await.ok()
            }
            None => self.bounded(what, self.leases.create(key(partition), value)).await.ok(),
        };
        Ok(written.map(|revision| Held { partition, revision }))
    }

    /// Renews a held lease; `Ok(None)` when it was lost (expired and taken, or released).
    pub async fn renew(&self, held: Held) -> Result<Option<Held>, BusError> {
        let value = bytes::Bytes::from(self.node_id.clone());
        let what = || format!("renewing lease {}", key(held.partition));
        let update = async {
            match self.leases.update(key(held.partition), value, held.revision).await {
                Ok(revision) => Ok(Some(revision)),
                // Another node took it over: not an error, the lease is simply lost.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(e),
            }
        };
        let revision = self.bounded(what, update).await?;
        Ok(revision.map(|revision| Held { revision, ..held }))
    }

    /// Gives a lease up (after its consumer stopped), so another node takes it at once.
    pub async fn release(&self, held: Held) -> Result<(), BusError> {
        let what = || format!("releasing lease {}", key(held.partition));
        let update = self.leases.update(key(held.partition), RELEASED.into(), held.revision);
        self.bounded(what, update).await?;
        Ok(())
    }

    /// Says this node is leaving (graceful shutdown).
    pub async fn leave(&self) {
        let delete = self.nodes.delete(self.node_id.as_str());
        let _ = self.bounded(|| "leaving".into(), delete).await;
    }

    /// The owner of each held partition (for status and tests).
    pub async fn owners(&self, partitions: u32) -> Result<Vec<Option<String>>, BusError> {
        let mut owners = Vec::new();
        for p in 0..partitions {
            let what = || format!("reading lease {}", key(p));
            let entry = self.bounded(what, self.leases.entry(key(p))).await?;
            owners.push(
                entry
                    .filter(|e| e.operation == kv::Operation::Put && e.value.as_ref() != RELEASED)
                    .map(|e| String::from_utf8_lossy(&e.value).into_owned()),
            );
        }
        Ok(owners)
    }
}

/// The owner of each partition as the bus says now (for `plaza status`-like views and tests):
/// connects to `url` and reads the lease bucket; all `None` before any node ran.
pub async fn owners_at(url: &str, partitions: u32) -> Result<Vec<Option<String>>, BusError> {
    let js = jetstream::new(super::publish::connect(url).await?);
    let Ok(leases) = js.get_key_value(LEASE_BUCKET).await else {
        return Ok(vec![None; partitions as usize]);
    };
    let nodes = match js.get_key_value(NODE_BUCKET).await {
        Ok(nodes) => nodes,
        Err(_) => leases.clone(),
    };
    let view = Leases {
        leases,
        nodes,
        node_id: String::new(),
        url: url.to_string(),
        call_limit: Duration::from_secs(5),
    };
    view.owners(partitions).await
}
