//! Per-invocation resource limits, and the store limiter that enforces them.

use serde::Serialize;

/// Largest CPU budget a manifest may ask for, in milliseconds.
pub const MAX_CPU_MS: u64 = 5_000;
/// Largest KV quota a manifest may ask for: 64 MiB.
pub const MAX_KV_QUOTA_BYTES: u64 = 64 << 20;
/// Largest wall-clock budget an admin may set, in milliseconds.
pub const MAX_WALL_CLOCK_MS: u64 = 30_000;
/// Largest table an admin may allow (the pool's table slot size).
pub const MAX_TABLE_ELEMENTS: u64 = 100_000;
/// Most core instances, tables or memories an admin may allow per plugin instance.
pub const MAX_INSTANCE_PARTS: u64 = 100;
/// Most messages per minute an admin may allow per channel or community.
pub const MAX_MESSAGES_PER_MINUTE: u64 = 6_000;
/// Largest burst an admin may allow.
pub const MAX_BURST: u64 = 1_000;
/// Longest text the host keeps from a plugin's own strings in reports (error messages).
pub const MAX_REPORTED_TEXT_BYTES: usize = 4 << 10;

/// Limits applied to every instance of a plugin. Defaults are documented in the README.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Linear memory, all memories of the instance together (default 64 MiB).
    pub memory_bytes: usize,
    /// Elements per table (default 20 000).
    pub table_elements: usize,
    /// Core instances per plugin instance (default 32).
    pub instances: usize,
    /// Tables per plugin instance (default 32).
    pub tables: usize,
    /// Memories per plugin instance (default 4).
    pub memories: usize,
    /// CPU time a handler may run, in milliseconds, measured in epoch ticks (default 200 ms).
    pub cpu_ms: u64,
    /// Wall-clock time for the whole invocation, host calls included (default 2 s).
    pub wall_clock_ms: u64,
    /// CPU time for the review hook, which runs before a message is posted (default 20 ms).
    pub review_cpu_ms: u64,
    /// Bytes of log output (log calls, stdout and stderr) kept per invocation (default 64 KiB).
    pub log_bytes: usize,
    /// Effects (actions) one invocation may ask for (default 100).
    pub actions: usize,
    /// Characters in one message the plugin sends (default 4 000).
    pub message_chars: usize,
    /// KV bytes (keys plus values) per install (default 1 MiB).
    pub kv_quota_bytes: u64,
    /// Bytes in one KV key (default 256).
    pub kv_key_bytes: usize,
    /// Bytes in one KV value (default 64 KiB).
    pub kv_value_bytes: usize,
    /// Shortest timer interval or delay, in milliseconds (default 1 s).
    pub min_timer_ms: u64,
    /// Members returned by one `list-page` call (default 100).
    pub member_page: usize,
    /// Wall-clock time for the review hook, host calls included (default 100 ms).
    pub review_wall_clock_ms: u64,
    /// Largest component accepted at load (default 64 MiB).
    pub max_component_bytes: usize,
    /// Longest compile of a component before loading gives up (default 120 s); compiling
    /// happens at install, never on the event path.
    pub compile_timeout_ms: u64,
    /// Bytes one invocation may pass into host calls in total (default 16 MiB); past it the
    /// invocation traps with `output-limit`.
    pub hostcall_bytes: usize,
    /// Host resource handles (WASI streams, pollables) one instance may hold (default 1 000).
    pub resource_table_entries: usize,
    /// Instruction budget per invocation when the engine meters fuel (default 500 million).
    pub fuel: Option<u64>,
    /// Message budgets (default 1/s per channel with a burst of 5, 5/s per community with a
    /// burst of 20).
    pub rates: crate::host_api::rate_limit::RateLimits,
    /// Bounded instance reuse for `handle-event`, when the plugin's manifest opts in
    /// (`[isolation] mode = "reuse"`); `None` (the default): a fresh instance per event.
    pub reuse: Option<ReusePolicy>,
}

