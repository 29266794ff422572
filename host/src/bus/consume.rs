//! One owned partition: its durable consumer, each event accepted into its community's log and
//! delivered there, then acknowledged; and sweeps that re-pump installs still lagging (retries,
//! events left by a node that died between its append and its pump).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream::RawMessageErrorKind, AckKind};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::{subject, BusError, BusSettings, STREAM};
use crate::dispatch::{now_ms, Acceptance};
use crate::error::PlazaError;
use crate::storage::log::decode_event;
use crate::Plaza;

/// How long a partition with events waiting may go without one delivered before its consumer
/// is looked at: a pull request the server lost (in a restart) is otherwise never answered.
const STALL: Duration = Duration::from_secs(5);

/// Why a partition's consumer delivers nothing although events wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Events wait, none is in flight, and nothing arrives: the server lost the pull request
    /// (in a restart). A new subscription asks again.
    LostPull {
        /// Events waiting.
        pending: u64,
    },
    /// A live event is in flight (the stream still holds it) and is not redelivered after the
    /// ack wait: its pull request was lost too. A new subscription asks again.
    InFlightNotRedelivered {
        /// Events waiting behind it.
        pending: u64,
        /// Events in flight (delivered, not yet acknowledged).
        in_flight: usize,
    },
    /// The consumer counts an event in flight that the stream no longer holds. A NATS server
    /// killed just after an acknowledgement can come back with the acknowledged (so deleted)
    /// message still pending in the consumer's state; nats-server 2.9 then fails to redeliver
    /// it every ack wait and, with one event allowed in flight, delivers no other until the
    /// stream's first sequence passes the orphan: with an older event kept in the stream,
    /// never. A new consumer gets past it.
    OrphanInFlight {
        /// The consumer's acknowledgement floor (stream sequence).
        ack_floor: u64,
        /// The last stream sequence it delivered.
        delivered: u64,
    },
}

/// Why `consumer` delivers nothing although events wait for it, if it should be delivering.
pub async fn diagnose(
    js: &jetstream::Context,
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    partition: u32,
) -> Option<Stall> {
    let info = consumer.get_info().await.ok()?;
    if info.num_ack_pending == 0 {
        return (info.num_pending > 0).then_some(Stall::LostPull {
            pending: info.num_pending,
        });
    }
    let (ack_floor, delivered) = (info.ack_floor.stream_sequence, info.delivered.stream_sequence);
    // The event in flight lies after the floor and at or before the last delivery; is any of
    // this partition's events still there?
    let first_kept = match js
        .get_stream_no_info(STREAM)
        .await
        .ok()?
        .get_first_raw_message_by_subject(subject::partition_filter(partition), ack_floor + 1)
        .await
    {
        Ok(message) => Some(message.sequence),
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => None,
        Err(_) => return None,
    };
    if first_kept.is_some_and(|seq| seq <= delivered) {
        // A real event in flight: redelivered after the ack wait, if a pull request is there.
        return Some(Stall::InFlightNotRedelivered {
            pending: info.num_pending,
            in_flight: info.num_ack_pending,
        });
    }
    // An acknowledgement that landed meanwhile moves the floor: then nothing was orphaned.
    let again = consumer.get_info().await.ok()?;
    (again.num_ack_pending > 0 && again.ack_floor.stream_sequence == ack_floor)
        .then_some(Stall::OrphanInFlight { ack_floor, delivered })
}

/// Deletes a partition's durable consumer, so that the next [`consumer`] call creates it anew.
/// On the work-queue stream a new consumer starts at the first event still there: nothing is
/// skipped, and an event delivered twice is dropped by its community log's dedupe.
pub async fn forget_consumer(js: &jetstream::Context, url: &str, partition: u32) -> Result<(), BusError> {
    let name = consumer_name(partition);
    js.delete_consumer_from_stream(&name, STREAM)
        .await
        .map_err(|e| BusError::nats(url, format!("deleting the consumer {name}"), e))?;
    Ok(())
}

/// What a partition does when its consumer delivered nothing for [`STALL`]: says why, and
/// deletes the consumer if an orphan blocks it. Returns the stall when the partition should
/// subscribe again; `None` when nothing is wrong or the consumer could not be deleted (the
/// next check tries again).
pub async fn unstick(
    js: &jetstream::Context,
    url: &str,
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    partition: u32,
) -> Option<Stall> {
    let p = partition;
    let stall = diagnose(js, consumer, p).await?;
    let quiet_for = STALL.as_secs();
    match stall {
        Stall::LostPull { .. } | Stall::InFlightNotRedelivered { .. } => {
            tracing::info!(
                partition = p,
                ?stall,
                "nothing delivered for {quiet_for} s; resubscribing"
            );
        }
        Stall::OrphanInFlight { ack_floor, delivered } => {
            tracing::warn!(
                partition = p,
                ack_floor,
                delivered,
                "the consumer holds an event in flight that the stream no longer has; creating the consumer anew"
            );
            if let Err(e) = forget_consumer(js, url, p).await {
                tracing::warn!(partition = p, "{e}; trying again later");
                return None;
            }
        }
    }
    Some(stall)
}

/// The durable consumer of a partition.
pub fn consumer_name(partition: u32) -> String {
    format!("plaza-p{partition}")
}

