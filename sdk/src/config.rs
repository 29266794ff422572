//! Reading the install's configuration, which arrives with the `plugin-installed` and
//! `config-changed` events as a list of [`ConfigEntry`] (keys as declared in the plugin's config
//! schema, values as text).
//!
//! The configuration is not available in later events, so plugins that need it store what they
//! use in [`kv`](crate::kv).
//!
//! ```
//! use plaza_sdk::{config, ConfigEntry};
//!
//! let entries = vec![ConfigEntry { key: "max-links".into(), value: " 5 ".into() }];
//! assert_eq!(config::value(&entries, "max-links"), Some(" 5 "));
//! assert_eq!(config::parse::<u32>(&entries, "max-links"), Some(Ok(5)));
//! assert_eq!(config::value(&entries, "missing"), None);
//! ```

use core::str::FromStr;

use crate::ConfigEntry;

/// The value of `key` (the last one if it appears more than once).
pub fn value<'a>(entries: &'a [ConfigEntry], key: &str) -> Option<&'a str> {
    entries.iter().rev().find(|e| e.key == key).map(|e| e.value.as_str())
}

/// The value of `key`, trimmed and parsed as `T`; `None` if the key is absent.
pub fn parse<T: FromStr>(entries: &[ConfigEntry], key: &str) -> Option<Result<T, T::Err>> {
    value(entries, key).map(|v| v.trim().parse())
}
