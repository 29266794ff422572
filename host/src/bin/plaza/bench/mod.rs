//! `plaza bench`: the performance scenarios of BENCHMARKS.md, each side by side with its
//! baseline in one run (`plaza bench [--quick] [--only P1,P2,...]`), plus two load tools
//! (`plaza bench backlog`, `plaza bench http`).
//!
//! Fixtures (built by `cargo xtask bench`) live in one folder, `target/bench` by default:
//! `echo.wasm` (the packaged trivial plugin), `extism-echo.wasm` and `bench-extism-host` (the
//! Extism baseline), `anti-spam.wasm` (the moderator of P7).

mod backlog;
mod cold;
mod dispatch;
mod durable;
mod extism;
mod http;
mod plaza_side;
mod profile;
mod raw;
mod registry;
mod report;
mod review;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use plaza_host::host_api::rate_limit::{Rate, RateLimits};
use plaza_host::PlazaConfig;
use report::Scenario;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    suite: SuiteArgs,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Resident memory while one install is stuck and its backlog grows.
    Backlog(backlog::BacklogArgs),
    /// Requests/s and latency of HTTP ingest: concurrent keep-alive clients against a local server.
    Http(http::HttpArgs),
    /// Plaza's dispatch alone (P1, or P1b with `--reuse`), for instruction-count profilers.
    Profile(profile::ProfileArgs),
}

#[derive(Args)]
pub struct SuiteArgs {
    /// A short run that checks every scenario works (figures are rough).
    #[arg(long)]
    quick: bool,
    /// Only these scenarios (comma-separated: P1,P1b,P1c,P2,P3,P4,P5,P6,P7).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The fixtures folder (see `cargo xtask bench`).
    #[arg(long, default_value = "target/bench")]
    fixtures: PathBuf,
    /// Timed runs per figure; the median is reported.
    #[arg(long)]
    runs: Option<usize>,
    /// Events per run.
    #[arg(long)]
    events: Option<u64>,
    /// P4 goes up to this many communities (1 000, 10 000, 100 000, 1 000 000).
    #[arg(long)]
    p4_communities: Option<usize>,
    /// Also write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit non-zero when a target is not met (off by default: figures are noisy on shared
    /// machines; the figures are the point).
    #[arg(long)]
    strict: bool,
}

/// The settings every scenario reads.
pub struct Suite {
    pub quick: bool,
    pub runs: usize,
    pub events: u64,
    pub warmup: u64,
    pub fixtures: PathBuf,
}

impl Suite {
    /// The bytes of a fixture, with a hint when it is missing.
    pub fn fixture(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.fixtures.join(name);
        std::fs::read(&path).with_context(|| {
            format!(
                "reading the bench fixture {} (build the fixtures with `cargo xtask bench`)",
                path.display()
            )
        })
    }

    /// A host configuration for the scenarios: defaults, except no on-disk compile cache (a
    /// scenario that measures the cache sets its own) and message budgets high enough that
    /// pacing never answers `rate-limited` (the bench measures dispatch, not pacing; the
    /// budgets are still checked on every call).
    pub fn plaza_config(&self) -> PlazaConfig {
        let mut config = PlazaConfig::default();
        config.engine.cache_dir = None;
        let unpaced = Rate {
            per_second: 1e9,
            burst: u32::MAX,
        };
        config.rates = RateLimits {
            per_channel: unpaced,
            per_community: unpaced,
        };
        config
    }
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(BenchCommand::Backlog(a)) => backlog::backlog(a).await,
        Some(BenchCommand::Http(a)) => http::http(a).await,
        Some(BenchCommand::Profile(a)) => profile::profile(a).await,
        None => suite(args.suite).await,
    }
}

async fn suite(args: SuiteArgs) -> anyhow::Result<ExitCode> {
    let suite = Suite {
        quick: args.quick,
        runs: args.runs.unwrap_or(if args.quick { 1 } else { 5 }),
        events: args.events.unwrap_or(if args.quick { 2_000 } else { 20_000 }),
        warmup: if args.quick { 200 } else { 2_000 },
        fixtures: args.fixtures,
    };
    let wanted = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    print_environment(&suite);
    let mut scenarios = Vec::new();
    let show = |s: Scenario, all: &mut Vec<Scenario>| {
        s.print();
        all.push(s);
    };
    // P4 first, while the process holds nothing else: its memory figure is the registry's.
    if wanted("P4") {
        let max = args.p4_communities.unwrap_or(if suite.quick { 1_000 } else { 100_000 });
        show(registry::measure(&suite, max).await?, &mut scenarios);
    }
    let needs_dispatch = ["P1", "P1b", "P1c", "P2", "P3", "P6"].iter().any(|id| wanted(id));
    if needs_dispatch {
        let figures = dispatch::measure(&suite).await?;
        for s in figures.scenarios.iter().filter(|s| wanted(&s.id)) {
            show(s.clone(), &mut scenarios);
        }
        if wanted("P2") {
            show(extism::measure(&suite, &figures)?, &mut scenarios);
        }
        if wanted("P3") || wanted("P6") {
            for s in durable::measure(&suite, &figures.fresh).await? {
                if wanted(&s.id) {
                    show(s, &mut scenarios);
                }
            }
        }
    }
    if wanted("P5") {
        show(cold::measure(&suite).await?, &mut scenarios);
    }
    if wanted("P7") {
        show(review::measure(&suite).await?, &mut scenarios);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&scenarios)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let unmet: Vec<&str> = scenarios.iter().filter(|s| !s.met()).map(|s| s.id.as_str()).collect();
    if unmet.is_empty() {
        println!("\nevery target met");
    } else {
        println!("\ntargets not met in: {}", unmet.join(", "));
    }
    Ok(if args.strict && !unmet.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What the figures depend on, printed with them.
fn print_environment(suite: &Suite) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "unset".into());
    println!(
        "plaza bench{}: {} events × {} runs per figure (medians), {} cores, RUST_BACKTRACE={}, RUST_LIB_BACKTRACE={}, wasmtime 48",
        if suite.quick { " --quick" } else { "" },
        suite.events,
        suite.runs,
        cores,
        var("RUST_BACKTRACE"),
        var("RUST_LIB_BACKTRACE"),
    );
}
