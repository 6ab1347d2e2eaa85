# Preset `monitoring`: dashboards and monitoring agents (a Portainer agent without its
# management side, cAdvisor-style exporters, Dozzle, Glances).
#
# Every read a dashboard shows — lists, inspects, logs, stats, top, events, disk usage — and no
# writes, no shells (exec, attach), no copies (archive, export, image save) and no swarm secrets,
# configs or unlock key. Environments are removed from inspects.
package sockguard

import rego.v1

action := input.request.action

reads := {
	"system.ping", "system.version", "system.info", "system.events", "system.df",
	"container.list", "container.inspect", "container.logs", "container.stats", "container.top", "container.changes",
	"image.list", "image.inspect", "image.history",
	"network.list", "network.inspect", "volume.list", "volume.inspect",
	"swarm.inspect", "node.list", "node.inspect", "service.list", "service.inspect", "service.logs",
	"task.list", "task.inspect", "task.logs", "plugin.list",
}

redactions := {
	"container.inspect": ["Config.Env"],
	"service.inspect": ["Spec.TaskTemplate.ContainerSpec.Env"],
	"service.list": ["[*].Spec.TaskTemplate.ContainerSpec.Env"],
	"task.inspect": ["Spec.ContainerSpec.Env"],
	"task.list": ["[*].Spec.ContainerSpec.Env"],
}

# Reads a dashboard does not need because they hand out a shell or copy data out.
withheld := {
	"container.attach": "container_attach_denied", "container.attach.ws": "container_attach_denied",
	"container.archive.get": "container_archive_denied", "container.archive.head": "container_archive_denied",
	"container.export": "container_export_denied", "image.save": "image_save_denied",
	"secret.list": "secret_read_denied", "secret.inspect": "secret_read_denied",
	"config.list": "config_read_denied", "config.inspect": "config_read_denied",
	"swarm.unlockkey": "swarm_unlockkey_denied",
	"container.exec": "exec_denied", "exec.start": "exec_denied",
}

decision := {"allow": true, "redact": redactions[action]} if {
	reads[action]
	redactions[action]
} else := {"allow": true} if {
	reads[action]
} else := {
	"allow": false,
	"code": withheld[action],
	"message": sprintf("the monitoring preset does not allow %s", [action]),
} if {
	withheld[action]
} else := {
	"allow": false,
	"code": "write_denied",
	"message": sprintf("the monitoring preset is read-only; %s is not allowed", [action]),
}
