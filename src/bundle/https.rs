//! Bundles served over HTTPS: `serve --bundle https://host/path/policy.tar.gz`.
//!
//! The archive is fetched from the URL and its signature from beside it, the way `bundle sign`
//! leaves them on disk: `URL.sigstore.json`, else `URL.sig`. Plain `http://` is accepted only
//! for a loopback host. Certificates are checked against the system's roots (`SSL_CERT_FILE`
//! and `SSL_CERT_DIR` are honoured).

use super::oci::{Signature, MAX_ARCHIVE};
use futures_util::StreamExt;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// A bundle fetched over HTTP(S).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub archive: Vec<u8>,
    /// The signatures found beside it (a Sigstore bundle first, when there is one).
    pub signatures: Vec<Signature>,
}

/// Check a bundle URL: `https://…`, or `http://` to a loopback host.
pub fn check_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => {}
        "http" if super::oci::is_loopback(host) => {}
        "http" => return Err(format!("{text:?}: plain http:// is only allowed to a loopback host; use https://")),
        other => return Err(format!("{text:?}: unsupported scheme {other:?}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{}: credentials do not belong in a bundle URL", url.host_str().unwrap_or("")));
    }
    Ok(url)
}

fn client() -> Result<reqwest::Client, FetchError> {
    super::install_tls();
    reqwest::Client::builder()
        .user_agent(concat!("sockguard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| FetchError(format!("cannot make an HTTP client: {e}")))
}

/// GET a URL into memory, up to `limit` bytes; `Ok(None)` on 404.
async fn get(client: &reqwest::Client, url: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
    let response = client.get(url).send().await.map_err(|e| FetchError(format!("{url}: {}", chain(&e))))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(FetchError(format!("{url}: HTTP {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError(format!("{url}: larger than {limit} bytes")));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError(format!("{url}: {}", chain(&e))))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(FetchError(format!("{url}: larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// An error with its causes, which is where reqwest keeps the interesting part.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Fetch the archive at `url` and the signature files beside it.
pub async fn fetch(url: &str) -> Result<Fetched, FetchError> {
    let url = check_url(url).map_err(FetchError)?;
    let client = client()?;
    let archive = get(&client, url.as_str(), MAX_ARCHIVE)
        .await?
        .ok_or_else(|| FetchError(format!("{url}: not found (HTTP 404)")))?;
    let mut signatures = Vec::new();
    let text =
        |bytes: Vec<u8>, what: &str| String::from_utf8(bytes).map_err(|_| FetchError(format!("{url}{what}: not text")));
    if let Some(bytes) = get(&client, &format!("{url}.sigstore.json"), 1 << 20).await? {
        signatures.push(Signature::Bundle(text(bytes, ".sigstore.json")?));
    }
    if let Some(bytes) = get(&client, &format!("{url}.sig"), 1 << 20).await? {
        signatures.push(Signature::Detached(text(bytes, ".sig")?));
    }
    Ok(Fetched { archive, signatures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(check_url("https://policies.example/p.tar.gz").is_ok());
        assert!(check_url("http://127.0.0.1:8080/p.tar.gz").is_ok());
        assert!(check_url("http://localhost/p.tar.gz").is_ok());
        assert!(check_url("http://[::1]:1/p.tar.gz").is_ok());
        assert!(check_url("http://policies.example/p.tar.gz").unwrap_err().contains("loopback"));
        assert!(check_url("ftp://policies.example/p.tar.gz").is_err());
        assert!(check_url("https://u:p@policies.example/p.tar.gz").unwrap_err().contains("credentials"));
    }
}
