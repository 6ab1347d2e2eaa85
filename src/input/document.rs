//! The input document (DESIGN §2): everything a policy knows about one request.
//!
//! Built in two steps, because the route decides how the body is read: [`classify`] reads the
//! request line (canonical path, query, route, action), then, once the body has been read or
//! left to stream, [`build`] assembles the document. Both `sockguard serve` and the request cases
//! of `sockguard test` go through these two functions, so a case is decided exactly as a live
//! request is.

use super::binds::bind_mounts;
use super::body::{parse_json, BodyError, MASK};
use super::path::{canonicalize, PathError, Target};
use super::routes::{match_route, refine_action, Body, Names, Route, UNKNOWN};
use super::schema;
use crate::identity::Client;
use http::HeaderMap;
use serde_json::{json, Map, Value};

/// The version of the input document's shape; bumped on any incompatible change.
pub const INPUT_VERSION: u64 = 1;

/// Header names whose values never reach a policy or a log.
const SECRET_HEADERS: [&str; 5] =
    ["authorization", "proxy-authorization", "x-registry-auth", "x-registry-config", "cookie"];

/// A request line, read and routed.
#[derive(Debug, Clone)]
pub struct Classified {
    pub method: String,
    pub raw_path: String,
    pub target: Target,
    /// The matched route, `None` for `unknown`.
    pub route: Option<&'static Route>,
    /// The route parameter (an id or a name), if the route has one.
    pub param: Option<String>,
    pub action: &'static str,
}

impl Classified {
    /// How the body of this request must be read.
    pub fn body_spec(&self) -> Body {
        self.route.map_or(Body::None, |r| r.body)
    }

    /// Whether the response to this request may take arbitrarily long to begin.
    pub fn is_long(&self) -> bool {
        self.route.is_some_and(|r| r.long)
    }
}

/// Read and route a request line. `raw_path` excludes the query.
pub fn classify(method: &str, raw_path: &str, raw_query: Option<&str>) -> Result<Classified, PathError> {
    let target = canonicalize(raw_path, raw_query)?;
    let matched = match_route(method, &target.path);
    let param = matched.and_then(|m| m.param).map(str::to_owned);
    let route = matched.map(|m| m.route);
    let action = route.map_or(UNKNOWN, |r| refine_action(r.action, |k| target.query.contains_key(k)));
    Ok(Classified { method: method.to_owned(), raw_path: raw_path.to_owned(), target, route, param, action })
}

/// The request body as the builder sees it.
#[derive(Debug, Clone, Copy)]
pub enum BodyInput<'a> {
    /// No body was sent.
    Absent,
    /// The body was read (it is one the policy must see).
    Read(&'a [u8]),
    /// The body streams to the engine unread; its size, when declared.
    Streamed(Option<u64>),
}

/// Why an input document could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// The input document, ready to evaluate, with the fields the proxy itself needs.
#[derive(Debug, Clone)]
pub struct InputDocument {
    pub value: Value,
    pub request_id: String,
    pub action: &'static str,
}

/// Build the document for a classified request.
pub fn build(
    request: &Classified,
    headers: &HeaderMap,
    body: BodyInput<'_>,
    client: &Client,
    request_id: &str,
) -> Result<InputDocument, InputError> {
    let (body_value, body_kind, body_size) = read_body(request, body)?;
    let bind_mounts = if body_value.is_null() { Vec::new() } else { bind_mounts(request.action, &body_value) };
    let resource = resource(request, &body_value);
    let target = &request.target;
    let query: Map<String, Value> = target.query.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let value = json!({
        "version": INPUT_VERSION,
        "request": {
            "id": request_id,
            "method": request.method,
            "raw_path": request.raw_path,
            "path": target.path,
            "api_version": target.api_version,
            "segments": target.segments(),
            "query": query,
            "headers": headers_json(headers),
            "action": request.action,
            "resource": resource,
            "body": body_value,
            "body_kind": body_kind,
            "body_size": body_size,
            "bind_mounts": bind_mounts,
        },
        "client": client.to_json(),
        "image": null,
    });
    Ok(InputDocument { value, request_id: request_id.to_owned(), action: request.action })
}

fn read_body(request: &Classified, body: BodyInput<'_>) -> Result<(Value, &'static str, Value), InputError> {
    let spec = request.body_spec();
    Ok(match body {
        BodyInput::Absent => (Value::Null, "none", json!(0)),
        BodyInput::Read([]) => (Value::Null, "none", json!(0)),
        BodyInput::Read(bytes) => {
            let Body::Json(operation) = spec else {
                return Ok((Value::Null, "other", json!(bytes.len())));
            };
            let schemas = schema::embedded().map_err(BodyError::Schemas)?;
            let shape = schemas.body(operation).unwrap_or(&schema::LEAF);
            let mut value = parse_json(bytes, shape, operation)?;
            if operation == "ContainerStartLegacy" {
                // Shown under HostConfig so that rules written for creates apply unchanged.
                value = json!({ "HostConfig": value });
            }
            (value, "json", json!(bytes.len()))
        }
        BodyInput::Streamed(size) => {
            let kind = match spec {
                Body::Tar => "tar",
                _ => "other",
            };
            (Value::Null, kind, json!(size))
        }
    })
}

