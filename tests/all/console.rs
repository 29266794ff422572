//! The web console (`/`, `/console.js`, `/console.css` of `plaza serve`) in a real headless
//! Chromium, driven over WebDriver (chromedriver + fantoccini).
//!
//! The test prepares a data dir with the CLI, starts `plaza serve` on it, and then does what a
//! community admin does in the browser: sign in with a token, read what a plugin asks for and
//! why, grant and revoke, use the kill switch, read the activity log, replay a failed event,
//! switch communities, sign out. It checks what the page shows and, through the REST API, what
//! the server's state is afterwards.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages
//! (`.ci/run` installs them); `PLAZA_CHROMIUM` and `PLAZA_CHROMEDRIVER` point elsewhere. When
//! they cannot start, this test fails and says so; the other tests do not depend on them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{cache_dir, plaza_bin};

/// How long the page gets to show something before a check fails.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// The flags Chromium needs here: headless, no sandbox (root, containers), nothing that
/// reaches out to the network on its own.
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A child process killed, with its whole process group, when the guard is dropped (also when
/// the test panics), so no server, driver or browser outlives the test.
struct KillOnDrop {
    child: Child,
    /// Whether the child leads its own process group (the browser runs in the driver's).
    group: bool,
}

impl KillOnDrop {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.group {
            // SAFETY: kill(2) with the negated id of a process group this test created.
            unsafe {
                libc::kill(-self.pid(), libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

/// Runs `plaza ARGS --data-dir DATA` and returns its output; panics with stderr on failure.
fn plaza(data: &Path, args: &[&str]) -> Output {
    let o = Command::new(plaza_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "plaza {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The token that `plaza token create ...` printed (once): a JSON answer's `token`, or the
/// word that starts with the token prefix.
fn created_token(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    if let Some(token) = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find_map(|v| v["token"].as_str().map(str::to_string))
    {
        return token;
    }
    out.split(|c: char| c.is_whitespace() || c == '"' || c == '`' || c == '\'')
        .find(|w| w.starts_with("plaz_"))
        .unwrap_or_else(|| panic!("no token in the output of `plaza token create`: {out}"))
        .trim_end_matches(['.', ',', ';'])
        .to_string()
}

/// A sample plugin packaged with its manifest, as its developer ships it.
fn package(component: &str, id: &str, out: &Path) -> PathBuf {
    let path = out.join(format!("{id}.wasm"));
    let manifest = crate::common::sample_manifest(id);
    let o = Command::new(plaza_bin())
        .args(["package", component, "--manifest", &manifest, "-o"])
        .arg(&path)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

/// `plaza serve` on a data dir, on a port the OS picked.
struct Server {
    base: String,
    stderr: PathBuf,
    _process: KillOnDrop,
}

impl Server {
    fn start(data: &Path, logs: &Path) -> Server {
        let stderr = logs.join("serve.stderr");
        let mut child = Command::new(plaza_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("PLAZA_CACHE_DIR", cache_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting plaza serve");
        let stdout = child.stdout.take().unwrap();
        let process = KillOnDrop { child, group: false };
        // The first stdout line says where it listens; later lines are drained so the server
        // never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!(
                "plaza serve printed no line within 60 s; its stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        let listening: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("plaza serve's first line is not JSON ({e}): {line}"));
        assert_eq!(listening["status"], "listening", "{line}");
        let address = listening["address"].as_str().expect("an address").to_string();
        Server {
            base: format!("http://{address}/"),
            stderr,
            _process: process,
        }
    }

    /// A REST call as `token`: the status and the JSON answer (HTTP/1.0, so the body is
    /// simply what follows the headers).
    fn api(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let address = self.base.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = TcpStream::connect(address).expect("connecting to plaza serve");
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in: {head}"));
        let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        (status, value)
    }

    /// A REST GET that must succeed.
    fn get(&self, path: &str, token: &str) -> Value {
        let (status, value) = self.api("GET", path, token, None);
        assert_eq!(
            status,
            200,
            "GET {path}: {value}\nserver stderr:\n{}",
            self.stderr_text()
        );
        value
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Chromium under chromedriver, and the WebDriver session.
struct Browser {
    client: Client,
    _driver: KillOnDrop,
    _profile: tempfile::TempDir,
}

/// A program from an environment variable, else its usual path.
fn program(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session, or says
    /// in words why it could not.
    async fn start(logs: &Path) -> Result<Browser, String> {
        let driver = program("PLAZA_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("PLAZA_CHROMIUM", "/usr/bin/chromium");
        let install = "install them with `apt-get install -y chromium chromium-driver` \
                       (or set PLAZA_CHROMIUM and PLAZA_CHROMEDRIVER)";
        for path in [&driver, &chromium] {
            if !path.exists() {
                return Err(format!("{} does not exist: {install}", path.display()));
            }
        }
        let port = free_port();
        let log = logs.join("chromedriver.log");
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which the browser joins: the guard ends them together.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {}: {e}; {install}", driver.display()))?;
        let mut driver_process = KillOnDrop { child, group: true };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver_process.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening; its log:\n{}",
                    driver.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "{} did not listen on port {port} within 30 s",
                    driver.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=1280,900".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), json!({"binary": chromium, "args": args}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                format!(
                    "starting {} through {}: {e}; chromedriver's log:\n{}",
                    chromium.display(),
                    driver.display(),
                    tail(&std::fs::read_to_string(&log).unwrap_or_default(), 40)
                )
            })?;
        Ok(Browser {
            client,
            _driver: driver_process,
            _profile: profile,
        })
    }
}

/// The last `n` lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A CSS selector for a `data-testid`.
fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// Page helpers over the WebDriver client.
struct Page<'a> {
    client: &'a Client,
}

impl Page<'_> {
    /// Runs a script (its `arguments` are `args`) and returns its value.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// The text of the first element matching `css`, or None when there is none.
    async fn text(&self, css: &str) -> Option<String> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                vec![json!(css)],
            )
            .await;
        v.as_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// An attribute of the first element matching `css`.
    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
                vec![json!(css), json!(name)],
            )
            .await;
        v.as_str().map(str::to_string)
    }

    /// What the page's main area and messages say, for failure messages.
    async fn visible_text(&self) -> String {
        self.js("return document.body.innerText;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the element matching `css` exists and its text contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(text) = self.text(css).await {
                if text.contains(needle) {
                    return text;
                }
            }
            if started.elapsed() > PAGE_TIMEOUT {
                panic!(
                    "waited {PAGE_TIMEOUT:?} for {css} to say {needle:?}; it says {:?}; the page says:\n{}",
                    self.text(css).await,
                    self.visible_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an attribute of the element matching `css` has `value`.
    async fn wait_attr(&self, css: &str, name: &str, value: &str) {
        let started = Instant::now();
        while self.attr(css, name).await.as_deref() != Some(value) {
            if started.elapsed() > PAGE_TIMEOUT {
                panic!(
                    "waited {PAGE_TIMEOUT:?} for {css} to have {name}={value:?}; it has {:?}; the page says:\n{}",
                    self.attr(css, name).await,
                    self.visible_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching `css` exists and can be seen.
    async fn wait_visible(&self, css: &str) {
        let script = "const e = document.querySelector(arguments[0]); \
                      return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;";
        let started = Instant::now();
        while self.js(script, vec![json!(css)]).await != json!(true) {
            if started.elapsed() > PAGE_TIMEOUT {
                panic!(
                    "waited {PAGE_TIMEOUT:?} for {css} to show; the page says:\n{}",
                    self.visible_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css` as a user does (WebDriver click: it must be visible
    /// and not covered).
    async fn click(&self, css: &str) {
        self.wait_visible(css).await;
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Focuses the element matching `css` and presses keys on it (keyboard use).
    async fn press(&self, css: &str, keys: &str) {
        self.wait_visible(css).await;
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("typing on {css}: {e}"));
    }

    /// Whether the confirmation dialog is open.
    async fn dialog_open(&self) -> bool {
        self.js("return document.getElementById('confirm').open;", vec![]).await == json!(true)
    }

    /// No horizontal scrolling: the page fits the window.
    async fn assert_fits(&self, what: &str) {
        let widths = self
            .js(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await;
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= client,
            "{what} scrolls sideways on a narrow screen: {scroll} > {client}"
        );
    }

    /// Saves a screenshot into `dir` and returns its path.
    async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// Everything `plaza plugins -c town` would show, from the REST API: one install's status.
fn plugin_status(server: &Server, token: &str, community: &str, plugin: &str) -> Value {
    server.get(&format!("/v1/communities/{community}/plugins/{plugin}"), token)
}

fn granted(status: &Value, capability: &str) -> bool {
    status["requested"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["capability"] == capability)
        .unwrap_or_else(|| panic!("{capability} is not requested: {status}"))["granted"]
        == true
}

/// The data dir the browser test works on: communities `town` (poll, and the probe with one
/// failed event) and `village` (welcome-bot), and tokens: an operator's, an admin's of
/// `town`, and an admin's of both.
struct Fixture {
    operator: String,
    town_admin: String,
}

async fn prepare(data: &Path, work: &Path) -> Fixture {
    crate::common::allow_unsigned(data);
    let poll = package(plaza_tests::POLL, "poll", work);
    let welcome = package(plaza_tests::WELCOME_BOT, "welcome-bot", work);
    let host = crate::common::plaza();
    let probe = crate::common::packaged_probe(&host, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    let probe_path = work.join("probe.wasm");
    std::fs::write(&probe_path, probe).unwrap();

    plaza(data, &["community", "create", "town"]);
    plaza(data, &["community", "create", "village"]);
    // poll gets two of the four things it asks for: messages:send and schedule stay off.
    plaza(
        data,
        &[
            "install",
            poll.to_str().unwrap(),
            "-c",
            "town",
            "--grant",
            "commands,storage:kv",
        ],
    );
    plaza(
        data,
        &[
            "install",
            probe_path.to_str().unwrap(),
            "-c",
            "town",
            "--grant",
            "commands,messages:send,storage:kv",
        ],
    );
    plaza(
        data,
        &[
            "install",
            welcome.to_str().unwrap(),
            "-c",
            "village",
            "--grant",
            "commands",
        ],
    );

    // One failed event for the probe: `/needs-remembered` fails until `/remember` ran, and with
    // one attempt per event it becomes a dead letter at once; replayed later, it succeeds.
    let message = |id: &str, text: &str| {
        format!(
            r#"{{"id":"{id}","community":"town","type":"message-posted","channel":"general","message_id":"{id}","author":"ann","text":"{text}"}}"#
        )
    };
    let input = format!(
        "{}\n{}\n",
        message("e1", "/needs-remembered"),
        message("e2", "/remember fixed")
    );
    let mut deliver = Command::new(plaza_bin())
        .args([
            "deliver",
            "--stdin",
            "--exit-when-idle",
            "--max-attempts",
            "1",
            "--data-dir",
        ])
        .arg(data)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    deliver.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = deliver.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let operator = created_token(&plaza(
        data,
        &["token", "create", "--role", "operator", "--name", "ops"],
    ));
    let town_admin = created_token(&plaza(
        data,
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--community",
            "town",
            "--name",
            "Town admins",
        ],
    ));
    Fixture { operator, town_admin }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lets_an_admin_grant_revoke_switch_off_and_read_the_log_in_a_real_browser() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = prepare(&data, work.path()).await;
    let server = Server::start(&data, work.path());

    let browser = match Browser::start(work.path()).await {
        Ok(browser) => browser,
        Err(e) => panic!("the console's browser test needs headless Chromium and chromedriver: {e}"),
    };
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    // The steps run in their own task so that the WebDriver session is closed (and Chromium
    // ends) whether they pass or panic.
    let client = browser.client.clone();
    let steps = tokio::spawn(async move {
        let server = server;
        let fixture = fixture;
        walk_through(&client, &server, &fixture, &screenshots).await;
        // Keep the server alive until the steps are done.
        drop(server);
    });
    let result = steps.await;
    let _ = browser.client.clone().close().await;
    drop(browser);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn walk_through(client: &Client, server: &Server, fixture: &Fixture, screenshots: &Path) {
    let page = Page { client };
    let admin = fixture.town_admin.as_str();
    let operator = fixture.operator.as_str();

    // The static files are served as the console needs them.
    let index = server.api("GET", "/", "", None).1;
    assert!(
        index.as_str().unwrap_or_default().contains("console.js"),
        "GET / is not the console: {index}"
    );

    // --- Sign in: a wrong token is refused in words, the right one is kept per tab.
    client.goto(&server.base).await.unwrap();
    page.wait_visible(&tid("token-input")).await;
    // The whole walk is one page (the console navigates by its address's #fragment): every
    // uncaught script error from here on is collected and must not happen.
    page.js(
        "window.consoleErrors = []; \
         addEventListener('error', e => consoleErrors.push(String(e.message))); \
         addEventListener('unhandledrejection', e => consoleErrors.push(String(e.reason)));",
        vec![],
    )
    .await;
    page.press(&tid("token-input"), "plaz_not-a-real-token").await;
    page.click(&tid("sign-in")).await;
    page.wait_text(&tid("sign-in-error"), "not accepted").await;
    page.js(
        "document.querySelector(arguments[0]).value = '';",
        vec![json!(tid("token-input"))],
    )
    .await;
    page.press(&tid("token-input"), admin).await;
    // Enter submits the form: signing in works from the keyboard.
    page.press(&tid("token-input"), "\u{e007}").await;
    page.wait_visible(&tid("plugin-card-poll")).await;
    page.wait_text(&tid("signed-in-as"), "Town admins").await;
    page.wait_text(&tid("community-name"), "town").await;
    let storage = page
        .js(
            "return [sessionStorage.getItem('plaza-console-token'), localStorage.length, document.cookie];",
            vec![],
        )
        .await;
    assert_eq!(storage, json!([admin, 0, ""]), "the token lives in sessionStorage only");

    // --- The plugin list: version, state, grants and health in words.
    let card = tid("plugin-card-poll");
    let text = page.wait_text(&card, "Running").await;
    assert!(text.contains("0.1.0"), "{text}");
    assert!(text.contains("2 of 4 permissions allowed"), "{text}");
    let probe_card = page.wait_text(&tid("plugin-card-probe"), "1 failed event").await;
    assert!(probe_card.contains("Running"), "{probe_card}");
    page.screenshot(screenshots, "1-plugins").await;

    // --- poll's page: each request with the plugin's reason, in plain words.
    page.click(&tid("open-plugin-poll")).await;
    page.wait_text(&tid("plugin-title"), "poll").await;
    let send = tid("capability-messages:send");
    let text = page.wait_text(&send, "Send messages in your community").await;
    assert!(text.contains("Posts polls, confirms votes and shows results"), "{text}");
    assert!(text.contains("messages:send"), "{text}");
    let kv = page
        .wait_text(&tid("capability-storage:kv"), "Keeps polls, votes and tallies")
        .await;
    assert!(kv.contains("Keep its own data"), "{kv}");
    page.wait_text(&tid("capability-schedule"), "Closes a poll when its --minutes run out")
        .await;
    let send_toggle = tid("grant-toggle-messages:send");
    let kv_toggle = tid("grant-toggle-storage:kv");
    assert_eq!(page.attr(&send_toggle, "aria-checked").await.as_deref(), Some("false"));
    assert_eq!(page.attr(&kv_toggle, "aria-checked").await.as_deref(), Some("true"));
    assert_eq!(page.attr(&send_toggle, "role").await.as_deref(), Some("switch"));

    // --- Grant one (a click) ...
    page.click(&send_toggle).await;
    page.wait_attr(&send_toggle, "aria-checked", "true").await;
    page.wait_text(&tid("grant-state-messages:send"), "Allowed").await;
    page.wait_text(&tid("notice"), "poll may now send messages in your community")
        .await;
    assert!(granted(
        &plugin_status(server, operator, "town", "poll"),
        "messages:send"
    ));

    // ... and revoke one (from the keyboard: Space on the focused switch).
    page.press(&kv_toggle, " ").await;
    page.wait_attr(&kv_toggle, "aria-checked", "false").await;
    page.wait_text(&tid("grant-state-storage:kv"), "Not allowed").await;
    page.wait_text(&tid("notice"), "poll may no longer keep its own data")
        .await;
    let status = plugin_status(server, operator, "town", "poll");
    assert!(!granted(&status, "storage:kv"), "{status}");
    assert!(granted(&status, "messages:send"), "{status}");
    assert!(granted(&status, "commands"), "{status}");
    assert!(!granted(&status, "schedule"), "{status}");

    // --- The kill switch asks first: Cancel and Escape change nothing.
    let kill = tid("kill-switch");
    page.click(&kill).await;
    page.wait_visible(&tid("confirm-dialog")).await;
    page.wait_text(&tid("confirm-title"), "Turn off poll?").await;
    page.click(&tid("confirm-cancel")).await;
    assert!(!page.dialog_open().await, "Cancel closes the dialog");
    page.click(&kill).await;
    page.wait_visible(&tid("confirm-dialog")).await;
    page.press(&tid("confirm-cancel"), "\u{e00c}").await; // Escape
    assert!(!page.dialog_open().await, "Escape closes the dialog");
    assert_eq!(plugin_status(server, operator, "town", "poll")["enabled"], true);

    // Off ...
    page.click(&kill).await;
    page.wait_visible(&tid("confirm-ok")).await;
    page.click(&tid("confirm-ok")).await;
    page.wait_text(&tid("plugin-state"), "Turned off").await;
    page.wait_attr(&kill, "data-enabled", "false").await;
    page.wait_text(&tid("state-explain"), "receives no events").await;
    assert_eq!(plugin_status(server, operator, "town", "poll")["enabled"], false);
    page.screenshot(screenshots, "2-plugin-turned-off").await;

    // ... and on again.
    page.click(&kill).await;
    page.wait_text(&tid("confirm-title"), "Turn on poll?").await;
    page.click(&tid("confirm-ok")).await;
    page.wait_text(&tid("plugin-state"), "Running").await;
    assert_eq!(plugin_status(server, operator, "town", "poll")["enabled"], true);

    // --- The activity log shows those changes, newest first, in words.
    page.click(&tid("tab-activity")).await;
    page.wait_visible(&tid("audit-table")).await;
    let first = page
        .wait_text(&format!("{} {}", tid("audit-entry"), tid("audit-what")), "Turned on")
        .await;
    assert_eq!(first, "Turned on", "the newest entry comes first");
    let entries = page
        .js(
            "return [...document.querySelectorAll('[data-testid=audit-entry]')].map(r => \
             [r.dataset.plugin, r.dataset.kind, r.dataset.capability, r.querySelector('[data-testid=audit-what]').textContent]);",
            vec![],
        )
        .await;
    let entries: Vec<(String, String, String, String)> = serde_json::from_value(entries).unwrap();
    let has = |kind: &str, capability: &str, words: &str| {
        entries
            .iter()
            .any(|(p, k, c, w)| p == "poll" && k == kind && c == capability && w.contains(words))
    };
    assert!(
        has("grant", "messages:send", "Allowed: Send messages in your community"),
        "{entries:?}"
    );
    assert!(
        has("revoke", "storage:kv", "Permission taken away: Keep its own data"),
        "{entries:?}"
    );
    assert!(has("disable", "", "Turned off"), "{entries:?}");
    assert!(has("enable", "", "Turned on"), "{entries:?}");
    assert!(has("install", "", "Installed"), "{entries:?}");
    // The same entries, from the server.
    let audit = server.get("/v1/communities/town/audit?plugin=poll", operator);
    let kinds: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["install", "grant", "revoke", "disable", "enable"] {
        assert!(
            kinds.contains(&kind),
            "{kind} missing from the server's audit log: {kinds:?}"
        );
    }
    page.screenshot(screenshots, "3-activity-log").await;

    // --- Failed events: the probe's, in words, sent again after a confirmation.
    page.click(&tid("tab-failed")).await;
    page.wait_visible(&tid("dead-letter-list")).await;
    let dead = server.get("/v1/communities/town/dead-letters", operator);
    let id = dead[0]["id"].as_u64().expect("one dead letter");
    let letter = tid(&format!("dead-letter-{id}"));
    let text = page.wait_text(&letter, "ann posted a message in #general").await;
    assert!(text.contains("/needs-remembered"), "{text}");
    assert!(text.contains("probe"), "{text}");
    assert!(text.contains("Last problem"), "{text}");
    page.screenshot(screenshots, "4-failed-events").await;
    page.click(&tid(&format!("replay-{id}"))).await;
    page.wait_text(&tid("confirm-title"), "Send this event to probe again?")
        .await;
    page.click(&tid("confirm-ok")).await;
    page.wait_text(&tid("notice"), "sent to probe again").await;
    let started = Instant::now();
    loop {
        let dead = server.get("/v1/communities/town/dead-letters", operator);
        if dead.as_array().unwrap().iter().all(|d| d["id"] != id) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dead letter {id} is still there after its replay: {dead}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit = server.get("/v1/communities/town/audit?plugin=probe", operator);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "dead-letter-replay"),
        "{audit}"
    );

    // --- A narrow screen: nothing scrolls sideways, the controls are still there.
    client.set_window_size(400, 850).await.unwrap();
    page.click(&tid("tab-plugins")).await;
    page.wait_visible(&tid("plugin-card-poll")).await;
    page.assert_fits("the plugin list").await;
    page.click(&tid("open-plugin-poll")).await;
    page.wait_visible(&send_toggle).await;
    page.assert_fits("a plugin's page").await;
    page.screenshot(screenshots, "5-narrow-plugin").await;
    page.click(&tid("tab-activity")).await;
    page.wait_visible(&tid("audit-table")).await;
    page.assert_fits("the activity log").await;
    client.set_window_size(1280, 900).await.unwrap();

    // --- Sign out: the token is gone from the tab.
    page.click(&tid("sign-out")).await;
    page.wait_visible(&tid("token-input")).await;
    let token = page
        .js("return sessionStorage.getItem('plaza-console-token');", vec![])
        .await;
    assert_eq!(token, Value::Null, "signing out forgets the token");

    // --- A token for two communities gets a picker; errors from the API are shown in words.
    let (status, created) = server.api(
        "POST",
        "/v1/tokens",
        operator,
        Some(&json!({"name": "Both places", "role": "admin", "communities": ["town", "village"]})),
    );
    assert_eq!(status, 201, "{created}");
    let both = created["token"].as_str().unwrap();
    page.press(&tid("token-input"), both).await;
    page.click(&tid("sign-in")).await;
    page.wait_visible(&tid("community-picker")).await;
    let options = page
        .js(
            "return [...document.querySelectorAll('[data-testid=community-picker] option')].map(o => o.value);",
            vec![],
        )
        .await;
    assert_eq!(options, json!(["town", "village"]));
    let picker = client.find(Locator::Css(&tid("community-picker"))).await.unwrap();
    picker.select_by_value("village").await.unwrap();
    page.wait_text(&tid("plugin-card-welcome-bot"), "1 of 4 permissions allowed")
        .await;
    assert!(
        page.text(&tid("plugin-card-poll")).await.is_none(),
        "village has no poll"
    );
    page.click(&tid("open-plugin-welcome-bot")).await;
    let toggle = tid("grant-toggle-messages:send");
    page.wait_visible(&toggle).await;
    // The plugin goes away behind the page's back: the next change fails, and says why.
    let (status, gone) = server.api("DELETE", "/v1/communities/village/plugins/welcome-bot", operator, None);
    assert_eq!(status, 200, "{gone}");
    page.click(&toggle).await;
    page.wait_visible(&tid("error-banner")).await;
    let error = page.wait_text(&tid("error-text"), "could not be found").await;
    assert!(error.contains("welcome-bot"), "the API's message is shown: {error}");
    page.screenshot(screenshots, "6-error").await;
    // An admin of town alone cannot reach village's plugins through the API either.
    let (status, forbidden) = server.api("GET", "/v1/communities/village/plugins", admin, None);
    assert_eq!((status, forbidden["error"]["code"].as_str()), (403, Some("forbidden")));

    let errors = page.js("return window.consoleErrors;", vec![]).await;
    assert_eq!(errors, json!([]), "the page had script errors");
    println!("console screenshots: {}", screenshots.display());
}
