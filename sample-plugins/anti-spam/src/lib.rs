//! # anti-spam
//!
//! Keeps link floods and repeated messages out of a community. The `review-message` hook
//! rejects a message before it is posted when it has too many links or repeats the author's
//! own recent message; each rejection is a strike, and after enough strikes the author is muted.
//! When the review hook is not granted, the same checks run on `message-posted` and delete the
//! offending message instead. See the README for capabilities, config and KV keys.

pub mod detect;
pub mod settings;

use plaza_sdk::prelude::*;

use detect::{count_links, fingerprint, normalise, History};
use settings::Settings;

/// KV key of the [`Settings`] (JSON).
pub const KEY_SETTINGS: &str = "settings";
/// KV key prefix of each author's recent messages seen by the review hook (JSON [`History`]).
pub const PREFIX_REVIEWED: &str = "recent/";
/// KV key prefix of each author's recent messages seen as posted (JSON [`History`]).
pub const PREFIX_POSTED: &str = "posted/";
/// KV key prefix of each author's strike counter.
pub const PREFIX_STRIKES: &str = "strikes/";
/// KV key counting rejected link floods.
pub const STAT_LINK_FLOODS: &str = "stats/link-floods";
/// KV key counting rejected repeats.
pub const STAT_REPEATS: &str = "stats/repeats";
/// KV key counting posted messages deleted (when the review hook is not granted).
pub const STAT_DELETED: &str = "stats/deleted";
/// KV key counting mutes.
pub const STAT_MUTES: &str = "stats/mutes";

const USAGE: &str = "Usage: /spam stats";

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// More links than allowed.
    LinkFlood {
        /// Links in the message.
        links: usize,
        /// The limit.
        max: u32,
    },
    /// The author sent the same text within the window.
    Repeat {
        /// The window, in ms.
        window_ms: u64,
    },
}

impl Finding {
    /// The reason shown to the author (and written to the audit log).
    pub fn reason(&self) -> String {
        match self {
            Finding::LinkFlood { links, max } => {
                format!("Too many links: this message has {links}, at most {max} are allowed.")
            }
            Finding::Repeat { window_ms } => format!(
                "You already sent this message in the last {}.",
                settings::human_duration(*window_ms)
            ),
        }
    }

    fn stat_key(&self) -> &'static str {
        match self {
            Finding::LinkFlood { .. } => STAT_LINK_FLOODS,
            Finding::Repeat { .. } => STAT_REPEATS,
        }
    }
}

/// Which stream of messages a check belongs to; each keeps its own history, so a message the
/// review hook let through is not taken for a repeat when it is then posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Review,
    Posted,
}

/// The link check alone (needs no storage).
pub fn check_links(text: &str, settings: &Settings) -> Option<Finding> {
    let links = count_links(text);
    (links > settings.max_links as usize).then_some(Finding::LinkFlood {
        links,
        max: settings.max_links,
    })
}

/// True for messages exempt from the repeat check: slash commands (`/results 1` is fine to
/// repeat) and texts with no letters or digits.
pub fn exempt_from_repeats(text: &str) -> bool {
    text.trim_start().starts_with('/') || normalise(text).is_empty()
}

/// The plugin.
pub struct AntiSpam;

impl Plugin for AntiSpam {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "anti-spam",
            env!("CARGO_PKG_VERSION"),
            "Rejects messages with too many links and members repeating the same message, \
             and mutes members who keep doing it.",
        )
        .with_command(
            "spam",
            "Show what the spam filter blocked and its settings",
            "/spam stats",
        )
    }

    fn review_message(request: ReviewRequest) -> Result<ReviewVerdict, HandlerError> {
        let message = &request.message;
        let settings = load_settings();
        let finding = match examine(Stage::Review, message, request.timestamp_ms, &settings) {
            Ok(finding) => finding,
            Err(e) => {
                // The review answers within a hard budget; a storage problem must not block chat.
                plaza_sdk::warn!("review: repeat check skipped: {e}");
                check_links(&message.text, &settings)
            }
        };
        let Some(finding) = finding else {
            return Ok(ReviewVerdict::Allow);
        };
        let _ = penalise(&message.author, &finding, &settings).or_warn("review: recording a strike");
        Ok(ReviewVerdict::reject(finding.reason()))
    }

    fn on_message_posted(meta: &EventMeta, message: Message) -> HandlerResult {
        let settings = load_settings();
        // Without storage, only the link check can run.
        let finding = examine(Stage::Posted, &message, meta.timestamp_ms, &settings)
            .allow_denied("repeat check")?
            .unwrap_or_else(|| check_links(&message.text, &settings));
        let Some(finding) = finding else {
            return Ok(());
        };
        let deleted = moderation::delete_message(&message.channel, &message.id, &finding.reason())
            .allow_denied("deleting a spam message")?;
        if deleted.is_some() {
            kv::increment(STAT_DELETED, 1).allow_denied("counting deletions")?;
        }
        penalise(&message.author, &finding, &settings).allow_denied("recording a strike")?;
        Ok(())
    }

    fn on_installed(_meta: &EventMeta, installed: PluginInstalled) -> HandlerResult {
        store_settings(&installed.config)
    }

    fn on_config_changed(_meta: &EventMeta, changed: ConfigChanged) -> HandlerResult {
        store_settings(&changed.config)
    }

    fn on_command(_meta: &EventMeta, cmd: CommandInvoked) -> HandlerResult {
        if cmd.name != "spam" {
            return Ok(());
        }
        let reply = match cmd.arg(0) {
            Some("stats") => match stats() {
                Ok(text) => text,
                Err(HostError::Denied(cap)) => {
                    plaza_sdk::warn!("/spam stats: {cap} not granted");
                    format!("I keep no statistics: this community has not granted me `{cap}`.")
                }
                Err(e) => return Err(e.into()),
            },
            _ => USAGE.to_string(),
        };
        cmd.respond(&reply).allow_denied("answering /spam")?;
        Ok(())
    }
}

