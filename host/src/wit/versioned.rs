//! One plugin type over every supported WIT version: which bindings a component gets is
//! decided once, at load; calls take and return the latest types.

use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::convert::Convert;
use super::{latest, since_v0_1_0};
use crate::runtime::state::HostState;
use latest::types::{Event, HandlerError, PluginInfo, ReviewRequest, ReviewVerdict};

/// A linked component, ready to instantiate, with the bindings of the version it was built
/// against.
pub struct PluginPre {
    world: World,
    /// Whether an instance's exports have passed the bindings' type checks; later instances
    /// skip them (see `prechecked.rs`).
    exports_checked: AtomicBool,
}

enum World {
    V0_1_0(since_v0_1_0::PluginPre<HostState>),
    V0_2_0(latest::PluginPre<HostState>),
}

/// An instance's exports.
pub enum Bindings {
    V0_1_0(since_v0_1_0::Plugin),
    V0_2_0(latest::Plugin),
}

impl PluginPre {
    /// Binds `pre` to the world of `version` (the version of the `plaza:plugin` interfaces the
    /// component imports); without one (it imports none) the newest world its exports fit.
    pub fn new(pre: InstancePre<HostState>, version: Option<&str>) -> wasmtime::Result<Self> {
        let world = match version {
            Some(since_v0_1_0::VERSION) => World::V0_1_0(since_v0_1_0::PluginPre::new(pre)?),
            Some(_) => World::V0_2_0(latest::PluginPre::new(pre)?),
            None => match latest::PluginPre::new(pre.clone()) {
                Ok(latest) => World::V0_2_0(latest),
                Err(newest) => since_v0_1_0::PluginPre::new(pre)
                    .map(World::V0_1_0)
                    .map_err(|_| newest)?,
            },
        };
        Ok(PluginPre {
            world,
            exports_checked: AtomicBool::new(false),
        })
    }

    /// The WIT version the component was built against.
    pub fn version(&self) -> &'static str {
        match self.world {
            World::V0_1_0(_) => since_v0_1_0::VERSION,
            World::V0_2_0(_) => latest::VERSION,
        }
    }

    /// A fresh instance.
    pub async fn instantiate_async(&self, store: &mut Store<HostState>) -> wasmtime::Result<Bindings> {
        if self.exports_checked.load(Ordering::Acquire) {
            // SAFETY (both arms): an earlier instance of the same `pre` passed the checks below.
            return Ok(match &self.world {
                World::V0_1_0(pre) => {
                    Bindings::V0_1_0(unsafe { since_v0_1_0::instantiate_prechecked(pre, store) }.await?)
                }
                World::V0_2_0(pre) => Bindings::V0_2_0(unsafe { latest::instantiate_prechecked(pre, store) }.await?),
            });
        }
        let bindings = match &self.world {
            World::V0_1_0(pre) => Bindings::V0_1_0(pre.instantiate_async(store).await?),
            World::V0_2_0(pre) => Bindings::V0_2_0(pre.instantiate_async(store).await?),
        };
        self.exports_checked.store(true, Ordering::Release);
        Ok(bindings)
    }
}

impl Bindings {
    /// `describe`.
    pub async fn call_describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<PluginInfo> {
        match self {
            Self::V0_1_0(b) => Ok(b.call_describe(store).await?.convert()),
            Self::V0_2_0(b) => b.call_describe(store).await,
        }
    }

    /// `handle-event`.
    pub async fn call_handle_event(
        &self,
        store: &mut Store<HostState>,
        event: &Event,
    ) -> wasmtime::Result<Result<(), HandlerError>> {
        match self {
            Self::V0_1_0(b) => match since_v0_1_0::event(event) {
                Some(event) => Ok(b.call_handle_event(store, &event).await?.convert()),
                None => {
                    debug_assert!(false, "routing sent a 0.1.0 plugin an event it cannot see");
                    Ok(Ok(()))
                }
            },
            Self::V0_2_0(b) => b.call_handle_event(store, event).await,
        }
    }

    /// `review-message`.
    pub async fn call_review_message(
        &self,
        store: &mut Store<HostState>,
        request: &ReviewRequest,
    ) -> wasmtime::Result<Result<ReviewVerdict, HandlerError>> {
        match self {
            Self::V0_1_0(b) => {
                let request: since_v0_1_0::types::ReviewRequest = request.clone().convert();
                Ok(b.call_review_message(store, &request).await?.convert())
            }
            Self::V0_2_0(b) => b.call_review_message(store, request).await,
        }
    }
}
