//! `mcp-host bench`: drives any stdio MCP server command the same way and measures it.
//!
//! Cold start, sequential round trips, calls in flight on one session, the cost of trace
//! context in `_meta` (the same calls with and without it, interleaved), the server's peak
//! RSS and, for servers that export to `TRACE_META_LOCAL_ENDPOINT`, span delivery.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, RequestMetaObject},
    service::Peer,
};
use tokio::process::Command;

use trace_view::receiver::Receiver;

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Sequential calls (half with trace context, half without, interleaved).
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,
    /// Calls kept in flight at once on one session, for the throughput figure.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Tool to call.
    #[arg(long, default_value = "read_file")]
    pub tool: String,
    /// Its arguments, a JSON object.
    #[arg(long, default_value = r#"{"path": "sales.csv"}"#)]
    pub args: String,
    /// Where the server exports: `local` sends its spans to the bench's receiver as a host
    /// does (`TRACE_META_LOCAL_ENDPOINT`); `otlp` names the receiver as the user's backend
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`: spans and metrics); `none` exports nothing. The
    /// server's own `OTEL_*` variables are removed in every mode.
    #[arg(long, value_enum, default_value_t = Export::Local)]
    pub export: Export,
    /// The calls with trace context also ask for the server's spans (`_meta.otel`, SEP-2448
    /// span return, the whole tree), as mcp-host does; the cost of a server that returns
    /// them (`--return-spans`) shows in the "trace context in _meta" row.
    #[arg(long)]
    pub ask_spans: bool,
    /// The server command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "SERVER_CMD")]
    pub command: Vec<String>,
}

/// Where the measured server sends its telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Export {
    /// Spans to the bench's receiver as a host's second destination.
    Local,
    /// Spans and metrics to the bench's receiver as the user's OTLP backend.
    Otlp,
    /// Nothing leaves the server.
    None,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

/// A request `_meta` whose trace context names the sampled remote span `span_id` of trace
/// `trace_id` as the parent, written by the installed propagator (the benchmark's traced
/// calls, and tests that need to know each request's parent).
pub fn meta_with_parent(trace_id: u128, span_id: u64) -> RequestMetaObject {
    let span = SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut meta = RequestMetaObject::default();
    trace_meta::propagation::inject(&Context::new().with_remote_span_context(span), &mut meta);
    meta
}

fn meta_with_trace_context(n: u64) -> RequestMetaObject {
    meta_with_parent(
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_0000_u128 + u128::from(n),
        0x00f0_67aa_0ba9_0000_u64 + n,
    )
}

async fn call(
    peer: &Peer<rmcp::RoleClient>,
    params: &CallToolRequestParams,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let result = peer.call_tool(params.clone()).await?;
    if result.is_error == Some(true) {
        bail!("the tool failed: {}", trace_meta::tool_result_text(&result));
    }
    Ok(started.elapsed())
}

/// A memory figure of `/proc/PID/status` in KiB: `VmHWM` (peak RSS), `VmRSS`...; `None`
/// when the process or the field is gone (Linux only).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// CPU time a process has used so far, all its threads (`/proc/PID/stat` utime + stime);
/// `None` when the process is gone (Linux only).
fn proc_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    // The kernel reports USER_HZ ticks, 100 per second on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Runs the benchmark and prints a table and one JSON line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    trace_meta::propagation::install_propagator();
    let arguments: serde_json::Value =
        serde_json::from_str(&args.args).context("--args is not JSON")?;
    let mut params = CallToolRequestParams::new(args.tool.clone());
    if let serde_json::Value::Object(object) = arguments {
        params = params.with_arguments(object);
    }
    let receiver = Receiver::start().await?;

    let started = Instant::now();
    let mut command = Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command.env_remove(trace_meta::telemetry::LOCAL_ENDPOINT_ENV);
    let traces = receiver.traces_endpoint();
    match args.export {
        Export::Local => {
            command.env(trace_meta::telemetry::LOCAL_ENDPOINT_ENV, &traces);
        }
        Export::Otlp => {
            let base = traces.trim_end_matches("/v1/traces");
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", base);
        }
        Export::None => {}
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.command[0]))?;
    let pid = child.id().context("the server has no pid")?;
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let session = ().serve((stdout, stdin)).await.context("initialize")?;
    let initialized = started.elapsed();
    let peer = session.peer().clone();
    peer.list_all_tools().await.context("tools/list")?;
    let listed = started.elapsed();
    let first = call(&peer, &params).await?;
    let first_call = started.elapsed();
    let _ = first;

    let cpu_before = proc_cpu_time(pid);
    let mut with = Vec::with_capacity(args.calls / 2 + 1);
    let mut without = Vec::with_capacity(args.calls / 2 + 1);
    let sequential_started = Instant::now();
    for n in 0..args.calls {
        if n % 2 == 0 {
            let mut traced = params.clone();
            let mut meta = meta_with_trace_context(n as u64);
            if args.ask_spans {
                trace_meta::span_return::SpanRequest { detailed: true }.insert_into(&mut meta.0);
            }
            traced.meta = Some(meta);
            with.push(call(&peer, &traced).await?);
        } else {
            without.push(call(&peer, &params).await?);
        }
    }
    let sequential = sequential_started.elapsed();
    with.sort();
    without.sort();
    let all: Vec<Duration> = {
        let mut all: Vec<Duration> = with.iter().chain(&without).copied().collect();
        all.sort();
        all
    };

    let per_task = args.calls.div_ceil(args.concurrency.max(1));
    let concurrent_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let peer = peer.clone();
        let params = params.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                call(&peer, &params).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let concurrent = concurrent_started.elapsed();
    let concurrent_calls = per_task * args.concurrency.max(1);
    let rss = proc_status_kib(pid, "VmHWM");
    let measured_calls = (args.calls + concurrent_calls) as f64;
    let cpu_per_call_us = cpu_before
        .zip(proc_cpu_time(pid))
        .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / measured_calls);

    // Close stdin and let the server flush, as a host would.
    let _ = session.cancel().await;
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let expected_spans = if args.export == Export::None {
        0
    } else {
        1 + 1 + args.calls + concurrent_calls
    };
    let received = receiver
        .collected()
        .snapshot()
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum::<usize>();

    let report = serde_json::json!({
        "command": args.command.join(" "),
        "tool": args.tool,
        "cold_start_initialize_ms": initialized.as_secs_f64() * 1e3,
        "cold_start_tools_list_ms": listed.as_secs_f64() * 1e3,
        "first_call_ms": first_call.as_secs_f64() * 1e3,
        "sequential_calls": args.calls,
        "sequential_p50_us": percentile(&all, 0.5),
        "sequential_p90_us": percentile(&all, 0.9),
        "sequential_p99_us": percentile(&all, 0.99),
        "sequential_calls_per_s": args.calls as f64 / sequential.as_secs_f64(),
        "concurrency": args.concurrency,
        "concurrent_calls_per_s": concurrent_calls as f64 / concurrent.as_secs_f64(),
        "p50_with_trace_context_us": percentile(&with, 0.5),
        "p50_without_trace_context_us": percentile(&without, 0.5),
        "trace_context_p50_ratio": percentile(&with, 0.5) / percentile(&without, 0.5).max(f64::MIN_POSITIVE),
        "peak_rss_kib": rss,
        "server_cpu_per_call_us": cpu_per_call_us,
        "clean_exit": matches!(exit, Ok(Ok(status)) if status.success()),
        "spans_received": received,
        "spans_expected": expected_spans,
        "export": format!("{:?}", args.export).to_lowercase(),
        "metrics_requests": receiver.collected().metrics_requests(),
    });
    println!("{:<34} {}", "server", args.command.join(" "));
    println!(
        "{:<34} {:.1} ms (initialize {:.1} ms)",
        "cold start to tools/list",
        listed.as_secs_f64() * 1e3,
        initialized.as_secs_f64() * 1e3
    );
    println!(
        "{:<34} {:.1} ms",
        "first tools/call answered at",
        first_call.as_secs_f64() * 1e3
    );
    println!(
        "{:<34} p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, {:.0} calls/s",
        format!("sequential ({} calls)", args.calls),
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        args.calls as f64 / sequential.as_secs_f64()
    );
    println!(
        "{:<34} {:.0} calls/s",
        format!("{} in flight", args.concurrency),
        concurrent_calls as f64 / concurrent.as_secs_f64()
    );
    println!(
        "{:<34} p50 {:.1} µs with, {:.1} µs without ({:+.1} µs)",
        "trace context in _meta",
        percentile(&with, 0.5),
        percentile(&without, 0.5),
        percentile(&with, 0.5) - percentile(&without, 0.5)
    );
    println!(
        "{:<34} {}",
        "server peak RSS",
        rss.map_or("n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
    );
    println!(
        "{:<34} {}",
        "server CPU per call",
        cpu_per_call_us.map_or("n/a".into(), |us| format!("{us:.0} µs"))
    );
    println!(
        "{:<34} {received} / {expected_spans}",
        "spans received / expected"
    );
    println!("{report}");
    Ok(())
}
