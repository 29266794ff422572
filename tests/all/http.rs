//! `http:fetch` in the real host, against the loopback merchant: the allowlist, the address
//! rules after DNS, redirects, caps, secrets, TLS, and what reports and the audit log keep.

use std::net::IpAddr;
use std::sync::Arc;

use plaza_host::host_api::http::policy::{AddressAllow, NetworkPolicy};
use plaza_host::host_api::http::HttpSettings;
use plaza_host::runtime::Plugin;
use plaza_host::storage::admin::{AuditEntry, AuditQuery};
use plaza_host::{InvocationReport, Plaza, PlazaConfig};

use crate::common::*;
use crate::merchant::{test_certs, Merchant};

const SHOP: &str = "api.merchant.example";
const OTHER: &str = "other.merchant.example";
const KEY: &str = "sk_test_merchant_0123456789";

fn plaza_with(http: HttpSettings) -> Plaza {
    let config = PlazaConfig {
        engine: plaza_host::engine::EngineSettings {
            cache_dir: Some(cache_dir()),
            ..Default::default()
        },
        retry: plaza_host::dispatch::RetryPolicy::no_retries(),
        http,
        ..PlazaConfig::default()
    };
    Plaza::new(config).unwrap()
}

/// The probe with a manifest that asks for `http:fetch` to `hosts` (and `moderation:review`).
async fn fetching_probe(plaza: &Plaza, hosts: &[&str]) -> Arc<Plugin> {
    let probe = load(plaza, plaza_tests::PROBE).await;
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    let mut text = format!(
        "[plugin]\nid = \"probe\"\nversion = \"0.0.1\"\napi = \"0.2.0\"\nauthors = [\"tests\"]\n\
         description = \"probe\"\n\n[capabilities]\n\"commands\" = {{ reason = \"test commands\" }}\n\
         \"moderation:review\" = {{ reason = \"review test\" }}\n\
         \"http:fetch\" = {{ reason = \"talks to the shop\", hosts = [{}] }}\n\n[events]\nsubscribe = [\"command-invoked\"]\n",
        hosts.join(", ")
    );
    for c in &probe.commands {
        text.push_str(&format!(
            "\n[[commands]]\nname = {:?}\ndescription = \"t\"\nusage = \"t\"\n",
            c.name
        ));
    }
    let bytes = std::fs::read(plaza_tests::PROBE).unwrap();
    let packaged = plaza_host::manifest::embed::embed(&bytes, &text).unwrap();
    plaza.load_plugin(&packaged, "probe (fetching)").await.unwrap()
}

struct Shop {
    plaza: Plaza,
    merchant: Merchant,
    ev: Events,
}

impl Shop {
    /// A community `c` with the fetching probe (allowlist: the shop and the other host), all
    /// granted, and a merchant on loopback.
    async fn open(http: HttpSettings) -> Shop {
        Shop::open_with(http, "all").await
    }

    async fn open_with(http: HttpSettings, grants: &str) -> Shop {
        let plaza = plaza_with(http);
        let probe = fetching_probe(&plaza, &[SHOP, OTHER]).await;
        community_with(&plaza, "c", &probe, grants).await;
        Shop {
            plaza,
            merchant: Merchant::start(KEY).await,
            ev: Events::new("c"),
        }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.merchant.port())
    }

    async fn command(&mut self, text: &str) -> InvocationReport {
        let id = format!("m{}", rand_suffix());
        let report = self.plaza.dispatch(self.ev.message(&id, "alice", text)).await.unwrap();
        let r = only(&report.invocations, "probe").clone();
        assert!(r.outcome.is_ok(), "{r:?}");
        r
    }

    fn audit(&self) -> Vec<AuditEntry> {
        self.plaza.audit_log(&AuditQuery::default()).unwrap()
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) + 1000
}

fn loopback() -> HttpSettings {
    HttpSettings::loopback_for_tests(&[SHOP, OTHER])
}

/// The probe's `fetch ...` log lines.
fn fetches(r: &InvocationReport) -> Vec<String> {
    logs(r).into_iter().filter(|l| l.starts_with("fetch ")).collect()
}

