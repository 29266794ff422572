//! WIT versioning: plugins built against the frozen `plaza:plugin@0.1.0` keep working beside
//! 0.2.0 plugins in one host, through bindings that convert and delegate to the latest host
//! implementation. The 0.1.0 binaries under `tests/fixtures/plaza-plugin-0.1.0/` were built
//! with the SDK as it was at 0.1.0 (the probe bare, welcome-bot packaged with its manifest) and
//! are never rebuilt.

use plaza_host::capability::Capability;
use plaza_host::storage::admin::AuditQuery;
use sha2::Digest as _;

use crate::common::*;

const FROZEN_PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/plaza-plugin-0.1.0/probe.wasm");
/// SHA-256 over the names and contents of `wit/since_v0.1.0/*`, in name order.
const FROZEN_0_1_0_DIGEST: &str = "cb939c7ed5d341338115223cc1da33c7646088f5741a34b27f0d51dadda1bb49";
const FROZEN_WELCOME_BOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/plaza-plugin-0.1.0/welcome-bot.wasm"
);

fn command(ev: &mut Events, name: &str, args: &[&str]) -> plaza_host::event::Event {
    let args = serde_json::to_string(args).unwrap();
    ev.parse(&format!(
        r#"{{"type":"command-invoked","channel":"general","member":"alice","name":"{name}","args":{args}}}"#
    ))
}

#[tokio::test]
async fn each_build_is_bound_to_the_wit_version_it_imports() {
    let plaza = plaza();
    let old = load(&plaza, FROZEN_PROBE).await;
    let new = load(&plaza, plaza_tests::PROBE).await;
    assert_eq!(old.api(), "0.1.0");
    assert_eq!(new.api(), "0.2.0");
    assert_eq!(old.summary.wit_version.as_deref(), Some("0.1.0"));
    // Derived manifests follow the build: a 0.1.0 plugin is not offered 0.2.0's events.
    assert_eq!(old.manifest.plugin.api, "0.1.0");
    assert!(!old.manifest.subscribes_to("message-pinned"));
    assert!(new.manifest.subscribes_to("message-pinned"));
    // `describe` answers through the 0.1.0 bindings, converted to the latest types.
    assert_eq!(old.name, "probe");
    assert_eq!(old.commands.len(), new.commands.len());
}

#[tokio::test]
async fn a_frozen_0_1_0_plugin_uses_every_host_interface_through_delegation() {
    let plaza = plaza();
    let caps = [
        "messages:send",
        "storage:kv",
        "members:read",
        "members:identity",
        "members:moderate",
        "schedule",
    ];
    let packaged = package_probe_build(&plaza, FROZEN_PROBE, &caps, &["command-invoked"], "").await;
    let probe = plaza.load_plugin(&packaged, "probe 0.1.0").await.unwrap();
    assert_eq!(probe.api(), "0.1.0");
    community_with(&plaza, "old", &probe, "all").await;
    let mut ev = Events::new("old");
    plaza.dispatch(ev.joined("bob")).await.unwrap();

    let report = plaza.dispatch(command(&mut ev, "kv-roundtrip", &[])).await.unwrap();
    let kv = only(&report.invocations, "probe");
    assert!(kv.outcome.is_ok(), "{kv:?}");
    assert_eq!(sent(kv).len(), 1, "{kv:?}");
    assert!(sent(kv)[0].starts_with("read="), "{:?}", sent(kv));

    let report = plaza
        .dispatch(command(&mut ev, "send", &["hello", "from", "0.1.0"]))
        .await
        .unwrap();
    assert_eq!(sent(only(&report.invocations, "probe")), ["hello from 0.1.0"]);

    let report = plaza.dispatch(command(&mut ev, "timer", &["60000"])).await.unwrap();
    let timer = logs(only(&report.invocations, "probe"));
    assert!(timer.iter().any(|l| l.starts_with("timer: Ok(")), "{timer:?}");

    // A typed 0.1.0 host-error comes back for a call the host refuses: `not-found` here.
    let report = plaza.dispatch(command(&mut ev, "profile", &["nobody"])).await.unwrap();
    let profile = logs(only(&report.invocations, "probe"));
    assert!(
        profile.iter().any(|l| l.contains("profile nobody: Err(")),
        "{profile:?}"
    );

    let report = plaza
        .dispatch(command(&mut ev, "moderate", &["bob", "mute"]))
        .await
        .unwrap();
    let moderate = only(&report.invocations, "probe");
    assert!(
        logs(moderate)
            .iter()
            .any(|l| l.contains("moderate") && l.contains("Ok")),
        "{moderate:?}"
    );
    assert!(
        moderate
            .actions
            .iter()
            .any(|a| matches!(a, plaza_host::Action::MuteMember { .. })),
        "{moderate:?}"
    );

    // Not requested, so never granted: denied with a typed error the old plugin logs, no trap.
    let report = plaza
        .dispatch(command(&mut ev, "fetch", &["GET", "https://example.com/"]))
        .await
        .unwrap();
    let fetch = only(&report.invocations, "probe");
    assert!(fetch.outcome.is_ok(), "{fetch:?}");
    assert_eq!(fetch.denied.len(), 1, "{fetch:?}");
    assert_eq!(fetch.denied[0].capability, "http:fetch");
}

