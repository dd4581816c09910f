//! One command's run (not an MCP session, which each server connection holds): its telemetry: the exporter, the local receiver that collects every
//! process's spans, the servers started under the command's root span, and the flush and
//! trace view at the end.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use rmcp::model::MetaObject;
use trace_meta::telemetry::{Telemetry, TelemetryGuard};
use trace_view::{self, receiver::Receiver};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{
    config::ServerSpec,
    servers::{Calls, Failure, RunningServer, ServerError},
    view::TraceOutput,
};

/// Variable holding an outer `traceparent` (CI systems and outer agents set it for their
/// child processes); the command's root span becomes its child.
pub(crate) const TRACEPARENT_ENV: &str = "TRACEPARENT";
/// Variable holding the outer `tracestate`, read only with a valid [`TRACEPARENT_ENV`].
pub(crate) const TRACESTATE_ENV: &str = "TRACESTATE";

/// How a run of the host is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where the local receiver listens (an ephemeral loopback port when `None`); given,
    /// the run waits a moment at its end for servers that export on their own.
    pub receiver: Option<SocketAddr>,
    /// How calls to the servers are made.
    pub calls: Calls,
    /// What becomes of the trace.
    pub output: TraceOutput,
}

/// Telemetry and the local receiver for one run of the host.
pub(crate) struct Run {
    // Dropped in this order on an early return: the last spans go out while the receiver
    // still listens.
    telemetry: TelemetryGuard,
    receiver: Receiver,
    /// How calls to the servers are made.
    calls: Calls,
    /// What becomes of the trace.
    output: TraceOutput,
    /// Whether the receiver was given, so that servers run elsewhere export to it.
    fixed_receiver: bool,
    /// Variables set for the servers this session starts, unless their config or the
    /// host's environment sets them.
    child_env: Vec<(&'static str, String)>,
}

impl Run {
    /// Starts the receiver (on `options.receiver`, else an ephemeral loopback port), then
    /// telemetry exporting to it (and to the user's backend).
    pub(crate) async fn start(options: RunOptions) -> anyhow::Result<Self> {
        let receiver = match options.receiver {
            Some(addr) => Receiver::start_on(addr).await.with_context(|| {
                format!("starting the local trace receiver on {addr} (--receiver)")
            })?,
            None => Receiver::start()
                .await
                .context("starting the local trace receiver on 127.0.0.1")?,
        };
        let telemetry = Telemetry::new("mcp-host")
            // rmcp's transport worker logs at ERROR the failure the host then reports
            // itself, in words a user can act on (RUST_LOG still shows it).
            .with_default_log_filter("warn,rmcp::transport::worker=off")
            .with_local_endpoint(receiver.traces_endpoint())
            .init()
            .context("setting up telemetry")?;
        Ok(Self {
            receiver,
            telemetry,
            calls: options.calls,
            output: options.output,
            fixed_receiver: options.receiver.is_some(),
            child_env: Vec::new(),
        })
    }

    /// Has the servers this session starts export their spans every `delay` instead of
    /// every 5 s (`OTEL_BSP_SCHEDULE_DELAY`), so that a conversation can show a turn's
    /// whole trace while they still run. A delay the config or the environment gives wins.
    pub(crate) fn with_child_export_delay(mut self, delay: Duration) -> Self {
        self.child_env
            .push(("OTEL_BSP_SCHEDULE_DELAY", delay.as_millis().to_string()));
        self
    }

