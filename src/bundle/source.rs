//! Where the serving bundle comes from, and the check it passes before it is compiled.
//!
//! With trust configured (a public key, or a certificate identity and OIDC issuer with a
//! trusted root), an archive is verified against the signature beside it — `FILE.sigstore.json`,
//! else `FILE.sig` — before a byte of it is parsed as policy, at start and at every reload. The
//! trust material is read once, at start, and a reload cannot change it. Without trust, an
//! archive is served only with `--allow-unsigned`. A directory cannot carry a signature: it is a
//! development source, refused when trust is configured (unless `--allow-unsigned`) and logged
//! as unsigned otherwise. The embedded default bundle and the presets are part of the binary
//! and need no signature.

use super::signature::{self, Evidence, Trust};
use crate::config::BundleSource;
use crate::policy::Bundle;
use std::path::{Path, PathBuf};

/// Trust material, read once at start.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    pub trust: Trust,
    /// The trusted root's JSON (the embedded public-good root unless one was given).
    pub root: String,
}

/// A loaded bundle and what is known of its origin.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub bundle: Bundle,
    /// `sha256:…` of the archive, when it came from one.
    pub digest: Option<String>,
    /// Who signed it, when it was verified.
    pub signer: Option<String>,
}

/// Why a bundle could not be loaded; the reason code goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("bundle_unverified: {0}")]
    Unverified(String),
    #[error("bundle_fetch_failed: {0}")]
    Fetch(String),
    #[error("bundle_compile_failed: {0}")]
    Invalid(String),
}

impl SourceError {
    /// The reason code logged for a failed load or reload.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Unverified(_) => "bundle_unverified",
            SourceError::Fetch(_) => "bundle_fetch_failed",
            SourceError::Invalid(_) => "bundle_compile_failed",
        }
    }
}

/// Load the bundle a source names, verified when trust is configured.
pub fn load(source: &BundleSource, trust: Option<&TrustMaterial>, allow_unsigned: bool) -> Result<Loaded, SourceError> {
    let invalid = |e: &dyn std::fmt::Display| SourceError::Invalid(e.to_string());
    match source {
        BundleSource::Embedded => {
            let bundle = Bundle::embedded_default().map_err(|e| invalid(&e))?;
            Ok(Loaded { bundle, digest: None, signer: Some("embedded in the binary".into()) })
        }
        BundleSource::Preset(name) => {
            let bundle = crate::policy::embedded::preset(name)
                .ok_or_else(|| SourceError::Invalid(format!("no preset named {name:?}")))?
                .map_err(|e| invalid(&e))?;
            Ok(Loaded { bundle, digest: None, signer: Some("embedded in the binary".into()) })
        }
        BundleSource::Directory(dir) => {
            if trust.is_some() && !allow_unsigned {
                return Err(SourceError::Unverified(format!(
                    "{} is a directory, which carries no signature; serve a signed archive (bundle build, bundle sign)",
                    dir.display()
                )));
            }
            tracing::warn!(bundle = %dir.display(), "serving an unsigned bundle directory (development)");
            let bundle = Bundle::from_dir(dir).map_err(|e| invalid(&e))?;
            Ok(Loaded { bundle, digest: None, signer: None })
        }
        BundleSource::Archive(path) => {
            let bytes = std::fs::read(path).map_err(|e| SourceError::Fetch(format!("{}: {e}", path.display())))?;
            let digest = super::digest(&bytes);
            let signer = match trust {
                Some(material) => Some(verify_beside(path, &bytes, material)?),
                None if allow_unsigned => {
                    tracing::warn!(bundle = %path.display(), %digest, "serving an unsigned bundle archive (--allow-unsigned)");
                    None
                }
                None => {
                    return Err(SourceError::Unverified(format!(
                        "{}: no trust is configured to verify it (pass --bundle-key or a certificate identity, or --allow-unsigned)",
                        path.display()
                    )))
                }
            };
            let bundle = super::archive::load(&path.display().to_string(), &bytes).map_err(|e| invalid(&e))?;
            Ok(Loaded { bundle, digest: Some(digest), signer })
        }
    }
}

