//! The MCP face of the database: [`DbServer`], an rmcp `ServerHandler` with four tools.
//!
//! Each tool hands its SQLite work to a blocking thread, so a slow query never stalls the
//! async runtime, and records the database attributes on the current span, which is the
//! SERVER span `tool-{tool}` that [`trace_meta::Traced`] opened for the request.

use std::sync::Arc;

use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock},
    schemars::{self, JsonSchema},
    tool, tool_handler, tool_router,
};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use crate::value::SqlParam;
use crate::{
    backend::{Backend, BackendInfo, sqlite::Sqlite},
    database::Database,
    error::DbError,
};
use trace_meta::attributes::{self as attr, truncate};

/// The most characters of SQL recorded as `db.query.text`.
const QUERY_TEXT_LIMIT: usize = 1000;

/// Arguments of `query_database` and `execute`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SqlArgs {
    /// Exactly one SQLite statement, e.g. `SELECT * FROM sales WHERE year = 2024`.
    /// Several statements in one call are refused. Use `?`, `?1`... placeholders for values.
    pub sql: String,
    /// Values bound to the statement's positional placeholders, in order: null, booleans,
    /// numbers or strings. Prefer these to splicing values into the SQL text.
    #[serde(default)]
    pub params: Option<Vec<SqlParam>>,
}

/// Arguments of `describe_table`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DescribeArgs {
    /// The name of a table or view, exactly as `list_tables` reports it (not SQL).
    pub table: String,
}

/// The MCP server: the database's tools behind rmcp's tool router.
#[derive(Debug, Clone)]
pub struct DbServer {
    backend: Arc<dyn Backend>,
    tool_router: ToolRouter<Self>,
}

impl DbServer {
    /// A server for the SQLite database `db`. The `execute` tool is listed and callable
    /// only when the database allows writes.
    pub fn new(db: Arc<Database>) -> Self {
        Self::with_backend(Arc::new(Sqlite::new(db)))
    }

    /// A server for any [`Backend`]. The tools' descriptions name the backend's dialect
    /// and placeholder style; `execute` is listed and callable only when it allows writes.
    pub fn with_backend(backend: Arc<dyn Backend>) -> Self {
        let mut tool_router = Self::tool_router();
        let info = backend.info();
        if !info.allow_write {
            // Removing the route, not just hiding it, makes a call by name fail as an
            // unknown tool.
            tool_router.remove_route("execute");
        }
        for name in ["query_database", "execute"] {
            if let Some(route) = tool_router.map.get_mut(name) {
                describe_dialect(&mut route.attr, info);
            }
        }
        Self {
            backend,
            tool_router,
        }
    }

    /// The backend served.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Turns a backend's outcome into a tool result: JSON text on success (its row count
    /// on the current span), an `isError` result with the message otherwise.
    fn result<T: Serialize>(
        outcome: Result<T, DbError>,
        rows_of: impl Fn(&T) -> usize,
    ) -> CallToolResult {
        match outcome {
            Ok(value) => {
                let rows = i64::try_from(rows_of(&value)).unwrap_or(i64::MAX);
                tracing::Span::current().set_attribute(attr::DB_RESPONSE_RETURNED_ROWS, rows);
                match serde_json::to_string(&value) {
                    Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
                    Err(error) => error_result(format!("cannot encode the result: {error}")),
                }
            }
            Err(error) => {
                tracing::debug!(%error, "statement failed");
                error_result(error.to_string())
            }
        }
    }
}

/// Says in the tool's description and in its `sql` parameter which SQL dialect and which
/// placeholders the backend takes.
fn describe_dialect(tool: &mut rmcp::model::Tool, info: &BackendInfo) {
    if let Some(description) = &tool.description {
        let text = description.replace("SQLite", info.dialect).replace(
            "?/?1 placeholders",
            &format!("{} placeholders", info.placeholders),
        );
        tool.description = Some(text.into());
    }
    let schema = Arc::make_mut(&mut tool.input_schema);
    if let Some(sql) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("sql"))
        .and_then(|p| p.as_object_mut())
    {
        sql.insert(
            "description".into(),
            format!(
                "Exactly one {} statement. Several statements in one call are refused. \
                 Write values as placeholders ({}) and pass them in params.",
                info.dialect, info.placeholders
            )
            .into(),
        );
    }
}

/// Longest SQL statement accepted, in bytes. Real queries are far shorter; the limit keeps
/// a hostile statement from costing a parse of megabytes (and SQLite's error messages,
/// which quote the statement, from growing past what a client reads as one message).
pub const MAX_SQL_BYTES: usize = 1024 * 1024;

/// Longest error message returned, in characters.
const ERROR_MESSAGE_LIMIT: usize = 4000;

