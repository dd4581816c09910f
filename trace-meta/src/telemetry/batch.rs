//! The batch span processor of trace-meta's own exporters.
//!
//! Ended spans wait in a queue that grows as needed, up to `OTEL_BSP_MAX_QUEUE_SIZE` (2048
//! by default; a span beyond it is dropped, and counted by `report.rs`), so a quiet process
//! holds no more than the spans it has. A task on the export thread (`runtime.rs`) sends
//! them in batches of `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (128 here) when a batch is full or
//! every `OTEL_BSP_SCHEDULE_DELAY` ms (5000), and on a flush or shutdown. Ending a span
//! takes a short lock and never waits for a backend; the export thread is woken once per
//! full batch, not once per span.
//!
//! The SDK's `BatchSpanProcessor` allocates its whole queue up front (`sync_channel(2048)`,
//! about 0.65 MB) and exports from a thread of its own; its async-runtime variant needs a
//! runtime at hand and its shutdown waits without a bound. Neither fits a server whose last
//! spans end after its runtime has stopped.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc as std_mpsc,
    },
    time::Duration,
};

use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter, SpanProcessor},
};
use tokio::{runtime::Handle, sync::Notify, sync::mpsc, time::MissedTickBehavior};

use super::env_number;

/// Queue and batch sizes, and the export schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchConfig {
    /// Spans the queue holds at most (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub(super) max_queue: usize,
    /// Spans per export (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, at most `max_queue`).
    pub(super) max_batch: usize,
    /// Longest wait of a span in a queue that never fills a batch (`OTEL_BSP_SCHEDULE_DELAY`).
    pub(super) delay: Duration,
    /// How long a flush waits for the exports it starts.
    pub(super) flush_timeout: Duration,
}

impl BatchConfig {
    /// The configuration the standard variables ask for, `max_batch` unless they name one.
    pub(super) fn from_env(max_batch: usize, flush_timeout: Duration) -> Self {
        Self::from_vars(|name| std::env::var(name).ok(), max_batch, flush_timeout)
    }

    fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        max_batch: usize,
        flush_timeout: Duration,
    ) -> Self {
        let number = |name: &str| env_number(&var, name).filter(|n| *n > 0);
        let max_queue = number("OTEL_BSP_MAX_QUEUE_SIZE").map_or(2048, |n| n as usize);
        let max_batch = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
            .map_or(max_batch, |n| n as usize)
            .min(max_queue);
        let delay = Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY").unwrap_or(5000));
        Self {
            max_queue,
            max_batch,
            delay,
            flush_timeout,
        }
    }
}

/// The queue shared by the processor (which fills it) and the export task (which empties it).
#[derive(Debug)]
struct Queue {
    spans: Mutex<Vec<SpanData>>,
    /// Spans another process recorded and returned (SEP-2448), each group with that
    /// process's resource; exported after the process's own.
    imported: Mutex<Vec<(Resource, Vec<SpanData>)>>,
    /// Wakes the export task: a batch is full.
    full: Notify,
    /// A wake-up is pending, so later spans of the same batch need not send another.
    woken: AtomicBool,
    config: BatchConfig,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
            && self
                .imported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
    }
}

/// What the processor asks of the export task, in order.
#[derive(Debug)]
enum Command {
    SetResource(Resource),
    Flush(std_mpsc::SyncSender<OTelSdkResult>),
    Shutdown(Duration, std_mpsc::SyncSender<OTelSdkResult>),
}

/// A batch span processor whose exports run on the export thread.
#[derive(Debug)]
pub(super) struct BatchProcessor {
    queue: Arc<Queue>,
    commands: mpsc::UnboundedSender<Command>,
}

/// Queues spans another process recorded (SEP-2448 span return) to one processor.
#[cfg(feature = "span-return")]
#[derive(Debug, Clone)]
pub(super) struct Importer {
    queue: Arc<Queue>,
}

impl BatchProcessor {
    /// Starts the export task for `exporter` on `runtime`.
    pub(super) fn start<E: SpanExporter + 'static>(
        exporter: E,
        config: BatchConfig,
        runtime: &Handle,
    ) -> Self {
        let queue = Arc::new(Queue {
            spans: Mutex::new(Vec::new()),
            imported: Mutex::new(Vec::new()),
            full: Notify::new(),
            woken: AtomicBool::new(false),
            config,
        });
        let (commands, received) = mpsc::unbounded_channel();
        runtime.spawn(export_task(exporter, Arc::clone(&queue), received));
        Self { queue, commands }
    }

    /// A handle that queues spans another process recorded.
    #[cfg(feature = "span-return")]
    pub(super) fn importer(&self) -> Importer {
        Importer {
            queue: Arc::clone(&self.queue),
        }
    }
}

#[cfg(feature = "span-return")]
impl Importer {
    /// Queues `spans`, exported under `resource` with the next batch; `false` (and nothing
    /// queued) when they would take the queue past its size.
    pub(super) fn import(&self, resource: Resource, spans: Vec<SpanData>) -> bool {
        let own = self
            .queue
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let mut imported = self
            .queue
            .imported
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let queued: usize = imported.iter().map(|(_, spans)| spans.len()).sum();
        if own + queued + spans.len() > self.queue.config.max_queue {
            return false;
        }
        imported.push((resource, spans));
        true
    }
}