fn resource(request: &Classified, body: &Value) -> Value {
    let Some(route) = request.route else {
        return json!({"kind": null, "id": null, "name": null});
    };
    let first = |key: &str| request.target.query.get(key).and_then(|v| v.first()).cloned();
    let (id, name) = match route.names {
        Names::Nothing => (None, None),
        Names::PathId => (request.param.clone(), None),
        Names::PathName => (None, request.param.clone()),
        Names::QueryId(key) => (first(key), None),
        Names::QueryName("fromImage") => (None, image_reference(first("fromImage"), first("tag"))),
        Names::QueryName(key) => (None, first(key)),
        Names::BodyName => (None, body["Name"].as_str().map(str::to_owned)),
    };
    json!({"kind": route.kind.as_str(), "id": id, "name": name})
}

/// `fromImage=busybox&tag=1.36` names `busybox:1.36`; a digest tag joins with `@`.
fn image_reference(image: Option<String>, tag: Option<String>) -> Option<String> {
    let image = image?;
    match tag.filter(|t| !t.is_empty()) {
        Some(tag) if tag.contains(':') => Some(format!("{image}@{tag}")),
        Some(tag) => Some(format!("{image}:{tag}")),
        None => Some(image),
    }
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let key = name.as_str();
        let value = if SECRET_HEADERS.contains(&key) {
            MASK.to_owned()
        } else {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.insert(key.to_owned(), Value::String(value));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Client;

    fn doc(method: &str, target: &str, body: Option<&str>) -> Value {
        let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
        let c = classify(method, path, query).unwrap();
        let body = body.map_or(BodyInput::Absent, |b| BodyInput::Read(b.as_bytes()));
        let mut headers = HeaderMap::new();
        headers.insert("x-registry-auth", "c2VjcmV0".parse().unwrap());
        headers.insert("content-type", "application/json; charset=utf-8".parse().unwrap());
        build(&c, &headers, body, &Client::test_unix(1000, 1000), "r1").unwrap().value
    }

    #[test]
    fn a_create_request_becomes_the_documented_document() {
        let d = doc(
            "POST",
            "/v1.41/containers/create?name=web",
            Some(r#"{"image":"busybox","hostconfig":{"privileged":false,"binds":["/srv:/srv:ro"]}}"#),
        );
        let r = &d["request"];
        assert_eq!(d["version"], 1);
        assert_eq!(r["action"], "container.create");
        assert_eq!(r["path"], "/containers/create");
        assert_eq!(r["raw_path"], "/v1.41/containers/create");
        assert_eq!(r["api_version"], "1.41");
        assert_eq!(r["segments"], json!(["containers", "create"]));
        assert_eq!(r["query"], json!({"name": ["web"]}));
        assert_eq!(r["resource"], json!({"kind": "container", "id": null, "name": "web"}));
        assert_eq!(r["body"]["Image"], "busybox");
        assert_eq!(r["body"]["HostConfig"]["Privileged"], false);
        assert_eq!(r["body_kind"], "json");
        assert_eq!(r["bind_mounts"][0]["source"], "/srv");
        assert_eq!(r["headers"]["x-registry-auth"], MASK);
        assert_eq!(r["headers"]["content-type"], "application/json; charset=utf-8");
        assert_eq!(d["client"]["unix"]["uid"], 1000);
    }

    #[test]
    fn legacy_start_bodies_are_shown_as_host_config() {
        let d = doc("POST", "/v1.23/containers/x/start", Some(r#"{"privileged":true}"#));
        assert_eq!(d["request"]["body"], json!({"HostConfig": {"Privileged": true}}));
        assert_eq!(d["request"]["resource"]["id"], "x");
    }

    #[test]
    fn resources_come_from_path_query_or_body() {
        assert_eq!(
            doc("GET", "/images/library/busybox:1/json", None)["request"]["resource"]["name"],
            "library/busybox:1"
        );
        assert_eq!(
            doc("POST", "/images/create?fromImage=busybox&tag=1.36", None)["request"]["resource"]["name"],
            "busybox:1.36"
        );
        assert_eq!(doc("POST", "/images/create?fromSrc=-", None)["request"]["action"], "image.import");
        assert_eq!(doc("POST", "/volumes/create", Some(r#"{"name":"v1"}"#))["request"]["resource"]["name"], "v1");
        assert_eq!(doc("GET", "/nope", None)["request"]["action"], "unknown");
    }

    #[test]
    fn a_body_on_a_route_without_one_is_other() {
        let d = doc("POST", "/containers/x/kill", Some("junk"));
        assert_eq!(d["request"]["body_kind"], "other");
        assert_eq!(d["request"]["body"], Value::Null);
    }
}
