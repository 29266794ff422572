//! Bounded instance reuse: instances kept between events for installs whose plugin opted in
//! (`[isolation] mode = "reuse"`).
//!
//! An instance is keyed by community, plugin and component digest, so it never serves another
//! community, another plugin or another version. It goes back to the pool only after a call that
//! returned normally; a trap, a handler error, a timeout or a limit ends it. It is dropped after
//! `max-events` calls or `max-seconds` from its instantiation, and the pool holds at most
//! [`WarmPool::capacity`] idle instances (the least recently used goes first), so warm instances
//! never take the slots fresh ones need. What a plugin keeps in globals is therefore a cache at
//! best: it disappears on any of these, on upgrade and on restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use wasmtime::Store;

use super::state::HostState;
use crate::wit::Bindings;

/// An idle instance and what decides when it retires.
pub(crate) struct WarmInstance {
    pub store: Store<HostState>,
    pub bindings: Bindings,
    pub digest: String,
    pub born: Instant,
    pub served: u32,
}

struct Idle {
    warm: WarmInstance,
    since: Instant,
}

/// Idle instances by install.
pub(crate) struct WarmPool {
    idle: Mutex<HashMap<(String, String), Idle>>,
    capacity: usize,
}

impl WarmPool {
    pub fn new(capacity: usize) -> Self {
        WarmPool {
            idle: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The install's idle instance, if it is of this component version; it is removed from the
    /// pool (one call at a time uses it).
    pub fn take(&self, community: &str, plugin: &str, digest: &str) -> Option<WarmInstance> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let key = (community.to_string(), plugin.to_string());
        let Idle { warm, .. } = idle.remove(&key)?;
        (warm.digest == digest).then_some(warm)
    }

    /// Returns an instance after a call that ended normally.
    pub fn put(&self, community: &str, plugin: &str, warm: WarmInstance) {
        if self.capacity == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.capacity {
            let oldest = idle.iter().min_by_key(|(_, i)| i.since).map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                idle.remove(&key);
            }
        }
        let since = Instant::now();
        idle.insert((community.to_string(), plugin.to_string()), Idle { warm, since });
    }

    /// Drops the install's idle instance (uninstall, upgrade, disable, config change).
    pub fn forget(&self, community: &str, plugin: &str) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.remove(&(community.to_string(), plugin.to_string()));
    }
}
