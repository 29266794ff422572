//! Where host calls go: the real WIT imports on `wasm32`, the simulated host in
//! [`crate::testing`] everywhere else. Both expose the same functions, module by module.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::plaza::plugin::{http, kv, logging, members, messaging, moderation, scheduler};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::backend::{http, kv, logging, members, messaging, moderation, scheduler};
