//! The VM/interpreter parity check a bundle gets at load.
//!
//! regorus' bytecode VM serves requests; its interpreter is the reference. The two disagree in a
//! few corners of the language (see the README), so before the VM serves a bundle, every request
//! case the bundle ships is decided both ways. If any case disagrees, the bundle is served by
//! the interpreter instead — slower, never wrong in that way — and the cases are named in the log.

use super::cases::{run_case, CaseFile};
use crate::policy::{Bundle, Policy};
use crate::proxy::Limits;
use std::path::Path;

/// The names of the bundle's request cases on which the VM and the interpreter disagree.
/// `root` is the bundle directory (for cases that read their body from a file), if it has one.
pub fn disagreements(policy: &Policy, bundle: &Bundle, root: Option<&Path>) -> Vec<String> {
    let mut found = Vec::new();
    for file in &bundle.cases {
        let Ok(cases) = CaseFile::parse(&file.text) else { continue };
        let base = root.map(|r| r.join(&file.path)).and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
        for case in &cases.cases {
            let vm = run_case(case, &base, &Limits::default(), &mut |i| policy.evaluate(i));
            let interpreted = run_case(case, &base, &Limits::default(), &mut |i| policy.evaluate_interpreted(i));
            if vm.observed != interpreted.observed {
                found.push(format!("{}: {}", file.path, case.name));
            }
        }
    }
    found
}
