//! Validated names used in manifests: [`PluginId`], [`CommandName`] and [`ConfigKey`].
//!
//! Each is a `String` that was checked when it was made, so code holding one never re-checks it.
//! They (de)serialize as plain strings; a bad name fails deserialization with an [`InvalidName`]
//! message that quotes the value and states the rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that breaks its rule, e.g. a plugin id with an uppercase letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {problem}; {rule}")]
pub struct InvalidName {
    /// What the name is for, e.g. `plugin id`.
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// What exactly is wrong with it.
    pub problem: String,
    /// The rule, in words.
    pub rule: &'static str,
}

/// Defines a validated string newtype.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidName> {
                let value = value.into();
                match $check(&value) {
                    Ok(()) => Ok($name(value)),
                    Err((problem, rule)) => Err(InvalidName { kind: $kind, value, problem, rule }),
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

name_type!(
    /// A plugin's id, e.g. `poll`: 2-64 characters of lowercase ASCII letters, digits and `-`,
    /// starting with a letter, with no trailing or doubled `-`.
    ///
    /// ```toml
    /// [plugin]
    /// id = "poll"
    /// ```
    PluginId,
    "plugin id",
    check_plugin_id
);

name_type!(
    /// A slash command's name without the `/`, e.g. `poll`: 1-32 characters of lowercase ASCII
    /// letters, digits and `-`.
    ///
    /// ```toml
    /// [[commands]]
    /// name = "poll"
    /// ```
    CommandName,
    "command name",
    check_command_name
);

name_type!(
    /// A configuration key, e.g. `greeting` or `community-name`: 1-64 characters of lowercase
    /// ASCII letters, digits, `-` and `_`, starting with a letter.
    ///
    /// ```toml
    /// [config.greeting]
    /// type = "string"
    /// ```
    ConfigKey,
    "config key",
    check_config_key
);

type Check = Result<(), (String, &'static str)>;

const PLUGIN_ID_RULE: &str = "a plugin id is 2-64 characters of lowercase letters, digits and '-', starts with a \
                              letter, and has no trailing or doubled '-'";
const COMMAND_RULE: &str = "a command name is 1-32 characters of lowercase letters, digits and '-'";
const CONFIG_KEY_RULE: &str =
    "a config key is 1-64 characters of lowercase letters, digits, '-' and '_', and starts with a letter";

/// The first character outside `allowed`, as a problem text.
fn bad_char(value: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    value
        .chars()
        .find(|&c| !allowed(c))
        .map(|c| format!("it contains {c:?}"))
}

fn length(value: &str, min: usize, max: usize) -> Option<String> {
    let len = value.chars().count();
    if len < min {
        Some(if len == 0 {
            "it is empty".to_string()
        } else {
            format!("it is {len} character{} long", if len == 1 { "" } else { "s" })
        })
    } else if len > max {
        Some(format!("it is {len} characters long"))
    } else {
        None
    }
}

fn check_plugin_id(value: &str) -> Check {
    let fail = |problem: String| Err((problem, PLUGIN_ID_RULE));
    if let Some(problem) = length(value, 2, 64) {
        return fail(problem);
    }
    if let Some(problem) = bad_char(value, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return fail(problem);
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return fail("it does not start with a letter".into());
    }
    if value.ends_with('-') {
        return fail("it ends with '-'".into());
    }
    if value.contains("--") {
        return fail("it contains \"--\"".into());
    }
    Ok(())
}

fn check_command_name(value: &str) -> Check {
    if let Some(problem) = length(value, 1, 32) {
        return Err((problem, COMMAND_RULE));
    }
    if let Some(problem) = bad_char(value, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err((problem, COMMAND_RULE));
    }
    Ok(())
}

fn check_config_key(value: &str) -> Check {
    let fail = |problem: String| Err((problem, CONFIG_KEY_RULE));
    if let Some(problem) = length(value, 1, 64) {
        return fail(problem);
    }
    if let Some(problem) = bad_char(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
    }) {
        return fail(problem);
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return fail("it does not start with a letter".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids() {
        for good in ["poll", "welcome-bot", "a1", "anti-spam-2", &"a".repeat(64)] {
            assert!(PluginId::new(good).is_ok(), "{good}");
        }
        for (bad, problem) in [
            ("", "it is empty"),
            ("p", "it is 1 character long"),
            ("Poll", "it contains 'P'"),
            ("1poll", "it does not start with a letter"),
            ("-poll", "it does not start with a letter"),
            ("poll-", "it ends with '-'"),
            ("po--ll", "it contains \"--\""),
            ("po_ll", "it contains '_'"),
            ("pöll", "it contains 'ö'"),
        ] {
            let err = PluginId::new(bad).unwrap_err();
            assert_eq!(err.problem, problem, "{bad}");
        }
        assert_eq!(
            PluginId::new("a".repeat(65)).unwrap_err().problem,
            "it is 65 characters long"
        );
        let err = PluginId::new("Poll").unwrap_err().to_string();
        assert!(
            err.starts_with("\"Poll\" is not a valid plugin id: it contains 'P'; a plugin id is"),
            "{err}"
        );
    }

    #[test]
    fn command_names() {
        for good in ["poll", "v", "vote-2", "9lives", "-x"] {
            assert!(CommandName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "Poll", "/poll", "a b", &"a".repeat(33)] {
            assert!(CommandName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_keys() {
        for good in ["greeting", "community-name", "max_options", "k2"] {
            assert!(ConfigKey::new(good).is_ok(), "{good}");
        }
        for bad in ["", "Greeting", "2k", "_k", "a.b", &"a".repeat(65)] {
            assert!(ConfigKey::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_checks_the_rule() {
        let id: PluginId = serde_json::from_str("\"poll\"").unwrap();
        assert_eq!(id.as_str(), "poll");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"poll\"");
        assert!(serde_json::from_str::<PluginId>("\"Poll\"").is_err());
    }
}
