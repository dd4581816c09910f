//! The PostgreSQL backend: a pool of `tokio-postgres` connections
//! ([deadpool-postgres](https://docs.rs/deadpool-postgres)), read-only enforced by the
//! database, statements cancelled in the database, and the trace carried into it.
//!
//! # One call, one transaction
//! Every read runs as
//!
//! ```sql
//! BEGIN READ ONLY; SET LOCAL statement_timeout = …; SET LOCAL lock_timeout = …;
//! SET LOCAL idle_in_transaction_session_timeout = …
//! <the statement, with bound parameters and a sqlcommenter comment>
//! ROLLBACK; SELECT pg_advisory_unlock_all()
//! ```
//!
//! When the statement's result is known to have built-in types only, all three go out
//! together and their answers come back in order: a read is one round trip. Otherwise the
//! statement is first described inside the transaction (see `transaction`). PostgreSQL
//! refuses any write inside the read-only transaction; the `ROLLBACK` undoes whatever
//! else the statement did to the session (`set_config`, a temporary table, a cursor), and
//! `pg_advisory_unlock_all()` releases session-level advisory locks, the one thing a
//! rollback keeps. The extended protocol admits exactly one statement. A few kinds of
//! statement are refused before they are sent ([`refusal`]): transaction control (the
//! server owns the transaction), `PREPARE`/`EXECUTE`/`DEALLOCATE` (prepared statements
//! outlive it), `COPY` and `LOAD` (files, programs and libraries on the database server),
//! `SET ROLE` / `SET SESSION AUTHORIZATION` (privileges) and `RESET` / `DISCARD`. The
//! role's privileges are the last line: [`checks`] warns at start when the role could do
//! more than read.
//!
//! Writes (`execute`, with `--allow-write`) run the same way in a read-write transaction
//! that ends in `COMMIT`.
//!
//! # Faults
//! A cancelled request (its future dropped), a timeout, or a result cut at the row or
//! byte bound sends PostgreSQL a cancel request, so the statement stops in the database,
//! and closes that connection rather than returning it to the pool: PostgreSQL acts on a
//! cancel request when it gets to it, which on a reused connection could be during the
//! next caller's statement. Any other call that did not end cleanly closes its connection
//! too.
//! A read that fails because its connection was lost (the database restarted) is tried
//! once more on a new connection.

mod catalog;
pub mod checks;
pub mod connect;
pub(crate) mod value;

use std::{
    future::Future,
    pin::pin,
    task::Poll,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use futures_util::{StreamExt, future::maybe_done};
use tokio_postgres::types::Type;
use tracing::Instrument;

pub use connect::Target;

use crate::{
    backend::{Backend, BackendInfo, StatementSpan},
    error::DbError,
    model::{ExecuteResult, QueryResult, TableDescription, TableSummary},
    policy::Refusal,
    sql,
    value::SqlParam,
};
use value::{PgJson, TextParam};

/// How long past `--timeout` the server waits for the database's own timeout before it
/// gives the call up itself (cancel request, connection closed).
const TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// How every call that does not commit ends: its transaction rolled back, and the one
/// thing a rollback keeps (session-level advisory locks) released.
const END: &str = "ROLLBACK; SELECT pg_advisory_unlock_all()";

/// The most plans kept per connection (statements without a comment); past it the
/// connection's plans are forgotten and kept anew.
const STATEMENT_CACHE_LIMIT: usize = 256;

/// How long a cancel request may take (it is sent, and the connection closed, from a task of
/// its own: no call waits for it).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server asks of the database, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether `execute` may change the database.
    pub allow_write: bool,
    /// The most rows a query returns.
    pub max_rows: usize,
    /// The most bytes of row data a query returns (PostgreSQL's binary sizes).
    pub max_bytes: usize,
    /// `statement_timeout` and `lock_timeout` of each call; also how long a call waits
    /// for a pooled connection.
    pub timeout: Duration,
    /// The most connections open at once.
    pub pool_size: usize,
    /// Whether statements carry their span's context as a sqlcommenter comment.
    pub sqlcommenter: bool,
}

