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
    let command = match Cli::parse().into_command() {
        Ok(command) => command,
        Err(e) => e.exit(),
    };
    let config = match command.config() {
        Ok(config) => config,
        Err(e) => e.exit(),
    };
    if let Err(e) = config.validate() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let otlp = config.otlp_endpoint.clone().filter(|e| !e.trim().is_empty());
    if let Err(e) = courier::telemetry::init(config.log_format, &config.log_filter, otlp.as_deref(), std::io::stderr) {
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
    let outcome = runtime.block_on(cli::run(command, config));
    courier::telemetry::otel::shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