    /// Exports the host's finished spans to the receiver (and the user's backend) now.
    pub(crate) async fn flush_spans(&self) {
        if let Some(provider) = self.telemetry.provider().cloned() {
            // The exporter posts to our own receiver, which needs the runtime: flush off it.
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }

    /// The spans received so far, from every process.
    pub(crate) fn collected(&self) -> Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans> {
        self.receiver.collected().snapshot()
    }

    /// The tree of the trace `trace`, once the host's spans are flushed and the servers'
    /// spans of its calls have arrived (at most `limit` later).
    pub(crate) async fn tree(&self, trace: TraceId, limit: Duration) -> String {
        self.flush_spans().await;
        self.receiver.wait_for_children_of(trace, limit).await;
        trace_view::render(&trace_view::rows(&self.collected()), trace)
    }

    /// The root span of a command: `span`, made a child of the outer context in
    /// `TRACEPARENT` / `TRACESTATE` when there is a valid one.
    pub(crate) fn root(&self, span: tracing::Span) -> tracing::Span {
        if let Some(outer) = outer_context()
            && span.set_parent(outer).is_err()
        {
            tracing::warn!("the root span had started before its outer context was known");
        }
        span
    }

    /// Starts every server in parallel, as children of the current span. If one fails, the
    /// others are shut down and the first failure is returned.
    pub(crate) async fn start_servers(
        &self,
        specs: &[ServerSpec],
    ) -> Result<Vec<RunningServer>, ServerError> {
        let endpoint = self.receiver.traces_endpoint();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, mut spec) in specs.iter().cloned().enumerate() {
            for (key, value) in &self.child_env {
                if std::env::var_os(key).is_none() {
                    spec.env
                        .entry((*key).to_owned())
                        .or_insert_with(|| value.clone());
                }
            }
            let endpoint = endpoint.clone();
            let calls = self.calls.clone();
            tasks.spawn(
                async move {
                    (
                        index,
                        RunningServer::start(&spec, Some(&endpoint), &calls).await,
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
        let started: Vec<RunningServer> = started.into_iter().map(|(_, s)| s).collect();
        if let Some((_, error)) = failures.into_iter().min_by_key(|(index, _)| *index) {
            shutdown_all(started).await;
            return Err(error);
        }
        Ok(started)
    }

    /// Ends a command whose servers did not all start (or that was interrupted first): the
    /// root span records `failure`, when there is one, and ends; then the spans are flushed
    /// and shown as for any command.
    pub(crate) async fn end_without_servers(
        self,
        root: tracing::Span,
        trace: TraceId,
        failure: Option<&dyn std::fmt::Display>,
    ) -> anyhow::Result<()> {
        if let Some(failure) = failure {
            root.set_status(opentelemetry::trace::Status::error(failure.to_string()));
        }
        drop(root);
        self.finish(Vec::new(), trace).await
    }

    /// Stops the servers, flushes every process's spans, then shows and saves the trace of
    /// the command, `trace` ([`trace_id`] of its root).
    pub(crate) async fn finish(
        self,
        servers: Vec<RunningServer>,
        trace: TraceId,
    ) -> anyhow::Result<()> {
        self.finish_with(servers, Some(trace), None).await
    }

    /// [`finish`](Self::finish) for a conversation: the `--trace-html` page has one section
    /// per turn (`sections`, in order) under `title`.
    pub(crate) async fn finish_conversation(
        self,
        servers: Vec<RunningServer>,
        title: &str,
        sections: Vec<trace_view::html::Section>,
    ) -> anyhow::Result<()> {
        self.finish_with(servers, None, Some((title, sections)))
            .await
    }

    async fn finish_with(
        self,
        servers: Vec<RunningServer>,
        trace: Option<TraceId>,
        sections: Option<(&str, Vec<trace_view::html::Section>)>,
    ) -> anyhow::Result<()> {
        shutdown_all(servers).await;
        let Run {
            mut telemetry,
            receiver,
            output,
            fixed_receiver,
            ..
        } = self;
        // The exporter posts to our own receiver, which needs the runtime: flush off it.
        // A destination that failed is logged inside; the local tree is shown regardless.
        let _logged = tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .context("flushing spans")?;
        if fixed_receiver {
            // Servers reached over HTTP export on their own schedule; give them a moment to
            // deliver the children of the host's calls to them.
            receiver.wait_for_remote_children(REMOTE_SPAN_WAIT).await;
        }
        let collected = receiver.collected().snapshot();
        if let (true, Some(trace)) = (output.tree, trace) {
            let rows = trace_view::rows(&collected);
            print!("\n{}", trace_view::render(&rows, trace));
        }
        // The JSON is written even when the page cannot be.
        let page = output.html.as_ref().map(|path| match (&sections, trace) {
            (Some((title, sections)), _) => {
                trace_view::html::write_page(path, &collected, title, sections)
            }
            (None, trace) => trace_view::html::write_command_page(
                path,
                &collected,
                trace.unwrap_or(TraceId::INVALID),
            ),
        });
        if let Some(path) = &output.json {
            trace_view::write_otlp_json(path, collected)?;
        }
        page.transpose()?;
        Ok(())
    }
}

/// Shuts the servers down in parallel.
pub(crate) async fn shutdown_all(servers: Vec<RunningServer>) {
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

/// How long the host waits, with `--receiver`, for the spans of servers it reached over
/// HTTP (their batch export runs every 5 s by default, `OTEL_BSP_SCHEDULE_DELAY`).
pub(crate) const REMOTE_SPAN_WAIT: Duration = Duration::from_secs(6);

/// How long the runtime may take to wind down after a command.
pub(crate) const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(200);

/// The trace id of `span` (a command's root, after [`Run::root`]): what its tree, page
/// and waits are found by.
pub(crate) fn trace_id(span: &tracing::Span) -> TraceId {
    span.context().span().span_context().trace_id()
}
