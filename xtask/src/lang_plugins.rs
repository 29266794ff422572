//! Builds the Python and JavaScript sample plugins into `target/lang-plugins/`, where
//! `tests/all/languages.rs` loads them.
//!
//! Each build takes 15–45 s, so a component is rebuilt only when a hash of its sources, the WIT
//! and the toolchain pin differs from the one stored beside it. The samples' own unit tests of
//! their pure logic (plain `python3 -m unittest` / `node --test`) run first: they take a second.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, toolchains, workspace_root};

/// The WIT the samples are built against (the host keeps running 0.1.0 plugins).
const WIT: &str = "wit/since_v0.2.0";
/// The build script `plaza new --lang js` projects carry; the JavaScript sample uses it too.
const COMPONENTIZE_MJS: &str = "host/templates/js/componentize.mjs";

enum Lang {
    Python,
    JavaScript,
}

/// (sample folder, entry point, language).
const SAMPLES: [(&str, &str, Lang); 2] = [
    ("keyword-responder", "app", Lang::Python),
    ("leaderboard", "leaderboard.js", Lang::JavaScript),
];

/// Where the built components go.
pub fn out_dir() -> PathBuf {
    workspace_root().join("target").join("lang-plugins")
}

/// Installs the toolchains if needed and builds every sample whose inputs changed.
pub fn build() -> Result<(), String> {
    toolchains::ensure()?;
    let out = out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    for (sample, entry, lang) in SAMPLES {
        let dir = workspace_root().join("sample-plugins").join(sample);
        let output = out.join(format!("{}.wasm", sample.replace('-', "_")));
        let stamp = output.with_extension("wasm.inputs");
        let pin = match lang {
            Lang::Python => toolchains::COMPONENTIZE_PY,
            Lang::JavaScript => toolchains::COMPONENTIZE_JS,
        };
        let inputs = inputs_hash(&dir, pin)?;
        if output.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs) {
            eprintln!("xtask: {} is up to date", output.display());
            continue;
        }
        unit_tests(&dir, &lang)?;
        let started = std::time::Instant::now();
        match lang {
            Lang::Python => run(Command::new(toolchains::componentize_py())
                .current_dir(&dir)
                .args(["-d"])
                .arg(workspace_root().join(WIT))
                .args(["-w", "plugin", "componentize", entry, "-o"])
                .arg(&output))?,
            Lang::JavaScript => run(Command::new("node")
                .current_dir(&dir)
                .env("PLAZA_NODE_MODULES", toolchains::node_modules())
                .arg(workspace_root().join(COMPONENTIZE_MJS))
                .arg(entry)
                .arg(workspace_root().join(WIT))
                .arg(&output))?,
        }
        eprintln!(
            "xtask: built {} in {:.1} s",
            output.display(),
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&stamp, inputs).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    }
    Ok(())
}

fn unit_tests(dir: &Path, lang: &Lang) -> Result<(), String> {
    match lang {
        Lang::Python => run(Command::new("python3")
            .current_dir(dir)
            .args(["-m", "unittest", "--quiet"])),
        Lang::JavaScript => run(Command::new("node").current_dir(dir).arg("--test")),
    }
}

/// A hash of every file of the sample and of the WIT, with the toolchain pin.
fn inputs_hash(dir: &Path, pin: &str) -> Result<String, String> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    collect(&workspace_root().join(WIT), &mut files)?;
    files.push(workspace_root().join(COMPONENTIZE_MJS));
    files.sort();
    let mut hasher = DefaultHasher::new();
    pin.hash(&mut hasher);
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        file.hash(&mut hasher);
        bytes.hash(&mut hasher);
    }
    Ok(format!("{:016x}\n", hasher.finish()))
}

/// Source files under `dir`: not the README or the manifest (a build does not read them), nor
/// Python's bytecode caches.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "__pycache__" && n != "node_modules")
            {
                collect(&path, files)?;
            }
        } else if path.file_name().is_some_and(|n| n != "README.md" && n != "plaza.toml") {
            files.push(path);
        }
    }
    Ok(())
}
