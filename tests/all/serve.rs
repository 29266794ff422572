//! `plaza serve`: the HTTP API of docs/api.md, in process (the library's `serve::Server` on a
//! temporary data dir) and through the `plaza` binary.
//!
//! Authorization is checked against the whole route table, not a sample: every community
//! route answers 403 to an admin of another community (and changes nothing), every
//! operator route answers 403 to an admin, every non-public route answers 401 without a
//! valid token. Also: a revoked token stops working at once (through the API and from the
//! CLI beside a running server), no token appears in the server's logs, body limits, media
//! types and malformed JSON, slow clients are cut off, a burst is served, and every route
//! is in the OpenAPI document.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plaza_host::engine::EngineSettings;
use plaza_host::serve::tokens::{self, NewToken, Role, TokenHash};
use plaza_host::serve::{route_table, Access, AppState, BodyKind, ServeOptions, Server, SqliteTokenStore};
use plaza_host::{Plaza, PlazaConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: one request per connection, so a test controls every byte
// ---------------------------------------------------------------------------------------------

/// A request body.
pub(crate) enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// An answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and the common error shape; answers the error code.
    fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        let body = self.json();
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("no error object: {body}"));
        assert_eq!(error.len(), 2, "{body}");
        assert!(
            !error["message"].as_str().unwrap().is_empty(),
            "an error says what was wrong: {body}"
        );
        error["code"].as_str().unwrap().to_string()
    }
}

