# Preset `readonly`: parity with 11notes/docker-socket-proxy.
#
# Only GET and HEAD; of those, the reads that copy data out are blocked: the attach websocket,
# container export and archive, secrets, configs, the swarm unlock key and image save. Blocks
# are matched on the named action of the canonical path, so `GET /images/getmeili/json` is an
# image inspect, not an image save, and an encoded or dotted path cannot reach a blocked read.
package sockguard

import rego.v1

action := input.request.action

decision := {
	"allow": false,
	"code": "method_not_allowed",
	"message": sprintf("the readonly preset allows only GET and HEAD, not %s", [input.request.method]),
} if {
	not input.request.method in {"GET", "HEAD"}
} else := {
	"allow": false,
	"code": blocked[action],
	"message": sprintf("%s is blocked by the readonly preset", [action]),
} if {
	blocked[action]
} else := {
	"allow": false,
	"code": "unknown_action",
	"message": sprintf("%s %s is not a Docker Engine API endpoint", [input.request.method, input.request.path]),
} if {
	action == "unknown"
} else := {"allow": true}

blocked := {
	"container.attach.ws": "container_attach_denied",
	"container.export": "container_export_denied",
	"container.archive.get": "container_archive_denied",
	"container.archive.head": "container_archive_denied",
	"secret.list": "secret_read_denied",
	"secret.inspect": "secret_read_denied",
	"config.list": "config_read_denied",
	"config.inspect": "config_read_denied",
	"swarm.unlockkey": "swarm_unlockkey_denied",
	"image.save": "image_save_denied",
}
