//! db-server on a real PostgreSQL (test-support's throwaway server): the four tools and
//! PostgreSQL's types, a result cut at the bounds, read-only enforced by the database
//! against a hostile battery (the database unchanged afterwards), cancellation and
//! timeouts stopping the statement in the database, a restart under a running server,
//! and the database CLIENT span with its sqlcommenter comment in the statement log.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use db_server::{
    postgres::{Postgres as PgBackend, Settings, Target},
    tools::DbServer,
};
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
};
use serde_json::{Value, json};
use test_support::{
    in_process::connect,
    postgres::{Postgres, READER_PASSWORD},
    telemetry::{InMemoryTelemetry, attr, attr_text},
};
use trace_meta::{TracedClient, tool_result_text as text};
use tracing::Instrument;

type Client = RunningService<RoleClient, ()>;

fn settings(timeout: Duration) -> Settings {
    Settings {
        allow_write: false,
        max_rows: 1000,
        max_bytes: 1 << 20,
        timeout,
        pool_size: 4,
        sqlcommenter: true,
    }
}

async fn backend(url: &str, settings: Settings) -> PgBackend {
    let target = Target::parse(url, "db-server-test").expect("the URL parses");
    PgBackend::connect(target, settings)
        .await
        .expect("the backend connects")
}

async fn serve(pg: &Postgres, settings: Settings) -> (Client, tokio::task::JoinHandle<()>) {
    let server = DbServer::with_backend(Arc::new(backend(&pg.reader_url(), settings).await));
    connect(server).await
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn ok(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    serde_json::from_str(&text(result)).expect("the result is JSON")
}

fn refused(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error: {}",
        text(result)
    );
    text(result)
}

