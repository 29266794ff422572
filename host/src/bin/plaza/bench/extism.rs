//! P2: Plaza against Extism, like for like. The same plugin logic (read the posted message,
//! ask for one reply through one host call) built with extism-pdk runs in the `extism` crate's
//! own host (`bench-extism-host`, a child process on Extism's wasmtime, pooling allocator on),
//! with the same event count and runs, right after Plaza's figures of this run.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use serde::Deserialize;

use super::dispatch::DispatchFigures;
use super::report::Scenario;
use super::stats::{Figure, RunSummary};
use super::Suite;

#[derive(Deserialize)]
struct ChildRun {
    events: u64,
    elapsed_ns: u64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
}

#[derive(Deserialize)]
struct ChildRss {
    peak_rss_kib: u64,
}

/// Runs the Extism host in `mode` (`fresh` or `reused`) and reads its figures.
fn extism_figure(suite: &Suite, mode: &str, name: &str) -> anyhow::Result<Figure> {
    let host = suite.fixtures.join("bench-extism-host");
    let wasm = suite.fixtures.join("extism-echo.wasm");
    for needed in [&host, &wasm] {
        anyhow::ensure!(
            Path::new(needed).exists(),
            "missing {} (build the fixtures with `cargo xtask bench`)",
            needed.display()
        );
    }
    let output = Command::new(&host)
        .arg("--wasm")
        .arg(&wasm)
        .args(["--mode", mode])
        .args(["--events", &suite.events.to_string()])
        .args(["--runs", &suite.runs.to_string()])
        .args(["--threads", "1"])
        .output()
        .with_context(|| format!("running {}", host.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "the Extism baseline failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut runs = Vec::new();
    let mut rss = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(run) = serde_json::from_str::<ChildRun>(line) {
            runs.push(RunSummary {
                events: run.events,
                events_per_s: run.events as f64 / (run.elapsed_ns as f64 / 1e9).max(1e-9),
                p50_us: run.p50_ns as f64 / 1e3,
                p99_us: run.p99_ns as f64 / 1e3,
                p999_us: run.p999_ns as f64 / 1e3,
            });
        } else if let Ok(r) = serde_json::from_str::<ChildRss>(line) {
            rss = Some(r.peak_rss_kib as f64 / 1024.0);
        } else {
            anyhow::bail!("unexpected line from the Extism baseline: {line}");
        }
    }
    anyhow::ensure!(!runs.is_empty(), "the Extism baseline reported no runs");
    Ok(Figure::new(name, runs).with_rss(rss))
}

const EXTISM_FRESH: &str = "extism 1.30, fresh plugin per event";
const EXTISM_REUSED: &str = "extism 1.30, reused plugin";

/// P2, from this run's P1 and P1b figures and Extism's, measured now.
pub fn measure(suite: &Suite, dispatch: &DispatchFigures) -> anyhow::Result<Scenario> {
    let mut p2 = Scenario::new("P2", "Plaza vs Extism on the same plugin logic, one thread");
    p2.figures.push(extism_figure(suite, "fresh", EXTISM_FRESH)?);
    p2.figures.push(extism_figure(suite, "reused", EXTISM_REUSED)?);
    p2.figures.push(dispatch.fresh.clone());
    p2.figures.push(dispatch.reused.clone());
    let (fresh, reused) = (dispatch.fresh.name.clone(), dispatch.reused.name.clone());
    p2.ratio("plaza fresh (P1) / extism fresh", &fresh, EXTISM_FRESH, Some(5.0));
    p2.ratio("plaza reuse (P1b) / extism reused", &reused, EXTISM_REUSED, Some(3.0));
    p2.notes.push(
        "extism: Plugin::new_from_compiled + call + drop per event (fresh), or one plugin for the \
         run (reused); event as JSON in, one host function call for the reply; a child process"
            .into(),
    );
    Ok(p2)
}
