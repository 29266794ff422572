//! The [`Plaza`] facade: routing events to installs, the review hook, timers, and applying an
//! invocation's effects only when it succeeded. Admin operations (install, grant, upgrade, ...)
//! are in [`crate::admin`].
//!
//! This is also the library API conformance tests use: build a community, install plugins,
//! feed events, assert on the reports and on community state.

pub mod breaker;
mod delivery;
mod intake;
pub mod pseudonym;
mod pump_lock;
pub mod retry;
pub(crate) mod routing;
pub mod runner;

use crate::hash::{HashMap, HashMapExt as _};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tracing::Instrument;

use crate::capability::{Capability, GrantCheck as _, LiveGrants};
use crate::effects::Action;
use crate::engine::EngineSettings;
use crate::error::{PlazaError, Result};
use crate::event::{ConfigEntry, Event, EventKind, EventMeta, Message};
use crate::host_api::rate_limit::{RateLimiter, RateLimits};
use crate::metrics::{Export, InvocationSample};
use crate::runtime::invoke::{self, Call, CallOutput, Execution};
use crate::runtime::report::{Failure, FailureReason, InvocationReport, Outcome};
use crate::runtime::state::CallContext;
use crate::runtime::{Limits, Plugin, Runtime};
use crate::storage::admin::{
    AuditEntry, BreakerRecord, BreakerState, LimitOverrides, PendingUpgrade, ReviewFailPolicy,
};
use crate::storage::log::NewEntry;
use crate::storage::memory::MemoryStore;
use crate::storage::sqlite::SqliteStore;
use crate::storage::{Store, StoreLocation};
use crate::wit::latest::{self as wit, types};
pub use breaker::{BreakerSettings, BreakerStatus};
pub use delivery::{DeliveryStatus, PumpStop, LOG_BATCH};
pub use intake::Acceptance;
use pseudonym::Pseudonyms;
pub use retry::RetryPolicy;
pub use runner::{EmbeddedPlatform, OutboxSink, RunControl, RunSummary, RunnerOptions};

/// How a [`Plaza`] is built.
#[derive(Debug, Clone, Default)]
pub struct PlazaConfig {
    /// Engine settings (pooling, epoch tick, compile cache).
    pub engine: EngineSettings,
    /// Default limits for every install (a plugin's manifest may ask for other values, within
    /// the operator maximums in [`crate::runtime::limits::MAX_CPU_MS`] and the engine settings).
    pub limits: Limits,
    /// Message budgets.
    pub rates: RateLimits,
    /// When failing installs are quarantined.
    pub breaker: BreakerSettings,
    /// How failed deliveries are retried before they become dead letters.
    pub retry: RetryPolicy,
    /// Outbound HTTP (`http:fetch`): destination policy, caps, static answers, extra CAs.
    pub http: crate::host_api::http::HttpSettings,
    /// The key that seals install secrets at rest. Without one, a host over the embedded
    /// database cannot set or use secrets; an in-memory host makes one at start.
    pub secrets_key: Option<crate::admin::secrets::SecretsKey>,
    /// Which packages installs and upgrades accept; `unsigned-allowed` by default here (see
    /// [`HostSigning`](crate::signing::HostSigning)), the operator's through
    /// [`PlazaConfig::for_data_dir`] (`platform-reviewed` by default).
    pub signing: crate::signing::HostSigning,
}

/// One plugin installed in one community, as the dispatcher holds it.
///
/// A host holds one for every install it serves (three million for a million communities of
/// three plugins), so what most installs never have is kept behind a pointer: a pending upgrade
/// is boxed and admin limit overrides are shared (one copy for every install without any).
#[derive(Clone)]
pub struct Install {
    /// The community (one copy shared by its installs and the host's registry).
    pub community: Arc<str>,
    /// The plugin version serving this install.
    pub plugin: Arc<Plugin>,
    /// What the admin granted (always within what the manifest requests); shared with running
    /// invocations, so a change applies on their next host call.
    pub grants: LiveGrants,
    /// Whether events are delivered.
    pub enabled: bool,
    /// The install's configuration.
    pub config: Vec<ConfigEntry>,
    /// Limits for this install's invocations.
    pub limits: Arc<Limits>,
    /// A newer version waiting for the admin to approve what it adds.
    pub pending: Option<Box<(Arc<Plugin>, PendingUpgrade)>>,
    /// Limits the admin set for this install.
    pub overrides: Arc<LimitOverrides>,
    /// The circuit breaker as last read from or written to the store, shared by every copy
    /// of this install while it stays installed.
    pub(crate) breaker: Arc<Mutex<breaker::CachedBreaker>>,
}

impl Install {
    /// Whether it reviews new messages: enabled and granted `moderation:review`.
    pub fn reviews(&self) -> bool {
        self.enabled && self.grants.snapshot().contains(Capability::ModerationReview)
    }

    /// Shares the one copy of "no overrides" between installs.
    pub fn shared_overrides(overrides: LimitOverrides) -> Arc<LimitOverrides> {
        static NONE: std::sync::LazyLock<Arc<LimitOverrides>> = std::sync::LazyLock::new(Arc::default);
        if overrides == LimitOverrides::default() {
            NONE.clone()
        } else {
            Arc::new(overrides)
        }
    }
}

/// What the review hook decided about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ReviewDecision {
    /// Post as is.
    Allow,
    /// Do not post.
    Reject { plugin: String, reason: String },
    /// Post with this text instead.
    Rewrite { text: String },
    /// A reviewer failed and the community's policy is fail-closed: not posted.
    Hold { plugin: String, reason: String },
}

/// The review hook's result, with each reviewer's invocation.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    /// The decision.
    pub decision: ReviewDecision,
    /// Each reviewing plugin's invocation, in install order.
    pub invocations: Vec<InvocationReport>,
}

