//! The capability catalogue, and the grant checks that gate every host call.
//!
//! A capability is usable only when the community admin granted it to the install; the check
//! happens again on every host call, so a revoke takes effect on the next call.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One item an admin can grant to a plugin install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Capability {
    /// `messages:read` — full message content (privileged).
    MessagesRead,
    /// `messages:read.mentions` — only messages that mention the plugin or start with its commands.
    MessagesReadMentions,
    /// `messages:send` — post, reply, edit own messages.
    MessagesSend,
    /// `messages:manage` — delete other members' messages.
    MessagesManage,
    /// `members:read` — member profiles and the member list (privileged).
    MembersRead,
    /// `members:identity` — real member ids instead of per-plugin pseudonyms (privileged).
    MembersIdentity,
    /// `members:moderate` — mute, kick, ban.
    MembersModerate,
    /// `reactions:read` — reaction events.
    ReactionsRead,
    /// `moderation:review` — the synchronous review hook on new messages.
    ModerationReview,
    /// `storage:kv` — a private key-value store with a byte quota.
    StorageKv,
    /// `http:fetch` — outbound HTTPS to allowlisted hosts.
    HttpFetch,
    /// `schedule` — timers, with a minimum interval.
    Schedule,
    /// `commands` — slash commands routed to the plugin.
    Commands,
}

impl Capability {
    /// Every capability, in catalogue order.
    pub const ALL: [Capability; 13] = [
        Capability::MessagesRead,
        Capability::MessagesReadMentions,
        Capability::MessagesSend,
        Capability::MessagesManage,
        Capability::MembersRead,
        Capability::MembersIdentity,
        Capability::MembersModerate,
        Capability::ReactionsRead,
        Capability::ModerationReview,
        Capability::StorageKv,
        Capability::HttpFetch,
        Capability::Schedule,
        Capability::Commands,
    ];