/// The PostgreSQL [`Backend`].
pub struct Postgres {
    pool: Pool,
    target: Target,
    info: BackendInfo,
    settings: Settings,
    begin_read: String,
    begin_write: String,
    shapes: Shapes,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("target", &self.target)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What a statement returned.
struct Outcome {
    columns: Vec<String>,
    rows: Vec<Vec<serde_json::Value>>,
    truncated: bool,
    rows_affected: u64,
}

/// Whether a read or a write, and the bounds of a read.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Read { max_rows: usize, max_bytes: usize },
    Write,
}

impl Postgres {
    /// Opens the pool on `target` and proves it with one connection, then runs the
    /// start-up [`checks`] (warnings on stderr). Fails when the database cannot be
    /// reached, naming it without the password.
    pub async fn connect(target: Target, settings: Settings) -> Result<Self, DbError> {
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(settings.timeout))
            // A call never waits longer than its --timeout for a new connection either.
            .create_timeout(Some(
                target
                    .config
                    .get_connect_timeout()
                    .copied()
                    .unwrap_or(connect::DEFAULT_CONNECT_TIMEOUT)
                    .min(settings.timeout.max(Duration::from_secs(1))),
            ))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| DbError::setup("database pool", &e))?;
        let ms = settings.timeout.as_millis().max(1);
        let idle_ms = (settings.timeout * 2 + Duration::from_secs(1)).as_millis();
        let limits = format!(
            "SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; \
             SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"
        );
        let info = BackendInfo {
            system: "postgresql",
            namespace: target.database(),
            server_address: target.host(),
            server_port: Some(target.port()),
            placeholders: "$1, $2, ...",
            dialect: "PostgreSQL",
            allow_write: settings.allow_write,
        };
        let backend = Self {
            pool,
            info,
            begin_read: format!("BEGIN READ ONLY; {limits}"),
            begin_write: format!("BEGIN READ WRITE; {limits}"),
            shapes: Shapes::default(),
            target,
            settings,
        };
        let client = backend
            .pool
            .get()
            .await
            .map_err(|e| match backend.pool_error(e) {
                DbError::Unavailable(message) => DbError::setup("--database-url", &message),
                other => other,
            })?;
        checks::warn_about_role(&client, &backend.target, backend.settings.allow_write).await;
        Ok(backend)
    }

    /// The connection target (for logs: [`Target::redacted`]).
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn pool_error(&self, error: PoolError) -> DbError {
        let at = self.target.redacted();
        DbError::Unavailable(match error {
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => format!(
                "no database connection became free within {}s: all {} connections of the pool are busy (--pool-size)",
                self.settings.timeout.as_secs_f64(),
                self.settings.pool_size
            ),
            PoolError::Timeout(_) => format!("connecting to {at} timed out"),
            PoolError::Backend(e) => format!("cannot connect to {at}: {}", error_text(&e)),
            other => format!("cannot connect to {at}: {other}"),
        })
    }

    /// Runs `sql` in its own transaction, with one retry when a read lost its connection.
    async fn run(&self, sql: &str, params: &[SqlParam], mode: Mode) -> Result<Outcome, DbError> {
        if let Some(refusal) = refusal(sql) {
            let statement = StatementSpan::start(&self.info, sql, None);
            return statement.finish(Err(DbError::Refused(refusal)), |_: &Outcome| 0);
        }
        match self.attempt(sql, params, mode).await {
            Err(Lost(error, true)) if matches!(mode, Mode::Read { .. }) => {
                tracing::info!(%error, "the database connection was lost: trying once more on a new connection");
                self.attempt(sql, params, mode)
                    .await
                    .map_err(|Lost(e, _)| e)
            }
            other => other.map_err(|Lost(e, _)| e),
        }
    }

    /// One try: a pooled connection, the statement's span, the transaction.
    async fn attempt(&self, sql: &str, params: &[SqlParam], mode: Mode) -> Result<Outcome, Lost> {
        let waiting = Instant::now();
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| Lost(self.pool_error(e), false))?;
        let statement = StatementSpan::start(&self.info, sql, Some(waiting.elapsed()));
        let text = if self.settings.sqlcommenter {
            let pairs = statement.comment_pairs();
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sql::with_comment(sql, &pairs)
        } else {
            sql.to_owned()
        };
        let call = InFlight::new(client, self.target.tls.clone());
        let committing = std::sync::atomic::AtomicBool::new(false);
        let work = self.transaction(call.client(), sql, &text, params, mode, &committing);
        let outcome = match tokio::time::timeout(self.settings.timeout + TIMEOUT_GRACE, work)
            .instrument(statement.span().clone())
            .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                // A result type that changed under a statement sent in one round trip could
                // be what held it up (see `transaction`): it is prepared first next time.
                self.forget_shape(sql);
                let error = if committing.load(std::sync::atomic::Ordering::Relaxed) {
                    DbError::Unavailable(format!(
                        "the write may have been committed: COMMIT was sent but not answered within {}s; check the data before running it again",
                        (self.settings.timeout + TIMEOUT_GRACE).as_secs_f64()
                    ))
                } else {
                    DbError::Timeout(self.settings.timeout)
                };
                Ended {
                    result: Err(error),
                    next: Next::CancelAndClose,
                    lost: false,
                }
            }
        };
        match outcome.next {
            Next::Reuse => call.release(),
            Next::Close => call.retire(),
            Next::CancelAndClose => call.abandon(),
        }
        let lost = outcome.lost;
        let result = statement.finish(outcome.result, |o: &Outcome| {
            if matches!(mode, Mode::Write) {
                0
            } else {
                o.rows.len()
            }
        });
        result.map_err(|e| Lost(e, lost))
    }

    /// The transaction of one call on `pooled`: `sql` as the caller wrote it, `text` as
    /// it is sent (with the trace comment, if any).
    ///
    /// A statement is sent in one of three forms:
    /// - **kept**: its text carries no comment, so its plan is kept per connection
    ///   (deadpool's statement cache, at most [`STATEMENT_CACHE_LIMIT`]);
    /// - **in one round trip**: `BEGIN …`, the statement (unnamed, parameters typed by the
    ///   server) and, for a read, `ROLLBACK …` leave together and their answers come back
    ///   in that order. Only for a statement whose result the server has already described
    ///   with built-in types alone ([`Shapes`]): the driver looks an unknown type up with a
    ///   query of its own on the same connection, whose answer would wait behind the unread
    ///   rows of this one, and the call would stall until its timeout;
    /// - **prepared in the transaction**: `BEGIN …` and Parse/Describe leave together (the
    ///   driver looks up any type it does not know, with nothing else pending), then the
    ///   statement runs with the read's end. Two round trips.
    ///
    /// A write waits for its statement before it chooses `COMMIT` or `ROLLBACK`, and its
    /// connection is closed afterwards: a committed write may have changed the session
    /// (`SET`, `set_config(…, false)`, a temporary table, `LISTEN`), which must not reach
    /// the next caller.
    async fn transaction(
        &self,
        pooled: &deadpool_postgres::ClientWrapper,
        sql: &str,
        text: &str,
        params: &[SqlParam],
        mode: Mode,
        committing: &std::sync::atomic::AtomicBool,
    ) -> Ended {
        let client: &tokio_postgres::Client = pooled;
        let reading = matches!(mode, Mode::Read { .. });
        let after = if reading { Next::Reuse } else { Next::Close };
        let begin = if reading {
            &self.begin_read
        } else {
            &self.begin_write
        };
        let kept = text.len() == sql.len();
        let shape = if kept { None } else { self.shape(sql) };
        if kept && pooled.statement_cache.size() >= STATEMENT_CACHE_LIMIT {
            pooled.statement_cache.clear();
        }
        let mut begun = pin!(maybe_done(client.batch_execute(begin)));
        let mut prepared = pin!(maybe_done(async {
            if kept {
                Some(pooled.prepare_cached(text).await)
            } else if shape.is_none() {
                Some(client.prepare(text).await)
            } else {
                None
            }
        }));
        // One poll queues `BEGIN …`, then the Parse/Describe if one is needed (a kept plan
        // answers at once, with nothing sent).
        std::future::poll_fn(|cx| {
            let _ = begun.as_mut().poll(cx);
            let _ = prepared.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        prepared.as_mut().await;
        let statement = match prepared.as_mut().take_output().expect("awaited") {
            None => None,
            Some(Ok(statement)) => {
                if !kept && statement.columns().iter().all(|c| is_builtin(c.type_())) {
                    self.remember_shape(sql, &statement);
                }
                Some(statement)
            }
            Some(Err(e)) => {
                begun.as_mut().await;
                let lost = is_lost(client, &e);
                let next = if lost {
                    Next::CancelAndClose
                } else {
                    self.after_error(pooled, &e, client.batch_execute(END).await.is_ok(), after)
                };
                return Ended {
                    result: Err(self.error(&e)),
                    next,
                    lost,
                };
            }
        };
        let query = async {
            match &statement {
                Some(statement) => {
                    client
                        .query_raw(statement, params.iter().map(TextParam))
                        .await
                }
                None => {
                    let typed = params.iter().map(|p| (TextParam(p), Type::UNKNOWN));
                    client.query_typed_raw(text, typed).await
                }
            }
        };
        let mut started = pin!(maybe_done(query));
        // A read's end, sent with it (a write's waits for its statement; this one is then
        // never polled, so never sent).
        let mut ended = pin!(maybe_done(client.batch_execute(END)));
        std::future::poll_fn(|cx| {
            let _ = started.as_mut().poll(cx);
            if reading {
                let _ = ended.as_mut().poll(cx);
            }
            Poll::Ready(())
        })
        .await;
        begun.as_mut().await;
        started.as_mut().await;
        let begun = begun.as_mut().take_output().expect("awaited");
        let started = started.as_mut().take_output().expect("awaited");
        let read = match (begun, started) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(stream)) => match self.read(stream, mode).await {
                // Cut short: the statement may still be running. A cancel request stops
                // it, and the connection is closed rather than reused, because PostgreSQL
                // acts on a cancel request at a moment of its own: on a reused connection
                // it could stop the next caller's statement.
                Ok(Ok(outcome)) if outcome.truncated => {
                    return Ended {
                        result: Ok(outcome),
                        next: Next::CancelAndClose,
                        lost: false,
                    };
                }
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(refused)) => {
                    return Ended {
                        result: Err(refused),
                        next: Next::CancelAndClose,
                        lost: false,
                    };
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = &read
            && is_lost(client, e)
        {
            return Ended {
                result: Err(self.error(e)),
                next: Next::CancelAndClose,
                lost: true,
            };
        }
        let ended = if reading {
            ended.as_mut().await;
            ended.as_mut().take_output().expect("awaited")
        } else if read.is_ok() {
            committing.store(true, std::sync::atomic::Ordering::Relaxed);
            client.batch_execute("COMMIT").await
        } else {
            client.batch_execute(END).await
        };
        match (read, ended) {
            (Ok(mut outcome), Ok(())) => {
                if outcome.columns.is_empty() {
                    // No row came back: the description names the columns.
                    outcome.columns = match (&statement, &shape) {
                        (Some(statement), _) => column_names(statement.columns()),
                        (None, Some(columns)) => columns.clone(),
                        (None, None) => Vec::new(),
                    };
                }
                Ended {
                    result: Ok(outcome),
                    next: after,
                    lost: false,
                }
            }
            (Ok(outcome), Err(e)) => match mode {
                // The rows are what the database returned; only the connection is suspect.
                Mode::Read { .. } => Ended {
                    result: Ok(outcome),
                    next: Next::CancelAndClose,
                    lost: false,
                },
                // A failed COMMIT (a deferred constraint) means nothing was written.
                Mode::Write => Ended {
                    result: Err(self.error(&e)),
                    next: Next::Close,
                    lost: false,
                },
            },
            (Err(e), ended) => {
                // A kept plan made stale by a schema change: every connection forgets its
                // plans, and a read is tried again.
                let stale = kept && is_stale_plan(&e);
                if stale {
                    self.pool.manager().statement_caches.clear();
                }
                Ended {
                    result: Err(self.error(&e)),
                    next: if stale {
                        Next::Close
                    } else {
                        self.after_error(pooled, &e, ended.is_ok(), after)
                    },
                    lost: stale,
                }
            }
        }
    }

    /// What becomes of a connection after the statement failed with `error` and the
    /// transaction was (`rolled_back`) or was not ended.
    fn after_error(
        &self,
        pooled: &deadpool_postgres::ClientWrapper,
        error: &tokio_postgres::Error,
        rolled_back: bool,
        after: Next,
    ) -> Next {
        // A prepared statement the driver relies on is gone: start the connection afresh.
        if error.code().is_some_and(|c| c.code() == "26000") {
            pooled.statement_cache.clear();
            return Next::Close;
        }
        if rolled_back {
            after
        } else {
            Next::CancelAndClose
        }
    }

    /// The columns of `sql`'s result when the server has described it with built-in
    /// types alone; `None` when it has not (yet).
    fn shape(&self, sql: &str) -> Option<Vec<String>> {
        self.shapes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned()
    }

    fn remember_shape(&self, sql: &str, statement: &tokio_postgres::Statement) {
        let mut shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        if shapes.len() >= SHAPES_LIMIT {
            shapes.clear();
        }
        shapes.insert(sql.to_owned(), column_names(statement.columns()));
    }

    fn forget_shape(&self, sql: &str) {
        self.shapes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sql);
    }

    /// Reads the rows of `stream` up to the bounds; past them, stops reading and says
    /// `truncated` (the caller stops the statement in the database).
    async fn read(
        &self,
        stream: tokio_postgres::RowStream,
        mode: Mode,
    ) -> Result<Result<Outcome, DbError>, tokio_postgres::Error> {
        let (max_rows, max_bytes) = match mode {
            Mode::Read {
                max_rows,
                max_bytes,
            } => (max_rows, max_bytes),
            Mode::Write => (0, 0),
        };
        let mut stream = pin!(stream);
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let mut truncated = false;
        while let Some(row) = stream.next().await {
            let row = row?;
            if matches!(mode, Mode::Write) {
                continue;
            }
            if columns.is_none() {
                columns = Some(row.columns().iter().map(|c| c.name().to_owned()).collect());
            }
            let size = row.raw_size_bytes() + 4 * row.len();
            if rows.is_empty() && size > max_bytes {
                return Ok(Err(DbError::Refused(Refusal::Statement {
                    statement: format!("a row of {size} bytes"),
                    reason: "it is over the server's limit of a result (--max-bytes); select fewer or shorter columns (left(column, 1000))",
                })));
            }
            if rows.len() == max_rows || bytes + size > max_bytes {
                truncated = true;
                break;
            }
            bytes += size;
            let mut values = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                values.push(row.try_get::<_, PgJson>(i)?.0);
            }
            rows.push(values);
        }
        let rows_affected = if truncated {
            0
        } else {
            stream.rows_affected().unwrap_or(0)
        };
        Ok(Ok(Outcome {
            columns: columns.unwrap_or_default(),
            rows,
            truncated,
            rows_affected,
        }))
    }

    /// The tool error for a driver error: the database's message with its detail and
    /// hint, or what happened to the connection.
    fn error(&self, error: &tokio_postgres::Error) -> DbError {
        if let Some(db) = error.as_db_error() {
            let mut message = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" (detail: {detail})"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!(" (hint: {hint})"));
            }
            let code = db.code().code();
            match code {
                "25006" => message.push_str(
                    " (db-server runs every query in a read-only transaction; start it with --allow-write and use the execute tool to change the database)",
                ),
                "57014" if db.message().contains("statement timeout") => message.push_str(&format!(
                    " (db-server's --timeout is {}s)",
                    self.settings.timeout.as_secs_f64()
                )),
                _ => {}
            }
            return DbError::Database {
                message,
                code: Some(code.to_owned()),
            };
        }
        if error.is_closed() || error_is_io(error) {
            return DbError::Unavailable(format!(
                "the connection to the database ({}) failed: {}",
                self.target.redacted(),
                error_text(error)
            ));
        }
        // The driver's own refusal (the parameters do not fit the statement, a value it
        // cannot read).
        DbError::Database {
            message: error_text(error),
            code: None,
        }
    }

    async fn query_capped(
        &self,
        sql: &str,
        params: &[SqlParam],
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<QueryResult, DbError> {
        let outcome = self
            .run(
                sql,
                params,
                Mode::Read {
                    max_rows,
                    max_bytes,
                },
            )
            .await?;
        Ok(QueryResult {
            columns: outcome.columns,
            row_count: outcome.rows.len(),
            rows: outcome.rows,
            truncated: outcome.truncated,
        })
    }
}

