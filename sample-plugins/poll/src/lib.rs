//! # poll
//!
//! Quick polls: `/poll QUESTION OPTION OPTION...` posts a numbered poll, members `/vote` (one
//! vote each, re-voting moves the vote), anyone can see `/results`, and the creator can
//! `/close` it, or let it close itself with `/poll --minutes N ...`. See the README for
//! capabilities, commands and KV keys.

pub mod model;
pub mod parse;

use plaza_sdk::prelude::*;

use model::Poll;
use parse::{parse_id, parse_poll, resolve_option};

/// KV key of the last poll id handed out (a counter).
pub const KEY_LAST_ID: &str = "polls/last-id";
/// Name of the auto-close timers (their payload is the poll id).
pub const TIMER_CLOSE: &str = "poll-close";

/// KV key of poll `id` (JSON [`Poll`]).
pub fn poll_key(id: u64) -> String {
    format!("poll/{id}")
}

/// KV key of poll `id`'s tally (JSON list of vote counts, one per option).
pub fn tally_key(id: u64) -> String {
    format!("poll/{id}/tally")
}

/// KV key of `member`'s vote in poll `id` (the option's index, as decimal text).
pub fn vote_key(id: u64, member: &str) -> String {
    format!("poll/{id}/vote/{member}")
}

const POLL_USAGE: &str = "Usage: /poll [--minutes N] QUESTION OPTION OPTION... (2 to 10 options; quote words that \
     belong together, e.g. /poll \"Lunch today?\" pizza \"dim sum\")";
const VOTE_USAGE: &str = "Usage: /vote POLL OPTION (the option's number or name), e.g. /vote 3 2";
const RESULTS_USAGE: &str = "Usage: /results POLL, e.g. /results 3";
const CLOSE_USAGE: &str = "Usage: /close POLL, e.g. /close 3";

/// The plugin.
pub struct PollPlugin;

impl Plugin for PollPlugin {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "poll",
            env!("CARGO_PKG_VERSION"),
            "Quick polls: post a question with numbered options, let members vote (one vote each), \
             show live results and close the poll by hand or after a set time.",
        )
        .with_command("poll", "Start a poll", "/poll [--minutes N] QUESTION OPTION OPTION...")
        .with_command("vote", "Vote in a poll, or move your vote", "/vote POLL OPTION")
        .with_command("results", "Show a poll's results", "/results POLL")
        .with_command("close", "Close a poll you created", "/close POLL")
    }

    fn on_command(meta: &EventMeta, cmd: CommandInvoked) -> HandlerResult {
        let outcome = match cmd.name.as_str() {
            "poll" => create(meta, &cmd),
            "vote" => vote(&cmd),
            "results" => results(&cmd),
            "close" => close_command(&cmd),
            _ => return Ok(()),
        };
        let reply = match outcome {
            Ok(Some(reply)) => reply,
            Ok(None) => return Ok(()),
            Err(HostError::Denied(cap)) => {
                plaza_sdk::warn!("/{}: {cap} not granted", cmd.name);
                format!("Polls are not available: this community has not granted me `{cap}`.")
            }
            Err(e) => return Err(e.into()),
        };
        cmd.respond(&reply).allow_denied("answering a poll command")?;
        Ok(())
    }

    fn on_timer(_meta: &EventMeta, timer: TimerFired) -> HandlerResult {
        if timer.name != TIMER_CLOSE {
            return Ok(());
        }
        let Some(id) = parse_id(&timer.payload) else {
            plaza_sdk::warn!("auto-close timer with a bad payload {:?}", timer.payload);
            return Ok(());
        };
        let Some(mut poll) = load(id).allow_denied("auto-closing a poll")?.flatten() else {
            plaza_sdk::info!("auto-close: poll {id} no longer exists");
            return Ok(());
        };
        if poll.closed {
            return Ok(());
        }
        // The timer has fired: nothing to cancel.
        poll.timer = None;
        let text = close(&mut poll).allow_denied("auto-closing a poll")?;
        if let Some(text) = text {
            messaging::send(&poll.channel, &text).allow_denied("posting the final results")?;
        }
        Ok(())
    }
}

plaza_sdk::export_plugin!(PollPlugin);

fn load(id: u64) -> Result<Option<Poll>, HostError> {
    kv::get_json(&poll_key(id))
}

fn load_tally(poll: &Poll) -> Result<Vec<u64>, HostError> {
    let mut tally: Vec<u64> = kv::get_json(&tally_key(poll.id))?.unwrap_or_default();
    tally.resize(poll.options.len(), 0);
    Ok(tally)
}

