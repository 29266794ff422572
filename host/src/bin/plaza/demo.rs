//! `plaza demo`: a demo community with the sample plugins, a scripted stream of events and a
//! readable transcript of what each plugin did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use plaza_host::dispatch::IngestReport;
use plaza_host::event::ConfigEntry;
use plaza_host::event::{parse_jsonl, EventDefaults, EventKind};
use plaza_host::runtime::report::LogLevel;
use plaza_host::runtime::Plugin;
use plaza_host::signing::sign::{sign_developer, stamp_review};
use plaza_host::signing::SecretKey;
use plaza_host::storage::admin::AuditQuery;
use plaza_host::{Capability, GrantSet, InvocationReport, Plaza, PlazaConfig};
use tempfile::TempDir;

use crate::print;

/// The scripted event stream.
const SCRIPT: &str = include_str!("demo.jsonl");
/// The packaged sample plugins (`plaza package` output), by file name.
const PLUGINS: [&str; 3] = ["welcome-bot.wasm", "anti-spam.wasm", "poll.wasm"];
const COMMUNITY: &str = "rust-lovers";
const SECOND_COMMUNITY: &str = "book-club";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Folder holding the packaged welcome-bot.wasm, anti-spam.wasm and poll.wasm.
    #[arg(long, value_name = "DIR", default_value = "target/plugins")]
    plugins_dir: PathBuf,
    /// Data directory for the embedded store (default: a new temporary one, removed afterwards).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print every report as JSON lines instead of the transcript.
    #[arg(long)]
    json: bool,
    /// Also show KV writes, timers and info-level logs.
    #[arg(long, short)]
    verbose: bool,
}

struct Transcript {
    json: bool,
    verbose: bool,
    invocations: usize,
    failed: usize,
    actions: usize,
    denied: usize,
}

impl Transcript {
    fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            println!("{}", line.as_ref());
        }
    }

    fn invocation(&mut self, r: &InvocationReport) {
        self.invocations += 1;
        self.failed += usize::from(!r.outcome.is_ok());
        self.actions += r.actions.len();
        self.denied += r.denied.len();
        if self.json {
            print::invocation_lines(r).iter().for_each(|l| println!("{l}"));
            return;
        }
        let quiet = r.outcome.is_ok()
            && r.denied.is_empty()
            && !r.actions.iter().any(|a| a.is_visible())
            && !r
                .logs
                .iter()
                .any(|l| matches!(l.level, LogLevel::Warn | LogLevel::Error));
        if quiet && !self.verbose {
            return;
        }
        for a in r.actions.iter().filter(|a| self.verbose || a.is_visible()) {
            println!("           {:<12} → {}", r.plugin, print::describe_action(a));
        }
        for d in &r.denied {
            println!(
                "           {:<12} ✗ {} denied: `{}` not granted",
                r.plugin, d.call, d.capability
            );
        }
        for l in &r.logs {
            if self.verbose || matches!(l.level, LogLevel::Warn | LogLevel::Error) {
                println!("           {:<12} · {:?}: {}", r.plugin, l.level, l.message);
            }
        }
        if let Some(f) = r.outcome.failure() {
            println!(
                "           {:<12} ✗ failed ({}): {}",
                r.plugin,
                f.reason.code(),
                f.message
            );
        }
    }

    fn ingest(&mut self, report: &IngestReport) {
        if let Some(review) = &report.review {
            for r in &review.invocations {
                self.invocation(r);
            }
            if self.json {
                println!("{}", serde_json::json!({"kind": "review", "decision": review.decision}));
            } else if let plaza_host::dispatch::ReviewDecision::Reject { plugin, reason } = &review.decision {
                println!("           {plugin:<12} ⛔ rejected before posting: {reason}");
            } else if let plaza_host::dispatch::ReviewDecision::Rewrite { text } = &review.decision {
                println!("           review       ✎ rewritten to {text:?}");
            }
        }
        for r in report.dispatch.iter().flat_map(|d| &d.invocations) {
            self.invocation(r);
        }
    }
}

