//! The behaviour every [`Store`] shares, as suites run against each backend ([`MemoryStore`],
//! [`SqliteStore`] in memory and on disk), plus a randomised differential test that replays the
//! same operations on two stores and compares everything they answer.

use super::admin::{
    AuditEntry, AuditQuery, BreakerRecord, BreakerState, CommunityRecord, InstallRecord, LimitOverrides,
    PendingUpgrade, PluginPackage, ReviewFailPolicy, StoreError,
};
use super::memory::MemoryStore;
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
    breakers(s);
    held_events(s);
    uninstall_takes_breaker_and_held_events(s);
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
            },
            CommunityRecord {
                id: "beta".into(),
                created_ms: 20,
                review_fail_policy: ReviewFailPolicy::FailOpen,
            },
        ]
    );
    assert!(s.community_exists("alpha").unwrap());
    assert!(!s.community_exists("gamma").unwrap());
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
    s.delete_install("alpha", "welcome").unwrap();
    assert_eq!(s.install("alpha", "welcome").unwrap(), None);
    assert_eq!(plugin_ids(&s.installs("alpha").unwrap()), ["poll", "anti-spam"]);
    let err = s.delete_install("alpha", "welcome").unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `welcome` is not installed in community `alpha`"
    );
    let err = s.delete_install("gamma", "poll").unwrap_err();
    assert_eq!(err.to_string(), "plugin `poll` is not installed in community `gamma`");
    let again = install("alpha", &welcome, "commands", 200);
    s.put_install(&again).unwrap();
    let all = s.installs("alpha").unwrap();
    assert_eq!(plugin_ids(&all), ["poll", "anti-spam", "welcome"]);
    assert_eq!(all[2], again);
    assert_eq!(all[0], upgraded);

    // The first install of a community can also be the most recent one overall.
    s.delete_install("beta", "poll").unwrap();
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

/// An installed plugin in a fresh community, for the breaker and held event sections.
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

fn held_ids(held: &[(u64, Event)]) -> Vec<u64> {
    held.iter().map(|(id, _)| *id).collect()
}

