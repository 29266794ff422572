//! `plaza run`: replay an event file through one plugin.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use plaza_host::event::{parse_jsonl, ConfigEntry, EventDefaults};
use plaza_host::{GrantSet, Plaza, PlazaConfig};
use serde_json::json;

use crate::print;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The plugin component (.wasm).
    #[arg(long, value_name = "P.wasm")]
    plugin: PathBuf,
    /// The event file: one JSON event per line (blank lines and `#` comments are skipped).
    #[arg(long, value_name = "E.jsonl")]
    events: PathBuf,
    /// Capabilities to grant: a comma-separated list, `all` (everything the manifest requests)
    /// or `none`; repeatable. Default: everything the manifest requests.
    #[arg(long, value_name = "LIST")]
    grant: Vec<String>,
    /// Install configuration as KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Community for events that name none.
    #[arg(long, default_value = "local")]
    community: String,
    /// Print a readable listing instead of JSON lines.
    #[arg(long)]
    pretty: bool,
    /// Also print KV writes and timers in the readable listing.
    #[arg(long)]
    show_kv: bool,
    /// Exit with status 1 if any invocation failed.
    #[arg(long)]
    strict: bool,
    /// After the last event, fire timers due up to this many milliseconds later.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    drain_timers_ms: u64,
    /// Attempts per event before it becomes a dead letter. The runner's clock is the events'
    /// timestamps: a failed event is retried (with the production backoff) when a later event's
    /// time has passed its retry time, and later events wait behind it. Default 1: a failure is
    /// final, so each event's output is its own.
    #[arg(long, default_value_t = 1, value_name = "N")]
    max_attempts: u32,
}

