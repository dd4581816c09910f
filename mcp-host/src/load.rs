//! `mcp-host load`: many traced tool calls to one server, as a load test or a soak.
//!
//! The calls go through the host's own call path (`RunningServer::call_tool`: the CLIENT span,
//! `_meta` and header context, the timeout, the retry of calls safe to repeat), to a stdio
//! server this command starts or to a URL (a server, or a load balancer in front of
//! replicas). Each call is its own trace, as a population of independent clients sends
//! them; the spans go wherever the standard `OTEL_*` variables say. While the calls run,
//! the resident memory, open descriptors and threads of this process, of the stdio server
//! and of any `--watch-pid` are sampled, and the report gives each one's start, value after
//! warm-up, peak, end and slope.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{
    bench::proc_status_kib,
    config::ServerSpec,
    servers::{Calls, RunningServer},
};

/// What to send, where, and what to watch.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The server's Streamable HTTP endpoint (or a load balancer's), instead of a command
    /// after `--`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Tool calls to make in all.
    #[arg(long, default_value_t = 10_000)]
    pub calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The tool to call.
    #[arg(long, default_value = "query_database")]
    pub tool: String,
    /// Its arguments, a JSON object; `$N` anywhere in it becomes the call's number.
    #[arg(
        long,
        default_value = r#"{"sql": "SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region"}"#
    )]
    pub args: String,
    /// Every Nth call (--write-every N) calls this tool instead: a write, which the host
    /// never sends twice.
    #[arg(long, value_name = "TOOL", requires = "write_every")]
    pub write_tool: Option<String>,
    /// The write's arguments; `$N` becomes the call's number, so each write is told apart.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub write_args: String,
    /// How often a call is a write: every Nth.
    #[arg(long, value_name = "N")]
    pub write_every: Option<usize>,
    /// Seconds between samples of memory, descriptors and threads.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub sample_every: f64,
    /// Another process to sample (a server replica, the balancer): PID, or NAME=PID to
    /// name it in the report. Repeatable.
    #[arg(long = "watch-pid", value_name = "[NAME=]PID", value_parser = parse_watched)]
    pub watch_pids: Vec<(String, u32)>,
    /// Write the report as JSON to FILE (it is printed as one JSON line either way).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The stdio server command and its arguments (after `--`).
    #[arg(last = true, value_name = "SERVER_CMD")]
    pub command: Vec<String>,
}

