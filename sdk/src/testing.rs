//! A simulated Plaza host for native unit tests (not available on `wasm32`).
//!
//! On every target other than `wasm32`, the SDK's host calls ([`kv`](crate::kv),
//! [`messaging`](crate::messaging), ...) are answered by an in-memory [`MockHost`] kept per
//! thread. Each `#[test]` runs on its own thread, so each test starts with a fresh host in which
//! every capability is granted; [`reset`] starts over within a test.
//!
//! - Drive a plugin with [`deliver`] (an [`EventKind`] wrapped in fresh [`EventMeta`]) or
//!   [`review`]. Like the real host, an `Err` from the handler rolls back the invocation's
//!   effects (KV writes, messages, moderation, timers); log lines are kept.
//! - Shape the host with [`deny`] / [`grant`] (capability names such as `"messages:send"`),
//!   [`fail`] (make one call return an error), [`add_member`], [`push_http_response`] and
//!   [`set_now`].
//! - Inspect what the plugin did with [`sent`], [`sent_texts`], [`kv_get_string`],
//!   [`moderation`], [`timers`], [`logs`], or the whole [`MockHost`] through [`with_host`].
//! - Build events with [`joined`], [`posted`], [`command`], [`installed`], [`config_changed`],
//!   [`timer_fired`] and messages with [`message`].
//!
//! ```
//! use plaza_sdk::prelude::*;
//! use plaza_sdk::testing;
//!
//! testing::deny("storage:kv");
//! assert_eq!(kv::get("k"), Err(HostError::Denied("storage:kv".into())));
//! testing::grant("storage:kv");
//! kv::set_string("k", "v").unwrap();
//! assert_eq!(testing::kv_get_string("k").as_deref(), Some("v"));
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::http::{Request, Response};
use crate::logging::Level;
use crate::members::MemberPage;
use crate::{
    CommandInvoked, ConfigChanged, ConfigEntry, Event, EventKind, EventMeta, HandlerError, HostError, MemberId,
    MemberJoined, MemberProfile, Message, MessageId, Plugin, PluginInstalled, ReviewRequest, ReviewVerdict, TimerFired,
    TimerId,
};

/// The community id the simulated host uses in events.
pub const COMMUNITY: &str = "test-community";

/// A message the plugin sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The id the host gave it.
    pub id: MessageId,
    /// Where it was posted.
    pub channel: String,
    /// What it says.
    pub text: String,
    /// The message it replies to, for [`messaging::reply`](crate::messaging::reply).
    pub reply_to: Option<MessageId>,
}

/// An edit of one of the plugin's own messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditedMessage {
    /// The channel.
    pub channel: String,
    /// The edited message.
    pub id: MessageId,
    /// The new text.
    pub text: String,
}

/// A moderation action the plugin took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModerationAction {
    /// [`moderation::delete_message`](crate::moderation::delete_message).
    DeleteMessage {
        /// The channel.
        channel: String,
        /// The deleted message.
        id: MessageId,
        /// The reason given.
        reason: String,
    },
    /// [`moderation::mute`](crate::moderation::mute).
    Mute {
        /// The muted member.
        member: MemberId,
        /// For how long.
        duration_ms: u64,
        /// The reason given.
        reason: String,
    },
    /// [`moderation::kick`](crate::moderation::kick).
    Kick {
        /// The kicked member.
        member: MemberId,
        /// The reason given.
        reason: String,
    },
    /// [`moderation::ban`](crate::moderation::ban).
    Ban {
        /// The banned member.
        member: MemberId,
        /// The reason given.
        reason: String,
    },
}

/// A timer the plugin scheduled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledTimer {
    /// The id the host gave it.
    pub id: TimerId,
    /// Its name.
    pub name: String,
    /// Its payload.
    pub payload: String,
    /// The delay (one-shot) or interval (repeating), in milliseconds.
    pub delay_ms: u64,
    /// True for [`scheduler::schedule_every`](crate::scheduler::schedule_every).
    pub repeating: bool,
    /// True once cancelled.
    pub cancelled: bool,
}

