//! The host's HTTP client: shared by every invocation, it holds the operator's settings, the TLS
//! configuration, the per-install request budgets and connection slots, and runs one request
//! chain (redirects included) under the policy: parse, resolve once, vet, fill secrets, dial the
//! vetted address, read within the caps, re-check every redirect.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connect::{self, Outgoing};
use super::error::RequestError;
use super::policy::error::shown;
use super::policy::{headers, redirect, Allowlist, FetchError, Secrets, Target};
use super::resolve;
use super::settings::{HttpSettings, HOST_CONNECTIONS};
use crate::wit::latest::plaza::plugin::http::Method;

type InstallKey = (String, String);

/// A request as the plugin made it, after the checks that need no network.
pub struct Prepared {
    /// The method.
    pub method: Method,
    /// The URL, checked against the allowlist and the policy.
    pub target: Target,
    /// Headers with their placeholders (filled per destination).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
}

/// A response, and how it was reached.
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// Response headers (hop-by-hop ones removed).
    pub headers: Vec<(String, String)>,
    /// The body, at most the response cap.
    pub body: Vec<u8>,
    /// The last URL requested (after redirects).
    pub final_url: String,
    /// The address that answered.
    pub addr: SocketAddr,
    /// Redirects followed.
    pub redirects: u8,
}

/// A token bucket over the monotonic clock: these are real requests, not event time.
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The shared client. Build one per host with [`HttpClient::new`].
pub struct HttpClient {
    settings: HttpSettings,
    tls: Arc<ClientConfig>,
    minute: Mutex<HashMap<InstallKey, Bucket>>,
    slots: Mutex<HashMap<InstallKey, Arc<Semaphore>>>,
    host_slots: Arc<Semaphore>,
}

impl HttpClient {
    /// A client for `settings`; fails when an extra CA certificate cannot be used.
    pub fn new(settings: HttpSettings) -> anyhow::Result<Self> {
        let tls = connect::tls_config(&settings.extra_roots_pem)?;
        Ok(HttpClient {
            settings,
            tls,
            minute: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            host_slots: Arc::new(Semaphore::new(HOST_CONNECTIONS)),
        })
    }

    /// The settings it enforces.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Takes one request from the install's per-minute budget (burst: a sixth of it, at least 1).
    pub fn take_request(&self, community: &str, plugin: &str) -> Result<(), RequestError> {
        let per_minute = self.settings.limits.requests_per_minute;
        if per_minute == 0 {
            return Err(RequestError::RateLimited {
                per_minute,
                retry_after_ms: 60_000,
            });
        }
        let burst = f64::from((per_minute / 6).max(1));
        let per_ms = f64::from(per_minute) / 60_000.0;
        let now = Instant::now();
        let mut buckets = self.minute.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((community.to_string(), plugin.to_string()))
            .or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
        let elapsed_ms = now.duration_since(bucket.updated).as_secs_f64() * 1000.0;
        bucket.tokens = (bucket.tokens + elapsed_ms * per_ms).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let retry_after_ms = ((1.0 - bucket.tokens) / per_ms).ceil() as u64;
        Err(RequestError::RateLimited {
            per_minute,
            retry_after_ms,
        })
    }

