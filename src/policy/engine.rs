//! The compiled policy: one per bundle, evaluated once per request.
//!
//! A bundle is compiled once, at load. Serving uses regorus' bytecode VM (RVM), which evaluates a
//! typical policy several times faster than the tree-walking interpreter; the interpreter is kept
//! for `sockguard test` (it supports `with`), coverage and explanations, and as the serving path
//! for a bundle the VM compiler cannot take (logged at load). A parity test evaluates every
//! request case both ways.
//!
//! Each evaluation is bounded by an instruction budget and a wall-clock limit, so evaluation runs
//! inline on the async runtime without blocking it for long: a runaway policy is cut off and the
//! request denied (`policy_error`).

use super::bundle::Bundle;
use super::cache::{reason_not_to_cache, DecisionCache, RequestKey};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::RegoVM;
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{CompiledPolicy, Engine};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bounds on one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock limit of one evaluation.
    pub timeout: Duration,
    /// VM instruction budget of one evaluation.
    pub max_instructions: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { timeout: Duration::from_millis(250), max_instructions: 2_000_000 }
    }
}

/// Which evaluator serves requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluator {
    Vm,
    Interpreter,
}

/// Why a bundle did not compile.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(String);

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A compiled bundle.
pub struct Policy {
    pub revision: String,
    pub source: String,
    pub entrypoint: String,
    evaluator: Evaluator,
    /// The interpreter, loaded and prepared; cloned per interpreted evaluation.
    engine: Engine,
    vm: Option<VmPath>,
    limits: Limits,
    /// Why the VM is not used, if it is not.
    pub vm_unavailable: Option<String>,
    cache: Option<DecisionCache>,
    /// Why decisions are not cached, when the cache was asked for but the policy forbids it.
    pub cache_unavailable: Option<String>,
    /// `sha256:…` of the archive the bundle came from, if it came from one.
    pub digest: Option<String>,
    /// Who signed the bundle, when its signature was verified.
    pub signer: Option<String>,
    /// The immutable name of a moving source once resolved (`oci://…@sha256:…`).
    pub pinned: Option<String>,
    /// What polling compares with the source (see `bundle::source::Loaded::version`).
    pub version: Option<String>,
    /// When the bundle was loaded (RFC 3339), set by `serve`.
    pub loaded_at: Option<String>,
}

struct VmPath {
    program: Arc<Program>,
    compiled: CompiledPolicy,
    data: regorus::Value,
    /// Idle VMs. A std Mutex, not a tokio one: nothing awaits while it is held, and it is held
    /// only to pop or push.
    idle: Mutex<Vec<RegoVM>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("revision", &self.revision)
            .field("source", &self.source)
            .field("entrypoint", &self.entrypoint)
            .field("evaluator", &self.evaluator)
            .finish_non_exhaustive()
    }
}

/// What to compile.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    /// Also load the bundle's `*_test.rego` modules (for `sockguard test`).
    pub with_tests: bool,
    pub limits: Limits,
    /// Entries of the decision cache of the serving path; 0 disables it.
    pub cache_capacity: usize,
}

impl Policy {
    /// Compile a bundle.
    pub fn compile(bundle: &Bundle, options: CompileOptions) -> Result<Policy, CompileError> {
        let mut engine = Engine::new();
        let modules = bundle.modules.iter().chain(options.with_tests.then_some(&bundle.tests).into_iter().flatten());
        for module in modules {
            engine.add_policy(module.path.clone(), module.text.clone()).map_err(|e| CompileError(format!("{e:#}")))?;
        }
        engine.add_data(regorus::Value::from(bundle.data.clone())).map_err(|e| CompileError(format!("data: {e:#}")))?;
        engine.set_execution_timer_config(timer(options.limits));
        let entry: regorus::Rc<str> = regorus::Rc::from(bundle.entrypoint.as_str());
        let compiled = engine
            .compile_with_entrypoint(&entry)
            .map_err(|e| CompileError(format!("entrypoint {}: {e:#}", bundle.entrypoint)))?;
        let (vm, vm_unavailable) = match Compiler::compile_from_policy(&compiled, &[bundle.entrypoint.as_str()]) {
            Ok(program) => {
                let data = regorus::Value::from(bundle.data.clone());
                (Some(VmPath { program, compiled, data, idle: Mutex::new(Vec::new()) }), None)
            }
            Err(e) => (None, Some(format!("{e}"))),
        };
        let evaluator = if vm.is_some() { Evaluator::Vm } else { Evaluator::Interpreter };
        let cache_unavailable = reason_not_to_cache(bundle.modules.iter().map(|m| m.text.as_str()));
        let cache = (options.cache_capacity > 0 && cache_unavailable.is_none())
            .then(|| DecisionCache::new(options.cache_capacity));
        let policy = Policy {
            revision: bundle.revision.clone(),
            source: bundle.source.clone(),
            entrypoint: bundle.entrypoint.clone(),
            evaluator,
            engine,
            vm,
            limits: options.limits,
            vm_unavailable,
            cache,
            cache_unavailable: cache_unavailable.filter(|_| options.cache_capacity > 0),
            digest: None,
            signer: None,
            pinned: None,
            version: None,
            loaded_at: None,
        };
        // Fail at load, not on the first request, if the VM cannot even start.
        if let Some(vm) = &policy.vm {
            let fresh = policy.new_vm(vm).map_err(|e| CompileError(format!("vm: {e}")))?;
            vm.release(fresh);
        }
        Ok(policy)
    }

