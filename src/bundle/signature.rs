//! Signing bundle archives and verifying their signatures, offline.
//!
//! `sign` writes what `cosign sign-blob --key` writes: a detached base64 ECDSA P-256 signature
//! (`FILE.sig`) and a Sigstore bundle (`FILE.sigstore.json`). Without a transparency log here,
//! the bundle is key-only: the public-key hint, the message digest and the signature.
//!
//! `verify` accepts a detached signature with a public key, or a Sigstore bundle with a public
//! key or with a certificate identity and OIDC issuer (exact or regular expressions), against a
//! trusted root (default: an embedded copy of the Sigstore public-good root). Bundles with
//! certificates, log entries or timestamps are verified by `sigstore-verify` — certificate chain
//! and validity at the signing time, SCTs, the transparency-log inclusion proof and signed
//! checkpoint, the signed entry timestamp, RFC 3161 timestamps, and the signature — and this
//! module adds what it leaves out: DSSE envelopes are refused (they sign attestations, not
//! blobs), a root certificate inside the bundle's chain is refused, identities may be regular
//! expressions, and key-only bundles without log entries (the ones `sign` writes) are checked
//! here: digest and signature.

use super::keys;
use crate::json::at;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use regex::Regex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::bundle::VerificationMaterialContent;
use sigstore_verify::types::{Bundle, SignatureContent};

/// The Sigstore public-good trusted root compiled in (see `resources/README.md`).
pub const EMBEDDED_ROOT: &str = include_str!("../../resources/trusted_root.production.json");

/// The media type of the bundles `sign` writes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Why verification failed. Every failure is a refusal: nothing partly verified is accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed signature material: {0}")]
    Malformed(String),
    #[error("the bundle is a DSSE envelope (an attestation), not a signature of the file")]
    Dsse,
    #[error("the certificate chain in the bundle holds a root certificate; roots come only from the trusted root")]
    RootInChain,
    #[error("the signature does not verify: {0}")]
    Invalid(String),
    #[error("the signer does not match: {0}")]
    Identity(String),
    #[error("{0}")]
    Trust(String),
}

/// How a signer is trusted.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A public key (cosign `--key`).
    Key(VerifyingKey),
    /// A Fulcio certificate for an identity from an OIDC issuer.
    Keyless { identity: Matcher, issuer: Matcher },
}

/// An exact value or a regular expression (unanchored, as cosign's `-regexp` flags).
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Pattern(Regex),
}

impl Matcher {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Pattern(re) => re.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(v) => write!(f, "{v:?}"),
            Matcher::Pattern(re) => write!(f, "/{re}/"),
        }
    }
}

/// What accompanies the file.
#[derive(Debug, Clone, Copy)]
pub enum Evidence<'a> {
    /// A detached base64 signature (`FILE.sig`).
    Detached(&'a str),
    /// A Sigstore bundle (`FILE.sigstore.json`).
    Bundle(&'a str),
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer: `key <hint>` or `<identity> (<issuer>)`.
    pub signer: String,
    /// Whether a transparency log vouches for the signature.
    pub logged: bool,
}

/// The outputs of signing a file.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Base64 DER signature, as `FILE.sig` holds it.
    pub signature: String,
    /// The Sigstore bundle, as `FILE.sigstore.json` holds it.
    pub bundle: String,
}

/// Sign file bytes with a P-256 key.
pub fn sign(bytes: &[u8], key: &SigningKey) -> Result<Signed, keys::KeyError> {
    let signature: Signature = key.sign(bytes);
    let signature = B64.encode(signature.to_der().as_bytes());
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": keys::hint(key.verifying_key())?},
            "tlogEntries": [],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(bytes))},
            "signature": signature,
        },
    });
    let mut bundle = serde_json::to_string_pretty(&bundle).map_err(|e| keys::KeyError::Format(e.to_string()))?;
    bundle.push('\n');
    Ok(Signed { signature, bundle })
}

