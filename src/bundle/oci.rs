//! Bundles in an OCI registry: `bundle push`, `bundle pull` and `serve --bundle oci://…`.
//!
//! # Layout in the registry
//!
//! A bundle is an OCI image manifest laid out the way OPA's OCI downloader expects, so the same
//! artifact serves both: the config blob is `{}` with media type
//! `application/vnd.oci.image.config.v1+json`, and the one layer is the bundle archive
//! (`application/vnd.oci.image.layer.v1.tar+gzip`, titled `bundle.tar.gz`), byte for byte the
//! file `bundle build` wrote. The manifest carries the bundle's revision as the annotation
//! `org.opencontainers.image.revision`.
//!
//! Each signature is a *referrer* of that manifest (OCI 1.1): a manifest whose `subject` is the
//! bundle manifest, with an empty config (`application/vnd.oci.empty.v1+json`) and one layer
//! holding the signature file. A Sigstore bundle (`FILE.sigstore.json`) has artifact and layer
//! type `application/vnd.dev.sigstore.bundle.v0.3+json`, as in cosign's bundle specification; a
//! detached base64 signature (`FILE.sig`) has `application/vnd.sockguard.bundle.signature.v1`.
//! The signature is over the archive — the layer — not over the manifest, so a pulled bundle is
//! verified exactly like the file it was pushed from.
//!
//! Referrers are found through the registry's referrers API where it has one, else through the
//! referrers tag schema: the tag `sha256-<hex of the bundle manifest digest>` names an image
//! index listing them. `push` always writes that index (keeping entries already there), because
//! registries without the API — Debian's `docker-registry` 2.8 among them — are common.
//!
//! `push` uploads in an order that never exposes an unsigned tag: blobs, the bundle manifest by
//! digest, the signature manifests, the referrers index, and only then the tag.
//!
//! # Transport and credentials
//!
//! HTTPS everywhere, except plain HTTP to a loopback registry (`localhost`, `127.0.0.0/8`,
//! `[::1]`). Credentials come from the docker CLI's `config.json` (`$DOCKER_CONFIG` or
//! `~/.docker`), including credential helpers, read at each fetch so a `docker login` takes
//! effect without a restart; a registry with no entry is used anonymously.

use super::digest;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The config of a bundle manifest (OPA's layout).
pub const BUNDLE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The layer of a bundle manifest: the archive.
pub const BUNDLE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The config of a signature manifest.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// A Sigstore bundle (cosign's bundle specification).
pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// A detached base64 signature, as `cosign sign-blob` writes.
pub const DETACHED_SIGNATURE: &str = "application/vnd.sockguard.bundle.signature.v1";
/// The annotation that carries the bundle revision.
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";

/// The largest archive pulled.
pub const MAX_ARCHIVE: usize = 64 << 20;
/// The largest signature file pulled.
const MAX_SIGNATURE: usize = 1 << 20;
/// The largest number of signatures looked at for one bundle.
const MAX_REFERRERS: usize = 16;
/// The empty JSON object: config of every manifest pushed here.
const EMPTY_JSON: &[u8] = b"{}";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OciError(pub String);

fn fail(context: &str, e: impl std::fmt::Display) -> OciError {
    let text = e.to_string();
    let hint = if text.contains("code: 401") || text.contains("UNAUTHORIZED") || text.contains("Not authorized") {
        " (sockguard uses the docker CLI's credentials: run `docker login REGISTRY`, or set DOCKER_CONFIG)"
    } else {
        ""
    };
    OciError(format!("{context}: {text}{hint}"))
}

/// `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    reference: Reference,
}

