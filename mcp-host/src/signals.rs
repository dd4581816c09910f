//! The host's own stop signals (trace-meta's [`trace_meta::StopSignals`]): SIGTERM and
//! SIGINT end a command (exit status 128 + N), or, in a conversation, SIGINT cancels the
//! turn in flight.

use std::process::ExitCode;

/// What stopped a run early.
pub(crate) enum Interrupted {
    /// A stop signal.
    Signal(trace_meta::StopSignal),
}

impl Interrupted {
    /// The exit code a shell expects after this signal.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Signal(signal) => ExitCode::from(signal.exit_status()),
        }
    }
}

/// Runs `work` unless a stop signal comes first.
pub(crate) async fn unless_signalled<T>(
    work: impl std::future::Future<Output = T>,
) -> Result<T, Interrupted> {
    tokio::select! {
        value = work => Ok(value),
        signal = trace_meta::shutdown_signal() => Err(Interrupted::Signal(signal)),
    }
}
