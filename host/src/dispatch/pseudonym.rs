//! Per-plugin pseudonyms for members.
//!
//! Without `members:identity` a plugin never sees a platform member id: every id in the events
//! it receives and the profiles it reads is replaced by a pseudonym that is stable for one
//! (community, plugin) and differs between plugins and communities, so two plugins cannot join
//! their data on members. The store remembers each pseudonym so the host can map it back when
//! the plugin acts on a member (kick, mute, profile).

use crate::hash::HashMap;

use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind, Message, Pin, Reaction};

/// Derives pseudonyms with a host secret.
#[derive(Clone)]
pub struct Pseudonyms {
    secret: [u8; 32],
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    /// Pseudonyms keyed by `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        Pseudonyms { secret }
    }

    /// A fresh random secret (from the OS).
    pub fn random_secret() -> std::io::Result<[u8; 32]> {
        use std::io::Read;
        let mut secret = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
        Ok(secret)
    }

    /// The pseudonym of `member` as `plugin` sees it in `community`.
    pub fn of(&self, community: &str, plugin: &str, member: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.secret[..],
            community.as_bytes(),
            &[0],
            plugin.as_bytes(),
            &[0],
            member.as_bytes(),
        ] {
            h.update(part);
        }
        format!("m-{}", &hex::encode(h.finalize())[..20])
    }
}

/// The pseudonyms this process already stored, by community, plugin and member, so the event
/// path derives (SHA-256) and writes each one once rather than with every event. Bounded: it
/// starts over past [`Self::MAX`] entries (a forgotten one is only derived and written again,
/// which the store ignores). The SQLite store writes them in the open delivery group, which a
/// failed commit loses: once the store has lost a group, all of this is forgotten.
#[derive(Default)]
pub struct Remembered {
    stored: std::sync::Mutex<Stored>,
}

#[derive(Default)]
struct Stored {
    /// Community → plugin → member → pseudonym: nested so lookups borrow the ids.
    map: HashMap<String, HashMap<String, HashMap<String, String>>>,
    len: usize,
    /// The store's lost groups ([`lost_groups`]) when these were known to be stored.
    lost: u64,
}

impl Stored {
    /// Nothing remembered, as of `lost` lost groups.
    fn empty(lost: u64) -> Self {
        Stored {
            lost,
            ..Stored::default()
        }
    }
}

/// How many groups of writes the stores of this process lost (see [`Remembered`]).
pub fn lost_groups() -> u64 {
    crate::storage::sqlite::lost_groups()
}

impl Remembered {
    /// About 100 bytes an entry: a few MiB at most.
    const MAX: usize = 1 << 16;

    /// The pseudonym stored for `member` of (community, plugin), if this process stored it.
    pub fn get(&self, community: &str, plugin: &str, member: &str) -> Option<String> {
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let lost = lost_groups();
        if stored.lost != lost {
            *stored = Stored::empty(lost);
        }
        stored.map.get(community)?.get(plugin)?.get(member).cloned()
    }

    /// Marks (pseudonym, member) pairs as stored for (community, plugin) by a write that began
    /// when the store had lost `lost_before` groups ([`lost_groups`]).
    pub fn stored(&self, community: &str, plugin: &str, pairs: &[(String, String)], lost_before: u64) {
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let lost = lost_groups();
        if lost != lost_before {
            // The write may have been in a lost group: not known to be stored.
            *stored = Stored::empty(lost);
            return;
        }
        // A loss nobody noticed yet voids what was remembered before it, not this write.
        if stored.lost != lost || stored.len + pairs.len() > Self::MAX {
            *stored = Stored::empty(lost);
        }
        stored.len += pairs.len();
        let members = stored
            .map
            .entry(community.to_string())
            .or_default()
            .entry(plugin.to_string())
            .or_default();
        for (pseudonym, member) in pairs {
            members.insert(member.clone(), pseudonym.clone());
        }
    }

    /// Forgets everything (an install was removed, and the store with it its pseudonyms).
    pub fn clear(&self) {
        *self.stored.lock().unwrap_or_else(|e| e.into_inner()) = Stored::empty(lost_groups());
    }
}

