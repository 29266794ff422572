//! `scheduler`: needs `schedule`. Timers fire as `timer-fired` events to the plugin that made them.

use wasmtime::component::{HasSelf, Linker};

use super::{non_empty, HostResult};
use crate::capability::Capability;
use crate::effects::Action;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::scheduler;
use crate::wit::latest::HostError;

/// Largest payload a timer carries.
const MAX_PAYLOAD: usize = 4 << 10;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    scheduler::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl HostState {
    fn schedule(
        &mut self,
        name: String,
        delay_ms: u64,
        payload: String,
        every_ms: Option<u64>,
    ) -> Result<String, HostError> {
        non_empty("timer name", &name, 64)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(HostError::Invalid(format!(
                "payload is {} bytes; at most {MAX_PAYLOAD} allowed",
                payload.len()
            )));
        }
        let min = self.call.limits.min_timer_ms;
        if delay_ms < min {
            return Err(HostError::Invalid(format!(
                "timers fire at least {min} ms apart; asked for {delay_ms} ms"
            )));
        }
        let timer_id = self.effects.new_id("timer", &self.call.plugin, &self.call.event_id);
        self.record(Action::ScheduleTimer {
            timer_id: timer_id.clone(),
            name,
            payload,
            delay_ms,
            every_ms,
        })?;
        Ok(timer_id)
    }
}

impl scheduler::Host for HostState {
    async fn schedule_once(&mut self, name: String, delay_ms: u64, payload: String) -> HostResult<String> {
        self.charge(name.len() + payload.len())?;
        let result = self
            .require(Capability::Schedule, "scheduler.schedule-once")
            .and_then(|()| self.schedule(name, delay_ms, payload, None));
        Ok(result)
    }

    async fn schedule_every(&mut self, name: String, interval_ms: u64, payload: String) -> HostResult<String> {
        self.charge(name.len() + payload.len())?;
        let result = self
            .require(Capability::Schedule, "scheduler.schedule-every")
            .and_then(|()| self.schedule(name, interval_ms, payload, Some(interval_ms)));
        Ok(result)
    }

    async fn cancel(&mut self, id: String) -> HostResult<()> {
        self.charge(id.len())?;
        let result = (|| {
            self.require(Capability::Schedule, "scheduler.cancel")?;
            let own = self.effects.created_timer(&id)
                || self
                    .call
                    .store
                    .timer(&id)
                    .is_some_and(|t| t.community == self.call.community && t.plugin == self.call.plugin);
            if !own {
                return Err(HostError::NotFound);
            }
            self.record(Action::CancelTimer { timer_id: id })
        })();
        Ok(result)
    }
}