/// Parse a trusted root (`trusted_root.json`).
pub fn trusted_root(json: &str) -> Result<TrustedRoot, VerifyError> {
    TrustedRoot::from_json(json).map_err(|e| VerifyError::Trust(format!("invalid trusted root: {e}")))
}

/// Verify file bytes against their signature material.
pub fn verify(
    bytes: &[u8],
    evidence: Evidence<'_>,
    trust: &Trust,
    root: &TrustedRoot,
) -> Result<Verified, VerifyError> {
    super::crypto::install();
    match (evidence, trust) {
        (Evidence::Detached(text), Trust::Key(key)) => {
            verify_signature(bytes, text.trim(), key)?;
            Ok(Verified { signer: key_signer(key), logged: false })
        }
        (Evidence::Detached(_), Trust::Keyless { .. }) => {
            Err(VerifyError::Trust("a detached signature is verified with --key; identities need a bundle".into()))
        }
        (Evidence::Bundle(text), trust) => verify_bundle(bytes, text, trust, root),
    }
}

fn key_signer(key: &VerifyingKey) -> String {
    format!("key {}", keys::hint(key).unwrap_or_default())
}

fn verify_signature(bytes: &[u8], base64_der: &str, key: &VerifyingKey) -> Result<(), VerifyError> {
    let der = B64.decode(base64_der).map_err(|e| VerifyError::Malformed(format!("signature is not base64: {e}")))?;
    let signature = Signature::from_der(&der).map_err(|e| VerifyError::Malformed(format!("signature: {e}")))?;
    key.verify(bytes, &signature).map_err(|_| VerifyError::Invalid("wrong key or modified file".into()))
}

fn verify_bundle(bytes: &[u8], text: &str, trust: &Trust, root: &TrustedRoot) -> Result<Verified, VerifyError> {
    let raw: Value = serde_json::from_str(text).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if raw.get("dsseEnvelope").is_some() {
        return Err(VerifyError::Dsse);
    }
    let bundle = Bundle::from_json(text).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if matches!(bundle.content, SignatureContent::DsseEnvelope(_)) {
        return Err(VerifyError::Dsse);
    }
    reject_root_in_chain(&bundle)?;
    let material = &bundle.verification_material;
    let offline_key_only = material.tlog_entries.is_empty()
        && material.timestamp_verification_data.rfc3161_timestamps.is_empty()
        && matches!(material.content, VerificationMaterialContent::PublicKey(_));
    let verifier =
        sigstore_verify::Verifier::new(root).map_err(|e| VerifyError::Trust(format!("trusted root: {e}")))?;
    match trust {
        Trust::Key(key) if offline_key_only => {
            verify_key_only(bytes, &raw, key)?;
            Ok(Verified { signer: key_signer(key), logged: false })
        }
        Trust::Key(key) => {
            let pem = keys::public_pem(key).map_err(|e| VerifyError::Trust(e.to_string()))?;
            let der =
                sigstore_verify::types::DerPublicKey::from_pem(&pem).map_err(|e| VerifyError::Trust(e.to_string()))?;
            let policy = sigstore_verify::PublicKeyVerificationPolicy::new(der);
            let result = verifier.verify(bytes, &bundle, &policy).map_err(|e| VerifyError::Invalid(e.to_string()))?;
            Ok(Verified { signer: key_signer(key), logged: result.tlog_verified() })
        }
        Trust::Keyless { identity, issuer } => {
            if matches!(material.content, VerificationMaterialContent::PublicKey(_)) {
                return Err(VerifyError::Trust(
                    "the bundle is signed with a key, not a certificate: verify it with --key".into(),
                ));
            }
            let policy = sigstore_verify::VerificationPolicy::any_identity();
            let result = verifier.verify(bytes, &bundle, &policy).map_err(|e| VerifyError::Invalid(e.to_string()))?;
            let who = result.identity().map(|san| san.as_str().to_owned()).unwrap_or_default();
            let from = result.issuer().unwrap_or_default().to_owned();
            if !identity.matches(&who) {
                return Err(VerifyError::Identity(format!("the certificate is for {who:?}, not {identity}")));
            }
            if !issuer.matches(&from) {
                return Err(VerifyError::Identity(format!("the certificate's OIDC issuer is {from:?}, not {issuer}")));
            }
            Ok(Verified { signer: format!("{who} ({from})"), logged: result.tlog_verified() })
        }
    }
}

