//! `plaza bench backlog`: memory while one install is stuck and events keep arriving for it.
//!
//! It installs a plugin in two communities of a fresh data directory, quarantines the install
//! in `stuck` (its circuit breaker open for a day), starts background delivery, and accepts
//! `--events` `member-joined` events for `stuck` in durable batches, with a few for `healthy`
//! between them. It prints the process's resident memory as the backlog grows: the lag is on
//! disk, so memory should stay flat, while `healthy` keeps being served.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use plaza_host::dispatch::{EmbeddedPlatform, RunControl, RunnerOptions};
use plaza_host::event::{Event, EventKind, EventMeta, MemberProfile};
use plaza_host::storage::admin::{BreakerRecord, BreakerState};
use plaza_host::{Plaza, PlazaConfig};
use tokio::sync::watch;

#[derive(Args)]
pub struct BacklogArgs {
    /// A packaged plugin that subscribes to `member-joined` (e.g. target/plugins/welcome-bot.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// Events to accept for the stuck install.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per durable batch.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
    /// Where to put the database (default: a temporary directory, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn joined(community: &str, n: u64) -> Event {
    Event {
        meta: EventMeta {
            id: format!("{community}-join-{n}"),
            community: community.to_string(),
            sequence: 0,
            timestamp_ms: 1_767_225_600_000 + n,
            attempt: 1,
        },
        kind: EventKind::MemberJoined {
            member: MemberProfile::new(format!("member-{n}")),
            invited_by: None,
        },
    }
}

pub async fn backlog(args: BacklogArgs) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let plaza = Arc::new(Plaza::open(&data_dir, PlazaConfig::for_data_dir(&data_dir)?).await?);
    let plugin = plaza.load_plugin_file(&args.plugin).await?;
    for community in ["stuck", "healthy"] {
        plaza.create_community(community)?;
        plaza
            .install(community, plugin.clone(), plugin.requested(), Vec::new())
            .await?;
    }
    let quarantine = BreakerRecord {
        state: BreakerState::Open,
        retry_at_ms: Some(u64::MAX / 2),
        trips: 1,
        ..BreakerRecord::default()
    };
    plaza.store().put_breaker("stuck", &plugin.name, &quarantine)?;

    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (idle_tx, exit_when_idle) = watch::channel(false);
    let control = RunControl {
        shutdown,
        exit_when_idle,
        grace: Duration::from_secs(10),
    };
    let runner = {
        let plaza = plaza.clone();
        tokio::spawn(async move {
            plaza
                .run_delivery(RunnerOptions::default(), control, Arc::new(EmbeddedPlatform))
                .await
        })
    };

    println!(
        "plaza bench backlog: {} events for a stuck install of {} (batches of {}), data in {}",
        args.events,
        plugin.name,
        args.batch,
        data_dir.display()
    );
    println!(
        "{:>10} {:>10} {:>12} {:>14} {:>14}",
        "accepted", "rss MiB", "stuck lag", "healthy lag", "events/s"
    );
    let start = Instant::now();
    let report_every = (args.events / 10).max(args.batch);
    let (mut accepted, mut next_report, mut healthy_sent) = (0u64, 0u64, 0u64);
    let mut peak = 0f64;
    let first_rss = super::stats::rss_mib().unwrap_or(0.0);
    while accepted < args.events {
        let n = args.batch.min(args.events - accepted);
        let mut batch: Vec<Event> = (accepted..accepted + n).map(|i| joined("stuck", i)).collect();
        batch.push(joined("healthy", healthy_sent));
        healthy_sent += 1;
        for answer in plaza.accept(batch).await {
            answer?;
        }
        accepted += n;
        let rss = super::stats::rss_mib().unwrap_or(0.0);
        peak = peak.max(rss);
        if accepted >= next_report || accepted == args.events {
            next_report += report_every;
            println!(
                "{accepted:>10} {rss:>10.1} {:>12} {:>14} {:>14.0}",
                plaza.lag("stuck", &plugin.name)?,
                plaza.lag("healthy", &plugin.name)?,
                accepted as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    let _ = idle_tx.send(true);
    // `healthy` drains; `stuck` stays quarantined, so the run ends when only it is left.
    let summary = tokio::time::timeout(Duration::from_secs(120), runner).await???;
    let last = super::stats::rss_mib().unwrap_or(0.0);
    println!(
        "rss: {first_rss:.1} MiB after setup, {last:.1} MiB at the end, peak {peak:.1} MiB; \
         healthy lag {} after delivery ({} invocations); stuck lag {} (on disk)",
        plaza.lag("healthy", &plugin.name)?,
        summary.invocations,
        plaza.lag("stuck", &plugin.name)?
    );
    Ok(ExitCode::SUCCESS)
}
