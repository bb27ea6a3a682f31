//! Cooperative shutdown.
//!
//! Every service takes a [`CancellationToken`] rather than installing its own
//! signal handler: `rfq up` and the tests start the real services in-process
//! and stop them by cancelling one token, and the binaries cancel it on
//! Ctrl-C / SIGTERM.

pub use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first Ctrl-C or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
            _ = token.cancelled() => return,
        }
        tracing::info!("shutdown requested: draining in-flight work");
        token.cancel();
    });
}
