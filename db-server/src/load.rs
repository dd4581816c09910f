//! Filling a database at start: CSV files as typed tables (`--load`) and SQL scripts
//! (`--init`), while the [`DatabaseBuilder`] is still writable and no policy is in force.

use std::path::Path;

use rusqlite::types::Value as SqlValue;

use crate::{
    database::{DatabaseBuilder, quote_identifier},
    error::DbError,
};

impl DatabaseBuilder {
    /// Loads `csv_path` into a new table `table`, inferring each column's type: INTEGER
    /// when every non-empty value parses as an integer, REAL when every one parses as a
    /// number, TEXT otherwise. Empty fields of numeric columns become NULL. Returns the
    /// number of rows loaded. Errors name the file.
    pub fn load_csv(&mut self, table: &str, csv_path: &Path) -> Result<usize, DbError> {
        let context = format!("--load {table}={}", csv_path.display());
        let setup = |source: &dyn std::fmt::Display| DbError::setup(&context, source);
        validate_identifier(table, "table name").map_err(|e| setup(&e))?;
        if table.to_ascii_lowercase().starts_with("sqlite_") {
            return Err(setup(
                &"table names starting with sqlite_ are reserved by SQLite",
            ));
        }
        let mut reader = csv::Reader::from_path(csv_path).map_err(|e| setup(&e))?;
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| setup(&e))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(setup(&"the file has no header row"));
        }
        let mut seen = std::collections::HashSet::new();
        for header in &headers {
            validate_identifier(header, "column name").map_err(|e| setup(&e))?;
            if !seen.insert(header.to_lowercase()) {
                return Err(setup(&format!(
                    "column {header:?} appears twice in the header"
                )));
            }
        }
        let mut records = Vec::new();
        for record in reader.records() {
            records.push(record.map_err(|e| setup(&e))?);
        }
        let types: Vec<ColumnType> = (0..headers.len())
            .map(|i| ColumnType::infer(records.iter().map(|r| &r[i])))
            .collect();

        let columns = headers
            .iter()
            .zip(&types)
            .map(|(name, ty)| format!("{} {}", quote_identifier(name), ty.sql()))
            .collect::<Vec<_>>()
            .join(", ");
        let create = format!("CREATE TABLE {} ({columns})", quote_identifier(table));
        let placeholders = vec!["?"; headers.len()].join(", ");
        let insert = format!(
            "INSERT INTO {} VALUES ({placeholders})",
            quote_identifier(table)
        );

        let tx = self.conn.transaction().map_err(|e| setup(&e))?;
        tx.execute(&create, []).map_err(|e| setup(&e))?;
        {
            let mut stmt = tx.prepare(&insert).map_err(|e| setup(&e))?;
            for record in &records {
                let values = record.iter().zip(&types).map(|(field, ty)| ty.value(field));
                stmt.execute(rusqlite::params_from_iter(values))
                    .map_err(|e| setup(&e))?;
            }
        }
        tx.commit().map_err(|e| setup(&e))?;
        Ok(records.len())
    }

    /// Runs the SQL script in `path` (any number of statements), as `--init` does.
    pub fn run_script(&mut self, path: &Path) -> Result<(), DbError> {
        let context = format!("--init {}", path.display());
        let sql = std::fs::read_to_string(path).map_err(|e| DbError::setup(&context, &e))?;
        self.conn
            .execute_batch(&sql)
            .map_err(|e| DbError::setup(&context, &e))
    }
}

/// Checks a name that will become an identifier: not empty, at most 128 characters,
/// no control characters. It is still always quoted.
fn validate_identifier(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("empty {what}"));
    }
    if name.chars().count() > 128 {
        return Err(format!("{what} longer than 128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} {name:?} contains control characters"));
    }
    Ok(())
}

/// The type a CSV column is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Integer,
    Real,
    Text,
}

impl ColumnType {
    fn infer<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut ty = ColumnType::Integer;
        let mut any = false;
        for value in values.map(str::trim).filter(|v| !v.is_empty()) {
            any = true;
            if ty == ColumnType::Integer && value.parse::<i64>().is_err() {
                ty = ColumnType::Real;
            }
            if ty == ColumnType::Real && value.parse::<f64>().is_err() {
                return ColumnType::Text;
            }
        }
        if any { ty } else { ColumnType::Text }
    }

    fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
        }
    }

    fn value(self, field: &str) -> SqlValue {
        let trimmed = field.trim();
        match self {
            ColumnType::Text => SqlValue::Text(field.to_owned()),
            _ if trimmed.is_empty() => SqlValue::Null,
            ColumnType::Integer => trimmed.parse().map_or(SqlValue::Null, SqlValue::Integer),
            ColumnType::Real => trimmed.parse().map_or(SqlValue::Null, SqlValue::Real),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_are_inferred() {
        assert_eq!(
            ColumnType::infer(["1", "-2", " 3 "].into_iter()),
            ColumnType::Integer
        );
        assert_eq!(
            ColumnType::infer(["1", "2.5"].into_iter()),
            ColumnType::Real
        );
        assert_eq!(ColumnType::infer(["1", "Q1"].into_iter()), ColumnType::Text);
        assert_eq!(
            ColumnType::infer(["1", ""].into_iter()),
            ColumnType::Integer
        );
        assert_eq!(ColumnType::infer(["", ""].into_iter()), ColumnType::Text);
    }
}
