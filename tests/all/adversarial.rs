//! The adversarial suite: hostile plugins, as real components, against the sandbox's limits.
//!
//! The hostile plugins are the `hostile` Rust guest (`tests/guests/hostile`, one slash command per
//! misbehaviour) and hand-written WAT components (`tests/guests/wat`: a complete `plugin` world
//! template, `plugin.wat`, with one hostile fragment spliced in). Every test asserts two things:
//! the misbehaviour is contained with the specific reason code or load error, and a well-behaved
//! plugin in the same host keeps working afterwards ([`assert_neighbour_serves`]: the `probe`
//! installed in the `neighbour` community answers `/send`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use plaza_host::dispatch::ReviewDecision;
use plaza_host::engine::EngineSettings;
use plaza_host::runtime::report::{Failure, FailureReason};
use plaza_host::runtime::{Limits, Plugin};
use plaza_host::storage::admin::{BreakerState, ReviewFailPolicy};
use plaza_host::{InvocationReport, Plaza, PlazaConfig, PlazaError};

use crate::common::*;

/// The community the hostile plugin is installed in.
const C: &str = "c";
/// The community of the well-behaved `probe`.
const NEIGHBOUR: &str = "neighbour";
/// The hostile guest's plugin name.
const HOSTILE: &str = "hostile";
/// The WAT template's plugin name.
const WAT: &str = "wat-plugin";
/// The text that makes the hostile guest's review hook spin (`hostile::SLOW_REVIEW_MARKER`).
const SLOW_REVIEW_MARKER: &str = "please-review-slowly";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The default configuration, with the tests' shared compile cache.
fn config() -> PlazaConfig {
    PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A host built from `config`, with the well-behaved `probe` installed in [`NEIGHBOUR`].
/// Each event stands alone here: a failed one is not retried (it becomes a dead letter), so
/// the next event is delivered at once.
async fn host_with(config: PlazaConfig) -> Arc<Plaza> {
    let config = PlazaConfig {
        retry: plaza_host::dispatch::RetryPolicy::no_retries(),
        ..config
    };
    let plaza = Arc::new(Plaza::new(config).expect("starting Plaza"));
    let probe = load(&plaza, plaza_tests::PROBE).await;
    community_with(&plaza, NEIGHBOUR, &probe, "all").await;
    plaza
}

/// A default host with the neighbour, and the hostile Rust guest installed in [`C`].
async fn host_with_hostile() -> Arc<Plaza> {
    let plaza = host_with(config()).await;
    install_hostile(&plaza).await;
    plaza
}

/// Like [`host_with_hostile`], with 2 s of CPU (and 5 s of wall clock) per invocation, for the
/// floods: they are about output caps, and must not turn into CPU-budget failures when this
/// shared machine is busy.
async fn host_with_hostile_and_time_to_spare() -> Arc<Plaza> {
    let plaza = host_with(PlazaConfig {
        limits: Limits {
            cpu_ms: 2_000,
            wall_clock_ms: 5_000,
            ..Default::default()
        },
        ..config()
    })
    .await;
    install_hostile(&plaza).await;
    plaza
}

async fn install_hostile(plaza: &Plaza) {
    let hostile = load(plaza, plaza_tests::HOSTILE).await;
    community_with(plaza, C, &hostile, "all").await;
}

/// Asserts that the well-behaved neighbour still works: the probe in [`NEIGHBOUR`] answers a
/// `/send` command, and its message is posted. Each call uses a fresh event id, message id and a
/// timestamp 10 s after the previous call's, so the probe's message budget never runs out.
async fn assert_neighbour_serves(plaza: &Plaza) {
    static CALLS: AtomicU64 = AtomicU64::new(1);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let text = format!("neighbour ok {n}");
    let mut events = Events::new(NEIGHBOUR);
    let event = events.parse(&format!(
        r#"{{"type":"message-posted","id":"neighbour-check-{n}","timestamp_ms":{},
            "channel":"general","message_id":"neighbour-{n}","author":"nina","text":"/send {text}"}}"#,
        1_767_225_600_000 + n * 10_000
    ));
    let report = plaza.dispatch(event).await.expect("dispatching to the neighbour");
    let r = only(&report.invocations, "probe");
    assert!(r.outcome.is_ok(), "the neighbour must keep working: {r:#?}");
    assert_eq!(sent(r), std::slice::from_ref(&text), "{r:#?}");
    let posted = plaza
        .store()
        .messages(NEIGHBOUR)
        .into_iter()
        .any(|m| m.text == text && m.posted_by_plugin.as_deref() == Some("probe"));
    assert!(posted, "the neighbour's message {text:?} must be posted");
}

