//! SQLite access with limits, independent of MCP: open, then query under the policy.
//!
//! Build a [`Database`] with [`Database::builder`], fill it while it is still writable
//! ([`crate::load`]), and [`finish`](DatabaseBuilder::finish) it, which switches on the
//! [`Policy`] (read-only unless `allow_write`). Every statement then runs under the
//! time limit and the row cap of its [`Config`].
//!
//! The methods block; call them from a thread of their own (the server queues them to one:
//! [`crate::backend::sqlite`]), never on an async worker. One [`Mutex`] serialises access to the connection.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags};

use crate::{
    backend::{BackendInfo, StatementSpan},
    policy::{Authorizer, Policy, Refusal, has_several_statements, is_schema_bookkeeping},
    value::{SqlParam, bind, to_json},
};

/// How many SQLite virtual-machine instructions run between two checks of the deadline.
const PROGRESS_INTERVAL: i32 = 1000;

/// The limits and mode of a database.
#[derive(Debug, Clone)]
pub struct Config {
    /// An existing SQLite file; `None` for an in-memory database.
    pub path: Option<PathBuf>,
    /// Allow writes, DDL and state-changing PRAGMAs (`--allow-write`).
    pub allow_write: bool,
    /// The most rows a query returns; more set `truncated`.
    pub max_rows: usize,
    /// How long one statement may run before it is interrupted.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: None,
            allow_write: false,
            max_rows: 1000,
            timeout: Duration::from_secs(5),
        }
    }
}

pub use crate::error::DbError;

pub use crate::model::{
    ColumnInfo, ExecuteResult, ForeignKey, IndexInfo, QueryResult, TableDescription, TableSummary,
};

/// A database being built: writable, no policy yet. [`crate::load`] fills it.
pub struct DatabaseBuilder {
    pub(crate) conn: Connection,
    config: Config,
}

