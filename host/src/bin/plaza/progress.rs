//! Progress on stderr while a large component compiles.
//!
//! A Python or JavaScript plugin is 12–18 MB and takes Cranelift 15–40 s to compile the first
//! time (later loads come from the compile cache in well under a second). Without a word the CLI
//! looks hung, so a load that is still running after a moment says what it is doing, then how
//! long it has been going, then how long it took.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plaza_host::engine::CacheStatus;
use plaza_host::runtime::Plugin;

/// Silence for loads shorter than this: cache hits and small Rust plugins.
const ANNOUNCE_AFTER: Duration = Duration::from_secs(3);
/// How often a long compile reports the elapsed time.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Awaits `load` (a plugin load of `path`), reporting on stderr if it takes a while.
pub async fn loading<E>(path: &Path, load: impl Future<Output = Result<Arc<Plugin>, E>>) -> Result<Arc<Plugin>, E> {
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let started = Instant::now();
    tokio::pin!(load);
    let mut announced = false;
    let mut next = ANNOUNCE_AFTER;
    let result = loop {
        tokio::select! {
            result = &mut load => break result,
            () = tokio::time::sleep_until((started + next).into()) => {
                if announced {
                    eprintln!("plaza: still compiling {name}: {} s", started.elapsed().as_secs());
                } else {
                    eprintln!(
                        "plaza: compiling {name}{}, this takes a while the first time…",
                        size_of(path)
                    );
                    announced = true;
                }
                next += REPORT_EVERY;
            }
        }
    };
    if announced {
        if let Ok(plugin) = &result {
            let secs = started.elapsed().as_secs_f64();
            let note = match plugin.cache {
                CacheStatus::Miss => "cached for next time",
                CacheStatus::Hit => "from the compile cache",
                CacheStatus::Disabled => "no compile cache configured",
            };
            eprintln!("plaza: compiled {name} in {secs:.1} s ({note})");
        }
    }
    result
}

fn size_of(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!(" ({:.1} MB)", m.len() as f64 / 1e6),
        Err(_) => String::new(),
    }
}
