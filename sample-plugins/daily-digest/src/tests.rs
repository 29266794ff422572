use super::*;
use plaza_sdk::logging::Level;
use plaza_sdk::testing;
use time::{DAY_MS, HOUR_MS};

/// 2026-01-01T00:00:00Z.
const NEW_YEAR: u64 = 1_767_225_600_000;

fn deliver(kind: EventKind) {
    testing::deliver::<DailyDigest>(kind).unwrap();
}

fn reaction(member: &str) -> EventKind {
    EventKind::ReactionAdded(Reaction {
        channel: "general".into(),
        message_id: "m1".into(),
        member: member.into(),
        emoji: "👍".into(),
        message_author: None,
    })
}

fn left(member: &str) -> EventKind {
    EventKind::MemberLeft(MemberLeft {
        member: member.into(),
        removed: false,
    })
}

/// Installed at 09:00 on 2026-01-01 posting to "news" at 18:00.
fn installed() -> testing::ScheduledTimer {
    testing::set_now(NEW_YEAR + 9 * HOUR_MS);
    deliver(testing::installed(&[("channel", "news"), ("hour_utc", "18")]));
    let timers = testing::timers();
    assert_eq!(timers.len(), 1);
    timers[0].clone()
}

fn a_day_of_activity() {
    for (who, text) in [("ann", "hi"), ("bob", "hello"), ("ann", "lunch?"), ("cy", "yes")] {
        deliver(testing::posted("general", who, text));
    }
    deliver(testing::joined("dee", "Dee"));
    deliver(testing::joined("eve", "Eve"));
    deliver(left("bob"));
    deliver(reaction("ann"));
}

fn fire(timer: &testing::ScheduledTimer) -> Event {
    testing::set_now(timer.payload.parse().unwrap());
    Event {
        meta: testing::meta(),
        kind: testing::timer_fired(&timer.id, &timer.name, &timer.payload),
    }
}

#[test]
fn install_schedules_the_first_digest_at_the_configured_hour() {
    let timer = installed();
    assert_eq!(timer.name, TIMER);
    assert!(!timer.repeating);
    assert_eq!(timer.delay_ms, 9 * HOUR_MS);
    assert_eq!(timer.payload, (NEW_YEAR + 18 * HOUR_MS).to_string());
    assert_eq!(testing::kv_get_string(KEY_TIMER), Some(timer.id));
    assert_eq!(testing::kv_get_string(KEY_CHANNEL).as_deref(), Some("news"));
}

#[test]
fn the_timer_posts_the_days_counts_starts_over_and_schedules_tomorrow() {
    let timer = installed();
    a_day_of_activity();
    assert_eq!(testing::kv_get_string(counter::MESSAGES).as_deref(), Some("4"));
    assert_eq!(testing::kv_get_string(counter::POSTERS).as_deref(), Some("3"));

    testing::deliver_event::<DailyDigest>(fire(&timer)).unwrap();
    let sent = testing::sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channel, "news");
    assert_eq!(
        sent[0].text,
        "📰 Daily digest for 2026-01-01: 4 messages from 3 members, 2 new members joined, 1 member left, \
         1 reaction."
    );
    for key in counter::ALL {
        assert_eq!(testing::kv_get_string(key), None, "{key}");
    }
    assert!(testing::with_host(|h| h
        .kv
        .keys()
        .all(|k| !k.starts_with(POSTER_PREFIX))));

    let timers = testing::timers();
    assert_eq!(timers.len(), 2);
    let next = &timers[1];
    assert_eq!(next.delay_ms, DAY_MS);
    assert_eq!(next.payload, (NEW_YEAR + DAY_MS + 18 * HOUR_MS).to_string());
    assert_eq!(testing::kv_get_string(KEY_TIMER).as_ref(), Some(&next.id));

    // The next day is quiet.
    testing::deliver_event::<DailyDigest>(fire(next)).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "📰 Daily digest for 2026-01-02: a quiet day, no messages, joins or reactions."
    );
}

#[test]
fn pinned_messages_are_counted_when_there_are_any() {
    let timer = installed();
    a_day_of_activity();
    for id in ["m1", "m2"] {
        deliver(EventKind::MessagePinned(MessagePin {
            channel: "general".into(),
            message_id: id.into(),
            member: "ann".into(),
            message_author: None,
        }));
    }
    testing::deliver_event::<DailyDigest>(fire(&timer)).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "📰 Daily digest for 2026-01-01: 4 messages from 3 members, 2 new members joined, 1 member left, \
         1 reaction, 2 messages pinned."
    );
    assert_eq!(testing::kv_get_string(counter::PINS), None, "starts over");
}

