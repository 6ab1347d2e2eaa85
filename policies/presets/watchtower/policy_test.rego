package sockguard_test

import rego.v1

import data.sockguard

create(name, host) := {"request": {"action": "container.create", "resource": {"name": name}, "body": {"HostConfig": host}}}

test_the_update_cycle_is_allowed if {
	every action in ["image.pull", "container.stop", "container.delete", "container.start", "image.delete", "network.connect"] {
		sockguard.decision.allow with input as {"request": {"action": action}}
	}
	sockguard.decision.allow with input as create("web", {"Binds": ["/srv:/srv"]})
}

test_elevated_recreates_need_the_name_listed if {
	d := sockguard.decision with input as create("vpn", {"NetworkMode": "host"})
	d.code == "privileged_container"
	sockguard.decision.allow with input as create("vpn", {"NetworkMode": "host"})
		with data.watchtower.privileged_names as ["vpn"]
}

test_hooks_follow_the_setting if {
	d := sockguard.decision with input as {"request": {"action": "exec.start"}}
	d.code == "lifecycle_hooks_disabled"
	sockguard.decision.allow with input as {"request": {"action": "exec.start"}} with data.watchtower.lifecycle_hooks as true
}

test_the_rest_is_denied if {
	every action in ["container.archive.get", "secret.list", "image.build", "unknown"] {
		d := sockguard.decision with input as {"request": {"action": action}}
		d.code == "not_needed_by_watchtower"
	}
}
