//! An in-memory [`CommunityStore`]: the default for tests, `plaza run` and the library. Its admin
//! model and delivery log live beside it (`memory_admin.rs`, `memory_log.rs`).

use crate::hash::{get_or_default, HashMap};
use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{CommunityStore, MemberStanding, StoredMessage, Timer};
use crate::effects::Action;
use crate::event::{Event, EventKind, MemberProfile};

#[derive(Default)]
struct Community {
    members: BTreeMap<String, MemberProfile>,
    standing: HashMap<String, MemberStanding>,
    messages: HashMap<String, usize>,
    message_log: Vec<StoredMessage>,
    kv: HashMap<String, BTreeMap<String, Vec<u8>>>,
    pseudonyms: HashMap<String, HashMap<String, String>>,
}

#[derive(Default)]
struct Inner {
    communities: HashMap<String, Community>,
    timers: BTreeMap<String, Timer>,
}

/// Community state held in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    pub(super) admin: super::memory_admin::AdminState,
    pub(super) log: super::memory_log::LogState,
    pub(super) secrets: super::secrets::MemorySecrets,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        f(&self.inner.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Deletes a plugin's KV, pseudonyms and timers in a community.
    pub(super) fn forget_plugin_data(&self, community: &str, plugin: &str) {
        self.write(|i| {
            if let Some(c) = i.communities.get_mut(community) {
                c.kv.remove(plugin);
                c.pseudonyms.remove(plugin);
            }
            i.timers
                .retain(|_, t| !(t.community == community && t.plugin == plugin));
        });
    }
}

impl Community {
    fn record_message(&mut self, message: StoredMessage) {
        if let Some(&index) = self.messages.get(&message.message_id) {
            self.message_log[index] = message;
        } else {
            self.messages.insert(message.message_id.clone(), self.message_log.len());
            self.message_log.push(message);
        }
    }

    fn message_mut(&mut self, id: &str) -> Option<&mut StoredMessage> {
        let index = *self.messages.get(id)?;
        self.message_log.get_mut(index)
    }
}

impl CommunityStore for MemoryStore {
    fn observe(&self, event: &Event) -> anyhow::Result<()> {
        self.write(|inner| {
            let c = get_or_default(&mut inner.communities, &event.meta.community);
            match &event.kind {
                EventKind::MemberJoined { member, .. } | EventKind::MemberUpdated { member } => {
                    c.members.insert(member.id.clone(), member.clone());
                }
                EventKind::MemberLeft { member, .. } => {
                    c.members.remove(member);
                }
                EventKind::MessagePosted(m) => c.record_message(StoredMessage {
                    channel: m.channel.clone(),
                    message_id: m.message_id.clone(),
                    author: m.author.clone(),
                    text: m.text.clone(),
                    reply_to: m.reply_to.clone(),
                    posted_by_plugin: None,
                    deleted: false,
                }),
                EventKind::MessageEdited { message_id, text, .. } => {
                    if let Some(m) = c.message_mut(message_id) {
                        m.text = text.clone();
                    }
                }
                EventKind::MessageDeleted { message_id, .. } => {
                    if let Some(m) = c.message_mut(message_id) {
                        m.deleted = true;
                    }
                }
                EventKind::MemberMuted {
                    member, duration_ms, ..
                } => {
                    c.standing.entry(member.clone()).or_default().muted_until_ms =
                        Some(event.meta.timestamp_ms.saturating_add(*duration_ms));
                }
                EventKind::MemberBanned { member, .. } => {
                    c.standing.entry(member.clone()).or_default().banned = true;
                    c.members.remove(member);
                }
                _ => {}
            }
        });
        Ok(())
    }

    fn member(&self, community: &str, member: &str) -> Option<MemberProfile> {
        self.read(|i| i.communities.get(community)?.members.get(member).cloned())
    }

    fn members_page(&self, community: &str, after: Option<&str>, limit: usize) -> (Vec<MemberProfile>, bool) {
        self.read(|i| {
            let Some(c) = i.communities.get(community) else {
                return (Vec::new(), false);
            };
            let start = match after {
                Some(a) => std::ops::Bound::Excluded(a.to_string()),
                None => std::ops::Bound::Unbounded,
            };
            let mut iter = c
                .members
                .range((start, std::ops::Bound::Unbounded))
                .map(|(_, p)| p.clone());
            let page: Vec<_> = iter.by_ref().take(limit).collect();
            let more = iter.next().is_some();
            (page, more)
        })
    }

    fn standing(&self, community: &str, member: &str) -> MemberStanding {
        self.read(|i| {
            i.communities
                .get(community)
                .and_then(|c| c.standing.get(member).cloned())
                .unwrap_or_default()
        })
    }