/// Runs the load and prints its report.
pub(crate) async fn run(args: LoadArgs, calls: Calls) -> anyhow::Result<()> {
    let spec = server_spec(&args)?;
    let make = |n: usize, template: &str| -> anyhow::Result<serde_json::Value> {
        let text = template.replace("$N", &n.to_string());
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("the arguments {text:?} are not JSON"))?;
        if !value.is_object() {
            bail!("the arguments must be a JSON object, got {text}");
        }
        Ok(value)
    };
    make(0, &args.args)?;
    make(0, &args.write_args)?;

    let telemetry = trace_meta::telemetry::Telemetry::new("mcp-host")
        .with_default_log_filter("warn,rmcp::transport::worker=off")
        .init()
        .context("setting up telemetry")?;
    let server = Arc::new(
        RunningServer::start(&spec, None, &calls)
            .await
            .map_err(anyhow::Error::from)?,
    );
    let mut watched: Vec<(String, u32)> = vec![("mcp-host".into(), std::process::id())];
    if let Some(pid) = server.pid() {
        watched.push((server.name.clone(), pid));
    }
    watched.extend(args.watch_pids.iter().cloned());

    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let started = Instant::now();
    // Sampled until the calls are done.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = {
        let watched = watched.clone();
        let done = done.clone();
        let samples = samples.clone();
        let every = Duration::from_secs_f64(args.sample_every.max(0.1));
        tokio::spawn(async move {
            loop {
                let calls = done.load(Ordering::Relaxed);
                for (name, pid) in &watched {
                    if let Some(sample) = Sample::take(name, *pid, started.elapsed(), calls) {
                        samples.lock().expect("samples").push(sample);
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    };

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (server, next, done, outcomes, args) = (
            server.clone(),
            next.clone(),
            done.clone(),
            outcomes.clone(),
            args.clone(),
        );
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= args.calls {
                    return;
                }
                let write = match (&args.write_tool, args.write_every) {
                    (Some(tool), Some(every)) if every > 0 && n % every == every - 1 => {
                        Some(tool.as_str())
                    }
                    _ => None,
                };
                let (tool, template) = match write {
                    Some(tool) => (tool, args.write_args.as_str()),
                    None => (args.tool.as_str(), args.args.as_str()),
                };
                let arguments = make(n, template).expect("checked before the load");
                let call_started = Instant::now();
                let called = server.call_tool(tool, arguments, None).await;
                let took = call_started.elapsed();
                let mut outcomes = outcomes.lock().expect("outcomes");
                match called {
                    Ok(result) if result.is_error == Some(true) => {
                        let text = trace_meta::tool_result_text(&result);
                        *outcomes.tool_errors.entry(first_line(&text)).or_default() += 1;
                    }
                    Ok(_) => {
                        outcomes.latencies.record(took);
                        if write.is_some() {
                            outcomes.writes_ok += 1;
                        }
                    }
                    Err(error) => {
                        *outcomes
                            .failed
                            .entry(first_line(&error.to_string()))
                            .or_default() += 1;
                    }
                }
                drop(outcomes);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    sampler.abort();
    let _ = sampler.await;
    // One last sample of each process, after the calls.
    for (name, pid) in &watched {
        if let Some(sample) = Sample::take(name, *pid, elapsed, args.calls) {
            samples.lock().expect("samples").push(sample);
        }
    }

    let server =
        Arc::try_unwrap(server).map_err(|_| anyhow::anyhow!("a call still holds the server"))?;
    server.shutdown().await;
    let mut telemetry = telemetry;
    let _logged = tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .context("flushing spans")?;

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    let report = report(&args, &spec.name, &outcomes, elapsed, &samples);
    let line = serde_json::to_string(&report)?;
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprint!("{}", summary(&report));
    println!("{line}");
    Ok(())
}

/// The server to load: `--url`, or the command after `--`.
fn server_spec(args: &LoadArgs) -> anyhow::Result<ServerSpec> {
    match (&args.url, args.command.split_first()) {
        (Some(url), None) => {
            // Read as a one-entry client config, so the URL and the token header get the
            // config reader's checks, and a refused token names MCP_SERVER_TOKEN.
            let mut entry = serde_json::json!({ "url": url });
            if std::env::var_os(trace_meta::http::TOKEN_ENV).is_some() {
                entry["headers"] = serde_json::json!({
                    "Authorization": format!("Bearer ${{{}}}", trace_meta::http::TOKEN_ENV)
                });
            }
            let config = serde_json::json!({ "mcpServers": { "server": entry } }).to_string();
            let mut spec = crate::config::parse(&config, std::path::Path::new("--url"))?
                .pop()
                .context("--url names no server")?;
            // Errors and the report name the server: here, its URL (what a user may see of it).
            spec.name = trace_meta::redact::url(url);
            Ok(spec)
        }
        (None, Some((program, rest))) => Ok(ServerSpec {
            name: std::path::Path::new(program)
                .file_name()
                .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned()),
            command: PathBuf::from(program),
            args: rest.to_vec(),
            env: BTreeMap::new(),
            cwd: None,
            remote: None,
        }),
        (Some(_), Some(_)) => bail!("give either --url or a server command after --, not both"),
        (None, None) => bail!(
            "give the server: --url http://HOST:PORT/mcp, or a command after -- (mcp-host load -- target/release/db-server)"
        ),
    }
}

/// A `--watch-pid` value: `PID` or `NAME=PID`.
fn parse_watched(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = match text.split_once('=') {
        Some((name, pid)) => (name.to_owned(), pid),
        None => (format!("pid {text}"), text),
    };
    let pid = pid
        .trim()
        .parse()
        .map_err(|_| format!("expected PID or NAME=PID, got {text:?}"))?;
    Ok((name, pid))
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

/// Latencies in buckets 1% wide, so that the load's own memory does not grow with the
/// number of calls (a soak measures growth): from 1 µs to about 400 s.
#[derive(Debug)]
struct Latencies {
    counts: Vec<u64>,
    total: u64,
}

impl Latencies {
    const GROWTH: f64 = 1.01;
    const BUCKETS: usize = 2000;

    fn record(&mut self, took: Duration) {
        let micros = took.as_secs_f64() * 1e6;
        let bucket = if micros <= 1.0 {
            0
        } else {
            ((micros.ln() / Self::GROWTH.ln()) as usize).min(Self::BUCKETS - 1)
        };
        self.counts[bucket] += 1;
        self.total += 1;
    }

    /// The `p` quantile in µs (the lower edge of its bucket: within 1%).
    fn quantile(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total - 1) as f64 * p).round() as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                return Self::GROWTH.powi(bucket as i32).round();
            }
        }
        0.0
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::BUCKETS],
            total: 0,
        }
    }
}

