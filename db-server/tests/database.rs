//! The database layer: loading, the row cap, bound parameters, describe_table with hostile
//! names, and the time limit.

use std::{time::Duration, time::Instant};

use db_server::{
    database::{Config, Database, DbError},
    value::SqlParam,
};
use serde_json::json;
use test_support::data::sales_csv;

fn sales(config: Config) -> Database {
    let mut builder = Database::builder(config).unwrap();
    assert_eq!(builder.load_csv("sales", &sales_csv()).unwrap(), 288);
    builder.finish().unwrap()
}

#[test]
fn the_reference_query_returns_the_2024_rows() {
    let db = sales(Config::default());
    let result = db
        .query("SELECT * FROM sales WHERE year = 2024", &[])
        .unwrap();
    assert_eq!(
        result.columns,
        [
            "year", "month", "quarter", "region", "product", "units", "revenue"
        ]
    );
    assert_eq!(result.row_count, 144);
    assert_eq!(result.rows.len(), 144);
    assert!(!result.truncated);
    assert!(result.rows.iter().all(|row| row[0] == 2024));
    assert!(
        result
            .rows
            .iter()
            .all(|row| row[2].as_str().unwrap().starts_with('Q'))
    );
}

#[test]
fn csv_columns_get_inferred_types() {
    let db = sales(Config::default());
    let types = db
        .query(
            "SELECT name, type FROM pragma_table_info('sales') ORDER BY cid",
            &[],
        )
        .unwrap();
    let types: Vec<(String, String)> = types
        .rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        types,
        [
            ("year", "INTEGER"),
            ("month", "INTEGER"),
            ("quarter", "TEXT"),
            ("region", "TEXT"),
            ("product", "TEXT"),
            ("units", "INTEGER"),
            ("revenue", "INTEGER"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[test]
fn csv_with_odd_headers_and_reals_loads_with_quoted_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.csv");
    std::fs::write(&path, "Unit Price,\"a\"\"b\",select\n1.5,x,1\n2,,\n").unwrap();
    let mut builder = Database::builder(Config::default()).unwrap();
    builder.load_csv("odd table", &path).unwrap();
    let db = builder.finish().unwrap();
    let result = db
        .query(
            "SELECT \"Unit Price\", \"a\"\"b\", \"select\" FROM \"odd table\"",
            &[],
        )
        .unwrap();
    assert_eq!(
        result.rows,
        [
            [json!(1.5), json!("x"), json!(1)],
            [json!(2.0), json!(""), json!(null)]
        ]
    );
}

#[test]
fn bad_load_specs_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let mut builder = Database::builder(Config::default()).unwrap();
    let error = builder.load_csv("t", &missing).unwrap_err().to_string();
    assert!(error.contains("missing.csv"), "{error}");

    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "a,b\n1,2\n3\n").unwrap();
    let error = builder.load_csv("t", &ragged).unwrap_err().to_string();
    assert!(error.contains("ragged.csv"), "{error}");

    let duplicate = dir.path().join("dup.csv");
    std::fs::write(&duplicate, "a,A\n1,2\n").unwrap();
    let error = builder.load_csv("t", &duplicate).unwrap_err().to_string();
    assert!(error.contains("twice"), "{error}");

    let error = builder
        .load_csv("sqlite_master", &sales_csv())
        .unwrap_err()
        .to_string();
    assert!(error.contains("reserved"), "{error}");

    builder.load_csv("t", &sales_csv()).unwrap();
    let error = builder.load_csv("t", &sales_csv()).unwrap_err().to_string();
    assert!(error.contains("already exists"), "{error}");

    let script = dir.path().join("broken.sql");
    std::fs::write(&script, "CREATE TABLE x (;").unwrap();
    let error = builder.run_script(&script).unwrap_err().to_string();
    assert!(
        error.contains("broken.sql") && error.contains("syntax error"),
        "{error}"
    );
}

