//! The decision step: the only place a [`Permit`] to forward a request is made.
//!
//! Forwarding (`proxy::forward`) takes a `Permit`, and a `Permit` can only be constructed here,
//! from an evaluated and validated decision. "Forward without a decision" therefore does not
//! compile. Every other outcome — an undefined, erroring or malformed decision, or a deny in
//! enforce mode — is a [`Denial`].
//!
//! Modes: the effective mode of a deny is the less strict of the global `--mode` and the
//! decision's own `mode`. An operator rolling out a new bundle with `--mode audit` blocks nothing;
//! a policy author trialling one rule with `mode: warn` does not weaken the others.

use super::decision::{Decision, DecisionError, FieldPath, Mode};
use super::engine::EvalError;
use crate::deny::Denial;
use crate::reason::Reason;

/// Leave to forward one request.
#[derive(Debug)]
pub struct Permit {
    redact: Vec<FieldPath>,
    outcome: Outcome,
    annotations: serde_json::Map<String, serde_json::Value>,
}

/// What the audit log records for a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allowed {
        code: Option<String>,
        message: Option<String>,
    },
    /// Denied by the policy, forwarded because of the mode.
    WouldDeny {
        code: String,
        message: String,
        mode: Mode,
    },
}

impl Permit {
    /// Fields to remove from the JSON response.
    pub fn redact(&self) -> &[FieldPath] {
        &self.redact
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub fn annotations(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.annotations
    }
}

/// The decision step's result.
#[derive(Debug)]
pub enum Verdict {
    Forward(Permit),
    Deny(Denial, serde_json::Map<String, serde_json::Value>),
}

/// Turn an evaluation result into a verdict.
pub fn decide(result: Result<Option<serde_json::Value>, EvalError>, global: Mode) -> Verdict {
    let decision = match result {
        Err(e) => return deny(Denial::because(Reason::PolicyError, format!("the policy failed to evaluate: {e}"))),
        Ok(None) => return deny(Denial::because(Reason::PolicyUndefined, "the policy returned no decision")),
        Ok(Some(value)) => Decision::from_json(&value),
    };
    let decision = match decision {
        Ok(d) => d,
        Err(DecisionError::Undefined) => {
            return deny(Denial::because(Reason::PolicyUndefined, "the policy returned no decision"))
        }
        Err(e @ DecisionError::Malformed(_)) => {
            return deny(Denial::because(Reason::PolicyError, format!("the policy returned a {e}")))
        }
    };
    let Decision { allow, code, message, status, mode, redact, annotations } = decision;
    if allow {
        return Verdict::Forward(Permit { redact, outcome: Outcome::Allowed { code, message }, annotations });
    }
    let effective = mode.map_or(global, |m| m.min(global));
    let denial = Denial::by_policy(code, message, status);
    match effective {
        Mode::Enforce => Verdict::Deny(denial, annotations),
        Mode::Warn | Mode::Audit => Verdict::Forward(Permit {
            redact,
            outcome: Outcome::WouldDeny { code: denial.code.into_owned(), message: denial.message, mode: effective },
            annotations,
        }),
    }
}

/// Forward a request whatever its verdict, recording a deny as `would_deny`.
///
/// Only for the version-negotiation endpoints (`/_ping`, unversioned `GET /version`): clients ask
/// them first and picks its API version from their headers, so a denied ping does not stop a
/// client, it makes it fall back to a version the engine refuses, and the user sees a version
/// error instead of the policy's message. They reveal nothing a policy could protect.
pub fn negotiation(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Forward(permit) => Verdict::Forward(permit),
        Verdict::Deny(denial, annotations) => Verdict::Forward(Permit {
            redact: Vec::new(),
            outcome: Outcome::WouldDeny { code: denial.code.into_owned(), message: denial.message, mode: Mode::Audit },
            annotations,
        }),
    }
}

fn deny(denial: Denial) -> Verdict {
    Verdict::Deny(denial, serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verdict(value: serde_json::Value, global: Mode) -> Verdict {
        decide(Ok(Some(value)), global)
    }

    #[test]
    fn allow_forwards_with_its_redactions() {
        let Verdict::Forward(p) = verdict(json!({"allow": true, "redact": ["Config.Env"]}), Mode::Enforce) else {
            panic!()
        };
        assert_eq!(p.redact()[0].text, "Config.Env");
        assert!(matches!(p.outcome(), Outcome::Allowed { .. }));
    }

    #[test]
    fn deny_in_enforce_mode_is_a_denial_with_the_policy_code() {
        let Verdict::Deny(d, _) = verdict(json!({"allow": false, "code": "x_denied", "status": 409}), Mode::Enforce)
        else {
            panic!()
        };
        assert_eq!(d.code, "x_denied");
        assert_eq!(d.status, 409);
        assert_eq!(d.reason, None);
    }

    #[test]
    fn the_less_strict_mode_wins() {
        let deny = json!({"allow": false, "code": "c"});
        let trial = json!({"allow": false, "code": "c", "mode": "warn"});
        let strict = json!({"allow": false, "code": "c", "mode": "enforce"});
        assert!(matches!(verdict(deny.clone(), Mode::Audit), Verdict::Forward(_)));
        assert!(matches!(verdict(trial.clone(), Mode::Enforce), Verdict::Forward(_)));
        assert!(matches!(verdict(strict, Mode::Audit), Verdict::Forward(_)));
        let Verdict::Forward(p) = verdict(trial, Mode::Audit) else { panic!() };
        assert!(matches!(p.outcome(), Outcome::WouldDeny { mode: Mode::Audit, .. }));
        assert!(matches!(verdict(deny, Mode::Enforce), Verdict::Deny(..)));
    }

    #[test]
    fn negotiation_endpoints_are_forwarded_even_when_denied() {
        let Verdict::Forward(p) = negotiation(decide(Ok(None), Mode::Enforce)) else { panic!() };
        assert!(matches!(p.outcome(), Outcome::WouldDeny { code, .. } if code == "policy_undefined"));
    }

    #[test]
    fn failures_deny_in_every_mode() {
        for mode in [Mode::Enforce, Mode::Warn, Mode::Audit] {
            let Verdict::Deny(d, _) = decide(Ok(None), mode) else { panic!() };
            assert_eq!(d.code, "policy_undefined");
            let Verdict::Deny(d, _) = decide(Err(EvalError("boom".into())), mode) else { panic!() };
            assert_eq!(d.code, "policy_error");
            let Verdict::Deny(d, _) = decide(Ok(Some(json!({"allow": 1}))), mode) else { panic!() };
            assert_eq!(d.code, "policy_error");
        }
    }
}
