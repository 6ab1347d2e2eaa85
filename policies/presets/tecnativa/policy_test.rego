package sockguard_test

import rego.v1

import data.sockguard

defaults := {
	"AUTH": "0", "BUILD": "0", "COMMIT": "0", "CONFIGS": "0", "CONTAINERS": "0", "DISTRIBUTION": "0",
	"EVENTS": "1", "EXEC": "0", "GRPC": "0", "IMAGES": "0", "INFO": "0", "NETWORKS": "0", "NODES": "0",
	"PING": "1", "PLUGINS": "0", "POST": "0", "SECRETS": "0", "SERVICES": "0", "SESSION": "0",
	"SWARM": "0", "SYSTEM": "0", "TASKS": "0", "VERSION": "1", "VOLUMES": "0",
	"ALLOW_START": "0", "ALLOW_STOP": "0", "ALLOW_RESTARTS": "0",
}

req(method, path, action) := {"request": {"method": method, "path": path, "action": action, "segments": split(trim_prefix(path, "/"), "/")}}

test_the_defaults_are_tecnativas if {
	data.env == defaults
}

test_ping_version_and_events_are_on_by_default if {
	sockguard.decision.allow with input as req("GET", "/_ping", "system.ping")
	sockguard.decision.allow with input as req("GET", "/version", "system.version")
	sockguard.decision.allow with input as req("GET", "/events", "system.events")
}

test_containers_are_off_by_default if {
	d := sockguard.decision with input as req("GET", "/containers/json", "container.list")
	d.code == "section_disabled"
	contains(d.message, "CONTAINERS=1")
}

test_containers_1_opens_reads_but_post_stays_closed if {
	env := object.union(defaults, {"CONTAINERS": "1"})
	sockguard.decision.allow with input as req("GET", "/containers/json", "container.list") with data.env as env
	d := sockguard.decision with input as req("POST", "/containers/create", "container.create") with data.env as env
	d.code == "method_not_allowed"
}

test_post_1_opens_writes_of_enabled_sections_only if {
	env := object.union(defaults, {"CONTAINERS": "1", "POST": "1"})
	sockguard.decision.allow with input as req("POST", "/containers/create", "container.create") with data.env as env
	d := sockguard.decision with input as req("POST", "/images/create", "image.pull") with data.env as env
	d.code == "section_disabled"
}

test_allow_restarts_opens_stop_restart_kill_but_not_start if {
	env := object.union(defaults, {"POST": "1", "ALLOW_RESTARTS": "1"})
	every action in ["container.stop", "container.restart", "container.kill"] {
		sockguard.decision.allow with input as req("POST", "/containers/c/x", action) with data.env as env
	}
	d := sockguard.decision with input as req("POST", "/containers/c/start", "container.start") with data.env as env
	d.code == "section_disabled"
}

test_a_word_is_not_a_true_value if {
	d := sockguard.decision with input as req("GET", "/containers/json", "container.list")
		with data.env as object.union(defaults, {"CONTAINERS": "true"})
	d.code == "section_disabled"
}
