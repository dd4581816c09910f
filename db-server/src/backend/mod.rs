//! The seam between the tools and a database: the [`Backend`] trait, what each backend
//! says of itself ([`BackendInfo`]), and the database CLIENT span every statement gets
//! ([`StatementSpan`]).
//!
//! A backend is one module: [`sqlite`] (the embedded database of [`crate::database`]) and
//! [`crate::postgres`]. Another database (MySQL, MariaDB) is one more module that
//! implements [`Backend`]; the tools, the spans, the metric and the command line's
//! `--database-url` dispatch need no other change.

pub mod sqlite;

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use opentelemetry::{
    KeyValue,
    metrics::Histogram,
    trace::{Status, TraceContextExt},
};
use trace_meta::{
    attributes::{self as attr, truncate},
    content::Capture,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    error::DbError,
    model::{ExecuteResult, QueryResult, TableDescription, TableSummary},
    sql::Summary,
    value::SqlParam,
};

/// A database the tools can work on. Every method runs one tool's work, records one
/// [`StatementSpan`] per statement it sends, and stops the work in the database when its
/// future is dropped (the request was cancelled).
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// What the backend is; fixed for its life.
    fn info(&self) -> &BackendInfo;

    /// Runs one read-only statement and returns its rows, cut at the row and byte bounds.
    async fn query(&self, sql: &str, params: &[SqlParam]) -> Result<QueryResult, DbError>;

    /// Runs one statement that may change the database (only with `--allow-write`).
    async fn execute(&self, sql: &str, params: &[SqlParam]) -> Result<ExecuteResult, DbError>;

    /// The tables and views the tools can see.
    async fn list_tables(&self) -> Result<Vec<TableSummary>, DbError>;

    /// One table or view: columns, keys, indexes, rows.
    async fn describe_table(&self, table: &str) -> Result<TableDescription, DbError>;
}

/// What a backend is, for spans, metrics and the tools' descriptions.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// `db.system.name`: `sqlite`, `postgresql`.
    pub system: &'static str,
    /// `db.namespace`: the database's name.
    pub namespace: Option<String>,
    /// `server.address`: the database server's host (or socket directory).
    pub server_address: Option<String>,
    /// `server.port`.
    pub server_port: Option<u16>,
    /// How the statement's parameters are written, for the tools' descriptions.
    pub placeholders: &'static str,
    /// The SQL dialect, as a person names it (`SQLite`, `PostgreSQL`).
    pub dialect: &'static str,
    /// Whether the `execute` tool is offered.
    pub allow_write: bool,
}

/// The bucket boundaries of `db.client.operation.duration`, in seconds (the database
/// conventions' advice).
pub const DB_DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The metric's name.
pub const DB_CLIENT_OPERATION_DURATION: &str = "db.client.operation.duration";

/// The most characters of a statement recorded as `db.query.text`.
const QUERY_TEXT_LIMIT: usize = 2000;

fn duration_histogram() -> &'static Histogram<f64> {
    static HISTOGRAM: OnceLock<Histogram<f64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| {
        opentelemetry::global::meter("db-server")
            .f64_histogram(DB_CLIENT_OPERATION_DURATION)
            .with_unit("s")
            .with_description("Duration of database client operations")
            .with_boundaries(DB_DURATION_BUCKETS.to_vec())
            .build()
    })
}

/// The database CLIENT span of one statement, child of the current span (the tool's
/// SERVER span), named and attributed by the OpenTelemetry database conventions, and the
/// `db.client.operation.duration` measurement that goes with it.
#[derive(Debug)]
pub struct StatementSpan {
    span: tracing::Span,
    started: Instant,
    metric: Vec<KeyValue>,
    finished: bool,
}

