//! Exact JSON-RPC errors on stdio (issue #12, part 1), through the real `file-server`
//! binary: one test per malformed input of `trace-meta/tests/jsonrpc/cases.rs`.
//!
//! Each test starts a server, does the initialize handshake, writes the malformed line and
//! then two `tools/list` probes, and checks that:
//! - the line got exactly the answer the case prescribes (one error response with the exact
//!   code and id, or nothing for a notification);
//! - the probes are answered (the server goes on serving);
//! - every line on stdout is a JSON-RPC 2.0 message;
//! - closing stdin ends the server with status 0.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

#[path = "../../trace-meta/tests/jsonrpc/cases.rs"]
mod cases;
use cases::*;

const BINARY: &str = env!("CARGO_BIN_EXE_file-server");
const SAMPLE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data");
/// How long any one expected response may take (debug builds, a loaded machine).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server has to exit once its stdin is closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a malformed line may take to be refused: promptly, even 100,000 levels deep.
const PROMPT: Duration = Duration::from_secs(5);

macro_rules! stdio_tests {
    ($($name:ident: $case:expr,)*) => {
        $(#[test] fn $name() { run($case) })*
    };
}

jsonrpc_cases!(stdio_tests);

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Vec<u8>>,
}

impl Server {
    fn start() -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(["--root", SAMPLE_DATA])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("OTEL_") || name == "RUST_LOG" || name == "CONFIDENT_API_KEY" {
                command.env_remove(&key);
            }
        }
        let mut child = command.spawn().expect("spawn file-server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut server = Self {
            child,
            stdin,
            lines,
        };
        server.write(
            &serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "jsonrpc-errors", "version": "0"}}}))
            .unwrap(),
        );
        let reply = server.next(Instant::now() + RESPONSE_TIMEOUT);
        assert_eq!(reply["id"], 1, "initialize: {reply}");
        server.write(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        server
    }

    fn write(&mut self, line: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line on stdout, which must be a JSON-RPC 2.0 message.
    fn next(&mut self, deadline: Instant) -> Value {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = self
            .lines
            .recv_timeout(wait)
            .expect("an answer on stdout in time");
        let value: Value = serde_json::from_slice(&line).unwrap_or_else(|e| {
            panic!(
                "stdout carried a line that is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&line)
            )
        });
        assert_eq!(value["jsonrpc"], "2.0", "not JSON-RPC 2.0: {value}");
        value
    }

    /// Writes a `tools/list` probe with `id` and returns everything else written before
    /// its answer.
    fn probe(&mut self, id: i64) -> Vec<Value> {
        self.write(
            &serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}))
                .unwrap(),
        );
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        let mut others = Vec::new();
        loop {
            let message = self.next(deadline);
            if message["id"] == id {
                assert!(
                    message["result"]["tools"]
                        .as_array()
                        .is_some_and(|t| !t.is_empty()),
                    "the probe was not answered with the tools: {message}"
                );
                return others;
            }
            others.push(message);
        }
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "file-server exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "file-server did not exit after stdin closed"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(case: Case) {
    let mut server = Server::start();
    let started = Instant::now();
    server.write(&case.input);
    let mut answers = server.probe(1001);
    // A handler's answer may come after the probe's: wait for it, then probe once more so
    // a second answer to the same line would show.
    if let Expect::Error { id, .. } = &case.expect
        && !id.is_null()
        && answers.is_empty()
    {
        answers.push(server.next(Instant::now() + RESPONSE_TIMEOUT));
    }
    answers.extend(server.probe(1002));
    let shown = String::from_utf8_lossy(&case.input[..case.input.len().min(120)]).into_owned();
    match &case.expect {
        Expect::Error { code, id } => {
            assert_eq!(
                answers.len(),
                1,
                "{shown}: want exactly one answer, got {answers:?}"
            );
            let answer = &answers[0];
            assert_error_answer(&shown, answer, *code, id);
            assert!(answer["error"]["message"].is_string(), "{answer}");
            assert!(started.elapsed() < PROMPT + RESPONSE_TIMEOUT);
        }
        Expect::Nothing => {
            assert!(
                answers.is_empty(),
                "{shown}: a notification was answered: {answers:?}"
            );
        }
    }
    server.finish();
}
