//! The database CLIENT span on SQLite: one per statement, child of the tool's SERVER span,
//! named and attributed by the database conventions, in process with an in-memory
//! exporter.

use std::sync::Arc;

use db_server::{
    database::{Config, Database},
    tools::DbServer,
};
use opentelemetry::trace::SpanKind;
use rmcp::model::CallToolRequestParams;
use test_support::{
    data::sales_csv,
    in_process::connect,
    telemetry::{InMemoryTelemetry, attr, attr_text},
};

fn call(tool: &str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sqlite_statement_is_a_client_span_under_its_tool_span() {
    let telemetry = InMemoryTelemetry::install("db-server");
    let mut builder = Database::builder(Config::default()).unwrap();
    builder.load_csv("sales", &sales_csv()).unwrap();
    let (client, served) = connect(DbServer::new(Arc::new(builder.finish().unwrap()))).await;

    let sql = "SELECT region, sum(revenue) FROM sales WHERE year = ?1 GROUP BY region";
    let ok = client
        .call_tool(call(
            "query_database",
            serde_json::json!({"sql": sql, "params": [2024]}),
        ))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    let refused = client
        .call_tool(call(
            "query_database",
            serde_json::json!({"sql": "DELETE FROM sales"}),
        ))
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    let described = client
        .call_tool(call(
            "describe_table",
            serde_json::json!({"table": "sales"}),
        ))
        .await
        .unwrap();
    assert_eq!(described.is_error, Some(false));
    client.cancel().await.ok();
    served.await.ok();

    let spans = telemetry.spans();
    let db = spans
        .iter()
        .find(|s| {
            attr_text(s, "db.query.text").as_deref() == Some(sql) && s.span_kind == SpanKind::Client
        })
        .expect("the statement's CLIENT span");
    assert_eq!(db.name, "SELECT sales");
    let tool = spans
        .iter()
        .find(|s| s.span_context.span_id() == db.parent_span_id)
        .expect("its parent");
    assert_eq!(tool.name, "tool-query_database");
    assert_eq!(attr_text(db, "db.system.name").as_deref(), Some("sqlite"));
    assert_eq!(attr_text(db, "db.namespace").as_deref(), Some("main"));
    assert_eq!(
        attr_text(db, "db.operation.name").as_deref(),
        Some("SELECT")
    );
    assert_eq!(
        attr_text(db, "db.collection.name").as_deref(),
        Some("sales")
    );
    assert_eq!(
        attr(db, "db.response.returned_rows"),
        Some(opentelemetry::Value::I64(4))
    );

    let delete = spans
        .iter()
        .find(|s| s.name == "DELETE sales")
        .expect("the refused statement's span");
    assert_eq!(attr_text(delete, "error.type").as_deref(), Some("refused"));

    // describe_table runs several statements: each its own span, all under one tool span.
    let describe = spans
        .iter()
        .find(|s| s.name == "tool-describe_table")
        .unwrap();
    let statements = spans
        .iter()
        .filter(|s| s.parent_span_id == describe.span_context.span_id())
        .count();
    assert!(
        statements >= 3,
        "{statements} statement spans under describe_table"
    );
}