impl OciRef {
    /// Parse `oci://…`. The registry must be named (a host with a dot or a port, or
    /// `localhost`): a bare `repo:tag` would silently mean Docker Hub.
    pub fn parse(text: &str) -> Result<OciRef, String> {
        let usage = "expected oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]";
        let rest = text.strip_prefix("oci://").ok_or_else(|| format!("{text:?}: {usage}"))?;
        let (host, path) = rest.split_once('/').ok_or_else(|| format!("{text:?}: {usage}"))?;
        if host.is_empty() || path.is_empty() || !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(format!("{text:?}: the registry must be named (a host with a dot or a port); {usage}"));
        }
        let reference = Reference::try_from(rest).map_err(|e| format!("{text:?}: {e}; {usage}"))?;
        if reference.registry() != host {
            return Err(format!("{text:?}: {usage}"));
        }
        Ok(OciRef { reference })
    }

    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    pub fn repository(&self) -> &str {
        self.reference.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.reference.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// The same repository, pinned to a manifest digest.
    pub fn pinned(&self, digest: &str) -> OciRef {
        OciRef {
            reference: Reference::with_digest(
                self.registry().to_owned(),
                self.repository().to_owned(),
                digest.to_owned(),
            ),
        }
    }

    fn with_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(self.registry().to_owned(), self.repository().to_owned(), tag.to_owned())
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry(), self.repository())?;
        if let Some(tag) = self.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest() {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether a `host[:port]` names this machine: the only place plain HTTP is used.
pub fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// One signature file found beside a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// A Sigstore bundle (JSON).
    Bundle(String),
    /// A detached base64 signature.
    Detached(String),
}

/// A bundle pulled from a registry.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference, pinned to the manifest digest that was pulled.
    pub pinned: OciRef,
    /// The archive (the manifest's layer), its digest checked.
    pub archive: Vec<u8>,
    /// Every signature found, in the order the registry lists them.
    pub signatures: Vec<Signature>,
}

/// A registry session: a client with its credentials.
struct Registry {
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    async fn open(reference: &OciRef) -> Result<Registry, OciError> {
        super::install_tls();
        let registry = reference.registry().to_owned();
        let protocol = if is_loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("sockguard/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| fail("cannot make a registry client", e))?;
        let auth = credentials(&registry)?;
        client.store_auth_if_needed(&registry, &auth).await;
        Ok(Registry { client, auth })
    }

    async fn push_blob(&self, reference: &Reference, bytes: &[u8]) -> Result<OciDescriptor, OciError> {
        let digest = digest(bytes);
        let exists = self.client.blob_exists(reference, &digest).await.unwrap_or(false);
        if !exists {
            self.client
                .push_blob(reference, Bytes::copy_from_slice(bytes), &digest)
                .await
                .map_err(|e| fail(&format!("cannot upload blob {digest}"), e))?;
        }
        Ok(OciDescriptor { digest, size: bytes.len() as i64, ..OciDescriptor::default() })
    }

    async fn push_manifest(
        &self,
        reference: &Reference,
        body: &[u8],
        media_type: &'static str,
    ) -> Result<(), OciError> {
        self.client
            .push_manifest_raw(reference, Bytes::copy_from_slice(body), http::HeaderValue::from_static(media_type))
            .await
            .map(drop)
            .map_err(|e| fail(&format!("cannot push {}", reference.whole()), e))
    }

    async fn pull_manifest(&self, reference: &Reference, accept: &[&str]) -> Result<(Value, String), OciError> {
        let (body, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, accept)
            .await
            .map_err(|e| fail(&format!("cannot fetch {}", reference.whole()), e))?;
        let manifest: Value = serde_json::from_slice(&body)
            .map_err(|e| fail(&format!("{}: not a JSON manifest", reference.whole()), e))?;
        Ok((manifest, digest))
    }

    /// A blob, read up to `limit` bytes, its digest checked.
    async fn pull_blob(&self, reference: &Reference, layer: &Layer, limit: usize) -> Result<Vec<u8>, OciError> {
        if layer.size > limit {
            return Err(OciError(format!(
                "{}: blob {} is {} bytes; the limit is {limit}",
                reference.whole(),
                layer.digest,
                layer.size
            )));
        }
        let descriptor =
            OciDescriptor { digest: layer.digest.clone(), size: layer.size as i64, ..OciDescriptor::default() };
        let mut stream = self
            .client
            .pull_blob_stream(reference, &descriptor)
            .await
            .map_err(|e| fail(&format!("cannot fetch blob {}", layer.digest), e))?;
        let mut bytes = Vec::with_capacity(layer.size);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(&format!("cannot fetch blob {}", layer.digest), e))?;
            if bytes.len().saturating_add(chunk.len()) > layer.size {
                return Err(OciError(format!("blob {} is longer than its manifest says", layer.digest)));
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = digest(&bytes);
        if actual != layer.digest {
            return Err(OciError(format!("blob {} arrived with digest {actual}", layer.digest)));
        }
        Ok(bytes)
    }
}

/// Registry credentials from the docker CLI's configuration.
fn credentials(registry: &str) -> Result<RegistryAuth, OciError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(registry) {
        Ok(DockerCredential::UsernamePassword(user, password)) => Ok(RegistryAuth::Basic(user, password)),
        Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
        Err(E::ConfigNotFound | E::ConfigReadError | E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(e) => Err(fail(&format!("cannot read the docker credentials for {registry}"), format!("{e:?}"))),
    }
}

/// A layer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    media_type: String,
    digest: String,
    size: usize,
}

