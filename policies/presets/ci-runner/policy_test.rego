package sockguard_test

import rego.v1

import data.sockguard

create(host) := {"request": {"action": "container.create", "body": {"Image": "ci", "HostConfig": host}, "bind_mounts": []}}

test_a_plain_job_container_is_allowed if {
	sockguard.decision.allow with input as create({"Binds": ["/builds/p:/builds/p"]})
}

test_each_guardrail_has_its_code if {
	cases := {
		"privileged_container": {"Privileged": true},
		"host_network": {"NetworkMode": "host"},
		"host_pid": {"PidMode": "host"},
		"host_ipc": {"IpcMode": "host"},
		"host_uts": {"UTSMode": "host"},
		"host_userns": {"UsernsMode": "host"},
		"host_cgroupns": {"CgroupnsMode": "host"},
		"capability_not_allowed": {"CapAdd": ["SYS_ADMIN"]},
		"devices_not_allowed": {"Devices": [{"PathOnHost": "/dev/sda"}]},
		"unconfined_security_opt": {"SecurityOpt": ["seccomp=unconfined"]},
		"volumes_from_denied": {"VolumesFrom": ["other"]},
	}
	every code, host in cases {
		d := sockguard.decision with input as create(host)
		d.code == code
	}
}

test_capabilities_match_without_prefix_or_case if {
	sockguard.decision.allow with input as create({"CapAdd": ["cap_chown", "NET_BIND_SERVICE"]})
	d := sockguard.decision with input as create({"CapAdd": ["cap_sys_admin"]})
	d.code == "capability_not_allowed"
	contains(d.message, "SYS_ADMIN")
}

test_binds_are_checked_against_the_prefixes if {
	outside := {"request": {"action": "container.create", "body": {"HostConfig": {}}, "bind_mounts": [{"source": "/etc"}]}}
	d := sockguard.decision with input as outside
	d.code == "bind_source_not_allowed"
	prefix_trick := {"request": {"action": "container.create", "body": {"HostConfig": {}}, "bind_mounts": [{"source": "/builds-evil"}]}}
	e := sockguard.decision with input as prefix_trick
	e.code == "bind_source_not_allowed"
	inside := {"request": {"action": "container.create", "body": {"HostConfig": {}}, "bind_mounts": [{"source": "/builds/x"}]}}
	sockguard.decision.allow with input as inside
}

test_the_allowlist_is_data if {
	d := sockguard.decision with input as create({"CapAdd": ["SYS_PTRACE"]})
	d.code == "capability_not_allowed"
	sockguard.decision.allow with input as create({"CapAdd": ["SYS_PTRACE"]})
		with data.ci_runner.allowed_capabilities as ["SYS_PTRACE"]
}

test_swarm_and_secrets_are_not_for_runners if {
	every action in ["secret.create", "swarm.init", "plugin.pull", "service.create", "unknown"] {
		d := sockguard.decision with input as {"request": {"action": action}}
		d.code == "not_allowed_for_ci"
	}
}
