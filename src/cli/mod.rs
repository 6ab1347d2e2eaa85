//! The command line: one file per subcommand. Arguments are parsed in two stages: clap turns
//! the command line into plain values with no I/O, then each subcommand builds what it needs
//! from them (for `serve`, through [`crate::config`]).

pub mod bundle;
pub mod check;
pub mod eval;
pub mod serve;
pub mod test;
pub mod version;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// sockguard — a policy-enforcing proxy for the Docker Engine API socket.
#[derive(Debug, Parser)]
#[command(name = "sockguard", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the guarded Docker API socket.
    Serve(Box<serve::ServeArgs>),
    /// Run the Rego tests and request cases of policy bundles.
    Test(test::TestArgs),
    /// Decide one request and print its input document and decision.
    Eval(Box<eval::EvalArgs>),
    /// Validate the configuration and compile the bundle; run nothing.
    Check(check::CheckArgs),
    /// Build policy bundle archives.
    Bundle(bundle::BundleArgs),
    /// Print version information.
    Version,
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Test(args) => test::run(args),
        Command::Eval(args) => eval::run(*args),
        Command::Check(args) => check::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Version => Ok(version::run()),
    }
}
