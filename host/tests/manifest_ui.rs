//! Snapshot tests of manifest parsing: every `tests/ui/manifest/valid/*.toml` must parse (and
//! survive a `to_toml` round trip), and every `tests/ui/manifest/invalid/NAME.toml` must fail with
//! exactly the text in its sibling `NAME.err`.
//!
//! Set `PLAZA_BLESS=1` to (re)write the `.err` files from the current messages instead of
//! comparing; review the diff before committing.

use std::fs;
use std::path::{Path, PathBuf};

use plaza_host::manifest::Manifest;

fn ui_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/ui/manifest")
        .join(kind)
}

/// The `.toml` files in `dir`, sorted, as (file name, path).
fn toml_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), path))
        .collect();
    files.sort();
    files
}

fn blessing() -> bool {
    std::env::var("PLAZA_BLESS").is_ok_and(|v| v == "1")
}

#[test]
fn valid_manifests_parse() {
    let files = toml_files(&ui_dir("valid"));
    assert!(
        files.len() >= 3,
        "expected at least 3 valid manifests, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for (name, path) in &files {
        let text = fs::read_to_string(path).unwrap();
        match Manifest::from_toml(&text, name) {
            Ok(manifest) => {
                let written = manifest.to_toml();
                match Manifest::from_toml(&written, name) {
                    Ok(again) if again == manifest => {}
                    Ok(_) => failures.push(format!("{name}: to_toml round trip changed the manifest:\n{written}")),
                    Err(e) => failures.push(format!("{name}: to_toml output does not parse: {e}\n{written}")),
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn invalid_manifests_fail_with_the_expected_message() {
    let dir = ui_dir("invalid");
    let files = toml_files(&dir);
    assert!(
        files.len() >= 15,
        "expected at least 15 invalid manifests, found {}",
        files.len()
    );
    let bless = blessing();
    let mut failures = Vec::new();
    for (name, path) in &files {
        let text = fs::read_to_string(path).unwrap();
        let actual = match Manifest::from_toml(&text, name) {
            Ok(_) => {
                failures.push(format!("{name}: parsed, but it should have failed"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let err_path = path.with_extension("err");
        if bless {
            fs::write(&err_path, format!("{actual}\n")).unwrap();
            continue;
        }
        match fs::read_to_string(&err_path) {
            Ok(expected) if expected.trim_end() == actual => {}
            Ok(expected) => failures.push(format!(
                "{name}: wrong error\n  expected: {}\n  actual:   {actual}",
                expected.trim_end()
            )),
            Err(_) => failures.push(format!(
                "{name}: no {} (run with PLAZA_BLESS=1 to write it)\n  actual: {actual}",
                err_path.file_name().unwrap().to_string_lossy()
            )),
        }
    }
    // An `.err` file without its `.toml` is a leftover from a renamed or removed case.
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "err") && !path.with_extension("toml").exists() {
            failures.push(format!("{}: no matching .toml file", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "\n{}\n\n(set PLAZA_BLESS=1 to accept the actual messages)",
        failures.join("\n\n")
    );
}