plaza_sdk::export_plugin!(AntiSpam);

/// The stored settings, or the defaults if there are none or they cannot be read.
fn load_settings() -> Settings {
    match kv::get_json::<Settings>(KEY_SETTINGS) {
        Ok(stored) => stored.unwrap_or_default(),
        Err(e) => {
            plaza_sdk::warn!("using default settings: {e}");
            Settings::default()
        }
    }
}

fn store_settings(config: &[ConfigEntry]) -> HandlerResult {
    let (settings, warnings) = Settings::from_config(config);
    for warning in warnings {
        plaza_sdk::warn!("{warning}");
    }
    kv::set_json(KEY_SETTINGS, &settings).allow_denied("storing the settings (defaults apply)")?;
    Ok(())
}

/// Runs both checks on `message`, sent at `at_ms`. A message that passes is remembered in the
/// author's history for `stage`. Storage failures are returned (the link check needs none;
/// callers fall back to [`check_links`]).
fn examine(stage: Stage, message: &Message, at_ms: u64, settings: &Settings) -> Result<Option<Finding>, HostError> {
    if let Some(finding) = check_links(&message.text, settings) {
        return Ok(Some(finding));
    }
    let window_ms = settings.repeat_window_ms;
    if window_ms == 0 || exempt_from_repeats(&message.text) {
        return Ok(None);
    }
    let prefix = match stage {
        Stage::Review => PREFIX_REVIEWED,
        Stage::Posted => PREFIX_POSTED,
    };
    let key = format!("{prefix}{}", message.author);
    let fp = fingerprint(&normalise(&message.text));
    let mut history: History = kv::get_json(&key)?.unwrap_or_default();
    if history.is_repeat(&fp, at_ms, window_ms) {
        return Ok(Some(Finding::Repeat { window_ms }));
    }
    history.record(fp, at_ms, window_ms);
    kv::set_json(&key, &history)?;
    Ok(None)
}

/// Counts the finding and a strike for `author`; at `max_strikes` mutes them and clears their
/// strikes. A mute that is denied leaves the strikes, so the next offence tries again.
fn penalise(author: &str, finding: &Finding, settings: &Settings) -> Result<(), HostError> {
    kv::increment(finding.stat_key(), 1)?;
    let strikes_key = format!("{PREFIX_STRIKES}{author}");
    let strikes = kv::increment(&strikes_key, 1)?;
    plaza_sdk::info!("{author}: strike {strikes}: {}", finding.reason());
    if settings.max_strikes == 0 || strikes < i64::from(settings.max_strikes) {
        return Ok(());
    }
    let reason = format!("{strikes} spam strikes (last: {})", finding.reason());
    if moderation::mute(author, settings.mute_ms, &reason)
        .allow_denied("muting a repeat offender")?
        .is_some()
    {
        kv::delete(&strikes_key)?;
        kv::increment(STAT_MUTES, 1)?;
        plaza_sdk::info!("{author}: muted for {} ms", settings.mute_ms);
    }
    Ok(())
}

