//! Past one process: three db-server replicas on one PostgreSQL behind HAProxy, started by
//! `examples/deploy/topology.sh` as a user would, and `mcp-host load` sending 3,000 traced
//! calls through the balancer (one in ten a write) while one replica is drained (SIGTERM)
//! and another killed (SIGKILL). Then, from the backend's spans, HAProxy's log (which
//! replica answered which `traceparent`) and the database:
//!
//! - every call succeeded or failed with a clear error naming the server;
//! - every read that failed on the way was sent again inside its tool span (a `retry`
//!   event, the next attempt a child CLIENT span) and answered; no write was ever sent
//!   twice, and none is in the database twice;
//! - every request the drained replica and the survivor answered has its server span in
//!   the backend, under its parent; the killed replica's lost spans are counted;
//! - the host's own query through the balancer is one trace.
//!
//! Needs HAProxy and PostgreSQL; skips without them unless MCP_TRACE_REQUIRE_HAPROXY=1 /
//! MCP_TRACE_REQUIRE_POSTGRES=1 (as in CI).

mod common;

use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use test_support::{
    env::clean_env,
    otlp::{Backend, Mode, Span},
    postgres::Postgres,
    process::wait_timeout,
};

const CALLS: usize = 3000;
const WRITE_EVERY: usize = 10;

fn haproxy_present() -> bool {
    let present = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var("MCP_TRACE_REQUIRE_HAPROXY").as_deref() != Ok("1"),
            "HAProxy is required here (MCP_TRACE_REQUIRE_HAPROXY=1) but not installed"
        );
        eprintln!("skipped: haproxy is not installed (apt-get install haproxy)");
    }
    present
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deploy/topology.sh")
}

/// A port P with P+1..=P+3 free too, for the balancer and three replicas: below the
/// kernel's ephemeral range (32768 and up), where outgoing connections take every other
/// port.
fn free_ports() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 7_919) % 3_000) as u16 * 4;
        let held: Vec<_> = (0..4)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == 4 {
            return base;
        }
    }
    panic!("no four consecutive free ports on 127.0.0.1 between 20000 and 32000");
}

/// `topology.sh ACTION` for this test's three replicas on `base`.
fn topology_command(dir: &Path, action: &str, base: u16) -> Command {
    let mut command = Command::new("bash");
    clean_env(&mut command);
    command
        .arg(script())
        .arg(action)
        .args(["-n", "3", "-p", &base.to_string(), "-d"])
        .arg(dir);
    command
}

/// The topology up (`topology.sh up`), taken down when dropped, so a failing assertion
/// leaves no process behind.
struct Up<'a> {
    dir: &'a Path,
    base: u16,
}

impl<'a> Up<'a> {
    fn start(dir: &'a Path, base: u16, env: &[(&str, String)], server: &[String]) -> Self {
        let output = topology_command(dir, "up", base)
            .arg("--")
            .args(server)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("running topology.sh");
        let up = Self { dir, base };
        assert!(
            output.status.success(),
            "topology.sh up: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        up
    }
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = topology_command(self.dir, "down", self.base).status();
    }
}

