//! The admin listener (`--admin-listen`), kept off the Docker socket.
//!
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /readyz`: 200 once a policy is loaded — verified, when trust is configured — and the
//!   listeners are open; 503 while the first bundle is still being fetched and checked.
//! - `GET /policy`: the serving policy (revision, source, the digest it is pinned to, the
//!   archive digest, the signer, when it was loaded, which evaluator runs it) and the result of
//!   the last reload, as JSON.
//!
//! Nothing here changes state, and nothing is read from the request but its method and path.

use super::listener::Listener;
use crate::policy::{Evaluator, Policy};
use crate::proxy::Gateway;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What the admin endpoints report, shared with the reloader.
#[derive(Debug)]
pub struct Status {
    /// The configured source, as given.
    source: String,
    /// How often the source is polled, if it is.
    poll: Option<Duration>,
    last_reload: Mutex<Option<Value>>,
    /// Set once the first policy is loaded and the proxy exists: ready from then on.
    gateway: OnceLock<Arc<Gateway>>,
}

/// The outcome of one reload, as `/policy` shows it.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// `sighup` or `poll`.
    pub trigger: &'static str,
    /// `None` when the new policy is serving; else the reason code.
    pub code: Option<&'static str>,
    pub message: String,
    /// What was loaded, or what was found at the source when it failed.
    pub version: Option<String>,
}

impl Status {
    pub fn new(source: String, poll: Option<Duration>) -> Status {
        Status { source, poll, last_reload: Mutex::new(None), gateway: OnceLock::new() }
    }

    /// The proxy is up with its first policy: from now on `/policy` shows it and `/readyz` says yes.
    pub fn set_ready(&self, gateway: Arc<Gateway>) {
        let _ = self.gateway.set(gateway);
    }

    pub fn is_ready(&self) -> bool {
        self.gateway.get().is_some()
    }

    pub fn record(&self, outcome: ReloadOutcome) {
        let value = json!({
            "time": crate::audit::now_rfc3339(),
            "trigger": outcome.trigger,
            "result": if outcome.code.is_none() { "loaded" } else { "failed" },
            "code": outcome.code,
            "message": outcome.message,
            "version": outcome.version,
        });
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Some(value);
        }
    }

    fn last_reload(&self) -> Value {
        self.last_reload.lock().map(|last| last.clone().unwrap_or(Value::Null)).unwrap_or(Value::Null)
    }

    /// The body of `/policy`.
    pub fn policy_document(&self, policy: &Policy) -> Value {
        json!({
            "ready": self.is_ready(),
            "source": self.source,
            "poll_seconds": self.poll.map(|p| p.as_secs_f64()),
            "revision": policy.revision,
            "bundle": policy.source,
            "pinned": policy.pinned,
            "digest": policy.digest,
            "signed": policy.signer.is_some(),
            "signer": policy.signer,
            "loaded_at": policy.loaded_at,
            "evaluator": if policy.evaluator() == Evaluator::Vm { "vm" } else { "interpreter" },
            "decision_cache": policy.caches_decisions(),
            "last_reload": self.last_reload(),
        })
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut text = serde_json::to_vec_pretty(body).unwrap_or_default();
    text.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// Answer one admin request.
pub fn answer<B>(request: &Request<B>, status: &Status) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, &json!({ "message": "the admin endpoints answer GET only" }));
    }
    let gateway = status.gateway.get();
    let loading = || {
        respond(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "ready": false, "source": status.source, "message": "the bundle is still being loaded" }),
        )
    };
    match (request.uri().path(), gateway) {
        ("/healthz", _) => respond(StatusCode::OK, &json!({ "status": "ok" })),
        ("/readyz", Some(gateway)) => {
            let policy = gateway.policy.load();
            respond(StatusCode::OK, &json!({ "ready": true, "revision": policy.revision }))
        }
        ("/policy", Some(gateway)) => respond(StatusCode::OK, &status.policy_document(&gateway.policy.load())),
        ("/readyz" | "/policy", None) => loading(),
        _ => respond(StatusCode::NOT_FOUND, &json!({ "message": "not found; try /healthz, /readyz or /policy" })),
    }
}

/// Serve the admin endpoints on a listener until the task is dropped.
pub async fn serve(listener: Listener, status: Arc<Status>) {
    loop {
        let accepted = match &listener {
            Listener::Unix { listener, .. } => listener.accept().await.map(|(s, _)| Conn::Unix(s)),
            Listener::Tcp { listener, .. } => listener.accept().await.map(|(s, _)| Conn::Tcp(s)),
        };
        let conn = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = status.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = answer(&request, &status);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let builder = {
                let mut builder = http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                builder
            };
            let result = match conn {
                Conn::Unix(stream) => builder.serve_connection(TokioIo::new(stream), service).await,
                Conn::Tcp(stream) => builder.serve_connection(TokioIo::new(stream), service).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}
