//! The behaviour every [`Store`] shares, as suites run against each backend ([`MemoryStore`],
//! [`SqliteStore`] in memory and on disk), plus a randomised differential test that replays the
//! same operations on two stores and compares everything they answer.

use super::admin::{
    AuditEntry, AuditQuery, BreakerRecord, BreakerState, CommunityRecord, InstallRecord, LimitOverrides,
    PendingUpgrade, PluginPackage, ReviewFailPolicy, StoreError,
};
use super::log::{Appended, AttemptFailure, Commit, Cursor, DeadLetter, LogEntry, NewEntry, OutboxEntry};
use super::memory::MemoryStore;
use super::secrets::SealedSecret;
use super::sqlite::SqliteStore;
use super::{MemberStanding, Store, StoredMessage, Timer};
use crate::capability::{Capability, GrantSet};
use crate::effects::{Action, KvValue};
use crate::event::{ConfigEntry, Event, EventKind, EventMeta, MemberProfile, Message, Reaction};

// Helpers ---------------------------------------------------------------------------------------

pub(super) fn event(community: &str, timestamp_ms: u64, kind: EventKind) -> Event {
    Event {
        meta: EventMeta {
            id: format!("e{timestamp_ms}"),
            community: community.to_string(),
            sequence: 1,
            timestamp_ms,
            attempt: 1,
        },
        kind,
    }
}

pub(super) fn joined(member: MemberProfile) -> EventKind {
    EventKind::MemberJoined {
        member,
        invited_by: None,
    }
}

pub(super) fn posted(channel: &str, message_id: &str, author: &str, text: &str, reply_to: Option<&str>) -> EventKind {
    EventKind::MessagePosted(Message {
        channel: channel.into(),
        message_id: message_id.into(),
        author: author.into(),
        text: text.into(),
        mentions: Vec::new(),
        reply_to: reply_to.map(Into::into),
    })
}

pub(super) fn kv_set(key: &str, value: &[u8]) -> Action {
    Action::KvSet {
        key: key.into(),
        value: KvValue(value.to_vec()),
    }
}

pub(super) fn schedule(timer_id: &str, delay_ms: u64, every_ms: Option<u64>) -> Action {
    Action::ScheduleTimer {
        timer_id: timer_id.into(),
        name: format!("name-{timer_id}"),
        payload: format!("payload-{timer_id}"),
        delay_ms,
        every_ms,
    }
}

fn profile(id: &str, display_name: &str, roles: &[&str], is_bot: bool) -> MemberProfile {
    MemberProfile {
        id: id.into(),
        display_name: display_name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        is_bot,
    }
}

fn ids(page: &[MemberProfile]) -> Vec<&str> {
    page.iter().map(|m| m.id.as_str()).collect()
}

fn timer_ids(timers: &[Timer]) -> Vec<&str> {
    timers.iter().map(|t| t.timer_id.as_str()).collect()
}

fn message_ids(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.message_id.as_str()).collect()
}

// Community state -------------------------------------------------------------------------------

/// Every [`CommunityStore`](super::CommunityStore) method, on a fresh store.
pub(super) fn community_store_suite(store: &dyn Store) {
    members_and_standing(store);
    messages(store);
    kv(store);
    timers(store);
    moderation_effects(store);
    forget_and_pseudonyms(store);
}

fn members_and_standing(s: &dyn Store) {
    let c = "members";
    assert_eq!(s.member(c, "alice"), None);
    assert_eq!(s.members_page(c, None, 10), (vec![], false));
    assert_eq!(s.standing(c, "alice"), MemberStanding::default());

    let alice = profile("alice", "Alice", &["admin", "mod"], false);
    s.observe(&event(c, 1, joined(profile("carol", "carol", &[], false))))
        .unwrap();
    s.observe(&event(c, 2, joined(alice.clone()))).unwrap();
    s.observe(&event(c, 3, joined(profile("bob", "Bob", &[], true))))
        .unwrap();
    assert_eq!(s.member(c, "alice"), Some(alice));
    assert_eq!(s.member("elsewhere", "alice"), None);

    let (page, more) = s.members_page(c, None, 2);
    assert_eq!((ids(&page), more), (vec!["alice", "bob"], true));
    let (page, more) = s.members_page(c, Some("bob"), 2);
    assert_eq!((ids(&page), more), (vec!["carol"], false));
    let (page, more) = s.members_page(c, Some("carol"), 2);
    assert_eq!((ids(&page), more), (vec![], false));
    let (page, more) = s.members_page(c, Some("a"), 1);
    assert_eq!((ids(&page), more), (vec!["alice"], true));
    let (page, more) = s.members_page(c, None, 0);
    assert_eq!((ids(&page), more), (vec![], true));
    let (page, more) = s.members_page(c, None, usize::MAX);
    assert_eq!((ids(&page), more), (vec!["alice", "bob", "carol"], false));
    assert!(page[1].is_bot);

    let updated = profile("alice", "Alice L.", &["admin"], false);
    s.observe(&event(
        c,
        4,
        EventKind::MemberUpdated {
            member: updated.clone(),
        },
    ))
    .unwrap();
    assert_eq!(s.member(c, "alice"), Some(updated));

    s.observe(&event(
        c,
        5,
        EventKind::MemberLeft {
            member: "bob".into(),
            removed: false,
        },
    ))
    .unwrap();
    assert_eq!(s.member(c, "bob"), None);
    assert_eq!(ids(&s.members_page(c, None, 10).0), ["alice", "carol"]);

    let muted = |member: &str, duration_ms| EventKind::MemberMuted {
        member: member.into(),
        moderator: "mod".into(),
        duration_ms,
        reason: String::new(),
    };
    s.observe(&event(c, 1000, muted("carol", 500))).unwrap();
    let expected = MemberStanding {
        muted_until_ms: Some(1500),
        banned: false,
    };
    assert_eq!(s.standing(c, "carol"), expected);
    assert!(s.member(c, "carol").is_some(), "a mute keeps the member");
    // Saturates rather than overflowing, and survives storage unchanged.
    s.observe(&event(c, 1001, muted("carol", u64::MAX))).unwrap();
    assert_eq!(s.standing(c, "carol").muted_until_ms, Some(u64::MAX));

    s.observe(&event(
        c,
        1002,
        EventKind::MemberBanned {
            member: "carol".into(),
            moderator: "mod".into(),
            reason: "spam".into(),
        },
    ))
    .unwrap();
    assert_eq!(s.member(c, "carol"), None);
    let expected = MemberStanding {
        muted_until_ms: Some(u64::MAX),
        banned: true,
    };
    assert_eq!(s.standing(c, "carol"), expected);
    // A member who was never muted, only banned.
    s.observe(&event(
        c,
        1003,
        EventKind::MemberBanned {
            member: "zed".into(),
            moderator: "mod".into(),
            reason: String::new(),
        },
    ))
    .unwrap();
    let expected = MemberStanding {
        muted_until_ms: None,
        banned: true,
    };
    assert_eq!(s.standing(c, "zed"), expected);

    // Standing outlives membership: rejoining does not lift a ban.
    s.observe(&event(c, 1004, joined(MemberProfile::new("carol")))).unwrap();
    assert_eq!(s.member(c, "carol"), Some(MemberProfile::new("carol")));
    assert!(s.standing(c, "carol").banned);
    assert_eq!(s.standing("elsewhere", "carol"), MemberStanding::default());

    // Events that say nothing about members or messages change nothing.
    s.observe(&event(
        c,
        1005,
        EventKind::ReactionAdded(Reaction {
            channel: "general".into(),
            message_id: "m1".into(),
            member: "alice".into(),
            emoji: "👍".into(),
            message_author: None,
        }),
    ))
    .unwrap();
    s.observe(&event(c, 1006, EventKind::PluginUninstalled)).unwrap();
    assert_eq!(ids(&s.members_page(c, None, 10).0), ["alice", "carol"]);
    assert!(s.messages(c).is_empty());
}

fn messages(s: &dyn Store) {
    let c = "messages";
    assert!(s.messages(c).is_empty());
    assert_eq!(s.message(c, "m1"), None);

    s.observe(&event(c, 1, posted("general", "m1", "alice", "hi", None)))
        .unwrap();
    s.observe(&event(c, 2, posted("general", "m2", "bob", "hello", Some("m1"))))
        .unwrap();
    s.observe(&event(c, 3, posted("random", "m3", "carol", "", None)))
        .unwrap();
    assert_eq!(message_ids(&s.messages(c)), ["m1", "m2", "m3"]);
    let m2 = StoredMessage {
        channel: "general".into(),
        message_id: "m2".into(),
        author: "bob".into(),
        text: "hello".into(),
        reply_to: Some("m1".into()),
        posted_by_plugin: None,
        deleted: false,
    };
    assert_eq!(s.message(c, "m2"), Some(m2.clone()));
    assert_eq!(s.message("elsewhere", "m2"), None);
    assert!(s.message_live_in(c, "general", "m2"));
    assert!(!s.message_live_in(c, "random", "m2"), "another channel's message");
    assert!(!s.message_live_in(c, "general", "m9"));
    assert!(!s.message_live_in("elsewhere", "general", "m2"));
    assert!(s.messages("elsewhere").is_empty());

    let edited = |id: &str, text: &str| EventKind::MessageEdited {
        channel: "general".into(),
        message_id: id.into(),
        author: "alice".into(),
        text: text.into(),
        mentions: Vec::new(),
        reply_to: None,
        previous_text: String::new(),
    };
    s.observe(&event(c, 4, edited("m1", "hi all"))).unwrap();
    assert_eq!(s.message(c, "m1").unwrap().text, "hi all");
    s.observe(&event(c, 5, edited("m9", "ghost"))).unwrap();
    assert_eq!(s.message(c, "m9"), None, "editing an unknown message creates nothing");

    let deleted = |id: &str| EventKind::MessageDeleted {
        channel: "general".into(),
        message_id: id.into(),
        deleted_by: "mod".into(),
    };
    s.observe(&event(c, 6, deleted("m2"))).unwrap();
    assert_eq!(
        s.message(c, "m2"),
        Some(StoredMessage {
            deleted: true,
            ..m2.clone()
        })
    );
    assert!(!s.message_live_in(c, "general", "m2"), "a deleted message");
    s.observe(&event(c, 7, deleted("m9"))).unwrap();
    assert_eq!(s.message(c, "m9"), None);

    // Posting a known id again replaces the message in place.
    s.observe(&event(c, 8, posted("other", "m2", "dave", "again", None)))
        .unwrap();
    assert_eq!(message_ids(&s.messages(c)), ["m1", "m2", "m3"]);
    assert_eq!(
        s.message(c, "m2"),
        Some(StoredMessage {
            channel: "other".into(),
            message_id: "m2".into(),
            author: "dave".into(),
            text: "again".into(),
            reply_to: None,
            posted_by_plugin: None,
            deleted: false,
        })
    );

    // Plugin effects.
    s.apply(
        c,
        "bot",
        100,
        &[
            Action::SendMessage {
                channel: "general".into(),
                message_id: "msg:bot:e1:0".into(),
                text: "I am a bot".into(),
                reply_to: Some("m1".into()),
            },
            Action::EditMessage {
                channel: "general".into(),
                message_id: "m1".into(),
                text: "edited by bot".into(),
            },
            Action::DeleteMessage {
                channel: "random".into(),
                message_id: "m3".into(),
                reason: "off topic".into(),
            },
            Action::EditMessage {
                channel: "general".into(),
                message_id: "nope".into(),
                text: "x".into(),
            },
            Action::DeleteMessage {
                channel: "general".into(),
                message_id: "nope".into(),
                reason: String::new(),
            },
        ],
    )
    .unwrap();
    let all = s.messages(c);
    assert_eq!(message_ids(&all), ["m1", "m2", "m3", "msg:bot:e1:0"]);
    assert_eq!(
        all[3],
        StoredMessage {
            channel: "general".into(),
            message_id: "msg:bot:e1:0".into(),
            author: "plugin:bot".into(),
            text: "I am a bot".into(),
            reply_to: Some("m1".into()),
            posted_by_plugin: Some("bot".into()),
            deleted: false,
        }
    );
    assert_eq!(all[0].text, "edited by bot");
    assert!(all[2].deleted);
    assert_eq!(s.message(c, "nope"), None);

    // A plugin message reusing a member message's id replaces it in place.
    s.apply(
        c,
        "bot",
        200,
        &[Action::SendMessage {
            channel: "general".into(),
            message_id: "m3".into(),
            text: "replaced".into(),
            reply_to: None,
        }],
    )
    .unwrap();
    let m3 = s.message(c, "m3").unwrap();
    assert_eq!(
        (m3.author.as_str(), m3.posted_by_plugin.as_deref(), m3.deleted),
        ("plugin:bot", Some("bot"), false)
    );
    assert_eq!(message_ids(&s.messages(c)), ["m1", "m2", "m3", "msg:bot:e1:0"]);
}