/// Dispatches a slash command to the hostile guest in [`C`]; returns its invocation.
async fn hostile(plaza: &Plaza, ev: &mut Events, id: &str, command: &str) -> InvocationReport {
    let report = plaza
        .dispatch(ev.message(id, "mallory", command))
        .await
        .unwrap_or_else(|e| panic!("dispatching {command}: {e}"));
    only(&report.invocations, HOSTILE).clone()
}

/// The failure of an invocation that must have failed.
fn failure(r: &InvocationReport) -> &Failure {
    r.outcome
        .failure()
        .unwrap_or_else(|| panic!("{} {} must fail: {r:#?}", r.plugin, r.event_type))
}

/// Asserts the invocation failed with `reason`, and returns the failure.
#[track_caller]
fn assert_failed(r: &InvocationReport, reason: FailureReason) -> &Failure {
    let f = failure(r);
    assert_eq!(f.reason, reason, "{}: {f:#?}", reason.code());
    f
}

const WAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guests/wat");

fn wat_file(name: &str) -> String {
    let path = format!("{WAT_DIR}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Where a fragment goes in `plugin.wat`.
enum Marker {
    /// Component-level imports.
    ExtraImports,
    /// Core instructions run for `member-joined` events.
    OnMemberJoined,
}

/// The WAT template with `fragment` (a file in `tests/guests/wat`) spliced in at `marker`,
/// compiled to a component.
fn wat_component(fragment: &str, marker: Marker) -> Vec<u8> {
    let template = wat_file("plugin.wat");
    let marker = match marker {
        Marker::ExtraImports => ";; @EXTRA-IMPORTS",
        Marker::OnMemberJoined => ";; @ON-MEMBER-JOINED",
    };
    assert_eq!(template.matches(marker).count(), 1, "{marker} in plugin.wat");
    let text = template.replace(marker, &wat_file(fragment));
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{fragment}: {e}"))
}

/// The benign template itself.
fn wat_template() -> Vec<u8> {
    wat::parse_str(wat_file("plugin.wat")).unwrap()
}

/// Loads `bytes` and installs it in [`C`] with everything it requests.
async fn install_bytes(plaza: &Plaza, bytes: &[u8], origin: &str) -> Arc<Plugin> {
    let plugin = plaza
        .load_plugin(bytes, origin)
        .await
        .unwrap_or_else(|e| panic!("loading {origin}: {e}"));
    community_with(plaza, C, &plugin, "all").await;
    plugin
}

/// Delivers a `member-joined` event in [`C`] (what the WAT fragments act on); returns the WAT
/// plugin's invocation.
async fn wat_member_joined(plaza: &Plaza) -> InvocationReport {
    let report = plaza.dispatch(Events::new(C).joined("newcomer")).await.unwrap();
    only(&report.invocations, WAT).clone()
}

/// Loads the template with `fragment` spliced in (expecting that to fail); returns the error.
async fn wat_load_error(plaza: &Plaza, fragment: &str) -> PlazaError {
    let bytes = wat_component(fragment, Marker::ExtraImports);
    match plaza.load_plugin(&bytes, fragment).await {
        Ok(p) => panic!("{fragment} must be refused at load, but loaded as {p:?}"),
        Err(e) => e,
    }
}

/// A WAT case whose fragment must trap with `reason` on `member-joined`, with a message
/// containing `says`; then the neighbour must still serve.
async fn assert_wat_case_fails(fragment: &str, reason: FailureReason, says: &str) {
    let plaza = host_with(config()).await;
    install_bytes(&plaza, &wat_component(fragment, Marker::OnMemberJoined), fragment).await;
    let r = wat_member_joined(&plaza).await;
    let f = assert_failed(&r, reason);
    assert!(
        f.message.contains(says),
        "{fragment}: expected {says:?} in {:?}",
        f.message
    );
    assert!(r.actions.is_empty());
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// The WAT template itself: proves the WAT cases fail because of their fragment, nothing else.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_wat_template_alone_is_a_working_plugin() {
    let plaza = host_with(config()).await;
    let plugin = install_bytes(&plaza, &wat_template(), "plugin.wat").await;
    assert_eq!(plugin.name, WAT);
    assert_eq!(plugin.version, "0.0.1");
    assert_eq!(plugin.summary.wit_version.as_deref(), Some("0.1.0"));
    let r = wat_member_joined(&plaza).await;
    assert!(r.outcome.is_ok(), "{r:#?}");
    assert_eq!(logs(&r), ["wat-plugin saw a member join"]);
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// CPU, memory and stack
// ---------------------------------------------------------------------------------------------

/// 1. An infinite loop runs out of CPU budget, while the neighbour's events, dispatched
/// concurrently, are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_hits_the_cpu_budget_while_a_neighbour_is_served() {
    let plaza = host_with_hostile().await;
    let looping = tokio::spawn({
        let plaza = plaza.clone();
        async move { hostile(&plaza, &mut Events::new(C), "m1", "/loop").await }
    });
    let neighbour = tokio::spawn({
        let plaza = plaza.clone();
        async move {
            for _ in 0..3 {
                assert_neighbour_serves(&plaza).await;
            }
        }
    });
    neighbour.await.expect("the neighbour's events complete");
    let r = looping.await.unwrap();
    let f = assert_failed(&r, FailureReason::CpuBudget);
    assert!(f.message.contains("cpu budget"), "{}", f.message);
    assert_neighbour_serves(&plaza).await;
}

/// 2. Looping through host calls (`log`, `kv.get`) is stopped the same way: host calls do not
/// reset or pause the budget.
#[tokio::test]
async fn a_loop_of_host_calls_hits_the_cpu_budget() {
    let plaza = host_with_hostile().await;
    let mut ev = Events::new(C);
    let r = hostile(&plaza, &mut ev, "m1", "/log-loop").await;
    assert_failed(&r, FailureReason::CpuBudget);
    assert!(
        r.logs
            .iter()
            .any(|l| l.source == "host" && l.message.contains("log output truncated")),
        "the endless logging is capped too: {:?}",
        r.logs.last()
    );
    let r = hostile(&plaza, &mut ev, "m2", "/kv-loop").await;
    assert_failed(&r, FailureReason::CpuBudget);
    assert_neighbour_serves(&plaza).await;
}

/// 3. memory.grow toward 4 GiB, from hand-written WAT and from Rust (`core::arch`).
#[tokio::test]
async fn memory_grow_toward_4_gib_hits_the_memory_limit() {
    let limit = (64usize << 20).to_string();
    assert_wat_case_fails("grow.wat", FailureReason::MemoryLimit, &limit).await;

    let plaza = host_with_hostile().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/grow").await;
    let f = assert_failed(&r, FailureReason::MemoryLimit);
    assert!(
        f.message.contains(&(64usize << 20).to_string()),
        "names the limit: {}",
        f.message
    );
    assert_neighbour_serves(&plaza).await;
}

/// 4. table.grow by 10 000 000 elements (WAT).
#[tokio::test]
async fn table_grow_of_ten_million_elements_hits_the_memory_limit() {
    assert_wat_case_fails(
        "table-grow.wat",
        FailureReason::MemoryLimit,
        "growing a table to 10000001 elements",
    )
    .await;
}

/// 5. Unbounded recursion.
#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let plaza = host_with_hostile().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/recurse").await;
    assert_failed(&r, FailureReason::StackOverflow);
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// Oversized data through the boundary
// ---------------------------------------------------------------------------------------------

/// 6. A pointer/length pair claiming a 1 GiB string passed to `log` (WAT).
#[tokio::test]
async fn a_1_gib_string_passed_to_log_traps() {
    assert_wat_case_fails("log-1gib.wat", FailureReason::GuestTrap, "out of bounds").await;
}

/// 7. A handler error whose message is 8 MiB. (64 MiB cannot be built inside the default
/// 64 MiB memory limit, which the string alone would fill; 8 MiB is still 2 000 times the
/// host's 4 KiB cap on returned strings.)
#[tokio::test]
async fn a_huge_returned_error_message_is_truncated() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/huge-error 8").await;
    let f = assert_failed(&r, FailureReason::GuestError);
    assert_eq!(f.code.as_deref(), Some("huge"));
    assert!(
        f.message.starts_with("EEEE"),
        "{}",
        &f.message[..f.message.len().min(100)]
    );
    assert!(f.message.len() <= 4096 + 100, "message of {} bytes", f.message.len());
    assert_neighbour_serves(&plaza).await;
}

/// 8. 100 000 log calls: the invocation succeeds, the kept log is capped at 64 KiB and says so.
#[tokio::test]
async fn a_flood_of_log_calls_is_capped() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/log-flood 100000").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let budget = Limits::default().log_bytes;
    let kept: usize = r
        .logs
        .iter()
        .filter(|l| l.source == "log")
        .map(|l| l.message.len())
        .sum();
    assert!(kept > 0 && kept <= budget, "kept {kept} bytes of log (budget {budget})");
    assert!(r.logs.len() < 100_000);
    let last = r.logs.last().unwrap();
    assert_eq!(last.source, "host");
    assert!(last.message.contains("log output truncated"), "{}", last.message);
    assert_neighbour_serves(&plaza).await;
}

