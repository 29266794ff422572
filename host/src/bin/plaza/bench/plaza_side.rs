//! Plaza's side of the dispatch scenarios: a host in memory (or over a data directory), the
//! echo fixture installed in one community per worker thread with the grants it asks for, and
//! events fed through [`Plaza::dispatch`] — append to the community's log, route, invoke, apply
//! the effects, audit, advance the cursor — each checked to have produced its one reply.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use plaza_host::event::{Event, EventKind, EventMeta, Message};
use plaza_host::{Plaza, PlazaConfig};

use super::stats::Run;

/// The community worker `t` feeds.
pub fn community(t: usize) -> String {
    format!("bench-{t}")
}

/// A host with the echo plugin installed in `communities` communities.
pub async fn host(config: PlazaConfig, echo: &[u8], communities: usize) -> anyhow::Result<Arc<Plaza>> {
    let plaza = Plaza::new(config)?;
    let plugin = plaza.load_plugin(echo, "echo.wasm").await?;
    for t in 0..communities {
        let c = community(t);
        plaza.create_community(&c)?;
        plaza
            .install(&c, plugin.clone(), plugin.requested(), Vec::new())
            .await?;
    }
    Ok(Arc::new(plaza))
}

/// The benchmark's event `n` for community `community`.
pub fn posted(community: &str, n: u64) -> Event {
    Event {
        meta: EventMeta {
            id: format!("{community}-e-{n}"),
            community: community.to_string(),
            sequence: 0,
            timestamp_ms: 1_767_225_600_000 + n,
            attempt: 1,
        },
        kind: EventKind::MessagePosted(Message {
            channel: "general".into(),
            message_id: format!("m-{n}"),
            author: format!("member-{}", n % 100),
            text: format!("hello number {n}"),
            mentions: Vec::new(),
            reply_to: None,
        }),
    }
}

/// Dispatches `count` events from `first` to `community`, one at a time, checking each.
pub async fn dispatch_run(plaza: &Plaza, community: &str, first: u64, count: u64) -> anyhow::Result<Run> {
    let mut latencies_ns = Vec::with_capacity(count as usize);
    let started = Instant::now();
    for n in first..first + count {
        let began = Instant::now();
        let report = plaza.dispatch(posted(community, n)).await?;
        latencies_ns.push(began.elapsed().as_nanos() as u64);
        check(&report.invocations, community, n)?;
    }
    Ok(Run {
        events: count,
        elapsed: started.elapsed(),
        latencies_ns,
    })
}

fn check(invocations: &[plaza_host::InvocationReport], community: &str, n: u64) -> anyhow::Result<()> {
    let report = invocations
        .first()
        .with_context(|| format!("event {n} in `{community}` reached no plugin"))?;
    if let Some(f) = report.outcome.failure() {
        anyhow::bail!("event {n} in `{community}`: the plugin failed: {}", f.message);
    }
    anyhow::ensure!(
        report.actions.len() == 1,
        "event {n} in `{community}`: expected one reply, got {} actions",
        report.actions.len()
    );
    Ok(())
}

/// Runs `per_thread` events on each of `threads` OS threads (each with its own single-threaded
/// async runtime and its own community), all at once; the latencies of all threads together.
pub fn threaded_dispatch(plaza: &Arc<Plaza>, threads: usize, first: u64, per_thread: u64) -> anyhow::Result<Run> {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let plaza = plaza.clone();
            std::thread::spawn(move || -> anyhow::Result<Run> {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(dispatch_run(&plaza, &community(t), first, per_thread))
            })
        })
        .collect();
    let mut latencies_ns = Vec::with_capacity(threads * per_thread as usize);
    for h in handles {
        let run = h.join().map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        latencies_ns.extend(run.latencies_ns);
    }
    Ok(Run {
        events: threads as u64 * per_thread,
        elapsed: started.elapsed(),
        latencies_ns,
    })
}
