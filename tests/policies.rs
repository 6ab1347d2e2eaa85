//! Every bundle in the repository, checked the way `sockguard test` will check it: its Rego
//! `test_*` rules pass, and every request case gives its expected decision on both the serving
//! path (bytecode VM) and the interpreter, with identical results (the parity test).

use sockguard::authoring::cases::{run_case, CaseFile};
use sockguard::authoring::rego_tests::{self, Status};
use sockguard::input::routes::ROUTES;
use sockguard::policy::{Bundle, CompileOptions, Evaluator, Path, Policy};
use sockguard::proxy::Limits;
use std::path::{Path as FsPath, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundle_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("policies/default")];
    let mut tests: Vec<PathBuf> = std::fs::read_dir(root().join("tests/bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    tests.sort();
    dirs.extend(tests);
    dirs
}

fn compile(dir: &FsPath) -> (Bundle, Policy) {
    let bundle = Bundle::from_dir(dir).unwrap();
    let policy = Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() })
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    (bundle, policy)
}

#[test]
fn rego_tests_of_every_bundle_pass() {
    let mut ran = 0;
    for dir in bundle_dirs() {
        let (bundle, policy) = compile(&dir);
        for test in rego_tests::discover(&bundle.tests) {
            let status = rego_tests::run(&policy, &test);
            assert!(
                matches!(status, Status::Pass | Status::Skip),
                "{}:{} {}: {status:?}",
                test.file,
                test.line,
                test.path
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} Rego tests found");
}

#[test]
fn request_cases_pass_on_the_vm_and_the_interpreter_alike() {
    let mut ran = 0;
    for dir in bundle_dirs() {
        let (bundle, policy) = compile(&dir);
        assert_eq!(policy.evaluator(), Evaluator::Vm, "{} must run on the VM", dir.display());
        for file in &bundle.cases {
            let cases = CaseFile::parse(&file.text).unwrap_or_else(|e| panic!("{}: {e}", file.path));
            let base = dir.join(&file.path);
            let base = base.parent().unwrap();
            for case in &cases.cases {
                let vm = run_case(&policy, case, base, Path::Serving, &Limits::default());
                let interpreted = run_case(&policy, case, base, Path::Interpreter, &Limits::default());
                assert!(vm.failures.is_empty(), "{}: {}: {:?}", file.path, case.name, vm.failures);
                assert_eq!(
                    vm.observed, interpreted.observed,
                    "{}: {}: VM and interpreter disagree",
                    file.path, case.name
                );
                ran += 1;
            }
        }
    }
    assert!(ran >= 30, "only {ran} request cases found");
}

#[test]
fn a_case_that_expects_the_wrong_thing_fails() {
    let (_, policy) = compile(&root().join("policies/default"));
    let wrong = CaseFile::parse(
        "cases:\n  - name: create\n    request: {method: POST, path: /containers/create, body: {Image: x}}\n    expect: {allow: true, code: nope}\n",
    )
    .unwrap();
    let result = run_case(&policy, &wrong.cases[0], &root(), Path::Serving, &Limits::default());
    assert_eq!(result.failures.len(), 2, "{:?}", result.failures);
}

#[test]
fn the_embedded_default_bundle_is_the_directory() {
    let embedded = Bundle::embedded_default().unwrap();
    let on_disk = Bundle::from_dir(&root().join("policies/default")).unwrap();
    assert_eq!(embedded.modules, on_disk.modules);
    assert_eq!(embedded.tests, on_disk.tests);
    assert_eq!(embedded.cases, on_disk.cases);
    assert_eq!(embedded.revision, on_disk.revision);
    assert_eq!(embedded.data, on_disk.data);
}

#[test]
fn the_default_tables_name_real_actions() {
    let (_, policy) = compile(&root().join("policies/default"));
    let known: std::collections::HashSet<&str> = ROUTES.iter().map(|r| r.action).collect();
    let mut engine = policy.interpreter();
    let mut named = Vec::new();
    for table in ["data.sockguard.reads", "data.sockguard.exfiltration", "data.sockguard.redactions"] {
        let value = engine.eval_rule(table.into()).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        match json {
            serde_json::Value::Array(items) => named.extend(items.into_iter().map(|v| v.as_str().unwrap().to_owned())),
            serde_json::Value::Object(map) => named.extend(map.keys().cloned()),
            other => panic!("{table}: {other}"),
        }
    }
    assert!(named.len() > 40);
    for action in &named {
        assert!(known.contains(action.as_str()), "{action} is not an action of the route table");
    }
}
