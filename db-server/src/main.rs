//! The `db-server` binary; everything lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match db_server::run(db_server::Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, the causes after colons, as mcp-host and the bundled servers say it.
            eprintln!("db-server: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