fn kv(s: &dyn Store) {
    let (c, p) = ("kv", "plug");
    assert_eq!(s.kv_get(c, p, "a"), None);
    assert!(s.kv_keys(c, p, "", None, 10).is_empty());
    assert_eq!(s.kv_bytes(c, p), 0);

    // Byte order: "a" < "a:1" < "a:10" < "a:2" < "ab" < "b" < "z" < "é" (0xc3 0xa9) < U+10FFFF.
    let keys = ["a", "a:1", "a:10", "a:2", "ab", "b", "z", "é", "é:1", "\u{10FFFF}x"];
    let mut actions: Vec<Action> = keys.iter().rev().map(|k| kv_set(k, k.as_bytes())).collect();
    actions.push(kv_set("bin", &[0xff, 0x00, 0x01]));
    actions.push(kv_set("empty", b""));
    s.apply(c, p, 0, &actions).unwrap();

    assert_eq!(s.kv_get(c, p, "a:1"), Some(b"a:1".to_vec()));
    assert_eq!(s.kv_get(c, p, "bin"), Some(vec![0xff, 0x00, 0x01]));
    assert_eq!(s.kv_get(c, p, "empty"), Some(Vec::new()));
    assert_eq!(s.kv_get(c, p, "missing"), None);
    assert_eq!(s.kv_get(c, "other-plugin", "a"), None);
    assert_eq!(s.kv_get("other-community", p, "a"), None);

    let all = s.kv_keys(c, p, "", None, 100);
    assert_eq!(
        all,
        [
            "a",
            "a:1",
            "a:10",
            "a:2",
            "ab",
            "b",
            "bin",
            "empty",
            "z",
            "é",
            "é:1",
            "\u{10FFFF}x"
        ]
    );
    assert_eq!(s.kv_keys(c, p, "a:", None, 10), ["a:1", "a:10", "a:2"]);
    assert_eq!(s.kv_keys(c, p, "a:", Some("a:1"), 10), ["a:10", "a:2"]);
    assert_eq!(s.kv_keys(c, p, "a:", Some("a:1x"), 10), ["a:2"]);
    assert_eq!(
        s.kv_keys(c, p, "a:", Some("a"), 10),
        ["a:1", "a:10", "a:2"],
        "start_after before the prefix"
    );
    assert!(
        s.kv_keys(c, p, "a:", Some("b"), 10).is_empty(),
        "start_after past the prefix"
    );
    assert_eq!(s.kv_keys(c, p, "a:", None, 2), ["a:1", "a:10"]);
    assert!(s.kv_keys(c, p, "a:", None, 0).is_empty());
    assert_eq!(
        s.kv_keys(c, p, "a", None, usize::MAX),
        ["a", "a:1", "a:10", "a:2", "ab"]
    );
    assert_eq!(s.kv_keys(c, p, "", Some("z"), 10), ["é", "é:1", "\u{10FFFF}x"]);
    assert_eq!(s.kv_keys(c, p, "é", None, 10), ["é", "é:1"]);
    assert_eq!(s.kv_keys(c, p, "\u{10FFFF}", None, 10), ["\u{10FFFF}x"]);
    assert!(s.kv_keys(c, p, "zz", None, 10).is_empty());
    assert!(s.kv_keys(c, "other-plugin", "", None, 10).is_empty());

    let bytes: u64 = keys.iter().map(|k| 2 * k.len() as u64).sum::<u64>() + (3 + 3) + 5;
    assert_eq!(s.kv_bytes(c, p), bytes);

    // Overwrite, delete, delete of a missing key; another plugin and community stay apart.
    s.apply(
        c,
        p,
        0,
        &[
            kv_set("a", b"longer value"),
            Action::KvDelete { key: "a:1".into() },
            Action::KvDelete { key: "never".into() },
        ],
    )
    .unwrap();
    s.apply(c, "other-plugin", 0, &[kv_set("a", b"x")]).unwrap();
    s.apply("other-community", p, 0, &[kv_set("a", b"y")]).unwrap();
    assert_eq!(s.kv_get(c, p, "a"), Some(b"longer value".to_vec()));
    assert_eq!(s.kv_get(c, p, "a:1"), None);
    assert_eq!(s.kv_keys(c, p, "a:", None, 10), ["a:10", "a:2"]);
    assert_eq!(
        s.kv_bytes(c, p),
        bytes + 11 - 6,
        "\"a\" grew by 11 bytes, \"a:1\" (6 bytes) went"
    );
    assert_eq!(s.kv_bytes(c, "other-plugin"), 2);
    assert_eq!(s.kv_get("other-community", p, "a"), Some(b"y".to_vec()));
    assert_eq!(s.kv_keys("other-community", p, "", None, 10), ["a"]);
}

fn timers(s: &dyn Store) {
    let (c, p) = ("timers", "clock");
    assert_eq!(s.timer("t1"), None);
    assert!(s.due_timers(u64::MAX).is_empty());

    s.apply(
        c,
        p,
        1000,
        &[
            schedule("t3", 50, None),
            schedule("t1", 50, None),
            schedule("t2", 20, Some(10)),
        ],
    )
    .unwrap();
    assert_eq!(
        s.timer("t1"),
        Some(Timer {
            timer_id: "t1".into(),
            community: c.into(),
            plugin: p.into(),
            name: "name-t1".into(),
            payload: "payload-t1".into(),
            due_ms: 1050,
            every_ms: None,
        })
    );
    assert_eq!(s.timer("t2").unwrap().every_ms, Some(10));
    assert!(s.due_timers(1019).is_empty());
    assert_eq!(timer_ids(&s.due_timers(1020)), ["t2"]);
    assert_eq!(
        timer_ids(&s.due_timers(1050)),
        ["t2", "t1", "t3"],
        "earliest first, then by id"
    );

    // Recurring timers move on; one-shot timers go; unknown ids are ignored.
    s.timer_fired("t2").unwrap();
    assert_eq!(s.timer("t2").unwrap().due_ms, 1030);
    s.timer_fired("t1").unwrap();
    assert_eq!(s.timer("t1"), None);
    s.timer_fired("unknown").unwrap();
    assert_eq!(timer_ids(&s.due_timers(1050)), ["t2", "t3"]);

    // Scheduling an existing id replaces that timer, whoever owned it.
    s.apply("elsewhere", "other", 2000, &[schedule("t3", 5, Some(7))])
        .unwrap();
    let t3 = s.timer("t3").unwrap();
    assert_eq!(
        (t3.community.as_str(), t3.plugin.as_str(), t3.due_ms, t3.every_ms),
        ("elsewhere", "other", 2005, Some(7))
    );
    s.apply(
        c,
        p,
        3000,
        &[
            Action::CancelTimer { timer_id: "t3".into() },
            Action::CancelTimer {
                timer_id: "unknown".into(),
            },
        ],
    )
    .unwrap();
    assert_eq!(s.timer("t3"), None);

    // Times beyond i64::MAX: stored as is and compared as unsigned numbers.
    let big = i64::MAX as u64 + 5;
    s.apply(
        c,
        p,
        0,
        &[schedule("far", u64::MAX, None), schedule("big", big, Some(u64::MAX))],
    )
    .unwrap();
    s.apply(c, p, 10, &[schedule("huge", u64::MAX, Some(1))]).unwrap();
    assert_eq!(s.timer("far").unwrap().due_ms, u64::MAX);
    assert_eq!(s.timer("huge").unwrap().due_ms, u64::MAX, "saturates");
    assert_eq!(s.timer("big").unwrap().every_ms, Some(u64::MAX));
    assert_eq!(timer_ids(&s.due_timers(i64::MAX as u64)), ["t2"]);
    assert_eq!(timer_ids(&s.due_timers(big)), ["t2", "big"]);
    assert_eq!(timer_ids(&s.due_timers(u64::MAX)), ["t2", "big", "far", "huge"]);
    s.timer_fired("big").unwrap();
    assert_eq!(s.timer("big").unwrap().due_ms, u64::MAX, "the next time saturates");

    // Leave no timers behind for the other sections.
    let all: Vec<Action> = ["t2", "far", "big", "huge"]
        .into_iter()
        .map(|id| Action::CancelTimer { timer_id: id.into() })
        .collect();
    s.apply(c, p, 0, &all).unwrap();
    assert!(s.due_timers(u64::MAX).is_empty());
}

fn moderation_effects(s: &dyn Store) {
    let c = "moderation";
    for id in ["alice", "bob", "carol"] {
        s.observe(&event(c, 1, joined(MemberProfile::new(id)))).unwrap();
    }
    s.apply(
        c,
        "guard",
        5000,
        &[
            Action::MuteMember {
                member: "alice".into(),
                duration_ms: 100,
                reason: "calm down".into(),
            },
            Action::KickMember {
                member: "bob".into(),
                reason: String::new(),
            },
            Action::BanMember {
                member: "carol".into(),
                reason: String::new(),
            },
            Action::MuteMember {
                member: "nobody".into(),
                duration_ms: 1,
                reason: String::new(),
            },
        ],
    )
    .unwrap();
    assert!(s.member(c, "alice").is_some());
    assert_eq!(
        s.standing(c, "alice"),
        MemberStanding {
            muted_until_ms: Some(5100),
            banned: false
        }
    );
    assert_eq!(s.member(c, "bob"), None);
    assert_eq!(s.standing(c, "bob"), MemberStanding::default(), "a kick is not a ban");
    assert_eq!(s.member(c, "carol"), None);
    assert_eq!(
        s.standing(c, "carol"),
        MemberStanding {
            muted_until_ms: None,
            banned: true
        }
    );
    assert_eq!(s.standing(c, "nobody").muted_until_ms, Some(5001));
    // A later mute replaces the earlier one; a ban keeps the mute.
    s.apply(
        c,
        "guard",
        6000,
        &[
            Action::MuteMember {
                member: "alice".into(),
                duration_ms: 1,
                reason: String::new(),
            },
            Action::BanMember {
                member: "alice".into(),
                reason: String::new(),
            },
        ],
    )
    .unwrap();
    assert_eq!(
        s.standing(c, "alice"),
        MemberStanding {
            muted_until_ms: Some(6001),
            banned: true
        }
    );
    assert!(s.members_page(c, None, 10).0.is_empty());
    s.apply(c, "guard", 7000, &[]).unwrap();
}

fn forget_and_pseudonyms(s: &dyn Store) {
    let (c, c2) = ("forget", "forget-2");
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-1"), None);
    s.remember_pseudonyms(c, "p1", &pairs(&[("anon-1", "alice"), ("anon-2", "bob")]))
        .unwrap();
    s.remember_pseudonyms(c, "p2", &pairs(&[("anon-1", "carol")])).unwrap();
    s.remember_pseudonyms(c2, "p1", &pairs(&[("anon-1", "dave")])).unwrap();
    s.remember_pseudonyms(c, "p1", &[]).unwrap();
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-1").as_deref(), Some("alice"));
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-2").as_deref(), Some("bob"));
    assert_eq!(s.resolve_pseudonym(c, "p2", "anon-1").as_deref(), Some("carol"));
    assert_eq!(s.resolve_pseudonym(c2, "p1", "anon-1").as_deref(), Some("dave"));
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-3"), None);
    s.remember_pseudonyms(c, "p1", &pairs(&[("anon-1", "zed")])).unwrap();
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-1").as_deref(), Some("zed"));
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-2").as_deref(), Some("bob"));

    s.observe(&event(c, 1, joined(MemberProfile::new("alice")))).unwrap();
    s.observe(&event(c, 2, posted("general", "m1", "alice", "hi", None)))
        .unwrap();
    s.apply(
        c,
        "p1",
        0,
        &[
            kv_set("k", b"1"),
            schedule("forget-t1", 10, None),
            Action::SendMessage {
                channel: "general".into(),
                message_id: "p1-msg".into(),
                text: "from p1".into(),
                reply_to: None,
            },
            Action::MuteMember {
                member: "alice".into(),
                duration_ms: 10,
                reason: String::new(),
            },
        ],
    )
    .unwrap();
    s.apply(c, "p2", 0, &[kv_set("k", b"2"), schedule("forget-t2", 10, None)])
        .unwrap();
    s.apply(c2, "p1", 0, &[kv_set("k", b"3"), schedule("forget-t3", 10, None)])
        .unwrap();

    s.forget_plugin(c, "p1").unwrap();
    assert_eq!(s.kv_get(c, "p1", "k"), None);
    assert_eq!(s.kv_bytes(c, "p1"), 0);
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-1"), None);
    assert_eq!(s.resolve_pseudonym(c, "p1", "anon-2"), None);
    assert_eq!(s.timer("forget-t1"), None);
    // Other plugins and communities keep theirs.
    assert_eq!(s.kv_get(c, "p2", "k"), Some(b"2".to_vec()));
    assert_eq!(s.kv_get(c2, "p1", "k"), Some(b"3".to_vec()));
    assert_eq!(s.resolve_pseudonym(c, "p2", "anon-1").as_deref(), Some("carol"));
    assert_eq!(s.resolve_pseudonym(c2, "p1", "anon-1").as_deref(), Some("dave"));
    assert!(s.timer("forget-t2").is_some());
    assert!(s.timer("forget-t3").is_some());
    // Community state that is not the plugin's stays.
    assert_eq!(message_ids(&s.messages(c)), ["m1", "p1-msg"]);
    assert_eq!(s.standing(c, "alice").muted_until_ms, Some(10));
    assert!(s.member(c, "alice").is_some());

    s.forget_plugin(c, "p1").unwrap();
    s.forget_plugin("unknown", "unknown").unwrap();
    s.forget_plugin(c, "p2").unwrap();
    s.forget_plugin(c2, "p1").unwrap();
    assert!(s.due_timers(u64::MAX).is_empty());
}

// Admin model -----------------------------------------------------------------------------------

fn package(plugin_id: &str, version: &str) -> PluginPackage {
    let component = format!("component of {plugin_id} {version}").into_bytes();
    PluginPackage {
        digest: format!("sha256-{plugin_id}-{version}"),
        plugin_id: plugin_id.into(),
        version: version.into(),
        manifest_toml: format!("[plugin]\nid = \"{plugin_id}\"\nversion = \"{version}\"\n"),
        component,
    }
}

