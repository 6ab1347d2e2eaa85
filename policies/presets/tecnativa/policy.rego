# Preset `tecnativa`: a drop-in for Tecnativa/docker-socket-proxy.
#
# The same environment variables with the same defaults (declared in .manifest, read once at
# start and handed to the policy as data.env): every API section is off unless its variable is
# set (EVENTS, PING and VERSION are on), only GET and HEAD are allowed unless POST=1, and
# ALLOW_START, ALLOW_STOP and ALLOW_RESTARTS open container lifecycle calls without opening all
# of /containers. A variable is on when it is a non-zero number, as in HAProxy's `-m bool`.
#
# Where Tecnativa matches path prefixes with regular expressions on the decoded URL, this
# policy matches the first segment of the canonical path and the named action, so a path that
# the engine routes to another section cannot slip through a prefix.
package sockguard

import rego.v1

on(name) if {
	value := trim_space(data.env[name])
	regex.match(`^[+-]?[0-9]+$`, value)
	to_number(value) != 0
}

read if input.request.method in {"GET", "HEAD"}

section := input.request.segments[0]

# The variable that opens each top-level section of the API.
sections := {
	"auth": "AUTH", "build": "BUILD", "commit": "COMMIT", "configs": "CONFIGS", "containers": "CONTAINERS",
	"distribution": "DISTRIBUTION", "events": "EVENTS", "exec": "EXEC", "grpc": "GRPC", "images": "IMAGES",
	"info": "INFO", "networks": "NETWORKS", "nodes": "NODES", "_ping": "PING", "plugins": "PLUGINS",
	"secrets": "SECRETS", "services": "SERVICES", "session": "SESSION", "swarm": "SWARM", "system": "SYSTEM",
	"tasks": "TASKS", "version": "VERSION", "volumes": "VOLUMES",
}

# Loops stay out of the bodies of the else chain above: regorus' VM (0.14) does not fall
# through to `else` when a loop in a body finds nothing.
lifecycle_allowed if {
	some flag in lifecycle[input.request.action]
	on(flag)
}

# Container lifecycle calls each flag opens, even with CONTAINERS=0.
lifecycle := {
	"container.stop": ["ALLOW_RESTARTS", "ALLOW_STOP"],
	"container.restart": ["ALLOW_RESTARTS"],
	"container.kill": ["ALLOW_RESTARTS"],
	"container.start": ["ALLOW_START"],
}

decision := {
	"allow": false,
	"code": "method_not_allowed",
	"message": sprintf("%s is not allowed: POST=0 allows only GET and HEAD", [input.request.method]),
} if {
	not read
	not on("POST")
} else := {"allow": true} if {
	lifecycle_allowed
} else := {"allow": true} if {
	on(sections[section])
} else := {
	"allow": false,
	"code": "section_disabled",
	"message": sprintf("/%s is disabled: set %s=1 to allow it", [section, sections[section]]),
} if {
	sections[section]
} else := {
	"allow": false,
	"code": "unknown_action",
	"message": sprintf("%s %s is not a Docker Engine API endpoint", [input.request.method, input.request.path]),
}