fn layers(manifest: &Value) -> Vec<Layer> {
    let Some(layers) = manifest.get("layers").and_then(Value::as_array) else { return Vec::new() };
    layers
        .iter()
        .filter_map(|layer| {
            Some(Layer {
                media_type: layer.get("mediaType")?.as_str()?.to_owned(),
                digest: layer.get("digest")?.as_str()?.to_owned(),
                size: usize::try_from(layer.get("size")?.as_u64()?).ok()?,
            })
        })
        .collect()
}

/// The bundle manifest: OPA's layout, with the revision as an annotation.
fn bundle_manifest(config: &OciDescriptor, archive: &OciDescriptor, revision: &str) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": BUNDLE_CONFIG, "digest": config.digest, "size": config.size },
        "layers": [{
            "mediaType": BUNDLE_LAYER,
            "digest": archive.digest,
            "size": archive.size,
            "annotations": { "org.opencontainers.image.title": "bundle.tar.gz" },
        }],
        "annotations": { REVISION_ANNOTATION: revision },
    });
    manifest.to_string().into_bytes()
}

/// A signature manifest: a referrer of the bundle manifest with the signature as its layer.
fn signature_manifest(
    artifact_type: &str,
    config: &OciDescriptor,
    signature: &OciDescriptor,
    subject: &OciDescriptor,
) -> Vec<u8> {
    let mut manifest = serde_json::Map::new();
    let fields = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": { "mediaType": EMPTY, "digest": config.digest, "size": config.size },
        "layers": [{ "mediaType": artifact_type, "digest": signature.digest, "size": signature.size }],
        "subject": { "mediaType": MANIFEST, "digest": subject.digest, "size": subject.size },
    });
    if let Value::Object(fields) = fields {
        manifest.extend(fields);
    }
    if let Some(annotations) = annotations_of(artifact_type) {
        manifest.insert("annotations".into(), annotations);
    }
    Value::Object(manifest).to_string().into_bytes()
}

/// The annotations of a signature manifest (and of its entry in the referrers index).
fn annotations_of(artifact_type: &str) -> Option<Value> {
    (artifact_type == SIGSTORE_BUNDLE).then(|| json!({ "dev.sigstore.bundle.content": "message-signature" }))
}

/// The referrers index after adding `entries`: what was there, without duplicates, then them.
fn merged_index(existing: &[Value], entries: &[Value]) -> Vec<u8> {
    let mut manifests: Vec<Value> = Vec::new();
    for entry in existing.iter().chain(entries) {
        let digest = entry.get("digest");
        manifests.retain(|kept| kept.get("digest") != digest);
        manifests.push(entry.clone());
    }
    json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests }).to_string().into_bytes()
}

/// The referrers-tag-schema tag of a digest: `sha256:abc…` → `sha256-abc…`.
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// What `push` did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pinned to the bundle manifest.
    pub pinned: OciRef,
    /// How many signatures were attached.
    pub signatures: usize,
}