#[test]
fn a_redelivered_timer_posts_once() {
    let timer = installed();
    a_day_of_activity();
    let event = fire(&timer);

    // A first attempt fails after acting (the send is rate limited): nothing of it stays.
    testing::fail("messaging.send", HostError::RateLimited(100));
    let err = testing::deliver_event::<DailyDigest>(event.clone()).unwrap_err();
    assert!(err.retryable);
    testing::clear_failures();
    assert_eq!(testing::kv_get_string(counter::MESSAGES).as_deref(), Some("4"));
    assert_eq!(testing::timers().len(), 1);

    let mut retry = event.clone();
    retry.meta.attempt = 2;
    testing::deliver_event::<DailyDigest>(retry.clone()).unwrap();
    // Delivered once more after it succeeded: the timer is no longer the pending one.
    testing::deliver_event::<DailyDigest>(retry).unwrap();
    assert_eq!(testing::sent().len(), 1);
    assert_eq!(testing::timers().len(), 2);
}

#[test]
fn changing_the_hour_replaces_the_timer_and_the_old_one_is_ignored() {
    let old = installed();
    deliver(testing::config_changed(&[("channel", "news"), ("hour_utc", "20")]));
    let timers = testing::timers();
    assert!(timers[0].cancelled);
    assert_eq!(timers[1].payload, (NEW_YEAR + 20 * HOUR_MS).to_string());
    testing::deliver_event::<DailyDigest>(fire(&old)).unwrap();
    assert!(testing::sent().is_empty());

    // Changing only the channel keeps the timer.
    deliver(testing::config_changed(&[("channel", "daily"), ("hour_utc", "20")]));
    assert_eq!(testing::timers().len(), 2);
    testing::deliver_event::<DailyDigest>(fire(&testing::timers()[1])).unwrap();
    assert_eq!(testing::sent()[0].channel, "daily");
}

#[test]
fn defaults_bad_hours_and_missing_channel() {
    testing::set_now(NEW_YEAR + 20 * HOUR_MS);
    deliver(testing::installed(&[("hour_utc", "31")]));
    assert!(testing::logs_at(Level::Warn).iter().any(|l| l.contains("hour_utc")));
    let timer = testing::timers()[0].clone();
    assert_eq!(timer.payload, (NEW_YEAR + DAY_MS + 18 * HOUR_MS).to_string());
    deliver(testing::posted("general", "ann", "hi"));
    testing::deliver_event::<DailyDigest>(fire(&timer)).unwrap();
    assert!(testing::sent().is_empty());
    assert!(testing::logs_at(Level::Warn)
        .iter()
        .any(|l| l.contains("no channel configured") && l.contains("1 message from 1 member")));
    assert_eq!(testing::timers().len(), 2, "still scheduled for tomorrow");
}

#[test]
fn denied_capabilities_degrade_without_failing() {
    testing::deny("schedule");
    deliver(testing::installed(&[("channel", "news")]));
    assert!(testing::timers().is_empty());
    assert!(testing::logs_at(Level::Warn).iter().any(|l| l.contains("schedule")));
    testing::deny("storage:kv");
    deliver(testing::posted("general", "ann", "hi"));
    deliver(reaction("ann"));
}

#[test]
fn unrelated_timers_are_ignored() {
    installed();
    deliver(testing::timer_fired("t-x", "other", ""));
    assert!(testing::sent().is_empty());
    assert_eq!(testing::timers().len(), 1);
}

#[test]
fn summary_pluralises() {
    let one = Counts {
        messages: 1,
        posters: 1,
        joins: 1,
        leaves: 0,
        reactions: 0,
        pins: 0,
    };
    assert_eq!(
        summary("2026-01-01", &one),
        "📰 Daily digest for 2026-01-01: 1 message from 1 member, 1 new member joined, 0 members left, 0 reactions."
    );
    let pinned = Counts { pins: 1, ..one };
    assert!(summary("2026-01-01", &pinned).ends_with("0 reactions, 1 message pinned."));
}
