package sockguard_test

import rego.v1

import data.sockguard

test_dashboard_reads_are_allowed if {
	every action in ["container.list", "container.stats", "container.logs", "system.df", "system.events"] {
		sockguard.decision.allow with input as {"request": {"action": action}}
	}
}

test_shells_and_copies_are_withheld if {
	every action, code in sockguard.withheld {
		d := sockguard.decision with input as {"request": {"action": action}}
		d.code == code
	}
}

test_writes_are_denied if {
	d := sockguard.decision with input as {"request": {"action": "container.delete"}}
	d.code == "write_denied"
}
