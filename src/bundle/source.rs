//! Where the serving bundle comes from, and the check it passes before it is compiled.
//!
//! Sources: the embedded default, a preset, a directory, an archive file, an `https://` URL
//! ([`super::https`]) or an OCI reference ([`super::oci`]). With trust configured (a public
//! key, or a certificate identity and OIDC issuer with a trusted root), an archive is verified
//! against its signature before a byte of it is parsed as policy, at start and at every reload:
//! on disk the signature sits beside the file (`FILE.sigstore.json`, else `FILE.sig`), over HTTPS
//! beside the URL, in a registry as a referrer of the bundle manifest. The trust material is read
//! once, at start, and a reload cannot change it.
//!
//! Without trust, a local archive is served only with `--allow-unsigned`, and a remote one not at
//! all: whoever controls the network path to it would control the policy. A directory cannot
//! carry a signature: it is a development source, refused when trust is configured (unless
//! `--allow-unsigned`) and logged as unsigned otherwise. The embedded default bundle and the
//! presets are part of the binary and need no signature.

use super::oci::Signature;
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
    /// The immutable name of what was loaded, when the source is a moving one: an OCI tag
    /// resolved to `oci://…@sha256:…`.
    pub pinned: Option<String>,
    /// What polling compares: the manifest digest of an OCI source, the archive digest of a
    /// file or URL, a digest of the files of a directory. `None` for embedded bundles.
    pub version: Option<String>,
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

fn invalid(e: &dyn std::fmt::Display) -> SourceError {
    SourceError::Invalid(e.to_string())
}

/// Load the bundle a source names, verified when trust is configured.
pub async fn load(
    source: &BundleSource,
    trust: Option<&TrustMaterial>,
    allow_unsigned: bool,
) -> Result<Loaded, SourceError> {
    match source {
        BundleSource::Https(url) => {
            let material = remote_trust(url, trust)?;
            let fetched = super::https::fetch(url).await.map_err(|e| SourceError::Fetch(e.to_string()))?;
            let signer = verify_any(url, &fetched.archive, &fetched.signatures, material)?;
            from_archive(url, &fetched.archive, Some(signer), None)
        }
        BundleSource::Oci(reference) => {
            let name = reference.to_string();
            let material = remote_trust(&name, trust)?;
            let pulled = super::oci::pull(reference).await.map_err(|e| SourceError::Fetch(e.to_string()))?;
            let pinned = pulled.pinned.to_string();
            let signer = verify_any(&pinned, &pulled.archive, &pulled.signatures, material)?;
            let mut loaded = from_archive(&pinned, &pulled.archive, Some(signer), Some(pinned.clone()))?;
            loaded.version = pulled.pinned.digest().map(str::to_owned);
            Ok(loaded)
        }
        local => load_local(local, trust, allow_unsigned),
    }
}

/// What a source holds now, to compare with [`Loaded::version`]: cheaper than a load (an OCI
/// tag is resolved with one request), and `None` for a source that cannot change.
pub async fn probe(source: &BundleSource) -> Result<Option<String>, SourceError> {
    let fetch = |e: &dyn std::fmt::Display| SourceError::Fetch(e.to_string());
    match source {
        BundleSource::Embedded | BundleSource::Preset(_) => Ok(None),
        BundleSource::Directory(dir) => Ok(Some(directory_version(dir)?)),
        BundleSource::Archive(path) => {
            let bytes = std::fs::read(path).map_err(|e| SourceError::Fetch(format!("{}: {e}", path.display())))?;
            Ok(Some(super::digest(&bytes)))
        }
        BundleSource::Https(url) => {
            let fetched = super::https::fetch(url).await.map_err(|e| fetch(&e))?;
            Ok(Some(super::digest(&fetched.archive)))
        }
        BundleSource::Oci(reference) => super::oci::resolve(reference).await.map(Some).map_err(|e| fetch(&e)),
    }
}

fn remote_trust<'a>(name: &str, trust: Option<&'a TrustMaterial>) -> Result<&'a TrustMaterial, SourceError> {
    trust.ok_or_else(|| {
        SourceError::Unverified(format!(
            "{name}: a remote bundle is only served verified, and no trust is configured \
             (give --bundle-key, or a certificate identity and issuer)"
        ))
    })
}