fn pid(dir: &Path, name: &str) -> i32 {
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Connections established to 127.0.0.1:`port` (from /proc/net/tcp): with one request per
/// connection to a replica, the requests it has in flight.
fn in_flight(port: u16) -> usize {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// One line of HAProxy's log: which replica answered, with what status, for which span.
struct Routed {
    replica: String,
    /// -1 when the replica went away before answering.
    status: i32,
    /// The span id of the request's `traceparent` header; empty without one.
    parent_span: String,
    /// Its `Mcp-Session-Id`; empty outside a 2025-11-25 session.
    session: String,
}

fn haproxy_log(dir: &Path) -> Vec<Routed> {
    let text = std::fs::read_to_string(dir.join("haproxy.log")).unwrap();
    text.lines()
        .filter_map(|line| {
            // "127.0.0.1:40202 replicas/replica-3 200 4 {00-TRACE-SPAN-01|session}"
            let mut fields = line.split_whitespace();
            let _client = fields.next()?;
            let replica = fields.next()?.strip_prefix("replicas/")?.to_owned();
            let status = fields.next()?.parse::<i32>().ok()?;
            let _time = fields.next()?;
            let mut captured = fields
                .next()?
                .trim_start_matches('{')
                .trim_end_matches('}')
                .split('|');
            let traceparent = captured.next().unwrap_or_default();
            Some(Routed {
                replica,
                status,
                parent_span: traceparent.split('-').nth(2).unwrap_or_default().to_owned(),
                session: captured.next().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

fn has_event(span: &Span, name: &str) -> bool {
    span.event(name).is_some()
}

#[test]
fn a_replica_drained_and_one_killed_under_load_lose_no_call_and_keep_every_span_they_can() {
    if !haproxy_present() {
        return;
    }
    let Some(pg) = Postgres::start() else { return };
    pg.admin(
        "CREATE TABLE load_writes (n integer NOT NULL); \
         CREATE ROLE writer LOGIN PASSWORD 'writer-pw'; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO writer; \
         GRANT INSERT ON load_writes TO writer",
    );
    let database_url = format!(
        "postgres://writer:writer-pw@127.0.0.1:{}/sales?sslmode=disable",
        pg.port()
    );
    let backend = Backend::start(Mode::Ok);
    let dir = tempfile::tempdir().unwrap();
    let base = free_ports();
    let lb = format!("http://127.0.0.1:{base}/mcp");
    let export = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
    ];
    let mut replica_env = export.to_vec();
    replica_env.push(("REPLICA_FLAGS", "--shutdown-grace 5".to_owned()));
    let server: Vec<String> = [
        HOST,
        "__serve",
        "db-server",
        "--allow-write",
        "--database-url",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([database_url.clone()])
    .collect();
    let up = Up::start(dir.path(), base, &replica_env, &server);

    let report = dir.path().join("report.json");
    let mut load = Command::new(HOST);
    clean_env(&mut load);
    let mut load = load
        .args(["load", "--url", &lb, "--calls", &CALLS.to_string()])
        .args(["--concurrency", "8", "--sample-every", "1"])
        .args([
            "--args",
            r#"{"sql": "SELECT pg_sleep(0.02), count(*) FROM sales"}"#,
        ])
        .args([
            "--write-tool",
            "execute",
            "--write-every",
            &WRITE_EVERY.to_string(),
        ])
        .args([
            "--write-args",
            r#"{"sql": "INSERT INTO load_writes (n) VALUES ($N)"}"#,
        ])
        .arg("--report")
        .arg(&report)
        .envs(export.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Once the calls flow: drain replica-2, then kill replica-3.
    let deadline = Instant::now() + Duration::from_secs(30);
    while backend.spans().len() < 300 {
        assert!(Instant::now() < deadline, "the load never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (drained, killed) = (pid(dir.path(), "replica-2"), pid(dir.path(), "replica-3"));
    // Each signalled with requests in flight: the drained replica must answer them, the
    // killed one loses them on the way.
    let wait_for_requests = |port: u16, who: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while in_flight(port) < 2 {
            assert!(
                Instant::now() < deadline,
                "{who} never had two requests in flight"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    wait_for_requests(base + 2, "replica-2");
    // SAFETY: signalling processes the topology script started for this test.
    unsafe { libc::kill(drained, libc::SIGTERM) };
    wait_for_requests(base + 3, "replica-3");
    // SAFETY: as above.
    unsafe { libc::kill(killed, libc::SIGKILL) };
    let drain_deadline = Instant::now() + Duration::from_secs(7);
    while alive(drained) {
        assert!(
            Instant::now() < drain_deadline,
            "the drained replica did not exit within its 5 s grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = wait_timeout(&mut load, Duration::from_secs(180)).expect("the load ends");
    let load_stderr = {
        use std::io::Read;
        let mut text = String::new();
        load.stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    assert!(status.success(), "mcp-host load: {load_stderr}");

    // The host's own query, through the balancer to the replica still up.
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "file-server": {"command": HOST, "args": ["__serve", "file-server", "--root", test_support::data::data_dir().to_string_lossy()]},
            "db-server": {"url": lb},
        }})
        .to_string(),
    )
    .unwrap();
    let trace_json = dir.path().join("host.json");
    let host_run = run(host()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint)
        .arg("--config")
        .arg(&config)
        .arg("--trace-json")
        .arg(&trace_json)
        .arg("Summarize our 2024 sales data"));
    assert!(
        host_run.status.success(),
        "{}",
        String::from_utf8_lossy(&host_run.stderr)
    );
    let host_spans = spans(&trace_json);
    let traces: HashSet<&str> = host_spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "the host's query is one trace");
    let host_trace = host_spans[0].trace_id.clone();
    let host_call = one(&host_spans, "mcp-tool-query_database").span_id.clone();

    drop(up);
    let replica_2_log =
        std::fs::read_to_string(dir.path().join("replica-2.log")).unwrap_or_default();
    assert!(
        !replica_2_log.contains("abandoned") && !replica_2_log.contains("lost"),
        "the drained replica finished its calls and flushed: {replica_2_log}"
    );

    // Every call is accounted for, and a failure says what failed.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let ok = report["ok"].as_u64().unwrap() as usize;
    let failed = report["failed"].as_u64().unwrap() as usize;
    assert_eq!(report["tool_errors"], 0, "{report}");
    assert_eq!(ok + failed, CALLS, "{report}");
    for (kind, _) in report["failure_kinds"].as_object().unwrap() {
        assert!(
            kind.contains(&format!("127.0.0.1:{base}")) && kind.len() > 40,
            "a failure names the server and the cause: {kind}"
        );
    }

    // Settle: the survivor flushed on `down`; the host flushed on exit.
    let spans = {
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = backend.spans().len();
            if now == last {
                break backend.spans();
            }
            last = now;
        }
    };
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.service == "mcp-host" && s.name.starts_with("mcp-tool-"))
        .collect();
    let roots: Vec<&&Span> = calls
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(
        roots.len(),
        CALLS,
        "one trace per call, each in the backend"
    );
    // The host's query: its db-server span, from a replica, in the backend under its call.
    assert!(
        spans.iter().any(|s| s.service == "db-server"
            && s.name == "tool-query_database"
            && s.trace_id == host_trace
            && s.parent_span_id == host_call),
        "the host's query through the balancer is one trace in the backend"
    );
    let attempts: Vec<&&Span> = calls
        .iter()
        .filter(|s| !s.parent_span_id.is_empty() && s.trace_id != host_trace)
        .collect();
    for attempt in &attempts {
        assert_eq!(
            attempt.name, "mcp-tool-query_database",
            "only reads are sent again"
        );
        assert!(attempt.attribute("mcp.request.attempt").is_some());
        let root = by_id[attempt.parent_span_id.as_str()];
        assert!(
            has_event(root, "retry"),
            "the call's span records the retry"
        );
    }
    let writes: Vec<&&Span> = roots
        .iter()
        .filter(|s| s.name == "mcp-tool-execute")
        .copied()
        .collect();
    assert_eq!(writes.len(), CALLS / WRITE_EVERY);
    assert!(
        writes.iter().all(|w| !has_event(w, "retry")),
        "no write is sent again"
    );
    let duplicates = pg
        .admin("SELECT count(*) FROM (SELECT n FROM load_writes GROUP BY n HAVING count(*) > 1) d");
    assert_eq!(duplicates, "0", "no write reached the database twice");
    let rows: usize = pg
        .admin("SELECT count(*) FROM load_writes")
        .parse()
        .unwrap();
    let writes_ok = report["writes_ok"].as_u64().unwrap() as usize;
    assert!(
        rows >= writes_ok && rows <= writes.len(),
        "{rows} rows for {writes_ok} answered writes of {}",
        writes.len()
    );

    // Which replica answered which request: each answered request's server span arrived,
    // except the killed replica's.
    let routed = haproxy_log(dir.path());
    let server_parents: HashSet<&str> = spans
        .iter()
        .filter(|s| s.service == "db-server" && s.kind == KIND_SERVER)
        .map(|s| s.parent_span_id.as_str())
        .collect();
    let mut answered: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut failed_on_the_way = Vec::new();
    for line in &routed {
        if !by_id.contains_key(line.parent_span.as_str()) {
            continue; // not a request of the load (a health check, the host's own run)
        }
        if line.status == 200 {
            let entry = answered.entry(line.replica.as_str()).or_default();
            entry.0 += 1;
            if !server_parents.contains(line.parent_span.as_str()) {
                entry.1 += 1;
            }
        } else if line.status >= 500 || line.status < 0 {
            failed_on_the_way.push(line);
        }
    }
    let (served_3, lost_3) = answered.get("replica-3").copied().unwrap_or_default();
    eprintln!(
        "answered (requests, server spans lost): {answered:?}; replica-3 (SIGKILL) lost {lost_3} of {served_3}; \
         {} requests failed on the way, {} reads sent again, {failed} calls failed",
        failed_on_the_way.len(),
        attempts.len()
    );
    // The drained replica answered every request that reached it: HAProxy's log has no
    // line of a request it took and did not answer (502, or -1 for a connection cut). A
    // 503 is HAProxy's own "no replica reachable" while its checks catch up, which no
    // replica saw.
    let unanswered_by_2: Vec<&Routed> = routed
        .iter()
        .filter(|r| {
            r.replica == "replica-2" && (r.status == 502 || r.status == 504 || r.status < 0)
        })
        .collect();
    assert!(
        unanswered_by_2.is_empty(),
        "{} requests reached the draining replica and got no answer",
        unanswered_by_2.len()
    );
    for replica in ["replica-1", "replica-2"] {
        let (served, lost) = answered.get(replica).copied().unwrap_or_default();
        assert!(served > 0, "{replica} answered nothing");
        assert_eq!(
            lost, 0,
            "{replica}: {lost} of {served} server spans missing"
        );
    }
    // The requests in flight on the killed replica fail between the balancer and the host
    // (HAProxy closes the host's connection); those it could not place answer 503.
    assert!(
        !attempts.is_empty(),
        "no read was sent again: the kill found nothing in flight, and nothing was tested"
    );
    for line in &failed_on_the_way {
        let span = by_id[line.parent_span.as_str()];
        let root = if span.parent_span_id.is_empty() {
            span
        } else {
            by_id[span.parent_span_id.as_str()]
        };
        if root.name == "mcp-tool-query_database" {
            let answered_later = attempts
                .iter()
                .any(|a| a.parent_span_id == root.span_id && !a.is_error());
            assert!(
                answered_later,
                "a read that failed on the way was answered by a resend"
            );
        } else {
            assert!(root.is_error(), "a write that failed on the way fails");
        }
    }
    // Every server span of the replicas that lived is under its parent.
    for span in spans.iter().filter(|s| s.service == "db-server") {
        assert!(
            by_id.contains_key(span.parent_span_id.as_str()),
            "{} has no parent in the backend",
            span.name
        );
    }
}

/// A 2025-11-25 client holds a session that lives in one replica: HAProxy learns its
/// `Mcp-Session-Id` from the answer to `initialize` and sends every later request of the
/// session there (any other replica would answer 404). Two sessions, 40 calls each, every
/// call answered, each session's requests on one replica by HAProxy's log.
#[test]
fn a_2025_11_25_session_sticks_to_its_replica() {
    use rmcp::{
        model::CallToolRequestParams,
        service::{ClientLifecycleMode, ClientServiceExt as _},
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    if !haproxy_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = free_ports();
    let sales = test_support::data::data_dir().join("sales.csv");
    let server: Vec<String> = vec![
        HOST.to_owned(),
        "__serve".to_owned(),
        "db-server".to_owned(),
        "--load".to_owned(),
        format!("sales={}", sales.display()),
    ];
    let up = Up::start(dir.path(), base, &[], &server);
    let lb = format!("http://127.0.0.1:{base}/mcp");
    mcp_host::install_tls_provider();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..2 {
            let config = StreamableHttpClientTransportConfig::with_uri(lb.as_str());
            let transport =
                StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
            let session =
                ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
                    .await
                    .expect("a 2025-11-25 session through the balancer");
            for _ in 0..40 {
                let result = session
                    .peer()
                    .call_tool(CallToolRequestParams::new("list_tables"))
                    .await
                    .expect("every call of the session is answered");
                assert_ne!(result.is_error, Some(true));
            }
            let _ = session.cancel().await;
        }
    });
    drop(up);

    // By the log: requests carrying a session id, grouped by it.
    let mut replicas_of: HashMap<String, HashSet<String>> = HashMap::new();
    let mut requests_of: HashMap<String, usize> = HashMap::new();
    for line in haproxy_log(dir.path())
        .into_iter()
        .filter(|l| !l.session.is_empty())
    {
        *requests_of.entry(line.session.clone()).or_default() += 1;
        replicas_of
            .entry(line.session)
            .or_default()
            .insert(line.replica);
    }
    assert_eq!(
        replicas_of.len(),
        2,
        "two sessions in the log: {replicas_of:?}"
    );
    for (session, replicas) in &replicas_of {
        assert_eq!(replicas.len(), 1, "session {session} went to {replicas:?}");
        assert!(requests_of[session] >= 40, "{requests_of:?}");
    }
}
