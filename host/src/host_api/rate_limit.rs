//! Paced message budgets: token buckets per (community, plugin, channel) and per
//! (community, plugin). A call over budget gets `rate-limited(retry-after-ms)`; nothing is banned,
//! and the budget refills steadily.

use crate::hash::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens a bucket holds.
    pub burst: u32,
}

/// The message budgets of every install.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateLimits {
    /// Per plugin per channel (default 1 message/s, burst 5).
    pub per_channel: Rate,
    /// Per plugin per community, all channels together (default 5 messages/s, burst 20).
    pub per_community: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_channel: Rate {
                per_second: 1.0,
                burst: 5,
            },
            per_community: Rate {
                per_second: 5.0,
                burst: 20,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now_ms: u64) {
        // Time only moves forward for a bucket, even if events arrive with older timestamps.
        let elapsed = now_ms.saturating_sub(self.updated_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst as f64);
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    fn wait_ms(&self, rate: Rate) -> u64 {
        if self.tokens >= 1.0 {
            0
        } else {
            ((1.0 - self.tokens) / rate.per_second * 1000.0).ceil() as u64
        }
    }
}

/// One install's buckets: all its channels together, and each channel.
#[derive(Debug, Clone, Default)]
struct InstallBuckets {
    all: Option<Bucket>,
    channels: HashMap<String, Bucket>,
}

/// Buckets by community, then plugin: looked up by `&str`, so a message allocates nothing
/// once its buckets exist (a (community, plugin, channel) key was five allocations and four
/// lookups per message).
type Buckets = HashMap<String, HashMap<String, InstallBuckets>>;

/// The value under `key`, inserted with its default if missing.
fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    entry_or(map, key, V::default)
}

/// The value under `key`, inserted with `make` if missing.
fn entry_or<'a, V>(map: &'a mut HashMap<String, V>, key: &str, make: impl FnOnce() -> V) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), make());
    }
    map.get_mut(key).expect("inserted above")
}

/// Buckets for every install, shared by all invocations of a host. Each call names the
/// install's budgets, so an admin's change applies to the next message.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    /// A limiter with no buckets yet.
    pub fn new() -> Self {
        RateLimiter::default()
    }

    /// Takes one message from both of the install's buckets, or says how long to wait.
    pub fn try_take(
        &self,
        limits: &RateLimits,
        community: &str,
        plugin: &str,
        channel: &str,
        now_ms: u64,
    ) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let InstallBuckets { all, channels } = entry(entry(&mut buckets, community), plugin);
        let full = |rate: Rate| Bucket {
            tokens: rate.burst as f64,
            updated_ms: now_ms,
        };
        let all = all.get_or_insert_with(|| full(limits.per_community));
        let one = entry_or(channels, channel, || full(limits.per_channel));
        one.refill(limits.per_channel, now_ms);
        all.refill(limits.per_community, now_ms);
        let wait = one.wait_ms(limits.per_channel).max(all.wait_ms(limits.per_community));
        if wait > 0 {
            return Err(wait);
        }
        one.tokens -= 1.0;
        all.tokens -= 1.0;
        Ok(())
    }

    /// The buckets as they are now, for [`RateLimiter::restore`]: `plaza check` rehearses a
    /// redelivery, and a rehearsal must not spend the budget of the delivery that follows.
    pub(crate) fn save(&self) -> RateSnapshot {
        RateSnapshot(self.buckets.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Puts the buckets back as [`RateLimiter::save`] found them.
    pub(crate) fn restore(&self, snapshot: RateSnapshot) {
        *self.buckets.lock().unwrap_or_else(|e| e.into_inner()) = snapshot.0;
    }
}

/// Saved buckets (see [`RateLimiter::save`]).
pub(crate) struct RateSnapshot(Buckets);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_paced_per_channel() {
        let limiter = RateLimiter::new();
        for _ in 0..5 {
            assert_eq!(limiter.try_take(&RateLimits::default(), "c", "p", "general", 0), Ok(()));
        }
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "c", "p", "general", 0),
            Err(1000)
        );
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "c", "p", "general", 400),
            Err(600)
        );
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "c", "p", "general", 1000),
            Ok(())
        );
        // Another channel and another plugin have their own buckets.
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "c", "p", "random", 1000),
            Ok(())
        );
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "c", "q", "general", 1000),
            Ok(())
        );
    }

    #[test]
    fn restore_gives_back_what_was_spent() {
        let limiter = RateLimiter::new();
        let saved = limiter.save();
        for _ in 0..5 {
            assert_eq!(limiter.try_take(&RateLimits::default(), "c", "p", "general", 0), Ok(()));
        }
        assert!(limiter
            .try_take(&RateLimits::default(), "c", "p", "general", 0)
            .is_err());
        limiter.restore(saved);
        assert_eq!(limiter.try_take(&RateLimits::default(), "c", "p", "general", 0), Ok(()));
    }

    #[test]
    fn community_budget_spans_channels() {
        let limiter = RateLimiter::new();
        for i in 0..20 {
            assert_eq!(
                limiter.try_take(&RateLimits::default(), "c", "p", &format!("ch{i}"), 0),
                Ok(()),
                "message {i}"
            );
        }
        assert_eq!(limiter.try_take(&RateLimits::default(), "c", "p", "ch99", 0), Err(200));
        assert_eq!(
            limiter.try_take(&RateLimits::default(), "other", "p", "ch99", 0),
            Ok(())
        );
    }
}
