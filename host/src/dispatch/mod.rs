//! The [`Plaza`] facade: communities, installs, routing events to plugins, the review hook,
//! timers, and applying an invocation's effects only when it succeeded.
//!
//! This is also the library API conformance tests use: build a community, install plugins,
//! feed events, assert on the reports and on community state.

mod routing;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::capability::{Capability, GrantSet, LiveGrants};
use crate::effects::Action;
use crate::engine::EngineSettings;
use crate::error::{PlazaError, Result};
use crate::event::{ConfigEntry, Event, EventKind, EventMeta, Message};
use crate::runtime::invoke::{self, Call, CallOutput, Execution};
use crate::runtime::report::{Failure, FailureReason, InvocationReport, Outcome};
use crate::runtime::state::CallContext;
use crate::runtime::{Limits, Plugin, Runtime};
use crate::storage::memory::MemoryStore;
use crate::storage::CommunityStore;
use crate::wit::latest::{self as wit, types};

/// How a [`Plaza`] is built.
#[derive(Debug, Clone, Default)]
pub struct PlazaConfig {
    /// Engine settings (pooling, epoch tick, compile cache).
    pub engine: EngineSettings,
    /// Default limits for every install.
    pub limits: Limits,
}

/// One plugin installed in one community.
#[derive(Clone)]
pub struct Install {
    /// The plugin serving this install.
    pub plugin: Arc<Plugin>,
    /// What the admin granted; shared with running invocations, so changes apply on the next call.
    pub grants: LiveGrants,
    /// Whether events are delivered.
    pub enabled: bool,
    /// The install's configuration.
    pub config: Vec<ConfigEntry>,
}

#[derive(Default)]
struct CommunityInstalls {
    installs: Vec<Install>,
    last_sequence: u64,
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

/// A Plaza host: the runtime, community state and installs.
pub struct Plaza {
    runtime: Runtime,
    store: Arc<dyn CommunityStore>,
    communities: RwLock<BTreeMap<String, CommunityInstalls>>,
}

impl Plaza {
    /// A host with in-memory community state.
    pub fn new(config: PlazaConfig) -> Result<Self> {
        Plaza::with_store(config, Arc::new(MemoryStore::new()))
    }

    /// A host over the given community store.
    pub fn with_store(config: PlazaConfig, store: Arc<dyn CommunityStore>) -> Result<Self> {
        Ok(Plaza {
            runtime: Runtime::new(config.engine, config.limits)?,
            store,
            communities: RwLock::new(BTreeMap::new()),
        })
    }

    /// The runtime (engine, linker, default limits).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Community state.
    pub fn store(&self) -> &Arc<dyn CommunityStore> {
        &self.store
    }

    /// Loads a plugin from bytes; `origin` names it in errors.
    pub async fn load_plugin(&self, bytes: &[u8], origin: &str) -> Result<Arc<Plugin>> {
        self.runtime.load(bytes, origin).await
    }

    /// Loads a plugin from a file.
    pub async fn load_plugin_file(&self, path: impl AsRef<std::path::Path>) -> Result<Arc<Plugin>> {
        self.runtime.load_file(path.as_ref()).await
    }

    /// Creates an empty community.
    pub fn create_community(&self, id: &str) -> Result<()> {
        let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
        if all.contains_key(id) {
            return Err(PlazaError::CommunityExists(id.to_string()));
        }
        all.insert(id.to_string(), CommunityInstalls::default());
        Ok(())
    }

    /// Creates the community unless it exists.
    pub fn ensure_community(&self, id: &str) {
        let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
        all.entry(id.to_string()).or_default();
    }

