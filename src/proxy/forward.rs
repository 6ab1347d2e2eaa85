//! Forwarding a permitted request to the engine, and its response back.
//!
//! [`forward`] takes a [`Permit`], which only the decision step can make. Bodies stream in both
//! directions; the only response that is buffered is one the permit asks to redact, up to a cap.
//! The engine's own headers (`Api-Version`, `Ostype`, `Docker-Experimental`, …) pass through,
//! because clients negotiate their API version from them. Hop-by-hop headers are dropped, except
//! the `Connection: Upgrade` / `Upgrade: tcp` pair of a hijack, which is the point of it.

use super::body::ProxyBody;
use super::hijack;
use super::redact::redact;
use super::upstream::{ConnectError, Session, UpstreamError};
use crate::deny::Denial;
use crate::policy::Permit;
use crate::reason::Reason;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{request, Method, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::upgrade::OnUpgrade;
use std::time::Duration;
use tokio::sync::mpsc;

/// What forwarding needs besides the request.
#[derive(Debug)]
pub struct Route<'a> {
    pub session: &'a Session,
    /// Time allowed until the response head, `None` for long-running actions.
    pub timeout: Option<Duration>,
    /// Largest response that may be buffered for redaction.
    pub redact_cap: usize,
    pub request_id: &'a str,
    /// Keeps graceful shutdown waiting for a hijacked pipe.
    pub guard: mpsc::Sender<()>,
}

/// Headers that describe one hop and are never forwarded as they are. `Expect` is answered by
/// sockguard's own server when it reads the body.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::EXPECT,
];

/// Forward a permitted request. `upgrade` is the client's side of a requested upgrade.
pub async fn forward(
    permit: &Permit,
    route: Route<'_>,
    mut parts: request::Parts,
    body: ProxyBody,
    upgrade: Option<OnUpgrade>,
) -> Result<Response<ProxyBody>, Denial> {
    let is_upgrade = upgrade.is_some();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = Uri::try_from(path)
        .map_err(|e| Denial::because(Reason::InternalError, format!("cannot rebuild the request URI: {e}")))?;
    strip_hop_by_hop(&mut parts.headers, is_upgrade);
    if let ProxyBody::Full(full) = &body {
        let len = hyper::body::Body::size_hint(full).exact().unwrap_or(0);
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let is_head = parts.method == Method::HEAD;
    let request = http::Request::from_parts(parts, body);

    let sent = route.session.send(request);
    let result = match route.timeout.filter(|_| !is_upgrade) {
        Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| {
            Denial::because(Reason::UpstreamTimeout, format!("the engine sent no response within {limit:?}"))
        })?,
        None => sent.await,
    };
    let mut response = result.map_err(upstream_denial)?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = upgrade else {
            return Err(Denial::because(Reason::UpstreamUnreachable, "the engine switched protocols unasked"));
        };
        let engine_side = hyper::upgrade::on(&mut response);
        hijack::spawn(client_side, engine_side, route.request_id.to_owned(), route.guard);
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, ProxyBody::Empty));
    }

    let (mut parts, incoming) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    let wants_redaction = !permit.redact().is_empty() && parts.status.is_success() && !is_head;
    if !wants_redaction {
        return Ok(Response::from_parts(parts, ProxyBody::Stream(incoming)));
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(Denial::because(Reason::ResponseInvalid, "the response to redact is not JSON"));
    }
    let bytes = Limited::new(incoming, route.redact_cap).collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            Denial::because(
                Reason::ResponseTooLarge,
                format!("the response is larger than the redaction limit of {} bytes", route.redact_cap),
            )
        } else {
            Denial::because(Reason::UpstreamUnreachable, format!("the engine's response broke off: {e}"))
        }
    })?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes.to_bytes()).map_err(|e| {
        Denial::because(Reason::ResponseInvalid, format!("the response to redact is not valid JSON: {e}"))
    })?;
    redact(&mut value, permit.redact());
    let mut text = serde_json::to_vec(&value)
        .map_err(|e| Denial::because(Reason::InternalError, format!("cannot serialise the redacted response: {e}")))?;
    text.push(b'\n');
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    Ok(Response::from_parts(parts, ProxyBody::bytes(text)))
}

fn upstream_denial(e: UpstreamError) -> Denial {
    match e {
        UpstreamError::Connect(connect @ ConnectError::TimedOut { .. }) => {
            Denial::because(Reason::UpstreamTimeout, connect.to_string())
        }
        UpstreamError::Connect(connect) => Denial::because(Reason::UpstreamUnreachable, connect.to_string()),
        UpstreamError::Http(e) => {
            Denial::because(Reason::UpstreamUnreachable, format!("the engine connection failed: {e}"))
        }
    }
}

/// Drop hop-by-hop headers (and any the `Connection` header names). For an upgrade the
/// `Connection: Upgrade` and `Upgrade` headers are kept.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| *name != header::UPGRADE)
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped_but_an_upgrade_survives() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade, X-Private"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("api-version", HeaderValue::from_static("1.41"));
        let mut upgrade = h.clone();
        strip_hop_by_hop(&mut upgrade, true);
        assert_eq!(upgrade[header::CONNECTION], "Upgrade");
        assert_eq!(upgrade[header::UPGRADE], "tcp");
        assert!(upgrade.get("x-private").is_none());
        assert!(upgrade.get(header::TRANSFER_ENCODING).is_none());
        strip_hop_by_hop(&mut h, false);
        assert!(h.get(header::CONNECTION).is_none() && h.get(header::UPGRADE).is_none());
        assert_eq!(h["api-version"], "1.41");
    }
}