/// Verify an archive against the signatures found for it: one that verifies is enough.
pub fn verify_any(
    name: &str,
    archive: &[u8],
    signatures: &[Signature],
    material: &TrustMaterial,
) -> Result<String, SourceError> {
    if signatures.is_empty() {
        return Err(SourceError::Unverified(format!("{name}: no signature was found for it")));
    }
    let mut failures = Vec::new();
    for found in signatures {
        let evidence = match found {
            Signature::Bundle(text) => Evidence::Bundle(text),
            Signature::Detached(text) => Evidence::Detached(text),
        };
        match verify_bytes(archive, evidence, material) {
            Ok(signer) => return Ok(signer),
            Err(e) => failures.push(e.to_string().trim_start_matches("bundle_unverified: ").to_owned()),
        }
    }
    Err(SourceError::Unverified(format!("{name}: no signature verifies: {}", failures.join("; "))))
}

/// An archive's bytes, verified or knowingly not, as a loaded bundle.
fn from_archive(
    name: &str,
    bytes: &[u8],
    signer: Option<String>,
    pinned: Option<String>,
) -> Result<Loaded, SourceError> {
    let digest = super::digest(bytes);
    let bundle = super::archive::load(name, bytes).map_err(|e| invalid(&e))?;
    Ok(Loaded { bundle, digest: Some(digest.clone()), signer, pinned, version: Some(digest) })
}

/// A digest over a directory's bundle files, as `bundle build` would pack them.
fn directory_version(dir: &Path) -> Result<String, SourceError> {
    let files = super::archive::files_of(dir).map_err(|e| SourceError::Fetch(format!("{}: {e}", dir.display())))?;
    let packed = super::archive::pack(&files).map_err(|e| invalid(&e))?;
    Ok(super::digest(&packed))
}

/// Load a bundle that is on this machine (everything but `https://` and `oci://`).
pub fn load_local(
    source: &BundleSource,
    trust: Option<&TrustMaterial>,
    allow_unsigned: bool,
) -> Result<Loaded, SourceError> {
    let embedded = |bundle| Loaded {
        bundle,
        digest: None,
        signer: Some("embedded in the binary".into()),
        pinned: None,
        version: None,
    };
    match source {
        BundleSource::Embedded => Ok(embedded(Bundle::embedded_default().map_err(|e| invalid(&e))?)),
        BundleSource::Preset(name) => {
            let bundle = crate::policy::embedded::preset(name)
                .ok_or_else(|| SourceError::Invalid(format!("no preset named {name:?}")))?
                .map_err(|e| invalid(&e))?;
            Ok(embedded(bundle))
        }
        BundleSource::Directory(dir) => {
            if trust.is_some() && !allow_unsigned {
                return Err(SourceError::Unverified(format!(
                    "{} is a directory, which carries no signature; serve a signed archive (bundle build, bundle sign)",
                    dir.display()
                )));
            }
            tracing::warn!(bundle = %dir.display(), "serving an unsigned bundle directory (development)");
            let version = directory_version(dir).ok();
            let bundle = Bundle::from_dir(dir).map_err(|e| invalid(&e))?;
            Ok(Loaded { bundle, digest: None, signer: None, pinned: None, version })
        }
        BundleSource::Archive(path) => {
            let bytes = std::fs::read(path).map_err(|e| SourceError::Fetch(format!("{}: {e}", path.display())))?;
            let name = path.display().to_string();
            let signer = match trust {
                Some(material) => Some(verify_beside(path, &bytes, material)?),
                None if allow_unsigned => {
                    let digest = super::digest(&bytes);
                    tracing::warn!(bundle = %name, %digest, "serving an unsigned bundle archive (--allow-unsigned)");
                    None
                }
                None => {
                    return Err(SourceError::Unverified(format!(
                        "{name}: no trust is configured to verify it (pass --bundle-key or a certificate identity, or --allow-unsigned)"
                    )))
                }
            };
            from_archive(&name, &bytes, signer, None)
        }
        BundleSource::Https(name) => Err(SourceError::Fetch(format!("{name} is remote"))),
        BundleSource::Oci(reference) => Err(SourceError::Fetch(format!("{reference} is remote"))),
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
