use super::format::{self, Body, Record, SECTION_NAME};
use super::sign::{endorse, sign_developer, stamp_review};
use super::*;
use crate::manifest::embed::{self, custom_section};

/// A small component: header, a custom section, a nested core module carrying its own
/// `plaza:signature`-named section, and an embedded manifest.
fn component() -> Vec<u8> {
    let mut module = b"\0asm\x01\x00\x00\x00".to_vec();
    module.extend(custom_section(SECTION_NAME, b"nested, not a signature"));
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend(custom_section("producers-ish", b"built by hand"));
    bytes.push(1); // core module section
    bytes.push(module.len() as u8);
    bytes.extend(&module);
    embed::embed(&bytes, "[plugin]\nid = \"poll\"\n").unwrap()
}

fn keys() -> (SecretKey, SecretKey) {
    (SecretKey::generate().unwrap(), SecretKey::generate().unwrap())
}

fn trusting(platform: &SecretKey) -> SigningSettings {
    SigningSettings {
        policy: SigningPolicy::PlatformReviewed,
        trusted_platform_keys: vec![platform.public()],
    }
}

#[test]
fn sign_and_review_round_trip() {
    let (dev, platform) = keys();
    let unsigned = component();
    let signed = sign_developer(&unsigned, &dev, None, 1_000).unwrap();
    let reviewed = stamp_review(&signed, &platform, Some("ok".into()), 2_000).unwrap();
    wasmparser::Validator::new().validate_all(&reviewed).unwrap();
    // The content is untouched: the manifest still reads, the signed bytes are a prefix.
    assert!(reviewed.starts_with(&unsigned));
    assert!(embed::extract(&reviewed).unwrap().is_some());

    let verified = verify(&reviewed).unwrap();
    let developer = verified.developer.as_ref().unwrap();
    assert_eq!((developer.key, developer.signed_ms), (dev.public(), 1_000));
    assert_eq!(verified.reviews.len(), 1);
    assert_eq!(verified.reviews[0].check.as_deref(), Some("ok"));

    let settings = trusting(&platform);
    for policy in SigningPolicy::ALL {
        let accepted = settings.check(&verified, policy).unwrap();
        assert_eq!(accepted.review.unwrap().reviewed_ms, 2_000);
    }
    let status = SigningStatus::of(&reviewed, &settings);
    assert_eq!(status.developer_key, Some(dev.public().fingerprint()));
    assert_eq!(status.review, ReviewStatus::Reviewed);
    assert_eq!(status.reviewed_ms, Some(2_000));
    assert_eq!(SigningStatus::of(&signed, &settings).review, ReviewStatus::Unreviewed);
    assert_eq!(
        SigningStatus::of(&reviewed, &SigningSettings::default()).review,
        ReviewStatus::UntrustedReviewer
    );
}

#[test]
fn re_signing_replaces_the_signature_and_drops_reviews() {
    let (dev, platform) = keys();
    let reviewed = stamp_review(
        &sign_developer(&component(), &dev, None, 1).unwrap(),
        &platform,
        None,
        2,
    )
    .unwrap();
    let again = sign_developer(&reviewed, &dev, None, 3).unwrap();
    let verified = verify(&again).unwrap();
    assert_eq!(verified.developer.unwrap().signed_ms, 3);
    assert!(verified.reviews.is_empty());
    // Stamping twice with one key keeps one stamp.
    let twice = stamp_review(&stamp_review(&again, &platform, None, 4).unwrap(), &platform, None, 5).unwrap();
    assert_eq!(verify(&twice).unwrap().reviews.len(), 1);
}

#[test]
fn every_flipped_byte_is_refused() {
    let (dev, platform) = keys();
    let reviewed = stamp_review(
        &sign_developer(&component(), &dev, None, 1).unwrap(),
        &platform,
        None,
        2,
    )
    .unwrap();
    let settings = trusting(&platform);
    for i in 0..reviewed.len() {
        let mut bytes = reviewed.clone();
        bytes[i] ^= 0x01;
        let outcome = verify(&bytes).and_then(|v| settings.check(&v, SigningPolicy::DeveloperSigned));
        assert!(
            outcome.is_err(),
            "flipping byte {i} of {} went unnoticed",
            reviewed.len()
        );
        let outcome = verify(&bytes).and_then(|v| settings.check(&v, SigningPolicy::PlatformReviewed));
        assert!(
            outcome.is_err(),
            "flipping byte {i} went unnoticed under platform-reviewed"
        );
    }
}

#[test]
fn a_modified_package_names_the_rule() {
    let (dev, _) = keys();
    let signed = sign_developer(&component(), &dev, None, 1).unwrap();
    let mut bytes = signed.clone();
    bytes[12] ^= 0x20; // inside the first custom section's payload
    let err = verify(&bytes).unwrap_err();
    assert!(matches!(err, SigningError::Modified { .. }), "{err:?}");
    assert_eq!(err.rule(), "valid-signature");
    assert!(err.to_string().contains("modified after signing"), "{err}");
}