impl BatchProcessor {
    /// Sends `command` and waits at most `timeout` for the export task's answer.
    fn ask(
        &self,
        command: impl FnOnce(std_mpsc::SyncSender<OTelSdkResult>) -> Command,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.commands
            .send(command(reply))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        let queued = {
            let mut spans = self
                .queue
                .spans
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if spans.len() >= self.queue.config.max_queue {
                return;
            }
            spans.push(span);
            spans.len()
        };
        if queued >= self.queue.config.max_batch && !self.queue.woken.swap(true, Ordering::AcqRel) {
            self.queue.full.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Command::Flush, self.queue.config.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // A little slack over the task's own deadline, so that its answer wins the race.
        self.ask(
            |reply| Command::Shutdown(timeout, reply),
            timeout + Duration::from_millis(50),
        )
    }

    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.commands.send(Command::SetResource(resource.clone()));
    }
}

/// The export task: waits for a full batch, the schedule or a command, then exports what is
/// queued. It ends on shutdown, or when the processor is gone (after a last export).
async fn export_task<E: SpanExporter>(
    mut exporter: E,
    queue: Arc<Queue>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let delay = queue.config.delay;
    // The process's resource, put back after each group of imported spans.
    let mut own = Resource::builder_empty().build();
    let mut schedule = tokio::time::interval_at(tokio::time::Instant::now() + delay, delay);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // Commands first: the resource must be set before the first export.
        let command = tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(command) => Some(command),
                None => {
                    let _ = export_queued(&mut exporter, &queue, &own).await;
                    let _ = exporter.shutdown();
                    return;
                }
            },
            () = queue.full.notified() => None,
            _ = schedule.tick() => None,
        };
        match command {
            None => {
                let _ = export_queued(&mut exporter, &queue, &own).await;
            }
            Some(Command::SetResource(resource)) => {
                exporter.set_resource(&resource);
                own = resource;
            }
            Some(Command::Flush(reply)) => {
                let result = export_queued(&mut exporter, &queue, &own).await;
                let _ = reply.send(result);
            }
            Some(Command::Shutdown(timeout, reply)) => {
                // Until the queue is empty: spans may still end while the last ones leave.
                let drain = async {
                    let mut result = Ok(());
                    while !queue.is_empty() {
                        if let Err(error) = export_queued(&mut exporter, &queue, &own).await {
                            result = Err(error);
                        }
                    }
                    result
                };
                let exported = tokio::time::timeout(timeout, drain)
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(timeout)));
                let shut = exporter.shutdown_with_timeout(timeout);
                let _ = reply.send(exported.and(shut));
                return;
            }
        }
    }
}

/// Exports what is queued when it is called, a batch at a time (spans that end meanwhile
/// wait for the next round, so a command is never kept waiting by a steady stream), then the
/// imported groups, each under its own resource (`own` is put back after them); the last
/// error, if any batch failed.
async fn export_queued<E: SpanExporter>(
    exporter: &mut E,
    queue: &Queue,
    own: &Resource,
) -> OTelSdkResult {
    let mut result = Ok(());
    let imported = std::mem::take(
        &mut *queue
            .imported
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    if !imported.is_empty() {
        for (resource, spans) in imported {
            exporter.set_resource(&resource);
            let mut spans = spans.into_iter().peekable();
            while spans.peek().is_some() {
                let batch: Vec<SpanData> = spans.by_ref().take(queue.config.max_batch).collect();
                if let Err(error) = exporter.export(batch).await {
                    result = Err(error);
                }
            }
        }
        exporter.set_resource(own);
    }
    queue.woken.store(false, Ordering::Release);
    let mut left = queue
        .spans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    while left > 0 {
        let batch: Vec<SpanData> = {
            let mut spans = queue.spans.lock().unwrap_or_else(PoisonError::into_inner);
            let take = left.min(queue.config.max_batch).min(spans.len());
            if take == 0 {
                break;
            }
            left -= take;
            spans.drain(..take).collect()
        };
        if let Err(error) = exporter.export(batch).await {
            result = Err(error);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &'static [(&'static str, &'static str)]) -> BatchConfig {
        BatchConfig::from_vars(
            |name| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            },
            128,
            Duration::from_secs(3),
        )
    }

    #[test]
    fn the_standard_variables_size_the_queue_and_the_batches() {
        let default = config(&[]);
        assert_eq!(
            (default.max_queue, default.max_batch, default.delay),
            (2048, 128, Duration::from_secs(5))
        );
        let set = config(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ]);
        assert_eq!(
            (set.max_queue, set.max_batch, set.delay),
            (64, 64, Duration::from_millis(250)),
            "a batch is never larger than the queue"
        );
        let bad = config(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ]);
        assert_eq!((bad.max_queue, bad.delay), (2048, Duration::from_secs(5)));
    }
}
