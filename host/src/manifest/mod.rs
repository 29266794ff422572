//! The plugin manifest, `plaza.toml`: who the plugin is, what it asks for and why.
//!
//! A plugin ships its manifest beside its component, and `plaza package` embeds it into the
//! component as a `plaza:manifest` custom section (see [`embed`]) so one `.wasm` file is the
//! whole plugin. A complete manifest:
//!
//! ```toml
//! [plugin]
//! id = "poll"
//! version = "1.2.0"
//! api = "0.1.0"
//! authors = ["Ada <ada@example.com>"]
//! description = "Polls with /poll and /vote"
//! homepage = "https://example.com"
//!
//! [capabilities]
//! "messages:send" = { reason = "Posts the poll and its results" }
//! "storage:kv" = { reason = "Keeps tallies", quota-bytes = 262144 }
//! "http:fetch" = { reason = "Checks stock at the shop", hosts = ["api.shop.example"] }
//! "schedule" = { reason = "Closes polls on time", min-interval-ms = 60000 }
//! "commands" = { reason = "Offers /poll" }
//!
//! [events]
//! subscribe = ["message-posted", "command-invoked"]
//!
//! [[commands]]
//! name = "poll"
//! description = "Start a poll"
//! usage = "/poll QUESTION OPTION OPTION..."
//!
//! [config.greeting]
//! type = "string"
//! default = "Welcome, {name}!"
//! description = "Text posted when someone joins"
//!
//! [limits]
//! memory-mb = 32
//! cpu-ms = 100
//! ```
//!
//! [`Manifest::from_toml`] parses and checks every rule; its errors name the file, the position
//! and the field (see [`ManifestError`]).

pub mod embed;
mod error;
mod ids;
mod validate;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::de::DeTable;

use crate::capability::{Capability, UnknownCapability};

pub use error::{FieldPath, ManifestError, Segment};
pub use ids::{CommandName, ConfigKey, InvalidName, PluginId};
pub use validate::{
    check_host_name, CPU_MS_RANGE, MAX_COMMAND_DESCRIPTION_CHARS, MAX_DESCRIPTION_CHARS, MAX_KV_QUOTA_BYTES,
    MAX_REASON_CHARS, MEMORY_MB_RANGE, MIN_SCHEDULE_INTERVAL_MS,
};

use error::{field_in_text, line_column, SourceMap};

/// The manifest's file name beside a plugin's component.
pub const MANIFEST_FILE: &str = "plaza.toml";

/// Every event type a plugin can subscribe to, as in [`EventKind::type_name`](crate::event::EventKind::type_name).
/// Types added after `plaza:plugin@0.1.0` are listed in [`crate::wit::EVENTS_SINCE`].
pub const EVENT_TYPES: [&str; 18] = [
    "member-joined",
    "member-left",
    "member-updated",
    "message-posted",
    "message-edited",
    "message-deleted",
    "reaction-added",
    "reaction-removed",
    "member-muted",
    "member-banned",
    "command-invoked",
    "plugin-installed",
    "plugin-uninstalled",
    "config-changed",
    "plugin-upgraded",
    "timer-fired",
    "message-pinned",
    "message-unpinned",
];

/// Events every plugin receives whether it subscribes or not (the install-scoped ones).
pub const LIFECYCLE_EVENTS: [&str; 5] = [
    "plugin-installed",
    "plugin-uninstalled",
    "config-changed",
    "plugin-upgraded",
    "timer-fired",
];