fn error_result(message: String) -> CallToolResult {
    let message = if message.chars().count() > ERROR_MESSAGE_LIMIT {
        format!(
            "{} … (message truncated)",
            truncate(&message, ERROR_MESSAGE_LIMIT)
        )
    } else {
        message
    };
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Records the statement on the current span and takes it and its parameters out of the
/// arguments, or says why a statement over [`MAX_SQL_BYTES`] is refused.
fn take_statement(args: SqlArgs, system: &str) -> Result<(String, Vec<SqlParam>), String> {
    record_query(&args.sql, system);
    if args.sql.len() > MAX_SQL_BYTES {
        return Err(format!(
            "refused: the statement is {} bytes, over the limit of {MAX_SQL_BYTES} bytes",
            args.sql.len()
        ));
    }
    Ok((args.sql, args.params.unwrap_or_default()))
}

/// Records the database attributes of the conventions on the current span.
fn record_query(sql: &str, system: &str) {
    let span = tracing::Span::current();
    span.set_attribute(attr::DB_SYSTEM_NAME, system.to_owned());
    if !sql.is_empty() {
        span.set_attribute(
            attr::DB_QUERY_TEXT,
            truncate(sql, QUERY_TEXT_LIMIT).to_owned(),
        );
    }
}

#[tool_router]
impl DbServer {
    /// Run exactly one read-only SQL statement (SELECT, WITH ... SELECT, a read-only PRAGMA)
    /// on the SQLite database and return the result as JSON:
    /// `{"columns": [...], "rows": [[...], ...], "row_count": N, "truncated": bool}`.
    /// Rows are arrays in column order; blobs are hex strings; truncated is true when the
    /// result had more rows than the server's row limit. Bind values with ?/?1 placeholders
    /// and params. Example: `{"sql": "SELECT * FROM sales WHERE year = 2024"}`.
    #[tool(
        name = "query_database",
        annotations(
            title = "Query the database",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn query_database(
        &self,
        Parameters(args): Parameters<SqlArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = match take_statement(args, self.backend.info().system) {
            Ok((sql, params)) => self.backend.query(&sql, &params).await,
            Err(refusal) => return Ok(error_result(refusal)),
        };
        Ok(Self::result(outcome, |r| r.row_count))
    }

    /// List the tables and views of the database with their schema, type and column count:
    /// `[{"schema", "name", "type", "column_count"}, ...]`.
    #[tool(
        name = "list_tables",
        annotations(
            title = "List tables",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_tables(&self) -> Result<CallToolResult, ErrorData> {
        record_query("", self.backend.info().system);
        Ok(Self::result(self.backend.list_tables().await, Vec::len))
    }

    /// Describe one table or view: its columns (name, type, notnull, pk, default) and its
    /// row count. An unknown table is an error.
    #[tool(
        name = "describe_table",
        annotations(
            title = "Describe a table",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn describe_table(
        &self,
        Parameters(args): Parameters<DescribeArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        record_query("", self.backend.info().system);
        Ok(Self::result(
            self.backend.describe_table(&args.table).await,
            |d| d.columns.len(),
        ))
    }

    /// Run exactly one SQL statement that changes the database (INSERT, UPDATE, DELETE,
    /// CREATE, DROP, ALTER...) and return `{"rows_changed": N}`. Bind values with ?/?1
    /// placeholders and params. Listed only when the server runs with --allow-write.
    #[tool(
        name = "execute",
        annotations(
            title = "Change the database",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn execute(
        &self,
        Parameters(args): Parameters<SqlArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = match take_statement(args, self.backend.info().system) {
            Ok((sql, params)) => self.backend.execute(&sql, &params).await,
            Err(refusal) => return Ok(error_result(refusal)),
        };
        Ok(Self::result(outcome, |_| 0))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "db-server",
    instructions = "SQL over an SQLite database. Call list_tables and describe_table to learn the schema, then query_database with one SQL statement per call. The database is read-only unless the server was started with --allow-write, which adds the execute tool."
)]
impl ServerHandler for DbServer {
    /// Routes a call to its tool; `execute` on a read-only server is refused with a message
    /// that names the flag, rather than as an unknown tool.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        if request.name == "execute" && !self.backend.info().allow_write {
            return Err(ErrorData::invalid_params(
                "execute is not available: db-server is read-only; start it with --allow-write to change the database",
                None,
            ));
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_deserialize_from_json_scalars() {
        let args: SqlArgs = serde_json::from_value(serde_json::json!({
            "sql": "SELECT ?, ?, ?, ?, ?",
            "params": [null, true, 3, 2.5, "x"]
        }))
        .unwrap();
        assert_eq!(
            args.params.unwrap(),
            [
                SqlParam::Null,
                SqlParam::Bool(true),
                SqlParam::Number(3.into()),
                SqlParam::Number(serde_json::Number::from_f64(2.5).unwrap()),
                SqlParam::Text("x".into())
            ]
        );
        assert!(
            serde_json::from_value::<SqlArgs>(serde_json::json!({"sql": "x", "params": [[1]]}))
                .is_err()
        );
    }
}
