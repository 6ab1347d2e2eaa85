# Preset `ci-runner`: GitLab, Jenkins, Woodpecker or Drone-style runners.
#
# A runner pulls and builds images, creates, starts, attaches to and removes job containers,
# execs into them and copies files in and out. That is allowed; what a job's container may get
# from the host is not: no privileged mode, no host network, PID, IPC, UTS, user or cgroup
# namespace, no capabilities beyond data.ci_runner.allowed_capabilities, no devices, no
# unconfined seccomp/AppArmor/SELinux, bind mounts only below data.ci_runner.bind_prefixes, and
# no --volumes-from. Each guardrail denies with its own code. Swarm, secrets, configs, plugins
# and nodes are not for runners.
package sockguard

import rego.v1

action := input.request.action

settings := data.ci_runner

allowed := {
	"system.ping", "system.version", "system.info", "system.events", "system.auth", "system.df",
	"container.list", "container.inspect", "container.logs", "container.stats", "container.top", "container.wait",
	"container.create", "container.start", "container.stop", "container.kill", "container.restart",
	"container.delete", "container.rename", "container.resize", "container.attach", "container.prune",
	"container.commit", "container.update", "container.changes",
	"container.archive.get", "container.archive.head", "container.archive.put",
	"container.exec", "exec.start", "exec.inspect", "exec.resize",
	"image.list", "image.inspect", "image.history", "image.pull", "image.build", "image.tag", "image.push",
	"image.delete", "image.prune", "image.save", "image.load", "build.prune", "build.cancel", "build.session",
	"network.list", "network.inspect", "network.create", "network.delete", "network.connect", "network.disconnect",
	"network.prune", "volume.list", "volume.inspect", "volume.create", "volume.delete", "volume.prune",
}

# Actions whose body can ask the host for something.
guarded := {"container.create", "container.start", "container.exec", "volume.create"}

host := input.request.body.HostConfig if {
	is_object(input.request.body.HostConfig)
} else := {}

decision := {
	"allow": false,
	"code": "not_allowed_for_ci",
	"message": sprintf("the ci-runner preset does not allow %s", [action]),
} if {
	not allowed[action]
} else := violation if {
	guarded[action]
	violation
} else := {"allow": true}

deny(code, message) := {"allow": false, "code": code, "message": message}

violation := deny("privileged_container", "privileged containers are not allowed for CI jobs") if {
	host.Privileged == true
} else := deny("host_network", "CI jobs cannot use the host network") if {
	host.NetworkMode == "host"
} else := deny("host_pid", "CI jobs cannot use the host PID namespace") if {
	host.PidMode == "host"
} else := deny("host_ipc", "CI jobs cannot use the host IPC namespace") if {
	host.IpcMode == "host"
} else := deny("host_uts", "CI jobs cannot use the host UTS namespace") if {
	host.UTSMode == "host"
} else := deny("host_userns", "CI jobs cannot use the host user namespace") if {
	host.UsernsMode == "host"
} else := deny("host_cgroupns", "CI jobs cannot use the host cgroup namespace") if {
	host.CgroupnsMode == "host"
} else := deny("capability_not_allowed", sprintf("capabilities not in the allowlist: %s", [concat(", ", sort(extra_capabilities))])) if {
	count(extra_capabilities) > 0
} else := deny("devices_not_allowed", "CI jobs cannot map host devices") if {
	maps_devices
} else := deny("unconfined_security_opt", sprintf("security option %s is not allowed", [unconfined_options[0]])) if {
	count(unconfined_options) > 0
} else := deny("bind_source_not_allowed", sprintf("bind mounts outside %s: %s", [concat(", ", settings.bind_prefixes), concat(", ", sort(foreign_binds))])) if {
	count(foreign_binds) > 0
} else := deny("volumes_from_denied", "CI jobs cannot mount the volumes of other containers") if {
	nonempty(host.VolumesFrom)
} else := deny("privileged_exec", "privileged execs are not allowed for CI jobs") if {
	action == "container.exec"
	input.request.body.Privileged == true
}

# Loops stay out of the bodies of the else chains above: regorus' VM (0.14) does not fall
# through to `else` when a loop in a body finds nothing.
maps_devices if {
	some field in ["Devices", "DeviceRequests", "DeviceCgroupRules"]
	nonempty(host[field])
}

nonempty(x) if {
	is_array(x)
	count(x) > 0
}

# CapAdd entries are matched without the CAP_ prefix and case: CAP_SYS_ADMIN is sys_admin.
extra_capabilities contains cap if {
	some raw in host.CapAdd
	cap := trim_prefix(upper(raw), "CAP_")
	not cap in settings.allowed_capabilities
}

unconfined_options := [opt |
	some opt in host.SecurityOpt
	unconfined(lower(opt))
]

unconfined(opt) if {
	some prefix in ["seccomp", "apparmor", "systempaths"]
	opt in {sprintf("%s=unconfined", [prefix]), sprintf("%s:unconfined", [prefix])}
}

unconfined(opt) if opt in {"label=disable", "label:disable"}

foreign_binds contains mount.source if {
	some mount in input.request.bind_mounts
	not under_prefix(mount.source)
}

under_prefix(path) if {
	some prefix in settings.bind_prefixes
	path == prefix
}

under_prefix(path) if {
	some prefix in settings.bind_prefixes
	startswith(path, concat("", [prefix, "/"]))
}