/// What delivering one event did.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchReport {
    /// The event.
    pub event: Event,
    /// Each receiving plugin's invocation, in install order.
    pub invocations: Vec<InvocationReport>,
    /// Plugins that receive the event but have not yet been given it: their circuit breaker is
    /// open or an earlier event waits for a retry. It waits in the log.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// The log already held an event with this id: nothing was appended or delivered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// Everything that happened to one ingested event: review (for new messages), then delivery.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The review, for `message-posted` events when any install reviews messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewReport>,
    /// The delivery; `None` when review rejected the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<DispatchReport>,
}

/// A Plaza host: the runtime, the store, and the installs it serves.
pub struct Plaza {
    pub(crate) runtime: Runtime,
    pub(crate) store: Arc<dyn Store>,
    /// Each community's installs in install order; shared, so an event takes the list with
    /// one reference count rather than a copy, and exactly sized (no spare capacity times a
    /// million communities). Hashed, so finding a community costs the same at a thousand
    /// communities as at a million; the few callers that walk them in order sort.
    pub(crate) installs: RwLock<HashMap<Arc<str>, Arc<[Install]>>>,
    pub(crate) pseudonyms: Pseudonyms,
    /// Pseudonyms already in the store.
    remembered: pseudonym::Remembered,
    /// Limits of installs without overrides, one per plugin version (by digest).
    shared_limits: Mutex<HashMap<String, Arc<Limits>>>,
    pub(crate) rate: Arc<RateLimiter>,
    /// Lifecycle events made by this host, for their ids (one counter, not one per community).
    host_events: std::sync::atomic::AtomicU64,
    breaker_settings: BreakerSettings,
    pub(crate) review_policies: RwLock<HashMap<String, ReviewFailPolicy>>,
    retry: RetryPolicy,
    pump_locks: pump_lock::PumpLocks,
    /// Wakes background delivery when events are appended.
    new_events: tokio::sync::Notify,
    /// Set while background delivery shuts down: pumps stop after their current invocation.
    stopping: std::sync::atomic::AtomicBool,
    /// The store's admin generation the cached installs reflect.
    pub(crate) seen_generation: std::sync::atomic::AtomicU64,
    /// Counters and histograms for `/metrics`.
    pub(crate) metrics: crate::metrics::Metrics,
    /// The outbound HTTP client every invocation shares.
    pub(crate) http: Arc<crate::host_api::http::HttpClient>,
    /// Install secrets, sealed at rest.
    pub(crate) vault: Arc<crate::admin::secrets::Vault>,
    /// The operator's signing policy and trusted platform keys.
    pub(crate) signing: crate::signing::SigningSettings,
    /// Digests of the packages this host has written to the store (packages are never deleted,
    /// so one stored once need not be written, nor its bytes copied, again).
    pub(crate) stored_packages: Mutex<std::collections::HashSet<String>>,
}

impl Plaza {
    /// A host whose state lives in memory only.
    pub fn new(mut config: PlazaConfig) -> Result<Self> {
        let secret = Pseudonyms::random_secret().map_err(|e| anyhow::anyhow!("reading random bytes: {e}"))?;
        if config.secrets_key.is_none() {
            // Secrets live as long as the process, like everything else in this store.
            config.secrets_key = Some(
                crate::admin::secrets::SecretsKey::generate()
                    .map_err(|e| anyhow::anyhow!("reading random bytes: {e}"))?,
            );
        }
        Plaza::with_store(config, Arc::new(MemoryStore::new()), secret)
    }

    /// A host over the embedded database in `data_dir` (created on first use). Installs are
    /// loaded back, their components compiled or taken from the compile cache.
    pub async fn open(data_dir: &Path, config: PlazaConfig) -> Result<Self> {
        let store = Arc::new(SqliteStore::open(data_dir)?);
        let secret = crate::admin::host_secret(data_dir)?;
        let plaza = Plaza::with_store(config, store, secret)?;
        plaza.load_installs().await?;
        Ok(plaza)
    }

    /// A host over a PostgreSQL database shared with other nodes (`postgres://…`; schema
    /// created on first use). The pseudonym key is kept in the database, so every node gives a
    /// member the same pseudonyms; `data_dir` keeps only this node's compile cache and operator
    /// settings (through `config`).
    pub async fn open_postgres(url: &str, config: PlazaConfig) -> Result<Self> {
        let store = Arc::new(crate::storage::postgres::PostgresStore::open(url)?);
        let fresh = Pseudonyms::random_secret().map_err(|e| anyhow::anyhow!("reading random bytes: {e}"))?;
        let secret = store.host_key("pseudonyms", fresh)?;
        let plaza = Plaza::with_store(config, store, secret)?;
        plaza.load_installs().await?;
        Ok(plaza)
    }

    /// A host over the store at `location`: the embedded database in `data_dir`, or PostgreSQL.
    pub async fn open_at(location: &StoreLocation, data_dir: &Path, config: PlazaConfig) -> Result<Self> {
        match location {
            StoreLocation::Embedded => Plaza::open(data_dir, config).await,
            StoreLocation::Postgres(url) => Plaza::open_postgres(url, config).await,
        }
    }