fn install(community: &str, package: &PluginPackage, grants: &str, installed_ms: u64) -> InstallRecord {
    InstallRecord {
        community: community.into(),
        plugin_id: package.plugin_id.clone(),
        digest: package.digest.clone(),
        version: package.version.clone(),
        enabled: true,
        grants: GrantSet::parse_list(grants).unwrap(),
        config: vec![
            ConfigEntry {
                key: "greeting".into(),
                value: "hello".into(),
            },
            ConfigEntry {
                key: "channel".into(),
                value: "general".into(),
            },
        ],
        installed_ms,
        pending: None,
        limits: LimitOverrides::default(),
    }
}

fn audit_entry(community: &str, plugin: &str, kind: &str, capability: Option<&str>, seq: u64) -> AuditEntry {
    AuditEntry {
        seq,
        time_ms: 1000 + seq,
        community: community.into(),
        plugin: plugin.into(),
        version: "1.0.0".into(),
        kind: kind.into(),
        capability: capability.map(Into::into),
        outcome: "ok".into(),
        detail: format!("{kind} {plugin} in {community}"),
    }
}

fn plugin_ids(installs: &[InstallRecord]) -> Vec<&str> {
    installs.iter().map(|i| i.plugin_id.as_str()).collect()
}

fn seqs(entries: &[AuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

/// Every [`AdminStore`](super::admin::AdminStore) method, on a fresh store.
pub(super) fn admin_store_suite(s: &dyn Store) {
    communities(s);
    packages_and_installs(s);
    audit(s);
    review_fail_policies(s);
    signing_policies(s);
    breakers(s);
    install_batches(s);
}

fn communities(s: &dyn Store) {
    assert!(s.communities().unwrap().is_empty());
    assert!(!s.community_exists("alpha").unwrap());
    s.create_community("beta", 20).unwrap();
    s.create_community("alpha", 10).unwrap();
    let err = s.create_community("alpha", 30).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.to_string(), "community `alpha` already exists");
    assert_eq!(
        s.communities().unwrap(),
        [
            CommunityRecord {
                id: "alpha".into(),
                created_ms: 10,
                review_fail_policy: ReviewFailPolicy::FailOpen,
                signing_policy: None,
            },
            CommunityRecord {
                id: "beta".into(),
                created_ms: 20,
                review_fail_policy: ReviewFailPolicy::FailOpen,
                signing_policy: None,
            },
        ]
    );
    assert!(s.community_exists("alpha").unwrap());
    assert!(!s.community_exists("gamma").unwrap());
    assert_eq!(s.community("beta").unwrap(), Some(s.communities().unwrap()[1].clone()));
    assert_eq!(s.community("beta").unwrap().unwrap().created_ms, 20);
    assert_eq!(s.community("gamma").unwrap(), None);
}

/// `put_installs`: several installs and their audit entries in one transaction.
fn install_batches(s: &dyn Store) {
    s.create_community("batch", 50).unwrap();
    let a = package("batch-a", "1.0.0");
    let b = package("batch-b", "1.0.0");
    let unstored = package("batch-unstored", "1.0.0");
    s.put_package(&a).unwrap();
    s.put_package(&b).unwrap();
    let everything = AuditQuery::default();
    let audit_before = s.audit(&everything).unwrap().len();
    let audited = [
        audit_entry("batch", "batch-a", "install", None, 0),
        audit_entry("batch", "batch-a", "grant", Some("commands"), 0),
        audit_entry("batch", "batch-b", "install", None, 0),
    ];

    // One bad record (its package is not stored, or its community does not exist) and
    // nothing is written: neither the good install before it nor the audit entries.
    let err = s
        .put_installs(
            &[
                install("batch", &a, "commands", 51),
                install("batch", &unstored, "none", 51),
            ],
            &audited,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = s
        .put_installs(
            &[install("batch", &a, "commands", 51), install("nowhere", &b, "none", 51)],
            &audited,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(s.installs("batch").unwrap().is_empty());
    assert_eq!(s.audit(&everything).unwrap().len(), audit_before);

    let generation = s.admin_generation().unwrap();
    s.put_installs(
        &[install("batch", &a, "commands", 52), install("batch", &b, "none", 52)],
        &audited,
    )
    .unwrap();
    assert_ne!(s.admin_generation().unwrap(), generation);
    assert_eq!(plugin_ids(&s.installs("batch").unwrap()), ["batch-a", "batch-b"]);
    assert_eq!(
        s.install("batch", "batch-a").unwrap(),
        Some(install("batch", &a, "commands", 52))
    );
    let query = AuditQuery {
        community: Some("batch".into()),
        ..AuditQuery::default()
    };
    let written: Vec<(String, String, Option<String>)> = s
        .audit(&query)
        .unwrap()
        .into_iter()
        .map(|e| (e.plugin, e.kind, e.capability))
        .collect();
    let expected: Vec<(String, String, Option<String>)> = audited
        .iter()
        .map(|e| (e.plugin.clone(), e.kind.clone(), e.capability.clone()))
        .collect();
    assert_eq!(written, expected);
    // An empty batch writes nothing and is not an error.
    s.put_installs(&[], &[]).unwrap();
    assert_eq!(s.audit(&everything).unwrap().len(), audit_before + 3);
}

fn packages_and_installs(s: &dyn Store) {
    let poll = package("poll", "1.0.0");
    let poll2 = package("poll", "2.0.0");
    let welcome = package("welcome", "0.1.0");
    let spam = package("anti-spam", "3.0.0");
    assert_eq!(s.package(&poll.digest).unwrap(), None);
    for p in [&poll, &poll2, &welcome, &spam] {
        s.put_package(p).unwrap();
    }
    assert_eq!(s.package(&poll.digest).unwrap(), Some(poll.clone()));
    // Idempotent by digest: the first package stored under a digest stays.
    s.put_package(&poll).unwrap();
    s.put_package(&PluginPackage {
        manifest_toml: "changed".into(),
        ..poll.clone()
    })
    .unwrap();
    assert_eq!(s.package(&poll.digest).unwrap(), Some(poll.clone()));

    // Installs need their community and packages.
    let err = s.put_install(&install("nowhere", &poll, "none", 1)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "community `nowhere` does not exist");
    let mut unknown = install("alpha", &poll, "none", 1);
    unknown.digest = "sha256-unknown".into();
    let err = s.put_install(&unknown).unwrap_err();
    assert_eq!(err.to_string(), "package `sha256-unknown` is not stored");
    let mut unknown_pending = install("alpha", &poll, "none", 1);
    unknown_pending.pending = Some(PendingUpgrade {
        digest: "sha256-later".into(),
        version: "9.0.0".into(),
        added_capabilities: vec![],
        requested_ms: 2,
    });
    let err = s.put_install(&unknown_pending).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "package `sha256-later` is not stored");
    assert_eq!(s.install("alpha", "poll").unwrap(), None, "failed puts leave nothing");
    assert!(s.installs("alpha").unwrap().is_empty());
    assert!(s.installs("nowhere").unwrap().is_empty());

    let poll_install = install("alpha", &poll, "messages:send,storage:kv", 100);
    s.put_install(&poll_install).unwrap();
    s.put_install(&install("alpha", &welcome, "all", 101)).unwrap();
    s.put_install(&install("alpha", &spam, "none", 102)).unwrap();
    s.put_install(&install("beta", &poll, "schedule", 103)).unwrap();
    assert_eq!(s.install("alpha", "poll").unwrap(), Some(poll_install.clone()));
    assert_eq!(s.install("alpha", "nope").unwrap(), None);
    assert_eq!(s.install("gamma", "poll").unwrap(), None);
    assert_eq!(
        plugin_ids(&s.installs("alpha").unwrap()),
        ["poll", "welcome", "anti-spam"]
    );
    assert_eq!(s.installs("alpha").unwrap()[1].grants, GrantSet::all());
    assert_eq!(plugin_ids(&s.installs("beta").unwrap()), ["poll"]);

    // A replace changes everything but the position.
    let replaced = InstallRecord {
        enabled: false,
        grants: GrantSet::parse_list("messages:send,schedule").unwrap(),
        config: vec![ConfigEntry {
            key: "only".into(),
            value: "one".into(),
        }],
        pending: Some(PendingUpgrade {
            digest: poll2.digest.clone(),
            version: poll2.version.clone(),
            added_capabilities: vec![Capability::HttpFetch, Capability::MembersRead, Capability::Commands],
            requested_ms: 500,
        }),
        limits: LimitOverrides {
            memory_mb: Some(64),
            cpu_ms: None,
            wall_clock_ms: Some(u64::MAX),
            fuel: Some(i64::MAX as u64 + 1),
            table_elements: Some(1),
            instances: None,
            tables: Some(7),
            memories: Some(2),
            messages_per_minute_per_channel: Some(120),
            channel_burst: Some(u64::MAX),
            messages_per_minute_per_community: None,
            community_burst: Some(3),
        },
        ..poll_install.clone()
    };
    s.put_install(&replaced).unwrap();
    assert_eq!(s.install("alpha", "poll").unwrap(), Some(replaced.clone()));
    let all = s.installs("alpha").unwrap();
    assert_eq!(plugin_ids(&all), ["poll", "welcome", "anti-spam"]);
    assert_eq!(all[0], replaced);
    assert_eq!(
        s.install("beta", "poll").unwrap().unwrap().grants,
        GrantSet::parse_list("schedule").unwrap()
    );

    // Approving the upgrade: the pending package serves, nothing waits; limits are kept or cleared
    // as the record says.
    let upgraded = InstallRecord {
        digest: poll2.digest.clone(),
        version: poll2.version.clone(),
        enabled: true,
        grants: GrantSet::none(),
        config: vec![],
        pending: None,
        limits: LimitOverrides {
            cpu_ms: Some(0),
            ..LimitOverrides::default()
        },
        ..replaced.clone()
    };
    s.put_install(&upgraded).unwrap();
    assert_eq!(s.install("alpha", "poll").unwrap(), Some(upgraded.clone()));
    s.put_install(&replaced).unwrap();
    assert_eq!(s.install("alpha", "poll").unwrap().unwrap().limits, replaced.limits);
    s.put_install(&upgraded).unwrap();
    assert_eq!(s.installs("alpha").unwrap()[0], upgraded);

    // Delete; a new install goes to the end, with only its own grants.
    s.uninstall("alpha", "welcome", &[]).unwrap();
    assert_eq!(s.install("alpha", "welcome").unwrap(), None);
    assert_eq!(plugin_ids(&s.installs("alpha").unwrap()), ["poll", "anti-spam"]);
    let err = s.uninstall("alpha", "welcome", &[]).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `welcome` is not installed in community `alpha`"
    );
    let err = s.uninstall("gamma", "poll", &[]).unwrap_err();
    assert_eq!(err.to_string(), "plugin `poll` is not installed in community `gamma`");
    let again = install("alpha", &welcome, "commands", 200);
    s.put_install(&again).unwrap();
    let all = s.installs("alpha").unwrap();
    assert_eq!(plugin_ids(&all), ["poll", "anti-spam", "welcome"]);
    assert_eq!(all[2], again);
    assert_eq!(all[0], upgraded);

    // The first install of a community can also be the most recent one overall.
    s.uninstall("beta", "poll", &[]).unwrap();
    assert!(s.installs("beta").unwrap().is_empty());
    s.put_install(&install("beta", &spam, "none", 300)).unwrap();
    s.put_install(&install("beta", &poll, "none", 301)).unwrap();
    assert_eq!(plugin_ids(&s.installs("beta").unwrap()), ["anti-spam", "poll"]);
}

fn audit(s: &dyn Store) {
    let all = AuditQuery::default();
    assert!(s.audit(&all).unwrap().is_empty());
    s.append_audit(&[]).unwrap();
    s.append_audit(&[
        audit_entry("alpha", "poll", "install", None, 0),
        audit_entry("alpha", "welcome", "grant", Some("messages:send"), 99),
        audit_entry("beta", "poll", "denied", Some("http:fetch"), 0),
    ])
    .unwrap();
    s.append_audit(&[audit_entry("alpha", "poll", "effect", None, 7)])
        .unwrap();

    let entries = s.audit(&all).unwrap();
    assert_eq!(seqs(&entries), [1, 2, 3, 4], "the store assigns seq from 1");
    assert_eq!(
        entries[1],
        AuditEntry {
            seq: 2,
            ..audit_entry("alpha", "welcome", "grant", Some("messages:send"), 99)
        }
    );
    assert_eq!(entries[3].time_ms, 1007);
    assert_eq!(entries[0].capability, None);

    let query = |community: Option<&str>, plugin: Option<&str>, after_seq: Option<u64>, limit: Option<usize>| {
        seqs(
            &s.audit(&AuditQuery {
                community: community.map(Into::into),
                plugin: plugin.map(Into::into),
                after_seq,
                limit,
            })
            .unwrap(),
        )
    };
    assert_eq!(query(Some("alpha"), None, None, None), [1, 2, 4]);
    assert_eq!(query(None, Some("poll"), None, None), [1, 3, 4]);
    assert_eq!(query(Some("alpha"), Some("poll"), None, None), [1, 4]);
    assert_eq!(query(Some("gamma"), None, None, None), Vec::<u64>::new());
    assert_eq!(query(None, None, Some(2), None), [3, 4]);
    assert_eq!(query(None, None, Some(0), None), [1, 2, 3, 4]);
    assert_eq!(query(None, None, Some(4), None), Vec::<u64>::new());
    assert_eq!(query(None, None, Some(u64::MAX), None), Vec::<u64>::new());
    assert_eq!(query(None, None, None, Some(2)), [3, 4], "the newest, oldest first");
    assert_eq!(query(None, None, None, Some(0)), Vec::<u64>::new());
    assert_eq!(query(None, None, None, Some(100)), [1, 2, 3, 4]);
    assert_eq!(query(None, None, None, Some(usize::MAX)), [1, 2, 3, 4]);
    assert_eq!(query(Some("alpha"), None, None, Some(1)), [4]);
    assert_eq!(query(None, Some("poll"), Some(1), Some(1)), [4]);
    assert_eq!(query(Some("alpha"), None, Some(1), Some(5)), [2, 4]);

    s.append_audit(&[audit_entry("beta", "poll", "uninstall", None, 0)])
        .unwrap();
    assert_eq!(query(None, None, Some(4), None), [5], "seq keeps increasing");
}

fn policies(s: &dyn Store) -> Vec<(String, ReviewFailPolicy)> {
    s.communities()
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.review_fail_policy))
        .collect()
}