#[test]
fn a_missing_or_bogus_db_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let error = Database::open(Config {
        path: Some(missing),
        ..Config::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("nope.db") && error.contains("no such file"),
        "{error}"
    );

    let bogus = dir.path().join("bogus.db");
    std::fs::write(
        &bogus,
        "this is not a database, just some text that is long enough to have a header",
    )
    .unwrap();
    let error = Database::open(Config {
        path: Some(bogus),
        ..Config::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("bogus.db") && error.contains("not a database"),
        "{error}"
    );
}

#[test]
fn rows_are_capped_at_max_rows() {
    let db = sales(Config {
        max_rows: 10,
        ..Config::default()
    });
    let result = db.query("SELECT * FROM sales", &[]).unwrap();
    assert_eq!(result.row_count, 10);
    assert_eq!(result.rows.len(), 10);
    assert!(result.truncated);
    let exact = db.query("SELECT * FROM sales LIMIT 10", &[]).unwrap();
    assert_eq!(exact.row_count, 10);
    assert!(!exact.truncated);
    let fewer = db.query("SELECT * FROM sales LIMIT 3", &[]).unwrap();
    assert_eq!(fewer.row_count, 3);
    assert!(!fewer.truncated);

    // The server's own schema queries are not cut by the cap.
    let db = sales(Config {
        max_rows: 1,
        ..Config::default()
    });
    assert_eq!(db.describe_table("sales").unwrap().columns.len(), 7);
}

#[test]
fn parameters_are_bound_not_spliced() {
    let db = sales(Config::default());
    let result = db
        .query(
            "SELECT count(*), sum(revenue) FROM sales WHERE year = ? AND quarter = ?",
            &params(json!([2024, "Q4"])),
        )
        .unwrap();
    assert_eq!(result.rows[0][0], 36);

    // A hostile string is a value, never SQL.
    let result = db
        .query(
            "SELECT count(*) FROM sales WHERE region = ?1",
            &params(json!(["x' OR '1'='1"])),
        )
        .unwrap();
    assert_eq!(result.rows[0][0], 0);

    let result = db
        .query(
            "SELECT ?1, ?2, ?3, ?4, ?5",
            &params(json!([null, true, 1.5, -7, "s"])),
        )
        .unwrap();
    assert_eq!(
        result.rows[0],
        [json!(null), json!(1), json!(1.5), json!(-7), json!("s")]
    );

    let error = db.query("SELECT ?1, ?2", &params(json!([1]))).unwrap_err();
    assert!(
        matches!(
            error,
            DbError::Parameters {
                expected: 2,
                given: 1
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("2 parameters"), "{error}");
    let error = db.query("SELECT 1", &params(json!([1]))).unwrap_err();
    assert!(matches!(error, DbError::Parameters { .. }), "{error}");
    // Arrays and objects are not parameters: they do not deserialize (see tools.rs).
    assert!(serde_json::from_value::<Vec<SqlParam>>(json!([[1, 2]])).is_err());
}

/// Parameters as a tool call's JSON gives them.
fn params(values: serde_json::Value) -> Vec<SqlParam> {
    serde_json::from_value(values).expect("scalar parameters")
}

#[test]
fn values_map_to_json() {
    let db = Database::open(Config::default()).unwrap();
    let result = db
        .query("SELECT 1, 2.5, 'text', NULL, x'00ff', 9e999", &[])
        .unwrap();
    assert_eq!(
        result.rows[0],
        [
            json!(1),
            json!(2.5),
            json!("text"),
            json!(null),
            json!("00ff"),
            json!("inf")
        ]
    );
}

#[test]
fn list_and_describe_tables() {
    let db = {
        let mut builder = Database::builder(Config::default()).unwrap();
        builder.load_csv("sales", &sales_csv()).unwrap();
        builder
            .execute_batch(
                "CREATE TABLE \"odd \"\"name\" (id INTEGER PRIMARY KEY, label TEXT NOT NULL DEFAULT 'x');
                 CREATE VIEW v2024 AS SELECT * FROM sales WHERE year = 2024;",
            )
            .unwrap();
        builder.finish().unwrap()
    };
    let tables = db.list_tables().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["odd \"name", "sales", "v2024"]);
    assert_eq!(tables[2].kind, "view");
    assert_eq!(tables[1].column_count, 7);

    let sales = db.describe_table("sales").unwrap();
    assert_eq!(sales.row_count, 288);
    assert_eq!(sales.columns.len(), 7);
    assert_eq!(sales.columns[6].name, "revenue");
    assert_eq!(sales.columns[6].decl_type, "INTEGER");

    // SQLite compares identifiers case-insensitively; so does the lookup.
    assert_eq!(db.describe_table("SALES").unwrap().name, "sales");
    assert_eq!(db.describe_table("v2024").unwrap().row_count, 144);

    let odd = db.describe_table("odd \"name").unwrap();
    assert_eq!(odd.row_count, 0);
    assert_eq!(odd.columns[0].pk, 1);
    assert!(odd.columns[1].notnull);
    assert_eq!(odd.columns[1].default.as_deref(), Some("'x'"));
}

#[test]
fn describe_table_refuses_hostile_names() {
    let db = sales(Config {
        allow_write: true,
        ..Config::default()
    });
    for hostile in [
        "sales; DROP TABLE sales",
        "sales; DROP TABLE sales; --",
        "\"sales\"",
        "'sales'",
        "[sales]",
        "sales--",
        "sales /* */",
        "sales\" ; DROP TABLE sales; --",
        "main.sales",
        "sqlite_master",
        "",
        " sales",
        "sales\0",
        "x' OR '1'='1",
    ] {
        let error = db.describe_table(hostile).unwrap_err();
        assert!(
            matches!(error, DbError::UnknownTable(_)),
            "{hostile:?}: {error:?}"
        );
        assert!(error.to_string().contains("no such table"), "{error}");
    }
    // Even with writes allowed, nothing was dropped.
    assert_eq!(db.describe_table("sales").unwrap().row_count, 288);
}

#[test]
fn a_runaway_query_is_interrupted_and_the_next_one_succeeds() {
    let db = sales(Config {
        timeout: Duration::from_millis(300),
        ..Config::default()
    });
    let started = Instant::now();
    let error = db
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            &[],
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, DbError::Timeout(_)), "{error:?}");
    assert_eq!(error.to_string(), "query interrupted after 0.3s timeout");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    let result = db.query("SELECT count(*) FROM sales", &[]).unwrap();
    assert_eq!(result.rows[0][0], 288);

    // The time limit is per statement: many quick statements in a row are never cut.
    for _ in 0..20 {
        db.query("SELECT * FROM sales", &[]).unwrap();
    }
}