#[tokio::test]
async fn a_revoke_reaches_a_0_1_0_plugin_as_a_typed_denial_and_lands_in_the_audit_log() {
    let plaza = plaza();
    let packaged = package_probe_build(
        &plaza,
        FROZEN_PROBE,
        &["messages:send", "storage:kv"],
        &["command-invoked"],
        "",
    )
    .await;
    let probe = plaza.load_plugin(&packaged, "probe 0.1.0").await.unwrap();
    community_with(&plaza, "old", &probe, "all").await;
    let mut ev = Events::new("old");
    plaza.revoke("old", "probe", &[Capability::MessagesSend]).unwrap();
    let report = plaza.dispatch(command(&mut ev, "try-send", &[])).await.unwrap();
    let r = only(&report.invocations, "probe");
    assert!(r.outcome.is_ok(), "{r:?}");
    let lines = logs(r);
    assert!(lines.iter().any(|l| l.starts_with("send refused: ")), "{lines:?}");
    assert!(lines.iter().any(|l| l == "kv ok"), "{lines:?}");
    let audit = plaza
        .audit_log(&AuditQuery {
            community: Some("old".into()),
            plugin: Some("probe".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "denied" && e.capability.as_deref() == Some("messages:send")),
        "{audit:#?}"
    );
}

#[tokio::test]
async fn a_0_1_0_and_a_0_2_0_plugin_share_a_community_and_only_0_2_0_sees_pins() {
    let plaza = plaza();
    // Packaged at 0.1.0 with its manifest embedded, as it shipped.
    let welcome = load(&plaza, FROZEN_WELCOME_BOT).await;
    assert_eq!(welcome.api(), "0.1.0");
    let events = ["member-joined", "message-pinned", "command-invoked"];
    let probe = probe_with_manifest(&plaza, &["messages:read"], &events).await;
    assert_eq!(probe.api(), "0.2.0");
    install_with(&plaza, "mixed", &welcome, "all", config(&[("channel", "general")])).await;
    community_with(&plaza, "mixed", &probe, "all").await;
    let mut ev = Events::new("mixed");

    let report = plaza.dispatch(ev.joined("ada")).await.unwrap();
    let greeting = sent(only(&report.invocations, "welcome-bot"));
    assert_eq!(greeting.len(), 1, "{report:#?}");
    assert!(only(&report.invocations, "probe").outcome.is_ok());

    let pin = ev.parse(r#"{"type":"message-pinned","channel":"general","message_id":"m1","member":"ada"}"#);
    let report = plaza.dispatch(pin).await.unwrap();
    assert_eq!(report.invocations.len(), 1, "only the 0.2.0 plugin: {report:#?}");
    let seen = logs(only(&report.invocations, "probe"));
    // Pseudonymised like every member id without `members:identity`.
    assert!(
        seen.iter()
            .any(|l| l.contains(" pin m1 in general") && !l.contains("ada")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_0_1_0_manifest_cannot_subscribe_to_events_added_later() {
    let manifest = r#"
[plugin]
id = "old"
version = "1.0.0"
api = "0.1.0"
authors = ["Ada"]
description = "built against 0.1.0"

[events]
subscribe = ["message-posted", "message-pinned"]
"#;
    let err = plaza_host::manifest::Manifest::from_toml(manifest, "plaza.toml").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("events.subscribe[1]"), "{text}");
    assert!(
        text.contains("\"message-pinned\" arrived in plaza:plugin@0.2.0"),
        "{text}"
    );
}

#[test]
fn the_frozen_wit_package_is_unchanged() {
    // Released WIT is frozen: a change to 0.1.0 would break every binary built against it.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/since_v0.1.0");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut hasher = sha2::Sha256::new();
    for f in &files {
        hasher.update(f.file_name().unwrap().to_str().unwrap().as_bytes());
        hasher.update(std::fs::read(f).unwrap());
    }
    assert_eq!(
        hex::encode(hasher.finalize()),
        FROZEN_0_1_0_DIGEST,
        "wit/since_v0.1.0 changed: released WIT is frozen, add a new version instead"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_frozen_0_1_0_welcome_bot_still_passes_plaza_check() {
    let bytes = std::fs::read(FROZEN_WELCOME_BOT).unwrap();
    let report = plaza_host::check::check(&bytes, "welcome-bot 0.1.0", None).await;
    assert!(report.passed, "{}", report.to_text());
    assert_eq!(report.wit_version.as_deref(), Some("0.1.0"));
    let events = report.get("events").unwrap();
    assert!(
        !events.details.iter().any(|d| d.contains("message-pinned")),
        "a 0.1.0 plugin is not fed 0.2.0 events: {events:#?}"
    );
}