#[test]
fn a_stripped_signature_is_refused_unless_unsigned_is_allowed() {
    let (dev, platform) = keys();
    let reviewed = stamp_review(
        &sign_developer(&component(), &dev, None, 1).unwrap(),
        &platform,
        None,
        2,
    )
    .unwrap();
    let stripped = format::parse(&reviewed).unwrap().content;
    assert_eq!(stripped, component());
    let verified = verify(&stripped).unwrap();
    let settings = trusting(&platform);
    let err = settings.check(&verified, SigningPolicy::DeveloperSigned).unwrap_err();
    assert_eq!(err.rule(), "developer-signed");
    assert!(err.to_string().contains("no developer signature"), "{err}");
    settings.check(&verified, SigningPolicy::UnsignedAllowed).unwrap();
}

#[test]
fn a_review_stamp_moved_to_other_bytes_is_refused() {
    let (dev, platform) = keys();
    let reviewed = stamp_review(
        &sign_developer(&component(), &dev, None, 1).unwrap(),
        &platform,
        None,
        2,
    )
    .unwrap();
    let stamp = format::parse(&reviewed)
        .unwrap()
        .records
        .into_iter()
        .find(|r| matches!(r.body, Body::Review { .. }))
        .unwrap();
    // Other bytes, properly signed by the same developer, with the stamp copied over.
    let mut other = component();
    other.extend(custom_section("extra", b"not what was reviewed"));
    let other_signed = sign_developer(&other, &dev, None, 3).unwrap();
    let grafted = format::assemble(&other_signed, &[stamp]);
    let err = verify(&grafted).unwrap_err();
    assert!(
        matches!(err, SigningError::Modified { ref what } if what.starts_with("review stamp")),
        "{err:?}"
    );
}

#[test]
fn a_review_stamp_of_another_developer_signature_is_refused() {
    let (dev, platform) = keys();
    let signed = sign_developer(&component(), &dev, None, 1).unwrap();
    let reviewed = stamp_review(&signed, &platform, None, 2).unwrap();
    let records = format::parse(&reviewed).unwrap().records;
    // The same content re-signed (another signature), keeping the old stamp.
    let resigned = format::parse(&sign_developer(&component(), &dev, None, 9).unwrap()).unwrap();
    let mut swapped = resigned.records.clone();
    swapped.push(records[1].clone());
    let err = verify(&format::assemble(&resigned.content, &swapped)).unwrap_err();
    assert!(matches!(err, SigningError::ReviewMismatch { .. }), "{err:?}");
    // A stamp alone, its developer signature stripped.
    let lonely = format::assemble(&resigned.content, &records[1..]);
    assert!(matches!(verify(&lonely), Err(SigningError::ReviewMismatch { .. })));
}

#[test]
fn stamping_needs_a_developer_signature() {
    let (_, platform) = keys();
    let err = stamp_review(&component(), &platform, None, 1).unwrap_err();
    assert!(err.to_string().contains("plaza sign"), "{err}");
}

#[test]
fn untrusted_or_missing_reviews_fail_platform_reviewed() {
    let (dev, platform) = keys();
    let reviewed = stamp_review(
        &sign_developer(&component(), &dev, None, 1).unwrap(),
        &platform,
        None,
        2,
    )
    .unwrap();
    let verified = verify(&reviewed).unwrap();
    let nobody = SigningSettings::default();
    let err = nobody.check(&verified, SigningPolicy::PlatformReviewed).unwrap_err();
    assert!(err.to_string().contains("trusts no platform key"), "{err}");
    let someone_else = trusting(&SecretKey::generate().unwrap());
    let err = someone_else
        .check(&verified, SigningPolicy::PlatformReviewed)
        .unwrap_err();
    assert!(err.to_string().contains("does not trust"), "{err}");
    assert_eq!(err.rule(), "platform-reviewed");
}

#[test]
fn continuity_same_key_rotation_and_takeover() {
    let (dev, _) = keys();
    let (next, stranger) = keys();
    let v1 = verify(&sign_developer(&component(), &dev, None, 1).unwrap()).unwrap();
    let same = verify(&sign_developer(&component(), &dev, None, 2).unwrap()).unwrap();
    assert_eq!(check_continuity(&v1, &same).unwrap(), Continuity::SameKey);

    let endorsement = endorse(&dev, &next.public(), 3);
    let rotated = verify(&sign_developer(&component(), &next, Some(endorsement.clone()), 4).unwrap()).unwrap();
    assert_eq!(
        check_continuity(&v1, &rotated).unwrap(),
        Continuity::Rotated {
            from: dev.public(),
            to: next.public()
        }
    );

    let taken = verify(&sign_developer(&component(), &stranger, None, 5).unwrap()).unwrap();
    let err = check_continuity(&v1, &taken).unwrap_err();
    assert_eq!(err.rule(), "key-continuity");
    assert!(err.to_string().contains(&dev.public().fingerprint()), "{err}");

    let unsigned = verify(&component()).unwrap();
    assert!(check_continuity(&v1, &unsigned).is_err());
    assert_eq!(check_continuity(&unsigned, &taken).unwrap(), Continuity::Unpinned);

    // An endorsement by a key that is not the installed one does not help.
    let stranger_endorses = endorse(&stranger, &next.public(), 6);
    let sideways = verify(&sign_developer(&component(), &next, Some(stranger_endorses), 7).unwrap()).unwrap();
    assert!(check_continuity(&v1, &sideways).is_err());
    // Nor can an endorsement be used for a key it does not name.
    assert!(sign_developer(&component(), &stranger, Some(endorsement), 8).is_err());
}

