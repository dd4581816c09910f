//! The command line.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

/// SQL over an embedded SQLite database, as an MCP server on stdio.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "db-server",
    version,
    about = "SQL over PostgreSQL or an embedded SQLite database as an MCP server (stdio or Streamable HTTP), read-only by default",
    long_about = "SQL over PostgreSQL or an embedded SQLite database as an MCP server, read-only by default.\n\n\
        An MCP client (Claude Desktop, VS Code, Cursor, mcp-host) starts db-server and talks \
        JSON-RPC to it over stdin/stdout. Tools: query_database, list_tables, describe_table, \
        and execute with --allow-write.\n\n\
        With --database-url (or DATABASE_URL) it serves a PostgreSQL database (or anything \
        that speaks its protocol) through a pool of --pool-size connections. Every query runs \
        in a READ ONLY transaction that ends in ROLLBACK, under --timeout; transaction control, \
        COPY, PREPARE and SET ROLE are refused. Each statement carries its span's traceparent \
        as a sqlcommenter comment (--sqlcommenter off to stop it), and the connections' \
        application_name is the service name. At start it warns when its role can do more \
        than read.\n\n\
        Otherwise it serves SQLite, built into the binary: nothing to install.\n\n\
        The database is the SQLite file named by --db, or an in-memory database built at start \
        from --load CSV files and --init SQL scripts. Unless --allow-write is given it is \
        read-only at the database level: the file is opened read-only, PRAGMA query_only is on, \
        and writes, DDL, ATTACH, load_extension and state-changing PRAGMAs are refused.\n\n\
        With --http ADDR it serves Streamable HTTP at http://ADDR/mcp instead (loopback \
        unless ADDR says otherwise; `Authorization: Bearer $MCP_SERVER_TOKEN` required when that \
        variable is set). Over stdio, stdout carries JSON-RPC only. Logs go to stderr, filtered by RUST_LOG (default warn). \
        Traces are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or \
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; OTEL_EXPORTER_OTLP_PROTOCOL, \
        OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, \
        OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED and CONFIDENT_API_KEY are honoured. Each \
        statement is a database CLIENT span under the tool's SERVER span. The same endpoint \
        gets the mcp.server.operation.duration, mcp.server.session.duration and \
        db.client.operation.duration metrics (OTEL_METRICS_EXPORTER=none turns them off; \
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_METRIC_EXPORT_INTERVAL; never sent to \
        Confident AI). A request the client cancels (notifications/cancelled) has its running \
        statement stopped in the database.\n\n\
        Examples: db-server --load sales=examples/data/sales.csv\n\
        DATABASE_URL=postgres://reader@localhost/sales db-server"
)]
pub struct Args {
    /// An existing SQLite database file to serve. Opened read-only unless --allow-write.
    /// Without --db, the server uses an in-memory database.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Load a CSV file (with a header row) into a new table at start, as TABLE=FILE.csv.
    /// Column types are inferred: INTEGER, REAL or TEXT. Repeatable.
    #[arg(long = "load", value_name = "TABLE=FILE.csv", value_parser = parse_load)]
    pub load: Vec<LoadSpec>,

    /// Run an SQL script at start, before read-only mode is switched on. Repeatable;
    /// scripts run in order, after the --load files.
    #[arg(long = "init", value_name = "FILE.sql")]
    pub init: Vec<PathBuf>,

    /// Allow writes: opens --db read-write, lifts query_only, and adds the execute tool.
    #[arg(long)]
    pub allow_write: bool,

    /// The most rows a query returns; further rows are cut and the result says truncated.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows: u64,

    /// How many seconds one statement may run before it is interrupted (fractions allowed,
    /// e.g. 0.5).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The database to serve instead of SQLite: a PostgreSQL URL
    /// (postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=ca.pem) or
    /// key=value conninfo; `sqlite:PATH` or a path serves that SQLite file as --db does.
    /// Prefer the DATABASE_URL variable (and PGPASSWORD) to the flag: a command line is
    /// visible to every user of the machine.
    /// --db, --load and --init name a SQLite database and take precedence over it, so an
    /// exported DATABASE_URL never changes what those commands serve.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL: the most connections open at once (calls beyond it wait up to --timeout
    /// for one).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub pool_size: u16,

    /// PostgreSQL: the most bytes of row data one query returns; further rows are cut and
    /// the result says truncated.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_bytes: u64,

