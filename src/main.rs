//! The `sockguard` binary: parse the command line, run one command, map the result to an
//! exit code. Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = sockguard::cli::Cli::parse();
    match sockguard::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockguard: {e:#}");
            ExitCode::from(1)
        }
    }
}