impl std::fmt::Debug for DatabaseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An open database with its policy and limits in force.
pub struct Database {
    conn: Mutex<Connection>,
    config: Config,
    policy: Policy,
    /// The deadline of the running statement in nanoseconds after `epoch`, 0 for none;
    /// shared with the progress handler, which interrupts the statement once it passes.
    deadline: Arc<AtomicU64>,
    /// Which work is stopped and which is running, shared with the progress handler.
    stops: Arc<Stops>,
    /// Source of [`Ticket`]s.
    tickets: AtomicU64,
    epoch: Instant,
    authorizer: Authorizer,
    info: BackendInfo,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Starts building a database: opens the file of `config.path` (read-only unless
    /// `allow_write`; it must exist), or an in-memory database.
    pub fn builder(config: Config) -> Result<DatabaseBuilder, DbError> {
        // NO_MUTEX because our own Mutex serialises access; no URI flag, so a path is
        // always a path and never a `file:` URI with options.
        let conn = match &config.path {
            Some(path) => {
                let context = format!("--db {}", path.display());
                if !path.is_file() {
                    return Err(DbError::setup(
                        &context,
                        &"no such file (db-server opens an existing SQLite database; it does not create one)",
                    ));
                }
                let access = if config.allow_write {
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                } else {
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                };
                let conn =
                    Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                        .map_err(|e| DbError::setup(&context, &e))?;
                // Opening is lazy; reading the schema proves the file is a database.
                conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
                    .map_err(|e| DbError::setup(&context, &e))?;
                conn
            }
            None => Connection::open_in_memory()
                .map_err(|e| DbError::setup("in-memory database", &e))?,
        };
        Ok(DatabaseBuilder { conn, config })
    }

    /// Opens a database with nothing to load: [`builder`](Self::builder) then
    /// [`finish`](DatabaseBuilder::finish).
    pub fn open(config: Config) -> Result<Database, DbError> {
        Self::builder(config)?.finish()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What this backend is, for spans and the tools' descriptions.
    pub fn info(&self) -> &BackendInfo {
        &self.info
    }

    /// A new ticket, for [`stoppable`](Self::stoppable) work.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.tickets.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs `work` on this thread as the work of `ticket`, so that [`stop`](Self::stop)
    /// can interrupt the statements it runs.
    ///
    /// One stop is remembered at a time: a later [`stop`](Self::stop) replaces it, so work
    /// that was stopped before its statement began and then lost that race runs to its time
    /// limit as before.
    pub fn stoppable<T>(&self, ticket: Ticket, work: impl FnOnce(&Self) -> T) -> T {
        struct Reset(u64);
        impl Drop for Reset {
            fn drop(&mut self) {
                TICKET.set(self.0);
            }
        }
        let _reset = Reset(TICKET.replace(ticket.0));
        work(self)
    }

    /// [`stoppable`](Self::stoppable), with the statements' spans children of `parent`
    /// (the tool's span, on another thread). When the work is stopped, `parent` is let go
    /// while the connection is still held, so the request's span has ended by the time
    /// the next statement can run.
    pub fn stoppable_in<T>(
        &self,
        ticket: Ticket,
        parent: tracing::Span,
        work: impl FnOnce(&Self) -> T,
    ) -> T {
        struct Reset(Option<tracing::Span>);
        impl Drop for Reset {
            fn drop(&mut self) {
                PARENT.set(self.0.take());
            }
        }
        let _reset = Reset(PARENT.replace(Some(parent)));
        self.stoppable(ticket, work)
    }

    /// Stops the work of `ticket`, from any thread: its running statement is interrupted
    /// within a thousand SQLite instructions and fails with
    /// [`DbError::Stopped`], as does any statement it starts afterwards. Work of other
    /// tickets is untouched; stopping finished work does nothing.
    pub fn stop(&self, ticket: Ticket) {
        self.stops.stopped.store(ticket.0, Ordering::Release);
    }

    /// Runs one read-only statement and returns its rows, at most `max_rows` of them.
    pub fn query(&self, sql: &str, params: &[SqlParam]) -> Result<QueryResult, DbError> {
        self.query_capped(sql, params, self.config.max_rows)
    }

    /// [`query`](Self::query) with a cap of its own; the server's own schema queries are
    /// not cut at `max_rows`.
    fn query_capped(
        &self,
        sql: &str,
        params: &[SqlParam],
        cap: usize,
    ) -> Result<QueryResult, DbError> {
        self.with_statement(
            sql,
            params,
            true,
            |r| r.row_count,
            |_, stmt| {
                let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
                let width = columns.len();
                let mut rows = Vec::new();
                let mut truncated = false;
                let mut cursor = stmt.raw_query();
                while let Some(row) = cursor.next().map_err(|e| self.map_error(e, sql))? {
                    if rows.len() == cap {
                        // One row past the cap is enough to know there are more; stop there
                        // rather than running the rest of the query.
                        truncated = true;
                        break;
                    }
                    let mut values = Vec::with_capacity(width);
                    for i in 0..width {
                        values.push(to_json(row.get_ref(i).map_err(DbError::Sqlite)?));
                    }
                    rows.push(values);
                }
                Ok(QueryResult {
                    columns,
                    row_count: rows.len(),
                    rows,
                    truncated,
                })
            },
        )
    }

    /// Runs one statement that may change the database (with `allow_write`) and returns
    /// how many rows it changed. Rows a statement returns (`RETURNING`) are discarded.
    pub fn execute(&self, sql: &str, params: &[SqlParam]) -> Result<ExecuteResult, DbError> {
        self.with_statement(
            sql,
            params,
            false,
            |_| 0,
            |conn, stmt| {
                let before = conn.total_changes();
                let mut cursor = stmt.raw_query();
                while cursor.next().map_err(|e| self.map_error(e, sql))?.is_some() {}
                Ok(ExecuteResult {
                    rows_changed: conn.total_changes().saturating_sub(before),
                })
            },
        )
    }

    /// Lists the tables and views of the database (SQLite's internal tables excepted).
    pub fn list_tables(&self) -> Result<Vec<TableSummary>, DbError> {
        let result = self.query_capped(
            "SELECT schema, name, type, ncol FROM pragma_table_list \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY schema = 'temp', schema, name",
            &[],
            usize::MAX,
        )?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| TableSummary {
                schema: row[0].as_str().unwrap_or_default().to_owned(),
                name: row[1].as_str().unwrap_or_default().to_owned(),
                kind: row[2].as_str().unwrap_or_default().to_owned(),
                column_count: row[3].as_i64().unwrap_or_default(),
                sql_name: None,
            })
            .collect())
    }

