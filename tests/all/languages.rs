//! Plugins in Python (componentize-py) and JavaScript (componentize-js), running in the real
//! host with nothing granted beyond their manifests.
//!
//! The components are built by `cargo xtask lang-plugins` (which `cargo xtask test` runs) into
//! `target/lang-plugins/`; the toolchains are pinned and installed into `target/toolchains/`.
//! A missing component fails the test: these samples are part of the suite, not optional.

use std::path::PathBuf;
use std::time::Instant;

use plaza_host::engine::CacheStatus;
use plaza_host::{Action, Capability, InvocationReport, Outcome};

use crate::common::*;

const C: &str = "c";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A toolchain file `cargo xtask lang-plugins` installs under `target/toolchains/`, or a
/// failure saying how to install it.
pub fn toolchain(relative: &str) -> PathBuf {
    let path = workspace_root().join("target/toolchains").join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask lang-plugins` (or `cargo xtask test`), which installs the \
         pinned componentize-py and componentize-js into target/toolchains/ (needs python3 and node/npm)",
        path.display()
    );
    path
}

/// A built Python or JavaScript sample, or a failure saying how to build it.
fn lang_plugin(sample: &str) -> String {
    let path = workspace_root()
        .join("target/lang-plugins")
        .join(format!("{}.wasm", sample.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: the Python and JavaScript samples are built by `cargo xtask lang-plugins` \
         (or `cargo xtask test`), which installs componentize-py and componentize-js into \
         target/toolchains/ (needs python3 and node/npm)",
        path.display()
    );
    path.display().to_string()
}

/// A sample packaged with its manifest and loaded, saying how long the load took.
async fn load_lang_sample(plaza: &plaza_host::Plaza, sample: &str) -> std::sync::Arc<plaza_host::runtime::Plugin> {
    let started = Instant::now();
    let plugin = load_sample(plaza, &lang_plugin(sample), sample).await;
    eprintln!(
        "{sample}: {} bytes, loaded in {:.1} s ({:?})",
        plugin.summary.size_bytes,
        started.elapsed().as_secs_f64(),
        plugin.cache
    );
    plugin
}

/// The handler met a revoked capability: it logged the typed denial and succeeded, no trap.
fn assert_handled_denial(r: &InvocationReport, capability: &str) {
    assert_eq!(r.outcome, Outcome::Ok, "logs: {:?}", logs(r));
    assert!(replies(r).is_empty(), "{:?}", r.actions);
    let expected = format!("not granted: {capability}");
    assert!(logs(r).contains(&expected), "{:?}", logs(r));
}

/// Replies the invocation sent, as (reply-to, text).
fn replies(r: &InvocationReport) -> Vec<(Option<String>, String)> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::SendMessage { reply_to, text, .. } => Some((reply_to.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn assert_ok(r: &InvocationReport) {
    assert!(r.outcome.is_ok(), "{:?}\nlogs: {:?}", r.outcome, logs(r));
}

/// Prints the per-event wall time, the figure the README quotes for each language.
fn timing(label: &str, reports: &[&InvocationReport]) {
    let mut us: Vec<u64> = reports.iter().map(|r| r.duration_us).collect();
    us.sort_unstable();
    eprintln!(
        "{label}: per-event time median {} µs, max {} µs",
        us[us.len() / 2],
        us[us.len() - 1]
    );
}

#[tokio::test]
async fn python_keyword_responder_replies_once_per_cooldown_and_survives_a_revoke() {
    let plaza = plaza();
    let plugin = load_lang_sample(&plaza, "keyword-responder").await;
    assert!(
        plugin
            .summary
            .wasi_imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/")),
        "componentize-py imports sockets, which Plaza links denying: {:?}",
        plugin.summary.wasi_imports
    );
    install_with(
        &plaza,
        C,
        &plugin,
        "all",
        config(&[
            (
                "keywords",
                "refund=See the pinned refund policy; opening hours=9 to 17 UTC; price=See the website",
            ),
            ("cooldown-seconds", "60"),
        ]),
    )
    .await;
    let mut ev = Events::new(C);
    let mut reports = Vec::new();

    let r = plaza
        .dispatch(ev.message("m1", "ann", "How do I get a Refund?"))
        .await
        .unwrap();
    let first = only(&r.invocations, "keyword-responder").clone();
    assert_ok(&first);
    assert_eq!(
        replies(&first),
        [(Some("m1".into()), "See the pinned refund policy".into())]
    );
    reports.push(first);

    // Within the cooldown: no second answer.
    let r = plaza.dispatch(ev.message("m2", "bob", "refund please")).await.unwrap();
    let quiet = only(&r.invocations, "keyword-responder").clone();
    assert_ok(&quiet);
    assert!(replies(&quiet).is_empty(), "cooling down: {:?}", quiet.actions);
    reports.push(quiet);

    // Another keyword has its own cooldown; words merely containing a keyword do not match.
    let r = plaza
        .dispatch(ev.message("m3", "cy", "what are the opening hours?"))
        .await
        .unwrap();
    let hours = only(&r.invocations, "keyword-responder").clone();
    assert_eq!(replies(&hours), [(Some("m3".into()), "9 to 17 UTC".into())]);
    reports.push(hours);
    let r = plaza
        .dispatch(ev.message("m4", "cy", "I was refunded twice"))
        .await
        .unwrap();
    assert!(replies(only(&r.invocations, "keyword-responder")).is_empty());

    let cooldowns = plaza.store().kv_keys(C, "keyword-responder", "cooldown/", None, 10);
    assert_eq!(cooldowns, ["cooldown/general/opening hours", "cooldown/general/refund"]);

    // Revoked mid-stream: the send is denied with a typed error the plugin logs; no trap.
    plaza
        .revoke(C, "keyword-responder", &[Capability::MessagesSend])
        .unwrap();
    let r = plaza
        .dispatch(ev.message("m5", "dee", "what is the price?"))
        .await
        .unwrap();
    assert_handled_denial(only(&r.invocations, "keyword-responder"), "messages:send");
    timing("keyword-responder (Python)", &reports.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn javascript_leaderboard_counts_points_and_answers_commands() {
    let plaza = plaza();
    let plugin = load_lang_sample(&plaza, "leaderboard").await;
    community_with(&plaza, C, &plugin, "all").await;
    let mut ev = Events::new(C);
    let mut reports = Vec::new();
    for (id, author) in [("m1", "ann"), ("m2", "ann"), ("m3", "bob")] {
        let r = plaza.dispatch(ev.message(id, author, "hi")).await.unwrap();
        let one = only(&r.invocations, "leaderboard").clone();
        assert_ok(&one);
        reports.push(one);
    }
    // bob's message gets two reactions (2 points each); reacting to yourself earns nothing.
    for (member, author) in [("ann", "bob"), ("cy", "bob"), ("bob", "bob")] {
        let json = format!(
            r#"{{"type":"reaction-added","channel":"general","message_id":"m3","member":"{member}","emoji":"👍","message_author":"{author}"}}"#
        );
        let r = plaza.dispatch(ev.parse(&json)).await.unwrap();
        assert_ok(only(&r.invocations, "leaderboard"));
    }
    let r = plaza
        .dispatch(ev.parse(
            r#"{"type":"reaction-removed","channel":"general","message_id":"m3","member":"cy","emoji":"👍","message_author":"bob"}"#,
        ))
        .await
        .unwrap();
    assert_ok(only(&r.invocations, "leaderboard"));
    // bob: 1 + 2 + 2 - 2 = 3; ann: 2 (the command messages below earn a point each after).
    let keys = plaza.store().kv_keys(C, "leaderboard", "points/", None, 10);
    assert_eq!(keys.len(), 2, "{keys:?}");

    let r = plaza.dispatch(ev.message("m4", "ann", "/leaderboard")).await.unwrap();
    let board = only(&r.invocations, "leaderboard").clone();
    assert_ok(&board);
    let text = &replies(&board)[0].1;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Leaderboard", "{text}");
    assert!(
        lines[1].starts_with("1. ") && lines[1].ends_with(": 3"),
        "bob first: {text}"
    );
    assert!(
        lines[2].starts_with("2. ") && lines[2].ends_with(": 2"),
        "then ann: {text}"
    );
    reports.push(board);

    let r = plaza.dispatch(ev.message("m5", "bob", "/points")).await.unwrap();
    assert_eq!(
        replies(only(&r.invocations, "leaderboard"))[0],
        (Some("m5".into()), "You have 3 point(s).".into())
    );
    let r = plaza
        .dispatch(ev.message("m6", "bob", "/leaderboard 99"))
        .await
        .unwrap();
    assert!(replies(only(&r.invocations, "leaderboard"))[0]
        .1
        .starts_with("Usage: /leaderboard"));

    // Revoked mid-stream: /points cannot answer; the plugin logs the typed denial, no trap.
    plaza.revoke(C, "leaderboard", &[Capability::MessagesSend]).unwrap();
    let r = plaza.dispatch(ev.message("m7", "ann", "/points")).await.unwrap();
    assert_handled_denial(only(&r.invocations, "leaderboard"), "messages:send");
    // Without storage nothing can be counted: the plugin logs the denial and carries on.
    plaza.revoke(C, "leaderboard", &[Capability::StorageKv]).unwrap();
    let r = plaza.dispatch(ev.message("m8", "ann", "hi")).await.unwrap();
    assert_handled_denial(only(&r.invocations, "leaderboard"), "storage:kv");
    timing("leaderboard (JavaScript)", &reports.iter().collect::<Vec<_>>());
}

/// A second load of the same component is a compile-cache hit, and far faster than compiling.
#[tokio::test]
async fn a_second_load_of_a_large_component_is_a_compile_cache_hit() {
    let dir = tempfile::tempdir().unwrap();
    let settings = || plaza_host::PlazaConfig {
        engine: plaza_host::engine::EngineSettings {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
        ..Default::default()
    };
    let path = lang_plugin("leaderboard");
    let timed = |plaza: plaza_host::Plaza| {
        let path = path.clone();
        async move {
            let started = Instant::now();
            let plugin = load(&plaza, &path).await;
            (plugin.cache, started.elapsed())
        }
    };
    let (cold, cold_time) = timed(plaza_host::Plaza::new(settings()).unwrap()).await;
    let (warm, warm_time) = timed(plaza_host::Plaza::new(settings()).unwrap()).await;
    eprintln!("leaderboard: cold load {cold_time:?} ({cold:?}), second load {warm_time:?} ({warm:?})");
    assert_eq!(cold, CacheStatus::Miss);
    assert_eq!(warm, CacheStatus::Hit);
    assert!(warm_time * 5 < cold_time, "cold {cold_time:?}, cached {warm_time:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_and_javascript_samples_pass_plaza_check() {
    for (sample, toolchain) in [
        ("keyword-responder", "componentize-py"),
        ("leaderboard", "ComponentizeJS"),
    ] {
        let bytes = std::fs::read(lang_plugin(sample)).unwrap();
        let manifest = std::fs::read_to_string(sample_manifest(sample)).unwrap();
        let report = plaza_host::check::check(&bytes, sample, Some((manifest, format!("{sample}/plaza.toml")))).await;
        assert!(report.passed, "{sample}:\n{}", report.to_text());
        assert_eq!(report.wit_version.as_deref(), Some("0.2.0"));
        let manifest = report.get("manifest").unwrap();
        assert_eq!(manifest.status, plaza_host::check::Status::Warn, "{}", report.to_text());
        assert!(
            manifest.details[0].starts_with(&format!("built with {toolchain}")),
            "{}",
            report.to_text()
        );
        for name in ["events", "denied", "idempotent"] {
            assert_eq!(
                report.get(name).unwrap().status,
                plaza_host::check::Status::Pass,
                "{sample} {name}:\n{}",
                report.to_text()
            );
        }
    }
}
