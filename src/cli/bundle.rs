//! `sockguard bundle`: build bundle archives.

use crate::bundle::{archive, digest};
use crate::policy::{Bundle, CompileOptions, Policy};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Pack a bundle directory into a deterministic .tar.gz (refused if it does not compile)
    Build {
        /// The bundle directory
        dir: PathBuf,
        /// Where to write the archive
        #[arg(short, long, value_name = "OUT.tar.gz")]
        output: PathBuf,
    },
}

pub fn run(args: BundleArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BundleCommand::Build { dir, output } => build(&dir, &output),
    }
}

fn build(dir: &Path, output: &Path) -> anyhow::Result<ExitCode> {
    let files = archive::files_of(dir)?;
    let bundle = Bundle::from_files(&dir.display().to_string(), files.clone())?;
    Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() })
        .with_context(|| format!("{} does not compile; no archive written", dir.display()))?;
    let bytes = archive::pack(&files)?;
    write_atomically(output, &bytes)?;
    println!("{} {} ({} files, revision {:?})", digest(&bytes), output.display(), files.len(), bundle.revision);
    Ok(ExitCode::SUCCESS)
}

/// Write a file in one step: to a temporary name beside it, then renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}
