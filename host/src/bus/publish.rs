//! Publishing community events to the bus, and setting up the stream they go to.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};

use super::{lease, subject, BusError, STREAM};
use crate::event::Event;
use crate::storage::log::encode_event;

/// Where a published event went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Its partition.
    pub partition: u32,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// The stream already held this event id (within its duplicate window): nothing was added.
    pub duplicate: bool,
}

/// Publishes events to the bus. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    js: jetstream::Context,
    url: String,
    partitions: u32,
}

/// Connects to NATS at `url`, giving up after a few seconds if it does not answer.
pub(crate) async fn connect(url: &str) -> Result<async_nats::Client, BusError> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        // Reconnect forever: a restarted server or a healed network brings the node back.
        .max_reconnects(None)
        .connect(url)
        .await
        .map_err(|e| BusError::nats(url, "connecting", e))
}

/// Creates the event stream unless it exists: a work queue (an acknowledged event leaves it;
/// the community's log keeps it) on disk, deduplicating event ids for two minutes.
pub(crate) async fn ensure_stream(js: &jetstream::Context, url: &str) -> Result<(), BusError> {
    let config = stream::Config {
        name: STREAM.to_string(),
        subjects: vec![format!("{}.>", subject::PREFIX)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| BusError::nats(url, format!("creating the stream {STREAM}"), e))?;
    Ok(())
}

impl Publisher {
    /// Connects, sets up the stream, and checks the partition count against the bus's.
    pub async fn connect(url: &str, partitions: u32) -> Result<Self, BusError> {
        let client = connect(url).await?;
        let js = jetstream::new(client);
        ensure_stream(&js, url).await?;
        lease::agree_partitions(&js, url, partitions).await?;
        Ok(Publisher {
            js,
            url: url.to_string(),
            partitions,
        })
    }

    /// Publishes one event and waits for the stream to store it. Publishing the same event id
    /// again is harmless: the stream or the consuming node's log drops the copy.
    pub async fn publish(&self, event: &Event) -> Result<Published, BusError> {
        let community = &event.meta.community;
        let fail = |message: String| BusError::Event {
            event: event.meta.id.clone(),
            community: community.clone(),
            message,
        };
        let payload = encode_event(event).map_err(|e| fail(format!("cannot be encoded: {e}")))?;
        let partition = subject::partition_of(community, self.partitions);
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&event.meta.id);
        let ack = self
            .js
            .send_publish(subject::event_subject(community, self.partitions), message)
            .await
            .map_err(|e| fail(format!("publishing to {}: {e}", self.url)))?
            .await
            .map_err(|e| fail(format!("waiting for {} to store it: {e}", self.url)))?;
        Ok(Published {
            partition,
            stream_sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The partition count.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }
}
