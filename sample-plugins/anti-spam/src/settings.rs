//! The plugin's settings: defaults, and how config entries override them.

use plaza_sdk::{config, ConfigEntry};
use serde::{Deserialize, Serialize};

/// How strict the filter is. Stored as JSON under the KV key `settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// A message with more links than this is rejected (config `max-links`, default 3).
    pub max_links: u32,
    /// The same author posting the same normalised text again within this many ms is a repeat
    /// (config `repeat-window-ms`, default 30 000; 0 turns repeat detection off).
    pub repeat_window_ms: u64,
    /// Strikes after which an author is muted (config `max-strikes`, default 3; 0: never mute).
    pub max_strikes: u32,
    /// How long a mute lasts, in ms (config `mute-ms`, default 600 000 = 10 minutes).
    pub mute_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_links: 3,
            repeat_window_ms: 30_000,
            max_strikes: 3,
            mute_ms: 600_000,
        }
    }
}

impl Settings {
    /// Settings from the install's whole configuration: each key present overrides its default.
    /// Returns warnings for values that do not parse (those keep the default).
    pub fn from_config(entries: &[ConfigEntry]) -> (Settings, Vec<String>) {
        let mut settings = Settings::default();
        let mut warnings = Vec::new();
        read(entries, "max-links", &mut settings.max_links, &mut warnings);
        read(
            entries,
            "repeat-window-ms",
            &mut settings.repeat_window_ms,
            &mut warnings,
        );
        read(entries, "max-strikes", &mut settings.max_strikes, &mut warnings);
        read(entries, "mute-ms", &mut settings.mute_ms, &mut warnings);
        (settings, warnings)
    }

    /// One line describing the settings, for `/spam stats`.
    pub fn describe(&self) -> String {
        let repeats = if self.repeat_window_ms == 0 {
            "repeat detection off".to_string()
        } else {
            format!(
                "the same text again within {} is a repeat",
                human_duration(self.repeat_window_ms)
            )
        };
        let mutes = if self.max_strikes == 0 {
            "no automatic mutes".to_string()
        } else {
            format!(
                "{} strikes mean a {} mute",
                self.max_strikes,
                human_duration(self.mute_ms)
            )
        };
        format!("at most {} links per message; {repeats}; {mutes}.", self.max_links)
    }
}

fn read<T: std::str::FromStr>(entries: &[ConfigEntry], key: &str, slot: &mut T, warnings: &mut Vec<String>) {
    match config::parse::<T>(entries, key) {
        None => {}
        Some(Ok(value)) => *slot = value,
        Some(Err(_)) => warnings.push(format!(
            "config `{key}` = {:?} is not a non-negative whole number; using the default",
            config::value(entries, key).unwrap_or_default()
        )),
    }
}

/// `90_000` → `"1 min 30 s"`, `600_000` → `"10 min"`, `1_500` → `"1.5 s"`.
pub fn human_duration(ms: u64) -> String {
    if ms < 60_000 {
        return if ms.is_multiple_of(1_000) {
            format!("{} s", ms / 1_000)
        } else {
            format!("{} s", ms as f64 / 1_000.0)
        };
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1_000 % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<ConfigEntry> {
        pairs.iter().map(|(k, v)| ConfigEntry::new(*k, *v)).collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        let (s, warnings) = Settings::from_config(&[]);
        assert_eq!(s, Settings::default());
        assert_eq!(
            (s.max_links, s.repeat_window_ms, s.max_strikes, s.mute_ms),
            (3, 30_000, 3, 600_000)
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn config_overrides_and_bad_values_warn() {
        let (s, warnings) = Settings::from_config(&entries(&[
            ("max-links", " 1 "),
            ("repeat-window-ms", "-5"),
            ("max-strikes", "0"),
            ("mute-ms", "60000"),
            ("unrelated", "x"),
        ]));
        assert_eq!(s.max_links, 1);
        assert_eq!(s.repeat_window_ms, 30_000);
        assert_eq!(s.max_strikes, 0);
        assert_eq!(s.mute_ms, 60_000);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("repeat-window-ms"));
    }

    #[test]
    fn stored_json_missing_fields_uses_defaults() {
        let s: Settings = serde_json::from_str(r#"{"max_links":7}"#).unwrap();
        assert_eq!(s.max_links, 7);
        assert_eq!(s.mute_ms, 600_000);
    }

    #[test]
    fn durations_and_description_read_well() {
        assert_eq!(human_duration(30_000), "30 s");
        assert_eq!(human_duration(1_500), "1.5 s");
        assert_eq!(human_duration(600_000), "10 min");
        assert_eq!(human_duration(5_430_000), "1 h 30 min 30 s");
        assert_eq!(
            Settings::default().describe(),
            "at most 3 links per message; the same text again within 30 s is a repeat; 3 strikes mean a 10 min mute."
        );
        let off = Settings {
            repeat_window_ms: 0,
            max_strikes: 0,
            ..Settings::default()
        };
        assert_eq!(
            off.describe(),
            "at most 3 links per message; repeat detection off; no automatic mutes."
        );
    }
}
