//! The `file-server` binary: a sandboxed filesystem MCP server over stdio.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    file_server::run(file_server::Args::parse())
}
