//! A scenario's outcome: its figures side by side, the ratios between them with their targets,
//! and how it is printed (a table) or saved (`--json`).

use serde::Serialize;

use super::stats::Figure;

/// A ratio between two figures of the same run, with the target it must reach.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub what: String,
    pub value: f64,
    /// At least this (`None`: reported only).
    pub target: Option<f64>,
}

impl Ratio {
    pub fn met(&self) -> bool {
        self.target.is_none_or(|t| self.value >= t)
    }
}

/// A value with a target of its own (memory, latency, cold start, a throughput floor).
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    pub what: String,
    pub value: f64,
    pub unit: String,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    AtMost(f64),
    AtLeast(f64),
}

impl Bound {
    pub fn at_most(what: impl Into<String>, value: f64, unit: &str, max: f64) -> Self {
        Bound {
            what: what.into(),
            value,
            unit: unit.into(),
            limit: Limit::AtMost(max),
        }
    }

    pub fn at_least(what: impl Into<String>, value: f64, unit: &str, min: f64) -> Self {
        Bound {
            what: what.into(),
            value,
            unit: unit.into(),
            limit: Limit::AtLeast(min),
        }
    }

    pub fn met(&self) -> bool {
        match self.limit {
            Limit::AtMost(max) => self.value <= max,
            Limit::AtLeast(min) => self.value >= min,
        }
    }
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub figures: Vec<Figure>,
    pub ratios: Vec<Ratio>,
    pub bounds: Vec<Bound>,
    /// How it was measured, and anything the figures need to be read right.
    pub notes: Vec<String>,
}

impl Scenario {
    pub fn new(id: &str, title: &str) -> Self {
        Scenario {
            id: id.into(),
            title: title.into(),
            figures: Vec::new(),
            ratios: Vec::new(),
            bounds: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The median events/s of the figure called `name`.
    pub fn rate(&self, name: &str) -> f64 {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(0.0, |f| f.median.events_per_s)
    }

    /// Adds the ratio of two of its figures' events/s.
    pub fn ratio(&mut self, what: &str, numerator: &str, denominator: &str, target: Option<f64>) {
        let value = self.rate(numerator) / self.rate(denominator).max(1e-9);
        self.ratios.push(Ratio {
            what: what.into(),
            value,
            target,
        });
    }

    pub fn met(&self) -> bool {
        self.ratios.iter().all(Ratio::met) && self.bounds.iter().all(Bound::met)
    }

    pub fn print(&self) {
        println!("\n{} — {}", self.id, self.title);
        for f in &self.figures {
            let m = &f.median;
            let rss = f
                .peak_rss_mib
                .map(|r| format!("  peak RSS {r:.0} MiB"))
                .unwrap_or_default();
            println!(
                "  {:<44} {:>11.0} events/s   p50 {:>8.1} µs  p99 {:>8.1} µs  p999 {:>8.1} µs{rss}",
                f.name, m.events_per_s, m.p50_us, m.p99_us, m.p999_us
            );
        }
        for r in &self.ratios {
            let target = match r.target {
                Some(t) => format!("target ≥ {t:.2}  {}", verdict(r.met())),
                None => "reported".into(),
            };
            println!("  ratio {:<38} {:>8.2} ×   {target}", r.what, r.value);
        }
        for b in &self.bounds {
            let (sign, limit) = match b.limit {
                Limit::AtMost(max) => ("≤", max),
                Limit::AtLeast(min) => ("≥", min),
            };
            println!(
                "  {:<44} {:>10.2} {}   target {sign} {limit} {}  {}",
                b.what,
                b.value,
                b.unit,
                b.unit,
                verdict(b.met())
            );
        }
        for n in &self.notes {
            println!("  · {n}");
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}