#[test]
fn the_default_timeout_reads_as_whole_seconds() {
    assert_eq!(
        DbError::Timeout(Duration::from_secs(5)).to_string(),
        "query interrupted after 5s timeout"
    );
}

const RUNAWAY: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

#[test]
fn stop_interrupts_the_statement_of_its_ticket_only() {
    let db = std::sync::Arc::new(sales(Config {
        timeout: Duration::from_secs(30),
        ..Config::default()
    }));
    let ticket = db.ticket();
    let running = {
        let db = std::sync::Arc::clone(&db);
        std::thread::spawn(move || {
            let started = Instant::now();
            let outcome = db.stoppable(ticket, |db| db.query(RUNAWAY, &[]));
            (outcome, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // Another caller's stop leaves it running.
    db.stop(db.ticket());
    std::thread::sleep(Duration::from_millis(100));
    assert!(!running.is_finished());
    db.stop(ticket);
    let (outcome, took) = running.join().unwrap();
    assert!(matches!(outcome, Err(DbError::Stopped)), "{outcome:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Stopped work starts nothing more; other work runs.
    let again = db.stoppable(ticket, |db| db.query("SELECT 1", &[]));
    assert!(matches!(again, Err(DbError::Stopped)), "{again:?}");
    assert_eq!(db.query("SELECT 1", &[]).unwrap().row_count, 1);
}
