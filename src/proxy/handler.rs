//! The request handler: one request, from the parsed HTTP head to the response head.
//!
//! The outer [`handle`] never fails: it stamps the request id, runs [`decide_and_forward`], turns
//! any [`Denial`] into the engine's error shape, and writes the one audit line. The inner
//! function returns `Result<Response, Denial>` and reads like the request path: classify the
//! target, read the body the policy must see (bounded), judge, forward with the permit.

use super::body::ProxyBody;
use super::forward::{self, forward};
use super::upstream::{Connector, Session};
use crate::audit::{self, AuditLog, Event};
use crate::deny::{Denial, REQUEST_ID_HEADER};
use crate::identity::Client;
use crate::input::routes::Body as BodySpec;
use crate::input::{classify, BodyInput, Classified};
use crate::policy::cache::RequestKey;
use crate::policy::{decide, judge_with, negotiation, Keep, Mode, Outcome, Policy, Subject, Verdict};
use crate::reason::Reason;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Bounds on what the proxy buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON request body read for the policy.
    pub json_body: usize,
    /// Per-action overrides of `json_body` (`container.create` → 2 MiB).
    pub json_body_by_action: std::collections::BTreeMap<String, usize>,
    /// Largest JSON response buffered for redaction.
    pub redact_body: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { json_body: 1 << 20, json_body_by_action: Default::default(), redact_body: 16 << 20 }
    }
}

impl Limits {
    /// The JSON body cap of an action.
    pub fn json_body_for(&self, action: &str) -> usize {
        self.json_body_by_action.get(action).copied().unwrap_or(self.json_body)
    }
}

