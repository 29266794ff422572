//! Helpers shared by the integration tests.

use std::sync::Arc;

use plaza_host::dispatch::RetryPolicy;
use plaza_host::engine::EngineSettings;
use plaza_host::event::{Event, EventDefaults};
use plaza_host::runtime::Plugin;
use plaza_host::{GrantSet, InvocationReport, Plaza, PlazaConfig};

/// A host whose circuit breaker never trips, for tests that fail on purpose many times.
pub fn plaza_without_breaker() -> Plaza {
    let config = PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        breaker: plaza_host::dispatch::BreakerSettings {
            failures: usize::MAX,
            ..Default::default()
        },
        retry: RetryPolicy::no_retries(),
        ..PlazaConfig::default()
    };
    Plaza::new(config).expect("starting Plaza")
}

/// A host with in-memory state and a per-test compile cache. A failed event is not retried
/// (it becomes a dead letter at once), so each event's outcome is its own; see
/// [`plaza_with_retries`].
pub fn plaza() -> Plaza {
    plaza_with_retries(RetryPolicy::no_retries())
}

/// [`plaza`] retrying failed events per `retry`.
pub fn plaza_with_retries(retry: RetryPolicy) -> Plaza {
    let config = PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        retry,
        ..PlazaConfig::default()
    };
    Plaza::new(config).expect("starting Plaza")
}

/// The compile cache the tests share (inside the target dir, so a clean build starts cold).
pub fn cache_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("plaza-test-cache")
}