impl StatementSpan {
    /// Opens the span of `sql` (the statement as the caller wrote it, parameters never
    /// inlined). `wait` is how long the statement waited for a pooled connection; it is
    /// recorded as `db.client.connection.wait_time` (seconds).
    pub fn start(info: &BackendInfo, sql: &str, wait: Option<Duration>) -> Self {
        let summary = Summary::of(sql);
        let text = summary.text();
        let name = text.clone().unwrap_or_else(|| info.system.to_owned());
        let span = tracing::info_span!(
            target: "db_server",
            "db.statement",
            otel.name = %name,
            otel.kind = "client",
        );
        // The metric's attributes are the span's low-cardinality ones; the span records
        // them and a few more.
        let mut metric = vec![KeyValue::new(attr::DB_SYSTEM_NAME, info.system)];
        metric.extend(
            info.namespace
                .clone()
                .map(|namespace| KeyValue::new("db.namespace", namespace)),
        );
        metric.extend(
            summary
                .operation
                .clone()
                .map(|operation| KeyValue::new("db.operation.name", operation)),
        );
        metric.extend(
            summary
                .collection()
                .map(|collection| KeyValue::new("db.collection.name", collection.to_owned())),
        );
        metric.extend(
            info.server_address
                .clone()
                .map(|address| KeyValue::new(attr::SERVER_ADDRESS, address)),
        );
        metric.extend(
            info.server_port
                .map(|port| KeyValue::new(attr::SERVER_PORT, i64::from(port))),
        );
        for kv in &metric {
            span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        if let Some(text) = text {
            span.set_attribute("db.query.summary", text);
        }
        if Capture::get().tools() && !sql.is_empty() {
            span.set_attribute(
                attr::DB_QUERY_TEXT,
                truncate(sql, QUERY_TEXT_LIMIT).to_owned(),
            );
        }
        if let Some(wait) = wait {
            span.set_attribute("db.client.connection.wait_time", wait.as_secs_f64());
        }
        Self {
            span,
            started: Instant::now(),
            metric,
            finished: false,
        }
    }

    /// The span, to run the statement's work in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The sqlcommenter pairs that carry this span's context into the database:
    /// `traceparent` (`00-{trace id}-{span id}-{flags}`) and `tracestate` when it is not
    /// empty. Empty when there is no span (no OpenTelemetry layer installed).
    pub fn comment_pairs(&self) -> Vec<(&'static str, String)> {
        let context = self.span.context();
        let span = context.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return Vec::new();
        }
        let mut pairs = vec![(
            "traceparent",
            format!(
                "00-{}-{}-{:02x}",
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags().to_u8()
            ),
        )];
        let state = span_context.trace_state().header();
        if !state.is_empty() {
            pairs.push(("tracestate", state));
        }
        pairs
    }

    /// Ends the span of a statement that returned (or changed) `rows` rows.
    fn succeeded(self, rows: usize) {
        self.span.set_attribute(
            "db.response.returned_rows",
            i64::try_from(rows).unwrap_or(i64::MAX),
        );
        self.end(None);
    }

    /// Ends the span of a statement that failed.
    fn failed(self, error: &DbError) {
        if let Some(code) = error.status_code() {
            self.span.set_attribute("db.response.status_code", code);
        }
        self.end(Some(error));
    }

    fn end(mut self, error: Option<&DbError>) {
        self.record(error.map(|e| (e.error_type(), e.to_string(), e.status_code())));
    }

    fn record(&mut self, error: Option<(String, String, Option<String>)>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some((kind, message, code)) = error {
            self.span.set_attribute(attr::ERROR_TYPE, kind.clone());
            self.span.set_status(Status::error(message));
            if let Some(code) = code {
                self.metric
                    .push(KeyValue::new("db.response.status_code", code));
            }
            self.metric.push(KeyValue::new(attr::ERROR_TYPE, kind));
        }
        duration_histogram().record(self.started.elapsed().as_secs_f64(), &self.metric);
    }

    /// Ends the span with `outcome` and passes the outcome on; `rows` counts what
    /// succeeded.
    pub fn finish<T>(
        self,
        outcome: Result<T, DbError>,
        rows: impl FnOnce(&T) -> usize,
    ) -> Result<T, DbError> {
        match &outcome {
            Ok(value) => self.succeeded(rows(value)),
            Err(error) => self.failed(error),
        }
        outcome
    }
}

impl Drop for StatementSpan {
    /// Ended without [`finish`](Self::finish): the
    /// request was cancelled while the statement ran.
    fn drop(&mut self) {
        self.record(Some((
            "cancelled".to_owned(),
            "the request was cancelled while the statement ran".to_owned(),
            None,
        )));
    }
}