#[async_trait]
impl Backend for Postgres {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    async fn query(&self, sql: &str, params: &[SqlParam]) -> Result<QueryResult, DbError> {
        self.query_capped(sql, params, self.settings.max_rows, self.settings.max_bytes)
            .await
    }

    async fn execute(&self, sql: &str, params: &[SqlParam]) -> Result<ExecuteResult, DbError> {
        if !self.settings.allow_write {
            return Err(DbError::Refused(Refusal::WouldWrite));
        }
        let outcome = self.run(sql, params, Mode::Write).await?;
        Ok(ExecuteResult {
            rows_changed: outcome.rows_affected,
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableSummary>, DbError> {
        catalog::list_tables(self).await
    }

    async fn describe_table(&self, table: &str) -> Result<TableDescription, DbError> {
        catalog::describe_table(self, table).await
    }
}

/// How one transaction ended: its result, whether the connection may go back to the
/// pool, and whether the connection was lost (a read may be tried again).
struct Ended {
    result: Result<Outcome, DbError>,
    next: Next,
    lost: bool,
}

/// What becomes of a connection after its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Back to the pool: the transaction ended cleanly and left nothing behind.
    Reuse,
    /// Closed: its session may hold something of the call (a committed write's `SET`).
    Close,
    /// A cancel request for whatever still runs, then closed.
    CancelAndClose,
}

/// Results described with built-in types alone, by statement text (without its comment):
/// their columns. At most [`SHAPES_LIMIT`], then forgotten and learnt anew.
type Shapes = std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>;

/// The most statement texts [`Shapes`] remembers.
const SHAPES_LIMIT: usize = 1024;

fn column_names(columns: &[tokio_postgres::Column]) -> Vec<String> {
    columns.iter().map(|c| c.name().to_owned()).collect()
}

/// Whether the driver knows `ty` without asking the server (no lookup query).
fn is_builtin(ty: &Type) -> bool {
    Type::from_oid(ty.oid()).is_some()
}

/// PostgreSQL's refusal to run a kept plan whose result type a schema change altered.
fn is_stale_plan(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code().code() == "0A000" && db.message().contains("cached plan must not change")
    })
}