    /// Community ids.
    pub fn communities(&self) -> Vec<String> {
        self.communities
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Installs in a community, in install order.
    pub fn installs(&self, community: &str) -> Result<Vec<Install>> {
        let all = self.communities.read().unwrap_or_else(|e| e.into_inner());
        let c = all
            .get(community)
            .ok_or_else(|| PlazaError::NoSuchCommunity(community.to_string()))?;
        Ok(c.installs.clone())
    }

    fn install_of(&self, community: &str, plugin: &str) -> Result<Install> {
        self.installs(community)?
            .into_iter()
            .find(|i| i.plugin.name == plugin)
            .ok_or_else(|| PlazaError::NotInstalled {
                plugin: plugin.to_string(),
                community: community.to_string(),
            })
    }

    fn with_install<R>(&self, community: &str, plugin: &str, f: impl FnOnce(&mut Install) -> R) -> Result<R> {
        let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
        let c = all
            .get_mut(community)
            .ok_or_else(|| PlazaError::NoSuchCommunity(community.to_string()))?;
        let install =
            c.installs
                .iter_mut()
                .find(|i| i.plugin.name == plugin)
                .ok_or_else(|| PlazaError::NotInstalled {
                    plugin: plugin.to_string(),
                    community: community.to_string(),
                })?;
        Ok(f(install))
    }

    /// Installs `plugin` in `community` with `grants` and delivers `plugin-installed` to it.
    pub async fn install(
        &self,
        community: &str,
        plugin: Arc<Plugin>,
        grants: GrantSet,
        config: Vec<ConfigEntry>,
    ) -> Result<InvocationReport> {
        {
            let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
            let c = all
                .get_mut(community)
                .ok_or_else(|| PlazaError::NoSuchCommunity(community.to_string()))?;
            if c.installs.iter().any(|i| i.plugin.name == plugin.name) {
                return Err(PlazaError::AlreadyInstalled {
                    plugin: plugin.name.clone(),
                    community: community.to_string(),
                });
            }
            c.installs.push(Install {
                plugin: plugin.clone(),
                grants: LiveGrants::new(grants),
                enabled: true,
                config: config.clone(),
            });
        }
        let event = self.host_event(community, EventKind::PluginInstalled { config }, None);
        self.deliver_to(community, &plugin.name, &event).await
    }

    /// Replaces an install's grants; running invocations see it on their next host call.
    pub fn set_grants(&self, community: &str, plugin: &str, grants: GrantSet) -> Result<()> {
        self.with_install(community, plugin, |i| i.grants.set(grants))
    }

    /// Turns delivery to an install on or off.
    pub fn set_enabled(&self, community: &str, plugin: &str, enabled: bool) -> Result<()> {
        self.with_install(community, plugin, |i| i.enabled = enabled)
    }

    /// Changes an install's configuration and delivers `config-changed`.
    pub async fn set_config(
        &self,
        community: &str,
        plugin: &str,
        config: Vec<ConfigEntry>,
    ) -> Result<InvocationReport> {
        self.with_install(community, plugin, |i| i.config = config.clone())?;
        let event = self.host_event(community, EventKind::ConfigChanged { config }, None);
        self.deliver_to(community, plugin, &event).await
    }

    /// Delivers `plugin-uninstalled`, removes the install and deletes its data in the community.
    pub async fn uninstall(&self, community: &str, plugin: &str) -> Result<InvocationReport> {
        let event = self.host_event(community, EventKind::PluginUninstalled, None);
        let report = self.deliver_to(community, plugin, &event).await?;
        {
            let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = all.get_mut(community) {
                c.installs.retain(|i| i.plugin.name != plugin);
            }
        }
        self.store.forget_plugin(community, plugin)?;
        Ok(report)
    }

    /// An event the host itself creates (lifecycle, timers), next in the community's sequence.
    fn host_event(&self, community: &str, kind: EventKind, timestamp_ms: Option<u64>) -> Event {
        let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
        let c = all.entry(community.to_string()).or_default();
        c.last_sequence += 1;
        let timestamp_ms = timestamp_ms.unwrap_or_else(now_ms);
        Event {
            meta: EventMeta {
                id: format!("host:{community}:{}", c.last_sequence),
                community: community.to_string(),
                sequence: c.last_sequence,
                timestamp_ms,
                attempt: 1,
            },
            kind,
        }
    }

    /// Delivers an event to one installed plugin only, whatever its type (even if the install is
    /// disabled: lifecycle events must reach it). Runners use it to replay lifecycle events.
    pub async fn deliver_to(&self, community: &str, plugin: &str, event: &Event) -> Result<InvocationReport> {
        let install = self.install_of(community, plugin)?;
        Ok(self.invoke_handler(community, &install, event).await)
    }

    /// Delivers a community event to every enabled install that should see it, in install order.
    /// Unknown communities are created on first use.
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
        self.ensure_community(&community);
        {
            let mut all = self.communities.write().unwrap_or_else(|e| e.into_inner());
            let c = all.entry(community.clone()).or_default();
            c.last_sequence = c.last_sequence.max(event.meta.sequence);
        }
        self.store.observe(&event)?;
        let mut invocations = Vec::new();
        for install in self.installs(&community)?.into_iter().filter(|i| i.enabled) {
            let Some(routed) = routing::route(&event, &install) else {
                continue;
            };
            invocations.push(self.invoke_handler(&community, &install, &routed).await);
        }
        Ok(DispatchReport { event, invocations })
    }