    /// The name used in manifests, grants and errors, e.g. `messages:send`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::MessagesRead => "messages:read",
            Capability::MessagesReadMentions => "messages:read.mentions",
            Capability::MessagesSend => "messages:send",
            Capability::MessagesManage => "messages:manage",
            Capability::MembersRead => "members:read",
            Capability::MembersIdentity => "members:identity",
            Capability::MembersModerate => "members:moderate",
            Capability::ReactionsRead => "reactions:read",
            Capability::ModerationReview => "moderation:review",
            Capability::StorageKv => "storage:kv",
            Capability::HttpFetch => "http:fetch",
            Capability::Schedule => "schedule",
            Capability::Commands => "commands",
        }
    }

    /// The capability a host interface of the `plaza:plugin` package needs, by interface name
    /// (e.g. `messaging`). `None` for interfaces that need none (`logging`, `types`).
    pub fn for_interface(interface: &str) -> Option<&'static [Capability]> {
        match interface {
            "messaging" => Some(&[Capability::MessagesSend]),
            "moderation" => Some(&[Capability::MessagesManage, Capability::MembersModerate]),
            "members" => Some(&[Capability::MembersRead]),
            "kv" => Some(&[Capability::StorageKv]),
            "http" => Some(&[Capability::HttpFetch]),
            "scheduler" => Some(&[Capability::Schedule]),
            _ => None,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A capability name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}` (known: {known})", known = known_names())]
pub struct UnknownCapability(pub String);

fn known_names() -> String {
    Capability::ALL.map(Capability::name).join(", ")
}

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| UnknownCapability(s.to_string()))
    }
}

impl TryFrom<String> for Capability {
    type Error = UnknownCapability;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.name().to_string()
    }
}

/// A set of granted capabilities: one bit per catalogue entry, so an install's grants cost no
/// allocation and a copy is free (a host holds grants for millions of installs, and routing
/// reads them for every event). Serialized as a list of names, in catalogue order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GrantSet(u16);

const _: () = assert!(Capability::ALL.len() <= u16::BITS as usize);

impl Capability {
    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl GrantSet {
    /// Nothing granted: the default for every install.
    pub fn none() -> Self {
        GrantSet::default()
    }

    /// Everything in the catalogue (for local development runs only).
    pub fn all() -> Self {
        Capability::ALL.into_iter().collect()
    }

    /// Parses a comma-separated list such as `messages:send,storage:kv`, or `all`, or `none`.
    pub fn parse_list(list: &str) -> Result<Self, UnknownCapability> {
        match list.trim() {
            "all" => Ok(GrantSet::all()),
            "none" | "" => Ok(GrantSet::none()),
            items => items
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::parse)
                .collect(),
        }
    }

    /// Whether `cap` is in the set.
    pub fn contains(&self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Removes `cap`.
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many capabilities are granted.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The granted capabilities in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        let bits = self.0;
        Capability::ALL.into_iter().filter(move |c| bits & c.bit() != 0)
    }
}

impl Serialize for GrantSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for GrantSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Capability>::deserialize(deserializer)?.into_iter().collect())
    }
}

impl FromIterator<Capability> for GrantSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = GrantSet::none();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

/// Answers "is this capability granted right now?" for one install.
///
/// Host calls ask on every call rather than caching, so a grant source backed by live admin
/// state makes a revoke take effect on the very next call.
pub trait GrantCheck: Send + Sync {
    /// Whether `cap` is granted at this moment.
    fn is_granted(&self, cap: Capability) -> bool;
}

impl GrantCheck for GrantSet {
    fn is_granted(&self, cap: Capability) -> bool {
        self.contains(cap)
    }
}

/// Live grants shared between the admin side and running invocations.
#[derive(Debug, Default, Clone)]
pub struct LiveGrants(Arc<std::sync::RwLock<GrantSet>>);

impl LiveGrants {
    /// Starts from `grants`.
    pub fn new(grants: GrantSet) -> Self {
        LiveGrants(Arc::new(std::sync::RwLock::new(grants)))
    }

    /// Replaces the grants; running invocations see the change on their next host call.
    pub fn set(&self, grants: GrantSet) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = grants;
    }

    /// A copy of the current grants.
    pub fn snapshot(&self) -> GrantSet {
        *self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl GrantCheck for LiveGrants {
    fn is_granted(&self, cap: Capability) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).contains(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.name().parse::<Capability>().unwrap(), cap);
        }
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = "messages:write".parse::<Capability>().unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("unknown capability `messages:write`"), "{text}");
        assert!(text.contains("messages:send"), "{text}");
    }

    #[test]
    fn parse_list_forms() {
        assert_eq!(GrantSet::parse_list("all").unwrap(), GrantSet::all());
        assert_eq!(GrantSet::parse_list("none").unwrap(), GrantSet::none());
        let set = GrantSet::parse_list("messages:send, storage:kv").unwrap();
        assert!(set.contains(Capability::MessagesSend));
        assert!(set.contains(Capability::StorageKv));
        assert!(!set.contains(Capability::Schedule));
        assert!(GrantSet::parse_list("messages:send,bogus").is_err());
    }

    #[test]
    fn grant_sets_serialize_as_names_in_catalogue_order() {
        let set: GrantSet = [Capability::Commands, Capability::MessagesSend, Capability::MessagesRead]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["messages:read","messages:send","commands"]"#);
        assert_eq!(serde_json::from_str::<GrantSet>(&json).unwrap(), set);
        assert_eq!(serde_json::to_string(&GrantSet::none()).unwrap(), "[]");
        assert!(serde_json::from_str::<GrantSet>(r#"["messages:write"]"#).is_err());
        let mut all = GrantSet::all();
        assert_eq!(all.len(), Capability::ALL.len());
        assert!(all.iter().eq(Capability::ALL));
        all.remove(Capability::Schedule);
        assert!(!all.contains(Capability::Schedule) && all.contains(Capability::Commands));
    }

    #[test]
    fn live_grants_revoke_is_seen_by_holders() {
        let live = LiveGrants::new(GrantSet::all());
        let holder: Arc<dyn GrantCheck> = Arc::new(live.clone());
        assert!(holder.is_granted(Capability::MessagesSend));
        live.set(GrantSet::parse_list("storage:kv").unwrap());
        assert!(!holder.is_granted(Capability::MessagesSend));
        assert!(holder.is_granted(Capability::StorageKv));
    }
}
