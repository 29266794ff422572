//! `plaza bench profile`: P1/P1b's Plaza side alone (no baseline, no warm-up, no timing), for
//! instruction-count profilers: `valgrind --tool=callgrind plaza bench profile --reuse
//! --events N`. Two runs with different `--events` give the instructions per event from their
//! difference, which cancels loading and compiling the plugin. `--durable` profiles P6 instead:
//! one community end to end over the embedded database (accept, delivery, outbox relay), or P3
//! with `--communities 8`, and `--raw` the raw-wasmtime baseline that P1 and P1b are compared with.

use std::process::ExitCode;

use clap::Args;

use super::{durable, plaza_side, Suite};

#[derive(Args)]
pub struct ProfileArgs {
    /// Use `echo-reuse.wasm` (bounded reuse, P1b) instead of `echo.wasm` (P1).
    #[arg(long)]
    reuse: bool,
    /// P6 instead: one community end to end over the embedded database.
    #[arg(long)]
    durable: bool,
    /// With `--durable`: events spread over this many communities (8 is P3's load).
    #[arg(long, default_value_t = 1, requires = "durable")]
    communities: usize,
    /// The raw-wasmtime baseline instead (a fresh instance per event, or one for all with
    /// `--reuse`).
    #[arg(long, conflicts_with = "durable")]
    raw: bool,
    /// Events to dispatch.
    #[arg(long, default_value_t = 1_000)]
    events: u64,
    /// The fixtures folder (see `cargo xtask bench`).
    #[arg(long, default_value = "target/bench")]
    fixtures: std::path::PathBuf,
}

pub async fn profile(args: ProfileArgs) -> anyhow::Result<ExitCode> {
    let suite = Suite {
        quick: true,
        runs: 1,
        events: args.events,
        warmup: 0,
        fixtures: args.fixtures,
    };
    let echo = suite.fixture(if args.reuse { "echo-reuse.wasm" } else { "echo.wasm" })?;
    if args.raw {
        let run = super::raw::RawHost::small(&suite.fixture("echo.wasm")?)?.run(!args.reuse, 0, args.events)?;
        println!("{} events dispatched by the raw baseline", run.events);
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = suite.plaza_config();
    // A small pool (a quarter of it may stay warm): valgrind cannot reserve the default one.
    config.engine.pool_instances = 4;
    if args.durable {
        let fixture = if args.reuse { "echo-reuse.wasm" } else { "echo.wasm" };
        let run = durable::run(&suite, config, args.communities.max(1), fixture, args.events, 0).await?;
        println!("{} events delivered end to end", run.events);
        return Ok(ExitCode::SUCCESS);
    }
    let plaza = plaza_side::host(config, &echo, 1).await?;
    let run = plaza_side::dispatch_run(&plaza, &plaza_side::community(0), 0, args.events).await?;
    println!("{} events dispatched", run.events);
    Ok(ExitCode::SUCCESS)
}
