//! `sockguard test`: find bundles, run their Rego tests and request cases, gather coverage.
//!
//! Each bundle is compiled once with its tests. Rego `test_*` rules run on one interpreter;
//! request cases run on the serving path (the VM) and again on that interpreter, and a case
//! whose two results differ fails — the parity check between the two evaluators. The shared
//! interpreter gathers line coverage of the bundle's policies across everything it evaluated.

use super::cases::{run_case, CaseFile, CaseResult};
use super::rego_tests::{self, Status as RegoStatus};
use crate::policy::{Bundle, CompileOptions, Policy};
use crate::proxy::Limits;
use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run only tests and cases whose name matches.
    pub run: Option<Regex>,
    pub coverage: bool,
    /// Wall-clock limit of one test or case.
    pub timeout: Duration,
}

/// The verdict of one test or case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Error,
}

/// One test or case, run.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub bundle: String,
    /// `rego` or `case`.
    pub kind: &'static str,
    pub name: String,
    pub file: String,
    pub line: usize,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Value>,
}

/// Line coverage of one policy file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCoverage {
    pub bundle: String,
    pub file: String,
    pub covered: usize,
    pub not_covered: Vec<u32>,
}

impl FileCoverage {
    pub fn percent(&self) -> f64 {
        percent(self.covered, self.not_covered.len())
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub results: Vec<TestResult>,
    pub coverage: Option<Vec<FileCoverage>>,
    pub duration_us: u64,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// Total line coverage of the policies, in percent.
    pub fn coverage_percent(&self) -> Option<f64> {
        let files = self.coverage.as_ref()?;
        let covered = files.iter().map(|f| f.covered).sum();
        let missed = files.iter().map(|f| f.not_covered.len()).sum();
        Some(percent(covered, missed))
    }
}

#[allow(clippy::cast_precision_loss)] // line counts are far below 2^52
fn percent(covered: usize, missed: usize) -> f64 {
    let total = covered.saturating_add(missed);
    if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    }
}

/// A bundle that could not be loaded or compiled (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// A bundle to test, and the files of it to run (all when `only` is empty).
#[derive(Debug, Clone)]
pub struct Target {
    pub bundle: Bundle,
    pub root: PathBuf,
    pub only: Vec<String>,
}

/// Find the bundles that `paths` name. A directory with a `.manifest` is a bundle; another
/// directory stands for the bundles below it, or is one itself when there are none; a file
/// selects itself within the bundle of its directory.
pub fn find(paths: &[PathBuf]) -> Result<Vec<Target>, LoadError> {
    let mut targets = Vec::new();
    for path in paths {
        if path.is_file() {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let root = bundle_root(dir).unwrap_or_else(|| dir.to_path_buf());
            let bundle = load(&root)?;
            let relative = path
                .canonicalize()
                .ok()
                .zip(root.canonicalize().ok())
                .and_then(|(p, r)| p.strip_prefix(&r).ok().map(|rel| rel.to_string_lossy().replace('\\', "/")));
            let only =
                relative.ok_or_else(|| LoadError(format!("{}: not inside {}", path.display(), root.display())))?;
            targets.push(Target { bundle, root, only: vec![only] });
        } else if path.is_dir() {
            let mut roots = Vec::new();
            manifests_below(path, &mut roots).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
            if roots.is_empty() {
                roots.push(path.clone());
            }
            roots.sort();
            for root in roots {
                targets.push(Target { bundle: load(&root)?, root, only: Vec::new() });
            }
        } else {
            return Err(LoadError(format!("{}: no such file or directory", path.display())));
        }
    }
    Ok(targets)
}

fn load(root: &Path) -> Result<Bundle, LoadError> {
    Bundle::from_dir(root).map_err(|e| LoadError(e.to_string()))
}

/// The nearest directory at or above `dir` that holds a `.manifest`.
fn bundle_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".manifest").is_file()).map(Path::to_path_buf)
}

