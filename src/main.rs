//! `courier`: parse the command line, load settings, start logging, run.

use std::process::ExitCode;

use clap::Parser;
use courier::cli::{self, Cli};

/// mimalloc instead of glibc's malloc: a GraphQL response allocates many
/// small objects across worker threads, where glibc's arena locks showed up
/// as the top cost under load (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.config.validate() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let otlp = cli.config.otlp_endpoint.clone().filter(|e| !e.trim().is_empty());
    if let Err(e) =
        courier::telemetry::init(cli.config.log_format, &cli.config.log_filter, otlp.as_deref(), std::io::stderr)
    {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    courier::telemetry::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(cli::run(cli));
    courier::telemetry::otel::shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