/// Push an archive and its signatures; the tag (if the reference has one) moves last.
pub async fn push(
    reference: &OciRef,
    archive: &[u8],
    revision: &str,
    signatures: &[Signature],
) -> Result<Pushed, OciError> {
    let registry = Registry::open(reference).await?;
    let base = reference.with_tag("unused");
    let config = registry.push_blob(&base, EMPTY_JSON).await?;
    let layer = registry.push_blob(&base, archive).await?;
    let manifest = bundle_manifest(&config, &layer, revision);
    let manifest_digest = digest(&manifest);
    let pinned = reference.pinned(&manifest_digest);
    registry.push_manifest(&pinned.reference, &manifest, MANIFEST).await?;
    let subject =
        OciDescriptor { digest: manifest_digest.clone(), size: manifest.len() as i64, ..OciDescriptor::default() };

    let mut entries = Vec::new();
    for signature in signatures {
        let (artifact_type, text) = match signature {
            Signature::Bundle(text) => (SIGSTORE_BUNDLE, text),
            Signature::Detached(text) => (DETACHED_SIGNATURE, text),
        };
        let blob = registry.push_blob(&base, text.as_bytes()).await?;
        let body = signature_manifest(artifact_type, &config, &blob, &subject);
        let body_digest = digest(&body);
        registry.push_manifest(&reference.pinned(&body_digest).reference, &body, MANIFEST).await?;
        let mut entry = json!({
            "mediaType": MANIFEST, "digest": body_digest, "size": body.len(), "artifactType": artifact_type,
        });
        if let (Some(annotations), Value::Object(fields)) = (annotations_of(artifact_type), &mut entry) {
            fields.insert("annotations".into(), annotations);
        }
        entries.push(entry);
    }
    if !entries.is_empty() {
        let existing = registry
            .client
            .pull_referrers(&pinned.reference, None)
            .await
            .map_err(|e| fail(&format!("cannot read the referrers of {pinned}"), e))?;
        let existing: Vec<Value> =
            existing.manifests.iter().filter_map(|entry| serde_json::to_value(entry).ok()).collect();
        let index = merged_index(&existing, &entries);
        registry.push_manifest(&reference.with_tag(&referrers_tag(&manifest_digest)), &index, INDEX).await?;
    }
    if let Some(tag) = reference.tag() {
        registry.push_manifest(&reference.with_tag(tag), &manifest, MANIFEST).await?;
    }
    Ok(Pushed { pinned, signatures: entries.len() })
}

/// The manifest digest a reference names now (a tag is resolved; a digest is returned as is).
pub async fn resolve(reference: &OciRef) -> Result<String, OciError> {
    if let Some(digest) = reference.digest() {
        return Ok(digest.to_owned());
    }
    let registry = Registry::open(reference).await?;
    registry
        .client
        .fetch_manifest_digest(&reference.reference, &registry.auth)
        .await
        .map_err(|e| fail(&format!("cannot resolve {reference}"), e))
}

