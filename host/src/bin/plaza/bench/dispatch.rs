//! P1, P1b and P1c: Plaza's in-memory dispatch against the raw-wasmtime baseline, with a fresh
//! instance per event and with bounded instance reuse, on one and on two worker threads.

use std::sync::Arc;
use std::time::Instant;

use plaza_host::Plaza;

use super::plaza_side::{self, threaded_dispatch};
use super::raw::{RawAsyncHost, RawHost};
use super::report::Scenario;
use super::stats::{peak_rss_mib, repeat, Figure, Run};
use super::Suite;

/// Raw wasmtime on `threads` threads, `per_thread` events each.
fn raw_threaded(raw: &RawHost, fresh: bool, threads: usize, per_thread: u64) -> anyhow::Result<Run> {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let raw = raw.clone();
            std::thread::spawn(move || raw.run(fresh, t as u64 * per_thread, per_thread))
        })
        .collect();
    let mut latencies_ns = Vec::new();
    for h in handles {
        latencies_ns.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??
                .latencies_ns,
        );
    }
    Ok(Run {
        events: threads as u64 * per_thread,
        elapsed: started.elapsed(),
        latencies_ns,
    })
}

/// A counter so every run's events have fresh ids (the log drops duplicates).
struct Ids(u64);

impl Ids {
    fn next(&mut self, n: u64) -> u64 {
        let first = self.0;
        self.0 += n;
        first
    }
}

async fn plaza_figure(
    suite: &Suite,
    plaza: &Arc<Plaza>,
    ids: &mut Ids,
    name: &str,
    threads: usize,
) -> anyhow::Result<Figure> {
    let per_thread = suite.events / threads as u64;
    // Warm-up: pool slots, code pages, caches.
    threaded_dispatch(plaza, threads, ids.next(suite.warmup), suite.warmup / threads as u64)?;
    let runs = repeat(suite.runs, || {
        threaded_dispatch(plaza, threads, ids.next(per_thread), per_thread)
    })?;
    Ok(Figure::new(name, runs).with_rss(peak_rss_mib()))
}

fn raw_figure(suite: &Suite, raw: &RawHost, fresh: bool, name: &str, threads: usize) -> anyhow::Result<Figure> {
    let per_thread = suite.events / threads as u64;
    raw_threaded(raw, fresh, threads, suite.warmup / threads as u64)?;
    let runs = repeat(suite.runs, || raw_threaded(raw, fresh, threads, per_thread))?;
    Ok(Figure::new(name, runs).with_rss(peak_rss_mib()))
}

/// A raw-wasmtime figure and a Plaza figure from runs taken in turns (raw, Plaza, raw, …), so a
/// slow spell of a shared machine falls on both sides of their ratio instead of on one. The raw
/// side's peak RSS is read before Plaza's first run.
fn paired_figures(
    suite: &Suite,
    raw: &RawHost,
    fresh: bool,
    raw_name: &str,
    plaza: &Arc<Plaza>,
    ids: &mut Ids,
    plaza_name: &str,
) -> anyhow::Result<(Figure, Figure)> {
    raw_threaded(raw, fresh, 1, suite.warmup)?;
    let mut raw_runs = vec![raw_threaded(raw, fresh, 1, suite.events)?.summary()];
    let raw_rss = peak_rss_mib();
    threaded_dispatch(plaza, 1, ids.next(suite.warmup), suite.warmup)?;
    let mut plaza_runs = Vec::new();
    for turn in 0..suite.runs {
        if turn > 0 {
            raw_runs.push(raw_threaded(raw, fresh, 1, suite.events)?.summary());
        }
        plaza_runs.push(threaded_dispatch(plaza, 1, ids.next(suite.events), suite.events)?.summary());
    }
    Ok((
        Figure::new(raw_name, raw_runs).with_rss(raw_rss),
        Figure::new(plaza_name, plaza_runs).with_rss(peak_rss_mib()),
    ))
}

/// What the dispatch scenarios measured, for the scenarios compared with them (P2, P3).
pub struct DispatchFigures {
    pub scenarios: Vec<Scenario>,
    /// Plaza, fresh instance per event, one thread.
    pub fresh: Figure,
    /// Plaza, bounded reuse, one thread.
    pub reused: Figure,
}

const RAW_FRESH: &str = "raw wasmtime, fresh instance (InstancePre, pooling)";
const RAW_FRESH_ASYNC: &str = "raw wasmtime, fresh instance, async calls";
const RAW_REUSED: &str = "raw wasmtime, reused instance";
const PLAZA_FRESH: &str = "plaza dispatch, fresh instance";
const PLAZA_REUSED: &str = "plaza dispatch, bounded reuse";

