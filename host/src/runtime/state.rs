//! The data each plugin instance's `Store` holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::{Limiter, Limits};
use super::output::CappedOutput;
use super::report::{DeniedCall, HttpCall, LogLine};
use crate::capability::GrantCheck;
use crate::effects::Effects;
use crate::storage::CommunityStore;

/// Who is calling and on whose behalf: fixed for one invocation.
#[derive(Clone)]
pub struct CallContext {
    /// The plugin's name.
    pub plugin: String,
    /// The community the invocation runs for; every host call is scoped to it.
    pub community: String,
    /// The event being handled (for deterministic ids of created objects).
    pub event_id: String,
    /// The current time, milliseconds since the Unix epoch (the event's time).
    pub now_ms: u64,
    /// Live grants, asked on every host call.
    pub grants: Arc<dyn GrantCheck>,
    /// Community state.
    pub store: Arc<dyn CommunityStore>,
    /// Limits for this invocation.
    pub limits: Arc<Limits>,
    /// Derives the pseudonyms members have for this plugin.
    pub pseudonyms: crate::dispatch::pseudonym::Pseudonyms,
    /// Message budgets shared by all invocations.
    pub rate: Arc<crate::host_api::rate_limit::RateLimiter>,
    /// Outbound HTTP: the client, the install's allowlist and secrets; `None` where requests
    /// are not allowed (the review hook, `describe`).
    pub http: Option<crate::host_api::http::HttpAccess>,
}

/// Store data for one plugin instance.
pub struct HostState {
    /// The inert WASI context, built on the first WASI call: most invocations make none, and
    /// building one (seeding its random generators) is a noticeable part of a short call.
    pub(crate) wasi: Option<WasiCtx>,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) call: CallContext,
    pub(crate) effects: Effects,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_bytes: usize,
    pub(crate) logs_truncated: bool,
    pub(crate) denied: Vec<DeniedCall>,
    pub(crate) stdout: CappedOutput,
    pub(crate) stderr: CappedOutput,
    pub(crate) cpu_ticks_left: u64,
    /// Set when a host call refused an effect because an output cap was hit.
    pub(crate) output_limit_hit: Option<String>,
    /// Bytes passed into host calls so far.
    pub(crate) hostcall_bytes: usize,
    /// When the invocation's wall-clock budget runs out (host calls must finish before).
    pub(crate) deadline: Instant,
    /// Epoch ticks the CPU budget skips: time spent suspended in a host call that waited
    /// (HTTP), which passed while the guest was not running.
    pub(crate) cpu_free_ticks: u64,
    /// Outbound requests made so far in this invocation.
    pub(crate) http_requests: u32,
    /// Outbound requests, for the report and the audit log.
    pub(crate) http_calls: Vec<HttpCall>,
}

impl HostState {
    /// Fresh state for one invocation.
    pub fn new(call: CallContext, cpu_ticks: u64, wall_clock_ms: u64) -> Self {
        let stdout = CappedOutput::new(call.limits.log_bytes);
        let stderr = CappedOutput::new(call.limits.log_bytes);
        HostState {
            wasi: None,
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(call.limits.resource_table_entries);
                table
            },
            limiter: Limiter::new(&call.limits),
            effects: Effects::default(),
            call,
            logs: Vec::new(),
            log_bytes: 0,
            logs_truncated: false,
            denied: Vec::new(),
            stdout,
            stderr,
            cpu_ticks_left: cpu_ticks,
            output_limit_hit: None,
            hostcall_bytes: 0,
            deadline: Instant::now() + Duration::from_millis(wall_clock_ms),
            cpu_free_ticks: 0,
            http_requests: 0,
            http_calls: Vec::new(),
        }
    }
}

/// What one call left behind: taken out of the store's state when the call ends, so a reused
/// instance's next call starts clean.
pub struct CallRecord {
    /// Who called, for what.
    pub call: CallContext,
    /// The effects it asked for.
    pub effects: Effects,
    /// Its log lines (stdout and stderr included).
    pub logs: Vec<LogLine>,
    /// Host calls refused for lack of a grant.
    pub denied: Vec<DeniedCall>,
    /// Outbound requests.
    pub http_calls: Vec<HttpCall>,
}

impl HostState {
    /// Prepares a reused instance's state for its next call: the WASI context, the resource
    /// table, the output captures and the memory in use carry over with the instance;
    /// everything about the call (who, budgets, effects, logs) is fresh.
    pub(crate) fn begin_call(&mut self, call: CallContext, cpu_ticks: u64, wall_clock_ms: u64) {
        let memory_used = self.limiter.memory_used();
        self.limiter = Limiter::new(&call.limits).with_memory_used(memory_used);
        self.effects = Effects::default();
        self.call = call;
        self.logs.clear();
        self.log_bytes = 0;
        self.logs_truncated = false;
        self.denied.clear();
        self.cpu_ticks_left = cpu_ticks;
        self.output_limit_hit = None;
        self.hostcall_bytes = 0;
        self.deadline = Instant::now() + Duration::from_millis(wall_clock_ms);
        self.cpu_free_ticks = 0;
        self.http_requests = 0;
        self.http_calls.clear();
    }

    /// Takes what the call left behind (the state stays usable for [`begin_call`](Self::begin_call)).
    pub(crate) fn take_record(&mut self) -> CallRecord {
        CallRecord {
            call: self.call.clone(),
            effects: std::mem::take(&mut self.effects),
            logs: std::mem::take(&mut self.logs),
            denied: std::mem::take(&mut self.denied),
            http_calls: std::mem::take(&mut self.http_calls),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self
                .wasi
                .get_or_insert_with(|| super::wasi::inert_ctx(self.stdout.clone(), self.stderr.clone())),
            table: &mut self.table,
        }
    }
}
