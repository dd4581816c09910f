//! The command line.

use std::path::PathBuf;

use crate::{
    sandbox::{AllowedRoots, SandboxError},
    tools::{FileServer, Options},
};

/// Default of `--max-read-bytes`: 1 MiB (the tools' own default).
pub use crate::tools::DEFAULT_MAX_READ_BYTES;

const LONG_ABOUT: &str = "\
A sandboxed filesystem MCP server over stdio, or Streamable HTTP with --http.

It lets an MCP client (Claude Desktop, VS Code, Cursor, mcp-host) read, list and search files \
inside the allowed directories, and with --allow-write also write files and create \
directories there. Every path is resolved (relative paths against the first allowed \
directory, `.`/`..` normalised, symbolic links followed) and refused unless it lies inside an \
allowed directory. FIFOs, sockets and devices are never opened.

Over stdio, stdout carries JSON-RPC only. With --http ADDR the server listens on \
http://ADDR/mcp (loopback unless ADDR says otherwise), refuses browser origins it was not \
told about, and requires `Authorization: Bearer $MCP_SERVER_TOKEN` when that variable is set. Logs go to stderr, filtered by RUST_LOG (default: warn).

Each request is traced (OpenTelemetry, W3C trace context from the request's _meta). Export is \
off unless configured with the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT, \
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_HEADERS, \
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED; \
CONFIDENT_API_KEY adds the x-confident-api-key header. The same endpoint gets the mcp.server.operation.duration and mcp.server.session.duration metrics (OTEL_METRICS_EXPORTER=none turns them off; OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_METRIC_EXPORT_INTERVAL; never sent to Confident AI). A request the client cancels (notifications/cancelled) stops its search.";

/// Command-line arguments of `file-server`.
#[derive(clap::Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "file-server",
    version,
    about = "A sandboxed filesystem MCP server over stdio or Streamable HTTP",
    long_about = LONG_ABOUT,
    group(clap::ArgGroup::new("allowed").required(true).multiple(true).args(["roots", "dirs"]))
)]
pub struct Args {
    /// An allowed directory (repeatable). The first allowed directory, from --root or
    /// positional, is the base of relative paths.
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,

    /// More allowed directories, as the reference filesystem server takes them.
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Offer the write tools (write_file, create_directory). Off by default: without it they
    /// are neither listed nor callable.
    #[arg(long)]
    pub allow_write: bool,

    /// Largest file the read tools return, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_READ_BYTES)]
    pub max_read_bytes: u64,

    /// How the server is reached: stdio, or `--http ADDR`.
    #[command(flatten)]
    pub serve: trace_meta::cli::ServeArgs,
}

impl Args {
    /// The server these arguments describe; fails naming the directory when an allowed root
    /// does not exist or is not a directory.
    pub fn server(&self) -> Result<FileServer, SandboxError> {
        let roots = AllowedRoots::new(self.allowed_dirs())?;
        Ok(FileServer::new(
            roots,
            Options {
                allow_write: self.allow_write,
                max_read_bytes: self.max_read_bytes,
            },
        ))
    }

    /// Every allowed directory, `--root` ones first, then the positional ones.
    pub fn allowed_dirs(&self) -> Vec<PathBuf> {
        self.roots.iter().chain(&self.dirs).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn roots_and_positional_dirs_combine() {
        let args = Args::parse_from(["file-server", "--root", "/a", "/b", "--root", "/c"]);
        assert_eq!(
            args.allowed_dirs(),
            vec![
                PathBuf::from("/a"),
                PathBuf::from("/c"),
                PathBuf::from("/b")
            ]
        );
        assert!(!args.allow_write);
        assert_eq!(args.max_read_bytes, DEFAULT_MAX_READ_BYTES);
        assert!(matches!(
            args.serve.transport(),
            Ok(trace_meta::ServerTransport::Stdio)
        ));
    }

    #[test]
    fn at_least_one_directory_is_required() {
        assert!(Args::try_parse_from(["file-server"]).is_err());
        assert!(Args::try_parse_from(["file-server", "--allow-write"]).is_err());
        assert!(Args::try_parse_from(["file-server", "/x"]).is_ok());
    }
}
