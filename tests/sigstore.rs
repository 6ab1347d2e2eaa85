//! Signature verification against third-party Sigstore and cosign fixtures
//! (`tests/fixtures/sigstore/`, see its README for the sources and the expected result of every
//! case): every case must give its expected result.

use sockguard::bundle::keys;
use sockguard::bundle::signature::{trusted_root, verify, Evidence, Matcher, Trust, VerifyError};
use std::path::{Path, PathBuf};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigstore")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_or(path: &Path, default: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_else(|_| default.to_owned())
}

/// Run one conformance case the way its source does; returns whether it verified, and why not.
fn run_case(dir: &Path) -> Result<(), String> {
    let artifact_path =
        if dir.join("artifact").exists() { dir.join("artifact") } else { dir.parent().unwrap().join("a.txt") };
    let artifact = std::fs::read(&artifact_path).unwrap();
    let root_path = if dir.join("trusted_root.json").exists() {
        dir.join("trusted_root.json")
    } else {
        fixtures().join("keyless/trusted_root.production.json")
    };
    let root = trusted_root(&read(&root_path)).map_err(|e| e.to_string())?;
    let trust = if dir.join("key.pub").exists() {
        Trust::Key(keys::read_public(&read(&dir.join("key.pub"))).map_err(|e| e.to_string())?)
    } else {
        Trust::Keyless {
            identity: Matcher::Exact(read_or(&dir.join("identity"), DEFAULT_IDENTITY)),
            issuer: Matcher::Exact(read_or(&dir.join("issuer"), DEFAULT_ISSUER)),
        }
    };
    let bundle = read(&dir.join("bundle.sigstore.json"));
    verify(&artifact, Evidence::Bundle(&bundle), &trust, &root).map(|_| ()).map_err(|e| e.to_string())
}

