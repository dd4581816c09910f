//! The transport flags every server built on trace-meta takes (cargo feature `cli`):
//! `--http ADDR`, `--allowed-host HOST`, `--allowed-origin ORIGIN`. Flatten [`ServeArgs`]
//! into a server's clap arguments and hand [`ServeArgs::transport`] to [`crate::run`].
//!
//! ```
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     serve: trace_meta::cli::ServeArgs,
//! }
//! let args = Args::parse_from(["my-server", "--http", "8931"]);
//! assert!(matches!(args.serve.transport(), Ok(trace_meta::ServerTransport::Http { .. })));
//! ```

use std::time::Duration;

use crate::{
    HttpConfig, ServerTransport,
    http::{
        DEFAULT_SHUTDOWN_GRACE, HttpConfigError, IpNet, parse_listen_address, parse_trusted_proxy,
    },
};

/// How a server is reached: stdio by default, Streamable HTTP with `--http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ServeArgs {
    /// Serve MCP over Streamable HTTP at http://ADDR/mcp instead of stdio. ADDR is
    /// HOST:PORT, or a port alone for 127.0.0.1 (this machine only). Clients must present
    /// `Authorization: Bearer $MCP_SERVER_TOKEN` when that variable is set.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,

    /// With --http: a host name (or host:port) clients may address besides localhost,
    /// 127.0.0.1 and ::1, e.g. the public name behind a reverse proxy. Repeatable.
    #[arg(long = "allowed-host", value_name = "HOST", requires = "http")]
    pub allowed_hosts: Vec<String>,

    /// With --http: a browser origin allowed to call, e.g. `https://app.example.com:443`,
    /// besides the server's own loopback origin (http://127.0.0.1:PORT, localhost or ::1).
    /// A request carrying any other Origin header is refused (403). Repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN", requires = "http")]
    pub allowed_origins: Vec<String>,

    /// With --http: a reverse proxy or load balancer (an address, or a network such as
    /// 10.0.0.0/8) whose X-Forwarded-For is believed, so spans record the original client
    /// as client.address. X-Forwarded-* headers from any other peer are removed unread.
    /// Repeatable.
    #[arg(long = "trusted-proxy", value_name = "ADDR|CIDR", requires = "http", value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// With --http: on SIGTERM or Ctrl-C, how long requests in flight may still run to
    /// their answer (the listener closes at once, so a load balancer sends new requests
    /// elsewhere); then the spans are flushed and the process exits. Keep it below the
    /// supervisor's kill timeout (Kubernetes' terminationGracePeriodSeconds). Default: 10.
    #[arg(long = "shutdown-grace", value_name = "SECONDS", requires = "http", value_parser = parse_seconds)]
    pub shutdown_grace: Option<Duration>,

    /// Return the spans of a tools/call or resources/read to a client that asks for them
    /// in `_meta.otel` (SEP-2448), so a caller whose backend this server does not export
    /// to still sees its work. Off by default, because spans can hold data (what they
    /// record follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT).
    /// TRACE_META_RETURN_SPANS=true does the same.
    #[cfg(feature = "span-return")]
    #[arg(long = "return-spans")]
    pub return_spans: bool,
}

impl ServeArgs {
    /// Telemetry for the process `service_name`, with span return when `--return-spans`
    /// (or `TRACE_META_RETURN_SPANS=true`) allows it; for [`crate::run_with_telemetry`].
    pub fn telemetry(&self, service_name: &str) -> crate::telemetry::Telemetry {
        let telemetry = crate::telemetry::Telemetry::new(service_name);
        #[cfg(feature = "span-return")]
        let telemetry =
            telemetry.with_span_return(self.return_spans || crate::span_return::allowed_by_env());
        telemetry
    }

    /// The transport the flags ask for: stdio, or Streamable HTTP with the token from
    /// `MCP_SERVER_TOKEN`.
    pub fn transport(&self) -> Result<ServerTransport, HttpConfigError> {
        let Some(addr) = &self.http else {
            return Ok(ServerTransport::Stdio);
        };
        let config = HttpConfig::new()
            .with_token_from_env()?
            .with_allowed_hosts(self.allowed_hosts.iter().cloned())
            .with_allowed_origins(self.allowed_origins.iter().cloned())
            .with_trusted_proxies(self.trusted_proxies.iter().copied())
            .with_shutdown_grace(self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE));
        Ok(ServerTransport::Http {
            addr: parse_listen_address(addr)?,
            config,
        })
    }
}

/// A number of seconds, from 0 to a day.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=86_400.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "expected a number of seconds from 0 to 86400, got {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn stdio_unless_told_otherwise() {
        let args = Args::parse_from(["s"]);
        assert!(matches!(args.serve.transport(), Ok(ServerTransport::Stdio)));
    }

    #[test]
    fn http_flags() {
        let args = Args::parse_from([
            "s",
            "--http",
            "0",
            "--allowed-host",
            "mcp.example.com",
            "--allowed-origin",
            "https://a.example",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--shutdown-grace",
            "2.5",
        ]);
        let Ok(ServerTransport::Http { addr, config }) = args.serve.transport() else {
            panic!("expected HTTP");
        };
        assert!(addr.ip().is_loopback());
        assert_eq!(config.allowed_hosts(), ["mcp.example.com"]);
        assert_eq!(config.allowed_origins(), ["https://a.example"]);
        assert_eq!(
            config.trusted_proxies(),
            ["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(config.shutdown_grace(), Duration::from_millis(2500));
        assert!(Args::try_parse_from(["s", "--http", "0", "--trusted-proxy", "lb"]).is_err());
        assert!(Args::try_parse_from(["s", "--http", "0", "--shutdown-grace", "-1"]).is_err());
        assert!(Args::try_parse_from(["s", "--allowed-host", "x"]).is_err());
        let args = Args::parse_from(["s", "--http", "nowhere"]);
        assert!(args.serve.transport().is_err());
    }
}