fn one_fetch(r: &InvocationReport) -> String {
    let lines = fetches(r);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

#[tokio::test]
async fn an_allowlisted_host_is_reached_at_its_vetted_address_and_audited() {
    let mut shop = Shop::open(loopback()).await;
    let url = shop.url(SHOP, "/ok?customer=ann");
    let r = shop.command(&format!("/fetch GET {url}")).await;
    assert!(one_fetch(&r).starts_with("fetch ok status=200 bytes=2"), "{r:?}");
    let seen = shop.merchant.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("host"),
        Some(format!("{SHOP}:{}", shop.merchant.port()).as_str())
    );
    assert!(seen[0].header("user-agent").unwrap().starts_with("plaza/"));
    let call = &r.http[0];
    assert_eq!(call.status, Some(200));
    assert_eq!(
        call.address.as_deref(),
        Some(format!("127.0.0.1:{}", shop.merchant.port()).as_str())
    );
    assert_eq!(call.via.as_deref(), Some(SHOP));
    // The query string stays out of reports and the audit log (it may carry personal data).
    assert_eq!(call.url, format!("http://{SHOP}:{}/ok", shop.merchant.port()));
    let audit = shop.audit();
    let entry = audit.iter().find(|e| e.kind == "http").expect("an http audit entry");
    assert_eq!(entry.outcome, "200");
    assert_eq!(entry.capability.as_deref(), Some("http:fetch"));
    assert!(
        entry.detail.starts_with(&format!("GET http://{SHOP}:")),
        "{}",
        entry.detail
    );
    assert!(!entry.detail.contains("customer"), "{}", entry.detail);
    let metrics = shop.plaza.render_metrics();
    assert!(
        metrics.contains(r#"plaza_http_requests_total{plugin="probe",outcome="2xx"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_without_the_operator_opening() {
    // The operator lets the names resolve to 127.0.0.1 and allows plain HTTP, but did not open
    // the address: the answer is vetted like any DNS answer.
    let mut settings = loopback();
    settings.policy.allow_addresses = AddressAllow::none();
    let mut shop = Shop::open(settings).await;
    let r = shop.command(&format!("/fetch GET {}", shop.url(SHOP, "/ok"))).await;
    let line = one_fetch(&r);
    assert!(
        line.contains("Denied(\"http:fetch: api.merchant.example resolves to 127.0.0.1"),
        "{line}"
    );
    assert!(shop.merchant.requests().is_empty(), "nothing was sent");
    assert_eq!(r.http[0].refused.as_deref(), Some("blocked-address"));
    let audit = shop.audit();
    let denied = audit.iter().find(|e| e.kind == "denied").expect("a denied entry");
    assert_eq!(denied.capability.as_deref(), Some("http:fetch"));
    assert!(denied.detail.starts_with("blocked-address: GET"), "{}", denied.detail);
    let metrics = shop.plaza.render_metrics();
    assert!(
        metrics.contains(r#"plaza_http_requests_total{plugin="probe",outcome="blocked-address"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_where_only_https_is_allowed() {
    let mut settings = loopback();
    settings.policy.http_hosts.clear();
    let mut shop = Shop::open(settings).await;
    let r = shop.command(&format!("/fetch GET {}", shop.url(SHOP, "/ok"))).await;
    let line = one_fetch(&r);
    assert!(
        line.contains("plain http:// is not allowed for api.merchant.example"),
        "{line}"
    );
    assert_eq!(r.http[0].refused.as_deref(), Some("insecure-http"));
    assert!(shop.merchant.requests().is_empty());
}

#[tokio::test]
async fn hosts_off_the_allowlist_and_address_literals_are_refused() {
    let mut shop = Shop::open(loopback()).await;
    let port = shop.merchant.port();
    for (url, rule) in [
        (format!("http://evil.example:{port}/ok"), "not-allowlisted"),
        (format!("http://127.0.0.1:{port}/ok"), "blocked-address"),
        (format!("http://[::ffff:127.0.0.1]:{port}/ok"), "blocked-address"),
        (format!("http://localhost:{port}/ok"), "blocked-name"),
        (format!("http://user@{SHOP}:{port}/ok"), "userinfo"),
    ] {
        let r = shop.command(&format!("/fetch GET {url}")).await;
        assert_eq!(r.http[0].refused.as_deref(), Some(rule), "{url}: {:?}", fetches(&r));
    }
    assert!(shop.merchant.requests().is_empty());
}

#[tokio::test]
async fn every_redirect_is_checked_again() {
    let mut settings = loopback();
    // The other allowlisted name now points inside the network.
    let inside: IpAddr = "10.1.2.3".parse().unwrap();
    settings.resolve.insert(OTHER.into(), vec![inside]);
    // Every hop is a request for the per-minute budget; this test makes many.
    settings.limits.requests_per_minute = 6000;
    let mut shop = Shop::open(settings).await;
    let port = shop.merchant.port();
    let base = shop.url(SHOP, "/redirect");
    let via = |to: &str| format!("{base}?to={}&status=302", encode(to));

    // Same origin: followed.
    let r = shop
        .command(&format!("/fetch GET {}", via(&format!("http://{SHOP}:{port}/ok"))))
        .await;
    assert!(one_fetch(&r).starts_with("fetch ok status=200"), "{:?}", fetches(&r));
    assert_eq!(r.http[0].redirects, 1);

    // To an address literal, to a name off the allowlist, to an allowlisted name that resolves
    // inside: each refused at the hop, before anything is sent there.
    for (to, rule) in [
        (format!("http://127.0.0.1:{port}/ok"), "blocked-address"),
        (
            format!("http://169.254.169.254:{port}/latest/meta-data"),
            "blocked-address",
        ),
        (format!("http://evil.example:{port}/ok"), "not-allowlisted"),
        (format!("http://{OTHER}:{port}/ok"), "blocked-address"),
    ] {
        let before = shop.merchant.requests().len();
        let r = shop.command(&format!("/fetch GET {}", via(&to))).await;
        assert_eq!(r.http[0].refused.as_deref(), Some(rule), "{to}: {:?}", fetches(&r));
        assert!(one_fetch(&r).contains("redirect from"), "{:?}", fetches(&r));
        assert_eq!(
            shop.merchant.requests().len(),
            before + 1,
            "only the first hop was sent"
        );
    }

    // A redirect loop ends.
    let r = shop
        .command(&format!("/fetch GET {}", via(&via(&via(&via(&via(&via("/ok"))))))))
        .await;
    assert_eq!(
        r.http[0].refused.as_deref(),
        Some("too-many-redirects"),
        "{:?}",
        fetches(&r)
    );
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn oversized_and_slow_responses_are_typed_errors() {
    let mut settings = loopback();
    settings.limits.response_body_bytes = 1000;
    settings.limits.request_body_bytes = 16;
    let mut shop = Shop::open(settings).await;
    for path in ["/big?bytes=5000", "/big-chunked?bytes=5000"] {
        let r = shop.command(&format!("/fetch GET {}", shop.url(SHOP, path))).await;
        assert!(
            one_fetch(&r).contains("QuotaExceeded(\"the response from api.merchant.example is larger than 1000 bytes"),
            "{path}: {:?}",
            fetches(&r)
        );
        assert_eq!(r.http[0].refused.as_deref(), Some("response-body"));
    }
    let r = shop
        .command(&format!("/fetch GET {}", shop.url(SHOP, "/big?bytes=1000")))
        .await;
    assert!(
        one_fetch(&r).starts_with("fetch ok status=200 bytes=1000"),
        "{:?}",
        fetches(&r)
    );

    let r = shop
        .command(&format!(
            "/fetch POST {} body=0123456789abcdefXYZ",
            shop.url(SHOP, "/ok")
        ))
        .await;
    assert!(
        one_fetch(&r).contains("QuotaExceeded(\"the request body is 19 bytes; at most 16"),
        "{:?}",
        fetches(&r)
    );

    let r = shop
        .command(&format!("/fetch GET {} timeout=200", shop.url(SHOP, "/slow?ms=3000")))
        .await;
    assert!(
        one_fetch(&r).contains("Unavailable(\"api.merchant.example did not answer within 200 ms"),
        "{:?}",
        fetches(&r)
    );
    assert_eq!(r.http[0].refused.as_deref(), Some("timeout"));
}

#[tokio::test]
async fn waiting_on_http_counts_against_the_wall_clock_not_the_cpu_budget() {
    // Default budgets: 200 ms of CPU, 2 s of wall clock. A 5 s answer is cut off before the
    // invocation's deadline, as an error the plugin handles, and the invocation succeeds.
    let mut shop = Shop::open(loopback()).await;
    let r = shop
        .command(&format!("/fetch GET {}", shop.url(SHOP, "/slow?ms=5000")))
        .await;
    let line = one_fetch(&r);
    assert!(line.contains("did not answer within 19"), "{line}");
    assert!(r.duration_us < 2_000_000, "{}", r.duration_us);
    // 600 ms of waiting is far past the CPU budget, and costs none of it.
    let r = shop
        .command(&format!("/fetch GET {}", shop.url(SHOP, "/slow?ms=600")))
        .await;
    assert!(one_fetch(&r).starts_with("fetch ok status=200"), "{:?}", fetches(&r));
}

#[tokio::test]
async fn requests_per_event_and_per_minute_are_capped() {
    let mut settings = loopback();
    settings.limits.requests_per_event = 3;
    let mut shop = Shop::open(settings).await;
    let r = shop.command(&format!("/fetch-many 5 {}", shop.url(SHOP, "/ok"))).await;
    let lines = fetches(&r);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("fetch ok")).count(),
        3,
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("QuotaExceeded(\"at most 3 HTTP requests per event"))
            .count(),
        2,
        "{lines:?}"
    );
    assert_eq!(shop.merchant.requests().len(), 3);
    let audit = shop.audit();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == "http" && e.outcome == "requests-per-event")
            .count(),
        2
    );

    let mut settings = loopback();
    settings.limits.requests_per_minute = 6; // a burst of 1
    let mut shop = Shop::open(settings).await;
    let r = shop.command(&format!("/fetch-many 2 {}", shop.url(SHOP, "/ok"))).await;
    let lines = fetches(&r);
    assert!(lines[0].starts_with("fetch ok"), "{lines:?}");
    assert!(lines[1].starts_with("fetch error RateLimited("), "{lines:?}");
}

