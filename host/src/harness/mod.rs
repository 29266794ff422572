//! A test harness for plugin conformance tests written in Rust: one community on an in-memory
//! host, plugins installed with the grants you choose, events fed at a deterministic time, and
//! what happened (actions, KV, posted messages, audit) to assert on.
//!
//! The host takes "now" from the event being handled (`timestamp_ms`: message budgets, timers
//! scheduled with a delay, KV and audit times of effects) and fires timers when told what time
//! it is. The harness owns that clock: events are stamped with [`Harness::now_ms`], and
//! [`Harness::advance`] moves it forward and fires the timers that fell due. Nothing depends on
//! the machine's clock or on randomness (pseudonyms come from a fixed host secret), so two
//! harnesses fed the same events see the same effects. (Lifecycle events the host creates at
//! install and config changes still carry ids made from the machine's clock.)
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use plaza_host::harness::Harness;
//!
//! let mut h = Harness::new()?;
//! let poll = h.load_file("target/wasm32-wasip2/ci/poll.wasm").await?;
//! h.install(&poll, "all").await?;
//! let report = h.say("alice", "/poll Lunch? pizza sushi").await?;
//! assert!(report.invocations[0].outcome.is_ok());
//! assert_eq!(h.sent_texts().len(), 1);
//! h.advance(60_000).await?; // fires timers due within the next minute
//! # Ok(())
//! # }
//! ```
//!
//! A complete, compiled example is `tests/all/harness.rs`.

mod feed;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::capability::GrantSet;
use crate::dispatch::{Plaza, PlazaConfig, RetryPolicy};
use crate::event::{ConfigEntry, Event, EventDefaults};
use crate::runtime::report::InvocationReport;
use crate::runtime::Plugin;
use crate::storage::admin::{AuditEntry, AuditQuery};
use crate::storage::memory::MemoryStore;
use crate::storage::StoredMessage;

pub use feed::EventBuilder;

/// 2026-01-01T00:00:00Z: where every harness clock starts unless told otherwise.
pub const START_MS: u64 = 1_767_225_600_000;

/// The fixed host secret behind member pseudonyms, so pseudonyms repeat from run to run.
const SECRET: [u8; 32] = [7; 32];

/// One community on an in-memory host, with a clock the test moves.
pub struct Harness {
    plaza: Arc<Plaza>,
    community: String,
    now_ms: u64,
    defaults: EventDefaults,
    /// Events built so far (for fresh message ids).
    built: u64,
}

impl Harness {
    /// A harness with community `c`, no retries (a failed event is final, so each event's
    /// outcome is its own), and outbound HTTP answered offline: every `http:fetch` fails with
    /// the per-event request cap of 0, before any name lookup or connection.
    pub fn new() -> anyhow::Result<Harness> {
        Harness::with_config("c", START_MS, Harness::default_config())
    }

    /// The configuration [`Harness::new`] uses: the host's default limits and budgets.
    pub fn default_config() -> PlazaConfig {
        let mut config = PlazaConfig {
            retry: RetryPolicy::no_retries(),
            ..PlazaConfig::default()
        };
        config.http.limits.requests_per_event = 0;
        config
    }

    /// A harness for `community` whose clock starts at `start_ms`, on a host built from `config`.
    pub fn with_config(community: &str, start_ms: u64, mut config: PlazaConfig) -> anyhow::Result<Harness> {
        if config.secrets_key.is_none() {
            config.secrets_key = Some(crate::admin::secrets::SecretsKey::generate().context("making a secrets key")?);
        }
        let plaza = Plaza::with_store(config, Arc::new(MemoryStore::new()), SECRET).context("starting the host")?;
        Harness::on(Arc::new(plaza), community, start_ms)
    }

    fn on(plaza: Arc<Plaza>, community: &str, start_ms: u64) -> anyhow::Result<Harness> {
        plaza.ensure_community(community).context("creating the community")?;
        Ok(Harness {
            plaza,
            community: community.to_string(),
            now_ms: start_ms,
            defaults: EventDefaults::new(community, start_ms),
            built: 0,
        })
    }

    /// Another community on the same host, with a clock of its own starting where this one
    /// started: plugins loaded once serve both (a plugin is tied to the host that loaded it).
    pub fn sibling(&self, community: &str) -> anyhow::Result<Harness> {
        Harness::on(self.plaza.clone(), community, self.defaults.start_ms)
    }

    /// The host, for anything the harness does not wrap.
    pub fn plaza(&self) -> &Plaza {
        &self.plaza
    }

    /// The community's id.
    pub fn community(&self) -> &str {
        &self.community
    }

    /// The harness clock, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Moves the clock forward by `ms` and fires this community's timers due by then.
    pub async fn advance(&mut self, ms: u64) -> anyhow::Result<Vec<InvocationReport>> {
        self.now_ms += ms;
        let mut fired = self.plaza.fire_due_timers(self.now_ms).await?;
        // The host fires every community's timers; siblings' are theirs to report.
        fired.retain(|r| r.community == self.community);
        Ok(fired)
    }