/// Creates (or opens) a partition's consumer: explicit acks, one message in flight.
pub async fn consumer(
    js: &jetstream::Context,
    settings: &BusSettings,
    partition: u32,
) -> Result<jetstream::consumer::Consumer<pull::Config>, BusError> {
    let url = &settings.url;
    let stream = js
        .get_stream(STREAM)
        .await
        .map_err(|e| BusError::nats(url, format!("opening the stream {STREAM}"), e))?;
    let name = consumer_name(partition);
    let config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: subject::partition_filter(partition),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        // One unacknowledged event per partition: a new owner cannot overtake an old one.
        max_ack_pending: 1,
        ..Default::default()
    };
    stream
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| BusError::nats(url, format!("creating the consumer {name}"), e))
}

/// Consumes one partition until `stop` turns true; counts handled events in `handled`.
pub(crate) struct Partition {
    pub plaza: Arc<Plaza>,
    pub js: jetstream::Context,
    pub settings: Arc<BusSettings>,
    pub partition: u32,
    pub handled: Arc<AtomicU64>,
}

impl Partition {
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let p = self.partition;
        // First whatever the previous owner left in the logs.
        self.sweep(&stop).await;
        let mut sweep = tokio::time::interval(self.settings.sweep_interval);
        'connect: while !*stop.borrow() {
            let subscribed = match consumer(&self.js, &self.settings, p).await {
                Ok(c) => c.messages().await.map(|m| (c, m)).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let (consumer, mut messages) = match subscribed {
                Ok(subscribed) => subscribed,
                Err(e) => {
                    tracing::warn!(partition = p, "consuming: {e}; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'connect,
                        _ = stop.changed() => break 'connect,
                    }
                }
            };
            let mut last_message = Instant::now();
            loop {
                tokio::select! {
                    _ = stop.changed() => break 'connect,
                    _ = sweep.tick() => self.sweep(&stop).await,
                    _ = tokio::time::sleep_until((last_message + STALL).into()) => {
                        last_message = Instant::now();
                        if unstick(&self.js, &self.settings.url, &consumer, self.partition).await.is_some() {
                            continue 'connect;
                        }
                    }
                    next = messages.next() => match next {
                        Some(Ok(message)) => {
                            self.handle(message).await;
                            last_message = Instant::now();
                        }
                        Some(Err(e)) => {
                            tracing::warn!(partition = p, "consuming: {e}; resubscribing");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'connect;
                        }
                        None => continue 'connect,
                    },
                }
                if *stop.borrow() {
                    break 'connect;
                }
            }
        }
        tracing::info!(partition = p, "stopped consuming");
    }

    /// Accepts one event into its community's log, delivers the community's due events, then
    /// acknowledges it: effects are committed before the ack, so a redelivery finds them done.
    async fn handle(&self, message: jetstream::Message) {
        let p = self.partition;
        let event = match std::str::from_utf8(&message.payload)
            .map_err(|e| e.to_string())
            .and_then(decode_event)
        {
            Ok(event) => event,
            Err(e) => {
                // It would fail the same way forever; keep the partition moving.
                tracing::error!(partition = p, subject = %message.subject, "dropping an undecodable event: {e}");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let (id, community) = (event.meta.id.clone(), event.meta.community.clone());
        let answer = self.plaza.accept(vec![event]).await.pop();
        match answer {
            Some(Ok(Acceptance::Accepted { .. } | Acceptance::Duplicate { .. })) => {
                self.pump(&community).await;
            }
            Some(Ok(Acceptance::Rejected { plugin, reason })) => {
                tracing::info!(partition = p, community = %community, event = %id, plugin = %plugin, "review rejected the message: {reason}");
            }
            Some(Err(PlazaError::Store(e))) => {
                // Not in the log: leave it with the bus, which offers it again shortly.
                tracing::error!(partition = p, community = %community, event = %id, "appending to the log failed: {e}; retrying");
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return;
            }
            Some(Err(e)) => {
                tracing::error!(partition = p, community = %community, event = %id, "event refused, dropped: {e}");
            }
            None => {}
        }
        if let Err(e) = message.ack().await {
            // Redelivered after the ack wait; the log drops the copy.
            tracing::warn!(partition = p, community = %community, event = %id, "acknowledging: {e}");
        }
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    /// Delivers a community's due log entries to each install, in install order.
    async fn pump(&self, community: &str) {
        let installs = match self.plaza.shared_installs(community) {
            Ok(installs) => installs,
            Err(e) => {
                tracing::error!(community, "reading installs: {e}");
                return;
            }
        };
        for install in installs.iter() {
            let mut reports = Vec::new();
            let delivered = self
                .plaza
                .pump(install, now_ms(), usize::MAX, &mut reports)
                .await
                .with_context(|| format!("delivering to {} in `{community}`", install.plugin.name));
            // A failure stays in the log: the next sweep tries again.
            if let Err(e) = delivered {
                tracing::error!("{e:#}");
            }
        }
    }

    /// Pumps every community of this partition with an install behind its log's head; stops
    /// between communities when asked to (the partition is being handed over).
    async fn sweep(&self, stop: &watch::Receiver<bool>) {
        let mut lagging = BTreeSet::new();
        for install in self.plaza.all_installs_in_order() {
            let community = &install.community;
            if subject::partition_of(community, self.settings.partitions) != self.partition
                || lagging.contains(community)
            {
                continue;
            }
            if self.plaza.lag(community, &install.plugin.name).unwrap_or(0) > 0 {
                lagging.insert(community.clone());
            }
        }
        for community in lagging {
            if *stop.borrow() {
                return;
            }
            self.pump(&community).await;
        }
    }
}
