//! Timers that deliver a `timer-fired` event later (WIT `scheduler`), handled by
//! [`Plugin::on_timer`](crate::Plugin::on_timer). Needs `schedule`. Timers are created when
//! the handler returns `Ok`.

use crate::{HostError, TimerId};

/// Fires once, `delay_ms` from now, with `name` and `payload` in the event.
pub fn schedule_once(name: &str, delay_ms: u64, payload: &str) -> Result<TimerId, HostError> {
    crate::sys::scheduler::schedule_once(name, delay_ms, payload)
}

/// Fires every `interval_ms` (the host enforces a minimum) until [cancelled](cancel).
pub fn schedule_every(name: &str, interval_ms: u64, payload: &str) -> Result<TimerId, HostError> {
    crate::sys::scheduler::schedule_every(name, interval_ms, payload)
}

/// Stops a timer. Cancelling a timer that no longer exists is [`HostError::NotFound`].
pub fn cancel(id: &str) -> Result<(), HostError> {
    crate::sys::scheduler::cancel(id)
}