fn parse_config(items: &[String]) -> anyhow::Result<Vec<ConfigEntry>> {
    items
        .iter()
        .map(|item| {
            let (key, value) = item
                .split_once('=')
                .with_context(|| format!("--config {item:?}: expected KEY=VALUE"))?;
            Ok(ConfigEntry {
                key: key.trim().to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let events_name = args.events.display().to_string();
    let text =
        std::fs::read_to_string(&args.events).with_context(|| format!("cannot read event file {events_name}"))?;
    let mut defaults = EventDefaults::new(args.community.clone(), EventDefaults::default().start_ms);
    let events = parse_jsonl(&text, &events_name, &mut defaults)?;
    let config = parse_config(&args.config)?;

    let plaza = Plaza::new(PlazaConfig {
        retry: plaza_host::dispatch::RetryPolicy {
            max_attempts: args.max_attempts.max(1),
            ..Default::default()
        },
        ..PlazaConfig::default()
    })?;
    let plugin = crate::progress::loading(&args.plugin, plaza.load_plugin_file(&args.plugin)).await?;
    let requested = plugin.requested();
    let grants = if args.grant.is_empty() {
        requested
    } else {
        let mut g = GrantSet::none();
        for list in &args.grant {
            let parsed = match list.trim() {
                "all" => requested,
                _ => GrantSet::parse_list(list).with_context(|| format!("--grant {list:?}"))?,
            };
            for cap in parsed.iter() {
                g.insert(cap);
            }
        }
        g
    };

    let mut out = Output::new(args.pretty, args.show_kv);
    out.json(json!({
        "kind": "loaded", "plugin": plugin.name, "version": plugin.version,
        "file": args.plugin.display().to_string(), "cache": plugin.cache, "compile_ms": plugin.compile_ms,
        "manifest": plugin.manifest_source,
        "grants": grants.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
    }));
    if args.pretty {
        println!(
            "{} {} ({}; compiled in {} ms, {:?})",
            plugin.name,
            plugin.version,
            args.plugin.display(),
            plugin.compile_ms,
            plugin.cache
        );
        println!(
            "granted: {}",
            grants.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
        );
    }

    let mut installed = BTreeSet::new();
    let mut last_ms = 0;
    for event in events {
        let community = event.meta.community.clone();
        if installed.insert(community.clone()) {
            plaza.ensure_community(&community)?;
            let report = plaza
                .install(&community, plugin.clone(), grants, config.clone())
                .await?;
            out.invocation(&report);
        }
        for report in plaza.fire_due_timers(event.meta.timestamp_ms).await? {
            out.invocation(&report);
        }
        for report in plaza.deliver_due(event.meta.timestamp_ms).await? {
            out.invocation(&report);
        }
        last_ms = last_ms.max(event.meta.timestamp_ms);
        if args.pretty {
            println!("\n{} [{}] {}", event.meta.id, community, event.kind.type_name());
        }
        if event.kind.is_install_scoped() {
            let report = plaza.deliver_to(&community, &plugin.name, &event).await?;
            out.invocation(&report);
        } else {
            let report = plaza.ingest(event).await?;
            out.ingest(&report);
        }
    }
    if args.drain_timers_ms > 0 {
        for report in plaza.fire_due_timers(last_ms + args.drain_timers_ms).await? {
            out.invocation(&report);
        }
    }
    // Retries still waiting after the last event run at their time, until none is left.
    while let Some(at) = plaza
        .delivery_status()?
        .iter()
        .filter(|s| s.lag > 0)
        .filter_map(|s| s.next_attempt_ms)
        .min()
    {
        let reports = plaza.deliver_due(at).await?;
        if reports.is_empty() {
            break; // quarantined: nothing more happens without more events
        }
        for report in reports {
            out.invocation(&report);
        }
    }
    out.summary();
    Ok(if args.strict && out.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints reports in the chosen form and counts outcomes.
struct Output {
    pretty: bool,
    show_kv: bool,
    invocations: usize,
    failed: usize,
    actions: usize,
    denied: usize,
}

impl Output {
    fn new(pretty: bool, show_kv: bool) -> Self {
        Output {
            pretty,
            show_kv,
            invocations: 0,
            failed: 0,
            actions: 0,
            denied: 0,
        }
    }

    fn json(&self, value: serde_json::Value) {
        if !self.pretty {
            println!("{value}");
        }
    }

    fn count(&mut self, r: &plaza_host::InvocationReport) {
        self.invocations += 1;
        self.failed += usize::from(!r.outcome.is_ok());
        self.actions += r.actions.len();
        self.denied += r.denied.len();
    }

    fn invocation(&mut self, r: &plaza_host::InvocationReport) {
        self.count(r);
        if self.pretty {
            for line in print::pretty_invocation(r, self.show_kv) {
                println!("{line}");
            }
        } else {
            for line in print::invocation_lines(r) {
                println!("{line}");
            }
        }
    }

    fn ingest(&mut self, report: &plaza_host::dispatch::IngestReport) {
        let all = report
            .review
            .iter()
            .flat_map(|r| &r.invocations)
            .chain(report.dispatch.iter().flat_map(|d| &d.invocations));
        for r in all.clone() {
            self.count(r);
        }
        if !self.pretty {
            for line in print::ingest_lines(report) {
                println!("{line}");
            }
            return;
        }
        if let Some(review) = &report.review {
            for r in &review.invocations {
                print::pretty_invocation(r, self.show_kv)
                    .iter()
                    .for_each(|l| println!("{l}"));
            }
            println!("{}", print::pretty_decision(&review.decision));
        }
        for r in report.dispatch.iter().flat_map(|d| &d.invocations) {
            print::pretty_invocation(r, self.show_kv)
                .iter()
                .for_each(|l| println!("{l}"));
        }
        for plugin in report.dispatch.iter().flat_map(|d| &d.held) {
            println!("  {plugin:<12} held: waiting behind a retry or an open circuit breaker");
        }
    }

    fn summary(&self) {
        if self.pretty {
            println!(
                "\n{} invocations: {} ok, {} failed; {} actions; {} denied calls",
                self.invocations,
                self.invocations - self.failed,
                self.failed,
                self.actions,
                self.denied
            );
        } else {
            println!(
                "{}",
                json!({"kind": "summary", "invocations": self.invocations, "ok": self.invocations - self.failed,
                       "failed": self.failed, "actions": self.actions, "denied": self.denied})
            );
        }
    }
}