    /// PostgreSQL: whether each statement carries its span's trace context as a
    /// sqlcommenter comment (/*traceparent='00-…'*/), so the database's logs,
    /// pg_stat_activity and auto_explain name the trace of the tool call that sent it.
    #[arg(long, value_name = "on|off", env = "DB_SERVER_SQLCOMMENTER", default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set)]
    pub sqlcommenter: bool,

    /// How the server is reached: stdio, or `--http ADDR`.
    #[command(flatten)]
    pub serve: trace_meta::cli::ServeArgs,
}

impl Args {
    /// The `--database-url` to serve: `None` when it is unset or empty, or when --db,
    /// --load or --init name a SQLite database instead.
    pub fn database_url(&self) -> Option<&str> {
        let sqlite_options = self.db.is_some() || !self.load.is_empty() || !self.init.is_empty();
        self.database_url
            .as_deref()
            .filter(|url| !url.trim().is_empty() && !sqlite_options)
    }
}

/// One `--load TABLE=FILE.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
    /// The table to create.
    pub table: String,
    /// The CSV file to read.
    pub path: PathBuf,
}

fn parse_load(spec: &str) -> Result<LoadSpec, String> {
    match spec.split_once('=') {
        Some((table, path)) if !table.trim().is_empty() && !path.is_empty() => Ok(LoadSpec {
            table: table.trim().to_owned(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!(
            "expected TABLE=FILE.csv (for example sales=data/sales.csv), got {spec:?}"
        )),
    }
}

fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected on or off, got {text:?}")),
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!(
            "the timeout must be more than 0 and at most 86400 seconds, got {text}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let args = Args::parse_from(["db-server"]);
        assert_eq!(args.db, None);
        assert!(!args.allow_write);
        assert_eq!(args.max_rows, 1000);
        assert_eq!(args.timeout, Duration::from_secs(5));
        assert!(matches!(
            args.serve.transport(),
            Ok(trace_meta::ServerTransport::Stdio)
        ));
    }

    #[test]
    fn all_options() {
        let args = Args::parse_from([
            "db-server",
            "--db",
            "x.db",
            "--load",
            "sales=a=b.csv",
            "--load",
            "t=u.csv",
            "--init",
            "i.sql",
            "--allow-write",
            "--max-rows",
            "10",
            "--timeout",
            "0.5",
        ]);
        assert_eq!(args.db, Some(PathBuf::from("x.db")));
        assert_eq!(
            args.load,
            [
                LoadSpec {
                    table: "sales".into(),
                    path: "a=b.csv".into()
                },
                LoadSpec {
                    table: "t".into(),
                    path: "u.csv".into()
                }
            ]
        );
        assert_eq!(args.init, [PathBuf::from("i.sql")]);
        assert!(args.allow_write);
        assert_eq!(args.max_rows, 10);
        assert_eq!(args.timeout, Duration::from_millis(500));
    }

    #[test]
    fn sqlite_options_take_precedence_over_a_database_url() {
        let url = "postgres://reader@localhost/sales";
        let args = Args::parse_from(["db-server", "--database-url", url]);
        assert_eq!(args.database_url(), Some(url));
        let args = Args::parse_from(["db-server", "--database-url", url, "--db", "x.db"]);
        assert_eq!(args.database_url(), None);
        let args = Args::parse_from(["db-server", "--database-url", url, "--load", "t=u.csv"]);
        assert_eq!(args.database_url(), None);
        let args = Args::parse_from(["db-server", "--database-url", " "]);
        assert_eq!(args.database_url(), None);
        let args = Args::parse_from(["db-server", "--sqlcommenter", "off", "--pool-size", "9"]);
        assert!(!args.sqlcommenter);
        assert_eq!(args.pool_size, 9);
        assert!(Args::try_parse_from(["db-server", "--sqlcommenter", "maybe"]).is_err());
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Args::try_parse_from(["db-server", "--load", "sales.csv"]).is_err());
        assert!(Args::try_parse_from(["db-server", "--load", "=x.csv"]).is_err());
        assert!(Args::try_parse_from(["db-server", "--timeout", "0"]).is_err());
        assert!(Args::try_parse_from(["db-server", "--timeout", "soon"]).is_err());
        assert!(Args::try_parse_from(["db-server", "--max-rows", "0"]).is_err());
    }
}