    fn message(&self, community: &str, message_id: &str) -> Option<StoredMessage> {
        self.read(|i| {
            let c = i.communities.get(community)?;
            c.message_log.get(*c.messages.get(message_id)?).cloned()
        })
    }

    fn message_live_in(&self, community: &str, channel: &str, message_id: &str) -> bool {
        self.read(|i| {
            let Some(c) = i.communities.get(community) else {
                return false;
            };
            c.messages
                .get(message_id)
                .and_then(|&index| c.message_log.get(index))
                .is_some_and(|m| m.channel == channel && !m.deleted)
        })
    }

    fn messages(&self, community: &str) -> Vec<StoredMessage> {
        self.read(|i| {
            i.communities
                .get(community)
                .map(|c| c.message_log.clone())
                .unwrap_or_default()
        })
    }

    fn kv_get(&self, community: &str, plugin: &str, key: &str) -> Option<Vec<u8>> {
        self.read(|i| i.communities.get(community)?.kv.get(plugin)?.get(key).cloned())
    }

    fn kv_keys(
        &self,
        community: &str,
        plugin: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Vec<String> {
        self.read(|i| {
            let Some(kv) = i.communities.get(community).and_then(|c| c.kv.get(plugin)) else {
                return Vec::new();
            };
            kv.range(prefix.to_string()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(prefix))
                .filter(|k| start_after.is_none_or(|a| k.as_str() > a))
                .take(limit)
                .cloned()
                .collect()
        })
    }

    fn kv_bytes(&self, community: &str, plugin: &str) -> u64 {
        self.read(|i| {
            i.communities
                .get(community)
                .and_then(|c| c.kv.get(plugin))
                .map(|kv| kv.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum())
                .unwrap_or(0)
        })
    }

    fn timer(&self, timer_id: &str) -> Option<Timer> {
        self.read(|i| i.timers.get(timer_id).cloned())
    }

    fn due_timers(&self, now_ms: u64) -> Vec<Timer> {
        let mut due: Vec<Timer> = self.read(|i| i.timers.values().filter(|t| t.due_ms <= now_ms).cloned().collect());
        due.sort_by(|a, b| (a.due_ms, &a.timer_id).cmp(&(b.due_ms, &b.timer_id)));
        due
    }

    fn timer_fired(&self, timer_id: &str) -> anyhow::Result<()> {
        self.write(|i| {
            let remove = match i.timers.get_mut(timer_id) {
                Some(t) => match t.every_ms {
                    Some(every) => {
                        t.due_ms = t.due_ms.saturating_add(every);
                        false
                    }
                    None => true,
                },
                None => false,
            };
            if remove {
                i.timers.remove(timer_id);
            }
        });
        Ok(())
    }

    fn apply(&self, community: &str, plugin: &str, now_ms: u64, actions: &[Action]) -> anyhow::Result<()> {
        self.write(|i| {
            for action in actions {
                if let Action::ScheduleTimer {
                    timer_id,
                    name,
                    payload,
                    delay_ms,
                    every_ms,
                } = action
                {
                    i.timers.insert(
                        timer_id.clone(),
                        Timer {
                            timer_id: timer_id.clone(),
                            community: community.to_string(),
                            plugin: plugin.to_string(),
                            name: name.clone(),
                            payload: payload.clone(),
                            due_ms: now_ms.saturating_add(*delay_ms),
                            every_ms: *every_ms,
                        },
                    );
                    continue;
                }
                if let Action::CancelTimer { timer_id } = action {
                    i.timers.remove(timer_id);
                    continue;
                }
                let c = get_or_default(&mut i.communities, community);
                match action {
                    Action::SendMessage {
                        channel,
                        message_id,
                        text,
                        reply_to,
                    } => c.record_message(StoredMessage {
                        channel: channel.clone(),
                        message_id: message_id.clone(),
                        author: ["plugin:", plugin].concat(),
                        text: text.clone(),
                        reply_to: reply_to.clone(),
                        posted_by_plugin: Some(plugin.to_string()),
                        deleted: false,
                    }),
                    Action::EditMessage { message_id, text, .. } => {
                        if let Some(m) = c.message_mut(message_id) {
                            m.text = text.clone();
                        }
                    }
                    Action::DeleteMessage { message_id, .. } => {
                        if let Some(m) = c.message_mut(message_id) {
                            m.deleted = true;
                        }
                    }
                    Action::MuteMember {
                        member, duration_ms, ..
                    } => {
                        c.standing.entry(member.clone()).or_default().muted_until_ms =
                            Some(now_ms.saturating_add(*duration_ms));
                    }
                    Action::KickMember { member, .. } => {
                        c.members.remove(member);
                    }
                    Action::BanMember { member, .. } => {
                        c.members.remove(member);
                        c.standing.entry(member.clone()).or_default().banned = true;
                    }
                    Action::KvSet { key, value } => {
                        c.kv.entry(plugin.to_string())
                            .or_default()
                            .insert(key.clone(), value.0.clone());
                    }
                    Action::KvDelete { key } => {
                        if let Some(kv) = c.kv.get_mut(plugin) {
                            kv.remove(key);
                        }
                    }
                    Action::ScheduleTimer { .. } | Action::CancelTimer { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        });
        Ok(())
    }

    fn forget_plugin(&self, community: &str, plugin: &str) -> anyhow::Result<()> {
        self.forget_plugin_data(community, plugin);
        Ok(())
    }

    fn remember_pseudonyms(&self, community: &str, plugin: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
        self.write(|i| {
            let map = i
                .communities
                .entry(community.to_string())
                .or_default()
                .pseudonyms
                .entry(plugin.to_string())
                .or_default();
            for (pseudonym, member) in pairs {
                map.insert(pseudonym.clone(), member.clone());
            }
        });
        Ok(())
    }

    fn resolve_pseudonym(&self, community: &str, plugin: &str, pseudonym: &str) -> Option<String> {
        self.read(|i| {
            i.communities
                .get(community)?
                .pseudonyms
                .get(plugin)?
                .get(pseudonym)
                .cloned()
        })
    }
}

impl super::secrets::SecretStore for MemoryStore {
    fn put_secret(
        &self,
        community: &str,
        plugin: &str,
        secret: &super::secrets::SealedSecret,
    ) -> Result<(), super::admin::StoreError> {
        self.secrets.put_secret(community, plugin, secret)
    }

    fn delete_secret(&self, community: &str, plugin: &str, name: &str) -> Result<bool, super::admin::StoreError> {
        self.secrets.delete_secret(community, plugin, name)
    }

    fn secrets(
        &self,
        community: &str,
        plugin: &str,
    ) -> Result<Vec<super::secrets::SealedSecret>, super::admin::StoreError> {
        self.secrets.secrets(community, plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::KvValue;

    #[test]
    fn kv_and_timers_apply_and_forget() {
        let s = MemoryStore::new();
        s.apply(
            "c",
            "p",
            100,
            &[
                Action::KvSet {
                    key: "a:1".into(),
                    value: KvValue(b"x".to_vec()),
                },
                Action::KvSet {
                    key: "a:2".into(),
                    value: KvValue(b"y".to_vec()),
                },
                Action::KvSet {
                    key: "b".into(),
                    value: KvValue(b"z".to_vec()),
                },
                Action::ScheduleTimer {
                    timer_id: "t1".into(),
                    name: "n".into(),
                    payload: String::new(),
                    delay_ms: 50,
                    every_ms: Some(10),
                },
            ],
        )
        .unwrap();
        assert_eq!(s.kv_get("c", "p", "a:1"), Some(b"x".to_vec()));
        assert_eq!(s.kv_get("c", "other", "a:1"), None);
        assert_eq!(s.kv_keys("c", "p", "a:", None, 10), vec!["a:1", "a:2"]);
        assert_eq!(s.kv_keys("c", "p", "a:", Some("a:1"), 10), vec!["a:2"]);
        assert_eq!(s.kv_keys("c", "p", "", None, 2).len(), 2);
        assert_eq!(s.kv_bytes("c", "p"), 3 + 3 + 1 + 3);
        assert!(s.due_timers(149).is_empty());
        assert_eq!(s.due_timers(150).len(), 1);
        s.timer_fired("t1").unwrap();
        assert_eq!(s.timer("t1").unwrap().due_ms, 160);
        s.forget_plugin("c", "p").unwrap();
        assert_eq!(s.kv_get("c", "p", "a:1"), None);
        assert!(s.timer("t1").is_none());
    }

    #[test]
    fn members_page_walks_in_order() {
        let s = MemoryStore::new();
        let mut d = crate::event::EventDefaults::new("c", 0);
        for id in ["carol", "alice", "bob"] {
            let e = d
                .parse(&format!(r#"{{"type":"member-joined","member":{{"id":"{id}"}}}}"#), "t")
                .unwrap();
            s.observe(&e).unwrap();
        }
        let (page, more) = s.members_page("c", None, 2);
        assert_eq!(page.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(more);
        let (page, more) = s.members_page("c", Some("bob"), 2);
        assert_eq!(page.len(), 1);
        assert!(!more);
    }
}
