//! Parsing command arguments: `/poll`, poll ids and vote choices.

/// Fewest options a poll may have.
pub const MIN_OPTIONS: usize = 2;
/// Most options a poll may have.
pub const MAX_OPTIONS: usize = 10;
/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 200;
/// Longest option, in characters.
pub const MAX_OPTION_CHARS: usize = 80;
/// Longest auto-close delay for `--minutes`: one week.
pub const MAX_MINUTES: u64 = 7 * 24 * 60;

/// A `/poll` invocation that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSpec {
    /// The question.
    pub question: String,
    /// The options, in order.
    pub options: Vec<String>,
    /// Close automatically after this many minutes.
    pub minutes: Option<u64>,
}

/// Parses `/poll [--minutes N] QUESTION OPTION OPTION...` (arguments already split the way a
/// shell would, so quoted phrases arrive whole). Errors are messages for the user.
pub fn parse_poll(args: &[String]) -> Result<PollSpec, String> {
    let mut minutes = None;
    let mut rest = args;
    while let Some(first) = rest.first() {
        let value = if let Some(v) = first.strip_prefix("--minutes=") {
            rest = &rest[1..];
            v.to_string()
        } else if first == "--minutes" || first == "-m" {
            let Some(v) = rest.get(1) else {
                return Err(format!("`{first}` needs a number of minutes."));
            };
            rest = &rest[2..];
            v.clone()
        } else {
            break;
        };
        match value.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_MINUTES).contains(&n) => minutes = Some(n),
            _ => {
                return Err(format!(
                    "The poll duration must be a whole number of minutes from 1 to {MAX_MINUTES}."
                ))
            }
        }
    }

    let Some((question, options)) = rest.split_first() else {
        return Err("A poll needs a question and at least two options.".to_string());
    };
    let question = collapse_spaces(question);
    if question.is_empty() {
        return Err("The question is empty.".to_string());
    }
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(format!(
            "The question is too long (at most {MAX_QUESTION_CHARS} characters)."
        ));
    }
    if options.len() < MIN_OPTIONS || options.len() > MAX_OPTIONS {
        return Err(format!(
            "A poll needs {MIN_OPTIONS} to {MAX_OPTIONS} options; you gave {}. Put an option of several words in quotes.",
            options.len()
        ));
    }
    let mut cleaned: Vec<String> = Vec::with_capacity(options.len());
    for option in options {
        let option = collapse_spaces(option);
        if option.is_empty() {
            return Err("Options must not be empty.".to_string());
        }
        if option.chars().count() > MAX_OPTION_CHARS {
            return Err(format!(
                "Option \"{option}\" is too long (at most {MAX_OPTION_CHARS} characters)."
            ));
        }
        if cleaned.iter().any(|o| o.to_lowercase() == option.to_lowercase()) {
            return Err(format!("Option \"{option}\" is listed twice."));
        }
        cleaned.push(option);
    }
    Ok(PollSpec {
        question,
        options: cleaned,
        minutes,
    })
}

/// Parses a poll id as typed: `3` or `#3`.
pub fn parse_id(text: &str) -> Option<u64> {
    let text = text.trim();
    text.strip_prefix('#')
        .unwrap_or(text)
        .parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
}

