//! When a failed delivery is tried again: exponential backoff with jitter, then a dead letter.
//!
//! Attempt `n` (from 1) that fails waits `base_delay_ms × 2^(n-1)`, capped at `max_delay_ms`,
//! then spread by up to ±`jitter_percent` so installs that failed together do not retry
//! together. The jitter is derived from the event id, plugin and attempt rather than drawn at
//! random, so a replayed run schedules the same retries. After `max_attempts` failed attempts
//! the event becomes a dead letter and the install moves on to its next event.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// How failed deliveries are retried. Defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryPolicy {
    /// Attempts per event before it becomes a dead letter (default 5; 1 disables retries).
    pub max_attempts: u32,
    /// Wait after the first failed attempt (default 1 s).
    pub base_delay_ms: u64,
    /// Longest wait (default 5 min).
    pub max_delay_ms: u64,
    /// Spread of each wait, in percent either way (default 20).
    pub jitter_percent: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 1_000,
            max_delay_ms: 300_000,
            jitter_percent: 20,
        }
    }
}

impl RetryPolicy {
    /// No retries: a failed event becomes a dead letter at once.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// How long to wait after `failed_attempt` (from 1) of `event_id` for `plugin` failed.
    pub fn delay_ms(&self, event_id: &str, plugin: &str, failed_attempt: u32) -> u64 {
        let exponent = failed_attempt.saturating_sub(1).min(40);
        let delay = self
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_delay_ms);
        let spread = delay.saturating_mul(u64::from(self.jitter_percent.min(100))) / 100;
        if spread == 0 {
            return delay;
        }
        let digest = Sha256::new()
            .chain_update(event_id.as_bytes())
            .chain_update([0])
            .chain_update(plugin.as_bytes())
            .chain_update(failed_attempt.to_le_bytes())
            .finalize();
        let roll = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % (2 * spread + 1);
        (delay - spread).saturating_add(roll)
    }

    /// Whether `failed_attempt` was the last one allowed.
    pub fn gives_up_after(&self, failed_attempt: u32) -> bool {
        failed_attempt >= self.max_attempts.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_the_jitter_and_are_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..=4u32 {
            let nominal = 1_000u64 << (attempt - 1);
            let d = p.delay_ms("e1", "poll", attempt);
            assert!(
                d >= nominal * 8 / 10 && d <= nominal * 12 / 10,
                "attempt {attempt}: {d}"
            );
        }
        assert!(p.delay_ms("e1", "poll", 30) <= 360_000);
        assert!(p.delay_ms("e1", "poll", 30) >= 240_000);
    }

    #[test]
    fn jitter_is_deterministic_but_spreads_events() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms("e1", "poll", 2), p.delay_ms("e1", "poll", 2));
        let distinct: std::collections::BTreeSet<u64> =
            (0..50).map(|i| p.delay_ms(&format!("e{i}"), "poll", 3)).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn no_jitter_and_no_retries() {
        let p = RetryPolicy {
            jitter_percent: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_ms("e", "p", 3), 4_000);
        assert!(RetryPolicy::no_retries().gives_up_after(1));
        assert!(!p.gives_up_after(4));
        assert!(p.gives_up_after(5));
    }
}
