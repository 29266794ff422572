//! `plaza check`, the conformance kit: every sample plugin passes it, and each adversarial guest
//! fails it with the right reason (the check that fails and the failure code it names). Both
//! through the library (`plaza_host::check`) and the `plaza check` command (text, `--json`,
//! `--junit`, exit codes), and through `plaza review approve`, which records the result.

use std::process::Command;

use plaza_host::check::{check, CheckReport, Status};
use serde_json::Value;

use crate::common::{plaza_bin, sample_manifest};

const SAMPLES: [(&str, &str); 5] = [
    ("welcome-bot", plaza_tests::WELCOME_BOT),
    ("anti-spam", plaza_tests::ANTI_SPAM),
    ("poll", plaza_tests::POLL),
    ("group-buy", plaza_tests::GROUP_BUY),
    ("daily-digest", plaza_tests::DAILY_DIGEST),
];

const WAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guests/wat");

/// A manifest for a test guest: `caps` requested, `events` subscribed, `commands` offered.
fn manifest(id: &str, caps: &[&str], events: &[&str], commands: &[String]) -> String {
    let mut text = format!(
        "[plugin]\nid = \"{id}\"\nversion = \"0.0.1\"\napi = \"0.2.0\"\nauthors = [\"tests\"]\n\
         description = \"test guest\"\n\n[capabilities]\n"
    );
    for cap in caps {
        let hosts = if *cap == "http:fetch" {
            ", hosts = [\"api.example.com\"]"
        } else {
            ""
        };
        text.push_str(&format!("{cap:?} = {{ reason = \"the test needs {cap}\"{hosts} }}\n"));
    }
    let events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    text.push_str(&format!("\n[events]\nsubscribe = [{}]\n", events.join(", ")));
    for c in commands {
        text.push_str(&format!(
            "\n[[commands]]\nname = {c:?}\ndescription = \"t\"\nusage = \"t\"\n"
        ));
    }
    text
}

/// The names of a Rust guest's commands, as `describe` lists them.
async fn commands_of(path: &str) -> Vec<String> {
    let plaza = crate::common::plaza();
    let plugin = crate::common::load(&plaza, path).await;
    plugin.commands.iter().map(|c| c.name.clone()).collect()
}

async fn check_sample(name: &str, path: &str) -> CheckReport {
    let bytes = std::fs::read(path).unwrap();
    let manifest = std::fs::read_to_string(sample_manifest(name)).unwrap();
    check(&bytes, name, Some((manifest, format!("{name}/plaza.toml")))).await
}

fn status(report: &CheckReport, name: &str) -> Status {
    report
        .get(name)
        .unwrap_or_else(|| panic!("no {name} check in {report:#?}"))
        .status
}

fn details(report: &CheckReport, name: &str) -> String {
    report.get(name).map(|c| c.details.join("\n")).unwrap_or_default()
}

/// The WAT template with `fragment` spliced in at `marker`.
fn wat(fragment: Option<(&str, &str)>) -> Vec<u8> {
    let mut text = std::fs::read_to_string(format!("{WAT_DIR}/plugin.wat")).unwrap();
    if let Some((file, marker)) = fragment {
        let piece = std::fs::read_to_string(format!("{WAT_DIR}/{file}")).unwrap();
        text = text.replace(marker, &piece);
    }
    wat::parse_str(&text).unwrap()
}

