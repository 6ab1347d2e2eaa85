//! Policy bundles: the Rego modules, data and manifest a policy is compiled from.
//!
//! A bundle is an OPA-style directory: `.manifest` (JSON: `revision`, `roots`, `entrypoint`),
//! `*.rego` policies, `*_test.rego` tests, `data.json` / `data.yaml` documents mounted at the path
//! of their directory (`a/b/data.json` is `data.a.b`), and `*.cases.yaml` request cases.
//!
//! A manifest may declare environment variables with their defaults (`"env": {"POST": "0"}`):
//! [`Bundle::apply_env`] reads exactly those, once, and mounts them at `data.env`, so a policy
//! can be configured the way a container is (the `tecnativa` preset reads Tecnativa's variables)
//! while seeing no variable it did not ask for. The
//! default bundle in `policies/default/` is compiled into the binary so that `sockguard serve`
//! works with no configuration. Signed and remote bundles build on this type.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The entrypoint evaluated when a manifest names none.
pub const DEFAULT_ENTRYPOINT: &str = "data.sockguard.decision";

/// One source file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the bundle root, with `/` separators.
    pub path: String,
    pub text: String,
}

/// A loaded bundle, not yet compiled.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it came from (a directory path, or `embedded:default`).
    pub source: String,
    pub revision: String,
    /// The rule evaluated per request, as a `data.` path.
    pub entrypoint: String,
    pub modules: Vec<SourceFile>,
    pub tests: Vec<SourceFile>,
    pub cases: Vec<SourceFile>,
    pub data: Value,
    /// Environment variables the manifest declares, with their defaults.
    pub env: std::collections::BTreeMap<String, String>,
}

/// Why a bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid manifest: {message}")]
    Manifest { path: String, message: String },
    #[error("{path}: invalid data document: {message}")]
    Data { path: String, message: String },
    #[error("{0}: the bundle holds no .rego policy")]
    Empty(String),
    #[error("{0}: the manifest declares environment variables, so data.env is taken")]
    EnvConflict(String),
}

impl Bundle {
    /// Load a bundle directory.
    pub fn from_dir(dir: &Path) -> Result<Bundle, BundleError> {
        Bundle::from_files(&dir.display().to_string(), read_files(dir)?)
    }

    /// Build a bundle from its files (paths relative to the root).
    pub fn from_files(source: &str, mut files: Vec<SourceFile>) -> Result<Bundle, BundleError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut bundle = Bundle {
            source: source.to_owned(),
            revision: String::new(),
            entrypoint: DEFAULT_ENTRYPOINT.to_owned(),
            modules: Vec::new(),
            tests: Vec::new(),
            cases: Vec::new(),
            data: Value::Object(Map::new()),
            env: Default::default(),
        };
        for file in files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            if name == ".manifest" {
                bundle.read_manifest(&file)?;
            } else if name.ends_with("_test.rego") {
                bundle.tests.push(file);
            } else if name.ends_with(".rego") {
                bundle.modules.push(file);
            } else if name.ends_with(".cases.yaml") || name.ends_with(".cases.yml") {
                bundle.cases.push(file);
            } else if matches!(name, "data.json" | "data.yaml" | "data.yml") {
                bundle.mount_data(&file)?;
            }
        }
        if bundle.modules.is_empty() {
            return Err(BundleError::Empty(bundle.source));
        }
        if !bundle.env.is_empty() && bundle.data.get("env").is_some() {
            return Err(BundleError::EnvConflict(bundle.source));
        }
        bundle.apply_env(|_| None);
        Ok(bundle)
    }

    /// The default bundle compiled into the binary (`policies/default/`).
    pub fn embedded_default() -> Result<Bundle, BundleError> {
        super::embedded::default_bundle()
    }

    /// Mount the declared environment variables at `data.env`: each one's value from `lookup`,
    /// or its default. Loading applies the defaults; `serve` applies the process environment.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if self.env.is_empty() {
            return;
        }
        let env: Map<String, Value> = self
            .env
            .iter()
            .map(|(key, default)| (key.clone(), Value::String(lookup(key).unwrap_or_else(|| default.clone()))))
            .collect();
        if let Value::Object(data) = &mut self.data {
            data.insert("env".into(), Value::Object(env));
        }
    }

    fn read_manifest(&mut self, file: &SourceFile) -> Result<(), BundleError> {
        let err = |message: String| BundleError::Manifest { path: file.path.clone(), message };
        let manifest: Value = serde_json::from_str(&file.text).map_err(|e| err(e.to_string()))?;
        if let Some(revision) = manifest.get("revision") {
            self.revision = revision.as_str().ok_or_else(|| err("revision must be a string".into()))?.to_owned();
        }
        if let Some(entry) = manifest.get("entrypoint") {
            let entry = entry.as_str().ok_or_else(|| err("entrypoint must be a string".into()))?;
            self.entrypoint = normalize_entrypoint(entry).ok_or_else(|| err(format!("bad entrypoint {entry:?}")))?;
        }
        if let Some(env) = manifest.get("env") {
            let env = env.as_object().ok_or_else(|| err("env must map variable names to default values".into()))?;
            for (key, default) in env {
                let default =
                    default.as_str().ok_or_else(|| err(format!("env.{key}: the default must be a string")))?;
                let valid =
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(err(format!("env.{key}: variable names are upper case, digits and _")));
                }
                self.env.insert(key.clone(), default.to_owned());
            }
        }
        Ok(())
    }

    fn mount_data(&mut self, file: &SourceFile) -> Result<(), BundleError> {
        let err = |message: String| BundleError::Data { path: file.path.clone(), message };
        let value: Value = if file.path.ends_with(".json") {
            serde_json::from_str(&file.text).map_err(|e| err(e.to_string()))?
        } else {
            serde_yaml_ng::from_str(&file.text).map_err(|e| err(e.to_string()))?
        };
        let mut node = &mut self.data;
        let dirs: Vec<&str> = file.path.split('/').collect();
        for dir in dirs.iter().take(dirs.len().saturating_sub(1)) {
            let Value::Object(map) = node else { return Err(err("conflicting data paths".into())) };
            node = map.entry((*dir).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        }
        merge(node, value).map_err(err)
    }
}

