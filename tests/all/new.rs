//! `plaza new` for each language: the project it creates passes its own unit test, builds,
//! packages with `plaza package`, passes `plaza check` and answers an event under `plaza run`.
//!
//! Each step is one function taking the project, so another step slots in
//! between packaging and running. Python and JavaScript use the toolchains `cargo xtask
//! lang-plugins` installs under `target/toolchains/`; the test fails if they are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::plaza_bin;
use crate::languages::{toolchain, workspace_root};

/// A project created by `plaza new` in a temporary folder.
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    name: &'static str,
    lang: &'static str,
    /// Shared by `package` and `run`, so `run` loads the compiled form `package` stored.
    cache: PathBuf,
}

fn create(name: &'static str, lang: &'static str) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    let mut cmd = Command::new(plaza_bin());
    cmd.args(["new", name, "--lang", lang, "--dir"]).arg(&dir);
    if lang == "rust" {
        cmd.arg("--sdk-path").arg(workspace_root().join("sdk"));
    }
    succeed(&mut cmd, "plaza new");
    for file in ["plaza.toml", "README.md", "events.jsonl"] {
        assert!(dir.join(file).exists(), "plaza new --lang {lang} wrote no {file}");
    }
    let cache = tmp.path().join("cache");
    Project {
        _tmp: tmp,
        dir,
        name,
        lang,
        cache,
    }
}

/// Runs the project's own unit test, as its README says.
fn unit_test(p: &Project) {
    let mut cmd = match p.lang {
        "rust" => cargo("test"),
        "python" => with_args(Command::new("python3"), &["-m", "unittest"]),
        _ => with_args(Command::new("node"), &["--test"]),
    };
    succeed(cmd.current_dir(&p.dir), "the project's unit test");
}

/// Builds the component, as the README says; returns its path.
fn build(p: &Project) -> PathBuf {
    let out = p.dir.join(format!("{}.wasm", p.name));
    let mut cmd = match p.lang {
        "rust" => cargo("build"),
        "python" => {
            let mut cmd = Command::new(toolchain("python/bin/componentize-py"));
            cmd.args(["-d", "wit", "-w", "plugin", "componentize", "app", "-o"])
                .arg(&out);
            cmd
        }
        _ => {
            let mut cmd = Command::new("node");
            cmd.env("PLAZA_NODE_MODULES", toolchain("node/node_modules"));
            cmd.args(["componentize.mjs", "app.js", "wit"]).arg(&out);
            cmd
        }
    };
    succeed(cmd.current_dir(&p.dir), "building the component");
    if p.lang == "rust" {
        return rust_target()
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", p.name.replace('-', "_")));
    }
    out
}

fn package(p: &Project, component: &Path) -> PathBuf {
    let packaged = p.dir.join(format!("{}.plaza.wasm", p.name));
    let mut cmd = plaza(p);
    cmd.arg("package")
        .arg(component)
        .args(["--manifest", "plaza.toml", "-o"])
        .arg(&packaged);
    succeed(&mut cmd, "plaza package");
    packaged
}

/// `plaza check` on the packaged plugin: the conformance kit passes out of the box.
fn check(p: &Project, packaged: &Path) -> String {
    let mut cmd = plaza(p);
    cmd.arg("check").arg(packaged);
    let out = succeed(&mut cmd, "plaza check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("PASS: pass"), "{report}");
    report
}

/// Replays the project's events.jsonl; returns the texts of the messages the plugin sent.
fn run_events(p: &Project, packaged: &Path) -> Vec<String> {
    let mut cmd = plaza(p);
    cmd.args(["run", "--plugin"])
        .arg(packaged)
        .args(["--events", "events.jsonl", "--strict"]);
    let out = succeed(&mut cmd, "plaza run");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "action")
        .filter_map(|v| v["action"]["text"].as_str().map(str::to_string))
        .collect()
}

fn new_project_answers_hello(name: &'static str, lang: &'static str) {
    let project = create(name, lang);
    unit_test(&project);
    let component = build(&project);
    let packaged = package(&project, &component);
    let report = check(&project, &packaged);
    // componentize-py and componentize-js import every interface of the world whatever the
    // code calls: the check names the toolchain and warns instead of failing on those imports.
    let toolchain = match lang {
        "python" => Some("componentize-py"),
        "js" => Some("ComponentizeJS"),
        _ => None,
    };
    match toolchain {
        Some(t) => assert!(report.contains(&format!("built with {t}")), "{report}"),
        None => assert!(!report.contains("built with"), "{report}"),
    }
    assert_eq!(run_events(&project, &packaged), ["Hello, Plaza!"]);
}

#[test]
fn plaza_new_rust_builds_packages_and_runs() {
    new_project_answers_hello("hello-rust", "rust");
}

#[test]
fn plaza_new_python_builds_packages_and_runs() {
    new_project_answers_hello("hello-python", "python");
}

#[test]
fn plaza_new_js_builds_packages_and_runs() {
    new_project_answers_hello("hello-js", "js");
}

#[test]
fn plaza_new_refuses_a_bad_name_and_a_non_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(plaza_bin())
        .args(["new", "Bad Name", "--lang", "python", "--dir"])
        .arg(tmp.path().join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::write(tmp.path().join("taken"), "").unwrap();
    let out = Command::new(plaza_bin())
        .args(["new", "ok-name", "--lang", "js", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"), "{out:?}");
}

/// One target dir for every generated Rust project, so the SDK compiles once across runs.
fn rust_target() -> PathBuf {
    workspace_root().join("target/new-projects")
}

fn cargo(what: &str) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg(what).env("CARGO_TARGET_DIR", rust_target());
    if what == "build" {
        cmd.args(["--release", "--target", "wasm32-wasip2"]);
    }
    // The outer build's flags and wrappers must not leak into the project's own build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn plaza(p: &Project) -> Command {
    let mut cmd = Command::new(plaza_bin());
    cmd.current_dir(&p.dir).env("PLAZA_CACHE_DIR", &p.cache);
    cmd
}

fn with_args(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}

fn succeed(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {cmd:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