/// The WAT guests are written against `plaza:plugin@0.1.0` (more 0.1.0 plugins in the suite).
fn wat_manifest() -> String {
    manifest("wat-plugin", &[], &["member-joined"], &[]).replace("api = \"0.2.0\"", "api = \"0.1.0\"")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_plugin_passes() {
    for (name, path) in SAMPLES {
        let report = check_sample(name, path).await;
        assert!(report.passed, "{name}:\n{}", report.to_text());
        for c in &report.checks {
            let expected = if c.name == "review" && name != "anti-spam" {
                Status::Skip
            } else {
                Status::Pass
            };
            assert_eq!(c.status, expected, "{name} {}:\n{}", c.name, report.to_text());
        }
        assert_eq!(report.wit_version.as_deref(), Some("0.2.0"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn group_buy_is_checked_without_the_network() {
    // Its merchant host resolves nowhere reachable from here; every fetch is answered offline
    // (the per-event request cap of 0) and the plugin must cope.
    let report = check_sample("group-buy", plaza_tests::GROUP_BUY).await;
    assert!(report.passed, "{}", report.to_text());
    assert!(
        details(&report, "denied").contains("http:fetch"),
        "{}",
        report.to_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_fails_on_traps_and_on_its_flaky_command() {
    let commands = commands_of(plaza_tests::PROBE).await;
    let caps = [
        "messages:send",
        "messages:manage",
        "members:moderate",
        "members:read",
        "storage:kv",
        "schedule",
        "http:fetch",
        "commands",
    ];
    let text = manifest("probe", &caps, &["command-invoked", "timer-fired"], &commands);
    let bytes = std::fs::read(plaza_tests::PROBE).unwrap();
    let report = check(&bytes, "probe", Some((text, "test".into()))).await;
    assert!(!report.passed);
    assert_eq!(status(&report, "manifest"), Status::Pass, "{}", report.to_text());
    let events = details(&report, "events");
    assert!(events.contains("/panic: guest-trap"), "{events}");
    assert!(events.contains("probe was asked to panic"), "{events}");
    // `/flaky` fails its first attempt and succeeds on the next: not idempotent.
    let idempotent = details(&report, "idempotent");
    assert_eq!(status(&report, "idempotent"), Status::Fail);
    assert!(
        idempotent.contains("/flaky: attempt 1 failed (guest-error") && idempotent.contains("but attempt 2 succeeded"),
        "{idempotent}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wat_template_passes_and_each_hostile_fragment_fails_with_its_reason() {
    let template = check(&wat(None), "plugin.wat", Some((wat_manifest(), "test".into()))).await;
    assert!(template.passed, "{}", template.to_text());

    let on_join = ";; @ON-MEMBER-JOINED";
    for (file, says) in [
        ("grow.wat", "member-joined: memory-limit"),
        ("table-grow.wat", "member-joined: memory-limit"),
        ("log-1gib.wat", "out of bounds"),
        ("log-out-of-bounds.wat", "out of bounds"),
        ("log-invalid-utf8.wat", "invalid utf-8"),
        ("log-bad-level.wat", "discriminant: 99"),
    ] {
        let report = check(&wat(Some((file, on_join))), file, Some((wat_manifest(), "test".into()))).await;
        assert!(!report.passed, "{file}");
        assert_eq!(status(&report, "component"), Status::Pass, "{file}");
        assert_eq!(status(&report, "events"), Status::Fail, "{file}:\n{}", report.to_text());
        let events = details(&report, "events");
        assert!(events.contains(says), "{file}: expected {says:?} in\n{events}");
        if !says.contains("memory-limit") {
            assert!(events.contains("guest-trap"), "{file}: {events}");
        }
    }

    // Sockets are linked (denying every call) since Python and JavaScript runtimes import them.
    let sockets = wat(Some(("import-sockets.wat", ";; @EXTRA-IMPORTS")));
    let report = check(&sockets, "import-sockets.wat", Some((wat_manifest(), "test".into()))).await;
    assert_eq!(status(&report, "component"), Status::Pass, "{}", report.to_text());

    for (file, names) in [("import-backdoor.wat", "evil:backdoor/shell@1.0.0")] {
        let bytes = wat(Some((file, ";; @EXTRA-IMPORTS")));
        let report = check(&bytes, file, Some((wat_manifest(), "test".into()))).await;
        assert_eq!(status(&report, "component"), Status::Fail, "{file}");
        assert!(details(&report, "component").contains(names), "{}", report.to_text());
        for later in ["events", "denied", "review", "idempotent"] {
            assert_eq!(status(&report, later), Status::Skip, "{file} {later}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_must_cover_imports_and_unused_requests_warn() {
    let bytes = std::fs::read(plaza_tests::WELCOME_BOT).unwrap();
    let shipped = std::fs::read_to_string(sample_manifest("welcome-bot")).unwrap();

    // welcome-bot imports kv: without `storage:kv` every KV call would be denied.
    let without_kv: String = shipped
        .lines()
        .filter(|l| !l.starts_with("\"storage:kv\""))
        .collect::<Vec<_>>()
        .join("\n");
    let report = check(&bytes, "welcome-bot", Some((without_kv, "test".into()))).await;
    assert_eq!(status(&report, "manifest"), Status::Fail, "{}", report.to_text());
    assert!(details(&report, "manifest").contains("imports `kv` but requests none of storage:kv"));
    assert!(!report.passed);

    // Asking for reactions it never subscribes to is a warning, not a failure.
    let extra = shipped.replace(
        "[capabilities]\n",
        "[capabilities]\n\"reactions:read\" = { reason = \"not really\" }\n",
    );
    let report = check(&bytes, "welcome-bot", Some((extra, "test".into()))).await;
    assert_eq!(status(&report, "manifest"), Status::Warn, "{}", report.to_text());
    assert!(details(&report, "manifest").contains("requests `reactions:read` but nothing uses it"));
    assert!(report.passed, "{}", report.to_text());

    // No manifest at all: it cannot be installed, so it cannot pass.
    let report = check(&bytes, "welcome-bot", None).await;
    assert_eq!(status(&report, "manifest"), Status::Fail);
    assert!(details(&report, "manifest").contains("no manifest"));
}

#[tokio::test(flavor = "multi_thread")]
async fn not_a_component_fails_the_first_check_and_skips_the_rest() {
    let report = check(b"\0asm\x01\0\0\0", "core.wasm", None).await;
    assert!(!report.passed);
    assert_eq!(status(&report, "component"), Status::Fail);
    assert!(
        details(&report, "component").contains("core WebAssembly module"),
        "{}",
        report.to_text()
    );
    assert!(
        report.checks.iter().skip(1).all(|c| c.status == Status::Skip),
        "{report:#?}"
    );
    assert_eq!(report.summary(), "fail: component");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(plaza_bin())
        .args(args)
        .env("PLAZA_CACHE_DIR", crate::common::cache_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_passes_a_sample_with_text_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let manifest = sample_manifest("poll");
    let (code, stdout, stderr) = run(&[
        "check",
        plaza_tests::POLL,
        "--manifest",
        &manifest,
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("[pass] events"), "{stdout}");
    assert!(stdout.contains("PASS: pass (6 checks, 0 warnings)"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"poll 0.1.0\" tests=\"7\" failures=\"0\" skipped=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"idempotent\""), "{xml}");

    let (code, stdout, _) = run(&["check", plaza_tests::POLL, "--manifest", &manifest, "--json"]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["plugin"], "poll 0.1.0");
    assert_eq!(json["checks"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_fails_the_hostile_guest_with_each_reason() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands_of(plaza_tests::HOSTILE).await;
    let path = dir.path().join("hostile.toml");
    std::fs::write(
        &path,
        manifest(
            "hostile",
            &["messages:send", "storage:kv", "commands"],
            &["command-invoked"],
            &commands,
        ),
    )
    .unwrap();
    let junit = dir.path().join("hostile.xml");
    let (code, stdout, stderr) = run(&[
        "check",
        plaza_tests::HOSTILE,
        "--manifest",
        path.to_str().unwrap(),
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["passed"], false);
    let check = |name: &str| {
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(check("manifest")["status"], "pass");
    let events = check("events");
    assert_eq!(events["status"], "fail");
    let text = events["details"].to_string();
    for reason in [
        "/loop: cpu-budget",
        "/log-loop: cpu-budget",
        "/grow: memory-limit",
        "/recurse: stack-overflow",
    ] {
        assert!(text.contains(reason), "{reason} in {text}");
    }
    // Its commands that behave (`/echo`) or return an error (`/fail`) are not failures.
    assert!(!text.contains("/echo") && !text.contains("/fail:"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message=\"/loop: cpu-budget"), "{xml}");
}

#[test]
fn review_approve_runs_the_check_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    for key in ["dev.key", "platform.key"] {
        let (code, _, stderr) = run(&["keygen", "-o", &path(key)]);
        assert_eq!(code, 0, "{stderr}");
    }
    let package_and_sign = |component: &str, manifest: &str, out: &str| {
        let (code, _, stderr) = run(&["package", component, "--manifest", manifest, "-o", &path(out)]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) = run(&["sign", &path(out), "--key", &path("dev.key")]);
        assert_eq!(code, 0, "{stderr}");
    };
    let recorded = |out: &str| {
        let bytes = std::fs::read(path(out)).unwrap();
        let verified = plaza_host::signing::verify(&bytes).unwrap();
        verified.reviews[0].check.clone()
    };

    package_and_sign(plaza_tests::POLL, &sample_manifest("poll"), "poll.wasm");
    let (code, stdout, stderr) = run(&["review", "approve", &path("poll.wasm"), "--key", &path("platform.key")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("check: pass (6 checks, 0 warnings)"), "{stdout}");
    assert_eq!(recorded("poll.wasm").as_deref(), Some("pass (6 checks, 0 warnings)"));

    // A plugin that traps on `member-joined` is refused, unless forced (and the stamp says so).
    std::fs::write(path("grow.wat.wasm"), wat(Some(("grow.wat", ";; @ON-MEMBER-JOINED")))).unwrap();
    std::fs::write(path("wat.toml"), wat_manifest()).unwrap();
    package_and_sign(&path("grow.wat.wasm"), &path("wat.toml"), "grow.wasm");
    let approve = |force: bool| {
        let (package, key) = (path("grow.wasm"), path("platform.key"));
        let mut args = vec!["review", "approve", package.as_str(), "--key", key.as_str()];
        if force {
            args.push("--force");
        }
        run(&args)
    };
    let (code, stdout, stderr) = approve(false);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("not approving") && stderr.contains("fail: events"),
        "{stderr}"
    );
    assert!(stdout.contains("member-joined: memory-limit"), "{stdout}");
    assert!(plaza_host::signing::verify(&std::fs::read(path("grow.wasm")).unwrap())
        .unwrap()
        .reviews
        .is_empty());
    let (code, stdout, stderr) = approve(true);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let check = recorded("grow.wasm").unwrap();
    assert!(
        check.starts_with("fail: events") && check.ends_with("(approved with --force)"),
        "{check}"
    );
}