/// What the calls came to.
#[derive(Debug, Default)]
struct Outcomes {
    latencies: Latencies,
    writes_ok: usize,
    /// Answers with `isError: true`, by their first line.
    tool_errors: BTreeMap<String, usize>,
    /// Calls that got no answer, by their error's first line.
    failed: BTreeMap<String, usize>,
}

/// One reading of a process.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    seconds: f64,
    calls: usize,
    rss_kib: u64,
    fds: usize,
    threads: u64,
}

impl Sample {
    /// Reads `/proc/PID`; `None` when the process is gone.
    fn take(name: &str, pid: u32, at: Duration, calls: usize) -> Option<Self> {
        let rss_kib = proc_status_kib(pid, "VmRSS")?;
        let threads = proc_status_kib(pid, "Threads")?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some(Self {
            name: name.to_owned(),
            seconds: at.as_secs_f64(),
            calls,
            rss_kib,
            fds,
            threads,
        })
    }
}

/// Calls made before the figures count as warmed up: a tenth of the run.
fn warmed_up(total: usize) -> usize {
    total / 10
}

/// `target`: the server as the report may name it (its URL without credentials, or the
/// program's name without its arguments, which may hold a database URL).
fn report(
    args: &LoadArgs,
    target: &str,
    outcomes: &Outcomes,
    elapsed: Duration,
    samples: &[Sample],
) -> Value {
    let percentile = |p: f64| outcomes.latencies.quantile(p);
    let mut processes = serde_json::Map::new();
    let mut names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let series: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
        let warm = warmed_up(args.calls);
        let after_warmup = series
            .iter()
            .find(|s| s.calls >= warm)
            .or(series.first())
            .copied();
        let figure = |read: &dyn Fn(&Sample) -> f64| -> Value {
            let start = series.first().map(|s| read(s));
            let warm = after_warmup.map(read);
            let end = series.last().map(|s| read(s));
            let peak = series.iter().map(|s| read(s)).fold(f64::MIN, f64::max);
            // Least-squares slope over the warmed-up samples, per 10,000 calls.
            let tail: Vec<(f64, f64)> = series
                .iter()
                .filter(|s| s.calls >= after_warmup.map_or(0, |w| w.calls))
                .map(|s| (s.calls as f64, read(s)))
                .collect();
            let slope = slope(&tail).map(|per_call| per_call * 10_000.0);
            let end_vs_warm = match (warm, end) {
                (Some(w), Some(e)) if w > 0.0 => Some(((e - w) / w * 1000.0).round() / 10.0),
                _ => None,
            };
            json!({
                "start": start, "after_warmup": warm, "peak": peak, "end": end,
                "slope_per_10k_calls": slope.map(|s| (s * 100.0).round() / 100.0),
                "end_vs_warmup_percent": end_vs_warm,
            })
        };
        processes.insert(
            name.to_owned(),
            json!({
                "samples": series.len(),
                "series_columns": ["seconds", "calls", "rss_kib", "fds", "threads"],
                "series": series
                    .iter()
                    .map(|s| json!([(s.seconds * 10.0).round() / 10.0, s.calls, s.rss_kib, s.fds, s.threads]))
                    .collect::<Vec<_>>(),
                "rss_kib": figure(&|s| s.rss_kib as f64),
                "fds": figure(&|s| s.fds as f64),
                "threads": figure(&|s| s.threads as f64),
            }),
        );
    }
    let answered = outcomes.latencies.total;
    let tool_errors: usize = outcomes.tool_errors.values().sum();
    let failed: usize = outcomes.failed.values().sum();
    json!({
        "target": target,
        "calls": args.calls,
        "concurrency": args.concurrency,
        "ok": answered,
        "writes_ok": outcomes.writes_ok,
        "tool_errors": tool_errors,
        "failed": failed,
        "tool_error_kinds": outcomes.tool_errors,
        "failure_kinds": outcomes.failed,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "calls_per_second": (args.calls as f64 / elapsed.as_secs_f64().max(1e-9)).round(),
        "latency_us": {
            "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99),
            "max": percentile(1.0),
        },
        "processes": processes,
    })
}

