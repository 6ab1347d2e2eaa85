# Test bundle: allow everything except privileged containers, however the flag is spelled.
package sockguard

import rego.v1

decision := {
	"allow": false,
	"code": "privileged_container",
	"message": "privileged containers are not allowed",
} if {
	input.request.action in {"container.create", "container.start"}
	input.request.body.HostConfig.Privileged == true
} else := {"allow": true}
