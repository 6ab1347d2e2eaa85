//! Policies: bundles are loaded ([`bundle`]), compiled once ([`engine`]), evaluated per request,
//! and the result is validated ([`decision`]) and turned into a permit to forward or a denial
//! ([`permit`]). [`judge`] is that whole step for one request; the proxy and the request cases
//! of `sockguard test` both call it, so they cannot disagree.

pub mod bundle;
pub mod cache;
pub mod decision;
pub mod embedded;
pub mod engine;
pub mod permit;

pub use bundle::Bundle;
pub use decision::{Decision, FieldPath, Mode};
pub use engine::{CompileOptions, Evaluator, Policy};
pub use permit::{decide, negotiation, Outcome, Permit, Verdict};

use crate::identity::Client;
use crate::input::{build, BodyInput, Classified, InputDocument};
use http::HeaderMap;

/// Which evaluator to use for one judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The serving path (the VM, or the interpreter when the VM cannot take the bundle).
    Serving,
    /// Always the interpreter.
    Interpreter,
}

/// A judged request: its input document (when one could be built) and the verdict.
#[derive(Debug)]
pub struct Judgement {
    pub input: Option<InputDocument>,
    /// The raw decision the policy returned, for explanations and case failures.
    pub decision: Option<serde_json::Value>,
    pub verdict: Verdict,
}

/// Everything known about one request before its document is built.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub request: &'a Classified,
    pub headers: &'a HeaderMap,
    pub body: BodyInput<'a>,
    pub client: &'a Client,
    pub request_id: &'a str,
}

/// Build the input document for a classified request and decide it.
pub fn judge(policy: &Policy, subject: Subject<'_>, mode: Mode, path: Path) -> Judgement {
    judge_with(subject, mode, Keep::Input, |input| match path {
        Path::Serving => policy.evaluate(input),
        Path::Interpreter => policy.evaluate_interpreted(input),
    })
}

/// Whether a judgement keeps the input document it built (authoring does, to show it; serving
/// does not, and hands it to the evaluator without a copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    Input,
    Nothing,
}

/// [`judge`] with a given evaluation (for `sockguard test`, which evaluates on one interpreter
/// that gathers coverage across every test and case, and for serving, which keeps nothing).
pub fn judge_with(
    subject: Subject<'_>,
    mode: Mode,
    keep: Keep,
    evaluate: impl FnOnce(serde_json::Value) -> Result<Option<serde_json::Value>, engine::EvalError>,
) -> Judgement {
    let Subject { request, headers, body, client, request_id } = subject;
    let input = match build(request, headers, body, client, request_id) {
        Ok(input) => input,
        Err(crate::input::document::InputError::Body(e)) => {
            let verdict = Verdict::Deny(e.into(), serde_json::Map::new());
            return Judgement { input: None, decision: None, verdict };
        }
    };
    let (kept, value) = match keep {
        Keep::Input => (Some(input.clone()), input.value),
        Keep::Nothing => (None, input.value),
    };
    let result = evaluate(value);
    let decision = match keep {
        Keep::Input => result.as_ref().ok().cloned().flatten(),
        Keep::Nothing => None,
    };
    let verdict = decide(result, mode);
    Judgement { input: kept, decision, verdict }
}
