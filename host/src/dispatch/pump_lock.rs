//! One pump per install in this process. The map holds a lock only while a pump holds it or
//! waits for it, so it stays the size of the pumps running, not of every install ever pumped.

use crate::hash::HashMap;
use std::sync::{Arc, Mutex};

type Lock = Arc<tokio::sync::Mutex<()>>;

/// Community → plugin → lock: nested so finding and removing an entry borrow the ids.
#[derive(Default)]
pub(crate) struct PumpLocks {
    map: Mutex<HashMap<Arc<str>, HashMap<String, Lock>>>,
}

/// A pump's claim on its install's lock; dropping it (also when the pump is cancelled while
/// it waits) removes the lock from the map once no other pump holds or waits for it.
pub(crate) struct PumpClaim<'a> {
    locks: &'a PumpLocks,
    community: &'a Arc<str>,
    plugin: &'a str,
    lock: Lock,
}

impl PumpLocks {
    /// Claims the lock of (community, plugin); [`PumpClaim::lock`] then waits for it.
    pub(crate) fn claim<'a>(&'a self, community: &'a Arc<str>, plugin: &'a str) -> PumpClaim<'a> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let plugins = match map.get_mut(&**community) {
            Some(plugins) => plugins,
            None => map.entry(community.clone()).or_default(),
        };
        let lock = match plugins.get(plugin) {
            Some(lock) => lock.clone(),
            None => plugins.entry(plugin.to_string()).or_default().clone(),
        };
        PumpClaim {
            locks: self,
            community,
            plugin,
            lock,
        }
    }

    /// How many installs have a lock in the map.
    #[cfg(test)]
    fn len(&self) -> usize {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.values().map(HashMap::len).sum()
    }
}

impl PumpClaim<'_> {
    /// Waits until no other pump of the install runs.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

impl Drop for PumpClaim<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.map.lock().unwrap_or_else(|e| e.into_inner());
        // Claims clone the lock only from the map, under its mutex: two references (the
        // map's and this claim's) mean nobody else holds or waits for it.
        if Arc::strong_count(&self.lock) != 2 {
            return;
        }
        if let Some(plugins) = map.get_mut(&**self.community) {
            plugins.remove(self.plugin);
            if plugins.is_empty() {
                map.remove(&**self.community);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_pump_waits_and_the_map_empties_when_both_are_done() {
        let locks = PumpLocks::default();
        let community: Arc<str> = Arc::from("c");
        let first = locks.claim(&community, "poll");
        let held = first.lock().await;
        let second = locks.claim(&community, "poll");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.lock())
                .await
                .is_err(),
            "a second pump of the install ran beside the first"
        );
        drop(held);
        drop(first);
        assert_eq!(locks.len(), 1, "the waiting pump's lock must stay");
        drop(second.lock().await);
        drop(second);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_pump_cancelled_while_waiting_leaves_nothing_behind() {
        let locks = PumpLocks::default();
        let community: Arc<str> = Arc::from("c");
        let first = locks.claim(&community, "poll");
        let held = first.lock().await;
        let waiting = async {
            let claim = locks.claim(&community, "poll");
            let _turn = claim.lock().await;
        };
        // Cancelled while it waits for the first pump.
        assert!(tokio::time::timeout(Duration::from_millis(20), waiting).await.is_err());
        drop(held);
        drop(first);
        assert_eq!(locks.len(), 0);
    }
}
