//! The SQLite backend: [`Database`] (blocking, one connection) behind the async
//! [`Backend`] seam.
//!
//! One connection does one statement at a time, so one thread does the work: calls are
//! queued to a worker thread that owns nothing but the queue, runs them in order inside
//! each caller's span (the statement spans [`Database`] records are children of the
//! tool's SERVER span), and answers each on a oneshot channel. However many calls are in
//! flight, the server has that one thread for them, and the connection never idles while
//! work is queued. A call whose future is dropped (the request was cancelled) stops its
//! statement through [`Database::stop`], or never starts it.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use async_trait::async_trait;

use super::{Backend, BackendInfo};
use crate::{
    database::{Database, Ticket},
    error::DbError,
    model::{ExecuteResult, QueryResult, TableDescription, TableSummary},
    value::SqlParam,
};

/// A call queued for the worker thread.
type Job = Box<dyn FnOnce(&Database) + Send>;

/// [`Database`] as a [`Backend`].
#[derive(Debug, Clone)]
pub struct Sqlite {
    db: Arc<Database>,
    worker: Arc<Worker>,
}

/// How long the last backend to go waits for the call the worker is finishing (a stopped
/// statement ends within a thousand SQLite instructions): the call's spans then end before
/// the process flushes them: the grace a runtime gives its blocking tasks at shutdown.
const WORKER_DRAIN: Duration = Duration::from_millis(200);

/// The worker thread's queue, and word of its end.
#[derive(Debug)]
struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    done: Mutex<mpsc::Receiver<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the worker once it has run what is queued.
        drop(self.jobs.take());
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let _ = done.recv_timeout(WORKER_DRAIN);
    }
}

impl Sqlite {
    /// The backend of `db`, with its worker thread (which ends when the last clone of the
    /// backend is dropped).
    pub fn new(db: Arc<Database>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (finished, done) = mpsc::channel::<()>();
        let worker = Arc::clone(&db);
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                for job in queue {
                    // A panicking call loses its answer (its caller gets an error), not the
                    // worker: the next call runs as usual.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&worker)));
                }
                let _ = finished.send(());
            })
            .expect("the SQLite worker thread starts");
        Self {
            db,
            worker: Arc::new(Worker {
                jobs: Some(jobs),
                done: Mutex::new(done),
            }),
        }
    }

    /// The database served.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Queues `work` for the worker thread, in the current span, as stoppable work, and
    /// waits for its answer.
    async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DbError> + Send + 'static,
    {
        let ticket = self.db.ticket();
        // Dropped with this future when the request is cancelled (trace-meta's `Traced`
        // drops the handler): the statement is interrupted rather than left to its limit.
        let stop = StopOnDrop(Some((Arc::clone(&self.db), ticket)));
        let span = tracing::Span::current();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |db: &Database| {
            let _ = answer.send(db.stoppable_in(ticket, span, work));
        });
        let unavailable = || DbError::Unavailable("the SQLite worker thread has stopped".into());
        let jobs = self.worker.jobs.as_ref().ok_or_else(unavailable)?;
        jobs.send(job).map_err(|_| unavailable())?;
        let outcome = answered.await.map_err(|_| unavailable());
        stop.disarm();
        outcome?
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
