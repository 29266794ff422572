//! Failure lines for a check's details, one per command and reason: a command fails the same
//! way with every argument list and on redelivery, and the report should say so once.

/// Failures seen so far, in the order first seen.
#[derive(Default)]
pub(super) struct Failures {
    /// (what fails, the reason code, the first line, how many more alike).
    seen: Vec<(String, String, String, usize)>,
}

impl Failures {
    /// Records that `label` (e.g. `/loop a b`) failed with `why` (`code: message`).
    pub(super) fn add(&mut self, label: &str, why: &str) {
        let subject = label.split(' ').next().unwrap_or(label).to_string();
        let code = why.split(':').next().unwrap_or(why).to_string();
        match self.seen.iter_mut().find(|(s, c, _, _)| *s == subject && *c == code) {
            Some((_, _, _, more)) => *more += 1,
            None => self.seen.push((subject, code, format!("{label}: {why}"), 0)),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// One line per command and reason.
    pub(super) fn into_lines(self) -> Vec<String> {
        self.seen
            .into_iter()
            .map(|(subject, _, line, more)| match more {
                0 => line,
                n => format!("{line} (and {n} more deliveries of {subject} alike)"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_command_and_reason() {
        let mut f = Failures::default();
        f.add("/loop", "cpu-budget: over");
        f.add("/loop a b", "cpu-budget: over");
        f.add("/loop (unicode)", "memory-limit: big");
        f.add("member-joined", "guest-trap: x");
        assert_eq!(
            f.into_lines(),
            [
                "/loop: cpu-budget: over (and 1 more deliveries of /loop alike)",
                "/loop (unicode): memory-limit: big",
                "member-joined: guest-trap: x",
            ]
        );
    }
}