fn held_events(s: &dyn Store) {
    let c = "held";
    installed(s, c, "slow");
    installed(s, c, "other");
    assert!(s.held_events(c, "slow", 10).unwrap().is_empty());
    assert_eq!(s.held_count(c, "slow").unwrap(), 0);
    assert!(s.held_events("nowhere", "slow", 10).unwrap().is_empty());
    assert_eq!(s.held_count("nowhere", "slow").unwrap(), 0);

    // Every event reads back exactly as it was held, oldest first.
    let events = varied_events(c);
    let mut ids = Vec::new();
    for e in &events {
        ids.push(s.hold_event(c, "slow", e).unwrap());
    }
    assert_eq!(ids[0], 1, "hold ids start at 1");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "hold ids increase: {ids:?}");
    let held = s.held_events(c, "slow", usize::MAX).unwrap();
    assert_eq!(held_ids(&held), ids);
    for ((_, back), sent) in held.iter().zip(&events) {
        assert_eq!(back, sent);
    }
    assert_eq!(s.held_count(c, "slow").unwrap(), events.len() as u64);
    assert_eq!(held_ids(&s.held_events(c, "slow", 2).unwrap()), ids[..2]);
    assert!(s.held_events(c, "slow", 0).unwrap().is_empty());
    assert!(
        s.held_events(c, "other", 10).unwrap().is_empty(),
        "held events are per install"
    );

    // Another install's events interleave in hold id order but stay its own.
    let other_id = s.hold_event(c, "other", &events[0]).unwrap();
    assert!(other_id > *ids.last().unwrap());
    assert_eq!(s.held_events(c, "other", 10).unwrap(), [(other_id, events[0].clone())]);
    let late = s.hold_event(c, "slow", &events[1]).unwrap();
    assert!(late > other_id);

    // Releasing: one from the middle, the oldest, ones that are not held (or not this install's).
    s.release_held(c, "slow", ids[3]).unwrap();
    s.release_held(c, "slow", ids[0]).unwrap();
    s.release_held(c, "slow", ids[0]).unwrap();
    s.release_held(c, "slow", other_id).unwrap();
    s.release_held(c, "slow", u64::MAX).unwrap();
    s.release_held("nowhere", "slow", ids[1]).unwrap();
    s.release_held(c, "unknown", ids[1]).unwrap();
    let mut expected: Vec<u64> = ids.iter().copied().filter(|&id| id != ids[0] && id != ids[3]).collect();
    expected.push(late);
    assert_eq!(held_ids(&s.held_events(c, "slow", 100).unwrap()), expected);
    assert_eq!(held_ids(&s.held_events(c, "slow", 1).unwrap()), [ids[1]]);
    assert_eq!(s.held_count(c, "slow").unwrap(), expected.len() as u64);
    assert_eq!(s.held_events(c, "other", 10).unwrap().len(), 1, "still held");
    assert_eq!(s.held_events(c, "slow", 100).unwrap().last().unwrap().1, events[1]);

    // Releasing the newest does not let its id be given out again.
    s.release_held(c, "slow", late).unwrap();
    let next = s.hold_event(c, "slow", &events[2]).unwrap();
    assert!(next > late, "{next} after {late}");

    // Events belong to an install.
    let err = s.hold_event(c, "unknown", &events[0]).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "plugin `unknown` is not installed in community `held`");
    let err = s.hold_event("nowhere", "slow", &events[0]).unwrap_err();
    assert_eq!(err.to_string(), "plugin `slow` is not installed in community `nowhere`");
    assert_eq!(s.held_count(c, "unknown").unwrap(), 0);

    // An event reads back as `EventDefaults` reads its JSON: an empty display name becomes the id.
    let unnamed = event(c, 5, joined(profile("nameless", "", &[], false)));
    let id = s.hold_event(c, "other", &unnamed).unwrap();
    let back = s.held_events(c, "other", 10).unwrap().pop().unwrap();
    assert_eq!(back.0, id);
    assert_eq!(back.1, event(c, 5, joined(profile("nameless", "nameless", &[], false))));

    // An event that would not read back is refused, and nothing is held.
    let count = s.held_count(c, "other").unwrap();
    for bad in [
        Event {
            meta: EventMeta {
                attempt: 0,
                ..events[2].meta.clone()
            },
            ..events[2].clone()
        },
        Event {
            meta: EventMeta {
                id: " ".into(),
                ..events[2].meta.clone()
            },
            ..events[2].clone()
        },
    ] {
        let err = s.hold_event(c, "other", &bad).unwrap_err();
        assert!(matches!(err, StoreError::Db { .. }), "{err:?}");
        assert!(err.to_string().contains("the event cannot be stored"), "{err}");
    }
    assert_eq!(s.held_count(c, "other").unwrap(), count);
    let after = s.hold_event(c, "other", &events[3]).unwrap();
    assert_eq!(after, id + 1, "a refused event takes no hold id");
}

