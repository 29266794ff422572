//! Signed packages at install and upgrade: the operator's policy, a community's stricter one,
//! tampering, review stamps, key continuity and rotation, and the CLI round trip.

use std::process::{Command, Output};
use std::sync::Arc;

use plaza_host::engine::EngineSettings;
use plaza_host::runtime::Plugin;
use plaza_host::signing::format;
use plaza_host::signing::sign::{endorse, sign_developer, stamp_review};
use plaza_host::signing::{HostSigning, ReviewStatus, SecretKey, SigningPolicy, SigningSettings};
use plaza_host::storage::admin::AuditQuery;
use plaza_host::{GrantSet, Plaza, PlazaConfig, PlazaError};

use crate::common::{cache_dir, packaged_probe, plaza_bin};

fn host(policy: SigningPolicy, platform: &[&SecretKey]) -> Plaza {
    Plaza::new(PlazaConfig {
        engine: EngineSettings {
            cache_dir: Some(cache_dir()),
            ..EngineSettings::default()
        },
        signing: HostSigning(SigningSettings {
            policy,
            trusted_platform_keys: platform.iter().map(|k| k.public()).collect(),
        }),
        ..PlazaConfig::default()
    })
    .unwrap()
}

/// The packaged probe; `caps` changes the manifest, so each list is another package.
async fn probe(plaza: &Plaza, caps: &[&str]) -> Vec<u8> {
    packaged_probe(plaza, caps, &["command-invoked"]).await
}

fn signed(bytes: &[u8], developer: &SecretKey) -> Vec<u8> {
    sign_developer(bytes, developer, None, 1_700_000_000_000).unwrap()
}

fn reviewed(bytes: &[u8], developer: &SecretKey, platform: &SecretKey) -> Vec<u8> {
    stamp_review(&signed(bytes, developer), platform, None, 1_700_000_100_000).unwrap()
}

async fn install(plaza: &Plaza, community: &str, bytes: &[u8]) -> Result<Arc<Plugin>, PlazaError> {
    plaza.ensure_community(community).unwrap();
    let plugin = plaza.load_plugin(bytes, "probe package").await?;
    plaza
        .install(community, plugin.clone(), GrantSet::none(), Vec::new())
        .await?;
    Ok(plugin)
}

fn refused_rule(err: &PlazaError) -> &str {
    match err {
        PlazaError::Signature { rule, .. } => rule,
        other => panic!("expected a signature refusal, got {other:?}"),
    }
}