fn manifests_below(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join(".manifest").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            manifests_below(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// Run the tests and cases of every target.
pub fn run(targets: &[Target], options: &Options) -> Result<Report, LoadError> {
    let started = Instant::now();
    let mut results = Vec::new();
    let mut coverage = Vec::new();
    for target in targets {
        let (mut target_results, target_coverage) = run_bundle(target, options)?;
        results.append(&mut target_results);
        coverage.extend(target_coverage);
    }
    Ok(Report { results, coverage: options.coverage.then_some(coverage), duration_us: micros(started.elapsed()) })
}

fn compile_options(options: &Options) -> CompileOptions {
    CompileOptions {
        with_tests: true,
        limits: crate::policy::engine::Limits { timeout: options.timeout, max_instructions: 50_000_000 },
        cache_capacity: 0,
    }
}

fn run_bundle(target: &Target, options: &Options) -> Result<(Vec<TestResult>, Vec<FileCoverage>), LoadError> {
    let bundle = &target.bundle;
    let name = target.root.display().to_string();
    let policy = Policy::compile(bundle, compile_options(options))
        .map_err(|e| LoadError(format!("{}: compile error: {e}", bundle.source)))?;
    let selected = |file: &str| target.only.is_empty() || target.only.iter().any(|f| f == file);
    let wanted = |test_name: &str| options.run.as_ref().is_none_or(|re| re.is_match(test_name));

    let mut interpreter = policy.interpreter();
    interpreter.set_enable_coverage(options.coverage);
    let mut results = Vec::new();

    for test in rego_tests::discover(&bundle.tests) {
        if !selected(&test.file) || !wanted(&test.path) {
            continue;
        }
        let started = Instant::now();
        let (status, message) = match rego_tests::run_on(&mut interpreter, &test) {
            RegoStatus::Pass => (Status::Pass, None),
            RegoStatus::Skip => (Status::Skip, None),
            RegoStatus::Fail(why) => (Status::Fail, Some(why)),
            RegoStatus::Error(why) => (Status::Error, Some(why)),
        };
        results.push(TestResult {
            bundle: name.clone(),
            kind: "rego",
            name: test.path.clone(),
            file: test.file.clone(),
            line: test.line,
            status,
            message,
            duration_us: micros(started.elapsed()),
            input: None,
            decision: None,
        });
    }

    let mut variants: HashMap<BTreeMap<String, String>, (Policy, regorus::Engine)> = HashMap::new();
    let mut extra_reports = Vec::new();
    for file in &bundle.cases {
        if !selected(&file.path) {
            continue;
        }
        let cases = CaseFile::parse(&file.text).map_err(|e| LoadError(format!("{}/{}: {e}", name, file.path)))?;
        let lines = case_lines(&file.text);
        let base = target.root.join(&file.path);
        let base = base.parent().unwrap_or(&target.root);
        for (index, case) in cases.cases.iter().enumerate() {
            if !wanted(&case.name) {
                continue;
            }
            let started = Instant::now();
            let (vm, interpreted) = match &case.env {
                None => (
                    run_case(case, base, &Limits::default(), &mut |i| policy.evaluate(i)),
                    run_case(case, base, &Limits::default(), &mut |i| policy.evaluate_on(&mut interpreter, i)),
                ),
                Some(env) => {
                    if !variants.contains_key(env) {
                        let mut variant = bundle.clone();
                        variant.apply_env(|key| env.get(key).cloned());
                        let compiled = Policy::compile(&variant, compile_options(options))
                            .map_err(|e| LoadError(format!("{}: compile error: {e}", bundle.source)))?;
                        let mut engine = compiled.interpreter();
                        engine.set_enable_coverage(options.coverage);
                        variants.insert(env.clone(), (compiled, engine));
                    }
                    let Some((variant, engine)) = variants.get_mut(env) else { continue };
                    (
                        run_case(case, base, &Limits::default(), &mut |i| variant.evaluate(i)),
                        run_case(case, base, &Limits::default(), &mut |i| variant.evaluate_on(engine, i)),
                    )
                }
            };
            results.push(case_result(
                &name,
                file,
                lines.get(index).copied().unwrap_or(1),
                case,
                vm,
                interpreted,
                started,
            ));
        }
    }

    let coverage = if options.coverage {
        extra_reports.push(interpreter.get_coverage_report().map_err(|e| LoadError(e.to_string()))?);
        for (_, engine) in variants.values() {
            extra_reports.push(engine.get_coverage_report().map_err(|e| LoadError(e.to_string()))?);
        }
        merge_coverage(&name, bundle, &extra_reports)
    } else {
        Vec::new()
    };
    Ok((results, coverage))
}

fn case_result(
    bundle: &str,
    file: &crate::policy::bundle::SourceFile,
    line: usize,
    case: &super::cases::Case,
    vm: CaseResult,
    interpreted: CaseResult,
    started: Instant,
) -> TestResult {
    let mut failures = vm.failures.clone();
    if vm.observed != interpreted.observed {
        failures.push(format!(
            "the VM and the interpreter disagree: VM {:?} / interpreter {:?}",
            (vm.observed.allow, &vm.observed.code),
            (interpreted.observed.allow, &interpreted.observed.code)
        ));
    }
    let invalid = failures.iter().any(|f| f.starts_with("the case itself is invalid"));
    let status = match (failures.is_empty(), invalid) {
        (true, _) => Status::Pass,
        (false, true) => Status::Error,
        (false, false) => Status::Fail,
    };
    TestResult {
        bundle: bundle.to_owned(),
        kind: "case",
        name: case.name.clone(),
        file: file.path.clone(),
        line,
        status,
        message: (!failures.is_empty()).then(|| failures.join("; ")),
        duration_us: micros(started.elapsed()),
        input: vm.observed.input,
        decision: vm.observed.decision,
    }
}

/// The line of each case: the `- name:` item lines of the file, in order.
fn case_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("- name:"))
        .map(|(i, _)| i.saturating_add(1))
        .collect()
}

