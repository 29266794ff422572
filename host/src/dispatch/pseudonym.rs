//! Per-plugin pseudonyms for members.
//!
//! Without `members:identity` a plugin never sees a platform member id: every id in the events
//! it receives and the profiles it reads is replaced by a pseudonym that is stable for one
//! (community, plugin) and differs between plugins and communities, so two plugins cannot join
//! their data on members. The store remembers each pseudonym so the host can map it back when
//! the plugin acts on a member (kick, mute, profile).

use foldhash::HashMap;

use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind, MemberProfile, Message, Pin, Reaction};

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

/// Rewrites every member id in `event` with `map`, collecting (pseudonym, member) pairs.
pub fn map_event(event: &Event, map: &mut dyn FnMut(&str) -> String) -> Event {
    let mut m = |id: &String| map(id);
    let profile = |p: &MemberProfile, m: &mut dyn FnMut(&String) -> String| MemberProfile {
        id: m(&p.id),
        ..p.clone()
    };
    let message = |msg: &Message, m: &mut dyn FnMut(&String) -> String| Message {
        author: m(&msg.author),
        mentions: msg.mentions.iter().map(&mut *m).collect(),
        ..msg.clone()
    };
    let reaction = |r: &Reaction, m: &mut dyn FnMut(&String) -> String| Reaction {
        member: m(&r.member),
        message_author: r.message_author.as_ref().map(&mut *m),
        ..r.clone()
    };
    let pin = |p: &Pin, m: &mut dyn FnMut(&String) -> String| Pin {
        member: m(&p.member),
        message_author: p.message_author.as_ref().map(&mut *m),
        ..p.clone()
    };
    let kind = match &event.kind {
        EventKind::MemberJoined { member, invited_by } => EventKind::MemberJoined {
            member: profile(member, &mut m),
            invited_by: invited_by.as_ref().map(&mut m),
        },
        EventKind::MemberLeft { member, removed } => EventKind::MemberLeft {
            member: m(member),
            removed: *removed,
        },
        EventKind::MemberUpdated { member } => EventKind::MemberUpdated {
            member: profile(member, &mut m),
        },
        EventKind::MessagePosted(msg) => EventKind::MessagePosted(message(msg, &mut m)),
        EventKind::MessageEdited {
            channel,
            message_id,
            author,
            text,
            mentions,
            reply_to,
            previous_text,
        } => EventKind::MessageEdited {
            channel: channel.clone(),
            message_id: message_id.clone(),
            author: m(author),
            text: text.clone(),
            mentions: mentions.iter().map(&mut m).collect(),
            reply_to: reply_to.clone(),
            previous_text: previous_text.clone(),
        },
        EventKind::MessageDeleted {
            channel,
            message_id,
            deleted_by,
        } => EventKind::MessageDeleted {
            channel: channel.clone(),
            message_id: message_id.clone(),
            deleted_by: m(deleted_by),
        },
        EventKind::MessagePinned(p) => EventKind::MessagePinned(pin(p, &mut m)),
        EventKind::MessageUnpinned(p) => EventKind::MessageUnpinned(pin(p, &mut m)),
        EventKind::ReactionAdded(r) => EventKind::ReactionAdded(reaction(r, &mut m)),
        EventKind::ReactionRemoved(r) => EventKind::ReactionRemoved(reaction(r, &mut m)),
        EventKind::MemberMuted {
            member,
            moderator,
            duration_ms,
            reason,
        } => EventKind::MemberMuted {
            member: m(member),
            moderator: m(moderator),
            duration_ms: *duration_ms,
            reason: reason.clone(),
        },
        EventKind::MemberBanned {
            member,
            moderator,
            reason,
        } => EventKind::MemberBanned {
            member: m(member),
            moderator: m(moderator),
            reason: reason.clone(),
        },
        EventKind::CommandInvoked {
            channel,
            member,
            name,
            args,
            message_id,
        } => EventKind::CommandInvoked {
            channel: channel.clone(),
            member: m(member),
            name: name.clone(),
            args: args.clone(),
            message_id: message_id.clone(),
        },
        other => other.clone(),
    };
    Event {
        meta: event.meta.clone(),
        kind,
    }
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

    #[test]
    fn maps_every_member_field() {
        let mut d = crate::event::EventDefaults::new("c", 0);
        let e = d
            .parse(
                r#"{"type":"message-posted","channel":"g","message_id":"m1","author":"alice","text":"hi @bob","mentions":["bob"]}"#,
                "t",
            )
            .unwrap();
        let mapped = map_event(&e, &mut |id| format!("x-{id}"));
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