fn review_fail_policies(s: &dyn Store) {
    let open = ReviewFailPolicy::FailOpen;
    let closed = ReviewFailPolicy::FailClosed;
    assert_eq!(ReviewFailPolicy::default(), open);
    s.create_community("policy", 40).unwrap();
    assert_eq!(
        policies(s)[2],
        ("policy".to_string(), open),
        "new communities fail open"
    );

    s.set_review_fail_policy("policy", closed).unwrap();
    s.set_review_fail_policy("policy", closed).unwrap();
    assert_eq!(
        s.communities().unwrap()[2],
        CommunityRecord {
            id: "policy".into(),
            created_ms: 40,
            review_fail_policy: closed,
            signing_policy: None,
        }
    );
    assert_eq!(policies(s)[0], ("alpha".to_string(), open), "others keep theirs");

    let err = s.set_review_fail_policy("nowhere", closed).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "community `nowhere` does not exist");
    assert!(
        !s.community_exists("nowhere").unwrap(),
        "setting a policy creates nothing"
    );

    // Installing into a community keeps its policy; setting it back is possible.
    let pkg = package("reviewer", "1.0.0");
    s.put_package(&pkg).unwrap();
    s.put_install(&install("policy", &pkg, "none", 41)).unwrap();
    assert_eq!(policies(s)[2].1, closed);
    s.set_review_fail_policy("policy", open).unwrap();
    assert_eq!(policies(s)[2].1, open);
    s.set_review_fail_policy("policy", closed).unwrap();
}

fn signing_policies(s: &dyn Store) {
    use crate::signing::SigningPolicy;
    let of = |s: &dyn Store, id: &str| {
        s.communities()
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap()
            .signing_policy
    };
    assert_eq!(
        of(s, "policy"),
        None,
        "communities follow the operator until they choose"
    );
    let before = s.admin_generation().unwrap();
    s.set_signing_policy("policy", Some(SigningPolicy::DeveloperSigned))
        .unwrap();
    assert_ne!(s.admin_generation().unwrap(), before);
    assert_eq!(of(s, "policy"), Some(SigningPolicy::DeveloperSigned));
    assert_eq!(of(s, "alpha"), None, "others keep theirs");
    assert_eq!(
        policies(s)[2].1,
        ReviewFailPolicy::FailClosed,
        "the review fail policy is untouched"
    );
    s.set_signing_policy("policy", None).unwrap();
    assert_eq!(of(s, "policy"), None);
    let err = s
        .set_signing_policy("nowhere", Some(SigningPolicy::PlatformReviewed))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

/// An installed plugin in a fresh community, for the breaker and cursor sections.
fn installed(s: &dyn Store, community: &str, plugin_id: &str) -> InstallRecord {
    if !s.community_exists(community).unwrap() {
        s.create_community(community, 1).unwrap();
    }
    let pkg = package(plugin_id, "1.0.0");
    s.put_package(&pkg).unwrap();
    let record = install(community, &pkg, "messages:send", 2);
    s.put_install(&record).unwrap();
    record
}

fn breakers(s: &dyn Store) {
    let c = "breakers";
    installed(s, c, "flaky");
    installed(s, c, "steady");
    assert_eq!(s.breaker(c, "flaky").unwrap(), None, "never tripped");
    assert_eq!(s.breaker(c, "unknown").unwrap(), None);
    assert_eq!(s.breaker("nowhere", "flaky").unwrap(), None);

    let open = BreakerRecord {
        state: BreakerState::Open,
        recent_failures: vec![0, 1_000, i64::MAX as u64 + 1, u64::MAX],
        trips: u32::MAX,
        retry_at_ms: Some(u64::MAX),
    };
    s.put_breaker(c, "flaky", &open).unwrap();
    assert_eq!(s.breaker(c, "flaky").unwrap(), Some(open.clone()));
    assert_eq!(s.breaker(c, "steady").unwrap(), None, "breakers are per install");

    // Upserts replace the whole record.
    let half_open = BreakerRecord {
        state: BreakerState::HalfOpen,
        recent_failures: vec![7],
        trips: 1,
        retry_at_ms: None,
    };
    s.put_breaker(c, "flaky", &half_open).unwrap();
    assert_eq!(s.breaker(c, "flaky").unwrap(), Some(half_open));
    s.put_breaker(c, "flaky", &BreakerRecord::default()).unwrap();
    assert_eq!(
        s.breaker(c, "flaky").unwrap(),
        Some(BreakerRecord {
            state: BreakerState::Closed,
            recent_failures: vec![],
            trips: 0,
            retry_at_ms: None,
        })
    );
    s.put_breaker(c, "steady", &open).unwrap();
    assert_eq!(s.breaker(c, "steady").unwrap(), Some(open.clone()));

    // A breaker belongs to an install.
    let err = s.put_breaker(c, "unknown", &open).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `unknown` is not installed in community `breakers`"
    );
    let err = s.put_breaker("nowhere", "flaky", &open).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `flaky` is not installed in community `nowhere`"
    );
    assert_eq!(s.breaker(c, "unknown").unwrap(), None);

    // Changing the install keeps its breaker.
    let mut record = s.install(c, "steady").unwrap().unwrap();
    record.enabled = false;
    s.put_install(&record).unwrap();
    assert_eq!(s.breaker(c, "steady").unwrap(), Some(open));
}

/// Events of many kinds, with every delivery fact set, unicode and extreme numbers.
fn varied_events(community: &str) -> Vec<Event> {
    let meta = |id: &str, sequence: u64, timestamp_ms: u64, attempt: u32| EventMeta {
        id: id.into(),
        community: community.into(),
        sequence,
        timestamp_ms,
        attempt,
    };
    let kinds = vec![
        EventKind::MessagePosted(Message {
            channel: "général".into(),
            message_id: "m-ü".into(),
            author: "zoë".into(),
            text: "héllo 👋🏽 世界 \"quoted\" \\ \n\t\u{0} \u{10FFFF} \u{202E}rtl".into(),
            mentions: vec!["ålice".into(), "bob".into()],
            reply_to: Some("m0".into()),
        }),
        joined(profile("ålice", "Ålice 🌸", &["admin", "модератор"], true)),
        EventKind::MemberJoined {
            member: profile("bob", "Bob", &[], false),
            invited_by: Some("ålice".into()),
        },
        EventKind::MessageEdited {
            channel: "general".into(),
            message_id: "m1".into(),
            author: "bob".into(),
            text: "fixed ✓".into(),
            mentions: vec![],
            reply_to: None,
            previous_text: "fixd".into(),
        },
        EventKind::ReactionAdded(Reaction {
            channel: "general".into(),
            message_id: "m1".into(),
            member: "carol".into(),
            emoji: "👨‍👩‍👧".into(),
            message_author: Some("bob".into()),
        }),
        EventKind::MemberMuted {
            member: "dave".into(),
            moderator: "mod".into(),
            duration_ms: u64::MAX,
            reason: String::new(),
        },
        EventKind::CommandInvoked {
            channel: "general".into(),
            member: "ålice".into(),
            name: "poll".into(),
            args: vec!["Lunch?".into(), "🍕".into(), String::new()],
            message_id: None,
        },
        EventKind::PluginInstalled {
            config: vec![ConfigEntry {
                key: "greeting".into(),
                value: "Grüß Gott".into(),
            }],
        },
        EventKind::PluginUninstalled,
        EventKind::TimerFired {
            timer_id: "t1".into(),
            name: "daily".into(),
            payload: "{\"json\": [1, 2]}".into(),
        },
        EventKind::MessageDeleted {
            channel: "general".into(),
            message_id: "m1".into(),
            deleted_by: "mod".into(),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let i = i as u64;
            let meta = match i {
                0 => meta("évent-0 🙂", 0, 0, 1),
                1 => meta("e1", u64::MAX - 1, u64::MAX, u32::MAX),
                _ => meta(&format!("e{i}"), 10 + i, 1_767_225_600_000 + i, 2),
            };
            Event { meta, kind }
        })
        .collect()
}

fn uninstall_takes_everything_the_install_keeps(s: &dyn Store) {
    let c = "uninstall";
    let record = installed(s, c, "gone");
    installed(s, c, "stays");
    let tripped = BreakerRecord {
        state: BreakerState::Open,
        recent_failures: vec![1, 2, 3],
        trips: 3,
        retry_at_ms: Some(10),
    };
    let secret = |name: &str| SealedSecret {
        name: name.into(),
        nonce: vec![1; 12],
        ciphertext: vec![2; 20],
        hosts: Vec::new(),
        set_ms: 5,
    };
    for p in ["gone", "stays"] {
        s.init_cursor(c, p).unwrap();
    }
    s.append(&[ingested(c, "u1")], 1).unwrap();
    let entry = s.read_log(c, 0, 1).unwrap().remove(0);
    for p in ["gone", "stays"] {
        s.put_breaker(c, p, &tripped).unwrap();
        s.put_secret(c, p, &secret("key")).unwrap();
        s.apply(
            c,
            p,
            0,
            &[kv_set("k", b"v"), schedule(&format!("uninstall-{p}"), 10, None)],
        )
        .unwrap();
        s.remember_pseudonyms(c, p, &[("anon-1".into(), "alice".into())])
            .unwrap();
        s.dead_letter(p, 0, &entry, &[failure(1, 1)], 2, &[]).unwrap().unwrap();
    }
    let keeps = |p: &str| {
        (
            s.install(c, p).unwrap().is_some(),
            s.breaker(c, p).unwrap().is_some(),
            s.secrets(c, p).unwrap().len(),
            s.kv_get(c, p, "k").is_some(),
            s.timer(&format!("uninstall-{p}")).is_some(),
            s.resolve_pseudonym(c, p, "anon-1").is_some(),
            s.cursor(c, p).unwrap().is_some(),
            dead_letter_ids(s, Some(c), Some(p)).len(),
        )
    };
    let everything = (true, true, 1, true, true, true, true, 1);
    let audit_len = || s.audit(&AuditQuery::default()).unwrap().len();
    let audited = audit_len();

    s.uninstall(c, "gone", &[audit_entry(c, "gone", "uninstall", None, 0)])
        .unwrap();
    assert_eq!(keeps("gone"), (false, false, 0, false, false, false, false, 0));
    assert_eq!(keeps("stays"), everything, "other installs keep theirs");
    let last = s.audit(&AuditQuery::default()).unwrap().pop().unwrap();
    assert_eq!((last.plugin.as_str(), last.kind.as_str()), ("gone", "uninstall"));
    assert_eq!(audit_len(), audited + 1);

    // An uninstall of what is not installed changes nothing, not even the audit log, and
    // leaves data kept under that plugin id alone.
    let err = s
        .uninstall(c, "gone", &[audit_entry(c, "gone", "uninstall", None, 0)])
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    s.apply(c, "never", 0, &[kv_set("k", b"v")]).unwrap();
    assert!(s.uninstall(c, "never", &[]).is_err());
    assert_eq!(s.kv_get(c, "never", "k"), Some(b"v".to_vec()));
    assert_eq!(audit_len(), audited + 1);

    // A new install of the plugin starts clean.
    s.put_install(&record).unwrap();
    assert_eq!(keeps("gone"), (true, false, 0, false, false, false, false, 0));
}

// Delivery log ----------------------------------------------------------------------------------

/// An event with its own id (the dedupe key of an ingested entry).
fn log_event(community: &str, id: &str, kind: EventKind) -> Event {
    let mut e = event(community, 1_000, kind);
    e.meta.id = id.into();
    e
}

/// An ingested message event whose id is also its message id.
pub(super) fn ingested(community: &str, id: &str) -> NewEntry {
    NewEntry::ingested(log_event(community, id, posted("general", id, "alice", "hi", None)))
}

fn appended(sequence: u64) -> Appended {
    Appended {
        sequence,
        duplicate: false,
    }
}

fn duplicate(sequence: u64) -> Appended {
    Appended {
        sequence,
        duplicate: true,
    }
}

fn sequences(entries: &[LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.sequence).collect()
}

fn failure(attempt: u32, at_ms: u64) -> AttemptFailure {
    AttemptFailure {
        attempt,
        at_ms,
        reason: "trap".into(),
        message: format!("attempt {attempt}: unreachable ✗"),
    }
}

pub(super) fn send(message_id: &str, text: &str) -> Action {
    Action::SendMessage {
        channel: "general".into(),
        message_id: message_id.into(),
        text: text.into(),
        reply_to: None,
    }
}

pub(super) fn at(sequence: u64) -> Cursor {
    Cursor {
        sequence,
        ..Cursor::default()
    }
}

