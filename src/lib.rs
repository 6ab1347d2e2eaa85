//! sockguard — a policy-enforcing proxy for the Docker Engine API socket.
//!
//! A client talks to sockguard's socket exactly as it would talk to `/var/run/docker.sock`.
//! Every request is turned into a JSON input document, evaluated by embedded Rego (regorus)
//! against a policy bundle, and the decision forwards it, denies it with a Docker-shaped error,
//! or redacts what comes back.
//!
//! # Layout
//!
//! The modules follow the request path, so one request can be traced from accept to upstream
//! by names alone:
//!
//! | module | concept |
//! |---|---|
//! | [`server`] | listeners (unix / tcp), socket ownership and mode, accept loop, worker threads, graceful shutdown, the admin listener |
//! | [`identity`] | who is calling: peer credentials, remote address → `input.client` |
//! | [`input`] | the input document: route table, path canonicalisation, body folding, document |
//! | [`policy`] | bundles (directories, the embedded default and presets), the compiled engine (VM for serving, interpreter for tests), decision, permit |
//! | [`proxy`] | the request handler, forwarding, upgrade hijack, response redaction |
//! | [`deny`] | the one mapping from a denial or an error to status, reason code and body |
//! | [`reason`] | the registry of reason codes produced by sockguard itself |
//! | [`audit`] | one JSON line per decision |
//! | [`bundle`] | bundle distribution: deterministic archives, cosign keys, signing and offline verification, OCI registries and HTTPS sources, loading the serving bundle |
//! | [`authoring`] | `sockguard test`: Rego tests, request cases through the serving code path, VM/interpreter parity, coverage, reports |
//! | [`config`] | YAML file + `SOCKGUARD_*` environment + flags → a validated [`config::Config`] |
//! | [`cli`] | one file per subcommand; `main.rs` only dispatches |

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod audit;
pub mod authoring;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod deny;
pub mod identity;
pub mod input;
pub mod json;
pub mod policy;
pub mod proxy;
pub mod reason;
pub mod server;
