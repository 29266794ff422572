//! `logging`: always available; capped per invocation.

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::report::{LogLevel, LogLine};
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::logging::{self, Level};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    logging::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

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
    /// is spent.
    pub(crate) fn push_log(&mut self, level: LogLevel, source: &'static str, message: String) {
        let message = crate::runtime::limits::sanitize(&message);
        if self.logs_truncated {
            return;
        }
        let budget = self.call.limits.log_bytes;
        if self.log_bytes + message.len() > budget {
            self.logs_truncated = true;
            self.logs.push(LogLine {
                level: LogLevel::Warn,
                source: "host",
                message: format!("log output truncated after {budget} bytes"),
            });
            return;
        }
        self.log_bytes += message.len();
        self.logs.push(LogLine { level, source, message });
    }
}

impl logging::Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.charge(message.len())?;
        self.push_log(level.into(), "log", message);
        Ok(())
    }
}