/// Looks up the poll named by the first argument; `Err` holds the reply for bad input.
fn find_poll(cmd: &CommandInvoked, usage: &str) -> Result<Result<Poll, String>, HostError> {
    let Some(arg) = cmd.arg(0) else {
        return Ok(Err(usage.to_string()));
    };
    let Some(id) = parse_id(arg) else {
        return Ok(Err(format!("\"{arg}\" is not a poll number. {usage}")));
    };
    Ok(load(id)?.ok_or_else(|| format!("There is no poll #{id}.")))
}

/// `/poll`: creates and announces a poll. The announcement is the reply.
fn create(meta: &EventMeta, cmd: &CommandInvoked) -> Result<Option<String>, HostError> {
    let spec = match parse_poll(&cmd.args) {
        Ok(spec) => spec,
        Err(problem) => return Ok(Some(format!("{problem}\n{POLL_USAGE}"))),
    };
    let id = kv::increment(KEY_LAST_ID, 1)? as u64;
    let mut poll = Poll {
        id,
        question: spec.question,
        options: spec.options,
        creator: cmd.member.clone(),
        channel: cmd.channel.clone(),
        closed: false,
        timer: None,
    };
    let mut auto_close_unavailable = false;
    if let Some(minutes) = spec.minutes {
        poll.timer = scheduler::schedule_once(TIMER_CLOSE, minutes * 60_000, &id.to_string())
            .allow_denied("scheduling the poll's auto-close")?;
        auto_close_unavailable = poll.timer.is_none();
    }
    kv::set_json(&poll_key(id), &poll)?;
    kv::set_json(&tally_key(id), &vec![0u64; poll.options.len()])?;
    plaza_sdk::info!("poll {id} created by {} at {}", poll.creator, meta.timestamp_ms);
    let announced = spec.minutes.filter(|_| poll.timer.is_some());
    Ok(Some(poll.announcement(announced, auto_close_unavailable)))
}

/// `/vote ID OPTION...`.
fn vote(cmd: &CommandInvoked) -> Result<Option<String>, HostError> {
    let poll = match find_poll(cmd, VOTE_USAGE)? {
        Ok(poll) => poll,
        Err(reply) => return Ok(Some(reply)),
    };
    let id = poll.id;
    if poll.closed {
        return Ok(Some(format!("Poll #{id} is closed; see /results {id}.")));
    }
    let choice = cmd.rest(1);
    if choice.trim().is_empty() {
        return Ok(Some(format!("Which option? {VOTE_USAGE}")));
    }
    let Some(index) = resolve_option(&poll.options, &choice) else {
        return Ok(Some(format!(
            "Poll #{id} has no option \"{}\". Choose 1 to {} or one of: {}.",
            choice.trim(),
            poll.options.len(),
            poll.options.join(", ")
        )));
    };
    let key = vote_key(id, &cmd.member);
    let previous = kv::get_i64(&key)?
        .and_then(|p| usize::try_from(p).ok())
        .filter(|&p| p < poll.options.len());
    let chosen = &poll.options[index];
    if previous == Some(index) {
        return Ok(Some(format!("You already voted for {chosen} in poll #{id}.")));
    }
    let mut tally = load_tally(&poll)?;
    if let Some(p) = previous {
        tally[p] = tally[p].saturating_sub(1);
    }
    tally[index] += 1;
    kv::set_json(&tally_key(id), &tally)?;
    kv::set_string(&key, &index.to_string())?;
    Ok(Some(match previous {
        Some(p) => format!("Your vote in poll #{id} moved from {} to {chosen}.", poll.options[p]),
        None => format!("Vote recorded: {chosen} (poll #{id})."),
    }))
}

/// `/results ID`.
fn results(cmd: &CommandInvoked) -> Result<Option<String>, HostError> {
    Ok(Some(match find_poll(cmd, RESULTS_USAGE)? {
        Ok(poll) => poll.results(&load_tally(&poll)?),
        Err(reply) => reply,
    }))
}

/// `/close ID`: only the creator may close a poll.
fn close_command(cmd: &CommandInvoked) -> Result<Option<String>, HostError> {
    let mut poll = match find_poll(cmd, CLOSE_USAGE)? {
        Ok(poll) => poll,
        Err(reply) => return Ok(Some(reply)),
    };
    if poll.creator != cmd.member {
        return Ok(Some(format!(
            "Only the member who created poll #{} can close it.",
            poll.id
        )));
    }
    if poll.closed {
        return Ok(Some(format!("Poll #{} is already closed.", poll.id)));
    }
    if let Some(timer) = poll.timer.take() {
        match scheduler::cancel(&timer) {
            Ok(()) | Err(HostError::NotFound) => {}
            Err(e) => plaza_sdk::warn!("poll {}: could not cancel the auto-close timer: {e}", poll.id),
        }
    }
    close(&mut poll).map(Some)
}

