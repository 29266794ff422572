//! `logging`: always available; capped per invocation.

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::report::{LogLevel, LogLine};
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::logging::{self, Level};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    logging::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// What one log line costs beyond its text (at most ~2 000 lines fit the default 64 KiB).
const LOG_LINE_OVERHEAD: usize = 32;

impl From<Level> for LogLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

impl HostState {
    /// Keeps a log line, with control characters escaped, unless the invocation's log budget
    /// is spent. Each line costs its length plus a fixed overhead, so a flood of empty lines is
    /// capped too; the budget is checked before any work is done on the text.
    pub(crate) fn push_log(&mut self, level: LogLevel, source: &'static str, message: String) {
        if self.logs_truncated {
            return;
        }
        let budget = self.call.limits.log_bytes;
        let fits = |len: usize, used: usize| used.saturating_add(len).saturating_add(LOG_LINE_OVERHEAD) <= budget;
        // The raw length bounds the work; the escaped length is what is kept and charged.
        let escaped = fits(message.len(), self.log_bytes).then(|| crate::runtime::limits::sanitize(&message));
        match escaped {
            Some(message) if fits(message.len(), self.log_bytes) => {
                self.log_bytes += message.len() + LOG_LINE_OVERHEAD;
                trace_line(level, source, &message);
                self.logs.push(LogLine { level, source, message });
            }
            _ => {
                self.logs_truncated = true;
                let message = format!("log output truncated after {budget} bytes");
                trace_line(LogLevel::Warn, "host", &message);
                self.logs.push(LogLine {
                    level: LogLevel::Warn,
                    source: "host",
                    message,
                });
            }
        }
    }
}

impl HostState {
    /// A note from the host itself (e.g. that output was cut); not charged to the plugin's
    /// budget, and there are at most a few per invocation.
    pub(crate) fn push_host_note(&mut self, message: String) {
        trace_line(LogLevel::Warn, "host", &message);
        self.logs.push(LogLine {
            level: LogLevel::Warn,
            source: "host",
            message,
        });
    }
}

/// The `tracing` target of a plugin's log lines (and the host's notes about its output).
pub const GUEST_LOG_TARGET: &str = "plaza_host::guest";

/// Passes a kept line on to `tracing`; it is logged inside the invocation's span, so it carries
/// the plugin, version, community, event id and attempt. A plugin's text may quote messages
/// and member ids, so it is never logged above `debug` whatever level the plugin gave it (that
/// is in `guest_level`): `PLAZA_LOG=info,plaza_host::guest=debug` shows plugin lines. The text
/// was sanitized (control characters escaped) before it gets here, and what is logged is capped
/// by the invocation's log budget like the report's lines.
fn trace_line(level: LogLevel, source: &'static str, message: &str) {
    let guest_level = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    match level {
        LogLevel::Trace => tracing::trace!(target: GUEST_LOG_TARGET, source, guest_level, "{message}"),
        _ => tracing::debug!(target: GUEST_LOG_TARGET, source, guest_level, "{message}"),
    }
}

impl logging::Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.charge(message.len())?;
        self.push_log(level.into(), "log", message);
        Ok(())
    }
}