#[tokio::test]
async fn a_plugin_without_the_grant_is_denied() {
    let mut shop = Shop::open_with(loopback(), "commands").await;
    let r = shop.command(&format!("/fetch GET {}", shop.url(SHOP, "/ok"))).await;
    assert_eq!(one_fetch(&r), "fetch error Denied(\"http:fetch\")");
    assert_eq!(r.denied[0].capability, "http:fetch");
    assert!(r.http.is_empty() && shop.merchant.requests().is_empty());
}

#[tokio::test]
async fn the_review_hook_cannot_fetch() {
    let shop = Shop::open(loopback()).await;
    let mut ev = Events::new("c");
    let plaza_host::event::EventKind::MessagePosted(message) = ev
        .message("m1", "alice", &format!("fetch {}", shop.url(SHOP, "/ok")))
        .kind
    else {
        unreachable!()
    };
    let review = shop.plaza.review("c", &message, 1_767_225_600_000).await.unwrap();
    let line = logs(&review.invocations[0]).join("\n");
    assert!(
        line.contains("Unavailable(\"outbound HTTP is not available in the review hook"),
        "{line}"
    );
    assert!(shop.merchant.requests().is_empty());
}

#[tokio::test]
async fn secrets_fill_headers_for_their_hosts_and_never_show() {
    let mut shop = Shop::open(loopback()).await;
    shop.plaza
        .set_secret("c", "probe", "merchant_key", KEY, &[SHOP.to_string()])
        .unwrap();
    let r = shop
        .command(&format!(
            "/fetch GET {} Authorization=Bearer{{{{secret:merchant_key}}}}",
            shop.url(SHOP, "/echo")
        ))
        .await;
    let seen = shop.merchant.requests();
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer{KEY}").as_str()));
    // The merchant echoed the key back in a header and the body: the plugin sees the placeholder.
    let line = one_fetch(&r);
    assert!(
        line.contains("x-echo-authorization: Bearer{{secret:merchant_key}}"),
        "{line}"
    );
    assert!(!line.contains(KEY), "{line}");

    // Not to a host outside its scope, even an allowlisted one.
    let r = shop
        .command(&format!(
            "/fetch GET {} Authorization={{{{secret:merchant_key}}}}",
            shop.url(OTHER, "/echo")
        ))
        .await;
    assert_eq!(r.http[0].refused.as_deref(), Some("secret-scope"), "{:?}", fetches(&r));
    // An unknown secret is the plugin's mistake.
    let r = shop
        .command(&format!(
            "/fetch GET {} X-Key={{{{secret:nope}}}}",
            shop.url(SHOP, "/echo")
        ))
        .await;
    assert!(
        one_fetch(&r).contains("Invalid(\"header \\\"X-Key\\\": no secret named"),
        "{:?}",
        fetches(&r)
    );

    // Across origins a redirect drops the credentials.
    shop.plaza.set_secret("c", "probe", "merchant_key", KEY, &[]).unwrap();
    let to = encode(&shop.url(OTHER, "/echo"));
    let before = shop.merchant.requests().len();
    let r = shop
        .command(&format!(
            "/fetch GET {} Authorization={{{{secret:merchant_key}}}}",
            shop.url(SHOP, &format!("/redirect?to={to}&status=307"))
        ))
        .await;
    assert!(one_fetch(&r).starts_with("fetch ok status=200"), "{:?}", fetches(&r));
    let seen = shop.merchant.requests();
    assert_eq!(seen.len(), before + 2);
    assert!(seen[before].header("authorization").is_some());
    assert_eq!(seen[before + 1].header("authorization"), None, "dropped across origins");

    // Nowhere in the audit log, the reports or the listing.
    let audit = serde_json::to_string(&shop.audit()).unwrap();
    assert!(!audit.contains(KEY));
    assert!(audit.contains("merchant_key"), "setting it is audited by name");
    assert!(!serde_json::to_string(&r).unwrap().contains(KEY));
    let listed = shop.plaza.secrets("c", "probe").unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!serde_json::to_string(&listed).unwrap().contains(KEY));

    // Admin mistakes are explained.
    let e = shop
        .plaza
        .set_secret("c", "probe", "k", "short", &[])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("plugin `probe` in community `c`: secret \"k\""), "{e}");
    let e = shop
        .plaza
        .set_secret("c", "probe", "k", KEY, &["evil.example".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("evil.example is not on the install's allowlist"), "{e}");
    assert!(shop.plaza.remove_secret("c", "probe", "merchant_key").unwrap());
    assert!(shop.plaza.secrets("c", "probe").unwrap().is_empty());
}

