//! `sockguard test`: run the Rego tests and request cases of bundles, like `opa test`.
//!
//! Exit codes follow `opa test`: 0 when everything passed, 1 when a bundle could not be loaded
//! or compiled (the message names `file:line:col`), 2 when a test failed or erred, or when
//! coverage is under `--threshold`.

use crate::authoring::{report, runner};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Bundles, directories or files to test [default: .]
    pub paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json", "junit"])]
    pub format: String,
    /// Report line coverage of the policies
    #[arg(long)]
    pub coverage: bool,
    /// Fail (exit 2) when total coverage is below this percentage (implies --coverage)
    #[arg(long, value_name = "PCT")]
    pub threshold: Option<f64>,
    /// Run only tests and cases whose name matches this regular expression
    #[arg(long, value_name = "REGEX")]
    pub run: Option<String>,
    /// Print the input document and decision of failing cases
    #[arg(short, long)]
    pub verbose: bool,
    /// Time limit of one test or case
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub timeout: String,
}

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let run = match &args.run {
        Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| anyhow::anyhow!("--run: {e}"))?),
        None => None,
    };
    let timeout = crate::config::parse_duration(&args.timeout).map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
    let options = runner::Options { run, coverage: args.coverage || args.threshold.is_some(), timeout };
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths.clone() };
    let outcome = runner::find(&paths).and_then(|targets| runner::run(&targets, &options));
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            eprintln!("sockguard test: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let text = match args.format.as_str() {
        "json" => report::json(&report),
        "junit" => report::junit(&report),
        _ => report::pretty(&report, args.verbose),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    let failed = report.count(runner::Status::Fail) > 0 || report.count(runner::Status::Error) > 0;
    let under = match (args.threshold, report.coverage_percent()) {
        (Some(threshold), Some(total)) if total < threshold => {
            eprintln!("sockguard test: coverage {total:.1}% is below the threshold of {threshold}%");
            true
        }
        _ => false,
    };
    Ok(if failed || under { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
