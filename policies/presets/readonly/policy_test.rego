package sockguard_test

import rego.v1

import data.sockguard

req(method, action) := {"request": {"method": method, "action": action, "path": "/x"}}

test_reads_are_allowed if {
	every action in ["system.ping", "container.list", "container.inspect", "container.logs", "image.inspect", "system.events"] {
		sockguard.decision.allow with input as req("GET", action)
	}
}

test_head_is_a_read if {
	sockguard.decision.allow with input as req("HEAD", "system.ping")
}

test_every_other_method_is_denied if {
	every method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
		d := sockguard.decision with input as req(method, "container.list")
		d.code == "method_not_allowed"
	}
}

test_blocked_reads_have_their_codes if {
	codes := {action: d.code |
		some action, _ in sockguard.blocked
		d := sockguard.decision with input as req("GET", action)
	}
	codes == sockguard.blocked
}

test_unknown_reads_are_denied if {
	d := sockguard.decision with input as req("GET", "unknown")
	d.code == "unknown_action"
}
