//! The host's own stop signals: SIGTERM and SIGINT end a command (exit status 128 + N),
//! or, in a conversation, SIGINT cancels the turn in flight.

use std::process::ExitCode;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT, listened for from creation on (a signal that arrives while no one
/// waits is kept for the next [`recv`](Signals::recv)).
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Starts listening.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next stop signal: `libc::SIGTERM` or `libc::SIGINT`.
    pub async fn recv(&mut self) -> libc::c_int {
        tokio::select! {
            _ = self.terminate.recv() => libc::SIGTERM,
            _ = self.interrupt.recv() => libc::SIGINT,
        }
    }
}

/// A signal's name for messages.
pub fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// What stopped a run early.
pub enum Interrupted {
    /// A stop signal.
    Signal(trace_meta::StopSignal),
}

impl Interrupted {
    /// The exit code a shell expects after this signal.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Signal(signal) => ExitCode::from(128 + signal.number()),
        }
    }
}

/// Runs `work` unless a stop signal comes first.
pub async fn unless_signalled<T>(
    work: impl std::future::Future<Output = T>,
) -> Result<T, Interrupted> {
    tokio::select! {
        value = work => Ok(value),
        signal = trace_meta::shutdown_signal() => Err(Interrupted::Signal(signal)),
    }
}
