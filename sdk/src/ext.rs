//! Convenience methods on the generated WIT types.

use crate::{
    CommandInvoked, CommandSpec, ConfigChanged, ConfigEntry, EventKind, HostError, MemberProfile, MessageId,
    PluginInfo, PluginInstalled, ReviewVerdict,
};

impl PluginInfo {
    /// A description with no commands; add them with [`PluginInfo::with_command`].
    ///
    /// ```
    /// let info = plaza_sdk::PluginInfo::new("poll", env!("CARGO_PKG_VERSION"), "Quick polls.")
    ///     .with_command("poll", "Start a poll", "/poll QUESTION OPTION OPTION...");
    /// assert_eq!(info.commands[0].name, "poll");
    /// ```
    pub fn new(name: impl Into<String>, version: impl Into<String>, description: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            commands: Vec::new(),
        }
    }

    /// Adds a slash command (the host routes only listed commands to the plugin).
    pub fn with_command(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        usage: impl Into<String>,
    ) -> Self {
        self.commands.push(CommandSpec::new(name, description, usage));
        self
    }
}

impl CommandSpec {
    /// A command named `name` (without the slash), described in one line, with a usage line
    /// such as `/poll QUESTION OPTION OPTION...`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, usage: impl Into<String>) -> Self {
        CommandSpec {
            name: name.into(),
            description: description.into(),
            usage: usage.into(),
        }
    }
}

impl CommandInvoked {
    /// Answers the command in its channel: a reply to the message that carried it when known,
    /// a plain message otherwise. Needs `messages:send`.
    pub fn respond(&self, text: &str) -> Result<MessageId, HostError> {
        match &self.message_id {
            Some(id) => crate::messaging::reply(&self.channel, id, text),
            None => crate::messaging::send(&self.channel, text),
        }
    }

    /// The `i`-th argument, if present.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }

    /// The arguments from index `from` on, joined with single spaces (empty if there are none).
    ///
    /// ```
    /// # let cmd = plaza_sdk::CommandInvoked { channel: "c".into(), member: "m".into(),
    /// #     name: "welcome".into(), args: vec!["set".into(), "Hi".into(), "{name}!".into()],
    /// #     message_id: None };
    /// // `/welcome set Hi {name}!`
    /// assert_eq!(cmd.rest(1), "Hi {name}!");
    /// ```
    pub fn rest(&self, from: usize) -> String {
        self.args.get(from..).unwrap_or_default().join(" ")
    }
}

impl MemberProfile {
    /// True if the member holds `role` (compared case-insensitively).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

impl PluginInstalled {
    /// The configuration value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        crate::config::value(&self.config, key)
    }
}

impl ConfigChanged {
    /// The configuration value of `key` after the change, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        crate::config::value(&self.config, key)
    }
}

impl ConfigEntry {
    /// An entry `key = value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        ConfigEntry {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl EventKind {
    /// The WIT name of the kind, e.g. `"member-joined"`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::MemberJoined(_) => "member-joined",
            EventKind::MemberLeft(_) => "member-left",
            EventKind::MemberUpdated(_) => "member-updated",
            EventKind::MessagePosted(_) => "message-posted",
            EventKind::MessageEdited(_) => "message-edited",
            EventKind::MessageDeleted(_) => "message-deleted",
            EventKind::ReactionAdded(_) => "reaction-added",
            EventKind::ReactionRemoved(_) => "reaction-removed",
            EventKind::MemberMuted(_) => "member-muted",
            EventKind::MemberBanned(_) => "member-banned",
            EventKind::CommandInvoked(_) => "command-invoked",
            EventKind::PluginInstalled(_) => "plugin-installed",
            EventKind::PluginUninstalled => "plugin-uninstalled",
            EventKind::ConfigChanged(_) => "config-changed",
            EventKind::PluginUpgraded(_) => "plugin-upgraded",
            EventKind::TimerFired(_) => "timer-fired",
            EventKind::MessagePinned(_) => "message-pinned",
            EventKind::MessageUnpinned(_) => "message-unpinned",
        }
    }
}

impl ReviewVerdict {
    /// [`ReviewVerdict::Reject`] with `reason` (shown to the author).
    pub fn reject(reason: impl Into<String>) -> Self {
        ReviewVerdict::Reject(reason.into())
    }
}
