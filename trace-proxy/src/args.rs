//! The proxy's command line: the wrapped server's command and the proxy's service name.

use std::path::Path;

/// The arguments of the proxy: `trace-proxy` and `mcp-host proxy` take the same.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// The `service.name` of the proxy's spans [default: the wrapped command's base name
    /// and `-proxy`, so that the tree tells the proxy from a server that exports itself].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The server command and its arguments. Everything from the first argument that is
    /// not an option of the proxy on belongs to the server; a `--` before it is optional.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

impl ProxyArgs {
    /// The service name: `--name`, or the command's base name marked as the proxy's.
    pub fn service_name(&self) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.to_owned();
        }
        let program = self.command.first().map(String::as_str).unwrap_or_default();
        Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .map_or_else(|| "mcp-proxy".to_owned(), |n| proxy_service_name(&n))
    }
}

/// The proxy's service name for a server called `server`: `{server}-proxy` (unless it
/// already ends in `proxy`).
pub fn proxy_service_name(server: &str) -> String {
    if server.ends_with("proxy") {
        server.to_owned()
    } else {
        format!("{server}-proxy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: Option<&str>, command: &[&str]) -> ProxyArgs {
        ProxyArgs {
            name: name.map(str::to_owned),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn service_name_is_the_name_or_the_commands_base_name() {
        assert_eq!(args(Some("fs"), &["npx", "-y", "x"]).service_name(), "fs");
        assert_eq!(
            args(None, &["/usr/local/bin/npx", "-y"]).service_name(),
            "npx-proxy"
        );
        assert_eq!(
            args(Some(" "), &["uvx", "mcp-server-git"]).service_name(),
            "uvx-proxy"
        );
        assert_eq!(proxy_service_name("fs-proxy"), "fs-proxy");
    }

    #[test]
    fn the_command_needs_no_separator() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            proxy: ProxyArgs,
        }
        for line in [
            "proxy --name fs npx -y pkg --root /tmp",
            "proxy --name fs -- npx -y pkg --root /tmp",
        ] {
            let cli = Cli::parse_from(line.split(' '));
            assert_eq!(cli.proxy.name.as_deref(), Some("fs"), "{line}");
            assert_eq!(
                cli.proxy.command,
                ["npx", "-y", "pkg", "--root", "/tmp"],
                "{line}"
            );
        }
    }
}
