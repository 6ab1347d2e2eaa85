//! The route table and the body schemas, checked against the Docker Engine API specifications
//! (v1.41, served by Debian's dockerd 20.10, and the current one) in `spec/docker-api/`.
//!
//! `UPDATE_SCHEMAS=1 cargo test --test spec` regenerates `src/input/body_schemas.json`.

use serde_json::{json, Map, Value as Json};
use serde_yaml_ng::Value as Yaml;
use sockguard::input::path::canonicalize;
use sockguard::input::routes::{match_route, Body, ROUTES, UNKNOWN};
use std::collections::BTreeMap;
use std::path::Path;

const SPECS: [&str; 2] = ["spec/docker-api/swagger-v1.41.yaml", "spec/docker-api/swagger-v1.56.yaml"];
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "head"];
const SCHEMA_FILE: &str = "src/input/body_schemas.json";

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// Every (method, path template, operation) of a specification.
fn operations(spec: &Yaml) -> Vec<(String, String, Yaml)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.as_str().unwrap().to_string(), op.clone()));
            }
        }
    }
    out
}

fn body_schema(op: &Yaml) -> Option<&Yaml> {
    op.get("parameters")?
        .as_sequence()?
        .iter()
        .find(|p| p.get("in").and_then(Yaml::as_str) == Some("body"))?
        .get("schema")
}

fn is_json_body(op: &Yaml, schema: &Yaml) -> bool {
    let consumes: Vec<&str> = op
        .get("consumes")
        .and_then(Yaml::as_sequence)
        .map(|c| c.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default();
    let ty = schema.get("type").and_then(Yaml::as_str);
    let structured = ty != Some("string");
    structured && (consumes.is_empty() || consumes.contains(&"application/json"))
}

/// Substitute a sample value for the path template's parameter.
fn sample_path(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str("sample-ref");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_endpoint_of_both_specifications_has_a_named_action() {
    let mut checked = 0;
    for spec_path in SPECS {
        let spec = load(spec_path);
        for (method, template, op) in operations(&spec) {
            let path = sample_path(&template);
            let target = canonicalize(&format!("/v1.41{path}"), None).unwrap();
            let m = match_route(&method, &target.path)
                .unwrap_or_else(|| panic!("{spec_path}: {method} {template} has no route"));
            assert_ne!(m.route.action, UNKNOWN);
            let id = op["operationId"].as_str().unwrap();
            if let Some(schema) = body_schema(&op) {
                if is_json_body(&op, schema) {
                    let takes = matches!(m.route.body, Body::Json(op) if op == id);
                    assert!(takes, "{method} {template} takes JSON ({id}), the table says {:?}", m.route.body);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} endpoints checked");
}

#[test]
fn every_json_body_in_the_table_has_a_schema() {
    let schemas = sockguard::input::schema::embedded().unwrap();
    for route in ROUTES {
        if let Body::Json(op) = route.body {
            assert!(schemas.body(op).is_some(), "{} has no schema {op}", route.action);
        }
    }
}

// ---- schema generation ----

struct Generator<'a> {
    definitions: &'a Yaml,
}

impl Generator<'_> {
    fn shape(&self, schema: &Yaml, depth: usize) -> Json {
        if depth > 32 {
            return Json::Null;
        }
        if let Some(reference) = schema.get("$ref").and_then(Yaml::as_str) {
            let name = reference.trim_start_matches("#/definitions/");
            return self.shape(&self.definitions[name], depth + 1);
        }
        if let Some(all) = schema.get("allOf").and_then(Yaml::as_sequence) {
            return all.iter().fold(Json::Null, |acc, s| merge(acc, self.shape(s, depth + 1)));
        }
        if let Some(items) = schema.get("items") {
            return json!({ "l": self.shape(items, depth + 1) });
        }
        if let Some(props) = schema.get("properties").and_then(Yaml::as_mapping) {
            let mut fields = BTreeMap::new();
            for (name, prop) in props {
                fields.insert(name.as_str().unwrap().to_string(), self.shape(prop, depth + 1));
            }
            return json!({ "f": sorted(fields) });
        }
        match schema.get("additionalProperties") {
            Some(Yaml::Bool(true)) => json!({ "m": null }),
            Some(inner @ Yaml::Mapping(_)) => json!({ "m": self.shape(inner, depth + 1) }),
            _ => Json::Null,
        }
    }
}

fn sorted(fields: BTreeMap<String, Json>) -> Json {
    Json::Object(fields.into_iter().collect::<Map<_, _>>())
}

/// Union of two shapes: the versions agree on names, and a newer one may add fields.
fn merge(a: Json, b: Json) -> Json {
    match (a, b) {
        (Json::Null, b) => b,
        (a, Json::Null) => a,
        (Json::Object(mut a), Json::Object(b)) => {
            let tag_a = a.keys().next().cloned().unwrap_or_default();
            let tag_b = b.keys().next().cloned().unwrap_or_default();
            if tag_a != tag_b {
                // A struct beats a map or list: its keys are the ones that fold.
                return if tag_a == "f" { Json::Object(a) } else { Json::Object(b) };
            }
            let inner_a = a.remove(&tag_a).unwrap_or(Json::Null);
            let inner_b = b.into_iter().next().map(|(_, v)| v).unwrap_or(Json::Null);
            if tag_a == "f" {
                let mut fields: BTreeMap<String, Json> = BTreeMap::new();
                for (k, v) in inner_a.as_object().cloned().unwrap_or_default() {
                    fields.insert(k, v);
                }
                for (k, v) in inner_b.as_object().cloned().unwrap_or_default() {
                    let prev = fields.remove(&k).unwrap_or(Json::Null);
                    fields.insert(k, merge(prev, v));
                }
                json!({ "f": sorted(fields) })
            } else {
                json!({ tag_a: merge(inner_a, inner_b) })
            }
        }
        (a, _) => a,
    }
}

fn generate() -> String {
    let mut bodies: BTreeMap<String, Json> = BTreeMap::new();
    for spec_path in SPECS {
        let spec = load(spec_path);
        let generator = Generator { definitions: &spec["definitions"] };
        for (_, _, op) in operations(&spec) {
            let Some(schema) = body_schema(&op) else { continue };
            if !is_json_body(&op, schema) {
                continue;
            }
            let id = op["operationId"].as_str().unwrap().to_string();
            let shape = generator.shape(schema, 0);
            let prev = bodies.remove(&id).unwrap_or(Json::Null);
            bodies.insert(id, merge(prev, shape));
        }
        // Before API 1.24 the start body was a HostConfig; the engine still serves old versions.
        let legacy = generator.shape(&spec["definitions"]["HostConfig"], 0);
        let prev = bodies.remove("ContainerStartLegacy").unwrap_or(Json::Null);
        bodies.insert("ContainerStartLegacy".into(), merge(prev, legacy));
    }
    let mut text = serde_json::to_string(&sorted(bodies)).unwrap();
    text.push('\n');
    text
}

#[test]
fn body_schemas_match_the_specifications() {
    let generated = generate();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE);
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(committed == generated, "{SCHEMA_FILE} is out of date: run UPDATE_SCHEMAS=1 cargo test --test spec");
}