/// The `/spam stats` reply.
fn stats() -> Result<String, HostError> {
    let count = |key: &str| kv::get_i64(key).map(|n| n.unwrap_or(0));
    let (floods, repeats, deleted, mutes) = (
        count(STAT_LINK_FLOODS)?,
        count(STAT_REPEATS)?,
        count(STAT_DELETED)?,
        count(STAT_MUTES)?,
    );
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    Ok(format!(
        "Blocked {} and {}; deleted {}; muted {}.\nSettings: {}",
        plural(floods, "link flood", "link floods"),
        plural(repeats, "repeated message", "repeated messages"),
        plural(deleted, "posted message", "posted messages"),
        plural(mutes, "member", "members"),
        load_settings().describe(),
    ))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use plaza_sdk::logging::Level;
    use plaza_sdk::testing::{self, ModerationAction};

    fn review(author: &str, text: &str) -> ReviewVerdict {
        testing::review::<AntiSpam>(testing::message("general", author, text)).unwrap()
    }

    fn rejected(verdict: &ReviewVerdict) -> bool {
        matches!(verdict, ReviewVerdict::Reject(_))
    }

    fn mutes() -> Vec<ModerationAction> {
        testing::moderation()
            .into_iter()
            .filter(|a| matches!(a, ModerationAction::Mute { .. }))
            .collect()
    }

    #[test]
    fn allows_ordinary_messages_and_up_to_max_links() {
        assert_eq!(review("a", "hello there"), ReviewVerdict::Allow);
        assert_eq!(review("a", "https://a.io https://b.io www.c.io"), ReviewVerdict::Allow);
        let verdict = review("a", "https://a.io https://b.io www.c.io http://d.io");
        assert_eq!(
            verdict,
            ReviewVerdict::Reject("Too many links: this message has 4, at most 3 are allowed.".into())
        );
        assert_eq!(testing::kv_get_string(STAT_LINK_FLOODS).as_deref(), Some("1"));
        assert_eq!(testing::kv_get_string("strikes/a").as_deref(), Some("1"));
    }

    #[test]
    fn config_changes_the_link_limit() {
        testing::deliver::<AntiSpam>(testing::installed(&[("max-links", "1")])).unwrap();
        assert!(rejected(&review("a", "https://a.io https://b.io")));
        testing::deliver::<AntiSpam>(testing::config_changed(&[("max-links", "oops")])).unwrap();
        assert!(testing::logs_at(Level::Warn)[0].contains("max-links"));
        assert_eq!(review("a", "https://a.io https://b.io"), ReviewVerdict::Allow);
    }

    #[test]
    fn rejects_the_same_text_from_the_same_author_within_the_window() {
        assert_eq!(review("a", "Buy cheap watches"), ReviewVerdict::Allow);
        testing::advance(10_000);
        assert_eq!(review("b", "buy cheap watches"), ReviewVerdict::Allow);
        assert_eq!(review("a", "something else"), ReviewVerdict::Allow);
        let verdict = review("a", "BUY  cheap watches!!!");
        assert_eq!(
            verdict,
            ReviewVerdict::Reject("You already sent this message in the last 30 s.".into())
        );
        // Past the window (counted from the accepted message), the text is fine again.
        testing::advance(20_001);
        assert_eq!(review("a", "buy cheap watches"), ReviewVerdict::Allow);
        assert_eq!(testing::kv_get_string(STAT_REPEATS).as_deref(), Some("1"));
    }

    #[test]
    fn repeat_window_comes_from_config() {
        testing::deliver::<AntiSpam>(testing::installed(&[("repeat-window-ms", "1000")])).unwrap();
        assert_eq!(review("a", "hi all"), ReviewVerdict::Allow);
        testing::advance(1_001);
        assert_eq!(review("a", "hi all"), ReviewVerdict::Allow);
        testing::deliver::<AntiSpam>(testing::config_changed(&[("repeat-window-ms", "0")])).unwrap();
        assert_eq!(review("a", "hi all"), ReviewVerdict::Allow);
    }

    #[test]
    fn commands_and_emoji_only_messages_may_repeat() {
        for _ in 0..3 {
            assert_eq!(review("a", "/results 1"), ReviewVerdict::Allow);
            assert_eq!(review("a", "👍"), ReviewVerdict::Allow);
        }
    }

    #[test]
    fn mutes_after_max_strikes_and_starts_counting_again() {
        let flood = "https://a.io https://b.io https://c.io https://d.io";
        assert!(rejected(&review("spammer", flood)));
        assert!(rejected(&review("spammer", flood)));
        assert!(mutes().is_empty());
        assert!(rejected(&review("spammer", flood)));
        let muted = mutes();
        assert_eq!(muted.len(), 1);
        let ModerationAction::Mute {
            member,
            duration_ms,
            reason,
        } = &muted[0]
        else {
            unreachable!()
        };
        assert_eq!((member.as_str(), *duration_ms), ("spammer", 600_000));
        assert!(reason.starts_with("3 spam strikes"), "{reason}");
        assert_eq!(testing::kv_get_string("strikes/spammer"), None);
        assert_eq!(testing::kv_get_string(STAT_MUTES).as_deref(), Some("1"));
        assert!(rejected(&review("spammer", flood)));
        assert_eq!(testing::kv_get_string("strikes/spammer").as_deref(), Some("1"));
    }

    #[test]
    fn denied_mute_is_a_warning_and_retried_on_the_next_strike() {
        testing::deny("members:moderate");
        let flood = "www.a.io www.b.io www.c.io www.d.io";
        for _ in 0..4 {
            assert!(rejected(&review("x", flood)));
        }
        assert!(mutes().is_empty());
        assert_eq!(testing::kv_get_string("strikes/x").as_deref(), Some("4"));
        assert_eq!(testing::logs_at(Level::Warn).len(), 2);
        testing::grant("members:moderate");
        assert!(rejected(&review("x", flood)));
        assert_eq!(mutes().len(), 1);
    }

    #[test]
    fn without_storage_links_are_still_checked_and_repeats_are_not() {
        testing::deny("storage:kv");
        assert!(rejected(&review("a", "http://a http://b http://c http://d")));
        assert_eq!(review("a", "same"), ReviewVerdict::Allow);
        assert_eq!(review("a", "same"), ReviewVerdict::Allow);
        assert!(testing::logs_at(Level::Warn).iter().any(|l| l.contains("storage:kv")));
    }

    #[test]
    fn posted_path_deletes_and_strikes_when_review_is_not_granted() {
        testing::deliver::<AntiSpam>(testing::posted("general", "a", "join my server")).unwrap();
        let repeat = testing::message("general", "a", "Join my server!");
        let repeat_id = repeat.id.clone();
        testing::deliver::<AntiSpam>(EventKind::MessagePosted(repeat)).unwrap();
        assert_eq!(
            testing::moderation(),
            [ModerationAction::DeleteMessage {
                channel: "general".into(),
                id: repeat_id,
                reason: "You already sent this message in the last 30 s.".into(),
            }]
        );
        assert_eq!(testing::kv_get_string(STAT_DELETED).as_deref(), Some("1"));
        assert_eq!(testing::kv_get_string("strikes/a").as_deref(), Some("1"));
    }

    #[test]
    fn a_message_the_review_allowed_is_not_a_repeat_when_posted() {
        let message = testing::message("general", "a", "hello everyone");
        assert_eq!(
            testing::review::<AntiSpam>(message.clone()).unwrap(),
            ReviewVerdict::Allow
        );
        testing::deliver::<AntiSpam>(EventKind::MessagePosted(message)).unwrap();
        assert!(testing::moderation().is_empty());
    }

    #[test]
    fn posted_path_without_storage_still_deletes_link_floods() {
        testing::deny("storage:kv");
        testing::deliver::<AntiSpam>(testing::posted("g", "a", "hi")).unwrap();
        testing::deliver::<AntiSpam>(testing::posted("g", "a", "hi")).unwrap();
        testing::deliver::<AntiSpam>(testing::posted("g", "a", "http://1 http://2 http://3 http://4")).unwrap();
        let actions = testing::moderation();
        assert_eq!(actions.len(), 1);
        assert!(
            matches!(&actions[0], ModerationAction::DeleteMessage { reason, .. } if reason.starts_with("Too many links"))
        );
    }

    #[test]
    fn posted_path_degrades_without_moderation_rights() {
        testing::deny("messages:manage");
        testing::deny("members:moderate");
        for _ in 0..3 {
            testing::deliver::<AntiSpam>(testing::posted("g", "a", "http://1 http://2 http://3 http://4")).unwrap();
        }
        assert!(testing::moderation().is_empty());
        assert_eq!(testing::kv_get_string(STAT_DELETED), None);
        assert_eq!(testing::kv_get_string("strikes/a").as_deref(), Some("3"));
    }

    #[test]
    fn stats_command_reports_counts_and_settings() {
        review("a", "http://1 http://2 http://3 http://4");
        review("b", "hey");
        review("b", "hey");
        testing::deliver::<AntiSpam>(testing::command("general", "mod", "spam", &["stats"])).unwrap();
        assert_eq!(
            testing::last_sent_text().unwrap(),
            "Blocked 1 link flood and 1 repeated message; deleted 0 posted messages; muted 0 members.\n\
             Settings: at most 3 links per message; the same text again within 30 s is a repeat; \
             3 strikes mean a 10 min mute."
        );
        testing::deliver::<AntiSpam>(testing::command("general", "mod", "spam", &[])).unwrap();
        assert_eq!(testing::last_sent_text().as_deref(), Some(USAGE));
        testing::deny("storage:kv");
        testing::deliver::<AntiSpam>(testing::command("general", "mod", "spam", &["stats"])).unwrap();
        assert!(testing::last_sent_text().unwrap().contains("`storage:kv`"));
    }

    #[test]
    fn describes_the_spam_command() {
        let info = AntiSpam::info();
        assert_eq!(info.name, "anti-spam");
        assert_eq!(info.commands[0].name, "spam");
    }
}
