//! `db-server`: SQL over PostgreSQL (`--database-url`) or an embedded SQLite database as an
//! MCP server over stdio or Streamable HTTP (`--http`), read-only by default, traced end to
//! end with [`trace_meta`], into the database.
//!
//! The database is an existing SQLite file (`--db`) or an in-memory database built at start
//! from CSV files (`--load TABLE=FILE.csv`) and SQL scripts (`--init FILE.sql`). The tools
//! are `query_database`, `list_tables`, `describe_table`, and `execute` with
//! `--allow-write`. Read-only is enforced by SQLite, not by looking at the SQL: see
//! [`policy`].
//!
//! # Layout
//! - [`backend`]: the [`backend::Backend`] seam the tools work through, and the database
//!   CLIENT span of each statement.
//! - [`postgres`]: the PostgreSQL backend (pool, read-only transactions, cancel requests,
//!   sqlcommenter).
//! - [`sql`]: statement summaries and the sqlcommenter comment, for every backend.
//! - [`model`]: what the tools return, the same on every backend.
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

pub mod backend;
pub mod cli;
pub mod database;
pub mod error;
pub mod load;
pub mod model;
pub mod policy;
pub mod postgres;
pub mod sql;
pub mod tools;
pub mod value;

use std::sync::Arc;

use anyhow::Context;

pub use cli::Args;

use database::{Config, Database};

/// Builds the SQLite database `args` describe, without serving it.
///
/// CSV files are loaded first, then the scripts run, then the policy is switched on.
/// Errors name the file and the option that failed.
pub fn open_database(args: &Args) -> anyhow::Result<Database> {
    let config = Config {
        path: match args.database_url().and_then(sqlite_path) {
            Some(path) => Some(path),
            None => args.db.clone(),
        },
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

/// The SQLite file a `--database-url` names (`sqlite:PATH`, `sqlite://PATH`, or a string
/// that is no PostgreSQL URL or conninfo), or `None` for PostgreSQL.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let url = url.trim();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Some(path.into());
    }
    let postgres =
        url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=');
    (!postgres).then(|| url.into())
}

/// The service name spans and `application_name` carry: `OTEL_SERVICE_NAME`, else
/// `db-server`.
fn service_name() -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "db-server".to_owned())
}

/// Runs the server: builds the database, then serves MCP through [`trace_meta::run_with`]
/// (telemetry, signals, flush): on stdin/stdout until stdin closes or SIGTERM/SIGINT
/// arrives, or with `--http ADDR` over Streamable HTTP at `http://ADDR/mcp` until a signal.
///
/// With a PostgreSQL `--database-url`, the pool is opened inside the server's runtime and
/// the server fails to start (exit status 1, the database named without its password)
/// when the database cannot be reached.
///
/// It owns its tokio runtime and blocks, so another binary can call it from `main`
/// (`db_server::run(db_server::Args::parse_from(...))`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let transport = args.serve.transport().context("cannot start")?;
    let postgres_url = args
        .database_url()
        .filter(|url| sqlite_path(url).is_none())
        .map(str::to_owned);
    let Some(url) = postgres_url else {
        let database = open_database(&args).context("cannot start")?;
        let server = tools::DbServer::new(Arc::new(database));
        let telemetry = args.serve.telemetry("db-server");
        trace_meta::run_with_telemetry(telemetry, transport, || async {
            Ok::<_, std::convert::Infallible>(server)
        })
        .context("stopped")?;
        return Ok(());
    };
    let target = postgres::Target::parse(&url, &service_name())
        .map_err(anyhow::Error::msg)
        .context("cannot start")?;
    let password_in_argv = target.config.get_password().is_some()
        && std::env::args().any(|arg| arg.starts_with("--database-url"))
        && std::env::var_os("PGPASSWORD").is_none();
    let settings = postgres::Settings {
        allow_write: args.allow_write,
        max_rows: usize::try_from(args.max_rows).unwrap_or(usize::MAX),
        max_bytes: usize::try_from(args.max_bytes).unwrap_or(usize::MAX),
        timeout: args.timeout,
        pool_size: usize::from(args.pool_size),
        sqlcommenter: args.sqlcommenter,
    };
    trace_meta::run_with_telemetry(args.serve.telemetry("db-server"), transport, || async move {
        if password_in_argv {
            tracing::warn!(
                "the database password is on the command line, where every user of this machine can read it: set DATABASE_URL (or PGPASSWORD) instead of --database-url"
            );
        }
        let backend = postgres::Postgres::connect(target, settings).await?;
        Ok::<_, error::DbError>(tools::DbServer::with_backend(Arc::new(backend)))
    })
    .context("cannot start")?;
    Ok(())
}
