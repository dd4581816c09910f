//! What the tools return, the same on every backend.

use serde::Serialize;
use serde_json::Value as Json;

/// The result of a query: columns and rows, capped at `max_rows` (and at the byte bound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows, each an array of values in column order. Integers and reals are JSON
    /// numbers, text is a string, NULL is null, and a blob is a lowercase hex string.
    pub rows: Vec<Vec<Json>>,
    /// The number of rows returned (after the cap).
    pub row_count: usize,
    /// Whether the query had more rows than the server returns.
    pub truncated: bool,
}

/// The result of a statement run by `execute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecuteResult {
    /// Rows inserted, updated or deleted (including by triggers).
    pub rows_changed: u64,
}

/// A table or view as `list_tables` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// The schema: `main` or `temp` on SQLite, the schema of `search_path` on PostgreSQL.
    pub schema: String,
    /// The table's name.
    pub name: String,
    /// `table`, `view`, `virtual` or `shadow` (SQLite); `table`, `view`,
    /// `materialized view`, `foreign table` or `partitioned table` (PostgreSQL).
    #[serde(rename = "type")]
    pub kind: String,
    /// The number of columns.
    pub column_count: i64,
    /// How to name the table in SQL, schema-qualified when an earlier schema of
    /// `search_path` hides it (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_name: Option<String>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// The declared type (may be empty: SQLite columns need not declare one).
    #[serde(rename = "type")]
    pub decl_type: String,
    /// Whether the column is declared NOT NULL.
    pub notnull: bool,
    /// The column's position in the primary key (1-based), 0 when not part of it.
    pub pk: i64,
    /// The default value's SQL text, if any.
    pub default: Option<String>,
}

/// A foreign key of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    /// The columns of this table, in key order.
    pub columns: Vec<String>,
    /// The table referred to (schema-qualified on PostgreSQL when outside `search_path`).
    pub references_table: String,
    /// The columns referred to, in key order (empty: that table's primary key).
    pub references_columns: Vec<String>,
}

/// An index of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    /// The index's name.
    pub name: String,
    /// The indexed columns (an expression's text where a column is an expression).
    pub columns: Vec<String>,
    /// Whether the index is unique.
    pub unique: bool,
    /// Whether the index is the primary key's.
    pub primary: bool,
}

/// A table as `describe_table` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDescription {
    /// The table's name as the schema spells it.
    pub name: String,
    /// The table's schema (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// `table`, `view`, ... as [`TableSummary::kind`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The columns, in order.
    pub columns: Vec<ColumnInfo>,
    /// The number of rows: counted, or the planner's estimate where
    /// [`row_count_estimated`](Self::row_count_estimated) says so.
    pub row_count: i64,
    /// Whether `row_count` is the planner's estimate (a large PostgreSQL table, not
    /// counted row by row; -1 when the table was never analyzed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub row_count_estimated: bool,
    /// The foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// The indexes.
    pub indexes: Vec<IndexInfo>,
}
