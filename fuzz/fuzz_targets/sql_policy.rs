//! Fuzzes db-server's read-only statement policy.
//!
//! The input (lossy UTF-8) is one SQL text. It is run two ways:
//!
//! 1. **Full stack**: through `Database::query` and `Database::execute` of a read-only
//!    in-memory `db_server::database::Database` (built once) holding a small `sales` table,
//!    an index, a view and a trigger. All four layers are in force (`query_only`,
//!    authorizer, `check_prepared`, `check_text`).
//! 2. **Policy alone**: on a fresh *writable* in-memory rusqlite connection with the same
//!    fixture, **without** `PRAGMA query_only`, with `Policy::READ_ONLY.authorize` as the
//!    authorizer, `Policy::check_text` before and `Policy::check_prepared` after preparing.
//!    A statement that passes the policy is then stepped to completion. This checks that the
//!    policy on its own (layers 3 and 4) keeps the database read-only, as its docs promise
//!    ("no single mistake lets a write through").
//!
//! Invariants: nothing panics; after any statement, accepted or not, the fingerprint of the
//! database (row count and contents of `sales`, `sqlite_schema`, `sqlite_temp_schema`,
//! `user_version`, `application_id`, and `query_only` still on for the full stack) is the
//! same as before; a statement the policy accepts never changes the database.
#![no_main]

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use db_server::{
    database::{Config, Database},
    policy::{Policy, is_vacuum},
};
use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;

const FIXTURE_SQL: &str = "
    CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT NOT NULL, amount REAL, note BLOB);
    INSERT INTO sales VALUES (1, 'north', 10.5, x'00ff'), (2, 'south', 20.0, NULL),
        (3, 'east', -3.25, 'x'), (4, 'west', 1e10, x''), (5, 'north', NULL, 'y');
    CREATE INDEX sales_region ON sales(region);
    CREATE VIEW north AS SELECT * FROM sales WHERE region = 'north';
    CREATE TABLE audit (n INTEGER);
    CREATE TRIGGER sales_audit AFTER INSERT ON sales BEGIN INSERT INTO audit VALUES (new.id); END;
    PRAGMA user_version = 7;
";

/// Everything a write could change, as one string.
const FINGERPRINT_SQL: &str = "SELECT
    (SELECT count(*) FROM sales) || '|' ||
    (SELECT group_concat(id || ',' || region || ',' || quote(amount) || ',' || quote(note), ';') FROM sales) || '|' ||
    (SELECT count(*) FROM audit) || '|' ||
    (SELECT group_concat(type || ':' || name || ':' || tbl_name || ':' || coalesce(sql, ''), ';') FROM sqlite_schema) || '|' ||
    coalesce((SELECT group_concat(type || ':' || name, ';') FROM sqlite_temp_schema), '') || '|' ||
    (SELECT user_version FROM pragma_user_version) || '|' ||
    (SELECT application_id FROM pragma_application_id)";

struct Fixture {
    db: Database,
    fingerprint: String,
}

fn fingerprint_db(db: &Database) -> String {
    let result = db.query(FINGERPRINT_SQL, &[]).expect("fingerprint query");
    let value = result.rows[0][0].as_str().expect("fingerprint is text").to_owned();
    let query_only = db.query("PRAGMA query_only", &[]).expect("PRAGMA query_only");
    format!("{value}|query_only={}", query_only.rows[0][0])
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut builder = Database::builder(Config {
            path: None,
            allow_write: false,
            max_rows: 50,
            timeout: Duration::from_millis(200),
        })
        .expect("builder");
        builder.execute_batch(FIXTURE_SQL).expect("fixture");
        let db = builder.finish().expect("finish");
        let fingerprint = fingerprint_db(&db);
        assert!(fingerprint.starts_with("5|"), "{fingerprint}");
        assert!(fingerprint.ends_with("query_only=1"), "{fingerprint}");
        Fixture { db, fingerprint }
    })
}

fn fingerprint_conn(conn: &Connection) -> String {
    conn.query_row(FINGERPRINT_SQL, [], |row| row.get::<_, String>(0))
        .expect("fingerprint query")
}

fn raw_fixture_fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(FIXTURE_SQL).unwrap();
        fingerprint_conn(&conn)
    })
}

/// Layer 3 + 4 alone: the policy on a writable connection without `query_only`.
fn policy_alone(sql: &str) {
    let policy = Policy::READ_ONLY;
    if policy.check_text(sql).is_err() {
        return;
    }
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(FIXTURE_SQL).unwrap();
    let in_vacuum = is_vacuum(sql);
    conn.authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| {
        policy.authorize(&ctx, in_vacuum).0
    }))
    .unwrap();
    let start = Instant::now();
    conn.progress_handler(1000, Some(move || start.elapsed() > Duration::from_millis(200)))
        .unwrap();
    let accepted = {
        let Ok(mut stmt) = conn.prepare(sql) else {
            return;
        };
        if policy.check_prepared(&stmt, false).is_err() {
            return;
        }
        let mut rows = stmt.raw_query();
        let mut n = 0;
        while let Ok(Some(_)) = rows.next() {
            n += 1;
            if n > 50 {
                break;
            }
        }
        true
    };
    conn.authorizer(None::<fn(rusqlite::hooks::AuthContext<'_>) -> rusqlite::hooks::Authorization>)
        .unwrap();
    conn.progress_handler(0, None::<fn() -> bool>).unwrap();
    let after = fingerprint_conn(&conn);
    assert!(
        !accepted || after == raw_fixture_fingerprint(),
        "policy alone (authorizer + check_prepared, no query_only) accepted {sql:?} and it \
         changed the database:\n before: {}\n after:  {after}",
        raw_fixture_fingerprint()
    );
}

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    let fx = fixture();

    let queried = fx.db.query(&sql, &[]);
    let after = fingerprint_db(&fx.db);
    assert_eq!(
        after, fx.fingerprint,
        "read-only database changed after query({sql:?}) -> {queried:?}"
    );

    let executed = fx.db.execute(&sql, &[]);
    let after = fingerprint_db(&fx.db);
    assert_eq!(
        after, fx.fingerprint,
        "read-only database changed after execute({sql:?}) -> {executed:?}"
    );

    policy_alone(&sql);
});
