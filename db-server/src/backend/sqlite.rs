//! The SQLite backend: [`Database`] (blocking, one connection) behind the async
//! [`Backend`] seam.
//!
//! Each call runs on a blocking thread inside the caller's span, so the statement spans
//! that [`Database`] records are children of the tool's SERVER span. A call whose future
//! is dropped (the request was cancelled) stops its statement through
//! [`Database::stop`].

use std::sync::Arc;

use async_trait::async_trait;

use super::{Backend, BackendInfo};
use crate::{
    database::{Database, DbError, Ticket},
    model::{ExecuteResult, QueryResult, TableDescription, TableSummary},
    value::SqlParam,
};

/// [`Database`] as a [`Backend`].
#[derive(Debug, Clone)]
pub struct Sqlite {
    db: Arc<Database>,
}

impl Sqlite {
    /// The backend of `db`.
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The database served.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Runs `work` on a blocking thread, in the current span, as stoppable work.
    async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DbError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let ticket = db.ticket();
        // Dropped with this future when the request is cancelled (trace-meta's `Traced`
        // drops the handler): the statement is interrupted rather than left to its limit.
        let stop = StopOnDrop(Some((Arc::clone(&db), ticket)));
        let span = tracing::Span::current();
        let outcome =
            tokio::task::spawn_blocking(move || db.stoppable_in(ticket, span, work)).await;
        stop.disarm();
        outcome.unwrap_or_else(|join| {
            Err(DbError::Unavailable(format!(
                "the database task failed: {join}"
            )))
        })
    }
}

#[async_trait]
impl Backend for Sqlite {
    fn info(&self) -> &BackendInfo {
        self.db.info()
    }

    async fn query(&self, sql: &str, params: &[SqlParam]) -> Result<QueryResult, DbError> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.run(move |db| db.query(&sql, &params)).await
    }

    async fn execute(&self, sql: &str, params: &[SqlParam]) -> Result<ExecuteResult, DbError> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.run(move |db| db.execute(&sql, &params)).await
    }

    async fn list_tables(&self) -> Result<Vec<TableSummary>, DbError> {
        self.run(Database::list_tables).await
    }

    async fn describe_table(&self, table: &str) -> Result<TableDescription, DbError> {
        let table = table.to_owned();
        self.run(move |db| db.describe_table(&table)).await
    }
}

/// Stops the work of a ticket when dropped before [`disarm`](Self::disarm).
struct StopOnDrop(Option<(Arc<Database>, Ticket)>);

impl StopOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some((db, ticket)) = self.0.take() {
            tracing::debug!("request cancelled: stopping its statement");
            db.stop(ticket);
        }
    }
}
