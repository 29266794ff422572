//! Admin commands over the embedded store: communities, installs, grants, upgrades, audit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use plaza_host::admin::status::PluginStatus;
use plaza_host::admin::UpgradeOutcome;
use plaza_host::event::ConfigEntry;
use plaza_host::runtime::plugin::ManifestSource;
use plaza_host::storage::admin::AuditQuery;
use plaza_host::storage::StoreLocation;
use plaza_host::{Capability, GrantSet, InvocationReport, Plaza, PlazaConfig};
use serde_json::json;

use crate::print;

/// Where the host's database lives, and how to print.
#[derive(Args, Clone)]
pub struct Common {
    /// The data directory holding the embedded database (created on first use).
    #[arg(long, env = "PLAZA_DATA_DIR", default_value = "plaza-data", global = true)]
    pub data_dir: PathBuf,
    /// Where the host's state lives: `embedded` (SQLite in the data directory) or a PostgreSQL
    /// URL (`postgres://USER:PASSWORD@HOST:PORT/DB`) shared by several hosts.
    #[arg(
        long,
        env = "PLAZA_STORE",
        default_value = "embedded",
        global = true,
        value_name = "URL"
    )]
    pub store: StoreLocation,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Names an install.
#[derive(Args)]
pub struct Target {
    /// The community.
    #[arg(long, short)]
    pub community: String,
    /// The plugin id.
    #[arg(long, short)]
    pub plugin: String,
}

#[derive(Subcommand)]
pub enum CommunityCommand {
    /// Create a community.
    Create {
        /// Its id.
        id: String,
    },
    /// List communities.
    List,
}

pub async fn open(common: &Common) -> anyhow::Result<Plaza> {
    open_store(
        &common.store,
        &common.data_dir,
        PlazaConfig::for_data_dir(&common.data_dir)?,
    )
    .await
}

/// Opens the host on its store, saying which store failed.
pub async fn open_store(store: &StoreLocation, data_dir: &Path, config: PlazaConfig) -> anyhow::Result<Plaza> {
    let plaza = Plaza::open_at(store, data_dir, config).await;
    plaza.with_context(|| match store {
        StoreLocation::Embedded => format!("opening the embedded store in {}", data_dir.display()),
        StoreLocation::Postgres(_) => "opening the PostgreSQL store (--store)".to_string(),
    })
}

fn emit(common: &Common, value: serde_json::Value, text: impl FnOnce()) {
    if common.json {
        println!("{value}");
    } else {
        text();
    }
}

