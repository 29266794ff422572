//! What a component is: its world version, imports, exports and the capabilities it would need.

use serde::Serialize;
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::capability::Capability;

/// The WIT package plugins are written against.
pub const PACKAGE: &str = "plaza:plugin";
/// The exports the `plugin` world requires.
pub const REQUIRED_EXPORTS: [&str; 3] = ["describe", "handle-event", "review-message"];

/// WASI interfaces Plaza links (inertly, sockets denying) for language runtimes; anything else
/// is refused.
pub const LINKED_WASI: [&str; 27] = [
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/instance-network",
    "wasi:sockets/network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/tcp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/udp",
];

/// A component's shape, as `plaza inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentSummary {
    /// Size of the component file.
    pub size_bytes: usize,
    /// SHA-256 of the component bytes.
    pub sha256: String,
    /// The `plaza:plugin` version it was built against, if it imports any of its interfaces.
    pub wit_version: Option<String>,
    /// Top-level exports.
    pub exports: Vec<String>,
    /// Every import, as named in the component.
    pub imports: Vec<String>,
    /// Plaza host interfaces it imports (e.g. `messaging`).
    pub plaza_interfaces: Vec<String>,
    /// WASI interfaces it imports (all satisfied inertly).
    pub wasi_imports: Vec<String>,
    /// Imports Plaza does not provide: the component cannot be loaded.
    pub unsupported_imports: Vec<String>,
    /// Capabilities its imports could need (a plugin degrades gracefully without them).
    pub capabilities: Vec<Capability>,
    /// Required exports that are missing.
    pub missing_exports: Vec<String>,
    /// The language toolchain that built it, from its `producers` sections, when it names one
    /// that imports the whole world whatever the code calls (componentize-py, ComponentizeJS).
    pub whole_world_toolchain: Option<String>,
}

/// `producers` names of toolchains whose components import every interface of the world, used
/// or not, with the toolchain they stand for. componentize-py does not name itself there; its
/// pre-initialiser, component-init, does.
const WHOLE_WORLD_TOOLCHAINS: [(&str, &str); 3] = [
    ("componentize-py", "componentize-py"),
    ("component-init-transform", "componentize-py"),
    ("ComponentizeJS", "ComponentizeJS"),
];

/// The first whole-world toolchain named in any `producers` section of `bytes` (the component's
/// own or a nested core module's: componentize-py names itself in the latter).
fn whole_world_toolchain(bytes: &[u8]) -> Option<String> {
    use wasmparser::{KnownCustom, Payload};
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Producers(producers) = section.as_known() else {
            continue;
        };
        for field in producers.into_iter().flatten() {
            for value in field.values.into_iter().flatten() {
                if let Some((_, toolchain)) = WHOLE_WORLD_TOOLCHAINS.iter().find(|(n, _)| *n == value.name) {
                    return Some(toolchain.to_string());
                }
            }
        }
    }
    None
}

fn split_versioned(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// Summarises a compiled component.
pub fn summarize(component: &Component, engine: &Engine, bytes: &[u8]) -> ComponentSummary {
    use sha2::Digest;
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();

    let mut wit_version = None;
    let mut plaza_interfaces = Vec::new();
    let mut wasi_imports = Vec::new();
    let mut unsupported_imports = Vec::new();
    let mut capabilities = Vec::new();
    for name in &imports {
        let (base, version) = split_versioned(name);
        if let Some(interface) = base.strip_prefix("plaza:plugin/") {
            wit_version = wit_version.or(version.map(str::to_string));
            if interface != "types" {
                plaza_interfaces.push(interface.to_string());
            }
            for cap in Capability::for_interface(interface).unwrap_or(&[]) {
                if !capabilities.contains(cap) {
                    capabilities.push(*cap);
                }
            }
        } else if LINKED_WASI.contains(&base) && version.is_some_and(|v| v.starts_with("0.2.")) {
            wasi_imports.push(name.clone());
        } else {
            unsupported_imports.push(name.clone());
        }
    }
    capabilities.sort();
    let missing_exports = REQUIRED_EXPORTS
        .iter()
        .filter(|e| !exports.iter().any(|x| x == *e))
        .map(|e| e.to_string())
        .collect();
    ComponentSummary {
        size_bytes: bytes.len(),
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        wit_version,
        exports,
        imports,
        plaza_interfaces,
        wasi_imports,
        unsupported_imports,
        capabilities,
        missing_exports,
        whole_world_toolchain: whole_world_toolchain(bytes),
    }
}

/// Why bytes are not a component, if they are not.
pub fn not_a_component(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Some("it does not start with the WebAssembly magic bytes".into());
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Some(
            "it is a core WebAssembly module; build the plugin for the wasm32-wasip2 target, which emits a component"
                .into(),
        );
    }
    (!wasmparser::Parser::is_component(bytes)).then(|| "unrecognised WebAssembly encoding version".into())
}
