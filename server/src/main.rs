//! `server` — run `server --help` for the subcommands. Everything lives in the library; this stays thin.

use clap::Parser;

/// Pages are rendered into many small, short-lived allocations; mimalloc serves them far cheaper than
/// glibc's malloc (which took a fifth of the server's CPU on the signed-in dashboard, measured with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
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

/// Keeps the kernel from backing the heap with transparent huge pages. mimalloc asks for them, and with
/// them every 2 MiB region it returns and takes again is zeroed whole on the next touch: in the monthly
/// billing run, whose PDFs churn through memory on several threads, that zeroing was 30% of the CPU time
/// and a quarter of the run (perf, `server bench-billing`), where regular pages cost a fraction. The same
/// as starting with `MIMALLOC_ALLOW_THP=0`, without relying on every deployment to set it.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        // Refused only by kernels older than 3.15; the process then runs as before.
        eprintln!("transparent huge pages stay on: {e}");
    }
}