/// Accept `sockguard/decision`, `sockguard.decision` or `data.sockguard.decision`.
pub fn normalize_entrypoint(entry: &str) -> Option<String> {
    let dotted = entry.trim_matches('/').replace('/', ".");
    let dotted = dotted.strip_prefix("data.").unwrap_or(&dotted).to_owned();
    let valid = !dotted.is_empty()
        && dotted.split('.').all(|p| {
            let mut c = p.chars();
            matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
                && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        });
    valid.then(|| format!("data.{dotted}"))
}

fn merge(into: &mut Value, value: Value) -> Result<(), String> {
    match (into, value) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v)?,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        (slot @ Value::Object(_), v) if slot.as_object().is_some_and(Map::is_empty) => {
            *slot = v;
            Ok(())
        }
        _ => Err("two data documents set the same path".into()),
    }
}

/// Whether a file (by its path in the bundle) is part of a bundle: the manifest, policies and
/// tests, data documents, request cases. Everything else in a directory is ignored.
pub fn is_bundle_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == ".manifest"
        || name.ends_with(".rego")
        || name.ends_with(".cases.yaml")
        || name.ends_with(".cases.yml")
        || matches!(name, "data.json" | "data.yaml" | "data.yml")
}

/// The bundle files of a directory, sorted by path.
pub fn read_files(dir: &Path) -> Result<Vec<SourceFile>, BundleError> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) -> Result<(), BundleError> {
    let read_err = |path: &Path, source| BundleError::Read { path: path.to_owned(), source };
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| read_err(&path, e))?;
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if is_bundle_file(&rel) {
                let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
                out.push(SourceFile { path: rel, text });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.into(), text: text.into() }
    }

    #[test]
    fn sorts_files_by_role_and_mounts_data_at_its_directory() {
        let b = Bundle::from_files(
            "t",
            vec![
                file(".manifest", r#"{"revision":"r7","entrypoint":"acme/decision"}"#),
                file("acme/p.rego", "package acme"),
                file("acme/p_test.rego", "package acme"),
                file("acme/limits/data.yaml", "prefixes: [/srv]"),
                file("data.json", r#"{"top": 1}"#),
                file("acme/x.cases.yaml", "cases: []"),
            ],
        )
        .unwrap();
        assert_eq!(b.revision, "r7");
        assert_eq!(b.entrypoint, "data.acme.decision");
        assert_eq!(b.modules.len(), 1);
        assert_eq!(b.tests.len(), 1);
        assert_eq!(b.cases.len(), 1);
        assert_eq!(b.data, serde_json::json!({"top": 1, "acme": {"limits": {"prefixes": ["/srv"]}}}));
    }

    #[test]
    fn refuses_bad_manifests_and_empty_bundles() {
        assert!(Bundle::from_files("t", vec![file(".manifest", "{"), file("a.rego", "package a")]).is_err());
        assert!(Bundle::from_files(
            "t",
            vec![file(".manifest", r#"{"entrypoint":"a b"}"#), file("a.rego", "package a")]
        )
        .is_err());
        assert!(matches!(Bundle::from_files("t", vec![]), Err(BundleError::Empty(_))));
    }

    #[test]
    fn declared_environment_variables_are_mounted_at_data_env() {
        let mut b = Bundle::from_files(
            "t",
            vec![file(".manifest", r#"{"env":{"POST":"0","EVENTS":"1"}}"#), file("p.rego", "package p")],
        )
        .unwrap();
        assert_eq!(b.data, serde_json::json!({"env": {"POST": "0", "EVENTS": "1"}}));
        b.apply_env(|k| (k == "POST").then(|| "1".to_string()));
        assert_eq!(b.data["env"], serde_json::json!({"POST": "1", "EVENTS": "1"}));
        let bad =
            Bundle::from_files("t", vec![file(".manifest", r#"{"env":{"lower":"0"}}"#), file("p.rego", "package p")]);
        assert!(bad.is_err());
        let clash = Bundle::from_files(
            "t",
            vec![
                file(".manifest", r#"{"env":{"A":"0"}}"#),
                file("data.json", r#"{"env":1}"#),
                file("p.rego", "package p"),
            ],
        );
        assert!(matches!(clash, Err(BundleError::EnvConflict(_))));
    }

    #[test]
    fn entrypoints_normalize() {
        assert_eq!(normalize_entrypoint("sockguard/decision").as_deref(), Some("data.sockguard.decision"));
        assert_eq!(normalize_entrypoint("data.x.y").as_deref(), Some("data.x.y"));
        assert_eq!(normalize_entrypoint(""), None);
        assert_eq!(normalize_entrypoint("x..y"), None);
    }

    #[test]
    fn the_embedded_default_bundle_loads() {
        let b = Bundle::embedded_default().unwrap();
        assert_eq!(b.entrypoint, DEFAULT_ENTRYPOINT);
        assert!(!b.revision.is_empty());
        assert!(!b.tests.is_empty());
    }
}
