//! `plaza secret`: an install's named secrets (merchant API keys) for `http:fetch`. Values are
//! read from stdin or a file, never from the command line (shell history, `ps`), and are never
//! printed back.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use plaza_host::admin::secrets::SecretsKey;
use serde_json::json;

use crate::admin::{open, Common, Target};

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Make the key that seals secrets at rest (keep it outside the data directory), then name
    /// it in operator.toml (`[secrets] key_file = "FILE"`) or in $PLAZA_SECRETS_KEY_FILE.
    NewKey {
        /// Where to write it (must not exist); written readable by you only.
        #[arg(long)]
        out: PathBuf,
    },
    /// Set or replace a secret; the value comes from stdin (or --from-file).
    Set {
        #[command(flatten)]
        target: Target,
        /// Its name, used in headers as {{secret:NAME}}.
        name: String,
        /// A host it may be sent to (repeatable; default: any host on the install's allowlist).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Read the value from this file instead of stdin.
        #[arg(long)]
        from_file: Option<PathBuf>,
    },
    /// List an install's secrets: names, hosts and when they were set (never values).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Remove a secret.
    Rm {
        #[command(flatten)]
        target: Target,
        /// Its name.
        name: String,
    },
}

pub async fn secret(common: Common, command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::NewKey { out } => {
            SecretsKey::write_new(&out).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote a new secrets key to {}; name it in operator.toml as [secrets] key_file = {:?}",
                out.display(),
                out.display().to_string()
            );
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::Set {
            target,
            name,
            hosts,
            from_file,
        } => {
            let mut value = String::new();
            match &from_file {
                Some(path) => {
                    value = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_string(&mut value)
                        .context("reading the value from stdin")?;
                }
            }
            // One trailing newline is how files and `echo` end; it is not part of the value.
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            let plaza = open(&common).await?;
            plaza.set_secret(&target.community, &target.plugin, &name, value, &hosts)?;
            if common.json {
                println!("{}", json!({ "set": name }));
            } else {
                println!("secret {name} set for {} in `{}`", target.plugin, target.community);
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::List { target } => {
            let plaza = open(&common).await?;
            let secrets = plaza.secrets(&target.community, &target.plugin)?;
            if common.json {
                println!("{}", json!({ "secrets": secrets }));
                return Ok(ExitCode::SUCCESS);
            }
            if secrets.is_empty() {
                println!("no secrets");
            }
            for s in secrets {
                let hosts = if s.hosts.is_empty() {
                    "any allowlisted host".to_string()
                } else {
                    s.hosts.join(", ")
                };
                println!("{:<24} {hosts}", s.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::Rm { target, name } => {
            let plaza = open(&common).await?;
            if !plaza.remove_secret(&target.community, &target.plugin, &name)? {
                anyhow::bail!(
                    "{} in `{}` has no secret named {name:?}",
                    target.plugin,
                    target.community
                );
            }
            println!("secret {name} removed");
            Ok(ExitCode::SUCCESS)
        }
    }
}
