//! `sockguard check`: validate the configuration, load and compile the bundle (with its tests),
//! read its request cases, and report what it found or every error with its location. Runs
//! nothing and listens nowhere.

use super::serve::{configure, load_bundle, ServeArgs};
use crate::authoring::cases::CaseFile;
use crate::authoring::rego_tests;
use crate::policy::{CompileOptions, Evaluator, Policy};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// YAML configuration file [env: SOCKGUARD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Policy bundle directory [default: the configured one, else the embedded default]
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<String>,
    /// A preset compiled into the binary
    #[arg(long, value_name = "NAME", conflicts_with = "bundle")]
    pub preset: Option<String>,
    /// Verify the bundle archive with this cosign public key
    #[arg(long, value_name = "PUB.pem")]
    pub bundle_key: Option<String>,
    /// Check an unsigned archive anyway
    #[arg(long)]
    pub allow_unsigned: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let serve = ServeArgs {
        config: args.config,
        bundle: args.bundle,
        preset: args.preset,
        bundle_key: args.bundle_key,
        allow_unsigned: args.allow_unsigned,
        ..ServeArgs::default()
    };
    let config = match configure(&serve) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sockguard check: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let loaded = match runtime.block_on(load_bundle(&config)) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("sockguard check: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let bundle = loaded.bundle;
    let policy = match Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() }) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("sockguard check: {}: {e}", bundle.source);
            return Ok(ExitCode::from(1));
        }
    };
    let mut cases = 0;
    for file in &bundle.cases {
        match CaseFile::parse(&file.text) {
            Ok(parsed) => cases = parsed.cases.len().saturating_add(cases),
            Err(e) => {
                eprintln!("sockguard check: {}/{}: {e}", bundle.source, file.path);
                return Ok(ExitCode::from(1));
            }
        }
    }
    let evaluator = match policy.evaluator() {
        Evaluator::Vm => "the bytecode VM".to_owned(),
        Evaluator::Interpreter => {
            format!("the interpreter ({})", policy.vm_unavailable.as_deref().unwrap_or("the VM cannot compile it"))
        }
    };
    println!(
        "configuration: ok ({} listener(s), upstream {}, mode {})",
        config.listen.len(),
        config.upstream,
        config.mode.as_str()
    );
    if let Some(signer) = &loaded.signer {
        println!("signature: ok ({signer}{})", loaded.digest.map(|d| format!(", {d}")).unwrap_or_default());
    }
    println!(
        "bundle: ok ({}, revision {:?}, entrypoint {}, {} policy file(s), {} test rule(s), {} request case(s), served by {evaluator})",
        bundle.source,
        bundle.revision,
        bundle.entrypoint,
        bundle.modules.len(),
        rego_tests::discover(&bundle.tests).len(),
        cases,
    );
    Ok(ExitCode::SUCCESS)
}