/// Union the coverage of several interpreters over the bundle's policy files (not its tests).
fn merge_coverage(bundle_name: &str, bundle: &Bundle, reports: &[regorus::coverage::Report]) -> Vec<FileCoverage> {
    let mut files: BTreeMap<&str, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    for report in reports {
        for file in &report.files {
            if !bundle.modules.iter().any(|m| m.path == file.path) {
                continue;
            }
            let entry = files.entry(file.path.as_str()).or_default();
            entry.0.extend(file.covered.iter().copied());
            entry.1.extend(file.not_covered.iter().copied());
        }
    }
    // A policy file nothing evaluated is absent from the reports: count its code lines as missed.
    let untouched: Vec<(&str, BTreeSet<u32>)> = bundle
        .modules
        .iter()
        .filter(|m| !files.contains_key(m.path.as_str()))
        .map(|m| (m.path.as_str(), code_lines(&m.text)))
        .collect();
    for (path, lines) in untouched {
        files.insert(path, (BTreeSet::new(), lines));
    }
    files
        .into_iter()
        .map(|(path, (covered, not_covered))| FileCoverage {
            bundle: bundle_name.to_owned(),
            file: path.to_owned(),
            covered: covered.len(),
            not_covered: not_covered.difference(&covered).copied().collect(),
        })
        .collect()
}

/// The lines of a module that hold code (not blank, not comments).
fn code_lines(text: &str) -> BTreeSet<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .filter_map(|(i, _)| u32::try_from(i.saturating_add(1)).ok())
        .collect()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_lines_follow_the_items() {
        let text = "cases:\n  - name: a\n    request: {}\n  - name: b\n";
        assert_eq!(case_lines(text), vec![2, 4]);
    }

    #[test]
    fn percentages() {
        assert!((percent(3, 1) - 75.0).abs() < 1e-9);
        assert!((percent(0, 0) - 100.0).abs() < 1e-9);
    }
}