#[test]
fn a_forged_endorsement_is_refused() {
    let (dev, next) = keys();
    let mut endorsement = endorse(&dev, &next.public(), 3);
    endorsement.endorsed_ms += 1;
    let err = sign_developer(&component(), &next, Some(endorsement.clone()), 4).unwrap_err();
    assert!(matches!(err, SigningError::BadEndorsement { .. }), "{err:?}");
    // Written by hand into a record, it is refused at verification too.
    let parsed = format::parse(&component()).unwrap();
    let body = Body::Developer {
        key: next.public(),
        content_sha256: parsed.content_sha256.clone(),
        signed_ms: 4,
        endorsement: Some(endorsement),
    };
    let record = Record {
        format: format::FORMAT.into(),
        signature: hex::encode(next.sign(&body.message())),
        body,
    };
    let err = verify(&format::assemble(&parsed.content, &[record])).unwrap_err();
    assert!(matches!(err, SigningError::BadEndorsement { .. }), "{err:?}");
}

#[test]
fn non_canonical_and_foreign_records_are_refused() {
    let (dev, _) = keys();
    let signed = sign_developer(&component(), &dev, None, 1).unwrap();
    let parsed = format::parse(&signed).unwrap();
    let payload = parsed.records[0].to_payload();
    let spaced = String::from_utf8(payload.clone()).unwrap().replacen(':', ": ", 1);
    let mut bytes = parsed.content.clone();
    bytes.extend(custom_section(SECTION_NAME, spaced.as_bytes()));
    assert!(matches!(verify(&bytes), Err(SigningError::BadRecord { .. })));
    let mut bytes = parsed.content.clone();
    bytes.extend(custom_section(SECTION_NAME, b"{\"format\":\"other/9\"}"));
    assert!(matches!(verify(&bytes), Err(SigningError::BadRecord { .. })));
    // Two developer signatures.
    let doubled = format::assemble(&parsed.content, &[parsed.records[0].clone(), parsed.records[0].clone()]);
    assert!(matches!(verify(&doubled), Err(SigningError::BadRecord { .. })));
}

#[test]
fn nested_signature_sections_are_content() {
    let verified = verify(&component()).unwrap();
    assert_eq!(verified.developer, None);
    assert!(verified.reviews.is_empty());
    assert!(matches!(
        verify(b"\0asm\x01\x00\x00\x00"),
        Err(SigningError::Malformed { .. })
    ));
}

#[test]
fn effective_policy_is_the_stricter() {
    let host = SigningSettings {
        policy: SigningPolicy::DeveloperSigned,
        trusted_platform_keys: vec![],
    };
    assert_eq!(host.effective(None), SigningPolicy::DeveloperSigned);
    assert_eq!(
        host.effective(Some(SigningPolicy::UnsignedAllowed)),
        SigningPolicy::DeveloperSigned
    );
    assert_eq!(
        host.effective(Some(SigningPolicy::PlatformReviewed)),
        SigningPolicy::PlatformReviewed
    );
    assert_eq!(SigningSettings::default().policy, SigningPolicy::PlatformReviewed);
    assert_eq!(
        SigningPolicy::parse("developer-signed"),
        Ok(SigningPolicy::DeveloperSigned)
    );
    assert!(SigningPolicy::parse("yolo").is_err());
}

#[test]
fn signing_defaults_to_platform_reviewed_with_no_trusted_key() {
    use crate::operator::OperatorConfig;
    // The library's default serves tests and `plaza run`; a data directory gets the operator's.
    assert_eq!(
        crate::PlazaConfig::default().signing.policy,
        SigningPolicy::UnsignedAllowed
    );
    let dir = tempfile::tempdir().unwrap();
    let config = crate::PlazaConfig::for_data_dir(dir.path()).unwrap();
    assert_eq!(config.signing.policy, SigningPolicy::PlatformReviewed);
    assert!(config.signing.trusted_platform_keys.is_empty());

    let key = SecretKey::generate().unwrap().public();
    let text = format!("[signing]\npolicy = \"developer-signed\"\ntrusted_platform_keys = [\"{key}\"]\n");
    let config = OperatorConfig::from_toml(&text, std::path::Path::new("operator.toml")).unwrap();
    assert_eq!(config.signing.policy, SigningPolicy::DeveloperSigned);
    assert_eq!(config.signing.trusted_platform_keys, vec![key]);

    let err = OperatorConfig::from_toml(
        "[signing]\npolicy = \"anything-goes\"\n",
        std::path::Path::new("operator.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("anything-goes"), "{err}");
    let err = OperatorConfig::from_toml(
        "[signing]\ntrusted_platform_keys = [\"ed25519:zz\"]\n",
        std::path::Path::new("operator.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ed25519:zz"), "{err}");
}