/// P1, P1b and P1c, each side by side with raw wasmtime.
pub async fn measure(suite: &Suite) -> anyhow::Result<DispatchFigures> {
    let echo = suite.fixture("echo.wasm")?;
    let echo_reuse = suite.fixture("echo-reuse.wasm")?;
    let raw = RawHost::new(&echo)?;
    let raw_async = RawAsyncHost::new(&raw, &echo)?;
    let fresh_host = plaza_side::host(suite.plaza_config(), &echo, 2).await?;
    let reuse_host = plaza_side::host(suite.plaza_config(), &echo_reuse, 2).await?;
    let mut ids = Ids(0);

    let mut p1 = Scenario::new(
        "P1",
        "dispatch, a fresh instance per event, one thread (in-memory store)",
    );
    let (raw_fresh, plaza_fresh) = paired_figures(suite, &raw, true, RAW_FRESH, &fresh_host, &mut ids, PLAZA_FRESH)?;
    p1.figures.push(raw_fresh);
    p1.figures.push(raw_async_figure(suite, &raw_async, RAW_FRESH_ASYNC)?);
    p1.figures.push(plaza_fresh);
    p1.ratio("plaza / raw wasmtime", PLAZA_FRESH, RAW_FRESH, Some(0.8));
    p1.ratio(
        "plaza / raw wasmtime with async calls",
        PLAZA_FRESH,
        RAW_FRESH_ASYNC,
        None,
    );
    p1.notes.push(
        "plaza = Plaza::dispatch on the in-memory store: log append, routing, grant check on the \
         host call, a fresh instance, effects applied, audit entry, cursor moved; raw = the same \
         component in a minimal embedding: instantiate + call + drop; raw and plaza runs taken in \
         turns"
            .into(),
    );

    let mut p1b = Scenario::new("P1b", "dispatch with bounded instance reuse, one thread");
    let (raw_reused, plaza_reused) =
        paired_figures(suite, &raw, false, RAW_REUSED, &reuse_host, &mut ids, PLAZA_REUSED)?;
    p1b.figures.push(raw_reused);
    p1b.figures.push(plaza_reused);
    p1b.figures.push(p1.figures[2].clone());
    p1b.ratio("plaza reuse / raw reused instance", PLAZA_REUSED, RAW_REUSED, Some(0.7));
    p1b.ratio("plaza reuse / plaza fresh (P1)", PLAZA_REUSED, PLAZA_FRESH, Some(10.0));
    p1b.notes.push(
        "reuse: `[isolation] mode = \"reuse\"` in the manifest; one instance per (plugin, \
         community) for up to 10 000 events or 60 s"
            .into(),
    );

    let mut p1c = Scenario::new("P1c", "dispatch on 2 worker threads vs 1 (a community per thread)");
    let two = |name: &str| format!("{name}, 2 threads");
    p1c.figures.push(raw_figure(suite, &raw, true, &two(RAW_FRESH), 2)?);
    p1c.figures
        .push(plaza_figure(suite, &fresh_host, &mut ids, &two(PLAZA_FRESH), 2).await?);
    p1c.figures
        .push(plaza_figure(suite, &reuse_host, &mut ids, &two(PLAZA_REUSED), 2).await?);
    for f in [&p1.figures[0], &p1.figures[2], &p1b.figures[1]] {
        p1c.figures.push(f.clone());
    }
    p1c.ratio("plaza fresh, 2 threads / 1", &two(PLAZA_FRESH), PLAZA_FRESH, Some(1.7));
    p1c.ratio(
        "plaza reuse, 2 threads / 1",
        &two(PLAZA_REUSED),
        PLAZA_REUSED,
        Some(1.7),
    );
    p1c.ratio("raw fresh, 2 threads / 1", &two(RAW_FRESH), RAW_FRESH, None);

    let fresh = p1.figures[2].clone();
    let reused = p1b.figures[1].clone();
    Ok(DispatchFigures {
        scenarios: vec![p1, p1b, p1c],
        fresh,
        reused,
    })
}

fn raw_async_figure(suite: &Suite, raw: &RawAsyncHost, name: &str) -> anyhow::Result<Figure> {
    // Its own thread: the async baseline runs its own single-threaded runtime.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                raw.run(true, 0, suite.warmup)?;
                let runs = repeat(suite.runs, || raw.run(true, 0, suite.events))?;
                Ok(Figure::new(name, runs))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("a bench thread panicked"))?
    })
}
