//! The Python and JavaScript plugin toolchains, installed from PyPI and npm into
//! `target/toolchains/` (never system-wide), pinned, and skipped when already there.
//!
//! A fresh machine needs only `python3` (with `venv`) and `node`/`npm`; the installs take
//! about half a minute each on a cold machine and nothing once done.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, workspace_root};

/// componentize-py from PyPI: builds a component from a Python module.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.0";
/// componentize-js from npm: builds a component from a JavaScript module. Its splicer imports
/// preview2-shim at run time, yet lists it only as a dev dependency, and the newest jco that
/// npm picks for it no longer brings one: pin the version componentize-js is developed against.
pub const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.17.5";

/// Marker written once an install finished; holds the pin, so a new pin reinstalls.
const MARKER: &str = ".plaza-toolchain";

/// Where the toolchains live.
pub fn root() -> PathBuf {
    workspace_root().join("target").join("toolchains")
}

/// The `componentize-py` of the project venv.
pub fn componentize_py() -> PathBuf {
    root().join("python").join("bin").join("componentize-py")
}

/// The `node_modules` holding componentize-js.
pub fn node_modules() -> PathBuf {
    root().join("node").join("node_modules")
}

/// Installs both toolchains if they are missing or pinned differently.
pub fn ensure() -> Result<(), String> {
    ensure_python()?;
    ensure_node()
}

fn ensure_python() -> Result<(), String> {
    let dir = root().join("python");
    if installed(&dir, COMPONENTIZE_PY) {
        return Ok(());
    }
    eprintln!("xtask: installing {COMPONENTIZE_PY} into {}", dir.display());
    let pip_args = ["install", "--quiet", "--disable-pip-version-check"];
    if run(Command::new(python3()).args(["-m", "venv", "--clear"]).arg(&dir)).is_ok() {
        run(Command::new(dir.join("bin").join("pip"))
            .args(pip_args)
            .arg(COMPONENTIZE_PY))?;
    } else {
        // Debian's python3 comes without `venv` unless python3-venv is installed: fall back to
        // the system pip installing into a folder of ours, and a launcher that points at it.
        eprintln!("xtask: python3 -m venv is unavailable; installing with pip --target instead");
        let site = dir.join("site-packages");
        run(Command::new(python3())
            .args(["-m", "pip"])
            .args(pip_args)
            .arg("--target")
            .arg(&site)
            .arg(COMPONENTIZE_PY))?;
        write_launcher(&componentize_py(), &site)?;
    }
    mark(&dir, COMPONENTIZE_PY)
}

/// `bin/componentize-py` running the package installed in `site` with the system python3.
fn write_launcher(path: &Path, site: &Path) -> Result<(), String> {
    let script = format!(
        "#!/bin/sh\nPYTHONPATH='{}' exec {} -c 'import sys; from componentize_py import script; sys.exit(script())' \"$@\"\n",
        site.display(),
        python3()
    );
    let parent = path.parent().expect("the launcher lives in bin/");
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    std::fs::write(path, script).map_err(|e| format!("writing {}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("making {} executable: {e}", path.display()))
}

fn ensure_node() -> Result<(), String> {
    let dir = root().join("node");
    if installed(&dir, COMPONENTIZE_JS) {
        return Ok(());
    }
    eprintln!("xtask: installing {COMPONENTIZE_JS} into {}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(COMPONENTIZE_JS.split(' ')))?;
    mark(&dir, COMPONENTIZE_JS)
}

/// `python3`, or `$PYTHON` when set.
fn python3() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn installed(dir: &Path, pin: &str) -> bool {
    std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m.trim() == pin)
}

fn mark(dir: &Path, pin: &str) -> Result<(), String> {
    let path = dir.join(MARKER);
    std::fs::write(&path, pin).map_err(|e| format!("writing {}: {e}", path.display()))
}