/// Loads a guest by path.
pub async fn load(plaza: &Plaza, path: &str) -> Arc<Plugin> {
    plaza
        .load_plugin_file(path)
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// `all` means everything the plugin's manifest requests; otherwise a capability list.
pub fn grants_for(plugin: &Plugin, grants: &str) -> GrantSet {
    if grants == "all" {
        plugin.requested()
    } else {
        GrantSet::parse_list(grants).unwrap()
    }
}

/// A community with the plugin installed with `grants` (see [`grants_for`]).
pub async fn community_with(plaza: &Plaza, community: &str, plugin: &Arc<Plugin>, grants: &str) {
    install_with(plaza, community, plugin, grants, Vec::new()).await;
}

/// Like [`community_with`], with configuration.
pub async fn install_with(
    plaza: &Plaza,
    community: &str,
    plugin: &Arc<Plugin>,
    grants: &str,
    config: Vec<plaza_host::event::ConfigEntry>,
) {
    plaza.ensure_community(community).unwrap();
    let report = plaza
        .install(community, plugin.clone(), grants_for(plugin, grants), config)
        .await
        .unwrap();
    assert!(report.outcome.is_ok(), "install failed: {report:?}");
}

/// Configuration entries from `(key, value)` pairs.
pub fn config(pairs: &[(&str, &str)]) -> Vec<plaza_host::event::ConfigEntry> {
    pairs
        .iter()
        .map(|(k, v)| plaza_host::event::ConfigEntry {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// The sample plugin's manifest path.
pub fn sample_manifest(plugin: &str) -> String {
    format!("{}/../sample-plugins/{plugin}/plaza.toml", env!("CARGO_MANIFEST_DIR"))
}

/// A sample plugin packaged with its manifest, as a developer ships it.
pub async fn load_sample(plaza: &Plaza, component: &str, plugin: &str) -> Arc<Plugin> {
    let bytes = std::fs::read(component).unwrap();
    let manifest = std::fs::read_to_string(sample_manifest(plugin)).unwrap();
    let packaged = plaza_host::manifest::embed::embed(&bytes, &manifest).unwrap();
    plaza
        .load_plugin(&packaged, plugin)
        .await
        .unwrap_or_else(|e| panic!("loading {plugin}: {e}"))
}

/// The probe packaged with a manifest requesting `commands` and `caps`, subscribing to `events`.
pub async fn probe_with_manifest(plaza: &Plaza, caps: &[&str], events: &[&str]) -> Arc<Plugin> {
    let packaged = packaged_probe(plaza, caps, events).await;
    plaza.load_plugin(&packaged, "probe (test manifest)").await.unwrap()
}

/// The probe component with a manifest embedded that requests `commands` and `caps`, offers
/// its commands and subscribes to `events`.
pub async fn packaged_probe(plaza: &Plaza, caps: &[&str], events: &[&str]) -> Vec<u8> {
    packaged_probe_with(plaza, caps, events, "").await
}

/// Like [`packaged_probe`], with `extra` TOML appended to the manifest (e.g. `[isolation]`).
pub async fn packaged_probe_with(plaza: &Plaza, caps: &[&str], events: &[&str], extra: &str) -> Vec<u8> {
    package_probe_build(plaza, plaza_tests::PROBE, caps, events, extra).await
}

/// A build of the probe (`component`, e.g. a frozen older-WIT one) with a manifest embedded,
/// as in [`packaged_probe_with`]; the manifest's `api` is the build's WIT version.
pub async fn package_probe_build(
    plaza: &Plaza,
    component: &str,
    caps: &[&str],
    events: &[&str],
    extra: &str,
) -> Vec<u8> {
    let probe = load(plaza, component).await;
    let mut text = format!(
        "[plugin]\nid = \"probe\"\nversion = \"0.0.1\"\napi = \"{}\"\nauthors = [\"tests\"]\n\
         description = \"probe\"\n\n[capabilities]\n\"commands\" = {{ reason = \"test commands\" }}\n",
        probe.api()
    );
    for cap in caps {
        text.push_str(&format!("{cap:?} = {{ reason = \"test needs {cap}\" }}\n"));
    }
    let events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    text.push_str(&format!("\n[events]\nsubscribe = [{}]\n", events.join(", ")));
    for c in &probe.commands {
        text.push_str(&format!(
            "\n[[commands]]\nname = {:?}\ndescription = \"t\"\nusage = \"t\"\n",
            c.name
        ));
    }
    text.push_str(extra);
    let bytes = std::fs::read(component).unwrap();
    plaza_host::manifest::embed::embed(&bytes, &text).unwrap()
}

/// Builds events from JSON for one community, numbering them.
pub struct Events(EventDefaults);

impl Events {
    pub fn new(community: &str) -> Self {
        Events(EventDefaults::new(community, 1_767_225_600_000))
    }

    pub fn parse(&mut self, json: &str) -> Event {
        self.0.parse(json, "test").unwrap()
    }

    pub fn joined(&mut self, id: &str) -> Event {
        self.parse(&format!(r#"{{"type":"member-joined","member":{{"id":"{id}"}}}}"#))
    }

    pub fn joined_with_roles(&mut self, id: &str, roles: &[&str]) -> Event {
        let roles = serde_json::to_string(roles).unwrap();
        self.parse(&format!(
            r#"{{"type":"member-joined","member":{{"id":"{id}","roles":{roles}}}}}"#
        ))
    }

    pub fn message(&mut self, id: &str, author: &str, text: &str) -> Event {
        let text = serde_json::to_string(text).unwrap();
        self.parse(&format!(
            r#"{{"type":"message-posted","channel":"general","message_id":"{id}","author":"{author}","text":{text}}}"#
        ))
    }
}

/// The single invocation of `plugin` in a dispatch, review, or ingest report's invocations.
pub fn only<'a>(invocations: &'a [InvocationReport], plugin: &str) -> &'a InvocationReport {
    let matching: Vec<_> = invocations.iter().filter(|r| r.plugin == plugin).collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one invocation of {plugin}, got {invocations:#?}"
    );
    matching[0]
}

/// Every log message of an invocation.
pub fn logs(r: &InvocationReport) -> Vec<String> {
    r.logs.iter().map(|l| l.message.clone()).collect()
}

/// Texts of the messages the invocation sent.
pub fn sent(r: &InvocationReport) -> Vec<String> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            plaza_host::Action::SendMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The `plaza` binary built beside this test binary.
pub fn plaza_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("plaza");
    assert!(
        path.exists(),
        "{} is missing; run the tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// Writes an `operator.toml` into `data_dir` that accepts unsigned packages: the operator's
/// default is `platform-reviewed`, and these tests install local, unsigned builds.
pub fn allow_unsigned(data_dir: &std::path::Path) {
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(
        data_dir.join(plaza_host::operator::OPERATOR_FILE),
        "[signing]\npolicy = \"unsigned-allowed\"\n",
    )
    .unwrap();
}

/// A `reaction-added` event `id` in `community`, as a JSON line: the `i`th of a test's stream
/// (timestamps one second apart, message `m-{i}`), by one of `members` members in turn.
pub fn reaction_line(id: &str, community: &str, i: usize, members: usize) -> String {
    serde_json::json!({
        "id": id,
        "community": community,
        "type": "reaction-added",
        "timestamp_ms": 1_767_225_600_000u64 + 1_000 * i as u64,
        "channel": "general",
        "message_id": format!("m-{i}"),
        "member": format!("member-{}", i % members),
        "emoji": "+1",
    })
    .to_string()
}

/// [`reaction_line`], parsed.
pub fn reaction(id: &str, community: &str, i: usize, members: usize) -> Event {
    EventDefaults::new(community, 0)
        .parse(&reaction_line(id, community, i, members), "test")
        .unwrap()
}
