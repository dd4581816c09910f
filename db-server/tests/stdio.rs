//! End to end through the real `db-server` binary over stdio, with rmcp's client.

use std::{process::Stdio, time::Duration};

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};
use test_support::{data::sales_csv, env::clean_env};
use tokio::process::Command;
use trace_meta::tool_result_text as text;

type Client = RunningService<RoleClient, ()>;

/// The server command with the sample data, telemetry export switched off and the test's
/// own `OTEL_*` settings kept away from it.
fn command(extra: &[&str]) -> Command {
    let load = format!("sales={}", sales_csv().display());
    Command::new(env!("CARGO_BIN_EXE_db-server")).configure(|cmd| {
        cmd.arg("--load").arg(load).args(extra);
        clean_env(cmd.as_std_mut());
        cmd.env("RUST_LOG", "warn");
    })
}

async fn start(extra: &[&str]) -> Client {
    let transport = TokioChildProcess::new(command(extra)).expect("spawn db-server");
    ().serve(transport).await.expect("initialize db-server")
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

fn json_of(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    serde_json::from_str(&text(result)).expect("the result is JSON")
}

/// The 2024 revenue, computed from the CSV file itself rather than through SQLite.
fn revenue_2024_from_csv() -> (usize, i64) {
    let csv = std::fs::read_to_string(sales_csv()).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let year = header.iter().position(|h| *h == "year").unwrap();
    let revenue = header.iter().position(|h| *h == "revenue").unwrap();
    let mut rows = 0;
    let mut total = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[year] == "2024" {
            rows += 1;
            total += fields[revenue].parse::<i64>().unwrap();
        }
    }
    (rows, total)
}

