//! The `cyclegan` binary: parse, dispatch, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CYCLEGAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    let cli = cyclegan::cli::Cli::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    cyclegan::cli::run(cli)
}
