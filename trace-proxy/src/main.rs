//! `trace-proxy [--name NAME] [--no-span-return] [--] COMMAND ARGS…`: the proxy alone.

use std::process::ExitCode;

use clap::Parser as _;

/// Trace any stdio MCP server: relay it unchanged, each request a span. Example:
/// `trace-proxy --name fs -- npx -y @modelcontextprotocol/server-filesystem /tmp`
#[derive(Debug, clap::Parser)]
#[command(name = "trace-proxy", version)]
struct Cli {
    #[command(flatten)]
    proxy: trace_proxy::ProxyArgs,

    /// Do not ask the wrapped server for the spans of its tool calls and resource reads. By
    /// default the proxy asks (`_meta.otel`, SEP-2448 span return), so a server that returns
    /// them (file-server and db-server with --return-spans, Arcade's passback middleware)
    /// shows its work in the trace even when it exports nowhere the proxy does. Returned
    /// spans are checked (same trace, under the call's span, at most 1000 spans in 1 MiB)
    /// and sent on under the server's own service name; a server that also exports them
    /// where the proxy does says so, and they are not sent twice.
    #[arg(long)]
    no_span_return: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = trace_proxy::Options::new("trace-proxy").with_span_return(!cli.no_span_return);
    match trace_proxy::run(cli.proxy, options) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("trace-proxy: error: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}
