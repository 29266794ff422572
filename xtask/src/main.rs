//! `cargo xtask`: the project's two entry points on a fresh machine.
//!
//! - `cargo xtask demo`: builds the sample plugins and the host, then runs `plaza demo`.
//! - `cargo xtask test`: runs the whole test suite (unit, integration, CLI, sample plugins).
//! - `cargo xtask lang-plugins`: installs the pinned Python and JavaScript plugin toolchains into
//!   `target/toolchains/` and builds the Python and JavaScript samples (`test` does this too).
//!
//! Both add the `wasm32-wasip2` target first if it is missing, and build with the one
//! release-based `ci` profile (a debug wasmtime is ~15x slower at compiling plugins). `test`
//! also installs Debian's headless Chromium and ChromeDriver when they are missing, for the web
//! console's browser tests, Debian's `nats-server` for the scale-out tests and Debian's
//! `postgresql` (when `initdb` is missing) for the PostgreSQL store's tests.

mod bench;
mod lang_plugins;
mod toolchains;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const WASM_TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "ci";
const SAMPLE_PLUGINS: [&str; 5] = ["welcome-bot", "anti-spam", "poll", "group-buy", "daily-digest"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("plugins") => ensure_wasm_target().and_then(|()| build_plugins()),
        Some("bench") => bench::bench(&args[1..]),
        Some("lang-plugins") => lang_plugins::build(),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo|test|plugins|lang-plugins|bench> [extra args]\n\
                 \n  demo      build the sample plugins and the host, run the demo community\
                 \n  test      run the whole test suite (extra args go to `cargo test`)\
                 \n  plugins   build the sample plugins into target/{WASM_TARGET}/{PROFILE}/\
                 \n  lang-plugins  install the Python/JS toolchains, build those samples into target/lang-plugins/\
                 \n  bench     build the benchmark fixtures, run `plaza bench` (extra args go to it)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Adds the wasm target through rustup when it is not installed.
fn ensure_wasm_target() -> Result<(), String> {
    ensure_target(WASM_TARGET)
}

/// Adds a compilation target through rustup when it is not installed.
fn ensure_target(target: &str) -> Result<(), String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot).join("lib/rustlib").join(target).exists() {
        return Ok(());
    }
    eprintln!("xtask: the {target} target is missing; adding it with rustup");
    run(Command::new("rustup").args(["target", "add", target]))
}

fn build_plugins() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["build", "--profile", PROFILE, "--target", WASM_TARGET]);
    for p in SAMPLE_PLUGINS {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)
}

fn demo(extra: &[String]) -> Result<(), String> {
    ensure_wasm_target()?;
    build_plugins()?;
    run(cargo().args(["build", "--profile", PROFILE, "-p", "plaza-host", "--bin", "plaza"]))?;
    let root = workspace_root();
    let plaza = root.join("target").join(PROFILE).join("plaza");
    let built = root.join("target").join(WASM_TARGET).join(PROFILE);
    let packaged = root.join("target").join("plugins");
    std::fs::create_dir_all(&packaged).map_err(|e| format!("creating {}: {e}", packaged.display()))?;
    // One .wasm per plugin with its plaza.toml embedded, as a developer would ship it.
    for p in SAMPLE_PLUGINS {
        let component = built.join(format!("{}.wasm", p.replace('-', "_")));
        let manifest = root.join("sample-plugins").join(p).join("plaza.toml");
        let output = packaged.join(format!("{p}.wasm"));
        run(Command::new(&plaza)
            .arg("package")
            .arg(&component)
            .arg("--manifest")
            .arg(&manifest)
            .arg("-o")
            .arg(&output))?;
    }
    run(Command::new(plaza)
        .arg("demo")
        .arg("--plugins-dir")
        .arg(packaged)
        .args(extra))
}

/// Where the browser tests expect Debian's Chromium and its WebDriver.
const BROWSER: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];

/// Where the NATS tests (tests/all/nats.rs) expect the server.
const NATS_SERVER: [&str; 1] = ["/usr/bin/nats-server"];

/// Installs Debian's `chromium` and `chromium-driver` when missing (as root, or through sudo).
fn ensure_browser() -> Result<(), String> {
    ensure_debian(
        &BROWSER,
        &["chromium", "chromium-driver"],
        "headless Chromium or ChromeDriver",
    )
}

/// Installs Debian's `nats-server` (JetStream) when missing, for the scale-out tests.
fn ensure_nats_server() -> Result<(), String> {
    ensure_debian(&NATS_SERVER, &["nats-server"], "nats-server")
}

/// Whether PostgreSQL's `initdb` is where the tests look for it (`PATH`, or Debian's
/// `/usr/lib/postgresql/VERSION/bin`; see `plaza_host::storage::postgres::test_server`).
fn has_initdb() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("initdb").is_file()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .is_ok_and(|versions| versions.flatten().any(|v| v.path().join("bin/initdb").is_file()));
    on_path || debian
}

/// Installs Debian's `postgresql` when `initdb` is missing: the PostgreSQL store's tests start
/// their own server.
fn ensure_postgres() -> Result<(), String> {
    if has_initdb() {
        return Ok(());
    }
    install_debian(&["postgresql"], "the PostgreSQL server (initdb)")
}

/// Installs Debian `packages` unless every file in `paths` exists (as root, or through sudo).
fn ensure_debian(paths: &[&str], packages: &[&str], what: &str) -> Result<(), String> {
    if paths.iter().all(|p| Path::new(p).exists()) {
        return Ok(());
    }
    install_debian(packages, what)
}

/// Installs Debian `packages` (as root, or through sudo).
fn install_debian(packages: &[&str], what: &str) -> Result<(), String> {
    eprintln!(
        "xtask: {what} is missing; installing Debian's {}",
        packages.join(" and ")
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root {
            cmd.arg("apt-get");
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd
    };
    run(&mut apt(&["update"]))?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    run(&mut apt(&install))
}

fn test(extra: &[String]) -> Result<(), String> {
    ensure_wasm_target()?;
    ensure_browser()?;
    ensure_nats_server()?;
    ensure_postgres()?;
    // The Python and JavaScript samples: tests/all/languages.rs fails without them.
    lang_plugins::build()?;
    run(cargo().args(["test", "--workspace", "--profile", PROFILE]).args(extra))
}
