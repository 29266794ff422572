//! The `plaza` binary: `run`, `inspect`, `demo`, and one-line errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::plaza_bin;

/// Runs the `plaza` binary built beside this test binary (`cargo test --workspace` builds it).
fn plaza(args: &[&str]) -> Output {
    Command::new(plaza_bin())
        .args(args)
        .env("PLAZA_CACHE_DIR", crate::common::cache_dir())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Asserts a failing exit and exactly one line on stderr, starting `error: ` and containing `needle`.
fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected failure, stdout: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn run_prints_actions_logs_and_traps_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "e.jsonl",
        r#"# probe session
{"type":"member-joined","member":{"id":"alice"}}
{"id":"x1","type":"message-posted","channel":"general","message_id":"m1","author":"alice","text":"/send hello there"}

{"id":"x2","type":"message-posted","channel":"general","message_id":"m2","author":"alice","text":"/send-then-panic"}
{"id":"x3","type":"message-posted","channel":"general","message_id":"m3","author":"alice","text":"/try-send"}
{"id":"x4","type":"message-posted","channel":"general","message_id":"m4","author":"alice","text":"/profile bob"}
"#,
    );
    let o = plaza(&[
        "run",
        "--plugin",
        plaza_tests::PROBE,
        "--events",
        &events,
        "--grant",
        "commands,messages:send,storage:kv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines[0]["kind"], "loaded");
    assert_eq!(
        lines[0]["grants"],
        serde_json::json!(["messages:send", "storage:kv", "commands"])
    );
    let action = lines
        .iter()
        .find(|l| l["kind"] == "action" && l["event"] == "x1")
        .expect("an action for x1");
    assert_eq!(action["action"]["action"], "send-message");
    assert_eq!(action["action"]["text"], "hello there");
    assert_eq!(action["action"]["reply_to"], "m1");
    let trap = lines.iter().find(|l| l["kind"] == "trap").expect("a trap line");
    assert_eq!(trap["event"], "x2");
    assert_eq!(trap["reason"], "guest-trap");
    assert_eq!(
        trap["discarded_actions"], 2,
        "the send and the KV write before the panic are discarded"
    );
    assert!(trap["backtrace"].as_str().unwrap().contains("probe.wasm"));
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "log" && l["source"] == "stderr" && l["event"] == "x2"));
    let denied: Vec<_> = lines.iter().filter(|l| l["kind"] == "denied").collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["event"], "x4");
    assert_eq!(denied[0]["call"], "members.get-profile");
    assert_eq!(denied[0]["capability"], "members:read");
    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["failed"], 1);
}

#[test]
fn run_pretty_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "e.jsonl",
        r#"{"type":"message-posted","channel":"general","message_id":"m1","author":"alice","text":"/loop"}"#,
    );
    let o = plaza(&["run", "--plugin", plaza_tests::PROBE, "--events", &events, "--pretty"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("FAILED cpu-budget"), "{out}");
    assert!(out.contains("1 failed"), "{out}");
}

