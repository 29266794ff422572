//! A loopback merchant for the `http:fetch` tests: a small order API on `127.0.0.1:0`, over plain
//! HTTP or HTTPS (a certificate from [`test_certs`]), that records every request it sees.
//!
//! Routes:
//! - `POST /orders`: needs `Authorization: Bearer <api key>` (else 401) and an `Idempotency-Key`
//!   (else 400); creates order `ord-N` and answers 201 `{"order_id", "item", "quantity", ...}`.
//!   The same key with the same body answers the first response again with
//!   `Idempotent-Replayed: true`; the same key with another body is 422.
//! - `GET /orders/{id}` (same bearer key): the order, or 404.
//! - `GET /ok`: 200 `ok`. `GET /redirect?to=URL&status=302`: that status with `Location: URL`.
//!   `GET /slow?ms=N`: sleeps, then 200. `GET /big?bytes=N`: N bytes with a `Content-Length`;
//!   `GET /big-chunked?bytes=N`: the same, chunked. `GET /echo`: the request's headers as a JSON
//!   object, and the `Authorization` value in `X-Echo-Authorization`.
//!
//! Dropping the [`Merchant`] stops the server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the merchant received it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/orders` or `/slow?ms=10`.
    pub path: String,
    /// The headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What a key's first request got, for idempotent replays.
struct Recorded {
    body: Vec<u8>,
    status: u16,
    response: Value,
}

struct State {
    api_key: String,
    orders: Mutex<Vec<Value>>,
    by_key: Mutex<HashMap<String, Recorded>>,
    requests: Mutex<Vec<Seen>>,
    fail_after_commit: AtomicUsize,
}