fn request_bytes(method: &str, path: &str, token: Option<&str>, body: &Body) -> Vec<u8> {
    let (content_type, bytes) = match body {
        Body::None => (None, Vec::new()),
        Body::Json(v) => (Some("application/json"), serde_json::to_vec(v).unwrap()),
        Body::Raw(t, b) => (Some(*t).filter(|t| !t.is_empty()), b.clone()),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: plaza.test\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(t) = content_type {
        head.push_str(&format!("Content-Type: {t}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
    let mut out = head.into_bytes();
    out.extend(bytes);
    out
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = decoded;
    }
    Reply { status, headers, body }
}

/// Sends raw bytes on a new connection and reads the answer until the server closes it.
async fn send_raw(address: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse_reply(&raw)
}

pub(crate) async fn call(address: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Body) -> Reply {
    send_raw(address, &request_bytes(method, path, token, &body)).await
}

// ---------------------------------------------------------------------------------------------
// A server in this process
// ---------------------------------------------------------------------------------------------

struct TestServer {
    server: Option<Server>,
    address: SocketAddr,
    plaza: Arc<Plaza>,
    tokens: Arc<SqliteTokenStore>,
    operator: String,
    dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        TestServer::start_with(ServeOptions::default()).await
    }

    async fn start_with(options: ServeOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = PlazaConfig {
            engine: EngineSettings {
                cache_dir: Some(cache_dir()),
                ..EngineSettings::default()
            },
            retry: plaza_host::dispatch::RetryPolicy::no_retries(),
            ..PlazaConfig::default()
        };
        let plaza = Arc::new(Plaza::open(dir.path(), config).await.unwrap());
        let tokens = Arc::new(SqliteTokenStore::open(dir.path()).unwrap());
        let operator = NewToken {
            name: "ops".into(),
            role: Role::Operator,
            communities: Vec::new(),
        };
        let (_, secret) = tokens::create(&*tokens, &operator, 1).unwrap();
        let state = AppState::new(plaza.clone(), tokens.clone(), options);
        let server = Server::bind("127.0.0.1:0", state).await.unwrap();
        TestServer {
            address: server.address(),
            server: Some(server),
            plaza,
            tokens,
            operator: secret.expose().to_string(),
            dir,
        }
    }

    /// An admin token of `communities`.
    fn admin_of(&self, communities: &[&str]) -> String {
        let new = NewToken {
            name: format!("admin of {}", communities.join("+")),
            role: Role::Admin,
            communities: communities.iter().map(|c| c.to_string()).collect(),
        };
        tokens::create(&*self.tokens, &new, 2).unwrap().1.expose().to_string()
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Reply {
        call(self.address, method, path, token, body).await
    }

    async fn op(&self, method: &str, path: &str, body: Body) -> Reply {
        let token = self.operator.clone();
        self.call(method, path, Some(&token), body).await
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// The probe packaged with a manifest requesting `commands` and `caps`.
async fn probe_package(plaza: &Plaza, caps: &[&str]) -> Vec<u8> {
    packaged_probe(plaza, caps, &["command-invoked", "member-joined"]).await
}

/// Makes `path` of the route table concrete for community `c`.
fn concrete(path: &str, c: &str) -> String {
    path.replace("{c}", c)
        .replace("{p}", "probe")
        .replace("{capability}", "messages:send")
        .replace("{id}", "1")
}

/// A body of the kind a route takes.
fn body_for(kind: BodyKind, wasm: &[u8]) -> Body {
    match kind {
        BodyKind::None => Body::None,
        BodyKind::Json => Body::Json(json!({})),
        BodyKind::Wasm => Body::Raw("application/wasm", wasm.to_vec()),
    }
}

/// Community `b` with the probe installed (`messages:send` granted) and one dead letter.
async fn community_b(s: &TestServer) -> Vec<u8> {
    let wasm = probe_package(&s.plaza, &["messages:send"]).await;
    let probe = s.plaza.load_plugin(&wasm, "probe").await.unwrap();
    for c in ["a", "b"] {
        s.plaza.create_community(c).unwrap();
    }
    s.plaza
        .install("b", probe.clone(), probe.requested(), Vec::new())
        .await
        .unwrap();
    let r = s
        .plaza
        .dispatch(Events::new("b").message("m1", "alice", "/fail"))
        .await
        .unwrap();
    assert!(!r.invocations[0].outcome.is_ok());
    assert_eq!(s.plaza.dead_letters(Some("b"), None).unwrap().len(), 1);
    wasm
}

/// What an admin of `b` sees of `b` (to show a refused call changed nothing).
async fn state_of_b(s: &TestServer) -> (Value, Value, Value) {
    let plugins = s.op("GET", "/v1/communities/b/plugins", Body::None).await.json();
    let audit = s
        .op("GET", "/v1/communities/b/audit?limit=1000", Body::None)
        .await
        .json();
    let letters = s.op("GET", "/v1/communities/b/dead-letters", Body::None).await.json();
    (plugins, audit, letters)
}

// ---------------------------------------------------------------------------------------------
// Authorization over the whole route table
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_community_a_gets_403_on_every_endpoint_of_community_b() {
    let s = TestServer::start().await;
    let wasm = community_b(&s).await;
    let admin_a = s.admin_of(&["a"]);
    let admin_b = s.admin_of(&["b"]);
    let before = state_of_b(&s).await;

    let community_routes: Vec<_> = route_table()
        .into_iter()
        .filter(|r| r.access == Access::Community)
        .collect();
    assert!(community_routes.len() >= 20, "{community_routes:?}");
    for route in &community_routes {
        for c in ["b", "no-such-community"] {
            let path = concrete(route.path, c);
            let r = s
                .call(
                    route.method.as_str(),
                    &path,
                    Some(&admin_a),
                    body_for(route.body, &wasm),
                )
                .await;
            assert_eq!(r.error(403), "forbidden", "{} {path}", route.method);
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(&format!("not community `{c}`")), "{message}");
        }
    }
    assert_eq!(state_of_b(&s).await, before, "refused calls changed nothing in b");

    // Operator routes refuse admins too; routes for any token do not.
    for route in route_table().into_iter().filter(|r| r.access == Access::Operator) {
        let path = concrete(route.path, "a");
        let r = s
            .call(
                route.method.as_str(),
                &path,
                Some(&admin_a),
                body_for(route.body, &wasm),
            )
            .await;
        assert_eq!(r.error(403), "forbidden", "{} {path}", route.method);
    }
    let me = s.call("GET", "/v1/me", Some(&admin_a), Body::None).await;
    assert_eq!(
        me.json(),
        json!({"id": 2, "name": "admin of a", "role": "admin", "communities": ["a"]})
    );
    let listed = s
        .call("GET", "/v1/communities", Some(&admin_a), Body::None)
        .await
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a"], "an admin lists only its own communities");

    // The same calls with b's admin token pass authorization (whatever they answer then), so
    // the 403s above came from the community, not from the call.
    for route in &community_routes {
        let path = concrete(route.path, "b");
        let r = s
            .call(
                route.method.as_str(),
                &path,
                Some(&admin_b),
                body_for(route.body, &wasm),
            )
            .await;
        assert!(
            ![401, 403, 405].contains(&r.status),
            "{} {path}: {} {}",
            route.method,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_non_public_route_answers_401_without_a_valid_token() {
    let s = TestServer::start().await;
    let wasm = community_b(&s).await;
    let revoked = {
        let new = NewToken {
            name: "gone".into(),
            role: Role::Operator,
            communities: Vec::new(),
        };
        let (info, secret) = tokens::create(&*s.tokens, &new, 3).unwrap();
        plaza_host::serve::TokenStore::revoke(&*s.tokens, info.id, 4).unwrap();
        secret.expose().to_string()
    };
    let unknown = format!("plaz_{}", "0".repeat(64));
    let headers = [
        None,
        Some("Authorization: Basic b3BzOm9wcw==\r\n".to_string()),
        Some("Authorization: Bearer\r\n".to_string()),
        Some(format!("Authorization: Bearer {}\r\n", &s.operator[5..])),
        Some(format!("Authorization: Bearer {unknown}\r\n")),
        Some(format!("Authorization: Bearer {revoked}\r\n")),
    ];
    let routes = route_table();
    let mut checked = 0;
    for route in routes.iter().filter(|r| r.access != Access::Public) {
        let path = concrete(route.path, "b");
        for header in &headers {
            let mut bytes = request_bytes(route.method.as_str(), &path, None, &body_for(route.body, &wasm));
            if let Some(h) = header {
                let at = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
                bytes.splice(at..at, h.bytes());
            }
            let r = send_raw(s.address, &bytes).await;
            assert_eq!(
                r.error(401),
                "unauthenticated",
                "{} {path} with {header:?}",
                route.method
            );
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            checked += 1;
        }
    }
    assert!(checked >= 6 * 25);
    // Public routes need no token.
    for route in routes.iter().filter(|r| r.access == Access::Public) {
        let r = s.call(route.method.as_str(), route.path, None, Body::None).await;
        assert_eq!(r.status, 200, "{}", route.path);
    }
    let health = s.call("GET", "/healthz", None, Body::None).await;
    assert_eq!(health.json(), json!({"status": "ok"}));
    let console = s.call("GET", "/", None, Body::None).await;
    assert!(console.header("content-type").unwrap().starts_with("text/html"));
    assert!(console
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_working_at_once() {
    let s = TestServer::start().await;
    s.plaza.create_community("town").unwrap();
    let made = s
        .op(
            "POST",
            "/v1/tokens",
            Body::Json(json!({"name": "town admins", "role": "admin", "communities": ["town"]})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let (id, token) = (
        made["id"].as_u64().unwrap(),
        made["token"].as_str().unwrap().to_string(),
    );
    assert!(token.starts_with("plaz_") && token.len() == 69, "{token}");
    let me = s.call("GET", "/v1/me", Some(&token), Body::None).await;
    assert_eq!(me.json()["name"], "town admins");
    let plugins = s
        .call("GET", "/v1/communities/town/plugins", Some(&token), Body::None)
        .await;
    assert_eq!(plugins.json(), json!([]));

    // The list never shows a token or a hash.
    let list = s.op("GET", "/v1/tokens", Body::None).await.json();
    let hash = hex(&TokenHash::of(&token).unwrap().0);
    let text = list.to_string();
    assert!(!text.contains(&token[5..]) && !text.contains(&hash), "{text}");
    let entry = list.as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["communities", "created_ms", "id", "name", "revoked", "role"]);

    let revoked = s.op("DELETE", &format!("/v1/tokens/{id}"), Body::None).await;
    assert_eq!(revoked.json(), json!({"revoked": id}));
    let me = s.call("GET", "/v1/me", Some(&token), Body::None).await;
    assert_eq!(me.error(401), "unauthenticated");
    let plugins = s
        .call("GET", "/v1/communities/town/plugins", Some(&token), Body::None)
        .await;
    assert_eq!(plugins.error(401), "unauthenticated");
    let list = s.op("GET", "/v1/tokens", Body::None).await.json();
    assert_eq!(
        list.as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()["revoked"],
        true
    );
    assert_eq!(
        s.op("DELETE", "/v1/tokens/99", Body::None).await.error(404),
        "not-found"
    );

    // Bad token requests say what is wrong.
    for (body, code) in [
        (json!({"name": "x", "role": "admin", "communities": ["nowhere"]}), 404),
        (json!({"name": "x", "role": "admin"}), 400),
        (json!({"name": "x", "role": "operator", "communities": ["town"]}), 400),
        (json!({"name": "x", "role": "root"}), 400),
        (json!({"name": "x", "role": "operator", "scope": "all"}), 400),
    ] {
        let r = s.op("POST", "/v1/tokens", Body::Json(body.clone())).await;
        r.error(code);
    }
    s.stop().await;
}

/// The welcome-bot sample, packaged with its manifest.
fn welcome_bot_package() -> Vec<u8> {
    let bytes = std::fs::read(plaza_tests::WELCOME_BOT).unwrap();
    let manifest = std::fs::read_to_string(sample_manifest("welcome-bot")).unwrap();
    plaza_host::manifest::embed::embed(&bytes, &manifest).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The admin API does what the admin CLI does
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_policy_refusals_and_signer_status_through_the_api() {
    use plaza_host::signing::sign::sign_developer;
    use plaza_host::signing::SecretKey;
    let s = TestServer::start().await;
    s.plaza.create_community("town").unwrap();
    let admin = s.admin_of(&["town"]);
    let loose = s
        .call(
            "PUT",
            "/v1/communities/town/signing-policy",
            Some(&admin),
            Body::Json(json!({"policy": "developer-signed"})),
        )
        .await;
    assert_eq!(loose.status, 200);
    assert_eq!(loose.json()["signing_policy"], "developer-signed");

    let unsigned = probe_package(&s.plaza, &[]).await;
    let base = "/v1/communities/town/plugins";
    let refused = s
        .call(
            "POST",
            base,
            Some(&admin),
            Body::Raw("application/wasm", unsigned.clone()),
        )
        .await;
    let message = refused.error(422);
    assert_eq!(message, "package-refused");
    let text = refused.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        text.contains("rule `developer-signed`") && text.contains("`town`"),
        "{text}"
    );

    let developer = SecretKey::generate().unwrap();
    let signed = sign_developer(&unsigned, &developer, None, 1_700_000_000_000).unwrap();
    let installed = s
        .call("POST", base, Some(&admin), Body::Raw("application/wasm", signed))
        .await;
    assert_eq!(installed.status, 201, "{:?}", installed.json());
    let signing = &installed.json()["signing"];
    assert_eq!(signing["developer_key"], developer.public().fingerprint().as_str());
    assert_eq!(signing["signed_ms"], 1_700_000_000_000u64);
    assert_eq!(signing["review"], "unreviewed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_admin_manages_plugins_through_the_api() {
    let s = TestServer::start().await;
    let created = s.op("POST", "/v1/communities", Body::Json(json!({"id": "town"}))).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["id"], "town");
    assert_eq!(created.json()["review_fail_policy"], "fail-open");
    let again = s.op("POST", "/v1/communities", Body::Json(json!({"id": "town"}))).await;
    assert_eq!(again.error(409), "conflict");
    let bad = s.op("POST", "/v1/communities", Body::Json(json!({"id": " "}))).await;
    assert_eq!(bad.error(400), "bad-request");
    let admin = s.admin_of(&["town"]);
    let call = |method: &'static str, path: String, body: Body| {
        let admin = admin.clone();
        let address = s.address;
        async move { call(address, method, &path, Some(&admin), body).await }
    };
    let base = "/v1/communities/town/plugins".to_string();

    // Install: nothing granted unless asked; `grant` lists what is.
    let v1 = probe_package(&s.plaza, &["messages:send"]).await;
    let not_wasm = call(
        "POST",
        base.clone(),
        Body::Raw("application/wasm", b"not a component".to_vec()),
    )
    .await;
    assert_eq!(not_wasm.error(400), "bad-request");
    let wrong_type = call("POST", base.clone(), Body::Raw("application/octet-stream", v1.clone())).await;
    assert_eq!(wrong_type.error(415), "unsupported-media-type");
    let unknown_cap = call(
        "POST",
        format!("{base}?grant=messages:shout"),
        Body::Raw("application/wasm", v1.clone()),
    )
    .await;
    assert_eq!(unknown_cap.error(400), "bad-request");
    let installed = call(
        "POST",
        format!("{base}?grant=commands"),
        Body::Raw("application/wasm", v1.clone()),
    )
    .await;
    assert_eq!(installed.status, 201, "{}", String::from_utf8_lossy(&installed.body));
    let status = installed.json();
    assert_eq!(status["plugin"], "probe");
    assert_eq!(status["enabled"], true);
    let granted = |status: &Value, cap: &str| {
        status["requested"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["capability"] == cap)
            .unwrap_or_else(|| panic!("{cap} not requested: {status}"))["granted"]
            .as_bool()
            .unwrap()
    };
    assert!(granted(&status, "commands") && !granted(&status, "messages:send"));
    assert_eq!(status["delivery"]["cursor"], 0);
    assert_eq!(status["delivery"]["breaker"], "closed");
    assert!(status["requested"][0]["reason"].as_str().unwrap().starts_with("test"));
    let twice = call("POST", base.clone(), Body::Raw("application/wasm", v1.clone())).await;
    assert_eq!(twice.error(409), "conflict");

    // Grant and revoke one capability at a time.
    let p = format!("{base}/probe");
    let r = call("PUT", format!("{p}/grants/messages:send"), Body::None)
        .await
        .json();
    assert!(granted(&r, "messages:send"));
    let r = call("PUT", format!("{p}/grants/http:fetch"), Body::None).await;
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not request `http:fetch`"));
    assert_eq!(r.error(400), "bad-request");
    assert_eq!(
        call("PUT", format!("{p}/grants/nope"), Body::None).await.error(400),
        "bad-request"
    );
    let r = call("DELETE", format!("{p}/grants/messages:send"), Body::None)
        .await
        .json();
    assert!(!granted(&r, "messages:send"));
    assert_eq!(
        call("GET", format!("{base}/ghost"), Body::None).await.error(404),
        "not-found"
    );

    // The kill switch, configuration, limits.
    assert_eq!(
        call("POST", format!("{p}/disable"), Body::None).await.json()["enabled"],
        false
    );
    assert_eq!(
        call("POST", format!("{p}/enable"), Body::None).await.json()["enabled"],
        true
    );
    let r = call(
        "PUT",
        format!("{p}/config"),
        Body::Json(json!([{"key": "colour", "value": "red"}])),
    )
    .await;
    assert_eq!(r.error(400), "bad-request");
    let r = call("PUT", format!("{p}/config"), Body::Json(json!({"key": "colour"}))).await;
    assert_eq!(r.error(400), "bad-request");
    let r = call(
        "PUT",
        format!("{p}/limits"),
        Body::Json(json!({"cpu_ms": 100, "memory_mb": 32})),
    )
    .await;
    let limits = r.json()["limits"].clone();
    assert_eq!(limits["cpu_ms"], 100);
    assert_eq!(limits["overrides"], json!({"cpu_ms": 100, "memory_mb": 32}));
    let r = call("PUT", format!("{p}/limits"), Body::Json(json!({"cpu-ms": 100}))).await;
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown limit `cpu-ms`"));
    let r = call("PUT", format!("{p}/limits"), Body::Json(json!({"cpu_ms": 999_999}))).await;
    assert_eq!(r.error(400), "bad-request");

    // Upgrade with re-consent: a version asking for more waits for approval.
    assert_eq!(
        call("POST", format!("{p}/upgrade/approve"), Body::None)
            .await
            .error(409),
        "conflict"
    );
    let v2 = probe_package(&s.plaza, &["messages:send", "storage:kv"]).await;
    let r = call(
        "POST",
        format!("{p}/upgrade"),
        Body::Raw("application/wasm", v2.clone()),
    )
    .await
    .json();
    assert_eq!(r["outcome"]["upgrade"], "pending", "{r}");
    assert_eq!(r["outcome"]["added"], json!(["storage:kv"]));
    let pending = call("GET", p.clone(), Body::None).await.json();
    assert_eq!(pending["pending_upgrade"]["added"][0]["capability"], "storage:kv");
    let r = call("POST", format!("{p}/upgrade/reject"), Body::None).await.json();
    assert!(r["pending_upgrade"].is_null());
    call("POST", format!("{p}/upgrade"), Body::Raw("application/wasm", v2)).await;
    let r = call("POST", format!("{p}/upgrade/approve"), Body::None).await.json();
    assert!(granted(&r, "storage:kv"));
    // Back to v1: it asks for less, so it applies at once; another plugin is not an upgrade.
    let r = call(
        "POST",
        format!("{p}/upgrade"),
        Body::Raw("application/wasm", v1.clone()),
    )
    .await
    .json();
    assert_eq!(r["outcome"]["upgrade"], "applied", "{r}");
    let other = welcome_bot_package();
    let r = call("POST", format!("{p}/upgrade"), Body::Raw("application/wasm", other)).await;
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is plugin `welcome-bot`, not `probe`"));
    assert_eq!(r.error(400), "bad-request");

    // Breaker, review policy, audit, dead letters.
    let breaker = call("GET", format!("{p}/breaker"), Body::None).await.json();
    assert_eq!(breaker["state"], "closed");
    assert_eq!(
        call("POST", format!("{p}/breaker/reset"), Body::None).await.json()["state"],
        "closed"
    );
    let policy = call(
        "PUT",
        "/v1/communities/town/review-policy".into(),
        Body::Json(json!({"policy": "fail-closed"})),
    )
    .await;
    assert_eq!(policy.json()["review_fail_policy"], "fail-closed");
    let audit = call(
        "GET",
        "/v1/communities/town/audit?plugin=probe&limit=3".into(),
        Body::None,
    )
    .await
    .json();
    assert_eq!(audit.as_array().unwrap().len(), 3);
    let all = call("GET", "/v1/communities/town/audit".into(), Body::None)
        .await
        .json();
    let kinds: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "install",
        "grant",
        "revoke",
        "disable",
        "enable",
        "limits",
        "upgrade-pending",
        "reject-upgrade",
        "upgrade",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(
        call("GET", "/v1/communities/town/audit?limit=1001".into(), Body::None)
            .await
            .error(400),
        "bad-request"
    );
    assert_eq!(
        call("GET", "/v1/communities/town/dead-letters".into(), Body::None)
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        call("GET", "/v1/communities/town/dead-letters/7".into(), Body::None)
            .await
            .error(404),
        "not-found"
    );

    // Uninstall.
    assert_eq!(
        call("DELETE", p.clone(), Body::None).await.json(),
        json!({"uninstalled": "probe"})
    );
    assert_eq!(call("GET", p.clone(), Body::None).await.error(404), "not-found");
    assert_eq!(call("GET", base.clone(), Body::None).await.json(), json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_replayed_within_their_community_only() {
    let s = TestServer::start().await;
    community_b(&s).await;
    s.plaza.create_community("c").unwrap();
    let letters = s
        .op("GET", "/v1/communities/b/dead-letters?plugin=probe", Body::None)
        .await
        .json();
    let id = letters[0]["id"].as_u64().unwrap();
    assert_eq!(letters[0]["event"]["message_id"], "m1");
    let one = s
        .op("GET", &format!("/v1/communities/b/dead-letters/{id}"), Body::None)
        .await;
    assert_eq!(one.json()["id"], id);
    // Seen from another community the letter does not exist.
    let elsewhere = s
        .op("GET", &format!("/v1/communities/c/dead-letters/{id}"), Body::None)
        .await;
    assert_eq!(elsewhere.error(404), "not-found");
    let elsewhere = s
        .op(
            "POST",
            &format!("/v1/communities/c/dead-letters/{id}/replay"),
            Body::None,
        )
        .await;
    assert_eq!(elsewhere.error(404), "not-found");
    let bad = s.op("GET", "/v1/communities/b/dead-letters/seven", Body::None).await;
    assert_eq!(bad.error(400), "bad-request");
    let replayed = s
        .op(
            "POST",
            &format!("/v1/communities/b/dead-letters/{id}/replay"),
            Body::None,
        )
        .await;
    let replayed = replayed.json();
    assert_eq!(replayed["replayed"], id);
    assert!(replayed["sequence"].as_u64().unwrap() > 1);
    let status = s.op("GET", "/v1/status", Body::None).await.json();
    assert_eq!(status[0]["community"], "b");
    assert_eq!(status[0]["plugin"], "probe");
    let metrics = s.op("GET", "/metrics", Body::None).await;
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("plaza_lag_events{community=\"b\",plugin=\"probe\"}"),
        "{text}"
    );
    assert!(
        text.contains("plaza_http_ingest_answers_total{status=\"accepted\"} 0"),
        "{text}"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_each_event_in_order_once_it_is_on_disk() {
    let s = TestServer::start().await;
    s.plaza.create_community("town").unwrap();
    let joined = |id: &str| json!({"id": id, "community": "town", "type": "member-joined", "member": {"id": "ann"}});
    let one = s.op("POST", "/v1/events", Body::Json(joined("e1"))).await.json();
    assert_eq!(
        one,
        json!({"results": [{"status": "accepted", "id": "e1", "community": "town", "sequence": 1}]})
    );
    let batch = json!([
        joined("e2"),
        joined("e1"),
        {"id": "e3", "community": "nowhere", "type": "member-joined", "member": {"id": "x"}},
        {"id": "e4", "type": "member-joined", "member": {"id": "x"}},
        {"id": "e5", "community": "town", "type": "teleported"},
        7,
        {"id": "e6", "community": "town", "type": "plugin-installed", "config": []},
        joined("e7"),
    ]);
    let results = s.op("POST", "/v1/events", Body::Json(batch)).await.json()["results"].clone();
    let statuses: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "duplicate",
            "invalid",
            "invalid",
            "invalid",
            "invalid",
            "invalid",
            "accepted"
        ]
    );
    assert_eq!(results[1]["sequence"], 1, "a duplicate answers the first sequence");
    assert_eq!(results[7]["sequence"], 3);
    assert!(results[2]["error"]
        .as_str()
        .unwrap()
        .contains("community `nowhere` does not exist"));
    assert!(results[3]["error"]
        .as_str()
        .unwrap()
        .contains("`community` is required"));
    assert!(results[4]["error"]
        .as_str()
        .unwrap()
        .contains("unknown event type `teleported`"));
    assert_eq!(results[5]["index"], 5);
    assert!(results[6]["error"].as_str().unwrap().contains("created by the host"));

    // On disk: a second store over the same database sees the events.
    let reopened = plaza_host::storage::sqlite::SqliteStore::open(s.dir.path()).unwrap();
    use plaza_host::storage::log::DeliveryLog as _;
    assert_eq!(reopened.head("town").unwrap(), 3);
    assert_eq!(
        s.op("POST", "/v1/events", Body::Json(json!([]))).await.json(),
        json!({"results": []})
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_400_413_or_415_with_the_reason() {
    let options = ServeOptions {
        max_batch: 50,
        ..ServeOptions::default()
    };
    let s = TestServer::start_with(options).await;
    s.plaza.create_community("town").unwrap();
    let raw = |t: &'static str, b: &str| Body::Raw(t, b.as_bytes().to_vec());
    let r = s
        .op("POST", "/v1/events", raw("application/json", "{\"id\": \"e1\","))
        .await;
    assert_eq!(r.error(400), "bad-request");
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("malformed JSON") && message.contains("line 1 column"),
        "{message}"
    );
    let r = s.op("POST", "/v1/events", raw("application/json", "")).await;
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("empty"));
    let r = s.op("POST", "/v1/events", raw("application/json", "\"hello\"")).await;
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("one event object or an array"));
    assert_eq!(r.error(400), "bad-request");
    assert_eq!(
        s.op("POST", "/v1/events", raw("text/plain", "{}")).await.error(415),
        "unsupported-media-type"
    );
    assert_eq!(
        s.op("POST", "/v1/events", raw("", "{}")).await.error(415),
        "unsupported-media-type"
    );
    let ok = s
        .op("POST", "/v1/events", raw("application/json; charset=utf-8", "[]"))
        .await;
    assert_eq!(ok.status, 200);

    // Too many events, or too many bytes (refused from the header, before reading).
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"id": format!("e{i}"), "community": "town", "type": "member-joined", "member": {"id": "a"}}))
        .collect();
    let r = s.op("POST", "/v1/events", Body::Json(Value::Array(many))).await;
    assert_eq!(r.error(413), "payload-too-large");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        s.operator,
        (1 << 20) + 1
    );
    let r = send_raw(s.address, head.as_bytes()).await;
    assert_eq!(r.error(413), "payload-too-large");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 1048576 bytes"));
    let head = format!(
        "POST /v1/communities/town/plugins HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/wasm\r\nContent-Length: {}\r\n\r\n",
        s.operator,
        (16 << 20) + 1
    );
    assert_eq!(
        send_raw(s.address, head.as_bytes()).await.error(413),
        "payload-too-large"
    );

    // Unknown communities, routes and methods.
    assert_eq!(
        s.op("GET", "/v1/communities/nowhere/plugins", Body::None)
            .await
            .error(404),
        "not-found"
    );
    assert_eq!(s.op("GET", "/v1/nothing", Body::None).await.error(404), "not-found");
    assert_eq!(
        s.op("PATCH", "/v1/communities", Body::None).await.error(405),
        "method-not-allowed"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Robustness: slow clients, bursts
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_cut_off_and_others_are_served_meanwhile() {
    let options = ServeOptions {
        request_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let s = TestServer::start_with(options).await;
    s.plaza.create_community("town").unwrap();

    // Half the headers, then nothing: the server closes the connection.
    let start = Instant::now();
    let mut half_head = TcpStream::connect(s.address).await.unwrap();
    half_head
        .write_all(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Le")
        .await
        .unwrap();
    // Meanwhile another client is served.
    assert_eq!(s.call("GET", "/healthz", None, Body::None).await.status, 200);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), half_head.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server kept a half-sent request open");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // All headers and half the body: 408, and the connection is closed.
    let start = Instant::now();
    let mut half_body = TcpStream::connect(s.address).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n[{{\"id\":",
        s.operator
    );
    half_body.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), half_body.read_to_end(&mut raw))
        .await
        .expect("the server kept a half-sent body open")
        .unwrap();
    let r = parse_reply(&raw);
    assert_eq!(r.error(408), "timeout");
    assert!(start.elapsed() < Duration::from_secs(5));

    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(s.address).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut Vec::new())).await;
    assert!(read.is_ok(), "an idle connection stayed open");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_serving_under_a_burst() {
    // Fewer connection slots than clients: the rest wait to be accepted, none is dropped.
    let options = ServeOptions {
        max_connections: 16,
        ..ServeOptions::default()
    };
    let s = TestServer::start_with(options).await;
    s.plaza.create_community("town").unwrap();
    let clients = 200;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (address, token) = (s.address, s.operator.clone());
            tokio::spawn(async move {
                let events: Vec<Value> = (0..(1 + i % 5))
                    .map(|k| json!({"id": format!("b{i}-{k}"), "community": "town", "type": "member-joined", "member": {"id": "m"}}))
                    .collect();
                let count = events.len();
                let r = call(address, "POST", "/v1/events", Some(&token), Body::Json(Value::Array(events))).await;
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                let results = r.json()["results"].clone();
                assert!(results.as_array().unwrap().iter().all(|a| a["status"] == "accepted"), "{results}");
                count as u64
            })
        })
        .collect();
    let mut events = 0;
    for task in tasks {
        events += task.await.unwrap();
    }
    assert_eq!(s.plaza.store().head("town").unwrap(), events);
    assert_eq!(s.call("GET", "/healthz", None, Body::None).await.status, 200);
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document
// ---------------------------------------------------------------------------------------------

#[test]
fn every_route_is_in_the_openapi_document_with_its_role() {
    let doc: Value = serde_json::from_str(plaza_host::serve::OPENAPI).expect("docs/openapi.json is JSON");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = 0;
    for (_, item) in paths.iter() {
        documented += item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
            .count();
    }
    let routes = route_table();
    assert_eq!(
        documented,
        routes.len(),
        "the document has operations the router does not serve"
    );
    for route in routes {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &doc["paths"][route.path][&method];
        assert!(
            operation.is_object(),
            "{} {} is not in docs/openapi.json",
            route.method,
            route.path
        );
        assert_eq!(
            operation["x-plaza-role"].as_str(),
            Some(route.access.name()),
            "{} {}",
            route.method,
            route.path
        );
        let public = operation["security"] == json!([]);
        assert_eq!(
            public,
            route.access == Access::Public,
            "{} {} security",
            route.method,
            route.path
        );
        assert!(operation["responses"].is_object(), "{} {}", route.method, route.path);
        let media = &operation["requestBody"]["content"];
        match route.body {
            BodyKind::None => assert!(operation["requestBody"].is_null(), "{}", route.path),
            BodyKind::Json => assert!(media["application/json"].is_object(), "{}", route.path),
            BodyKind::Wasm => assert!(media["application/wasm"].is_object(), "{}", route.path),
        }
    }
    // Every schema a response or body refers to exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "missing schema {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The binary: `plaza serve`, `plaza token`, and no secret in its logs
// ---------------------------------------------------------------------------------------------

/// Runs `plaza ARGS --data-dir DIR`, asserting success; answers stdout.
fn plaza_ok(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(plaza_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "plaza {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A `plaza serve` child; killed if the test fails before stopping it. Its stderr is read
/// on a thread, so a chatty log level never fills the pipe and blocks the server.
struct Serving {
    child: Option<Child>,
    address: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serving {
    fn start(dir: &Path, log: &str, extra: &[&str]) -> Serving {
        let mut child = Command::new(plaza_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("PLAZA_CACHE_DIR", cache_dir())
            .env("PLAZA_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let listening: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(listening["status"], "listening");
        let address = listening["address"].as_str().unwrap().parse().unwrap();
        Serving {
            child: Some(child),
            address,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// SIGTERM; answers the last stdout line and all of stderr.
    fn stop(mut self) -> (Value, String) {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let status = child.wait().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        assert!(status.success(), "exit {status:?}: {stderr}");
        (
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}")),
            stderr,
        )
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn plaza_serve_and_plaza_token_share_the_token_table_and_a_cli_revoke_applies_at_once() {
    let dir = tempfile::tempdir().unwrap();
    plaza_ok(dir.path(), &["community", "create", "town"]);
    let made: Value = serde_json::from_str(&plaza_ok(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "admin",
            "-c",
            "town",
            "--name",
            "town admins",
            "--json",
        ],
    ))
    .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_u64().unwrap().to_string();
    let text = plaza_ok(dir.path(), &["token", "create", "--role", "operator", "--name", "ops"]);
    assert!(text.lines().any(|l| l.starts_with("plaz_")), "{text}");
    let list = plaza_ok(dir.path(), &["token", "list", "--json"]);
    assert!(!list.contains(&token[5..]), "{list}");
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap().as_array().unwrap().len(),
        2
    );

    let serving = Serving::start(dir.path(), "info", &[]);
    let rt = runtime();
    let me = rt.block_on(call(serving.address, "GET", "/v1/me", Some(&token), Body::None));
    assert_eq!(me.json()["communities"], json!(["town"]));
    let revoked = plaza_ok(dir.path(), &["token", "revoke", &id, "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&revoked).unwrap(),
        json!({"revoked": made["id"]})
    );
    let me = rt.block_on(call(serving.address, "GET", "/v1/me", Some(&token), Body::None));
    assert_eq!(me.error(401), "unauthenticated");
    let (stopped, _) = serving.stop();
    assert_eq!(stopped["status"], "stopped");

    let o = Command::new(plaza_bin())
        .args([
            "token",
            "create",
            "--role",
            "admin",
            "-c",
            "nowhere",
            "--name",
            "x",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("community `nowhere` does not exist"));
}

#[test]
fn no_token_or_token_hash_appears_in_the_server_log() {
    let dir = tempfile::tempdir().unwrap();
    plaza_ok(dir.path(), &["community", "create", "town"]);
    let made: Value = serde_json::from_str(&plaza_ok(
        dir.path(),
        &["token", "create", "--role", "operator", "--name", "ops", "--json"],
    ))
    .unwrap();
    let operator = made["token"].as_str().unwrap().to_string();
    // Everything the server can log, at every level.
    let serving = Serving::start(dir.path(), "trace", &[]);
    let address = serving.address;
    let rt = runtime();
    let unknown = format!("plaz_{}", "ab".repeat(32));
    let mut secrets = vec![operator.clone(), unknown.clone()];
    rt.block_on(async {
        assert_eq!(
            call(address, "GET", "/v1/me", Some(&operator), Body::None).await.status,
            200
        );
        assert_eq!(
            call(address, "GET", "/v1/me", Some(&unknown), Body::None).await.status,
            401
        );
        assert_eq!(
            call(address, "GET", "/v1/me", Some(&operator[5..]), Body::None)
                .await
                .status,
            401
        );
        let made = call(
            address,
            "POST",
            "/v1/tokens",
            Some(&operator),
            Body::Json(json!({"name": "town admins", "role": "admin", "communities": ["town"]})),
        )
        .await;
        let admin = made.json()["token"].as_str().unwrap().to_string();
        let forbidden = call(address, "GET", "/v1/tokens", Some(&admin), Body::None).await;
        assert_eq!(forbidden.status, 403);
        let events = json!([{"id": "e1", "community": "town", "type": "member-joined", "member": {"id": "a"}}]);
        let ingested = call(address, "POST", "/v1/events", Some(&operator), Body::Json(events)).await;
        assert_eq!(ingested.status, 200);
        let bad = call(
            address,
            "POST",
            "/v1/events",
            Some(&operator),
            Body::Raw("application/json", b"{".to_vec()),
        )
        .await;
        assert_eq!(bad.status, 400);
        secrets.push(admin);
    });
    let (_, stderr) = serving.stop();
    assert!(stderr.contains("request"), "the server logged its requests: {stderr}");
    for secret in &secrets {
        let hash = hex(&TokenHash::of(secret).unwrap().0);
        for needle in [&secret[5..], &hash[..], &hash[..16]] {
            assert!(!stderr.contains(needle), "a token or its hash is in the log");
        }
    }
    // The trace level did show request details, just not the secrets.
    assert!(stderr.contains("/v1/me"), "{stderr}");
}
