//! `http`: needs `http:fetch`.
//!
//! Outbound requests are not served by this host yet: the grant is checked as for every other
//! call, and a granted call answers `unavailable` so plugins can degrade. [`policy`] holds the
//! destination policy the client will enforce (allowlist, SSRF ranges, redirects, secrets); the
//! design of the rest is in `docs/http.md`.

pub mod policy;

use wasmtime::component::{HasSelf, Linker};

use super::HostResult;
use crate::capability::Capability;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::http::{self, Request, Response};
use crate::wit::latest::HostError;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    http::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl http::Host for HostState {
    async fn fetch(&mut self, request: Request) -> HostResult<Response> {
        self.charge(
            request.url.len()
                + request.body.as_ref().map_or(0, Vec::len)
                + request.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>(),
        )?;
        let result = self
            .require(Capability::HttpFetch, "http.fetch")
            .and(Err(HostError::Unavailable(
                "outbound HTTP is not enabled on this host".into(),
            )));
        Ok(result)
    }
}