/// A key-only bundle with nothing logged: the digest must be the file's, the signature must
/// verify with the key, and a hint, when present, must be the key's.
fn verify_key_only(bytes: &[u8], raw: &Value, key: &VerifyingKey) -> Result<(), VerifyError> {
    let hint = at(raw, &["verificationMaterial", "publicKey", "hint"]).as_str().unwrap_or("");
    if !hint.is_empty() && keys::hint(key).ok().as_deref() != Some(hint) {
        return Err(VerifyError::Invalid("the bundle names another key".into()));
    }
    let digest = at(raw, &["messageSignature", "messageDigest"]);
    if !digest.is_null() {
        let algorithm = at(digest, &["algorithm"]);
        if algorithm.as_str() != Some("SHA2_256") {
            return Err(VerifyError::Malformed(format!("unsupported digest algorithm {algorithm}")));
        }
        let expected = B64.encode(Sha256::digest(bytes));
        if at(digest, &["digest"]).as_str() != Some(expected.as_str()) {
            return Err(VerifyError::Invalid("the message digest is not the file's".into()));
        }
    }
    let text = at(raw, &["messageSignature", "signature"])
        .as_str()
        .ok_or_else(|| VerifyError::Malformed("no signature".into()))?;
    verify_signature(bytes, text, key)
}

/// Refuse a bundle whose certificate chain carries a self-signed (root) certificate: trust
/// anchors come from the trusted root, never from the bundle.
fn reject_root_in_chain(bundle: &Bundle) -> Result<(), VerifyError> {
    use x509_cert::der::Decode as _;
    let VerificationMaterialContent::X509CertificateChain { certificates } = &bundle.verification_material.content
    else {
        return Ok(());
    };
    for certificate in certificates {
        let parsed = x509_cert::Certificate::from_der(certificate.raw_bytes.as_bytes())
            .map_err(|e| VerifyError::Malformed(format!("certificate: {e}")))?;
        if parsed.tbs_certificate.subject == parsed.tbs_certificate.issuer {
            return Err(VerifyError::RootInChain);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> TrustedRoot {
        trusted_root(EMBEDDED_ROOT).unwrap()
    }

    #[test]
    fn what_sign_writes_verifies_with_the_key_and_only_with_it() {
        let key = keys::generate();
        let other = keys::generate();
        let file = b"a bundle archive";
        let signed = sign(file, &key).unwrap();
        let trust = Trust::Key(*key.verifying_key());
        for evidence in [Evidence::Detached(&signed.signature), Evidence::Bundle(&signed.bundle)] {
            assert!(verify(file, evidence, &trust, &root()).is_ok());
            assert!(verify(b"a bundle archivE", evidence, &trust, &root()).is_err(), "a changed byte must fail");
            assert!(verify(file, evidence, &Trust::Key(*other.verifying_key()), &root()).is_err());
        }
        let keyless = Trust::Keyless { identity: Matcher::Exact("x".into()), issuer: Matcher::Exact("y".into()) };
        assert!(verify(file, Evidence::Bundle(&signed.bundle), &keyless, &root()).is_err());
    }

    #[test]
    fn matchers() {
        assert!(Matcher::Exact("a".into()).matches("a"));
        assert!(!Matcher::Exact("a".into()).matches("ab"));
        assert!(Matcher::Pattern(Regex::new("^https://github.com/acme/").unwrap()).matches("https://github.com/acme/x"));
    }
}
