//! # daily-digest
//!
//! Counts the community's activity (messages, distinct posters, joins, departures, reactions,
//! pinned messages — an event since `plaza:plugin@0.2.0`) in KV and, once a day at the configured hour (UTC), posts a summary to the configured channel,
//! starts the counters over and schedules the next day's timer. See the README for capabilities,
//! configuration and KV keys.
//!
//! Everything it does is a host effect committed with the event (KV writes, the message, the
//! timer), and the next due time is computed from the timer's payload and the event's timestamp,
//! never from a clock, so a redelivered `timer-fired` ends in the same state and posts once.

pub mod time;

use plaza_sdk::prelude::*;

use time::{date, next_at_hour};

/// The name of the digest timer; its payload is its due time (ms since the epoch).
pub const TIMER: &str = "daily-digest";
/// The hour (UTC) when none is configured.
pub const DEFAULT_HOUR: u8 = 18;

/// KV key of the configured channel.
pub const KEY_CHANNEL: &str = "config/channel";
/// KV key of the configured hour.
pub const KEY_HOUR: &str = "config/hour_utc";
/// KV key of the pending digest timer's id.
pub const KEY_TIMER: &str = "timer/id";
/// KV key of the pending digest timer's due time.
pub const KEY_DUE: &str = "timer/due";
/// Prefix of the markers of members who posted today (`poster/{member}`).
pub const POSTER_PREFIX: &str = "poster/";

/// The day's counters, by KV key.
pub mod counter {
    /// Messages posted.
    pub const MESSAGES: &str = "count/messages";
    /// Distinct members who posted.
    pub const POSTERS: &str = "count/posters";
    /// Members who joined.
    pub const JOINS: &str = "count/joins";
    /// Members who left or were removed.
    pub const LEAVES: &str = "count/leaves";
    /// Reactions added.
    pub const REACTIONS: &str = "count/reactions";
    /// Messages pinned.
    pub const PINS: &str = "count/pins";
    /// All of them.
    pub const ALL: [&str; 6] = [MESSAGES, POSTERS, JOINS, LEAVES, REACTIONS, PINS];
}

/// The plugin.
pub struct DailyDigest;

impl Plugin for DailyDigest {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "daily-digest",
            env!("CARGO_PKG_VERSION"),
            "Posts a daily summary of the community's activity: messages, posters, joins, departures \
             and reactions.",
        )
    }

    fn on_installed(meta: &EventMeta, installed: PluginInstalled) -> HandlerResult {
        store_config(&installed.config)?;
        reschedule(meta.timestamp_ms)
    }

    fn on_config_changed(meta: &EventMeta, changed: ConfigChanged) -> HandlerResult {
        let before = hour()?;
        store_config(&changed.config)?;
        if hour()? != before || kv::get_string(KEY_TIMER)?.is_none() {
            reschedule(meta.timestamp_ms)?;
        }
        Ok(())
    }

    fn on_message_posted(_meta: &EventMeta, message: Message) -> HandlerResult {
        count(|| {
            kv::increment(counter::MESSAGES, 1)?;
            let marker = format!("{POSTER_PREFIX}{}", message.author);
            if kv::get(&marker)?.is_none() {
                kv::set(&marker, b"1")?;
                kv::increment(counter::POSTERS, 1)?;
            }
            Ok(())
        })
    }

    fn on_member_joined(_meta: &EventMeta, _joined: MemberJoined) -> HandlerResult {
        count(|| kv::increment(counter::JOINS, 1).map(drop))
    }

    fn on_member_left(_meta: &EventMeta, _left: MemberLeft) -> HandlerResult {
        count(|| kv::increment(counter::LEAVES, 1).map(drop))
    }

    fn on_reaction_added(_meta: &EventMeta, _reaction: Reaction) -> HandlerResult {
        count(|| kv::increment(counter::REACTIONS, 1).map(drop))
    }

    fn on_message_pinned(_meta: &EventMeta, _pin: MessagePin) -> HandlerResult {
        count(|| kv::increment(counter::PINS, 1).map(drop))
    }

    fn on_timer(meta: &EventMeta, timer: TimerFired) -> HandlerResult {
        if timer.name != TIMER {
            return Ok(());
        }
        let pending = kv::get_string(KEY_TIMER)?;
        if pending.as_deref() != Some(timer.id.as_str()) {
            // A timer replaced by a configuration change that fired anyway.
            plaza_sdk::info!("ignoring stale digest timer {} (pending: {pending:?})", timer.id);
            return Ok(());
        }
        let due = timer.payload.trim().parse::<u64>().unwrap_or(meta.timestamp_ms);
        let text = summary(&date(due), &Counts::load()?);
        match kv::get_string(KEY_CHANNEL)? {
            Some(channel) => {
                messaging::send(&channel, &text).allow_denied("posting the daily digest")?;
            }
            None => plaza_sdk::warn!("no channel configured; the digest is not posted: {text}"),
        }
        reset()?;
        // From the due time, so a late firing still lands on the configured hour.
        reschedule(due.max(meta.timestamp_ms))
    }
}

