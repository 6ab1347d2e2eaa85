# Test bundle: allow every request (for exercising forwarding with real clients).
package sockguard

import rego.v1

decision := {"allow": true}