/// The least-squares slope of `points`; `None` with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if var == 0.0 {
        return None;
    }
    let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    Some(cov / var)
}

/// The report in a few lines for a person.
fn summary(report: &Value) -> String {
    let mut out = format!(
        "{} calls to {} in {} s ({} calls/s): {} ok, {} tool errors, {} failed; latency p50 {} µs, p99 {} µs\n",
        report["calls"],
        report["target"].as_str().unwrap_or_default(),
        report["seconds"],
        report["calls_per_second"],
        report["ok"],
        report["tool_errors"],
        report["failed"],
        report["latency_us"]["p50"],
        report["latency_us"]["p99"],
    );
    if let Some(kinds) = report["failure_kinds"].as_object() {
        for (kind, count) in kinds {
            out.push_str(&format!("  failed {count}×: {kind}\n"));
        }
    }
    if let Some(processes) = report["processes"].as_object() {
        for (name, figures) in processes {
            for what in ["rss_kib", "fds", "threads"] {
                let f = &figures[what];
                out.push_str(&format!(
                    "  {name} {what}: start {} after warm-up {} peak {} end {} (end vs warm-up {}%, slope {} per 10k calls)\n",
                    f["start"], f["after_warmup"], f["peak"], f["end"],
                    f["end_vs_warmup_percent"], f["slope_per_10k_calls"],
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Latencies, slope};

    #[test]
    fn latency_quantiles_are_within_a_percent() {
        let mut latencies = Latencies::default();
        for micros in 1..=1000u64 {
            latencies.record(Duration::from_micros(micros));
        }
        let p50 = latencies.quantile(0.5);
        assert!((495.0..=505.0).contains(&p50), "{p50}");
        let p99 = latencies.quantile(0.99);
        assert!((980.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(Latencies::default().quantile(0.5), 0.0);
    }

    #[test]
    fn slopes_are_least_squares() {
        assert_eq!(slope(&[(0.0, 1.0), (10.0, 21.0), (20.0, 41.0)]), Some(2.0));
        assert_eq!(slope(&[(5.0, 1.0)]), None);
        assert_eq!(slope(&[(5.0, 1.0), (5.0, 2.0)]), None);
    }
}