fn uninstall_takes_breaker_and_held_events(s: &dyn Store) {
    let c = "uninstall";
    let record = installed(s, c, "gone");
    installed(s, c, "stays");
    let tripped = BreakerRecord {
        state: BreakerState::Open,
        recent_failures: vec![1, 2, 3],
        trips: 3,
        retry_at_ms: Some(10),
    };
    for p in ["gone", "stays"] {
        s.put_breaker(c, p, &tripped).unwrap();
        s.hold_event(c, p, &event(c, 1, posted("general", "m1", "alice", "hi", None)))
            .unwrap();
        s.hold_event(c, p, &event(c, 2, posted("general", "m2", "bob", "ho", None)))
            .unwrap();
    }
    let last = s.held_events(c, "stays", 10).unwrap().last().unwrap().0;

    s.delete_install(c, "gone").unwrap();
    assert_eq!(s.breaker(c, "gone").unwrap(), None);
    assert_eq!(s.held_count(c, "gone").unwrap(), 0);
    assert!(s.held_events(c, "gone", 10).unwrap().is_empty());
    assert_eq!(s.breaker(c, "stays").unwrap(), Some(tripped));
    assert_eq!(s.held_count(c, "stays").unwrap(), 2);

    // A failed delete changes nothing; a new install of the plugin starts clean.
    assert!(s.delete_install(c, "gone").is_err());
    s.put_install(&record).unwrap();
    assert_eq!(s.breaker(c, "gone").unwrap(), None);
    assert_eq!(s.held_count(c, "gone").unwrap(), 0);
    let id = s
        .hold_event(c, "gone", &event(c, 3, EventKind::PluginUninstalled))
        .unwrap();
    assert!(id > last, "hold ids are never reused");
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

/// A random admin operation on installs' limits, breakers, held events and review policies.
fn random_admin_step(a: &dyn Store, b: &dyn Store, rng: &mut Rng, now: u64) -> Result<String, String> {
    let (c, p) = (rng.pick(&COMMUNITIES), rng.pick(&PLUGINS));
    match rng.below(4) {
        0 => {
            let e = random_event(rng, now);
            on_both(a, b, format!("hold_event {c} {p} {e:?}"), |s| s.hold_event(c, p, &e))
        }
        1 => {
            let oldest = a.held_events(c, p, 1).unwrap().first().map(|(id, _)| *id);
            let id = match oldest {
                Some(id) if rng.below(3) > 0 => id,
                _ => rng.below(40) as u64,
            };
            on_both(a, b, format!("release_held {c} {p} {id}"), |s| s.release_held(c, p, id))
        }
        2 if rng.below(3) > 0 => {
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
        2 => {
            let c = rng.pick(&["c1", "c2", "c3"]);
            let policy = [ReviewFailPolicy::FailOpen, ReviewFailPolicy::FailClosed][rng.below(2)];
            on_both(a, b, format!("set_review_fail_policy {c} {policy:?}"), |s| {
                s.set_review_fail_policy(c, policy)
            })
        }
        _ if a.install(c, p).unwrap().is_some() && rng.below(2) == 0 => {
            on_both(a, b, format!("delete_install {c} {p}"), |s| s.delete_install(c, p))
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
            writeln!(out, "{c} {p} held {:?}", s.held_events(c, p, 100).unwrap()).unwrap();
            writeln!(out, "{c} {p} first held {:?}", s.held_events(c, p, 1).unwrap()).unwrap();
            writeln!(out, "{c} {p} held count {}", s.held_count(c, p).unwrap()).unwrap();
        }
    }
}

/// Replays the same random operations on both stores and compares every answer after each.
pub(super) fn differential(a: &dyn Store, b: &dyn Store, seed: u64, steps: usize) {
    let mut rng = Rng(seed.max(1));
    let mut now = 1_000u64;
    admin_setup(a);
    admin_setup(b);
    for step in 0..steps {
        now += rng.below(300) as u64;
        let what = match rng.below(14) {
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
            _ => match random_admin_step(a, b, &mut rng, now) {
                Ok(what) => what,
                Err(disagreement) => panic!("seed {seed} step {step}: {disagreement}"),
            },
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
    }

    #[test]
    fn sqlite_in_memory_conforms() {
        community_store_suite(&SqliteStore::open_in_memory().unwrap());
        admin_store_suite(&SqliteStore::open_in_memory().unwrap());
    }

    #[test]
    fn sqlite_file_conforms() {
        let (_dir, store) = file_store();
        community_store_suite(&store);
        admin_store_suite(&store);
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
    fn stores_are_shareable_trait_objects() {
        let stores: Vec<Arc<dyn Store>> = vec![
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteStore::open_in_memory().unwrap()),
        ];
        for store in stores {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let store = Arc::clone(&store);
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
    }
}
