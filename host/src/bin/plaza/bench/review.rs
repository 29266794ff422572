//! P7: the review hook's latency under load. The anti-spam sample reviews each new message in
//! one community (synchronously, before the message would be posted) while another task keeps
//! dispatching events to the echo plugin in other communities of the same host.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use plaza_host::event::Message;

use super::plaza_side::{self, dispatch_run};
use super::report::{Bound, Scenario};
use super::stats::{Figure, Run};
use super::Suite;

const MODERATED: &str = "moderated";

fn message(n: u64) -> Message {
    Message {
        channel: "general".into(),
        message_id: format!("r-{n}"),
        author: format!("member-{}", n % 500),
        text: format!("a perfectly ordinary message, number {n}"),
        mentions: Vec::new(),
        reply_to: None,
    }
}

pub async fn measure(suite: &Suite) -> anyhow::Result<Scenario> {
    let echo = suite.fixture("echo.wasm")?;
    let moderator = suite.fixture("anti-spam.wasm")?;
    let plaza = plaza_side::host(suite.plaza_config(), &echo, 2).await?;
    let plugin = plaza.load_plugin(&moderator, "anti-spam.wasm").await?;
    plaza.create_community(MODERATED)?;
    plaza
        .install(MODERATED, plugin.clone(), plugin.requested(), Vec::new())
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (plaza, stop) = (plaza.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            let mut handled = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let run = dispatch_run(&plaza, &plaza_side::community(n % 2), n as u64 * 100, 100).await?;
                handled += run.events;
                n += 1;
            }
            anyhow::Ok(handled)
        })
    };
    let reviews = (suite.events / 4).max(200);
    let mut next = 0u64;
    let mut runs = Vec::new();
    let started_all = Instant::now();
    for _ in 0..suite.runs {
        let started = Instant::now();
        let mut latencies_ns = Vec::with_capacity(reviews as usize);
        for _ in 0..reviews {
            let m = message(next);
            next += 1;
            let began = Instant::now();
            let report = plaza.review(MODERATED, &m, 1_767_225_600_000 + next).await?;
            latencies_ns.push(began.elapsed().as_nanos() as u64);
            if let Some(failed) = report.invocations.iter().find_map(|i| i.outcome.failure()) {
                anyhow::bail!("the review failed: {}", failed.message);
            }
        }
        runs.push(Run {
            events: reviews,
            elapsed: started.elapsed(),
            latencies_ns,
        });
    }
    let window = started_all.elapsed();
    stop.store(true, Ordering::Relaxed);
    let background_events = background.await??;
    let figure = Figure::new(
        "review hook (anti-spam), under load",
        runs.into_iter().map(Run::summary).collect(),
    );
    let p99_ms = figure.median.p99_us / 1e3;
    let mut p7 = Scenario::new("P7", "review hook latency under background load");
    p7.figures.push(figure);
    p7.bounds.push(Bound::at_most("review p99", p99_ms, "ms", 1.0));
    p7.notes.push(format!(
        "background: {background_events} events dispatched to the echo plugin in 2 other communities \
         meanwhile ({:.0} events/s)",
        background_events as f64 / window.as_secs_f64()
    ));
    Ok(p7)
}
