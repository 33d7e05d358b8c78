//! The `lagoa` command line: parses arguments and calls the libraries.
//! Everything it does is available to tests through those libraries; the
//! end-to-end tests run this binary itself.

mod commands;
mod log_bridge;
mod output;
mod tls;

use clap::Parser;
use commands::Cli;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = cli.long_running();
    init_logging(long_running);
    std::panic::set_hook(Box::new(move |info| log_panic(info, long_running)));
    // Every thread of the command, the main one included, has the stack a
    // query's threads have: planning recurses on the statement.
    let stack = lagoa_sql::engine::STACK_BYTES;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(stack)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let main = std::thread::Builder::new()
        .name("lagoa".into())
        .stack_size(stack)
        .spawn(move || {
            let outcome = runtime.block_on(commands::run(cli));
            // Blocking work still going (a cancelled query's last batch) does
            // not hold the exit.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            outcome
        });
    match main.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => {
            eprintln!("error: {}", said_once(&e));
            ExitCode::FAILURE
        }
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot start the main thread: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: the libraries' errors often
/// carry their cause's text in their own (`Schema error: X: X`), and the
/// chain would print it again for every layer.
fn said_once(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if text.contains(message.trim()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// Panics are logged without their values: the message goes through the
/// same redaction as a query's errors (it could quote a row).
fn log_panic(info: &std::panic::PanicHookInfo<'_>, long_running: bool) {
    let message = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    if !long_running
        && message.starts_with("failed printing to stdout")
        && message.contains("Broken pipe")
    {
        // `lagoa runs | head`: the reader closed the pipe. End quietly, as
        // other command-line tools do, with the shell's status for SIGPIPE.
        std::process::exit(141);
    }
    let at = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    tracing::error!(%thread, %at, panic = %lagoa_sql::redact::redact(message), "a thread panicked");
}

/// Logs to stderr: human-readable on a terminal, JSON lines otherwise
/// (the daemon under systemd or a container). `LAGOA_LOG` sets the filter
/// (default `info` for the daemon, `warn` for commands).
///
/// Whatever the filter, the query engine's own logs stop at `info`: at
/// `debug` DataFusion and sqlparser print plans and statements with their
/// literals, which may be personal values. Ballista's stop at `warn`: its
/// scheduler prints every job's plan at `info`; what it says at `warn` and
/// `error` is redacted ([`log_bridge`]).
fn init_logging(daemon: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let default = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAGOA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let engine = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("datafusion", LevelFilter::INFO)
        .with_target("sqlparser", LevelFilter::INFO)
        .with_target("arrow", LevelFilter::INFO)
        .with_target("parquet", LevelFilter::INFO)
        .with_target("sqlx", LevelFilter::WARN)
        .with_target("ballista_scheduler", LevelFilter::WARN)
        .with_target("ballista_executor", LevelFilter::WARN)
        .with_target("ballista_core", LevelFilter::WARN)
        .with_target("ballista", LevelFilter::WARN);
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let format = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        format.boxed()
    } else {
        format
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    };
    let subscriber =
        tracing_subscriber::registry().with(format.with_filter(filter).with_filter(engine));
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        log_bridge::install();
    }
}