/// Finds the option a voter meant: its number (`2` or `#2`), its name (case and spacing
/// ignored), or an unambiguous start of its name (`piz` for `pizza`). Returns its index.
pub fn resolve_option(options: &[String], choice: &str) -> Option<usize> {
    let choice = collapse_spaces(choice);
    if let Ok(n) = choice.strip_prefix('#').unwrap_or(&choice).parse::<usize>() {
        if (1..=options.len()).contains(&n) {
            return Some(n - 1);
        }
    }
    let wanted = choice.to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    let lower: Vec<String> = options.iter().map(|o| o.to_lowercase()).collect();
    if let Some(i) = lower.iter().position(|o| *o == wanted) {
        return Some(i);
    }
    let mut prefixed = lower.iter().enumerate().filter(|(_, o)| o.starts_with(&wanted));
    match (prefixed.next(), prefixed.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Trims and collapses runs of whitespace to one space.
fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_question_and_options() {
        let spec = parse_poll(&args(&["Lunch today?", "pizza", " dim   sum "])).unwrap();
        assert_eq!(spec.question, "Lunch today?");
        assert_eq!(spec.options, ["pizza", "dim sum"]);
        assert_eq!(spec.minutes, None);
    }

    #[test]
    fn parses_the_minutes_flag_in_both_forms() {
        let spec = parse_poll(&args(&["--minutes", "30", "Q?", "a", "b"])).unwrap();
        assert_eq!(spec.minutes, Some(30));
        assert_eq!(spec.question, "Q?");
        let spec = parse_poll(&args(&["--minutes=5", "Q?", "a", "b"])).unwrap();
        assert_eq!(spec.minutes, Some(5));
        // Only leading flags count; later ones are ordinary options.
        let spec = parse_poll(&args(&["Q?", "--minutes", "b"])).unwrap();
        assert_eq!(spec.options, ["--minutes", "b"]);
    }

    #[test]
    fn rejects_bad_minutes() {
        for bad in [
            &["--minutes"][..],
            &["--minutes", "0", "Q", "a", "b"],
            &["-m", "x", "Q", "a", "b"],
            &["--minutes=99999", "Q", "a", "b"],
        ] {
            let err = parse_poll(&args(bad)).unwrap_err();
            assert!(err.contains("minutes"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn enforces_option_count_and_content() {
        assert!(parse_poll(&args(&[])).unwrap_err().contains("question"));
        assert!(parse_poll(&args(&["Q?", "only"])).unwrap_err().contains("you gave 1"));
        let eleven: Vec<String> = std::iter::once("Q?".to_string())
            .chain((1..=11).map(|i| format!("o{i}")))
            .collect();
        assert!(parse_poll(&eleven).unwrap_err().contains("you gave 11"));
        assert!(parse_poll(&eleven[..11]).is_ok());
        assert_eq!(
            parse_poll(&args(&["Q?", "Pizza", "pizza"])).unwrap_err(),
            "Option \"pizza\" is listed twice."
        );
        assert_eq!(
            parse_poll(&args(&["Q?", "a", "  "])).unwrap_err(),
            "Options must not be empty."
        );
        assert_eq!(
            parse_poll(&args(&[" ", "a", "b"])).unwrap_err(),
            "The question is empty."
        );
        let long = "x".repeat(MAX_OPTION_CHARS + 1);
        assert!(parse_poll(&args(&["Q?", "a", &long])).unwrap_err().contains("too long"));
    }

    #[test]
    fn parses_ids() {
        assert_eq!(parse_id("3"), Some(3));
        assert_eq!(parse_id(" #12 "), Some(12));
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("x"), None);
        assert_eq!(parse_id("-1"), None);
    }

    #[test]
    fn resolves_options_by_number_name_or_prefix() {
        let options = args(&["Pizza", "Sushi", "Dim sum", "Dumplings"]);
        assert_eq!(resolve_option(&options, "2"), Some(1));
        assert_eq!(resolve_option(&options, "#1"), Some(0));
        assert_eq!(resolve_option(&options, "5"), None);
        assert_eq!(resolve_option(&options, "sushi"), Some(1));
        assert_eq!(resolve_option(&options, " dim   SUM "), Some(2));
        assert_eq!(resolve_option(&options, "piz"), Some(0));
        assert_eq!(resolve_option(&options, "d"), None, "ambiguous prefix");
        assert_eq!(resolve_option(&options, "tacos"), None);
        assert_eq!(resolve_option(&options, ""), None);
    }

    #[test]
    fn numbers_out_of_range_can_still_name_an_option() {
        let years = args(&["1990", "2000"]);
        assert_eq!(resolve_option(&years, "2000"), Some(1));
        assert_eq!(resolve_option(&years, "1"), Some(0));
    }
}
