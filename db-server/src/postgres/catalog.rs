//! `list_tables` and `describe_table` from PostgreSQL's catalog, each statement run like
//! any other read (its own read-only transaction and span).

use serde_json::Value as Json;

use super::Postgres;
use crate::{
    database::quote_identifier,
    error::DbError,
    model::{ColumnInfo, ForeignKey, IndexInfo, TableDescription, TableSummary},
    value::SqlParam,
};

/// Tables counted row by row up to this many; past it, the planner's estimate is given.
const EXACT_COUNT_LIMIT: i64 = 100_000;

/// The relation kinds the tools show, and their names.
const KINDS: &str = "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' \
     WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END";

pub(super) async fn list_tables(pg: &Postgres) -> Result<Vec<TableSummary>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, {KINDS}, \
           (SELECT count(*) FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
           CASE WHEN pg_catalog.pg_table_is_visible(c.oid) THEN pg_catalog.quote_ident(c.relname) \
             ELSE pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) END \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
           AND n.nspname = ANY (pg_catalog.current_schemas(false)) \
         ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname), c.relname"
    );
    let result = pg.query_capped(&sql, &[], usize::MAX, usize::MAX).await?;
    Ok(result
        .rows
        .into_iter()
        .map(|row| TableSummary {
            schema: text(&row[0]),
            name: text(&row[1]),
            kind: text(&row[2]),
            column_count: row[3].as_i64().unwrap_or_default(),
            sql_name: Some(text(&row[4])),
        })
        .collect())
}

pub(super) async fn describe_table(
    pg: &Postgres,
    table: &str,
) -> Result<TableDescription, DbError> {
    // The name is matched against the catalog as a bound value (never spliced into SQL):
    // as list_tables spells it (`sales`, `analytics.sales`, `"Mixed Case"`), or unquoted
    // and case-insensitively within search_path. Only a name found there is used later,
    // and only quoted.
    let sql = format!(
        "WITH t AS ( \
           SELECT c.oid, c.relname::text AS name, n.nspname::text AS schema, {KINDS} AS kind, \
                  c.reltuples::bigint AS estimate \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             AND (($1 IN (c.relname::text, pg_catalog.quote_ident(c.relname)) \
                   AND pg_catalog.pg_table_is_visible(c.oid)) \
               OR $1 IN (n.nspname || '.' || c.relname, \
                   pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)) \
               OR (lower($1) = lower(c.relname) \
                   AND n.nspname = ANY (pg_catalog.current_schemas(false)))) \
           ORDER BY ($1 IN (c.relname::text, n.nspname || '.' || c.relname)) DESC, \
                    pg_catalog.pg_table_is_visible(c.oid) DESC, \
                    pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname) \
           LIMIT 1) \
         SELECT t.schema, t.name, t.kind, t.estimate, \
           (SELECT COALESCE(jsonb_agg(jsonb_build_array(a.attname, \
                     pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                     COALESCE((SELECT k.ord FROM pg_catalog.pg_index i, \
                                unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                               WHERE i.indrelid = t.oid AND i.indisprimary \
                                 AND k.attnum = a.attnum AND k.ord <= i.indnkeyatts), 0), \
                     pg_catalog.pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum), '[]') \
            FROM pg_catalog.pg_attribute a \
            LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
            WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped), \
           (SELECT COALESCE(jsonb_agg(jsonb_build_object( \
                     'columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) \
                       FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
                       JOIN pg_catalog.pg_attribute a \
                         ON a.attrelid = con.conrelid AND a.attnum = k.attnum), \
                     'references_table', con.confrelid::regclass::text, \
                     'references_columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) \
                       FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) \
                       JOIN pg_catalog.pg_attribute a \
                         ON a.attrelid = con.confrelid AND a.attnum = k.attnum)) \
                   ORDER BY con.conname), '[]') \
            FROM pg_catalog.pg_constraint con WHERE con.conrelid = t.oid AND con.contype = 'f' \
              AND con.conparentid = 0), \
           (SELECT COALESCE(jsonb_agg(jsonb_build_object( \
                     'name', ic.relname, 'unique', i.indisunique, 'primary', i.indisprimary, \
                     'columns', (SELECT jsonb_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k, true) \
                                   ORDER BY k) \
                                 FROM generate_series(1, i.indnkeyatts) AS k)) \
                   ORDER BY ic.relname), '[]') \
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
            WHERE i.indrelid = t.oid) \
         FROM t"
    );
    let found = pg
        .query_capped(&sql, &[SqlParam::from(table)], 1, usize::MAX)
        .await?;
    let Some(row) = found.rows.into_iter().next() else {
        return Err(DbError::UnknownTable(table.to_owned()));
    };
    let schema = text(&row[0]);
    let name = text(&row[1]);
    let columns = row[4]
        .as_array()
        .into_iter()
        .flatten()
        .map(|column| ColumnInfo {
            name: text(&column[0]),
            decl_type: text(&column[1]),
            notnull: column[2].as_bool().unwrap_or(false),
            pk: column[3].as_i64().unwrap_or(0),
            default: column[4].as_str().map(str::to_owned),
        })
        .collect();
    let foreign_keys = row[5]
        .as_array()
        .into_iter()
        .flatten()
        .map(|key| ForeignKey {
            columns: strings(&key["columns"]),
            references_table: text(&key["references_table"]),
            references_columns: strings(&key["references_columns"]),
        })
        .collect();
    let indexes = row[6]
        .as_array()
        .into_iter()
        .flatten()
        .map(|index| IndexInfo {
            name: text(&index["name"]),
            columns: strings(&index["columns"]),
            unique: index["unique"].as_bool().unwrap_or(false),
            primary: index["primary"].as_bool().unwrap_or(false),
        })
        .collect();
    // Counted up to a limit, so that describing a huge table stays cheap.
    let counted = pg
        .query_capped(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {}.{} LIMIT {}) AS counted",
                quote_identifier(&schema),
                quote_identifier(&name),
                EXACT_COUNT_LIMIT + 1
            ),
            &[],
            1,
            usize::MAX,
        )
        .await?;
    let count = counted
        .rows
        .first()
        .and_then(|r| r[0].as_i64())
        .unwrap_or_default();
    let (row_count, row_count_estimated) = if count > EXACT_COUNT_LIMIT {
        (row[3].as_i64().unwrap_or(-1).max(count), true)
    } else {
        (count, false)
    };
    Ok(TableDescription {
        name,
        schema: Some(schema),
        kind: text(&row[2]),
        columns,
        row_count,
        row_count_estimated,
        foreign_keys,
        indexes,
    })
}

fn text(value: &Json) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn strings(value: &Json) -> Vec<String> {
    value.as_array().into_iter().flatten().map(text).collect()
}
