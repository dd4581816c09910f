//! The benchmark floor: answers MCP requests on stdio with fixed results, no SDK, no
//! tracing. What a driver measures against it is the cost of the driver and the pipes.

use std::io::{BufRead, Write};

fn main() {
    // The same 1 KiB of text the other servers return for the benchmark's read_file call,
    // so every server puts the same bytes on the wire.
    let text: String = "0123456789abcdef".repeat(64);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = message.get("id") else {
            continue;
        };
        let result = match message["method"].as_str().unwrap_or_default() {
            "initialize" => serde_json::json!({
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "floor-server", "version": "0"}
            }),
            "tools/list" => serde_json::json!({"tools": [{
                "name": "read_file",
                "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}
            }]}),
            "tools/call" => serde_json::json!({"content": [{"type": "text", "text": text}]}),
            _ => serde_json::json!({}),
        };
        let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
