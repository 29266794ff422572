//! Pure spam detection: counting links, normalising text, and a per-author history of recent
//! messages for spotting repeats.

use serde::{Deserialize, Serialize};

/// Most entries kept in one author's [`History`].
pub const MAX_HISTORY: usize = 20;

/// Counts links in `text`: every `http://` or `https://`, plus every `www.` that does not
/// continue a word or URL (so `https://www.example.com` counts once).
pub fn count_links(text: &str) -> usize {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut links = 0;
    for i in 0..bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"http://") || rest.starts_with(b"https://") {
            links += 1;
        } else if rest.starts_with(b"www.") {
            let continues = i > 0 && {
                let before = bytes[i - 1];
                before.is_ascii_alphanumeric() || matches!(before, b'/' | b'.' | b'-' | b'_' | b'@')
            };
            if !continues {
                links += 1;
            }
        }
    }
    links
}

/// The text reduced to what makes two messages "the same": lowercase words of letters and
/// digits separated by single spaces (`"Buy NOW!!!"` and `"buy now"` match).
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A short, stable fingerprint of normalised text (64-bit FNV-1a, as 16 hex digits), so the
/// history stores no message content.
pub fn fingerprint(normalised: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in normalised.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// One remembered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// [`fingerprint`] of its normalised text.
    pub fp: String,
    /// When it was sent, in ms since the Unix epoch.
    pub at: u64,
}

/// An author's recent messages, oldest first (stored as JSON in KV).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The remembered messages.
    pub recent: Vec<Seen>,
}

impl History {
    /// True if a message with fingerprint `fp` was remembered within `window_ms` before
    /// `at_ms` (or stamped later than it, e.g. with skewed clocks).
    pub fn is_repeat(&self, fp: &str, at_ms: u64, window_ms: u64) -> bool {
        self.recent
            .iter()
            .any(|s| s.fp == fp && at_ms.saturating_sub(s.at) <= window_ms)
    }

    /// Remembers a message sent at `at_ms`, forgetting entries older than `window_ms` and
    /// keeping at most [`MAX_HISTORY`].
    pub fn record(&mut self, fp: String, at_ms: u64, window_ms: u64) {
        self.recent.retain(|s| at_ms.saturating_sub(s.at) <= window_ms);
        self.recent.push(Seen { fp, at: at_ms });
        let excess = self.recent.len().saturating_sub(MAX_HISTORY);
        self.recent.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_schemes_and_bare_www() {
        assert_eq!(count_links("no links here, just www and http"), 0);
        assert_eq!(count_links("see https://example.com"), 1);
        assert_eq!(count_links("HTTPS://WWW.EXAMPLE.COM and www.rust-lang.org"), 2);
        assert_eq!(count_links("[a](https://x.io)[b](http://y.io)"), 2);
        assert_eq!(count_links("http://a.comhttp://b.com"), 2);
        assert_eq!(count_links("mail me at bob@www.example.com or visit awww.fake"), 0);
        assert_eq!(count_links("www.a.com www.b.com www.c.com www.d.com"), 4);
        assert_eq!(count_links("ünïcødé https://ä.example 🦀 www.x.y"), 2);
    }

    #[test]
    fn normalising_ignores_case_punctuation_and_spacing() {
        assert_eq!(normalise("  Buy NOW!!!   cheap  "), "buy now cheap");
        assert_eq!(normalise("buy-now cheap"), normalise("BUY now... cheap!"));
        assert_eq!(normalise("Grüße, WELT"), "grüße welt");
        assert_eq!(normalise("!!! ???"), "");
        assert_ne!(normalise("buy now"), normalise("buy snow"));
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        // FNV-1a test vectors.
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint("buy now"), fingerprint("buy snow"));
    }

    #[test]
    fn history_spots_repeats_within_the_window_only() {
        let mut h = History::default();
        h.record("aa".into(), 1_000, 30_000);
        assert!(h.is_repeat("aa", 1_000, 30_000));
        assert!(h.is_repeat("aa", 31_000, 30_000));
        assert!(!h.is_repeat("aa", 31_001, 30_000));
        assert!(!h.is_repeat("bb", 2_000, 30_000));
        // A timestamp earlier than the remembered one still counts as within the window.
        assert!(h.is_repeat("aa", 500, 30_000));
    }

    #[test]
    fn history_prunes_old_entries_and_caps_its_size() {
        let mut h = History::default();
        h.record("old".into(), 0, 10);
        h.record("new".into(), 100, 10);
        assert_eq!(h.recent.len(), 1);
        assert_eq!(h.recent[0].fp, "new");
        for i in 0..(MAX_HISTORY as u64 + 5) {
            h.record(format!("m{i}"), 100 + i, 1_000);
        }
        assert_eq!(h.recent.len(), MAX_HISTORY);
        assert_eq!(h.recent.last().unwrap().fp, format!("m{}", MAX_HISTORY + 4));
        assert!(!h.recent.iter().any(|s| s.fp == "new"));
    }
}
