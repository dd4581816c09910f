//! The export thread: one thread running a one-thread tokio runtime, shared by every
//! exporter of the process (both span destinations, OTLP/gRPC, and metrics).
//!
//! Why a thread of its own rather than the application's runtime: spans keep ending after a
//! server's runtime has stopped (dropping its leftover tasks ends their spans), the final
//! flush runs from the guard's destructor, and a program without tokio exports too. One
//! thread replaces the SDK's two per exporter (the batch processor's thread and reqwest's
//! blocking client's runtime) and the metrics reader's two, and it only wakes when a batch
//! is full, a timer is due, or the guard asks.

use std::{
    sync::{Mutex, PoisonError, mpsc},
    time::Duration,
};

use tokio::{runtime::Handle, sync::oneshot};

use super::TelemetryError;

/// The export thread and a handle to spawn work on it. Dropping it stops the thread:
/// exports still in flight are abandoned (their spans count as lost).
#[derive(Debug)]
pub(super) struct ExportRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    /// Behind a lock only so that the guard holding it stays `Sync`.
    stopped: Mutex<mpsc::Receiver<()>>,
}

impl ExportRuntime {
    /// Starts the thread.
    pub(super) fn start() -> Result<Self, TelemetryError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| TelemetryError::Runtime(error.into()))?;
        let handle = runtime.handle().clone();
        let (stop, stop_requested) = oneshot::channel::<()>();
        let (done, stopped) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("trace-meta-export".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stop_requested.await;
                });
                // Drops what is left (an export to a backend that never answered).
                drop(runtime);
                let _ = done.send(());
            })
            .map_err(|error| TelemetryError::Runtime(error.into()))?;
        Ok(Self {
            handle,
            stop: Some(stop),
            stopped: Mutex::new(stopped),
        })
    }

    /// A handle to spawn tasks on the export thread.
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping a one-thread runtime only drops its tasks; the bound is a safeguard.
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = stopped.recv_timeout(Duration::from_secs(1));
    }
}
