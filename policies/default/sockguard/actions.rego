# Constant tables of the default policy, keyed by action name (see src/input/routes.rs).
package sockguard

import rego.v1

# Actions that only read state and copy nothing sensitive out.
reads := {
	"system.ping", "system.version", "system.info", "system.events", "system.df", "system.options",
	"container.list", "container.inspect", "container.changes", "container.top", "container.logs",
	"container.stats",
	"exec.inspect",
	"image.list", "image.inspect", "image.history", "image.search", "image.attestations",
	"distribution.inspect",
	"network.list", "network.inspect",
	"volume.list", "volume.inspect",
	"plugin.list", "plugin.inspect",
	"swarm.inspect",
	"node.list", "node.inspect",
	"service.list", "service.inspect", "service.logs",
	"task.list", "task.inspect", "task.logs",
}

# Fields removed from the JSON responses of some reads.
redactions := {
	"container.inspect": ["Config.Env"],
	"service.inspect": ["Spec.TaskTemplate.ContainerSpec.Env", "PreviousSpec.TaskTemplate.ContainerSpec.Env"],
	"service.list": ["[*].Spec.TaskTemplate.ContainerSpec.Env", "[*].PreviousSpec.TaskTemplate.ContainerSpec.Env"],
	"task.inspect": ["Spec.ContainerSpec.Env"],
	"task.list": ["[*].Spec.ContainerSpec.Env"],
}

# Reads that copy data out; each is denied with its own code.
exfiltration := {
	"container.archive.get": deny("container_archive_denied", "copying files out of containers is not allowed"),
	"container.archive.head": deny("container_archive_denied", "reading file metadata inside containers is not allowed"),
	"container.export": deny("container_export_denied", "exporting container filesystems is not allowed"),
	"image.save": deny("image_save_denied", "saving images to a tarball is not allowed"),
	"secret.list": deny("secret_read_denied", "reading swarm secrets is not allowed"),
	"secret.inspect": deny("secret_read_denied", "reading swarm secrets is not allowed"),
	"config.list": deny("config_read_denied", "reading swarm configs is not allowed"),
	"config.inspect": deny("config_read_denied", "reading swarm configs is not allowed"),
	"swarm.unlockkey": deny("swarm_unlockkey_denied", "reading the swarm unlock key is not allowed"),
	"container.attach": deny("container_attach_denied", "attaching to containers is not allowed"),
	"container.attach.ws": deny("container_attach_denied", "attaching to containers is not allowed"),
	"plugin.privileges": deny("plugin_privileges_denied", "plugin privilege queries are not allowed"),
}

deny(code, message) := {"allow": false, "code": code, "message": sprintf("%s by the default policy", [message])}