fn clock(ms: u64) -> String {
    let secs = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

fn headline(kind: &EventKind) -> String {
    match kind {
        EventKind::MemberJoined { member, .. } => {
            format!(
                "{} joined{}",
                member.display_name,
                if member.is_bot { " (a bot)" } else { "" }
            )
        }
        EventKind::MemberLeft { member, .. } => format!("{member} left"),
        EventKind::MessagePosted(m) => format!("{} in #{}: {:?}", m.author, m.channel, m.text),
        EventKind::ReactionAdded(r) => {
            format!("{} reacted {} to {}", r.member, r.emoji, r.message_id)
        }
        other => other.type_name().to_string(),
    }
}

/// The demo's own developer and platform keys: the sample plugins are signed and stamped as
/// reviewed in memory, so the demo host runs with the production policy (`platform-reviewed`).
struct DemoKeys {
    developer: SecretKey,
    platform: SecretKey,
}

impl DemoKeys {
    fn new() -> anyhow::Result<Self> {
        Ok(DemoKeys {
            developer: SecretKey::generate()?,
            platform: SecretKey::generate()?,
        })
    }

    /// Writes an `operator.toml` trusting the demo platform key into a data directory that has
    /// none; an operator's own file is left alone (and applies).
    fn configure(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = plaza_host::operator::OperatorConfig::path_for(data_dir);
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let text = format!(
            "# Written by `plaza demo`: trusts the demo's platform key only.\n[signing]\npolicy = \"platform-reviewed\"\ntrusted_platform_keys = [\"{}\"]\n",
            self.platform.public()
        );
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// `bytes` signed by the demo developer and stamped by the demo platform.
    fn sign(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let signed = sign_developer(bytes, &self.developer, None, now)?;
        Ok(stamp_review(&signed, &self.platform, None, now)?)
    }
}

async fn load(plaza: &Plaza, dir: &Path, file: &str, keys: &DemoKeys, t: &Transcript) -> anyhow::Result<Arc<Plugin>> {
    let path = dir.join(file);
    if !path.exists() {
        anyhow::bail!(
            "sample plugin {} not found; build and package the sample plugins first (`cargo xtask demo` does it)",
            path.display()
        );
    }
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let signed = keys
        .sign(&bytes)
        .with_context(|| format!("signing {}", path.display()))?;
    let plugin = plaza.load_plugin(&signed, &path.display().to_string()).await?;
    t.say(format!(
        "  loaded {:<12} {}  ({} KiB, compiled in {} ms, cache {:?}) — {}",
        plugin.name,
        plugin.version,
        plugin.summary.size_bytes / 1024,
        plugin.compile_ms,
        plugin.cache,
        plugin.description
    ));
    t.say(format!(
        "               {}",
        crate::signing::describe(&plaza.signing_status(&plugin))
    ));
    Ok(plugin)
}

/// Everything the plugin's manifest requests.
fn requested(plugin: &Plugin) -> GrantSet {
    plugin.requested()
}

fn names(g: &GrantSet) -> String {
    g.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut t = Transcript {
        json: args.json,
        verbose: args.verbose,
        invocations: 0,
        failed: 0,
        actions: 0,
        denied: 0,
    };
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = TempDir::new()?;
            temp.path().to_path_buf()
        }
    };
    let keys = DemoKeys::new()?;
    keys.configure(&data_dir)?;
    let plaza = Plaza::open(&data_dir, PlazaConfig::for_data_dir(&data_dir)?)
        .await
        .context("starting the Plaza host")?;
    t.say(format!(
        "Plaza demo: sample plugins from {}, embedded store in {}",
        args.plugins_dir.display(),
        data_dir.display()
    ));
    let mut plugins = Vec::new();
    for file in PLUGINS {
        plugins.push(load(&plaza, &args.plugins_dir, file, &keys, &t).await?);
    }

    t.say(format!(
        "\n== community `{COMMUNITY}`: the admin installs all three and grants what they ask for"
    ));
    plaza.create_community(COMMUNITY)?;
    for plugin in &plugins {
        let grants = requested(plugin);
        t.say(format!("  install {:<12} granted: {}", plugin.name, names(&grants)));
        let report = plaza
            .install(COMMUNITY, plugin.clone(), grants, config_for(plugin, "Rust Lovers"))
            .await?;
        t.invocation(&report);
    }

    t.say("");
    let mut defaults = EventDefaults::new(COMMUNITY, 0);
    let events = parse_jsonl(SCRIPT, "demo script", &mut defaults)?;
    let mut last_ms = 0;
    for event in events {
        for report in plaza.fire_due_timers(event.meta.timestamp_ms).await? {
            t.say(format!("  {}  ⏰ timer fired", clock(event.meta.timestamp_ms)));
            t.invocation(&report);
        }
        last_ms = event.meta.timestamp_ms;
        t.say(format!(
            "  {}  {}",
            clock(event.meta.timestamp_ms),
            headline(&event.kind)
        ));
        let report = plaza.ingest(event).await?;
        t.ingest(&report);
    }
    let later = last_ms + 6 * 60 * 1000;
    t.say(format!("  {}  (six minutes later)", clock(later)));
    for report in plaza.fire_due_timers(later).await? {
        t.say("           ⏰ timer fired");
        t.invocation(&report);
    }

    t.say(format!(
        "\n== community `{SECOND_COMMUNITY}`: the admin grants welcome-bot storage only, not messages:send"
    ));
    plaza.create_community(SECOND_COMMUNITY)?;
    let welcome = plugins
        .iter()
        .find(|p| p.name.contains("welcome"))
        .context("welcome plugin missing")?;
    let mut partial = requested(welcome);
    partial.remove(Capability::MessagesSend);
    partial.remove(Capability::MembersRead);
    t.say(format!(
        "  install {:<12} asked for: {}; granted: {}",
        welcome.name,
        names(&requested(welcome)),
        names(&partial)
    ));
    let report = plaza
        .install(
            SECOND_COMMUNITY,
            welcome.clone(),
            partial,
            config_for(welcome, "Book Club"),
        )
        .await?;
    t.invocation(&report);
    let mut defaults = EventDefaults::new(SECOND_COMMUNITY, last_ms);
    let join = defaults.parse(
        r#"{"type":"member-joined","member":{"id":"dave","display_name":"Dave"}}"#,
        "demo",
    )?;
    t.say(format!("  {}  {}", clock(join.meta.timestamp_ms), headline(&join.kind)));
    let report = plaza.ingest(join).await?;
    t.ingest(&report);

    if !t.json {
        println!("\n== what the admin of `{SECOND_COMMUNITY}` sees (plaza plugins / plaza audit)");
        for status in plaza.plugin_statuses(SECOND_COMMUNITY)? {
            let state = if status.enabled { "enabled" } else { "disabled" };
            println!("  {} {}: {state}", status.plugin, status.version);
            for r in &status.requested {
                let mark = if r.granted { "granted    " } else { "not granted" };
                println!("    {:<20} {mark}  {}", r.capability.to_string(), r.reason);
            }
        }
        let query = AuditQuery {
            community: Some(SECOND_COMMUNITY.into()),
            limit: Some(8),
            ..AuditQuery::default()
        };
        for e in plaza.audit_log(&query)? {
            println!(
                "    audit #{:<4} {:<8} {:<18} {:<8} {}",
                e.seq,
                e.kind,
                e.capability.as_deref().unwrap_or("-"),
                e.outcome,
                e.detail
            );
        }
    }

    let posted = plaza
        .store()
        .messages(COMMUNITY)
        .iter()
        .filter(|m| m.posted_by_plugin.is_some())
        .count();
    t.say(format!(
        "\n{} invocations ({} failed), {} effects applied, {} denied calls; plugins posted {} messages in `{COMMUNITY}`.",
        t.invocations, t.failed, t.actions, t.denied, posted
    ));
    if t.json {
        println!(
            "{}",
            serde_json::json!({"kind": "summary", "invocations": t.invocations, "failed": t.failed,
                               "actions": t.actions, "denied": t.denied, "plugin_messages": posted})
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The install configuration the demo admin sets: where welcome-bot greets, and the name it uses.
fn config_for(plugin: &Plugin, community_name: &str) -> Vec<ConfigEntry> {
    if !plugin.manifest.config.contains_key("channel") {
        return Vec::new();
    }
    vec![
        ConfigEntry {
            key: "channel".into(),
            value: "general".into(),
        },
        ConfigEntry {
            key: "community-name".into(),
            value: community_name.into(),
        },
    ]
}
