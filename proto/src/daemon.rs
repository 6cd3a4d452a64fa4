//! What every Strata daemon's `main` does the same way: logging to stderr filtered by
//! `RUST_LOG` (default `info`), a shutdown token cancelled by SIGINT or SIGTERM, and exit
//! code 64 for a bad configuration.

use tokio_util::sync::CancellationToken;

/// Exit code for an unusable configuration (EX_USAGE, as linkerd does).
pub const EXIT_BAD_CONFIG: u8 = 64;

/// Installs the tracing subscriber for a daemon.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A token cancelled at the first SIGINT or SIGTERM; call inside a tokio runtime.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        cancel.cancel();
    });
    token
}

/// How a daemon's body failed: a failure no restart can mend (a bad configuration, a
/// missing or foreign certificate) exits 64, so that a supervisor stops retrying.
pub trait Failure: std::fmt::Display {
    /// Whether the configuration (or the identity it points at) is at fault.
    fn is_bad_config(&self) -> bool;
}

/// Runs a daemon's body on a tokio runtime: `config` is the loaded configuration (an error
/// prints and exits 64), `serve` runs until the shutdown token (SIGINT/SIGTERM) is cancelled
/// (a [`Failure`] of the configuration exits 64 too).
/// `worker_threads` None uses one per core; `Some(0)` runs every task on the calling
/// thread (a current-thread runtime; blocking work still goes to its own threads).
pub fn run<C, E, F, Fut, SE>(
    name: &str,
    config: Result<C, E>,
    worker_threads: Option<usize>,
    serve: F,
) -> std::process::ExitCode
where
    E: std::fmt::Display,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), SE>>,
    SE: Failure,
{
    let config = match config {
        Ok(c) => c,
        Err(error) => {
            eprintln!("{name}: {error}");
            return std::process::ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let mut builder = match worker_threads {
        // the caller's thread runs every task (no hand-over between threads)
        Some(0) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(error) => {
            eprintln!("{name}: start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move { serve(config, shutdown_on_signal()).await });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error:#}");
            if error.is_bad_config() {
                std::process::ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
