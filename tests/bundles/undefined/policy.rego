# Test bundle: the decision is never defined, so every request must be denied with
# policy_undefined.
package sockguard

import rego.v1

decision := {"allow": true} if input.request.action == "no.such.action"
