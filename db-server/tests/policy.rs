//! The statement policy through the real database: what read-only refuses, and what
//! `--allow-write` then allows.

use db_server::database::{Config, Database, DbError};
use test_support::data::sales_csv;

/// The sample database, with a second table and a view to drop and alter.
fn database(allow_write: bool) -> Database {
    let mut builder = Database::builder(Config {
        allow_write,
        ..Config::default()
    })
    .unwrap();
    builder.load_csv("sales", &sales_csv()).unwrap();
    builder
        .execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('a'), ('b');
             CREATE INDEX notes_body ON notes (body);
             CREATE VIEW sales_2024 AS SELECT * FROM sales WHERE year = 2024;",
        )
        .unwrap();
    builder.finish().unwrap()
}

/// Statements read-only mode refuses, and whether `execute` with `--allow-write` runs them.
const FORBIDDEN: &[(&str, bool)] = &[
    ("INSERT INTO notes (body) VALUES ('c')", true),
    ("UPDATE sales SET revenue = 0", true),
    ("DELETE FROM sales", true),
    ("REPLACE INTO notes (id, body) VALUES (1, 'z')", true),
    (
        "INSERT OR REPLACE INTO notes (id, body) VALUES (2, 'y')",
        true,
    ),
    ("DROP TABLE notes", true),
    ("DROP VIEW sales_2024", true),
    ("CREATE TABLE t (x)", true),
    ("CREATE TEMP TABLE t (x)", true),
    ("CREATE INDEX sales_year ON sales (year)", true),
    ("CREATE VIEW v AS SELECT 1", true),
    (
        "CREATE TRIGGER tr AFTER INSERT ON notes BEGIN DELETE FROM sales; END",
        true,
    ),
    ("ALTER TABLE notes ADD COLUMN extra TEXT", true),
    ("ALTER TABLE notes RENAME TO notes2", true),
    (
        "WITH x AS (SELECT 1) INSERT INTO notes (body) SELECT 'cte' FROM x",
        true,
    ),
    ("BEGIN", true),
    ("VACUUM", true),
    ("REINDEX", true),
    ("REINDEX notes_body", true),
    ("ANALYZE", true),
    ("PRAGMA user_version = 7", true),
    ("PRAGMA journal_mode = DELETE", true),
    ("PRAGMA query_only = OFF", true),
    // Refused in every mode: they reach beyond the one database served.
    ("ATTACH DATABASE ':memory:' AS other", false),
    ("ATTACH '/tmp/db-server-test-attach.db' AS other", false),
    ("ATTACH '' AS other", false),
    ("DETACH DATABASE temp", false),
    ("VACUUM INTO '/tmp/db-server-test-copy.db'", false),
    ("PRAGMA writable_schema = 1", false),
    ("PRAGMA writable_schema", false),
    ("SELECT load_extension('x')", false),
    ("SELECT 1; DROP TABLE sales", false),
    ("SELECT 1 /* */; DELETE FROM sales", false),
    ("SELECT 1; SELECT 2", false),
    ("DELETE FROM sales; SELECT 1", false),
];

#[test]
fn read_only_refuses_every_forbidden_statement() {
    let db = database(false);
    for (sql, _) in FORBIDDEN {
        for result in [
            db.query(sql, &[]).map(|_| ()),
            db.execute(sql, &[]).map(|_| ()),
        ] {
            let error = result.expect_err(sql);
            assert!(
                matches!(error, DbError::Refused(_) | DbError::Sqlite(_)),
                "{sql}: {error:?}"
            );
        }
    }
    // Nothing changed.
    let count = db.query("SELECT count(*) FROM sales", &[]).unwrap();
    assert_eq!(count.rows[0][0], 288);
    let notes = db.query("SELECT count(*) FROM notes", &[]).unwrap();
    assert_eq!(notes.rows[0][0], 2);
    let version = db.query("PRAGMA user_version", &[]).unwrap();
    assert_eq!(version.rows[0][0], 0);
    assert!(!std::path::Path::new("/tmp/db-server-test-copy.db").exists());
}

#[test]
fn refusals_explain_themselves() {
    let db = database(false);
    let message = |sql: &str| db.query(sql, &[]).unwrap_err().to_string();
    assert!(
        message("DELETE FROM sales").contains("read-only"),
        "{}",
        message("DELETE FROM sales")
    );
    assert!(message("ATTACH ':memory:' AS x").contains("ATTACH"));
    assert!(message("SELECT load_extension('x')").contains("load_extension"));
    assert!(message("PRAGMA writable_schema = 1").contains("writable_schema"));
    assert!(message("VACUUM INTO '/tmp/x.db'").contains("VACUUM INTO"));
    for sql in [
        "SELECT 1; DROP TABLE sales",
        "SELECT 1 /* */; DELETE FROM sales",
        "SELECT 1; SELECT 2",
    ] {
        assert!(
            message(sql).contains("several statements"),
            "{sql}: {}",
            message(sql)
        );
    }
}