/// Pull a bundle and every signature attached to it. A tag is resolved once, and everything is
/// then read by digest, so the archive and signatures belong to one manifest.
pub async fn pull(reference: &OciRef) -> Result<Pulled, OciError> {
    let registry = Registry::open(reference).await?;
    let (manifest, manifest_digest) = registry.pull_manifest(&reference.reference, &[MANIFEST]).await?;
    let pinned = reference.pinned(&manifest_digest);
    let archive_layers: Vec<Layer> =
        layers(&manifest).into_iter().filter(|layer| layer.media_type == BUNDLE_LAYER).collect();
    let [archive_layer] = archive_layers.as_slice() else {
        return Err(OciError(format!(
            "{pinned} is not a policy bundle: it has {} layers of type {BUNDLE_LAYER}, not one",
            archive_layers.len()
        )));
    };
    let archive = registry.pull_blob(&pinned.reference, archive_layer, MAX_ARCHIVE).await?;

    let referrers = registry
        .client
        .pull_referrers(&pinned.reference, None)
        .await
        .map_err(|e| fail(&format!("cannot list the signatures of {pinned}"), e))?;
    let mut signatures = Vec::new();
    for entry in referrers.manifests.iter().take(MAX_REFERRERS) {
        let artifact_type = entry.artifact_type.as_deref().unwrap_or("");
        if artifact_type != SIGSTORE_BUNDLE && artifact_type != DETACHED_SIGNATURE {
            continue;
        }
        let at = reference.pinned(&entry.digest);
        let (signature_manifest, _) = registry.pull_manifest(&at.reference, &[MANIFEST]).await?;
        let subject = signature_manifest.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str);
        if subject != Some(manifest_digest.as_str()) {
            continue;
        }
        for layer in layers(&signature_manifest).iter().filter(|layer| layer.media_type == artifact_type) {
            let bytes = registry.pull_blob(&at.reference, layer, MAX_SIGNATURE).await?;
            let text =
                String::from_utf8(bytes).map_err(|_| OciError(format!("signature {} is not text", layer.digest)))?;
            signatures.push(if artifact_type == SIGSTORE_BUNDLE {
                Signature::Bundle(text)
            } else {
                Signature::Detached(text)
            });
        }
    }
    Ok(Pulled { pinned, archive, signatures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print() {
        let r = OciRef::parse("oci://127.0.0.1:5000/team/policy:v2").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("127.0.0.1:5000", "team/policy", Some("v2"), None)
        );
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/team/policy:v2");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = r.pinned(&digest);
        assert_eq!(pinned.to_string(), format!("oci://127.0.0.1:5000/team/policy@{digest}"));
        let r = OciRef::parse("oci://ghcr.io/acme/sockguard-policy").unwrap();
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(OciRef::parse("oci://localhost/p:1").unwrap().registry(), "localhost");
        for bad in [
            "127.0.0.1:5000/p:v1",
            "oci://policy:v1",
            "oci://acme/policy:v1",
            "oci://",
            "oci://ghcr.io/",
            "oci://ghcr.io/UPPER:x",
        ] {
            assert!(OciRef::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for host in ["127.0.0.1:5000", "127.3.2.1", "localhost:80", "LOCALHOST", "[::1]:5000"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1:5000", "registry.example:5000", "localhost.example", "[::2]:1", "0.0.0.0:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn manifests_follow_the_documented_layout() {
        let config = OciDescriptor { digest: digest(EMPTY_JSON), size: 2, ..OciDescriptor::default() };
        let layer = OciDescriptor { digest: digest(b"archive"), size: 7, ..OciDescriptor::default() };
        let manifest: Value = serde_json::from_slice(&bundle_manifest(&config, &layer, "r1")).unwrap();
        assert_eq!(manifest["config"]["mediaType"], BUNDLE_CONFIG);
        assert_eq!(
            manifest["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            layers(&manifest),
            vec![Layer { media_type: BUNDLE_LAYER.into(), digest: layer.digest.clone(), size: 7 }]
        );
        assert_eq!(manifest["annotations"][REVISION_ANNOTATION], "r1");

        let subject = OciDescriptor { digest: digest(b"m"), size: 1, ..OciDescriptor::default() };
        let sig = OciDescriptor { digest: digest(b"s"), size: 1, ..OciDescriptor::default() };
        let referrer: Value =
            serde_json::from_slice(&signature_manifest(SIGSTORE_BUNDLE, &config, &sig, &subject)).unwrap();
        assert_eq!(referrer["artifactType"], SIGSTORE_BUNDLE);
        assert_eq!(referrer["config"]["mediaType"], EMPTY);
        assert_eq!(referrer["subject"]["digest"], subject.digest);
        assert_eq!(referrer["layers"][0]["mediaType"], SIGSTORE_BUNDLE);
        let detached: Value =
            serde_json::from_slice(&signature_manifest(DETACHED_SIGNATURE, &config, &sig, &subject)).unwrap();
        assert!(detached.get("annotations").is_none());
        assert_eq!(referrers_tag(&subject.digest), subject.digest.replace(':', "-"));
    }

    #[test]
    fn the_referrers_index_keeps_old_entries_once() {
        let a = json!({"digest": "sha256:a", "artifactType": "x"});
        let b = json!({"digest": "sha256:b", "artifactType": "y"});
        let b2 = json!({"digest": "sha256:b", "artifactType": "y", "annotations": {"new": "1"}});
        let index: Value = serde_json::from_slice(&merged_index(&[a.clone(), b], std::slice::from_ref(&b2))).unwrap();
        assert_eq!(index["mediaType"], INDEX);
        assert_eq!(index["manifests"], json!([a, b2]));
    }
}
