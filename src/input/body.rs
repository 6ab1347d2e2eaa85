//! Request bodies: parsed the way the engine parses them, folded to canonical field names.
//!
//! The engine decodes JSON with Go's `encoding/json`: keys match struct fields
//! case-insensitively, a later duplicate overwrites an earlier one, and a nested object decoded
//! twice into one field is merged. A policy reading `body.HostConfig.Privileged` must therefore
//! see every spelling the engine would read as that field. This module parses the body keeping
//! every key (duplicates included), folds each key to its canonical name using the body's
//! [`Shape`], and refuses (`request_body_ambiguous`) a body in which two keys fold to one field:
//! such a body means different things to different readers, and no client needs to send one.
//! Secret fields (registry passwords, secret data, join tokens) are masked in the result, which
//! is what the policy and the logs see; the bytes forwarded upstream are the client's own.

use super::schema::{fold_key, Shape, LEAF};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The marker that replaces a secret value in the input document and in every log.
pub const MASK: &str = "<masked>";

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is not valid JSON: {0}")]
    Invalid(String),
    #[error("the request body holds two keys for the field {0}")]
    Ambiguous(String),
    #[error("the body schemas are unavailable: {0}")]
    Schemas(&'static str),
}

/// A JSON value that keeps every object key, duplicates included, in order.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Raw>),
    Object(Vec<(String, Raw)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Raw, E> {
        serde_json::Number::from_f64(v).map(Raw::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut pairs = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Raw>()? {
            pairs.push((key, value));
        }
        Ok(Raw::Object(pairs))
    }
}

/// Parse a JSON body and fold it to the canonical field names of `shape`.
///
/// `operation` selects the secret fields to mask. Trailing bytes after the JSON value are an
/// error (the engine would ignore them; a policy could not see them).
pub fn parse_json(bytes: &[u8], shape: &Shape, operation: &str) -> Result<Value, BodyError> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| BodyError::Invalid(e.to_string()))?;
    let mut value = fold(raw, shape, &mut String::new())?;
    mask_secrets(&mut value, operation);
    Ok(value)
}

/// Fold `raw` with `shape`; `path` names the current field for error messages.
fn fold(raw: Raw, shape: &Shape, path: &mut String) -> Result<Value, BodyError> {
    Ok(match raw {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Number(n) => Value::Number(n),
        Raw::String(s) => Value::String(s),
        Raw::Array(items) => {
            let inner = match shape {
                Shape::List(inner) => inner.as_ref(),
                _ => &LEAF,
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(fold(item, inner, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        Raw::Object(pairs) => {
            let mut out = Map::with_capacity(pairs.len());
            for (key, value) in pairs {
                let (name, inner) = match shape {
                    Shape::Fields(fields) => match fields.canonical(&key) {
                        Some((name, inner)) => (name.to_owned(), inner),
                        None => (key, &LEAF),
                    },
                    Shape::Map(inner) => (key, inner.as_ref()),
                    Shape::Leaf | Shape::List(_) => (key, &LEAF),
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&name);
                if out.contains_key(&name) {
                    return Err(BodyError::Ambiguous(path.clone()));
                }
                let folded = fold(value, inner, path)?;
                path.truncate(len);
                out.insert(name, folded);
            }
            Value::Object(out)
        }
    })
}

/// Top-level fields that hold secrets, by operation.
fn secret_fields(operation: &str) -> &'static [&'static str] {
    match operation {
        "SystemAuth" => &["password", "auth", "identitytoken", "registrytoken"],
        "SecretCreate" | "SecretUpdate" => &["Data"],
        "SwarmJoin" => &["JoinToken"],
        "SwarmUnlock" => &["UnlockKey"],
        _ => &[],
    }
}

fn mask_secrets(value: &mut Value, operation: &str) {
    let secrets = secret_fields(operation);
    let Value::Object(map) = value else { return };
    for (key, v) in map.iter_mut() {
        let folded = fold_key(key);
        if secrets.iter().any(|s| fold_key(s) == folded) && !v.is_null() {
            *v = Value::String(MASK.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::schema::embedded;
    use serde_json::json;

    fn create(body: &str) -> Result<Value, BodyError> {
        let shape = embedded().unwrap().body("ContainerCreate").unwrap();
        parse_json(body.as_bytes(), shape, "ContainerCreate")
    }

    #[test]
    fn folds_every_case_variant_to_the_canonical_name() {
        for body in [
            r#"{"hostconfig":{"privileged":true}}"#,
            r#"{"HOSTCONFIG":{"PRIVILEGED":true}}"#,
            r#"{"HostConfig":{"Privileged":true}}"#,
            r#"{"Hoſtconfig":{"Privileged":true}}"#,
            r#"{"hostconfig":{"privileged":true}}"#,
            "{\"Host\\u0043onfig\":{\"Privileged\":true}}",
        ] {
            assert_eq!(create(body).unwrap(), json!({"HostConfig": {"Privileged": true}}), "{body}");
        }
    }

    #[test]
    fn two_keys_for_one_field_are_ambiguous() {
        let err = create(r#"{"HostConfig":{"Privileged":false},"HostConfig":{"Privileged":true}}"#);
        assert_eq!(err, Err(BodyError::Ambiguous("HostConfig".into())));
        let err = create(r#"{"HostConfig":{"Privileged":true},"hostconfig":{"Memory":0}}"#);
        assert_eq!(err, Err(BodyError::Ambiguous("HostConfig".into())));
        let err = create(r#"{"HostConfig":{"Privileged":false,"privileged":true}}"#);
        assert_eq!(err, Err(BodyError::Ambiguous("HostConfig.Privileged".into())));
    }

    #[test]
    fn map_keys_are_data_and_not_folded() {
        let v = create(r#"{"Labels":{"team":"a","Team":"b"},"labels2":1}"#).unwrap();
        assert_eq!(v, json!({"Labels": {"team": "a", "Team": "b"}, "labels2": 1}));
        // an exact duplicate inside a map is still two readings of one key
        assert!(matches!(create(r#"{"Labels":{"a":"1","a":"2"}}"#), Err(BodyError::Ambiguous(_))));
    }

    #[test]
    fn list_items_fold_with_their_item_shape() {
        let v = create(r#"{"hostconfig":{"mounts":[{"type":"bind","source":"/","target":"/h"}]}}"#).unwrap();
        assert_eq!(v, json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}}));
    }

    #[test]
    fn invalid_json_is_refused() {
        assert!(matches!(create("{"), Err(BodyError::Invalid(_))));
        assert!(matches!(create(r#"{"Image":"a"} {"HostConfig":{}}"#), Err(BodyError::Invalid(_))));
        assert!(matches!(create("\u{0}"), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn secrets_are_masked() {
        let shape = embedded().unwrap().body("SystemAuth").unwrap();
        let v = parse_json(br#"{"username":"u","PASSWORD":"p"}"#, shape, "SystemAuth").unwrap();
        assert_eq!(v, json!({"username": "u", "password": MASK}));
    }
}
