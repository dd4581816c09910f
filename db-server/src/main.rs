//! The `db-server` binary; everything lives in the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    db_server::run(db_server::Args::parse())
}