async fn query(client: &Client, sql: &str) -> CallToolResult {
    call(client, "query_database", json!({ "sql": sql })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_serve_postgresql_types_schemas_and_bounds() {
    let Some(pg) = Postgres::start() else { return };
    pg.admin(
        "CREATE SCHEMA analytics; \
         CREATE TABLE regions (id serial PRIMARY KEY, name text NOT NULL UNIQUE); \
         CREATE TABLE targets (region_id integer NOT NULL REFERENCES regions (id), \
           year integer NOT NULL, amount numeric(14, 2) DEFAULT 0, PRIMARY KEY (region_id, year)); \
         CREATE INDEX targets_year ON targets (year); \
         CREATE TABLE analytics.sales (x integer); \
         CREATE TABLE analytics.hidden_only (y integer); \
         CREATE TABLE kinds (n numeric, t timestamptz, d date, j jsonb, a integer[], \
           b bytea, u uuid, f float8, i interval, flag boolean, nothing text); \
         INSERT INTO kinds VALUES (12345.678, '2024-03-01 12:30:00+02', '2024-02-29', \
           '{\"k\": [1, \"two\", null]}', '{1,2,3}', '\\xdeadbeef', \
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'NaN', '1 day 2 hours', true, NULL); \
         GRANT USAGE ON SCHEMA analytics TO mcp_reader; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public, analytics TO mcp_reader; \
         ALTER ROLE mcp_reader SET search_path = public, analytics",
    );
    let (client, served) = serve(
        &pg,
        Settings {
            max_rows: 50,
            ..settings(Duration::from_secs(5))
        },
    )
    .await;

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["describe_table", "list_tables", "query_database"]);
    let description = tools
        .iter()
        .find(|t| t.name == "query_database")
        .and_then(|t| t.description.clone())
        .unwrap();
    assert!(description.contains("PostgreSQL"), "{description}");
    let schema = serde_json::to_string(&tools[0].input_schema).unwrap();
    assert!(
        tools.iter().any(|t| serde_json::to_string(&t.input_schema)
            .unwrap()
            .contains("$1")),
        "the sql parameter names PostgreSQL's placeholders: {schema}"
    );

    // list_tables: search_path order; a table hidden by an earlier schema is qualified.
    let tables = ok(&call(&client, "list_tables", json!({})).await);
    let listed: Vec<(String, String)> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["schema"].as_str().unwrap().to_owned(),
                t["sql_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        listed.contains(&("public".into(), "sales".into())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("analytics".into(), "analytics.sales".into())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("analytics".into(), "hidden_only".into())),
        "{listed:?}"
    );
    let first_analytics = listed.iter().position(|(s, _)| s == "analytics").unwrap();
    assert!(listed[..first_analytics].iter().all(|(s, _)| s == "public"));

    // describe_table: columns, keys, indexes, rows.
    let targets = ok(&call(&client, "describe_table", json!({"table": "targets"})).await);
    assert_eq!(targets["schema"], "public");
    assert_eq!(targets["row_count"], 0);
    let columns = targets["columns"].as_array().unwrap();
    assert_eq!(columns[0]["name"], "region_id");
    assert_eq!(columns[0]["pk"], 1);
    assert_eq!(columns[1]["pk"], 2);
    assert_eq!(columns[2]["type"], "numeric(14,2)");
    assert_eq!(columns[2]["notnull"], false);
    assert_eq!(columns[2]["default"], "0");
    assert_eq!(
        targets["foreign_keys"],
        json!([{"columns": ["region_id"], "references_table": "regions", "references_columns": ["id"]}])
    );
    let indexes: Vec<&str> = targets["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(indexes, ["targets_pkey", "targets_year"]);
    let sales = ok(&call(&client, "describe_table", json!({"table": "SALES"})).await);
    assert_eq!(
        (sales["schema"].clone(), sales["row_count"].clone()),
        (json!("public"), json!(288))
    );
    let other = ok(&call(
        &client,
        "describe_table",
        json!({"table": "analytics.sales"}),
    )
    .await);
    assert_eq!(other["schema"], "analytics");
    for hostile in ["sales; DROP TABLE sales", "\"sales", "x' OR '1'='1", ""] {
        let error = refused(&call(&client, "describe_table", json!({"table": hostile})).await);
        assert!(error.contains("no such table"), "{hostile:?}: {error}");
    }

    // query_database with bound parameters, typed by the server from their use.
    let body = ok(&call(
        &client,
        "query_database",
        json!({"sql": "SELECT region, sum(revenue) AS revenue FROM sales WHERE year = $1 AND region <> $2 GROUP BY region ORDER BY region", "params": [2024, "East"]}),
    )
    .await);
    assert_eq!(body["columns"], json!(["region", "revenue"]));
    assert_eq!(body["row_count"], 3);
    let total: f64 = ok(&query(&client, "SELECT sum(revenue) FROM sales WHERE year = 2024").await)
        ["rows"][0][0]
        .as_f64()
        .unwrap();
    assert_eq!(total, 8_874_945.0);

    // Types.
    let kinds = ok(&query(&client, "SELECT * FROM kinds").await);
    assert_eq!(
        kinds["rows"][0],
        json!([
            12345.678,
            "2024-03-01T10:30:00Z",
            "2024-02-29",
            {"k": [1, "two", null]},
            [1, 2, 3],
            "deadbeef",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "NaN",
            "P1DT2H",
            true,
            null
        ])
    );
    let exact = ok(&query(
        &client,
        "SELECT 123456789012345678901234567890.5::numeric, ARRAY[[1,2],[3,4]], ROW(1, 'a')",
    )
    .await);
    assert_eq!(
        exact["rows"][0],
        json!(["123456789012345678901234567890.5", [[1, 2], [3, 4]], {"f1": 1, "f2": "a"}])
    );

    // An empty result still names its columns.
    let empty = ok(&query(&client, "SELECT year, region FROM sales WHERE false").await);
    assert_eq!(empty["columns"], json!(["year", "region"]));
    assert_eq!(empty["row_count"], 0);

    // A huge result is cut at --max-rows and stopped in the database, quickly.
    let started = Instant::now();
    let cut = ok(&query(
        &client,
        // In the select list the series streams (in FROM it would be built whole first).
        "SELECT generate_series(1, 50000000) AS g, md5(random()::text)",
    )
    .await);
    assert_eq!(cut["row_count"], 50);
    assert_eq!(cut["truncated"], true);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The cancel request leaves as the answer does; the statement is gone a moment later.
    let deadline = Instant::now() + Duration::from_secs(3);
    while pg.admin(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'mcp_reader' AND state = 'active'",
    ) != "0"
    {
        assert!(
            Instant::now() < deadline,
            "the cut statement still runs in the database"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Errors carry PostgreSQL's message.
    let missing = refused(&query(&client, "SELECT * FROM no_such_table").await);
    assert!(
        missing.contains("relation \"no_such_table\" does not exist"),
        "{missing}"
    );

    client.cancel().await.ok();
    served.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commented_statements_still_group_in_pg_stat_statements() {
    let Some(pg) = Postgres::start() else { return };
    let _telemetry = InMemoryTelemetry::install("db-server");
    let (session, served) = serve(&pg, settings(Duration::from_secs(5))).await;
    let client = TracedClient::new(session.peer().clone());
    let sql = "SELECT count(*) FROM sales WHERE year = $1";
    for year in [2023, 2024, 2024] {
        let root = tracing::info_span!("grouping");
        let result = client
            .call_tool(
                CallToolRequestParams::new("query_database").with_arguments(
                    json!({"sql": sql, "params": [year]})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .instrument(root)
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false));
    }
    session.cancel().await.ok();
    served.await.ok();
    // Three statements, three different comments (one span each), one entry: the comment
    // is not part of the normalised statement. The text kept is the first one seen.
    let entries = pg.admin(&format!(
        "SELECT calls || ' ' || query FROM pg_stat_statements \
         WHERE query LIKE '{sql}%' AND query NOT LIKE '%pg_stat_statements%'"
    ));
    let lines: Vec<&str> = entries.lines().collect();
    assert_eq!(lines.len(), 1, "{entries}");
    assert!(
        lines[0].starts_with("3 SELECT count(*) FROM sales WHERE year = $1 /*traceparent='00-"),
        "{entries}"
    );
}

/// Everything a statement could change, as text: the data, the catalog, the roles, the
/// settings, the locks and prepared statements of every session.
fn snapshot(pg: &Postgres) -> String {
    pg.admin(
        "SELECT concat_ws(' | ', \
           (SELECT md5(string_agg(s::text, ',' ORDER BY s::text)) FROM sales s), \
           (SELECT count(*) FROM pg_class), \
           (SELECT string_agg(rolname || rolsuper::text, ',' ORDER BY rolname) FROM pg_roles), \
           (SELECT md5(string_agg(name || '=' || setting, ',' ORDER BY name)) FROM pg_settings), \
           (SELECT md5(string_agg(coalesce(array_to_string(setconfig, ','), ''), ',')) FROM pg_db_role_setting), \
           (SELECT count(*) FROM pg_largeobject_metadata), \
           (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'))",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_battery_leaves_the_database_unchanged() {
    let Some(pg) = Postgres::start() else { return };
    let before = snapshot(&pg);
    let marker = std::env::temp_dir().join(format!("mcp-trace-pwned-{}", std::process::id()));
    let marker = marker.display().to_string();
    let (client, served) = serve(&pg, settings(Duration::from_secs(1))).await;

    // (statement, what the refusal must say; "" = any error or a bounded result)
    let battery: Vec<(String, &str)> = [
        (
            "INSERT INTO sales VALUES (2030, 1, 'Q1', 'North', 'X', 1, 1)",
            "read-only transaction",
        ),
        ("UPDATE sales SET units = 0", "read-only transaction"),
        ("DELETE FROM sales", "read-only transaction"),
        ("TRUNCATE sales", "read-only transaction"),
        ("DROP TABLE sales", "read-only transaction"),
        ("CREATE TABLE evil (a int)", "read-only transaction"),
        (
            "CREATE TEMP TABLE evil AS SELECT 1",
            "read-only transaction",
        ),
        (
            "ALTER TABLE sales ADD COLUMN evil int",
            "read-only transaction",
        ),
        ("GRANT ALL ON sales TO PUBLIC", "read-only transaction"),
        ("CREATE ROLE evil SUPERUSER", "read-only transaction"),
        (
            "WITH d AS (DELETE FROM sales RETURNING *) SELECT count(*) FROM d",
            "read-only transaction",
        ),
        ("EXPLAIN ANALYZE DELETE FROM sales", "read-only transaction"),
        ("SELECT * FROM sales FOR UPDATE", "read-only transaction"),
        (
            "LOCK TABLE sales IN ACCESS EXCLUSIVE MODE",
            "permission denied",
        ),
        (
            "DO $$BEGIN EXECUTE 'DELETE FROM sales'; END$$",
            "read-only transaction",
        ),
        ("SELECT lo_import('/etc/passwd')", ""),
        ("COMMIT", "COMMIT is refused"),
        ("ROLLBACK", "ROLLBACK is refused"),
        ("BEGIN", "BEGIN is refused"),
        ("END", "END is refused"),
        ("SAVEPOINT s", "SAVEPOINT is refused"),
        ("SET TRANSACTION READ WRITE", "SET TRANSACTION is refused"),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "SET SESSION CHARACTERISTICS is refused",
        ),
        ("RESET ALL", "RESET is refused"),
        ("DISCARD ALL", "DISCARD is refused"),
        ("PREPARE p AS SELECT 1", "PREPARE is refused"),
        ("DEALLOCATE ALL", "DEALLOCATE is refused"),
        ("LOAD 'auto_explain'", "LOAD is refused"),
        ("SET ROLE postgres", "SET ROLE is refused"),
        (
            "SET SESSION AUTHORIZATION postgres",
            "SET SESSION AUTHORIZATION is refused",
        ),
        (
            "SELECT set_config('role', 'postgres', false)",
            "permission denied",
        ),
        (
            "SELECT set_config('transaction_read_only', 'off', false)",
            "",
        ),
        (
            "SELECT 1; DELETE FROM sales",
            "cannot insert multiple commands",
        ),
        (
            "COPY (SELECT 1) TO PROGRAM 'touch MARKER'",
            "COPY is refused",
        ),
        ("COPY sales TO 'MARKER'", "COPY is refused"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied"),
        ("SELECT lo_export(1, 'MARKER')", ""),
        ("SELECT * FROM pg_authid", "permission denied"),
        ("ALTER SYSTEM SET log_statement = 'none'", ""),
        ("CREATE EXTENSION dblink", "read-only transaction"),
        ("VACUUM sales", "transaction block"),
        ("CHECKPOINT", ""),
        ("SELECT pg_reload_conf()", "permission denied"),
        (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres'",
            "",
        ),
        ("SELECT pg_sleep(30)", "statement timeout"),
        (
            "SELECT count(*) FROM generate_series(1, 1000000000000)",
            "statement timeout",
        ),
        ("SELECT repeat('x', 10000000)", "over the server's limit"),
    ]
    .into_iter()
    .map(|(sql, expect)| (sql.replace("MARKER", &marker), expect))
    .collect();
    for (sql, expect) in &battery {
        let started = Instant::now();
        let result = query(&client, sql).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{sql}: took {took:?}");
        if expect.is_empty() {
            if result.is_error != Some(true) {
                // A bounded result: a value the database computed, nothing more.
                assert!(
                    text(&result).len() < (2 << 20),
                    "{sql}: an unbounded result"
                );
            }
        } else {
            let message = refused(&result);
            assert!(message.contains(expect), "{sql}: {message}");
        }
    }
    // These run, and their effects end with the call's transaction.
    let settings = ok(&query(
        &client,
        "SELECT set_config('statement_timeout', '0', false)",
    )
    .await);
    assert_eq!(settings["rows"][0][0], "0");
    let locked = ok(&query(&client, "SELECT pg_advisory_lock(42)").await);
    assert_eq!(locked["row_count"], 1);
    let slept = refused(&query(&client, "SELECT pg_sleep(30)").await);
    assert!(
        slept.contains("statement timeout"),
        "the timeout survived set_config: {slept}"
    );

    client.cancel().await.ok();
    served.await.ok();
    assert!(
        !std::path::Path::new(&marker).exists(),
        "a file was written"
    );
    let after = snapshot(&pg);
    assert_eq!(before, after, "the battery changed the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_stops_its_statement_in_the_database() {
    let Some(pg) = Postgres::start() else { return };
    let (session, served) = serve(&pg, settings(Duration::from_secs(30))).await;
    let client = TracedClient::new(session.peer().clone()).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let abandoned = client
        .call_tool(
            CallToolRequestParams::new("query_database").with_arguments(
                json!({"sql": "SELECT pg_sleep(25)"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    assert!(abandoned.is_err(), "{abandoned:?}");
    // The statement is gone from the database within a moment, not after 25 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running = pg.admin(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(25)%' AND state = 'active' AND pid <> pg_backend_pid()",
        );
        if running == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the statement still runs in PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    // The server keeps serving.
    let next = query(&session, "SELECT count(*) FROM sales").await;
    assert_eq!(ok(&next)["rows"][0][0], 288);
    session.cancel().await.ok();
    served.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_outlives_a_database_restart() {
    let Some(mut pg) = Postgres::start() else {
        return;
    };
    let (client, served) = serve(&pg, settings(Duration::from_secs(2))).await;
    assert_eq!(
        ok(&query(&client, "SELECT count(*) FROM sales").await)["rows"][0][0],
        288
    );

    // Down: a clear error, in bounded time, naming the database but not the password.
    pg.stop();
    let started = Instant::now();
    let down = refused(&query(&client, "SELECT count(*) FROM sales").await);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(down.contains("127.0.0.1"), "{down}");
    assert!(!down.contains(READER_PASSWORD), "{down}");

    // Up again: the pool reconnects and the server answers.
    pg.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = query(&client, "SELECT count(*) FROM sales").await;
        if result.is_error == Some(false) {
            assert_eq!(ok(&result)["rows"][0][0], 288);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {}",
            text(&result)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Connections killed under the server: the next read retries on a new connection.
    pg.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'mcp_reader'");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ok(&query(&client, "SELECT count(*) FROM sales").await)["rows"][0][0],
        288
    );
    client.cancel().await.ok();
    served.await.ok();
}

fn span<'a>(spans: &'a [SpanData], pick: impl Fn(&SpanData) -> bool, what: &str) -> &'a SpanData {
    spans.iter().find(|s| pick(s)).unwrap_or_else(|| {
        panic!(
            "no {what} among {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_statement_is_a_client_span_whose_context_reaches_the_statement_log() {
    let Some(pg) = Postgres::start() else { return };
    let telemetry = InMemoryTelemetry::install("db-server");
    let (session, served) = serve(&pg, settings(Duration::from_secs(5))).await;
    let client = TracedClient::new(session.peer().clone());
    let sql = "SELECT region, sum(revenue) FROM sales WHERE year = $1 GROUP BY region";
    let root = tracing::info_span!("pg-span-test");
    async {
        let result = client
            .call_tool(
                CallToolRequestParams::new("query_database").with_arguments(
                    json!({"sql": sql, "params": [2024]})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false));
        let failed = client
            .call_tool(
                CallToolRequestParams::new("query_database").with_arguments(
                    json!({"sql": "SELECT * FROM missing_table"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(failed.is_error, Some(true));
    }
    .instrument(root)
    .await;
    session.cancel().await.ok();
    served.await.ok();

    let spans = telemetry.spans();
    let tool = span(
        &spans,
        |s| {
            s.name == "tool-query_database" && attr_text(s, "db.query.text").as_deref() == Some(sql)
        },
        "tool span",
    );
    let db = span(
        &spans,
        |s| s.name == "SELECT sales" && s.parent_span_id == tool.span_context.span_id(),
        "database span under the tool span",
    );
    assert_eq!(db.span_kind, SpanKind::Client);
    assert_eq!(
        attr_text(db, "db.system.name").as_deref(),
        Some("postgresql")
    );
    assert_eq!(attr_text(db, "db.namespace").as_deref(), Some("sales"));
    assert_eq!(
        attr_text(db, "db.operation.name").as_deref(),
        Some("SELECT")
    );
    assert_eq!(
        attr_text(db, "db.collection.name").as_deref(),
        Some("sales")
    );
    assert_eq!(
        attr_text(db, "db.query.summary").as_deref(),
        Some("SELECT sales")
    );
    assert_eq!(
        attr_text(db, "db.query.text").as_deref(),
        Some(sql),
        "parameters are never inlined"
    );
    assert_eq!(
        attr(db, "db.response.returned_rows"),
        Some(opentelemetry::Value::I64(4))
    );
    assert_eq!(
        attr_text(db, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(db, "server.port"),
        Some(opentelemetry::Value::I64(i64::from(pg.port())))
    );
    assert!(attr(db, "db.client.connection.wait_time").is_some());

    let failed = span(
        &spans,
        |s| s.name == "SELECT missing_table",
        "the failed statement's span",
    );
    assert_eq!(
        attr_text(failed, "db.response.status_code").as_deref(),
        Some("42P01")
    );
    assert_eq!(attr_text(failed, "error.type").as_deref(), Some("42P01"));

    // The statement as PostgreSQL logged it carries the database span's traceparent.
    let traceparent = format!(
        "00-{}-{}-01",
        db.span_context.trace_id(),
        db.span_context.span_id()
    );
    let log = pg.log();
    let line = log
        .lines()
        .find(|l| l.contains(&traceparent))
        .unwrap_or_else(|| {
            panic!("no statement with traceparent {traceparent} in the log:\n{log}")
        });
    assert!(line.contains("/*traceparent='"), "{line}");
    assert!(
        line.contains("db-server-test"),
        "application_name is the service name: {line}"
    );
    assert!(
        !log.contains(READER_PASSWORD),
        "the password reached the statement log"
    );
    for span in &spans {
        for kv in &span.attributes {
            assert!(
                !kv.value.as_str().contains(READER_PASSWORD),
                "the password reached a span"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_postgresql_from_database_url_and_warns_about_a_superuser() {
    let Some(pg) = Postgres::start() else { return };
    use rmcp::{
        ServiceExt,
        transport::{ConfigureCommandExt, TokioChildProcess},
    };
    use std::process::Stdio;
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_db-server")).configure(|cmd| {
        test_support::env::clean_env(cmd.as_std_mut());
        cmd.env("DATABASE_URL", pg.admin_url())
            .env("RUST_LOG", "warn");
    });
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::from(stderr.reopen().unwrap()))
        .spawn()
        .expect("spawn db-server");
    let client = ().serve(transport).await.expect("initialize db-server");
    let body = ok(&query(&client, "SELECT count(*) FROM sales").await);
    assert_eq!(body["rows"][0][0], 288);
    client.cancel().await.ok();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = std::fs::read_to_string(stderr.path()).unwrap();
    assert!(logged.contains("is a superuser"), "{logged}");
    assert!(
        !logged.contains("admin-pw"),
        "the password reached stderr: {logged}"
    );

    // A database that cannot be reached: exit 1 and a message that names it, no password.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_db-server"))
        .env(
            "DATABASE_URL",
            "postgres://someone:hunter2@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2",
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("postgres://someone@127.0.0.1:1/nowhere"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(out.stdout.is_empty(), "stdout carries JSON-RPC only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_checks_what_libpq_checks() {
    let Some(pg) = Postgres::start_tls() else {
        return;
    };
    let ca = pg.ca_path().display().to_string();
    let url = |host: &str, query: &str| {
        format!(
            "postgres://mcp_reader:{READER_PASSWORD}@{host}:{}/sales?{query}",
            pg.port()
        )
    };
    let connects = |url: String| async move {
        let target = Target::parse(&url, "db-server-test").map_err(|e| e.to_string())?;
        PgBackend::connect(target, settings(Duration::from_secs(5)))
            .await
            .map_err(|e| e.to_string())
    };
    let encrypted = |backend: PgBackend| async move {
        let server = DbServer::with_backend(Arc::new(backend));
        let (client, served) = connect(server).await;
        let ssl = ok(&query(
            &client,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .await);
        client.cancel().await.ok();
        served.await.ok();
        ssl["rows"][0][0].clone()
    };

    let full = connects(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    assert_eq!(
        encrypted(full.expect("verify-full with the right CA and name")).await,
        true
    );
    let chain = connects(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await;
    assert_eq!(
        encrypted(chain.expect("verify-ca ignores the name")).await,
        true
    );
    let require = connects(url("127.0.0.1", "sslmode=require")).await;
    assert_eq!(
        encrypted(require.expect("require checks nothing")).await,
        true
    );
    let plain = connects(url("127.0.0.1", "sslmode=disable")).await;
    assert_eq!(encrypted(plain.expect("disable")).await, false);

    let wrong_name = connects(url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect_err("the certificate is for localhost, not 127.0.0.1");
    assert!(wrong_name.contains("certificate"), "{wrong_name}");
    let server_pem = pg
        .ca_path()
        .with_file_name("server.pem")
        .display()
        .to_string();
    let wrong_ca = connects(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={server_pem}"),
    ))
    .await
    .expect_err("a root that did not sign the certificate");
    assert!(wrong_ca.contains("certificate"), "{wrong_ca}");
    assert!(!wrong_ca.contains(READER_PASSWORD));
    let no_root = connects(url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent.pem",
    ))
    .await
    .expect_err("a missing root file");
    assert!(no_root.contains("/nonexistent.pem"), "{no_root}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_allow_write_execute_commits_and_query_database_stays_read_only() {
    let Some(pg) = Postgres::start() else { return };
    pg.admin(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL); \
         GRANT SELECT, INSERT, UPDATE ON notes TO mcp_reader; \
         GRANT USAGE ON SEQUENCE notes_id_seq TO mcp_reader",
    );
    let (client, served) = serve(
        &pg,
        Settings {
            allow_write: true,
            ..settings(Duration::from_secs(5))
        },
    )
    .await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "execute"));

    let inserted = ok(&call(
        &client,
        "execute",
        json!({"sql": "INSERT INTO notes (body) VALUES ($1), ($2)", "params": ["one", "two"]}),
    )
    .await);
    assert_eq!(inserted["rows_changed"], 2);
    assert_eq!(pg.admin("SELECT count(*) FROM notes"), "2", "committed");

    let read_only = refused(&query(&client, "INSERT INTO notes (body) VALUES ('x')").await);
    assert!(read_only.contains("read-only transaction"), "{read_only}");
    let failed = refused(
        &call(
            &client,
            "execute",
            json!({"sql": "INSERT INTO notes (id, body) VALUES (1, 'dup')"}),
        )
        .await,
    );
    assert!(failed.contains("duplicate key"), "{failed}");
    // A committed write that changes the session does not reach the next call: its
    // connection is closed, not pooled.
    ok(&call(
        &client,
        "execute",
        json!({"sql": "SELECT set_config('search_path', 'nowhere', false)"}),
    )
    .await);
    assert_eq!(
        ok(&query(&client, "SELECT current_setting('search_path')").await)["rows"][0][0],
        "\"$user\", public"
    );
    let control = refused(&call(&client, "execute", json!({"sql": "COMMIT"})).await);
    assert!(control.contains("COMMIT is refused"), "{control}");
    assert_eq!(pg.admin("SELECT count(*) FROM notes"), "2");
    client.cancel().await.ok();
    served.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_plans_survive_a_schema_change() {
    let Some(pg) = Postgres::start() else { return };
    pg.admin("CREATE TABLE shapes (a integer); INSERT INTO shapes VALUES (1); GRANT SELECT ON shapes TO mcp_reader");
    // Without the comment the statement's plan is kept per connection.
    let (client, served) = serve(
        &pg,
        Settings {
            sqlcommenter: false,
            pool_size: 1,
            ..settings(Duration::from_secs(5))
        },
    )
    .await;
    let before = ok(&query(&client, "SELECT * FROM shapes").await);
    assert_eq!(before["columns"], json!(["a"]));
    let again = ok(&call(
        &client,
        "query_database",
        json!({"sql": "SELECT * FROM shapes WHERE a = $1", "params": [1]}),
    )
    .await);
    assert_eq!(again["row_count"], 1);
    let empty = ok(&query(&client, "SELECT * FROM shapes WHERE false").await);
    assert_eq!(
        empty["columns"],
        json!(["a"]),
        "columns of an empty result from the kept plan"
    );
    pg.admin("ALTER TABLE shapes ADD COLUMN b text DEFAULT 'x'");
    let after = ok(&query(&client, "SELECT * FROM shapes").await);
    assert_eq!(after["columns"], json!(["a", "b"]));
    assert_eq!(after["rows"], json!([[1, "x"]]));
    let mismatch = refused(
        &call(
            &client,
            "query_database",
            json!({"sql": "SELECT * FROM shapes WHERE a = $1 AND b = $2", "params": [1]}),
        )
        .await,
    );
    assert!(mismatch.contains("parameters"), "{mismatch}");
    assert_eq!(
        ok(&query(&client, "SELECT count(*) FROM shapes").await)["rows"][0][0],
        1
    );
    client.cancel().await.ok();
    served.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_the_driver_must_look_up_never_stall_a_call() {
    let Some(pg) = Postgres::start() else { return };
    // Spans exist, so statements carry the trace comment (the path that is not kept).
    let _telemetry = InMemoryTelemetry::install("db-server");
    pg.admin(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); \
         CREATE DOMAIN positive AS integer CHECK (VALUE > 0); \
         CREATE TYPE pair AS (label text, weight positive); \
         CREATE TABLE moods (m mood, p positive, pr pair); \
         INSERT INTO moods SELECT (ARRAY['sad','ok','happy'])[1 + g % 3]::mood, g, ROW('x' || g, g)::pair \
           FROM generate_series(1, 20000) AS g; \
         GRANT SELECT ON moods TO mcp_reader",
    );
    let (session, served) = serve(&pg, settings(Duration::from_secs(5))).await;
    let client = TracedClient::new(session.peer().clone());
    for sql in [
        "SELECT m, p, pr FROM moods",
        "SELECT m, count(*) FROM moods GROUP BY m ORDER BY m",
        "SELECT m, p, pr FROM moods ORDER BY p LIMIT 2",
    ] {
        for _ in 0..2 {
            let started = Instant::now();
            let result = client
                .call_tool(
                    CallToolRequestParams::new("query_database")
                        .with_arguments(json!({ "sql": sql }).as_object().unwrap().clone()),
                )
                .instrument(tracing::info_span!("custom-types"))
                .await
                .unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{sql}: {:?}",
                started.elapsed()
            );
            let body = ok(&result);
            if sql.ends_with("LIMIT 2") {
                assert_eq!(
                    body["rows"],
                    json!([["ok", 1, {"label": "x1", "weight": 1}], ["happy", 2, {"label": "x2", "weight": 2}]])
                );
            }
            if sql.contains("GROUP BY") {
                assert_eq!(
                    body["rows"],
                    json!([["sad", 6666], ["ok", 6667], ["happy", 6667]])
                );
            }
        }
    }
    session.cancel().await.ok();
    served.await.ok();
}