    /// Waits for a connection slot of the install and of the host, until `deadline`.
    async fn slot(
        &self,
        install: &InstallKey,
        deadline: tokio::time::Instant,
    ) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), RequestError> {
        let per_install = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry(install.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.settings.limits.concurrent_connections as usize)))
                .clone()
        };
        let mine = tokio::time::timeout_at(deadline, per_install.acquire_owned())
            .await
            .map_err(|_| RequestError::Busy { scope: "this install" })?
            .map_err(|_| RequestError::Busy { scope: "this install" })?;
        let host = tokio::time::timeout_at(deadline, self.host_slots.clone().acquire_owned())
            .await
            .map_err(|_| RequestError::Busy {
                scope: "the whole host",
            })?
            .map_err(|_| RequestError::Busy {
                scope: "the whole host",
            })?;
        Ok((mine, host))
    }

    /// Runs `request` (and the redirects it leads to) for `install`, within `timeout`.
    /// `secrets` fills the header placeholders for each vetted destination.
    pub async fn send(
        &self,
        install: InstallKey,
        allowlist: &Allowlist,
        secrets: &Secrets,
        request: Prepared,
        timeout: Duration,
    ) -> Result<Fetched, RequestError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let host = request.target.host().to_string();
        match tokio::time::timeout_at(deadline, self.chain(&install, allowlist, secrets, request, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(RequestError::Timeout {
                host,
                ms: timeout.as_millis() as u64,
            }),
        }
    }

    async fn chain(
        &self,
        install: &InstallKey,
        allowlist: &Allowlist,
        secrets: &Secrets,
        request: Prepared,
        deadline: tokio::time::Instant,
    ) -> Result<Fetched, RequestError> {
        let policy = &self.settings.policy;
        let limits = &self.settings.limits;
        let Prepared {
            mut method,
            mut target,
            mut headers,
            mut body,
        } = request;
        let mut hops = 0u8;
        let mut redirected_from: Option<String> = None;
        loop {
            let answers = resolve::lookup(&self.settings.resolve, &target).await?;
            let to = target.url().to_string();
            // A refusal after a redirect says which redirect led there.
            let in_redirect = |error: FetchError| match &redirected_from {
                Some(from) => FetchError::Redirect {
                    from: shown(from),
                    to: shown(&to),
                    error: Box::new(error),
                },
                None => error,
            };
            let dest = target.vet(answers, policy).map_err(in_redirect)?;
            let filled = secrets.fill(&headers, &dest).map_err(in_redirect)?;
            let received = {
                let _slots = self.slot(install, deadline).await?;
                connect::exchange(
                    &dest,
                    &self.tls,
                    Outgoing {
                        method,
                        headers: &filled,
                        body: body.as_deref(),
                    },
                    limits.connect_timeout,
                    limits.response_body_bytes,
                )
                .await?
            };
            let next = redirect::follow(
                dest.target(),
                method,
                received.status,
                received.location.as_deref(),
                hops,
                allowlist,
                policy,
            )?;
            let Some(next) = next else {
                return Ok(Fetched {
                    status: received.status,
                    headers: received.headers,
                    body: received.body,
                    final_url: dest.target().url().to_string(),
                    addr: received.addr,
                    redirects: hops,
                });
            };
            // Each hop is a request of its own for the per-minute budget.
            self.take_request(&install.0, &install.1)?;
            if !next.same_origin {
                headers = headers::for_cross_origin(&headers);
            }
            if !next.keep_body {
                body = None;
            }
            redirected_from = Some(dest.target().url().to_string());
            method = next.method;
            hops = next.hops;
            target = next.target;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::host_api::http::policy::Allowlist;

    fn prepared(client: &HttpClient, url: &str) -> Prepared {
        let allowlist = Allowlist::new(["a.example"]).unwrap();
        Prepared {
            method: Method::Get,
            target: Target::parse(url, &allowlist, &client.settings().policy).unwrap(),
            headers: Vec::new(),
            body: None,
        }
    }

    #[tokio::test]
    async fn connections_per_install_are_capped_and_others_are_not_held_up() {
        // A server that accepts and never answers: each request holds its connection.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let mut settings = HttpSettings::loopback_for_tests(&["a.example"]);
        settings.limits.concurrent_connections = 1;
        let client = Arc::new(HttpClient::new(settings).unwrap());
        let allowlist = Arc::new(Allowlist::new(["a.example"]).unwrap());
        let url = format!("http://a.example:{port}/");
        let install = ("c".to_string(), "p".to_string());

        let first = {
            let (client, allowlist, request) = (client.clone(), allowlist.clone(), prepared(&client, &url));
            let install = install.clone();
            tokio::spawn(async move {
                client
                    .send(install, &allowlist, &Secrets::new(), request, Duration::from_secs(2))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = client
            .send(
                install,
                &allowlist,
                &Secrets::new(),
                prepared(&client, &url),
                Duration::from_millis(200),
            )
            .await;
        assert!(
            matches!(second, Err(RequestError::Busy { scope: "this install" })),
            "{:?}",
            second.err()
        );
        // Another install has its own slots: it reaches the server (and times out there).
        let other = client
            .send(
                ("c".into(), "other".into()),
                &allowlist,
                &Secrets::new(),
                prepared(&client, &url),
                Duration::from_millis(200),
            )
            .await;
        assert!(matches!(other, Err(RequestError::Timeout { .. })), "{:?}", other.err());
        first.abort();
        held.abort();
    }

    #[test]
    fn the_per_minute_budget_refills_over_time() {
        let mut settings = HttpSettings::default();
        settings.limits.requests_per_minute = 12; // burst 2, one every 5 s
        let client = HttpClient::new(settings).unwrap();
        assert!(client.take_request("c", "p").is_ok());
        assert!(client.take_request("c", "p").is_ok());
        match client.take_request("c", "p") {
            Err(RequestError::RateLimited { retry_after_ms, .. }) => {
                assert!((4_000..=5_000).contains(&retry_after_ms), "{retry_after_ms}")
            }
            other => panic!("{:?}", other.err()),
        }
        // Budgets are per install.
        assert!(client.take_request("c", "other").is_ok());
    }
}