fn cases(folder: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(fixtures().join(folder)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

#[test]
fn every_message_signature_case_gives_its_expected_result() {
    let mut wrong = Vec::new();
    let mut total = 0;
    for dir in cases("keyless/conformance").into_iter().chain(cases("keyed/conformance")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect_valid = !name.ends_with("_fail");
        let result = run_case(&dir);
        if result.is_ok() != expect_valid {
            wrong.push(format!("{name}: expected {}, got {result:?}", if expect_valid { "VALID" } else { "INVALID" }));
        }
        total += 1;
    }
    assert_eq!(total, 45, "the fixture set changed");
    assert!(wrong.is_empty(), "{} of {total} cases wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn dsse_bundles_are_refused_as_not_blob_signatures() {
    let dirs = cases("keyless/conformance-dsse");
    assert_eq!(dirs.len(), 14);
    for dir in dirs {
        let result = run_case(&dir);
        assert!(result.is_err(), "{} verified", dir.display());
    }
    let happy = fixtures().join("keyless/conformance-dsse/happy-path-intoto-in-dsse-v3/bundle.sigstore.json");
    let root = trusted_root(&read(&fixtures().join("keyless/trusted_root.production.json"))).unwrap();
    let trust = Trust::Keyless {
        identity: Matcher::Exact(DEFAULT_IDENTITY.into()),
        issuer: Matcher::Exact(DEFAULT_ISSUER.into()),
    };
    let error = verify(b"anything", Evidence::Bundle(&read(&happy)), &trust, &root).unwrap_err();
    assert!(matches!(error, VerifyError::Dsse), "{error}");
}

#[test]
fn identities_are_checked_exactly_or_by_pattern() {
    let dir = fixtures().join("keyless/conformance/happy-path-v0.3");
    let artifact = std::fs::read(fixtures().join("keyless/conformance/a.txt")).unwrap();
    let bundle = read(&dir.join("bundle.sigstore.json"));
    let root = trusted_root(&read(&fixtures().join("keyless/trusted_root.production.json"))).unwrap();
    let check = |identity: Matcher, issuer: Matcher| {
        verify(&artifact, Evidence::Bundle(&bundle), &Trust::Keyless { identity, issuer }, &root)
    };
    let exact = |s: &str| Matcher::Exact(s.into());
    let pattern = |s: &str| Matcher::Pattern(regex::Regex::new(s).unwrap());
    let ok = check(exact(DEFAULT_IDENTITY), exact(DEFAULT_ISSUER)).unwrap();
    assert!(ok.logged);
    assert!(ok.signer.starts_with("https://github.com/sigstore-conformance/"), "{}", ok.signer);
    assert!(check(pattern("^https://github.com/sigstore-conformance/"), pattern("^https://token\\.actions\\.")).is_ok());
    let evil = DEFAULT_IDENTITY.replace("refs/heads/main", "refs/heads/evil");
    assert!(matches!(check(exact(&evil), exact(DEFAULT_ISSUER)), Err(VerifyError::Identity(_))));
    assert!(matches!(
        check(exact(DEFAULT_IDENTITY), exact("https://accounts.google.com")),
        Err(VerifyError::Identity(_))
    ));
    assert!(matches!(
        check(pattern("^https://github.com/someone-else/"), exact(DEFAULT_ISSUER)),
        Err(VerifyError::Identity(_))
    ));
}

#[test]
fn a_root_certificate_in_the_bundle_is_refused_for_that_reason() {
    // The fixture's leaf is for a@tny.town from GitHub's OAuth: expect exactly that identity, so
    // that only the root in its chain can make it fail.
    let dir = fixtures().join("keyless/conformance/bundle-with-root-cert_fail");
    let artifact = std::fs::read(dir.join("artifact")).unwrap();
    let root = trusted_root(&read(&fixtures().join("keyless/trusted_root.production.json"))).unwrap();
    let trust = Trust::Keyless {
        identity: Matcher::Exact("a@tny.town".into()),
        issuer: Matcher::Exact("https://github.com/login/oauth".into()),
    };
    let error =
        verify(&artifact, Evidence::Bundle(&read(&dir.join("bundle.sigstore.json"))), &trust, &root).unwrap_err();
    assert!(matches!(error, VerifyError::RootInChain), "{error}");
}

#[test]
fn a_detached_cosign_signature_verifies_with_its_key_only() {
    let artifact = std::fs::read(fixtures().join("keyed/conformance/a.txt")).unwrap();
    let signature = read(&fixtures().join("keyed/derived/a.txt.sig"));
    let root = trusted_root(sockguard::bundle::signature::EMBEDDED_ROOT).unwrap();
    let right = keys::read_public(&read(&fixtures().join("keyed/conformance/managed-key-happy-path/key.pub"))).unwrap();
    let wrong = keys::read_public(&read(&fixtures().join("keyed/keys/policy-controller/cosign.pub"))).unwrap();
    let verified = verify(&artifact, Evidence::Detached(&signature), &Trust::Key(right), &root).unwrap();
    assert!(!verified.logged);
    assert!(verify(&artifact, Evidence::Detached(&signature), &Trust::Key(wrong), &root).is_err());
    let mut changed = artifact.clone();
    changed[0] ^= 1;
    assert!(verify(&changed, Evidence::Detached(&signature), &Trust::Key(right), &root).is_err());
}

#[test]
fn cosign_encrypted_keys_decrypt_to_their_public_keys() {
    let dir = fixtures().join("keyed/keys");
    let cases = [
        ("policy-controller/cosign.key", "", Some(read(&dir.join("policy-controller/cosign.pub")))),
        ("sigstore-rs/cosign_generated_encrypted_empty_private.key", "", None),
        ("sigstore-rs/ecdsa_encrypted_private.key", "123", None),
    ];
    let expected_der = [
        None,
        Some("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmsWpZNuu+SUX70n3lVK4JLsaoV7T+rhea2rQUu29EQiatoLB06QdsmSd+GsQGlQzfcDtsKPzb+B2zLggrWZjg=="),
        Some("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI3sxu+p/GFrJyfgmSWr4qMzwbnd/pRAShSG6tHcrlhBSoRCAiVYOoQR7514Uz6ft2tQlnoJLHmHcFqqy0/ERJA=="),
    ];
    for ((file, password, public_pem), der) in cases.into_iter().zip(expected_der) {
        let key = keys::decrypt_private(&read(&dir.join(file)), password.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let pem = keys::public_pem(key.verifying_key()).unwrap();
        if let Some(expected) = public_pem {
            assert_eq!(keys::read_public(&expected).unwrap(), *key.verifying_key(), "{file}");
        }
        if let Some(der) = der {
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            assert_eq!(body, der, "{file}");
        }
        assert!(matches!(
            keys::decrypt_private(&read(&dir.join(file)), b"not the password"),
            Err(keys::KeyError::Password)
        ));
    }
}