/// A failed try: its error, and whether the connection was lost before the statement
/// could answer (a read may then be tried again).
struct Lost(DbError, bool);

/// Whether `error` means the connection is gone (closed, reset, the server shutting
/// down) rather than that the statement failed.
fn is_lost(client: &tokio_postgres::Client, error: &tokio_postgres::Error) -> bool {
    if client.is_closed() || error.is_closed() || error_is_io(error) {
        return true;
    }
    // Connection exceptions (08: but not 08P01, a protocol violation the session survives)
    // and the server shutting down or restarting (57P01, 57P02, 57P03).
    error.code().is_some_and(|code| {
        let code = code.code();
        (code.starts_with("08") && code != "08P01") || code.starts_with("57P")
    })
}

/// Whether the driver failed reading or writing the socket.
fn error_is_io(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// The driver error's text with its causes, which hold the useful part ("Connection
/// refused").
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A pooled connection in use by one call. Released to the pool when the call ended
/// cleanly; otherwise (an error that left the connection in doubt, a timeout, or the
/// call's future dropped because the request was cancelled) a cancel request goes to the
/// database and the connection is closed instead of reused.
struct InFlight {
    client: Option<Object>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl InFlight {
    fn new(client: Object, tls: tokio_postgres_rustls::MakeRustlsConnect) -> Self {
        Self {
            client: Some(client),
            tls,
        }
    }

    fn client(&self) -> &deadpool_postgres::ClientWrapper {
        self.client.as_ref().expect("in flight until released")
    }

    /// Back to the pool.
    fn release(mut self) {
        drop(self.client.take());
    }

    /// Cancel whatever runs, close the connection.
    fn abandon(self) {
        drop(self);
    }

    /// Close the connection; nothing runs on it.
    fn retire(mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let token = client.cancel_token();
        let tls = self.tls.clone();
        // Out of the pool: the connection closes when `wrapper` drops.
        let wrapper = Object::take(client);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CANCEL_TIMEOUT, token.cancel_query(tls)).await;
                drop(wrapper);
            });
        }
    }
}