    /// Describes one table or view: its columns and its row count.
    ///
    /// `table` is looked up among the names SQLite lists (case-insensitively, as SQLite
    /// compares identifiers); only a name found there is used, and only as a quoted
    /// identifier, so a hostile name can never become SQL.
    pub fn describe_table(&self, table: &str) -> Result<TableDescription, DbError> {
        let found = self.query_capped(
            "SELECT name, type FROM pragma_table_list WHERE name = ?1 COLLATE NOCASE \
             ORDER BY name = ?1 DESC, schema = 'temp' LIMIT 1",
            &[SqlParam::from(table)],
            1,
        )?;
        let Some(row) = found.rows.into_iter().next() else {
            return Err(DbError::UnknownTable(table.to_owned()));
        };
        let name = row[0].as_str().unwrap_or_default().to_owned();
        let kind = row[1].as_str().unwrap_or_default().to_owned();
        // The name goes in as a bound parameter here, not as SQL text.
        let info = self.query_capped(
            "SELECT name, type, \"notnull\", pk, dflt_value FROM pragma_table_xinfo(?1) \
             WHERE hidden IN (0, 2, 3) ORDER BY cid",
            &[SqlParam::from(name.as_str())],
            usize::MAX,
        )?;
        let columns = info
            .rows
            .into_iter()
            .map(|row| ColumnInfo {
                name: row[0].as_str().unwrap_or_default().to_owned(),
                decl_type: row[1].as_str().unwrap_or_default().to_owned(),
                notnull: row[2].as_i64() == Some(1),
                pk: row[3].as_i64().unwrap_or_default(),
                default: row[4].as_str().map(str::to_owned),
            })
            .collect();
        let count = self.query_capped(
            &format!("SELECT count(*) FROM {}", quote_identifier(&name)),
            &[],
            1,
        )?;
        let row_count = count
            .rows
            .first()
            .and_then(|r| r[0].as_i64())
            .unwrap_or_default();
        let keys = self.query_capped(
            "SELECT id, \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            &[SqlParam::from(name.as_str())],
            usize::MAX,
        )?;
        let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
        for row in keys.rows {
            let id = row[0].as_i64().unwrap_or_default();
            let text = |i: usize| row[i].as_str().map(str::to_owned);
            if foreign_keys.last().is_none_or(|(last, _)| *last != id) {
                foreign_keys.push((
                    id,
                    ForeignKey {
                        columns: Vec::new(),
                        references_table: text(2).unwrap_or_default(),
                        references_columns: Vec::new(),
                    },
                ));
            }
            if let Some((_, key)) = foreign_keys.last_mut() {
                key.columns.extend(text(1));
                key.references_columns.extend(text(3));
            }
        }
        let listed = self.query_capped(
            "SELECT l.name, l.\"unique\", l.origin = 'pk', i.name \
             FROM pragma_index_list(?1) AS l, pragma_index_info(l.name) AS i \
             ORDER BY l.name, i.seqno",
            &[SqlParam::from(name.as_str())],
            usize::MAX,
        )?;
        let mut indexes: Vec<IndexInfo> = Vec::new();
        for row in listed.rows {
            let index = row[0].as_str().unwrap_or_default();
            if indexes.last().is_none_or(|last| last.name != index) {
                indexes.push(IndexInfo {
                    name: index.to_owned(),
                    columns: Vec::new(),
                    unique: row[1].as_i64() == Some(1),
                    primary: row[2].as_i64() == Some(1),
                });
            }
            if let Some(last) = indexes.last_mut() {
                last.columns
                    .push(row[3].as_str().unwrap_or("(expression)").to_owned());
            }
        }
        Ok(TableDescription {
            name,
            schema: None,
            kind,
            columns,
            row_count,
            row_count_estimated: false,
            foreign_keys: foreign_keys.into_iter().map(|(_, key)| key).collect(),
            indexes,
        })
    }