/// A parsed and checked `plaza.toml`.
///
/// Build one with [`Manifest::from_toml`]; [`Manifest::to_toml`] writes it back in the canonical
/// layout (the one shown in the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a manifest with a [plugin] table"
)]
pub struct Manifest {
    /// Who the plugin is.
    ///
    /// ```toml
    /// [plugin]
    /// id = "poll"
    /// ```
    pub plugin: PluginInfo,
    /// The capabilities the plugin requests, each with the reason shown to the admin, in
    /// catalogue order. Absent: none.
    ///
    /// ```toml
    /// [capabilities]
    /// "messages:send" = { reason = "Posts the poll and its results" }
    /// ```
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "deserialize_capabilities"
    )]
    pub capabilities: BTreeMap<Capability, CapabilityRequest>,
    /// The events the plugin wants. Absent: lifecycle events only.
    ///
    /// ```toml
    /// [events]
    /// subscribe = ["message-posted", "command-invoked"]
    /// ```
    #[serde(default, skip_serializing_if = "Events::is_empty")]
    pub events: Events,
    /// Slash commands the plugin offers; needs the `commands` capability.
    ///
    /// ```toml
    /// [[commands]]
    /// name = "poll"
    /// description = "Start a poll"
    /// ```
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandSpec>,
    /// The configuration schema: what admins can set for an install.
    ///
    /// ```toml
    /// [config.greeting]
    /// type = "string"
    /// description = "Text posted when someone joins"
    /// ```
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<ConfigKey, ConfigSpec>,
    /// Resource limits the plugin asks for. Absent: the host's defaults.
    ///
    /// ```toml
    /// [limits]
    /// memory-mb = 32
    /// ```
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// How instances are isolated between events. Absent: a fresh instance per event.
    ///
    /// ```toml
    /// [isolation]
    /// mode = "reuse"
    /// max-events = 1000
    /// max-seconds = 60
    /// ```
    #[serde(default, skip_serializing_if = "Isolation::is_fresh")]
    pub isolation: Isolation,
    /// The file it came from, for error messages.
    #[serde(skip)]
    origin: String,
}

/// The `[plugin]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table with id, version, api, authors and description"
)]
pub struct PluginInfo {
    /// The plugin's id; see [`PluginId`] for the rule.
    ///
    /// ```toml
    /// id = "poll"
    /// ```
    pub id: PluginId,
    /// The plugin's version, in semver.
    ///
    /// ```toml
    /// version = "1.2.0"
    /// ```
    #[serde(deserialize_with = "deserialize_version")]
    pub version: semver::Version,
    /// The `plaza:plugin` WIT version the component targets; one of
    /// [`SUPPORTED_VERSIONS`](crate::wit::SUPPORTED_VERSIONS).
    ///
    /// ```toml
    /// api = "0.1.0"
    /// ```
    pub api: String,
    /// Who wrote it; at least one, none blank.
    ///
    /// ```toml
    /// authors = ["Ada <ada@example.com>"]
    /// ```
    pub authors: Vec<String>,
    /// What it does, shown to admins; not blank, at most 500 characters.
    ///
    /// ```toml
    /// description = "Polls with /poll and /vote"
    /// ```
    pub description: String,
    /// Where to learn more; an `https://` or `http://` URL.
    ///
    /// ```toml
    /// homepage = "https://example.com"
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
}

/// One entry of `[capabilities]`: why the plugin needs the capability, and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table like { reason = \"why the plugin needs it\" }"
)]
pub struct CapabilityRequest {
    /// Why the plugin needs it, shown to the admin who grants it; not blank, at most 300
    /// characters.
    ///
    /// ```toml
    /// "messages:send" = { reason = "Posts the poll and its results" }
    /// ```
    pub reason: String,
    /// `storage:kv` only: the store's size the plugin asks for, 1 byte to 64 MiB.
    ///
    /// ```toml
    /// "storage:kv" = { reason = "Keeps tallies", quota-bytes = 262144 }
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// `http:fetch` only, and required there: the hosts the plugin may contact; lowercase host
    /// names, each optionally prefixed with `*.` for any subdomain.
    ///
    /// ```toml
    /// "http:fetch" = { reason = "Checks stock at the shop", hosts = ["api.shop.example"] }
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// `schedule` only: the shortest timer interval the plugin needs, at least 1000 ms.
    ///
    /// ```toml
    /// "schedule" = { reason = "Closes polls on time", min-interval-ms = 60000 }
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_ms: Option<u64>,
}

/// The `[events]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table like { subscribe = [\"message-posted\"] }"
)]
pub struct Events {
    /// Event types to deliver (see [`EVENT_TYPES`]), each at most once. The
    /// [`LIFECYCLE_EVENTS`] are always delivered and may be listed or not.
    ///
    /// ```toml
    /// subscribe = ["message-posted", "command-invoked"]
    /// ```
    #[serde(default)]
    pub subscribe: Vec<String>,
}

impl Events {
    fn is_empty(&self) -> bool {
        self.subscribe.is_empty()
    }
}

/// One `[[commands]]` entry: a slash command the plugin handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table with name and description"
)]
pub struct CommandSpec {
    /// The name without `/`, unique in the manifest; see [`CommandName`] for the rule.
    ///
    /// ```toml
    /// name = "poll"
    /// ```
    pub name: CommandName,
    /// What it does, shown in command lists; not blank, at most 200 characters.
    ///
    /// ```toml
    /// description = "Start a poll"
    /// ```
    pub description: String,
    /// How to call it, shown in help.
    ///
    /// ```toml
    /// usage = "/poll QUESTION OPTION OPTION..."
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
}