/// A delivery of one entry, at 5000 ms, with no audit entries.
pub(super) fn delivery<'a>(
    community: &'a str,
    plugin: &'a str,
    from: u64,
    to: u64,
    event_id: &'a str,
    actions: &'a [Action],
) -> Commit<'a> {
    Commit {
        community,
        plugin,
        from,
        to,
        event_id,
        now_ms: 5_000,
        actions,
        audit: &[],
    }
}

fn community_audit(s: &dyn Store, community: &str) -> Vec<AuditEntry> {
    s.audit(&AuditQuery {
        community: Some(community.into()),
        ..AuditQuery::default()
    })
    .unwrap()
}

fn dead_letter_ids(s: &dyn Store, community: Option<&str>, plugin: Option<&str>) -> Vec<u64> {
    s.dead_letters(community, plugin)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect()
}

fn outbox_keys(entries: Vec<OutboxEntry>) -> Vec<String> {
    entries.into_iter().map(|e| e.key).collect()
}

/// Every [`DeliveryLog`](super::log::DeliveryLog) method, on a fresh store.
pub(super) fn delivery_log_suite(s: &dyn Store) {
    log_sequences(s);
    idempotent_append(s);
    reading_the_log(s);
    logged_events_round_trip(s);
    unloggable_events_are_refused(s);
    cursors_start_at_the_head(s);
    commit_is_a_compare_and_set(s);
    commit_applies_everything_at_once(s);
    retried_commits_keep_one_outbox_row(s);
    failures_accumulate_until_the_cursor_moves(s);
    dead_letters_and_replay(s);
    timer_firings(s);
    outbox_relay(s);
    pruning(s);
    dropping_a_cursor(s);
    // Here rather than with the admin model: it needs cursors and dead letters, and would take
    // dead-letter ids that `dead_letters_and_replay` expects to start at 1.
    uninstall_takes_everything_the_install_keeps(s);
}

fn log_sequences(s: &dyn Store) {
    let (a, b) = ("log-a", "log-b");
    assert_eq!(s.head(a).unwrap(), 0);
    assert!(s.read_log(a, 0, 10).unwrap().is_empty());
    assert!(s.append(&[], 1).unwrap().is_empty());
    let answers = s
        .append(
            &[
                ingested(a, "a1"),
                ingested(b, "b1"),
                ingested(a, "a2"),
                ingested(a, "a3"),
            ],
            1,
        )
        .unwrap();
    assert_eq!(
        answers,
        [appended(1), appended(1), appended(2), appended(3)],
        "per community, from 1"
    );
    assert_eq!(s.append(&[ingested(b, "b2")], 2).unwrap(), [appended(2)]);
    assert_eq!((s.head(a).unwrap(), s.head(b).unwrap()), (3, 2));
    assert_eq!(sequences(&s.read_log(a, 0, 10).unwrap()), [1, 2, 3]);
    assert_eq!(sequences(&s.read_log(b, 0, 10).unwrap()), [1, 2]);
    assert_eq!(s.find(a, "a2").unwrap(), Some(2));
    assert_eq!(s.find(b, "a2").unwrap(), None, "dedupe keys are per community");
    assert_eq!(s.find("nowhere", "a1").unwrap(), None);
    assert_eq!(s.head("nowhere").unwrap(), 0);
}

fn idempotent_append(s: &dyn Store) {
    let c = "log-dedupe";
    let join = NewEntry::ingested(log_event(c, "join-1", joined(MemberProfile::new("alice"))));
    let leave = NewEntry::ingested(log_event(
        c,
        "leave-1",
        EventKind::MemberLeft {
            member: "alice".into(),
            removed: false,
        },
    ));
    assert_eq!(s.append(std::slice::from_ref(&join), 10).unwrap(), [appended(1)]);
    assert!(s.member(c, "alice").is_some(), "appending observes the event");
    assert_eq!(s.append(&[leave], 11).unwrap(), [appended(2)]);

    // A redelivered join answers where it is, and is not observed again.
    assert_eq!(s.append(std::slice::from_ref(&join), 12).unwrap(), [duplicate(1)]);
    assert_eq!(s.member(c, "alice"), None, "a duplicate is not observed again");
    assert_eq!(s.head(c).unwrap(), 2);
    assert_eq!(
        s.read_log(c, 0, 1).unwrap()[0].accepted_ms,
        10,
        "the first append stays"
    );

    // Within one call: a key already in the log, and a key an earlier entry of the call has.
    let post = |text: &str| NewEntry::ingested(log_event(c, "post-1", posted("general", "m1", "bob", text, None)));
    let answers = s.append(&[post("first"), join, post("second")], 13).unwrap();
    assert_eq!(answers, [appended(3), duplicate(1), duplicate(3)]);
    assert_eq!(s.message(c, "m1").unwrap().text, "first");
    assert_eq!(s.head(c).unwrap(), 3);

    // Dedupe is by key, not by event id.
    let copy = NewEntry {
        dedupe_key: "replay:x".into(),
        target: Some("bot".into()),
        ..post("first")
    };
    assert_eq!(s.append(&[copy], 14).unwrap(), [appended(4)]);
    assert_eq!(s.find(c, "replay:x").unwrap(), Some(4));
    assert_eq!(s.find(c, "post-1").unwrap(), Some(3));
    assert_eq!(s.find(c, "join-1").unwrap(), Some(1));
    assert_eq!(s.find(c, "never").unwrap(), None);
}

fn reading_the_log(s: &dyn Store) {
    let c = "log-read";
    s.append(&[ingested(c, "r1"), ingested(c, "r2")], 100).unwrap();
    let fired = EventKind::TimerFired {
        timer_id: "t".into(),
        name: "daily".into(),
        payload: "{}".into(),
    };
    let timer = NewEntry {
        event: log_event(c, "r3", fired),
        dedupe_key: "timer:t:100".into(),
        target: Some("clock".into()),
    };
    s.append(&[timer.clone(), ingested(c, "r4"), ingested(c, "r5")], 200)
        .unwrap();

    let all = s.read_log(c, 0, 100).unwrap();
    assert_eq!(sequences(&all), [1, 2, 3, 4, 5]);
    let mut event = timer.event;
    event.meta.sequence = 3;
    assert_eq!(
        all[2],
        LogEntry {
            community: c.into(),
            sequence: 3,
            dedupe_key: "timer:t:100".into(),
            target: Some("clock".into()),
            event,
            accepted_ms: 200,
        },
        "the target is kept"
    );
    assert_eq!(
        (all[0].dedupe_key.as_str(), all[0].target.as_deref(), all[0].accepted_ms),
        ("r1", None, 100)
    );
    assert!(all
        .iter()
        .all(|e| e.event.meta.sequence == e.sequence && e.community == c));

    assert_eq!(sequences(&s.read_log(c, 2, 2).unwrap()), [3, 4]);
    assert_eq!(sequences(&s.read_log(c, 4, 100).unwrap()), [5]);
    assert!(s.read_log(c, 5, 100).unwrap().is_empty());
    assert!(s.read_log(c, u64::MAX, 100).unwrap().is_empty());
    assert!(s.read_log(c, 0, 0).unwrap().is_empty());
    assert_eq!(s.read_log(c, 0, usize::MAX).unwrap(), all);
    assert!(s.read_log("nowhere", 0, 10).unwrap().is_empty());
}

fn logged_events_round_trip(s: &dyn Store) {
    let c = "log-json";
    let events = varied_events(c);
    let entries: Vec<NewEntry> = events.iter().cloned().map(NewEntry::ingested).collect();
    s.append(&entries, 1).unwrap();
    let back = s.read_log(c, 0, 100).unwrap();
    assert_eq!(back.len(), events.len());
    for (entry, (sent, sequence)) in back.iter().zip(events.iter().zip(1..)) {
        let expected = Event {
            meta: EventMeta {
                sequence,
                ..sent.meta.clone()
            },
            ..sent.clone()
        };
        assert_eq!(
            entry.event, expected,
            "the event reads back as appended, with its sequence"
        );
    }
}

fn unloggable_events_are_refused(s: &dyn Store) {
    let c = "log-refused";
    s.append(&[ingested(c, "ok-1")], 1).unwrap();
    // An empty display name reads back as the id; an attempt of 0 does not read back at all.
    let unnamed = log_event(c, "bad-1", joined(profile("nameless", "", &[], false)));
    let mut no_attempt = log_event(c, "bad-2", EventKind::PluginUninstalled);
    no_attempt.meta.attempt = 0;
    for bad in [unnamed, no_attempt] {
        let good = NewEntry::ingested(log_event(c, "ok-2", joined(MemberProfile::new("zoe"))));
        let err = s.append(&[good, NewEntry::ingested(bad)], 2).unwrap_err();
        assert!(matches!(err, StoreError::Db { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot be logged"), "{err}");
        assert_eq!(s.head(c).unwrap(), 1, "nothing of the call is kept");
        assert_eq!(s.find(c, "ok-2").unwrap(), None);
        assert_eq!(s.member(c, "zoe"), None, "nor observed");
    }
    assert_eq!(
        s.append(&[ingested(c, "ok-3")], 3).unwrap(),
        [appended(2)],
        "no sequence was used up"
    );
    // Checked before the dedupe lookup in every store: a duplicate is refused too.
    let mut unloggable_duplicate = log_event(c, "ok-1", EventKind::PluginUninstalled);
    unloggable_duplicate.meta.attempt = 0;
    let err = s.append(&[NewEntry::ingested(unloggable_duplicate)], 4).unwrap_err();
    assert!(err.to_string().contains("cannot be logged"), "{err}");
    assert_eq!(s.head(c).unwrap(), 2);
}

fn cursors_start_at_the_head(s: &dyn Store) {
    let c = "log-cursors";
    assert_eq!(s.cursor(c, "early").unwrap(), None);
    assert_eq!(s.init_cursor(c, "early").unwrap(), at(0), "an empty log's head is 0");
    s.append(&[ingested(c, "k1"), ingested(c, "k2")], 1).unwrap();
    assert_eq!(s.init_cursor(c, "late").unwrap(), at(2));
    s.append(&[ingested(c, "k3")], 2).unwrap();
    assert_eq!(s.init_cursor(c, "late").unwrap(), at(2), "a cursor is created once");
    assert_eq!(s.cursor(c, "late").unwrap(), Some(at(2)));
    assert_eq!(s.cursor(c, "early").unwrap(), Some(at(0)));
    assert_eq!(s.cursor(c, "never").unwrap(), None);
    assert_eq!(s.cursor("elsewhere", "late").unwrap(), None);

    // `init_cursor` answers the cursor as it is, failures included.
    assert!(s.record_failure(c, "early", 0, &failure(1, 5), 10).unwrap());
    let failing = Cursor {
        sequence: 0,
        failures: vec![failure(1, 5)],
        next_attempt_ms: Some(10),
    };
    assert_eq!(s.init_cursor(c, "early").unwrap(), failing);
}

fn commit_is_a_compare_and_set(s: &dyn Store) {
    let (c, p) = ("log-cas", "bot");
    s.init_cursor(c, p).unwrap();
    s.append(&[ingested(c, "cas-1")], 1).unwrap();
    let actions = [kv_set("k", b"first"), send("cas-reply", "hello")];
    let audit = [audit_entry(c, p, "effect", None, 0)];

    for (plugin, from) in [(p, 1), (p, 7), ("no-cursor", 0)] {
        let stale = Commit {
            audit: &audit,
            ..delivery(c, plugin, from, 1, "cas-1", &actions)
        };
        assert!(!s.commit(&stale).unwrap(), "{plugin} from {from}");
    }
    assert_eq!(s.kv_get(c, p, "k"), None, "no action applied");
    assert_eq!(s.message(c, "cas-reply"), None);
    assert!(s.outbox(c).unwrap().is_empty());
    assert!(community_audit(s, c).is_empty());
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(0)));
    assert_eq!(s.cursor(c, "no-cursor").unwrap(), None, "a commit creates no cursor");

    let commit = Commit {
        audit: &audit,
        ..delivery(c, p, 0, 1, "cas-1", &actions)
    };
    assert!(s.commit(&commit).unwrap());
    // A second worker committing the same entry loses, and changes nothing.
    assert!(!s
        .commit(&delivery(c, p, 0, 1, "cas-1", &[kv_set("k", b"second")]))
        .unwrap());
    assert_eq!(s.kv_get(c, p, "k"), Some(b"first".to_vec()));
    assert_eq!(outbox_keys(s.outbox(c).unwrap()), ["cas-1/bot/1"]);
    assert_eq!(community_audit(s, c).len(), 1);
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(1)));
}