/// The state of the simulated host. Fields are public so tests can seed and inspect anything;
/// the free functions of this module cover the common cases.
#[derive(Clone, Debug, Default)]
pub struct MockHost {
    /// The plugin's key-value store.
    pub kv: BTreeMap<String, Vec<u8>>,
    /// Messages sent, in order.
    pub sent: Vec<SentMessage>,
    /// Edits of own messages, in order.
    pub edits: Vec<EditedMessage>,
    /// Moderation actions, in order.
    pub moderation: Vec<ModerationAction>,
    /// Timers scheduled, in order.
    pub timers: Vec<ScheduledTimer>,
    /// Log lines, in order (kept even when a handler fails).
    pub logs: Vec<(Level, String)>,
    /// Member profiles served by [`members`](crate::members).
    pub members: BTreeMap<MemberId, MemberProfile>,
    /// Requests the plugin fetched, in order.
    pub http_requests: Vec<Request>,
    /// Answers for the next fetches, in order; an empty queue answers
    /// [`HostError::Unavailable`].
    pub http_responses: VecDeque<Result<Response, HostError>>,
    /// Capabilities the admin did not grant.
    pub denied: BTreeSet<String>,
    /// Calls forced to fail, by name (e.g. `"kv.set"`).
    pub failures: BTreeMap<String, HostError>,
    /// The clock used for event metadata and review requests, in ms since the Unix epoch.
    pub now_ms: u64,
    next_id: u64,
    sequence: u64,
}

/// The time the simulated clock starts at (2025-01-01T00:00:00Z).
pub const START_MS: u64 = 1_735_689_600_000;

thread_local! {
    static HOST: RefCell<MockHost> = RefCell::new(MockHost::new());
}

impl MockHost {
    /// A host with every capability granted, an empty store and the clock at [`START_MS`].
    pub fn new() -> Self {
        MockHost {
            now_ms: START_MS,
            ..MockHost::default()
        }
    }

