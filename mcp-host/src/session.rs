//! One command's telemetry: the exporter, the local receiver that collects every
//! process's spans, the servers started under the command's root span, and the flush and
//! trace view at the end.

use std::{process::ExitCode, time::Duration};

use anyhow::Context as _;
use opentelemetry::trace::TraceContextExt as _;
use rmcp::model::MetaObject;
use trace_meta::telemetry::{Telemetry, TelemetryGuard};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{
    cli::Common,
    config::ServerSpec,
    receiver::Receiver,
    servers::{Failure, Server, ServerError},
    view,
};

/// Variable holding an outer `traceparent` (CI systems and outer agents set it for their
/// child processes); the command's root span becomes its child.
pub const TRACEPARENT_ENV: &str = "TRACEPARENT";
/// Variable holding the outer `tracestate`, read only with a valid [`TRACEPARENT_ENV`].
pub const TRACESTATE_ENV: &str = "TRACESTATE";

/// Telemetry and the local receiver for one run of the host.
pub struct Session {
    // Dropped in this order on an early return: the last spans go out while the receiver
    // still listens.
    telemetry: TelemetryGuard,
    receiver: Receiver,
    call_timeout: Duration,
}

impl Session {
    /// Starts the receiver (on `common.receiver`, else an ephemeral loopback port), then
    /// telemetry exporting to it (and to the user's backend).
    pub async fn start(common: &Common) -> anyhow::Result<Self> {
        let receiver = match common.receiver {
            Some(addr) => Receiver::start_on(addr).await.with_context(|| {
                format!("starting the local trace receiver on {addr} (--receiver)")
            })?,
            None => Receiver::start()
                .await
                .context("starting the local trace receiver on 127.0.0.1")?,
        };
        let telemetry = Telemetry::new("mcp-host")
            .with_local_endpoint(receiver.traces_endpoint())
            .init()
            .context("setting up telemetry")?;
        Ok(Self {
            receiver,
            telemetry,
            call_timeout: common.call_timeout,
        })
    }

    /// The root span of a command: `span`, made a child of the outer context in
    /// `TRACEPARENT` / `TRACESTATE` when there is a valid one.
    pub fn root(&self, span: tracing::Span) -> tracing::Span {
        if let Some(outer) = outer_context()
            && span.set_parent(outer).is_err()
        {
            tracing::warn!("the root span had started before its outer context was known");
        }
        span
    }

    /// Starts every server in parallel, as children of the current span. If one fails, the
    /// others are shut down and the first failure is returned.
    pub async fn start_servers(&self, specs: &[ServerSpec]) -> Result<Vec<Server>, ServerError> {
        let endpoint = self.receiver.traces_endpoint();
        let call_timeout = self.call_timeout;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, spec) in specs.iter().cloned().enumerate() {
            let endpoint = endpoint.clone();
            tasks.spawn(
                async move {
                    (
                        index,
                        Server::start(&spec, Some(&endpoint), call_timeout).await,
                    )
                }
                .in_current_span(),
            );
        }
        let mut started = Vec::new();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, Ok(server))) => started.push((index, server)),
                Ok((index, Err(error))) => failures.push((index, error)),
                Err(error) => {
                    failures.push((usize::MAX, ServerError::new("?", Failure::Task(error))))
                }
            }
        }
        started.sort_by_key(|(index, _)| *index);
        let started: Vec<Server> = started.into_iter().map(|(_, s)| s).collect();
        if let Some((_, error)) = failures.into_iter().min_by_key(|(index, _)| *index) {
            shutdown_all(started).await;
            return Err(error);
        }
        Ok(started)
    }

    /// Stops the servers, flushes every process's spans, then shows and saves the trace.
    pub async fn finish(
        self,
        servers: Vec<Server>,
        common: &Common,
        root_name: &str,
    ) -> anyhow::Result<()> {
        shutdown_all(servers).await;
        let Session {
            mut telemetry,
            receiver,
            ..
        } = self;
        // The exporter posts to our own receiver, which needs the runtime: flush off it.
        // A destination that failed is logged inside; the local tree is shown regardless.
        let _logged = tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .context("flushing spans")?;
        if common.receiver.is_some() {
            // Servers reached over HTTP export on their own schedule; give them a moment to
            // deliver the children of the host's calls to them.
            receiver.wait_for_remote_children(REMOTE_SPAN_WAIT).await;
        }
        let collected = receiver.collected().snapshot();
        if !common.no_trace_view {
            let rows = view::rows(&collected);
            print!("\n{}", view::render(&rows, root_name));
        }
        // The JSON is written even when the page cannot be.
        let page = common
            .trace_html
            .as_ref()
            .map(|path| view::html::write_command_page(path, &collected, root_name));
        if let Some(path) = &common.trace_json {
            view::write_otlp_json(path, collected)?;
        }
        page.transpose()?;
        Ok(())
    }
}

/// Shuts the servers down in parallel.
pub async fn shutdown_all(servers: Vec<Server>) {
    let mut tasks = tokio::task::JoinSet::new();
    for server in servers {
        tasks.spawn(server.shutdown());
    }
    while tasks.join_next().await.is_some() {}
}

/// The context in `TRACEPARENT` / `TRACESTATE`, if there is a valid one. A malformed value
/// is ignored with one warning (which does not echo it).
fn outer_context() -> Option<opentelemetry::Context> {
    let traceparent = std::env::var(TRACEPARENT_ENV).ok()?;
    let mut carrier = MetaObject::new();
    carrier.0.insert("traceparent".into(), traceparent.into());
    if let Ok(tracestate) = std::env::var(TRACESTATE_ENV) {
        carrier.0.insert("tracestate".into(), tracestate.into());
    }
    let cx = trace_meta::propagation::extract(&carrier);
    if cx.span().span_context().is_valid() {
        Some(cx)
    } else {
        tracing::warn!(
            "{TRACEPARENT_ENV} is set but is not a valid W3C traceparent \
             (00-<32 hex>-<16 hex>-<2 hex>); starting a new trace"
        );
        None
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

/// How long the host waits, with `--receiver`, for the spans of servers it reached over
/// HTTP (their batch export runs every 5 s by default, `OTEL_BSP_SCHEDULE_DELAY`).
pub const REMOTE_SPAN_WAIT: Duration = Duration::from_secs(6);

/// How long the runtime may take to wind down after a command.
pub const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(200);
