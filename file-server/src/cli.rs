//! The command line.

use std::path::PathBuf;

use crate::{
    sandbox::{AllowedRoots, SandboxError},
    tools::{FileServer, Options},
};

/// Default of `--max-read-bytes`: 1 MiB.
pub const DEFAULT_MAX_READ_BYTES: u64 = 1024 * 1024;

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
CONFIDENT_API_KEY adds the x-confident-api-key header.";

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

    /// Serve MCP over Streamable HTTP at http://ADDR/mcp instead of stdio. ADDR is
    /// HOST:PORT, or a port alone for 127.0.0.1 (this machine only). Clients must present
    /// `Authorization: Bearer $MCP_SERVER_TOKEN` when that variable is set.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,

    /// With --http: a host name (or host:port) clients may address besides localhost,
    /// 127.0.0.1 and ::1, e.g. the public name behind a reverse proxy. Repeatable.
    #[arg(long = "allowed-host", value_name = "HOST", requires = "http")]
    pub allowed_hosts: Vec<String>,

    /// With --http: a browser origin allowed to call, e.g. `https://app.example.com:443`. Without
    /// one, requests that carry an Origin header are refused. Repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN", requires = "http")]
    pub allowed_origins: Vec<String>,
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

    /// The transport the flags ask for: stdio, or Streamable HTTP with the token from
    /// `MCP_SERVER_TOKEN`.
    pub fn transport(&self) -> Result<trace_meta::Transport, trace_meta::http::HttpConfigError> {
        let Some(addr) = &self.http else {
            return Ok(trace_meta::Transport::Stdio);
        };
        let mut config = trace_meta::HttpConfig::new(trace_meta::http::parse_listen_address(addr)?)
            .with_token_from_env()?;
        config.allowed_hosts = self.allowed_hosts.clone();
        config.allowed_origins = self.allowed_origins.clone();
        Ok(trace_meta::Transport::Http(config))
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
        assert!(matches!(args.transport(), Ok(trace_meta::Transport::Stdio)));
    }

    #[test]
    fn http_flags() {
        let args = Args::parse_from([
            "file-server",
            "/d",
            "--http",
            "0",
            "--allowed-host",
            "mcp.example.com",
        ]);
        let Ok(trace_meta::Transport::Http(config)) = args.transport() else {
            panic!("expected HTTP");
        };
        assert!(config.addr.ip().is_loopback());
        assert_eq!(config.allowed_hosts, ["mcp.example.com"]);
        assert!(Args::try_parse_from(["file-server", "/d", "--allowed-host", "x"]).is_err());
        let args = Args::parse_from(["file-server", "/d", "--http", "nowhere"]);
        assert!(args.transport().is_err());
    }

    #[test]
    fn at_least_one_directory_is_required() {
        assert!(Args::try_parse_from(["file-server"]).is_err());
        assert!(Args::try_parse_from(["file-server", "--allow-write"]).is_err());
        assert!(Args::try_parse_from(["file-server", "/x"]).is_ok());
    }
}
