# Preset `traefik`: what Traefik's Docker and Swarm providers read, and nothing else.
#
# Traefik discovers routes from container and service labels: it negotiates the version, lists
# and inspects containers, follows events, and in swarm mode lists services, tasks, networks and
# nodes. Everything else is denied with `not_needed_by_traefik`. Environments are removed from
# inspects: Traefik reads labels, never environment variables.
package sockguard

import rego.v1

action := input.request.action

needed := {
	"system.ping", "system.version", "system.info", "system.events",
	"container.list", "container.inspect",
	"network.list", "network.inspect",
	"service.list", "service.inspect", "task.list", "node.list", "node.inspect",
}

redactions := {
	"container.inspect": ["Config.Env"],
	"service.inspect": ["Spec.TaskTemplate.ContainerSpec.Env"],
	"service.list": ["[*].Spec.TaskTemplate.ContainerSpec.Env"],
	"task.list": ["[*].Spec.ContainerSpec.Env"],
}

decision := {"allow": true, "redact": redactions[action]} if {
	needed[action]
	redactions[action]
} else := {"allow": true} if {
	needed[action]
} else := {
	"allow": false,
	"code": "not_needed_by_traefik",
	"message": sprintf("the traefik preset allows only what Traefik's providers read; %s is not among them", [action]),
}
