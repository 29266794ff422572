//! The circuit breaker: an install that keeps failing is quarantined in its community.
//!
//! `failures` failed delivery attempts in a row within `window_ms` open the breaker (a failed
//! review counts too; any success starts the count again, so an install that fails now and
//! then is never quarantined). While it is open, the install's events wait in its community's log (never
//! dropped) and nothing is delivered to it. When the backoff ends, the next attempt at its
//! oldest undelivered event is the trial: success closes the breaker and the rest follow in
//! order; failure opens it again with twice the backoff, up to `max_backoff_ms`. An admin can
//! reset it. Every transition is audited.

use serde::Serialize;

use crate::storage::admin::{BreakerRecord, BreakerState};

/// When the breaker opens and how long it stays open. Defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerSettings {
    /// Failures in a row within the window that open the breaker (default 5).
    pub failures: usize,
    /// The window, in milliseconds (default 60 s).
    pub window_ms: u64,
    /// Backoff after the first opening (default 30 s); doubles with each reopening.
    pub base_backoff_ms: u64,
    /// Longest backoff (default 1 h).
    pub max_backoff_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            window_ms: 60_000,
            base_backoff_ms: 30_000,
            max_backoff_ms: 3_600_000,
        }
    }
}

/// An install's breaker as last read from or written to the store. Nearly every install's is
/// closed with no recent failures: that costs no allocation (a host caches one per install).
#[derive(Debug, Default)]
pub(crate) enum CachedBreaker {
    /// Not read from the store yet.
    #[default]
    Unread,
    /// Closed, no recent failures: the default record.
    Closed,
    /// Anything else.
    Stored(Box<BreakerRecord>),
}

impl CachedBreaker {
    pub(crate) fn of(record: &BreakerRecord) -> Self {
        if *record == BreakerRecord::default() {
            CachedBreaker::Closed
        } else {
            CachedBreaker::Stored(Box::new(record.clone()))
        }
    }

    /// The record, unless it has not been read yet.
    pub(crate) fn record(&self) -> Option<BreakerRecord> {
        match self {
            CachedBreaker::Unread => None,
            CachedBreaker::Closed => Some(BreakerRecord::default()),
            CachedBreaker::Stored(record) => Some((**record).clone()),
        }
    }
}

/// What an admin sees of a breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerStatus {
    /// The state.
    pub state: BreakerState,
    /// Failures within the current window.
    pub recent_failures: usize,
    /// Openings since it was last closed by a success or an admin.
    pub trips: u32,
    /// When the next trial may happen, while open.
    pub retry_at_ms: Option<u64>,
    /// Events waiting for the install.
    pub held_events: u64,
}

/// A breaker transition worth auditing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// It opened (or reopened after a failed trial) until the given time.
    Opened { retry_at_ms: u64, backoff_ms: u64 },
    /// A trial succeeded and it closed.
    Closed,
}

/// Records a failure at `now_ms`; returns the transition if the breaker (re)opened.
pub fn record_failure(b: &mut BreakerRecord, now_ms: u64, s: &BreakerSettings) -> Option<Transition> {
    b.recent_failures.push(now_ms);
    b.recent_failures.retain(|t| now_ms.saturating_sub(*t) < s.window_ms);
    let reopen = b.state == BreakerState::HalfOpen;
    if !reopen && (b.state == BreakerState::Open || b.recent_failures.len() < s.failures) {
        return None;
    }
    b.trips = b.trips.saturating_add(1);
    let backoff_ms = s
        .base_backoff_ms
        .saturating_mul(1u64 << (b.trips - 1).min(32))
        .min(s.max_backoff_ms);
    let retry_at_ms = now_ms.saturating_add(backoff_ms);
    b.state = BreakerState::Open;
    b.retry_at_ms = Some(retry_at_ms);
    Some(Transition::Opened {
        retry_at_ms,
        backoff_ms,
    })
}

/// Records a success: failures in a row start again from zero; returns `Closed` if it ends a
/// trial.
pub fn record_success(b: &mut BreakerRecord) -> Option<Transition> {
    if b.state == BreakerState::Closed {
        b.recent_failures.clear();
        return None;
    }
    *b = BreakerRecord::default();
    Some(Transition::Closed)
}

/// Whether an open breaker may try a held event at `now_ms`.
pub fn trial_due(b: &BreakerRecord, now_ms: u64) -> bool {
    b.state == BreakerState::Open && b.retry_at_ms.is_some_and(|t| now_ms >= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_in_the_window_and_backs_off_exponentially() {
        let s = BreakerSettings::default();
        let mut b = BreakerRecord::default();
        for t in [0, 10_000, 20_000, 30_000] {
            assert_eq!(record_failure(&mut b, t, &s), None);
        }
        assert_eq!(
            record_failure(&mut b, 40_000, &s),
            Some(Transition::Opened {
                retry_at_ms: 70_000,
                backoff_ms: 30_000
            })
        );
        assert!(!trial_due(&b, 69_999));
        assert!(trial_due(&b, 70_000));
        b.state = BreakerState::HalfOpen;
        assert_eq!(
            record_failure(&mut b, 70_000, &s),
            Some(Transition::Opened {
                retry_at_ms: 130_000,
                backoff_ms: 60_000
            })
        );
        b.state = BreakerState::HalfOpen;
        assert_eq!(record_success(&mut b), Some(Transition::Closed));
        assert_eq!(b, BreakerRecord::default());
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let s = BreakerSettings::default();
        let mut b = BreakerRecord::default();
        for t in [0, 1, 2, 3] {
            record_failure(&mut b, t, &s);
        }
        assert_eq!(
            record_failure(&mut b, 60_004, &s),
            None,
            "the first four are older than the window"
        );
        assert_eq!(b.recent_failures.len(), 1);
    }

    #[test]
    fn backoff_is_capped() {
        let s = BreakerSettings::default();
        let mut b = BreakerRecord {
            trips: 40,
            state: BreakerState::HalfOpen,
            ..BreakerRecord::default()
        };
        match record_failure(&mut b, 0, &s) {
            Some(Transition::Opened { backoff_ms, .. }) => assert_eq!(backoff_ms, 3_600_000),
            other => panic!("{other:?}"),
        }
    }
}