/// One `[config.KEY]` table: a setting admins can change per install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table like { type = \"string\", description = \"...\" }"
)]
pub struct ConfigSpec {
    /// The value's type.
    ///
    /// ```toml
    /// type = "string"
    /// ```
    #[serde(rename = "type")]
    pub kind: ConfigType,
    /// The value an install starts with; must have the declared type. Absent: unset.
    ///
    /// ```toml
    /// default = "Welcome, {name}!"
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ConfigValue>,
    /// What the setting does, shown to admins; not blank.
    ///
    /// ```toml
    /// description = "Text posted when someone joins"
    /// ```
    pub description: String,
}

/// The type of a config setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    /// `type = "string"`: any text.
    String,
    /// `type = "integer"`: a signed 64-bit integer.
    Integer,
    /// `type = "boolean"`: `true` or `false`.
    Boolean,
}

impl ConfigType {
    /// The name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Integer => "integer",
            ConfigType::Boolean => "boolean",
        }
    }

    /// The name with an article, for messages: `a string`.
    fn described(self) -> &'static str {
        match self {
            ConfigType::String => "a string",
            ConfigType::Integer => "an integer",
            ConfigType::Boolean => "a boolean",
        }
    }

    /// Checks an admin-supplied value (text, as config entries carry it).
    fn check_text(self, value: &str) -> Result<(), String> {
        match self {
            ConfigType::String => Ok(()),
            ConfigType::Integer => value
                .trim()
                .parse::<i64>()
                .map(drop)
                .map_err(|_| format!("expected an integer (type = \"integer\"), got {value:?}")),
            ConfigType::Boolean => match value.trim() {
                "true" | "false" => Ok(()),
                _ => Err(format!(
                    "expected `true` or `false` (type = \"boolean\"), got {value:?}"
                )),
            },
        }
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A config default: a TOML string, integer or boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// `default = "text"`.
    String(String),
    /// `default = 5`.
    Integer(i64),
    /// `default = true`.
    Boolean(bool),
}

impl ConfigValue {
    /// The value's type.
    pub fn kind(&self) -> ConfigType {
        match self {
            ConfigValue::String(_) => ConfigType::String,
            ConfigValue::Integer(_) => ConfigType::Integer,
            ConfigValue::Boolean(_) => ConfigType::Boolean,
        }
    }