/// The signature files `sign` writes beside an archive, in the order they are tried.
pub fn evidence_paths(archive: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut name = archive.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [with(".sigstore.json"), with(".sig")]
}

/// Verify archive bytes against the signature beside the file; returns the signer.
fn verify_beside(path: &Path, bytes: &[u8], material: &TrustMaterial) -> Result<String, SourceError> {
    let [bundle_path, sig_path] = evidence_paths(path);
    let (text, is_bundle) = match std::fs::read_to_string(&bundle_path) {
        Ok(text) => (text, true),
        Err(_) => match std::fs::read_to_string(&sig_path) {
            Ok(text) => (text, false),
            Err(_) => {
                return Err(SourceError::Unverified(format!(
                    "{}: no signature beside it ({} or {})",
                    path.display(),
                    bundle_path.display(),
                    sig_path.display()
                )))
            }
        },
    };
    let evidence = if is_bundle { Evidence::Bundle(&text) } else { Evidence::Detached(&text) };
    verify_bytes(bytes, evidence, material)
}

/// Verify bytes and their evidence with the trust material; returns the signer.
pub fn verify_bytes(bytes: &[u8], evidence: Evidence<'_>, material: &TrustMaterial) -> Result<String, SourceError> {
    let root = signature::trusted_root(&material.root).map_err(|e| SourceError::Unverified(e.to_string()))?;
    signature::verify(bytes, evidence, &material.trust, &root)
        .map(|verified| verified.signer)
        .map_err(|e| SourceError::Unverified(e.to_string()))
}

/// Trust material from its settings (flags, file or environment): a public key file, or an
/// identity and an issuer (each exact or a regular expression), and an optional trusted root
/// file. Files are read now, once. `Ok(None)` when no trust is configured.
pub fn trust_material(
    key: Option<&Path>,
    identity: Option<&str>,
    identity_regexp: Option<&str>,
    issuer: Option<&str>,
    issuer_regexp: Option<&str>,
    trusted_root: Option<&Path>,
) -> Result<Option<TrustMaterial>, String> {
    use super::signature::Matcher;
    let pattern = |re: &str| regex::Regex::new(re).map(Matcher::Pattern).map_err(|e| e.to_string());
    let identity = match (identity, identity_regexp) {
        (Some(_), Some(_)) => return Err("give a certificate identity or a pattern for it, not both".into()),
        (Some(id), None) => Some(Matcher::Exact(id.to_owned())),
        (None, Some(re)) => Some(pattern(re)?),
        (None, None) => None,
    };
    let issuer = match (issuer, issuer_regexp) {
        (Some(_), Some(_)) => return Err("give an OIDC issuer or a pattern for it, not both".into()),
        (Some(iss), None) => Some(Matcher::Exact(iss.to_owned())),
        (None, Some(re)) => Some(pattern(re)?),
        (None, None) => None,
    };
    let trust = match (key, identity, issuer) {
        (Some(path), None, None) => {
            let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Trust::Key(super::keys::read_public(&pem).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        (None, Some(identity), Some(issuer)) => Trust::Keyless { identity, issuer },
        (None, None, None) => return Ok(None),
        (Some(_), _, _) => return Err("give a public key, or a certificate identity and issuer, not both".into()),
        (None, Some(_), None) => return Err("a certificate identity needs an OIDC issuer".into()),
        (None, None, Some(_)) => return Err("an OIDC issuer needs a certificate identity".into()),
    };
    let root = match trusted_root {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => super::signature::EMBEDDED_ROOT.to_owned(),
    };
    signature::trusted_root(&root).map_err(|e| e.to_string())?;
    Ok(Some(TrustMaterial { trust, root }))
}
