# The embedded default policy: read-only access to the Docker Engine API.
#
# Reads are allowed; every write is denied; reads that copy data out of containers, images or
# the swarm (archives, exports, image saves, secrets, configs, the unlock key, attach) are
# denied, each with its own reason code; unknown endpoints are denied; environment variables
# are removed from inspect responses, where credentials usually live.
#
# The decision of every known read is one entry of a constant table keyed by action
# (sockguard_default/data.json, which is data: looked up, never rebuilt per request), so a request
# touches only the entry that concerns it.
package sockguard

import rego.v1

action := input.request.action

decision := data.sockguard_default.decisions[action] if {
	data.sockguard_default.decisions[action]
} else := {
	"allow": false,
	"code": "unknown_action",
	"message": sprintf("%s %s is not a Docker Engine API endpoint that sockguard knows", [input.request.method, input.request.path]),
} if {
	action == "unknown"
} else := {
	"allow": false,
	"code": "write_denied",
	"message": sprintf("the default policy is read-only; %s is a write", [action]),
}
