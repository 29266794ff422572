//! `plaza package`: embed a manifest into a component, so one `.wasm` file ships the plugin.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use plaza_host::manifest::{embed, Manifest};
use plaza_host::{Plaza, PlazaConfig};

#[derive(clap::Args)]
pub struct PackageArgs {
    /// The component built for wasm32-wasip2.
    component: PathBuf,
    /// The manifest (default: plaza.toml beside the component).
    #[arg(long, short)]
    manifest: Option<PathBuf>,
    /// Where to write the packaged plugin.
    #[arg(long, short)]
    output: PathBuf,
}

pub async fn package(args: PackageArgs) -> anyhow::Result<ExitCode> {
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| args.component.with_file_name("plaza.toml"));
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read manifest {}", manifest_path.display()))?;
    let manifest = Manifest::from_toml(&text, &manifest_path.display().to_string())?;
    let component = std::fs::read(&args.component)
        .with_context(|| format!("cannot read component {}", args.component.display()))?;
    let packaged = embed::embed(&component, &manifest.to_toml())
        .with_context(|| format!("packaging {}", args.component.display()))?;
    // Load it once, so a manifest that does not match the component is caught here.
    let plaza = Plaza::new(PlazaConfig::default())?;
    let origin = args.output.display().to_string();
    let plugin = crate::progress::loading(&args.component, plaza.load_plugin(&packaged, &origin)).await?;
    std::fs::write(&args.output, &packaged).with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "packaged {} {} → {} ({} bytes, sha256 {})",
        plugin.name,
        plugin.version,
        args.output.display(),
        packaged.len(),
        &plugin.digest[..16]
    );
    Ok(ExitCode::SUCCESS)
}
