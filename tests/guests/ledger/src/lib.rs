//! Test-only guest for durable delivery. For each `reaction-added` event it keeps a ledger in its
//! KV store and posts one message, so a test can read back, after any number of host crashes,
//! whether every event took effect exactly once and in log order:
//!
//! - `last-seq`: the sequence of the last event that took effect;
//! - `count`: how many events took effect;
//! - `seen:{event id}`: the attempt that took effect;
//! - `disorder:{sequence}` = the `last-seq` found, when an event is not `last-seq + 1` (a gap, a
//!   reordering, or an already committed event delivered again);
//! - `dup:{event id}` = the attempt, when `seen:{event id}` already existed (it took effect twice);
//!
//! plus one message with the event id as text in channel `ledger` (effects besides KV must also
//! happen once). Events whose id hashes to 0 modulo [`FAIL_MODULUS`] fail their first attempt
//! *after* making all those host calls, so the host must discard the buffered effects and retry.

use plaza_sdk::prelude::*;

/// The plugin.
pub struct Ledger;

/// The name the component describes itself as. It sits in a static (read through `black_box`,
/// so the bytes stay in the data segment instead of being folded into code): a plugin's manifest
/// id must match its `describe` name, so tests install a second copy under another name by
/// replacing these bytes in a copy of the component (same length, nothing else moves).
static NAME: [u8; 8] = *b"ledger-a";

/// One in this many event ids fails its first attempt.
pub const FAIL_MODULUS: u64 = 23;

/// 64-bit FNV-1a of `text`: a stable hash the tests compute too, to know which events fail.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Whether the first attempt of this event fails on purpose.
pub fn fails_first_attempt(event_id: &str) -> bool {
    fnv1a(event_id).is_multiple_of(FAIL_MODULUS)
}

impl Plugin for Ledger {
    fn info() -> PluginInfo {
        let name = core::str::from_utf8(std::hint::black_box(&NAME)).expect("the name is UTF-8");
        PluginInfo::new(
            name,
            "0.1.0",
            "Records every delivery, so tests can prove exactly-once delivery.",
        )
    }

    fn on_reaction_added(meta: &EventMeta, _reaction: Reaction) -> Result<(), HandlerError> {
        let id = &meta.event_id;
        // In-order, gap-free delivery: each event must follow the last one that took effect.
        let last = kv::get_i64("last-seq")?.unwrap_or(0);
        if meta.sequence != last as u64 + 1 {
            kv::set_string(&format!("disorder:{}", meta.sequence), &last.to_string())?;
        }
        // Exactly once: an event that already took effect must never take effect again.
        let seen = format!("seen:{id}");
        if kv::get(&seen)?.is_some() {
            kv::set_string(&format!("dup:{id}"), &meta.attempt.to_string())?;
        }
        // Which attempt took effect: shows that failed first attempts were retried.
        kv::set_string(&seen, &meta.attempt.to_string())?;
        kv::set_string("last-seq", &meta.sequence.to_string())?;
        // Cross-check of the per-event keys, cheap to read.
        kv::increment("count", 1)?;
        // A visible effect, which goes to the outbox: it must be committed once too.
        messaging::send("ledger", id)?;
        if meta.attempt == 1 && fails_first_attempt(id) {
            // Fail after the host calls, both ways a handler can fail, so the host must throw
            // away everything above and deliver the event again (the error says a retry may
            // succeed; a non-retryable one would be dead-lettered at once).
            if fnv1a(id).is_multiple_of(2) {
                let message = format!("{id} fails its first attempt");
                return Err(HandlerError::new("ledger-first-attempt", message).retryable());
            }
            panic!("{id} traps on its first attempt");
        }
        Ok(())
    }
}

export_plugin!(Ledger);
