//! The decision object (DESIGN §3): what a policy returns, parsed and validated.
//!
//! Parsing is strict because a decision that is not understood must not be acted on: a missing
//! `allow`, a wrongly typed field, an invalid reason code, or a field this version does not
//! implement (`filter`, `rate_limit`) makes the decision malformed, and a malformed decision is a
//! deny with `policy_error`. An undefined decision is a deny with `policy_undefined`.

use http::StatusCode;
use serde_json::{Map, Value};

/// How a deny is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Forward, record `would_deny` in the audit log only.
    Audit,
    /// Forward, record `would_deny` and log a warning.
    Warn,
    /// Deny.
    Enforce,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "enforce" => Some(Mode::Enforce),
            "warn" => Some(Mode::Warn),
            "audit" => Some(Mode::Audit),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// One step of a field path in a JSON response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object field.
    Field(String),
    /// Every item of an array: `[*]`.
    Each,
}

/// A field to remove from a JSON response: `Config.Env`, `Mounts[*].Source`, `[*].Labels`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    pub text: String,
    pub steps: Vec<Step>,
}

impl FieldPath {
    /// Parse dotted field names with `[*]` for every array item.
    pub fn parse(text: &str) -> Option<FieldPath> {
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => part.split_at(i),
                None => (part, ""),
            };
            if !name.is_empty() {
                steps.push(Step::Field(name.to_owned()));
            } else if rest.is_empty() {
                return None;
            }
            while let Some(after) = rest.strip_prefix("[*]") {
                steps.push(Step::Each);
                rest = after;
            }
            if !rest.is_empty() {
                return None;
            }
        }
        matches!(steps.last(), Some(Step::Field(_))).then(|| FieldPath { text: text.to_owned(), steps })
    }
}

/// A validated decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub allow: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The status of a deny; 403 unless the policy chose another 4xx/5xx.
    pub status: StatusCode,
    pub mode: Option<Mode>,
    pub redact: Vec<FieldPath>,
    pub annotations: Map<String, Value>,
}

/// Why a decision could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("the decision is undefined")]
    Undefined,
    #[error("malformed decision: {0}")]
    Malformed(String),
}

const KNOWN: [&str; 7] = ["allow", "code", "message", "status", "mode", "redact", "annotations"];
const NOT_YET: [&str; 2] = ["filter", "rate_limit"];

impl Decision {
    /// Validate the JSON form of a decision.
    pub fn from_json(value: &Value) -> Result<Decision, DecisionError> {
        let bad = |m: String| DecisionError::Malformed(m);
        let object = value.as_object().ok_or_else(|| bad(format!("expected an object, got {value}")))?;
        for key in object.keys() {
            if NOT_YET.contains(&key.as_str()) {
                return Err(bad(format!("the field `{key}` is not supported by this version of sockguard")));
            }
            if !KNOWN.contains(&key.as_str()) {
                return Err(bad(format!("unknown field `{key}`")));
            }
        }
        let allow =
            object.get("allow").and_then(Value::as_bool).ok_or_else(|| bad("`allow` must be true or false".into()))?;
        let code = match object.get("code") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) if crate::reason::is_valid_code(c) => Some(c.clone()),
            Some(other) => return Err(bad(format!("`code` must be a snake_case string, got {other}"))),
        };
        let message = match object.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(m.clone()),
            Some(other) => return Err(bad(format!("`message` must be a string, got {other}"))),
        };
        let status = match object.get("status") {
            None | Some(Value::Null) => StatusCode::FORBIDDEN,
            Some(v) => v
                .as_u64()
                .filter(|s| (400..=599).contains(s))
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| bad(format!("`status` must be an HTTP error status, got {v}")))?,
        };
        let mode = match object.get("mode") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(Mode::parse)
                    .ok_or_else(|| bad(format!("`mode` must be enforce, warn or audit, got {v}")))?,
            ),
        };
        let redact = match object.get("redact") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .and_then(FieldPath::parse)
                        .ok_or_else(|| bad(format!("`redact` holds an invalid field path {item}")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(bad(format!("`redact` must be a list, got {other}"))),
        };
        let annotations = match object.get("annotations") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => return Err(bad(format!("`annotations` must be an object, got {other}"))),
        };
        Ok(Decision { allow, code, message, status, mode, redact, annotations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_decision_parses() {
        let d = Decision::from_json(&json!({
            "allow": false, "code": "privileged_container", "message": "no", "status": 401,
            "mode": "warn", "redact": ["Config.Env", "Mounts[*].Source", "[*].Labels"],
            "annotations": {"rule": "r1"}
        }))
        .unwrap();
        assert!(!d.allow);
        assert_eq!(d.status, 401);
        assert_eq!(d.mode, Some(Mode::Warn));
        assert_eq!(d.redact[1].steps, vec![Step::Field("Mounts".into()), Step::Each, Step::Field("Source".into())]);
        assert_eq!(d.redact[2].steps, vec![Step::Each, Step::Field("Labels".into())]);
    }

    #[test]
    fn defaults_apply() {
        let d = Decision::from_json(&json!({"allow": true})).unwrap();
        assert_eq!(d.status, StatusCode::FORBIDDEN);
        assert!(d.redact.is_empty() && d.code.is_none() && d.mode.is_none());
    }

    #[test]
    fn malformed_decisions_are_refused() {
        for bad in [
            json!(true),
            json!({}),
            json!({"allow": "yes"}),
            json!({"allow": false, "code": "Bad Code"}),
            json!({"allow": false, "status": 200}),
            json!({"allow": false, "status": "403"}),
            json!({"allow": true, "mode": "loud"}),
            json!({"allow": true, "redact": "Config.Env"}),
            json!({"allow": true, "redact": ["Config..Env"]}),
            json!({"allow": true, "redact": ["Mounts[*]"]}),
            json!({"allow": true, "filter": {"labels": {}}}),
            json!({"allow": true, "rate_limit": {}}),
            json!({"allow": true, "alow": true}),
        ] {
            assert!(matches!(Decision::from_json(&bad), Err(DecisionError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn modes_order_by_strictness() {
        assert!(Mode::Audit < Mode::Warn && Mode::Warn < Mode::Enforce);
    }
}