    /// The value as config entries carry it: strings as is, numbers in decimal, `true`/`false`.
    pub fn to_text(&self) -> String {
        match self {
            ConfigValue::String(s) => s.clone(),
            ConfigValue::Integer(i) => i.to_string(),
            ConfigValue::Boolean(b) => b.to_string(),
        }
    }
}

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ConfigValue::String(s) => serializer.serialize_str(s),
            ConfigValue::Integer(i) => serializer.serialize_i64(*i),
            ConfigValue::Boolean(b) => serializer.serialize_bool(*b),
        }
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConfigValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an integer or a boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConfigValue, E> {
                Ok(ConfigValue::String(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ConfigValue, E> {
                Ok(ConfigValue::Integer(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ConfigValue, E> {
                i64::try_from(v)
                    .map(ConfigValue::Integer)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ConfigValue, E> {
                Ok(ConfigValue::Boolean(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl fmt::Display for ConfigValue {
    /// The value in TOML syntax: `"text"`, `5`, `true`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::String(s) => write!(f, "{}", toml::Value::String(s.clone())),
            ConfigValue::Integer(i) => write!(f, "{i}"),
            ConfigValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// The `[isolation]` table: whether one instance may serve several events of one community.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table like { mode = \"reuse\", max-events = 1000, max-seconds = 60 }"
)]
pub struct Isolation {
    /// `fresh` (the default): every event gets a new instance, nothing carries over.
    /// `reuse`: one instance serves up to `max-events` events of one community, for at most
    /// `max-seconds`; its globals are a cache, never durable (use KV).
    ///
    /// ```toml
    /// mode = "reuse"
    /// ```
    #[serde(default)]
    pub mode: IsolationMode,
    /// Events one instance serves at most (1 to 100 000; default 1 000).
    ///
    /// ```toml
    /// max-events = 1000
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// Seconds one instance lives at most (1 to 3 600; default 60).
    ///
    /// ```toml
    /// max-seconds = 60
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<u64>,
}

/// `[isolation] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationMode {
    /// A fresh instance per event.
    #[default]
    Fresh,
    /// Bounded reuse within one community.
    Reuse,
}

impl Isolation {
    fn is_fresh(&self) -> bool {
        *self == Isolation::default()
    }

    /// The reuse policy this table asks for, if any.
    pub fn reuse_policy(&self) -> Option<crate::runtime::limits::ReusePolicy> {
        (self.mode == IsolationMode::Reuse).then(|| crate::runtime::limits::ReusePolicy {
            max_events: self.max_events.unwrap_or(1_000) as u32,
            max_age: std::time::Duration::from_secs(self.max_seconds.unwrap_or(60)),
        })
    }
}

/// The `[limits]` table: resources the plugin asks for; each absent field means the host's
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table like { memory-mb = 32, cpu-ms = 100 }"
)]
pub struct Limits {
    /// Linear memory, in MiB: 1 to 256.
    ///
    /// ```toml
    /// memory-mb = 32
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU time per invocation, in milliseconds: 1 to 5000.
    ///
    /// ```toml
    /// cpu-ms = 100
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
}

impl Limits {
    fn is_empty(&self) -> bool {
        self.memory_mb.is_none() && self.cpu_ms.is_none()
    }
}

/// Reads the capabilities table with exact names (no trimming, unlike `Capability::from_str`).
fn deserialize_capabilities<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<Capability, CapabilityRequest>, D::Error> {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Key(Capability);
    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let name = String::deserialize(deserializer)?;
            Capability::ALL
                .into_iter()
                .find(|c| c.name() == name)
                .map(Key)
                .ok_or_else(|| D::Error::custom(UnknownCapability(name)))
        }
    }
    let entries = BTreeMap::<Key, CapabilityRequest>::deserialize(deserializer)?;
    Ok(entries.into_iter().map(|(k, v)| (k.0, v)).collect())
}

fn deserialize_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<semver::Version, D::Error> {
    let text = String::deserialize(deserializer)?;
    semver::Version::parse(&text)
        .map_err(|e| D::Error::custom(format!("{text:?} is not a semver version like \"1.2.0\": {e}")))
}

impl Manifest {
    /// Parses and checks a manifest. `origin` names the file in errors, e.g. `plaza.toml` or
    /// `plugins/poll/plaza.toml`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let root = DeTable::parse(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ManifestError::Syntax {
                origin: origin.to_string(),
                field: field_in_text(text, line),
                line,
                column,
                message: syntax_message(e.message()),
            }
        })?;
        let source = SourceMap::new(root.clone());
        let mut manifest = Manifest::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| schema_error(&e, text, origin, &source))?;
        manifest.origin = origin.to_string();
        manifest.check().map_err(|v| {
            let position = source.value_start(&v.field).map(|start| line_column(text, start));
            v.into_error(origin, position)
        })?;
        Ok(manifest)
    }

    /// Checks every rule again, e.g. after fields were changed in code. Errors carry no position.
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.check().map_err(|v| v.into_error(&self.origin, None))
    }

    /// The manifest as TOML, in the canonical layout; [`Manifest::from_toml`] reads it back
    /// unchanged.
    pub fn to_toml(&self) -> String {
        fn table<T: Serialize>(value: &T) -> String {
            toml::to_string(value).expect("manifest tables serialize as TOML")
        }
        let mut out = String::from("[plugin]\n");
        out.push_str(&table(&self.plugin));
        if !self.capabilities.is_empty() {
            out.push_str("\n[capabilities]\n");
            for (cap, request) in &self.capabilities {
                let mut inline = String::new();
                request
                    .serialize(toml::ser::ValueSerializer::new(&mut inline))
                    .expect("a capability request serializes as a TOML inline table");
                let _ = writeln!(out, "\"{}\" = {inline}", cap.name());
            }
        }
        if !self.events.is_empty() {
            out.push_str("\n[events]\n");
            out.push_str(&table(&self.events));
        }
        for command in &self.commands {
            out.push_str("\n[[commands]]\n");
            out.push_str(&table(command));
        }
        for (key, spec) in &self.config {
            // Config keys never need quoting.
            let _ = writeln!(out, "\n[config.{key}]");
            out.push_str(&table(spec));
        }
        if !self.limits.is_empty() {
            out.push_str("\n[limits]\n");
            out.push_str(&table(&self.limits));
        }
        if !self.isolation.is_fresh() {
            out.push_str("\n[isolation]\n");
            out.push_str(&table(&self.isolation));
        }
        out
    }

    /// The file the manifest was read from (the `origin` given to [`Manifest::from_toml`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The plugin's id.
    pub fn id(&self) -> &PluginId {
        &self.plugin.id
    }

    /// The plugin's version.
    pub fn version(&self) -> &semver::Version {
        &self.plugin.version
    }

    /// The requested capabilities, in catalogue order.
    pub fn requested_capabilities(&self) -> Vec<Capability> {
        self.capabilities.keys().copied().collect()
    }

    /// Why the plugin asks for `cap`; `None` when it does not.
    pub fn reason_for(&self, cap: Capability) -> Option<&str> {
        self.capabilities.get(&cap).map(|r| r.reason.as_str())
    }

    /// Whether events of this type (e.g. `message-posted`) go to the plugin: listed under
    /// `[events] subscribe`, or a lifecycle event.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        LIFECYCLE_EVENTS.contains(&event_type) || self.events.subscribe.iter().any(|e| e == event_type)
    }

    /// Whether the plugin declares the slash command `name` (without `/`).
    pub fn offers_command(&self, name: &str) -> bool {
        self.commands.iter().any(|c| c.name.as_str() == name)
    }

    /// The KV quota the plugin asks for, when it requests `storage:kv` with `quota-bytes`.
    pub fn kv_quota_bytes(&self) -> Option<u64> {
        self.capabilities.get(&Capability::StorageKv)?.quota_bytes
    }

    /// The hosts `http:fetch` may reach; empty when the plugin does not request it.
    pub fn http_hosts(&self) -> &[String] {
        self.capabilities
            .get(&Capability::HttpFetch)
            .and_then(|r| r.hosts.as_deref())
            .unwrap_or(&[])
    }

    /// The shortest timer interval the plugin asks for, when it requests `schedule` with
    /// `min-interval-ms`.
    pub fn schedule_min_interval_ms(&self) -> Option<u64> {
        self.capabilities.get(&Capability::Schedule)?.min_interval_ms
    }

    /// `(key, value)` of every config setting that has a default, by key, values as text (see
    /// [`ConfigValue::to_text`]); what a new install starts with.
    pub fn config_defaults(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .filter_map(|(key, spec)| Some((key.to_string(), spec.default.as_ref()?.to_text())))
            .collect()
    }

    /// Checks an admin-supplied config value (as text) against the schema: the key must be
    /// declared and the value must have its type (`integer`: decimal `i64`; `boolean`: `true`
    /// or `false`; `string`: anything).
    pub fn validate_config(&self, key: &str, value: &str) -> Result<(), ManifestError> {
        let Some(spec) = self.config.get(key) else {
            let declared = self.config.keys().map(ConfigKey::as_str).collect::<Vec<_>>();
            return Err(ManifestError::UnknownConfigKey {
                origin: self.origin.clone(),
                key: key.to_string(),
                declared: if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                },
            });
        };
        spec.kind
            .check_text(value)
            .map_err(|message| ManifestError::BadConfigValue {
                origin: self.origin.clone(),
                key: key.to_string(),
                message,
            })
    }
}

/// The TOML parser's message, with a hint where the parser's wording is cryptic.
fn syntax_message(message: &str) -> String {
    let message = message.trim();
    if message == "invalid basic string, expected `\"`" {
        format!("{message} (is the closing quote missing?)")
    } else {
        message.to_string()
    }
}

/// Turns a serde error from the toml crate into a [`ManifestError::Schema`] naming the field.
fn schema_error(error: &toml::de::Error, text: &str, origin: &str, source: &SourceMap<'_>) -> ManifestError {
    let span = error.span().unwrap_or(0..0);
    let mut field = source.field_at(&span);
    let mut message = error.message().trim().to_string();
    // "missing field `reason`": name the missing field in the path.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        field = field.key(name);
        message = if field.0 == [Segment::Key("plugin".into())] {
            "the required [plugin] table is missing; a manifest starts with [plugin] and the plugin's id, version, \
             api, authors and description"
                .to_string()
        } else {
            "required field is missing".to_string()
        };
    }
    for (rust, words) in [
        ("expected u64", "expected a non-negative integer"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
    ] {
        message = message.replace(rust, words);
    }
    let (line, column) = line_column(text, span.start);
    ManifestError::Schema {
        origin: origin.to_string(),
        field,
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests;