pub async fn community(common: Common, command: CommunityCommand) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    match command {
        CommunityCommand::Create { id } => {
            plaza.create_community(&id)?;
            emit(&common, json!({"created": id}), || println!("created community `{id}`"));
        }
        CommunityCommand::List => {
            let list = plaza.communities()?;
            emit(&common, serde_json::to_value(&list)?, || {
                for c in &list {
                    let installs = plaza.installs(&c.id).map(|i| i.len()).unwrap_or(0);
                    println!("{:<24} {installs} plugin(s)", c.id);
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_caps(items: &[String]) -> anyhow::Result<Vec<Capability>> {
    let mut caps = Vec::new();
    for item in items {
        caps.extend(GrantSet::parse_list(item)?.iter());
    }
    anyhow::ensure!(!caps.is_empty(), "name at least one capability, e.g. messages:send");
    Ok(caps)
}

pub fn parse_config(items: &[String]) -> anyhow::Result<Vec<ConfigEntry>> {
    items
        .iter()
        .map(|item| {
            let (key, value) = item
                .split_once('=')
                .with_context(|| format!("config {item:?}: expected KEY=VALUE"))?;
            Ok(ConfigEntry {
                key: key.trim().to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

async fn load_for_admin(plaza: &Plaza, path: &Path) -> anyhow::Result<std::sync::Arc<plaza_host::runtime::Plugin>> {
    let plugin = crate::progress::loading(path, plaza.load_plugin_file(path)).await?;
    anyhow::ensure!(
        plugin.manifest_source != ManifestSource::Derived,
        "plugin {} has no manifest: embed one with `plaza package {} --manifest plaza.toml -o OUT.wasm`, \
         or put plaza.toml beside it",
        path.display(),
        path.display()
    );
    Ok(plugin)
}

fn print_status(s: &PluginStatus) {
    let state = if s.enabled { "enabled" } else { "DISABLED" };
    println!("{} {} — {state}", s.plugin, s.version);
    println!("  {}", s.description);
    for r in &s.requested {
        let mark = if r.granted { "granted" } else { "not granted" };
        println!("  {:<24} {:<12} {}", r.capability.to_string(), mark, r.reason);
    }
    println!("  signing: {}", crate::signing::describe(&s.signing));
    if let Some(p) = &s.pending_upgrade {
        println!("  upgrade to {} waits for approval; it adds:", p.version);
        for r in &p.added {
            println!("    {:<22} {}", r.capability.to_string(), r.reason);
        }
        println!("    signing: {}", crate::signing::describe(&p.signing));
    }
    let b = &s.breaker;
    let retry = b
        .retry_at_ms
        .map(|t| format!(", trial after {}", print::clock(t)))
        .unwrap_or_default();
    println!(
        "  breaker: {:?} ({} recent failure(s), {} trip(s){retry}); {} held event(s)",
        b.state, b.recent_failures, b.trips, b.held_events
    );
    let l = &s.limits;
    println!(
        "  limits: memory {} MiB, cpu {} ms, wall clock {} ms, kv {} KiB{}",
        l.memory_bytes >> 20,
        l.cpu_ms,
        l.wall_clock_ms,
        l.kv_quota_bytes >> 10,
        l.fuel.map(|f| format!(", fuel {f}")).unwrap_or_default()
    );
    let h = &s.health;
    print!(
        "  health: {} recent failure(s), {} denied call(s)",
        h.recent_failures, h.recent_denied_calls
    );
    match &h.last_failure {
        Some(f) => println!("; last failure {f}"),
        None => println!(),
    }
}

fn print_report(common: &Common, report: &InvocationReport) {
    if common.json {
        for line in print::invocation_lines(report) {
            println!("{line}");
        }
    } else {
        for line in print::pretty_invocation(report, false) {
            println!("{line}");
        }
    }
}

#[derive(Args)]
pub struct InstallArgs {
    /// The packaged plugin (.wasm with an embedded manifest, or with plaza.toml beside it).
    plugin: PathBuf,
    /// The community.
    #[arg(long, short)]
    community: String,
    /// Capabilities to grant now (comma-separated; `all` = everything requested). Default: none.
    #[arg(long, value_name = "LIST")]
    grant: Vec<String>,
    /// Configuration as KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
}

pub async fn install(common: Common, args: InstallArgs) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let plugin = load_for_admin(&plaza, &args.plugin).await?;
    let requested = plugin.requested();
    let mut grants = GrantSet::none();
    for list in &args.grant {
        let parsed = if list.trim() == "all" {
            requested
        } else {
            GrantSet::parse_list(list)?
        };
        parsed.iter().for_each(|c| grants.insert(c));
    }
    let report = plaza
        .install(&args.community, plugin.clone(), grants, parse_config(&args.config)?)
        .await?;
    let status = plaza
        .plugin_statuses(&args.community)?
        .into_iter()
        .find(|s| s.plugin == plugin.name);
    if common.json {
        println!(
            "{}",
            json!({"installed": plugin.name, "community": args.community, "status": status})
        );
    } else {
        println!(
            "installed {} {} in `{}`; it requests:",
            plugin.name, plugin.version, args.community
        );
        if let Some(s) = &status {
            print_status(s);
        }
        println!(
            "grant items with: plaza grant -c {} -p {} CAPABILITY...",
            args.community, plugin.name
        );
    }
    print_report(&common, &report);
    Ok(ExitCode::SUCCESS)
}

pub async fn grant(common: Common, target: Target, caps: Vec<String>, revoke: bool) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let caps = parse_caps(&caps)?;
    let now = if revoke {
        plaza.revoke(&target.community, &target.plugin, &caps)?
    } else {
        plaza.grant(&target.community, &target.plugin, &caps)?
    };
    let verb = if revoke { "revoked" } else { "granted" };
    let held: Vec<String> = now.iter().map(|c| c.to_string()).collect();
    emit(
        &common,
        json!({"plugin": target.plugin, "community": target.community, verb: caps, "grants": held}),
        || {
            println!(
                "{verb} {} for {} in `{}`; it now holds: {}",
                caps.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
                target.plugin,
                target.community,
                if held.is_empty() {
                    "nothing".to_string()
                } else {
                    held.join(", ")
                }
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn enable(common: Common, target: Target, enabled: bool) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    plaza.set_enabled(&target.community, &target.plugin, enabled)?;
    let state = if enabled { "enabled" } else { "disabled" };
    emit(
        &common,
        json!({"plugin": target.plugin, "community": target.community, "state": state}),
        || println!("{} is {state} in `{}`", target.plugin, target.community),
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn config(common: Common, target: Target, items: Vec<String>) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let report = plaza
        .set_config(&target.community, &target.plugin, parse_config(&items)?)
        .await?;
    print_report(&common, &report);
    Ok(ExitCode::SUCCESS)
}

pub async fn upgrade(common: Common, plugin: PathBuf, community: String) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let new = load_for_admin(&plaza, &plugin).await?;
    let outcome = plaza.upgrade(&community, new.clone()).await?;
    if common.json {
        println!("{}", serde_json::to_value(&outcome)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &outcome {
        UpgradeOutcome::Applied { from, to, report } => {
            println!(
                "{} upgraded {from} → {to} in `{community}` (it asks for nothing new)",
                new.name
            );
            print_report(&common, report);
        }
        UpgradeOutcome::Pending {
            from,
            to,
            added,
            added_hosts,
        } => {
            println!(
                "{} {to} asks for more than {from}; it waits for approval and {from} keeps serving:",
                new.name
            );
            for cap in added {
                println!(
                    "  {:<22} {}",
                    cap.to_string(),
                    new.manifest.reason_for(*cap).unwrap_or("")
                );
            }
            if !added_hosts.is_empty() {
                println!("  {:<22} new hosts: {}", "http:fetch", added_hosts.join(", "));
            }
            println!("approve with: plaza approve -c {community} -p {}", new.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(common: Common, target: Target, approve: bool) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    if approve {
        let report = plaza.approve_upgrade(&target.community, &target.plugin).await?;
        if !common.json {
            println!("approved; {} now serves in `{}`", target.plugin, target.community);
        }
        print_report(&common, &report);
    } else {
        plaza.reject_upgrade(&target.community, &target.plugin)?;
        emit(
            &common,
            json!({"rejected": target.plugin, "community": target.community}),
            || println!("rejected the upgrade of {} in `{}`", target.plugin, target.community),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn uninstall(common: Common, target: Target) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let report = plaza.uninstall(&target.community, &target.plugin).await?;
    if !common.json {
        println!(
            "uninstalled {} from `{}`; its data there was deleted",
            target.plugin, target.community
        );
    }
    print_report(&common, &report);
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct AuditArgs {
    /// Only this community.
    #[arg(long, short)]
    community: Option<String>,
    /// Only this plugin.
    #[arg(long, short)]
    plugin: Option<String>,
    /// Only the newest N entries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub async fn audit(common: Common, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let entries = plaza.audit_log(&AuditQuery {
        community: args.community,
        plugin: args.plugin,
        after_seq: None,
        limit: Some(args.limit),
    })?;
    for e in &entries {
        if common.json {
            println!("{}", serde_json::to_string(e)?);
        } else {
            println!(
                "#{:<5} {} {:<14} {:<12} {:<16} {:<20} {:<9} {}",
                e.seq,
                print::clock(e.time_ms),
                e.community,
                format!("{}@{}", e.plugin, e.version),
                e.kind,
                e.capability.as_deref().unwrap_or("-"),
                e.outcome,
                e.detail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn plugins(common: Common, community: String) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let statuses = plaza.plugin_statuses(&community)?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else if statuses.is_empty() {
        println!("no plugins installed in `{community}`");
    } else {
        for s in &statuses {
            print_status(s);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ingest(common: Common, events: PathBuf) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let name = events.display().to_string();
    let text = std::fs::read_to_string(&events).with_context(|| format!("cannot read event file {name}"))?;
    let mut defaults = plaza_host::event::EventDefaults::default();
    let events = plaza_host::event::parse_jsonl(&text, &name, &mut defaults)?;
    for event in events {
        for r in plaza.deliver_due(event.meta.timestamp_ms).await? {
            print_report(&common, &r);
        }
        let report = plaza.ingest(event).await?;
        if common.json {
            print::ingest_lines(&report).iter().for_each(|l| println!("{l}"));
        } else {
            if let Some(review) = &report.review {
                review
                    .invocations
                    .iter()
                    .flat_map(|r| print::pretty_invocation(r, false))
                    .for_each(|l| println!("{l}"));
                println!("{}", print::pretty_decision(&review.decision));
            }
            for r in report.dispatch.iter().flat_map(|d| &d.invocations) {
                print::pretty_invocation(r, false).iter().for_each(|l| println!("{l}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Admin limits for one install.
#[derive(Args)]
pub struct LimitArgs {
    /// Linear memory in MiB.
    #[arg(long)]
    memory_mb: Option<u64>,
    /// CPU per invocation in ms.
    #[arg(long)]
    cpu_ms: Option<u64>,
    /// Wall clock per invocation (host calls included) in ms.
    #[arg(long)]
    wall_clock_ms: Option<u64>,
    /// Instruction budget, used when the host meters fuel.
    #[arg(long)]
    fuel: Option<u64>,
    /// Elements per table.
    #[arg(long)]
    table_elements: Option<u64>,
    /// Core instances per plugin instance.
    #[arg(long)]
    instances: Option<u64>,
    /// Tables per plugin instance.
    #[arg(long)]
    tables: Option<u64>,
    /// Memories per plugin instance.
    #[arg(long)]
    memories: Option<u64>,
    /// Messages per minute per channel.
    #[arg(long)]
    messages_per_minute_per_channel: Option<u64>,
    /// Burst of a channel's message budget.
    #[arg(long)]
    channel_burst: Option<u64>,
    /// Messages per minute across the community.
    #[arg(long)]
    messages_per_minute_per_community: Option<u64>,
    /// Burst of the community's message budget.
    #[arg(long)]
    community_burst: Option<u64>,
}

pub async fn limits(common: Common, target: Target, args: LimitArgs) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    let overrides = plaza_host::storage::admin::LimitOverrides {
        memory_mb: args.memory_mb,
        cpu_ms: args.cpu_ms,
        wall_clock_ms: args.wall_clock_ms,
        fuel: args.fuel,
        table_elements: args.table_elements,
        instances: args.instances,
        tables: args.tables,
        memories: args.memories,
        messages_per_minute_per_channel: args.messages_per_minute_per_channel,
        channel_burst: args.channel_burst,
        messages_per_minute_per_community: args.messages_per_minute_per_community,
        community_burst: args.community_burst,
    };
    plaza.set_limits(&target.community, &target.plugin, overrides)?;
    let status = plaza
        .plugin_statuses(&target.community)?
        .into_iter()
        .find(|s| s.plugin == target.plugin);
    if common.json {
        println!(
            "{}",
            json!({"plugin": target.plugin, "community": target.community, "status": status})
        );
    } else if let Some(s) = &status {
        print_status(s);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn breaker(common: Common, target: Target, reset: bool) -> anyhow::Result<ExitCode> {
    let plaza = open(&common).await?;
    if reset {
        let reports = plaza.reset_breaker(&target.community, &target.plugin).await?;
        if !common.json {
            println!(
                "breaker closed for {} in `{}`; delivered {} held event(s)",
                target.plugin,
                target.community,
                reports.len()
            );
        }
        for r in &reports {
            print_report(&common, r);
        }
    }
    let status = plaza.breaker_status(&target.community, &target.plugin)?;
    emit(&common, serde_json::to_value(&status)?, || {
        println!(
            "{} in `{}`: {:?}, {} recent failure(s), {} trip(s), {} held event(s)",
            target.plugin, target.community, status.state, status.recent_failures, status.trips, status.held_events
        )
    });
    Ok(ExitCode::SUCCESS)
}

pub async fn review_policy(common: Common, community: String, policy: String) -> anyhow::Result<ExitCode> {
    use plaza_host::storage::admin::ReviewFailPolicy;
    let policy = match policy.as_str() {
        "fail-open" => ReviewFailPolicy::FailOpen,
        "fail-closed" => ReviewFailPolicy::FailClosed,
        other => anyhow::bail!("review policy {other:?}: expected fail-open or fail-closed"),
    };
    let plaza = open(&common).await?;
    plaza.set_review_fail_policy(&community, policy)?;
    emit(
        &common,
        json!({"community": community, "review_fail_policy": policy}),
        || {
            println!(
                "`{community}`: a message whose review fails is now {}",
                match policy {
                    ReviewFailPolicy::FailOpen => "posted (fail-open)",
                    ReviewFailPolicy::FailClosed => "held (fail-closed)",
                }
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}