    /// The evaluator that serves requests.
    pub fn evaluator(&self) -> Evaluator {
        self.evaluator
    }

    /// Serve with the interpreter from now on (the VM disagreed with it on this bundle).
    pub fn prefer_interpreter(&mut self, why: String) {
        if let Some(cache) = &self.cache {
            // decisions the VM made during the parity check must not be served
            self.cache = Some(DecisionCache::new(cache.capacity()));
        }
        self.vm = None;
        self.evaluator = Evaluator::Interpreter;
        self.vm_unavailable = Some(why);
    }

    /// Whether decisions are cached.
    pub fn caches_decisions(&self) -> bool {
        self.cache.is_some()
    }

    /// The cached decision for a request, if there is one.
    pub fn cached(&self, key: &RequestKey<'_>) -> Option<Option<serde_json::Value>> {
        self.cache.as_ref()?.get(key)
    }

    /// Remember the decision the policy returned for a request.
    pub fn remember(&self, key: &RequestKey<'_>, decision: &Option<serde_json::Value>) {
        if let Some(cache) = &self.cache {
            cache.insert(key, decision.clone());
        }
    }

    /// Evaluate the entrypoint on the serving path. `Ok(None)` is an undefined decision.
    pub fn evaluate(&self, input: serde_json::Value) -> Result<Option<serde_json::Value>, EvalError> {
        match &self.vm {
            Some(vm) => self.evaluate_vm(vm, input),
            None => self.evaluate_interpreted(input),
        }
    }

    /// Evaluate the entrypoint with the interpreter.
    pub fn evaluate_interpreted(&self, input: serde_json::Value) -> Result<Option<serde_json::Value>, EvalError> {
        self.evaluate_on(&mut self.engine.clone(), input)
    }

    /// Evaluate the entrypoint on a given interpreter (a copy of [`Policy::interpreter`], for
    /// example one that gathers coverage).
    pub fn evaluate_on(
        &self,
        engine: &mut Engine,
        input: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, EvalError> {
        engine.set_input(regorus::Value::from(input));
        let value = engine.eval_rule(self.entrypoint.clone()).map_err(|e| EvalError(format!("{e:#}")))?;
        to_json(&value)
    }

    /// A copy of the loaded interpreter (for tests, coverage and explanations).
    pub fn interpreter(&self) -> Engine {
        self.engine.clone()
    }

    fn evaluate_vm(&self, vm: &VmPath, input: serde_json::Value) -> Result<Option<serde_json::Value>, EvalError> {
        let mut machine = match vm.acquire() {
            Some(m) => m,
            None => self.new_vm(vm)?,
        };
        machine.set_input(regorus::Value::from(input));
        match machine.execute() {
            Ok(value) => {
                let result = to_json(&value);
                vm.release(machine);
                result
            }
            // A VM that failed mid-run is dropped rather than reused.
            Err(e) => Err(EvalError(format!("{e}"))),
        }
    }

    fn new_vm(&self, vm: &VmPath) -> Result<RegoVM, EvalError> {
        let mut machine = RegoVM::new_with_policy(vm.compiled.clone());
        machine.load_program(vm.program.clone());
        machine.set_data(vm.data.clone()).map_err(|e| EvalError(format!("{e}")))?;
        machine.set_max_instructions(self.limits.max_instructions);
        machine.set_execution_timer_config(Some(timer(self.limits)));
        Ok(machine)
    }
}

impl VmPath {
    fn acquire(&self) -> Option<RegoVM> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }

