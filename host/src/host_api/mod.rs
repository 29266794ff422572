//! Host interfaces, one module per capability: each holds its checks, its WIT `Host` impl and
//! its `add_to_linker`, so a new capability is one new file.
//!
//! Every function re-checks the grant on every call (a revoke takes effect on the next call) and
//! answers a refusal with a typed `host-error` the plugin can handle, never a trap. Calls that
//! change the world only record an effect; see [`crate::effects`].

pub mod http;
pub mod kv;
pub mod logging;
pub mod members;
pub mod messaging;
pub mod moderation;
pub mod rate_limit;
pub mod scheduler;

use wasmtime::component::Linker;

use crate::capability::Capability;
use crate::effects::Action;
use crate::runtime::report::DeniedCall;
use crate::runtime::state::HostState;
use crate::wit::latest::{types, HostError};

/// The result type host functions return: the outer error traps, the inner one is the guest's.
pub type HostResult<T> = wasmtime::Result<Result<T, HostError>>;

/// Links every Plaza host interface. Which of them answer is decided per call by the grants.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    types::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(linker, |s| s)?;
    logging::add_to_linker(linker)?;
    messaging::add_to_linker(linker)?;
    moderation::add_to_linker(linker)?;
    members::add_to_linker(linker)?;
    kv::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    scheduler::add_to_linker(linker)?;
    Ok(())
}

impl types::Host for HostState {}

impl HostState {
    /// Checks that `cap` is granted right now; records and answers a denial otherwise.
    pub(crate) fn require(&mut self, cap: Capability, call: &'static str) -> Result<(), HostError> {
        if self.call.grants.is_granted(cap) {
            return Ok(());
        }
        self.denied.push(DeniedCall {
            call,
            capability: cap.name().to_string(),
        });
        Err(HostError::Denied(cap.name().to_string()))
    }

    /// The platform member a plugin-supplied member id stands for: the id itself with
    /// `members:identity`, otherwise the member behind the pseudonym (`None` if unknown).
    pub(crate) fn member_in(&self, id: &str) -> Option<String> {
        if self.call.grants.is_granted(Capability::MembersIdentity) {
            Some(id.to_string())
        } else {
            self.call
                .store
                .resolve_pseudonym(&self.call.community, &self.call.plugin, id)
        }
    }

    /// The id a plugin may see for `member`: the real id with `members:identity`, otherwise its
    /// pseudonym (remembered so it can be mapped back).
    pub(crate) fn member_out(&self, member: &str) -> String {
        if self.call.grants.is_granted(Capability::MembersIdentity) {
            return member.to_string();
        }
        let (community, plugin) = (&self.call.community, &self.call.plugin);
        let pseudonym = self.call.pseudonyms.of(community, plugin, member);
        if let Err(e) =
            self.call
                .store
                .remember_pseudonyms(community, plugin, &[(pseudonym.clone(), member.to_string())])
        {
            tracing::error!("remembering a pseudonym for {plugin} in {community}: {e:#}");
        }
        pseudonym
    }

    /// Counts `bytes` of data passed into a host call against the invocation's cap; past it the
    /// invocation traps with `output-limit`.
    pub(crate) fn charge(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.hostcall_bytes = self.hostcall_bytes.saturating_add(bytes);
        let limit = self.call.limits.hostcall_bytes;
        if self.hostcall_bytes > limit {
            return Err(wasmtime::Error::new(
                crate::runtime::limits::LimitExceeded::HostcallData { limit },
            ));
        }
        Ok(())
    }

    /// Records an effect, within the per-invocation cap.
    pub(crate) fn record(&mut self, action: Action) -> Result<(), HostError> {
        let cap = self.call.limits.actions;
        if self.effects.len() >= cap {
            let what = format!("at most {cap} actions per event");
            self.output_limit_hit = Some(what.clone());
            return Err(HostError::QuotaExceeded(what));
        }
        self.effects.push(action);
        Ok(())
    }
}

/// Checks a short identifier-like argument (channel, member, message, key).
pub(crate) fn non_empty(what: &str, value: &str, max_bytes: usize) -> Result<(), HostError> {
    if value.is_empty() {
        return Err(HostError::Invalid(format!("{what} must not be empty")));
    }
    if value.len() > max_bytes {
        return Err(HostError::Invalid(format!(
            "{what} is {} bytes; at most {max_bytes} allowed",
            value.len()
        )));
    }
    Ok(())
}
