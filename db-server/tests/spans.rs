//! The SERVER span of a tool call carries the database attributes, in process, with an
//! in-memory span exporter.

use std::sync::Arc;

use db_server::{
    database::{Config, Database},
    tools::DbServer,
};
use opentelemetry_sdk::trace::SpanData;
use rmcp::model::CallToolRequestParams;
use test_support::in_process::connect;
use test_support::{
    data::sales_csv,
    telemetry::{InMemoryTelemetry, attr},
};

fn server() -> DbServer {
    let mut builder = Database::builder(Config::default()).unwrap();
    builder.load_csv("sales", &sales_csv()).unwrap();
    DbServer::new(Arc::new(builder.finish().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_spans_record_the_query_and_the_row_count() {
    let telemetry = InMemoryTelemetry::install("db-server");

    let (client, served) = connect(server()).await;
    let sql = "SELECT * FROM sales WHERE year = 2024";
    let arguments = serde_json::json!({ "sql": sql })
        .as_object()
        .unwrap()
        .clone();
    let ok = client
        .call_tool(CallToolRequestParams::new("query_database").with_arguments(arguments))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    let long = format!("SELECT {} FROM no_such_table", "1, ".repeat(600) + "1");
    let arguments = serde_json::json!({ "sql": long })
        .as_object()
        .unwrap()
        .clone();
    let failed = client
        .call_tool(CallToolRequestParams::new("query_database").with_arguments(arguments))
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    client.cancel().await.ok();
    served.await.ok();

    let spans = telemetry.spans();
    let tool_spans: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "tool-query_database")
        .collect();
    assert_eq!(
        tool_spans.len(),
        2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let ok_span = tool_spans
        .iter()
        .find(|s| attr(s, "db.query.text").is_some_and(|v| v.as_str() == sql))
        .expect("the successful call's span");
    assert_eq!(attr(ok_span, "db.system.name").unwrap().as_str(), "sqlite");
    assert_eq!(
        attr(ok_span, "db.response.returned_rows"),
        Some(opentelemetry::Value::I64(144))
    );

    let failed_span = tool_spans
        .iter()
        .find(|s| !std::ptr::eq(**s, *ok_span))
        .unwrap();
    let text = attr(failed_span, "db.query.text")
        .unwrap()
        .as_str()
        .into_owned();
    assert_eq!(text.chars().count(), 1000, "the query text is truncated");
    assert_eq!(
        attr(failed_span, "error.type").unwrap().as_str(),
        "tool_error"
    );
    assert!(matches!(
        failed_span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
}
