package sockguard_test

import rego.v1

import data.sockguard

test_privileged_create_is_denied if {
	d := sockguard.decision with input as {"request": {"action": "container.create", "body": {"HostConfig": {"Privileged": true}}}}
	d.code == "privileged_container"
}

test_plain_create_is_allowed if {
	sockguard.decision.allow with input as {"request": {"action": "container.create", "body": {"Image": "busybox"}}}
}