    fn fresh_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}-{}", self.next_id)
    }

    /// The shared checks of every call: the grant, then forced failures.
    fn check(&self, capability: Option<&str>, call: &str) -> Result<(), HostError> {
        if let Some(cap) = capability {
            if self.denied.contains(cap) {
                return Err(HostError::Denied(cap.to_string()));
            }
        }
        match self.failures.get(call) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn non_empty(what: &str, value: &str) -> Result<(), HostError> {
    if value.is_empty() {
        Err(HostError::Invalid(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Runs `f` with the current thread's simulated host.
pub fn with_host<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// Replaces the current thread's simulated host with a fresh one.
pub fn reset() {
    with_host(|h| *h = MockHost::new());
}

/// Stops granting `capability` (e.g. `"messages:send"`): calls needing it answer
/// [`HostError::Denied`].
pub fn deny(capability: &str) {
    with_host(|h| h.denied.insert(capability.to_string()));
}

/// Grants `capability` again.
pub fn grant(capability: &str) {
    with_host(|h| h.denied.remove(capability));
}

/// Makes every later call named `call` fail with `error`. Names are `interface.function` as in
/// WIT, e.g. `"kv.set"`, `"messaging.send"`, `"moderation.mute"`, `"scheduler.schedule-once"`.
pub fn fail(call: &str, error: HostError) {
    with_host(|h| h.failures.insert(call.to_string(), error));
}

/// Undoes every [`fail`].
pub fn clear_failures() {
    with_host(|h| h.failures.clear());
}

/// Adds (or replaces) a member profile served by [`members`](crate::members).
pub fn add_member(profile: MemberProfile) {
    with_host(|h| h.members.insert(profile.id.clone(), profile));
}

/// Queues the answer to the next [`http::fetch`](crate::http::fetch).
pub fn push_http_response(response: Result<Response, HostError>) {
    with_host(|h| h.http_responses.push_back(response));
}

/// Sets the simulated clock (ms since the Unix epoch).
pub fn set_now(ms: u64) {
    with_host(|h| h.now_ms = ms);
}

/// Moves the simulated clock forward by `ms`.
pub fn advance(ms: u64) {
    with_host(|h| h.now_ms += ms);
}

/// The simulated clock.
pub fn now() -> u64 {
    with_host(|h| h.now_ms)
}

/// Messages sent so far.
pub fn sent() -> Vec<SentMessage> {
    with_host(|h| h.sent.clone())
}

/// The texts of the messages sent so far.
pub fn sent_texts() -> Vec<String> {
    with_host(|h| h.sent.iter().map(|m| m.text.clone()).collect())
}

/// The text of the last message sent, if any.
pub fn last_sent_text() -> Option<String> {
    with_host(|h| h.sent.last().map(|m| m.text.clone()))
}

/// Forgets the messages sent so far (handy between steps of a test).
pub fn clear_sent() {
    with_host(|h| h.sent.clear());
}

/// Moderation actions taken so far.
pub fn moderation() -> Vec<ModerationAction> {
    with_host(|h| h.moderation.clone())
}

/// Timers scheduled so far (including cancelled ones).
pub fn timers() -> Vec<ScheduledTimer> {
    with_host(|h| h.timers.clone())
}

/// Log lines so far.
pub fn logs() -> Vec<(Level, String)> {
    with_host(|h| h.logs.clone())
}

/// Log lines at `level` so far.
pub fn logs_at(level: Level) -> Vec<String> {
    with_host(|h| {
        h.logs
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, m)| m.clone())
            .collect()
    })
}

/// The bytes stored under `key`, bypassing the capability check.
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    with_host(|h| h.kv.get(key).cloned())
}

/// The text stored under `key` (lossily decoded), bypassing the capability check.
pub fn kv_get_string(key: &str) -> Option<String> {
    kv_get(key).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// Stores `value` under `key`, bypassing the capability check (to seed state).
pub fn kv_set_string(key: &str, value: &str) {
    with_host(|h| h.kv.insert(key.to_string(), value.as_bytes().to_vec()));
}

/// Fresh delivery facts: a new event id and sequence number, the simulated clock, attempt 1.
pub fn meta() -> EventMeta {
    with_host(|h| {
        h.sequence += 1;
        EventMeta {
            event_id: format!("evt-{}", h.sequence),
            community_id: COMMUNITY.to_string(),
            sequence: h.sequence,
            timestamp_ms: h.now_ms,
            attempt: 1,
        }
    })
}

/// Delivers an event of `kind` (with fresh [`meta`]) to `P`, like the host would: if the
/// handler fails, its effects are rolled back.
pub fn deliver<P: Plugin>(kind: EventKind) -> Result<(), HandlerError> {
    deliver_event::<P>(Event { meta: meta(), kind })
}

/// Delivers `event` to `P` as is; see [`deliver`].
pub fn deliver_event<P: Plugin>(event: Event) -> Result<(), HandlerError> {
    transactional(|| P::on_event(event))
}

/// Runs `P`'s review hook on `message`, sent now; a failure rolls back its effects.
pub fn review<P: Plugin>(message: Message) -> Result<ReviewVerdict, HandlerError> {
    let request = ReviewRequest {
        community_id: COMMUNITY.to_string(),
        message,
        timestamp_ms: now(),
    };
    transactional(|| P::review_message(request))
}

fn transactional<T>(f: impl FnOnce() -> Result<T, HandlerError>) -> Result<T, HandlerError> {
    let before = with_host(|h| h.clone());
    let result = f();
    if result.is_err() {
        with_host(|h| {
            let logs = std::mem::take(&mut h.logs);
            let (next_id, sequence, now_ms) = (h.next_id, h.sequence, h.now_ms);
            *h = before;
            h.logs = logs;
            h.next_id = next_id;
            h.sequence = sequence;
            h.now_ms = now_ms;
        });
    }
    result
}

/// A profile with no roles that is not a bot.
pub fn profile(id: &str, display_name: &str) -> MemberProfile {
    MemberProfile {
        id: id.to_string(),
        display_name: display_name.to_string(),
        roles: Vec::new(),
        is_bot: false,
    }
}

/// `member-joined` for a non-bot member with no inviter.
pub fn joined(id: &str, display_name: &str) -> EventKind {
    joined_profile(profile(id, display_name))
}

/// `member-joined` for `member`.
pub fn joined_profile(member: MemberProfile) -> EventKind {
    EventKind::MemberJoined(MemberJoined {
        member,
        invited_by: None,
    })
}

/// A message with a fresh id, no mentions, not a reply.
pub fn message(channel: &str, author: &str, text: &str) -> Message {
    let id = with_host(|h| h.fresh_id("posted"));
    Message {
        id,
        channel: channel.to_string(),
        author: author.to_string(),
        text: text.to_string(),
        mentions: Vec::new(),
        reply_to: None,
    }
}

/// `message-posted` for a new [`message`].
pub fn posted(channel: &str, author: &str, text: &str) -> EventKind {
    EventKind::MessagePosted(message(channel, author, text))
}

/// `command-invoked`: `member` typed `/name args...` in `channel` (carried by a fresh message id).
pub fn command(channel: &str, member: &str, name: &str, args: &[&str]) -> EventKind {
    let message_id = with_host(|h| h.fresh_id("posted"));
    EventKind::CommandInvoked(CommandInvoked {
        channel: channel.to_string(),
        member: member.to_string(),
        name: name.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        message_id: Some(message_id),
    })
}

fn entries(config: &[(&str, &str)]) -> Vec<ConfigEntry> {
    config.iter().map(|(k, v)| ConfigEntry::new(*k, *v)).collect()
}

/// `plugin-installed` with this configuration.
pub fn installed(config: &[(&str, &str)]) -> EventKind {
    EventKind::PluginInstalled(PluginInstalled {
        config: entries(config),
    })
}

/// `config-changed` with this (whole) configuration.
pub fn config_changed(config: &[(&str, &str)]) -> EventKind {
    EventKind::ConfigChanged(ConfigChanged {
        config: entries(config),
    })
}

/// `timer-fired` for timer `id`.
pub fn timer_fired(id: &str, name: &str, payload: &str) -> EventKind {
    EventKind::TimerFired(TimerFired {
        id: id.to_string(),
        name: name.to_string(),
        payload: payload.to_string(),
    })
}

/// The simulated implementations of the WIT imports, with the generated functions' signatures.
pub(crate) mod backend {
    use super::*;

    pub(crate) mod logging {
        use super::*;

        pub(crate) fn log(level: Level, message: &str) {
            // Shown by the test harness when a test fails.
            eprintln!("[plugin {level:?}] {message}");
            with_host(|h| h.logs.push((level, message.to_string())));
        }
    }

    pub(crate) mod messaging {
        use super::*;

        const CAP: Option<&str> = Some("messages:send");

        fn post(call: &str, channel: &str, reply_to: Option<&str>, text: &str) -> Result<MessageId, HostError> {
            with_host(|h| {
                h.check(CAP, call)?;
                non_empty("channel", channel)?;
                non_empty("text", text)?;
                let id = h.fresh_id("msg");
                h.sent.push(SentMessage {
                    id: id.clone(),
                    channel: channel.to_string(),
                    text: text.to_string(),
                    reply_to: reply_to.map(str::to_string),
                });
                Ok(id)
            })
        }

        pub(crate) fn send(channel: &str, text: &str) -> Result<MessageId, HostError> {
            post("messaging.send", channel, None, text)
        }

        pub(crate) fn reply(channel: &str, to: &str, text: &str) -> Result<MessageId, HostError> {
            post("messaging.reply", channel, Some(to), text)
        }

        pub(crate) fn edit_own(channel: &str, id: &str, text: &str) -> Result<(), HostError> {
            with_host(|h| {
                h.check(CAP, "messaging.edit-own")?;
                if !h.sent.iter().any(|m| m.id == id && m.channel == channel) {
                    return Err(HostError::NotFound);
                }
                h.edits.push(EditedMessage {
                    channel: channel.to_string(),
                    id: id.to_string(),
                    text: text.to_string(),
                });
                Ok(())
            })
        }
    }

    pub(crate) mod moderation {
        use super::*;

        fn act(cap: &str, call: &str, action: ModerationAction) -> Result<(), HostError> {
            with_host(|h| {
                h.check(Some(cap), call)?;
                h.moderation.push(action);
                Ok(())
            })
        }

        pub(crate) fn delete_message(channel: &str, id: &str, reason: &str) -> Result<(), HostError> {
            let action = ModerationAction::DeleteMessage {
                channel: channel.to_string(),
                id: id.to_string(),
                reason: reason.to_string(),
            };
            act("messages:manage", "moderation.delete-message", action)
        }

        pub(crate) fn mute(member: &str, duration_ms: u64, reason: &str) -> Result<(), HostError> {
            let action = ModerationAction::Mute {
                member: member.to_string(),
                duration_ms,
                reason: reason.to_string(),
            };
            act("members:moderate", "moderation.mute", action)
        }

        pub(crate) fn kick(member: &str, reason: &str) -> Result<(), HostError> {
            let action = ModerationAction::Kick {
                member: member.to_string(),
                reason: reason.to_string(),
            };
            act("members:moderate", "moderation.kick", action)
        }

        pub(crate) fn ban(member: &str, reason: &str) -> Result<(), HostError> {
            let action = ModerationAction::Ban {
                member: member.to_string(),
                reason: reason.to_string(),
            };
            act("members:moderate", "moderation.ban", action)
        }
    }

    pub(crate) mod members {
        use super::*;

        const CAP: Option<&str> = Some("members:read");

        pub(crate) fn get_profile(member: &str) -> Result<MemberProfile, HostError> {
            with_host(|h| {
                h.check(CAP, "members.get-profile")?;
                h.members.get(member).cloned().ok_or(HostError::NotFound)
            })
        }

        pub(crate) fn list_page(cursor: Option<&str>, limit: u32) -> Result<MemberPage, HostError> {
            with_host(|h| {
                h.check(CAP, "members.list-page")?;
                let limit = (limit as usize).clamp(1, 100);
                let mut rest = h.members.values().filter(|m| cursor.is_none_or(|c| m.id.as_str() > c));
                let members: Vec<MemberProfile> = rest.by_ref().take(limit).cloned().collect();
                let next_cursor = match rest.next() {
                    Some(_) => members.last().map(|m| m.id.clone()),
                    None => None,
                };
                Ok(MemberPage { members, next_cursor })
            })
        }
    }

    pub(crate) mod kv {
        use super::*;

        const CAP: Option<&str> = Some("storage:kv");

        pub(crate) fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
            with_host(|h| {
                h.check(CAP, "kv.get")?;
                non_empty("key", key)?;
                Ok(h.kv.get(key).cloned())
            })
        }

        pub(crate) fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
            with_host(|h| {
                h.check(CAP, "kv.set")?;
                non_empty("key", key)?;
                h.kv.insert(key.to_string(), value.to_vec());
                Ok(())
            })
        }

        pub(crate) fn delete(key: &str) -> Result<(), HostError> {
            with_host(|h| {
                h.check(CAP, "kv.delete")?;
                non_empty("key", key)?;
                h.kv.remove(key);
                Ok(())
            })
        }

        pub(crate) fn list_keys(prefix: &str, start_after: Option<&str>, limit: u32) -> Result<Vec<String>, HostError> {
            with_host(|h| {
                h.check(CAP, "kv.list-keys")?;
                let limit = (limit as usize).clamp(1, 1_000);
                Ok(h.kv
                    .keys()
                    .filter(|k| k.starts_with(prefix))
                    .filter(|k| start_after.is_none_or(|a| k.as_str() > a))
                    .take(limit)
                    .cloned()
                    .collect())
            })
        }
    }

    pub(crate) mod http {
        use super::*;

        pub(crate) fn fetch(request: &Request) -> Result<Response, HostError> {
            with_host(|h| {
                h.check(Some("http:fetch"), "http.fetch")?;
                h.http_requests.push(request.clone());
                h.http_responses.pop_front().unwrap_or_else(|| {
                    Err(HostError::Unavailable(
                        "no response queued with testing::push_http_response".into(),
                    ))
                })
            })
        }
    }

    pub(crate) mod scheduler {
        use super::*;

        const CAP: Option<&str> = Some("schedule");

        fn schedule(
            call: &str,
            name: &str,
            delay_ms: u64,
            payload: &str,
            repeating: bool,
        ) -> Result<TimerId, HostError> {
            with_host(|h| {
                h.check(CAP, call)?;
                non_empty("name", name)?;
                let id = h.fresh_id("timer");
                h.timers.push(ScheduledTimer {
                    id: id.clone(),
                    name: name.to_string(),
                    payload: payload.to_string(),
                    delay_ms,
                    repeating,
                    cancelled: false,
                });
                Ok(id)
            })
        }

        pub(crate) fn schedule_once(name: &str, delay_ms: u64, payload: &str) -> Result<TimerId, HostError> {
            schedule("scheduler.schedule-once", name, delay_ms, payload, false)
        }

        pub(crate) fn schedule_every(name: &str, interval_ms: u64, payload: &str) -> Result<TimerId, HostError> {
            schedule("scheduler.schedule-every", name, interval_ms, payload, true)
        }

        pub(crate) fn cancel(id: &str) -> Result<(), HostError> {
            with_host(|h| {
                h.check(CAP, "scheduler.cancel")?;
                match h.timers.iter_mut().find(|t| t.id == id && !t.cancelled) {
                    Some(t) => {
                        t.cancelled = true;
                        Ok(())
                    }
                    None => Err(HostError::NotFound),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    struct Failing;

    impl Plugin for Failing {
        fn info() -> PluginInfo {
            PluginInfo::new("failing", "0.0.0", "fails after acting")
        }
        fn on_message_posted(_: &EventMeta, m: Message) -> Result<(), HandlerError> {
            kv::set_string("seen", &m.text)?;
            messaging::send(&m.channel, "ack")?;
            scheduler::schedule_once("t", 10, "")?;
            crate::info!("about to fail");
            if m.text == "fail" {
                return Err(HandlerError::new("boom", "asked to fail"));
            }
            Ok(())
        }
    }

    #[test]
    fn a_failed_handler_rolls_back_its_effects_but_keeps_logs() {
        deliver::<Failing>(posted("c", "a", "ok")).unwrap();
        assert_eq!(kv_get_string("seen").as_deref(), Some("ok"));
        deliver::<Failing>(posted("c", "a", "fail")).unwrap_err();
        assert_eq!(kv_get_string("seen").as_deref(), Some("ok"));
        assert_eq!(sent_texts(), ["ack"]);
        assert_eq!(timers().len(), 1);
        assert_eq!(logs_at(Level::Info).len(), 2);
    }

    #[test]
    fn denials_and_forced_failures() {
        deny("messages:send");
        assert_eq!(
            messaging::send("c", "x"),
            Err(HostError::Denied("messages:send".into()))
        );
        grant("messages:send");
        fail("messaging.reply", HostError::RateLimited(100));
        assert_eq!(messaging::reply("c", "m", "x"), Err(HostError::RateLimited(100)));
        assert!(messaging::send("c", "x").is_ok());
        clear_failures();
        assert!(messaging::reply("c", "m", "x").is_ok());
        assert_eq!(sent()[1].reply_to.as_deref(), Some("m"));
        assert_eq!(
            messaging::send("", "x"),
            Err(HostError::Invalid("channel must not be empty".into()))
        );
    }

    #[test]
    fn members_pages_and_roles() {
        for (id, role) in [("a", "admin"), ("b", ""), ("c", "Moderator")] {
            let mut p = profile(id, id);
            if !role.is_empty() {
                p.roles.push(role.to_string());
            }
            add_member(p);
        }
        let first = members::list_page(None, 2).unwrap();
        assert_eq!(first.members.len(), 2);
        let second = members::list_page(first.next_cursor.as_deref(), 2).unwrap();
        assert_eq!(second.members[0].id, "c");
        assert_eq!(second.next_cursor, None);
        assert!(members::has_any_role("c", &["admin", "moderator"]).unwrap());
        assert!(!members::has_any_role("b", &["admin"]).unwrap());
        assert_eq!(members::get_profile("zz"), Err(HostError::NotFound));
    }

    #[test]
    fn timers_cancel_once() {
        let id = scheduler::schedule_every("tick", 1000, "p").unwrap();
        scheduler::cancel(&id).unwrap();
        assert_eq!(scheduler::cancel(&id), Err(HostError::NotFound));
        assert!(timers()[0].cancelled && timers()[0].repeating);
    }

    #[test]
    fn http_answers_from_the_queue() {
        use crate::http::{self, Method, Request, Response};
        push_http_response(Ok(Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"hello".to_vec(),
        }));
        let r = http::fetch(&Request::post("https://x.test/a", "body").header("k", "v")).unwrap();
        assert!(r.is_success());
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert!(matches!(http::get("https://x.test"), Err(HostError::Unavailable(_))));
        let requests = with_host(|h| h.http_requests.clone());
        assert_eq!(requests[0].method, Method::Post);
        assert_eq!(requests[0].body.as_deref(), Some(&b"body"[..]));
        assert_eq!(requests[0].headers, [("k".to_string(), "v".to_string())]);
    }
}