    /// Prepares `sql` as exactly one statement, checks it against the policy, binds the
    /// parameters and hands it to `run`, all under the time limit.
    fn with_statement<T>(
        &self,
        sql: &str,
        params: &[SqlParam],
        require_read_only: bool,
        rows_of: fn(&T) -> usize,
        run: impl FnOnce(&Connection, &mut rusqlite::Statement<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let waiting = Instant::now();
        let conn = self.lock();
        let parent = PARENT.with_borrow(Clone::clone);
        let statement = match &parent {
            Some(parent) => {
                parent.in_scope(|| StatementSpan::start(&self.info, sql, Some(waiting.elapsed())))
            }
            None => StatementSpan::start(&self.info, sql, Some(waiting.elapsed())),
        };
        drop(parent);
        let outcome = statement.span().in_scope(|| {
            self.policy.check_text(sql)?;
            let _running = StatementGuard::arm(self)?;
            self.authorizer.begin(sql);
            let mut stmt = conn.prepare(sql).map_err(|e| {
                // rusqlite compiles the rest of the text to detect a second statement, so
                // an error may come from that second statement; say so, with SQLite's
                // message.
                let several =
                    !matches!(e, rusqlite::Error::MultipleStatement) && has_several_statements(sql);
                let error = self.map_error(e, sql);
                match error {
                    DbError::Refused(_) | DbError::Sqlite(_) if several => {
                        DbError::Refused(Refusal::SeveralStatements {
                            detail: Some(error.to_string()),
                        })
                    }
                    error => error,
                }
            })?;
            self.policy.check_prepared(&stmt, require_read_only)?;
            bind(&mut stmt, params)?;
            run(&conn, &mut stmt)
        });
        let outcome = statement.finish(outcome, rows_of);
        if matches!(outcome, Err(DbError::Stopped)) {
            // Stopped work runs no further statement: its span may end now, before the
            // connection passes to the next caller.
            PARENT.set(None);
        }
        outcome
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done state in the connection that
        // matters to the next statement (SQLite rolls back an unfinished statement), so a
        // poisoned lock is simply taken over.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns a rusqlite error into ours: interrupts become timeouts, authorizer denials
    /// carry their reason, several statements get a clear refusal.
    fn map_error(&self, error: rusqlite::Error, sql: &str) -> DbError {
        if matches!(error, rusqlite::Error::MultipleStatement) {
            return DbError::Refused(Refusal::SeveralStatements { detail: None });
        }
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::OperationInterrupted) => {
                if self.stops.running_is_stopped() {
                    DbError::Stopped
                } else {
                    DbError::Timeout(self.config.timeout)
                }
            }
            Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) => {
                match self.authorizer.take_denial() {
                    // Name the statement (`CREATE TABLE`), not SQLite's write to its schema
                    // table underneath it.
                    Some(refusal) if is_schema_bookkeeping(&refusal) => {
                        DbError::Refused(Refusal::ReadOnlyAction {
                            action: crate::sql::leading_keywords(sql, 2).join(" "),
                        })
                    }
                    Some(refusal) => DbError::Refused(refusal),
                    None => DbError::Sqlite(error),
                }
            }
            _ => DbError::Sqlite(error),
        }
    }
}

/// Names the work of one caller (a tool call), so that another thread can stop it with
/// [`Database::stop`]: the statement it is running is interrupted, and it starts no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Which ticket's statements run now and which ticket was stopped (0: none).
#[derive(Debug, Default)]
struct Stops {
    running: AtomicU64,
    stopped: AtomicU64,
}

