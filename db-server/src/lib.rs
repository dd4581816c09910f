//! `db-server`: SQL over an embedded SQLite database as an MCP server over stdio or
//! Streamable HTTP (`--http`), read-only by default, traced end to end with [`trace_meta`].
//!
//! The database is an existing SQLite file (`--db`) or an in-memory database built at start
//! from CSV files (`--load TABLE=FILE.csv`) and SQL scripts (`--init FILE.sql`). The tools
//! are `query_database`, `list_tables`, `describe_table`, and `execute` with
//! `--allow-write`. Read-only is enforced by SQLite, not by looking at the SQL: see
//! [`policy`].
//!
//! # Layout
//! - [`policy`]: what a statement may do (authorizer, read-only checks), independent of MCP.
//! - [`database`]: open, then query with a row cap and a time limit, independent of MCP.
//! - [`load`]: fill a database at start from CSV files and SQL scripts.
//! - [`value`]: parameters bound as SQLite values, SQLite values returned as JSON.
//! - [`tools`]: [`tools::DbServer`], the rmcp `ServerHandler`.
//! - [`cli`]: [`Args`], the command line.
//! - [`run`]: what the binary does; another binary can call it too.
//!
//! ```no_run
//! use clap::Parser;
//! db_server::run(db_server::Args::parse_from([
//!     "db-server",
//!     "--load",
//!     "sales=examples/data/sales.csv",
//! ]))?;
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod database;
pub mod load;
pub mod policy;
pub mod tools;
pub mod value;

use std::sync::Arc;

use anyhow::Context;

pub use cli::Args;

use database::{Config, Database};

/// Builds the database `args` describe, without serving it.
///
/// CSV files are loaded first, then the scripts run, then the policy is switched on.
/// Errors name the file and the option that failed.
pub fn open_database(args: &Args) -> anyhow::Result<Database> {
    let config = Config {
        path: args.db.clone(),
        allow_write: args.allow_write,
        max_rows: usize::try_from(args.max_rows).unwrap_or(usize::MAX),
        timeout: args.timeout,
    };
    let mut builder = Database::builder(config)?;
    for load in &args.load {
        let rows = builder.load_csv(&load.table, &load.path)?;
        tracing::debug!(table = %load.table, rows, "loaded CSV");
    }
    for script in &args.init {
        builder.run_script(script)?;
    }
    Ok(builder.finish()?)
}

/// Runs the server: builds the database, then serves MCP through [`trace_meta::run`]
/// (telemetry, signals, flush): on stdin/stdout until stdin closes or SIGTERM/SIGINT
/// arrives, or with `--http ADDR` over Streamable HTTP at `http://ADDR/mcp` until a signal.
///
/// It owns its tokio runtime and blocks, so another binary can call it from `main`
/// (`db_server::run(db_server::Args::parse_from(...))`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let database = open_database(&args)?;
    let transport = args.serve.transport().context("db-server cannot start")?;
    let server = tools::DbServer::new(Arc::new(database));
    trace_meta::run("db-server", server, transport).context("db-server stopped")?;
    Ok(())
}
