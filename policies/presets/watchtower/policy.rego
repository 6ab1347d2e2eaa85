# Preset `watchtower`: what Watchtower needs to keep containers up to date.
#
# Watchtower lists and inspects containers and images, pulls new images, then stops, removes and
# recreates each updated container with its old configuration, reconnects its networks and
# cleans up the old image. That is allowed. A recreated container may not gain privileged mode
# or host namespaces unless its name is listed in data.watchtower.privileged_names, and execs
# (lifecycle hooks) are allowed only when data.watchtower.lifecycle_hooks is true.
package sockguard

import rego.v1

action := input.request.action

settings := data.watchtower

needed := {
	"system.ping", "system.version", "system.info", "system.events",
	"container.list", "container.inspect", "image.list", "image.inspect", "distribution.inspect",
	"image.pull", "image.delete", "image.tag",
	"container.create", "container.start", "container.stop", "container.kill", "container.restart",
	"container.delete", "container.rename", "container.wait",
	"network.list", "network.inspect", "network.connect", "network.disconnect",
}

hooks := {"container.exec", "exec.start", "exec.inspect"}

host := input.request.body.HostConfig if {
	is_object(input.request.body.HostConfig)
} else := {}

name := input.request.resource.name

decision := {"allow": true} if {
	hooks[action]
	settings.lifecycle_hooks == true
} else := {
	"allow": false,
	"code": "lifecycle_hooks_disabled",
	"message": "lifecycle hook execs are disabled (data.watchtower.lifecycle_hooks)",
} if {
	hooks[action]
} else := {
	"allow": false,
	"code": "not_needed_by_watchtower",
	"message": sprintf("the watchtower preset does not allow %s", [action]),
} if {
	not needed[action]
} else := {
	"allow": false,
	"code": "privileged_container",
	"message": sprintf("%s would be recreated with privileged mode or a host namespace; list it in data.watchtower.privileged_names to allow that", [name]),
} if {
	action == "container.create"
	elevated
	not name in settings.privileged_names
} else := {"allow": true}

elevated if host.Privileged == true

elevated if {
	some field in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"]
	host[field] == "host"
}
