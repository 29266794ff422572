//! Group commit for ingest. Every accepted event must be on disk before its request is
//! answered, and a durable write costs a disk sync. So the events of requests that arrive
//! while earlier writes are in flight wait in a queue and go out together: one
//! [`Plaza::accept`] call, one sync, for all of them. At most `writers` writes run at once;
//! a quiet server writes each request at once, a busy one writes fewer, larger batches. The
//! store serializes writes anyway, so a couple of writers is enough: one syncs while the next
//! reviews its messages.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::dispatch::{Acceptance, Plaza};
use crate::error::{PlazaError, Result};
use crate::event::Event;

/// One request's events and where their answers go.
struct Job {
    events: Vec<Event>,
    answer: oneshot::Sender<Vec<Result<Acceptance>>>,
}

/// The queue in front of the durable writes.
pub(super) struct IngestQueue {
    jobs: mpsc::Sender<Job>,
}

impl IngestQueue {
    /// Starts the writer loop: batches of up to `max_batch` events (a single larger request
    /// goes alone), `writers` at a time.
    pub(super) fn start(plaza: Arc<Plaza>, max_batch: usize, writers: usize) -> IngestQueue {
        let (jobs, mut queue) = mpsc::channel::<Job>(4_096);
        let permits = Arc::new(Semaphore::new(writers.max(1)));
        tokio::spawn(async move {
            let mut carried: Option<Job> = None;
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let first = match carried.take() {
                    Some(job) => job,
                    None => match queue.recv().await {
                        Some(job) => job,
                        None => return,
                    },
                };
                let mut size = first.events.len();
                let mut batch = vec![first];
                while let Ok(job) = queue.try_recv() {
                    if size + job.events.len() > max_batch {
                        carried = Some(job);
                        break;
                    }
                    size += job.events.len();
                    batch.push(job);
                }
                let plaza = plaza.clone();
                let runtime = tokio::runtime::Handle::current();
                // The durable write blocks on a disk sync and on the store's lock: on a
                // blocking thread, so it never stalls the runtime's workers (which parse
                // requests and fill the next batch meanwhile).
                tokio::task::spawn_blocking(move || {
                    runtime.block_on(write(&plaza, batch));
                    drop(permit);
                });
            }
        });
        IngestQueue { jobs }
    }

    /// Accepts `events` (reviewed, then appended durably), one answer per event in order.
    pub(super) async fn accept(&self, events: Vec<Event>) -> Vec<Result<Acceptance>> {
        if events.is_empty() {
            return Vec::new();
        }
        let count = events.len();
        let (answer, answered) = oneshot::channel();
        let lost = || {
            (0..count)
                .map(|_| {
                    Err(PlazaError::Other(anyhow::anyhow!(
                        "the ingest writer stopped before answering; send the events again"
                    )))
                })
                .collect()
        };
        if self.jobs.send(Job { events, answer }).await.is_err() {
            return lost();
        }
        answered.await.unwrap_or_else(|_| lost())
    }
}

/// One durable write for a batch of requests; each request gets its own answers back.
async fn write(plaza: &Plaza, batch: Vec<Job>) {
    let sizes: Vec<usize> = batch.iter().map(|j| j.events.len()).collect();
    let mut answers_to = Vec::with_capacity(batch.len());
    let mut events = Vec::with_capacity(sizes.iter().sum());
    for job in batch {
        events.extend(job.events);
        answers_to.push(job.answer);
    }
    let mut answers = plaza.accept(events).await.into_iter();
    for (size, answer) in sizes.into_iter().zip(answers_to) {
        // A request whose client went away is not answered; its events are written anyway.
        let _ = answer.send(answers.by_ref().take(size).collect());
    }
}
