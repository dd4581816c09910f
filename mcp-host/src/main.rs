//! The `mcp-host` binary: parses its arguments and hands them to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args
        .nth(1)
        .is_some_and(|arg| arg == mcp_host::bundled::SERVE_ARG)
    {
        return mcp_host::bundled::serve(args.collect());
    }
    mcp_host::run(mcp_host::Cli::parse_checked())
}