    /// Runs the review hook of every enabled install granted `moderation:review`, in install
    /// order. A rejection stops the chain; a rewrite is what later reviewers see. A reviewer that
    /// fails is skipped (fail-open) and its failure is in the report.
    pub async fn review(&self, community: &str, message: &Message, timestamp_ms: u64) -> Result<ReviewReport> {
        self.ensure_community(community);
        let mut current = message.clone();
        let mut invocations = Vec::new();
        let mut rewritten = false;
        for install in self.installs(community)?.into_iter().filter(|i| i.enabled) {
            if !install.grants.snapshot().contains(Capability::ModerationReview) {
                continue;
            }
            let request = types::ReviewRequest {
                community_id: community.to_string(),
                message: wit::message(&current),
                timestamp_ms,
            };
            let call = self.call_context(
                community,
                &install,
                &format!("review:{}", message.message_id),
                timestamp_ms,
            );
            let cpu_ms = self.runtime.limits().review_cpu_ms;
            let execution = invoke::execute(&self.runtime, &install.plugin, call, Call::Review(&request), cpu_ms).await;
            let (report, output) = self.finish(community, &install, "review-message", execution);
            invocations.push(report);
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
            ReviewDecision::Reject { .. } => {
                return Ok(IngestReport {
                    review: Some(review),
                    dispatch: None,
                })
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

    /// Fires every timer due at or before `now_ms`, each to the plugin that made it.
    pub async fn fire_due_timers(&self, now_ms: u64) -> Result<Vec<InvocationReport>> {
        let mut reports = Vec::new();
        for timer in self.store.due_timers(now_ms) {
            self.store.timer_fired(&timer.timer_id)?;
            let Ok(install) = self.install_of(&timer.community, &timer.plugin) else {
                continue;
            };
            if !install.enabled {
                continue;
            }
            let kind = EventKind::TimerFired {
                timer_id: timer.timer_id.clone(),
                name: timer.name.clone(),
                payload: timer.payload.clone(),
            };
            let event = self.host_event(&timer.community, kind, Some(timer.due_ms));
            reports.push(self.invoke_handler(&timer.community, &install, &event).await);
        }
        Ok(reports)
    }

    fn call_context(&self, community: &str, install: &Install, event_id: &str, now_ms: u64) -> CallContext {
        CallContext {
            plugin: install.plugin.name.clone(),
            community: community.to_string(),
            event_id: event_id.to_string(),
            now_ms,
            grants: Arc::new(install.grants.clone()),
            store: self.store.clone(),
            limits: self.runtime.limits().clone(),
        }
    }

    async fn invoke_handler(&self, community: &str, install: &Install, event: &Event) -> InvocationReport {
        let wit_event = types::Event::from(event);
        let call = self.call_context(community, install, &event.meta.id, event.meta.timestamp_ms);
        let cpu_ms = self.runtime.limits().cpu_ms;
        let execution = invoke::execute(
            &self.runtime,
            &install.plugin,
            call,
            Call::HandleEvent(&wit_event),
            cpu_ms,
        )
        .await;
        let mut report = self.finish(community, install, event.kind.type_name(), execution).0;
        report.event_id = event.meta.id.clone();
        report
    }

    /// Applies a successful invocation's effects and builds its report.
    fn finish(
        &self,
        community: &str,
        install: &Install,
        event_type: &str,
        execution: Execution,
    ) -> (InvocationReport, Option<CallOutput>) {
        let Execution {
            result,
            state,
            duration,
        } = execution;
        let event_id = state.call.event_id.clone();
        let now_ms = state.call.now_ms;
        let actions: Vec<Action> = state.effects.into_actions();
        let (outcome, applied, discarded, output) = match result {
            Ok(output) => match self.store.apply(community, &install.plugin.name, now_ms, &actions) {
                Ok(()) => (Outcome::Ok, actions, 0, Some(output)),
                Err(e) => {
                    let failure = Failure {
                        reason: FailureReason::StoreFailed,
                        message: format!("applying the effects failed: {e:#}"),
                        code: None,
                        retryable: true,
                        backtrace: None,
                    };
                    (Outcome::Failed(failure), Vec::new(), actions.len(), None)
                }
            },
            Err(failure) => {
                let discarded = actions.len();
                (Outcome::Failed(failure), Vec::new(), discarded, None)
            }
        };
        let report = InvocationReport {
            plugin: install.plugin.name.clone(),
            community: community.to_string(),
            event_id,
            event_type: event_type.to_string(),
            outcome,
            actions: applied,
            discarded_actions: discarded,
            logs: state.logs,
            denied: state.denied,
            duration_us: duration.as_micros() as u64,
        };
        (report, output)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