fn commit_applies_everything_at_once(s: &dyn Store) {
    let (c, p) = ("log-commit", "helper");
    s.init_cursor(c, p).unwrap();
    let post = log_event(c, "ev-1", posted("general", "m1", "alice", "hi", None));
    s.append(&[NewEntry::ingested(post)], 10).unwrap();
    let actions = [
        kv_set("seen", b"1"),
        send("reply-1", "hello alice"),
        schedule("commit-t", 50, None),
        Action::EditMessage {
            channel: "general".into(),
            message_id: "m1".into(),
            text: "hi (edited)".into(),
        },
        Action::MuteMember {
            member: "alice".into(),
            duration_ms: 100,
            reason: "calm".into(),
        },
        Action::KvDelete { key: "never".into() },
    ];
    let audit = [
        audit_entry(c, p, "effect", None, 0),
        audit_entry(c, p, "effect", Some("messages:send"), 0),
    ];
    let commit = Commit {
        audit: &audit,
        now_ms: 2_000,
        ..delivery(c, p, 0, 1, "ev-1", &actions)
    };
    assert!(s.commit(&commit).unwrap());

    // The actions, as `apply` applies them.
    assert_eq!(s.kv_get(c, p, "seen"), Some(b"1".to_vec()));
    assert_eq!(s.message(c, "reply-1").unwrap().posted_by_plugin.as_deref(), Some(p));
    assert_eq!(s.message(c, "m1").unwrap().text, "hi (edited)");
    assert_eq!(s.standing(c, "alice").muted_until_ms, Some(2_100));
    assert_eq!(s.timer("commit-t").unwrap().due_ms, 2_050);
    // The visible ones in the outbox, keyed by their index among all actions.
    let row = |index: usize| OutboxEntry {
        key: format!("ev-1/{p}/{index}"),
        community: c.into(),
        plugin: p.into(),
        action: serde_json::to_value(&actions[index]).unwrap(),
        created_ms: 2_000,
    };
    assert_eq!(s.outbox(c).unwrap(), [row(1), row(3), row(4)]);
    // The audit entries, numbered by the store.
    let logged = community_audit(s, c);
    assert_eq!(logged.len(), 2);
    assert!(logged[0].seq > 0 && logged[0].seq < logged[1].seq);
    assert_eq!(
        logged[1],
        AuditEntry {
            seq: logged[1].seq,
            ..audit[1].clone()
        }
    );
    // And the cursor.
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(1)));

    s.apply(
        c,
        p,
        0,
        &[Action::CancelTimer {
            timer_id: "commit-t".into(),
        }],
    )
    .unwrap();
}

fn retried_commits_keep_one_outbox_row(s: &dyn Store) {
    let (c, p) = ("log-retry", "echo");
    s.init_cursor(c, p).unwrap();
    s.init_cursor(c, "other").unwrap();
    s.append(&[ingested(c, "once"), ingested(c, "twice")], 1).unwrap();
    let first = [send("echo-1", "first"), kv_set("n", b"1")];
    assert!(s
        .commit(&Commit {
            now_ms: 100,
            ..delivery(c, p, 0, 1, "once", &first)
        })
        .unwrap());
    // The same event committed again (redelivered after the cursor move was lost): same keys.
    let again = [send("echo-1", "second"), kv_set("n", b"2")];
    assert!(s
        .commit(&Commit {
            now_ms: 200,
            ..delivery(c, p, 1, 2, "once", &again)
        })
        .unwrap());
    let rows = s.outbox(c).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].key.as_str(), rows[0].created_ms),
        ("once/echo/0", 100),
        "the first row stays"
    );
    assert_eq!(rows[0].action["text"], "first");
    assert_eq!(s.kv_get(c, p, "n"), Some(b"2".to_vec()), "the actions still apply");
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(2)));

    // Another plugin's actions for the same event have their own keys; no actions, no rows.
    assert!(s.commit(&delivery(c, "other", 0, 1, "once", &first)).unwrap());
    assert!(s.commit(&delivery(c, "other", 1, 2, "twice", &[])).unwrap());
    assert_eq!(outbox_keys(s.outbox(c).unwrap()), ["once/echo/0", "once/other/0"]);
    assert_eq!(s.cursor(c, "other").unwrap(), Some(at(2)));
}

fn failures_accumulate_until_the_cursor_moves(s: &dyn Store) {
    let (c, p) = ("log-failures", "flaky");
    s.init_cursor(c, p).unwrap();
    s.append(&[ingested(c, "f1"), ingested(c, "f2"), ingested(c, "f3")], 1)
        .unwrap();
    assert!(s.record_failure(c, p, 0, &failure(1, 100), 150).unwrap());
    assert!(!s.record_failure(c, p, 1, &failure(9, 100), 999).unwrap(), "not at 1");
    assert!(!s.record_failure(c, "no-cursor", 0, &failure(9, 100), 999).unwrap());
    assert_eq!(s.cursor(c, "no-cursor").unwrap(), None);
    assert!(s.record_failure(c, p, 0, &failure(2, u64::MAX), 400).unwrap());
    let failing = Cursor {
        sequence: 0,
        failures: vec![failure(1, 100), failure(2, u64::MAX)],
        next_attempt_ms: Some(400),
    };
    assert_eq!(s.cursor(c, p).unwrap(), Some(failing));

    // A commit clears them.
    assert!(s.commit(&delivery(c, p, 0, 1, "f1", &[])).unwrap());
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(1)));

    // So does a skip; a skip from elsewhere changes nothing.
    assert!(s.record_failure(c, p, 1, &failure(1, 300), u64::MAX).unwrap());
    assert!(!s.skip(c, p, 0, 3).unwrap());
    assert_eq!(s.cursor(c, p).unwrap().unwrap().next_attempt_ms, Some(u64::MAX));
    assert!(s.skip(c, p, 1, 3).unwrap());
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(3)));
    assert!(!s.skip(c, "no-cursor", 0, 1).unwrap());
    assert_eq!(s.cursor(c, "no-cursor").unwrap(), None);
}

fn dead_letters_and_replay(s: &dyn Store) {
    let c = "log-dead";
    let (p, q) = ("dead-p", "dead-q");
    for plugin in [p, q] {
        s.init_cursor(c, plugin).unwrap();
    }
    s.append(&[ingested(c, "d1"), ingested(c, "d2")], 1).unwrap();
    let entries = s.read_log(c, 0, 10).unwrap();
    let failures = [failure(1, 10), failure(2, 20), failure(3, 30)];
    s.record_failure(c, p, 0, &failures[0], 15).unwrap();
    let audit = [audit_entry(c, p, "dead-letter", None, 0)];

    // Only from where the cursor is.
    assert_eq!(s.dead_letter(p, 1, &entries[0], &failures, 40, &audit).unwrap(), None);
    assert_eq!(
        s.dead_letter("no-cursor", 0, &entries[0], &failures, 40, &audit)
            .unwrap(),
        None
    );
    assert!(s.dead_letters(Some(c), None).unwrap().is_empty());
    assert!(community_audit(s, c).is_empty());
    assert_eq!(s.cursor(c, p).unwrap().unwrap().failures, [failures[0].clone()]);

    let first = s
        .dead_letter(p, 0, &entries[0], &failures, 40, &audit)
        .unwrap()
        .unwrap();
    assert_eq!(first, 1, "dead-letter ids start at 1");
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(1)), "past the entry, failures cleared");
    let letter = DeadLetter {
        id: first,
        community: c.into(),
        plugin: p.into(),
        sequence: 1,
        event: entries[0].event.clone(),
        failures: failures.to_vec(),
        dead_ms: 40,
    };
    assert_eq!(
        s.dead_letter_by_id(first).unwrap(),
        Some(letter),
        "with every failure given"
    );
    assert_eq!(community_audit(s, c).len(), 1);

    let second = s
        .dead_letter(q, 0, &entries[0], &failures[..1], 50, &[])
        .unwrap()
        .unwrap();
    let mut tried = entries[1].clone();
    tried.event.meta.attempt = 3;
    let third = s.dead_letter(p, 1, &tried, &[], 60, &[]).unwrap().unwrap();
    assert!(first < second && second < third, "{first} {second} {third}");
    assert_eq!(
        dead_letter_ids(s, Some(c), None),
        [first, second, third],
        "oldest first"
    );
    assert_eq!(dead_letter_ids(s, Some(c), Some(p)), [first, third]);
    assert_eq!(dead_letter_ids(s, None, Some(q)), [second]);
    assert!(dead_letter_ids(s, Some("nowhere"), None).is_empty());
    assert!(dead_letter_ids(s, Some(c), Some("nobody")).is_empty());
    assert_eq!(s.dead_letter_by_id(third + 100).unwrap(), None);

    // A replay appends a copy for the install only, and the dead letter goes.
    assert_eq!(s.replay(first, 70).unwrap(), appended(3));
    let mut copy = entries[0].event.clone();
    copy.meta.sequence = 3;
    let replayed = LogEntry {
        community: c.into(),
        sequence: 3,
        dedupe_key: format!("replay:{first}"),
        target: Some(p.into()),
        event: copy,
        accepted_ms: 70,
    };
    assert_eq!(s.read_log(c, 2, 10).unwrap(), std::slice::from_ref(&replayed));
    assert_eq!(s.dead_letter_by_id(first).unwrap(), None);
    let err = s.replay(first, 80).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(s.head(c).unwrap(), 3, "a failed replay appends nothing");
    let err = s.replay(9_999, 80).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(dead_letter_ids(s, Some(c), None), [second, third]);

    // A replayed event starts again from attempt 1.
    assert_eq!(s.replay(third, 90).unwrap(), appended(4));
    let again = s.read_log(c, 3, 1).unwrap().remove(0);
    assert_eq!(
        (
            again.event.meta.attempt,
            again.event.meta.id.as_str(),
            again.target.as_deref()
        ),
        (1, "d2", Some(p))
    );

    // Ids are never reused, not even the newest one's after its replay; a replay can die again.
    let fourth = s.dead_letter(p, 2, &replayed, &[], 100, &[]).unwrap().unwrap();
    assert!(fourth > third, "{fourth} after {third}");
    assert_eq!(s.dead_letter_by_id(fourth).unwrap().unwrap().event, replayed.event);
    assert_eq!(s.cursor(c, p).unwrap(), Some(at(3)));
}

fn timer_firings(s: &dyn Store) {
    let (c, p) = ("log-timers", "clock");
    s.apply(
        c,
        p,
        1_000,
        &[schedule("lt-once", 10, None), schedule("lt-every", 10, Some(100))],
    )
    .unwrap();
    let firing = |timer: &Timer| {
        let key = format!("timer:{}:{}", timer.timer_id, timer.due_ms);
        let fired = EventKind::TimerFired {
            timer_id: timer.timer_id.clone(),
            name: timer.name.clone(),
            payload: timer.payload.clone(),
        };
        NewEntry {
            event: log_event(c, &key, fired),
            dedupe_key: key,
            target: Some(timer.plugin.clone()),
        }
    };

    let once = s.timer("lt-once").unwrap();
    assert_eq!(s.fire_timer(&once, &firing(&once), 1_010).unwrap(), appended(1));
    assert_eq!(s.timer("lt-once"), None, "a one-shot timer goes");
    let every = s.timer("lt-every").unwrap();
    assert_eq!(s.fire_timer(&every, &firing(&every), 1_011).unwrap(), appended(2));
    assert_eq!(s.timer("lt-every").unwrap().due_ms, 1_110, "a recurring timer moves on");

    let log = s.read_log(c, 0, 10).unwrap();
    assert_eq!(
        log.iter().map(|e| e.target.as_deref()).collect::<Vec<_>>(),
        [Some(p), Some(p)]
    );
    assert_eq!(
        (log[1].dedupe_key.as_str(), log[1].accepted_ms),
        ("timer:lt-every:1010", 1_011)
    );
    assert_eq!(log[1].event, {
        let mut e = firing(&every).event;
        e.meta.sequence = 2;
        e
    });
    s.apply(
        c,
        p,
        0,
        &[Action::CancelTimer {
            timer_id: "lt-every".into(),
        }],
    )
    .unwrap();
}

fn outbox_relay(s: &dyn Store) {
    // Earlier sections left entries pending: a relay carries them out first.
    let earlier = outbox_keys(s.outbox_pending(usize::MAX).unwrap());
    assert!(!earlier.is_empty());
    s.outbox_delivered(&earlier, 1).unwrap();
    assert!(s.outbox_pending(10).unwrap().is_empty());

    let (c, c2) = ("log-outbox", "log-outbox-2");
    for (community, plugin) in [(c, "p1"), (c, "p2"), (c2, "p1")] {
        s.init_cursor(community, plugin).unwrap();
    }
    s.append(&[ingested(c, "o1"), ingested(c2, "o2")], 1).unwrap();
    let two = [send("o-a", "a"), kv_set("k", b"v"), send("o-b", "b")];
    let one = [send("o-c", "c")];
    assert!(s.commit(&delivery(c, "p1", 0, 1, "o1", &two)).unwrap());
    assert!(s.commit(&delivery(c2, "p1", 0, 1, "o2", &one)).unwrap());
    assert!(s.commit(&delivery(c, "p2", 0, 1, "o1", &one)).unwrap());

    let all = ["o1/p1/0", "o1/p1/2", "o2/p1/0", "o1/p2/0"];
    assert_eq!(
        outbox_keys(s.outbox_pending(10).unwrap()),
        all,
        "commit order, across communities"
    );
    assert_eq!(outbox_keys(s.outbox_pending(2).unwrap()), all[..2]);
    assert!(s.outbox_pending(0).unwrap().is_empty());

    s.outbox_delivered(&["o1/p1/2".into(), "unknown".into()], 5).unwrap();
    s.outbox_delivered(&[], 5).unwrap();
    assert_eq!(
        outbox_keys(s.outbox_pending(10).unwrap()),
        ["o1/p1/0", "o2/p1/0", "o1/p2/0"]
    );
    s.outbox_delivered(&["o1/p1/2".into(), "o1/p1/0".into()], 6).unwrap();
    assert_eq!(outbox_keys(s.outbox_pending(10).unwrap()), ["o2/p1/0", "o1/p2/0"]);
    assert_eq!(
        outbox_keys(s.outbox(c).unwrap()),
        ["o1/p1/0", "o1/p1/2", "o1/p2/0"],
        "delivered or not"
    );
    assert_eq!(outbox_keys(s.outbox(c2).unwrap()), ["o2/p1/0"]);
    assert!(s.outbox("nowhere").unwrap().is_empty());

    // A retried commit does not make a delivered entry pending again.
    s.append(&[ingested(c, "o3")], 7).unwrap();
    assert!(s.commit(&delivery(c, "p1", 1, 2, "o1", &two)).unwrap());
    assert_eq!(outbox_keys(s.outbox_pending(10).unwrap()), ["o2/p1/0", "o1/p2/0"]);
    assert_eq!(s.outbox(c).unwrap().len(), 3);
}