#[test]
fn read_only_allows_reads_and_read_only_pragmas() {
    let db = database(false);
    for sql in [
        "SELECT * FROM sales WHERE year = 2024",
        "WITH r AS (SELECT region, sum(revenue) AS total FROM sales GROUP BY region) SELECT * FROM r ORDER BY total DESC",
        "SELECT * FROM sales_2024",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT x FROM c",
        "EXPLAIN QUERY PLAN SELECT * FROM sales",
        "PRAGMA table_info(sales)",
        "PRAGMA table_info('sales')",
        "SELECT * FROM pragma_table_info('sales')",
        "PRAGMA index_list(sales)",
        "PRAGMA user_version",
        "PRAGMA schema_version",
        "PRAGMA page_count",
        "PRAGMA query_only",
        "SELECT 1;",
        "SELECT 1; -- a trailing comment",
        "  SELECT 1 /* comment */ ;  ",
        "SELECT upper('x'), abs(-1), json_object('a', 1)",
    ] {
        db.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let query_only = db.query("PRAGMA query_only", &[]).unwrap();
    assert_eq!(query_only.rows[0][0], 1);
}

#[test]
fn allow_write_runs_what_is_meaningful_and_still_refuses_the_rest() {
    for (sql, allowed) in FORBIDDEN {
        // A fresh database for each, so that one statement's effect does not decide the
        // next one's fate.
        let db = database(true);
        let result = db.execute(sql, &[]);
        if *allowed {
            result.unwrap_or_else(|e| panic!("{sql}: {e}"));
        } else {
            assert!(result.is_err(), "{sql} was allowed");
        }
        // query_database stays read-only even when writes are allowed.
        if *allowed && !sql.starts_with("BEGIN") && !sql.starts_with("PRAGMA") {
            let db = database(true);
            assert!(db.query(sql, &[]).is_err(), "query_database ran {sql}");
        }
    }
    assert!(!std::path::Path::new("/tmp/db-server-test-copy.db").exists());
    assert!(!std::path::Path::new("/tmp/db-server-test-attach.db").exists());
}

#[test]
fn execute_reports_rows_changed() {
    let db = database(true);
    let changed = db
        .execute(
            "UPDATE sales SET revenue = revenue + 1 WHERE year = ?1",
            &[db_server::value::SqlParam::Number(2024.into())],
        )
        .unwrap();
    assert_eq!(changed.rows_changed, 144);
    let changed = db.execute("CREATE TABLE t (x)", &[]).unwrap();
    assert_eq!(changed.rows_changed, 0);
    let changed = db
        .execute("INSERT INTO t VALUES (1), (2), (3)", &[])
        .unwrap();
    assert_eq!(changed.rows_changed, 3);
}

#[test]
fn a_read_only_file_cannot_be_written_even_by_init_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    create_items_db(&path);
    let script = dir.path().join("init.sql");
    std::fs::write(&script, "INSERT INTO items VALUES (99);").unwrap();
    let mut builder = Database::builder(Config {
        path: Some(path.clone()),
        ..Config::default()
    })
    .unwrap();
    // The file is opened read-only, so even the start-up script cannot write to it.
    let error = builder.run_script(&script).unwrap_err().to_string();
    assert!(error.contains("init.sql"), "{error}");
    assert!(error.contains("readonly"), "{error}");
    let db = builder.finish().unwrap();
    let rows = db.query("SELECT count(*) FROM items", &[]).unwrap();
    assert_eq!(rows.rows[0][0], 2);
    assert!(db.execute("DELETE FROM items", &[]).is_err());

    // With --allow-write the same file is writable.
    let db = Database::open(Config {
        path: Some(path),
        allow_write: true,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(
        db.execute("DELETE FROM items", &[]).unwrap().rows_changed,
        2
    );
}

/// Creates an SQLite file with a table `items` of two rows.
fn create_items_db(path: &std::path::Path) {
    // db-server opens only existing files, and an empty file is a valid empty SQLite
    // database, which the server fills in write mode.
    std::fs::write(path, b"").unwrap();
    let db = Database::open(Config {
        path: Some(path.to_owned()),
        allow_write: true,
        ..Config::default()
    })
    .unwrap();
    db.execute("CREATE TABLE items (x INTEGER)", &[]).unwrap();
    db.execute("INSERT INTO items VALUES (1), (2)", &[])
        .unwrap();
}
