//! `http`: needs `http:fetch`. Plaza's own `fetch` over hyper and rustls, with the destination
//! policy in [`policy`] (allowlist, SSRF ranges after DNS, redirects, secrets) and the caps in
//! [`settings`]. Why a Plaza interface and not `wasi:http`, and the whole request path, are in
//! `docs/http.md`.
//!
//! - [`settings`]: the operator's `[http]` settings;
//! - [`client`]: the shared client (budgets, connection slots, the redirect chain);
//! - [`connect`]: one exchange with a vetted destination (TCP, TLS, HTTP/1.1);
//! - [`resolve`]: the one name lookup per hop;
//! - [`error`]: why a request failed, as the plugin and the audit log see it.

pub mod client;
pub mod connect;
pub mod error;
pub mod policy;
pub mod resolve;
pub mod settings;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};

pub use self::client::HttpClient;
use self::client::{Fetched, Prepared};
pub use self::error::RequestError;
use self::policy::{headers, Allowlist, Redactor, Secrets, Target};
pub use self::settings::{HttpSettings, HttpSummary};
use super::HostResult;
use crate::capability::Capability;
use crate::runtime::report::HttpCall;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::http::{self, Request, Response};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    http::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// Where an install's secrets come from (the admin store, sealed at rest).
pub trait SecretSource: Send + Sync {
    /// The install's secrets.
    fn secrets(&self, community: &str, plugin: &str) -> anyhow::Result<Secrets>;
}

/// What an invocation needs to make requests: the host's client, the install's allowlist (the
/// hosts its admin approved) and its secrets. Absent in the review hook and `describe`.
#[derive(Clone)]
pub struct HttpAccess {
    /// The shared client.
    pub client: Arc<HttpClient>,
    /// The install's allowlist.
    pub allowlist: Arc<Allowlist>,
    /// The install's secrets, read only when a header uses one.
    pub secrets: Arc<dyn SecretSource>,
}

/// A URL as audit entries and reports show it: no query or fragment (they may carry personal
/// data), bounded, control characters escaped.
fn url_for_audit(url: &str) -> String {
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    policy::error::shown(cut)
}

impl http::Host for HostState {
    async fn fetch(&mut self, request: Request) -> HostResult<Response> {
        self.charge(
            request.url.len()
                + request.body.as_ref().map_or(0, Vec::len)
                + request.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>(),
        )?;
        if let Err(denied) = self.require(Capability::HttpFetch, "http.fetch") {
            return Ok(Err(denied));
        }
        let mut call = HttpCall {
            method: connect::method_name(request.method),
            url: url_for_audit(&request.url),
            status: None,
            refused: None,
            denied: false,
            message: None,
            response_bytes: 0,
            duration_ms: 0,
            via: None,
            address: None,
            redirects: 0,
        };
        let started = Instant::now();
        let mut redactor = Redactor::default();
        let result = self.run_fetch(request, &mut call, &mut redactor).await;
        call.duration_ms = started.elapsed().as_millis() as u64;
        let answer = match result {
            Ok(fetched) => {
                call.status = Some(fetched.status);
                call.url = url_for_audit(&fetched.final_url);
                call.address = Some(fetched.addr.to_string());
                call.redirects = fetched.redirects;
                call.response_bytes = fetched.body.len();
                // A server echoing the key back must not hand it to the plugin.
                Ok(Response {
                    status: fetched.status,
                    headers: fetched
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k, redactor.redact(&v).into_owned()))
                        .collect(),
                    body: redactor.redact_bytes(&fetched.body).into_owned(),
                })
            }
            Err(e) => {
                call.refused = Some(e.rule().to_string());
                call.denied = e.is_denial();
                call.message = Some(redactor.redact(&e.to_string()).into_owned());
                let host_error = e.to_host_error();
                Err(match host_error {
                    crate::wit::latest::HostError::Unavailable(t) => {
                        crate::wit::latest::HostError::Unavailable(redactor.redact(&t).into_owned())
                    }
                    other => other,
                })
            }
        };
        self.http_calls.push(call);
        Ok(answer)
    }
}

impl HostState {
    /// Every check, then the request on a task of its own.
    async fn run_fetch(
        &mut self,
        request: Request,
        call: &mut HttpCall,
        redactor: &mut Redactor,
    ) -> Result<Fetched, RequestError> {
        let Some(access) = self.call.http.clone() else {
            return Err(RequestError::NotHere {
                during: "the review hook",
            });
        };
        let settings = access.client.settings();
        let limits = settings.limits;
        self.http_requests += 1;
        if self.http_requests > limits.requests_per_event {
            return Err(RequestError::PerEvent {
                limit: limits.requests_per_event,
            });
        }
        headers::check(&request.headers)?;
        limits.check_request_body(request.body.as_deref())?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        let timeout = limits.timeout(request.timeout_ms, left)?;
        let target = Target::parse(&request.url, &access.allowlist, &settings.policy)?;
        call.via = Some(target.allowed_by().to_string());
        let (community, plugin) = (self.call.community.clone(), self.call.plugin.clone());
        access.client.take_request(&community, &plugin)?;
        let secrets = if request
            .headers
            .iter()
            .any(|(_, v)| policy::secrets::contains_placeholder(v))
        {
            access
                .secrets
                .secrets(&community, &plugin)
                .map_err(|e| RequestError::Secrets {
                    problem: format!("{e:#}"),
                })?
        } else {
            Secrets::new()
        };
        *redactor = secrets.redactor();
        let prepared = Prepared {
            method: request.method,
            target,
            headers: request.headers,
            body: request.body,
        };
        // On a task of its own, so TLS and body I/O are not counted as the plugin's CPU time
        // (the invocation measures its own polls); aborted if the invocation is dropped.
        let client = access.client.clone();
        let allowlist = access.allowlist.clone();
        let task = tokio::spawn(async move {
            client
                .send((community, plugin), &allowlist, &secrets, prepared, timeout)
                .await
        });
        let abort = AbortOnDrop(task.abort_handle());
        let joined = task.await;
        drop(abort);
        // The wait is not CPU: the epoch callback skips the tick that passed while suspended.
        self.cpu_free_ticks = self.cpu_free_ticks.saturating_add(1);
        joined.map_err(|e| RequestError::Protocol {
            host: call.url.clone(),
            problem: format!("the request task ended: {e}"),
        })?
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
