//! The events a database store appended last, by their stored JSON text, so that reading an
//! entry back right after appending it (an install's pump, usually within milliseconds) does
//! not parse and check the text again: decoding is ~13 % of the instructions of a durable
//! delivery (BENCHMARKS.md, P6).
//!
//! Keyed by the whole text, it needs no invalidation: an event is remembered only once
//! [`encode_event`](super::log::encode_event) has checked that its text decodes back to it,
//! so a hit answers exactly what decoding the row would. A row that does not match byte for
//! byte (another process wrote it, a damaged row, an entry older than the window) is decoded.
//! Shared by every store of the process, bounded, oldest forgotten first.

use crate::hash::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use crate::event::Event;

/// How many appended events are kept: enough for every install of a busy host to read its
/// entries back from memory while its pumps run several seconds behind intake (a burst), at
/// about a kilobyte each. At 1 024, pumps 1 000 events behind an `accept` burst decoded half
/// of what they read (callgrind, `plaza bench profile --durable --events 2000`).
const CAPACITY: usize = 8192;

#[derive(Default)]
struct Recent {
    events: HashMap<Arc<str>, Event>,
    order: VecDeque<Arc<str>>,
}

static RECENT: LazyLock<Mutex<Recent>> = LazyLock::new(Mutex::default);

/// Remembers that `text` decodes to `event` (checked by the caller).
pub(super) fn remember(text: &str, event: &Event) {
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if recent.events.contains_key(text) {
        return;
    }
    if recent.order.len() == CAPACITY {
        if let Some(oldest) = recent.order.pop_front() {
            recent.events.remove(&oldest);
        }
    }
    let key: Arc<str> = text.into();
    recent.order.push_back(key.clone());
    recent.events.insert(key, event.clone());
}

/// The event `text` decodes to, if it was appended recently.
pub(super) fn recall(text: &str) -> Option<Event> {
    RECENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .events
        .get(text)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, EventMeta};

    fn event(id: &str) -> Event {
        Event {
            meta: EventMeta {
                id: id.to_string(),
                community: "recent-test".into(),
                sequence: 1,
                timestamp_ms: 1,
                attempt: 1,
            },
            kind: EventKind::PluginUninstalled,
        }
    }

    #[test]
    fn remembers_by_exact_text_and_forgets_the_oldest() {
        let first = event("recent-first");
        remember("text of recent-first", &first);
        assert_eq!(recall("text of recent-first"), Some(first));
        assert_eq!(recall("text of recent-first "), None, "the whole text is the key");
        for i in 0..CAPACITY {
            remember(&format!("filler {i}"), &event(&format!("filler-{i}")));
        }
        assert_eq!(recall("text of recent-first"), None, "pushed out by newer ones");
        assert!(RECENT.lock().unwrap().events.len() <= CAPACITY);
    }
}
