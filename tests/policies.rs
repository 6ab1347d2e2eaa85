//! Every bundle in the repository, checked the way `sockguard test` will check it: its Rego
//! `test_*` rules pass, and every request case gives its expected decision on both the serving
//! path (bytecode VM) and the interpreter, with identical results (the parity test).

use sockguard::authoring::cases::{run_case, CaseFile};
use sockguard::authoring::runner::{self, Status};
use sockguard::input::routes::ROUTES;
use sockguard::policy::{Bundle, CompileOptions, Evaluator, Policy};
use sockguard::proxy::Limits;
use std::path::{Path as FsPath, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundle_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("policies/default")];
    dirs.push(root().join("bench/realistic"));
    for parent in ["policies/presets", "tests/bundles"] {
        let mut found: Vec<PathBuf> =
            std::fs::read_dir(root().join(parent)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

fn compile(dir: &FsPath) -> (Bundle, Policy) {
    let bundle = Bundle::from_dir(dir).unwrap();
    let policy = Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() })
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    (bundle, policy)
}

/// Rego tests and request cases of every bundle, through the `sockguard test` runner: each case
/// is decided on the VM and on the interpreter, and any disagreement fails it.
#[test]
fn every_bundle_passes_its_tests_and_cases_on_both_evaluators() {
    let targets = runner::find(&bundle_dirs()).unwrap();
    for target in &targets {
        let (_, policy) = compile(&target.root);
        assert_eq!(policy.evaluator(), Evaluator::Vm, "{} must run on the VM", target.root.display());
    }
    let options = runner::Options { run: None, coverage: false, timeout: std::time::Duration::from_secs(5) };
    let report = runner::run(&targets, &options).unwrap();
    for result in &report.results {
        assert_eq!(
            result.status,
            Status::Pass,
            "{}: {}:{} {}: {:?}",
            result.bundle,
            result.file,
            result.line,
            result.name,
            result.message
        );
    }
    let count = |kind| report.results.iter().filter(|r| r.kind == kind).count();
    assert!(count("rego") >= 30, "only {} Rego tests", count("rego"));
    assert!(count("case") >= 100, "only {} request cases", count("case"));
}

#[test]
fn a_case_that_expects_the_wrong_thing_fails() {
    let (_, policy) = compile(&root().join("policies/default"));
    let wrong = CaseFile::parse(
        "cases:\n  - name: create\n    request: {method: POST, path: /containers/create, body: {Image: x}}\n    expect: {allow: true, code: nope}\n",
    )
    .unwrap();
    let result = run_case(&wrong.cases[0], &root(), &Limits::default(), &mut |i| policy.evaluate(i));
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
    let (bundle, _) = compile(&root().join("policies/default"));
    let known: std::collections::HashSet<&str> = ROUTES.iter().map(|r| r.action).collect();
    let table = bundle.data["sockguard_default"]["decisions"].as_object().unwrap();
    assert!(table.len() > 40, "{table:?}");
    for action in table.keys() {
        assert!(known.contains(action.as_str()), "{action} is not an action of the route table");
    }
}
