//! Greeting templates: text with `{placeholder}`s filled in per joiner.

/// The greeting used until an admin sets one.
pub const DEFAULT_GREETING: &str = "Welcome to {community}, {name}! You are member #{count} to join.";

/// What `{community}` becomes until the `community-name` config key is set.
pub const DEFAULT_COMMUNITY_NAME: &str = "the community";

/// The longest greeting template accepted, in characters.
pub const MAX_GREETING_CHARS: usize = 500;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["name", "community", "count"];

/// Values for one greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars<'a> {
    /// The joiner's display name, for `{name}`.
    pub name: &'a str,
    /// The community's name, for `{community}`.
    pub community: &'a str,
    /// How many members joined so far, this one included, for `{count}`.
    pub count: i64,
}

/// Fills in `{name}`, `{community}` and `{count}`, in one pass (a display name containing
/// `{count}` stays as typed). Unknown placeholders and lone braces are kept verbatim.
pub fn render(template: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let value = match &after[..close] {
                "name" => vars.name.to_string(),
                "community" => vars.community.to_string(),
                "count" => vars.count.to_string(),
                _ => return None,
            };
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Placeholder-looking words (`{word}`) that [`render`] does not know, e.g. a typo like `{nmae}`.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        let word = &rest[..close];
        let looks_like_placeholder =
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if looks_like_placeholder && !PLACEHOLDERS.contains(&word) && !unknown.iter().any(|u| u == word) {
            unknown.push(word.to_string());
        }
    }
    unknown
}

/// Why a greeting template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Nothing but whitespace.
    Empty,
    /// Longer than [`MAX_GREETING_CHARS`].
    TooLong(usize),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("the greeting is empty"),
            TemplateError::TooLong(n) => {
                write!(
                    f,
                    "the greeting is {n} characters long; at most {MAX_GREETING_CHARS} are allowed"
                )
            }
        }
    }
}

/// Checks a template an admin wants to use; returns it trimmed.
pub fn validate(template: &str) -> Result<&str, TemplateError> {
    let template = template.trim();
    let chars = template.chars().count();
    if chars == 0 {
        Err(TemplateError::Empty)
    } else if chars > MAX_GREETING_CHARS {
        Err(TemplateError::TooLong(chars))
    } else {
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Vars<'_> {
        Vars {
            name,
            community: "Rust Club",
            count: 7,
        }
    }

    #[test]
    fn default_greeting_renders_every_placeholder() {
        assert_eq!(
            render(DEFAULT_GREETING, &vars("Ada")),
            "Welcome to Rust Club, Ada! You are member #7 to join."
        );
    }

    #[test]
    fn placeholders_repeat_and_unknown_ones_stay() {
        assert_eq!(
            render("{name}, {name}! {nmae} {} {", &vars("Bo")),
            "Bo, Bo! {nmae} {} {"
        );
        assert_eq!(render("no placeholders", &vars("Bo")), "no placeholders");
        assert_eq!(render("{{name}}", &vars("Bo")), "{Bo}");
    }

    #[test]
    fn substituted_values_are_not_rescanned() {
        assert_eq!(render("Hi {name} ({count})", &vars("{count}")), "Hi {count} (7)");
    }

    #[test]
    fn unknown_placeholders_are_reported_once() {
        assert_eq!(
            unknown_placeholders("Hi {nmae}, {name} {nmae} {count} {x y} {}"),
            vec!["nmae".to_string()]
        );
        assert!(unknown_placeholders(DEFAULT_GREETING).is_empty());
    }

    #[test]
    fn validation_trims_and_bounds_length() {
        assert_eq!(validate("  Hi {name}  "), Ok("Hi {name}"));
        assert_eq!(validate("   "), Err(TemplateError::Empty));
        let long = "é".repeat(MAX_GREETING_CHARS + 1);
        assert_eq!(validate(&long), Err(TemplateError::TooLong(MAX_GREETING_CHARS + 1)));
        assert!(validate(&"é".repeat(MAX_GREETING_CHARS)).is_ok());
    }
}