fn audit_kinds(plaza: &Plaza, community: &str) -> Vec<(String, String)> {
    plaza
        .audit_log(&AuditQuery {
            community: Some(community.into()),
            ..AuditQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

#[tokio::test]
async fn signing_a_reviewed_package_installs_under_platform_reviewed_and_shows_its_status() {
    let (developer, platform) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let plaza = host(SigningPolicy::PlatformReviewed, &[&platform]);
    let bytes = reviewed(&probe(&plaza, &[]).await, &developer, &platform);
    install(&plaza, "town", &bytes).await.unwrap();
    let status = &plaza.plugin_statuses("town").unwrap()[0];
    assert_eq!(status.signing.developer_key, Some(developer.public().fingerprint()));
    assert_eq!(status.signing.review, ReviewStatus::Reviewed);
    assert_eq!(status.signing.reviewer_key, Some(platform.public().fingerprint()));
    assert_eq!(status.signing.reviewed_ms, Some(1_700_000_100_000));
    let json = serde_json::to_value(status).unwrap();
    assert_eq!(json["signing"]["review"], "reviewed");
}

#[tokio::test]
async fn one_flipped_byte_anywhere_is_refused() {
    let developer = SecretKey::generate().unwrap();
    let plaza = host(SigningPolicy::DeveloperSigned, &[]);
    let bytes = signed(&probe(&plaza, &[]).await, &developer);
    install(&plaza, "ok", &bytes).await.unwrap();
    // Code, the embedded manifest, and the signature record itself: all refused (by the
    // loader when the flip breaks the component, else by the signature check). Every byte is
    // covered by the unit tests; here a spread of positions goes through a real install.
    let manifest_at = bytes
        .windows(b"test commands".len())
        .position(|w| w == b"test commands")
        .unwrap();
    let record_at = bytes.len() - 40;
    let step = bytes.len() / 24;
    let positions: Vec<usize> = (0..24).map(|i| 8 + i * step).chain([manifest_at, record_at]).collect();
    for (n, at) in positions.into_iter().enumerate() {
        let mut tampered = bytes.clone();
        tampered[at] ^= 0x01;
        let community = format!("c{n}");
        let err = install(&plaza, &community, &tampered)
            .await
            .expect_err(&format!("flipping byte {at} went unnoticed"));
        if let PlazaError::Signature { rule, .. } = &err {
            assert!(
                rule == "valid-signature" || rule == "developer-signed",
                "byte {at}: {err}"
            );
        }
        assert!(plaza.installs(&community).unwrap().is_empty());
    }
    // The manifest flip loads fine (it is valid text) and must be caught as a modification.
    let mut tampered = bytes.clone();
    tampered[manifest_at] ^= 0x01;
    let err = install(&plaza, "manifest", &tampered).await.unwrap_err();
    assert_eq!(refused_rule(&err), "valid-signature", "{err}");
    let text = err.to_string();
    assert!(text.contains("`probe`") && text.contains("`manifest`"), "{text}");
    assert!(text.contains("modified after signing"), "{text}");
    let kinds = audit_kinds(&plaza, "manifest");
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "install-refused" && d.contains("valid-signature")),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_stripped_signature_is_refused_under_developer_signed() {
    let developer = SecretKey::generate().unwrap();
    let plaza = host(SigningPolicy::DeveloperSigned, &[]);
    let unsigned = probe(&plaza, &[]).await;
    let stripped = format::parse(&signed(&unsigned, &developer)).unwrap().content;
    assert_eq!(stripped, unsigned);
    let err = install(&plaza, "town", &stripped).await.unwrap_err();
    assert_eq!(refused_rule(&err), "developer-signed");
    assert!(err.to_string().contains("no developer signature"), "{err}");
    // The same bytes are fine where the operator allows unsigned packages.
    let dev_host = host(SigningPolicy::UnsignedAllowed, &[]);
    install(&dev_host, "town", &stripped).await.unwrap();
    assert_eq!(dev_host.plugin_statuses("town").unwrap()[0].signing.developer_key, None);
}

#[tokio::test]
async fn a_review_stamp_on_different_bytes_is_refused() {
    let (developer, platform) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let plaza = host(SigningPolicy::PlatformReviewed, &[&platform]);
    let reviewed_v1 = reviewed(&probe(&plaza, &[]).await, &developer, &platform);
    let stamp = format::parse(&reviewed_v1).unwrap().records.pop().unwrap();
    // Different bytes, genuinely signed by the developer, carrying the stamp of the reviewed ones.
    let other = signed(&probe(&plaza, &["storage:kv"]).await, &developer);
    let grafted = format::assemble(&other, &[stamp]);
    let err = install(&plaza, "town", &grafted).await.unwrap_err();
    assert_eq!(refused_rule(&err), "valid-signature", "{err}");
    assert!(err.to_string().contains("review stamp"), "{err}");
    // Developer-signed only, without any stamp: refused for want of a review.
    let err = install(&plaza, "town", &other).await.unwrap_err();
    assert_eq!(refused_rule(&err), "platform-reviewed", "{err}");
    // A stamp by a key the operator does not trust does not count.
    let stranger = SecretKey::generate().unwrap();
    let err = install(
        &plaza,
        "town",
        &reviewed(&probe(&plaza, &[]).await, &developer, &stranger),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not trust"), "{err}");
}

#[tokio::test]
async fn an_upgrade_signed_by_another_key_is_refused_and_audited() {
    let (developer, stranger) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let plaza = host(SigningPolicy::UnsignedAllowed, &[]);
    let v1 = signed(&probe(&plaza, &[]).await, &developer);
    install(&plaza, "town", &v1).await.unwrap();

    let v2 = plaza
        .load_plugin(&signed(&probe(&plaza, &["storage:kv"]).await, &stranger), "v2")
        .await
        .unwrap();
    let err = plaza.upgrade("town", v2).await.unwrap_err();
    assert_eq!(refused_rule(&err), "key-continuity");
    assert!(err.to_string().contains(&developer.public().fingerprint()), "{err}");
    // Unsigned is no way around it, even where unsigned packages are allowed.
    let unsigned = plaza
        .load_plugin(&probe(&plaza, &["storage:kv"]).await, "v2")
        .await
        .unwrap();
    let err = plaza.upgrade("town", unsigned).await.unwrap_err();
    assert_eq!(refused_rule(&err), "key-continuity");

    let refused: Vec<_> = audit_kinds(&plaza, "town")
        .into_iter()
        .filter(|(k, _)| k == "upgrade-refused")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].1.contains("key-continuity"), "{refused:?}");
    let status = &plaza.plugin_statuses("town").unwrap()[0];
    assert_eq!(status.signing.developer_key, Some(developer.public().fingerprint()));
    assert!(status.pending_upgrade.is_none());
}

#[tokio::test]
async fn an_upgrade_signed_by_an_endorsed_key_is_accepted() {
    let (old, new) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let plaza = host(SigningPolicy::DeveloperSigned, &[]);
    install(&plaza, "town", &signed(&probe(&plaza, &[]).await, &old))
        .await
        .unwrap();
    let endorsement = endorse(&old, &new.public(), 1_700_000_000_000);
    let v2 = sign_developer(&probe(&plaza, &["storage:kv"]).await, &new, Some(endorsement), 2).unwrap();
    let v2 = plaza.load_plugin(&v2, "v2").await.unwrap();
    plaza.upgrade("town", v2).await.unwrap();
    plaza.approve_upgrade("town", "probe").await.unwrap();
    let status = &plaza.plugin_statuses("town").unwrap()[0];
    assert_eq!(status.signing.developer_key, Some(new.public().fingerprint()));
    assert_eq!(status.signing.endorsed_by, Some(old.public().fingerprint()));
    let kinds = audit_kinds(&plaza, "town");
    assert!(kinds.iter().any(|(k, _)| k == "key-rotated"), "{kinds:?}");
    // From now on the new key is the one that counts: the old one alone is refused.
    let v3 = plaza
        .load_plugin(&signed(&probe(&plaza, &[]).await, &old), "v3")
        .await
        .unwrap();
    let err = plaza.upgrade("town", v3).await.unwrap_err();
    assert_eq!(refused_rule(&err), "key-continuity");
}

#[tokio::test]
async fn a_community_may_only_make_the_policy_stricter() {
    let developer = SecretKey::generate().unwrap();
    let plaza = host(SigningPolicy::DeveloperSigned, &[]);
    plaza.create_community("strict").unwrap();
    let err = plaza
        .set_signing_policy("strict", Some(SigningPolicy::UnsignedAllowed))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`strict`") && text.contains("looser"), "{text}");
    plaza
        .set_signing_policy("strict", Some(SigningPolicy::PlatformReviewed))
        .unwrap();
    assert_eq!(plaza.signing_policy("strict").unwrap(), SigningPolicy::PlatformReviewed);
    let bytes = signed(&probe(&plaza, &[]).await, &developer);
    let err = install(&plaza, "strict", &bytes).await.unwrap_err();
    assert_eq!(refused_rule(&err), "platform-reviewed");
    install(&plaza, "relaxed", &bytes).await.unwrap();
    plaza.set_signing_policy("strict", None).unwrap();
    install(&plaza, "strict", &bytes).await.unwrap();
}

fn plaza_cmd(args: &[&str]) -> Output {
    Command::new(plaza_bin())
        .args(args)
        .env("PLAZA_CACHE_DIR", cache_dir())
        .env_remove("PLAZA_OPERATOR_CONFIG")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}\n{}", String::from_utf8_lossy(&o.stderr));
    text
}

fn failed(o: &Output) -> String {
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn cli_keygen_sign_review_and_install_under_the_default_policy() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (w, d) = (work.path(), data.path().to_str().unwrap());
    let path = |name: &str| w.join(name).to_str().unwrap().to_string();
    let package = path("probe.wasm");
    std::fs::write(&package, probe(&crate::common::plaza(), &[]).await).unwrap();
    ok(&plaza_cmd(&["keygen", "-o", &path("dev.key")]));
    ok(&plaza_cmd(&["keygen", "-o", &path("platform.key")]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path("dev.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    ok(&plaza_cmd(&["community", "create", "town", "--data-dir", d]));
    // A bare component (no embedded manifest) is not signed: the signature must cover it.
    let err = failed(&plaza_cmd(&[
        "sign",
        plaza_tests::PROBE,
        "--key",
        &path("dev.key"),
        "-o",
        &path("bare.wasm"),
    ]));
    assert!(err.contains("no embedded manifest"), "{err}");

    // No operator.toml: platform-reviewed, and no platform key trusted.
    let err = failed(&plaza_cmd(&["install", &package, "-c", "town", "--data-dir", d]));
    assert!(err.contains("rule `platform-reviewed`"), "{err}");

    ok(&plaza_cmd(&["sign", &package, "--key", &path("dev.key")]));
    // The probe fails `plaza check` on purpose (it traps on command), so the platform forces it.
    ok(&plaza_cmd(&[
        "review",
        "approve",
        &package,
        "--key",
        &path("platform.key"),
        "--force",
    ]));
    let platform_pub = std::fs::read_to_string(path("platform.key.pub")).unwrap();
    std::fs::write(
        data.path().join("operator.toml"),
        format!(
            "[signing]\npolicy = \"platform-reviewed\"\ntrusted_platform_keys = [\"{}\"]\n",
            platform_pub.trim()
        ),
    )
    .unwrap();
    let verified = ok(&plaza_cmd(&["verify", &package, "--data-dir", d]));
    assert!(
        verified.contains("accepted under policy `platform-reviewed`"),
        "{verified}"
    );
    ok(&plaza_cmd(&["install", &package, "-c", "town", "--data-dir", d]));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&plaza_cmd(&["plugins", "-c", "town", "--data-dir", d, "--json"]))).unwrap();
    let signing = &listed[0]["signing"];
    assert_eq!(signing["review"], "reviewed", "{listed}");
    assert!(signing["developer_key"].as_str().unwrap().starts_with("sha256:"));
    assert!(signing["reviewed_ms"].as_u64().unwrap() > 0);
    let text = ok(&plaza_cmd(&["plugins", "-c", "town", "--data-dir", d]));
    assert!(
        text.contains("signing: developer key sha256:") && text.contains("reviewed 20"),
        "{text}"
    );

    // A private key others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path("dev.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = failed(&plaza_cmd(&["sign", &package, "--key", &path("dev.key")]));
        assert!(err.contains("chmod 600"), "{err}");
    }
    // A looser community policy is refused by the CLI too.
    let err = failed(&plaza_cmd(&[
        "signing-policy",
        "-c",
        "town",
        "unsigned-allowed",
        "--data-dir",
        d,
    ]));
    assert!(err.contains("looser"), "{err}");
}
