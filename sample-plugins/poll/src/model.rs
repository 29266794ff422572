//! A poll as stored in KV, and the texts posted about it.

use serde::{Deserialize, Serialize};

/// A poll (stored as JSON under `poll/{id}`; its tally lives under `poll/{id}/tally`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    /// Its number.
    pub id: u64,
    /// The question.
    pub question: String,
    /// The options, in order.
    pub options: Vec<String>,
    /// The member who created it (the only one who may close it).
    pub creator: String,
    /// The channel it was posted in.
    pub channel: String,
    /// True once closed: no more votes.
    #[serde(default)]
    pub closed: bool,
    /// The auto-close timer, if one was scheduled.
    #[serde(default)]
    pub timer: Option<String>,
}

impl Poll {
    /// The text announcing a new poll. `auto_close` is the `--minutes` value if the auto-close
    /// timer was scheduled; `auto_close_unavailable` is true if it was asked for but could not be.
    pub fn announcement(&self, auto_close: Option<u64>, auto_close_unavailable: bool) -> String {
        let mut text = format!("📊 Poll #{}: {}\n", self.id, self.question);
        for (i, option) in self.options.iter().enumerate() {
            text.push_str(&format!("{}. {option}\n", i + 1));
        }
        text.push_str(&format!(
            "Vote with /vote {id} NUMBER or /vote {id} NAME; see /results {id}.",
            id = self.id
        ));
        if let Some(minutes) = auto_close {
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            text.push_str(&format!(" Closes automatically in {minutes} {unit}."));
        } else if auto_close_unavailable {
            text.push_str(" (Automatic closing is not available here; the creator can /close it.)");
        }
        text
    }

    /// The results: one line per option with votes and share, and the total. For a closed poll
    /// it ends with the winner (or the tie).
    pub fn results(&self, tally: &[u64]) -> String {
        let total: u64 = tally.iter().sum();
        let state = if self.closed { "final results" } else { "results so far" };
        let mut text = format!("📊 Poll #{} ({state}): {}\n", self.id, self.question);
        for (i, option) in self.options.iter().enumerate() {
            let votes = tally.get(i).copied().unwrap_or(0);
            text.push_str(&format!(
                "{}. {option}: {} ({}%)\n",
                i + 1,
                plural_votes(votes),
                percent(votes, total)
            ));
        }
        text.push_str(&format!("Total: {}.", plural_votes(total)));
        if self.closed {
            text.push(' ');
            text.push_str(&self.verdict(tally));
        }
        text
    }

    /// "Winner: X.", "Tie between X and Y." or "No votes were cast."
    pub fn verdict(&self, tally: &[u64]) -> String {
        let best = tally.iter().copied().max().unwrap_or(0);
        if best == 0 {
            return "No votes were cast.".to_string();
        }
        let leaders: Vec<&str> = self
            .options
            .iter()
            .zip(tally)
            .filter(|(_, &v)| v == best)
            .map(|(o, _)| o.as_str())
            .collect();
        match leaders.as_slice() {
            [one] => format!("Winner: {one}."),
            [init @ .., last] => format!("Tie between {} and {last}.", init.join(", ")),
            [] => unreachable!("best > 0 means some option has it"),
        }
    }
}

/// `1 vote`, `2 votes`.
pub fn plural_votes(n: u64) -> String {
    if n == 1 {
        "1 vote".to_string()
    } else {
        format!("{n} votes")
    }
}

/// `votes` as a whole percentage of `total`, rounded to nearest (0 when there are no votes).
pub fn percent(votes: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        (votes * 200 + total) / (total * 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(closed: bool) -> Poll {
        Poll {
            id: 4,
            question: "Lunch today?".into(),
            options: vec!["pizza".into(), "sushi".into(), "ramen".into()],
            creator: "ada".into(),
            channel: "general".into(),
            closed,
            timer: None,
        }
    }

    #[test]
    fn announces_with_numbered_options() {
        assert_eq!(
            poll(false).announcement(None, false),
            "📊 Poll #4: Lunch today?\n1. pizza\n2. sushi\n3. ramen\n\
             Vote with /vote 4 NUMBER or /vote 4 NAME; see /results 4."
        );
        assert!(poll(false)
            .announcement(Some(1), false)
            .ends_with("Closes automatically in 1 minute."));
        assert!(poll(false)
            .announcement(None, true)
            .ends_with("the creator can /close it.)"));
    }

    #[test]
    fn results_show_counts_shares_and_total() {
        assert_eq!(
            poll(false).results(&[2, 1, 0]),
            "📊 Poll #4 (results so far): Lunch today?\n\
             1. pizza: 2 votes (67%)\n2. sushi: 1 vote (33%)\n3. ramen: 0 votes (0%)\nTotal: 3 votes."
        );
        assert!(poll(true)
            .results(&[2, 1, 0])
            .ends_with("Total: 3 votes. Winner: pizza."));
    }

    #[test]
    fn verdicts_handle_ties_and_no_votes() {
        assert_eq!(poll(true).verdict(&[0, 0, 0]), "No votes were cast.");
        assert_eq!(poll(true).verdict(&[1, 1, 0]), "Tie between pizza and sushi.");
        assert_eq!(poll(true).verdict(&[2, 2, 2]), "Tie between pizza, sushi and ramen.");
        assert_eq!(poll(true).verdict(&[0, 0, 5]), "Winner: ramen.");
    }

    #[test]
    fn percentages_round_to_nearest() {
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(1, 8), 13); // 12.5 rounds up
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(5, 5), 100);
    }

    #[test]
    fn older_stored_polls_without_optional_fields_load() {
        let p: Poll =
            serde_json::from_str(r#"{"id":1,"question":"Q","options":["a","b"],"creator":"c","channel":"g"}"#).unwrap();
        assert!(!p.closed);
        assert_eq!(p.timer, None);
    }
}
