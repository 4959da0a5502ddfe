//! `server` — run `server --help` for the subcommands. Everything lives in the library; this stays thin.

use clap::Parser;

/// Pages are rendered into many small, short-lived allocations; mimalloc serves them far cheaper than
/// glibc's malloc (which took a fifth of the server's CPU on the signed-in dashboard, measured with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = server::cli::Cli::parse();
    if matches!(cli.command, Some(server::cli::Command::KasmSim { .. })) {
        server::telemetry::init(server::config::LogFormat::Pretty);
    }
    match server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fatal");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