#[test]
fn run_strict_exits_non_zero_when_an_invocation_fails() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "e.jsonl",
        r#"{"type":"message-posted","channel":"general","message_id":"m1","author":"alice","text":"/fail"}"#,
    );
    let o = plaza(&["run", "--plugin", plaza_tests::PROBE, "--events", &events, "--strict"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn inspect_shows_world_imports_and_capabilities() {
    let o = plaza(&["inspect", plaza_tests::PROBE, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["name"], "probe");
    assert_eq!(v["wit_version"], "0.2.0");
    assert_eq!(
        v["exports"],
        serde_json::json!(["describe", "handle-event", "review-message"])
    );
    let caps: Vec<&str> = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(caps.contains(&"messages:send") && caps.contains(&"storage:kv") && caps.contains(&"commands"));
    assert!(
        caps.contains(&"http:fetch"),
        "the probe's /fetch imports http: {caps:?}"
    );
    // Capabilities come from what a component imports: the welcome bot never calls http.
    let o = plaza(&["inspect", plaza_tests::WELCOME_BOT, "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        !v["capabilities"].as_array().unwrap().iter().any(|c| c == "http:fetch"),
        "{v}"
    );
    let o = plaza(&["inspect", plaza_tests::PROBE]);
    assert!(
        stdout(&o).contains("world         plaza:plugin/plugin@0.2.0"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good_events = write(
        dir.path(),
        "ok.jsonl",
        r#"{"type":"member-joined","member":{"id":"a"}}"#,
    );

    let o = plaza(&["run", "--plugin", "/nope/missing.wasm", "--events", &good_events]);
    assert_one_line_error(&o, "cannot read plugin file /nope/missing.wasm");

    let text_file = write(dir.path(), "readme.wasm", "hello");
    let o = plaza(&["run", "--plugin", &text_file, "--events", &good_events]);
    assert_one_line_error(&o, "readme.wasm is not a WebAssembly component");

    let empty_component = dir.path().join("empty.wasm");
    std::fs::write(&empty_component, wat::parse_str("(component)").unwrap()).unwrap();
    let o = plaza(&["inspect", empty_component.to_str().unwrap()]);
    assert_one_line_error(&o, "does not implement a supported Plaza world");

    let bad_events = write(
        dir.path(),
        "bad.jsonl",
        "{\"type\":\"member-joined\",\"member\":{\"id\":\"a\"}}\n\n{\"type\":\"message-posted\",\"channel\":\"g\"",
    );
    let o = plaza(&["run", "--plugin", plaza_tests::PROBE, "--events", &bad_events]);
    assert_one_line_error(&o, "bad.jsonl line 3: not a JSON object");

    let unknown_type = write(dir.path(), "type.jsonl", r#"{"type":"member-exploded"}"#);
    let o = plaza(&["run", "--plugin", plaza_tests::PROBE, "--events", &unknown_type]);
    assert_one_line_error(&o, "type.jsonl line 1: unknown event type `member-exploded`");

    let o = plaza(&["run", "--plugin", plaza_tests::PROBE, "--events", "/nope/e.jsonl"]);
    assert_one_line_error(&o, "cannot read event file /nope/e.jsonl");

    let o = plaza(&[
        "run",
        "--plugin",
        plaza_tests::PROBE,
        "--events",
        &good_events,
        "--grant",
        "messages:write",
    ]);
    assert_one_line_error(&o, "unknown capability `messages:write`");

    let o = plaza(&["demo", "--plugins-dir", "/nope"]);
    assert_one_line_error(&o, "sample plugin /nope/welcome-bot.wasm not found");
}

/// The three sample plugins packaged with `plaza package`, in a temporary folder.
fn package_samples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (component, id) in [
        (plaza_tests::WELCOME_BOT, "welcome-bot"),
        (plaza_tests::ANTI_SPAM, "anti-spam"),
        (plaza_tests::POLL, "poll"),
    ] {
        let out = dir.path().join(format!("{id}.wasm"));
        let manifest = crate::common::sample_manifest(id);
        let o = plaza(&[
            "package",
            component,
            "--manifest",
            &manifest,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).starts_with(&format!("packaged {id} 0.1.0")),
            "{}",
            stdout(&o)
        );
    }
    dir
}

#[test]
fn admin_cli_installs_with_default_deny_grants_and_audits_across_processes() {
    let packaged = package_samples();
    let data = tempfile::tempdir().unwrap();
    crate::common::allow_unsigned(data.path());
    let d = data.path().to_str().unwrap();
    let poll = packaged.path().join("poll.wasm");
    let poll = poll.to_str().unwrap();
    assert!(plaza(&["community", "create", "town", "--data-dir", d])
        .status
        .success());
    let o = plaza(&["install", poll, "-c", "town", "--data-dir", d, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let installed: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    let requested = installed["status"]["requested"].as_array().unwrap();
    assert!(
        requested.iter().all(|r| r["granted"] == false),
        "default deny: {requested:?}"
    );
    assert!(requested
        .iter()
        .any(|r| r["capability"] == "messages:send" && r["reason"].as_str().unwrap().contains("polls")));

    let o = plaza(&[
        "grant",
        "-c",
        "town",
        "-p",
        "poll",
        "commands",
        "storage:kv",
        "--data-dir",
        d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = plaza(&["grant", "-c", "town", "-p", "poll", "http:fetch", "--data-dir", d]);
    assert_one_line_error(&o, "does not request `http:fetch`");

    let events = write(
        data.path(),
        "e.jsonl",
        r#"{"community":"town","type":"message-posted","channel":"g","message_id":"m1","author":"ann","text":"/poll Lunch? a b"}"#,
    );
    let o = plaza(&["ingest", "--events", &events, "--data-dir", d, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "denied" && l["capability"] == "messages:send"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l["kind"] == "ok" && l["plugin"] == "poll"));

    let o = plaza(&["plugins", "-c", "town", "--data-dir", d, "--json"]);
    let statuses: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(statuses[0]["health"]["recent_denied_calls"], 1);
    let o = plaza(&["revoke", "-c", "town", "-p", "poll", "storage:kv", "--data-dir", d]);
    assert!(o.status.success());
    let o = plaza(&["disable", "-c", "town", "-p", "poll", "--data-dir", d]);
    assert!(o.status.success());
    let o = plaza(&["audit", "-c", "town", "--data-dir", d, "--json"]);
    let kinds: Vec<String> = json_lines(&o)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in ["install", "grant", "denied", "revoke", "disable"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }

    // A component without a manifest cannot be installed by an admin.
    let o = plaza(&["install", plaza_tests::PROBE, "-c", "town", "--data-dir", d]);
    assert_one_line_error(&o, "has no manifest");
    let o = plaza(&["install", poll, "-c", "nowhere", "--data-dir", d]);
    assert_one_line_error(&o, "community `nowhere` does not exist");
}

#[test]
fn demo_runs_the_sample_community() {
    let packaged = package_samples();
    let dir = packaged.path();
    let o = plaza(&["demo", "--plugins-dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "loaded welcome-bot",
        "loaded anti-spam",
        "loaded poll",
        "community `rust-lovers`",
        "Alice joined",
        "rejected before posting",
        "community `book-club`",
        "messaging.send denied",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in demo output:\n{out}");
    }
    assert!(!out.contains("✗ failed"), "no invocation may fail in the demo:\n{out}");

    let o = plaza(&["demo", "--plugins-dir", dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["failed"], 0);
    assert!(summary["plugin_messages"].as_u64().unwrap() >= 5, "{summary}");
}

/// Runs `plaza` with `input` on stdin.
fn plaza_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(plaza_bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn deliver_status_and_dead_letters_from_the_cli() {
    let data = tempfile::tempdir().unwrap();
    crate::common::allow_unsigned(data.path());
    let d = data.path().to_str().unwrap();
    let host = crate::common::plaza();
    let probe = crate::common::packaged_probe(&host, &["messages:send", "storage:kv"], &["command-invoked"]).await;
    let probe_path = data.path().join("probe.wasm");
    std::fs::write(&probe_path, probe).unwrap();
    assert!(plaza(&["community", "create", "town", "--data-dir", d])
        .status
        .success());
    let o = plaza(&[
        "install",
        probe_path.to_str().unwrap(),
        "-c",
        "town",
        "--grant",
        "commands,messages:send,storage:kv",
        "--data-dir",
        d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let message = |id: &str, text: &str| {
        format!(
            r#"{{"id":"{id}","community":"town","type":"message-posted","channel":"g","message_id":"{id}","author":"ann","text":"{text}"}}"#
        )
    };
    let input = [
        message("e1", "/needs-remembered"),
        message("e2", "/remember fixed"),
        message("e1", "/needs-remembered"),
        "not json".to_string(),
    ]
    .join("\n");
    let o = plaza_with_stdin(
        &[
            "deliver",
            "--stdin",
            "--exit-when-idle",
            "--max-attempts",
            "2",
            "--retry-base-ms",
            "1",
            "--data-dir",
            d,
        ],
        &input,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["ready", "accepted", "accepted", "duplicate", "invalid", "idle"],
        "{lines:?}"
    );
    assert_eq!(lines[3]["sequence"], 1, "a resent id answers its first sequence");
    assert_eq!(lines[5]["invocations"], 3, "two failed attempts of e1, then e2");

    let o = plaza(&["status", "--data-dir", d, "--json"]);
    let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let install = &status["installs"][0];
    assert_eq!(
        (install["lag"].as_u64(), install["dead_letters"].as_u64()),
        (Some(0), Some(1)),
        "{status}"
    );
    assert!(
        install["last_error"]
            .as_str()
            .unwrap()
            .contains("nothing remembered yet"),
        "{status}"
    );
    let o = plaza(&["status", "--data-dir", d]);
    assert!(stdout(&o).contains("town"), "{}", stdout(&o));

    let o = plaza(&["dead-letters", "list", "-c", "town", "--data-dir", d, "--json"]);
    let dead: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["failures"].as_array().unwrap().len(), 2);
    let id = dead[0]["id"].as_u64().unwrap().to_string();
    let o = plaza(&["dead-letters", "show", &id, "--data-dir", d]);
    assert!(stdout(&o).contains("attempt 2"), "{}", stdout(&o));
    let o = plaza(&["dead-letters", "replay", &id, "--data-dir", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 invocation(s), 0 failed"), "{}", stdout(&o));
    let o = plaza(&["dead-letters", "list", "--data-dir", d]);
    assert!(stdout(&o).contains("no dead letters"), "{}", stdout(&o));
    let o = plaza(&["dead-letters", "replay", &id, "--data-dir", d]);
    assert_one_line_error(&o, &format!("there is no dead letter {id}"));
}