plaza_sdk::export_plugin!(DailyDigest);

/// Runs a counter update; a denied `storage:kv` is logged and skipped.
fn count(update: impl FnOnce() -> Result<(), HostError>) -> HandlerResult {
    update().allow_denied("counting activity")?;
    Ok(())
}

fn store_config(config: &[ConfigEntry]) -> HandlerResult {
    match config::value(config, "channel")
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(channel) => kv::set_string(KEY_CHANNEL, channel)?,
        None => kv::delete(KEY_CHANNEL)?,
    }
    let hour = match config::parse::<u8>(config, "hour_utc") {
        Some(Ok(h)) if h < 24 => h,
        None => DEFAULT_HOUR,
        Some(_) => {
            plaza_sdk::warn!(
                "hour_utc {:?} is not an hour from 0 to 23; using {DEFAULT_HOUR}",
                config::value(config, "hour_utc").unwrap_or_default()
            );
            DEFAULT_HOUR
        }
    };
    kv::set_string(KEY_HOUR, &hour.to_string())?;
    Ok(())
}

fn hour() -> Result<u8, HostError> {
    Ok(kv::get_i64(KEY_HOUR)?
        .and_then(|h| u8::try_from(h).ok())
        .filter(|h| *h < 24)
        .unwrap_or(DEFAULT_HOUR))
}

/// Cancels the pending digest timer, if any, and schedules one for the next configured hour
/// after `now_ms`.
fn reschedule(now_ms: u64) -> HandlerResult {
    if let Some(old) = kv::get_string(KEY_TIMER)? {
        match scheduler::cancel(&old) {
            Ok(()) | Err(HostError::NotFound) => {}
            Err(e) => plaza_sdk::warn!("could not cancel digest timer {old}: {e}"),
        }
        kv::delete(KEY_TIMER)?;
    }
    let due = next_at_hour(now_ms, hour()?);
    let Some(id) =
        scheduler::schedule_once(TIMER, due - now_ms, &due.to_string()).allow_denied("scheduling the digest")?
    else {
        return Ok(());
    };
    plaza_sdk::info!("next digest at {due} ({}), timer {id}", date(due));
    kv::set_string(KEY_TIMER, &id)?;
    kv::set_string(KEY_DUE, &due.to_string())?;
    Ok(())
}

/// The day's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages posted.
    pub messages: i64,
    /// Distinct members who posted.
    pub posters: i64,
    /// Members who joined.
    pub joins: i64,
    /// Members who left.
    pub leaves: i64,
    /// Reactions added.
    pub reactions: i64,
    /// Messages pinned.
    pub pins: i64,
}

impl Counts {
    /// Reads the counters from KV (missing ones are 0).
    pub fn load() -> Result<Counts, HostError> {
        let get = |key| kv::get_i64(key).map(Option::unwrap_or_default);
        Ok(Counts {
            messages: get(counter::MESSAGES)?,
            posters: get(counter::POSTERS)?,
            joins: get(counter::JOINS)?,
            leaves: get(counter::LEAVES)?,
            reactions: get(counter::REACTIONS)?,
            pins: get(counter::PINS)?,
        })
    }
}

/// Starts the counters over.
fn reset() -> Result<(), HostError> {
    for key in counter::ALL {
        kv::delete(key)?;
    }
    for key in kv::keys(POSTER_PREFIX)? {
        kv::delete(&key)?;
    }
    Ok(())
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The digest's text for the day `day` (`YYYY-MM-DD`).
pub fn summary(day: &str, c: &Counts) -> String {
    if *c == Counts::default() {
        return format!("📰 Daily digest for {day}: a quiet day, no messages, joins or reactions.");
    }
    let pins = match c.pins {
        0 => String::new(),
        n => format!(", {} pinned", plural(n, "message", "messages")),
    };
    format!(
        "📰 Daily digest for {day}: {} from {}, {} joined, {} left, {}{pins}.",
        plural(c.messages, "message", "messages"),
        plural(c.posters, "member", "members"),
        plural(c.joins, "new member", "new members"),
        plural(c.leaves, "member", "members"),
        plural(c.reactions, "reaction", "reactions"),
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