    /// A host over the given store; `secret` keys member pseudonyms.
    pub fn with_store(mut config: PlazaConfig, store: Arc<dyn Store>, secret: [u8; 32]) -> Result<Self> {
        config.limits.rates = config.rates;
        let http = crate::host_api::http::HttpClient::new(config.http)
            .map_err(|e| anyhow::anyhow!("outbound HTTP settings: {e:#}"))?;
        let vault = crate::admin::secrets::Vault::new(store.clone(), config.secrets_key);
        Ok(Plaza {
            http: Arc::new(http),
            vault: Arc::new(vault),
            runtime: Runtime::new(config.engine, config.limits)?,
            store,
            installs: RwLock::new(HashMap::new()),
            pseudonyms: Pseudonyms::new(secret),
            remembered: pseudonym::Remembered::default(),
            shared_limits: Mutex::new(HashMap::new()),
            rate: Arc::new(RateLimiter::new()),
            host_events: std::sync::atomic::AtomicU64::new(0),
            breaker_settings: config.breaker,
            review_policies: RwLock::new(HashMap::new()),
            retry: config.retry,
            pump_locks: pump_lock::PumpLocks::default(),
            new_events: tokio::sync::Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            seen_generation: std::sync::atomic::AtomicU64::new(u64::MAX),
            metrics: crate::metrics::Metrics::new(),
            signing: config.signing.0,
            stored_packages: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The operator's outbound HTTP settings, as `plaza status` shows them.
    pub fn http_summary(&self) -> crate::host_api::http::HttpSummary {
        self.http.settings().summary()
    }

    /// Logs the outbound HTTP policy once at start-up: at `warn` when the operator loosened it,
    /// so a long-running service says so where operators look.
    pub fn log_http_policy(&self) {
        let http = self.http_summary();
        if http.loosened {
            tracing::warn!("outbound HTTP is looser than the defaults: {http}");
        } else {
            tracing::info!("outbound HTTP: {http}");
        }
    }

    /// The runtime (engine, linker, default limits).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The store: community state and the admin model.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Loads a plugin from bytes; `origin` names it in errors.
    pub async fn load_plugin(&self, bytes: &[u8], origin: &str) -> Result<Arc<Plugin>> {
        self.runtime.load(bytes, origin).await
    }

    /// Loads a plugin from a file (with a `plaza.toml` beside it, unless one is embedded).
    pub async fn load_plugin_file(&self, path: impl AsRef<Path>) -> Result<Arc<Plugin>> {
        self.runtime.load_file(path.as_ref()).await
    }

    /// A community's installs, in install order.
    pub fn installs(&self, community: &str) -> Result<Vec<Install>> {
        Ok(self.shared_installs(community)?.to_vec())
    }

    /// The community's id as the registry holds it (one copy shared by its installs).
    pub(crate) fn community_key(&self, community: &str) -> Arc<str> {
        let all = self.installs.read().unwrap_or_else(|e| e.into_inner());
        match all.get_key_value(community) {
            Some((key, _)) => key.clone(),
            None => community.into(),
        }
    }

    /// A community's installs, in install order, as the host holds them.
    pub(crate) fn shared_installs(&self, community: &str) -> Result<Arc<[Install]>> {
        if let Some(list) = self.installs.read().unwrap_or_else(|e| e.into_inner()).get(community) {
            return Ok(list.clone());
        }
        if self.store.community_exists(community)? {
            Ok(Arc::new([]))
        } else {
            Err(PlazaError::NoSuchCommunity(community.to_string()))
        }
    }

    /// The installs `event` would be delivered to, by name in install order: the enabled
    /// installs of its community that subscribe to its kind and hold the grants it needs. The
    /// routing decision [`Plaza::dispatch`] makes, without appending or running anything.
    pub fn routes(&self, event: &Event) -> Result<Vec<String>> {
        let all = self.installs.read().unwrap_or_else(|e| e.into_inner());
        let Some(list) = all.get(event.meta.community.as_str()) else {
            drop(all);
            return self.installs(&event.meta.community).map(|_| Vec::new());
        };
        Ok(list
            .iter()
            .filter(|i| i.enabled && routing::route(event, i).is_some())
            .map(|i| i.plugin.name.clone())
            .collect())
    }

    pub(crate) fn install_of(&self, community: &str, plugin: &str) -> Result<Install> {
        self.installs(community)?
            .into_iter()
            .find(|i| i.plugin.name == plugin)
            .ok_or_else(|| PlazaError::NotInstalled {
                plugin: plugin.to_string(),
                community: community.to_string(),
            })
    }

    /// Replaces the cached install (after the store has been updated).
    pub(crate) fn cache_install(&self, install: Install) {
        self.cache_installs(vec![install]);
    }

    /// Replaces or adds cached installs (after the store has been updated), rebuilding each
    /// community's list once.
    pub(crate) fn cache_installs(&self, installs: Vec<Install>) {
        for install in &installs {
            // Any change to an install (version, config, grants, limits) starts a reused
            // instance afresh.
            self.runtime.forget_warm(&install.community, &install.plugin.name);
        }
        let mut all = self.installs.write().unwrap_or_else(|e| e.into_inner());
        let mut installs = installs.into_iter().peekable();
        while let Some(first) = installs.next() {
            let list = all.entry(first.community.clone()).or_insert_with(|| Arc::new([]));
            let mut updated: Vec<Install> = list.iter().cloned().collect();
            let mut next = Some(first);
            while let Some(install) = next {
                match updated.iter_mut().find(|i| i.plugin.name == install.plugin.name) {
                    // The breaker cache belongs to the install, whichever copy is replaced.
                    Some(slot) => {
                        let breaker = slot.breaker.clone();
                        *slot = Install { breaker, ..install };
                    }
                    None => updated.push(install),
                }
                next = installs.next_if(|i| i.community == updated[0].community);
            }
            *list = updated.into();
        }
    }

    pub(crate) fn uncache_install(&self, community: &str, plugin: &str) {
        self.runtime.forget_warm(community, plugin);
        // Uninstalling deletes its pseudonyms from the store.
        self.remembered.clear();
        let mut all = self.installs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = all.get_mut(community) {
            *list = list.iter().filter(|i| i.plugin.name != plugin).cloned().collect();
        }
    }

    /// Limits for an install: host defaults, changed by what the manifest asks for, within the
    /// operator's maximums.
    pub(crate) fn limits_for(&self, plugin: &Plugin, overrides: &LimitOverrides) -> Arc<Limits> {
        if *overrides != LimitOverrides::default() {
            return Arc::new(self.compute_limits(plugin, overrides));
        }
        // Most installs keep their plugin version's limits: one shared copy per version, so a
        // million installs do not hold a million copies.
        let mut shared = self.shared_limits.lock().unwrap_or_else(|e| e.into_inner());
        shared
            .entry(plugin.digest.clone())
            .or_insert_with(|| Arc::new(self.compute_limits(plugin, overrides)))
            .clone()
    }

    fn compute_limits(&self, plugin: &Plugin, overrides: &LimitOverrides) -> Limits {
        use crate::runtime::limits::{MAX_CPU_MS, MAX_KV_QUOTA_BYTES, MAX_WALL_CLOCK_MS};
        let mut limits = (**self.runtime.limits()).clone();
        let max_memory = self.runtime.engine().settings().max_memory_bytes;
        let m = &plugin.manifest;
        // The manifest asks, the admin may override; the operator's maximums bound both.
        if let Some(mb) = overrides.memory_mb.or(m.limits.memory_mb) {
            limits.memory_bytes = ((mb as usize) << 20).min(max_memory);
        }
        if let Some(ms) = overrides.cpu_ms.or(m.limits.cpu_ms) {
            limits.cpu_ms = ms.min(MAX_CPU_MS);
        }
        if let Some(ms) = overrides.wall_clock_ms {
            limits.wall_clock_ms = ms.min(MAX_WALL_CLOCK_MS);
        }
        if let Some(fuel) = overrides.fuel {
            limits.fuel = Some(fuel);
        }
        let set = |target: &mut usize, value: Option<u64>| {
            if let Some(v) = value {
                *target = v as usize;
            }
        };
        set(&mut limits.table_elements, overrides.table_elements);
        set(&mut limits.instances, overrides.instances);
        set(&mut limits.tables, overrides.tables);
        set(&mut limits.memories, overrides.memories);
        let rate = |rate: &mut crate::host_api::rate_limit::Rate, per_minute: Option<u64>, burst: Option<u64>| {
            if let Some(n) = per_minute {
                rate.per_second = n as f64 / 60.0;
            }
            if let Some(b) = burst {
                rate.burst = b as u32;
            }
        };
        rate(
            &mut limits.rates.per_channel,
            overrides.messages_per_minute_per_channel,
            overrides.channel_burst,
        );
        rate(
            &mut limits.rates.per_community,
            overrides.messages_per_minute_per_community,
            overrides.community_burst,
        );
        if let Some(quota) = m.kv_quota_bytes() {
            limits.kv_quota_bytes = quota.min(MAX_KV_QUOTA_BYTES);
        }
        if let Some(min) = m.schedule_min_interval_ms() {
            limits.min_timer_ms = limits.min_timer_ms.max(min);
        }
        limits.reuse = m.isolation.reuse_policy();
        limits
    }

    /// A lifecycle event the host creates for one install. It is not a log position: it
    /// carries the sequence of the community's last log entry (what the install has seen of
    /// the community at most), and an id unique to this host process and moment.
    pub(crate) fn host_event(&self, community: &str, kind: EventKind, timestamp_ms: Option<u64>) -> Event {
        let count = self.host_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let sequence = self.store.head(community).unwrap_or_else(|e| {
            tracing::error!("reading the log head of `{community}`: {e}");
            0
        });
        Event {
            meta: EventMeta {
                id: format!("host:{community}:{}:{count}", now_ms()),
                community: community.to_string(),
                sequence,
                timestamp_ms: timestamp_ms.unwrap_or_else(now_ms),
                attempt: 1,
            },
            kind,
        }
    }

    /// Delivers an event to one installed plugin only, whatever its type (even if the install is
    /// disabled: lifecycle events must reach it). Runners use it to replay lifecycle events.
    pub async fn deliver_to(&self, community: &str, plugin: &str, event: &Event) -> Result<InvocationReport> {
        let install = self.install_of(community, plugin)?;
        Ok(self.invoke_handler(&install, event).await)
    }

    /// Appends a community event to its community's log (durably, once per event id) and
    /// delivers what is due in that community: to every enabled install that subscribed to it
    /// and holds the grants it needs, in install order, each after the events before it.
    pub async fn dispatch(&self, event: Event) -> Result<DispatchReport> {
        if event.kind.is_install_scoped() {
            return Err(PlazaError::Other(anyhow::anyhow!(
                "event {} in community `{}`: `{}` events are created by the host for one install, not dispatched",
                event.meta.id,
                event.meta.community,
                event.kind.type_name()
            )));
        }
        let community = event.meta.community.clone();
        let installs = self.shared_installs(&community)?;
        let mut event = event;
        let appended = self.append_events(std::slice::from_ref(&event))?[0];
        event.meta.sequence = appended.sequence;
        if appended.duplicate {
            return Ok(DispatchReport {
                event,
                invocations: Vec::new(),
                held: Vec::new(),
                duplicate: true,
            });
        }
        let mut invocations = Vec::new();
        for install in installs.iter() {
            self.pump(install, event.meta.timestamp_ms, usize::MAX, &mut invocations)
                .await?;
        }
        let mut held = Vec::new();
        for install in installs.iter().filter(|i| i.enabled) {
            let cursor = self.store.cursor(&community, &install.plugin.name)?.unwrap_or_default();
            if cursor.sequence < appended.sequence && routing::route(&event, install).is_some() {
                held.push(install.plugin.name.clone());
            }
        }
        Ok(DispatchReport {
            event,
            invocations,
            held,
            duplicate: false,
        })
    }

    /// Appends community events to their communities' logs, durably, each once per event id:
    /// what acceptance means. Answers where each is (and whether it was there already).
    pub fn append_events(&self, events: &[Event]) -> Result<Vec<crate::storage::log::Appended>> {
        let entries: Vec<NewEntry> = events.iter().cloned().map(NewEntry::ingested).collect();
        let appended = self.store.append(&entries, now_ms())?;
        for (event, at) in events.iter().zip(&appended) {
            if at.duplicate {
                self.metrics.event_duplicate(&event.meta.community);
            } else {
                self.metrics.event_ingested(&event.meta.community);
            }
        }
        Ok(appended)
    }

    fn breaker_record(&self, install: &Install) -> BreakerRecord {
        let mut cache = install.breaker.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = cache.record() {
            return record;
        }
        let (community, plugin) = (&install.community, &install.plugin.name);
        let stored = self.store.breaker(community, plugin).unwrap_or_else(|e| {
            tracing::error!("reading the breaker of {plugin} in {community}: {e}");
            None
        });
        let record = stored.unwrap_or_default();
        *cache = breaker::CachedBreaker::of(&record);
        record
    }

    fn save_breaker(&self, install: &Install, record: BreakerRecord) {
        let (community, plugin) = (&install.community, &install.plugin.name);
        if let Err(e) = self.store.put_breaker(community, plugin, &record) {
            tracing::error!("saving the breaker of {plugin} in {community}: {e}");
        }
        *install.breaker.lock().unwrap_or_else(|e| e.into_inner()) = breaker::CachedBreaker::of(&record);
    }

    /// Counts a failure (or a trial's success) towards the install's breaker, auditing changes.
    fn after_invocation(&self, install: &Install, report: &InvocationReport, now_ms: u64) {
        let mut record = self.breaker_record(install);
        let transition = if report.outcome.is_ok() {
            if record.state == BreakerState::Closed && record.recent_failures.is_empty() {
                return;
            }
            breaker::record_success(&mut record)
        } else {
            breaker::record_failure(&mut record, now_ms, &self.breaker_settings)
        };
        self.save_breaker(install, record.clone());
        match &transition {
            Some(breaker::Transition::Opened {
                retry_at_ms,
                backoff_ms,
            }) => tracing::warn!(
                failures = record.recent_failures.len(),
                retry_at_ms,
                backoff_ms,
                "circuit breaker opened: the install is quarantined and its events are held"
            ),
            Some(breaker::Transition::Closed) => tracing::info!("circuit breaker closed: delivering held events"),
            None => {}
        }
        let detail = match transition {
            Some(breaker::Transition::Opened { retry_at_ms, backoff_ms }) => format!(
                "quarantined after {} failure(s) (last: {}); events are held; trial after {backoff_ms} ms, at {retry_at_ms}",
                record.recent_failures.len(),
                report.outcome.failure().map_or("", |f| f.reason.code())
            ),
            Some(breaker::Transition::Closed) => "a trial event succeeded; delivering held events".to_string(),
            None => return,
        };
        let kind = if record.state == BreakerState::Open {
            "breaker-open"
        } else {
            "breaker-closed"
        };
        self.audit_install(install, kind, &detail);
    }

    /// An audit entry about `install`.
    pub(crate) fn audit_entry(
        install: &Install,
        kind: &str,
        capability: Option<&str>,
        outcome: &str,
        detail: String,
    ) -> AuditEntry {
        let (plugin, version) = (&install.plugin.name, &install.plugin.version);
        AuditEntry::now(&install.community, plugin, version, kind, capability, outcome, detail)
    }

    pub(crate) fn audit_install(&self, install: &Install, kind: &str, detail: &str) {
        let entry = Self::audit_entry(install, kind, None, "ok", detail.to_string());
        if let Err(e) = self.store.append_audit(&[entry]) {
            tracing::error!(
                "writing the audit log for {} in {}: {e}",
                install.plugin.name,
                install.community
            );
        }
    }

    /// An install's circuit breaker, as the admin sees it.
    pub fn breaker_status(&self, community: &str, plugin: &str) -> Result<BreakerStatus> {
        let install = self.install_of(community, plugin)?;
        let record = self.breaker_record(&install);
        Ok(BreakerStatus {
            state: record.state,
            recent_failures: record.recent_failures.len(),
            trips: record.trips,
            retry_at_ms: record.retry_at_ms,
            held_events: self.lag(community, plugin)?,
        })
    }

    /// Closes an install's breaker (the admin's re-enable) and delivers its held events in order.
    pub async fn reset_breaker(&self, community: &str, plugin: &str) -> Result<Vec<InvocationReport>> {
        let install = self.install_of(community, plugin)?;
        self.save_breaker(&install, BreakerRecord::default());
        tracing::info!(plugin, community, "circuit breaker reset by the admin");
        self.audit_install(&install, "breaker-reset", "closed by admin; delivering held events");
        let mut reports = Vec::new();
        self.pump(&install, now_ms(), usize::MAX, &mut reports).await?;
        Ok(reports)
    }

    /// A community's review fail policy.
    pub fn review_fail_policy(&self, community: &str) -> Result<ReviewFailPolicy> {
        if let Some(p) = self
            .review_policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(community)
        {
            return Ok(*p);
        }
        let policy = self.community(community)?.review_fail_policy;
        self.review_policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(community.to_string(), policy);
        Ok(policy)
    }

    /// Sets what happens to a message when a reviewer fails or runs over budget.
    pub fn set_review_fail_policy(&self, community: &str, policy: ReviewFailPolicy) -> Result<()> {
        self.store.set_review_fail_policy(community, policy)?;
        self.review_policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(community.to_string(), policy);
        let entry = AuditEntry::now(community, "", "", "review-policy", None, "ok", format!("{policy:?}"));
        self.store.append_audit(&[entry])?;
        Ok(())
    }

    /// Runs the review hook of every enabled install granted `moderation:review`, in install
    /// order. A rejection stops the chain; a rewrite is what later reviewers see. A reviewer that
    /// fails is skipped (fail-open) and its failure is in the report.
    pub async fn review(&self, community: &str, message: &Message, timestamp_ms: u64) -> Result<ReviewReport> {
        let mut current = message.clone();
        let mut invocations = Vec::new();
        let mut rewritten = false;
        for install in self.shared_installs(community)?.iter() {
            if !install.reviews() {
                continue;
            }
            let event_id = format!("review:{}", message.message_id);
            let span = invocation_span(install, "review-message", &event_id, 1);
            let shown = self.for_plugin(
                install,
                &Event {
                    meta: EventMeta {
                        id: event_id,
                        community: community.to_string(),
                        sequence: 0,
                        timestamp_ms,
                        attempt: 1,
                    },
                    kind: EventKind::MessagePosted(current.clone()),
                },
            );
            let Event {
                meta: shown_meta,
                kind: EventKind::MessagePosted(shown_message),
            } = shown
            else {
                unreachable!("mapped in kind")
            };
            let request = types::ReviewRequest {
                community_id: community.to_string(),
                message: wit::message(shown_message),
                timestamp_ms,
            };
            let call = CallContext {
                // The review hook answers within milliseconds: no outbound HTTP there.
                http: None,
                ..self.call_context(install, &shown_meta.id, timestamp_ms)
            };
            let (cpu_ms, wall_ms) = (install.limits.review_cpu_ms, install.limits.review_wall_clock_ms);
            let mut execution = invoke::execute(
                &self.runtime,
                &install.plugin,
                call,
                Call::Review(&request),
                cpu_ms,
                wall_ms,
            )
            .instrument(span.clone())
            .await;
            // No await below in this iteration: the guard never crosses one.
            let _in_span = span.enter();
            if let Some(failure) = oversized_answer(&execution, install.limits.message_chars) {
                execution.result = Err(failure);
            }
            let (report, output) = self.finish(install, "review-message", execution);
            let failure = report
                .outcome
                .failure()
                .map(|f| (f.reason.code(), format!("{}: {}", f.reason.code(), f.message)));
            invocations.push(report);
            if let Some((code, reason)) = failure {
                self.after_invocation(install, &invocations[invocations.len() - 1], timestamp_ms);
                if self.review_fail_policy(community)? == ReviewFailPolicy::FailClosed {
                    tracing::warn!(reason = code, "review failed; the message is held (fail-closed)");
                    let plugin = install.plugin.name.clone();
                    return Ok(ReviewReport {
                        decision: ReviewDecision::Hold { plugin, reason },
                        invocations,
                    });
                }
                tracing::warn!(reason = code, "review failed; this reviewer is skipped (fail-open)");
                continue; // fail-open: this reviewer is skipped
            }
            match output {
                Some(CallOutput::Reviewed(types::ReviewVerdict::Reject(reason))) => {
                    return Ok(ReviewReport {
                        decision: ReviewDecision::Reject {
                            plugin: install.plugin.name.clone(),
                            reason,
                        },
                        invocations,
                    });
                }
                Some(CallOutput::Reviewed(types::ReviewVerdict::Rewrite(text))) => {
                    current.text = text;
                    rewritten = true;
                }
                _ => {}
            }
        }
        let decision = if rewritten {
            ReviewDecision::Rewrite { text: current.text }
        } else {
            ReviewDecision::Allow
        };
        Ok(ReviewReport { decision, invocations })
    }

    /// Takes one event from outside: a new message is reviewed first and delivered only if the
    /// review lets it through (with the rewritten text, if any); other events are delivered.
    pub async fn ingest(&self, mut event: Event) -> Result<IngestReport> {
        let EventKind::MessagePosted(message) = &event.kind else {
            return Ok(IngestReport {
                review: None,
                dispatch: Some(self.dispatch(event).await?),
            });
        };
        let review = self
            .review(&event.meta.community, message, event.meta.timestamp_ms)
            .await?;
        let reviewed = !review.invocations.is_empty();
        match &review.decision {
            ReviewDecision::Reject { .. } | ReviewDecision::Hold { .. } => {
                self.metrics.event_rejected(&event.meta.community);
                return Ok(IngestReport {
                    review: Some(review),
                    dispatch: None,
                });
            }
            ReviewDecision::Rewrite { text } => {
                if let EventKind::MessagePosted(m) = &mut event.kind {
                    m.text = text.clone();
                }
            }
            ReviewDecision::Allow => {}
        }
        Ok(IngestReport {
            review: reviewed.then_some(review),
            dispatch: Some(self.dispatch(event).await?),
        })
    }

    /// Fires every timer due at or before `now_ms`: each firing is appended to its community's
    /// log for the plugin that made the timer (in the same transaction that marks the timer
    /// fired, so it fires once even across a crash), then delivered like any event.
    pub async fn fire_due_timers(&self, now_ms: u64) -> Result<Vec<InvocationReport>> {
        let mut reports = Vec::new();
        for community in self.enqueue_due_timers(now_ms)? {
            if self.store.community_exists(&community)? {
                reports.extend(self.pump_community(&community, now_ms).await?);
            }
        }
        Ok(reports)
    }

    /// The pseudonym `plugin` sees for `member` in `community` (when it lacks `members:identity`).
    pub fn pseudonym_of(&self, community: &str, plugin: &str, member: &str) -> String {
        self.pseudonyms.of(community, plugin, member)
    }

    /// The event as `install` may see it: member ids replaced by pseudonyms unless it holds
    /// `members:identity`.
    fn for_plugin(&self, install: &Install, event: &Event) -> Event {
        if install.grants.is_granted(Capability::MembersIdentity) {
            return event.clone();
        }
        let mut unseen = Vec::new();
        let (community, plugin) = (&install.community, &install.plugin.name);
        let mapped = pseudonym::map_event(event.clone(), &mut |member| {
            if let Some(p) = self.remembered.get(community, plugin, member) {
                return p;
            }
            let p = self.pseudonyms.of(community, plugin, member);
            unseen.push((p.clone(), member.to_string()));
            p
        });
        if !unseen.is_empty() {
            let lost_before = pseudonym::lost_groups();
            match self.store.remember_pseudonyms(community, plugin, &unseen) {
                Ok(()) => self.remembered.stored(community, plugin, &unseen, lost_before),
                Err(e) => tracing::error!("remembering pseudonyms for {plugin} in {community}: {e:#}"),
            }
        }
        mapped
    }

    fn call_context(&self, install: &Install, event_id: &str, now_ms: u64) -> CallContext {
        CallContext {
            plugin: install.plugin.name.clone(),
            community: install.community.to_string(),
            event_id: event_id.to_string(),
            now_ms,
            grants: Arc::new(install.grants.clone()),
            store: self.store.clone(),
            limits: install.limits.clone(),
            pseudonyms: self.pseudonyms.clone(),
            rate: self.rate.clone(),
            http: Some(crate::host_api::http::HttpAccess {
                client: self.http.clone(),
                allowlist: install.plugin.http_allowlist(),
                secrets: self.vault.clone(),
            }),
        }
    }

    /// Runs the handler on an event without applying its effects: the report (its `actions`
    /// still empty) and the actions a success asks for.
    pub(crate) async fn run_handler(&self, install: &Install, event: &Event) -> (InvocationReport, Vec<Action>) {
        let shown = self.for_plugin(install, event);
        let wit_event = types::Event::from(shown);
        let call = self.call_context(install, &event.meta.id, event.meta.timestamp_ms);
        let (cpu_ms, wall_ms) = (install.limits.cpu_ms, install.limits.wall_clock_ms);
        let execution = invoke::execute(
            &self.runtime,
            &install.plugin,
            call,
            Call::HandleEvent(&wit_event),
            cpu_ms,
            wall_ms,
        )
        .await;
        let (report, actions, _) = self.assess(install, event.kind.type_name(), execution);
        (report, actions)
    }

    /// Runs the handler and applies its effects directly, outside the log (lifecycle events).
    async fn invoke_handler(&self, install: &Install, event: &Event) -> InvocationReport {
        let span = invocation_span(install, "handle-event", &event.meta.id, event.meta.attempt);
        let (report, actions) = self.run_handler(install, event).instrument(span.clone()).await;
        let _in_span = span.enter();
        let report = self.apply_and_audit(install, report, actions, event.meta.timestamp_ms);
        if let Some(f) = report.outcome.failure() {
            let code = f.code.as_deref();
            tracing::warn!(reason = f.reason.code(), code, "{} failed", report.event_type);
        }
        report
    }

    /// Turns an execution into its report (effects not applied yet), the actions a success asks
    /// for, and its output.
    fn assess(
        &self,
        install: &Install,
        event_type: &str,
        execution: Execution,
    ) -> (InvocationReport, Vec<Action>, Option<CallOutput>) {
        let Execution {
            result,
            record: state,
            duration,
            cpu,
            fuel_consumed,
        } = execution;
        let export = match event_type {
            "review-message" => Export::ReviewMessage,
            _ => Export::HandleEvent,
        };
        self.metrics.invocation(&InvocationSample {
            plugin: &install.plugin.name,
            export,
            duration,
            cpu,
            fuel: fuel_consumed,
            failure: result.as_ref().err().map(|f| f.reason),
        });
        for call in &state.http_calls {
            let outcome = match (call.status, &call.refused) {
                (Some(status), _) => format!("{}xx", status / 100),
                (None, rule) => rule.clone().unwrap_or_else(|| "error".into()),
            };
            self.metrics.http_request(&install.plugin.name, &outcome);
        }
        let (duration_us, cpu_us) = (duration.as_micros() as u64, cpu.as_micros() as u64);
        match &result {
            Ok(_) => tracing::debug!(duration_us, cpu_us, fuel = fuel_consumed, "invocation returned"),
            // The message may quote the plugin's own text (a panic message): debug only.
            Err(f) => tracing::debug!(
                reason = f.reason.code(),
                duration_us,
                cpu_us,
                fuel = fuel_consumed,
                "invocation failed: {}",
                f.message
            ),
        }
        let actions: Vec<Action> = state.effects.into_actions();
        let (outcome, actions, discarded, output) = match result {
            Ok(output) => (Outcome::Ok, actions, 0, Some(output)),
            Err(failure) => (Outcome::Failed(failure), Vec::new(), actions.len(), None),
        };
        let report = InvocationReport {
            plugin: install.plugin.name.clone(),
            community: install.community.to_string(),
            event_id: state.call.event_id.clone(),
            event_type: event_type.to_string(),
            outcome,
            actions: Vec::new(),
            discarded_actions: discarded,
            logs: state.logs,
            denied: state.denied,
            http: state.http_calls,
            duration_us: duration.as_micros() as u64,
        };
        (report, actions, output)
    }

    /// Applies a successful invocation's actions (for calls outside the log: reviews and
    /// lifecycle events), audits it, and completes its report.
    fn apply_and_audit(
        &self,
        install: &Install,
        mut report: InvocationReport,
        actions: Vec<Action>,
        now_ms: u64,
    ) -> InvocationReport {
        if report.outcome.is_ok() {
            match self
                .store
                .apply(&install.community, &install.plugin.name, now_ms, &actions)
            {
                Ok(()) => report.actions = actions,
                Err(e) => {
                    tracing::error!("applying the effects failed: {e:#}");
                    self.metrics
                        .invocation_failed(&install.plugin.name, FailureReason::StoreFailed);
                    report.outcome =
                        Outcome::Failed(Failure::store_failed(format!("applying the effects failed: {e:#}")));
                    report.discarded_actions = actions.len();
                }
            }
        }
        self.write_audit(install, self.audit_entries(install, &report));
        report
    }

    /// Runs [`assess`](Self::assess) and [`apply_and_audit`](Self::apply_and_audit) on a review.
    fn finish(
        &self,
        install: &Install,
        event_type: &str,
        execution: Execution,
    ) -> (InvocationReport, Option<CallOutput>) {
        let now_ms = execution.record.call.now_ms;
        let (report, actions, output) = self.assess(install, event_type, execution);
        let ok = report.outcome.is_ok();
        let report = self.apply_and_audit(install, report, actions, now_ms);
        (report.clone(), if ok && report.outcome.is_ok() { output } else { None })
    }

    /// The audit entries of one invocation: denied calls, visible effects and its failure.
    fn audit_entries(&self, install: &Install, report: &InvocationReport) -> Vec<AuditEntry> {
        let entry = |kind: &str, capability: Option<&str>, outcome: &str, detail: String| {
            Self::audit_entry(install, kind, capability, outcome, detail)
        };
        let mut entries = Vec::new();
        for d in &report.denied {
            entries.push(entry(
                "denied",
                Some(&d.capability),
                "denied",
                format!("{} during {} {}", d.call, report.event_type, report.event_id),
            ));
        }
        for call in &report.http {
            entries.push(http_audit_entry(install, report, call));
        }
        for a in report.actions.iter().filter(|a| a.is_visible()) {
            entries.push(entry("effect", effect_capability(a), "ok", describe_effect(a)));
        }
        if let Outcome::Failed(f) = &report.outcome {
            entries.push(entry(
                "failure",
                None,
                f.reason.code(),
                format!("{} {}: {}", report.event_type, report.event_id, f.message),
            ));
        }
        entries
    }
}

/// The audit entry of one outbound request: `denied` when the policy forbade it, `http` for
/// everything else (sent, over a cap, failed). No headers, bodies or query strings.
fn http_audit_entry(
    install: &Install,
    report: &InvocationReport,
    call: &crate::runtime::report::HttpCall,
) -> AuditEntry {
    let during = format!("during {} {}", report.event_type, report.event_id);
    let (kind, outcome, detail) = match (&call.status, &call.refused) {
        (Some(status), _) => (
            "http",
            status.to_string(),
            format!(
                "{} {} → {status}, {} bytes, {} ms, via {} ({}){} {during}",
                call.method,
                call.url,
                call.response_bytes,
                call.duration_ms,
                call.via.as_deref().unwrap_or("?"),
                call.address.as_deref().unwrap_or("?"),
                if call.redirects > 0 {
                    format!(", {} redirect(s)", call.redirects)
                } else {
                    String::new()
                },
            ),
        ),
        (None, rule) => (
            if call.denied { "denied" } else { "http" },
            if call.denied {
                "denied".to_string()
            } else {
                rule.clone().unwrap_or_else(|| "error".into())
            },
            format!(
                "{}: {} {} {during}: {}",
                rule.as_deref().unwrap_or("error"),
                call.method,
                call.url,
                call.message.as_deref().unwrap_or("")
            ),
        ),
    };
    Plaza::audit_entry(install, kind, Some(Capability::HttpFetch.name()), &outcome, detail)
}

/// The span of one invocation: every line logged while it runs, by the host or for the guest,
/// carries these fields. It is an `error`-level span so that it is enabled whenever any line
/// inside it is, whatever the `PLAZA_LOG` level.
pub(crate) fn invocation_span(install: &Install, export: &'static str, event_id: &str, attempt: u32) -> tracing::Span {
    tracing::error_span!(
        "invocation",
        plugin = %install.plugin.name,
        version = %install.plugin.version,
        community = %install.community,
        event_id,
        attempt,
        export,
    )
}

/// A review answer too large to act on (a rewrite longer than a message may be, or a huge
/// rejection reason) counts as a failed review with `output-limit`.
fn oversized_answer(execution: &Execution, max_chars: usize) -> Option<Failure> {
    let (what, len, max) = match &execution.result {
        Ok(CallOutput::Reviewed(types::ReviewVerdict::Rewrite(text))) => ("rewrite", text.chars().count(), max_chars),
        Ok(CallOutput::Reviewed(types::ReviewVerdict::Reject(reason))) => {
            ("rejection reason", reason.chars().count(), 512)
        }
        _ => return None,
    };
    (len > max).then(|| Failure {
        reason: FailureReason::OutputLimit,
        message: format!("output limit: the review hook's {what} is {len} characters; at most {max} allowed"),
        code: None,
        retryable: false,
        backtrace: None,
    })
}

fn effect_capability(a: &Action) -> Option<&'static str> {
    Some(match a {
        Action::SendMessage { .. } | Action::EditMessage { .. } => "messages:send",
        Action::DeleteMessage { .. } => "messages:manage",
        Action::MuteMember { .. } | Action::KickMember { .. } | Action::BanMember { .. } => "members:moderate",
        Action::KvSet { .. } | Action::KvDelete { .. } => "storage:kv",
        Action::ScheduleTimer { .. } | Action::CancelTimer { .. } => "schedule",
    })
}

fn describe_effect(a: &Action) -> String {
    match a {
        Action::SendMessage {
            channel,
            message_id,
            reply_to: Some(to),
            ..
        } => {
            format!("replied {message_id} to {to} in #{channel}")
        }
        Action::SendMessage {
            channel, message_id, ..
        } => format!("sent {message_id} in #{channel}"),
        Action::EditMessage {
            channel, message_id, ..
        } => format!("edited {message_id} in #{channel}"),
        Action::DeleteMessage {
            channel,
            message_id,
            reason,
        } => format!("deleted {message_id} in #{channel}: {reason}"),
        Action::MuteMember {
            member,
            duration_ms,
            reason,
        } => format!("muted {member} for {duration_ms} ms: {reason}"),
        Action::KickMember { member, reason } => format!("kicked {member}: {reason}"),
        Action::BanMember { member, reason } => format!("banned {member}: {reason}"),
        other => format!("{other:?}"),
    }
}

/// The log entry of a timer's firing: for its plugin only, unique per timer and due time, so
/// a firing appended twice (say, before and after a crash) is delivered once.
fn timer_entry(timer: &crate::storage::Timer) -> NewEntry {
    let id = format!("timer:{}:{}", timer.timer_id, timer.due_ms);
    let event = Event {
        meta: EventMeta {
            id: id.clone(),
            community: timer.community.clone(),
            sequence: 0,
            timestamp_ms: timer.due_ms,
            attempt: 1,
        },
        kind: EventKind::TimerFired {
            timer_id: timer.timer_id.clone(),
            name: timer.name.clone(),
            payload: timer.payload.clone(),
        },
    };
    NewEntry {
        event,
        dedupe_key: id,
        target: Some(timer.plugin.clone()),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
