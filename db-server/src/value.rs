//! Values across the boundary: tool parameters bound as SQLite values, and SQLite values
//! returned as JSON.

use rmcp::schemars::{self, JsonSchema};
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::DbError;

/// One bound parameter: null, a boolean (bound as 0 or 1), a number or a string.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SqlParam {
    /// SQL NULL.
    Null,
    /// A boolean, bound as the integer 0 or 1.
    Bool(bool),
    /// A number: bound as INTEGER when it is a whole number that fits 64 bits, else REAL.
    Number(serde_json::Number),
    /// A string, bound as TEXT.
    Text(String),
}

impl SqlParam {
    /// The SQLite value this parameter binds as.
    pub fn to_sql(&self) -> SqlValue {
        match self {
            Self::Null => SqlValue::Null,
            Self::Bool(b) => SqlValue::Integer(i64::from(*b)),
            Self::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            Self::Text(s) => SqlValue::Text(s.clone()),
        }
    }
}

impl From<&str> for SqlParam {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// Binds `params` to the statement's positional placeholders.
pub(crate) fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[SqlParam]) -> Result<(), DbError> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(DbError::Parameters {
            expected,
            given: params.len(),
        });
    }
    for (i, param) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, param.to_sql())
            .map_err(DbError::Sqlite)?;
    }
    Ok(())
}

/// Converts one SQLite value to JSON: integers and reals are numbers (a REAL JSON cannot
/// hold, an infinity or NaN, becomes its text), text is a string, NULL is null, and a blob
/// is a lowercase hex string.
pub(crate) fn to_json(value: ValueRef<'_>) -> Json {
    match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => Json::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        ValueRef::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            use std::fmt::Write;
            let mut hex = String::with_capacity(b.len() * 2);
            for byte in b {
                let _ = write!(hex, "{byte:02x}");
            }
            Json::String(hex)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_become_hex() {
        assert_eq!(
            to_json(ValueRef::Blob(&[0x00, 0xab, 0x10])),
            Json::String("00ab10".into())
        );
    }

    #[test]
    fn params_bind_as_their_sqlite_types() {
        assert_eq!(SqlParam::Null.to_sql(), SqlValue::Null);
        assert_eq!(SqlParam::Bool(true).to_sql(), SqlValue::Integer(1));
        assert_eq!(SqlParam::Number(7.into()).to_sql(), SqlValue::Integer(7));
        let real = serde_json::Number::from_f64(2.5).unwrap();
        assert_eq!(SqlParam::Number(real).to_sql(), SqlValue::Real(2.5));
        assert_eq!(SqlParam::from("x").to_sql(), SqlValue::Text("x".into()));
    }
}
