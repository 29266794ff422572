//! One invocation: a fresh instance, one export call under CPU, memory and wall-clock limits,
//! and an explanation of how it ended.

use std::future::Future as _;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};

use super::limits::{sanitize, truncate_text, LimitExceeded, MAX_REPORTED_TEXT_BYTES};
use super::plugin::Plugin;
use super::report::{Failure, FailureReason, LogLevel};
use super::reuse::WarmInstance;
use super::state::{CallContext, CallRecord, HostState};
use super::Runtime;
use crate::wit::latest::types::{self, HandlerError, PluginInfo, ReviewVerdict};

/// Which export to call.
pub enum Call<'a> {
    /// `describe`.
    Describe,
    /// `handle-event`.
    HandleEvent(&'a types::Event),
    /// `review-message`.
    Review(&'a types::ReviewRequest),
}

/// What the export returned when it did not trap.
pub enum CallOutput {
    Described(PluginInfo),
    Handled,
    Reviewed(ReviewVerdict),
}

/// The result of one invocation, with the state it left (effects, logs, denials).
pub struct Execution {
    /// The export's answer, or why there is none.
    pub result: Result<CallOutput, Failure>,
    /// What the call left behind: its context, effects, logs, denials, requests.
    pub record: CallRecord,
    /// Wall-clock time taken.
    pub duration: Duration,
    /// Time the invocation ran on an executor thread: instantiation, guest code and the
    /// synchronous part of host calls, not the time it waited (epoch yields, queueing).
    pub cpu: Duration,
    /// Fuel used, when the engine meters fuel.
    pub fuel_consumed: Option<u64>,
}

/// Makes one call within `cpu_ms` of CPU and `wall_clock_ms` of wall-clock time (host calls
/// included), in a fresh instance of `plugin` that is dropped afterwards — or, for
/// `handle-event` when the install's limits allow bounded reuse, in the install's warm instance
/// (see [`super::reuse`]).
pub async fn execute(
    runtime: &Runtime,
    plugin: &Plugin,
    call: CallContext,
    export: Call<'_>,
    cpu_ms: u64,
    wall_clock_ms: u64,
) -> Execution {
    let started = Instant::now();
    let wall_clock = Duration::from_millis(wall_clock_ms);
    let fuel = call.limits.fuel;
    let ticks = runtime.engine.ticks_for_ms(cpu_ms);
    let reuse = match export {
        Call::HandleEvent(_) => call.limits.reuse,
        _ => None,
    };
    let warm = reuse.and_then(|_| runtime.warm.take(&call.community, &call.plugin, &plugin.digest));
    let (community, plugin_name) = match reuse {
        Some(_) => (call.community.clone(), call.plugin.clone()),
        None => (String::new(), String::new()),
    };
    let (mut store, warm) = match warm {
        Some(WarmInstance {
            mut store,
            bindings,
            born,
            served,
            ..
        }) => {
            store.data_mut().begin_call(call, ticks, wall_clock_ms);
            (store, Some((bindings, born, served)))
        }
        None => {
            let mut store = Store::new(runtime.engine.engine(), HostState::new(call, ticks, wall_clock_ms));
            store.limiter(|s| &mut s.limiter);
            (store, None)
        }
    };
    let metered = runtime.engine.settings().fuel;
    if metered {
        // Metering is on engine-wide: an install without a budget gets an unlimited one.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
    }
    // What the store holds may be less than asked for (wasmtime caps it).
    let fuel_before = metered.then(|| store.get_fuel().ok()).flatten();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut ctx| {
        let state = ctx.data_mut();
        if state.cpu_free_ticks > 0 {
            state.cpu_free_ticks -= 1;
            return Ok(UpdateDeadline::Yield(1));
        }
        if state.cpu_ticks_left == 0 {
            return Err(wasmtime::Error::new(LimitExceeded::Cpu { limit_ms: cpu_ms }));
        }
        state.cpu_ticks_left -= 1;
        // Yield so one busy plugin cannot hold an executor thread for its whole budget.
        Ok(UpdateDeadline::Yield(1))
    });

    let (warm_bindings, born, served) = match warm {
        Some((bindings, born, served)) => (Some(bindings), born, served),
        None => (None, started, 0),
    };
    let mut instantiated = warm_bindings.is_some();
    let run = async {
        let bindings = match warm_bindings {
            Some(b) => b,
            None => plugin.pre.instantiate_async(&mut store).await?,
        };
        instantiated = true;
        let output = match export {
            Call::Describe => Ok(CallOutput::Described(bindings.call_describe(&mut store).await?)),
            Call::HandleEvent(event) => bindings
                .call_handle_event(&mut store, event)
                .await?
                .map(|()| CallOutput::Handled),
            Call::Review(request) => bindings
                .call_review_message(&mut store, request)
                .await?
                .map(CallOutput::Reviewed),
        };
        wasmtime::Result::Ok((bindings, output))
    };
    // Polling time, summed: the time the invocation actually ran on a thread.
    let mut cpu = Duration::ZERO;
    let outcome = {
        let mut run = std::pin::pin!(run);
        let polled = std::future::poll_fn(|cx| {
            let poll_started = Instant::now();
            let poll = run.as_mut().poll(cx);
            cpu += poll_started.elapsed();
            poll
        });
        tokio::time::timeout(wall_clock, polled).await
    };
    let duration = started.elapsed();
    let fuel_consumed = fuel_before.and_then(|before| Some(before.saturating_sub(store.get_fuel().ok()?)));
    let state = store.data_mut();
    let stderr_text = drain_output(state);
    let record = state.take_record();
    let mut bindings_used = None;
    let result = match outcome {
        Err(_elapsed) => Err(Failure {
            reason: FailureReason::WallClock,
            message: format!(
                "the invocation took longer than {} ms (host calls included)",
                wall_clock.as_millis()
            ),
            code: None,
            retryable: true,
            backtrace: None,
        }),
        Ok(Ok((bindings, Ok(output)))) => {
            bindings_used = Some(bindings);
            Ok(output)
        }
        Ok(Ok((_, Err(handler_error)))) => Err(guest_error(handler_error)),
        Ok(Err(trap)) => Err(classify(&trap, instantiated, &stderr_text)),
    };
    // Only an instance whose call returned normally may serve again, within its policy.
    if let (Some(policy), true, Some(bindings)) = (reuse, result.is_ok(), bindings_used) {
        let served = served + 1;
        if served < policy.max_events && born.elapsed() < policy.max_age {
            let warm = WarmInstance {
                store,
                bindings,
                digest: plugin.digest.clone(),
                born,
                served,
            };
            runtime.warm.put(&community, &plugin_name, warm);
        }
    }
    Execution {
        result,
        record,
        duration,
        cpu,
        fuel_consumed,
    }
}