#[tokio::test]
async fn the_reference_query_returns_the_2024_rows() {
    let client = start(&[]).await;
    let result = call(
        &client,
        "query_database",
        json!({"sql": "SELECT * FROM sales WHERE year = 2024"}),
    )
    .await;
    let body = json_of(&result);
    let columns: Vec<&str> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "year", "month", "quarter", "region", "product", "units", "revenue"
        ]
    );
    let rows = body["rows"].as_array().unwrap();
    let (expected_rows, expected_revenue) = revenue_2024_from_csv();
    assert_eq!(expected_rows, 144);
    assert_eq!(rows.len(), expected_rows);
    assert_eq!(body["row_count"], 144);
    assert_eq!(body["truncated"], false);
    assert!(rows.iter().all(|row| row[0] == 2024));
    let revenue: i64 = rows.iter().map(|row| row[6].as_i64().unwrap()).sum();
    assert_eq!(revenue, expected_revenue);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() {
    let client = start(&[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["describe_table", "list_tables", "query_database"]);
    let query = tools.iter().find(|t| t.name == "query_database").unwrap();
    let annotations = query.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(true));
    let schema = serde_json::to_value(&query.input_schema).unwrap();
    assert!(
        schema["properties"]["sql"]["description"].is_string(),
        "{schema}"
    );
    assert!(
        schema["properties"]["params"]["description"].is_string(),
        "{schema}"
    );

    // execute is not listed, and calling it by name fails.
    let Value::Object(arguments) = json!({"sql": "DELETE FROM sales"}) else {
        unreachable!()
    };
    let outcome = client
        .call_tool(CallToolRequestParams::new("execute").with_arguments(arguments))
        .await;
    assert!(outcome.is_err(), "execute was callable: {outcome:?}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn forbidden_statements_are_error_results_and_the_server_keeps_serving() {
    let client = start(&[]).await;
    for sql in [
        "DELETE FROM sales",
        "SELECT 1; DROP TABLE sales",
        "ATTACH ':memory:' AS x",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('x')",
        "SELECT * FROM no_such_table",
    ] {
        let result = call(&client, "query_database", json!({"sql": sql})).await;
        assert_eq!(result.is_error, Some(true), "{sql}: {}", text(&result));
        assert!(!text(&result).is_empty());
    }
    let missing = call(
        &client,
        "query_database",
        json!({"sql": "SELECT * FROM nope"}),
    )
    .await;
    assert!(
        text(&missing).contains("no such table: nope"),
        "{}",
        text(&missing)
    );

    let count = call(
        &client,
        "query_database",
        json!({"sql": "SELECT count(*) FROM sales"}),
    )
    .await;
    assert_eq!(json_of(&count)["rows"][0][0], 288);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn parameters_list_and_describe() {
    let client = start(&["--max-rows", "5"]).await;
    let result = call(
        &client,
        "query_database",
        json!({"sql": "SELECT count(*) FROM sales WHERE year = ?1 AND region = ?2", "params": [2024, "North"]}),
    )
    .await;
    assert!(json_of(&result)["rows"][0][0].as_i64().unwrap() > 0);

    let capped = call(
        &client,
        "query_database",
        json!({"sql": "SELECT * FROM sales"}),
    )
    .await;
    let capped = json_of(&capped);
    assert_eq!(capped["row_count"], 5);
    assert_eq!(capped["truncated"], true);

    let tables = json_of(&call(&client, "list_tables", json!({})).await);
    assert_eq!(tables[0]["name"], "sales");

    let sales = json_of(&call(&client, "describe_table", json!({"table": "sales"})).await);
    assert_eq!(sales["row_count"], 288);
    assert_eq!(sales["columns"].as_array().unwrap().len(), 7);

    let hostile = call(
        &client,
        "describe_table",
        json!({"table": "sales; DROP TABLE sales"}),
    )
    .await;
    assert_eq!(hostile.is_error, Some(true));
    assert!(text(&hostile).contains("no such table"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn execute_exists_with_allow_write() {
    let client = start(&["--allow-write"]).await;
    let tools = client.list_all_tools().await.unwrap();
    let execute = tools
        .iter()
        .find(|t| t.name == "execute")
        .expect("execute listed");
    assert_eq!(
        execute.annotations.as_ref().unwrap().read_only_hint,
        Some(false)
    );
    let result = call(
        &client,
        "execute",
        json!({"sql": "DELETE FROM sales WHERE year = ?", "params": [2023]}),
    )
    .await;
    assert_eq!(json_of(&result)["rows_changed"], 144);
    // query_database stays read-only.
    let result = call(
        &client,
        "query_database",
        json!({"sql": "DELETE FROM sales"}),
    )
    .await;
    assert_eq!(result.is_error, Some(true));
    let count = call(
        &client,
        "query_database",
        json!({"sql": "SELECT count(*) FROM sales"}),
    )
    .await;
    assert_eq!(json_of(&count)["rows"][0][0], 144);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_runaway_query_times_out_without_stalling_the_server() {
    let client = start(&["--timeout", "0.5"]).await;
    let runaway = call(
        &client,
        "query_database",
        json!({"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}),
    );
    // While the runaway runs on a blocking thread, requests that need no database answer.
    let listing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        client.list_all_tools().await.unwrap();
        started.elapsed()
    };
    let (runaway, listing_took) = tokio::join!(runaway, listing);
    assert_eq!(runaway.is_error, Some(true));
    assert_eq!(text(&runaway), "query interrupted after 0.5s timeout");
    assert!(
        listing_took < Duration::from_millis(300),
        "{listing_took:?}"
    );

    let next = call(
        &client,
        "query_database",
        json!({"sql": "SELECT count(*) FROM sales"}),
    )
    .await;
    assert_eq!(json_of(&next)["rows"][0][0], 288);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_server_exits_0_when_stdin_closes() {
    let mut child = command(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let client = ().serve((stdout, stdin)).await.unwrap();
    let tables = call(&client, "list_tables", json!({})).await;
    assert_eq!(tables.is_error, Some(false));
    // Cancelling the client drops its end of the pipes: the server sees EOF on stdin.
    client.cancel().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("the server exits after stdin closes")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn startup_errors_name_the_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_db-server"))
        .args(["--db", "/nonexistent/shop.db"])
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "stdout carries JSON-RPC only");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/shop.db"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_db-server"))
        .args(["--load", "sales=/nonexistent/sales.csv"])
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--load sales=/nonexistent/sales.csv"),
        "{stderr}"
    );
}