    /// Loads a plugin from bytes (its manifest embedded, else derived for development).
    pub async fn load(&self, bytes: &[u8], origin: &str) -> anyhow::Result<Arc<Plugin>> {
        Ok(self.plaza.load_plugin(bytes, origin).await?)
    }

    /// Loads a plugin file (a `plaza.toml` beside it is its manifest unless one is embedded).
    pub async fn load_file(&self, path: impl AsRef<Path>) -> anyhow::Result<Arc<Plugin>> {
        Ok(self.plaza.load_plugin_file(path).await?)
    }

    /// Installs `plugin` with `grants` (`"all"`: everything its manifest requests; otherwise a
    /// list such as `"messages:send,storage:kv"`), without configuration.
    pub async fn install(&mut self, plugin: &Arc<Plugin>, grants: &str) -> anyhow::Result<InvocationReport> {
        self.install_with(plugin, grants, Vec::new()).await
    }

    /// Like [`Harness::install`], with configuration entries.
    pub async fn install_with(
        &mut self,
        plugin: &Arc<Plugin>,
        grants: &str,
        config: Vec<ConfigEntry>,
    ) -> anyhow::Result<InvocationReport> {
        let grants = if grants == "all" {
            plugin.requested()
        } else {
            GrantSet::parse_list(grants)?
        };
        Ok(self
            .plaza
            .install(&self.community, plugin.clone(), grants, config)
            .await?)
    }

    /// Replaces an install's grants (e.g. revoking a capability between two events).
    pub fn set_grants(&self, plugin: &str, grants: GrantSet) -> anyhow::Result<()> {
        Ok(self.plaza.set_grants(&self.community, plugin, grants)?)
    }

    /// Starts an event of `kind` (e.g. `"member-joined"`) stamped with the harness clock.
    pub fn event(&mut self, kind: &str) -> EventBuilder<'_> {
        EventBuilder::new(self, kind)
    }

    /// Builds an event from JSON; meta fields left out are filled in (the timestamp from the
    /// harness clock, a fresh id and sequence).
    pub fn parse(&mut self, json: &str) -> anyhow::Result<Event> {
        self.built += 1;
        let mut value: serde_json::Value = serde_json::from_str(json).context("event JSON")?;
        if let Some(object) = value.as_object_mut() {
            object
                .entry("timestamp_ms")
                .or_insert_with(|| serde_json::Value::from(self.now_ms));
        }
        Ok(self.defaults.from_value(value, "harness")?)
    }

    /// Appends a community event to the log and delivers it, as the platform's ingest does
    /// (an id seen before is not delivered again).
    pub async fn dispatch(&mut self, event: Event) -> anyhow::Result<crate::dispatch::DispatchReport> {
        Ok(self.plaza.dispatch(event).await?)
    }

    /// Hands `event` to `plugin` directly, outside the log, as a redelivery would: no dedupe by
    /// id, any `attempt` and `sequence`. It is routed as the host routes it (subscriptions,
    /// grants, commands); `None` when the install would not receive it.
    pub async fn redeliver(&self, plugin: &str, event: &Event) -> anyhow::Result<Option<InvocationReport>> {
        let install = self.plaza.install_of(&self.community, plugin)?;
        let Some(routed) = crate::dispatch::routing::route(event, &install) else {
            return Ok(None);
        };
        Ok(Some(self.plaza.deliver_to(&self.community, plugin, &routed).await?))
    }

    /// The event `plugin`'s install would receive for `event` (after routing), if any.
    pub fn routed(&self, plugin: &str, event: &Event) -> anyhow::Result<Option<Event>> {
        let install = self.plaza.install_of(&self.community, plugin)?;
        Ok(crate::dispatch::routing::route(event, &install).map(std::borrow::Cow::into_owned))
    }

    /// A member joins.
    pub async fn join(&mut self, member: &str) -> anyhow::Result<crate::dispatch::DispatchReport> {
        let event = self.event("member-joined").member(member).build()?;
        self.dispatch(event).await
    }

    /// `author` posts `text` in `general` (a slash command reaches plugins offering it).
    pub async fn say(&mut self, author: &str, text: &str) -> anyhow::Result<crate::dispatch::DispatchReport> {
        let event = self.event("message-posted").author(author).text(text).build()?;
        self.dispatch(event).await
    }

    /// A value in `plugin`'s KV.
    pub fn kv(&self, plugin: &str, key: &str) -> Option<Vec<u8>> {
        self.plaza.store().kv_get(&self.community, plugin, key)
    }

    /// A value in `plugin`'s KV as text.
    pub fn kv_text(&self, plugin: &str, key: &str) -> Option<String> {
        self.kv(plugin, key).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// Every message in the community, in order.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.plaza.store().messages(&self.community)
    }

    /// Texts of the messages plugins posted.
    pub fn sent_texts(&self) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.posted_by_plugin.is_some())
            .map(|m| m.text)
            .collect()
    }

    /// The community's audit log, oldest first.
    pub fn audit(&self) -> anyhow::Result<Vec<AuditEntry>> {
        Ok(self.plaza.audit_log(&AuditQuery {
            community: Some(self.community.clone()),
            ..AuditQuery::default()
        })?)
    }
}
