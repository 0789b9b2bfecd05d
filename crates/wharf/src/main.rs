//! The `wharf` binary: command line, configuration, and the wiring of listeners to the
//! protocol services. No protocol logic lives here.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod dns_cmd;
mod mailauth;
mod mailio;
mod queue_cmd;
mod serve;

use clap::Parser;

type LogHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;
static LOG_FILTER: std::sync::OnceLock<LogHandle> = std::sync::OnceLock::new();

/// Replaces the log filter (a `WHARF_LOG` / `log_level` directive such as `info` or
/// `warn,wharf_smtp=debug`).
pub fn set_log_level(directive: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
    match LOG_FILTER.get() {
        Some(h) => h.reload(filter).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.default_log_level()));
    // Colour only on a terminal: logs redirected to a file stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The filter sits behind a reload handle: `serve` applies `log_level` from the
    // configuration, and again on SIGHUP.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = LOG_FILTER.set(handle);
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line on stderr: the error and its causes, joined.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("wharf: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}