/// 8b. Empty log lines count against the cap too: a flood of them must not grow the report
/// without bound.
#[tokio::test]
async fn a_flood_of_empty_log_lines_is_capped() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/log-flood 100000 empty").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert!(
        r.logs.len() < 100_000,
        "{} log lines kept for 100 000 empty log calls",
        r.logs.len()
    );
    assert!(r
        .logs
        .iter()
        .any(|l| l.source == "host" && l.message.contains("log output truncated")));
    assert_neighbour_serves(&plaza).await;
}

/// 8c. Megabytes written to stdout are captured up to the log budget.
#[tokio::test]
async fn a_flood_of_stdout_is_capped() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/stdout-flood").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let kept: usize = r
        .logs
        .iter()
        .filter(|l| l.source == "stdout")
        .map(|l| l.message.len())
        .sum();
    assert!(
        kept > 0 && kept <= Limits::default().log_bytes,
        "kept {kept} bytes of stdout"
    );
    assert!(
        r.logs
            .iter()
            .any(|l| l.source == "host" && l.message.contains("stdout truncated")),
        "{:?}",
        r.logs.last()
    );
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// Effects and quotas
// ---------------------------------------------------------------------------------------------

/// 9. 10 000 sends in one event: the paced budget (1/s per channel, burst 5) lets at most 5
/// through and answers `rate-limited` to the rest.
#[tokio::test]
async fn a_flood_of_sends_is_rate_limited() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/send-flood 10000").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let n = sent(&r).len();
    assert!((1..=5).contains(&n), "{n} messages sent");
    assert_eq!(logs(&r), [format!("send-flood: ok={n} rate-limited={}", 10_000 - n)]);
    let posted = plaza
        .store()
        .messages(C)
        .iter()
        .filter(|m| m.posted_by_plugin.as_deref() == Some(HOSTILE))
        .count();
    assert_eq!(posted, n);
    assert_neighbour_serves(&plaza).await;
}