#[tokio::test]
async fn https_with_an_operator_ca_and_the_vetted_address() {
    let certs = test_certs(&[SHOP]);
    let merchant = Merchant::start_tls(KEY, &certs.cert_pem, &certs.key_pem).await;
    let loopback: IpAddr = [127, 0, 0, 1].into();
    let settings = |extra_roots_pem: Vec<String>| HttpSettings {
        policy: NetworkPolicy {
            allow_addresses: AddressAllow::parse(["127.0.0.1"]).unwrap(),
            ..NetworkPolicy::default()
        },
        resolve: [(SHOP.to_string(), vec![loopback])].into_iter().collect(),
        extra_roots_pem,
        ..HttpSettings::default()
    };
    let url = format!("https://{SHOP}:{}/ok", merchant.port());

    let plaza = plaza_with(settings(vec![certs.ca_pem.clone()]));
    let probe = fetching_probe(&plaza, &[SHOP]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let mut ev = Events::new("c");
    let report = plaza
        .dispatch(ev.message("m1", "alice", &format!("/fetch GET {url}")))
        .await
        .unwrap();
    let r = only(&report.invocations, "probe");
    assert!(one_fetch(r).starts_with("fetch ok status=200"), "{:?}", fetches(r));

    // Without the operator's CA the certificate is not trusted.
    let plaza = plaza_with(settings(Vec::new()));
    let probe = fetching_probe(&plaza, &[SHOP]).await;
    community_with(&plaza, "c", &probe, "all").await;
    let report = plaza
        .dispatch(ev.message("m2", "alice", &format!("/fetch GET {url}")))
        .await
        .unwrap();
    let r = only(&report.invocations, "probe");
    assert_eq!(r.http[0].refused.as_deref(), Some("tls"), "{:?}", fetches(r));
}

#[tokio::test]
async fn an_upgrade_that_reaches_more_hosts_waits_for_approval() {
    let mut shop = Shop::open(HttpSettings::loopback_for_tests(&[SHOP, OTHER])).await;
    // Serving: a version that may reach only the shop.
    let narrow = fetching_probe(&shop.plaza, &[SHOP]).await;
    let wide = fetching_probe(&shop.plaza, &[SHOP, OTHER]).await;
    shop.plaza.uninstall("c", "probe").await.unwrap();
    community_with(&shop.plaza, "c", &narrow, "all").await;
    let outcome = shop.plaza.upgrade("c", wide).await.unwrap();
    let plaza_host::admin::UpgradeOutcome::Pending { added, added_hosts, .. } = outcome else {
        panic!("a wider allowlist must wait: {outcome:?}")
    };
    assert!(added.is_empty());
    assert_eq!(added_hosts, [OTHER]);
    let status = shop.plaza.plugin_statuses("c").unwrap();
    assert_eq!(status[0].pending_upgrade.as_ref().unwrap().added_hosts, [OTHER]);
    assert_eq!(status[0].http.as_ref().unwrap().hosts, [SHOP]);
    // Until the admin approves, the old allowlist holds.
    let r = shop.command(&format!("/fetch GET {}", shop.url(OTHER, "/ok"))).await;
    assert_eq!(
        r.http[0].refused.as_deref(),
        Some("not-allowlisted"),
        "{:?}",
        fetches(&r)
    );
    shop.plaza.approve_upgrade("c", "probe").await.unwrap();
    let r = shop.command(&format!("/fetch GET {}", shop.url(OTHER, "/ok"))).await;
    assert!(one_fetch(&r).starts_with("fetch ok status=200"), "{:?}", fetches(&r));
}

/// Runs the `plaza` binary with `stdin`.
fn plaza_cli(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(plaza_bin())
        .args(args)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .env_remove("PLAZA_SECRETS_KEY_FILE")
        .env_remove("PLAZA_OPERATOR_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn secrets_from_the_cli_are_sealed_at_rest_and_the_policy_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut all = args.to_vec();
        if args[0] != "package" {
            all.extend(["--data-dir", data_dir]);
        }
        let out = plaza_cli(&all, stdin);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // Unsigned packages, for this test; the strict HTTP default is what status shows.
    allow_unsigned(&data);
    let (ok, text) = run(&["status"], "");
    assert!(ok, "{text}");
    assert!(
        text.contains("outbound HTTP: HTTPS only; private addresses blocked; up to 5 redirects"),
        "{text}"
    );

    let packaged = dir.path().join("group-buy.wasm");
    let (ok, text) = run(
        &[
            "package",
            plaza_tests::GROUP_BUY,
            "--manifest",
            &sample_manifest("group-buy"),
            "-o",
            packaged.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{text}");
    assert!(run(&["community", "create", "c"], "").0);
    let (ok, text) = run(
        &["install", packaged.to_str().unwrap(), "-c", "c", "--grant", "all"],
        "",
    );
    assert!(ok, "{text}");

    // No key yet: setting a secret says how to make one.
    let (ok, text) = run(&["secret", "set", "-c", "c", "-p", "group-buy", "merchant_key"], KEY);
    assert!(!ok && text.contains("plaza secret new-key"), "{text}");

    let key = dir.path().join("secrets.key");
    let (ok, text) = run(&["secret", "new-key", "--out", key.to_str().unwrap()], "");
    assert!(ok, "{text}");
    std::fs::write(
        data.join("operator.toml"),
        format!(
            "[signing]\npolicy = \"unsigned-allowed\"\n\n[secrets]\nkey_file = {:?}\n\n[http]\nallow_addresses = [\"127.0.0.1\"]\nplain_http_hosts = [\"{SHOP}\"]\n",
            key.to_str().unwrap()
        ),
    )
    .unwrap();
    let (ok, text) = run(
        &[
            "secret",
            "set",
            "-c",
            "c",
            "-p",
            "group-buy",
            "merchant_key",
            "--host",
            SHOP,
        ],
        &format!("{KEY}\n"),
    );
    assert!(ok, "{text}");
    let (ok, text) = run(&["secret", "list", "-c", "c", "-p", "group-buy"], "");
    assert!(ok && text.contains("merchant_key") && text.contains(SHOP), "{text}");
    assert!(!text.contains(KEY), "{text}");
    let (ok, text) = run(&["status"], "");
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "outbound HTTP: plain HTTP allowed for api.merchant.example; PRIVATE ADDRESSES ALLOWED: 127.0.0.1/32"
        ),
        "{text}"
    );
    let (_, text) = run(&["plugins", "-c", "c", "--json"], "");
    assert!(text.contains("merchant_key") && !text.contains(KEY), "{text}");
    let (_, text) = run(&["audit", "-c", "c", "--json"], "");
    assert!(text.contains("merchant_key") && !text.contains(KEY), "{text}");

    // Nothing on disk holds the value in the clear.
    for entry in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
    }
    // A key that others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, text) = run(&["secret", "list", "-c", "c", "-p", "group-buy"], "");
        assert!(!ok && text.contains("chmod 600"), "{text}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, text) = run(&["secret", "rm", "-c", "c", "-p", "group-buy", "merchant_key"], "");
    assert!(ok, "{text}");
    let (_, text) = run(&["secret", "list", "-c", "c", "-p", "group-buy"], "");
    assert!(text.contains("no secrets"), "{text}");
}
