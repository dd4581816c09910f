//! A stdio MCP proxy (or any stdio MCP server) driven line by line as its client, and a
//! loopback collector that keeps the whole spans it exports: the fixtures of the proxy's
//! suites (`trace-proxy/tests/proxy.rs`, and `mcp-host/tests/proxy.rs` for `mcp-host proxy`).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    env::clean_env,
    otlp::{Backend, Mode, Span},
    process::wait_timeout,
};

/// How long any single wait of these fixtures may last.
pub const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------
// A loopback OTLP/HTTP collector that keeps whole spans (events and kinds included).

/// The loopback OTLP backend of test-support, at its traces endpoint.
pub struct Collector {
    /// The traces endpoint, for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub endpoint: String,
    backend: Backend,
}

impl Collector {
    /// Starts a collector that accepts everything.
    pub fn start() -> Self {
        let backend = Backend::start(Mode::Ok);
        let endpoint = format!("{}/v1/traces", backend.endpoint);
        Self { endpoint, backend }
    }

    /// Waits until `done` holds for the spans received, or [`WAIT`] passes.
    pub fn wait(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = Instant::now() + WAIT;
        loop {
            let spans = self.backend.spans();
            if done(&spans) || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The one span of `service` named `name`; panics, listing the spans, unless there is
/// exactly one.
pub fn one<'a>(spans: &'a [Span], service: &str, name: &str) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one span {name} of {service}; got: {:?}",
        spans
            .iter()
            .map(|s| (&s.service, &s.name))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// Whether a span of `service` named `name` is among `spans`.
pub fn has(spans: &[Span], service: &str, name: &str) -> bool {
    spans.iter().any(|s| s.service == service && s.name == name)
}

// ---------------------------------------------------------------------------------------
// The proxy as a child process, driven line by line.

/// A proxy as a child process, driven line by line.
pub struct Proxy {
    /// The proxy's process.
    pub child: Child,
    stdin: Option<ChildStdin>,
    /// The lines it writes to stdout, as they come.
    pub lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proxy {
    /// `proxy --name NAME server…` (`proxy` is the proxy's command line up to its options:
    /// `[trace-proxy]`, `[mcp-host, "proxy"]`) with a clean environment and these
    /// variables, exporting to `collector` when given.
    pub fn start(
        proxy: &[&str],
        name: &str,
        server: &[&str],
        collector: Option<&Collector>,
        env: &[(&str, &str)],
    ) -> Self {
        let (program, first) = proxy.split_first().expect("a proxy command");
        let mut command = Command::new(program);
        clean_env(&mut command);
        command.envs(env.iter().copied());
        command
            .args(first)
            .args(["--name", name])
            .args(server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(collector) = collector {
            command.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &collector.endpoint);
        }
        let mut child = command.spawn().expect("starting the proxy");
        let stdin = child.stdin.take();
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = sender.send(String::from_utf8(line).expect("stdout is UTF-8"));
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[proxy stderr] {line}");
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// Writes `line` (and a newline, unless it ends with one).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        if !line.ends_with('\n') {
            stdin.write_all(b"\n").unwrap();
        }
        stdin.flush().unwrap();
    }

    /// Writes `message` as one line.
    pub fn send_json(&mut self, message: &Value) {
        self.send(&message.to_string());
    }

    /// The next line the proxy writes to stdout.
    pub fn recv(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("a line from the proxy in time")
    }

    /// The next line, parsed.
    pub fn recv_json(&self) -> Value {
        serde_json::from_str(&self.recv()).unwrap()
    }

    /// Sends a request and returns its response, skipping notifications.
    pub fn call(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.send_json(&message);
        loop {
            let answer = self.recv_json();
            if answer["id"] == id && answer.get("method").is_none() {
                return answer;
            }
        }
    }

    /// The handshake at protocol `version`; returns the server's answer.
    pub fn initialize(&mut self, version: &str) -> Value {
        let answer = self.call(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {"sampling": {}},
            "clientInfo": {"name": "proxy-test", "version": "0"}}}),
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    /// Closes stdin and waits for the proxy to exit.
    pub fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        self.wait()
    }

    /// Waits for the proxy to exit; returns its status and its stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let Some(status) = wait_timeout(&mut self.child, WAIT) else {
            let _ = self.child.kill();
            panic!("the proxy did not exit in time");
        };
        // Let the stderr reader reach the end.
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr.lock().unwrap().clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
