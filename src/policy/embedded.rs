//! The bundles compiled into the binary: the default bundle (`policies/default/`) and the
//! presets (`policies/presets/*`), so that `sockguard serve` and `serve --preset NAME` need
//! no files. `tests/policies.rs` checks that each one is its directory, file for file.

use super::bundle::{Bundle, BundleError, SourceFile};

/// `(path inside the bundle, contents)` of each file of an embedded bundle.
type Files = &'static [(&'static str, &'static str)];

macro_rules! files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/", $dir, "/", $file)))),+]
    };
}

const DEFAULT: Files = files!("default":
    ".manifest",
    "sockguard/decision.rego",
    "sockguard/decision_test.rego",
    "sockguard/default.cases.yaml",
    "sockguard_default/data.json",
);

/// The presets: name, who should use it, files.
pub const PRESETS: &[(&str, &str, Files)] = &[
    (
        "readonly",
        "GET and HEAD only, minus the reads that copy data out (11notes/docker-socket-proxy parity)",
        files!("presets/readonly": ".manifest", "policy.rego", "policy_test.rego", "readonly.cases.yaml"),
    ),
    (
        "tecnativa",
        "drop-in for Tecnativa/docker-socket-proxy: CONTAINERS=1, POST=0, ... environment variables",
        files!("presets/tecnativa": ".manifest", "policy.rego", "policy_test.rego", "tecnativa.cases.yaml"),
    ),
    (
        "traefik",
        "what Traefik's Docker and Swarm providers read, environments redacted",
        files!("presets/traefik": ".manifest", "policy.rego", "policy_test.rego", "traefik.cases.yaml"),
    ),
    (
        "watchtower",
        "pull, stop, remove and recreate containers, without gaining privileges",
        files!("presets/watchtower": ".manifest", "data.yaml", "policy.rego", "policy_test.rego", "watchtower.cases.yaml"),
    ),
    (
        "monitoring",
        "dashboards and agents (Portainer agent style): every read, no shells, copies or writes",
        files!("presets/monitoring": ".manifest", "monitoring.cases.yaml", "policy.rego", "policy_test.rego"),
    ),
    (
        "ci-runner",
        "CI runners: containers, builds and execs with guardrails on host access",
        files!("presets/ci-runner": ".manifest", "ci-runner.cases.yaml", "data.yaml", "policy.rego", "policy_test.rego"),
    ),
];

fn bundle(source: &str, files: Files) -> Result<Bundle, BundleError> {
    let files =
        files.iter().map(|(path, text)| SourceFile { path: (*path).to_owned(), text: (*text).to_owned() }).collect();
    Bundle::from_files(source, files)
}

/// The default bundle.
pub fn default_bundle() -> Result<Bundle, BundleError> {
    bundle("embedded:default", DEFAULT)
}

/// A preset by name; `None` for a name that is not one.
pub fn preset(name: &str) -> Option<Result<Bundle, BundleError>> {
    PRESETS.iter().find(|(n, _, _)| *n == name).map(|(n, _, files)| bundle(&format!("preset:{n}"), files))
}

/// The names of the presets.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _, _)| *n).collect()
}
