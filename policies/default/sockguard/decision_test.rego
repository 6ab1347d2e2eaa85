package sockguard_test

import rego.v1

import data.sockguard

req(action) := {"request": {"action": action, "method": "GET", "path": "/x"}}

test_reads_are_allowed if {
	every action in ["system.ping", "system.version", "container.list", "container.logs", "image.inspect", "system.events"] {
		sockguard.decision.allow with input as req(action)
	}
}

test_writes_are_denied_as_writes if {
	every action in ["container.create", "container.delete", "exec.start", "image.pull", "image.build", "volume.create", "swarm.init"] {
		d := sockguard.decision with input as req(action)
		d.allow == false
		d.code == "write_denied"
		contains(d.message, action)
	}
}

test_exfiltration_reads_have_their_own_codes if {
	codes := {action: d.code |
		some action in ["container.archive.get", "container.export", "image.save", "secret.inspect", "config.list", "swarm.unlockkey", "container.attach", "plugin.privileges"]
		d := sockguard.decision with input as req(action)
		d.allow == false
	}
	codes == {
		"container.archive.get": "container_archive_denied",
		"container.export": "container_export_denied",
		"image.save": "image_save_denied",
		"secret.inspect": "secret_read_denied",
		"config.list": "config_read_denied",
		"swarm.unlockkey": "swarm_unlockkey_denied",
		"container.attach": "container_attach_denied",
		"plugin.privileges": "plugin_privileges_denied",
	}
}

test_unknown_is_denied if {
	d := sockguard.decision with input as req("unknown")
	d.code == "unknown_action"
}

test_container_inspect_redacts_the_environment if {
	d := sockguard.decision with input as req("container.inspect")
	d.allow
	d.redact == ["Config.Env"]
}

test_the_table_allows_reads_and_denies_copies_out if {
	allowed := {action | some action, d in data.sockguard_default.decisions; d.allow}
	denied := {action | some action, d in data.sockguard_default.decisions; not d.allow}
	count(allowed) > 30
	count(denied) == 12
	every action in denied {
		endswith(data.sockguard_default.decisions[action].code, "_denied")
	}
}