impl Stops {
    /// Whether the running statement belongs to stopped work: read by the progress handler.
    fn running_is_stopped(&self) -> bool {
        let running = self.running.load(Ordering::Acquire);
        running != 0 && self.stopped.load(Ordering::Acquire) == running
    }
}

thread_local! {
    /// The ticket of the work this thread runs inside [`Database::stoppable`], 0 outside.
    static TICKET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// The span the statements of [`Database::stoppable_in`] work belong to.
    static PARENT: std::cell::RefCell<Option<tracing::Span>> = const { std::cell::RefCell::new(None) };
}

/// Arms the deadline and the stop check of the running statement (the caller holds the
/// connection), and disarms both when dropped.
struct StatementGuard<'a>(&'a Database);

impl<'a> StatementGuard<'a> {
    /// Fails with [`DbError::Stopped`] when this thread's work was stopped before this
    /// statement began.
    fn arm(db: &'a Database) -> Result<Self, DbError> {
        let ticket = TICKET.get();
        if ticket != 0 && db.stops.stopped.load(Ordering::Acquire) == ticket {
            return Err(DbError::Stopped);
        }
        db.stops.running.store(ticket, Ordering::Release);
        let deadline = db.epoch.elapsed() + db.config.timeout;
        // Never store 0, which means "no deadline".
        let nanos = u64::try_from(deadline.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        db.deadline.store(nanos, Ordering::Relaxed);
        Ok(Self(db))
    }
}

impl Drop for StatementGuard<'_> {
    fn drop(&mut self) {
        self.0.deadline.store(0, Ordering::Relaxed);
        self.0.stops.running.store(0, Ordering::Release);
    }
}

impl DatabaseBuilder {
    /// Runs SQL statements directly, before the policy is in force.
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(DbError::Sqlite)
    }

    /// Switches the policy on and returns the database: in read-only mode
    /// `PRAGMA query_only = ON`, then the authorizer and the time limit.
    pub fn finish(self) -> Result<Database, DbError> {
        let DatabaseBuilder { mut conn, config } = self;
        let policy = Policy {
            allow_write: config.allow_write,
        };
        if !policy.allow_write {
            conn.pragma_update(None, "query_only", true)
                .map_err(|e| DbError::setup("PRAGMA query_only", &e))?;
        }
        let authorizer =
            Authorizer::install(&mut conn, policy).map_err(|e| DbError::setup("authorizer", &e))?;
        let deadline = Arc::new(AtomicU64::new(0));
        let stops = Arc::new(Stops::default());
        let epoch = Instant::now();
        let watched = Arc::clone(&deadline);
        let watched_stops = Arc::clone(&stops);
        conn.progress_handler(
            PROGRESS_INTERVAL,
            Some(move || {
                let deadline = watched.load(Ordering::Relaxed);
                (deadline != 0 && epoch.elapsed().as_nanos() >= u128::from(deadline))
                    || watched_stops.running_is_stopped()
            }),
        )
        .map_err(|e| DbError::setup("progress handler", &e))?;
        Ok(Database {
            conn: Mutex::new(conn),
            policy,
            deadline,
            stops,
            tickets: AtomicU64::new(1),
            epoch,
            authorizer,
            info: BackendInfo {
                system: "sqlite",
                namespace: Some(
                    config
                        .path
                        .as_deref()
                        .and_then(|p| p.file_stem())
                        .map_or_else(|| "main".to_owned(), |s| s.to_string_lossy().into_owned()),
                ),
                server_address: None,
                server_port: None,
                placeholders: "?, ?1, ?2, ... (or :name)",
                dialect: "SQLite",
                allow_write: config.allow_write,
            },
            config,
        })
    }
}

/// Quotes `name` as an SQL identifier (double quotes, inner quotes doubled).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("sales"), "\"sales\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
