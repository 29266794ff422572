//! Signing commands (docs/signing.md): `keygen`, `sign`, `review approve`, `key endorse`,
//! `verify`, and a community's `signing-policy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use plaza_host::signing::format::Endorsement;
use plaza_host::signing::sign::{endorse, sign_developer, stamp_review};
use plaza_host::signing::{verify, PublicKey, ReviewStatus, SecretKey, SigningPolicy, SigningStatus};
use plaza_host::PlazaConfig;
use serde_json::json;

use crate::admin::{self, Common};
use crate::print;

#[derive(Args)]
pub struct KeygenArgs {
    /// The private key file to create (the public key goes to the same path plus `.pub`).
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Args)]
pub struct SignArgs {
    /// The packaged plugin (`plaza package` output).
    package: PathBuf,
    /// The developer's private key file.
    #[arg(long)]
    key: PathBuf,
    /// An endorsement of this key by the previous one (`plaza key endorse`), when rotating.
    #[arg(long)]
    endorsement: Option<PathBuf>,
    /// Where to write the signed package (default: in place).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Stamp a developer-signed package as reviewed by the platform key.
    Approve {
        /// The signed package.
        package: PathBuf,
        /// The platform's private key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the stamped package (default: in place).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Stamp it even though `plaza check` fails (the stamp records the failure).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Endorse a new developer key with the old one, so upgrades signed by the new key are
    /// accepted where the old one's versions are installed.
    Endorse {
        /// The old (current) private key file.
        #[arg(long)]
        old: PathBuf,
        /// The new public key file.
        #[arg(long)]
        new: PathBuf,
        /// Where to write the endorsement (JSON).
        #[arg(long, short)]
        output: PathBuf,
    },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn read_package(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read package {}", path.display()))
}

fn write_package(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // Written beside and renamed, so a failed write never leaves half a package.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = SecretKey::generate()?;
    let public = PathBuf::from(format!("{}.pub", args.output.display()));
    key.write(&args.output, &public)?;
    println!(
        "created {} (private, mode 0600) and {}\npublic key {}\nfingerprint {}",
        args.output.display(),
        public.display(),
        key.public(),
        key.public().fingerprint()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = SecretKey::read(&args.key)?;
    let endorsement = match &args.endorsement {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read endorsement {}", path.display()))?;
            Some(
                serde_json::from_str::<Endorsement>(&text)
                    .with_context(|| format!("endorsement {} is not valid", path.display()))?,
            )
        }
        None => None,
    };
    let bytes = read_package(&args.package)?;
    // Hosts refuse a signed package whose manifest the signature does not cover, so catch it
    // here rather than at install.
    let manifest =
        plaza_host::manifest::embed::extract(&bytes).with_context(|| format!("package {}", args.package.display()))?;
    anyhow::ensure!(
        manifest.is_some(),
        "{} has no embedded manifest: run `plaza package` first, then sign it, so the signature covers the manifest",
        args.package.display()
    );
    let signed = sign_developer(&bytes, &key, endorsement, now_ms())
        .with_context(|| format!("signing {}", args.package.display()))?;
    let out = args.output.as_ref().unwrap_or(&args.package);
    write_package(out, &signed)?;
    println!(
        "signed {} with developer key {}",
        out.display(),
        key.public().fingerprint()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn review(command: ReviewCommand) -> anyhow::Result<ExitCode> {
    let ReviewCommand::Approve {
        package,
        key,
        output,
        force,
    } = command;
    let key = SecretKey::read(&key)?;
    let bytes = read_package(&package)?;
    // The stamp records the conformance result it was approved with (docs/check.md).
    let report = plaza_host::check::check(&bytes, &package.display().to_string(), None).await;
    if !report.passed && !force {
        print!("{}", report.to_text());
        anyhow::bail!(
            "not approving {}: `plaza check` fails ({}); fix the plugin, or approve anyway with --force",
            package.display(),
            report.summary()
        );
    }
    let check = if report.passed {
        report.summary()
    } else {
        format!("{} (approved with --force)", report.summary())
    };
    let stamped = stamp_review(&bytes, &key, Some(check.clone()), now_ms())
        .with_context(|| format!("approving {}", package.display()))?;
    let out = output.as_ref().unwrap_or(&package);
    write_package(out, &stamped)?;
    println!(
        "approved {}: review stamp by platform key {}; check: {check}",
        out.display(),
        key.public().fingerprint()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn key(command: KeyCommand) -> anyhow::Result<ExitCode> {
    let KeyCommand::Endorse { old, new, output } = command;
    let old = SecretKey::read(&old)?;
    let new = PublicKey::read(&new)?;
    let endorsement = endorse(&old, &new, now_ms());
    let text = serde_json::to_string_pretty(&endorsement)?;
    std::fs::write(&output, format!("{text}\n")).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{} endorses {}: sign the next version with `plaza sign PKG --key NEW --endorsement {}`",
        old.public().fingerprint(),
        new.fingerprint(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `plaza verify`: the package's signatures, and whether this host's policy (or a community's,
/// with `-c`) accepts it. Exits 1 when it would be refused.
pub async fn verify_package(common: Common, package: PathBuf, community: Option<String>) -> anyhow::Result<ExitCode> {
    let bytes = read_package(&package)?;
    let config = PlazaConfig::for_data_dir(&common.data_dir)?;
    let verified = verify(&bytes).with_context(|| format!("package {}", package.display()));
    let status = SigningStatus::of(&bytes, &config.signing);
    let policy = match &community {
        // A community's own policy is in the database: open it only when asked.
        Some(c) => admin::open(&common).await?.signing_policy(c)?,
        None => config.signing.policy,
    };
    let verdict = verified.and_then(|v| {
        config
            .signing
            .check(&v, policy)
            .map_err(|e| anyhow::anyhow!("rule `{}`: {e}", e.rule()))
    });
    if common.json {
        println!(
            "{}",
            json!({
                "package": package.display().to_string(),
                "signing": status,
                "policy": policy,
                "accepted": verdict.is_ok(),
                "refused": verdict.as_ref().err().map(|e| format!("{e:#}")),
            })
        );
    } else {
        println!("{}: {}", package.display(), describe(&status));
        match &verdict {
            Ok(_) => println!("accepted under policy `{policy}`"),
            Err(e) => println!("REFUSED under policy `{policy}`: {e:#}"),
        }
    }
    Ok(if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub async fn signing_policy(common: Common, community: String, policy: String) -> anyhow::Result<ExitCode> {
    let policy = match policy.as_str() {
        "operator" => None,
        name => Some(SigningPolicy::parse(name).map_err(anyhow::Error::msg)?),
    };
    let plaza = admin::open(&common).await?;
    plaza.set_signing_policy(&community, policy)?;
    let effective = plaza.signing_policy(&community)?;
    if common.json {
        println!(
            "{}",
            json!({"community": community, "signing_policy": policy, "effective": effective})
        );
    } else {
        println!("`{community}`: packages must now meet `{effective}`");
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a package's signatures, for people.
pub fn describe(s: &SigningStatus) -> String {
    let developer = match (&s.developer_key, s.signed_ms) {
        (Some(key), Some(at)) => format!("developer key {key} (signed {})", print::date(at)),
        (Some(key), None) => format!("developer key {key}"),
        _ => "unsigned".to_string(),
    };
    let rotated = s
        .endorsed_by
        .as_ref()
        .map(|k| format!(", rotated from {k}"))
        .unwrap_or_default();
    let review = match (s.review, &s.reviewer_key, s.reviewed_ms) {
        (ReviewStatus::Reviewed, Some(key), Some(at)) => format!("reviewed {} by {key}", print::date(at)),
        (ReviewStatus::Reviewed, _, _) => "reviewed".into(),
        (ReviewStatus::UntrustedReviewer, _, _) => "review stamp by a key this host does not trust".into(),
        (ReviewStatus::Unreviewed, _, _) => "not reviewed".into(),
        (ReviewStatus::Invalid, _, _) => "signatures DO NOT VERIFY".into(),
    };
    format!("{developer}{rotated}; {review}")
}
