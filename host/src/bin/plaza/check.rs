//! `plaza check`: the conformance kit (docs/check.md). The checks live in the library
//! (`plaza_host::check`); this prints the report and sets the exit code for CI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The plugin component (.wasm), packaged or with a plaza.toml beside it.
    plugin: PathBuf,
    /// The manifest, when none is embedded and none is beside the component.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the report as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

/// Exit code 0 when every check passed (warnings allowed), 1 when one failed.
pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let report = plaza_host::check::check_file(&args.plugin, args.manifest.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, plaza_host::check::junit::to_junit(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
