//! A client that calls one tool of any stdio MCP server inside a trace of its own.
//!
//! ```text
//! cargo build -p file-server
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
//!   cargo run -p trace-meta --example traced-client -- \
//!   read_file '{"path": "sales.csv"}' target/debug/file-server --root examples/data
//! ```
//!
//! Adopting trace-meta on the client side took two things: telemetry set up once
//! (`trace_meta::telemetry::init`), and every request sent through a
//! [`trace_meta::TracedClient`]. The `tools/list` and `tools/call` requests each become a
//! CLIENT span under `my-client`, and their trace context travels in `params._meta`, so a
//! server built on trace-meta (or any server that reads `_meta`, such as the Python SDK
//! 2.x) makes its SERVER spans their children. The server inherits the `OTEL_*`
//! variables, so both sides export to the same backend: one trace.

use anyhow::Context as _;
use rmcp::{ServiceExt as _, model::CallToolRequestParams};
use tracing::Instrument as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: traced-client TOOL ARGUMENTS_JSON SERVER_COMMAND [ARGS...]";
    let tool = args.next().context(usage)?;
    let arguments: serde_json::Value =
        serde_json::from_str(&args.next().context(usage)?).context("ARGUMENTS_JSON")?;
    let command = args.next().context(usage)?;

    // Once per process: the exporter from OTEL_*, logs on stderr, the `_meta` propagator.
    let _telemetry = trace_meta::telemetry::init("my-client")?;

    let mut child = tokio::process::Command::new(&command)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {command}"))?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        anyhow::bail!("the server has no stdio pipes");
    };
    let session = ().serve((stdout, stdin)).await?;
    let client = trace_meta::TracedClient::new(session.peer().clone());

    // Your own root span: the traced requests are its children.
    let root = tracing::info_span!("my-client", otel.kind = "internal");
    let result = async {
        let tools = client.list_all_tools().await?;
        tracing::info!(tools = tools.len(), "listed the server's tools");
        let mut params = CallToolRequestParams::new(tool);
        if let serde_json::Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        anyhow::Ok(client.call_tool(params).await?)
    }
    .instrument(root)
    .await?;
    println!("{}", trace_meta::tool_result_text(&result));

    // Closing stdin ends the server's session; it flushes its spans and exits.
    session.cancel().await?;
    let _ = child.wait().await;
    Ok(())
}