/// Everything the handler shares across requests.
pub struct Gateway {
    /// The policy in force. A request loads it once and keeps it to the end, so a reload never
    /// changes the policy under a request in flight.
    pub policy: ArcSwap<Policy>,
    /// Opens upstream connections (one per client connection, see [`Session`]).
    pub upstream: Connector,
    pub mode: Mode,
    pub audit: AuditLog,
    pub limits: Limits,
    /// Time allowed for the engine's response head, except for long-running actions.
    pub upstream_timeout: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("mode", &self.mode).field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// What the audit line says about a request, filled in as the request is handled.
struct Record {
    classified: Option<Classified>,
    outcome: Option<Outcome>,
    annotations: serde_json::Map<String, serde_json::Value>,
}

/// Handle one request. Never fails: every error becomes a Docker-shaped response.
pub async fn handle(
    gateway: Arc<Gateway>,
    client: Arc<Client>,
    session: Arc<Session>,
    guard: mpsc::Sender<()>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let request_id = new_request_id();
    let policy = gateway.policy.load_full();
    let method = request.method().as_str().to_owned();
    let raw_path = request.uri().path().to_owned();
    let mut record = Record { classified: None, outcome: None, annotations: serde_json::Map::new() };

    let context =
        Context { gateway: &gateway, policy: &policy, client: &client, session: &session, request_id: &request_id };
    let result = decide_and_forward(context, guard, request, &mut record).await;
    let (mut response, denial) = match result {
        Ok(response) => (response, None),
        Err(denial) => {
            let response = denial.response(&request_id).map(ProxyBody::from);
            (response, Some(denial))
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }

    let (decision, code, message) = match (&denial, &record.outcome) {
        (Some(d), _) => {
            let verdict = if d.is_error() { audit::Verdict::Error } else { audit::Verdict::Deny };
            (verdict, Some(d.code.as_ref()), Some(d.message.as_str()))
        }
        (None, Some(Outcome::WouldDeny { code, message, mode })) => {
            if *mode == Mode::Warn {
                tracing::warn!(request.id = %request_id, authz.code = %code, "would deny: {message}");
            }
            (audit::Verdict::WouldDeny, Some(code.as_str()), Some(message.as_str()))
        }
        (None, Some(Outcome::Allowed { code, message })) => {
            (audit::Verdict::Allow, code.as_deref(), message.as_deref())
        }
        (None, None) => (audit::Verdict::Allow, None, None),
    };
    let classified = record.classified.as_ref();
    gateway.audit.record(&Event {
        time: audit::now_rfc3339(),
        request_id: &request_id,
        client: client.json(),
        action: classified.map_or(crate::input::routes::UNKNOWN, |c| c.action),
        method: &method,
        raw_path: &raw_path,
        path: classified.map(|c| c.target.path.as_str()),
        decision,
        code,
        message,
        mode: gateway.mode.as_str(),
        status: response.status().as_u16(),
        bundle_revision: &policy.revision,
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        annotations: record.annotations,
    });
    Ok(response)
}

/// What one request is handled with.
#[derive(Clone, Copy)]
struct Context<'a> {
    gateway: &'a Gateway,
    policy: &'a Policy,
    client: &'a Client,
    session: &'a Session,
    request_id: &'a str,
}

async fn decide_and_forward(
    context: Context<'_>,
    guard: mpsc::Sender<()>,
    mut request: Request<Incoming>,
    record: &mut Record,
) -> Result<Response<ProxyBody>, Denial> {
    let Context { gateway, policy, client, session, request_id } = context;
    let classified = classify(request.method().as_str(), request.uri().path(), request.uri().query())?;
    let upgrade = is_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (parts, incoming) = request.into_parts();

    let spec = classified.body_spec();
    let has_body = !incoming.is_end_stream();
    let (body_input_bytes, forward_body) = match (spec, has_body) {
        (_, false) => (None, ProxyBody::Empty),
        (BodySpec::Json(_), true) => {
            let bytes = read_bounded(incoming, &parts.headers, gateway.limits.json_body_for(classified.action)).await?;
            (Some(bytes.clone()), ProxyBody::bytes(bytes))
        }
        (_, true) => (None, ProxyBody::Stream(incoming)),
    };
    let body = match (&body_input_bytes, &forward_body) {
        (Some(bytes), _) => BodyInput::Read(bytes),
        (None, ProxyBody::Stream(_)) => BodyInput::Streamed(content_length(&parts.headers)),
        (None, _) => BodyInput::Absent,
    };

    // A request identical to a recent one gets its decision without building the document.
    let key = if policy.caches_decisions() {
        let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
        RequestKey::new(
            parts.method.as_str(),
            target,
            &parts.headers,
            body_input_bytes.as_deref().unwrap_or(&[]),
            client.key(),
        )
    } else {
        None
    };
    let verdict = match key.as_ref().and_then(|k| policy.cached(k)) {
        Some(decision) => decide(Ok(decision), gateway.mode),
        None => {
            let subject = Subject { request: &classified, headers: &parts.headers, body, client, request_id };
            let evaluate = |input| {
                let result = policy.evaluate(input);
                if let (Some(key), Ok(decision)) = (&key, &result) {
                    policy.remember(key, decision);
                }
                result
            };
            judge_with(subject, gateway.mode, Keep::Nothing, evaluate).verdict
        }
    };
    let verdict = if is_negotiation(&classified) { negotiation(verdict) } else { verdict };
    let long = classified.is_long();
    record.classified = Some(classified);
    let permit = match verdict {
        Verdict::Deny(denial, annotations) => {
            record.annotations = annotations;
            return Err(denial);
        }
        Verdict::Forward(permit) => permit,
    };
    record.outcome = Some(permit.outcome().clone());
    record.annotations = permit.annotations().clone();

    let route = forward::Route {
        session,
        timeout: (!long).then_some(gateway.upstream_timeout),
        redact_cap: gateway.limits.redact_body,
        request_id,
        guard,
    };
    forward(&permit, route, parts, forward_body, upgrade).await
}

/// `HEAD|GET /_ping` and the unversioned `GET /version`: see [`negotiation`].
fn is_negotiation(request: &Classified) -> bool {
    request.action == "system.ping" || (request.action == "system.version" && request.target.api_version.is_none())
}

/// Read a body the policy must see, refusing one over `cap` before or while reading it.
async fn read_bounded(incoming: Incoming, headers: &http::HeaderMap, cap: usize) -> Result<Bytes, Denial> {
    let too_large = || {
        Denial::because(
            Reason::RequestBodyTooLarge,
            format!("the request body is larger than the limit of {cap} bytes"),
        )
    };
    if content_length(headers).is_some_and(|len| usize::try_from(len).map_or(true, |len| len > cap)) {
        return Err(too_large());
    }
    match Limited::new(incoming, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(Denial::because(Reason::RequestBodyInvalid, format!("the request body could not be read: {e}"))),
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Whether the client asks to upgrade the connection (attach, exec start, sessions).
fn is_upgrade(headers: &http::HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// A random 16-hex-digit request id.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_needs_both_headers() {
        let mut h = http::HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(!is_upgrade(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        assert!(is_upgrade(&h));
    }

    #[test]
    fn request_ids_are_16_hex_digits_and_differ() {
        let a = new_request_id();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_request_id());
    }
}
