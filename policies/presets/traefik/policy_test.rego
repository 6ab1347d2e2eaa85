package sockguard_test

import rego.v1

import data.sockguard

test_discovery_reads_are_allowed if {
	every action in ["system.ping", "system.version", "container.list", "container.inspect", "system.events", "service.list"] {
		sockguard.decision.allow with input as {"request": {"action": action}}
	}
}

test_inspect_hides_the_environment if {
	d := sockguard.decision with input as {"request": {"action": "container.inspect"}}
	d.redact == ["Config.Env"]
}

test_everything_else_is_denied if {
	every action in ["container.create", "exec.start", "container.logs", "image.pull", "container.archive.get", "unknown"] {
		d := sockguard.decision with input as {"request": {"action": action}}
		d.code == "not_needed_by_traefik"
	}
}