fn guest_error(e: HandlerError) -> Failure {
    Failure {
        reason: FailureReason::GuestError,
        message: sanitize(&truncate_text(&e.message, MAX_REPORTED_TEXT_BYTES)),
        code: Some(sanitize(&truncate_text(&e.code, 64))),
        retryable: e.retryable,
        backtrace: None,
    }
}

/// Moves captured stdout/stderr into log lines; returns stderr's text for trap messages.
fn drain_output(state: &mut HostState) -> String {
    let (stdout, stdout_cut) = state.stdout.take();
    let (stderr, stderr_cut) = state.stderr.take();
    for (bytes, cut, source, level) in [
        (&stdout, stdout_cut, "stdout", LogLevel::Info),
        (&stderr, stderr_cut, "stderr", LogLevel::Warn),
    ] {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            state.push_log(level, source, line.to_string());
        }
        if cut {
            state.push_host_note(format!("{source} truncated at {} bytes", bytes.len()));
        }
    }
    String::from_utf8_lossy(&stderr).into_owned()
}

/// Explains a trap: a limit we enforce, a wasm trap, or a failure to instantiate.
pub(crate) fn classify(err: &wasmtime::Error, instantiated: bool, stderr: &str) -> Failure {
    let backtrace = err
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string().trim_end().to_string());
    let panic = panic_message(stderr);
    let (reason, message) = if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
        let reason = match limit {
            LimitExceeded::Cpu { .. } => FailureReason::CpuBudget,
            LimitExceeded::Memory { .. } | LimitExceeded::Table { .. } => FailureReason::MemoryLimit,
            LimitExceeded::HostcallData { .. } | LimitExceeded::Output { .. } => FailureReason::OutputLimit,
        };
        (reason, limit.to_string())
    } else if let Some(wasmtime::component::ResourceTableError::Full) =
        err.downcast_ref::<wasmtime::component::ResourceTableError>()
    {
        (
            FailureReason::MemoryLimit,
            "resource limit: the plugin holds too many host resource handles".to_string(),
        )
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        let reason = match trap {
            Trap::StackOverflow => FailureReason::StackOverflow,
            Trap::Interrupt => FailureReason::CpuBudget,
            Trap::OutOfFuel => FailureReason::FuelBudget,
            _ => FailureReason::GuestTrap,
        };
        let mut message = trap.to_string();
        if let Some(panic) = &panic {
            message = format!("{message}: {panic}");
        }
        (reason, message)
    } else if !instantiated {
        (FailureReason::InstantiateFailed, format!("{:#}", err))
    } else {
        (FailureReason::GuestTrap, err.root_cause().to_string())
    };
    let reason = if !instantiated && reason == FailureReason::GuestTrap {
        FailureReason::InstantiateFailed
    } else {
        reason
    };
    Failure {
        retryable: !matches!(reason, FailureReason::GuestTrap | FailureReason::InstantiateFailed),
        reason,
        message: sanitize(&truncate_text(&message, MAX_REPORTED_TEXT_BYTES)),
        code: None,
        backtrace,
    }
}

/// The panic location and message a Rust guest wrote to stderr ("panicked at FILE:LINE:COL:"
/// followed by the message on the next line), joined into one line.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let at = lines.find(|l| l.contains("panicked at"))?;
    let location = at
        .split("panicked at")
        .nth(1)
        .unwrap_or("")
        .trim()
        .trim_end_matches(':');
    let message = lines.next().unwrap_or("").trim();
    Some(format!("panicked at {location}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_joins_location_and_text() {
        let stderr =
            "thread '<unnamed>' (1) panicked at src/lib.rs:61:17:\nafter sending\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "panicked at src/lib.rs:61:17: after sending"
        );
        assert_eq!(panic_message("nothing here"), None);
    }
}
