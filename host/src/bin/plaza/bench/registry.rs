//! P4: the registry and routing at scale. One host over the embedded database holds N
//! communities with 3 plugins installed in each (the echo fixture, welcome-bot, group-buy), all
//! loaded once and shared; each community's three are installed with `Plaza::install_many`
//! (one transaction). At each size it reports the process's resident memory and two costs for
//! posted messages to communities spread over the registry:
//!
//! - routing: `Plaza::routes`, the registry lookup and routing decision `dispatch` makes (to
//!   the one install that subscribes, echo, past the two that do not), without the log or the
//!   plugin: this is what must stay flat as N grows;
//! - dispatch: `Plaza::dispatch` end to end, whose p50 is dominated by the durable log append
//!   (an fsync of the write-ahead log per event) and the echo run, not by routing.

use std::time::Instant;

use plaza_host::admin::InstallRequest;
use plaza_host::Plaza;

use super::plaza_side::posted;
use super::report::{Bound, Scenario};
use super::stats::{rss_mib, Figure, Run, RunSummary};
use super::Suite;

const PLUGINS: [&str; 3] = ["echo.wasm", "welcome-bot.wasm", "group-buy.wasm"];

fn community(i: usize) -> String {
    format!("c{i:07}")
}

pub async fn measure(suite: &Suite, max_communities: usize) -> anyhow::Result<Scenario> {
    let mut p4 = Scenario::new(
        "P4",
        "registry and routing: N communities × 3 installs (embedded database)",
    );
    let dir = tempfile::tempdir()?;
    let rss_before = rss_mib().unwrap_or(0.0);
    let plaza = Plaza::open(dir.path(), suite.plaza_config()).await?;
    let mut plugins = Vec::new();
    for fixture in PLUGINS {
        plugins.push(plaza.load_plugin(&suite.fixture(fixture)?, fixture).await?);
    }
    let mut sizes = vec![1_000, 10_000, 100_000, 1_000_000];
    sizes.retain(|n| *n <= max_communities);
    let mut installed = 0;
    let mut first_cost = None;
    let probes = if suite.quick { 200 } else { 2_000 };
    let mut n_event = 0u64;
    for size in sizes {
        let started = Instant::now();
        let built_before = installed;
        while installed < size {
            let c = community(installed);
            plaza.create_community(&c)?;
            let requests = plugins
                .iter()
                .map(|plugin| InstallRequest {
                    plugin: plugin.clone(),
                    grants: plugin.requested(),
                    config: Vec::new(),
                })
                .collect();
            plaza.install_many(&c, requests).await?;
            installed += 1;
            if installed % 100_000 == 0 && installed < size {
                eprintln!(
                    "P4: {installed} communities installed, {:.0} s, RSS {:.0} MiB",
                    started.elapsed().as_secs_f64(),
                    rss_mib().unwrap_or(0.0)
                );
            }
        }
        let build_s = started.elapsed().as_secs_f64();
        let rss = rss_mib().unwrap_or(0.0);
        // Routing cost alone: the same events, routed without being appended or run.
        let routes_per_probe = 100;
        let mut routing_ns = Vec::with_capacity(probes);
        let routing_started = Instant::now();
        for k in 0..probes {
            let c = community((k * 7919 + 13) % size);
            let event = posted(&c, k as u64);
            let began = Instant::now();
            for _ in 0..routes_per_probe {
                let targets = std::hint::black_box(plaza.routes(std::hint::black_box(&event))?);
                anyhow::ensure!(targets.len() == 1, "event for `{c}` routes to {targets:?}");
            }
            routing_ns.push(began.elapsed().as_nanos() as u64 / routes_per_probe);
        }
        let routing = Run {
            events: (probes * routes_per_probe as usize) as u64,
            elapsed: routing_started.elapsed(),
            latencies_ns: routing_ns,
        }
        .summary();
        // Dispatch end to end: events to communities spread over the whole registry.
        let mut latencies_ns = Vec::with_capacity(probes);
        let probe_started = Instant::now();
        for k in 0..probes {
            let c = community((k * 7919 + 13) % size);
            let began = Instant::now();
            let report = plaza.dispatch(posted(&c, n_event)).await?;
            n_event += 1;
            latencies_ns.push(began.elapsed().as_nanos() as u64);
            anyhow::ensure!(
                report.invocations.len() == 1 && report.invocations[0].outcome.is_ok(),
                "event for `{c}` was not routed to exactly the echo install"
            );
        }
        let run = Run {
            events: probes as u64,
            elapsed: probe_started.elapsed(),
            latencies_ns,
        };
        let summary: RunSummary = run.summary();
        let name = format!("{size} communities ({} installs)", size * 3);
        p4.figures.push(Figure::new(format!("{name}: routing"), vec![routing]));
        p4.figures
            .push(Figure::new(format!("{name}: dispatch"), vec![summary]).with_rss(Some(rss)));
        p4.notes.push(format!(
            "{name}: RSS {rss:.0} MiB ({:.0} MiB over the start), built in {build_s:.0} s ({:.2} ms per community)",
            rss - rss_before,
            build_s * 1000.0 / (size - built_before) as f64
        ));
        let route = routing.p50_us;
        let cost = summary.p50_us;
        let (route_base, base) = *first_cost.get_or_insert((route, cost));
        p4.notes.push(format!(
            "{name}: routing p50 {:.0} ns = {:.2} × the 1 000-community cost; dispatch p50 {cost:.1} µs \
             (durable append with fsync + echo run) = {:.2} ×",
            route * 1000.0,
            route / route_base,
            cost / base
        ));
        if size == 1_000_000 {
            p4.bounds
                .push(Bound::at_most("RSS at 1 000 000 communities", rss / 1024.0, "GiB", 1.0));
        }
    }
    if max_communities < 1_000_000 {
        p4.notes.push(format!(
            "measured up to {max_communities} communities; `--p4-communities 1000000` goes to a million \
             (installing takes a while through the admin API)"
        ));
    }
    Ok(p4)
}