fn pruning(s: &dyn Store) {
    let c = "log-prune";
    assert_eq!(s.prune(c).unwrap(), 0);
    s.append(&[ingested(c, "n1"), ingested(c, "n2"), ingested(c, "n3")], 1)
        .unwrap();
    assert_eq!(s.prune(c).unwrap(), 3, "no cursor: every entry");
    assert!(s.read_log(c, 0, 10).unwrap().is_empty());
    assert_eq!(s.head(c).unwrap(), 3, "the head stays");
    assert_eq!(s.find(c, "n1").unwrap(), None, "pruned keys are forgotten");
    assert_eq!(
        s.append(&[ingested(c, "n1")], 2).unwrap(),
        [appended(4)],
        "the sequence continues"
    );

    s.init_cursor(c, "slow").unwrap();
    s.append(&[ingested(c, "n5"), ingested(c, "n6"), ingested(c, "n7")], 3)
        .unwrap();
    s.init_cursor(c, "fast").unwrap();
    assert!(s.skip(c, "slow", 4, 6).unwrap());
    assert_eq!(s.prune(c).unwrap(), 3, "4 to 6: the slowest cursor passed them");
    assert_eq!(sequences(&s.read_log(c, 0, 10).unwrap()), [7]);
    assert_eq!(s.find(c, "n7").unwrap(), Some(7));
    assert_eq!(s.find(c, "n6").unwrap(), None);
    assert_eq!(s.prune(c).unwrap(), 0);
    assert_eq!(s.append(&[ingested(c, "n8")], 4).unwrap(), [appended(8)]);
    assert_eq!(s.head(c).unwrap(), 8);
    assert_eq!(s.prune("nowhere").unwrap(), 0);

    // A cursor at 0 keeps everything; dead letters outlive their entries.
    let c2 = "log-prune-2";
    s.init_cursor(c2, "behind").unwrap();
    s.init_cursor(c2, "ahead").unwrap();
    s.append(&[ingested(c2, "q1"), ingested(c2, "q2")], 5).unwrap();
    assert_eq!(s.prune(c2).unwrap(), 0);
    let entry = s.read_log(c2, 0, 1).unwrap().remove(0);
    let id = s.dead_letter("ahead", 0, &entry, &[], 6, &[]).unwrap().unwrap();
    s.drop_cursor(c2, "behind").unwrap();
    assert_eq!(s.prune(c2).unwrap(), 1);
    assert_eq!(s.dead_letter_by_id(id).unwrap().unwrap().event, entry.event);
}

fn dropping_a_cursor(s: &dyn Store) {
    let (c, c2) = ("log-drop", "log-drop-2");
    for community in [c, c2] {
        for plugin in ["gone", "stays"] {
            s.init_cursor(community, plugin).unwrap();
        }
        s.append(&[ingested(community, "x1")], 1).unwrap();
        let entry = s.read_log(community, 0, 1).unwrap().remove(0);
        for plugin in ["gone", "stays"] {
            s.dead_letter(plugin, 0, &entry, &[failure(1, 1)], 2, &[])
                .unwrap()
                .unwrap();
        }
    }
    s.drop_cursor(c, "gone").unwrap();
    assert_eq!(s.cursor(c, "gone").unwrap(), None);
    assert!(
        dead_letter_ids(s, Some(c), Some("gone")).is_empty(),
        "its dead letters go too"
    );
    assert_eq!(dead_letter_ids(s, Some(c), Some("stays")).len(), 1);
    assert_eq!(
        dead_letter_ids(s, Some(c2), Some("gone")).len(),
        1,
        "other installs keep theirs"
    );
    assert_eq!(s.cursor(c2, "gone").unwrap(), Some(at(1)));
    s.drop_cursor(c, "gone").unwrap();
    s.drop_cursor("nowhere", "nobody").unwrap();
    s.append(&[ingested(c, "x2")], 3).unwrap();
    assert_eq!(
        s.init_cursor(c, "gone").unwrap(),
        at(2),
        "a new cursor starts at the head"
    );

    // Uninstalling drops the install's cursor too.
    installed(s, c, "uninstalled");
    s.init_cursor(c, "uninstalled").unwrap();
    s.uninstall(c, "uninstalled", &[]).unwrap();
    assert_eq!(s.cursor(c, "uninstalled").unwrap(), None);
}

// Differential ----------------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const COMMUNITIES: [&str; 2] = ["c1", "c2"];
const PLUGINS: [&str; 2] = ["p1", "p2"];
const MEMBERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const MESSAGES: [&str; 4] = ["m1", "m2", "m3", "m4"];
const KEYS: [&str; 8] = ["", "a", "a:1", "a:2", "ab", "b", "é", "é:1"];
const TIMERS: [&str; 4] = ["t1", "t2", "t3", "t4"];
const PSEUDONYMS: [&str; 3] = ["x", "y", "z"];

fn random_event(rng: &mut Rng, now: u64) -> Event {
    let member = rng.pick(&MEMBERS).to_string();
    let message_id = rng.pick(&MESSAGES).to_string();
    let text = format!("text {}", rng.below(5));
    let random_profile = |rng: &mut Rng| MemberProfile {
        id: member.clone(),
        display_name: format!("{member} {}", rng.below(3)),
        roles: (0..rng.below(3)).map(|i| format!("role{i}")).collect(),
        is_bot: rng.below(2) == 0,
    };
    let kind = match rng.below(9) {
        0 => joined(random_profile(rng)),
        1 => EventKind::MemberUpdated {
            member: random_profile(rng),
        },
        2 => EventKind::MemberLeft { member, removed: false },
        3 | 4 => posted(
            rng.pick(&["general", "random"]),
            &message_id,
            &member,
            &text,
            [None, Some("m1")][rng.below(2)],
        ),
        5 => EventKind::MessageEdited {
            channel: "general".into(),
            message_id,
            author: member,
            text,
            mentions: Vec::new(),
            reply_to: None,
            previous_text: String::new(),
        },
        6 => EventKind::MessageDeleted {
            channel: "general".into(),
            message_id,
            deleted_by: "mod".into(),
        },
        7 => EventKind::MemberMuted {
            member,
            moderator: "mod".into(),
            duration_ms: [0, 100, u64::MAX][rng.below(3)],
            reason: String::new(),
        },
        _ => EventKind::MemberBanned {
            member,
            moderator: "mod".into(),
            reason: String::new(),
        },
    };
    event(rng.pick(&COMMUNITIES), now, kind)
}

fn random_action(rng: &mut Rng) -> Action {
    let member = rng.pick(&MEMBERS).to_string();
    let message_id = rng.pick(&MESSAGES).to_string();
    match rng.below(10) {
        0 => Action::SendMessage {
            channel: "general".into(),
            message_id,
            text: format!("bot {}", rng.below(5)),
            reply_to: [None, Some("m2".to_string())][rng.below(2)].clone(),
        },
        1 => Action::EditMessage {
            channel: "general".into(),
            message_id,
            text: format!("edit {}", rng.below(5)),
        },
        2 => Action::DeleteMessage {
            channel: "general".into(),
            message_id,
            reason: String::new(),
        },
        3 => Action::MuteMember {
            member,
            duration_ms: [5, 1000, u64::MAX][rng.below(3)],
            reason: String::new(),
        },
        4 => Action::KickMember {
            member,
            reason: String::new(),
        },
        5 => Action::BanMember {
            member,
            reason: String::new(),
        },
        6 | 7 => {
            let value: Vec<u8> = (0..rng.below(4)).map(|_| rng.next() as u8).collect();
            kv_set(rng.pick(&KEYS), &value)
        }
        8 => Action::KvDelete {
            key: rng.pick(&KEYS).into(),
        },
        _ if rng.below(3) == 0 => Action::CancelTimer {
            timer_id: rng.pick(&TIMERS).into(),
        },
        _ => schedule(
            rng.pick(&TIMERS),
            [0, 10, 500, u64::MAX][rng.below(4)],
            [None, Some(1), Some(250)][rng.below(3)],
        ),
    }
}

/// Everything a store answers about the differential test's small world.
fn snapshot(s: &dyn Store, now: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for c in COMMUNITIES {
        writeln!(out, "{c} members {:?}", s.members_page(c, None, 100)).unwrap();
        writeln!(out, "{c} page {:?}", s.members_page(c, Some("bob"), 1)).unwrap();
        for m in MEMBERS {
            writeln!(out, "{c} {m} {:?} {:?}", s.member(c, m), s.standing(c, m)).unwrap();
        }
        writeln!(out, "{c} messages {:?}", s.messages(c)).unwrap();
        for id in MESSAGES {
            writeln!(out, "{c} {id} {:?}", s.message(c, id)).unwrap();
        }
        for p in PLUGINS {
            writeln!(out, "{c} {p} bytes {}", s.kv_bytes(c, p)).unwrap();
            writeln!(out, "{c} {p} keys {:?}", s.kv_keys(c, p, "", None, 100)).unwrap();
            writeln!(out, "{c} {p} a {:?}", s.kv_keys(c, p, "a", Some("a:1"), 2)).unwrap();
            writeln!(out, "{c} {p} é {:?}", s.kv_keys(c, p, "é", None, 1)).unwrap();
            for k in KEYS {
                writeln!(out, "{c} {p} {k:?} {:?}", s.kv_get(c, p, k)).unwrap();
            }
            for x in PSEUDONYMS {
                writeln!(out, "{c} {p} {x} {:?}", s.resolve_pseudonym(c, p, x)).unwrap();
            }
        }
    }
    writeln!(out, "due {:?}", s.due_timers(now)).unwrap();
    writeln!(out, "all due {:?}", s.due_timers(u64::MAX)).unwrap();
    for t in TIMERS {
        writeln!(out, "{t} {:?}", s.timer(t)).unwrap();
    }
    admin_snapshot(s, &mut out);
    log_snapshot(s, &mut out);
    out
}

/// The admin world of the differential test: every plugin installed in every community.
fn admin_setup(s: &dyn Store) {
    for c in COMMUNITIES {
        s.create_community(c, 0).unwrap();
        for p in PLUGINS {
            let pkg = package(p, "1.0.0");
            s.put_package(&pkg).unwrap();
            s.put_install(&install(c, &pkg, "none", 0)).unwrap();
        }
    }
}

/// Runs one admin operation on both stores; `Err` when they answer differently.
fn on_both<T: std::fmt::Debug>(
    a: &dyn Store,
    b: &dyn Store,
    what: String,
    op: impl Fn(&dyn Store) -> Result<T, StoreError>,
) -> Result<String, String> {
    let outcome = |s: &dyn Store| format!("{:?}", op(s).map_err(|e| e.to_string()));
    let (left, right) = (outcome(a), outcome(b));
    if left == right {
        Ok(format!("{what} -> {left}"))
    } else {
        Err(format!(
            "stores answer {what} differently:\n  left:  {left}\n  right: {right}"
        ))
    }
}

/// A random admin operation on installs' limits, breakers and review policies.
fn random_admin_step(a: &dyn Store, b: &dyn Store, rng: &mut Rng, now: u64) -> Result<String, String> {
    let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
    match rng.below(3) {
        0 if rng.below(3) > 0 => {
            let breaker = BreakerRecord {
                state: [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen][rng.below(3)],
                recent_failures: (0..rng.below(4)).map(|_| now - rng.below(500) as u64).collect(),
                trips: rng.below(4) as u32,
                retry_at_ms: [None, Some(now + 100), Some(u64::MAX)][rng.below(3)],
            };
            on_both(a, b, format!("put_breaker {c} {p} {breaker:?}"), |s| {
                s.put_breaker(c, p, &breaker)
            })
        }
        0 => {
            let c = rng.pick(&["c1", "c2", "c3"]);
            let policy = [ReviewFailPolicy::FailOpen, ReviewFailPolicy::FailClosed][rng.below(2)];
            on_both(a, b, format!("set_review_fail_policy {c} {policy:?}"), |s| {
                s.set_review_fail_policy(c, policy)
            })
        }
        _ if a.install(c, p).unwrap().is_some() && rng.below(2) == 0 => {
            on_both(a, b, format!("uninstall {c} {p}"), |s| s.uninstall(c, p, &[]))
        }
        _ => {
            let pick = |rng: &mut Rng| [None, Some(0), Some(64), Some(u64::MAX)][rng.below(4)];
            let record = InstallRecord {
                limits: LimitOverrides {
                    memory_mb: pick(rng),
                    cpu_ms: pick(rng),
                    wall_clock_ms: pick(rng),
                    fuel: pick(rng),
                    messages_per_minute_per_channel: pick(rng),
                    channel_burst: pick(rng),
                    ..LimitOverrides::default()
                },
                enabled: rng.below(2) == 0,
                ..install(c, &package(p, "1.0.0"), "none", now)
            };
            on_both(a, b, format!("put_install {record:?}"), |s| s.put_install(&record))
        }
    }
}

/// Everything a store answers about the differential test's admin world.
fn admin_snapshot(s: &dyn Store, out: &mut String) {
    use std::fmt::Write;
    writeln!(out, "communities {:?}", s.communities().unwrap()).unwrap();
    for c in COMMUNITIES {
        writeln!(out, "{c} installs {:?}", s.installs(c).unwrap()).unwrap();
        for p in PLUGINS {
            writeln!(out, "{c} {p} breaker {:?}", s.breaker(c, p).unwrap()).unwrap();
        }
    }
}