/// 10. KV writes until the host refuses: the plugin gets `quota-exceeded` (and logs it), and no
/// more than the quota is stored.
#[tokio::test]
async fn unbounded_kv_writes_stop_at_the_quota() {
    let plaza = host_with_hostile_and_time_to_spare().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/kv-fill").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let log = logs(&r).join("\n");
    assert!(log.contains("kv-fill stopped after"), "{log}");
    assert!(log.contains(": quota-exceeded: "), "{log}");
    let quota = Limits::default().kv_quota_bytes;
    let stored = plaza.store().kv_bytes(C, HOSTILE);
    assert!(stored > 0 && stored <= quota, "{stored} bytes stored; quota {quota}");
    assert!(plaza.store().kv_get(C, HOSTILE, "fill:000000").is_some());
    assert_neighbour_serves(&plaza).await;
}

/// 11. WASI resource handles (`wasi:cli/stdout.get-stdout`) created in a loop and never dropped:
/// the host's resource table cap stops the plugin.
#[tokio::test]
async fn leaking_resource_handles_hits_the_resource_cap() {
    let plaza = host_with_hostile().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/handles").await;
    let f = assert_failed(&r, FailureReason::MemoryLimit);
    assert!(f.message.contains("resource"), "{}", f.message);
    assert_neighbour_serves(&plaza).await;
}