/// Why a statement is refused before it is sent, by its leading keywords; `None` for
/// every other statement (the database decides those).
pub fn refusal(sql: &str) -> Option<Refusal> {
    let words = sql::leading_keywords(sql, 4);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let statement = |n: usize| words[..n.min(words.len())].join(" ");
    const TRANSACTION: &str = "each call runs in a transaction of its own that the server begins and ends (reads end in ROLLBACK), so transaction control has nothing to act on; send the statement alone";
    let (n, reason) = match word(0) {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            (1, TRANSACTION)
        }
        "PREPARE" if word(1) == "TRANSACTION" => (2, TRANSACTION),
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => (
            1,
            "prepared statements outlive the call's transaction; send the statement itself, with its values in params",
        ),
        "COPY" => (
            1,
            "COPY moves data to and from files and programs on the database server; use SELECT",
        ),
        "LOAD" => (1, "it loads a library into the database server"),
        "RESET" | "DISCARD" => (
            1,
            "the server sets the session's limits itself, and each call's settings end with its transaction",
        ),
        "SET" => {
            let mut i = 1;
            if matches!(word(1), "SESSION" | "LOCAL")
                && !matches!(word(2), "CHARACTERISTICS" | "")
                && matches!(word(2), "ROLE" | "SESSION")
            {
                i = 2;
            }
            match (word(i), word(i + 1)) {
                ("ROLE", _) | ("SESSION", "AUTHORIZATION") => (
                    i + 1 + usize::from(word(i) == "SESSION"),
                    "it changes the privileges the server works with",
                ),
                ("TRANSACTION", _) | ("SESSION", "CHARACTERISTICS") => (
                    i + 1 + usize::from(word(i) == "SESSION"),
                    "the server sets each call's transaction mode itself (read-only unless it was started with --allow-write)",
                ),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Refusal::Statement {
        statement: statement(n),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_statement_and_the_reason() {
        let refused = |sql: &str| refusal(sql).map(|r| r.to_string());
        assert!(
            refused("commit")
                .unwrap()
                .starts_with("COMMIT is refused: each call")
        );
        assert!(
            refused("  /* x */ Begin; select 1")
                .unwrap()
                .starts_with("BEGIN is refused")
        );
        assert!(
            refused("PREPARE TRANSACTION 'x'")
                .unwrap()
                .starts_with("PREPARE TRANSACTION is refused")
        );
        assert!(
            refused("prepare q as select 1")
                .unwrap()
                .starts_with("PREPARE is refused")
        );
        assert!(
            refused("COPY (SELECT 1) TO PROGRAM 'id'")
                .unwrap()
                .starts_with("COPY is refused")
        );
        assert!(
            refused("set role postgres")
                .unwrap()
                .starts_with("SET ROLE is refused")
        );
        assert!(
            refused("SET LOCAL ROLE postgres")
                .unwrap()
                .starts_with("SET LOCAL ROLE is refused")
        );
        assert!(
            refused("SET SESSION AUTHORIZATION postgres")
                .unwrap()
                .starts_with("SET SESSION AUTHORIZATION is refused")
        );
        assert!(
            refused("SET TRANSACTION READ WRITE")
                .unwrap()
                .starts_with("SET TRANSACTION is refused")
        );
        assert!(
            refused("set session characteristics as transaction read write")
                .unwrap()
                .starts_with("SET SESSION CHARACTERISTICS is refused")
        );
        assert!(refused("RESET ALL").is_some());
        assert!(refused("DISCARD ALL").is_some());
        assert_eq!(refused("SET search_path = public"), None);
        assert_eq!(refused("SET SESSION statement_timeout = 0"), None);
        assert_eq!(refused("SELECT 'commit'"), None);
        assert_eq!(refused("WITH x AS (SELECT 1) SELECT * FROM x"), None);
    }
}
