//! Request cases: whole Docker requests and the decision expected for each.
//!
//! A `*.cases.yaml` file next to the policies lists requests (method, path, body, headers,
//! client) and what the policy must decide (allow, code, message, redacted fields). Each case goes
//! through the very functions `sockguard serve` uses — [`classify`], the body cap, [`judge`] — so
//! a passing case is a request the live proxy decides the same way.

use crate::deny::Denial;
use crate::identity::{Client, Transport, UnixPeer};
use crate::input::routes::Body as BodySpec;
use crate::input::{classify, BodyInput};
use crate::policy::engine::EvalError;
use crate::policy::{judge_with, Keep, Mode, Subject, Verdict};
use crate::proxy::Limits;
use crate::reason::Reason;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub cases: Vec<Case>,
}

/// One request case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Environment variables for this case (for bundles whose manifest declares some).
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    pub request: CaseRequest,
    #[serde(default)]
    pub client: Option<CaseClient>,
    pub expect: Expect,
}

/// The request of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub method: String,
    /// Raw request target: path and optional query, exactly as a client would send it.
    pub path: String,
    /// A JSON body, written as YAML.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// A body given byte for byte (for duplicate keys and other spellings YAML cannot hold).
    #[serde(default)]
    pub body_raw: Option<String>,
    /// A body read from a file next to the cases file.
    #[serde(default)]
    pub body_file: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The client of a case (default: a unix peer with uid and gid 1000).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseClient {
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub listener: Option<String>,
    #[serde(default)]
    pub unix: Option<CaseUnix>,
    #[serde(default)]
    pub ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseUnix {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub exe: Option<String>,
}

/// What a case expects.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub allow: Option<bool>,
    #[serde(default)]
    pub code: Option<String>,
    /// Exact text, or `/regex/`.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub redacted: Option<Vec<String>>,
}

/// What a case's request was decided as.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub allow: bool,
    /// The HTTP status of a refusal; `None` when the request is forwarded.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub redacted: Vec<String>,
    pub input: Option<serde_json::Value>,
    pub decision: Option<serde_json::Value>,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub observed: Observed,
    /// Each way the observation differs from the expectation; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseFile {
    pub fn parse(text: &str) -> Result<CaseFile, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }
}

impl CaseClient {
    fn to_client(&self) -> Result<Client, String> {
        let listener = self.listener.clone().unwrap_or_else(|| "main".into());
        let transport = match self.transport.as_deref() {
            None if self.ip.is_some() => Transport::Tcp,
            None | Some("unix") => Transport::Unix,
            Some("tcp") => Transport::Tcp,
            Some(other) => return Err(format!("unknown transport {other:?}")),
        };
        let unix = self.unix.as_ref().map(|u| UnixPeer { uid: u.uid, gid: u.gid, pid: u.pid, exe: u.exe.clone() });
        Ok(Client::new(&listener, transport, unix, self.ip))
    }
}

/// How a case's input document is evaluated: the policy's serving path, its interpreter, or an
/// interpreter that gathers coverage.
pub type Evaluate<'a> = &'a mut dyn FnMut(serde_json::Value) -> Result<Option<serde_json::Value>, EvalError>;

/// Decide a case's request and compare it with the expectation.
///
/// `base` is the directory of the cases file (for `body_file`).
pub fn run_case(case: &Case, base: &std::path::Path, limits: &Limits, evaluate: Evaluate<'_>) -> CaseResult {
    let observed = match observe(case, base, limits, evaluate) {
        Ok(observed) => observed,
        Err(e) => {
            return CaseResult {
                name: case.name.clone(),
                observed: Observed {
                    allow: false,
                    status: None,
                    code: None,
                    message: None,
                    redacted: vec![],
                    input: None,
                    decision: None,
                },
                failures: vec![format!("the case itself is invalid: {e}")],
            }
        }
    };
    let failures = compare(&case.expect, &observed);
    CaseResult { name: case.name.clone(), observed, failures }
}

