# Test bundle: evaluating the decision exceeds the evaluation budget (instruction count and
# wall-clock limit), which is an evaluation error on both evaluators, so every request must be
# denied with policy_error.
package sockguard

import rego.v1

decision := {"allow": count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) > 0}
