//! `plaza inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use plaza_host::{Plaza, PlazaConfig};
use serde_json::json;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The plugin component (.wasm).
    plugin: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let plaza = Plaza::new(PlazaConfig::default())?;
    let plugin = crate::progress::loading(&args.plugin, plaza.load_plugin_file(&args.plugin)).await?;
    let s = &plugin.summary;
    let mut capabilities: Vec<String> = s.capabilities.iter().map(|c| c.to_string()).collect();
    if !plugin.commands.is_empty() {
        capabilities.push("commands".into());
    }
    if args.json {
        let value = json!({
            "file": args.plugin.display().to_string(),
            "name": plugin.name,
            "version": plugin.version,
            "description": plugin.description,
            "world": "plaza:plugin/plugin",
            "wit_version": s.wit_version,
            "size_bytes": s.size_bytes,
            "sha256": s.sha256,
            "exports": s.exports,
            "imports": s.imports,
            "plaza_interfaces": s.plaza_interfaces,
            "wasi_imports": s.wasi_imports,
            "capabilities": capabilities,
            "commands": plugin.commands,
            "compile": {"cache": plugin.cache, "ms": plugin.compile_ms},
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {} — {}", plugin.name, plugin.version, plugin.description);
    println!(
        "file          {} ({} bytes, sha256 {})",
        args.plugin.display(),
        s.size_bytes,
        &s.sha256[..16]
    );
    println!(
        "world         plaza:plugin/plugin@{}",
        s.wit_version
            .as_deref()
            .unwrap_or("(no plaza imports; version unknown)")
    );
    println!("exports       {}", s.exports.join(", "));
    println!("host APIs     {}", list_or_none(&s.plaza_interfaces));
    println!("capabilities  {}", list_or_none(&capabilities));
    println!("WASI (inert)  {}", list_or_none(&s.wasi_imports));
    if plugin.commands.is_empty() {
        println!("commands      none");
    } else {
        println!("commands");
        for c in &plugin.commands {
            println!("  /{:<10} {}  —  {}", c.name, c.usage, c.description);
        }
    }
    println!("compiled      {} ms ({:?})", plugin.compile_ms, plugin.cache);
    Ok(ExitCode::SUCCESS)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