/// Decide a case's request without comparing (for `sockguard eval`).
pub fn observe(
    case: &Case,
    base: &std::path::Path,
    limits: &Limits,
    evaluate: Evaluate<'_>,
) -> Result<Observed, String> {
    let request = &case.request;
    let body: Option<Vec<u8>> = match (&request.body, &request.body_raw, &request.body_file) {
        (Some(json), None, None) => Some(serde_json::to_vec(json).map_err(|e| e.to_string())?),
        (None, Some(raw), None) => Some(raw.as_bytes().to_vec()),
        (None, None, Some(file)) => Some(std::fs::read(base.join(file)).map_err(|e| format!("{file}: {e}"))?),
        (None, None, None) => None,
        _ => return Err("give at most one of body, body_raw and body_file".into()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
        headers.append(name, value);
    }
    if body.is_some() && !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let client = match &case.client {
        Some(c) => c.to_client()?,
        None => Client::test_unix(1000, 1000),
    };
    let (raw_path, query) = request.path.split_once('?').map_or((request.path.as_str(), None), |(p, q)| (p, Some(q)));

    let denied = |d: Denial| Observed {
        allow: false,
        status: Some(d.status.as_u16()),
        code: Some(d.code.into_owned()),
        message: Some(d.message),
        redacted: vec![],
        input: None,
        decision: None,
    };
    let classified = match classify(&request.method, raw_path, query) {
        Ok(c) => c,
        Err(e) => return Ok(denied(e.into())),
    };
    let spec = classified.body_spec();
    let body_input = match body.as_deref() {
        None | Some([]) => BodyInput::Absent,
        Some(bytes) if matches!(spec, BodySpec::Json(_)) => {
            let cap = limits.json_body_for(classified.action);
            if bytes.len() > cap {
                let message = format!("the request body is larger than the limit of {cap} bytes");
                return Ok(denied(Denial::because(Reason::RequestBodyTooLarge, message)));
            }
            BodyInput::Read(bytes)
        }
        Some(bytes) => BodyInput::Streamed(u64::try_from(bytes.len()).ok()),
    };
    let subject =
        Subject { request: &classified, headers: &headers, body: body_input, client: &client, request_id: "case" };
    let judgement = judge_with(subject, Mode::Enforce, Keep::Input, evaluate);
    let input = judgement.input.map(|i| i.value);
    Ok(match judgement.verdict {
        Verdict::Deny(d, _) => Observed { input, decision: judgement.decision, ..denied(d) },
        Verdict::Forward(permit) => {
            let (allow, code, message) = match permit.outcome() {
                crate::policy::Outcome::Allowed { code, message } => (true, code.clone(), message.clone()),
                crate::policy::Outcome::WouldDeny { code, message, .. } => {
                    (false, Some(code.clone()), Some(message.clone()))
                }
            };
            let redacted = permit.redact().iter().map(|p| p.text.clone()).collect();
            Observed { allow, status: None, code, message, redacted, input, decision: judgement.decision }
        }
    })
}

fn compare(expect: &Expect, observed: &Observed) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(allow) = expect.allow {
        if allow != observed.allow {
            failures.push(format!("expected allow {allow}, got {} (code {:?})", observed.allow, observed.code));
        }
    }
    if let Some(code) = &expect.code {
        if observed.code.as_deref() != Some(code.as_str()) {
            failures.push(format!("expected code {code:?}, got {:?}", observed.code));
        }
    }
    if let Some(pattern) = &expect.message {
        let text = observed.message.as_deref().unwrap_or("");
        match message_matches(pattern, text) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("expected message {pattern:?}, got {text:?}")),
            Err(e) => failures.push(format!("invalid message pattern {pattern:?}: {e}")),
        }
    }
    if let Some(redacted) = &expect.redacted {
        if *redacted != observed.redacted {
            failures.push(format!("expected redacted {redacted:?}, got {:?}", observed.redacted));
        }
    }
    failures
}

/// `/regex/` matches as a regular expression, anything else must equal the message.
fn message_matches(pattern: &str, text: &str) -> Result<bool, String> {
    match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(re) => regex::Regex::new(re).map(|re| re.is_match(text)).map_err(|e| e.to_string()),
        None => Ok(pattern == text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_exactly_or_by_regex() {
        assert_eq!(message_matches("/privileged/", "no privileged here"), Ok(true));
        assert_eq!(message_matches("/^x$/", "xy"), Ok(false));
        assert_eq!(message_matches("exact", "exact"), Ok(true));
        assert!(message_matches("/(/", "x").is_err());
    }

    #[test]
    fn cases_files_refuse_unknown_keys() {
        assert!(CaseFile::parse(
            "cases:\n  - name: x\n    request: {method: GET, path: /}\n    expect: {alow: true}\n"
        )
        .is_err());
        let ok =
            CaseFile::parse("cases:\n  - name: x\n    request: {method: GET, path: /}\n    expect: {allow: true}\n")
                .unwrap();
        assert_eq!(ok.cases.len(), 1);
    }
}
