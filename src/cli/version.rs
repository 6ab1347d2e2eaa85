//! `sockguard version`.

use std::process::ExitCode;

/// Print the version of sockguard and of the input document it builds.
pub fn run() -> ExitCode {
    println!(
        "sockguard {} (input document v{}, regorus 0.14)",
        env!("CARGO_PKG_VERSION"),
        crate::input::document::INPUT_VERSION
    );
    ExitCode::SUCCESS
}
