//! `cargo xtask bench [plaza bench args]`: builds the benchmark fixtures into `target/bench/`
//! and runs `plaza bench` on them.
//!
//! Fixtures: the echo plugin packaged twice (fresh and `[isolation] mode = "reuse"`), three
//! packaged samples (welcome-bot, group-buy, anti-spam), the Python sample (P5's large
//! component), and the Extism baseline: the echo
//! logic built with extism-pdk for `wasm32-unknown-unknown` and the `extism` host driving it.
//! The two Extism crates sit outside the workspace (their own lock files and wasmtime), built
//! with `--release` into `target/bench-fixtures`.

use std::path::Path;
use std::process::Command;

use super::{build_plugins, cargo, ensure_target, run, workspace_root, PROFILE, WASM_TARGET};

const EXTISM_TARGET: &str = "wasm32-unknown-unknown";

pub fn bench(extra: &[String]) -> Result<(), String> {
    ensure_target(WASM_TARGET)?;
    ensure_target(EXTISM_TARGET)?;
    build_plugins()?;
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
        "-p",
        "bench-echo",
    ]))?;
    run(cargo().args(["build", "--profile", PROFILE, "-p", "plaza-host", "--bin", "plaza"]))?;
    let root = workspace_root();
    let plaza = root.join("target").join(PROFILE).join("plaza");
    let built = root.join("target").join(WASM_TARGET).join(PROFILE);
    let out = root.join("target").join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let fixtures = root.join("host").join("benches").join("fixtures");
    let package = |component: &Path, manifest: &Path, name: &str| {
        run(Command::new(&plaza)
            .arg("package")
            .arg(component)
            .arg("--manifest")
            .arg(manifest)
            .arg("-o")
            .arg(out.join(name)))
    };
    let echo = built.join("bench_echo.wasm");
    package(&echo, &fixtures.join("echo").join("plaza.toml"), "echo.wasm")?;
    package(
        &echo,
        &fixtures.join("echo").join("plaza-reuse.toml"),
        "echo-reuse.wasm",
    )?;
    for sample in ["welcome-bot", "group-buy", "anti-spam"] {
        let component = built.join(format!("{}.wasm", sample.replace('-', "_")));
        let manifest = root.join("sample-plugins").join(sample).join("plaza.toml");
        package(&component, &manifest, &format!("{sample}.wasm"))?;
    }
    // P5's large component: the Python sample (~18 MB), built with the pinned toolchain.
    super::lang_plugins::build()?;
    package(
        &root.join("target").join("lang-plugins").join("keyword_responder.wasm"),
        &root.join("sample-plugins").join("keyword-responder").join("plaza.toml"),
        "keyword-responder.wasm",
    )?;

    let extism_dir = root.join("target").join("bench-fixtures");
    let release_build = |crate_dir: &str, target: Option<&str>| {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(fixtures.join(crate_dir))
            .env("CARGO_TARGET_DIR", &extism_dir)
            .args(["build", "--release", "--locked"]);
        if let Some(t) = target {
            cmd.args(["--target", t]);
        }
        run(&mut cmd)
    };
    release_build("extism-echo", Some(EXTISM_TARGET))?;
    release_build("extism-host", None)?;
    let copy = |from: &Path, to: &str| {
        std::fs::copy(from, out.join(to)).map_err(|e| format!("copying {}: {e}", from.display()))
    };
    copy(
        &extism_dir
            .join(EXTISM_TARGET)
            .join("release")
            .join("bench_extism_echo.wasm"),
        "extism-echo.wasm",
    )?;
    copy(
        &extism_dir.join("release").join("bench-extism-host"),
        "bench-extism-host",
    )?;

    run(Command::new(&plaza)
        .current_dir(&root)
        .arg("bench")
        .arg("--fixtures")
        .arg(&out)
        .args(extra))
}