/// 17. A trap after host calls that had effects: everything is discarded.
#[tokio::test]
async fn a_trap_after_effects_discards_them_all() {
    let plaza = host_with_hostile().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/effects-then-panic").await;
    let f = assert_failed(&r, FailureReason::GuestTrap);
    assert!(
        f.message.contains("hostile panics after sending and writing"),
        "{}",
        f.message
    );
    assert!(r.actions.is_empty());
    assert_eq!(r.discarded_actions, 2);
    assert_eq!(plaza.store().kv_get(C, HOSTILE, "half-done"), None);
    assert_eq!(plaza.store().kv_bytes(C, HOSTILE), 0);
    assert!(plaza.store().messages(C).iter().all(|m| m.posted_by_plugin.is_none()));
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// Malformed values lifted from the guest (WAT)
// ---------------------------------------------------------------------------------------------

/// 12. A string that is not UTF-8 passed to `log`.
#[tokio::test]
async fn invalid_utf8_passed_to_log_traps() {
    assert_wat_case_fails("log-invalid-utf8.wat", FailureReason::GuestTrap, "invalid utf-8").await;
}

/// 13. Log level 99: an enum discriminant out of range.
#[tokio::test]
async fn an_out_of_range_enum_discriminant_traps() {
    assert_wat_case_fails("log-bad-level.wat", FailureReason::GuestTrap, "discriminant: 99").await;
}

/// 14. A string pointer far outside the guest's memory.
#[tokio::test]
async fn an_out_of_bounds_string_pointer_traps() {
    assert_wat_case_fails("log-out-of-bounds.wat", FailureReason::GuestTrap, "out of bounds").await;
}

// ---------------------------------------------------------------------------------------------
// What a component may import
// ---------------------------------------------------------------------------------------------

/// 15. WASI filesystem is linked inertly: the plugin loads, and opening a file or listing a
/// directory fails inside it. WASI sockets are linked denying (Python and JavaScript runtimes
/// import them): a component importing them loads, and every socket call fails inside it.
#[tokio::test]
async fn wasi_filesystem_has_no_files_and_sockets_are_denied() {
    let plaza = host_with_hostile().await;
    let hostile_plugin = load(&plaza, plaza_tests::HOSTILE).await;
    assert!(
        hostile_plugin
            .summary
            .wasi_imports
            .iter()
            .any(|i| i.starts_with("wasi:filesystem/")),
        "the hostile guest imports the filesystem through std: {:?}",
        hostile_plugin.summary.wasi_imports
    );
    let mut ev = Events::new(C);
    let r = hostile(&plaza, &mut ev, "m1", "/read-file").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let log = logs(&r).join("\n");
    assert!(log.starts_with("read /etc/passwd: Err("), "{log}");
    assert!(log.contains("; list /: Err("), "{log}");

    // A plugin importing sockets now loads (it used to be refused by name).
    let bytes = wat_component("import-sockets.wat", Marker::ExtraImports);
    let with_sockets = plaza.load_plugin(&bytes, "import-sockets.wat").await.unwrap();
    assert!(
        with_sockets
            .summary
            .wasi_imports
            .iter()
            .any(|i| i == "wasi:sockets/tcp@0.2.6"),
        "{:?}",
        with_sockets.summary.wasi_imports
    );
    assert!(
        hostile_plugin
            .summary
            .wasi_imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/tcp@")),
        "the hostile guest uses std::net: {:?}",
        hostile_plugin.summary.wasi_imports
    );
    let r = hostile(&plaza, &mut ev, "m2", "/connect").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let log = logs(&r).join("\n");
    assert!(
        log.starts_with("tcp: Err(") && log.contains("; udp: Err(") && log.contains("; lookup: Err("),
        "{log}"
    );
    assert!(log.to_lowercase().contains("denied"), "{log}");
    assert_neighbour_serves(&plaza).await;
}

/// 16. An import of an interface that exists nowhere.
#[tokio::test]
async fn an_unknown_interface_import_is_refused_at_load() {
    let plaza = host_with(config()).await;
    let err = wat_load_error(&plaza, "import-backdoor.wat").await;
    assert!(matches!(err, PlazaError::Load { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("evil:backdoor/shell@1.0.0"), "{text}");
    assert!(text.contains("import-backdoor.wat"), "names the plugin: {text}");
    assert_neighbour_serves(&plaza).await;
}

/// 20. A component over `limits.max_component_bytes` is refused before compiling, saying its
/// size and the limit. (The neighbour here is the WAT template, the one plugin under the limit.)
#[tokio::test]
async fn an_oversized_component_is_refused_at_load() {
    let plaza = Plaza::new(PlazaConfig {
        limits: Limits {
            max_component_bytes: 10_000,
            ..Default::default()
        },
        ..config()
    })
    .unwrap();
    let bytes = std::fs::read(plaza_tests::HOSTILE).unwrap();
    assert!(bytes.len() > 10_000);
    let err = plaza.load_plugin(&bytes, "hostile.wasm").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("hostile.wasm"), "{text}");
    assert!(text.contains(&bytes.len().to_string()), "names the size: {text}");
    assert!(text.contains("10000"), "names the limit: {text}");

    install_bytes(&plaza, &wat_template(), "plugin.wat").await;
    let r = wat_member_joined(&plaza).await;
    assert!(r.outcome.is_ok(), "{r:#?}");
    assert_eq!(logs(&r), ["wat-plugin saw a member join"]);
}

/// 21. Bytes that are not WebAssembly (text, and a component header followed by garbage).
#[tokio::test]
async fn bytes_that_are_not_wasm_are_refused() {
    let plaza = host_with(config()).await;
    let err = plaza
        .load_plugin(b"#!/bin/sh\nrm -rf /\n", "evil.sh")
        .await
        .unwrap_err();
    assert!(matches!(err, PlazaError::NotAComponent { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "evil.sh is not a WebAssembly component: it does not start with the WebAssembly magic bytes"
    );
    let mut garbage = b"\0asm\x0d\0\x01\0".to_vec();
    garbage.extend(std::iter::repeat_n(0xffu8, 64));
    let err = plaza.load_plugin(&garbage, "garbage.wasm").await.unwrap_err();
    assert!(matches!(err, PlazaError::NotAComponent { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("garbage.wasm is not a WebAssembly component: "),
        "{err}"
    );
    assert_neighbour_serves(&plaza).await;
}

/// 22. A core module instead of a component.
#[tokio::test]
async fn a_core_module_is_refused() {
    let plaza = host_with(config()).await;
    let core =
        wat::parse_str(r#"(module (func (export "handle-event") (param i32) (result i32) unreachable))"#).unwrap();
    let err = plaza.load_plugin(&core, "core.wasm").await.unwrap_err();
    assert!(matches!(err, PlazaError::NotAComponent { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("core.wasm is not a WebAssembly component"), "{text}");
    assert!(text.contains("core WebAssembly module"), "{text}");
    assert!(text.contains("wasm32-wasip2"), "says how to fix it: {text}");
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// Repeated failure, logs, the review hook
// ---------------------------------------------------------------------------------------------

/// 18. A plugin failing on every event trips its circuit breaker: later events are held (not
/// delivered, not dropped) and an admin reset delivers them in order.
#[tokio::test]
async fn a_failing_plugin_trips_the_breaker_and_a_reset_delivers_held_events() {
    let plaza = host_with_hostile().await;
    let mut ev = Events::new(C);
    for i in 0..5 {
        let r = hostile(&plaza, &mut ev, &format!("f{i}"), "/fail").await;
        let f = assert_failed(&r, FailureReason::GuestError);
        assert_eq!(f.code.as_deref(), Some("always-fails"));
    }
    let status = plaza.breaker_status(C, HOSTILE).unwrap();
    assert_eq!(status.state, BreakerState::Open, "{status:?}");
    assert_eq!(status.trips, 1);
    assert!(status.retry_at_ms.is_some());
    assert_eq!(status.held_events, 0);
    // An admin change that replaces the install (its limits) keeps its breaker.
    let tighter = plaza_host::storage::admin::LimitOverrides {
        cpu_ms: Some(100),
        ..Default::default()
    };
    plaza.set_limits(C, HOSTILE, tighter).unwrap();
    assert_eq!(plaza.breaker_status(C, HOSTILE).unwrap().state, BreakerState::Open);

    for word in ["one", "two", "three"] {
        let report = plaza
            .dispatch(ev.message(&format!("e-{word}"), "alice", &format!("/echo {word}")))
            .await
            .unwrap();
        assert!(report.invocations.is_empty(), "held, not delivered: {report:#?}");
        assert_eq!(report.held, [HOSTILE]);
    }
    let status = plaza.breaker_status(C, HOSTILE).unwrap();
    assert_eq!(status.state, BreakerState::Open);
    assert_eq!(status.held_events, 3);
    assert!(plaza.store().messages(C).iter().all(|m| m.posted_by_plugin.is_none()));
    assert_neighbour_serves(&plaza).await;

    let delivered = plaza.reset_breaker(C, HOSTILE).await.unwrap();
    let answers: Vec<Vec<String>> = delivered.iter().map(sent).collect();
    assert_eq!(answers, [["one"], ["two"], ["three"]], "{delivered:#?}");
    assert!(delivered.iter().all(|r| r.outcome.is_ok()));
    let status = plaza.breaker_status(C, HOSTILE).unwrap();
    assert_eq!(status.state, BreakerState::Closed);
    assert_eq!(status.held_events, 0);
    // Closed again: the next event is delivered at once.
    let r = hostile(&plaza, &mut ev, "after", "/echo four").await;
    assert_eq!(sent(&r), ["four"]);
    assert_neighbour_serves(&plaza).await;
}

/// 19. ANSI escape codes, bells, carriage returns and newlines in log, stdout and stderr lines
/// are escaped: no line can repaint a terminal or forge another log line.
#[tokio::test]
async fn escape_codes_and_newlines_in_logs_are_sanitised() {
    let plaza = host_with_hostile().await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/ansi").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    for line in &r.logs {
        assert!(
            !line.message.chars().any(|c| matches!(c, '\x1b' | '\r' | '\n' | '\x07')),
            "unescaped control character in {line:?}"
        );
    }
    let find = |source: &str| {
        r.logs
            .iter()
            .find(|l| l.source == source)
            .unwrap_or_else(|| panic!("no {source} line in {:#?}", r.logs))
            .message
            .clone()
    };
    assert_eq!(find("log"), r"\u{1b}[31mred\u{1b}[0m\r\nFAKE host line\u{7} done");
    assert_eq!(find("stdout"), r"out \u{1b}[2J cleared\rover");
    assert_eq!(find("stderr"), r"err \u{1b}]0;title\u{7} set");
    assert_neighbour_serves(&plaza).await;
}

/// 23. A review hook that spins past its budget: with the default fail-open policy the message
/// is posted; with fail-closed it is held, never delivered. Either way `ingest` returns.
#[tokio::test]
async fn an_over_budget_review_hook_fails_open_or_closed_by_policy() {
    let plaza = host_with(config()).await;
    let hostile_plugin = load(&plaza, plaza_tests::HOSTILE).await;
    for community in ["open", "closed"] {
        community_with(&plaza, community, &hostile_plugin, "all").await;
    }
    plaza
        .set_review_fail_policy("closed", ReviewFailPolicy::FailClosed)
        .unwrap();
    let text = format!("hello {SLOW_REVIEW_MARKER}");

    let report = plaza
        .ingest(Events::new("open").message("m1", "alice", &text))
        .await
        .unwrap();
    let review = report.review.expect("reviewed");
    assert_eq!(review.decision, ReviewDecision::Allow);
    assert_failed(only(&review.invocations, HOSTILE), FailureReason::CpuBudget);
    assert!(report.dispatch.is_some(), "fail-open: delivered");
    assert_eq!(plaza.store().message("open", "m1").map(|m| m.text), Some(text.clone()));

    let report = plaza
        .ingest(Events::new("closed").message("m1", "alice", &text))
        .await
        .unwrap();
    let review = report.review.expect("reviewed");
    assert_failed(only(&review.invocations, HOSTILE), FailureReason::CpuBudget);
    match &review.decision {
        ReviewDecision::Hold { plugin, reason } => {
            assert_eq!(plugin, HOSTILE);
            assert!(reason.starts_with("cpu-budget"), "{reason}");
        }
        other => panic!("fail-closed must hold the message, got {other:?}"),
    }
    assert!(report.dispatch.is_none(), "fail-closed: never delivered");
    assert!(plaza.store().message("closed", "m1").is_none());
    assert_neighbour_serves(&plaza).await;
}

// ---------------------------------------------------------------------------------------------
// Fuel and wall clock
// ---------------------------------------------------------------------------------------------

/// 24. With fuel metering on and a small per-install fuel budget, a busy loop stops with
/// `fuel-budget` (long before the generous CPU budget).
#[tokio::test]
async fn fuel_exhaustion_is_a_fuel_budget_failure() {
    let plaza = host_with(PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            fuel: true,
            ..Default::default()
        },
        limits: Limits {
            fuel: Some(50_000_000),
            cpu_ms: 5_000,
            wall_clock_ms: 10_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    install_hostile(&plaza).await;
    let mut ev = Events::new(C);
    let r = hostile(&plaza, &mut ev, "m1", "/loop").await;
    assert_failed(&r, FailureReason::FuelBudget);
    // A short computation fits in the same budget.
    let r = hostile(&plaza, &mut ev, "m2", "/busy 1000").await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_neighbour_serves(&plaza).await;
}

/// 25. With a large CPU budget but a short wall clock, an infinite loop stops with `wall-clock`.
#[tokio::test]
async fn the_wall_clock_stops_a_loop_with_cpu_budget_to_spare() {
    let plaza = host_with(PlazaConfig {
        limits: Limits {
            cpu_ms: 5_000,
            wall_clock_ms: 100,
            ..Default::default()
        },
        ..config()
    })
    .await;
    install_hostile(&plaza).await;
    let r = hostile(&plaza, &mut Events::new(C), "m1", "/loop").await;
    let f = assert_failed(&r, FailureReason::WallClock);
    assert!(f.message.contains("100 ms"), "{}", f.message);
    assert_neighbour_serves(&plaza).await;
}
