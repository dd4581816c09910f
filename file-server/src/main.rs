//! The `file-server` binary; everything lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match file_server::run(file_server::Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, the causes after colons, as mcp-host and the bundled servers say it.
            eprintln!("file-server: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
