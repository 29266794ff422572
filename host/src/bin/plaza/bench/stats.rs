//! What a benchmark run measured, and how runs are summarised: events/s and latency
//! percentiles per run, the median run of several, and ratios between figures of one run.

use std::time::Duration;

use serde::Serialize;

/// One timed run: how many events, how long, and each event's latency.
pub struct Run {
    pub events: u64,
    pub elapsed: Duration,
    pub latencies_ns: Vec<u64>,
}

impl Run {
    /// Summarises a run (sorts its latencies).
    pub fn summary(mut self) -> RunSummary {
        self.latencies_ns.sort_unstable();
        let l = &self.latencies_ns;
        RunSummary {
            events: self.events,
            events_per_s: self.events as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50_us: percentile(l, 50.0) as f64 / 1e3,
            p99_us: percentile(l, 99.0) as f64 / 1e3,
            p999_us: percentile(l, 99.9) as f64 / 1e3,
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // In tenths of a percent, in integers: 99.9 % of 1 000 is rank 999, not 1 000 by rounding.
    let tenths = (p * 10.0).round() as usize;
    let rank = (tenths * sorted.len()).div_ceil(1000);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A run's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunSummary {
    pub events: u64,
    pub events_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// One measured configuration: its runs and the median of each figure over them.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub runs: Vec<RunSummary>,
    pub median: RunSummary,
    /// Peak resident memory of the process that ran it, when known (MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
}

impl Figure {
    pub fn new(name: impl Into<String>, runs: Vec<RunSummary>) -> Self {
        let med = |f: fn(&RunSummary) -> f64| median(runs.iter().map(f).collect());
        let median = RunSummary {
            events: runs.first().map_or(0, |r| r.events),
            events_per_s: med(|r| r.events_per_s),
            p50_us: med(|r| r.p50_us),
            p99_us: med(|r| r.p99_us),
            p999_us: med(|r| r.p999_us),
        };
        Figure {
            name: name.into(),
            runs,
            median,
            peak_rss_mib: None,
        }
    }

    pub fn with_rss(mut self, mib: Option<f64>) -> Self {
        self.peak_rss_mib = mib;
        self
    }
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Resident set size of this process now, from /proc (Linux), in MiB.
pub fn rss_mib() -> Option<f64> {
    proc_status_kib("VmRSS:").map(|kib| kib / 1024.0)
}

/// Peak resident set size of this process so far, in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib / 1024.0)
}

fn proc_status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `measure` `runs` times and summarises each run.
pub fn repeat(runs: usize, mut measure: impl FnMut() -> anyhow::Result<Run>) -> anyhow::Result<Vec<RunSummary>> {
    (0..runs).map(|_| measure().map(Run::summary)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_and_medians() {
        let values: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&values, 50.0), 500);
        assert_eq!(percentile(&values, 99.0), 990);
        assert_eq!(percentile(&values, 99.9), 999);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