    fn release(&self, machine: RegoVM) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(machine);
        }
    }
}

fn timer(limits: Limits) -> ExecutionTimerConfig {
    let check_interval = NonZeroU32::new(256).unwrap_or(NonZeroU32::MIN);
    ExecutionTimerConfig { limit: limits.timeout, check_interval }
}

fn to_json(value: &regorus::Value) -> Result<Option<serde_json::Value>, EvalError> {
    if *value == regorus::Value::Undefined {
        return Ok(None);
    }
    serde_json::to_value(value).map(Some).map_err(|e| EvalError(format!("decision is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::bundle::SourceFile;
    use serde_json::json;

    fn policy(rego: &str) -> Policy {
        let bundle = Bundle::from_files("t", vec![SourceFile { path: "p.rego".into(), text: rego.into() }]).unwrap();
        Policy::compile(&bundle, CompileOptions::default()).unwrap()
    }

    #[test]
    fn vm_and_interpreter_agree_and_vms_are_reused_cleanly() {
        let p = policy(
            "package sockguard\n\
             default decision := {\"allow\": false, \"code\": \"nope\"}\n\
             decision := {\"allow\": true} if input.request.action == \"system.ping\"\n",
        );
        assert_eq!(p.evaluator(), Evaluator::Vm);
        for action in ["system.ping", "container.create", "system.ping"] {
            let input = json!({"request": {"action": action}});
            let vm = p.evaluate(input.clone()).unwrap();
            assert_eq!(vm, p.evaluate_interpreted(input).unwrap());
            assert_eq!(vm.unwrap()["allow"], action == "system.ping");
        }
    }

    #[test]
    fn undefined_is_none() {
        let p = policy("package sockguard\ndecision := {\"allow\": true} if input.never\n");
        assert_eq!(p.evaluate(json!({})).unwrap(), None);
        assert_eq!(p.evaluate_interpreted(json!({})).unwrap(), None);
    }

    #[test]
    fn the_cache_answers_repeats_and_only_for_deterministic_policies() {
        let rego = "package sockguard\ndecision := {\"allow\": input.request.action == \"system.ping\"}\n";
        let bundle = Bundle::from_files("t", vec![SourceFile { path: "p.rego".into(), text: rego.into() }]).unwrap();
        let p = Policy::compile(&bundle, CompileOptions { cache_capacity: 8, ..CompileOptions::default() }).unwrap();
        assert!(p.caches_decisions());
        let headers = http::HeaderMap::new();
        let key = RequestKey::new("GET", "/_ping", &headers, b"", "c").unwrap();
        assert_eq!(p.cached(&key), None);
        let decision = p.evaluate(json!({"request": {"action": "system.ping"}})).unwrap();
        p.remember(&key, &decision);
        assert_eq!(p.cached(&key), Some(decision));

        let timed = "package sockguard\ndecision := {\"allow\": time.now_ns() > 0}\n";
        let bundle = Bundle::from_files("t", vec![SourceFile { path: "p.rego".into(), text: timed.into() }]).unwrap();
        let p = Policy::compile(&bundle, CompileOptions { cache_capacity: 8, ..CompileOptions::default() }).unwrap();
        assert!(!p.caches_decisions());
        assert!(p.cache_unavailable.as_deref().unwrap_or("").contains("time.now_ns"));
    }

    #[test]
    fn runaway_policies_are_cut_off() {
        let p = policy(
            "package sockguard\n\
             decision := {\"allow\": count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) > 0}\n",
        );
        let started = std::time::Instant::now();
        assert!(p.evaluate(json!({})).is_err());
        assert!(p.evaluate_interpreted(json!({})).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn compile_errors_name_the_file() {
        let bundle =
            Bundle::from_files("t", vec![SourceFile { path: "bad.rego".into(), text: "package x\nallow if {".into() }])
                .unwrap();
        let err = Policy::compile(&bundle, CompileOptions::default()).unwrap_err();
        assert!(err.to_string().contains("bad.rego"), "{err}");
    }
}
