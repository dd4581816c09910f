//! A minimal stdio MCP server for the proxy's tests: no SDK, no telemetry, one JSON-RPC
//! message per line, each line it receives recorded as it arrived.
//!
//! Flags: `--record FILE` appends every line read from stdin to FILE, byte for byte;
//! `--exit-at-start CODE` exits at once; `--linger` keeps running after stdin closes (until
//! a signal ends it); `--ignore-sigterm` ignores SIGTERM.
//!
//! Tools (`tools/call` by name): `echo` (returns `arguments.text`), `fail` (an `isError`
//! result), `crash` (exits with status 3 without answering), `garbage` (writes a line that
//! is not JSON), `progress` (two progress notifications for the request's `progressToken`,
//! then a result), `log` (a logging notification, then a result), `sample` (asks the client
//! for `sampling/createMessage` and returns the answer's text), `slow` (answers after
//! `arguments.ms` milliseconds), `raw` (answers with a hand-written line full of unusual
//! JSON spellings). A JSON array (batch) is refused with -32600, an unknown method with
//! -32601.

use std::{
    io::{BufRead, Write},
    time::Duration,
};

use serde_json::{Value, json};

fn main() {
    let mut record = None;
    let mut linger = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--record" => record = args.next(),
            "--exit-at-start" => {
                let code = args.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                eprintln!("proxy-test-server: exiting at start with status {code}");
                std::process::exit(code);
            }
            "--linger" => linger = true,
            "--ignore-sigterm" => {
                // SAFETY: setting a signal's disposition to "ignore" before any thread starts.
                unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            }
            other => panic!("unknown flag {other}"),
        }
    }
    let mut record = record.map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("record file")
    });
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(file) = record.as_mut() {
            file.write_all(&line).unwrap();
            file.flush().unwrap();
        }
        handle(&line, &mut input, &mut record);
    }
    if linger {
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}

fn send(message: &Value) {
    send_raw(&format!("{message}\n"));
}

fn send_raw(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.flush().unwrap();
}

fn result(id: &Value, result: Value) {
    send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
}

fn text_result(id: &Value, text: &str, is_error: bool) {
    result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    );
}

fn handle(line: &[u8], input: &mut impl BufRead, record: &mut Option<std::fs::File>) {
    let text = String::from_utf8_lossy(line);
    if text.trim_start().starts_with('[') {
        send(
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "batches are not supported"}}),
        );
        return;
    }
    let Ok(message) = serde_json::from_str::<Value>(&text) else {
        send(
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
        );
        return;
    };
    let (Some(method), Some(id)) = (message["method"].as_str(), message.get("id")) else {
        return; // notifications and responses need no answer
    };
    let params = &message["params"];
    match method {
        "initialize" => result(
            id,
            json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "proxy-test-server", "version": "0.0.0"}
            }),
        ),
        "ping" => result(id, json!({})),
        "tools/list" => {
            let tools: Vec<Value> = [
                "echo", "fail", "crash", "garbage", "progress", "log", "sample", "slow", "raw",
            ]
            .iter()
            .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
            .collect();
            result(id, json!({"tools": tools}));
        }
        "tools/call" => call(id, params, input, record),
        _ => send(&json!({
            "jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": "method not found", "data": {"method": method}}
        })),
    }
}

fn call(id: &Value, params: &Value, input: &mut impl BufRead, record: &mut Option<std::fs::File>) {
    let arguments = &params["arguments"];
    match params["name"].as_str().unwrap_or_default() {
        "echo" => text_result(id, arguments["text"].as_str().unwrap_or_default(), false),
        "fail" => text_result(id, "it failed on purpose", true),
        "crash" => {
            eprintln!("proxy-test-server: crashing mid-call");
            std::process::exit(3);
        }
        "garbage" => send_raw("this is not JSON-RPC\n"),
        "progress" => {
            let token = &params["_meta"]["progressToken"];
            for progress in [1, 2] {
                send(
                    &json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": token, "progress": progress, "total": 2, "message": format!("step {progress}")}}),
                );
            }
            text_result(id, "done", false);
        }
        "log" => {
            send(&json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "data": "hello from the test server"}}));
            text_result(id, "logged", false);
        }
        "sample" => {
            send(
                &json!({"jsonrpc": "2.0", "id": "s-1", "method": "sampling/createMessage",
                "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}], "maxTokens": 5}}),
            );
            let mut line = Vec::new();
            loop {
                line.clear();
                if input.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    std::process::exit(0);
                }
                if let Some(file) = record.as_mut() {
                    file.write_all(&line).unwrap();
                }
                let answer: Value = serde_json::from_slice(&line).unwrap_or_default();
                if answer["id"] == "s-1" {
                    let text = answer["result"]["content"]["text"].as_str().unwrap_or("?");
                    text_result(id, &format!("the client said: {text}"), false);
                    return;
                }
            }
        }
        "slow" => {
            std::thread::sleep(Duration::from_millis(
                arguments["ms"].as_u64().unwrap_or(100),
            ));
            text_result(id, "slept", false);
        }
        "raw" => send_raw(&format!(
            "{{ \"result\" : {{\"content\":[{{\"type\":\"text\",\"text\":\"caf\\u00e9 \\/ ok\"}}],\"n\":1.0e3, \"big\":123456789012345678901234567890}}, \"id\":{id},\"jsonrpc\":\"2.0\" }}\n"
        )),
        other => send(&json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32602, "message": format!("unknown tool {other}")}})),
    }
}