/// Marks `poll` closed, stores it and returns the final results.
fn close(poll: &mut Poll) -> Result<String, HostError> {
    poll.closed = true;
    kv::set_json(&poll_key(poll.id), poll)?;
    let tally = load_tally(poll)?;
    Ok(format!("🔒 Poll #{} is closed.\n{}", poll.id, poll.results(&tally)))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use plaza_sdk::logging::Level;
    use plaza_sdk::testing;

    fn run(member: &str, name: &str, args: &[&str]) -> String {
        testing::deliver::<PollPlugin>(testing::command("general", member, name, args)).unwrap();
        testing::last_sent_text().expect("a reply")
    }

    fn lunch_poll() -> String {
        run("ada", "poll", &["Lunch today?", "pizza", "sushi", "dim sum"])
    }

    fn tally(id: u64) -> Vec<u64> {
        serde_json::from_str(&testing::kv_get_string(&tally_key(id)).unwrap()).unwrap()
    }

    #[test]
    fn describes_all_four_commands() {
        let names: Vec<String> = PollPlugin::info().commands.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["poll", "vote", "results", "close"]);
    }

    #[test]
    fn creates_numbered_polls_and_posts_them() {
        let text = lunch_poll();
        assert_eq!(
            text,
            "📊 Poll #1: Lunch today?\n1. pizza\n2. sushi\n3. dim sum\n\
             Vote with /vote 1 NUMBER or /vote 1 NAME; see /results 1."
        );
        assert_eq!(testing::sent()[0].channel, "general");
        assert!(run("bob", "poll", &["Tea?", "yes", "no"]).starts_with("📊 Poll #2: Tea?"));
        let stored: Poll = serde_json::from_str(&testing::kv_get_string("poll/1").unwrap()).unwrap();
        assert_eq!(stored.creator, "ada");
        assert_eq!(stored.options.len(), 3);
        assert_eq!(tally(1), [0, 0, 0]);
        assert_eq!(testing::kv_get_string(KEY_LAST_ID).as_deref(), Some("2"));
    }

    #[test]
    fn bad_poll_input_gets_a_clear_reply_and_creates_nothing() {
        let reply = run("ada", "poll", &["Lunch?", "pizza"]);
        assert!(
            reply.starts_with("A poll needs 2 to 10 options; you gave 1."),
            "{reply}"
        );
        assert!(reply.contains("Usage: /poll"));
        assert!(run("ada", "poll", &[]).starts_with("A poll needs a question"));
        assert_eq!(testing::kv_get_string(KEY_LAST_ID), None);
    }

    #[test]
    fn one_vote_per_member_and_revoting_moves_it() {
        lunch_poll();
        assert_eq!(run("bob", "vote", &["1", "2"]), "Vote recorded: sushi (poll #1).");
        assert_eq!(
            run("cy", "vote", &["#1", "dim", "sum"]),
            "Vote recorded: dim sum (poll #1)."
        );
        assert_eq!(
            run("bob", "vote", &["1", "sushi"]),
            "You already voted for sushi in poll #1."
        );
        assert_eq!(tally(1), [0, 1, 1]);
        assert_eq!(
            run("bob", "vote", &["1", "Pizza"]),
            "Your vote in poll #1 moved from sushi to pizza."
        );
        assert_eq!(tally(1), [1, 0, 1]);
        assert_eq!(testing::kv_get_string(&vote_key(1, "bob")).as_deref(), Some("0"));
    }

    #[test]
    fn bad_votes_get_clear_replies() {
        lunch_poll();
        assert_eq!(run("bob", "vote", &["9", "1"]), "There is no poll #9.");
        assert!(run("bob", "vote", &["abc", "1"]).starts_with("\"abc\" is not a poll number."));
        assert!(run("bob", "vote", &[]).starts_with("Usage: /vote"));
        assert!(run("bob", "vote", &["1"]).starts_with("Which option?"));
        assert_eq!(
            run("bob", "vote", &["1", "tacos"]),
            "Poll #1 has no option \"tacos\". Choose 1 to 3 or one of: pizza, sushi, dim sum."
        );
        assert_eq!(tally(1), [0, 0, 0]);
    }

    #[test]
    fn results_show_the_tally() {
        lunch_poll();
        run("bob", "vote", &["1", "1"]);
        run("cy", "vote", &["1", "1"]);
        run("dee", "vote", &["1", "3"]);
        assert_eq!(
            run("eve", "results", &["1"]),
            "📊 Poll #1 (results so far): Lunch today?\n\
             1. pizza: 2 votes (67%)\n2. sushi: 0 votes (0%)\n3. dim sum: 1 vote (33%)\nTotal: 3 votes."
        );
        assert_eq!(run("eve", "results", &["2"]), "There is no poll #2.");
    }

    #[test]
    fn only_the_creator_closes_and_closed_polls_take_no_votes() {
        lunch_poll();
        run("bob", "vote", &["1", "sushi"]);
        assert_eq!(
            run("bob", "close", &["1"]),
            "Only the member who created poll #1 can close it."
        );
        let closed = run("ada", "close", &["1"]);
        assert!(
            closed.starts_with("🔒 Poll #1 is closed.\n📊 Poll #1 (final results)"),
            "{closed}"
        );
        assert!(closed.ends_with("Total: 1 vote. Winner: sushi."), "{closed}");
        assert_eq!(run("cy", "vote", &["1", "pizza"]), "Poll #1 is closed; see /results 1.");
        assert_eq!(run("ada", "close", &["1"]), "Poll #1 is already closed.");
        assert_eq!(tally(1), [0, 1, 0]);
    }

    #[test]
    fn minutes_schedule_an_auto_close_that_posts_final_results() {
        let text = run("ada", "poll", &["--minutes", "15", "Ship it?", "yes", "no"]);
        assert!(text.ends_with("Closes automatically in 15 minutes."), "{text}");
        let timers = testing::timers();
        assert_eq!(timers.len(), 1);
        assert_eq!(
            (timers[0].name.as_str(), timers[0].payload.as_str()),
            (TIMER_CLOSE, "1")
        );
        assert_eq!(timers[0].delay_ms, 15 * 60_000);

        run("bob", "vote", &["1", "yes"]);
        testing::clear_sent();
        testing::deliver::<PollPlugin>(testing::timer_fired(&timers[0].id, TIMER_CLOSE, "1")).unwrap();
        let sent = testing::sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].channel, "general");
        assert!(sent[0].text.ends_with("Winner: yes."));
        // A second firing (e.g. a redelivery) does nothing.
        testing::deliver::<PollPlugin>(testing::timer_fired(&timers[0].id, TIMER_CLOSE, "1")).unwrap();
        assert_eq!(testing::sent().len(), 1);
    }

    #[test]
    fn closing_by_hand_cancels_the_timer() {
        run("ada", "poll", &["--minutes=5", "Q?", "a", "b"]);
        run("ada", "close", &["1"]);
        assert!(testing::timers()[0].cancelled);
    }

    #[test]
    fn without_the_scheduler_the_poll_is_created_without_auto_close() {
        testing::deny("schedule");
        let text = run("ada", "poll", &["--minutes", "5", "Q?", "a", "b"]);
        assert!(
            text.ends_with("(Automatic closing is not available here; the creator can /close it.)"),
            "{text}"
        );
        assert!(testing::kv_get_string("poll/1").is_some());
        assert!(testing::logs_at(Level::Warn).iter().any(|l| l.contains("schedule")));
        // Closing by hand works and has no timer to cancel.
        assert!(run("ada", "close", &["1"]).starts_with("🔒"));
    }

    #[test]
    fn denied_storage_gets_an_explanation_and_denied_send_is_a_warning() {
        testing::deny("storage:kv");
        assert_eq!(
            lunch_poll(),
            "Polls are not available: this community has not granted me `storage:kv`."
        );
        testing::grant("storage:kv");
        testing::clear_sent();
        testing::deny("messages:send");
        testing::deliver::<PollPlugin>(testing::command("general", "ada", "poll", &["Q?", "a", "b"])).unwrap();
        assert!(testing::sent().is_empty());
        assert!(
            testing::kv_get_string("poll/1").is_some(),
            "the poll exists even if it could not be posted"
        );
        assert!(testing::logs_at(Level::Warn)
            .iter()
            .any(|l| l.contains("messages:send")));
    }

    #[test]
    fn transient_failures_roll_the_vote_back() {
        lunch_poll();
        testing::fail("messaging.reply", HostError::RateLimited(500));
        let err = testing::deliver::<PollPlugin>(testing::command("general", "bob", "vote", &["1", "1"])).unwrap_err();
        assert!(err.retryable);
        assert_eq!(tally(1), [0, 0, 0]);
        assert_eq!(testing::kv_get_string(&vote_key(1, "bob")), None);
    }

    #[test]
    fn unrelated_timers_and_bad_payloads_are_ignored() {
        testing::deliver::<PollPlugin>(testing::timer_fired("t", "other", "1")).unwrap();
        testing::deliver::<PollPlugin>(testing::timer_fired("t", TIMER_CLOSE, "nope")).unwrap();
        testing::deliver::<PollPlugin>(testing::timer_fired("t", TIMER_CLOSE, "42")).unwrap();
        assert!(testing::sent().is_empty());
    }
}