/// How long one instance may serve one install's events before it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReusePolicy {
    /// Events one instance serves at most.
    pub max_events: u32,
    /// How long one instance lives at most, from its instantiation.
    pub max_age: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 32,
            tables: 32,
            memories: 4,
            cpu_ms: 200,
            wall_clock_ms: 2_000,
            review_cpu_ms: 20,
            log_bytes: 64 << 10,
            actions: 100,
            message_chars: 4_000,
            kv_quota_bytes: 1 << 20,
            kv_key_bytes: 256,
            kv_value_bytes: 64 << 10,
            min_timer_ms: 1_000,
            member_page: 100,
            review_wall_clock_ms: 100,
            max_component_bytes: 64 << 20,
            compile_timeout_ms: 120_000,
            hostcall_bytes: 16 << 20,
            resource_table_entries: 1_000,
            fuel: Some(500_000_000),
            rates: crate::host_api::rate_limit::RateLimits::default(),
            reuse: None,
        }
    }
}

/// A limit an instance ran into; carried as the trap's error so the report can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Memory growth past the cap.
    #[error("memory limit: growing linear memory to {wanted} bytes would exceed the limit of {limit} bytes")]
    Memory { wanted: usize, limit: usize },
    /// Table growth past the cap.
    #[error("memory limit: growing a table to {wanted} elements would exceed the limit of {limit}")]
    Table { wanted: usize, limit: usize },
    /// CPU budget used up.
    #[error("cpu budget: the handler ran longer than {limit_ms} ms of CPU time")]
    Cpu { limit_ms: u64 },
    /// Too much data passed into host calls.
    #[error("output limit: the plugin passed more than {limit} bytes into host calls in one invocation")]
    HostcallData { limit: usize },
    /// An answer larger than allowed (e.g. the review hook's rewrite).
    #[error("output limit: {what}")]
    Output { what: String },
}

/// Cuts `text` to at most `max` bytes on a character boundary, saying so.
pub fn truncate_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes, truncated)", &text[..end], text.len())
}

/// Makes plugin-supplied text safe for one log line or terminal: control characters (ANSI
/// escapes, newlines, carriage returns) are shown escaped, e.g. `\u{1b}`. Callers bound `text`
/// first: escaping can make it up to ten times longer.
pub fn sanitize(text: &str) -> String {
    use std::fmt::Write as _;
    let is_unsafe = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Enforces [`Limits`] on one store; memory is summed over all memories of the instance.
#[derive(Debug)]
pub struct Limiter {
    memory_limit: usize,
    memory_used: usize,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
}

impl Limiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        Limiter {
            memory_limit: limits.memory_bytes,
            memory_used: 0,
            table_elements: limits.table_elements,
            instances: limits.instances,
            tables: limits.tables,
            memories: limits.memories,
        }
    }

    /// Bytes of linear memory in use now, all memories together.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }

    /// The same limiter for an instance that already holds `bytes` of memory (a reused one).
    pub fn with_memory_used(mut self, bytes: usize) -> Self {
        self.memory_used = bytes;
        self
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let wanted = self.memory_used - current.min(self.memory_used) + desired;
        if wanted > self.memory_limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                wanted,
                limit: self.memory_limit,
            }));
        }
        self.memory_used = wanted;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                wanted: desired,
                limit: self.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(sanitize("plain\ttext"), "plain\ttext");
        assert_eq!(sanitize("\u{1b}[31mred\nnext\r"), "\\u{1b}[31mred\\nnext\\r");
        assert!(!sanitize("a\u{7}b\u{9b}c").chars().any(|c| c.is_control() && c != '\t'));
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate_text("short", 10), "short");
        let cut = truncate_text("ééééé", 3);
        assert!(cut.starts_with("é…"), "{cut}");
        assert!(cut.ends_with("(10 bytes, truncated)"), "{cut}");
    }

    #[test]
    fn memory_is_summed_across_memories() {
        let mut l = Limiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert_eq!(l.memory_used(), 90);
        let err = l.memory_growing(30, 50, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory {
                wanted: 110,
                limit: 100
            })
        );
        assert!(l.memory_growing(60, 70, None).unwrap());
        assert_eq!(l.memory_used(), 100);
    }
}