/// Rewrites every member id in `event` with `map`, in place: the other fields are not copied.
pub fn map_event(mut event: Event, map: &mut dyn FnMut(&str) -> String) -> Event {
    let mut m = |id: &mut String| *id = map(id);
    match &mut event.kind {
        EventKind::MemberJoined { member, invited_by } => {
            m(&mut member.id);
            invited_by.iter_mut().for_each(&mut m);
        }
        EventKind::MemberLeft { member, removed: _ } => m(member),
        EventKind::MemberUpdated { member } => m(&mut member.id),
        EventKind::MessagePosted(Message { author, mentions, .. })
        | EventKind::MessageEdited { author, mentions, .. } => {
            m(author);
            mentions.iter_mut().for_each(&mut m);
        }
        EventKind::MessageDeleted { deleted_by, .. } => m(deleted_by),
        EventKind::MessagePinned(Pin {
            member, message_author, ..
        })
        | EventKind::MessageUnpinned(Pin {
            member, message_author, ..
        })
        | EventKind::ReactionAdded(Reaction {
            member, message_author, ..
        })
        | EventKind::ReactionRemoved(Reaction {
            member, message_author, ..
        }) => {
            m(member);
            message_author.iter_mut().for_each(&mut m);
        }
        EventKind::MemberMuted { member, moderator, .. } | EventKind::MemberBanned { member, moderator, .. } => {
            m(member);
            m(moderator);
        }
        EventKind::CommandInvoked { member, .. } => m(member),
        // Named one by one so that a new event kind with member ids cannot slip past.
        EventKind::PluginInstalled { .. }
        | EventKind::PluginUninstalled
        | EventKind::ConfigChanged { .. }
        | EventKind::PluginUpgraded { .. }
        | EventKind::TimerFired { .. } => {}
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_may_have_been_lost_is_not_remembered() {
        let remembered = Remembered::default();
        let pair = [("m-1".to_string(), "alice".to_string())];
        remembered.stored("c", "poll", &pair, lost_groups());
        assert_eq!(remembered.get("c", "poll", "alice").as_deref(), Some("m-1"));
        // The store lost a group between the write and this mark (other tests may lose
        // groups too, which only makes the memory forget more).
        remembered.stored("c", "poll", &pair, lost_groups().wrapping_sub(1));
        assert_eq!(remembered.get("c", "poll", "alice"), None);
    }

    #[test]
    fn a_write_after_an_unnoticed_loss_is_kept_and_older_ones_forgotten() {
        let remembered = Remembered::default();
        let alice = [("m-1".to_string(), "alice".to_string())];
        let bob = [("m-2".to_string(), "bob".to_string())];
        remembered.stored("c", "poll", &alice, lost_groups());
        // As if a group was lost after alice's write and before bob's began.
        remembered.stored.lock().unwrap().lost = lost_groups().wrapping_sub(1);
        remembered.stored("c", "poll", &bob, lost_groups());
        assert_eq!(remembered.get("c", "poll", "alice"), None);
        assert_eq!(remembered.get("c", "poll", "bob").as_deref(), Some("m-2"));
    }

    #[test]
    fn stable_per_plugin_and_community_and_distinct_across_them() {
        let p = Pseudonyms::new([7; 32]);
        let a = p.of("c", "poll", "alice");
        assert_eq!(a, p.of("c", "poll", "alice"));
        assert!(a.starts_with("m-") && a.len() == 22);
        assert_ne!(a, p.of("c", "welcome", "alice"));
        assert_ne!(a, p.of("d", "poll", "alice"));
        assert_ne!(a, p.of("c", "poll", "bob"));
        assert_ne!(a, Pseudonyms::new([8; 32]).of("c", "poll", "alice"));
    }

    /// Every kind with member ids, each written with real ids and with the mapped ones: only
    /// member fields change.
    #[test]
    fn maps_the_member_fields_of_every_event_kind() {
        let pairs = [
            (
                r#"{"type":"member-joined","member":{"id":"alice","display_name":"alice","roles":["alice"]},"invited_by":"bob"}"#,
                r#"{"type":"member-joined","member":{"id":"x-alice","display_name":"alice","roles":["alice"]},"invited_by":"x-bob"}"#,
            ),
            (
                r#"{"type":"member-left","member":"alice","removed":true}"#,
                r#"{"type":"member-left","member":"x-alice","removed":true}"#,
            ),
            (
                r#"{"type":"member-updated","member":{"id":"alice","display_name":"Al","is_bot":true}}"#,
                r#"{"type":"member-updated","member":{"id":"x-alice","display_name":"Al","is_bot":true}}"#,
            ),
            (
                r#"{"type":"message-edited","channel":"g","message_id":"alice","author":"alice","text":"bob","mentions":["bob","carol"],"reply_to":"bob","previous_text":"alice"}"#,
                r#"{"type":"message-edited","channel":"g","message_id":"alice","author":"x-alice","text":"bob","mentions":["x-bob","x-carol"],"reply_to":"bob","previous_text":"alice"}"#,
            ),
            (
                r#"{"type":"message-deleted","channel":"g","message_id":"m1","deleted_by":"bob"}"#,
                r#"{"type":"message-deleted","channel":"g","message_id":"m1","deleted_by":"x-bob"}"#,
            ),
            (
                r#"{"type":"reaction-added","channel":"g","message_id":"m1","member":"alice","emoji":"bob","message_author":"bob"}"#,
                r#"{"type":"reaction-added","channel":"g","message_id":"m1","member":"x-alice","emoji":"bob","message_author":"x-bob"}"#,
            ),
            (
                r#"{"type":"reaction-removed","channel":"g","message_id":"m1","member":"alice","emoji":"+1"}"#,
                r#"{"type":"reaction-removed","channel":"g","message_id":"m1","member":"x-alice","emoji":"+1"}"#,
            ),
            (
                r#"{"type":"message-pinned","channel":"g","message_id":"m1","member":"alice","message_author":"bob"}"#,
                r#"{"type":"message-pinned","channel":"g","message_id":"m1","member":"x-alice","message_author":"x-bob"}"#,
            ),
            (
                r#"{"type":"message-unpinned","channel":"g","message_id":"m1","member":"alice"}"#,
                r#"{"type":"message-unpinned","channel":"g","message_id":"m1","member":"x-alice"}"#,
            ),
            (
                r#"{"type":"member-muted","member":"alice","moderator":"bob","duration_ms":5,"reason":"alice"}"#,
                r#"{"type":"member-muted","member":"x-alice","moderator":"x-bob","duration_ms":5,"reason":"alice"}"#,
            ),
            (
                r#"{"type":"member-banned","member":"alice","moderator":"bob","reason":"bob"}"#,
                r#"{"type":"member-banned","member":"x-alice","moderator":"x-bob","reason":"bob"}"#,
            ),
            (
                r#"{"type":"command-invoked","channel":"g","member":"alice","name":"alice","args":["bob"],"message_id":"alice"}"#,
                r#"{"type":"command-invoked","channel":"g","member":"x-alice","name":"alice","args":["bob"],"message_id":"alice"}"#,
            ),
        ];
        let mut d = crate::event::EventDefaults::new("c", 0);
        for (real, mapped) in pairs {
            let (real, mapped) = (d.parse(real, "t").unwrap(), d.parse(mapped, "t").unwrap());
            let got = map_event(real.clone(), &mut |id| format!("x-{id}"));
            assert_eq!(got.meta, real.meta);
            assert_eq!(got.kind, mapped.kind, "{}", real.kind.type_name());
        }
    }

    #[test]
    fn maps_every_member_field() {
        let mut d = crate::event::EventDefaults::new("c", 0);
        let e = d
            .parse(
                r#"{"type":"message-posted","channel":"g","message_id":"m1","author":"alice","text":"hi @bob","mentions":["bob"]}"#,
                "t",
            )
            .unwrap();
        let mapped = map_event(e, &mut |id| format!("x-{id}"));
        match mapped.kind {
            EventKind::MessagePosted(m) => {
                assert_eq!(m.author, "x-alice");
                assert_eq!(m.mentions, ["x-bob"]);
                assert_eq!(m.message_id, "m1");
                assert_eq!(m.text, "hi @bob");
            }
            other => panic!("{other:?}"),
        }
    }
}