/// The running merchant.
pub struct Merchant {
    state: Arc<State>,
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for Merchant {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = Response<BoxBody<Bytes, Infallible>>;

impl Merchant {
    /// Plain HTTP on `127.0.0.1`, a free port; orders need `Authorization: Bearer {api_key}`.
    pub async fn start(api_key: &str) -> Merchant {
        Self::spawn(api_key, None).await
    }

    /// HTTPS on `127.0.0.1` with this certificate chain and key (PEM), e.g. from [`test_certs`].
    pub async fn start_tls(api_key: &str, cert_pem: &str, key_pem: &str) -> Merchant {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a usable certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::spawn(api_key, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn spawn(api_key: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Merchant {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            api_key: api_key.to_string(),
            orders: Mutex::new(Vec::new()),
            by_key: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            fail_after_commit: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Merchant { state, port, task }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The orders created, in order.
    pub fn orders(&self) -> Vec<Value> {
        self.state.orders.lock().unwrap().clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The next `n` new orders are created and stored, and then answered with a 500, as if the
    /// merchant failed after committing.
    pub fn fail_next_orders_after_commit(&self, n: usize) {
        self.state.fail_after_commit.store(n, Ordering::SeqCst);
    }
}

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

fn json_reply(status: u16, value: &Value) -> Reply {
    let mut r = reply(status, value.to_string());
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn error(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

/// `name=value` pairs of a query string, percent-decoded.
fn query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |pq| pq.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    state.requests.lock().unwrap().push(seen.clone());
    let q = query(parts.uri.query());
    let number = |name: &str| q.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let authorized = seen.header("authorization") == Some(&format!("Bearer {}", state.api_key));
    let path = parts.uri.path();
    Ok(match (seen.method.as_str(), path) {
        ("POST", "/orders") => create_order(&state, &seen, authorized),
        ("GET", p) if p.starts_with("/orders/") => {
            if !authorized {
                error(401, "missing or wrong API key")
            } else {
                let id = &p["/orders/".len()..];
                let orders = state.orders.lock().unwrap();
                match orders.iter().find(|o| o["order_id"] == id) {
                    Some(order) => json_reply(200, order),
                    None => error(404, "no such order"),
                }
            }
        }
        ("GET", "/ok") => reply(200, "ok"),
        ("GET", "/redirect") => {
            let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(302);
            let mut r = reply(status, "");
            r.headers_mut().insert(
                "location",
                q.get("to").map(String::as_str).unwrap_or("/ok").parse().unwrap(),
            );
            r
        }
        ("GET", "/slow") => {
            tokio::time::sleep(Duration::from_millis(number("ms"))).await;
            reply(200, "slow")
        }
        ("GET", "/big") => reply(200, vec![b'x'; number("bytes") as usize]),
        ("GET", "/big-chunked") => Response::builder()
            .status(200)
            .body(
                Chunked {
                    remaining: number("bytes") as usize,
                }
                .boxed(),
            )
            .unwrap(),
        ("GET", "/echo") => {
            let headers: serde_json::Map<String, Value> = seen
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect();
            let mut r = json_reply(200, &Value::Object(headers));
            if let Some(auth) = seen.header("authorization") {
                r.headers_mut().insert("x-echo-authorization", auth.parse().unwrap());
            }
            r
        }
        _ => error(404, "no such route"),
    })
}

fn create_order(state: &State, seen: &Seen, authorized: bool) -> Reply {
    if !authorized {
        return error(401, "missing or wrong API key");
    }
    let Some(key) = seen.header("idempotency-key").map(str::to_string) else {
        return error(400, "Idempotency-Key is required");
    };
    let mut by_key = state.by_key.lock().unwrap();
    if let Some(first) = by_key.get(&key) {
        if first.body != seen.body {
            return error(422, "Idempotency-Key reused with a different body");
        }
        let mut r = json_reply(first.status, &first.response);
        r.headers_mut().insert("idempotent-replayed", "true".parse().unwrap());
        return r;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&seen.body) else {
        return error(400, "the body is not JSON");
    };
    let mut orders = state.orders.lock().unwrap();
    let order = json!({
        "order_id": format!("ord-{}", orders.len() + 1),
        "status": "created",
        "item": request["item"],
        "unit_price": request["unit_price"],
        "quantity": request["quantity"],
        "participants": request["participants"],
        "idempotency_key": key,
    });
    orders.push(order.clone());
    by_key.insert(
        key,
        Recorded {
            body: seen.body.clone(),
            status: 201,
            response: order.clone(),
        },
    );
    let fail = state
        .fail_after_commit
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return error(500, "internal error after the order was stored");
    }
    json_reply(201, &order)
}

/// `remaining` bytes of `x` in 16 KiB frames, with no length given: sent chunked.
struct Chunked {
    remaining: usize,
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(16 * 1024);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
    }
}

/// A test CA and a leaf certificate it signed, all PEM.
pub struct TestCerts {
    /// The CA certificate (to trust, e.g. `HttpSettings::extra_roots_pem`).
    pub ca_pem: String,
    /// The leaf certificate for the names asked for.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
}

/// Generates a CA and a server certificate for `names` (DNS names) signed by it.
pub fn test_certs(names: &[&str]) -> TestCerts {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Plaza test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    TestCerts {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// One HTTP/1.1 exchange over `stream`, `Connection: close`: (status, lowercase headers, body).
    async fn exchange(
        mut stream: impl AsyncRead + AsyncWrite + Unpin,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.merchant.example\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.to_string())
    }

    async fn call(
        m: &Merchant,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", m.port())).await.unwrap();
        exchange(tcp, method, path, headers, body).await
    }

    fn has(headers: &[(String, String)], name: &str, value: &str) -> bool {
        headers.iter().any(|(n, v)| n == name && v == value)
    }

    const AUTH: (&str, &str) = ("Authorization", "Bearer sk_test_12345678");

    #[tokio::test]
    async fn orders_are_idempotent_per_key() {
        let m = Merchant::start("sk_test_12345678").await;
        let body = r#"{"item":"tea","unit_price":"4.20","quantity":2,"participants":["a","b"]}"#;
        let key = ("Idempotency-Key", "k1");
        let (status, _, _) = call(&m, "POST", "/orders", &[key], body).await;
        assert_eq!(status, 401, "no key");
        let (status, _, _) = call(&m, "POST", "/orders", &[("Authorization", "Bearer nope"), key], body).await;
        assert_eq!(status, 401, "wrong key");
        let (status, _, _) = call(&m, "POST", "/orders", &[AUTH], body).await;
        assert_eq!(status, 400, "no Idempotency-Key");

        let (status, headers, first) = call(&m, "POST", "/orders", &[AUTH, key], body).await;
        assert_eq!(status, 201);
        assert!(!headers.iter().any(|(n, _)| n == "idempotent-replayed"));
        let first: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(first["order_id"], "ord-1");
        assert_eq!(first["quantity"], 2);

        let (status, headers, again) = call(&m, "POST", "/orders", &[AUTH, key], body).await;
        assert_eq!(status, 201);
        assert!(has(&headers, "idempotent-replayed", "true"));
        assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), first);

        let (status, _, _) = call(&m, "POST", "/orders", &[AUTH, key], r#"{"item":"other"}"#).await;
        assert_eq!(status, 422);
        assert_eq!(m.orders().len(), 1);

        // Fail after commit: the order exists, the answer is a 500, the retry gets the order.
        m.fail_next_orders_after_commit(1);
        let k2 = ("Idempotency-Key", "k2");
        let (status, _, _) = call(&m, "POST", "/orders", &[AUTH, k2], body).await;
        assert_eq!(status, 500);
        assert_eq!(m.orders().len(), 2);
        let (status, headers, order) = call(&m, "POST", "/orders", &[AUTH, k2], body).await;
        assert_eq!(status, 201);
        assert!(has(&headers, "idempotent-replayed", "true"));
        assert!(order.contains("ord-2"));
        assert_eq!(m.orders().len(), 2);

        let (status, _, order) = call(&m, "GET", "/orders/ord-2", &[AUTH], "").await;
        assert_eq!(status, 200);
        assert!(order.contains("\"k2\""));
        assert_eq!(call(&m, "GET", "/orders/ord-9", &[AUTH], "").await.0, 404);
        assert_eq!(m.requests().len(), 10);
        assert_eq!(m.requests()[3].header("idempotency-key"), Some("k1"));
    }

    #[tokio::test]
    async fn utility_routes() {
        let m = Merchant::start("k").await;
        assert_eq!(call(&m, "GET", "/ok", &[], "").await.2, "ok");
        let (status, headers, _) = call(
            &m,
            "GET",
            "/redirect?to=http%3A%2F%2F127.0.0.1%2Fok&status=307",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 307);
        assert!(has(&headers, "location", "http://127.0.0.1/ok"));
        let (_, headers, body) = call(&m, "GET", "/big?bytes=100000", &[], "").await;
        assert!(has(&headers, "content-length", "100000"));
        assert_eq!(body.len(), 100_000);
        let (_, headers, body) = call(&m, "GET", "/big-chunked?bytes=40000", &[], "").await;
        assert!(has(&headers, "transfer-encoding", "chunked"));
        assert!(body.len() > 40_000, "chunk framing included");
        let (_, headers, body) = call(&m, "GET", "/echo", &[("Authorization", "Bearer s3cr3t-value")], "").await;
        assert!(has(&headers, "x-echo-authorization", "Bearer s3cr3t-value"));
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["authorization"],
            "Bearer s3cr3t-value"
        );
        let started = std::time::Instant::now();
        assert_eq!(call(&m, "GET", "/slow?ms=200", &[], "").await.0, 200);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn serves_https_with_a_test_certificate() {
        let certs = test_certs(&["api.merchant.example"]);
        let m = Merchant::start_tls("k", &certs.cert_pem, &certs.key_pem).await;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(certs.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", m.port())).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("api.merchant.example").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .expect("the test CA vouches for the merchant");
        let (status, _, body) = exchange(tls, "GET", "/ok", &[], "").await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
}