/// The kind of a store error: what the differential compares, as the stores word errors
/// differently.
fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::Open { .. } => "Open",
        StoreError::Locked { .. } => "Locked",
        StoreError::Corrupt { .. } => "Corrupt",
        StoreError::TooNew { .. } => "TooNew",
        StoreError::NotFound(_) => "NotFound",
        StoreError::Conflict(_) => "Conflict",
        StoreError::Db { .. } => "Db",
    }
}

/// Runs one log operation on both stores; `Err` when they answer differently (errors by kind).
fn on_both_by_kind<T: std::fmt::Debug>(
    a: &dyn Store,
    b: &dyn Store,
    what: String,
    op: impl Fn(&dyn Store) -> Result<T, StoreError>,
) -> Result<String, String> {
    let outcome = |s: &dyn Store| format!("{:?}", op(s).map_err(|e| error_kind(&e)));
    let (left, right) = (outcome(a), outcome(b));
    if left == right {
        Ok(format!("{what} -> {left}"))
    } else {
        Err(format!(
            "stores answer {what} differently:\n  left:  {left}\n  right: {right}"
        ))
    }
}

/// How many event ids the differential's log entries share, so redeliveries are common.
const LOG_IDS: usize = 24;

fn random_entry(rng: &mut Rng, now: u64) -> NewEntry {
    let mut event = random_event(rng, now);
    event.meta.id = format!("ev{}", rng.below(LOG_IDS));
    let target = match rng.below(4) {
        0 => Some(rng.pick(&PLUGINS).to_string()),
        _ => None,
    };
    NewEntry {
        dedupe_key: event.meta.id.clone(),
        event,
        target,
    }
}

fn random_audit(rng: &mut Rng, c: &str, p: &str, now: u64) -> Vec<AuditEntry> {
    (0..rng.below(3))
        .map(|i| AuditEntry {
            time_ms: now,
            ..audit_entry(c, p, "effect", None, i as u64)
        })
        .collect()
}

/// The entry firing a timer, as the scheduler logs it.
fn timer_entry(timer: &Timer, now: u64) -> NewEntry {
    let key = format!("timer:{}:{}", timer.timer_id, timer.due_ms);
    let fired = EventKind::TimerFired {
        timer_id: timer.timer_id.clone(),
        name: timer.name.clone(),
        payload: timer.payload.clone(),
    };
    let mut event = event(&timer.community, now, fired);
    event.meta.id = key.clone();
    NewEntry {
        event,
        dedupe_key: key,
        target: Some(timer.plugin.clone()),
    }
}

/// A random delivery-log operation, mostly from where the install's cursor is (sometimes from
/// elsewhere, as a stale worker would).
fn random_log_step(a: &dyn Store, b: &dyn Store, rng: &mut Rng, now: u64) -> Result<String, String> {
    let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
    let cursor = a.cursor(c, p).unwrap().map_or(0, |cursor| cursor.sequence);
    let from = if rng.below(6) == 0 { cursor + 1 } else { cursor };
    let next = a.read_log(c, cursor, 1).unwrap().pop();
    let to = next.as_ref().map_or(cursor + 1, |e| e.sequence);
    let event_id = next
        .as_ref()
        .map_or_else(|| "none".to_string(), |e| e.event.meta.id.clone());
    let due = a.due_timers(now).into_iter().next();
    match (rng.below(12), next, due) {
        (0..=2, ..) => {
            let entries: Vec<NewEntry> = (0..1 + rng.below(3)).map(|_| random_entry(rng, now)).collect();
            on_both_by_kind(a, b, format!("append {entries:?}"), |s| s.append(&entries, now))
        }
        (3, ..) => on_both_by_kind(a, b, format!("init_cursor {c} {p}"), |s| s.init_cursor(c, p)),
        (4 | 5, ..) => {
            let actions: Vec<Action> = (0..rng.below(4)).map(|_| random_action(rng)).collect();
            let audit = random_audit(rng, c, p, now);
            let commit = Commit {
                community: c,
                plugin: p,
                from,
                to,
                event_id: &event_id,
                now_ms: now,
                actions: &actions,
                audit: &audit,
            };
            on_both_by_kind(a, b, format!("commit {commit:?}"), |s| s.commit(&commit))
        }
        (6, ..) => on_both_by_kind(a, b, format!("skip {c} {p} {from} {to}"), |s| s.skip(c, p, from, to)),
        (7, ..) => {
            let failure = AttemptFailure {
                attempt: 1 + rng.below(3) as u32,
                at_ms: now,
                reason: "timeout".into(),
                message: format!("took {} ms", rng.below(1000)),
            };
            let retry = now + rng.below(1000) as u64;
            on_both_by_kind(a, b, format!("record_failure {c} {p} {from} {failure:?}"), |s| {
                s.record_failure(c, p, from, &failure, retry)
            })
        }
        (8, Some(entry), _) => {
            let mut failures = a.cursor(c, p).unwrap().map(|c| c.failures).unwrap_or_default();
            failures.truncate(rng.below(3));
            let audit = random_audit(rng, c, p, now);
            on_both_by_kind(a, b, format!("dead_letter {p} {from} {entry:?}"), |s| {
                s.dead_letter(p, from, &entry, &failures, now, &audit)
            })
        }
        (9, ..) => {
            let oldest = a.dead_letters(None, None).unwrap().first().map(|d| d.id);
            let id = match oldest {
                Some(id) if rng.below(4) > 0 => id,
                _ => rng.below(8) as u64,
            };
            on_both_by_kind(a, b, format!("replay {id}"), |s| s.replay(id, now))
        }
        (10, _, Some(timer)) => {
            let entry = timer_entry(&timer, now);
            on_both_by_kind(a, b, format!("fire_timer {timer:?}"), |s| {
                s.fire_timer(&timer, &entry, now)
            })
        }
        (11, ..) => {
            let mut keys = outbox_keys(a.outbox_pending(rng.below(4)).unwrap());
            keys.push("unknown".into());
            on_both_by_kind(a, b, format!("outbox_delivered {keys:?}"), |s| {
                s.outbox_delivered(&keys, now)
            })
        }
        _ if rng.below(4) == 0 => on_both_by_kind(a, b, format!("drop_cursor {c} {p}"), |s| s.drop_cursor(c, p)),
        _ => on_both_by_kind(a, b, format!("prune {c}"), |s| s.prune(c)),
    }
}

/// Everything a store answers about the differential test's logs.
fn log_snapshot(s: &dyn Store, out: &mut String) {
    use std::fmt::Write;
    for c in COMMUNITIES {
        writeln!(out, "{c} head {}", s.head(c).unwrap()).unwrap();
        writeln!(out, "{c} log {:?}", s.read_log(c, 0, usize::MAX).unwrap()).unwrap();
        writeln!(out, "{c} log page {:?}", s.read_log(c, 3, 2).unwrap()).unwrap();
        let found: Vec<Option<u64>> = (0..LOG_IDS).map(|i| s.find(c, &format!("ev{i}")).unwrap()).collect();
        writeln!(out, "{c} found {found:?}").unwrap();
        for p in PLUGINS {
            writeln!(out, "{c} {p} cursor {:?}", s.cursor(c, p).unwrap()).unwrap();
            writeln!(out, "{c} {p} dead {:?}", s.dead_letters(Some(c), Some(p)).unwrap()).unwrap();
        }
        writeln!(out, "{c} outbox {:?}", s.outbox(c).unwrap()).unwrap();
    }
    writeln!(out, "dead letters {:?}", s.dead_letters(None, None).unwrap()).unwrap();
    writeln!(out, "dead letter 1 {:?}", s.dead_letter_by_id(1).unwrap()).unwrap();
    writeln!(out, "pending {:?}", s.outbox_pending(usize::MAX).unwrap()).unwrap();
    writeln!(out, "first pending {:?}", s.outbox_pending(1).unwrap()).unwrap();
    writeln!(out, "audit {:?}", s.audit(&AuditQuery::default()).unwrap()).unwrap();
}

/// Replays the same random operations on both stores and compares every answer after each.
pub(super) fn differential(a: &dyn Store, b: &dyn Store, seed: u64, steps: usize) {
    let mut rng = Rng(seed.max(1));
    let mut now = 1_000u64;
    admin_setup(a);
    admin_setup(b);
    for step in 0..steps {
        now += rng.below(300) as u64;
        let what = match rng.below(20) {
            0..=3 => {
                let e = random_event(&mut rng, now);
                a.observe(&e).unwrap();
                b.observe(&e).unwrap();
                format!("observe {e:?}")
            }
            4..=6 => {
                let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
                let actions: Vec<Action> = (0..rng.below(5)).map(|_| random_action(&mut rng)).collect();
                a.apply(c, p, now, &actions).unwrap();
                b.apply(c, p, now, &actions).unwrap();
                format!("apply {c} {p} {actions:?}")
            }
            7 => {
                let due = a.due_timers(now);
                let id = due
                    .first()
                    .map(|t| t.timer_id.clone())
                    .unwrap_or_else(|| rng.pick(&TIMERS).to_string());
                a.timer_fired(&id).unwrap();
                b.timer_fired(&id).unwrap();
                format!("timer_fired {id}")
            }
            8 => {
                let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
                let pairs: Vec<(String, String)> = (0..rng.below(3))
                    .map(|_| (rng.pick(&PSEUDONYMS).to_string(), rng.pick(&MEMBERS).to_string()))
                    .collect();
                a.remember_pseudonyms(c, p, &pairs).unwrap();
                b.remember_pseudonyms(c, p, &pairs).unwrap();
                format!("remember_pseudonyms {c} {p} {pairs:?}")
            }
            9 => {
                let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
                a.forget_plugin(c, p).unwrap();
                b.forget_plugin(c, p).unwrap();
                format!("forget_plugin {c} {p}")
            }
            10..=13 => random_admin_step(a, b, &mut rng, now)
                .unwrap_or_else(|disagreement| panic!("seed {seed} step {step}: {disagreement}")),
            _ => random_log_step(a, b, &mut rng, now)
                .unwrap_or_else(|disagreement| panic!("seed {seed} step {step}: {disagreement}")),
        };
        let (left, right) = (snapshot(a, now), snapshot(b, now));
        if left != right {
            let diff: Vec<String> = left
                .lines()
                .zip(right.lines())
                .filter(|(l, r)| l != r)
                .map(|(l, r)| format!("  left:  {l}\n  right: {r}"))
                .collect();
            panic!(
                "seed {seed} step {step}: stores disagree after {what}:\n{}",
                diff.join("\n")
            );
        }
    }
}

/// Eight threads commit the same entry at once: exactly one wins, and its effects and outbox
/// entry are there once.
pub(super) fn one_of_many_workers_commits(store: std::sync::Arc<dyn Store>) {
    store.init_cursor("c", "p").unwrap();
    store.append(&[ingested("c", "e1")], 1).unwrap();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let actions = [send(&format!("reply-{w}"), "hi"), kv_set("winner", &[w])];
                store.commit(&delivery("c", "p", 0, 1, "e1", &actions)).unwrap()
            })
        })
        .collect();
    let winners = workers.into_iter().map(|h| h.join().unwrap());
    assert_eq!(winners.filter(|won| *won).count(), 1);
    let posted: Vec<StoredMessage> = store
        .messages("c")
        .into_iter()
        .filter(|m| m.posted_by_plugin.is_some())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(store.outbox("c").unwrap().len(), 1);
    assert_eq!(store.cursor("c", "p").unwrap(), Some(at(1)));
}

/// Four threads write through one store at once; every write lands.
pub(super) fn shared_by_threads(store: std::sync::Arc<dyn Store>) {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..25 {
                    store
                        .apply("c", &format!("p{t}"), 0, &[kv_set(&format!("k{i:02}"), b"v")])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for t in 0..4 {
        assert_eq!(store.kv_keys("c", &format!("p{t}"), "k", None, 100).len(), 25);
    }
}

mod tests {
    use std::sync::Arc;

    use super::*;

    fn file_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn memory_store_conforms() {
        community_store_suite(&MemoryStore::new());
        admin_store_suite(&MemoryStore::new());
        delivery_log_suite(&MemoryStore::new());
    }

    #[test]
    fn sqlite_in_memory_conforms() {
        community_store_suite(&SqliteStore::open_in_memory().unwrap());
        admin_store_suite(&SqliteStore::open_in_memory().unwrap());
        delivery_log_suite(&SqliteStore::open_in_memory().unwrap());
    }

    #[test]
    fn sqlite_file_conforms() {
        let (_dir, store) = file_store();
        community_store_suite(&store);
        admin_store_suite(&store);
        delivery_log_suite(&store);
    }

    #[test]
    fn memory_and_sqlite_agree_on_random_operations() {
        for seed in [1, 0x9e37_79b9_7f4a_7c15, 42] {
            let sqlite = SqliteStore::open_in_memory().unwrap();
            differential(&MemoryStore::new(), &sqlite, seed, 400);
        }
    }

    #[test]
    fn memory_and_file_sqlite_agree_on_random_operations() {
        let (_dir, store) = file_store();
        differential(&MemoryStore::new(), &store, 7, 200);
    }

    #[test]
    fn one_of_many_workers_commits_an_entry() {
        let (_dir, file) = file_store();
        one_of_many_workers_commits(Arc::new(MemoryStore::new()));
        one_of_many_workers_commits(Arc::new(SqliteStore::open_in_memory().unwrap()));
        one_of_many_workers_commits(Arc::new(file));
    }

    #[test]
    fn stores_are_shareable_trait_objects() {
        shared_by_threads(Arc::new(MemoryStore::new()));
        shared_by_threads(Arc::new(SqliteStore::open_in_memory().unwrap()));
    }
}
