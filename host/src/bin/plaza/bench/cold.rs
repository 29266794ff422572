//! P5: cold start of a precompiled plugin. A first load compiles the component and writes the
//! compiled form to the on-disk cache (a true compile, reported); then each run starts a new
//! host over the same cache, as a restarted node would, and times `load_plugin` until the
//! plugin is ready to take events (the compiled form read and linked, `describe` answered).

use std::time::Instant;

use plaza_host::engine::CacheStatus;
use plaza_host::Plaza;

use super::report::{Bound, Scenario};
use super::stats::{median, percentile};
use super::Suite;

/// The plugins measured: fixture, label, target in milliseconds.
const SUBJECTS: [(&str, &str, f64); 2] = [
    ("welcome-bot.wasm", "Rust sample (welcome-bot)", 5.0),
    ("keyword-responder.wasm", "Python sample (componentize-py)", 100.0),
];

pub async fn measure(suite: &Suite) -> anyhow::Result<Scenario> {
    let mut p5 = Scenario::new(
        "P5",
        "cold start of a precompiled plugin (compile cache hit), ready to take events",
    );
    let runs = if suite.quick { 3 } else { 15 };
    for (fixture, label, target_ms) in SUBJECTS {
        let bytes = match suite.fixture(fixture) {
            Ok(bytes) => bytes,
            Err(e) if fixture != SUBJECTS[0].0 => {
                p5.notes.push(format!("{label}: not measured: {e:#}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let cache = tempfile::tempdir()?;
        let mut config = suite.plaza_config();
        config.engine.cache_dir = Some(cache.path().to_path_buf());
        let compile = {
            let plaza = Plaza::new(config.clone())?;
            let started = Instant::now();
            let plugin = plaza.load_plugin(&bytes, fixture).await?;
            anyhow::ensure!(
                plugin.cache != CacheStatus::Hit,
                "{fixture}: the first load hit a cache"
            );
            started.elapsed()
        };
        let mut times_ns = Vec::with_capacity(runs);
        for _ in 0..runs {
            let plaza = Plaza::new(config.clone())?;
            let started = Instant::now();
            let plugin = plaza.load_plugin(&bytes, fixture).await?;
            times_ns.push(started.elapsed().as_nanos() as u64);
            anyhow::ensure!(
                plugin.cache == CacheStatus::Hit,
                "{fixture}: expected a compile cache hit"
            );
        }
        times_ns.sort_unstable();
        let ms: Vec<f64> = times_ns.iter().map(|t| *t as f64 / 1e6).collect();
        p5.bounds.push(Bound::at_most(
            format!("{label}, median of {runs}"),
            median(ms),
            "ms",
            target_ms,
        ));
        p5.notes.push(format!(
            "{label}: {:.1} MB; p99 {:.2} ms; first load (true compile, no cache) {:.0} ms",
            bytes.len() as f64 / 1e6,
            percentile(&times_ns, 99.0) as f64 / 1e6,
            compile.as_secs_f64() * 1e3
        ));
    }
    Ok(p5)
}
