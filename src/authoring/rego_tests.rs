//! Rego unit tests with OPA's semantics: rules named `test_*` are tests, `todo_test_*` are
//! skipped, and a test passes only when its value is `true` (undefined or anything else fails).
//! Tests run on the interpreter, which supports `with`.

use crate::policy::bundle::SourceFile;
use crate::policy::Policy;

/// One discovered test rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRule {
    /// `data.<package>.<rule>`
    pub path: String,
    pub file: String,
    pub line: usize,
    pub todo: bool,
}

/// The verdict of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail(String),
    Skip,
    Error(String),
}

/// Find the test rules of some modules: top-level rules whose name starts with `test_` or
/// `todo_test_`, in the module's package. A rule defined several times is one test.
pub fn discover(modules: &[SourceFile]) -> Vec<TestRule> {
    let mut found: Vec<TestRule> = Vec::new();
    for module in modules {
        let mut package = None;
        for (index, line) in module.text.lines().enumerate() {
            if let Some(rest) = line.strip_prefix("package ") {
                package = Some(rest.trim().to_owned());
                continue;
            }
            let Some(package) = &package else { continue };
            let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let todo = name.starts_with("todo_test_");
            if !(name.starts_with("test_") || todo) {
                continue;
            }
            let path = format!("data.{package}.{name}");
            if !found.iter().any(|t| t.path == path) {
                found.push(TestRule { path, file: module.path.clone(), line: index.saturating_add(1), todo });
            }
        }
    }
    found
}

/// Run one test rule on a policy compiled with its tests.
pub fn run(policy: &Policy, test: &TestRule) -> Status {
    run_on(&mut policy.interpreter(), test)
}

/// Run one test rule on a given interpreter (one that gathers coverage, say).
pub fn run_on(engine: &mut regorus::Engine, test: &TestRule) -> Status {
    if test.todo {
        return Status::Skip;
    }
    match engine.eval_rule(test.path.clone()) {
        Ok(regorus::Value::Bool(true)) => Status::Pass,
        Ok(regorus::Value::Undefined) => Status::Fail("undefined".into()),
        Ok(other) => Status::Fail(format!("result {other}")),
        Err(e) => Status::Error(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Bundle, CompileOptions};

    #[test]
    fn discovers_runs_and_skips() {
        let files = vec![
            SourceFile {
                path: "p.rego".into(),
                text: "package p\nimport rego.v1\ndecision := {\"allow\": input.ok == true}\n".into(),
            },
            SourceFile {
                path: "p_test.rego".into(),
                text: "package p\nimport rego.v1\n\
                       test_allows if decision.allow with input as {\"ok\": true}\n\
                       test_denies_wrongly if decision.allow with input as {\"ok\": false}\n\
                       test_undefined if input.nothing\n\
                       todo_test_later if false\n"
                    .into(),
            },
        ];
        let mut bundle = Bundle::from_files("t", files).unwrap();
        bundle.entrypoint = "data.p.decision".into();
        let policy =
            Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() }).unwrap();
        let tests = discover(&bundle.tests);
        let names: Vec<&str> = tests.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            names,
            ["data.p.test_allows", "data.p.test_denies_wrongly", "data.p.test_undefined", "data.p.todo_test_later"]
        );
        assert_eq!(tests[1].line, 4);
        let statuses: Vec<Status> = tests.iter().map(|t| run(&policy, t)).collect();
        assert_eq!(statuses[0], Status::Pass);
        assert!(matches!(statuses[1], Status::Fail(_)));
        assert_eq!(statuses[2], Status::Fail("undefined".into()));
        assert_eq!(statuses[3], Status::Skip);
    }
}
