# A realistic policy for the benchmarks: profiles from the caller's uid, an allowlist of
# actions per profile, guardrails on container bodies (privileged mode, host namespaces,
# capabilities, devices, bind mounts, image registry, a required label), and redaction of
# environments and labels. About thirty rules, dispatching on the action.
package sockguard

import rego.v1

settings := data.bench

action := input.request.action

body := input.request.body if {
	is_object(input.request.body)
} else := {}

host := body.HostConfig if {
	is_object(body.HostConfig)
} else := {}

uid_key := sprintf("%d", [input.client.unix.uid])

# Conditions only in the bodies of an else chain: regorus' VM (0.14) does not fall through
# when a body's assignment or loop finds nothing.
profile := settings.profiles[uid_key] if {
	input.client.transport == "unix"
	settings.profiles[uid_key]
} else := "anonymous"

allowed_action if profile == "admin"

allowed_action if action in settings.profile_actions[profile]

redactions := {
	"container.inspect": ["Config.Env"],
	"container.list": ["[*].Labels"],
}

guarded := {"container.create", "container.start", "container.exec"}

decision := {
	"allow": false,
	"code": "action_not_in_profile",
	"message": sprintf("profile %s may not %s", [profile, action]),
} if {
	not allowed_action
} else := violation if {
	guarded[action]
	violation
} else := {"allow": true, "redact": redactions[action]} if {
	redactions[action]
} else := {"allow": true}

deny(code, message) := {"allow": false, "code": code, "message": message}

violation := deny("privileged_container", "privileged containers are not allowed") if {
	host.Privileged == true
} else := deny("host_namespace", "host namespaces are not allowed") if {
	uses_host_namespace
} else := deny("capability_not_allowed", "capability not in the allowlist") if {
	adds_capability
} else := deny("devices_not_allowed", "devices are not allowed") if {
	maps_devices
} else := deny("bind_source_not_allowed", "bind mount outside the allowed prefixes") if {
	foreign_bind
} else := deny("registry_not_allowed", sprintf("image %s is not from an allowed registry", [body.Image])) if {
	action == "container.create"
	not allowed_registry
} else := deny("label_required", "containers need a com.example.team label") if {
	action == "container.create"
	profile == "ci"
	not body.Labels["com.example.team"]
} else := deny("privileged_exec", "privileged execs are not allowed") if {
	action == "container.exec"
	body.Privileged == true
}

uses_host_namespace if {
	some field in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"]
	host[field] == "host"
}

adds_capability if {
	some raw in host.CapAdd
	not trim_prefix(upper(raw), "CAP_") in settings.allowed_capabilities
}

maps_devices if {
	some field in ["Devices", "DeviceRequests", "DeviceCgroupRules"]
	count(host[field]) > 0
}

foreign_bind if {
	some mount in input.request.bind_mounts
	not under_prefix(mount.source)
}

under_prefix(path) if {
	some prefix in settings.bind_prefixes
	startswith(concat("", [path, "/"]), concat("", [prefix, "/"]))
}

allowed_registry if {
	some prefix in settings.registries
	startswith(body.Image, prefix)
}
